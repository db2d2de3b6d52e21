/// Desmedt–Jajodia redistribution: any t holders of a (t, n) sharing of x move it to a
/// new (t', n') sharing of the same x, without x ever existing whole.
///
/// Each old holder i re-shares its own share x_i with a polynomial g_i of degree t' − 1,
/// g_i(0) = x_i, and publishes the Feldman commitment G_i, whose constant term must be
/// the old public share X_i. New holder j checks every sub-share g_i(j) against G_i and
/// computes x'_j = Σ λ_i·g_i(j), with λ_i the Lagrange coefficients of the dealer set at 0.
/// The new commitment is Σ λ_i·G_i pointwise; its constant term is the unchanged group
/// public key. Every new holder must use the same dealer set (the coordinator fixes it
/// and holders compare the resulting commitment), or their shares do not fit together.
public enum Redistribution {
    /// One sub-share g_i(j) (or, in ``Refresh``, δ_i(j)) from dealer i to holder j.
    /// Secret: the caller encrypts it to j and never prints it.
    public struct SubShare: Sendable, CustomStringConvertible, CustomReflectable {
        /// The dealer i.
        public let from: ParticipantID
        /// The recipient j.
        public let to: ParticipantID
        /// The sub-share value.
        public let value: Scalar

        /// The encoding length: from (2) ‖ to (2) ‖ value (32).
        public static let byteCount = 36

        /// Wraps a received sub-share.
        public init(from: ParticipantID, to: ParticipantID, value: Scalar) {
            self.from = from
            self.to = to
            self.value = value
        }

