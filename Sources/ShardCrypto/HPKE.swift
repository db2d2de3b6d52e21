import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// RFC 9180 HPKE as keyshard uses it: base mode, suite DHKEM(P-256, HKDF-SHA256) /
/// HKDF-SHA256 / AES-256-GCM, single-shot ciphertexts `enc ‖ AEAD ciphertext`
/// (sequence number 0, empty AAD).
///
/// Anyone can encrypt to the group public key, with ``seal(plaintext:to:info:)``
/// or any other RFC 9180 implementation (swift-crypto's
/// `HPKE.Sender(…, ciphersuite: .P256_SHA256_AES_GCM_256, …)` interoperates).
/// Decryption never needs the whole key: custodians answer with
/// ``partialDecrypt(ciphertext:share:context:)`` and the coordinator finishes with
/// ``combine(ciphertext:partials:publicKey:publicShares:threshold:info:context:)``.
public enum ThresholdHPKE {
    /// The three RFC 9180 algorithm identifiers of a suite.
    public struct SuiteID: Sendable, Hashable, CustomStringConvertible {
        /// The KEM identifier (0x0010 = DHKEM(P-256, HKDF-SHA256)).
        public let kem: UInt16
        /// The KDF identifier (0x0001 = HKDF-SHA256).
        public let kdf: UInt16
        /// The AEAD identifier (0x0002 = AES-256-GCM).
        public let aead: UInt16

        public var description: String {
            func hex(_ value: UInt16) -> String { "0x" + HPKEKeySchedule.bigEndian(value).hexString }
            return "SuiteID(kem: \(hex(kem)), kdf: \(hex(kdf)), aead: \(hex(aead)))"
        }
    }

    /// The only suite keyshard speaks.
    public static let suiteID = SuiteID(kem: 0x0010, kdf: 0x0001, aead: 0x0002)
    /// The length of enc, an uncompressed P-256 point.
    public static let encapsulatedKeyByteCount = DHKEM.encapsulatedKeyByteCount
    /// The shortest valid ciphertext: enc and the AEAD tag of an empty plaintext.
    public static let minimumCiphertextByteCount = DHKEM.encapsulatedKeyByteCount + HPKEKeySchedule.tagByteCount

    /// A single-shot ciphertext split into its parts, with enc already validated.
    struct Ciphertext {
        let enc: [UInt8]
        let ephemeralKey: Point
        let sealed: ArraySlice<UInt8>

        /// - Throws: ``ShardCryptoError/Code/invalidCiphertext`` when too short for enc and a tag;
        ///   point errors when enc is not a valid non-identity P-256 point.
        init(_ bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count >= ThresholdHPKE.minimumCiphertextByteCount else {
                throw ShardCryptoError(
                    .invalidCiphertext,
                    "an HPKE ciphertext is at least \(ThresholdHPKE.minimumCiphertextByteCount) bytes "
                        + "(65-byte enc and 16-byte tag), got \(bytes.count)")
            }
            enc = Array(bytes[..<DHKEM.encapsulatedKeyByteCount])
            ephemeralKey = try DHKEM.deserialize(enc: enc)
            sealed = bytes[DHKEM.encapsulatedKeyByteCount...]
        }
    }

    /// Encrypts `plaintext` to `publicKey` (RFC 9180 `SealBase` single-shot, empty AAD).
    /// - Parameters:
    ///   - plaintext: the message.
    ///   - publicKey: the recipient's (for keyshard, the group's) public key.
    ///   - info: application context; the recipient must supply the same bytes.
    /// - Returns: enc (65 bytes) ‖ AEAD ciphertext (plaintext length + 16).
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when `publicKey` is the identity.
    public static func seal(plaintext: [UInt8], to publicKey: Point, info: [UInt8]) throws(ShardCryptoError) -> [UInt8] {
        try seal(plaintext, to: publicKey, info: info, ephemeral: .random())
    }

    /// Encrypts secret bytes (for example a share sealed to a custodian's transport
    /// key) without copying them into unwiped memory first.
    /// - Parameters: as ``seal(plaintext:to:info:)``.
    /// - Returns: enc ‖ AEAD ciphertext.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when `publicKey` is the identity.
    public static func seal(plaintext: SecretBytes, to publicKey: Point, info: [UInt8]) throws(ShardCryptoError) -> [UInt8] {
        try plaintext.withUnsafeBytes { bytes throws(ShardCryptoError) in
            try seal(bytes, to: publicKey, info: info, ephemeral: .random())
        }
    }

    /// `SealBase` with a chosen ephemeral key, so tests can reproduce the RFC vectors.
    static func seal(
        _ plaintext: some DataProtocol, to publicKey: Point, info: [UInt8], ephemeral: Scalar
    ) throws(ShardCryptoError) -> [UInt8] {
        let (sharedSecret, enc) = try DHKEM.encap(to: publicKey, ephemeral: ephemeral)
        var context = HPKEKeySchedule.base(sharedSecret: sharedSecret, info: info).context
        return enc + (try context.seal(plaintext, aad: []))
    }

    /// Decrypts with the whole private key (RFC 9180 `OpenBase` single-shot, empty AAD).
    /// keyshard never holds the whole group key; this is for escrow recovery and
    /// for keys that are whole by design, such as a custodian's transport key.
    /// - Parameters:
    ///   - ciphertext: enc ‖ AEAD ciphertext.
    ///   - privateKey: skR.
    ///   - info: the info the sender used.
    /// - Returns: the plaintext, in wiped storage.
    /// - Throws: ``ShardCryptoError/Code/invalidCiphertext`` when too short, point errors for a
    ///   bad enc, ``ShardCryptoError/Code/zeroScalar`` for a zero key,
    ///   ``ShardCryptoError/Code/decryptionFailed`` when authentication fails.
    public static func open(ciphertext: [UInt8], privateKey: Scalar, info: [UInt8]) throws(ShardCryptoError) -> SecretBytes {
        let parsed = try Ciphertext(ciphertext)
        let sharedSecret = try DHKEM.decap(enc: parsed.enc, privateKey: privateKey)
        var context = HPKEKeySchedule.base(sharedSecret: sharedSecret, info: info).context
        return try context.open(parsed.sealed, aad: [])
    }
}
