import NIOCore
import Testing

@testable import AgentProtocol

/// A request's life on the client: cancelled by its task, or timed out by its own limit.
@Suite("Agent client cancellation and per-request timeouts", .serialized)
struct RequestLifecycleTests {
    @Test("a cancelled request fails at once with cancelled, is forgotten, and the connection goes on")
    func cancellation() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            // The agent answers 255 ms after it reads the request; the task is cancelled as soon as
            // the request is pending.
            let request = try heartbeatRequest(1, delay: 255)
            let clock = ContinuousClock()
            var started = clock.now
            let outcome = await withTaskGroup(of: (any Error)?.self) { group in
                group.addTask {
                    do {
                        _ = try await client.request(request)
                        return nil
                    } catch { return error }
                }
                let deadline = clock.now + .seconds(5)
                while (try? await client.pendingRequestCount()) == 0, clock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(2))
                }
                started = clock.now
                group.cancelAll()
                return await group.next() ?? nil
            }
            let error = try #require(outcome as? AgentProtocolError, "got \(String(describing: outcome))")
            #expect(error.code == .cancelled)
            #expect(clock.now - started < .milliseconds(200), "it did not wait for the answer")
            #expect(try await client.pendingRequestCount() == 0)
            // The late answer is dropped; the connection still works, sealed counters and all.
            try await Task.sleep(for: .milliseconds(300))
            guard case .heartbeat(let heartbeat) = try await client.request(try heartbeatRequest(2)) else {
                Issue.record("the next request got no heartbeat")
                return
            }
            #expect(heartbeat.quote.first == 2)
            try await client.close()
        }
    }

    @Test("a request from a task already cancelled is not sent")
    func cancelledBeforeSending() async throws {
        try await withAgentServer(path: temporarySocketPath()) { path in
            let client = try await sessionClient(.unix(path: path))
            let request = try heartbeatRequest(3)
            let outcome = await withTaskGroup(of: (any Error)?.self) { group in
                group.cancelAll()
                group.addTask {
                    do {
                        _ = try await client.request(request)
                        return nil
                    } catch { return error }
                }
                return await group.next() ?? nil
            }
            #expect((outcome as? AgentProtocolError)?.code == .cancelled, "got \(String(describing: outcome))")
            #expect(try await client.pendingRequestCount() == 0)
            try await client.close()
        }
    }

    @Test("a per-request timeout overrides the options' timeout, both ways; the default is the options'")
    func perRequestTimeout() async throws {
        var longWait = AgentConnectionOptions()
        longWait.requestTimeout = .seconds(30)
        var shortWait = AgentConnectionOptions()
        shortWait.requestTimeout = .milliseconds(50)
        let (long, short) = (longWait, shortWait)
        try await withAgentServer(path: temporarySocketPath()) { path in
            // Shorter than the options': times out long before the answer (200 ms) and 30 s.
            let patient = try await sessionClient(.unix(path: path), options: long)
            let clock = ContinuousClock()
            let started = clock.now
            let error = await #expect(throws: AgentProtocolError.self) {
                try await patient.request(try heartbeatRequest(4, delay: 200), timeout: .milliseconds(40))
            }
            #expect(error?.code == .connectionClosed)
            #expect(error?.reason.contains("no response") == true)
            #expect(clock.now - started < .milliseconds(200))
            #expect(try await patient.pendingRequestCount() == 0)
            try await patient.close()

            // Longer than the options': waits for the answer the options' 50 ms would have given up on.
            let hasty = try await sessionClient(.unix(path: path), options: short)
            guard case .heartbeat(let heartbeat) = try await hasty.request(
                try heartbeatRequest(5, delay: 200), timeout: .seconds(10))
            else {
                Issue.record("no heartbeat")
                return
            }
            #expect(heartbeat.quote.first == 5)
            // Without a timeout argument the options' 50 ms apply.
            let defaulted = await #expect(throws: AgentProtocolError.self) {
                try await hasty.request(try heartbeatRequest(6, delay: 200))
            }
            #expect(defaulted?.code == .connectionClosed)
            try await hasty.close()
        }
    }
}
