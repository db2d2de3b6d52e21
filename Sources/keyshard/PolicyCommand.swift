import ArgumentParser
import Attestation
import Foundation

/// `keyshard policy …`: tools for attestation policy authors.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and write attestation policies; make keyshardd re-read its policy.",
        subcommands: [Lint.self, Learn.self, Explain.self, Reload.self]
    )

    /// `keyshard policy lint FILE...`.
    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check attestation policy files; print every problem with its line.",
            discussion: "Exit codes: 0 every file is valid; 1 a file has problems; 2 a file cannot be read."
        )

        @Argument(help: "Policy files (YAML).")
        var files: [String]

        func run() throws {
            var worst: Int32 = 0
            for file in files {
                let text: String
                do {
                    text = try CLIInput.text(at: file, limit: AttestationPolicy.maximumFileSize)
                } catch {
                    CLIOutput.error("\(error)")
                    worst = 2
                    continue
                }
                do {
                    let policy = try AttestationPolicy(yaml: text, source: file)
                    print("\(file): ok (policy \(policy.name), \(policy.selection))")
                } catch {
                    print(error.description)
                    worst = max(worst, 1)
                }
            }
            if worst != 0 { throw ExitCode(worst) }
        }
    }

    /// `keyshard policy learn --evidence E -o FILE` or `--update FILE [--dry-run]`.
    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a policy from a known-good boot, or add its values to an existing policy.",
            discussion: """
                -o FILE writes a new policy pinning the quoted PCRs at their values, with
                event rules (when the evidence has an event log) and the recommended
                freshness block.

                --update FILE adds the boot's PCR values and event digests that FILE does
                not yet allow to FILE, editing its text in place: every comment, blank line
                and key order stays as written, and each new value gets a comment saying
                when and from which evidence it was learned. The quote must cover exactly
                FILE's PCRs; no PCR or rule is added (notes name events no rule covers).
                FILE must lint, and is replaced atomically (temporary file and rename,
                permissions kept). --dry-run prints the change as a diff and writes nothing.

                Either way, the evidence must pass every check (but freshness: nobody
                recorded when the reference nonce was issued) against the resulting policy
                with its own nonce, so a forged quote teaches nothing. Review the result:
                every value in it is trusted as-is.

                Exit codes: 0 written (or nothing new, or dry run); 1 the evidence was
                refused; 2 unreadable input, a policy that does not lint or cannot be edited
                safely, or unwritable output.

                Examples:
                  keyshard policy learn --evidence good-boot.json \\
                      -o policies/custodian.yaml --name custodian
                  keyshard policy learn --evidence new-kernel.json \\
                      --update policies/custodian.yaml --dry-run
                """
        )

        @Option(name: .long, help: "Evidence (keyshard-evidence/v1 JSON) from the reference boot, or -.")
        var evidence: String

        @Option(name: [.short, .customLong("output")], help: "Where to write a new policy (- for standard output).")
        var output: String?

        @Option(name: .long, help: ArgumentHelp(
            "An existing policy to add the boot's new PCR values and event digests to, in place.",
            valueName: "file"))
        var update: String?

        @Flag(name: .long, help: "With --update: print the change as a diff; write nothing.")
        var dryRun = false

        @Option(name: .long, help: "The new policy's name (with -o).")
        var name: String?

        func validate() throws {
            guard (output == nil) != (update == nil) else {
                throw ValidationError("Give exactly one of -o/--output (a new policy) and --update (an existing one).")
            }
            if dryRun && update == nil { throw ValidationError("--dry-run goes with --update.") }
            if name != nil && update != nil {
                throw ValidationError("--name is for new policies; --update keeps the policy's name.")
            }
        }

        func run() throws {
            let loaded: Evidence
            do {
                loaded = try Evidence(json: CLIInput.read(evidence, limit: Evidence.maximumDocumentSize))
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            if let update {
                try runUpdate(update, with: loaded)
            } else if let output {
                try runNew(output, with: loaded)
            }
        }

        private var evidenceName: String { evidence == "-" ? "standard input" : evidence }

        private func runNew(_ output: String, with loaded: Evidence) throws {
            let policy: AttestationPolicy
            do {
                policy = try AttestationPolicy.learn(from: loaded, name: name ?? "learned")
            } catch {
                CLIOutput.error(error.reason)
                throw ExitCode(1)
            }
            var header = [
                "Learned by keyshard policy learn from \(evidenceName).",
                "Review before use: every value below is trusted as-is.",
            ]
            if let note = FreshnessRules.learningNote(for: loaded) {
                CLIOutput.error("note: \(note)")
                header.append("Note: \(note)")
            }
            let text = policy.yaml(header: header)
            if output == "-" {
                print(text, terminator: "")
                return
            }
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                CLIOutput.error("cannot write \(output): \(error.localizedDescription)")
                throw ExitCode(2)
            }
            print("wrote \(output): policy \(policy.name), \(policy.selection)")
            print("its freshness block limits nonce age: give attest verify --nonce-issued-at (see --help)")
        }

        private func runUpdate(_ path: String, with loaded: Evidence) throws {
            let update: PolicyUpdate
            do {
                let text = try CLIInput.text(at: path, limit: AttestationPolicy.maximumFileSize)
                let time = ISO8601DateFormatter().string(from: Date())
                let from = evidence == "-" ? "standard input" : URL(fileURLWithPath: evidence).lastPathComponent
                update = try PolicyUpdate(policyText: text, source: path, evidence: loaded,
                                          comment: "learned \(time) from \(from)")
            } catch let error as AttestationError where error.code == .evidenceRefused {
                CLIOutput.error(error.reason)
                throw ExitCode(1)
            } catch let error as AttestationError {
                CLIOutput.error(error.reason)
                throw ExitCode(2)
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            for note in update.notes { CLIOutput.error("note: \(note)") }
            guard !update.additions.isEmpty else {
                print("\(path): nothing to add; policy \(update.updatedPolicy.name) already allows this boot")
                return
            }
            if dryRun {
                print(update.diff(name: path), terminator: "")
                print("dry run: \(path) not written (\(update.additions.count) value(s) would be added)")
                return
            }
            do {
                try AtomicFile.replace(path, with: update.updatedText)
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            print("updated \(path): added \(update.additions.count) value(s) to policy \(update.updatedPolicy.name)")
            for addition in update.additions { print("  + \(addition)") }
        }
    }

    /// `keyshard policy explain --policy P --evidence E --nonce N`.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every check of evidence against a policy, passed or failed.",
            discussion: """
                The same checks as 'keyshard attest verify', one row each, including one row
                per event rule and per freshness rule (give --nonce-issued-at and
                --previous-evidence as you would to attest verify). Exit codes: 0 every
                check passed; 1 a check failed; 2 unreadable input.
                """
        )

        @Option(name: .long, help: "The attestation policy (YAML).")
        var policy: String

        @Option(name: .long, help: "The evidence (keyshard-evidence/v1 JSON), or -.")
        var evidence: String

        @Option(name: .long, help: "The nonce the quote must answer, in hex.")
        var nonce: String

        @OptionGroup var freshness: FreshnessOptions

        func run() throws {
            let results: [CheckResult]
            do {
                let loadedPolicy = try CLIInput.policy(at: policy)
                let loadedEvidence = try Evidence(json: CLIInput.read(evidence, limit: Evidence.maximumDocumentSize))
                let nonceBytes = try CLIInput.nonce(nonce)
                let context = try freshness.context(for: loadedEvidence)
                results = QuoteVerifier(policy: loadedPolicy).evaluate(
                    loadedEvidence, nonce: nonceBytes, freshness: context)
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            let width = results.map(\.name.count).max() ?? 0
            print("RESULT  " + "CHECK".padding(toLength: width, withPad: " ", startingAt: 0) + "  DETAIL")
            for result in results {
                let status = result.passed ? "pass  " : "FAIL  "
                let name = result.name.padding(toLength: width, withPad: " ", startingAt: 0)
                let details = result.refusals.isEmpty
                    ? [result.passed ? "" : "not checked: what it needs is missing or did not parse"]
                    : result.refusals.map(\.description)
                print(status + "  " + name + "  " + details[0])
                for detail in details.dropFirst() {
                    print(String(repeating: " ", count: 8 + width) + "  " + detail)
                }
            }
            if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
        }
    }
}
