import Synchronization

/// A first-come first-served mutual exclusion for async code: what a custodian's share changes
/// and its heartbeats take, so a heartbeat never sees a share the engine has not recorded yet, and
/// what a ring's structural changes (new key versions, epoch changes, trims) take.
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Whether someone holds the lock right now (for `busy` answers; racy by nature).
    var isLocked: Bool { state.withLock { $0.locked } }

    /// Runs `body` holding the lock.
    /// - Throws: `CancellationError` when the task is cancelled while waiting; `body`'s error.
    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Runs `body` holding the lock when it is free now; nil when it is held.
    func withLockIfAvailable<T: Sendable>(_ body: () async throws -> T) async rethrows -> T? {
        let acquired = state.withLock { state -> Bool in
            guard !state.locked else { return false }
            state.locked = true
            return true
        }
        guard acquired else { return nil }
        defer { release() }
        return try await body()
    }

    private func acquire() async throws {
        let id = state.withLock { state -> UInt64? in
            if !state.locked {
                state.locked = true
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiters.append((id, continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.waiters.isEmpty else {
                state.locked = false
                return nil
            }
            // The lock passes straight to the next waiter; it stays locked.
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
