import ArgumentParser
import Attestation
import Foundation

/// `keyshard attest …`: offline checks of attestation evidence.
struct AttestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest",
        abstract: "Check TPM attestation evidence offline.",
        subcommands: [Verify.self, Credential.self]
    )

    /// `keyshard attest verify --policy P --evidence E --nonce HEX`.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify keyshard-evidence/v1 JSON against an attestation policy.",
            discussion: """
                Checks, and reports every failure rather than only the first: the quote's
                magic and type, that its qualifyingData equals the nonce, that the quoted PCR
                selection is exactly the policy's, that the reported PCR values hash to the
                quoted digest, the AK signature and the AK's attributes (restricted, sign,
                fixedTPM, fixedParent, sensitiveDataOrigin), every PCR value against the
                policy's allowed values, the event log (if present) replayed against the PCRs,
                the EK certificate chain when the policy names ekRoots, and the policy's
                freshness rules: the nonce's age (--nonce-issued-at), a safe TPM clock, and
                that the TPM was not reset or restarted and its clock did not go back since
                the previous accepted quote (--previous-evidence).

                Each refusal prints a stable code (such as pcr.value or quote.nonce) and a
                sentence saying what differs. 'keyshard policy explain' shows passed checks too.

                Exit codes: 0 the evidence satisfies the policy; 1 it is refused (every
                reason is printed); 2 the policy, evidence or nonce cannot be read.

                Example:
                  keyshard attest verify --policy policies/custodian-ovmf.yaml \\
                      --evidence evidence.json --nonce 9f86d081884c7d65… \\
                      --nonce-issued-at 2026-11-29T12:00:00Z \\
                      --previous-evidence last-accepted.json
                """
        )

        @Option(name: .long, help: "The attestation policy (YAML).")
        var policy: String

        @Option(name: .long, help: "The evidence (keyshard-evidence/v1 JSON), or - for standard input.")
        var evidence: String

        @Option(name: .long, help: "The nonce the quote must answer, in hex.")
        var nonce: String

        @OptionGroup var freshness: FreshnessOptions

        func run() async throws {
            let verdict: Verdict
            let policyName: String
            do {
                let loadedPolicy = try CLIInput.policy(at: policy)
                let loadedEvidence = try Evidence(json: CLIInput.read(evidence, limit: Evidence.maximumDocumentSize))
                let nonceBytes = try CLIInput.nonce(nonce)
                let context = try freshness.context(for: loadedEvidence)
                policyName = loadedPolicy.name
                let verifier = QuoteVerifier(policy: loadedPolicy)
                verdict = await verifier.verifyIncludingEndorsement(
                    loadedEvidence, nonce: nonceBytes, freshness: context)
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
