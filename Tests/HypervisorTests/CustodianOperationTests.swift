import Foundation
import Hypervisor
import Testing

/// Create, list, rediscover, read endpoints and audit on libvirt's test driver. The test
/// driver accepts the full custodian XML (OVMF loader + NVRAM, tpm-crb emulator, vsock,
/// virtio-serial channel), so these tests create production-shaped domains, not reduced ones.
@Suite struct CustodianOperationTests {
    @Test(arguments: [
        CustodianDomainSpec.AgentTransport.virtioSerial(socketPath: "/run/keyshard/agent-1.sock"),
        .vsock(cid: 77),
    ])
    func createdCustodianPassesItsOwnDeviceAudit(transport: CustodianDomainSpec.AgentTransport) throws {
        let connection = try Connection(uri: "test:///default")
        let spec = try SpecFixtures.uniqueSpec(shareIndex: 2, transport: transport)
        let domain = try connection.createCustodian(spec)
        defer { destroyIfRunning(domain) }

        let live = try domain.liveXML()
        // libvirt added devices of its own (virtio-serial controller, console mirror) yet the audit accepts.
        #expect(live.contains("<console"))
        #expect(spec.audit(liveXML: live) == .matchesSpec)
        switch transport {
        case .virtioSerial(let path): #expect(try domain.agentEndpoint() == .virtioSerial(socketPath: path))
        case .vsock(let cid): #expect(try domain.agentEndpoint() == .vsock(cid: try #require(cid)))
        }
    }

    @Test func automaticCIDNotYetAssignedIsReportedNotGuessed() throws {
        // The test driver does not assign vsock CIDs (QEMU's driver does at start).
        let connection = try Connection(uri: "test:///default")
        let domain = try connection.createCustodian(try SpecFixtures.uniqueSpec(transport: .vsock(cid: nil)))
        defer { destroyIfRunning(domain) }
        let error = #expect(throws: HypervisorError.self) { try domain.agentEndpoint() }
        #expect(error?.code == .noAgentEndpoint)
    }

    @Test func invalidSpecNeverReachesLibvirt() throws {
        let connection = try Connection(uri: "test:///default")
        var spec = try SpecFixtures.uniqueSpec()
        spec.memoryMiB = 0
        let error = #expect(throws: HypervisorError.self) { try connection.createCustodian(spec) }
        #expect(error?.code == .invalidSpec)
        #expect(try connection.domain(named: spec.name) == nil)
    }

    @Test func listsOnlyDomainsWithTheKeyshardPrefix() throws {
        let connection = try Connection(uri: "test:///default")
        let custodian = try connection.createCustodian(try SpecFixtures.uniqueSpec())
        defer { destroyIfRunning(custodian) }
        let names = try connection.activeDomains(namePrefix: CustodianDomainSpec.domainNamePrefix).map(\.name)
        #expect(names.contains(custodian.name))
        // test:///default always runs a domain called "test".
        #expect(try connection.activeDomains().map(\.name).contains("test"))
        #expect(!names.contains("test"))
    }

