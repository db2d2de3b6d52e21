import AgentProtocol
import Foundation
import KeyshardAPI
import ShardCrypto

/// Threshold decryption and FROST signing across a ring's fresh custodians. Only custodians whose
/// last accepted attestation is within the freshness window take part; a custodian whose partial
/// or signature share fails its proof is quarantined and the operation goes on with others.
extension Engine {
    /// The commitment and ring of a key version at the ring's committed epoch.
    struct VersionContext: Sendable {
        let ring: RingRuntime
        let snapshot: RingRuntime.Snapshot
        let commitment: FeldmanCommitment
        let reference: KeyReference
        /// Every slot's public share under `commitment` (cached by the ring).
        let publicShares: ThresholdHPKE.PublicShares
    }

    func versionContext(key: String, ring ringName: String, version: Int) throws -> VersionContext {
        guard let ring = ring(named: ringName) else {
            throw KeyshardError(.internalError, "key \(key) names ring \(ringName), which is not loaded")
        }
        let snapshot = ring.snapshot
        let versionID = RingRuntime.VersionID(key: key, version: version)
        guard let commitment = snapshot.commitments[versionID] else {
            throw KeyshardError(.notFound, "key \(key) has no version \(version) at ring \(ringName)'s epoch \(snapshot.epoch)")
        }
        return VersionContext(
            ring: ring, snapshot: snapshot, commitment: commitment,
            reference: try ShareNames.reference(key: key, version: version, epoch: snapshot.epoch),
            publicShares: ring.publicShares(of: versionID, commitment: commitment))
    }

    /// Custodians to ask, freshest first, or `below-threshold`.
    func participants(_ context: VersionContext) throws -> [LiveCustodian] {
        let window = configuration.freshnessWindow
        let fresh = context.snapshot.members.values.filter { $0.isFresh(within: window) }
            .sorted { $0.lastAttestedDate > $1.lastAttestedDate }
        guard fresh.count >= context.ring.threshold else {
            throw KeyshardError(
                .belowThreshold,
                "ring \(context.ring.name) has \(fresh.count) custodian(s) attested within \(window), and an operation needs "
                    + "\(context.ring.threshold); replacements are being made (see keyshard custodians)")
        }
        return fresh
    }

