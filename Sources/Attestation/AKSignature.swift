import Crypto
import Foundation
import TPM2
import _CryptoExtras

/// Verifies a TPM signature with an attestation key: ECDSA on P-256 or P-384, RSASSA-PKCS1-v1_5
/// and RSA-PSS with 2048-bit or larger keys, each with SHA-256, SHA-384 or SHA-512.
enum AKSignature {
    static func check(_ signature: TPMSignature, over message: [UInt8], by ak: TPMPublic) -> [Refusal] {
        guard let hash = signature.hash, hash != .sha1, hash.digestSize != nil else {
            let name = signature.hash.map { "\(signature.scheme) with \($0)" } ?? "\(signature.scheme)"
            return [Refusal(.signatureScheme,
                "The quote is signed with \(name); accepted: ECDSA, RSASSA or RSA-PSS with SHA-256, -384 or -512.")]
        }
        switch (ak.key, signature) {
        case (.ecc(let key), .ecdsa(_, let r, let s)):
            return checkECDSA(key: key, r: r, s: s, hash: hash, message: message)
        case (.rsa(let key), .rsassa(_, let bytes)):
            return checkRSA(key: key, signature: bytes, padding: .insecurePKCS1v1_5, hash: hash, message: message)
        case (.rsa(let key), .rsapss(_, let bytes)):
            return checkRSA(key: key, signature: bytes, padding: .PSS, hash: hash, message: message)
        default:
            return [Refusal(.signatureScheme,
                "The quote is signed with \(signature.scheme) but the attestation key is \(ak.type).")]
        }
    }

    private static func invalid() -> Refusal {
        Refusal(.signatureInvalid,
            "The quote's signature does not verify with the attestation key: the quote was altered "
                + "or signed by another key.")
    }

    private static func checkECDSA(
        key: TPMPublic.ECCKey, r: [UInt8], s: [UInt8], hash: TPMAlgorithmID, message: [UInt8]
    ) -> [Refusal] {
        let size: Int
        switch key.curve {
        case .nistP256: size = 32
        case .nistP384: size = 48
        default:
            return [Refusal(.akKey, "The attestation key is on curve \(key.curve); accepted: nist-p256, nist-p384.")]
        }
        guard let x = leftPadded(key.x, to: size), let y = leftPadded(key.y, to: size) else {
            return [Refusal(.akKey, "The attestation key's point does not fit \(key.curve).")]
        }
        guard let rBytes = leftPadded(r, to: size), let sBytes = leftPadded(s, to: size) else { return [invalid()] }
        let valid: Bool
        do {
            switch key.curve {
            case .nistP256:
                let publicKey = try P256.Signing.PublicKey(rawRepresentation: x + y)
                let signature = try P256.Signing.ECDSASignature(rawRepresentation: rBytes + sBytes)
                valid = Digests.verify(message, hash: hash) { publicKey.isValidSignature(signature, for: $0) }
            default:
                let publicKey = try P384.Signing.PublicKey(rawRepresentation: x + y)
                let signature = try P384.Signing.ECDSASignature(rawRepresentation: rBytes + sBytes)
                valid = Digests.verify(message, hash: hash) { publicKey.isValidSignature(signature, for: $0) }
            }
        } catch {
            return [Refusal(.akKey, "The attestation key is not a point on \(key.curve).")]
        }
        return valid ? [] : [invalid()]
    }

    private static func checkRSA(
        key: TPMPublic.RSAKey, signature: [UInt8], padding: _RSA.Signing.Padding, hash: TPMAlgorithmID,
        message: [UInt8]
    ) -> [Refusal] {
        let exponent = withUnsafeBytes(of: key.exponent.bigEndian) { Array($0) }
        let publicKey: _RSA.Signing.PublicKey
        do {
            publicKey = try _RSA.Signing.PublicKey(n: key.modulus, e: exponent)
        } catch {
            return [Refusal(.akKey,
                "The attestation key is a \(key.modulus.count * 8)-bit RSA key; accepted: 2048 bits or more.")]
        }
        let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
        let valid = Digests.verify(message, hash: hash) {
            publicKey.isValidSignature(rsaSignature, for: $0, padding: padding)
        }
        return valid ? [] : [invalid()]
    }

    /// Big-endian integer left-padded to `size` bytes, or `nil` when it needs more.
    private static func leftPadded(_ bytes: [UInt8], to size: Int) -> [UInt8]? {
        if bytes.count == size { return bytes }  // what a TPM sends for its own curve
        let significant = bytes.drop { $0 == 0 }
        guard significant.count <= size else { return nil }
        return [UInt8](repeating: 0, count: size - significant.count) + significant
    }
}
