/// Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B),
/// FIPS-197 §4.2, written so that the time taken never depends on the operands:
/// no table lookups indexed by secret bytes, no branches on them.
enum GF256 {
    /// The product a•b: shift-and-add over the eight bits of `b`, with masks in
    /// place of the branches a textbook `xtime` loop would take.
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a
        var b = b
        var product: UInt8 = 0
        for _ in 0..<8 {
            // 0xFF when the low bit of b is set, 0x00 otherwise.
            product ^= a & (0 &- (b & 1))
            // xtime: multiply by x, reducing by 0x1B when the top bit falls out.
            let overflow = 0 &- (a >> 7)
            a = (a << 1) ^ (0x1B & overflow)
            b >>= 1
        }
        return product
    }

    /// The inverse a^254 (a^255 = 1 for a ≠ 0), by a fixed square-and-multiply
    /// chain whose shape does not depend on `a`. Maps 0 to 0.
    static func inverse(_ a: UInt8) -> UInt8 {
        // 254 = 0b1111_1110: square-and-multiply over seven 1-bits, then one last square.
        var result: UInt8 = 1
        for _ in 0..<7 {
            result = multiply(multiply(result, result), a)
        }
        return multiply(result, result)
    }
}

/// One share of a byte string split with ``ByteShamir``: the evaluation point
/// `id` and one polynomial value per secret byte. Secret: never printed.
public struct ByteShare: Sendable, CustomStringConvertible, CustomReflectable {
    /// The evaluation point, 1…255 (0 is where the secret lives).
    public let id: UInt8
    /// f_k(id) for every byte position k of the secret.
    public let bytes: SecretBytes

    /// Pairs an identifier with share bytes.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when `id` is 0 or `bytes` is empty.
    public init(id: UInt8, bytes: SecretBytes) throws(ShardCryptoError) {
        guard id != 0 else {
            throw ShardCryptoError(
                .invalidParameters, "byte share identifier 0 is not allowed (0 is where the secret lives)")
        }
        guard bytes.count > 0 else {
            throw ShardCryptoError(.invalidParameters, "a byte share must hold at least one byte")
        }
        self.id = id
        self.bytes = bytes
    }

    /// Decodes the share encoding `id (1 byte) ‖ data`.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when shorter than two bytes or the id is 0.
    public init(serialized encoding: SecretBytes) throws(ShardCryptoError) {
        guard encoding.count >= 2 else {
            throw ShardCryptoError(.invalidParameters, "a byte share encoding is an id byte and at least one data byte")
        }
        let id = encoding.withUnsafeBytes { $0[0] }
        let data = encoding.withUnsafeBytes { raw in SecretBytes(raw[1...]) }
        try self.init(id: id, bytes: data)
    }

    /// The encoding `id (1 byte) ‖ data`, in wiped storage.
    public func serialized() -> SecretBytes {
        SecretBytes(count: bytes.count + 1) { buffer in
            buffer[0] = id
            bytes.withUnsafeBytes { data in UnsafeMutableRawBufferPointer(rebasing: buffer[1...]).copyMemory(from: data)
            }
        }
    }

    public var description: String { "ByteShare(id: \(id), \(bytes.count) bytes, redacted)" }
    public var customMirror: Mirror { Mirror(self, children: ["id": id]) }
}

/// Shamir secret sharing of raw bytes (for example a 32-byte AES-256 key), byte by
/// byte over GF(2^8): for escrow, import and export of keys that cannot be used in
/// threshold form. Each byte position gets its own random polynomial of degree
/// t − 1; share `id` holds every polynomial's value at `id`.
///
/// The shares carry no integrity protection: a wrong or tampered share yields a
/// wrong secret without an error, so callers authenticate shares (or check the
/// recovered key) themselves.
public enum ByteShamir {
    /// Splits `secret` into `shares` shares with identifiers 1…`shares`, any `threshold`
    /// of which recover it and fewer of which reveal nothing about it.
    /// - Parameters:
    ///   - secret: the bytes to split, at least one.
    ///   - threshold: t, 1 ≤ t ≤ `shares`.
    ///   - shares: n, at most 255 (the non-zero elements of GF(2^8)).
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for an empty secret or an unusable (t, n).
    public static func split(secret: SecretBytes, threshold: Int, shares: Int) throws(ShardCryptoError) -> [ByteShare] {
        try validate(secret: secret, threshold: threshold, shares: shares)
        // Coefficients a_1 … a_{t−1} for every byte position, uniformly random
        // (zero included: that is what makes t − 1 shares independent of the secret).
        let randomness = SecretBytes.random(count: (threshold - 1) * secret.count)
        return try split(secret: secret, threshold: threshold, shares: shares, coefficients: randomness)
    }

