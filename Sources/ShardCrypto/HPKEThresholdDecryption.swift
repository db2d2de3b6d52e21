/// Threshold decryption of RFC 9180 ciphertexts: custodians return
/// D_i = x_i·enc with DLEQ proofs; the coordinator checks them, interpolates
/// Σ λ_i·D_i = x·enc, the DHKEM Diffie–Hellman value, and finishes HPKE.
///
/// Two ways to combine, for the two situations a coordinator is in:
/// - ``ThresholdHPKE/combine(ciphertext:partials:publicKey:publicShares:threshold:info:context:)``
///   is *strict*: one bad partial refuses the whole request, with every culprit named.
/// - ``ThresholdHPKE/combineRobustly(ciphertext:partials:publicKey:publicShares:threshold:info:context:)``
///   skips bad partials when enough good ones remain, and returns the culprits
///   alongside the plaintext so they can be quarantined.
///
/// Either way a partial whose proof fails is never interpolated.
extension ThresholdHPKE {
    /// What the coordinator learned from a robust combination.
    public struct CombineResult: Sendable, CustomStringConvertible {
        /// The decrypted message, in wiped storage.
        public let plaintext: SecretBytes
        /// The participants whose partial decryptions were interpolated, ascending.
        public let usedParticipants: [ParticipantID]
        /// Refused partial decryptions, ascending by participant: quarantine candidates.
        public let rejected: [RejectedPartial]

        public var description: String {
            "CombineResult(plaintext: redacted, used: \(usedParticipants), rejected: \(rejected))"
        }
    }

    /// The partial decryptions sorted into those that verified and those that did not.
    ///
    /// Only this module makes one, so a value in hand proves its `valid` partials were checked
    /// against `enc`; when it came from ``verifyPartials(ciphertext:partials:publicShares:context:)``
    /// with ``PublicShares``, it also carries the key they were checked for, and
    /// ``combine(ciphertext:verified:threshold:info:)`` finishes without checking them again.
    public struct PartialVerification: Sendable {
        /// Partials whose proofs verify against their public shares, ascending by participant.
        public let valid: [PartialDecryption]
        /// Refused partials, ascending by participant.
        public let rejected: [RejectedPartial]
        /// The encapsulated key the proofs were checked over.
        let enc: Point
        /// The group public key of the public shares, when they came from a ``PublicShares``.
        let publicKey: Point?
    }

    /// A key version's group public key and every custodian's public share Xᵢ = f(i)·G, computed
    /// once from its Feldman commitment (n multi-scalar multiplications) and then reused by every
    /// decryption: recomputing them per request cost more than the decryption's own checks.
    /// The shares interpolate to the key by construction, so decryption with them needs no
    /// consistency check of its own.
    public struct PublicShares: Sendable {
        /// The group public key A₀.
        public let publicKey: Point
        /// Xᵢ for each participant asked for.
        public let shares: [ParticipantID: Point]

