internal import COpenSSL

/// An ordinary, whole P-256 key held by the system's OpenSSL libcrypto: the
/// single-key baseline that keyshard's threshold operations are benchmarked
/// against (`make bench`). Not used for keyshard's own keys, which never exist whole.
public final class LibcryptoReferenceKey: @unchecked Sendable {
    // The EVP_PKEY is never mutated after keygen; libcrypto allows concurrent use of a const key.
    private let key: OpaquePointer

    /// Generates a fresh P-256 key with `EVP_PKEY_keygen`.
    public init() {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { fatalError("EVP_PKEY_CTX_new_id failed") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1,
            EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, COpenSSL_NID_P256()) == 1,
            EVP_PKEY_keygen(context, &key) == 1, let key
        else { fatalError("P-256 key generation failed in libcrypto") }
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// ECDH with `peer`'s public key (`EVP_PKEY_derive`): the 32-byte x-coordinate.
    public func deriveSharedSecret(with peer: LibcryptoReferenceKey) throws(ShardCryptoError) -> SecretBytes {
        guard let context = EVP_PKEY_CTX_new(key, nil) else { fatalError("EVP_PKEY_CTX_new failed") }
        defer { EVP_PKEY_CTX_free(context) }
        var length = 32
        let secret = SecretBytes(count: 32) { buffer in
            guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peer.key) == 1,
                EVP_PKEY_derive(context, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), &length) == 1
            else { length = 0; return }
        }
        guard length == 32 else {
            ERR_clear_error()
            throw ShardCryptoError(.libcryptoFailure, "EVP_PKEY_derive failed")
        }
        return secret
    }

    /// ECDSA P-256 with SHA-256 (`EVP_DigestSign`); a DER-encoded signature.
    public func sign(_ message: [UInt8]) throws(ShardCryptoError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 80)
        var length = signature.count
        let ok = signature.withUnsafeMutableBufferPointer { out in
            message.withUnsafeBufferPointer { input in
                EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1
                    && EVP_DigestSign(context, out.baseAddress, &length, input.baseAddress, input.count) == 1
            }
        }
        guard ok else {
            ERR_clear_error()
            throw ShardCryptoError(.libcryptoFailure, "EVP_DigestSign failed")
        }
        return Array(signature.prefix(length))
    }

    /// Verifies a DER ECDSA P-256/SHA-256 signature (`EVP_DigestVerify`).
    public func verify(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        let result = signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { input in
                EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1
                    && EVP_DigestVerify(context, sig.baseAddress, sig.count, input.baseAddress, input.count) == 1
            }
        }
        ERR_clear_error()
        return result
    }
}

/// Arithmetic modulo the P-256 group order with OpenSSL's generic `BIGNUM` functions
/// (`BN_mod_add`, `BN_mod_sub`, `BN_mod_mul`, `BN_nnmod`, `BN_mod_exp_mont_consttime`),
/// as ``Scalar`` computed before it moved to its fixed-width field.
///
/// Reference and benchmark use only: the tests check ``Scalar`` against it on many
/// inputs, and `make bench` times both. `BN_mod_add`/`BN_mod_mul` are not constant
/// time, so keyshard never puts its own secrets in one.
public struct LibcryptoReferenceScalar: Sendable, Equatable {
    let value: BigNum

    private init(value: BigNum) { self.value = value }

    /// The 32-byte big-endian `bytes`, or nil when they encode a value ≥ n (`BN_cmp`).
    public init?(canonical bytes: [UInt8]) {
        precondition(bytes.count == 32, "a scalar is 32 bytes")
        let value = BigNum()
        bytes.withUnsafeBufferPointer { precondition(BN_bin2bn($0.baseAddress, 32, value.pointer) != nil) }
        guard BN_cmp(value.pointer, P256Group.order) < 0 else { return nil }
        self.value = value
    }

    /// A big-endian integer of any length reduced modulo n (`BN_nnmod`).
    public init(reducing bytes: [UInt8]) {
        let wide = BigNum()
        bytes.withUnsafeBufferPointer {
            precondition(BN_bin2bn($0.baseAddress, Int32($0.count), wide.pointer) != nil)
        }
        let value = BigNum()
        withBNContext { checkLibcrypto(BN_nnmod(value.pointer, wide.pointer, P256Group.order, $0), "BN_nnmod") }
        self.value = value
    }

    /// The 32-byte big-endian encoding (`BN_bn2binpad`).
    public func serialized() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeMutableBufferPointer { precondition(BN_bn2binpad(value.pointer, $0.baseAddress, 32) == 32) }
        return bytes
    }

    private static func binary(
        _ lhs: Self, _ rhs: Self,
        _ operation: (OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer) -> Int32,
        _ name: StaticString
    ) -> Self {
        let result = BigNum()
        withBNContext { context in
            checkLibcrypto(
                operation(result.pointer, lhs.value.pointer, rhs.value.pointer, P256Group.order, context), name)
        }
        return Self(value: result)
    }

    /// Sum modulo n (`BN_mod_add`).
    public static func + (lhs: Self, rhs: Self) -> Self {
        binary(lhs, rhs, { BN_mod_add($0, $1, $2, $3, $4) }, "BN_mod_add")
    }
    /// Difference modulo n (`BN_mod_sub`).
    public static func - (lhs: Self, rhs: Self) -> Self {
        binary(lhs, rhs, { BN_mod_sub($0, $1, $2, $3, $4) }, "BN_mod_sub")
    }
    /// Product modulo n (`BN_mod_mul`).
    public static func * (lhs: Self, rhs: Self) -> Self {
        binary(lhs, rhs, { BN_mod_mul($0, $1, $2, $3, $4) }, "BN_mod_mul")
    }
    /// Additive inverse modulo n: 0 − value.
    public static prefix func - (value: Self) -> Self { Self(reducing: [0]) - value }

    /// a^(n−2) mod n with `BN_mod_exp_mont_consttime`: the inverse, and zero for zero.
    public func inverse() -> Self {
        let result = BigNum()
        withBNContext { context in
            checkLibcrypto(
                BN_mod_exp_mont_consttime(
                    result.pointer, value.pointer, P256Group.orderMinusTwo.pointer, P256Group.order, context, nil),
                "BN_mod_exp_mont_consttime")
        }
        return Self(value: result)
    }

    /// Equality of the values (`BN_cmp`).
    public static func == (lhs: Self, rhs: Self) -> Bool { BN_cmp(lhs.value.pointer, rhs.value.pointer) == 0 }
}
