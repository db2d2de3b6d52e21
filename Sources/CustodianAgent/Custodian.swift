import AgentProtocol
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import Logging
import PeerAttestation
import ShardCrypto
import TPM2

/// The custodian's state machine: attests, activates, then holds shares and answers threshold
/// requests with them. Every share or key operation is refused until the agent has issued
/// evidence and the coordinator's credential activated on this TPM (the coordinator sends
/// ActivateCredential only after its verifier accepted the evidence).
///
/// Shares live only in ShardCrypto's secret types (wiped when released); ``zeroise()`` drops
/// them all and the transport private key.
public actor Custodian: AgentRequestHandler {
    /// One share the agent holds, with what was pinned when it arrived: the commitment it was
    /// checked against (whose constant term is the group key) and the lowest threshold it may be
    /// re-shared to (the threshold it was created or last re-shared with, never below the boot's).
    struct HeldShare {
        let share: SecretShare
        let commitment: FeldmanCommitment
        let minimumThreshold: Int
    }

    /// FROST sessions kept between round one and two; more are refused.
    static let maximumSigningSessions = 64
    /// DKG runs open at once (each holds a polynomial or a pending share); more are refused.
    static let maximumDKGRuns = 16

    private let tpm: any CustodianTPM
    private let identity: TPMAttestationIdentity
    private let endorsementCertificate: [UInt8]?
    /// The PCRs quoted: the agent's default until a challenge names the verifier's selection.
    private var selection: TPMPCRSelection
    private let eventLogPath: String
    private let logger: Logger
    private var transportPrivateKey: Scalar?
    /// The in-RAM transport public key shares are sealed to, generated once at start.
    public nonisolated let transportKey: TransportPublicKey
    private var evidenceIssued = false
    /// Whether the pinned coordinator has opened a session (from then on only it sets the selection).
    private var sessionOpened = false
    private var activated = false
    private var destroyed = false
    private var shares: [KeyReference: HeldShare] = [:]
    private var signingSessions: [SessionID: (key: KeyReference, nonces: FROST.SigningNonces)] = [:]
    /// DKG runs between round one and confirmation, by the key version they create. A run
    /// that finished holds its share pending inside the participant, not in `shares`, until
    /// the confirmation of every participant that passed round 1 verified (a disqualified
    /// participant's run holds no share and only waits to check those confirmations).
    private var dkgRuns: [KeyReference: DKG.Participant] = [:]
    private let onDestroy: @Sendable () -> Void
    /// Whom and what this custodian trusts (from its measured boot or its options).
    public nonisolated let pins: AgentPins

    /// Opens the TPM, creates the EK and AK, reads the EK certificate and makes the transport key.
    /// - Parameters:
    ///   - tpm: the TPM; the custodian owns it from now on.
    ///   - selection: the PCRs to quote.
    ///   - eventLogPath: where the UEFI event log is (an absent file gives an empty log).
    ///   - logger: where to log (never secrets).
    ///   - onDestroy: called after a Destroy request was answered (the executable exits).
    /// - Throws: ``TPM2/TPMDeviceError`` when the TPM cannot create the keys.
    ///   - endorsementKey: the EK template; nil picks the first whose certificate is in NV
    ///     (ECC P-256, then RSA 2048), or ECC P-256 when there is none.
    ///   - pins: the coordinator key, EK roots and minimum threshold this custodian trusts.
    public init(
        tpm: any CustodianTPM, selection: TPMPCRSelection, eventLogPath: String, logger: Logger,
        endorsementKey: TPMEndorsementKeyType? = nil, pins: AgentPins, onDestroy: @escaping @Sendable () -> Void
    ) throws {
        self.tpm = tpm
        self.pins = pins
        var chosen = endorsementKey ?? .eccP256
        var certificate = try tpm.readEndorsementCertificate(chosen)
        if endorsementKey == nil, certificate == nil, let rsa = try tpm.readEndorsementCertificate(.rsa2048) {
            chosen = .rsa2048
            certificate = rsa
        }
        self.identity = try tpm.createAttestationIdentity(endorsementKey: chosen)
        self.endorsementCertificate = certificate
        self.selection = selection
        self.eventLogPath = eventLogPath
        self.logger = logger
        self.onDestroy = onDestroy
        let privateKey = Scalar.random()
        self.transportPrivateKey = privateKey
        self.transportKey = try TransportPublicKey(privateKey: privateKey)
        logger.info(
            "custodian ready",
            metadata: [
                "ek": "\(chosen.rawValue)",
                "ekCertificate": "\(certificate.map { "\($0.count) bytes" } ?? "absent")",
                "pcrs": "\(selection)",
                "coordinator": "\(pins.coordinatorKey.hex)",
                "ekRoots": "\(pins.endorsementRootDigests.count)",
                "minimumThreshold": "\(pins.minimumThreshold)",
            ])
    }

    /// Sessions are opened only by the pinned coordinator, bound to this agent's transport key.
    public nonisolated var sessionAcceptor: SessionAcceptor {
        SessionAcceptor(coordinatorKey: pins.coordinatorKey, transportKey: transportKey) { [weak self] point in
            guard let self else { throw ErrorMessage(code: .refused, text: "this custodian is gone") }
            return try await self.agree(with: point)
        }
    }

    /// x(t·E): the Diffie–Hellman of a session opening with the transport private key.
    private func agree(with point: Point) throws -> SecretBytes {
        guard !destroyed, let transportPrivateKey else {
            throw ErrorMessage(code: .refused, text: "the transport key is gone")
        }
        // Called only after the opening's signature verified under the pinned coordinator key.
        sessionOpened = true
        // A new session means the coordinator started over (a restart re-admits every custodian):
        // DKG runs and FROST nonces of its earlier session can never be finished, and left here
        // they would fill the limits below and refuse every later DKG or signature. Installed
        // shares stay; the coordinator's reconciliation decides about those.
        if !dkgRuns.isEmpty || !signingSessions.isEmpty {
            logger.notice(
                "a new coordinator session: abandoned the previous session's unfinished work",
                metadata: ["dkgRuns": "\(dkgRuns.count)", "signingSessions": "\(signingSessions.count)"])
            dkgRuns.removeAll()
            signingSessions.removeAll()
        }
        do { return try (transportPrivateKey * point).affineX() } catch {
            throw ErrorMessage(code: .badSession, text: "the session's ephemeral key is unusable")
        }
    }

    /// Answers one request; see the type's documentation for the order it enforces. Everything
    /// but the attestation steps needs an authenticated session (the protocol layer refuses
    /// unauthenticated ones first; this is the second lock on the same door).
    public func handle(_ request: AgentMessage, authenticated: Bool) async throws -> AgentMessage {
        guard !destroyed else { throw ErrorMessage(code: .refused, text: "this custodian was destroyed") }
        switch request {
        case .challenge(let challenge): return .evidence(try evidence(for: challenge, authenticated: authenticated))
        case .activateCredential(let activation): return .credentialActivated(try activate(activation))
        default: break
        }
        guard authenticated else {
            throw ErrorMessage(code: .noSession, text: "\(request.type) needs a session with this custodian's coordinator")
        }
        if case .destroy(let destroy) = request { return .destroyed(destroyAll(reason: destroy.reason)) }
        guard activated else {
            throw ErrorMessage(
                code: .notAttested, text: "\(request.type) needs accepted evidence and credential activation first")
        }
        switch request {
        case .recipientQuoteRequest(let request): return .recipientQuote(try recipientQuote(request))
        case .deliverShare(let delivery): return .shareAccepted(try accept(delivery))
        case .heartbeatRequest(let heartbeat): return .heartbeat(try self.heartbeat(heartbeat))
        case .partialDecryptRequest(let request): return .partialDecryption(try partialDecrypt(request))
        case .signRound1Request(let request): return .signingCommitment(try signRound1(request))
        case .signRound2Request(let request): return .signatureShare(try signRound2(request))
        case .redistributeDealRequest(let request): return .redistributeDealing(try await deal(request))
        case .redistributeReceiveRequest(let request): return .redistributeAccepted(try receive(request))
        case .dkgRound1Request(let request): return .dkgRound1Package(try dkgRound1(request))
        case .dkgRound2Request(let request): return .dkgRound2Shares(try await dkgRound2(request))
        case .dkgReceiveRequest(let request): return .dkgComplaints(try dkgReceive(request))
        case .dkgFinishRequest(let request): return .dkgFinished(try dkgFinish(request))
        case .dkgConfirmRequest(let request): return .dkgConfirmed(try dkgConfirm(request))
        case .forgetShares(let request): return .sharesForgotten(forget(request))
        default:
            throw ErrorMessage(code: .refused, text: "this agent does not serve \(request.type)")
        }
    }

    // MARK: Attestation

    private func evidence(for challenge: Challenge, authenticated: Bool) throws -> EvidenceMessage {
        guard let endorsementCertificate else {
            throw ErrorMessage(code: .tpmFailure, text: "the TPM holds no certificate for its EK")
        }
        var quoted = selection
        if let requested = challenge.selection {
            quoted = TPMPCRSelection(
                bank: TPMAlgorithmID(rawValue: requested.bank), indexes: requested.indexes.map(Int.init))
            // The selection heartbeats keep is the coordinator's: before the first session anyone
            // may set it (the admission challenge comes before the session), afterwards only a
            // challenge sealed in a session, so a foreign client cannot break heartbeats with it.
            if authenticated || !sessionOpened { selection = quoted }
        }
        let qualifyingData = EvidenceBinding.evidence(nonce: challenge.nonce, transportKey: transportKey)
        let (quote, pcrValues) = try quoteNow(qualifyingData: qualifyingData, selection: quoted)
        evidenceIssued = true
        logger.info("issued evidence", metadata: ["quote": "\(quote.attestation.count) bytes"])
        return try EvidenceMessage(
            endorsementKeyCertificate: endorsementCertificate, attestationKeyPublic: identity.attestationKeyPublic,
            quote: quote.attestation, quoteSignature: quote.signature, pcrValues: pcrValues,
            eventLog: readEventLog(), transportKey: transportKey)
    }

    private func activate(_ activation: ActivateCredential) throws -> CredentialActivated {
        guard evidenceIssued else {
            throw ErrorMessage(code: .notAttested, text: "credential activation comes after evidence")
        }
        let credential: [UInt8]
        do {
            credential = try tpm.activateCredential(
                credentialBlob: activation.credentialBlob, encryptedSecret: activation.encryptedSecret)
        } catch {
            logger.warning("credential activation failed", metadata: ["error": "\(error.code)"])
            throw ErrorMessage(code: .tpmFailure, text: "ActivateCredential failed: \(error.code)")
        }
        activated = true
        let memory = ProcessMemory.current()
        logger.info(
            "credential activated; share operations enabled",
            metadata: [
                "rssKiB": "\(memory?.residentKiB ?? 0)", "peakRssKiB": "\(memory?.peakResidentKiB ?? 0)",
            ])
        return try CredentialActivated(
            proof: CredentialActivated.proof(of: SecretBytes(credential), transportKey: transportKey))
    }

    private func quoteNow(
        qualifyingData: [UInt8], selection chosen: TPMPCRSelection? = nil
    ) throws -> (TPMQuote, PCRValues) {
        let selection = chosen ?? self.selection
        do {
            let quote = try tpm.quote(selection: selection, qualifyingData: qualifyingData)
            let values = try tpm.readPCRs(selection)
            let digests = Dictionary(uniqueKeysWithValues: values.map { (UInt8($0.key), $0.value) })
            return (quote, try PCRValues([selection.bank.rawValue: digests]))
        } catch let error as TPMDeviceError {
            logger.error("the TPM refused a quote", metadata: ["error": "\(error)"])
            throw ErrorMessage(code: .tpmFailure, text: "quote failed: \(error.code)")
        }
    }

    /// A quote over the peer PCRs (4, 9) bound to a run and this agent's transport key, for the
    /// dealers of that run; harmless to anyone (it reveals what booted and a public key).
    private func recipientQuote(_ request: RecipientQuoteRequest) throws -> RecipientQuote {
        guard let endorsementCertificate else {
            throw ErrorMessage(code: .tpmFailure, text: "the TPM holds no certificate for its EK")
        }
        let qualifyingData = RecipientRule.qualifyingData(
            binding: request.binding, transportKey: transportKey.uncompressed)
        do {
            let quote = try tpm.quote(selection: RecipientRule.peerSelection, qualifyingData: qualifyingData)
            return try RecipientQuote(
                endorsementCertificate: endorsementCertificate, attestationKeyPublic: identity.attestationKeyPublic,
                quote: quote.attestation, quoteSignature: quote.signature)
        } catch let error as TPMDeviceError {
            throw ErrorMessage(code: .tpmFailure, text: "quote failed: \(error.code)")
        }
    }

    /// The rule recipients must meet, from this custodian's own boot: its PCR 4 and 9 and pinned EK roots.
    private func recipientRule() throws -> RecipientRule {
        do {
            return RecipientRule(
                ownPeerPCRs: try tpm.readPCRs(RecipientRule.peerSelection),
                endorsementRootDigests: pins.endorsementRootDigests)
        } catch {
            throw ErrorMessage(code: .tpmFailure, text: "cannot read this custodian's own PCR 4 and 9")
        }
    }

    /// Checks every recipient against ``recipientRule()`` and returns what to seal to, by participant.
    private func trustedRecipients(
        _ recipients: [RecipientKey], binding: [UInt8]
    ) async throws -> [ParticipantID: TrustedRecipient] {
        let rule = try recipientRule()
        let attestations = recipients.map { recipient in
            (
                recipient.participant,
                RecipientAttestation(
                    transportKey: recipient.transportKey.uncompressed,
                    endorsementCertificate: recipient.quote.endorsementCertificate,
                    endorsementChain: recipient.endorsementChain,
                    attestationKeyPublic: recipient.quote.attestationKeyPublic, quote: recipient.quote.quote,
                    quoteSignature: recipient.quote.quoteSignature)
            )
        }
        do {
            return try await rule.checkAll(attestations, binding: binding)
        } catch {
            logger.warning("refused a recipient", metadata: ["reason": "\(error.code.rawValue)"])
            throw ErrorMessage(code: .recipientRefused, text: "\(error)")
        }
    }

    /// HPKE-seals to the recipient's transport key, then wraps for its TPM (MakeCredential to its EK and AK).
    private func wrap(
        _ payload: SealedPayload, for recipient: TrustedRecipient, dkg: Bool, key: KeyReference
    ) throws -> SealedPayload {
        do {
            let wrapped = try CredentialWrap.wrap(
                payload.ciphertext, for: recipient,
                context: ShareSealing.wrappingContext(dkg: dkg, key: key, from: payload.from, to: payload.to))
            return try SealedPayload(
                from: payload.from, to: payload.to, ciphertext: wrapped.box, credentialBlob: wrapped.credentialBlob,
                encryptedSecret: wrapped.encryptedSecret)
        } catch {
            throw ErrorMessage(code: .recipientRefused, text: "cannot wrap for the recipient's TPM: \(error)")
        }
    }

    /// Undoes ``wrap(_:for:dkg:key:)`` with this TPM's ActivateCredential; unwrapped payloads are
    /// refused (a sealed secret between custodians always names the recipient's TPM).
    private func unwrap(_ payload: SealedPayload, dkg: Bool, key: KeyReference) throws -> SealedPayload {
        guard payload.isCredentialWrapped else {
            throw ErrorMessage(
                code: .invalidShare, text: "a payload from \(payload.from) is not wrapped for this custodian's TPM")
        }
        let credential: SecretBytes
        do {
            credential = SecretBytes(
                try tpm.activateCredential(
                    credentialBlob: payload.credentialBlob, encryptedSecret: payload.encryptedSecret))
        } catch {
            throw ErrorMessage(
                code: .invalidShare, text: "the payload from \(payload.from) was wrapped for another TPM or AK")
        }
        do {
            let inner = try CredentialWrap.open(
                CredentialWrappedPayload(
                    credentialBlob: payload.credentialBlob, encryptedSecret: payload.encryptedSecret,
                    box: payload.ciphertext),
                credential: credential,
                context: ShareSealing.wrappingContext(dkg: dkg, key: key, from: payload.from, to: payload.to))
            return try SealedPayload(from: payload.from, to: payload.to, ciphertext: inner)
        } catch {
            throw ErrorMessage(code: .invalidShare, text: "the wrapped payload from \(payload.from) was altered or moved")
        }
    }

    private func readEventLog() -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: eventLogPath) else { return [] }
        return [UInt8](data)
    }

    // MARK: Shares

    private func accept(_ delivery: ShareDelivery) throws -> ShareAccepted {
        guard let transportPrivateKey else { throw ErrorMessage(code: .refused, text: "the transport key is gone") }
        if let held = shares[delivery.key] {
            throw ErrorMessage(
                code: .refused, text: "\(delivery.key) is already held as participant \(held.share.id)")
        }
        // Even an imported key is never held whole by one custodian.
        guard delivery.commitment.threshold >= pins.minimumThreshold else {
            throw ErrorMessage(
                code: .recipientRefused,
                text: "a share of threshold \(delivery.commitment.threshold) is below this custodian's minimum "
                    + "\(pins.minimumThreshold)")
        }
        let share: SecretShare
        do {
            share = try ShareSealing.openShare(
                delivery.sealedShare, privateKey: transportPrivateKey, key: delivery.key,
                participant: delivery.participant)
        } catch {
            throw ErrorMessage(code: .invalidShare, text: "the sealed share does not open for this agent")
        }
        guard delivery.commitment.verifies(share) else {
            logger.warning("refused a share that fails its commitment", metadata: ["key": "\(delivery.key)"])
            throw ErrorMessage(code: .invalidShare, text: "the share does not match its Feldman commitment")
        }
        shares[delivery.key] = HeldShare(
            share: share, commitment: delivery.commitment,
            minimumThreshold: max(pins.minimumThreshold, delivery.commitment.threshold))
        logger.info("accepted a share", metadata: ["key": "\(delivery.key)", "participant": "\(share.id)"])
        return ShareAccepted(key: delivery.key, participant: share.id, publicShare: share.publicShare)
    }

    private func held(_ key: KeyReference) throws -> HeldShare {
        guard let held = shares[key] else { throw ErrorMessage(code: .unknownKey, text: "no share of \(key)") }
        return held
    }

    private func heartbeat(_ request: HeartbeatRequest) throws -> Heartbeat {
        let (quote, pcrValues) = try quoteNow(
            qualifyingData: EvidenceBinding.heartbeat(nonce: request.nonce, transportKey: transportKey))
        let proofs = try shares.sorted { $0.key.description < $1.key.description }.map { key, held in
            PossessionEntry(
                key: key, participant: held.share.id,
                proof: try PossessionProof.prove(
                    share: held.share,
                    nonce: EvidenceBinding.possession(nonce: request.nonce, transportKey: transportKey, key: key)))
        }
        return try Heartbeat(
            quote: quote.attestation, quoteSignature: quote.signature, pcrValues: pcrValues, proofs: proofs)
    }

    private func partialDecrypt(_ request: PartialDecryptRequest) throws -> PartialDecryptionResponse {
        let held = try held(request.key)
        do {
            let partial = try ThresholdHPKE.partialDecrypt(
                ciphertext: request.ciphertext, share: held.share, context: request.context)
            return PartialDecryptionResponse(key: request.key, partial: partial)
        } catch {
            throw ErrorMessage(code: .refused, text: "partial decryption refused: \(error.reason)")
        }
    }

    private func signRound1(_ request: SignRound1Request) throws -> SigningCommitmentResponse {
        let held = try held(request.key)
        guard signingSessions[request.session] == nil else {
            throw ErrorMessage(code: .refused, text: "\(request.session) already has commitments")
        }
        guard signingSessions.count < Self.maximumSigningSessions else {
            throw ErrorMessage(code: .refused, text: "too many open signing sessions")
        }
        let (nonces, commitment) = FROST.commit(share: held.share)
        signingSessions[request.session] = (request.key, nonces)
        return SigningCommitmentResponse(session: request.session, commitment: commitment)
    }

    private func signRound2(_ request: SignRound2Request) throws -> SignatureShareResponse {
        // Removed before signing: nonces are used at most once, even when signing fails.
        guard let session = signingSessions.removeValue(forKey: request.session), session.key == request.key else {
            throw ErrorMessage(
                code: .refused, text: "\(request.session) has no round-one commitments for \(request.key)")
        }
        let held = try held(request.key)
        do {
            let share = try FROST.sign(
                share: held.share, nonces: session.nonces, message: request.message,
                commitments: request.commitments, groupPublicKey: held.commitment.publicKey)
            return SignatureShareResponse(session: request.session, share: share)
        } catch {
            throw ErrorMessage(code: .refused, text: "signing refused: \(error.reason)")
        }
    }

    // MARK: Redistribution

    private func deal(_ request: RedistributeDealRequest) async throws -> RedistributeDealing {
        let held = try held(request.key)
        let newKey = request.newKey
        let floor = max(pins.minimumThreshold, held.minimumThreshold)
        guard Int(request.newThreshold) >= floor else {
            throw ErrorMessage(
                code: .recipientRefused,
                text: "\(request.key) may not be re-shared below threshold \(floor) (asked for \(request.newThreshold))")
        }
        let binding = RecipientBinding.redistribution(
            key: request.key, newKey: newKey, newThreshold: request.newThreshold,
            recipients: request.recipients.map(\.participant))
        let trusted = try await trustedRecipients(request.recipients, binding: binding)
        // The share may have gone (zeroised, destroyed) while the recipients were checked.
        let current = try self.held(request.key)
        do {
            let dealing = try Redistribution.deal(
                share: current.share, newThreshold: Int(request.newThreshold),
                newParticipants: request.recipients.map(\.participant))
            let transportKeys = Dictionary(
                uniqueKeysWithValues: request.recipients.map { ($0.participant, $0.transportKey) })
            let sealed = try dealing.subShares.map { subShare in
                try wrap(
                    try ShareSealing.seal(subShare: subShare, to: transportKeys[subShare.to]!, newKey: newKey),
                    for: trusted[subShare.to]!, dkg: false, key: newKey)
            }
            let proof = try PossessionProof.prove(
                share: current.share,
                nonce: try RedistributeDealing.binding(
                    dealing: dealing.publicDealing, newKey: newKey, newThreshold: request.newThreshold))
            logger.info(
                "dealt a redistribution", metadata: ["key": "\(request.key)", "to": "\(request.recipients.count)"])
            return RedistributeDealing(
                key: request.key, dealing: dealing.publicDealing, subShares: sealed, proof: proof)
        } catch let error as ShardCryptoError {
            throw ErrorMessage(code: .refused, text: "redistribution refused: \(error.reason)")
        }
    }

    private func receive(_ request: RedistributeReceiveRequest) throws -> RedistributeAccepted {
        guard let transportPrivateKey else { throw ErrorMessage(code: .refused, text: "the transport key is gone") }
        guard shares[request.newKey] == nil else {
            throw ErrorMessage(code: .refused, text: "\(request.newKey) is already held")
        }
        guard Int(request.newThreshold) >= pins.minimumThreshold else {
            throw ErrorMessage(
                code: .recipientRefused,
                text: "this custodian holds no share of a threshold below \(pins.minimumThreshold)")
        }
        // A custodian that holds another version of the key pins its group key and threshold:
        // the coordinator cannot swap in another commitment or lower the threshold.
        for (key, held) in shares where key.keyID == request.newKey.keyID {
            guard held.commitment.publicKey == request.oldCommitment.publicKey else {
                throw ErrorMessage(
                    code: .invalidShare, text: "the old commitment is not the one \(key) was pinned to")
            }
            guard Int(request.newThreshold) >= held.minimumThreshold else {
                throw ErrorMessage(
                    code: .recipientRefused, text: "\(key) was pinned to threshold \(held.minimumThreshold) or more")
            }
        }
        // Only holders of the old shares deal: each dealing proves knowledge of x_i = log G_{i,0}.
        for (dealing, proof) in zip(request.dealings, request.dealingProofs) {
            let binding = try RedistributeDealing.binding(
                dealing: dealing, newKey: request.newKey, newThreshold: request.newThreshold)
            guard proof.verify(
                id: dealing.from, publicShare: request.oldCommitment.publicShare(for: dealing.from), nonce: binding)
            else {
                throw ErrorMessage(
                    code: .invalidShare, text: "the dealing of \(dealing.from) does not come from the holder of its old share")
            }
        }
        let opened = try request.subShares.map { try unwrap($0, dkg: false, key: request.newKey) }
        let result: Redistribution.Result
        do {
            let subShares = try opened.map { payload in
                try ShareSealing.openSubShare(payload, privateKey: transportPrivateKey, newKey: request.newKey)
            }
            result = try Redistribution.receive(
                recipient: request.participant, oldCommitment: request.oldCommitment,
                newThreshold: Int(request.newThreshold), dealings: request.dealings, subShares: subShares)
        } catch let error as ShardCryptoError {
            logger.warning(
                "refused a redistribution", metadata: ["key": "\(request.newKey)", "reason": "\(error.code)"])
            throw ErrorMessage(code: .invalidShare, text: "redistribution refused: \(error.reason)")
        }
        shares[request.newKey] = HeldShare(
            share: result.share, commitment: result.commitment, minimumThreshold: Int(request.newThreshold))
        logger.info("accepted a redistributed share", metadata: ["key": "\(request.newKey)"])
        return RedistributeAccepted(
            newKey: request.newKey, participant: request.participant, publicShare: result.share.publicShare,
            commitment: result.commitment)
    }

    // MARK: Distributed key generation

    private func dkgRun(_ key: KeyReference) throws -> DKG.Participant {
        guard let run = dkgRuns[key] else { throw ErrorMessage(code: .unknownKey, text: "no DKG run for \(key)") }
        return run
    }

    /// Runs a DKG step; a ShardCrypto refusal ends the run (its polynomial is dropped).
    private func dkgStep<T>(_ key: KeyReference, _ step: () throws -> T) throws -> T {
        do {
            return try step()
        } catch let error as ShardCryptoError {
            dkgRuns[key] = nil
            logger.warning("abandoned a DKG run", metadata: ["key": "\(key)", "reason": "\(error.code)"])
            throw ErrorMessage(code: .refused, text: "DKG refused: \(error.reason)")
        }
    }

    private func dkgRound1(_ request: DKGRound1Request) throws -> DKGRound1PackageResponse {
        guard shares[request.key] == nil, dkgRuns[request.key] == nil else {
            throw ErrorMessage(code: .refused, text: "\(request.key) is already held or being generated")
        }
        guard request.parameters.threshold >= pins.minimumThreshold else {
            throw ErrorMessage(
                code: .recipientRefused,
                text: "a key of threshold \(request.parameters.threshold) is below this custodian's minimum "
                    + "\(pins.minimumThreshold)")
        }
        guard dkgRuns.count < Self.maximumDKGRuns else {
            throw ErrorMessage(code: .refused, text: "too many DKG runs in progress")
        }
        let run = try dkgStep(request.key) {
            try DKG.Participant(id: request.participant, parameters: request.parameters)
        }
        dkgRuns[request.key] = run
        return DKGRound1PackageResponse(key: request.key, package: run.round1Package)
    }

    private func dkgRound2(_ request: DKGRound2Request) async throws -> DKGRound2SharesResponse {
        let parameters = try dkgRun(request.key).parameters
        let others = parameters.participants.filter { $0 != (try? dkgRun(request.key).id) }
        let byParticipant = Dictionary(
            request.recipients.map { ($0.participant, $0) }, uniquingKeysWith: { first, _ in first })
        guard Set(byParticipant.keys) == Set(others), byParticipant.count == request.recipients.count else {
            throw ErrorMessage(
                code: .recipientRefused, text: "the DKG recipients must be exactly the other participants, once each")
        }
        let trusted = try await trustedRecipients(
            request.recipients, binding: RecipientBinding.dkg(key: request.key, parameters: parameters))
        let run = try dkgRun(request.key)
        let sealed = try dkgStep(request.key) {
            try run.round2(packages: request.packages).map { share in
                guard let recipient = byParticipant[share.to], let checked = trusted[share.to] else {
                    throw ShardCryptoError(.invalidParameters, "no attested recipient for participant \(share.to)")
                }
                return try wrap(
                    try ShareSealing.seal(dkgShare: share, to: recipient.transportKey, key: request.key),
                    for: checked, dkg: true, key: request.key)
            }
        }
        return DKGRound2SharesResponse(key: request.key, shares: sealed)
    }

    private func dkgReceive(_ request: DKGReceiveRequest) throws -> DKGComplaintList {
        let run = try dkgRun(request.key)
        guard let transportPrivateKey else { throw ErrorMessage(code: .refused, text: "the transport key is gone") }
        let complaints = try dkgStep(request.key) {
            let opened = try request.shares.map { payload in
                try ShareSealing.openDKGShare(
                    try unwrap(payload, dkg: true, key: request.key), privateKey: transportPrivateKey, key: request.key)
            }
            return try run.receive(shares: opened)
        }
        return DKGComplaintList(key: request.key, complaints: complaints)
    }

    /// Finishes the run but keeps the share pending inside the participant: it becomes
    /// usable only in ``dkgConfirm(_:)``, once every participant that passed round 1 confirmed
    /// the same outcome. An agent the complaints disqualified answers too, with its
    /// confirmation and no share: the others need that confirmation.
    private func dkgFinish(_ request: DKGFinishRequest) throws -> DKGFinished {
        let run = try dkgRun(request.key)
        let confirmation = try dkgStep(request.key) { try run.finish(complaints: request.complaints) }
        guard let pending = run.pendingResult else {
            dkgRuns[request.key] = nil
            throw ErrorMessage(code: .refused, text: "the DKG run of \(request.key) has no pending result")
        }
        logger.info(
            "finished a DKG run; awaiting confirmations",
            metadata: [
                "key": "\(request.key)", "qualified": "\(pending.qualified)",
                "share": "\(run.holdsPendingShare ? "pending" : "none: disqualified")",
            ])
        return try DKGFinished(
            key: request.key, participant: run.id, publicShare: pending.publicShare(for: run.id),
            qualified: pending.qualified, commitment: pending.commitment, round1Digest: pending.round1Digest,
            transcriptDigest: pending.transcriptDigest, confirmation: confirmation)
    }

    /// Releases the pending share into `shares` when the confirmation of every participant
    /// that passed round 1 verifies; any refusal drops the run and its pending share. A
    /// disqualified agent checks the same confirmations and ends its run with nothing held.
    private func dkgConfirm(_ request: DKGConfirmRequest) throws -> DKGConfirmed {
        let run = try dkgRun(request.key)
        // The run ends here either way: one confirmation attempt per run.
        dkgRuns[request.key] = nil
        guard shares[request.key] == nil else {
            throw ErrorMessage(code: .refused, text: "\(request.key) is already held")
        }
        let result: DKG.Result?
        do {
            result = try run.confirm(confirmations: request.confirmations)
        } catch {
            logger.warning(
                "refused DKG confirmations; dropped the pending share",
                metadata: ["key": "\(request.key)", "reason": "\(error.code)"])
            throw ErrorMessage(code: .refused, text: "DKG confirmation refused: \(error.reason)")
        }
        guard let result else {
            logger.info(
                "confirmed a DKG run this custodian was disqualified from; no share held",
                metadata: ["key": "\(request.key)"])
            return DKGConfirmed(key: request.key, participant: run.id, publicShare: nil)
        }
        shares[request.key] = HeldShare(
            share: result.share, commitment: result.commitment,
            minimumThreshold: max(pins.minimumThreshold, result.commitment.threshold))
        logger.info("confirmed a DKG run", metadata: ["key": "\(request.key)", "qualified": "\(result.qualified)"])
        return DKGConfirmed(key: request.key, participant: result.share.id, publicShare: result.share.publicShare)
    }

    // MARK: Destruction

    /// Drops the named shares (and any signing session or DKG run of them); the rest stay.
    private func forget(_ request: ForgetSharesRequest) -> SharesForgotten {
        let names = Set(request.keys)
        var count = 0
        for key in names where shares.removeValue(forKey: key) != nil { count += 1 }
        for key in names { dkgRuns.removeValue(forKey: key) }
        signingSessions = signingSessions.filter { !names.contains($0.value.key) }
        logger.info("forgot shares on request", metadata: ["named": "\(names.count)", "held": "\(count)"])
        return SharesForgotten(zeroisedShares: UInt32(count))
    }

    private func destroyAll(reason: String) -> Destroyed {
        let count = zeroise()
        logger.notice("destroyed on request", metadata: ["reason": "\(reason)", "shares": "\(count)"])
        onDestroy()
        return Destroyed(zeroisedShares: UInt32(count))
    }

    /// Drops every share, signing nonce and the transport private key (their storage is wiped
    /// on release) and refuses everything afterwards.
    /// - Returns: how many shares were dropped.
    @discardableResult
    public func zeroise() -> Int {
        let count = shares.count
        shares.removeAll()
        signingSessions.removeAll()
        dkgRuns.removeAll()
        transportPrivateKey = nil
        destroyed = true
        activated = false
        return count
    }
}
