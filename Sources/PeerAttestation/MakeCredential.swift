import Crypto
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import ShardCrypto
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
    /// Supported EKs: ECC on NIST P-256, and RSA 2048+ with a SHA-256 name, each with AES CFB
    /// (the TCG default EK templates).
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
        let seed: [UInt8]
        let secret: [UInt8]
        let symmetric: (algorithm: TPMAlgorithmID, bits: Int)
        switch endorsementKey.key {
        case .ecc(let ek):
            symmetric = (ek.symmetric, ek.symmetricKeyBits)
            (seed, secret) = try Self.eccSeed(ek, nameHash: nameHash, digestSize: digestSize)
        case .rsa(let ek):
            symmetric = (ek.symmetric, ek.symmetricKeyBits)
            (seed, secret) = try Self.rsaSeed(ek, nameHash: nameHash, digestSize: digestSize)
        case .other:
            throw unsupported("MakeCredential needs an RSA or ECC endorsement key; this EK is \(endorsementKey.type).")
        }
        guard symmetric.algorithm == .aes, [128, 192, 256].contains(symmetric.bits) else {
            throw unsupported("The EK's symmetric algorithm must be AES (CFB); it is \(symmetric.algorithm).")
        }

        // Confidentiality: AES-CFB with a zero IV under KDFa(seed, "STORAGE", name).
        guard let symmetricKey = TPMKDF.kdfa(
            hash: nameHash, key: seed, label: "STORAGE", contextU: objectName, contextV: [], bits: symmetric.bits),
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
        encryptedSecret = TPMKDF.sized(secret)
    }

    /// ECC EK: ECDH with a fresh ephemeral key, then KDFe over the shared x-coordinate (Part 1 §C.6.4);
    /// the secret is the ephemeral point as a `TPMS_ECC_POINT`.
    private static func eccSeed(
        _ ek: TPMPublic.ECCKey, nameHash: TPMAlgorithmID, digestSize: Int
    ) throws(AttestationError) -> (seed: [UInt8], secret: [UInt8]) {
        guard ek.curve == .nistP256 else {
            throw AttestationError(
                .invalidArgument, "MakeCredential supports ECC EKs on nist-p256; this EK is on \(ek.curve).")
        }
        guard ek.x.count <= 32, ek.y.count <= 32,
              let ekKey = try? P256.KeyAgreement.PublicKey(rawRepresentation: pad(ek.x) + pad(ek.y))
        else {
            throw AttestationError(.invalidArgument, "The EK's public point is not on nist-p256.")
        }
        let ephemeral = P256.KeyAgreement.PrivateKey()
        let ephemeralPoint = [UInt8](ephemeral.publicKey.rawRepresentation)
        let ephemeralX = Array(ephemeralPoint.prefix(32))
        let ephemeralY = Array(ephemeralPoint.suffix(32))
        guard let shared = try? ephemeral.sharedSecretFromKeyAgreement(with: ekKey) else {
            throw AttestationError(.invalidArgument, "ECDH with the EK failed.")
        }
        let z = shared.withUnsafeBytes { Array($0) }
        guard let seed = TPMKDF.kdfe(
            hash: nameHash, z: z, label: "IDENTITY", partyU: ephemeralX, partyV: pad(ek.x), bits: digestSize * 8)
        else { throw AttestationError(.invalidArgument, "The EK's name algorithm \(nameHash) is not supported.") }
        return (seed, TPMKDF.sized(ephemeralX) + TPMKDF.sized(ephemeralY))
    }

    /// RSA EK: a random seed encrypted with RSA-OAEP (SHA-256, label "IDENTITY\0") (Part 1 §B.10.3).
    private static func rsaSeed(
        _ ek: TPMPublic.RSAKey, nameHash: TPMAlgorithmID, digestSize: Int
    ) throws(AttestationError) -> (seed: [UInt8], secret: [UInt8]) {
        guard nameHash == .sha256 else {
            throw AttestationError(
                .invalidArgument, "MakeCredential supports RSA EKs with a sha256 name; this one uses \(nameHash).")
        }
        let exponent = withUnsafeBytes(of: ek.exponent.bigEndian) { Array($0) }
        guard let key = try? _RSA.Encryption.PublicKey(n: ek.modulus, e: exponent) else {
            throw AttestationError(.invalidArgument, "The EK is not a usable RSA key of 2048 bits or more.")
        }
        var generator = SystemRandomNumberGenerator()
        let seed = (0..<digestSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        do {
            let secret = try RSAOAEP.encryptSHA256(
                seed, publicKeyDER: [UInt8](key.derRepresentation), label: Array("IDENTITY\0".utf8))
            return (seed, secret)
        } catch {
            throw AttestationError(.invalidArgument, "Encrypting the seed to the EK failed: \(error.reason)")
        }
    }

    private static func pad(_ coordinate: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: max(0, 32 - coordinate.count)) + coordinate
    }
}
