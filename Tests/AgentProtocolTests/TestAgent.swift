import AgentProtocol
import Foundation
import NIOCore
import ShardCrypto
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A stand-in agent: heartbeats echo the nonce in the quote after a delay chosen by the
/// nonce (so concurrent answers come back out of order); other requests show each way
/// a handler can answer.
struct ScriptedAgent: AgentRequestHandler {
    struct Broken: Error {}

    /// The coordinator these tests play; the scripted agent pins its key.
    static let coordinator = CoordinatorIdentity()
    /// The scripted agent's transport key pair.
    static let transportSecret = Scalar.random()
    static let transportKey = try! TransportPublicKey(privateKey: transportSecret)

    var sessionAcceptor: SessionAcceptor {
        SessionAcceptor(coordinatorKey: Self.coordinator.publicKey, transportKey: Self.transportKey) { point in
            try (Self.transportSecret * point).affineX()
        }
    }

    func handle(_ request: AgentMessage, authenticated: Bool) async throws -> AgentMessage {
        switch request {
        case .heartbeatRequest(let heartbeat):
            try await Task.sleep(for: .milliseconds(Int(heartbeat.nonce.bytes[1])))
            return .heartbeat(
                try Heartbeat(quote: heartbeat.nonce.bytes, quoteSignature: [1], pcrValues: PCRValues([:]), proofs: []))
        case .challenge:
            throw ErrorMessage(code: .notAttested, text: "no evidence accepted yet")
        case .destroy:
            throw Broken()
        case .signRound1Request:
            return .destroyed(Destroyed(zeroisedShares: 0))  // the wrong response type
        default:
            throw ErrorMessage(code: .refused, text: "not in this test")
        }
    }
}

/// A client with an open session to the scripted agent, as the coordinator has after admission.
func sessionClient(
    _ specification: TransportSpecification, options: AgentConnectionOptions = AgentConnectionOptions()
) async throws -> AgentClient {
    let client = try await AgentClient.connect(to: specification, options: options)
    try await client.openSession(identity: ScriptedAgent.coordinator, transportKey: ScriptedAgent.transportKey)
    return client
}

/// A heartbeat request whose nonce starts with `index` and asks for `delay` ms.
func heartbeatRequest(_ index: UInt8, delay: UInt8 = 0) throws -> AgentMessage {
    .heartbeatRequest(HeartbeatRequest(nonce: try Nonce([index, delay] + [UInt8](repeating: 0, count: 30))))
}

/// A fresh socket path short enough for sockaddr_un.
func temporarySocketPath() -> String { "/tmp/ks-proto-\(UUID().uuidString.prefix(8)).sock" }

/// Runs `body` while a ScriptedAgent serves `path`, then stops the server.
func withAgentServer(
    path: String, options: AgentConnectionOptions = AgentConnectionOptions(),
    _ body: @Sendable (String) async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        let (ready, signal) = AsyncStream<Void>.makeStream()
        group.addTask {
            try await UnixSocketTransport(path: path).serve(
                options: options, handler: ScriptedAgent(), onReady: { signal.yield() })
        }
        for await _ in ready { break }
        try await body(path)
        group.cancelAll()
    }
    unlink(path)
}

/// A blocking Unix-socket client that speaks raw bytes, for sending what a well-behaved
/// client never would.
final class RawSocket {
    let descriptor: CInt

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw AgentProtocolError(.connectionClosed, "raw connect failed: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// The next frame, or nil at end of stream (or timeout).
    func readFrame(into reader: inout FrameReader) throws -> Frame? {
        while true {
            if let frame = try reader.nextFrame() { return frame }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            reader.append(chunk[0..<count])
        }
    }

    /// Whether the peer closed: a read returns end of stream, or a reset when the peer
    /// closed with our unread bytes still queued (what a refused oversized frame leaves).
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, 0)
        return count == 0 || (count < 0 && errno == ECONNRESET)
    }
}
