import ArgumentParser
import Attestation
import Foundation

/// `keyshard attest …`: offline checks of attestation evidence.
struct AttestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Check TPM attestation evidence offline.",
        subcommands: [Verify.self]
    )

    /// `keyshard attest verify --policy P --evidence E --nonce HEX`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify keyshard-evidence/v1 JSON against an attestation policy.",
            discussion: """
                Exit codes: 0 the evidence satisfies the policy; 1 it is refused (every reason is printed);
                2 the policy, evidence or nonce cannot be read.
                """
        )

        @Option(name: .long, help: "The attestation policy (YAML).")
        var policy: String

        @Option(name: .long, help: "The evidence (keyshard-evidence/v1 JSON), or - for standard input.")
        var evidence: String

        @Option(name: .long, help: "The nonce the quote must answer, in hex.")
        var nonce: String

        func run() throws {
            let verdict: Verdict
            let policyName: String
            do {
                let loadedPolicy = try CLIInput.policy(at: policy)
                let loadedEvidence = try Evidence(json: CLIInput.read(evidence, limit: Evidence.maximumDocumentSize))
                let nonceBytes = try CLIInput.nonce(nonce)
                policyName = loadedPolicy.name
                let verifier = QuoteVerifier(policy: loadedPolicy)
                verdict = CLIInput.waitFor {
                    await verifier.verifyIncludingEndorsement(loadedEvidence, nonce: nonceBytes)
                }
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            switch verdict {
            case .accepted:
                print("accepted: the evidence satisfies policy \(policyName)")
            case .refused(let refusals):
                print("refused: \(refusals.count) check(s) failed for policy \(policyName)")
                for refusal in refusals { print("  \(refusal)") }
                throw ExitCode(1)
            }
        }
    }
}
