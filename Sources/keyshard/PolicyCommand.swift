import ArgumentParser
import Attestation
import Foundation

/// `keyshard policy …`: tools for attestation policy authors.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and write attestation policies.",
        subcommands: [Lint.self, Learn.self, Explain.self]
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

    /// `keyshard policy learn --evidence E -o FILE`.
    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a policy that pins the PCR values of a known-good boot.",
            discussion: """
                The evidence must pass every check against the learned policy with its own nonce, so a forged
                quote teaches nothing. Review the result: every value in it is trusted as-is.
                Exit codes: 0 written; 1 the evidence was refused; 2 unreadable input or unwritable output.
                """
        )

        @Option(name: .long, help: "Evidence (keyshard-evidence/v1 JSON) from the reference boot, or -.")
        var evidence: String

        @Option(name: [.short, .customLong("output")], help: "Where to write the policy (- for standard output).")
        var output: String

        @Option(name: .long, help: "The policy's name.")
        var name: String = "learned"

        func run() throws {
            let loaded: Evidence
            do {
                loaded = try Evidence(json: CLIInput.read(evidence, limit: Evidence.maximumDocumentSize))
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            let policy: AttestationPolicy
            do {
                policy = try AttestationPolicy.learn(from: loaded, name: name)
            } catch {
                CLIOutput.error(error.reason)
                throw ExitCode(1)
            }
            let text = policy.yaml(header: [
                "Learned by keyshard policy learn from \(evidence == "-" ? "standard input" : evidence).",
                "Review before use: every value below is trusted as-is.",
            ])
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
        }
    }

    /// `keyshard policy explain --policy P --evidence E --nonce N`.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every check of evidence against a policy, passed or failed.",
            discussion: """
                The same checks as 'keyshard attest verify', one row each, including one row per
                event rule and per freshness rule (give --nonce-issued-at and --previous-evidence
                as you would to attest verify).
                Exit codes: 0 every check passed; 1 a check failed; 2 unreadable input.
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
