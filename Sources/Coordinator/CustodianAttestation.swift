import AgentProtocol
import Attestation
import Crypto
import Foundation
import ShardCrypto
import TPM2
import X509
import _CryptoExtras

/// A custodian whose evidence satisfied the policy and whose TPM activated the coordinator's
/// credential: its transport key may now receive shares.
public struct AttestedCustodian: Sendable {
    /// The key the agent receives sealed shares under, bound into the accepted quote.
    public let transportKey: TransportPublicKey
    /// The TPM name of the attestation key (sha256 name algorithm ‖ digest of the public area).
    public let attestationKeyName: [UInt8]
    /// The AK's public area (TPM2B_PUBLIC), for verifying heartbeat quotes.
    public let attestationKeyPublic: [UInt8]
    /// The accepted evidence, in the verifier's form (its nonce is the qualifyingData).
    public let evidence: Attestation.Evidence
    /// The TPM clock of the accepted quote: the next heartbeat's quote must not go back from it,
    /// nor cross a TPM reset or restart (policy `freshness.monotonic`).
    public let clock: TPMClockInfo
}

/// The coordinator's attestation ceremony with one agent: challenge with the policy's PCR
/// selection, verify the quote, event log and EK certificate, then MakeCredential for the AK
/// under the certified EK and require the agent's TPM to activate it. Only the last step ties
/// the AK to the EK (a quote alone proves nothing about which TPM made it: CVE-2022-1053).
public struct CustodianAttestor: Sendable {
    /// The policy evidence must satisfy.
    public let policy: AttestationPolicy
    /// PEM roots the EK certificate must chain to; empty uses the policy's `ekRoots` files.
    public let endorsementRootsPEM: [String]
    /// The coordinator identity custodians booted with: it opens the session every request after
    /// admission travels in.
    public let identity: CoordinatorIdentity

    /// Creates an attestor.
    /// - Parameters:
    ///   - policy: the attestation policy.
    ///   - identity: the coordinator identity whose public key is on the custodians' command line.
    ///   - endorsementRootsPEM: EK roots as PEM text; when empty, the policy's `ekRoots` files are read.
    public init(policy: AttestationPolicy, identity: CoordinatorIdentity, endorsementRootsPEM: [String] = []) {
        self.policy = policy
        self.identity = identity
        self.endorsementRootsPEM = endorsementRootsPEM
    }

    /// The quote selection the policy needs.
    public var quoteSelection: QuoteSelection {
        get throws {
            let selection = policy.selection
            return try QuoteSelection(bank: selection.bank.rawValue, indexes: Set(selection.indexes.map(UInt8.init)))
        }
    }

    /// Runs the ceremony, then opens the authenticated session (``AgentProtocol/Session``) that
    /// every later request on `client` travels in.
    /// - Parameter client: a connection to the agent.
    /// - Returns: the attested custodian.
    /// - Throws: ``CoordinatorError`` with `.agentFailed`, `.evidenceRefused` (every refusal in the
    ///   reason), `.endorsementRefused`, `.activationFailed` or `.sessionRefused`.
    public func attest(_ client: AgentClient) async throws(CoordinatorError) -> AttestedCustodian {
        let nonce = AgentProtocol.Nonce.random()
        let issuedAt = Date()
        let selection: QuoteSelection
        do {
            selection = try quoteSelection
        } catch {
            throw CoordinatorError(.evidenceRefused, "policy \(policy.name) selects PCRs no agent can quote: \(error)")
        }
        let answer = try await exchange(client, .challenge(Challenge(nonce: nonce, selection: selection)), "challenge")
        guard case .evidence(let agentEvidence) = answer else {
            throw CoordinatorError(.agentFailed, "the agent answered a challenge with \(answer.type)")
        }
        let qualifyingData = EvidenceBinding.evidence(nonce: nonce, transportKey: agentEvidence.transportKey)
        let endorsement = try Self.endorsementKey(certificateDER: agentEvidence.endorsementKeyCertificate)
        let evidence = Self.verifierEvidence(agentEvidence, qualifyingData: qualifyingData, ekPEM: endorsement.pem)

        let verdict = QuoteVerifier(policy: policy).verify(
            evidence, nonce: qualifyingData, freshness: FreshnessContext(nonceIssuedAt: issuedAt))
        guard verdict.isAccepted else {
            throw CoordinatorError(
                .evidenceRefused,
                "policy \(policy.name) refused the evidence: "
                    + verdict.refusals.map(\.description).joined(separator: "; "))
        }
        try await checkEndorsement(pem: endorsement.pem, key: endorsement.key)

        let akName: [UInt8]
        do {
            akName = try TPMPublic(parsing: agentEvidence.attestationKeyPublic).name()
        } catch {
            throw CoordinatorError(.evidenceRefused, "the AK public area does not parse: \(error)")
        }
        try await activate(client, akName: akName, endorsementKey: endorsement.key)
        do {
            try await client.openSession(identity: identity, transportKey: agentEvidence.transportKey)
        } catch let error as AgentProtocolError where error.code == .remoteError {
            throw CoordinatorError(
                .sessionRefused,
                "the agent refused a session with coordinator key \(identity.publicKey.hex): \(error) "
                    + "(was it booted with another keyshard.coordinator=?)")
        } catch {
            throw CoordinatorError(.sessionRefused, "no session with the agent: \(error)")
        }
        let clock: TPMClockInfo
        do {
            clock = TPMClockInfo(try TPMAttestation(parsing: agentEvidence.quote))
        } catch {
            throw CoordinatorError(.evidenceRefused, "the accepted quote no longer parses: \(error)")
        }
        return AttestedCustodian(
            transportKey: agentEvidence.transportKey, attestationKeyName: akName,
            attestationKeyPublic: agentEvidence.attestationKeyPublic, evidence: evidence, clock: clock)
    }

