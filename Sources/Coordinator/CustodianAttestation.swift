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
    public let evidence: Evidence
    /// The TPM clock of the accepted quote: the next heartbeat's quote must be after it, without a
    /// TPM reset or restart in between (``CustodianState`` keeps the series).
    public let clock: TPMClockInfo
    /// The EK the AK was created under, rebuilt from the certified key; heartbeat quotes must name
    /// the AK under it as their signer.
    public let endorsementKey: TPMPublic
    /// The custodian's EK, AK and transport key, for the ``RingRoster``.
    public let fingerprint: CustodianFingerprint
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
    /// How long a custodian may take to answer a heartbeat, from request to answer on the monotonic
    /// clock; a later answer is refused (`heartbeat.late`) whatever the policy's `freshness.maxAge`,
    /// and the heartbeat request is given up when the window passes without one (a miss).
    public var heartbeatWindow: Duration = .seconds(30)

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
        let nonce = Nonce.random()
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
        var evidence = Self.verifierEvidence(agentEvidence, qualifyingData: qualifyingData, ekPEM: endorsement.pem)
        evidence.endorsementKey = endorsement.key

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
        try await activate(
            client, akName: akName, endorsementKey: endorsement.key, transportKey: agentEvidence.transportKey)
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
        let fingerprint: CustodianFingerprint
        do {
            fingerprint = CustodianFingerprint(
                endorsementKeyName: try endorsement.key.name(),
                endorsementCertificateDigest: CustodianFingerprint.certificateDigest(
                    agentEvidence.endorsementKeyCertificate),
                attestationKeyName: akName, transportKey: agentEvidence.transportKey)
        } catch {
            throw CoordinatorError(.endorsementRefused, "the EK has no usable name: \(error)")
        }
        return AttestedCustodian(
            transportKey: agentEvidence.transportKey, attestationKeyName: akName,
            attestationKeyPublic: agentEvidence.attestationKeyPublic, evidence: evidence, clock: clock,
            endorsementKey: endorsement.key, fingerprint: fingerprint)
    }

    /// Re-attestation: asks an admitted custodian for a heartbeat and checks all of it.
    ///
    /// - The quote satisfies the policy, answers this heartbeat's nonce and transport key, and names
    ///   the admitted AK under the admitted EK as its signer.
    /// - It was answered within ``heartbeatWindow`` of the request, measured on the monotonic clock.
    /// - Its TPM clock continues the last accepted quote's: same reset and restart counts, clock
    ///   strictly later. These two rules hold whatever the policy's `freshness` block says.
    /// - It carries exactly one valid proof of possession per key version in `expected`, bound to the
    ///   nonce, the transport key and the key version (``PossessionCheck``).
    ///
    /// Any failure but the caller's own cancellation, including an agent that does not answer,
    /// retires `state`: the result is
    /// `.refused` now and for every later call, and the caller must destroy the custodian
    /// (``LaunchedCustodian/heartbeat(expecting:)`` does).
    /// - Parameters:
    ///   - client: the custodian's agent connection.
    ///   - state: the custodian's state, which keeps the last accepted clock.
    ///   - expected: key version → the participant and public share the custodian was given.
    /// - Returns: `.healthy` with the heartbeat, or `.refused` with a ``CoordinatorError``
    ///   (`.heartbeatRefused` listing every refusal, or `.agentFailed`).
    public func reattest(
        _ client: AgentClient, state: CustodianState, expecting expected: [KeyReference: ExpectedShare]
    ) async -> CustodianHealth {
        if let earlier = await state.refusal {
            return .refused(CoordinatorError(
                earlier.code, "this custodian was retired by an earlier heartbeat: \(earlier.reason)",
                refusals: earlier.refusals))
        }
        do throws(CoordinatorError) {
            return .healthy(try await checkHeartbeat(client, state: state, expected: expected))
        } catch where error.transportFailure == .cancelled {
            // The caller gave up (its daemon is shutting down): nothing was judged, so nothing retires.
            return .refused(error)
        } catch {
            await state.retire(error)
            return .refused(error)
        }
    }

    private func checkHeartbeat(
        _ client: AgentClient, state: CustodianState, expected: [KeyReference: ExpectedShare]
    ) async throws(CoordinatorError) -> Heartbeat {
        let custodian = state.attested
        let nonce = Nonce.random()
        let issuedAt = Date()
        let monotonic = ContinuousClock()
        let sent = monotonic.now
        // An answer later than the window is refused anyway, so waiting longer for one only delays
        // noticing a custodian that stopped (frozen, or its VM paused): the request gives up then.
        let answer = try await exchange(
            client, .heartbeatRequest(HeartbeatRequest(nonce: nonce)), "heartbeat", timeout: heartbeatWindow)
        guard case .heartbeat(let received) = answer else {
            throw CoordinatorError(.agentFailed, "the agent answered a heartbeat request with \(answer.type)")
        }
        let beat: Heartbeat
        if let compromise = Self.compromisedAgent {
            do { beat = try await compromise(received) } catch {
                throw CoordinatorError(.agentFailed, "heartbeat: \(error)")
            }
        } else {
            beat = received
        }
        let elapsed = monotonic.now - sent
        var refusals: [Refusal] = []
        if elapsed > heartbeatWindow {
            refusals.append(Refusal(.heartbeatLate,
                "The heartbeat came \(elapsed) after its request; the coordinator accepts at most "
                    + "\(heartbeatWindow): it may have been held back in transit."))
        }
        let qualifyingData = EvidenceBinding.heartbeat(nonce: nonce, transportKey: custodian.transportKey)
        // The boot's event log does not change after boot; the heartbeat carries only the quote.
        let evidence = Evidence(
            nonce: qualifyingData, akPublic: custodian.attestationKeyPublic, quoteMessage: beat.quote,
            quoteSignature: beat.quoteSignature, pcrs: Self.verifierPCRs(beat.pcrValues),
            eventLog: custodian.evidence.eventLog, endorsementKey: custodian.endorsementKey)
        // No previous clock for the policy's own monotonic rule: the state below applies the
        // coordinator's stricter rule to every heartbeat, and one refusal is enough.
        let verdict = QuoteVerifier(policy: policy).verify(
            evidence, nonce: qualifyingData, freshness: FreshnessContext(nonceIssuedAt: issuedAt))
        refusals += verdict.refusals
        refusals += PossessionCheck.refusals(
            beat.proofs, expected: expected, nonce: nonce, transportKey: custodian.transportKey)
        if let attestation = try? TPMAttestation(parsing: beat.quote) {
            refusals += await state.advance(to: TPMClockInfo(attestation), commit: refusals.isEmpty)
        }  // a quote that does not parse is already refused as quote.malformed
        guard refusals.isEmpty else {
            throw CoordinatorError(
                .heartbeatRefused,
                "policy \(policy.name) and the coordinator refused the heartbeat: "
                    + refusals.map(\.description).joined(separator: "; "),
                refusals: refusals)
        }
        return beat
    }

    /// The EK roots as PEM texts: the attestor's own, or else the policy's `ekRoots` files.
    func endorsementRootTexts() throws(CoordinatorError) -> [String] {
        guard endorsementRootsPEM.isEmpty else { return endorsementRootsPEM }
        var roots: [String] = []
        for path in policy.ekRoots {
            guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
                throw CoordinatorError(.endorsementRefused, "the policy's EK root \(path) cannot be read")
            }
            roots.append(String(decoding: data, as: UTF8.self))
        }
        return roots
    }

    private func checkEndorsement(pem: String, key: TPMPublic) async throws(CoordinatorError) {
        let roots = try endorsementRootTexts()
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

    private func activate(
        _ client: AgentClient, akName: [UInt8], endorsementKey: TPMPublic, transportKey: TransportPublicKey
    ) async throws(CoordinatorError) {
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
        guard activated.proof.constantTimeEquals(CredentialActivated.proof(of: credential, transportKey: transportKey))
        else {
            throw CoordinatorError(
                .activationFailed,
                "the agent's TPM returned another credential: its AK is not bound to the certified EK")
        }
    }

    /// Sends one request; a refusal from the agent becomes `refusal`, anything else `.agentFailed`.
    private func exchange(
        _ client: AgentClient, _ request: AgentMessage, _ step: String,
        refusal: CoordinatorError.Code = .agentFailed, timeout: Duration? = nil
    ) async throws(CoordinatorError) -> AgentMessage {
        do {
            return try await client.request(request, timeout: timeout)
        } catch where error.code == .remoteError {
            throw CoordinatorError(refusal, "the agent refused the \(step): \(error)")
        } catch {
            throw CoordinatorError(.agentFailed, "\(step): \(error)", transportFailure: error.code)
        }
    }

    /// The agent's evidence in the verifier's form.
    /// - Parameters:
    ///   - evidence: what the agent sent.
    ///   - qualifyingData: what the quote must carry (``EvidenceBinding``).
    ///   - ekPEM: the EK certificate as PEM, if any.
    public static func verifierEvidence(
        _ evidence: EvidenceMessage, qualifyingData: [UInt8], ekPEM: String?
    ) -> Evidence {
        Evidence(
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
        let certificate: Certificate
        let pem: String
        do {
            certificate = try Certificate(derEncoded: certificateDER)
            pem = try certificate.serializeAsPEM().pemString
        } catch {
            throw CoordinatorError(.endorsementRefused, "the agent's EK certificate does not parse: \(error)")
        }
        do {
            // The same rebuild every dealing custodian does for its recipients (PeerAttestation).
            return (try EndorsementKey.fromCertificate(certificate), pem)
        } catch {
            throw CoordinatorError(.endorsementRefused, "the agent's EK certificate cannot be used: \(error.reason)")
        }
    }
}

extension CustodianAttestor {
    /// Tests only (internal, nil in production): rewrites each heartbeat as it arrives, standing in
    /// for a compromised agent that lies in its answers. A relay on the channel can no longer do
    /// this (answers travel sealed under the session), so the coordinator's checks are exercised
    /// against the one party that still can: the agent itself.
    @TaskLocal static var compromisedAgent: (@Sendable (Heartbeat) async throws -> Heartbeat)?

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
