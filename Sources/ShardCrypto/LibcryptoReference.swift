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
    public func deriveSharedSecret(with peer: LibcryptoReferenceKey) throws -> SecretBytes {
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
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
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
