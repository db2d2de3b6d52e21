import Foundation
import Testing

@testable import Hypervisor

/// The shared pool every blocking libvirt call runs on.
@Suite("Blocking calls on the shared thread pool")
struct BlockingCallsTests {
    @Test("a call returns its value or throws its error")
    func resultsAndErrors() async throws {
        #expect(try await offCooperativePool { 6 * 7 } == 42)
        struct Refused: Error, Equatable {}
        await #expect(throws: Refused.self) { try await offCooperativePool { throw Refused() } }
    }

    @Test("blocked calls do not hold the cooperative pool: async work goes on meanwhile")
    func cooperativePoolStaysFree() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        // More blocked calls than this machine has cores (the cooperative pool's width).
        let blocked = max(4, ProcessInfo.processInfo.activeProcessorCount * 2)
        let tickerDone = try await withThrowingTaskGroup(of: Duration?.self) { group in
            for _ in 0..<blocked {
                group.addTask {
                    try await offCooperativePool { _ = usleep(600_000) }
                    return nil
                }
            }
            group.addTask {
                for _ in 0..<5 { try await Task.sleep(for: .milliseconds(10)) }
                return clock.now - started
            }
            var ticker: Duration?
            for try await result in group { if let result { ticker = result } }
            return ticker
        }
        let ticker = try #require(tickerDone)
        #expect(ticker < .milliseconds(500), "async work waited \(ticker) behind blocked calls")
    }

    @Test("the pool is sized: one call more than it has threads waits for a free one")
    func sized() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0...BlockingCalls.threadCount {
                group.addTask { try await offCooperativePool { _ = usleep(300_000) } }
            }
            try await group.waitForAll()
        }
        #expect(clock.now - started >= .milliseconds(600), "\(BlockingCalls.threadCount + 1) calls ran at once")
    }

    @Test("a call runs to completion even when its task is cancelled (as a Dispatch hop did)")
    func runsWhenCancelled() async throws {
        let result = await withTaskGroup(of: Int?.self) { group in
            group.cancelAll()
            group.addTask { () async -> Int? in try? await offCooperativePool { 1 } }
            return await group.next() ?? nil
        }
        #expect(result == 1)
    }
}
