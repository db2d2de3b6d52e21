import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A process as the kernel tells it apart for its whole life: its pid and its start time (field 22
/// of `/proc/PID/stat`, clock ticks after boot). A pid alone is reused once its process is gone, so a
/// record that names only a pid could make the backend kill an unrelated process.
struct ProcessIdentity: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The process id.
    let pid: Int32
    /// When the process started, in clock ticks after boot.
    let startTime: UInt64

    /// The identity of the process that now has `pid`, or nil when there is none.
    static func current(pid: Int32) -> ProcessIdentity? {
        ProcessStatus.read(pid: pid).map { ProcessIdentity(pid: pid, startTime: $0.startTime) }
    }

    /// Whether this very process still runs: its pid shows the same start time and it is neither a
    /// zombie nor dead (a zombie holds no memory any more; its parent reaps it).
    var isRunning: Bool {
        guard let status = ProcessStatus.read(pid: pid), status.startTime == startTime else { return false }
        return !status.hasExited
    }

    /// Sends SIGKILL when the pid still names this process.
    ///
    /// Between the check and the signal the process could exit and its pid be reused; the window is
    /// a few microseconds against a pid space that is cycled through rarely. Children of this daemon
    /// are killed through ``ChildProcess/kill()`` instead, which has no such window.
    func kill() {
        guard isRunning else { return }
        _ = Glibc.kill(pid, SIGKILL)
    }

    var description: String { "pid \(pid)" }
}

/// The fields of `/proc/PID/stat` this backend reads.
struct ProcessStatus: Equatable, Sendable {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    let state: Character
    /// Field 22: start time in clock ticks after boot.
    let startTime: UInt64

    /// Whether the process has exited (a zombie waiting for its parent, or dead).
    var hasExited: Bool { state == "Z" || state == "X" || state == "x" }

    /// Reads and parses `/proc/PID/stat`; nil when there is no such process.
    static func read(pid: Int32) -> ProcessStatus? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        return parse(String(decoding: data, as: UTF8.self))
    }

    /// Parses the text of a stat file. The command name (field 2) is in parentheses and may hold
    /// spaces and parentheses itself, so fields are counted from the last `)`.
    static func parse(_ text: String) -> ProcessStatus? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        return ProcessStatus(state: state, startTime: start)
    }
}
