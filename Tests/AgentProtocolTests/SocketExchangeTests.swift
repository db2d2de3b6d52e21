import AgentProtocol
import NIOCore
import NIOPosix
import Testing

@testable import AgentProtocol

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Agent protocol over real sockets", .serialized)
struct SocketExchangeTests {
    @Test("one request gets its response over a Unix socket")
    func singleExchange() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            let response = try await client.request(try heartbeatRequest(1))
            guard case .heartbeat(let heartbeat) = response else { Issue.record("got \(response)"); return }
            #expect(heartbeat.quote.prefix(2) == [1, 0])
            try await client.close()
        }
    }

    @Test("the socket file is readable and writable by its owner only")
    func socketMode() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_mode & 0o777 == 0o600)
        }
    }

    @Test("concurrent requests on one connection are matched by id, answered out of order")
    func concurrentRequests() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            // Request i waits (40 − 2i) ms, so later requests finish first.
            let results = try await withThrowingTaskGroup(of: (UInt8, [UInt8]).self) { group in
                for index in UInt8(0)..<20 {
                    group.addTask {
                        let response = try await client.request(try heartbeatRequest(index, delay: 40 - 2 * index))
                        guard case .heartbeat(let heartbeat) = response else { return (index, []) }
                        return (index, heartbeat.quote)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(results.count == 20)
            for (index, quote) in results { #expect(quote.first == index, "request \(index) got \(quote.prefix(2))") }
            try await client.close()
        }
    }

    @Test("several clients are served at once")
    func severalClients() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in UInt8(0)..<4 {
                    group.addTask {
                        let client = try await sessionClient(.unix(path: path))
                        let response = try await client.request(try heartbeatRequest(index, delay: 5))
                        guard case .heartbeat(let heartbeat) = response else { throw ScriptedAgent.Broken() }
                        #expect(heartbeat.quote.first == index)
                        try await client.close()
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("an agent's refusal reaches the client with its code and text")
    func refusal() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            let error = await #expect(throws: AgentProtocolError.self) {
                try await client.request(.challenge(Challenge(nonce: .random())))
            }
            #expect(error?.code == .remoteError)
            #expect(error?.remote?.code == .notAttested)
            #expect(error?.remote?.text == "no evidence accepted yet")
            // The connection stays usable after a refusal.
            _ = try await client.request(try heartbeatRequest(3))
            try await client.close()
        }
    }

    @Test("a handler failure is answered as an internal error without its details; a wrong answer type too")
    func handlerFailures() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            let broken = await #expect(throws: AgentProtocolError.self) {
                try await client.request(.destroy(try DestroyRequest(reason: "test")))
            }
            #expect(broken?.remote?.code == .internalError)
            #expect(broken?.remote?.text.contains("Broken") == false)
            let wrongType = await #expect(throws: AgentProtocolError.self) {
                try await client.request(.signRound1Request(SignRound1Request(key: MessageSamples.key(), session: .random())))
            }
            #expect(wrongType?.remote?.code == .internalError)
            try await client.close()
        }
    }

    @Test("a client refuses to send a response type as a request")
    func clientRefusesResponses() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            let error = await #expect(throws: AgentProtocolError.self) {
                try await client.request(.destroyed(Destroyed(zeroisedShares: 1)))
            }
            #expect(error?.code == .unexpectedMessage)
            try await client.close()
        }
    }

    @Test("garbage bytes are answered with an error frame, then the connection closes")
    func garbageClosesConnection() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let socket = try RawSocket(path: path)
            socket.send(Array("GET / HTTP/1.1\r\nHost: agent\r\n\r\n".utf8))
            var reader = FrameReader()
            let frame = try #require(try socket.readFrame(into: &reader))
            #expect(frame.requestID == 0)
            guard case .error(let body) = try AgentMessage(frame: frame) else { Issue.record("not an error"); return }
            #expect(body.code == .malformedFrame)
            #expect(socket.isClosedByPeer())
        }
    }

    @Test("a header announcing 4 GiB is refused with frame-too-large at once, then the connection closes")
    func oversizedClosesConnection() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let socket = try RawSocket(path: path)
            // The header alone, plus 10 bytes: the agent must not wait for the rest.
            socket.send(FrameCodecTests.header(type: 0x0301, requestID: 1, length: UInt32.max) + [UInt8](repeating: 0, count: 10))
            var reader = FrameReader()
            let frame = try #require(try socket.readFrame(into: &reader))
            guard case .error(let body) = try AgentMessage(frame: frame) else { Issue.record("not an error"); return }
            #expect(body.code == .frameTooLarge)
            #expect(socket.isClosedByPeer())
        }
    }

    @Test("a frame over a configured smaller limit is refused the same way")
    func configuredLimit() async throws {
        var smallFrames = AgentConnectionOptions()
        smallFrames.limits = try FrameLimits(maximumFrameSize: 4096)
        try await withAgentServer(path: temporarySocketPath(), options: smallFrames) { path in
            let socket = try RawSocket(path: path)
            let big = try AgentMessage.heartbeatRequest(HeartbeatRequest(nonce: .random())).frame(requestID: 1)
            var oversized = big
            oversized.payload = [UInt8](repeating: 0, count: 5000)
            socket.send(try FrameCodec.encode(oversized, limits: .default))
            var reader = FrameReader()
            let frame = try #require(try socket.readFrame(into: &reader))
            guard case .error(let body) = try AgentMessage(frame: frame) else { Issue.record("not an error"); return }
            #expect(body.code == .frameTooLarge)
            #expect(socket.isClosedByPeer())
        }
    }

    @Test("unknown types, malformed payloads and responses-as-requests get an error frame; the connection stays open")
    func perRequestErrors() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let socket = try RawSocket(path: path)
            var reader = FrameReader()
            let cases: [(Frame, AgentErrorCode)] = [
                (Frame(type: 0x0900, requestID: 7, payload: [1, 2, 3]), .unknownMessageType),
                (Frame(type: MessageType.challenge.rawValue, requestID: 8, payload: [1, 2]), .malformedMessage),
                // Outside the attestation steps nothing is even decoded without a session.
                (Frame(type: MessageType.heartbeatRequest.rawValue, requestID: 11, payload: [1, 2]), .noSession),
                (try AgentMessage.destroyed(Destroyed(zeroisedShares: 1)).frame(requestID: 9), .unexpectedMessage),
            ]
            for (frame, code) in cases {
                socket.send(try FrameCodec.encode(frame))
                let answer = try #require(try socket.readFrame(into: &reader))
                #expect(answer.requestID == frame.requestID)
                guard case .error(let body) = try AgentMessage(frame: answer) else { Issue.record("not an error"); return }
                #expect(body.code == code, "\(frame)")
            }
            // Still open: a challenge reaches the handler (which refuses it with its own code).
            socket.send(try FrameCodec.encode(try AgentMessage.challenge(Challenge(nonce: .random())).frame(requestID: 10)))
            let answer = try #require(try socket.readFrame(into: &reader))
            #expect(answer.requestID == 10)
            guard case .error(let body) = try AgentMessage(frame: answer) else { Issue.record("not an error"); return }
            #expect(body.code == .notAttested)
        }
    }

    @Test("a truncated frame followed by end of stream closes the connection without an answer")
    func truncatedFrame() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let socket = try RawSocket(path: path)
            let wire = try FrameCodec.encode(try heartbeatRequest(1).frame(requestID: 1))
            socket.send(Array(wire.prefix(25)))
            shutdown(socket.descriptor, Int32(SHUT_WR))
            var reader = FrameReader()
            #expect(try socket.readFrame(into: &reader) == nil)
            // The server is still there for the next client.
            let client = try await sessionClient(.unix(path: path))
            _ = try await client.request(try heartbeatRequest(2))
            try await client.close()
        }
    }

    @Test("pending requests fail with connection-closed when the agent goes away")
    func pendingFailOnClose() async throws {
        let path = temporarySocketPath()
        // The request runs beside the server's group, not in it: cancelling the server must not
        // cancel the request (which would then fail with `cancelled`, not because the agent left).
        let client: AgentClient = try await withThrowingTaskGroup(of: Void.self) { outer in
            let client: AgentClient = try await withThrowingTaskGroup(of: Void.self) { server in
                let (ready, signal) = AsyncStream<Void>.makeStream()
                server.addTask {
                    try await UnixSocketTransport(path: path).serve(
                        options: AgentConnectionOptions(), handler: ScriptedAgent(), onReady: { signal.yield() })
                }
                for await _ in ready { break }
                let client = try await sessionClient(.unix(path: path))
                outer.addTask {
                    // Long enough that the server is cancelled first.
                    let error = await #expect(throws: AgentProtocolError.self) {
                        try await client.request(try heartbeatRequest(1, delay: 250))
                    }
                    #expect(error?.code == .connectionClosed)
                }
                try await Task.sleep(for: .milliseconds(50))
                server.cancelAll()
                return client
            }
            try await outer.waitForAll()
            return client
        }
        unlink(path)
        let error = await #expect(throws: AgentProtocolError.self) { try await client.request(try heartbeatRequest(2)) }
        #expect(error?.code == .connectionClosed)
    }

    @Test("a request without an answer times out")
    func timeout() async throws {
        var shortWait = AgentConnectionOptions()
        shortWait.requestTimeout = .milliseconds(50)
        let options = shortWait
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path), options: options)
            let error = await #expect(throws: AgentProtocolError.self) {
                try await client.request(try heartbeatRequest(1, delay: 250))
            }
            #expect(error?.code == .connectionClosed)
            #expect(error?.reason.contains("no response") == true)
            // The late answer is dropped; the connection still works.
            try await Task.sleep(for: .milliseconds(300))
            _ = try await client.request(try heartbeatRequest(2))
            try await client.close()
        }
    }

    @Test("the virtio-serial stream path serves a descriptor (here one end of a socketpair)")
    func pipeStream() async throws {
        var descriptors: [CInt] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0)
        let (agentSide, hostSide) = (descriptors[0], descriptors[1])
        let options = AgentConnectionOptions()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await VirtioSerialTransport(portName: "org.keyshard.agent.0")
                    .serveStream(descriptor: agentSide, options: options, handler: ScriptedAgent())
            }
            let client = try await ClientBootstrap(group: options.group)
                .withConnectedSocket(hostSide, channelInitializer: clientChannelInitializer(options: options))
            try await client.openSession(identity: ScriptedAgent.coordinator, transportKey: ScriptedAgent.transportKey)
            let response = try await client.request(try heartbeatRequest(6))
            guard case .heartbeat(let heartbeat) = response else { Issue.record("got \(response)"); return }
            #expect(heartbeat.quote.first == 6)
            try await client.close()
            // End of stream on the agent's side ends serveStream by itself.
            try await group.waitForAll()
        }
    }

    static let vsockAvailable: Bool = {
        let descriptor = socket(AF_VSOCK, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        return true
    }()

    @Test("vsock-listen binds a real vsock socket", .enabled(if: vsockAvailable, "this kernel has no AF_VSOCK"))
    func vsockListen() async throws {
        let port = UInt32.random(in: 40_000..<60_000)
        var quickConnect = AgentConnectionOptions()
        quickConnect.connectTimeout = .seconds(1)
        let options = quickConnect
        await withThrowingTaskGroup(of: Void.self) { group in
            let (ready, signal) = AsyncStream<Void>.makeStream()
            group.addTask {
                try await TransportSpecification.vsockListen(port: port).transport.serve(
                    options: options, handler: ScriptedAgent(), onReady: { signal.yield() })
            }
            var bound = false
            for await _ in ready {
                bound = true
                break
            }
            #expect(bound)
            // Loopback (CID 1) needs vsock_loopback; without it the connection fails
            // cleanly, with it the exchange must work.
            do {
                let client = try await AgentClient.connect(to: .vsock(cid: 1, port: port), options: options)
                _ = try await client.request(try heartbeatRequest(1))
                try await client.close()
            } catch let error as AgentProtocolError {
                Issue.record("vsock loopback connected but the exchange failed: \(error)")
            } catch {
                // No loopback transport on this machine.
            }
            group.cancelAll()
        }
    }
}
