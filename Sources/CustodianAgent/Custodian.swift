import AgentProtocol
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import Logging
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
    /// One share the agent holds, with the commitment it was checked against.
    struct HeldShare {
        let share: SecretShare
        let commitment: FeldmanCommitment
    }

    /// FROST sessions kept between round one and two; more are refused.
    static let maximumSigningSessions = 64

    private let tpm: TPMDevice
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
    private var activated = false
    private var destroyed = false
    private var shares: [KeyReference: HeldShare] = [:]
    private var signingSessions: [SessionID: (key: KeyReference, nonces: FROST.SigningNonces)] = [:]
    /// DKG runs between round one and finish, by the key version they create.
    private var dkgRuns: [KeyReference: DKG.Participant] = [:]
    private let onDestroy: @Sendable () -> Void

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
    public init(
        tpm: TPMDevice, selection: TPMPCRSelection, eventLogPath: String, logger: Logger,
        endorsementKey: TPMEndorsementKeyType? = nil, onDestroy: @escaping @Sendable () -> Void
    ) throws {
        self.tpm = tpm
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
            ])
    }

    /// Answers one request; see the type's documentation for the order it enforces.
    public func handle(_ request: AgentMessage) async throws -> AgentMessage {
        guard !destroyed else { throw ErrorMessage(code: .refused, text: "this custodian was destroyed") }
        switch request {
        case .challenge(let challenge): return .evidence(try evidence(for: challenge))
        case .activateCredential(let activation): return .credentialActivated(try activate(activation))
        case .destroy(let destroy): return .destroyed(destroyAll(reason: destroy.reason))
        default: break
        }
        guard activated else {
            throw ErrorMessage(
                code: .notAttested, text: "\(request.type) needs accepted evidence and credential activation first")
        }
        switch request {
        case .deliverShare(let delivery): return .shareAccepted(try accept(delivery))
        case .heartbeatRequest(let heartbeat): return .heartbeat(try self.heartbeat(heartbeat))
        case .partialDecryptRequest(let request): return .partialDecryption(try partialDecrypt(request))
        case .signRound1Request(let request): return .signingCommitment(try signRound1(request))
        case .signRound2Request(let request): return .signatureShare(try signRound2(request))
        case .redistributeDealRequest(let request): return .redistributeDealing(try deal(request))
        case .redistributeReceiveRequest(let request): return .redistributeAccepted(try receive(request))
        case .dkgRound1Request(let request): return .dkgRound1Package(try dkgRound1(request))
        case .dkgRound2Request(let request): return .dkgRound2Shares(try dkgRound2(request))
        case .dkgReceiveRequest(let request): return .dkgComplaints(try dkgReceive(request))
        case .dkgAnswerRequest(let request): return .dkgAnswers(try dkgAnswer(request))
        case .dkgFinishRequest(let request): return .dkgFinished(try dkgFinish(request))
        default:
            throw ErrorMessage(code: .refused, text: "this agent does not serve \(request.type)")
        }
    }

    // MARK: Attestation

    private func evidence(for challenge: Challenge) throws -> Evidence {
        guard let endorsementCertificate else {
            throw ErrorMessage(code: .tpmFailure, text: "the TPM holds no certificate for its EK")
        }
        if let requested = challenge.selection {
            selection = TPMPCRSelection(
                bank: TPMAlgorithmID(rawValue: requested.bank), indexes: requested.indexes.map(Int.init))
        }
        let qualifyingData = EvidenceBinding.evidence(nonce: challenge.nonce, transportKey: transportKey)
        let (quote, pcrValues) = try quoteNow(qualifyingData: qualifyingData)
        evidenceIssued = true
        logger.info("issued evidence", metadata: ["quote": "\(quote.attestation.count) bytes"])
        return try Evidence(
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
        logger.info("credential activated; share operations enabled")
        return try CredentialActivated(credential: SecretBytes(credential))
    }

    private func quoteNow(qualifyingData: [UInt8]) throws -> (TPMQuote, PCRValues) {
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
        shares[delivery.key] = HeldShare(share: share, commitment: delivery.commitment)
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
        } catch let error as ShardCryptoError {
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
        } catch let error as ShardCryptoError {
            throw ErrorMessage(code: .refused, text: "signing refused: \(error.reason)")
        }
    }

    // MARK: Redistribution

    private func deal(_ request: RedistributeDealRequest) throws -> RedistributeDealing {
        let held = try held(request.key)
        let newKey = request.newKey
        do {
            let dealing = try Redistribution.deal(
                share: held.share, newThreshold: Int(request.newThreshold),
                newParticipants: request.recipients.map(\.participant))
            let transportKeys = Dictionary(
                uniqueKeysWithValues: request.recipients.map { ($0.participant, $0.transportKey) })
            let sealed = try dealing.subShares.map { subShare in
                try ShareSealing.seal(subShare: subShare, to: transportKeys[subShare.to]!, newKey: newKey)
            }
            logger.info(
                "dealt a redistribution", metadata: ["key": "\(request.key)", "to": "\(request.recipients.count)"])
            return RedistributeDealing(key: request.key, dealing: dealing.publicDealing, subShares: sealed)
        } catch let error as ShardCryptoError {
            throw ErrorMessage(code: .refused, text: "redistribution refused: \(error.reason)")
        }
    }

    private func receive(_ request: RedistributeReceiveRequest) throws -> RedistributeAccepted {
        guard let transportPrivateKey else { throw ErrorMessage(code: .refused, text: "the transport key is gone") }
        guard shares[request.newKey] == nil else {
            throw ErrorMessage(code: .refused, text: "\(request.newKey) is already held")
        }
        let result: Redistribution.Result
        do {
            let subShares = try request.subShares.map { payload in
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
        shares[request.newKey] = HeldShare(share: result.share, commitment: result.commitment)
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
        let run = try dkgStep(request.key) {
            try DKG.Participant(id: request.participant, parameters: request.parameters)
        }
        dkgRuns[request.key] = run
        return DKGRound1PackageResponse(key: request.key, package: run.round1Package)
    }

    private func dkgRound2(_ request: DKGRound2Request) throws -> DKGRound2SharesResponse {
        let run = try dkgRun(request.key)
        let transportKeys = Dictionary(
            request.recipients.map { ($0.participant, $0.transportKey) }, uniquingKeysWith: { first, _ in first })
        let sealed = try dkgStep(request.key) {
            try run.round2(packages: request.packages).map { share in
                guard let recipient = transportKeys[share.to] else {
                    throw ShardCryptoError(.invalidParameters, "no transport key for participant \(share.to)")
                }
                return try ShareSealing.seal(dkgShare: share, to: recipient, key: request.key)
            }
        }
        return DKGRound2SharesResponse(key: request.key, shares: sealed)
    }

    private func dkgReceive(_ request: DKGReceiveRequest) throws -> DKGComplaintList {
        let run = try dkgRun(request.key)
        guard let transportPrivateKey else { throw ErrorMessage(code: .refused, text: "the transport key is gone") }
        let complaints = try dkgStep(request.key) {
            let opened = try request.shares.map { payload in
                try ShareSealing.openDKGShare(payload, privateKey: transportPrivateKey, key: request.key)
            }
            return try run.receive(shares: opened)
        }
        return DKGComplaintList(key: request.key, complaints: complaints)
    }

    private func dkgAnswer(_ request: DKGComplaintList) throws -> DKGAnswers {
        let run = try dkgRun(request.key)
        let answers = try dkgStep(request.key) { try run.answer(complaints: request.complaints) }
        return DKGAnswers(key: request.key, answers: answers)
    }

    private func dkgFinish(_ request: DKGFinishRequest) throws -> DKGFinished {
        let run = try dkgRun(request.key)
        let result = try dkgStep(request.key) {
            try run.finish(complaints: request.complaints, answers: request.answers)
        }
        dkgRuns[request.key] = nil
        shares[request.key] = HeldShare(share: result.share, commitment: result.commitment)
        logger.info("finished a DKG run", metadata: ["key": "\(request.key)", "qualified": "\(result.qualified)"])
        return try DKGFinished(
            key: request.key, participant: result.share.id, publicShare: result.share.publicShare,
            qualified: result.qualified, commitment: result.commitment, round1Digest: result.publicResult.round1Digest)
    }

    // MARK: Destruction

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
