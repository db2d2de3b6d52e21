import Crypto
import Foundation
import TPM2
import _CryptoExtras

/// TPM2_MakeCredential in software (TPM 2.0 Part 1 §24): wraps a credential so that only the TPM
/// holding the endorsement key can recover it, and only by ActivateCredential with the object whose
/// name was bound in. A correct answer proves the AK and the EK live in the same TPM.
public struct MadeCredential: Hashable, Sendable {
    /// The `TPM2B_ID_OBJECT`: size, then the integrity HMAC (as a `TPM2B_DIGEST`) and the encrypted credential.
    public let credentialBlob: [UInt8]
    /// The `TPM2B_ENCRYPTED_SECRET`: size, then the seed encrypted to the EK (for an ECC EK, the
    /// ephemeral public point as a `TPMS_ECC_POINT`).
    public let encryptedSecret: [UInt8]

    /// The file `tpm2_makecredential -o` writes and `tpm2_activatecredential -i` reads:
    /// magic 0xBADCC0DE, version 1, then ``credentialBlob`` and ``encryptedSecret``.
    public var tpm2ToolsFile: [UInt8] {
        [0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1] + credentialBlob + encryptedSecret
    }

    /// Wraps a credential for an EK and an object name.
    ///
    /// Supported EKs: ECC on NIST P-256 with AES-128/192/256 CFB (the TCG default ECC EK template).
    /// - Parameters:
    ///   - credential: the value the TPM will reveal (at most the EK name hash's digest size; the
    ///     caller keeps it to compare with the attester's answer).
    ///   - objectName: the AK's TPM name (``TPM2/TPMPublic/name()``).
    ///   - endorsementKey: the EK's public area.
    /// - Throws: ``AttestationError`` `.invalidArgument` when the EK type, curve, symmetric algorithm or
    ///   name algorithm is unsupported, or the credential is empty or too long.
    public init(credential: [UInt8], objectName: [UInt8], endorsementKey: TPMPublic) throws(AttestationError) {
        func unsupported(_ reason: String) -> AttestationError { AttestationError(.invalidArgument, reason) }
        let nameHash = endorsementKey.nameAlgorithm
        guard let digestSize = nameHash.digestSize, nameHash != .sha1 else {
            throw unsupported("The EK's name algorithm \(nameHash) is not supported; expected sha256 or stronger.")
        }
        guard !credential.isEmpty, credential.count <= digestSize else {
            throw unsupported("A credential is 1 to \(digestSize) bytes for this EK, not \(credential.count).")
        }
        guard case .ecc(let ek) = endorsementKey.key else {
            throw unsupported("MakeCredential supports ECC endorsement keys; this EK is \(endorsementKey.type).")
        }
        guard ek.curve == .nistP256 else {
            throw unsupported("MakeCredential supports EKs on nist-p256; this EK is on \(ek.curve).")
        }
        guard ek.symmetric == .aes, [128, 192, 256].contains(ek.symmetricKeyBits) else {
            throw unsupported("The EK's symmetric algorithm must be AES (CFB); it is \(ek.symmetric).")
        }
        guard ek.x.count <= 32, ek.y.count <= 32,
              let ekKey = try? P256.KeyAgreement.PublicKey(rawRepresentation: Self.pad(ek.x) + Self.pad(ek.y))
        else {
            throw unsupported("The EK's public point is not on nist-p256.")
        }

        // Seed: ECDH with a fresh ephemeral key, then KDFe over the shared x-coordinate (Part 1 §C.6.4).
        let ephemeral = P256.KeyAgreement.PrivateKey()
        let ephemeralPoint = [UInt8](ephemeral.publicKey.rawRepresentation)
        let ephemeralX = Array(ephemeralPoint.prefix(32))
        let ephemeralY = Array(ephemeralPoint.suffix(32))
        guard let shared = try? ephemeral.sharedSecretFromKeyAgreement(with: ekKey) else {
            throw unsupported("ECDH with the EK failed.")
        }
        let z = shared.withUnsafeBytes { Array($0) }
        guard let seed = TPMKDF.kdfe(
            hash: nameHash, z: z, label: "IDENTITY", partyU: ephemeralX, partyV: Self.pad(ek.x), bits: digestSize * 8)
        else { throw unsupported("The EK's name algorithm \(nameHash) is not supported.") }

        // Confidentiality: AES-CFB with a zero IV under KDFa(seed, "STORAGE", name).
        guard let symmetricKey = TPMKDF.kdfa(
            hash: nameHash, key: seed, label: "STORAGE", contextU: objectName, contextV: [], bits: ek.symmetricKeyBits),
              let encryptedIdentity = try? AES._CFB.encrypt(
                TPMKDF.sized(credential), using: SymmetricKey(data: symmetricKey),
                iv: AES._CFB.IV(ivBytes: [UInt8](repeating: 0, count: 16)))
        else { throw unsupported("Encrypting the credential failed.") }

        // Integrity: HMAC over the ciphertext and the name, keyed by KDFa(seed, "INTEGRITY").
        guard let hmacKey = TPMKDF.kdfa(
            hash: nameHash, key: seed, label: "INTEGRITY", contextU: [], contextV: [], bits: digestSize * 8),
              let integrity = TPMKDF.hmac(nameHash, key: hmacKey, data: [UInt8](encryptedIdentity) + objectName)
        else { throw unsupported("Computing the credential's integrity HMAC failed.") }

        credentialBlob = TPMKDF.sized(TPMKDF.sized(integrity) + [UInt8](encryptedIdentity))
        encryptedSecret = TPMKDF.sized(TPMKDF.sized(ephemeralX) + TPMKDF.sized(ephemeralY))
    }

    private static func pad(_ coordinate: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: max(0, 32 - coordinate.count)) + coordinate
    }
}
