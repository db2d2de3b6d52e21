import NIOPosix

/// Where the coordinator's blocking calls run: libvirt's synchronous API (creating a domain,
/// auditing its live XML, reading its agent endpoint) blocks a thread for as long as libvirtd or
/// the network takes. Swift's cooperative pool has one thread per core (two here), so those calls
/// go to one shared, sized `NIOThreadPool` instead of an unbounded number of Dispatch threads.
enum BlockingCalls {
    /// Launches run side by side (a whole ring at once, on several hosts), each blocked in libvirt
    /// for up to seconds; eight threads cover that, and more would only idle.
    static let threadCount = 8

    /// The pool: started on first use, and never stopped (it lives as long as the process, as
    /// NIO's own singletons do).
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()

    /// Runs `body` on the pool and returns its result.
    ///
    /// As a Dispatch hop did, the work runs even if the calling task is cancelled meanwhile: a libvirt
    /// call that creates something must finish and hand its result back, so the caller can clean up.
    /// libvirt's per-thread error is still read inside `body`, on the thread that made the call.
    /// - Throws: whatever `body` throws.
    static func run<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { state in
                guard case .active = state else {
                    continuation.resume(throwing: NIOThreadPoolError.ThreadPoolInactive())
                    return
                }
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
