import Foundation
import Synchronization
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

    @Test("the pool is sized: however many calls wait, at most threadCount run at once")
    func sized() async throws {
        // Dispatch would run every one of these blocked calls at once; the pool never exceeds its size.
        let running = Gauge()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<(BlockingCalls.threadCount * 2) {
                group.addTask {
                    try await offCooperativePool {
                        running.enter()
                        usleep(50_000)
                        running.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        let most = running.most
        #expect(most >= 1 && most <= BlockingCalls.threadCount, "\(most) calls ran at once")
    }

    @Test("a call runs to completion even when its task is cancelled (as a Dispatch hop did)")
    func runsWhenCancelled() async throws {
        let finished = Gauge()
        let task = Task {
            try await offCooperativePool {
                usleep(100_000)
                finished.enter()
                return 1
            }
        }
        task.cancel()
        #expect(try await task.value == 1)
        #expect(finished.most == 1)
    }
}

/// Counts calls running at once and the most seen.
private final class Gauge: Sendable {
    private let state = Mutex((now: 0, most: 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var most: Int { state.withLock { $0.most } }
}
