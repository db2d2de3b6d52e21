import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a process ended.
enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// It called exit with this status.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)
    /// It is gone, but this daemon did not start it (or could not reap it), so how is not known.
    case unknown

    /// Decodes a `waitpid` status (the `WIFEXITED`/`WTERMSIG` macros do not import into Swift).
    init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        self = signal == 0 ? .exited((waitStatus >> 8) & 0xff) : .signalled(signal)
    }

    var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signalled(let signal): "was killed by signal \(signal)\(Self.names[signal].map { " (\($0))" } ?? "")"
        case .unknown: "exited (status unknown: not a child of this daemon)"
        }
    }

    private static let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
        SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE",
        SIGTERM: "SIGTERM",
    ]
}

/// Why a program could not be started.
struct SpawnFailure: Error, CustomStringConvertible {
    let description: String
}

/// A program this backend started with `posix_spawn`, and the thread that reaps it.
///
/// The child runs in a session of its own (so a signal to the daemon's process group, or the
/// daemon's death, does not reach it), with an empty signal mask and default dispositions (the
/// daemon blocks or ignores SIGTERM and SIGPIPE, and both would otherwise be inherited), standard
/// input from /dev/null, standard output and error appended to a log file (never pipes: nobody
/// would drain them after a daemon restart), and no other inherited descriptor.
///
/// A dedicated thread waits for the exit so the child never lingers as a zombie, whoever else is
/// watching. It first waits without reaping and then reaps under the same lock that
/// ``kill(processGroup:)`` signals under: while the status is unset the pid is still this child's
/// (a pid is not reused before its zombie is reaped), so a kill never reaches a stranger.
final class ChildProcess: Sendable {
    /// What the process is, for messages (`agent`, `swtpm`, `swtpm_setup`).
    let name: String
    /// Its pid and start time.
    let identity: ProcessIdentity
    /// nil while it runs (or is an unreaped zombie).
    private let exit = Mutex<ExitStatus?>(nil)

    private init(name: String, identity: ProcessIdentity) {
        self.name = name
        self.identity = identity
    }

    /// Starts a program.
    /// - Parameters:
    ///   - name: what it is, for messages and the reaper thread's name.
    ///   - executable: its absolute path.
    ///   - arguments: its arguments, without the program name.
    ///   - environment: additions to (or replacements in) the daemon's environment.
    ///   - log: the file its standard output and error are appended to (created 0600).
    /// - Throws: ``SpawnFailure`` when `posix_spawn` fails.
    static func spawn(
        name: String, executable: String, arguments: [String], environment: [String: String] = [:], log: String
    ) throws(SpawnFailure) -> ChildProcess {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        let flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF) | posixSpawnSetSID
        guard posix_spawnattr_setflags(&attributes, Int16(flags)) == 0 else {
            throw SpawnFailure(description: "posix_spawn cannot start a new session on this system")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc's closefrom action is a GNU extension Swift does not import; closing what is open now
        // covers every descriptor opened without O_CLOEXEC (one opened in between would leak, one
        // closed in between makes close fail with EBADF, which posix_spawn ignores).
        for descriptor in openDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }

        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { arguments in
            (envp + [nil]).withUnsafeBufferPointer { environment in
                posix_spawn(
                    &pid, executable, &actions, &attributes, UnsafeMutablePointer(mutating: arguments.baseAddress!),
                    UnsafeMutablePointer(mutating: environment.baseAddress!))
            }
        }
        guard result == 0 else {
            throw SpawnFailure(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        // The child cannot be reaped before the reaper below starts, so its stat file is there.
        let identity = ProcessIdentity.current(pid: pid) ?? ProcessIdentity(pid: pid, startTime: 0)
        let child = ChildProcess(name: name, identity: identity)
        let reaper = Thread { child.reap() }
        reaper.name = "keyshard-reap-\(name)-\(pid)"
        reaper.start()
        return child
    }

    /// How it ended, or nil while it runs.
    var exitStatus: ExitStatus? { exit.withLock { $0 } }

    /// Whether it still runs.
    var isRunning: Bool { exitStatus == nil }

    /// Sends SIGKILL unless it was already reaped.
    /// - Parameter processGroup: also kill every process in its group (programs such as
    ///   `swtpm_setup` start helpers of their own; the child leads the group of its session).
    func kill(processGroup: Bool = false) {
        exit.withLock { status in
            guard status == nil else { return }
            if processGroup { _ = Glibc.kill(-identity.pid, SIGKILL) }
            _ = Glibc.kill(identity.pid, SIGKILL)
        }
    }

    /// Waits until it has exited, at most `timeout`.
    /// - Returns: how it ended, or nil when it still runs.
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    func waitForExit(timeout: Duration) async throws -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until it has exited, at most `timeout`, blocking the calling thread; for cleanups that
    /// must finish even when the task was cancelled, after a SIGKILL (which takes milliseconds).
    /// - Returns: how it ended, or nil when it still runs.
    func waitForExitBlocking(timeout: Duration) -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(2_000)
        }
    }

    private func reap() {
        var info = siginfo_t()
        var waited: Int32
        repeat {
            waited = waitid(P_PID, id_t(identity.pid), &info, WEXITED | WNOWAIT)
        } while waited != 0 && errno == EINTR
        exit.withLock { status in
            var raw: Int32 = 0
            var reaped: pid_t
            repeat {
                reaped = waitpid(identity.pid, &raw, 0)
            } while reaped < 0 && errno == EINTR
            // ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the process).
            status = reaped == identity.pid ? ExitStatus(waitStatus: raw) : .unknown
        }
    }

    /// glibc's `POSIX_SPAWN_SETSID` (`<spawn.h>`, glibc ≥ 2.26): behind `_GNU_SOURCE`, which Swift's
    /// Glibc module is not built with.
    private static let posixSpawnSetSID: Int32 = 0x80

    private static func openDescriptors() -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return [] }
        return names.compactMap { Int32($0) }
    }
}
