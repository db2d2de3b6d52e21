import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a finished program did.
public struct ProcessResult: Sendable {
    /// The exit status, or 128 + signal when it was killed.
    public let status: Int32
    /// Everything it wrote to standard output.
    public let standardOutput: String
    /// Everything it wrote to standard error.
    public let standardError: String
    /// Whether the time limit passed and the process group was killed.
    public let timedOut: Bool

    /// Standard output then standard error, for failure messages.
    public var combinedOutput: String { standardOutput + standardError }
}

/// Runs programs for tests so that no test can hang the suite.
///
/// Output goes to temporary files, not pipes: a program that starts a daemon (libvirtd,
/// virtlogd) hands the daemon its output descriptors, and a reader waiting for a pipe's end of
/// file would wait for the daemon's exit, forever. Foundation starts the program as the leader
/// of its own process group, and the whole group is killed when the time limit passes. Standard
/// input is the given bytes or /dev/null, never the test runner's own.
public enum ProcessRunner {
    /// Runs a program to completion or to its time limit.
    /// - Parameters:
    ///   - executable: the program's path.
    ///   - arguments: its arguments.
    ///   - input: bytes for its standard input (empty gives /dev/null).
    ///   - environment: its environment; nil inherits the test runner's.
    ///   - currentDirectory: its working directory; nil inherits.
    ///   - timeout: seconds before the process group is killed.
    /// - Returns: status and both outputs.
    /// - Throws: when the program cannot be started or the scratch files cannot be made.
    public static func run(
        _ executable: String, _ arguments: [String] = [], input: [UInt8] = [],
        environment: [String: String]? = nil, currentDirectory: URL? = nil, timeout: Double = 600
    ) throws -> ProcessResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        let inURL = scratch.appendingPathComponent("stdin")
        for url in [outURL, errURL] { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        if input.isEmpty {
            process.standardInput = FileHandle.nullDevice
        } else {
            _ = FileManager.default.createFile(atPath: inURL.path, contents: Data(input))
            process.standardInput = try FileHandle(forReadingFrom: inURL)
        }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() >= deadline {
                timedOut = true
                kill(-process.processIdentifier, SIGKILL)
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(10_000)
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        return ProcessResult(
            status: status,
            standardOutput: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
            timedOut: timedOut)
    }
}