        /// Derives the public shares of `participants` from `commitment`.
        public init(commitment: FeldmanCommitment, participants: some Sequence<ParticipantID>) {
            publicKey = commitment.publicKey
            shares = Dictionary(participants.map { ($0, commitment.publicShare(for: $0)) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// The context every custodian's proof is bound to: the suite, the
    /// participant and the caller's request context (enc is bound by the proof itself).
    static func proofContext(id: ParticipantID, context: [UInt8]) -> [UInt8] {
        Array("keyshard/v1/hpke-partial-decryption".utf8) + HPKEKeySchedule.suiteID
            + HPKEKeySchedule.bigEndian(id.rawValue) + context
    }

    /// Custodian side: computes D_i = x_i·enc and its DLEQ proof.
    /// - Parameters:
    ///   - ciphertext: the whole single-shot ciphertext (only enc is used, but the
    ///     custodian checks the shape of what it is asked to help decrypt).
    ///   - share: this custodian's share x_i.
    ///   - context: bytes the proof is bound to, such as the request identifier;
    ///     the coordinator must pass the same to
    ///     ``combine(ciphertext:partials:publicKey:publicShares:threshold:info:context:)``.
    /// - Returns: the partial decryption to send to the coordinator.
    /// - Throws: ``ShardCryptoError/Code/invalidCiphertext`` when the ciphertext is too short,
    ///   point errors when enc is malformed, off the curve or the identity,
    ///   ``ShardCryptoError/Code/zeroScalar`` for a zero share.
    public static func partialDecrypt(ciphertext: [UInt8], share: SecretShare, context: [UInt8]) throws(ShardCryptoError)
        -> PartialDecryption
    {
        let parsed = try Ciphertext(ciphertext)
        guard !share.value.isZero else {
            throw ShardCryptoError(.zeroScalar, "the share of participant \(share.id) is zero")
        }
        let (value, proof) = try DLEQProof.prove(
            secret: share.value, base: parsed.ephemeralKey, context: proofContext(id: share.id, context: context))
        return PartialDecryption(id: share.id, value: value, proof: proof)
    }

    /// Checks every partial decryption's proof against its participant's public share.
    /// - Parameters:
    ///   - ciphertext: the ciphertext being decrypted.
    ///   - partials: the custodians' answers.
    ///   - publicShares: X_i for every custodian of the key.
    ///   - context: the request context the custodians were given.
    /// - Returns: valid and refused partials; does not throw for bad partials.
    /// - Throws: ``ShardCryptoError/Code/invalidCiphertext`` / point errors for a malformed
    ///   ciphertext, ``ShardCryptoError/Code/duplicateParticipant`` when an identifier repeats.
    public static func verifyPartials(
        ciphertext: [UInt8], partials: [PartialDecryption], publicShares: [ParticipantID: Point], context: [UInt8]
    ) throws(ShardCryptoError) -> PartialVerification {
        let parsed = try Ciphertext(ciphertext)
        return try verify(partials, enc: parsed.ephemeralKey, publicShares: publicShares, context: context)
    }

    /// ``verifyPartials(ciphertext:partials:publicShares:context:)`` against a key version's
    /// ``PublicShares``; the result remembers the key, for
    /// ``combine(ciphertext:verified:threshold:info:)``.
    public static func verifyPartials(
        ciphertext: [UInt8], partials: [PartialDecryption], publicShares: PublicShares, context: [UInt8]
    ) throws(ShardCryptoError) -> PartialVerification {
        let parsed = try Ciphertext(ciphertext)
        let verification = try verify(partials, enc: parsed.ephemeralKey, publicShares: publicShares.shares, context: context)
        return PartialVerification(
            valid: verification.valid, rejected: verification.rejected, enc: parsed.ephemeralKey,
            publicKey: publicShares.publicKey)
    }

    static func verify(
        _ partials: [PartialDecryption], enc: Point, publicShares: [ParticipantID: Point], context: [UInt8]
    ) throws(ShardCryptoError) -> PartialVerification {
        // Duplicates are refused outright rather than resolved: which of two answers
        // "from" one custodian is genuine is not a question the combiner can settle.
        var seen = Set<ParticipantID>()
        for partial in partials where !seen.insert(partial.id).inserted {
            throw ShardCryptoError(
                .duplicateParticipant, "participant \(partial.id) sent more than one partial decryption")
        }
        var known: [(partial: PartialDecryption, statement: DLEQProof.Statement)] = []
        var rejected: [RejectedPartial] = []
        for partial in partials.sorted(by: { $0.id < $1.id }) {
            guard let publicShare = publicShares[partial.id] else {
                rejected.append(RejectedPartial(id: partial.id, reason: .unknownParticipant))
                continue
            }
            known.append(
                (partial, DLEQProof.Statement(
                    publicKey: publicShare, partial: partial.value, proof: partial.proof,
                    context: proofContext(id: partial.id, context: context))))
        }
        // All proofs at once (the common case: every custodian honest); only when the batch
        // fails are they checked one by one, to name the culprits.
        var valid: [PartialDecryption] = []
        if DLEQProof.verifyBatch(base: enc, known.map(\.statement)) {
            valid = known.map(\.partial)
        } else {
            for (partial, statement) in known {
                if DLEQProof.verifyBatch(base: enc, [statement]) {
                    valid.append(partial)
                } else {
                    rejected.append(RejectedPartial(id: partial.id, reason: .invalidProof))
                }
            }
            rejected.sort { $0.id < $1.id }
        }
        return PartialVerification(valid: valid, rejected: rejected, enc: enc, publicKey: nil)
    }

    /// Coordinator side, after ``verifyPartials(ciphertext:partials:publicShares:context:)``
    /// with ``PublicShares``: interpolates the first `threshold` valid partials and finishes
    /// HPKE, without checking the proofs a second time.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a verification made without
    ///   ``PublicShares``, for another ciphertext, or with fewer than `threshold` valid partials;
    ///   ``ShardCryptoError/Code/decryptionFailed`` when the AEAD does not authenticate.
    public static func combine(
        ciphertext: [UInt8], verified verification: PartialVerification, threshold: Int, info: [UInt8]
    ) throws(ShardCryptoError) -> SecretBytes {
        let parsed = try Ciphertext(ciphertext)
        guard let publicKey = verification.publicKey else {
            throw ShardCryptoError(.invalidParameters, "this verification was not made against a key version's public shares")
        }
        guard verification.enc == parsed.ephemeralKey else {
            throw ShardCryptoError(.invalidParameters, "these partial decryptions were verified for another ciphertext")
        }
        guard threshold >= 1, verification.valid.count >= threshold else {
            throw ShardCryptoError(
                .invalidParameters,
                "decryption needs \(threshold) valid partial decryptions, got \(verification.valid.count)")
        }
        let chosen = Array(verification.valid.prefix(threshold))
        let dh = try Shamir.interpolate(points: chosen.map { (id: $0.id, point: $0.value) })
        let sharedSecret = try DHKEM.sharedSecret(dh: dh, enc: parsed.enc, recipient: publicKey)
        var context = HPKEKeySchedule.base(sharedSecret: sharedSecret, info: info).context
        return try context.open(parsed.sealed, aad: [])
    }

    /// Coordinator side, strict: every partial must verify. Interpolates the first
    /// `threshold` partials (by identifier), finishes DHKEM with kem_context =
    /// enc ‖ pkRm, runs the key schedule and opens the AEAD ciphertext (empty AAD).
    /// - Parameters:
    ///   - ciphertext: enc ‖ AEAD ciphertext.
    ///   - partials: at least `threshold` partial decryptions from distinct custodians.
    ///   - publicKey: the group public key the message was sealed to.
    ///   - publicShares: X_i for every custodian of the key (from the Feldman commitments).
    ///   - threshold: t.
    ///   - info: the info the sender used.
    ///   - context: the request context the custodians bound their proofs to.
    /// - Returns: the plaintext, in wiped storage.
    /// - Throws: ``ShardCryptoError/Code/invalidCiphertext`` or point errors for a malformed ciphertext;
    ///   ``ShardCryptoError/Code/duplicateParticipant`` for a repeated identifier;
    ///   ``ShardCryptoError/Code/invalidProof`` naming every participant whose proof failed
    ///   (``ShardCryptoError/Code/invalidParameters`` if the only culprits have no public share);
    ///   ``ShardCryptoError/Code/invalidParameters`` for fewer than `threshold` partials, a threshold
    ///   below 1, or public shares that do not interpolate to `publicKey`;
    ///   ``ShardCryptoError/Code/decryptionFailed`` when the AEAD does not authenticate.
    public static func combine(
        ciphertext: [UInt8], partials: [PartialDecryption], publicKey: Point,
        publicShares: [ParticipantID: Point], threshold: Int, info: [UInt8], context: [UInt8]
    ) throws(ShardCryptoError) -> SecretBytes {
        let parsed = try Ciphertext(ciphertext)
        var recovered = try recoverContext(
            parsed, partials: partials, publicKey: publicKey, publicShares: publicShares,
            threshold: threshold, info: info, context: context, robust: false)
        return try recovered.context.open(parsed.sealed, aad: [])
    }

    /// Coordinator side, robust: skips partials whose proof fails or whose sender
    /// has no public share, and decrypts when at least `threshold` valid ones remain.
    /// - Parameters: as ``combine(ciphertext:partials:publicKey:publicShares:threshold:info:context:)``.
    /// - Returns: the plaintext, the participants used and the participants refused.
    /// - Throws: as `combine`, except that bad partials only cause
    ///   ``ShardCryptoError/Code/invalidParameters`` (naming them) when fewer than
    ///   `threshold` valid ones remain.
    public static func combineRobustly(
        ciphertext: [UInt8], partials: [PartialDecryption], publicKey: Point,
        publicShares: [ParticipantID: Point], threshold: Int, info: [UInt8], context: [UInt8]
    ) throws(ShardCryptoError) -> CombineResult {
        let parsed = try Ciphertext(ciphertext)
        var recovered = try recoverContext(
            parsed, partials: partials, publicKey: publicKey, publicShares: publicShares,
            threshold: threshold, info: info, context: context, robust: true)
        let plaintext = try recovered.context.open(parsed.sealed, aad: [])
        return CombineResult(plaintext: plaintext, usedParticipants: recovered.used, rejected: recovered.rejected)
    }

    /// Verification, interpolation, DHKEM and key schedule: everything but the AEAD,
    /// so tests can run the RFC vectors' own AAD and sequence numbers through it.
    static func recoverContext(
        _ ciphertext: Ciphertext, partials: [PartialDecryption], publicKey: Point,
        publicShares: [ParticipantID: Point], threshold: Int, info: [UInt8], context: [UInt8], robust: Bool
    ) throws(ShardCryptoError) -> (context: HPKEContext, used: [ParticipantID], rejected: [RejectedPartial]) {
        guard threshold >= 1 else {
            throw ShardCryptoError(.invalidParameters, "the threshold must be at least 1, got \(threshold)")
        }
        guard !publicKey.isIdentity else {
            throw ShardCryptoError(.identityPoint, "the group public key is the identity")
        }
        let verification = try verify(
            partials, enc: ciphertext.ephemeralKey, publicShares: publicShares, context: context)
        let culprits = verification.rejected.map(\.description).joined(separator: ", ")
        if !robust, !verification.rejected.isEmpty {
            let anyBadProof = verification.rejected.contains { $0.reason == .invalidProof }
            throw ShardCryptoError(
                anyBadProof ? .invalidProof : .invalidParameters,
                "refused partial decryptions from \(culprits); none were combined")
        }
        guard verification.valid.count >= threshold else {
            let refused = verification.rejected.isEmpty ? "" : "; refused: \(culprits)"
            throw ShardCryptoError(
                .invalidParameters,
                "decryption needs \(threshold) valid partial decryptions, got \(verification.valid.count)\(refused)")
        }
        // Any t valid partials lie on the same polynomial; the lowest identifiers
        // make the choice deterministic and the cost t scalar multiplications.
        let chosen = Array(verification.valid.prefix(threshold))
        let chosenShares = try chosen.map { partial throws(ShardCryptoError) in
            (id: partial.id, point: try publicShare(of: partial.id, in: publicShares))
        }
        // A cheap guard against a coordinator that mixed up key versions: without it
        // the failure would surface as an unexplained AEAD error.
        guard try Shamir.interpolate(points: chosenShares) == publicKey else {
            throw ShardCryptoError(
                .invalidParameters,
                "the public shares of participants \(chosen.map(\.id)) do not interpolate to the public key "
                    + "(wrong key version, or a threshold that does not match the commitments)")
        }
        let dh = try Shamir.interpolate(points: chosen.map { (id: $0.id, point: $0.value) })
        let sharedSecret = try DHKEM.sharedSecret(dh: dh, enc: ciphertext.enc, recipient: publicKey)
        let schedule = HPKEKeySchedule.base(sharedSecret: sharedSecret, info: info)
        return (schedule.context, chosen.map(\.id), verification.rejected)
    }

    private static func publicShare(of id: ParticipantID, in publicShares: [ParticipantID: Point]) throws(ShardCryptoError) -> Point {
        guard let share = publicShares[id] else {
            throw ShardCryptoError(.invalidParameters, "participant \(id) has no public share")
        }
        return share
    }
}
