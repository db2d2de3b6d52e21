internal import COpenSSL

/// RSA-OAEP encryption with SHA-256 (and MGF1-SHA-256) and an explicit label, which swift-crypto
/// does not offer. TPM 2.0 needs it: MakeCredential encrypts its seed to an RSA EK with the label
/// "IDENTITY\0" (TPM 2.0 Part 1 §24, Annex B.10.3).
public enum RSAOAEP {
    /// Encrypts a short message to an RSA public key.
    /// - Parameters:
    ///   - message: the plaintext (at most the modulus size − 66 bytes).
    ///   - publicKeyDER: the key as a DER SubjectPublicKeyInfo.
    ///   - label: the OAEP label, including any terminating NUL the protocol counts.
    /// - Returns: the ciphertext, the size of the modulus.
    /// - Throws: ``ShardCryptoError`` `.invalidKeyEncoding` when the key is not an RSA SubjectPublicKeyInfo,
    ///   `.encryptionFailed` when libcrypto refuses the message.
    public static func encryptSHA256(
        _ message: [UInt8], publicKeyDER: [UInt8], label: [UInt8]
    ) throws(ShardCryptoError) -> [UInt8] {
        let key: OpaquePointer? = publicKeyDER.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let key, EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            if let key { EVP_PKEY_free(key) }
            ERR_clear_error()
            throw ShardCryptoError(.invalidKeyEncoding, "The RSA public key is not a DER SubjectPublicKeyInfo.")
        }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_PKEY_CTX_new(key, nil) else {
            throw ShardCryptoError(.libcryptoFailure, "EVP_PKEY_CTX_new failed.")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_encrypt_init(context) == 1,
              EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) == 1
        else {
            ERR_clear_error()
            throw ShardCryptoError(.encryptionFailed, "libcrypto refused the RSA-OAEP parameters.")
        }
        if !label.isEmpty {
            // libcrypto takes ownership of the label buffer.
            guard let copy = CRYPTO_malloc(label.count, "RSAOAEP.swift", 0) else {
                throw ShardCryptoError(.libcryptoFailure, "Out of memory for the OAEP label.")
            }
            label.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: label.count) }
            guard EVP_PKEY_CTX_set0_rsa_oaep_label(context, copy, Int32(label.count)) == 1 else {
                CRYPTO_free(copy, "RSAOAEP.swift", 0)
                ERR_clear_error()
                throw ShardCryptoError(.encryptionFailed, "libcrypto refused the OAEP label.")
            }
        }
        var length = 0
        guard EVP_PKEY_encrypt(context, nil, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw ShardCryptoError(.encryptionFailed, "The message is too long for RSA-OAEP with this key.")
        }
        var ciphertext = [UInt8](repeating: 0, count: length)
        guard EVP_PKEY_encrypt(context, &ciphertext, &length, message, message.count) == 1 else {
            ERR_clear_error()
            throw ShardCryptoError(.encryptionFailed, "The message is too long for RSA-OAEP with this key.")
        }
        return Array(ciphertext.prefix(length))
    }
}
