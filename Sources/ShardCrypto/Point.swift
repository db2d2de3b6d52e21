internal import COpenSSL

/// A point of the P-256 group (an element of the prime-order group, or the identity).
///
/// Decoding rejects the identity, off-curve points and malformed encodings, so a
/// ``Point`` that came from the wire is always a valid non-identity element.
/// The identity can only arise from arithmetic (for example a sum that cancels)
/// and cannot be serialized.
public struct Point: Sendable, Equatable, CustomStringConvertible {
    /// Length of the compressed SEC1 encoding.
    public static let compressedByteCount = 33
    /// Length of the uncompressed SEC1 encoding.
    public static let uncompressedByteCount = 65

    final class Storage: @unchecked Sendable {
        // Built once by the owner, never mutated once published.
        let pointer: OpaquePointer

        init() {
            guard let pointer = EC_POINT_new(P256Group.group) else { fatalError("EC_POINT_new: out of memory") }
            self.pointer = pointer
        }

        deinit { EC_POINT_free(pointer) }
    }

    let storage: Storage

    init(storage: Storage) { self.storage = storage }

    /// The standard generator G.
    public static let generator: Point = {
        let storage = Storage()
        precondition(EC_POINT_copy(storage.pointer, EC_GROUP_get0_generator(P256Group.group)) == 1)
        return Point(storage: storage)
    }()

    /// The identity element (point at infinity).
    public static let identity: Point = {
        let storage = Storage()
        precondition(EC_POINT_set_to_infinity(P256Group.group, storage.pointer) == 1)
        return Point(storage: storage)
    }()

    /// Decodes a SEC1 point, compressed (33 bytes, `02`/`03`) or uncompressed
    /// (65 bytes, `04`), as RFC 9591 `DeserializeElement` and RFC 9180
    /// `DeserializePublicKey` require.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for the identity encoding,
    ///   ``ShardCryptoError/Code/invalidPointEncoding`` for a wrong length or prefix
    ///   (including the hybrid forms `06`/`07`), and
    ///   ``ShardCryptoError/Code/pointNotOnCurve`` when the coordinates are not on P-256.
    public init(sec1 bytes: some Collection<UInt8>) throws(ShardCryptoError) {
        let bytes = Array(bytes)
        guard let prefix = bytes.first else {
            throw ShardCryptoError(.invalidPointEncoding, "an empty point encoding")
        }
        switch (prefix, bytes.count) {
        case (0x00, 1):
            throw ShardCryptoError(.identityPoint, "the identity element is not a valid public value")
        case (0x02, Self.compressedByteCount), (0x03, Self.compressedByteCount), (0x04, Self.uncompressedByteCount):
            break
        case (0x02, _), (0x03, _):
            throw ShardCryptoError(.invalidPointEncoding, "a compressed point is \(Self.compressedByteCount) bytes, got \(bytes.count)")
        case (0x04, _):
            throw ShardCryptoError(.invalidPointEncoding, "an uncompressed point is \(Self.uncompressedByteCount) bytes, got \(bytes.count)")
        default:
            throw ShardCryptoError(.invalidPointEncoding, "unsupported point prefix 0x\(String(prefix, radix: 16)) (expected 02, 03 or 04)")
        }
        let storage = Storage()
        let decoded = withBNContext { context in
            bytes.withUnsafeBufferPointer { buffer in
                EC_POINT_oct2point(P256Group.group, storage.pointer, buffer.baseAddress, buffer.count, context)
            }
        }
        ERR_clear_error()
        guard decoded == 1,
            withBNContext({ EC_POINT_is_on_curve(P256Group.group, storage.pointer, $0) }) == 1
        else {
            throw ShardCryptoError(.pointNotOnCurve, "the encoded coordinates are not a point on P-256")
        }
        guard EC_POINT_is_at_infinity(P256Group.group, storage.pointer) == 0 else {
            throw ShardCryptoError(.identityPoint, "the identity element is not a valid public value")
        }
        self.storage = storage
    }

    /// Whether this is the identity element.
    public var isIdentity: Bool { EC_POINT_is_at_infinity(P256Group.group, storage.pointer) == 1 }

    private func encode(_ form: point_conversion_form_t, count: Int) throws(ShardCryptoError) -> [UInt8] {
        guard !isIdentity else {
            throw ShardCryptoError(.identityPoint, "the identity element has no encoding")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        let written = withBNContext { context in
            bytes.withUnsafeMutableBufferPointer { buffer in
                EC_POINT_point2oct(P256Group.group, storage.pointer, form, buffer.baseAddress, count, context)
            }
        }
        precondition(written == count, "EC_POINT_point2oct wrote \(written) bytes")
        return bytes
    }

    /// The 33-byte compressed SEC1 encoding (RFC 9591 `SerializeElement`).
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for the identity.
    public func compressed() throws(ShardCryptoError) -> [UInt8] { try encode(POINT_CONVERSION_COMPRESSED, count: Self.compressedByteCount) }

    /// The 65-byte uncompressed SEC1 encoding (RFC 9180 `SerializePublicKey`).
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for the identity.
    public func uncompressed() throws(ShardCryptoError) -> [UInt8] { try encode(POINT_CONVERSION_UNCOMPRESSED, count: Self.uncompressedByteCount) }

    /// The 32-byte big-endian affine x-coordinate: the Diffie–Hellman value of
    /// RFC 9180 DHKEM(P-256).
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for the identity.
    public func affineX() throws(ShardCryptoError) -> SecretBytes {
        guard !isIdentity else { throw ShardCryptoError(.identityPoint, "the identity element has no coordinates") }
        let x = BigNum()
        withBNContext { context in
            checkLibcrypto(EC_POINT_get_affine_coordinates(P256Group.group, storage.pointer, x.pointer, nil, context), "EC_POINT_get_affine_coordinates")
        }
        return SecretBytes(count: 32) { buffer in
            precondition(BN_bn2binpad(x.pointer, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), 32) == 32)
        }
    }

