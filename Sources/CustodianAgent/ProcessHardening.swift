import CAgentHardening
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps secrets out of swap and core files: all memory locked (mlockall), the process not
/// dumpable (no core dumps, no ptrace or /proc/PID/mem for other users).
public enum ProcessHardening {
    /// Applies both protections; a failure is logged, not fatal (a host-process test run may
    /// lack the privilege to lock memory).
    /// - Parameters:
    ///   - lockMemory: whether to call mlockall(MCL_CURRENT | MCL_FUTURE).
    ///   - logger: where to report failures.
    public static func apply(lockMemory: Bool, logger: Logger) {
        if keyshard_disable_dumping() != 0 {
            logger.warning("could not disable core dumps (prctl)", metadata: ["errno": "\(errno)"])
        }
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
        guard lockMemory else {
            logger.notice("memory locking disabled by --no-mlock")
            return
        }
        if mlockall(MCL_CURRENT | MCL_FUTURE) != 0 {
            logger.warning("could not lock memory (mlockall); shares may reach swap", metadata: ["errno": "\(errno)"])
        }
    }
}
