/// Proactive refresh: the same holders and threshold get new shares of the same key,
/// so that shares stolen before the refresh cannot be combined with shares after it.
///
/// Each holder i deals a random polynomial δ_i of degree t − 1 with δ_i(0) = 0 and
/// commits to it; every holder j adds Σ_i δ_i(j) to its share. The new commitment is the
/// old one plus Σ_i Z_i pointwise; the constant term (the group key) does not change.
public enum Refresh {
    /// The Feldman commitment to a zero-constant polynomial δ. Its constant term is the
    /// identity by construction, so it is not stored (and cannot be forged): only
    /// A_1 … A_{t−1} are. This is why it is not a ``FeldmanCommitment``, which refuses
    /// the identity.
    public struct ZeroCommitment: Sendable, Equatable, CustomStringConvertible {
        /// A_k = δ_k·G for k = 1 … t − 1.
        public let coefficients: [Point]

        /// Wraps received commitments A_1 … A_{t−1}.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when empty (t would be 1,
        ///   where there is nothing to refresh), ``ShardCryptoError/Code/identityPoint`` for
        ///   an identity point.
        public init(coefficients: [Point]) throws(ShardCryptoError) {
            guard !coefficients.isEmpty else {
                throw ShardCryptoError(
                    .invalidParameters, "a refresh commitment needs at least one point (threshold 2 or more)")
            }
            guard !coefficients.contains(where: \.isIdentity) else {
                throw ShardCryptoError(.identityPoint, "a refresh commitment point is the identity")
            }
            self.coefficients = coefficients
        }

        init(unchecked coefficients: [Point]) { self.coefficients = coefficients }

        /// The threshold t of the committed polynomial (one more than the points stored).
        public var threshold: Int { coefficients.count + 1 }

        /// δ(id)·G = Σ_{k≥1} id^k·A_k (the identity when δ(id) = 0).
        public func publicShare(for id: ParticipantID) -> Point {
            let x = id.scalar
            var power = Scalar.one
            var sum = Point.identity
            for coefficient in coefficients {
                power = power * x
                sum = sum + power * coefficient
            }
            return sum
        }

        /// Concatenated 33-byte compressed points A_1 … A_{t−1}.
        public func serialized() throws(ShardCryptoError) -> [UInt8] { Array(try coefficients.map { point throws(ShardCryptoError) in try point.compressed() }.joined()) }