    @Test func rediscoversCustodiansFromTheirMetadata() throws {
        let connection = try Connection(uri: "test:///default")
        let first = try connection.createCustodian(try SpecFixtures.uniqueSpec(ring: "ring-r", shareIndex: 1, epoch: 5))
        let second = try connection.createCustodian(
            try SpecFixtures.uniqueSpec(ring: "ring-r", shareIndex: 2, epoch: 5))
        let stray = try connection.createTransientDomain(xml: minimalTestDomainXML(name: uniqueDomainName("stray")))
        let forged = try connection.createTransientDomain(
            xml: """
                <domain type='test'><name>\(uniqueDomainName("forged"))</name><memory unit='MiB'>64</memory>
                <metadata><k:custodian xmlns:k='\(CustodianDomainSpec.metadataNamespace)'>
                <k:ring>ring-r</k:ring><k:shareIndex>0</k:shareIndex><k:epoch>5</k:epoch></k:custodian></metadata>
                <os><type>hvm</type></os></domain>
                """)
        defer { [first, second, stray, forged].forEach(destroyIfRunning) }

        // A restarted daemon holds no handles: discover through a fresh connection.
        let discovery = try Connection(uri: "test:///default").discoverCustodians()
        let found = Dictionary(uniqueKeysWithValues: discovery.custodians.map { ($0.domain.name, $0.identity) })
        #expect(found[first.name] == (try SpecFixtures.identity(ring: "ring-r", shareIndex: 1, epoch: 5)))
        #expect(found[second.name] == (try SpecFixtures.identity(ring: "ring-r", shareIndex: 2, epoch: 5)))
        let strayEntry = discovery.unrecognized.first { $0.name == stray.name }
        #expect(strayEntry?.reason == "no keyshard metadata")
        let forgedEntry = discovery.unrecognized.first { $0.name == forged.name }
        #expect(forgedEntry?.reason.contains("share index") == true)
        #expect(found[forged.name] == nil)

        try first.destroy()
        let after = try connection.discoverCustodians().custodians.map(\.domain.name)
        #expect(!after.contains(first.name))
        #expect(after.contains(second.name))
    }

    @Test func metadataWithoutTheNamespaceIsNotReadAsKeyshards() throws {
        let connection = try Connection(uri: "test:///default")
        let name = uniqueDomainName("other-ns")
        let domain = try connection.createTransientDomain(
            xml: """
                <domain type='test'><name>\(name)</name><memory unit='MiB'>64</memory>
                <metadata><o:custodian xmlns:o='https://example.invalid/other'>
                <o:ring>ring-r</o:ring><o:shareIndex>1</o:shareIndex><o:epoch>1</o:epoch></o:custodian></metadata>
                <os><type>hvm</type></os></domain>
                """)
        defer { destroyIfRunning(domain) }
        #expect(try domain.metadata(namespaceURI: CustodianDomainSpec.metadataNamespace) == nil)
        #expect(try connection.discoverCustodians().custodians.allSatisfy { $0.domain.name != name })
    }

    @Test func malformedMetadataIsRefusedWithItsCode() {
        let notCustodian = #expect(throws: HypervisorError.self) {
            try CustodianIdentity(metadataXML: "<ring>x</ring>")
        }
        #expect(notCustodian?.code == .malformedMetadata)
        let missingEpoch = #expect(throws: HypervisorError.self) {
            try CustodianIdentity(metadataXML: "<custodian><ring>x</ring><shareIndex>1</shareIndex></custodian>")
        }
        #expect(missingEpoch?.code == .malformedMetadata)
        let broken = #expect(throws: HypervisorError.self) { try CustodianIdentity(metadataXML: "<custodian>") }
        #expect(broken?.code == .malformedMetadata)
    }

    @Test func admissionAcceptsAnUntamperedCustodian() throws {
        let connection = try Connection(uri: "test:///default")
        let spec = try SpecFixtures.uniqueSpec()
        let domain = try connection.createCustodian(spec)
        defer { destroyIfRunning(domain) }
        try domain.admit(as: spec)
        #expect(try domain.isActive())
    }

    @Test func admissionRefusesAndDestroysADomainStartedWithAnAddedNIC() throws {
        // What a tampering host would do: start the requested XML plus a network interface.
        let connection = try Connection(uri: "test:///default")
        let spec = try SpecFixtures.uniqueSpec()
        let tampered = try spec.domainXML().replacingOccurrences(
            of: "</devices>", with: "<interface type='network'><source network='default'/></interface></devices>")
        let domain = try connection.createTransientDomain(xml: tampered)
        defer { destroyIfRunning(domain) }

        let verdict = spec.audit(liveXML: try domain.liveXML())
        #expect(verdict.findings.map(\.element) == ["devices/interface"])
        let error = #expect(throws: HypervisorError.self) { try domain.admit(as: spec) }
        #expect(error?.code == .deviceAuditRefused)
        #expect(error?.reason.contains("devices/interface") == true)
        #expect(try connection.domain(named: spec.name) == nil)
    }
}