    /// Group addition.
    public static func + (lhs: Point, rhs: Point) -> Point {
        let result = Storage()
        withBNContext { context in
            checkLibcrypto(EC_POINT_add(P256Group.group, result.pointer, lhs.storage.pointer, rhs.storage.pointer, context), "EC_POINT_add")
        }
        return Point(storage: result)
    }

    /// The inverse element.
    public static prefix func - (value: Point) -> Point {
        let result = Storage()
        precondition(EC_POINT_copy(result.pointer, value.storage.pointer) == 1)
        withBNContext { context in
            checkLibcrypto(EC_POINT_invert(P256Group.group, result.pointer, context), "EC_POINT_invert")
        }
        return Point(storage: result)
    }

    /// Group subtraction.
    public static func - (lhs: Point, rhs: Point) -> Point { lhs + (-rhs) }

    /// Scalar multiplication k·P.
    ///
    /// The scalar is handed to libcrypto as a temporary `BN_FLG_CONSTTIME` `BIGNUM`
    /// (``Scalar/withBigNum(_:)``), and libcrypto's P-256 implementation multiplies
    /// with a fixed-window, constant-time ladder, so the multiplication's time does
    /// not depend on a secret scalar (the conversion to `BIGNUM` is discussed there).
    public static func * (scalar: Scalar, point: Point) -> Point {
        let result = Storage()
        scalar.withBigNum { k in
            withBNContext { context in
                checkLibcrypto(
                    EC_POINT_mul(P256Group.group, result.pointer, nil, point.storage.pointer, k, context), "EC_POINT_mul")
            }
        }
        return Point(storage: result)
    }

    /// Fixed-base multiplication k·G, using libcrypto's precomputed generator table
    /// (constant time).
    public static func generatorMultiple(_ scalar: Scalar) -> Point {
        let result = Storage()
        scalar.withBigNum { k in
            withBNContext { context in
                checkLibcrypto(EC_POINT_mul(P256Group.group, result.pointer, k, nil, nil, context), "EC_POINT_mul")
            }
        }
        return Point(storage: result)
    }

    /// Σ kᵢ·Pᵢ (+ g·G) as one multi-scalar multiplication: libcrypto's P-256 code shares the
    /// doublings of all terms, so n terms cost about 1 + n/4 single multiplications rather
    /// than n (measured in `make bench`). The coordinator's checks of public values use it:
    /// batch proof verification and interpolation in the exponent.
    ///
    /// Each term's scalar goes to libcrypto as a constant-time `BIGNUM`, as in
    /// ``*(_:_:)``, and libcrypto's P-256 windowed multiplication does not branch on
    /// scalars; still, callers pass public or verifier-chosen scalars only.
    /// - Parameters:
    ///   - terms: (kᵢ, Pᵢ) pairs; may be empty.
    ///   - generator: g, the coefficient of G (which uses libcrypto's precomputed table).
    /// - Returns: the sum; the identity when there are no terms and no `generator`.
    public static func sumOfMultiples(_ terms: [(scalar: Scalar, point: Point)], generator: Scalar? = nil) -> Point {
        let result = Storage()
        guard !terms.isEmpty || generator != nil else {
            precondition(EC_POINT_set_to_infinity(P256Group.group, result.pointer) == 1)
            return Point(storage: result)
        }
        let scalars = (generator.map { [$0] } ?? []) + terms.map(\.scalar)
        Scalar.withBigNums(scalars) { bigNums in
            let generatorBigNum: OpaquePointer? = generator == nil ? nil : bigNums[0]
            var termBigNums: [OpaquePointer?] = generator == nil ? bigNums : Array(bigNums.dropFirst())
            var points: [OpaquePointer?] = terms.map { $0.point.storage.pointer }
            withBNContext { context in
                points.withUnsafeMutableBufferPointer { pointBuffer in
                    termBigNums.withUnsafeMutableBufferPointer { scalarBuffer in
                        checkLibcrypto(
                            COpenSSL_EC_POINTs_mul(
                                P256Group.group, result.pointer, generatorBigNum, terms.count, pointBuffer.baseAddress,
                                scalarBuffer.baseAddress, context),
                            "EC_POINTs_mul")
                    }
                }
            }
            withExtendedLifetime(terms) {}
        }
        return Point(storage: result)
    }

    /// The sum of points; the identity for an empty sequence.
    public static func sum(_ points: some Sequence<Point>) -> Point {
        points.reduce(.identity, +)
    }

    public static func == (lhs: Point, rhs: Point) -> Bool {
        withBNContext { EC_POINT_cmp(P256Group.group, lhs.storage.pointer, rhs.storage.pointer, $0) } == 0
    }

    /// The compressed encoding in hex, or `identity`. Points are public values.
    public var description: String {
        guard let bytes = try? compressed() else { return "Point(identity)" }
        return "Point(\(bytes.hexString))"
    }
}
