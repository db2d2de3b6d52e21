import Foundation
import KeyshardAPI
import KeyshardServer
import ServerTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The optional TCP listener: clients must present a certificate from the client CA, and its
/// subject is the caller the roles see.
@Suite struct MutualTLSTests {
    /// A CA, a server certificate for 127.0.0.1 and two client certificates (one from another CA).
    static func makeCertificates(in directory: URL) throws {
        let script = """
            set -e
            cd "\(directory.path)"
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            key ca.key; key other-ca.key; key server.key; key client.key; key stranger.key
            openssl req -x509 -new -key ca.key -subj "/CN=keyshard test CA" -days 1 -out ca.pem
            openssl req -x509 -new -key other-ca.key -subj "/CN=another CA" -days 1 -out other-ca.pem
            printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
            sign() { openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 1 \\
                -extfile "$3" -out "$1.pem" 2>/dev/null; }
            sign server ca server.ext
            openssl req -new -key client.key -subj "/O=payments/CN=app-1" -out client.csr
            sign client ca client.ext
            openssl req -new -key stranger.key -subj "/CN=stranger" -out stranger.csr
            sign stranger other-ca client.ext
            """
        let result = try ProcessRunner.run("/bin/sh", ["-c", script], timeout: 60)
        try #require(result.status == 0, "\(result.combinedOutput)")
    }

    static func curl(_ arguments: [String]) async throws -> ProcessResult {
        try await runOffPool {
            try ProcessRunner.run(
                "/usr/bin/curl", ["--silent", "--show-error", "--max-time", "20"] + arguments, timeout: 60)
        }
    }

    /// A port the kernel just handed out on 127.0.0.1 (a random pick can collide with the swtpms and
    /// servers other tests start).
    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CocoaError(.fileReadUnknown) }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw CocoaError(.fileReadUnknown) }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw CocoaError(.fileReadUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func onlyClientsWithACertificateFromTheClientCAAreServed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ks-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeCertificates(in: directory)
        let file: @Sendable (String) -> String = { directory.appendingPathComponent($0).path }
        let port = try Self.freeLoopbackPort()
        let resolver = CapturingResolver(answer: .client)

        try await TestServer.with(
            roles: resolver,
            configure: {
                $0.tls = .init(
                    host: "127.0.0.1", port: port, certificatePath: file("server.pem"),
                    privateKeyPath: file("server.key"),
                    clientCAPath: file("ca.pem"))
            }
        ) { server in
            let url = "https://127.0.0.1:\(port)/v1/transit/keys"
            let served = try await Self.curl([
                "--cacert", file("ca.pem"), "--cert", file("client.pem"), "--key", file("client.key"),
                "--request", "LIST", "--write-out", "\n%{http_code}", url,
            ])
            #expect(served.status == 0, "\(served.combinedOutput)")
            #expect(served.standardOutput.hasSuffix("\n200"), "\(served.standardOutput)")
            let subject = try #require(resolver.questions.last?.0.certificateSubject)
            #expect(subject.contains("CN=app-1") && subject.contains("O=payments"), "\(subject)")
            #expect(resolver.questions.last?.0.uid == nil)

            let questionsBefore = resolver.questions.count
            let anonymous = try await Self.curl(["--cacert", file("ca.pem"), "--request", "LIST", url])
            #expect(anonymous.status != 0, "a client without a certificate was served: \(anonymous.standardOutput)")
            let stranger = try await Self.curl([
                "--cacert", file("ca.pem"), "--cert", file("stranger.pem"), "--key", file("stranger.key"),
                "--request", "LIST", url,
            ])
            #expect(stranger.status != 0, "a certificate from another CA was served: \(stranger.standardOutput)")
            #expect(resolver.questions.count == questionsBefore)

            // The Unix socket serves beside it.
            let local = try await Curl.request("LIST", "/v1/transit/keys", socket: server.socketPath)
            #expect(local.status == 200)
        }
    }
}
