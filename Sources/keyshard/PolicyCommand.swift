import ArgumentParser
import Attestation
import Foundation

/// `keyshard policy …`: tools for attestation policy authors.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and write attestation policies.",
        subcommands: [Lint.self]
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
}
