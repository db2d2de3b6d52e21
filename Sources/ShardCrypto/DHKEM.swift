import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// RFC 9180 §4.1 DHKEM(P-256, HKDF-SHA256), KEM id 0x0010, over keyshard's own
/// ``Scalar`` and ``Point``.
///
/// Split in the steps the threshold path needs: the custodians compute parts of
/// the Diffie–Hellman value, and ``sharedSecret(dh:enc:recipient:)`` finishes
/// the KEM from the combined value exactly as `Decap` would from a whole key.
enum DHKEM {
    /// `suite_id` = "KEM" ‖ I2OSP(kem_id, 2).
    static let suiteID: [UInt8] = Array("KEM".utf8) + HPKEKeySchedule.bigEndian(ThresholdHPKE.suiteID.kem)
    /// Nsecret.
    static let sharedSecretByteCount = 32
    /// Nenc and Npk: an uncompressed SEC1 point.
    static let encapsulatedKeyByteCount = Point.uncompressedByteCount

    /// RFC 9180 §7.1.3 `DeriveKeyPair(ikm)`: rejection sampling of a non-zero scalar below n.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` in the (probability ≈ 2⁻⁸⁰⁰⁰)
    ///   case that 256 candidates all fail.
    static func deriveKeyPair(ikm: some ContiguousBytes) throws(ShardCryptoError) -> (privateKey: Scalar, publicKey: Point) {
        let empty: [UInt8] = []
        let prk = HPKEKeySchedule.labeledExtract(salt: empty, label: "dkp_prk", ikm: ikm, suiteID: suiteID)
        for counter in 0...255 {
            let candidate = HPKEKeySchedule.labeledExpand(
                prk: prk, label: "candidate", info: [UInt8(counter)], length: Scalar.byteCount, suiteID: suiteID)
            // The P-256 bitmask is 0xff, so the candidate bytes are used unchanged.
            guard let scalar = try? candidate.withUnsafeBytes({ try Scalar(bigEndian: $0) }), !scalar.isZero else {
                continue
            }
            return (scalar, .generatorMultiple(scalar))
        }
        throw ShardCryptoError(.invalidParameters, "DeriveKeyPair found no valid scalar in 256 candidates")
    }

    /// `ExtractAndExpand(dh, kem_context)`.
    static func extractAndExpand(dh: SecretBytes, kemContext: [UInt8]) -> SymmetricKey {
        let empty: [UInt8] = []
        let prk = dh.withUnsafeBytes { dhBytes in
            HPKEKeySchedule.labeledExtract(salt: empty, label: "eae_prk", ikm: dhBytes, suiteID: suiteID)
        }
        return HPKEKeySchedule.labeledExpand(
            prk: prk, label: "shared_secret", info: kemContext, length: sharedSecretByteCount, suiteID: suiteID)
    }

    /// Finishes the KEM from the Diffie–Hellman point: shared_secret =
    /// ExtractAndExpand(x(dh), enc ‖ pkRm). Used by `Decap` and by the threshold combiner.
    /// - Parameters:
    ///   - dh: skR·pkE (or skE·pkR), however it was obtained.
    ///   - enc: the 65-byte encapsulated key.
    ///   - recipient: pkR.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when `dh` or `recipient` is the identity.
    static func sharedSecret(dh: Point, enc: [UInt8], recipient: Point) throws(ShardCryptoError) -> SymmetricKey {
        extractAndExpand(dh: try dh.affineX(), kemContext: enc + (try recipient.uncompressed()))
    }

    /// `Encap(pkR)` with a caller-chosen ephemeral key (random in production,
    /// `DeriveKeyPair(ikmE)` for the RFC vectors).
    /// - Returns: the shared secret and enc = SerializePublicKey(pkE).
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when `recipient` is the identity.
    static func encap(to recipient: Point, ephemeral: Scalar) throws(ShardCryptoError) -> (sharedSecret: SymmetricKey, enc: [UInt8]) {
        guard !recipient.isIdentity else {
            throw ShardCryptoError(.identityPoint, "the HPKE recipient public key is the identity")
        }
        let enc = try Point.generatorMultiple(ephemeral).uncompressed()
        return (try sharedSecret(dh: ephemeral * recipient, enc: enc, recipient: recipient), enc)
    }

    /// Parses enc: `DeserializePublicKey`, which refuses the identity and off-curve points.
    /// - Throws: ``ShardCryptoError/Code/invalidPointEncoding``,
    ///   ``ShardCryptoError/Code/pointNotOnCurve`` or ``ShardCryptoError/Code/identityPoint``.
    static func deserialize(enc: [UInt8]) throws(ShardCryptoError) -> Point {
        // SEC1 encodes the identity as a single 00 byte; a zero-filled enc is the
        // nearest a 65-byte field can come to it, so name it as such.
        guard enc.contains(where: { $0 != 0 }) else {
            throw ShardCryptoError(.identityPoint, "the HPKE encapsulated key is the identity (all zero bytes)")
        }
        guard enc.count == encapsulatedKeyByteCount, enc.first == 0x04 else {
            throw ShardCryptoError(
                .invalidPointEncoding,
                "the HPKE encapsulated key must be a \(encapsulatedKeyByteCount)-byte uncompressed point")
        }
        return try Point(sec1: enc)
    }

    /// `Decap(enc, skR)` with a whole private key.
    static func decap(enc: [UInt8], privateKey: Scalar) throws(ShardCryptoError) -> SymmetricKey {
        guard !privateKey.isZero else { throw ShardCryptoError(.zeroScalar, "the HPKE private key is zero") }
        let ephemeral = try deserialize(enc: enc)
        return try sharedSecret(dh: privateKey * ephemeral, enc: enc, recipient: .generatorMultiple(privateKey))
    }
}
