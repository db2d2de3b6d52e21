import Foundation
import NIOCore
import ShardCrypto
import Testing

@testable import AgentProtocol

/// The session layer against a client that is not the coordinator: a process that reaches the
/// agent's socket, replays what it captured, or holds another coordinator's key.
@Suite("Agent sessions: only the pinned coordinator's sessions reach the handler")
struct SessionTests {
    /// A raw connection that speaks frames by hand, so the test can send what a real client never would.
    struct RawClient {
        let socket: RawSocket
        var reader = FrameReader()
        var nextID: UInt64 = 1

        init(path: String) throws { socket = try RawSocket(path: path) }

        mutating func exchange(_ frame: Frame) throws -> Frame {
            socket.send(try FrameCodec.encode(frame))
            return try #require(try socket.readFrame(into: &reader))
        }

        mutating func send(_ message: AgentMessage) throws -> AgentMessage {
            let id = nextID
            nextID += 1
            return try AgentMessage(frame: try exchange(try message.frame(requestID: id)))
        }

        /// hello → open signed by `identity`; returns the keys the agent derived too.
        mutating func handshake(identity: CoordinatorIdentity) throws -> (SessionKeys, SessionOpen, AgentMessage) {
            guard case .sessionChallenge(let challenge) = try send(.sessionHello(SessionHello())) else {
                throw AgentProtocolError(.unexpectedMessage, "no session challenge")
            }
            let secret = Scalar.random()
            let ephemeral = try Point.generatorMultiple(secret).uncompressed()
            let transcript = Session.transcript(
                coordinator: identity.publicKey, transportKey: ScriptedAgent.transportKey,
                agentNonce: challenge.nonce, ephemeral: ephemeral)
            let open = try SessionOpen(ephemeralKey: ephemeral, signature: try identity.sign(transcript))
            let answer = try send(.sessionOpen(open))
            let keys = Session.deriveKeys(
                sharedX: try (secret * Point(sec1: ScriptedAgent.transportKey.uncompressed)).affineX(),
                transcript: transcript)
            return (keys, open, answer)
        }
    }

    static func errorCode(_ message: AgentMessage) -> AgentErrorCode? {
        if case .error(let body) = message { return body.code }
        return nil
    }

