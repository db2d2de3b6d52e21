internal import COpenSSL

/// An element of the P-256 scalar field, the integers modulo the group order n.
///
/// Every scalar is treated as secret. The value is four 64-bit limbs of
/// ``ScalarField`` (Montgomery form), and every operation on it — decoding with
/// its range check, `+`, `-`, `*`, negation, inversion, reduction of hash
/// outputs, equality, `isZero` — runs in time independent of the value. It is
/// never shown by `description`, `debugDescription` or `dump`. Values are
/// immutable; arithmetic returns new scalars.
///
/// A scalar is a plain value type: Swift may copy it to registers, the stack or
/// the heap, and those copies are not wiped. What this type controls — byte
/// encodings, the temporary `BIGNUM` handed to libcrypto for point
/// multiplication — lives in wiped storage (``SecretBytes``, the secure heap,
/// `BN_clear_free`).
public struct Scalar: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The length of the fixed-width big-endian encoding.
    public static let byteCount = 32

    let element: ScalarField.Element

    init(element: ScalarField.Element) { self.element = element }

    /// Decodes a 32-byte big-endian scalar (RFC 9591 `DeserializeScalar`).
    ///
    /// The range check is the borrow of value − n, not a comparison that stops at
    /// the first differing byte; only the outcome (accepted or refused) is visible.
    /// - Throws: ``ShardCryptoError/Code/invalidScalarEncoding`` when the length is not 32,
    ///   ``ShardCryptoError/Code/scalarOutOfRange`` when the value is not below n.
    public init(bigEndian bytes: some Collection<UInt8>) throws(ShardCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw ShardCryptoError(.invalidScalarEncoding, "a scalar is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        let (element, isBelowOrder) = SecretBytes(bytes).withUnsafeBytes { ScalarField.decode($0) }
        guard isBelowOrder == 1 else {
            throw ShardCryptoError(.scalarOutOfRange, "a scalar must be less than the P-256 group order")
        }
        self.element = element
    }

    /// Reduces a big-endian integer of any length modulo n. Used for hash outputs
    /// (48 bytes give a bias below 2⁻¹²⁸, as RFC 9380 `hash_to_field` requires).
    public init(reducing bytes: some Collection<UInt8>) {
        self.init(reducing: SecretBytes(bytes))
    }

    /// Reduces big-endian bytes held in wiped storage, read in place.
    init(reducing bytes: SecretBytes) {
        self.element = bytes.withUnsafeBytes { ScalarField.reduce(bigEndian: $0) }
    }

    /// A small integer, such as a participant identifier.
    public init(_ value: UInt64) {
        self.element = ScalarField.fromPlain(ScalarField.Element(value, 0, 0, 0))
    }

    /// Zero, the additive identity.
    public static var zero: Scalar { Scalar(element: .zero) }
    /// One, the multiplicative identity.
    public static var one: Scalar { Scalar(element: .one) }

    /// A uniformly random non-zero scalar from libcrypto's private DRBG
    /// (`RAND_priv_bytes`): 32 bytes, drawn again when they encode 0 or a value
    /// ≥ n (probability about 2⁻³²), so the result is exactly uniform on [1, n − 1].
    public static func random() -> Scalar {
        while true {
            let drawn = SecretBytes.random(count: byteCount)
            let (element, isBelowOrder) = drawn.withUnsafeBytes { ScalarField.decode($0) }
            // Only the accept/redraw decision is visible, and a redrawn value is discarded.
            if isBelowOrder & (1 ^ ScalarField.isZero(element)) == 1 { return Scalar(element: element) }
        }
    }

    /// Whether this is the zero scalar (all limbs examined, no early exit).
    public var isZero: Bool { ScalarField.isZero(element) == 1 }

    /// The 32-byte big-endian encoding (RFC 9591 `SerializeScalar`).
    ///
    /// The returned array is ordinary memory: for secret scalars prefer
    /// ``secretBytes()``, whose storage is wiped.
    public func serialized() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.byteCount) { buffer, initialized in
            ScalarField.encode(element, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = Self.byteCount
        }
    }

    /// The 32-byte big-endian encoding in wiped storage.
    public func secretBytes() -> SecretBytes {
        SecretBytes(count: Self.byteCount) { ScalarField.encode(element, into: $0) }
    }

    /// Calls `body` with a temporary `BIGNUM` holding this scalar, for the libcrypto
    /// calls that need one (point multiplication), and clears and frees it afterwards.
    ///
    /// The `BIGNUM` carries `BN_FLG_CONSTTIME` and keeps its limbs on libcrypto's secure
    /// heap (`BN_secure_new`); the 32-byte encoding it is built from sits in a stack
    /// buffer that is cleansed.
    /// `BN_bin2bn` itself is not constant time: it skips leading zero bytes, so its
    /// running time and the `BIGNUM`'s width reveal how many leading zero bytes the
    /// value has (the top byte is zero with probability 1/256). Do not let the
    /// pointer escape `body`.
    func withBigNum<R, E: Error>(_ body: (OpaquePointer) throws(E) -> R) throws(E) -> R {
        SecureHeap.ensureInitialized()
        guard let value = BN_secure_new() else { fatalError("BN_secure_new: out of memory") }
        defer { BN_clear_free(value) }
        BN_set_flags(value, BN_FLG_CONSTTIME)
        withUnsafeTemporaryAllocation(byteCount: Self.byteCount, alignment: 8) { buffer in
            defer { OPENSSL_cleanse(buffer.baseAddress, Self.byteCount) }
            ScalarField.encode(element, into: buffer)
            precondition(
                BN_bin2bn(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(Self.byteCount), value) != nil,
                "BN_bin2bn: out of memory")
        }
        return try body(value)
    }

    /// ``withBigNum(_:)`` for several scalars at once, in order (for multi-scalar multiplication).
    static func withBigNums<R>(_ scalars: [Scalar], _ body: ([OpaquePointer]) -> R) -> R {
        SecureHeap.ensureInitialized()
        var bigNums: [OpaquePointer] = []
        bigNums.reserveCapacity(scalars.count)
        defer { for value in bigNums { BN_clear_free(value) } }
        withUnsafeTemporaryAllocation(byteCount: Self.byteCount, alignment: 8) { buffer in
            defer { OPENSSL_cleanse(buffer.baseAddress, Self.byteCount) }
            for scalar in scalars {
                guard let value = BN_secure_new() else { fatalError("BN_secure_new: out of memory") }
                bigNums.append(value)
                BN_set_flags(value, BN_FLG_CONSTTIME)
                ScalarField.encode(scalar.element, into: buffer)
                precondition(
                    BN_bin2bn(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(Self.byteCount), value) != nil,
                    "BN_bin2bn: out of memory")
            }
        }
        return body(bigNums)
    }

    /// Sum modulo n.
    public static func + (lhs: Scalar, rhs: Scalar) -> Scalar {
        Scalar(element: ScalarField.add(lhs.element, rhs.element))
    }
    /// Difference modulo n.
    public static func - (lhs: Scalar, rhs: Scalar) -> Scalar {
        Scalar(element: ScalarField.subtract(lhs.element, rhs.element))
    }
    /// Product modulo n.
    public static func * (lhs: Scalar, rhs: Scalar) -> Scalar {
        Scalar(element: ScalarField.multiply(lhs.element, rhs.element))
    }
    /// Additive inverse modulo n.
    public static prefix func - (value: Scalar) -> Scalar { Scalar(element: ScalarField.negate(value.element)) }

    /// The multiplicative inverse, computed as a^(n−2) by a fixed sequence of
    /// Montgomery squarings and multiplications (the exponent is public).
    /// - Throws: ``ShardCryptoError/Code/zeroScalar`` for zero.
    public func inverse() throws(ShardCryptoError) -> Scalar {
        guard !isZero else { throw ShardCryptoError(.zeroScalar, "zero has no inverse") }
        return Scalar(element: ScalarField.inverse(element))
    }

    /// Constant-time equality: every limb is compared, whatever the values.
    public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
        ScalarField.equal(lhs.element, rhs.element) == 1
    }

    /// `Scalar(redacted)`: the value is never shown.
    public var description: String { "Scalar(redacted)" }
    /// `Scalar(redacted)`: the value is never shown.
    public var debugDescription: String { description }
    /// An empty mirror, so `dump` and reflection show no limbs.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