    /// Retries once with a fresh snapshot when the ring's epoch moved under the operation (the
    /// custodians then no longer hold the old epoch's shares).
    func withEpochRetry<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as EpochMoved {
            logger.debug("epoch moved during an operation; retrying", metadata: ["ring": "\(error.ring)"])
            return try await body()
        }
    }

    struct EpochMoved: Error {
        let ring: String
    }

    /// Threshold HPKE decryption of `ciphertext` (enc ‖ ct) with key version `version`.
    func thresholdDecrypt(key: String, ring: String, version: Int, ciphertext: [UInt8], info: [UInt8]) async throws
        -> SecretBytes
    {
        try await withEpochRetry {
            try await thresholdDecrypt(
                try versionContext(key: key, ring: ring, version: version), ciphertext: ciphertext, info: info)
        }
    }

    /// Threshold HPKE decryption with the shares `context` names (the committed epoch's, or an
    /// epoch change's new ones for its probe).
    func thresholdDecrypt(_ context: VersionContext, ciphertext: [UInt8], info: [UInt8]) async throws -> SecretBytes {
        // The share name is key/vN at an epoch; a refusal names the key and version the caller knows.
        let named = ShareNames.parse(context.reference)
        let key = named?.key ?? context.reference.keyID
        let version = named?.version ?? 0
        guard ciphertext.count >= ThresholdHPKE.minimumCiphertextByteCount,
            (try? Point(sec1: ciphertext.prefix(ThresholdHPKE.encapsulatedKeyByteCount))) != nil
        else {
            throw KeyshardError(
                .badRequest,
                "not an HPKE ciphertext of this suite: it starts with a 65-byte P-256 point and is at least "
                    + "\(ThresholdHPKE.minimumCiphertextByteCount) bytes")
        }
        do {
            var candidates = try participants(context)[...]
            let proofContext = Array("keyshard/v1/decrypt/".utf8) + (0..<16).map { _ in UInt8.random(in: 0...255) }
            let request = try PartialDecryptRequest(key: context.reference, ciphertext: ciphertext, context: proofContext)
            var valid: [PartialDecryption] = []
            var lastVerification: ThresholdHPKE.PartialVerification?
            while valid.count < context.ring.threshold {
                let needed = context.ring.threshold - valid.count
                guard candidates.count >= needed else {
                    throw KeyshardError(
                        .belowThreshold,
                        "only \(valid.count) of the \(context.ring.threshold) partial decryptions needed could be had "
                            + "from ring \(context.ring.name)'s fresh custodians")
                }
                let asked = Array(candidates.prefix(needed))
                candidates = candidates.dropFirst(needed)
                let answers = await askEach(asked) { custodian -> PartialDecryption in
                    guard case .partialDecryption(let answer) = try await custodian.request(.partialDecryptRequest(request))
                    else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered wrongly") }
                    return answer.partial
                }
                var arrived: [PartialDecryption] = []
                var senders: [ParticipantID: LiveCustodian] = [:]
                for (custodian, answer) in answers {
                    switch answer {
                    case .success(let partial):
                        guard partial.id.rawValue == custodian.slot else {
                            await quarantine(custodian, reason: "answered a partial decryption for another participant", misbehaved: true)
                            continue
                        }
                        arrived.append(partial)
                        senders[partial.id] = custodian
                    case .failure(let failure):
                        if failure.code == .unknownKey, context.ring.epoch != context.snapshot.epoch {
                            throw EpochMoved(ring: context.ring.name)
                        }
                        logger.warning("a custodian did not decrypt", metadata: ["custodian": "\(custodian.id)", "error": "\(failure)"])
                    }
                }
                // One batch check of this round's proofs; one by one only when it fails.
                let verdict = try ThresholdHPKE.verifyPartials(
                    ciphertext: ciphertext, partials: arrived, publicShares: context.publicShares, context: proofContext)
                for refused in verdict.rejected {
                    guard let custodian = senders[refused.id] else { continue }
                    await quarantine(custodian, reason: "its partial decryption failed its DLEQ proof", misbehaved: true)
                }
                valid += verdict.valid
                lastVerification = verdict
            }
            do {
                // A decryption that needed more than one round checks its survivors together once more,
                // so that what is combined is one verification's output.
                let verification =
                    if let lastVerification, lastVerification.valid.count == valid.count {
                        lastVerification
                    } else {
                        try ThresholdHPKE.verifyPartials(
                            ciphertext: ciphertext, partials: valid, publicShares: context.publicShares, context: proofContext)
                    }
                return try ThresholdHPKE.combine(
                    ciphertext: ciphertext, verified: verification, threshold: context.ring.threshold, info: info)
            } catch {
                // Every partial verified, so the only way left to fail is the AEAD: wrong info
                // (context), another key, or an altered ciphertext.
                throw KeyshardError(
                    .badRequest,
                    "the ciphertext does not decrypt under \(key) v\(version) with this context: wrong context, another "
                        + "key, or an altered ciphertext")
            }
        }
    }

    /// A FROST(P-256, SHA-256) signature by t fresh custodians; a custodian whose share fails its
    /// check is quarantined and the signing starts over without it (nonces are single-use).
    func thresholdSign(key: String, ring: String, version: Int, message: [UInt8]) async throws -> FROST.Signature {
        try await withEpochRetry {
            try await thresholdSign(try versionContext(key: key, ring: ring, version: version), message: message)
        }
    }

    /// FROST signing with the shares `context` names.
    func thresholdSign(_ context: VersionContext, message: [UInt8]) async throws -> FROST.Signature {
        do {
            var excluded = Set<String>()
            for _ in 0..<3 {
                let candidates = try participants(context).filter { !excluded.contains($0.id) }
                guard candidates.count >= context.ring.threshold else {
                    throw KeyshardError(
                        .belowThreshold, "ring \(context.ring.name) has too few fresh custodians left to sign")
                }
                let signers = Array(candidates.prefix(context.ring.threshold))
                let session = SessionID.random()
                let round1 = await askEach(signers) { custodian -> FROST.SigningCommitment in
                    guard case .signingCommitment(let answer) = try await custodian.request(
                        .signRound1Request(SignRound1Request(key: context.reference, session: session)))
                    else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered round 1 wrongly") }
                    return answer.commitment
                }
                var commitments: [FROST.SigningCommitment] = []
                var failed = false
                for (custodian, answer) in round1 {
                    switch answer {
                    case .success(let commitment) where commitment.id.rawValue == custodian.slot:
                        commitments.append(commitment)
                    case .success:
                        await quarantine(custodian, reason: "sent a signing commitment for another participant", misbehaved: true)
                        excluded.insert(custodian.id)
                        failed = true
                    case .failure(let failure):
                        if failure.code == .unknownKey, context.ring.epoch != context.snapshot.epoch {
                            throw EpochMoved(ring: context.ring.name)
                        }
                        excluded.insert(custodian.id)
                        failed = true
                    }
                }
                if failed { continue }
                commitments.sort { $0.id < $1.id }
                let round2Request = try SignRound2Request(
                    key: context.reference, session: session, message: message, commitments: commitments)
                let round2 = await askEach(signers) { custodian -> FROST.SignatureShare in
                    guard case .signatureShare(let answer) = try await custodian.request(.signRound2Request(round2Request))
                    else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered round 2 wrongly") }
                    return answer.share
                }
                var shares: [FROST.SignatureShare] = []
                var signersByID: [ParticipantID: LiveCustodian] = [:]
                for (custodian, answer) in round2 {
                    guard case .success(let share) = answer else {
                        excluded.insert(custodian.id)
                        failed = true
                        continue
                    }
                    guard share.id.rawValue == custodian.slot else {
                        await quarantine(custodian, reason: "sent a FROST signature share for another participant", misbehaved: true)
                        excluded.insert(custodian.id)
                        failed = true
                        continue
                    }
                    shares.append(share)
                    signersByID[share.id] = custodian
                }
                if failed { continue }
                let groupPublicKey = context.commitment.publicKey
                do {
                    // Aggregation verifies the signature; shares are checked only when it fails.
                    return try FROST.aggregate(
                        shares: shares, message: message, commitments: commitments, groupPublicKey: groupPublicKey,
                        publicShares: context.publicShares.shares)
                } catch {
                    for share in shares {
                        guard let custodian = signersByID[share.id], let publicShare = context.publicShares.shares[share.id],
                            !FROST.verifySignatureShare(
                                share, publicShare: publicShare, message: message, commitments: commitments,
                                groupPublicKey: groupPublicKey)
                        else { continue }
                        await quarantine(custodian, reason: "its FROST signature share failed verification", misbehaved: true)
                        excluded.insert(custodian.id)
                    }
                    logger.warning("a FROST signature did not aggregate", metadata: ["ring": "\(context.ring.name)", "error": "\(error)"])
                }
            }
            throw KeyshardError(.custodianFailure, "signing failed three times; see keyshard custodians and the audit log")
        }
    }

    /// Sends one request to each custodian concurrently; each answer or failure, in input order.
    func askEach<T: Sendable>(
        _ custodians: [LiveCustodian], _ body: @escaping @Sendable (LiveCustodian) async throws -> T
    ) async -> [(LiveCustodian, Result<T, AgentFailure>)] {
        await withTaskGroup(of: (Int, Result<T, AgentFailure>).self) { group in
            for (index, custodian) in custodians.enumerated() {
                group.addTask {
                    do { return (index, .success(try await body(custodian))) } catch let failure as AgentFailure {
                        return (index, .failure(failure))
                    } catch {
                        return (index, .failure(AgentFailure(custodian: custodian.id, code: nil, message: "\(error)")))
                    }
                }
            }
            var results: [(Int, Result<T, AgentFailure>)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map { (custodians[$0.0], $0.1) }
        }
    }
}
