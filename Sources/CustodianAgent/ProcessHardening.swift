import CAgentHardening
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps secrets out of swap and core files: all memory locked (mlockall), the process not
/// dumpable (no core dumps, no ptrace or /proc/PID/mem for other users).
public enum ProcessHardening {
    /// Why the agent must not start: a protection it was asked for is not in place.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        /// What failed and what to do, for stderr.
        public let description: String
    }

    /// Applies both protections. A failure is fatal: an agent that would hold shares in swappable or
    /// dumpable memory must not start. Only `--no-mlock` (`lockMemory: false`) skips memory locking,
    /// for hosts where it is impossible (tests); the process is made non-dumpable regardless.
    /// - Parameters:
    ///   - lockMemory: whether to call mlockall(MCL_CURRENT | MCL_FUTURE).
    ///   - logger: where to note a skipped lock.
    /// - Throws: ``Failure`` naming the protection that failed and its errno.
    public static func apply(lockMemory: Bool, logger: Logger) throws(Failure) {
        let dumping: Int32? = keyshard_disable_dumping() == 0 ? nil : errno
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)  // belt and braces: not dumpable already
        var locking: Int32?
        if lockMemory {
            locking = mlockall(MCL_CURRENT | MCL_FUTURE) == 0 ? nil : errno
        } else {
            logger.notice("memory locking disabled by --no-mlock")
        }
        try check(disableDumpingErrno: dumping, lockMemoryErrno: locking)
    }

    /// The decision, apart from the system calls: any failure of a protection that was attempted is fatal.
    /// - Parameters:
    ///   - disableDumpingErrno: errno of a failed `prctl(PR_SET_DUMPABLE, 0)`, or `nil` when it worked.
    ///   - lockMemoryErrno: errno of a failed mlockall, or `nil` when it worked or was not attempted.
    /// - Throws: ``Failure`` for the first failure.
    public static func check(disableDumpingErrno: Int32?, lockMemoryErrno: Int32?) throws(Failure) {
        if let code = disableDumpingErrno {
            throw Failure(description:
                "cannot make the process non-dumpable (prctl PR_SET_DUMPABLE: \(describe(code))); "
                    + "refusing to start, since shares could reach a core dump or another process")
        }
        if let code = lockMemoryErrno {
            throw Failure(description:
                "cannot lock memory (mlockall: \(describe(code))); refusing to start, since shares could reach "
                    + "swap. Raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK; --no-mlock skips locking (tests only)")
        }
    }

    private static func describe(_ code: Int32) -> String {
        "errno \(code), \(String(cString: strerror(code)))"
    }
}
