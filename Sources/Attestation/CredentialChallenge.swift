import Crypto
import Foundation
import SwiftASN1
import TPM2
import X509
import _CryptoExtras

/// The offline AK–EK tie (the CVE-2022-1053 class): a quote proves only that *some* restricted key signed
/// it. Wrapping a secret with MakeCredential to the trusted EK, bound to the evidence's AK name, and
/// getting it back from the attester's `tpm2_activatecredential` proves that this AK lives in the TPM
/// holding that EK.
public enum CredentialChallenge {
    /// Makes a credential challenge for the AK of some evidence.
    ///
    /// The AK must parse and have the attributes of an attestation key (restricted, sign, fixedTPM,
    /// fixedParent, sensitiveDataOrigin, no decrypt): its attributes are part of its name, so a TPM that
    /// activates the credential vouches for them too.
    /// - Parameters:
    ///   - evidence: the evidence whose `ak.public` the credential is bound to.
    ///   - endorsementKey: the trusted EK's public area.
    ///   - secret: the value the TPM will reveal (1 to 32 bytes for a SHA-256 EK); keep it to compare.
    /// - Returns: the credential for `tpm2_activatecredential` (``MadeCredential/tpm2ToolsFile``).
    /// - Throws: ``AttestationError`` `.evidenceRefused` when the AK does not parse or lacks attributes;
    ///   `.invalidArgument` when the EK is unsupported or the secret has a bad length.
    public static func make(
        forAKOf evidence: Evidence, endorsementKey: TPMPublic, secret: [UInt8]
    ) throws(AttestationError) -> MadeCredential {
        let ak: TPMPublic
        let name: [UInt8]
        do {
            ak = try TPMPublic(parsing: evidence.akPublic)
            name = try ak.name()
        } catch {
            throw AttestationError(.evidenceRefused, "[\(Refusal.Code.akMalformed)] The evidence's attestation key "
                + "is unusable: \(error.reason)")
        }
        let missing = QuoteVerifier.requiredAKAttributes.subtracting(ak.attributes)
        guard missing.isEmpty, !ak.attributes.contains(.decrypt) else {
            throw AttestationError(.evidenceRefused, "[\(Refusal.Code.akAttributes)] The evidence's key has "
                + "\(ak.attributes); an AK must be a restricted, TPM-generated, signing-only key fixed to its TPM "
                + "(create it with tpm2_createak), or activating a credential for it proves nothing about quotes.")
        }
        return try MadeCredential(credential: secret, objectName: name, endorsementKey: endorsementKey)
    }

    /// The EK public area rebuilt from an EK certificate's key with the TCG default template (L-1 RSA-2048
    /// with exponent 65537, or L-2 ECC P-256), which fixes every other field of the EK.
    /// - Parameter certificate: the EK certificate, PEM or DER.
    /// - Throws: ``AttestationError`` `.invalidArgument` when it is not a certificate, or its key is not one
    ///   of those two.
    public static func endorsementKey(certificate: [UInt8]) throws(AttestationError) -> TPMPublic {
        let parsed: Certificate
        do {
            if let text = String(bytes: certificate, encoding: .utf8), text.contains("-----BEGIN") {
                parsed = try Certificate(pemEncoded: text)
            } else {
                parsed = try Certificate(derEncoded: certificate)
            }
        } catch {
            throw AttestationError(.invalidArgument, "The EK certificate is not an X.509 certificate (PEM or DER).")
        }
        do {
            if let key = P256.Signing.PublicKey(parsed.publicKey) {
                let point = [UInt8](key.x963Representation)
                return try TPMPublic.defaultECCEndorsementKey(x: Array(point[1..<33]), y: Array(point[33..<65]))
            }
            if let key = _RSA.Signing.PublicKey(parsed.publicKey) {
                let primitives = try key.getKeyPrimitives()
                let exponent = [UInt8](primitives.publicExponent).drop { $0 == 0 }
                guard Array(exponent) == [0x01, 0x00, 0x01] else {
                    throw AttestationError(.invalidArgument,
                        "The EK certificate's RSA exponent is not 65537, so its EK is not from the TCG default "
                            + "template: give the EK's public area (tpm2_createek -u) with --ek-public instead.")
                }
                return try TPMPublic.defaultRSAEndorsementKey(modulus: [UInt8](primitives.modulus))
            }
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.invalidArgument, "The EK certificate's key cannot be used: \(error)")
        }
        throw AttestationError(.invalidArgument, "The EK certificate's key is neither RSA-2048 nor ECC P-256 "
            + "(the TCG default EK templates): give the EK's public area with --ek-public instead.")
    }

    /// How the verifier knows the EK it trusts.
    public enum TrustedEndorsementKey: Sendable {
        /// The EK public area (`TPM2B_PUBLIC`, as `tpm2_createek -u` writes it), trusted by other means.
        case publicArea([UInt8])
        /// An EK certificate (PEM or DER) that must chain to one of these PEM roots and certify a TCG
        /// default-template EK.
        case certificate([UInt8], rootsPEM: [String])
    }

    /// Makes a credential challenge for the AK of some evidence and an EK given as bytes.
    /// - Parameters:
    ///   - evidence: the evidence whose AK the credential is bound to.
    ///   - trusted: the EK's public area, or its certificate and the roots it must chain to.
    ///   - secret: the value the TPM will reveal (1 to 32 bytes).
    ///   - time: the certificate validation time.
    /// - Returns: the credential.
    /// - Throws: ``AttestationError`` `.evidenceRefused` when the key is not an AK or the certificate does
    ///   not chain (the reason starts with the refusal code); `.invalidArgument` when the EK does not parse
    ///   or is unsupported.
    public static func make(
        forAKOf evidence: Evidence, trusting trusted: TrustedEndorsementKey, secret: [UInt8], at time: Date = Date()
    ) async throws(AttestationError) -> MadeCredential {
        let endorsementKey: TPMPublic
        switch trusted {
        case .publicArea(let bytes):
            do {
                endorsementKey = try TPMPublic(parsing: bytes)
            } catch {
                throw AttestationError(.invalidArgument, "The EK public area is unusable: \(error.reason)")
            }
        case .certificate(let bytes, let rootsPEM):
            endorsementKey = try self.endorsementKey(certificate: bytes)
            let pem: String
            if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN") {
                pem = text
            } else {
                pem = PEMDocument(type: "CERTIFICATE", derBytes: bytes).pemString
            }
            let refusals = await EKCertificate.verify(
                pem: pem, rootsPEM: rootsPEM, endorsementKey: endorsementKey, at: time)
            if let refusal = refusals.first {
                throw AttestationError(.evidenceRefused, refusal.description)
            }
        }
        return try make(forAKOf: evidence, endorsementKey: endorsementKey, secret: secret)
    }
}