        /// Decodes `from (2) ‖ to (2) ‖ value (32)`.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a wrong length or zero
        ///   identifier, the scalar decoding errors for the value.
        public init(serialized encoding: SecretBytes) throws(ShardCryptoError) {
            guard encoding.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidParameters, "a sub-share is \(Self.byteCount) bytes, got \(encoding.count)")
            }
            try self.init(
                from: encoding.withUnsafeBytes { bytes throws(ShardCryptoError) in try ParticipantID(encoded: bytes[0..<2]) },
                to: encoding.withUnsafeBytes { bytes throws(ShardCryptoError) in try ParticipantID(encoded: bytes[2..<4]) },
                value: encoding.withUnsafeBytes { bytes throws(ShardCryptoError) in try Scalar(bigEndian: bytes[4..<36]) })
        }

        /// `from (2) ‖ to (2) ‖ value (32)`, in wiped storage.
        public func serialized() -> SecretBytes {
            let head = from.encoded + to.encoded
            let secret = value.secretBytes()
            return SecretBytes(count: Self.byteCount) { buffer in
                buffer.copyBytes(from: head)
                secret.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[4...]).copyMemory(from: $0) }
            }
        }

        public var description: String { "SubShare(from: \(from), to: \(to), value: redacted)" }
        public var customMirror: Mirror { Mirror(self, children: ["from": from, "to": to]) }
    }

    /// The public half of a dealing: dealer i and G_i, broadcast to every new holder.
    public struct PublicDealing: Sendable, Equatable, CustomStringConvertible {
        /// The old holder i.
        public let from: ParticipantID
        /// G_i, with G_{i,0} = X_i claimed.
        public let commitment: FeldmanCommitment

        /// Wraps a received dealing.
        public init(from: ParticipantID, commitment: FeldmanCommitment) {
            self.from = from
            self.commitment = commitment
        }

        /// Decodes `from (2) ‖ G_i (33 bytes per coefficient)`.
        /// - Throws: the identifier and commitment decoding errors.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count > 2 else { throw ShardCryptoError(.invalidParameters, "a public dealing is too short") }
            self.init(
                from: try ParticipantID(encoded: bytes[0..<2]),
                commitment: try FeldmanCommitment(serialized: Array(bytes[2...])))
        }

        /// `from (2) ‖ G_i (33 bytes per coefficient)`.
        public func serialized() throws(ShardCryptoError) -> [UInt8] { from.encoded + (try commitment.serialized()) }

        public var description: String {
            "Redistribution.PublicDealing(from: \(from), threshold: \(commitment.threshold))"
        }
    }

    /// Everything old holder i produces: G_i for everyone, and one sub-share per new holder.
    public struct Dealing: Sendable, CustomStringConvertible, CustomReflectable {
        /// The old holder i.
        public let from: ParticipantID
        /// G_i.
        public let commitment: FeldmanCommitment
        /// g_i(j) for every new holder j, in the order of the new participants. Secret.
        public let subShares: [SubShare]

        /// The part to broadcast.
        public var publicDealing: PublicDealing { PublicDealing(from: from, commitment: commitment) }

        public var description: String {
            "Redistribution.Dealing(from: \(from), \(subShares.count) sub-shares redacted)"
        }
        public var customMirror: Mirror { Mirror(self, children: ["from": from, "commitment": commitment]) }
    }

    /// A new holder's outcome: its new share and the new commitment (equal for every
    /// holder of the new set).
    public struct Result: Sendable, CustomStringConvertible, CustomReflectable {
        /// x'_j. Secret.
        public let share: SecretShare
        /// The commitment to the new sharing polynomial; its constant term is the group key.
        public let commitment: FeldmanCommitment

        public var description: String {
            "Redistribution.Result(id: \(share.id), share: redacted, commitment: \(commitment))"
        }
        public var customMirror: Mirror { Mirror(self, children: ["id": share.id, "commitment": commitment]) }
    }

    /// Re-shares an old share for a new set.
    /// - Parameters:
    ///   - share: this old holder's share x_i.
    ///   - newThreshold: t'.
    ///   - newParticipants: the n' new holders, distinct (they may include old holders).
    /// - Returns: G_i and g_i(j) for every new holder j.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for an unusable (t', n'),
    ///   ``ShardCryptoError/Code/duplicateParticipant`` for a repeated new holder.
    public static func deal(share: SecretShare, newThreshold: Int, newParticipants: [ParticipantID]) throws(ShardCryptoError) -> Dealing {
        try Shamir.checkDistinct(newParticipants)
        try Shamir.validate(threshold: newThreshold, participants: newParticipants.count)
        let polynomial = try Polynomial.random(constant: share.value, threshold: newThreshold)
        return Dealing(
            from: share.id, commitment: polynomial.commitment,
            subShares: newParticipants.map {
                SubShare(from: share.id, to: $0, value: polynomial.evaluate(at: $0.scalar))
            })
    }

    /// Checks the dealings against the old commitment and computes the new commitment
    /// Σ λ_i·G_i (what the coordinator stores; every new holder gets the same).
    /// - Parameters:
    ///   - oldCommitment: the commitment of the old (t, n) sharing.
    ///   - newThreshold: t'.
    ///   - dealings: the chosen dealers' public dealings, at least t.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for fewer than t dealers or
    ///   t' < 1, ``ShardCryptoError/Code/duplicateParticipant`` for a repeated dealer,
    ///   ``ShardCryptoError/Code/invalidShare`` naming a dealer whose G_{i,0} ≠ X_i (it does
    ///   not re-share the share it holds) or whose G_i does not have t' points.
    public static func newCommitment(
        oldCommitment: FeldmanCommitment, newThreshold: Int, dealings: [PublicDealing]
    ) throws(ShardCryptoError) -> FeldmanCommitment {
        guard newThreshold >= 1 else {
            throw ShardCryptoError(.invalidParameters, "the new threshold must be at least 1, got \(newThreshold)")
        }
        let dealers = dealings.map(\.from)
        try Shamir.checkDistinct(dealers)
        guard dealers.count >= oldCommitment.threshold else {
            throw ShardCryptoError(
                .invalidParameters,
                "\(dealers.count) dealers cannot redistribute a sharing with threshold \(oldCommitment.threshold)")
        }
        for dealing in dealings {
            guard dealing.commitment.threshold == newThreshold else {
                throw ShardCryptoError(
                    .invalidShare,
                    "dealer \(dealing.from) committed to threshold \(dealing.commitment.threshold), "
                        + "not the new threshold \(newThreshold)"
                )
            }
            guard dealing.commitment.publicKey == oldCommitment.publicShare(for: dealing.from) else {
                throw ShardCryptoError(
                    .invalidShare, "dealer \(dealing.from) re-shares a value that is not its share of the old key")
            }
        }
        let lagrange = try dealers.map { dealer throws(ShardCryptoError) in try Shamir.lagrangeCoefficient(for: dealer, in: dealers) }
        let combined = FeldmanCommitment(
            unchecked: (0..<newThreshold).map { k in
                Point.sum(zip(lagrange, dealings).map { λ, dealing in λ * dealing.commitment.coefficients[k] })
            })
        // Follows from the checks above (Σ λ_i·X_i over t or more old holders is the key); kept as a guard.
        guard combined.publicKey == oldCommitment.publicKey else {
            throw ShardCryptoError(.invalidShare, "the dealings do not re-share the old group key")
        }
        return combined
    }

    /// Checks new holder j's sub-shares and computes its new share.
    /// - Parameters:
    ///   - recipient: j.
    ///   - oldCommitment: the commitment of the old sharing.
    ///   - newThreshold: t'.
    ///   - dealings: the chosen dealers' public dealings (the same set for every new holder).
    ///   - subShares: exactly one sub-share from each of those dealers, addressed to j.
    /// - Returns: x'_j = Σ λ_i·g_i(j) and the new commitment.
    /// - Throws: the errors of ``newCommitment(oldCommitment:newThreshold:dealings:)``;
    ///   ``ShardCryptoError/Code/invalidParameters`` for a sub-share addressed to someone
    ///   else, from a dealer not in `dealings`, or a dealer without a sub-share;
    ///   ``ShardCryptoError/Code/duplicateParticipant`` for two sub-shares from one dealer;
    ///   ``ShardCryptoError/Code/invalidShare`` naming the dealer of a sub-share that does not match G_i.
    public static func receive(
        recipient: ParticipantID, oldCommitment: FeldmanCommitment, newThreshold: Int, dealings: [PublicDealing],
        subShares: [SubShare]
    ) throws(ShardCryptoError) -> Result {
        let commitment = try newCommitment(oldCommitment: oldCommitment, newThreshold: newThreshold, dealings: dealings)
        let byDealer = try checkedSubShares(subShares, recipient: recipient, dealers: dealings.map(\.from))
        let dealers = dealings.map(\.from)
        var value = Scalar.zero
        for dealing in dealings {
            let subShare = byDealer[dealing.from]!
            guard dealing.commitment.verifies(SecretShare(id: recipient, value: subShare.value)) else {
                throw ShardCryptoError(
                    .invalidShare, "the sub-share from dealer \(dealing.from) does not match its commitment")
            }
            value = value + (try Shamir.lagrangeCoefficient(for: dealing.from, in: dealers)) * subShare.value
        }
        let share = SecretShare(id: recipient, value: value)
        try commitment.verify(share)
        return Result(share: share, commitment: commitment)
    }

    /// Checks that `subShares` holds exactly one sub-share to `recipient` from each dealer.
    static func checkedSubShares(
        _ subShares: [SubShare], recipient: ParticipantID, dealers: [ParticipantID]
    ) throws(ShardCryptoError) -> [ParticipantID: SubShare] {
        var byDealer: [ParticipantID: SubShare] = [:]
        for subShare in subShares {
            guard subShare.to == recipient else {
                throw ShardCryptoError(
                    .invalidParameters, "a sub-share for participant \(subShare.to) was delivered to \(recipient)")
            }
            guard dealers.contains(subShare.from) else {
                throw ShardCryptoError(
                    .invalidParameters, "a sub-share from \(subShare.from), who is not among the chosen dealers")
            }
            guard byDealer.updateValue(subShare, forKey: subShare.from) == nil else {
                throw ShardCryptoError(.duplicateParticipant, "two sub-shares from dealer \(subShare.from)")
            }
        }
        if let missing = dealers.first(where: { byDealer[$0] == nil }) {
            throw ShardCryptoError(.invalidParameters, "no sub-share from dealer \(missing)")
        }
        return byDealer
    }
}
