import Crypto
import ShardCrypto
import TPM2

/// A payload only one TPM can open: AES-256-GCM under a fresh 32-byte key K, with K delivered by
/// MakeCredential to the recipient's EK and AK name. ActivateCredential refuses unless the AK of
/// that name is loaded in the TPM that holds the EK, so a quote from one TPM presented with another
/// TPM's EK certificate (CVE-2022-1053's confusion) yields nothing, and no extra round is needed to
/// tie AK to EK. Inside is an HPKE ciphertext to the attested transport key, so opening also needs
/// the agent's RAM: both the TPM and the agent of that VM.
public struct CredentialWrappedPayload: Sendable, Hashable {
    /// MakeCredential's TPM2B_ID_OBJECT.
    public let credentialBlob: [UInt8]
    /// MakeCredential's TPM2B_ENCRYPTED_SECRET.
    public let encryptedSecret: [UInt8]
    /// nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16).
    public let box: [UInt8]

    /// Wraps the three parts received.
    public init(credentialBlob: [UInt8], encryptedSecret: [UInt8], box: [UInt8]) {
        self.credentialBlob = credentialBlob
        self.encryptedSecret = encryptedSecret
        self.box = box
    }
}

/// Wrapping and unwrapping of ``CredentialWrappedPayload``.
public enum CredentialWrap {
    /// Wraps `inner` (already HPKE-sealed to the recipient's transport key) for the recipient's TPM.
    /// - Parameters:
    ///   - inner: the sealed bytes.
    ///   - recipient: the checked recipient.
    ///   - context: bound as AES-GCM associated data (which run, which sender and recipient).
    /// - Throws: ``AttestationError`` when MakeCredential does not support the EK.
    public static func wrap(
        _ inner: [UInt8], for recipient: TrustedRecipient, context: [UInt8]
    ) throws(AttestationError) -> CredentialWrappedPayload {
        let key = SecretBytes.random(count: 32)
        let credential = key.withUnsafeBytes { Array($0) }
        let made = try MadeCredential(
            credential: credential, objectName: recipient.attestationKeyName, endorsementKey: recipient.endorsementKey)
        do {
            let sealed = try key.withUnsafeBytes {
                try AES.GCM.seal(inner, using: SymmetricKey(data: $0), authenticating: context)
            }
            return CredentialWrappedPayload(
                credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret,
                box: Array(sealed.nonce) + Array(sealed.ciphertext) + Array(sealed.tag))
        } catch {
            throw AttestationError(.invalidArgument, "AES-GCM sealing failed")
        }
    }

    /// Opens a payload with the key the recipient's TPM recovered by ActivateCredential.
    /// - Parameters:
    ///   - payload: the wrapped payload.
    ///   - credential: what ActivateCredential returned.
    ///   - context: the same associated data as at wrapping.
    /// - Returns: the inner (HPKE-sealed) bytes.
    /// - Throws: ``AttestationError`` `.invalidArgument` when the box does not authenticate.
    public static func open(
        _ payload: CredentialWrappedPayload, credential: SecretBytes, context: [UInt8]
    ) throws(AttestationError) -> [UInt8] {
        guard credential.count == 32, payload.box.count >= 12 + 16 else {
            throw AttestationError(.invalidArgument, "the wrapped payload is malformed")
        }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try AES.GCM.Nonce(data: payload.box[0..<12]), ciphertext: payload.box[12..<(payload.box.count - 16)],
                tag: payload.box.suffix(16))
            return try credential.withUnsafeBytes {
                [UInt8](try AES.GCM.open(box, using: SymmetricKey(data: $0), authenticating: context))
            }
        } catch {
            throw AttestationError(.invalidArgument, "the wrapped payload does not open with this TPM's credential")
        }
    }
}
