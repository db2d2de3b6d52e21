import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real `keyshardd --dev` (process backend) in a scratch directory, driven through the real
/// `keyshard` CLI and raw HTTP on its socket. ``stop(signal:)`` ends the daemon (SIGTERM destroys
/// its custodians, SIGKILL leaves them for a restart); ``destroy()`` kills whatever is left (every
/// process whose command line names the scratch directory) and removes it.
final class DaemonHarness: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let directory: URL
    let socket: String
    private(set) var process: Process?
    private(set) var log: URL

    static var binDirectory: URL { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent() }
    static var keyshardd: String { binDirectory.appendingPathComponent("keyshardd").path }
    static var keyshard: String { binDirectory.appendingPathComponent("keyshard").path }

    init() {
        directory = URL(fileURLWithPath: "/tmp/ksd-\(UUID().uuidString.prefix(8))")
        socket = directory.appendingPathComponent("keyshard.sock").path
        log = directory.appendingPathComponent("keyshardd.log")
    }

    var stateDirectory: String { directory.appendingPathComponent("state").path }

    /// Runs `body` with a started daemon and always cleans up.
    static func with(_ body: (DaemonHarness) async throws -> Void) async throws {
        let harness = DaemonHarness()
        do {
            try harness.start()
            try await body(harness)
        } catch {
            Issue.record("daemon log:\n\(harness.logText.suffix(4000))")
            harness.destroy()
            throw error
        }
        harness.destroy()
    }

    /// Starts keyshardd (`--dev` in the scratch directory, or with `configuration` instead, whose
    /// socket must be ``socket`` and state directory ``stateDirectory``) and waits until its socket
    /// answers health checks.
    func start(environment extra: [String: String] = [:], arguments: [String] = [], configuration: String? = nil) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.keyshardd)
        process.arguments =
            (configuration.map { ["--config", $0] } ?? ["--dev", "--state-dir", stateDirectory, "--socket", socket]) + arguments
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard process.isRunning else { throw Failure(description: "keyshardd exited: \(logText.suffix(3000))") }
            if let result = try? cli(["status", "--json"], timeout: 10), result.status != 69 { return }
            usleep(200_000)
        }
        throw Failure(description: "keyshardd did not answer within 60 s: \(logText.suffix(3000))")
    }

    /// Sends `signal` and waits for the daemon to exit; its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 60) -> Int32? {
        guard let process else { return nil }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.process = nil
        return process.terminationStatus
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// The running daemon's process id.
    var pid: pid_t? { process?.processIdentifier }

    /// Runs the keyshard CLI against this daemon.
    func cli(_ arguments: [String], input: [UInt8] = [], environment extra: [String: String] = [:], timeout: Double = 300)
        throws -> ProcessResult
    {
        var environment = ProcessInfo.processInfo.environment
        environment["KEYSHARD_SOCKET"] = socket
        for (key, value) in extra { environment[key] = value }
        return try ProcessRunner.run(Self.keyshard, arguments, input: input, environment: environment, timeout: timeout)
    }

    /// `cli`, expecting exit 0; its standard output.
    func ok(_ arguments: [String], input: [UInt8] = []) throws -> String {
        let result = try cli(arguments, input: input)
        guard result.status == 0 else {
            throw Failure(description: "keyshard \(arguments.joined(separator: " ")) exited \(result.status): \(result.combinedOutput)")
        }
        return result.standardOutput
    }

    /// curl on the socket: status code and body.
    func http(_ method: String, _ path: String, body: String? = nil, headers: [String] = []) throws -> (status: Int, body: String) {
        var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", socket, "-X", method]
        for header in headers { arguments += ["-H", header] }
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        arguments.append("http://keyshard" + path)
        let result = try ProcessRunner.run("/usr/bin/curl", arguments, timeout: 300)
        let text = result.standardOutput
        guard let split = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: split)...]) else {
            throw Failure(description: "curl failed: \(result.combinedOutput)")
        }
        return (status, String(text[..<split]))
    }

    /// Polls `decrypt key` with `ciphertext` until it gives `plaintext`; the seconds from `since`
    /// until it did, or nil when it never did within `limit`.
    func secondsUntilDecrypts(
        _ key: String, _ ciphertext: String, to plaintext: String, since: ContinuousClock.Instant,
        limit: Duration = .seconds(120)
    ) throws -> Double? {
        while ContinuousClock.now - since < limit {
            let attempt = try cli(["decrypt", key], input: Array(ciphertext.utf8), timeout: 60)
            if attempt.status == 0, attempt.standardOutput == plaintext { return (ContinuousClock.now - since) / .seconds(1) }
            usleep(250_000)
        }
        return nil
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Where a configuration put the audit log, when not in the state directory.
    var auditPathOverride: String?
    var auditPath: String { auditPathOverride ?? stateDirectory + "/audit.log" }

    /// Processes (agents, swtpms, daemons) whose command line mentions the scratch directory.
    var leftoverProcesses: [pid_t] {
        let needle = directory.path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(needle)
        }
    }

    /// Stops the daemon if it runs, kills every leftover process, removes the directory.
    func destroy() {
        if isRunning { stop(signal: SIGTERM) }
        for pid in leftoverProcesses { kill(pid, SIGKILL) }
        usleep(200_000)
        try? FileManager.default.removeItem(at: directory)
    }
}
