import CustodianBackend
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where one custodian's files live: `<state>/process/custodians/<backendID>/`.
struct CustodianPaths: Sendable {
    /// The custodian's directory (0700).
    let directory: String

    /// swtpm's state (the manufactured TPM).
    var tpmState: String { directory + "/tpm" }
    /// The agent's socket.
    var socket: String { directory + "/agent.sock" }
    /// The agent's standard output and error.
    var agentLog: String { directory + "/agent.log" }
    /// swtpm's standard output and error.
    var swtpmLog: String { directory + "/swtpm.log" }
    /// swtpm_setup's log (EK public keys and certificates; no secret).
    var setupLog: String { directory + "/swtpm_setup.log" }
    /// The record a restarted daemon rediscovers the custodian from.
    var record: String { directory + "/record.json" }
}

/// What `record.json` holds: the custodian's record, and which processes are its agent and swtpm.
///
/// It is first written as soon as swtpm runs (`complete` false), again once the agent runs, and a
/// last time when the agent listens: a daemon killed in between leaves a file that names what to
/// kill, and ``ProcessBackend/discover()`` returns only complete records.
struct CustodianFile: Codable, Sendable, Equatable {
    /// The layout's version, for a future change of it.
    var version = 1
    /// The record ``ProcessBackend/launch(_:)`` returned.
    var record: CustodianRecord
    /// swtpm's command port (the control port is the next one).
    var swtpmPort: Int?
    /// The swtpm process.
    var swtpm: ProcessIdentity?
    /// The agent process.
    var agent: ProcessIdentity?
    /// Whether the launch finished.
    var complete: Bool

    /// Reads a record file; nil when it is missing or unreadable.
    static func read(path: String) -> CustodianFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? decoder.decode(CustodianFile.self, from: data)
    }

    /// Writes the file atomically: a temporary file beside it, flushed, then renamed over it, so a
    /// reader (or a daemon killed mid-write) sees the old file or the new one, never a torn one.
    func write(path: String) throws(BackendError) {
        let data: Data
        do { data = try Self.encoder.encode(self) } catch {
            throw BackendError(.launchFailed, "cannot encode \(path): \(error)")
        }
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw BackendError(.launchFailed, "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw BackendError(.launchFailed, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Launch times are kept to whole milliseconds, so a record read back equals the one returned.
    static func launchTime(_ date: Date = Date()) -> Date {
        Date(timeIntervalSince1970: Double(Int64((date.timeIntervalSince1970 * 1000).rounded())) / 1000)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Int64((date.timeIntervalSince1970 * 1000).rounded()))
        }
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            Date(timeIntervalSince1970: Double(try decoder.singleValueContainer().decode(Int64.self)) / 1000)
        }
        return decoder
    }()
}

/// Small file helpers.
enum Files {
    /// The end of a log, for an error message: at most `lines` lines of the last 4 KiB.
    static func tail(_ path: String, lines: Int = 12) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "(no \(lastComponent(path)))" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        let kept = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines)
        return kept.isEmpty ? "(\(lastComponent(path)) is empty)" : kept.joined(separator: "\n")
    }

    /// Creates a directory with mode 0700 (exactly: the umask does not widen or narrow it).
    /// - Returns: 0, or the errno of `mkdir`.
    static func makePrivateDirectory(_ path: String) -> Int32 {
        guard mkdir(path, 0o700) == 0 else { return errno }
        chmod(path, 0o700)
        return 0
    }

    /// Removes a directory tree; true when it is gone afterwards.
    @discardableResult
    static func remove(_ path: String) -> Bool {
        try? FileManager.default.removeItem(atPath: path)
        return !FileManager.default.fileExists(atPath: path)
    }

    /// Whether `path` is an executable regular file.
    static func isExecutableFile(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// The program `name` on PATH (then /usr/bin, /usr/local/bin), or nil.
    static func findProgram(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        return directories.map { $0 + "/" + name }.first(where: isExecutableFile)
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
