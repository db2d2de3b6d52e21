import AgentProtocol
import Attestation
import Coordinator
import Foundation
import TPM2

/// The coordinator's side as these tests drive it: the real ``CustodianAttestor`` with a
/// policy for a fresh swtpm and the agent's own scratch CA as the EK root.
enum Coordinator {
    /// The coordinator these tests play: every test agent pins its key (``AgentProcess``).
    static let identity = CoordinatorIdentity()

    /// Fresh swtpm PCRs 0, 4 and 9 are all zero.
    static let policy = AttestationPolicy(
        name: "swtpm-fresh", pcrBank: .sha256,
        allowedPCRValues: [0: [zeros], 4: [zeros], 9: [zeros]])
    static let zeros = [UInt8](repeating: 0, count: 32)

    /// The agent's evidence in the verifier's form.
    static func verifierEvidence(
        _ evidence: EvidenceMessage, qualifyingData: [UInt8]
    ) -> Evidence {
        CustodianAttestor.verifierEvidence(evidence, qualifyingData: qualifyingData, ekPEM: nil)
    }

    static func verifierEvidence(
        akPublic: [UInt8], quote: [UInt8], signature: [UInt8], pcrValues: PCRValues, qualifyingData: [UInt8]
    ) -> Evidence {
        Evidence(
            nonce: qualifyingData, akPublic: akPublic, quoteMessage: quote, quoteSignature: signature,
            pcrs: CustodianAttestor.verifierPCRs(pcrValues))
    }

    static func endorsementKey(certificateDER: [UInt8]) throws -> (TPMPublic, pem: String) {
        let endorsement = try CustodianAttestor.endorsementKey(certificateDER: certificateDER)
        return (endorsement.key, endorsement.pem)
    }

    /// The agent's scratch CA certificate, the root its EK certificate chains to.
    static func issuer(of agent: AgentProcess) throws -> String {
        String(
            decoding: try Data(contentsOf: agent.certificateAuthority.appendingPathComponent("issuercert.pem")),
            as: UTF8.self)
    }

    /// Challenge → verify → EK chain → MakeCredential → ActivateCredential.
    @discardableResult
    static func attest(
        _ client: AgentClient, agent: AgentProcess, policy: AttestationPolicy = policy
    ) async throws -> AttestedCustodian {
        try await CustodianAttestor(policy: policy, identity: identity, endorsementRootsPEM: [try issuer(of: agent)])
            .attest(client)
    }
}
