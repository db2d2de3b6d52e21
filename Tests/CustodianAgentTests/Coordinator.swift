import AgentProtocol
import Attestation
import Crypto
import _CryptoExtras
import CustodianAgent
import Foundation
import ShardCrypto
import TPM2
import Testing
import X509

/// The coordinator's side of attestation, as the tests drive it: challenge, verify with
/// ``QuoteVerifier`` and the EK chain, MakeCredential in software, activate.
enum Coordinator {
    struct Refused: Error, CustomStringConvertible { let description: String }

    /// Fresh swtpm PCRs 0, 4 and 9 are all zero.
    static let policy = AttestationPolicy(
        name: "swtpm-fresh", pcrBank: .sha256,
        allowedPCRValues: [0: [zeros], 4: [zeros], 9: [zeros]])
    static let zeros = [UInt8](repeating: 0, count: 32)

    /// The agent's evidence in the verifier's form.
    static func verifierEvidence(
        _ evidence: AgentProtocol.Evidence, qualifyingData: [UInt8]
    ) -> Attestation.Evidence {
        verifierEvidence(
            akPublic: evidence.attestationKeyPublic, quote: evidence.quote, signature: evidence.quoteSignature,
            pcrValues: evidence.pcrValues, qualifyingData: qualifyingData)
    }

    static func verifierEvidence(
        akPublic: [UInt8], quote: [UInt8], signature: [UInt8], pcrValues: PCRValues, qualifyingData: [UInt8]
    ) -> Attestation.Evidence {
        var pcrs: [TPMAlgorithmID: [Int: [UInt8]]] = [:]
        for (bank, values) in pcrValues.digests {
            pcrs[TPMAlgorithmID(rawValue: bank)] = Dictionary(
                uniqueKeysWithValues: values.map { (Int($0.key), $0.value) })
        }
        return Attestation.Evidence(
            nonce: qualifyingData, akPublic: akPublic, quoteMessage: quote, quoteSignature: signature, pcrs: pcrs)
    }

    /// The EK public area rebuilt from the certificate's key with the TCG default template
    /// (swtpm certifies an RSA-2048 EK; an ECC P-256 one is rebuilt the same way).
    static func endorsementKey(certificateDER: [UInt8]) throws -> (TPMPublic, pem: String) {
        let certificate = try Certificate(derEncoded: certificateDER)
        let ek: TPMPublic
        if let key = P256.Signing.PublicKey(certificate.publicKey) {
            let point = [UInt8](key.x963Representation)
            ek = try TPMPublic.defaultECCEndorsementKey(x: Array(point[1..<33]), y: Array(point[33..<65]))
        } else {
            let key = try #require(_RSA.Signing.PublicKey(certificate.publicKey))
            ek = try TPMPublic.defaultRSAEndorsementKey(modulus: [UInt8](try key.getKeyPrimitives().modulus))
        }
        return (ek, try certificate.serializeAsPEM().pemString)
    }

    /// Challenge → verify → MakeCredential → ActivateCredential. Returns the evidence.
    @discardableResult
    static func attest(_ client: AgentClient, agent: AgentProcess) async throws -> AgentProtocol.Evidence {
        let nonce = AgentProtocol.Nonce.random()
        guard case .evidence(let evidence) = try await client.request(.challenge(Challenge(nonce: nonce))) else {
            throw Refused(description: "no evidence")
        }
        let qualifyingData = EvidenceBinding.evidence(nonce: nonce, transportKey: evidence.transportKey)
        let verdict = QuoteVerifier(policy: policy).verify(
            verifierEvidence(evidence, qualifyingData: qualifyingData), nonce: qualifyingData)
        guard verdict == .accepted else { throw Refused(description: "verdict: \(verdict)") }

        let (ek, pem) = try endorsementKey(certificateDER: evidence.endorsementKeyCertificate)
        let issuer = String(decoding: try agent.tpm.file("ca/issuercert.pem"), as: UTF8.self)
        let chain = await EKCertificate.verify(pem: pem, rootsPEM: [issuer], endorsementKey: ek)
        guard chain.isEmpty else { throw Refused(description: "EK chain: \(chain)") }

        let credential = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let akName = try TPMPublic(parsing: evidence.attestationKeyPublic).name()
        let made = try MadeCredential(credential: credential, objectName: akName, endorsementKey: ek)
        let request = try ActivateCredential(credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret)
        guard case .credentialActivated(let answer) = try await client.request(.activateCredential(request)) else {
            throw Refused(description: "no activation answer")
        }
        let recovered = answer.credential.withUnsafeBytes { Array($0) }
        guard recovered == credential else { throw Refused(description: "the credential came back wrong") }
        return evidence
    }
}
