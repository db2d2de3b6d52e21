import Foundation
import ServerTestSupport
import TestSupport
import Testing

/// Runs the built `keyshard` executable as a user would: arguments, standard
/// input, exit status and both output streams.
struct CLIResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

enum CLI {
    /// The directory holding the test bundle also holds the package's executables.
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("keyshard")
    }

    static func run(_ arguments: [String], input: [UInt8] = [], environment: [String: String]? = nil) throws
        -> CLIResult
    {
        let result = try ProcessRunner.run(executable.path, arguments, input: input, environment: environment, timeout: 120)
        return CLIResult(
            status: result.status, standardOutput: result.standardOutput, standardError: result.standardError)
    }

    /// Runs the CLI on its own thread, so a server running in this test process keeps the
    /// concurrency threads it needs while the test waits.
    static func run(
        _ arguments: [String], input: [UInt8] = [], environment: [String: String]? = nil
    ) async throws -> CLIResult {
        try await runOffPool { try run(arguments, input: input, environment: environment) }
    }
}

/// A scratch directory removed when the value is released.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ contents: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
