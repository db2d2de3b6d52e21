import Dispatch

/// Runs a blocking libvirt call off Swift's cooperative thread pool.
///
/// Opening a remote connection (`qemu+ssh://…`) or talking to a slow libvirtd blocks the
/// calling thread for as long as the network takes; on a two-core host the cooperative pool
/// has two threads, so such calls go to a Dispatch thread instead. libvirt's per-thread error
/// is still copied inside `body`, on the thread that made the call.
///
/// - Throws: whatever `body` throws.
public func offCooperativePool<Result: Sendable>(
    _ body: @escaping @Sendable () throws -> Result
) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .utility).async {
            continuation.resume(with: Swift.Result { try body() })
        }
    }
}
