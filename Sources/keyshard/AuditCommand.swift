import ArgumentParser
import AuditLog
import Foundation

/// `keyshard audit …`: offline checks of keyshardd's audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check keyshardd's hash-chained audit log.",
        subcommands: [Verify.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log's hash chain; find any edited, dropped or reordered line.",
            discussion: """
                Every line of the log carries its sequence number and the hash of the line
                before it; this recomputes the chain from the first line and names every
                line that does not fit. A chain can be cut short at its end without a trace,
                so compare its end with a head recorded elsewhere (monitoring can store the
                head this command prints): with --head SEQ:HASH the file must end at exactly
                that line. A file that starts with "audit.continued" (after logrotate moved
                the previous one) names the hash it continues from. Reads the file only;
                needs no daemon.

                Exit codes: 0 the chain is intact (and matches --head); 1 it is broken or the
                head does not match; 65 the file cannot be read.

                Examples:
                  keyshard audit verify /var/lib/keyshard/audit.log
                  keyshard audit verify --head 1042:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
                """)

        @Argument(
            help: ArgumentHelp("The audit log (default: \(AuditLogVerification.defaultPath)).", valueName: "file"))
        var file: String?

        @Option(
            help: ArgumentHelp(
                "A head recorded earlier: the sequence number and hex SHA-256 of a line.", valueName: "seq:hash"))
        var head: String?

        func validate() throws {
            if let head, AuditLogVerification.Head(head) == nil {
                throw ValidationError("--head must be SEQ:HASH, a sequence number and 64 hex digits")
            }
        }

        func run() async throws {
            let path = file ?? AuditLogVerification.defaultPath
            let report: AuditLogVerification.Report
            do {
                report = try AuditLogVerification.verify(path: path, head: head.flatMap(AuditLogVerification.Head.init))
            } catch {
                switch error {
                case .unreadable(let reason): throw fail(reason, exit: KeyshardExit.badInput)
                case .broken(let reason), .unavailable(let reason): throw fail(reason, exit: KeyshardExit.failed)
                }
            }
            print("\(path): intact, \(report.records) records, head \(report.lastSequence):\(report.lastHash)")
        }
    }
}

/// The bridge from `keyshard audit verify` to the AuditLog module's verifier.
///
enum AuditLogVerification {
    /// The log keyshardd writes unless configured otherwise (keyshard.yaml `audit.path`).
    static let defaultPath = "/var/log/keyshard/audit.log"

    /// `SEQ:HASH`.
    struct Head: Equatable {
        let sequence: Int
        let hash: String

        init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let sequence = Int(parts[0]), sequence >= 0, parts[1].count == 64,
                parts[1].allSatisfy(\.isHexDigit)
            else { return nil }
            self.sequence = sequence
            self.hash = parts[1].lowercased()
        }
    }

    /// What an intact log holds.
    struct Report {
        let records: Int
        let lastSequence: Int
        let lastHash: String
    }

    enum Failure: Error {
        /// The file cannot be read (exit 65).
        case unreadable(String)
        /// A line is edited, missing or out of order, or the head does not match (exit 1).
        case broken(String)
        /// This build cannot verify (exit 1).
        case unavailable(String)
    }

    static func verify(path: String, head: Head?) throws(Failure) -> Report {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .unreadable("cannot read the audit log \(path)")
        }
        let report: AuditReport
        do {
            report = try AuditVerifier.verify(
                path: path, expectedHead: head.map { AuditHead(seq: $0.sequence, hash: $0.hash) })
        } catch {
            throw .unreadable("\(path): \(error)")
        }
        guard report.isIntact else {
            let shown = report.problems.prefix(20).map { "line \($0.line): \($0.description)" }
            let more = report.problems.count > 20 ? ["… and \(report.problems.count - 20) more"] : []
            throw .broken("\(path) is not intact:\n  " + (shown + more).joined(separator: "\n  "))
        }
        guard let last = report.head else { throw .broken("\(path) holds no record") }
        return Report(records: report.lines, lastSequence: last.seq, lastHash: last.hash)
    }
}
