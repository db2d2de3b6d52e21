import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An RFC 9180 §5.2–5.3 encryption context for AES-256-GCM: the key, the base
/// nonce, the sequence number and the exporter secret.
///
/// keyshard's public API is single-shot (sequence number 0, empty AAD), but the
/// context implements the whole message sequence and the exporter so the RFC
/// vectors can be checked completely. The same type serves sender and
/// recipient; each side keeps its own copy and sequence number.
struct HPKEContext: Sendable, CustomStringConvertible, CustomReflectable {
    let key: SymmetricKey
    let baseNonce: SymmetricKey
    let exporterSecret: SymmetricKey
    /// The next message's sequence number.
    private(set) var sequenceNumber: UInt64 = 0

    init(key: SymmetricKey, baseNonce: SymmetricKey, exporterSecret: SymmetricKey) {
        self.key = key
        self.baseNonce = baseNonce
        self.exporterSecret = exporterSecret
    }

    /// `ComputeNonce(seq)` = base_nonce XOR I2OSP(seq, Nn).
    func nonce(sequenceNumber: UInt64) -> [UInt8] {
        var nonce = baseNonce.withUnsafeBytes { Array($0) }
        for index in 0..<8 {
            nonce[nonce.count - 1 - index] ^= UInt8(truncatingIfNeeded: sequenceNumber >> (8 * UInt64(index)))
        }
        return nonce
    }

    /// RFC 9180 `IncrementSeq`: refuses to wrap, which would reuse a nonce.
    private mutating func incrementSequenceNumber() throws(ShardCryptoError) {
        guard sequenceNumber < UInt64.max else {
            throw ShardCryptoError(
                .invalidParameters, "the HPKE context has sent its last message (sequence number limit)")
        }
        sequenceNumber += 1
    }

    /// `ContextS.Seal(aad, pt)`: encrypts the next message.
    /// - Returns: ciphertext ‖ 16-byte tag.
    mutating func seal(_ plaintext: some DataProtocol, aad: [UInt8]) throws(ShardCryptoError) -> [UInt8] {
        let box: AES.GCM.SealedBox
        do {
            let nonce = try AES.GCM.Nonce(data: nonce(sequenceNumber: sequenceNumber))
            box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: aad)
        } catch {
            // A 12-byte nonce and a 16-byte key are right by construction: nothing the caller gave explains this.
            throw ShardCryptoError(.libcryptoFailure, "AES-GCM sealing failed: \(error)")
        }
        try incrementSequenceNumber()
        return Array(box.ciphertext) + Array(box.tag)
    }

    /// `ContextR.Open(aad, ct)`: decrypts the next message. The sequence number
    /// advances only on success, as RFC 9180 requires.
    /// - Throws: ``ShardCryptoError/Code/invalidCiphertext`` when shorter than a tag,
    ///   ``ShardCryptoError/Code/decryptionFailed`` when authentication fails.
    mutating func open(_ ciphertext: some Collection<UInt8>, aad: [UInt8]) throws(ShardCryptoError) -> SecretBytes {
        let bytes = Array(ciphertext)
        guard bytes.count >= HPKEKeySchedule.tagByteCount else {
            throw ShardCryptoError(
                .invalidCiphertext, "an AEAD ciphertext needs at least a \(HPKEKeySchedule.tagByteCount)-byte tag")
        }
        let split = bytes.count - HPKEKeySchedule.tagByteCount
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonce(sequenceNumber: sequenceNumber)),
                ciphertext: bytes[..<split], tag: bytes[split...])
            plaintext = try AES.GCM.open(box, using: key, authenticating: aad)
        } catch {
            throw ShardCryptoError(
                .decryptionFailed,
                "the HPKE ciphertext did not authenticate (wrong key or info, or the ciphertext was altered)")
        }
        try incrementSequenceNumber()
        // swift-crypto returns Data, which is not wiped; copy into wiped storage at once.
        return SecretBytes(plaintext)
    }

    /// `Context.Export(exporter_context, L)` = LabeledExpand(exporter_secret, "sec", exporter_context, L).
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` unless 1 ≤ `length` ≤ 255·Nh.
    func export(context: [UInt8], length: Int) throws(ShardCryptoError) -> SymmetricKey {
        let maximum = 255 * HPKEKeySchedule.hashByteCount
        guard length >= 1, length <= maximum else {
            throw ShardCryptoError(.invalidParameters, "an HPKE export is 1…\(maximum) bytes, asked for \(length)")
        }
        return HPKEKeySchedule.labeledExpand(
            prk: exporterSecret, label: "sec", info: context, length: length, suiteID: HPKEKeySchedule.suiteID)
    }

    var description: String { "HPKEContext(sequenceNumber: \(sequenceNumber), keys: redacted)" }
    var customMirror: Mirror { Mirror(self, children: [:]) }
}
