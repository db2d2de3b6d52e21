internal import COpenSSL

/// An element of the P-256 scalar field, the integers modulo the group order n.
///
/// Every scalar is treated as secret: storage is a `BIGNUM` with libcrypto's
/// constant-time flag, cleared on free, and never shown by `description`,
/// `debugDescription` or `dump`. Values are immutable; arithmetic returns new
/// scalars.
public struct Scalar: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The length of the fixed-width big-endian encoding.
    public static let byteCount = 32

    let storage: BigNum

    init(storage: BigNum) { self.storage = storage }

    /// Decodes a 32-byte big-endian scalar (RFC 9591 `DeserializeScalar`).
    /// - Throws: ``ShardCryptoError/Code/invalidScalarEncoding`` when the length is not 32,
    ///   ``ShardCryptoError/Code/scalarOutOfRange`` when the value is not below n.
    public init(bigEndian bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount else {
            throw ShardCryptoError(.invalidScalarEncoding, "a scalar is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        let value = BigNum()
        let buffer = SecretBytes(bytes)
        buffer.withUnsafeBytes { raw in
            precondition(BN_bin2bn(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(raw.count), value.pointer) != nil)
        }
        guard BN_cmp(value.pointer, P256Group.order) < 0 else {
            throw ShardCryptoError(.scalarOutOfRange, "a scalar must be less than the P-256 group order")
        }
        self.storage = value
    }

    /// Reduces a big-endian integer of any length modulo n. Used for hash outputs
    /// (48 bytes give a bias below 2⁻¹²⁸, as RFC 9380 `hash_to_field` requires).
    public init(reducing bytes: some Collection<UInt8>) {
        let wide = BigNum()
        let buffer = SecretBytes(bytes)
        buffer.withUnsafeBytes { raw in
            precondition(BN_bin2bn(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(raw.count), wide.pointer) != nil)
        }
        let value = BigNum()
        withBNContext { context in
            checkLibcrypto(BN_nnmod(value.pointer, wide.pointer, P256Group.order, context), "BN_nnmod")
        }
        self.storage = value
    }

    /// A small integer, such as a participant identifier.
    public init(_ value: UInt64) {
        let result = BigNum()
        checkLibcrypto(BN_set_word(result.pointer, UInt(value)), "BN_set_word")
        self.storage = result
    }

    /// Zero, the additive identity.
    public static var zero: Scalar { Scalar(0) }
    /// One, the multiplicative identity.
    public static var one: Scalar { Scalar(1) }

    /// A uniformly random non-zero scalar from libcrypto's private DRBG.
    public static func random() -> Scalar {
        while true {
            let value = BigNum()
            checkLibcrypto(BN_priv_rand_range(value.pointer, P256Group.order), "BN_priv_rand_range")
            if BN_is_zero(value.pointer) == 0 { return Scalar(storage: value) }
        }
    }

    /// Whether this is the zero scalar.
    public var isZero: Bool { BN_is_zero(storage.pointer) == 1 }

    /// The 32-byte big-endian encoding (RFC 9591 `SerializeScalar`).
    ///
    /// The returned array is ordinary memory: for secret scalars prefer
    /// ``secretBytes()``, whose storage is wiped.
    public func serialized() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.byteCount)
        bytes.withUnsafeMutableBufferPointer { buffer in
            precondition(BN_bn2binpad(storage.pointer, buffer.baseAddress, Int32(Self.byteCount)) == Int32(Self.byteCount))
        }
        return bytes
    }

    /// The 32-byte big-endian encoding in wiped storage.
    public func secretBytes() -> SecretBytes {
        SecretBytes(count: Self.byteCount) { buffer in
            precondition(
                BN_bn2binpad(storage.pointer, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(Self.byteCount))
                    == Int32(Self.byteCount))
        }
    }

    private static func binary(
        _ lhs: Scalar, _ rhs: Scalar,
        _ operation: (OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer) -> Int32,
        _ name: StaticString
    ) -> Scalar {
        let result = BigNum()
        withBNContext { context in
            checkLibcrypto(operation(result.pointer, lhs.storage.pointer, rhs.storage.pointer, P256Group.order, context), name)
        }
        return Scalar(storage: result)
    }

    /// Sum modulo n.
    public static func + (lhs: Scalar, rhs: Scalar) -> Scalar { binary(lhs, rhs, { BN_mod_add($0, $1, $2, $3, $4) }, "BN_mod_add") }
    /// Difference modulo n.
    public static func - (lhs: Scalar, rhs: Scalar) -> Scalar { binary(lhs, rhs, { BN_mod_sub($0, $1, $2, $3, $4) }, "BN_mod_sub") }
    /// Product modulo n.
    public static func * (lhs: Scalar, rhs: Scalar) -> Scalar { binary(lhs, rhs, { BN_mod_mul($0, $1, $2, $3, $4) }, "BN_mod_mul") }
    /// Additive inverse modulo n.
    public static prefix func - (value: Scalar) -> Scalar { .zero - value }

    /// The multiplicative inverse, computed as a^(n−2) with libcrypto's
    /// constant-time modular exponentiation.
    /// - Throws: ``ShardCryptoError/Code/zeroScalar`` for zero.
    public func inverse() throws -> Scalar {
        guard !isZero else { throw ShardCryptoError(.zeroScalar, "zero has no inverse") }
        let result = BigNum()
        withBNContext { context in
            checkLibcrypto(
                BN_mod_exp_mont_consttime(result.pointer, storage.pointer, P256Group.orderMinusTwo.pointer, P256Group.order, context, nil),
                "BN_mod_exp_mont_consttime")
        }
        return Scalar(storage: result)
    }

    /// Constant-time equality of the encodings.
    public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
        lhs.secretBytes().constantTimeEquals(rhs.secretBytes())
    }

    public var description: String { "Scalar(redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