        /// Decodes concatenated 33-byte compressed points A_1 … A_{t−1}.
        /// - Throws: ``ShardCryptoError/Code/invalidPointEncoding`` for a bad length, and the point decoding errors.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard !bytes.isEmpty, bytes.count % Point.compressedByteCount == 0 else {
                throw ShardCryptoError(
                    .invalidPointEncoding,
                    "a refresh commitment is a non-empty list of 33-byte points, got \(bytes.count) bytes")
            }
            try self.init(
                coefficients: stride(from: 0, to: bytes.count, by: Point.compressedByteCount).map { offset throws(ShardCryptoError) in
                    try Point(sec1: bytes[offset..<offset + Point.compressedByteCount])
                })
        }

        public var description: String { "Refresh.ZeroCommitment(threshold: \(threshold))" }
    }

    /// The public half of a refresh dealing: dealer i and Z_i, broadcast to every holder.
    public struct PublicDealing: Sendable, Equatable, CustomStringConvertible {
        /// The holder i dealing.
        public let from: ParticipantID
        /// Z_i, the commitment to δ_i.
        public let commitment: ZeroCommitment

        /// Wraps a received dealing.
        public init(from: ParticipantID, commitment: ZeroCommitment) {
            self.from = from
            self.commitment = commitment
        }

        /// Decodes `from (2) ‖ Z_i (33 bytes per point)`.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count > 2 else { throw ShardCryptoError(.invalidParameters, "a refresh dealing is too short") }
            self.init(
                from: try ParticipantID(encoded: bytes[0..<2]),
                commitment: try ZeroCommitment(serialized: Array(bytes[2...])))
        }

        /// `from (2) ‖ Z_i (33 bytes per point)`.
        public func serialized() throws(ShardCryptoError) -> [UInt8] { from.encoded + (try commitment.serialized()) }

        public var description: String { "Refresh.PublicDealing(from: \(from), threshold: \(commitment.threshold))" }
    }

    /// Everything holder i produces for a refresh: Z_i and δ_i(j) for every holder j (itself included).
    public struct Dealing: Sendable, CustomStringConvertible, CustomReflectable {
        /// The holder i dealing.
        public let from: ParticipantID
        /// Z_i.
        public let commitment: ZeroCommitment
        /// δ_i(j) for every holder j, in the order of the participants. Secret.
        public let subShares: [Redistribution.SubShare]

        /// The part to broadcast.
        public var publicDealing: PublicDealing { PublicDealing(from: from, commitment: commitment) }

        public var description: String { "Refresh.Dealing(from: \(from), \(subShares.count) sub-shares redacted)" }
        public var customMirror: Mirror { Mirror(self, children: ["from": from, "commitment": commitment]) }
    }

    /// Deals a zero-constant polynomial for a refresh.
    /// - Parameters:
    ///   - from: this holder.
    ///   - threshold: t of the sharing, 2 or more.
    ///   - participants: every holder, this one included.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for t < 2, an unusable (t, n) or
    ///   a dealer outside `participants`; ``ShardCryptoError/Code/duplicateParticipant`` for a repeated holder.
    public static func deal(from: ParticipantID, threshold: Int, participants: [ParticipantID]) throws(ShardCryptoError) -> Dealing {
        guard threshold >= 2 else {
            throw ShardCryptoError(
                .invalidParameters, "a threshold-\(threshold) sharing has nothing to refresh (every share is the key)")
        }
        try Shamir.checkDistinct(participants)
        try Shamir.validate(threshold: threshold, participants: participants.count)
        guard participants.contains(from) else {
            throw ShardCryptoError(.invalidParameters, "dealer \(from) is not one of the holders being refreshed")
        }
        let polynomial = try Polynomial(coefficients: [.zero] + (1..<threshold).map { _ in Scalar.random() })
        return Dealing(
            from: from,
            commitment: ZeroCommitment(unchecked: polynomial.coefficients.dropFirst().map(Point.generatorMultiple)),
            subShares: participants.map {
                Redistribution.SubShare(from: from, to: $0, value: polynomial.evaluate(at: $0.scalar))
            })
    }

    /// Checks the dealings and computes the refreshed commitment: the old one plus Σ Z_i,
    /// constant term unchanged.
    /// - Parameters:
    ///   - oldCommitment: the commitment of the current sharing, threshold t ≥ 2.
    ///   - dealings: at least t holders' public dealings (so at least one is honest).
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for t < 2 or fewer than t dealers,
    ///   ``ShardCryptoError/Code/duplicateParticipant`` for a repeated dealer,
    ///   ``ShardCryptoError/Code/invalidShare`` naming a dealer whose Z_i does not have t − 1 points.
    public static func newCommitment(
        oldCommitment: FeldmanCommitment, dealings: [PublicDealing]
    ) throws(ShardCryptoError) -> FeldmanCommitment {
        let threshold = oldCommitment.threshold
        guard threshold >= 2 else {
            throw ShardCryptoError(
                .invalidParameters, "a threshold-\(threshold) sharing has nothing to refresh (every share is the key)")
        }
        try Shamir.checkDistinct(dealings.map(\.from))
        guard dealings.count >= threshold else {
            throw ShardCryptoError(
                .invalidParameters, "\(dealings.count) refresh dealers, fewer than the threshold \(threshold)")
        }
        for dealing in dealings where dealing.commitment.threshold != threshold {
            throw ShardCryptoError(
                .invalidShare,
                "dealer \(dealing.from) committed to threshold \(dealing.commitment.threshold), not \(threshold)")
        }
        return FeldmanCommitment(
            unchecked: [oldCommitment.publicKey]
                + (1..<threshold).map { k in
                    oldCommitment.coefficients[k] + Point.sum(dealings.map { $0.commitment.coefficients[k - 1] })
                })
    }

    /// Checks holder j's refresh sub-shares and computes its refreshed share.
    /// - Parameters:
    ///   - share: j's current share x_j.
    ///   - oldCommitment: the commitment of the current sharing.
    ///   - dealings: the dealers' public dealings (the same set for every holder).
    ///   - subShares: exactly one δ_i(j) from each of those dealers, addressed to j.
    /// - Returns: x_j + Σ δ_i(j) and the refreshed commitment.
    /// - Throws: the errors of ``newCommitment(oldCommitment:dealings:)``;
    ///   ``ShardCryptoError/Code/invalidShare`` when `share` does not match the old commitment
    ///   or (naming the dealer) a sub-share does not match Z_i;
    ///   ``ShardCryptoError/Code/invalidParameters`` / ``ShardCryptoError/Code/duplicateParticipant``
    ///   for misaddressed, stray, missing or repeated sub-shares.
    public static func receive(
        share: SecretShare, oldCommitment: FeldmanCommitment, dealings: [PublicDealing],
        subShares: [Redistribution.SubShare]
    ) throws(ShardCryptoError) -> Redistribution.Result {
        try oldCommitment.verify(share)
        let commitment = try newCommitment(oldCommitment: oldCommitment, dealings: dealings)
        let byDealer = try Redistribution.checkedSubShares(
            subShares, recipient: share.id, dealers: dealings.map(\.from))
        var value = share.value
        for dealing in dealings {
            let delta = byDealer[dealing.from]!.value
            guard Point.generatorMultiple(delta) == dealing.commitment.publicShare(for: share.id) else {
                throw ShardCryptoError(
                    .invalidShare, "the refresh sub-share from dealer \(dealing.from) does not match its commitment")
            }
            value = value + delta
        }
        let refreshed = SecretShare(id: share.id, value: value)
        try commitment.verify(refreshed)
        return Redistribution.Result(share: refreshed, commitment: commitment)
    }
}
