import NIOPosix

/// Runs a blocking libvirt call off Swift's cooperative thread pool.
///
/// Opening a remote connection (`qemu+ssh://…`), creating a domain or talking to a slow libvirtd
/// blocks the calling thread for as long as libvirtd or the network takes. Swift's cooperative
/// pool has one thread per core (two here), so such calls go to one shared, sized
/// `NIOThreadPool` (``BlockingCalls``) instead of an unbounded number of Dispatch threads.
/// libvirt's per-thread error is still copied inside `body`, on the thread that made the call.
///
/// As a Dispatch hop did, the work runs even if the calling task is cancelled meanwhile: a
/// libvirt call that creates something must finish and hand its result back, so the caller can
/// clean up.
///
/// - Throws: whatever `body` throws.
public func offCooperativePool<Result: Sendable>(
    _ body: @escaping @Sendable () throws -> Result
) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        BlockingCalls.pool.submit { state in
            guard case .active = state else {
                continuation.resume(throwing: NIOThreadPoolError.ThreadPoolInactive())
                return
            }
            continuation.resume(with: Swift.Result { try body() })
        }
    }
}

/// The one pool every blocking libvirt call of the process runs on (the host pool's surveys,
/// host monitors, the coordinator's launches).
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
}
