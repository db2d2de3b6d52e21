internal import CLibvirt
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// libvirt's default event loop, run on a dedicated thread for as long as this `Service` runs.
///
/// libvirt delivers domain events, keepalive probes and remote-connection I/O only while
/// someone calls `virEventRunDefaultImpl` in a loop. That call blocks in `poll`, so it gets its
/// own thread instead of a task on the cooperative pool. On graceful shutdown or cancellation
/// the service sets a stop flag and wakes the loop with a 0 ms timeout (the pattern of
/// libvirt-python's examples), then returns once the thread has left the loop.
///
/// The default implementation is process-wide, so at most one loop runs at a time; a second
/// concurrent `run()` throws `HypervisorError.Code.eventLoopAlreadyRunning`.
public final class LibvirtEventLoop: Service, Sendable {
    private let logger: Logger

    /// Whether some `LibvirtEventLoop` is running its thread in this process now.
    public static var isRunning: Bool { running.load(ordering: .acquiring) }

    private static let running = Atomic<Bool>(false)

    /// A loop that logs start, stop and loop failures to `logger`.
    public init(logger: Logger = Logger(label: "keyshard.hypervisor.event-loop")) {
        self.logger = logger
    }

    /// Runs the loop thread until graceful shutdown or task cancellation.
    ///
    /// - Throws: `LibvirtError` when libvirt cannot be initialised or the wake-up timer cannot be
    ///   added; `HypervisorError` (`.eventLoopAlreadyRunning`) when another loop runs.
    public func run() async throws {
        try Libvirt.initialize()
        guard Self.running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else {
            throw HypervisorError(.eventLoopAlreadyRunning, "another LibvirtEventLoop is running in this process")
        }
        defer { Self.running.store(false, ordering: .releasing) }

        // A disabled timer (-1) that stop() arms with 0 ms, so the blocked poll returns at once.
        let wakeTimer = virEventAddTimeout(-1, { _, _ in }, nil, nil)
        if wakeTimer < 0 { throw LibvirtError.takeLast(operation: "virEventAddTimeout") }
        defer { virEventRemoveTimeout(wakeTimer) }

        let stopRequested = StopFlag()
        let requestStop: @Sendable () -> Void = {
            stopRequested.set()
            virEventUpdateTimeout(wakeTimer, 0)
        }
        let logger = self.logger
        logger.info("libvirt event loop starting")
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        while !stopRequested.isSet {
                            if virEventRunDefaultImpl() < 0 {
                                let failure = LibvirtError.takeLast(operation: "virEventRunDefaultImpl")
                                logger.warning(
                                    "libvirt event loop iteration failed",
                                    metadata: [
                                        "error": "\(failure)"
                                    ])
                                // A persistent failure must not become a hot spin on one of two cores.
                                Thread.sleep(forTimeInterval: 0.05)
                            }
                        }
                        finished.resume()
                    }
                    thread.name = "libvirt-event-loop"
                    thread.start()
                }
            } onGracefulShutdown: {
                requestStop()
            }
        } onCancel: {
            requestStop()
        }
        logger.info("libvirt event loop stopped")
    }
}

/// A one-way flag shared between the stopping task and the loop thread.
private final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