    /// The split with caller-chosen coefficients, for fixed test vectors:
    /// `coefficients` holds a_1 for every byte position, then a_2, and so on.
    static func split(secret: SecretBytes, threshold: Int, shares: Int, coefficients: SecretBytes) throws(ShardCryptoError) -> [ByteShare]
    {
        try validate(secret: secret, threshold: threshold, shares: shares)
        guard coefficients.count == (threshold - 1) * secret.count else {
            throw ShardCryptoError(
                .invalidParameters,
                "expected \((threshold - 1) * secret.count) coefficient bytes, got \(coefficients.count)")
        }
        let length = secret.count
        return try (1...shares).map { index throws(ShardCryptoError) in
            let x = UInt8(index)
            let values = SecretBytes(count: length) { output in
                secret.withUnsafeBytes { constant in
                    coefficients.withUnsafeBytes { higher in
                        for position in 0..<length {
                            // Horner's rule from a_{t−1} down to a_0.
                            var value: UInt8 = 0
                            for degree in stride(from: threshold - 1, through: 1, by: -1) {
                                value = GF256.multiply(value, x) ^ higher[(degree - 1) * length + position]
                            }
                            output[position] = GF256.multiply(value, x) ^ constant[position]
                        }
                    }
                }
            }
            return try ByteShare(id: x, bytes: values)
        }
    }

    /// Recovers the secret from at least t shares by Lagrange interpolation at 0.
    ///
    /// With fewer than t shares the result is an unrelated byte string, not an
    /// error: Shamir sharing has no way to tell.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for no shares,
    ///   ``ShardCryptoError/Code/duplicateParticipant`` when an id repeats,
    ///   ``ShardCryptoError/Code/invalidShare`` when the shares differ in length.
    public static func combine(_ shares: [ByteShare]) throws(ShardCryptoError) -> SecretBytes {
        guard let first = shares.first else { throw ShardCryptoError(.invalidParameters, "no byte shares to combine") }
        var seen = Set<UInt8>()
        for share in shares {
            guard seen.insert(share.id).inserted else {
                throw ShardCryptoError(.duplicateParticipant, "byte share \(share.id) appears more than once")
            }
            guard share.bytes.count == first.bytes.count else {
                throw ShardCryptoError(
                    .invalidShare,
                    "byte share \(share.id) holds \(share.bytes.count) bytes but share \(first.id) holds "
                        + "\(first.bytes.count): they are not from one split"
                )
            }
        }
        // λ_i = Π_{j≠i} x_j / (x_j − x_i); subtraction is XOR in characteristic 2.
        // The ids are public, so these need not be constant time, but they are anyway.
        let lagrange: [UInt8] = shares.map { share in
            var numerator: UInt8 = 1
            var denominator: UInt8 = 1
            for other in shares where other.id != share.id {
                numerator = GF256.multiply(numerator, other.id)
                denominator = GF256.multiply(denominator, other.id ^ share.id)
            }
            return GF256.multiply(numerator, GF256.inverse(denominator))
        }
        let length = first.bytes.count
        return SecretBytes(count: length) { output in
            for position in 0..<length { output[position] = 0 }
            for (share, coefficient) in zip(shares, lagrange) {
                share.bytes.withUnsafeBytes { values in
                    for position in 0..<length {
                        output[position] ^= GF256.multiply(values[position], coefficient)
                    }
                }
            }
        }
    }

    static func validate(secret: SecretBytes, threshold: Int, shares: Int) throws(ShardCryptoError) {
        guard secret.count > 0 else { throw ShardCryptoError(.invalidParameters, "the secret to split is empty") }
        guard threshold >= 1 else {
            throw ShardCryptoError(.invalidParameters, "the threshold must be at least 1, got \(threshold)")
        }
        guard shares >= threshold else {
            throw ShardCryptoError(.invalidParameters, "\(shares) shares cannot meet a threshold of \(threshold)")
        }
        guard shares <= 255 else {
            throw ShardCryptoError(.invalidParameters, "GF(2^8) allows at most 255 shares, got \(shares)")
        }
    }
}