    /// Re-attestation: asks an attested custodian for a heartbeat and checks its quote against
    /// the policy, bound to a fresh nonce and the custodian's transport key, with the TPM clock
    /// required to move forward from `previous` within the same TPM boot.
    /// - Parameters:
    ///   - client: the custodian's agent connection.
    ///   - custodian: what its attestation established.
    ///   - previous: the clock of the last accepted quote (``AttestedCustodian/clock`` at first).
    /// - Returns: the heartbeat and its quote's clock, for the next call.
    /// - Throws: ``CoordinatorError/Code/agentFailed`` when the agent does not answer with a
    ///   heartbeat; `.evidenceRefused` with every refusal when the quote fails the policy.
    public func reattest(
        _ client: AgentClient, custodian: AttestedCustodian, previous: TPMClockInfo
    ) async throws(CoordinatorError) -> (heartbeat: Heartbeat, clock: TPMClockInfo) {
        let nonce = AgentProtocol.Nonce.random()
        let issuedAt = Date()
        let answer = try await exchange(client, .heartbeatRequest(HeartbeatRequest(nonce: nonce)), "heartbeat")
        guard case .heartbeat(let beat) = answer else {
            throw CoordinatorError(.agentFailed, "the agent answered a heartbeat request with \(answer.type)")
        }
        let qualifyingData = EvidenceBinding.heartbeat(nonce: nonce, transportKey: custodian.transportKey)
        // The boot's event log does not change after boot; the heartbeat carries only the quote.
        let evidence = Attestation.Evidence(
            nonce: qualifyingData, akPublic: custodian.attestationKeyPublic, quoteMessage: beat.quote,
            quoteSignature: beat.quoteSignature, pcrs: Self.verifierPCRs(beat.pcrValues),
            eventLog: custodian.evidence.eventLog)
        let verdict = QuoteVerifier(policy: policy).verify(
            evidence, nonce: qualifyingData, freshness: FreshnessContext(nonceIssuedAt: issuedAt, previous: previous))
        guard verdict.isAccepted else {
            throw CoordinatorError(
                .evidenceRefused,
                "policy \(policy.name) refused the heartbeat: " + verdict.refusals.map(\.description).joined(separator: "; "))
        }
        let clock: TPMClockInfo
        do {
            clock = TPMClockInfo(try TPMAttestation(parsing: beat.quote))
        } catch {
            throw CoordinatorError(.evidenceRefused, "the heartbeat quote does not parse: \(error)")
        }
        return (beat, clock)
    }

