import Crypto

/// FROST(P-256, SHA-256), RFC 9591: two-round threshold Schnorr signatures.
///
/// Round one: every signer calls ``commit(share:)`` and publishes the
/// ``SigningCommitment``, keeping the ``SigningNonces``. Round two: the
/// coordinator sends the sorted commitment list and the message; every signer
/// calls ``sign(share:nonces:message:commitments:groupPublicKey:)``. The
/// coordinator checks each ``SignatureShare`` and combines them with
/// ``aggregate(shares:message:commitments:groupPublicKey:publicShares:)`` into a
/// ``Signature`` that anyone verifies with ``verify(signature:message:publicKey:)``.
public enum FROST {}

extension FROST {
    /// The ciphersuite's hash functions, RFC 9591 §6.4.
    ///
    /// H1, H2 and H3 are RFC 9380 `hash_to_field` into the scalar field with
    /// `expand_message_xmd(SHA-256)`; H4 and H5 are plain SHA-256. Every one is
    /// domain-separated by the context string.
    enum Ciphersuite {
        /// RFC 9591 §6.4 `contextString`.
        static let contextString = Array("FROST-P256-SHA256-v1".utf8)

        /// H1, for binding factors: DST = contextString ‖ "rho".
        static func h1(_ message: [UInt8]) -> Scalar {
            HashToScalar.hash(message, dst: contextString + Array("rho".utf8))
        }

        /// H2, for the challenge: DST = contextString ‖ "chal".
        static func h2(_ message: [UInt8]) -> Scalar {
            HashToScalar.hash(message, dst: contextString + Array("chal".utf8))
        }

        /// H3, for nonces: DST = contextString ‖ "nonce".
        static func h3(_ message: [UInt8]) -> Scalar {
            HashToScalar.hash(message, dst: contextString + Array("nonce".utf8))
        }

        /// H4, the message digest: SHA-256(contextString ‖ "msg" ‖ m).
        static func h4(_ message: [UInt8]) -> [UInt8] {
            digest(label: "msg", message)
        }

        /// H5, the commitment-list digest: SHA-256(contextString ‖ "com" ‖ m).
        static func h5(_ message: [UInt8]) -> [UInt8] {
            digest(label: "com", message)
        }

        private static func digest(label: String, _ message: [UInt8]) -> [UInt8] {
            var hasher = SHA256()
            hasher.update(data: contextString)
            hasher.update(data: Array(label.utf8))
            hasher.update(data: message)
            return Array(hasher.finalize())
        }

        /// RFC 9591 §4.1 `nonce_generate`: H3(random_bytes(32) ‖ SerializeScalar(secret)).
        ///
        /// Mixing the secret in means a broken random number generator alone does
        /// not produce repeated or predictable nonces.
        /// - Parameters:
        ///   - randomness: 32 fresh random bytes (fixed only by the RFC vector test).
        ///   - secret: the signer's share.
        static func nonceGenerate(randomness: SecretBytes, secret: Scalar) -> Scalar {
            // H3 over random ‖ secret, fed from wiped storage rather than concatenated in an array.
            HashToScalar.hash(concatenating: [randomness, secret.secretBytes()], dst: contextString + Array("nonce".utf8))
        }
    }

    /// The 2-byte big-endian wire form of an identifier, used by keyshard's own
    /// encodings of commitments and signature shares (not by RFC 9591 hashing,
    /// which uses the 32-byte scalar).
    static func encode(_ id: ParticipantID) -> [UInt8] {
        [UInt8(id.rawValue >> 8), UInt8(id.rawValue & 0xff)]
    }

    /// Reads a 2-byte big-endian identifier.
    static func decodeID(_ bytes: ArraySlice<UInt8>) throws(ShardCryptoError) -> ParticipantID {
        precondition(bytes.count == 2)
        return try ParticipantID(UInt16(bytes[bytes.startIndex]) << 8 | UInt16(bytes[bytes.startIndex + 1]))
    }

    /// RFC 9591 `DeserializeElement` for P-256: exactly the 33-byte compressed form.
    static func decodeElement(_ bytes: some Collection<UInt8>) throws(ShardCryptoError) -> Point {
        guard bytes.count == Point.compressedByteCount else {
            throw ShardCryptoError(
                .invalidPointEncoding, "a FROST element is \(Point.compressedByteCount) bytes, got \(bytes.count)")
        }
        return try Point(sec1: bytes)
    }
}
