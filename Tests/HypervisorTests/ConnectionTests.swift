import Foundation
import Hypervisor
import Testing

@Suite struct ConnectionTests {
    @Test func opensTheTestDriverAndReportsItAlive() throws {
        let connection = try Connection(uri: "test:///default")
        #expect(connection.uri == "test:///default")
        #expect(connection.isAlive)
        #expect(try !connection.hostname().isEmpty)
    }

    @Test func unreachableHostThrowsATypedErrorNamingTheCall() {
        let missing = "test:///nonexistent/keyshard-\(UUID().uuidString).xml"
        let error = #expect(throws: LibvirtError.self) { try Connection(uri: missing) }
        #expect(error?.operation == "virConnectOpen")
        #expect(error?.code != LibvirtError.Code(rawValue: 0))
        #expect(error?.message.isEmpty == false)
    }

    @Test func createLookupDestroyAndFreeATransientDomain() throws {
        let connection = try Connection(uri: "test:///default")
        let name = uniqueDomainName("handle")
        let domain = try connection.createTransientDomain(xml: minimalTestDomainXML(name: name))
        defer { destroyIfRunning(domain) }
        #expect(domain.name == name)
        #expect(domain.uuid.count == 36)
        #expect(try domain.isActive())

        let found = try #require(try connection.domain(named: name))
        #expect(found.uuid == domain.uuid)
        #expect(try connection.activeDomains(namePrefix: name).map(\.name) == [name])

        try domain.destroy()
        // A transient domain ceases to exist when destroyed.
        #expect(try connection.domain(named: name) == nil)
        let error = #expect(throws: LibvirtError.self) { try domain.isActive() }
        #expect(error?.code == .noDomain)
    }

    @Test func refusedXMLReportsTheCreateCallAndItsCode() throws {
        let connection = try Connection(uri: "test:///default")
        let error = #expect(throws: LibvirtError.self) {
            try connection.createTransientDomain(xml: "<domain type='test'><name>broken")
        }
        #expect(error?.operation == "virDomainCreateXML")
        #expect(error?.code == .xmlDetail)
        #expect(error?.message.isEmpty == false)
        // The per-thread error was reset: the next successful call leaves nothing behind for a
        // later failure to misreport.
        #expect(try connection.domain(named: uniqueDomainName("absent")) == nil)
    }

    @Test func duplicateNameIsRefusedByLibvirt() throws {
        let connection = try Connection(uri: "test:///default")
        let name = uniqueDomainName("duplicate")
        let domain = try connection.createTransientDomain(xml: minimalTestDomainXML(name: name))
        defer { destroyIfRunning(domain) }
        let error = #expect(throws: LibvirtError.self) {
            try connection.createTransientDomain(xml: minimalTestDomainXML(name: name))
        }
        #expect(error?.operation == "virDomainCreateXML")
        #expect(error?.code == .operationFailed)
    }

    @Test func keepAliveOnALocalDriverIsRefusedAsUnsupported() throws {
        // The test driver is in-process: there is no peer to probe. Remote URIs get `.enabled`.
        let connection = try Connection(uri: "test:///default")
        let error = #expect(throws: LibvirtError.self) { try connection.enableKeepAlive() }
        #expect(error?.operation == "virConnectSetKeepAlive")
        #expect(error?.code == .noSupport)
    }
}

@Suite struct ReconnectingConnectionTests {
    @Test func reusesALiveConnectionAndReopensAfterInvalidation() throws {
        let holder = ReconnectingConnection(uri: "test:///default")
        #expect(holder.generation == 0)
        let first = try holder.connection()
        #expect(try holder.connection() === first)
        #expect(holder.generation == 1)

        holder.invalidate()
        let second = try holder.connection()
        #expect(second !== first)
        #expect(second.isAlive)
        #expect(holder.generation == 2)
    }

    @Test func retriesOnceWhenTheConnectionWasLost() throws {
        let holder = ReconnectingConnection(uri: "test:///default")
        var attempts: [ObjectIdentifier] = []
        let hostname = try holder.withConnection { (connection) throws(LibvirtError) -> String in
            attempts.append(ObjectIdentifier(connection))
            if attempts.count == 1 {
                throw LibvirtError(code: .rpc, domain: 0, message: "end of file from server", operation: "test")
            }
            return try connection.hostname()
        }
        #expect(!hostname.isEmpty)
        #expect(attempts.count == 2)
        #expect(attempts[0] != attempts[1])
        #expect(holder.generation == 2)
    }

    @Test func doesNotRetryOrdinaryFailures() throws {
        let holder = ReconnectingConnection(uri: "test:///default")
        var attempts = 0
        let error = #expect(throws: LibvirtError.self) {
            try holder.withConnection { (_) throws(LibvirtError) -> Void in
                attempts += 1
                throw LibvirtError(code: .noDomain, domain: 0, message: "no domain", operation: "test")
            }
        }
        #expect(error?.code == .noDomain)
        #expect(attempts == 1)
    }

    @Test func unreachableHostFailsWithoutCountingAGeneration() {
        let holder = ReconnectingConnection(uri: "test:///nonexistent/\(UUID().uuidString).xml")
        #expect(throws: LibvirtError.self) { try holder.connection() }
        #expect(holder.generation == 0)
    }
}