    private func checkEndorsement(pem: String, key: TPMPublic) async throws(CoordinatorError) {
        var roots = endorsementRootsPEM
        if roots.isEmpty {
            for path in policy.ekRoots {
                guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
                    throw CoordinatorError(.endorsementRefused, "the policy's EK root \(path) cannot be read")
                }
                roots.append(String(decoding: data, as: UTF8.self))
            }
        }
        guard !roots.isEmpty else {
            throw CoordinatorError(
                .endorsementRefused,
                "policy \(policy.name) names no ekRoots: without them no EK certificate can be trusted, "
                    + "so no credential can tie the AK to a genuine TPM")
        }
        // Self-signed certificates are the roots; an issuing CA listed with them (swtpm-localca's
        // issuercert.pem) is only a link of the chain. Roots without any self-signed certificate
        // are all trusted as given.
        let anchors: EndorsementAnchors
        do {
            anchors = try EndorsementAnchors(pemTexts: roots)
        } catch {
            throw CoordinatorError(.endorsementRefused, "policy \(policy.name)'s EK roots: \(error.reason)")
        }
        let refusals: [Refusal]
        if anchors.roots.isEmpty {
            refusals = await EKCertificate.verify(pem: pem, rootsPEM: roots, endorsementKey: key)
        } else {
            refusals = await EKCertificate.verify(
                pem: pem, rootsPEM: anchors.roots.map(\.pem), intermediatesPEM: anchors.intermediates.map(\.pem),
                endorsementKey: key)
        }
        guard refusals.isEmpty else {
            throw CoordinatorError(.endorsementRefused, refusals.map(\.description).joined(separator: "; "))
        }
    }

    private func activate(_ client: AgentClient, akName: [UInt8], endorsementKey: TPMPublic)
        async throws(CoordinatorError)
    {
        let credential = SecretBytes.random(count: 32)
        let request: ActivateCredential
        do {
            let made = try credential.withUnsafeBytes {
                try MadeCredential(credential: Array($0), objectName: akName, endorsementKey: endorsementKey)
            }
            request = try ActivateCredential(credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret)
        } catch {
            throw CoordinatorError(.activationFailed, "MakeCredential for the AK failed: \(error)")
        }
        let answer = try await exchange(
            client, .activateCredential(request), "credential activation", refusal: .activationFailed)
        guard case .credentialActivated(let activated) = answer else {
            throw CoordinatorError(.agentFailed, "the agent answered ActivateCredential with \(answer.type)")
        }
        guard activated.credential.constantTimeEquals(credential) else {
            throw CoordinatorError(
                .activationFailed,
                "the agent's TPM returned another credential: its AK is not bound to the certified EK")
        }
    }

    /// Sends one request; a refusal from the agent becomes `refusal`, anything else `.agentFailed`.
    private func exchange(
        _ client: AgentClient, _ request: AgentMessage, _ step: String,
        refusal: CoordinatorError.Code = .agentFailed
    ) async throws(CoordinatorError) -> AgentMessage {
        do {
            return try await client.request(request)
        } catch let error as AgentProtocolError where error.code == .remoteError {
            throw CoordinatorError(refusal, "the agent refused the \(step): \(error)")
        } catch {
            throw CoordinatorError(.agentFailed, "\(step): \(error)")
        }
    }

    /// The agent's evidence in the verifier's form.
    /// - Parameters:
    ///   - evidence: what the agent sent.
    ///   - qualifyingData: what the quote must carry (``EvidenceBinding``).
    ///   - ekPEM: the EK certificate as PEM, if any.
    public static func verifierEvidence(
        _ evidence: AgentProtocol.Evidence, qualifyingData: [UInt8], ekPEM: String?
    ) -> Attestation.Evidence {
        Attestation.Evidence(
            nonce: qualifyingData, akPublic: evidence.attestationKeyPublic, quoteMessage: evidence.quote,
            quoteSignature: evidence.quoteSignature, pcrs: verifierPCRs(evidence.pcrValues), ekCertificatePEM: ekPEM,
            eventLog: evidence.eventLog.isEmpty ? nil : evidence.eventLog)
    }

    /// PCR values as the wire carries them (bank id → index → digest) in the verifier's form.
    /// - Parameter values: the agent's reported values.
    public static func verifierPCRs(_ values: PCRValues) -> [TPMAlgorithmID: [Int: [UInt8]]] {
        var pcrs: [TPMAlgorithmID: [Int: [UInt8]]] = [:]
        for (bank, digests) in values.digests {
            pcrs[TPMAlgorithmID(rawValue: bank)] = Dictionary(uniqueKeysWithValues: digests.map { (Int($0.key), $0.value) })
        }
        return pcrs
    }

    /// The EK public area the certificate certifies, rebuilt with the TCG default EK template of
    /// its key type (the template fixes every attribute and the policy digest, so the EK's name,
    /// which MakeCredential needs, follows from the key alone).
    /// - Parameter certificateDER: the EK certificate from the agent.
    /// - Throws: ``CoordinatorError/Code/endorsementRefused`` for a certificate that does not parse or
    ///   certifies a key that is neither P-256 nor RSA.
    public static func endorsementKey(certificateDER: [UInt8]) throws(CoordinatorError) -> (key: TPMPublic, pem: String) {
        do {
            let certificate = try Certificate(derEncoded: certificateDER)
            let pem = try certificate.serializeAsPEM().pemString
            if let key = P256.Signing.PublicKey(certificate.publicKey) {
                let point = [UInt8](key.x963Representation)
                return (try TPMPublic.defaultECCEndorsementKey(x: Array(point[1..<33]), y: Array(point[33..<65])), pem)
            }
            if let key = _RSA.Signing.PublicKey(certificate.publicKey) {
                let modulus = [UInt8](try key.getKeyPrimitives().modulus)
                return (try TPMPublic.defaultRSAEndorsementKey(modulus: modulus), pem)
            }
        } catch {
            throw CoordinatorError(.endorsementRefused, "the agent's EK certificate does not parse: \(error)")
        }
        throw CoordinatorError(.endorsementRefused, "the agent's EK certificate certifies neither a P-256 nor an RSA key")
    }
}

extension CustodianAttestor {
    /// Opens a new session on a fresh connection to an already attested custodian (after a
    /// reconnect): a new connection starts unauthenticated.
    /// - Throws: ``CoordinatorError/Code/sessionRefused``.
    public func reopenSession(_ client: AgentClient, custodian: AttestedCustodian) async throws(CoordinatorError) {
        do {
            try await client.openSession(identity: identity, transportKey: custodian.transportKey)
        } catch {
            throw CoordinatorError(.sessionRefused, "no session with the agent: \(error)")
        }
    }
}
