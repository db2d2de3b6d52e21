import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// RFC 9180 §4 `LabeledExtract` / `LabeledExpand` and the §5.1 key schedule for
/// HKDF-SHA256 and AES-256-GCM, written over swift-crypto's HMAC and HKDF.
///
/// swift-crypto has all of this internally but its recipient only accepts a
/// whole private key; the threshold path arrives at the shared secret from
/// combined partial decryptions, so it needs these steps on their own.
enum HPKEKeySchedule {
    /// "HPKE-v1", the version label prefixed to every labeled input.
    static let versionLabel = Array("HPKE-v1".utf8)
    /// Nh for HKDF-SHA256.
    static let hashByteCount = SHA256.byteCount
    /// Nk for AES-256-GCM.
    static let keyByteCount = 32
    /// Nn for AES-256-GCM.
    static let nonceByteCount = 12
    /// Nt for AES-256-GCM.
    static let tagByteCount = 16
    /// The base mode, the only one keyshard uses (no PSK, no sender authentication).
    static let modeBase: UInt8 = 0x00

    /// `suite_id` = "HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2).
    static let suiteID: [UInt8] = {
        let suite = ThresholdHPKE.suiteID
        return Array("HPKE".utf8) + bigEndian(suite.kem) + bigEndian(suite.kdf) + bigEndian(suite.aead)
    }()

    static func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    /// `LabeledExtract(salt, label, ikm)` = HKDF-Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm).
    ///
    /// HKDF-Extract is HMAC(salt, ikm) (RFC 5869 §2.2); computing the HMAC
    /// incrementally means the secret `ikm` is never copied next to its labels.
    /// - Parameters:
    ///   - salt: the salt; empty means HashLen zero bytes, as RFC 5869 specifies.
    ///   - label: the RFC 9180 label, such as `eae_prk`.
    ///   - ikm: the input keying material (may be secret, may be empty).
    ///   - suiteID: the KEM's or the whole suite's identifier.
    static func labeledExtract(
        salt: some ContiguousBytes, label: String, ikm: some ContiguousBytes, suiteID: [UInt8]
    ) -> SymmetricKey {
        let saltKey = salt.withUnsafeBytes { bytes in
            bytes.isEmpty ? SymmetricKey(data: [UInt8](repeating: 0, count: hashByteCount)) : SymmetricKey(data: bytes)
        }
        var hmac = HMAC<SHA256>(key: saltKey)
        hmac.update(data: versionLabel)
        hmac.update(data: suiteID)
        hmac.update(data: Array(label.utf8))
        ikm.withUnsafeBytes { hmac.update(data: $0) }
        return SymmetricKey(data: hmac.finalize())
    }

    /// `LabeledExpand(prk, label, info, L)` =
    /// HKDF-Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L).
    /// - Precondition: `length` ≤ 255·Nh (callers check input from outside first).
    static func labeledExpand(
        prk: SymmetricKey, label: String, info: [UInt8], length: Int, suiteID: [UInt8]
    ) -> SymmetricKey {
        precondition(length > 0 && length <= 255 * hashByteCount, "LabeledExpand length out of range")
        let labeledInfo = bigEndian(UInt16(length)) + versionLabel + suiteID + Array(label.utf8) + info
        return HKDF<SHA256>.expand(pseudoRandomKey: prk, info: labeledInfo, outputByteCount: length)
    }

    /// The RFC 9180 §5.1 `KeySchedule` in base mode (psk and psk_id empty),
    /// with the intermediate values the test vectors publish.
    struct Output {
        /// mode ‖ psk_id_hash ‖ info_hash (public).
        let keyScheduleContext: [UInt8]
        /// `secret` = LabeledExtract(shared_secret, "secret", psk).
        let secret: SymmetricKey
        /// The encryption context built from it.
        let context: HPKEContext
    }

    /// Runs the base-mode key schedule.
    /// - Parameters:
    ///   - sharedSecret: the KEM shared secret (Nsecret = 32 bytes).
    ///   - info: the application's info string (public).
    static func base(sharedSecret: SymmetricKey, info: [UInt8]) -> Output {
        let empty: [UInt8] = []
        let pskIDHash = labeledExtract(salt: empty, label: "psk_id_hash", ikm: empty, suiteID: suiteID)
        let infoHash = labeledExtract(salt: empty, label: "info_hash", ikm: info, suiteID: suiteID)
        let keyScheduleContext =
            [modeBase] + pskIDHash.withUnsafeBytes { Array($0) } + infoHash.withUnsafeBytes { Array($0) }
        let secret = labeledExtract(salt: sharedSecret, label: "secret", ikm: empty, suiteID: suiteID)
        let key = labeledExpand(
            prk: secret, label: "key", info: keyScheduleContext, length: keyByteCount, suiteID: suiteID)
        let baseNonce = labeledExpand(
            prk: secret, label: "base_nonce", info: keyScheduleContext, length: nonceByteCount, suiteID: suiteID)
        let exporterSecret = labeledExpand(
            prk: secret, label: "exp", info: keyScheduleContext, length: hashByteCount, suiteID: suiteID)
        return Output(
            keyScheduleContext: keyScheduleContext, secret: secret,
            context: HPKEContext(key: key, baseNonce: baseNonce, exporterSecret: exporterSecret))
    }
}
