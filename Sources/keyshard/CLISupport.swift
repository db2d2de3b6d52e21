import ArgumentParser
import Foundation
import KeyshardAPI
import KeyshardClient
import ShardCrypto

/// Exit codes shared by every subcommand (sysexits.h where one fits); docs/API.md and the
/// README's table mirror this.
enum KeyshardExit {
    /// The operation failed, or a yes/no answer is no (an invalid signature).
    static let failed = ExitCode(1)
    /// `status`: a ring is below its threshold.
    static let belowThreshold = ExitCode(2)
    /// Wrong usage: unknown option, missing argument (the argument parser uses it too).
    static let usage = ExitCode(64)
    /// EX_DATAERR: input that cannot be used (not a ciphertext, bad hex, unreadable key file).
    static let badInput = ExitCode(65)
    /// EX_UNAVAILABLE: keyshardd cannot be reached, or too few custodians are healthy.
    static let unavailable = ExitCode(69)
    /// EX_TEMPFAIL: try again later (a ring rotation or other epoch change is under way).
    static let busy = ExitCode(75)
    /// EX_NOPERM: the caller lacks the role.
    static let forbidden = ExitCode(77)

    /// The exit code for a refusal by keyshardd.
    static func code(for code: KeyshardError.Code) -> ExitCode {
        switch code {
        case .badRequest: badInput
        case .forbidden: forbidden
        case .busy: busy
        case .belowThreshold, .auditUnavailable: unavailable
        case .notFound, .unsupported, .exists, .custodianFailure, .internalError: failed
        }
    }
}

/// The largest input read from standard input. Threshold HPKE is single-shot, so the
/// whole message is held in memory; a fixed cap keeps a stray pipe from exhausting it.
let maximumInputBytes = 64 << 20

/// Prints `message` to standard error with the command name and returns `code` to throw.
func fail(_ message: String, exit code: ExitCode) -> ExitCode {
    CLIOutput.error(message)
    return code
}

/// Reads all of standard input, refusing more than `limit` bytes.
func readStandardInput(limit: Int = maximumInputBytes, hint: String? = nil) throws -> [UInt8] {
    var bytes: [UInt8] = []
    let input = FileHandle.standardInput
    while true {
        let chunk = input.readData(ofLength: 1 << 16)
        if chunk.isEmpty { return bytes }
        bytes += chunk
        if bytes.count > limit {
            let size = limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit) bytes"
            throw fail(
                "standard input is larger than \(size); "
                    + (hint ?? "keyshard seals whole messages only "
                        + "(seal a data key instead and encrypt bulk data with it)"),
                exit: KeyshardExit.badInput)
        }
    }
}

/// Standard input as one line of text (a ciphertext, hex), surrounding white space removed.
func readStandardInputText(limit: Int, what: String) throws -> String {
    let bytes = try readStandardInput(limit: limit, hint: "that is not \(what)")
    guard let text = String(bytes: bytes, encoding: .utf8) else {
        throw fail("standard input is not \(what) (not UTF-8 text)", exit: KeyshardExit.badInput)
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Writes secret bytes to standard output without copying them into a `String` or `Data`.
func writeStandardOutput(_ secret: SecretBytes) throws {
    try secret.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw fail(
                    "cannot write standard output: \(String(cString: strerror(errno)))", exit: KeyshardExit.failed)
            }
            offset += written
        }
    }
}

/// Public key files for the offline commands.
enum PublicKeyFile {
    /// Reads and decodes a PEM `PUBLIC KEY` or SEC1 hex file; every failure is a clear message
    /// and exit code 65.
    static func load(_ path: String) throws -> Point {
        let text: String
        do {
            // A public key file is a few hundred bytes; anything far larger is the wrong file.
            text = try CLIInput.text(at: path, limit: 64 << 10)
        } catch let error as CLIInput.Failure {
            throw fail("cannot use public key file '\(path)': \(error.description)", exit: KeyshardExit.badInput)
        }
        do {
            return try Point(publicKeyText: text)
        } catch {
            throw fail("'\(path)' is not a usable P-256 public key: \(error.reason)", exit: KeyshardExit.badInput)
        }
    }
}

/// `--socket PATH`: where keyshardd listens.
struct DaemonOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "keyshardd's Unix socket.",
            discussion: "Default: $KEYSHARD_SOCKET, else \(KeyshardClient.defaultSocketPath).",
            valueName: "path"))
    var socket: String?

    /// The socket to use.
    var socketPath: String { KeyshardClient.socketPath(option: socket) }

    /// Runs `body` with a client; keyshardd's refusals and transport failures become a
    /// `keyshard: …` line on standard error and the matching exit code.
    func withClient<T: Sendable>(_ body: (KeyshardClient) async throws -> T) async throws -> T {
        do {
            return try await KeyshardClient.withClient(socketPath: socketPath, body)
        } catch let error as KeyshardError {
            throw fail(error.message, exit: KeyshardExit.code(for: error.code))
        } catch let error as KeyshardClientError {
            throw fail(error.message, exit: KeyshardExit.unavailable)
        }
    }
}

/// `--json`: machine-readable output instead of a table.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print JSON (the API's field names) instead of a table.")
    var json = false
}

/// `--info S`: the HPKE info (Vault's `context`).
struct InfoOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "HPKE info string bound into the ciphertext (Vault's context); decryption must name the same.",
            valueName: "string"))
    var info: String = ""

    var bytes: [UInt8] { Array(info.utf8) }
}

/// JSON output for `--json`.
enum JSONOutput {
    static func print(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        Swift.print(String(decoding: data, as: UTF8.self))
    }
}

/// Aligned columns for the tabular commands.
struct Table {
    let header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ row: String...) { rows.append(row) }

    func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1
                    ? row[column] : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// Times for people: ISO 8601 and how long ago.
enum TimeText {
    static func describe(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "never" }
        let seconds = Int(now.timeIntervalSince(date).rounded())
        let age: String
        switch seconds {
        case ..<0: age = "in the future"
        case ..<120: age = "\(seconds) s ago"
        case ..<7200: age = "\(seconds / 60) min ago"
        default: age = "\(seconds / 3600) h ago"
        }
        return "\(VaultWire.timestamp(date)) (\(age))"
    }
}
