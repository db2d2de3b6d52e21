import Foundation
import KeyshardAPI
import KeyshardServer
import Logging
import ServerTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The socket file's life: stale files cleared, live daemons respected, mode and group applied,
/// removed at shutdown; slow clients cut off.
@Suite struct SocketTests {
    /// A socket file nobody listens on, as a crashed daemon leaves behind.
    static func makeStaleSocket(_ path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0)
    }

    static func mode(_ path: String) -> mode_t? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return status.st_mode
    }

    @Test func aStaleSocketIsReplacedAndTheModeAndGroupApplied() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyshard.sock").path
        try Self.makeStaleSocket(path)
        #expect(Self.mode(path).map { $0 & S_IFMT == S_IFSOCK } == true)

        let server = TestServer(
            directory: directory, socketPath: path, service: RecordingService(), audit: MemoryAuditSink())
        let configuration = ServerConfiguration(socketPath: path, socketMode: 0o640, socketGroup: String(getgid()))
        try await server.run(configuration: configuration, roles: TableRoleResolver(uids: [getuid(): .admin])) {
            server in
            let status = try #require(Self.mode(path))
            #expect(status & 0o777 == 0o640)
            var info = stat()
            #expect(lstat(path, &info) == 0 && info.st_gid == getgid())
            let health = try await Curl.request("GET", "/v1/sys/health", socket: path)
            #expect(health.status == 200)
        }
        // Removed at shutdown.
        #expect(Self.mode(path) == nil)
    }

    @Test func aLiveSocketIsNotTakenOver() async throws {
        try await TestServer.with { first in
            let second = KeyshardServer(
                service: RecordingService(), roles: TableRoleResolver(), audit: MemoryAuditSink(),
                configuration: ServerConfiguration(socketPath: first.socketPath), logger: Logger(label: "second"))
            do {
                try await second.run()
                Issue.record("a second server started on a live socket")
            } catch let error as KeyshardServerError {
                #expect(error.description.contains("is listening on \(first.socketPath)"))
            }
            // The first still serves, and its socket is still there.
            let health = try await Curl.request("GET", "/v1/sys/health", socket: first.socketPath)
            #expect(health.status == 200)
        }
    }

    @Test func aFileThatIsNotASocketIsLeftAlone() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyshard.sock").path
        try "not a socket".write(toFile: path, atomically: true, encoding: .utf8)
        let server = KeyshardServer(
            service: RecordingService(), roles: TableRoleResolver(), audit: MemoryAuditSink(),
            configuration: ServerConfiguration(socketPath: path), logger: Logger(label: "test"))
        do {
            try await server.run()
            Issue.record("the server replaced a regular file")
        } catch let error as KeyshardServerError {
            #expect(error.description.contains("is not a socket"))
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "not a socket")
    }

    @Test func aClientThatSendsItsRequestTooSlowlyIsDisconnected() async throws {
        try await TestServer.with(configure: { $0.requestReadTimeout = .seconds(1) }) { server in
            let path = server.socketPath
            let outcome = try await runOffPool { () -> (Int, Double) in
                let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(descriptor) }
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
                guard connected == 0 else { return (-1, 0) }
                let started = Date()
                // Half a request head, then silence.
                _ = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n".withCString { write(descriptor, $0, strlen($0)) }
                var timeout = timeval(tv_sec: 10, tv_usec: 0)
                setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 256)
                let count = read(descriptor, &buffer, buffer.count)
                return (count, Date().timeIntervalSince(started))
            }
            // read() returns 0: the server closed the connection, after about the deadline.
            #expect(outcome.0 == 0)
            #expect(outcome.1 >= 0.9 && outcome.1 < 8)
        }
    }
}