    @Test("without a session every request but the attestation steps is refused with no-session")
    func foreignClient() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await AgentClient.connect(to: .unix(path: path))
            let key = try KeyReference(keyID: "k", version: 1)
            let requests: [AgentMessage] = [
                try heartbeatRequest(1),
                .partialDecryptRequest(
                    try PartialDecryptRequest(
                        key: key, ciphertext: try Point.generatorMultiple(Scalar(5)).uncompressed() + [1], context: [])),
                .signRound1Request(SignRound1Request(key: key, session: .random())),
                .destroy(try DestroyRequest(reason: "a foreign client")),
            ]
            for request in requests {
                let error = await #expect(throws: AgentProtocolError.self) { try await client.request(request) }
                #expect(error?.remote?.code == .noSession, "\(request.type)")
            }
            // The attestation steps still reach the handler (the scripted one refuses challenges itself).
            let challenge = await #expect(throws: AgentProtocolError.self) {
                try await client.request(.challenge(Challenge(nonce: .random())))
            }
            #expect(challenge?.remote?.code == .notAttested)
            try await client.close()
        }
    }

    @Test("an opening signed by another coordinator's key is refused, and opens nothing")
    func otherCoordinator() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await AgentClient.connect(to: .unix(path: path))
            let error = await #expect(throws: AgentProtocolError.self) {
                try await client.openSession(identity: CoordinatorIdentity(), transportKey: ScriptedAgent.transportKey)
            }
            #expect(error?.remote?.code == .badSession)
            let after = await #expect(throws: AgentProtocolError.self) { try await client.request(try heartbeatRequest(1)) }
            #expect(after?.remote?.code == .noSession)
            try await client.close()
        }
    }

    @Test("a coordinator talking to an agent without the attested transport key's private half notices")
    func wrongTransportKey() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await AgentClient.connect(to: .unix(path: path))
            // The agent signs nothing itself; the coordinator names a transport key the agent does
            // not hold (as when a relay substituted it): the agent's key confirmation cannot match.
            let other = try TransportPublicKey(privateKey: .random())
            let error = await #expect(throws: AgentProtocolError.self) {
                try await client.openSession(identity: ScriptedAgent.coordinator, transportKey: other)
            }
            #expect(error?.code == .sessionFailed || error?.remote?.code == .badSession)
            try await client.close()
        }
    }

    @Test("an opening needs a fresh hello, and a captured opening cannot be replayed")
    func openingReplay() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            var raw = try RawClient(path: path)
            let stray = try SessionOpen(
                ephemeralKey: try Point.generatorMultiple(Scalar(9)).uncompressed(),
                signature: [UInt8](repeating: 1, count: 64))
            #expect(Self.errorCode(try raw.send(.sessionOpen(stray))) == .badSession)

            let (_, open, answer) = try raw.handshake(identity: ScriptedAgent.coordinator)
            guard case .sessionOpened = answer else { Issue.record("the genuine opening was refused: \(answer)"); return }
            // The nonce was consumed: the same signed opening, replayed here or on another connection, fails.
            #expect(Self.errorCode(try raw.send(.sessionOpen(open))) == .badSession)
            var second = try RawClient(path: path)
            _ = try second.send(.sessionHello(SessionHello()))
            let reply = try second.send(.sessionOpen(open))
            #expect(Self.errorCode(reply) == .badSession)
            withExtendedLifetime(raw) {}  // the first connection stays open throughout
        }
    }

    @Test("sealed requests: replayed, reordered, altered or moved to another connection are refused")
    func sealedRequestReplay() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            var raw = try RawClient(path: path)
            let (keys, _, answer) = try raw.handshake(identity: ScriptedAgent.coordinator)
            guard case .sessionOpened(let opened) = answer else { Issue.record("no session: \(answer)"); return }
            #expect(opened.confirmation == keys.confirmationTag)

            func sealed(_ message: AgentMessage, id: UInt64, counter: UInt64) throws -> Frame {
                try keys.seal(try message.frame(requestID: id), response: false, counter: counter)
            }
            let first = try sealed(try heartbeatRequest(7), id: 100, counter: 5)
            let reply = try raw.exchange(first)
            #expect(reply.type == MessageType.sealedResponse.rawValue)
            let opened5 = try #require(keys.open(reply, response: true))
            #expect(opened5.counter == 5)
            guard case .heartbeat(let beat) = try AgentMessage(frame: opened5.inner) else {
                Issue.record("not a heartbeat")
                return
            }
            #expect(beat.quote.first == 7)

            // The same bytes again, and an older counter, are refused before the handler runs.
            #expect(try AgentMessage(frame: try raw.exchange(first)).type == .error)
            #expect(Self.errorCode(try AgentMessage(frame: try raw.exchange(first))) == .badSession)
            #expect(Self.errorCode(try AgentMessage(frame: try raw.exchange(try sealed(try heartbeatRequest(8), id: 101, counter: 4)))) == .badSession)
            // One flipped bit in the box, or the frame moved to another request id, fails authentication.
            var altered = try sealed(try heartbeatRequest(9), id: 102, counter: 6)
            altered.payload[altered.payload.count - 1] ^= 1
            #expect(Self.errorCode(try AgentMessage(frame: try raw.exchange(altered))) == .badSession)
            var moved = try sealed(try heartbeatRequest(9), id: 103, counter: 7)
            moved.requestID = 104
            #expect(Self.errorCode(try AgentMessage(frame: try raw.exchange(moved))) == .badSession)
            // A new connection starts unauthenticated: the session's frames mean nothing there.
            var other = try RawClient(path: path)
            let elsewhere = try sealed(try heartbeatRequest(10), id: 1, counter: 50)
            #expect(Self.errorCode(try AgentMessage(frame: try other.exchange(elsewhere))) == .noSession)
            // The session itself still works with a counter that moves forward.
            let next = try raw.exchange(try sealed(try heartbeatRequest(11), id: 105, counter: 8))
            #expect(keys.open(next, response: true)?.counter == 8)
        }
    }

    @Test("after openSession the client seals every request and refuses an unsealed answer")
    func clientSealsEverything() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            for index in UInt8(1)...5 {
                guard case .heartbeat(let beat) = try await client.request(try heartbeatRequest(index)) else {
                    Issue.record("no heartbeat")
                    return
                }
                #expect(beat.quote.first == index)
            }
            try await client.close()
        }
    }
}
