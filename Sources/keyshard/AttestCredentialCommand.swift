import ArgumentParser
import Attestation
import Foundation

extension AttestCommand {
    /// `keyshard attest credential --evidence E --ek-public F|--ek-certificate F --ek-root R --out-dir D`.
    struct Credential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a credential that only the evidence's AK, in the TPM of a trusted EK, can open.",
            discussion: """
                'attest verify' checks that a restricted key signed the quote, but offline
                it cannot tell whether that key lives in the same TPM as the EK you trust
                (CVE-2022-1053 class): an attacker could quote with a key in another TPM.
                This command runs TPM2_MakeCredential in software: it wraps a fresh random
                secret to the EK, bound to the name of the evidence's AK, and writes

                  DIR/credential.bin  for tpm2_activatecredential -i (tpm2-tools format)
                  DIR/secret.bin      the secret, mode 0600; keep it here, never send it

                Only a TPM holding the EK's private key, with the AK loaded, can recover the
                secret.

                The ceremony:
                  1. keyshard attest verify ... (the quote satisfies the policy)
                  2. keyshard attest credential --evidence e.json --ek-certificate ek.pem \\
                         --ek-root /var/lib/swtpm-localca/issuercert.pem --out-dir challenge/
                  3. Send challenge/credential.bin to the attester, which runs (the
                     TCG EK needs PolicySecret with the endorsement hierarchy):
                       tpm2_startauthsession --policy-session -S s.ctx
                       tpm2_policysecret -S s.ctx -c e
                       tpm2_activatecredential -c ak.ctx -C ek.ctx -i credential.bin \\
                           -o answer.bin -P session:s.ctx
                  4. Compare its answer.bin with challenge/secret.bin (cmp -s); equal
                     means the AK is in that TPM. Use each secret once, then delete it.

                --ek-certificate FILE (PEM or DER) rebuilds the EK from the certificate's
                key with the TCG default template (RSA-2048 or ECC P-256) and requires
                --ek-root: the certificate must chain to one of them. --ek-public FILE takes
                the EK public area as tpm2_createek -u wrote it, for an EK you trust by
                other means (recorded at enrolment).

                Exit codes: 0 written; 1 refused (the key is not an AK, or the EK
                certificate does not chain); 2 unreadable or unsupported input, or
                unwritable output.
                """
        )

        @Option(name: .long, help: "The evidence (keyshard-evidence/v1 JSON) whose AK the credential is bound to.")
        var evidence: String

        @Option(name: .long, help: ArgumentHelp("The EK public area (TPM2B_PUBLIC, tpm2_createek -u).",
                                                valueName: "file"))
        var ekPublic: String?

        @Option(name: .long, help: ArgumentHelp("The EK certificate, PEM or DER (needs --ek-root).",
                                                valueName: "file"))
        var ekCertificate: String?

        @Option(name: .long, help: ArgumentHelp("A PEM file of trusted EK roots (repeat for several).",
                                                valueName: "file"))
        var ekRoot: [String] = []

        @Option(name: .long, help: ArgumentHelp("Where to write credential.bin and secret.bin (created 0700 if "
                                                    + "missing).", valueName: "dir"))
        var outDir: String

        func validate() throws {
            guard (ekPublic == nil) != (ekCertificate == nil) else {
                throw ValidationError("Give exactly one of --ek-public and --ek-certificate.")
            }
            if ekCertificate != nil && ekRoot.isEmpty {
                throw ValidationError("--ek-certificate needs --ek-root: an EK certificate that is not checked "
                    + "against a trusted root proves nothing.")
            }
            if ekPublic != nil && !ekRoot.isEmpty {
                throw ValidationError("--ek-root goes with --ek-certificate.")
            }
        }

        func run() async throws {
            let loaded: Evidence
            let trusted: CredentialChallenge.TrustedEndorsementKey
            do {
                loaded = try Evidence(json: CLIInput.read(evidence, limit: Evidence.maximumDocumentSize))
                if let ekPublic {
                    trusted = .publicArea([UInt8](try CLIInput.read(ekPublic, limit: 4096)))
                } else if let ekCertificate {
                    trusted = .certificate([UInt8](try CLIInput.read(ekCertificate, limit: 64 << 10)),
                                           rootsPEM: try ekRoot.map { try CLIInput.text(at: $0, limit: 1 << 20) })
                } else {
                    return
                }
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }

            var generator = SystemRandomNumberGenerator()
            let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let outcome: Result<MadeCredential, AttestationError>
            do throws(AttestationError) {
                outcome = .success(
                    try await CredentialChallenge.make(forAKOf: loaded, trusting: trusted, secret: secret))
            } catch {
                outcome = .failure(error)
            }
            let made: MadeCredential
            switch outcome {
            case .success(let value):
                made = value
            case .failure(let error) where error.code == .evidenceRefused:
                CLIOutput.error("refused: \(error.reason)")
                throw ExitCode(1)
            case .failure(let error):
                CLIOutput.error(error.reason)
                throw ExitCode(2)
            }

            let directory = URL(fileURLWithPath: outDir)
            let credentialPath = directory.appendingPathComponent("credential.bin").path
            let secretPath = directory.appendingPathComponent("secret.bin").path
            do {
                try FileManager.default.createDirectory(
                    at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try AtomicFile.write(secret, to: secretPath, mode: 0o600)
                try AtomicFile.write(made.tpm2ToolsFile, to: credentialPath, mode: 0o644)
            } catch {
                CLIOutput.error("\(error)")
                throw ExitCode(2)
            }
            print("wrote \(credentialPath): send it to the attester for tpm2_activatecredential -i")
            print("wrote \(secretPath) (0600): compare the attester's answer with it (cmp -s), never send it")
        }
    }
}
