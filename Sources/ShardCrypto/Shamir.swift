internal import COpenSSL

/// A participant's identifier: the x-coordinate of its share, never zero
/// (RFC 9591 identifiers are non-zero scalars; keyshard uses 1…65535).
public struct ParticipantID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The identifier as an integer, 1 or more.
    public let rawValue: UInt16

    /// Creates an identifier.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for zero.
    public init(_ rawValue: UInt16) throws(ShardCryptoError) {
        guard rawValue != 0 else { throw ShardCryptoError(.invalidParameters, "participant identifier 0 is not allowed (0 is where the secret lives)") }
        self.rawValue = rawValue
    }

    /// The identifier as a scalar.
    public var scalar: Scalar { Scalar(UInt64(rawValue)) }

    public static func < (lhs: ParticipantID, rhs: ParticipantID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(UInt16.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One participant's Shamir share f(i) of a secret f(0). Secret: never printed.
public struct SecretShare: Sendable, CustomStringConvertible, CustomReflectable {
    /// Whose share this is (the evaluation point).
    public let id: ParticipantID
    /// The share value f(id).
    public let value: Scalar

    /// Pairs an identifier with a share value.
    public init(id: ParticipantID, value: Scalar) {
        self.id = id
        self.value = value
    }

    /// The public share X_i = x_i·G.
    public var publicShare: Point { .generatorMultiple(value) }

    public var description: String { "SecretShare(id: \(id), value: redacted)" }
    public var customMirror: Mirror { Mirror(self, children: ["id": id]) }
}

/// A polynomial over the scalar field with secret coefficients, a_0 first.
public struct Polynomial: Sendable, CustomStringConvertible {
    /// The coefficients a_0 … a_{t−1}; a_0 is the shared secret.
    public let coefficients: [Scalar]

    /// A polynomial with the given coefficients, constant term first.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when there are none.
    public init(coefficients: [Scalar]) throws(ShardCryptoError) {
        guard !coefficients.isEmpty else { throw ShardCryptoError(.invalidParameters, "a polynomial needs at least one coefficient") }
        self.coefficients = coefficients
    }

    /// A random polynomial of degree `threshold − 1` with constant term `secret`.
    public static func random(constant secret: Scalar, threshold: Int) throws(ShardCryptoError) -> Polynomial {
        guard threshold >= 1 else { throw ShardCryptoError(.invalidParameters, "the threshold must be at least 1, got \(threshold)") }
        return try Polynomial(coefficients: [secret] + (1..<threshold).map { _ in Scalar.random() })
    }

    /// The threshold t (the degree plus one).
    public var threshold: Int { coefficients.count }

    /// f(x) by Horner's rule.
    public func evaluate(at x: Scalar) -> Scalar {
        coefficients.reversed().reduce(Scalar.zero) { accumulator, coefficient in accumulator * x + coefficient }
    }

    /// The share of participant `id`: f(id).
    public func share(for id: ParticipantID) -> SecretShare { SecretShare(id: id, value: evaluate(at: id.scalar)) }

    /// Feldman commitments A_k = a_k·G to every coefficient.
    public var commitment: FeldmanCommitment { FeldmanCommitment(unchecked: coefficients.map(Point.generatorMultiple)) }

    public var description: String { "Polynomial(degree: \(coefficients.count - 1), coefficients: redacted)" }
}

/// Shamir secret sharing over the P-256 scalar field.
public enum Shamir {
    /// Checks a (t, n) pair: 1 ≤ t ≤ n ≤ 65535.
    public static func validate(threshold: Int, participants: Int) throws(ShardCryptoError) {
        guard threshold >= 1 else { throw ShardCryptoError(.invalidParameters, "the threshold must be at least 1, got \(threshold)") }
        guard participants >= threshold else {
            throw ShardCryptoError(.invalidParameters, "\(participants) participants cannot meet a threshold of \(threshold)")
        }
        guard participants <= Int(UInt16.max) else {
            throw ShardCryptoError(.invalidParameters, "at most \(UInt16.max) participants, got \(participants)")
        }
    }

    /// Splits `secret` into `participants` shares (identifiers 1…n), any `threshold`
    /// of which recover it, with Feldman commitments that make every share verifiable.
    /// This is the *dealer* path (key import); key creation uses ``DKG`` so that no
    /// one ever holds the whole key.
    public static func split(secret: Scalar, threshold: Int, participants: Int) throws(ShardCryptoError) -> (shares: [SecretShare], commitment: FeldmanCommitment) {
        try validate(threshold: threshold, participants: participants)
        let polynomial = try Polynomial.random(constant: secret, threshold: threshold)
        let shares = try (1...participants).map { index throws(ShardCryptoError) in try polynomial.share(for: ParticipantID(UInt16(index))) }
        return (shares, polynomial.commitment)
    }

    /// The dealer path for a secret that must not outlive the call (keyshardd's `key import`):
    /// splits `secret` (32 bytes big-endian) for `participants` and hands each share to `seal`,
    /// which must turn it into something that is no longer secret (a ciphertext).
    ///
    /// ``split(secret:threshold:participants:)`` returns shares and leaves its polynomial's
    /// coefficients in freed heap memory; here the coefficients live in a buffer that is cleansed
    /// before it is freed, each share is cleansed once `seal` returned, and the scalar is decoded
    /// straight from `secret`'s wiped storage. The function is synchronous on purpose: called from
    /// an async function it keeps every secret value on the thread's stack, out of the task's frame
    /// (heap memory that is freed, not wiped, when the task ends). Copies Swift makes in registers
    /// or on the stack while computing are not wiped (see ``Scalar``).
    /// - Parameters:
    ///   - secret: the scalar, 32 bytes big-endian.
    ///   - threshold: t, the number of shares that recover it.
    ///   - participants: the identifiers (the evaluation points), distinct.
    ///   - seal: turns one share into its sealed form; must not keep the share.
    /// - Returns: the Feldman commitment and the sealed shares, in the order of `participants`.
    /// - Throws: ``ShardCryptoError/Code/invalidScalarEncoding``,
    ///   ``ShardCryptoError/Code/scalarOutOfRange`` or ``ShardCryptoError/Code/zeroScalar`` for an
    ///   unusable secret; ``ShardCryptoError/Code/invalidParameters`` or
    ///   ``ShardCryptoError/Code/duplicateParticipant`` for a bad threshold or participant set;
    ///   whatever `seal` throws.
    public static func deal<Sealed>(
        secret: SecretBytes, threshold: Int, participants: [ParticipantID], seal: (SecretShare) throws -> Sealed
    ) throws -> (commitment: FeldmanCommitment, sealed: [Sealed]) {
        try validate(threshold: threshold, participants: participants.count)
        try checkDistinct(participants)
        let coefficients = UnsafeMutableBufferPointer<Scalar>.allocate(capacity: threshold)
        coefficients.initialize(repeating: .zero)
        defer {
            OPENSSL_cleanse(UnsafeMutableRawPointer(coefficients.baseAddress!), threshold * MemoryLayout<Scalar>.stride)
            coefficients.deallocate()
        }
        coefficients[0] = try secret.withUnsafeBytes { bytes throws(ShardCryptoError) in try Scalar(bigEndian: bytes) }
        guard !coefficients[0].isZero else { throw ShardCryptoError(.zeroScalar, "the secret to deal is zero") }
        for index in 1..<threshold { coefficients[index] = .random() }
        let commitment = FeldmanCommitment(unchecked: coefficients.map(Point.generatorMultiple))
        var sealed: [Sealed] = []
        sealed.reserveCapacity(participants.count)
        for id in participants {
            // f(id) by Horner's rule, straight from the wiped buffer.
            var share = SecretShare(id: id, value: coefficients.reversed().reduce(Scalar.zero) { $0 * id.scalar + $1 })
            defer { withUnsafeMutableBytes(of: &share) { OPENSSL_cleanse($0.baseAddress, $0.count) } }
            sealed.append(try seal(share))
        }
        return (commitment, sealed)
    }

    /// Throws unless `ids` is non-empty and free of duplicates.
    public static func checkDistinct(_ ids: [ParticipantID]) throws(ShardCryptoError) {
        guard !ids.isEmpty else { throw ShardCryptoError(.invalidParameters, "the participant set is empty") }
        var seen = Set<ParticipantID>()
        for id in ids where !seen.insert(id).inserted {
            throw ShardCryptoError(.duplicateParticipant, "participant \(id) appears more than once")
        }
    }

    /// The Lagrange coefficient λ_id for interpolating at x = 0 over `set`:
    /// Π_{j≠id} x_j / (x_j − x_id) (RFC 9591 `derive_interpolating_value`).
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when `id` is not in `set`,
    ///   ``ShardCryptoError/Code/duplicateParticipant`` when `set` repeats an identifier.
    public static func lagrangeCoefficient(for id: ParticipantID, in set: [ParticipantID]) throws(ShardCryptoError) -> Scalar {
        try checkDistinct(set)
        guard set.contains(id) else { throw ShardCryptoError(.invalidParameters, "participant \(id) is not in the interpolation set") }
        var numerator = Scalar.one
        var denominator = Scalar.one
        for other in set where other != id {
            numerator = numerator * other.scalar
            denominator = denominator * (other.scalar - id.scalar)
        }
        return numerator * (try denominator.inverse())
    }

    /// Recovers f(0) from at least t shares. With fewer than t shares the result is
    /// simply some unrelated scalar: Shamir gives no error signal, so callers check
    /// the result against a public key when they have one.
    public static func interpolate(_ shares: [SecretShare]) throws(ShardCryptoError) -> Scalar {
        let ids = shares.map(\.id)
        var secret = Scalar.zero
        for share in shares {
            secret = secret + (try lagrangeCoefficient(for: share.id, in: ids)) * share.value
        }
        return secret
    }

    /// Σ λ_i·P_i: interpolation "in the exponent", for public shares or partial
    /// decryptions D_i = x_i·E.
    public static func interpolate(points: [(id: ParticipantID, point: Point)]) throws(ShardCryptoError) -> Point {
        let ids = points.map(\.id)
        let terms = try points.map { entry throws(ShardCryptoError) in
            (scalar: try lagrangeCoefficient(for: entry.id, in: ids), point: entry.point)
        }
        return Point.sumOfMultiples(terms)
    }
}

/// Feldman commitments A_0 … A_{t−1} to a sharing polynomial: public, and enough
/// to check any share and to compute any participant's public share.
public struct FeldmanCommitment: Sendable, Equatable, CustomStringConvertible {
    /// A_k = a_k·G, constant term first.
    public let coefficients: [Point]

    init(unchecked coefficients: [Point]) { self.coefficients = coefficients }

    /// Wraps received commitments.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when empty,
    ///   ``ShardCryptoError/Code/identityPoint`` when any is the identity.
    public init(coefficients: [Point]) throws(ShardCryptoError) {
        guard !coefficients.isEmpty else { throw ShardCryptoError(.invalidParameters, "a commitment needs at least one point") }
        guard !coefficients.contains(where: \.isIdentity) else {
            throw ShardCryptoError(.identityPoint, "a commitment point is the identity")
        }
        self.coefficients = coefficients
    }

    /// The threshold t of the committed polynomial.
    public var threshold: Int { coefficients.count }

    /// The public key A_0 = f(0)·G.
    public var publicKey: Point { coefficients[0] }

    /// X_id = Σ_k id^k·A_k = f(id)·G.
    public func publicShare(for id: ParticipantID) -> Point {
        let x = id.scalar
        var power = Scalar.one
        var terms: [(scalar: Scalar, point: Point)] = []
        for coefficient in coefficients {
            terms.append((power, coefficient))
            power = power * x
        }
        return Point.sumOfMultiples(terms)
    }

    /// Whether share·G equals the committed public share of its holder.
    public func verifies(_ share: SecretShare) -> Bool {
        share.publicShare == publicShare(for: share.id)
    }

    /// Throws ``ShardCryptoError/Code/invalidShare`` unless `share` matches.
    public func verify(_ share: SecretShare) throws(ShardCryptoError) {
        guard verifies(share) else {
            throw ShardCryptoError(.invalidShare, "the share for participant \(share.id) does not match the published commitments")
        }
    }

    /// Pointwise sum, the commitment to the sum of the polynomials (DKG, refresh).
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when the thresholds differ.
    public static func combine(_ commitments: [FeldmanCommitment]) throws(ShardCryptoError) -> FeldmanCommitment {
        guard let first = commitments.first else { throw ShardCryptoError(.invalidParameters, "nothing to combine") }
        guard commitments.allSatisfy({ $0.threshold == first.threshold }) else {
            throw ShardCryptoError(.invalidParameters, "commitments of different thresholds cannot be combined")
        }
        return FeldmanCommitment(unchecked: (0..<first.threshold).map { k in Point.sum(commitments.map { $0.coefficients[k] }) })
    }

    /// Concatenated 33-byte compressed points.
    public func serialized() throws(ShardCryptoError) -> [UInt8] { Array(try coefficients.map { point throws(ShardCryptoError) in try point.compressed() }.joined()) }

    /// Decodes concatenated 33-byte compressed points.
    public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
        guard !bytes.isEmpty, bytes.count % Point.compressedByteCount == 0 else {
            throw ShardCryptoError(.invalidPointEncoding, "a commitment is a non-empty list of 33-byte points, got \(bytes.count) bytes")
        }
        try self.init(coefficients: stride(from: 0, to: bytes.count, by: Point.compressedByteCount).map { offset throws(ShardCryptoError) in
            try Point(sec1: bytes[offset..<offset + Point.compressedByteCount])
        })
    }

    public var description: String { "FeldmanCommitment(threshold: \(threshold), publicKey: \(publicKey))" }
}
