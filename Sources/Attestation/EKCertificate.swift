import Crypto
import Foundation
import SwiftASN1
import TPM2
import X509
import _CryptoExtras

/// Checks an endorsement key certificate: it chains to one of the policy's roots (for vTPMs, the
/// swtpm local CA's issuer certificate) and certifies the EK the attester uses.
public enum EKCertificate {
    /// Verifies an EK certificate.
    /// - Parameters:
    ///   - pem: the EK certificate, PEM.
    ///   - rootsPEM: trusted roots, PEM (several certificates per string are fine).
    ///   - intermediatesPEM: issuing CAs the chain from the certificate to a root may pass through
    ///     (not trusted themselves), e.g. swtpm-localca's `issuercert.pem` below its root.
    ///   - endorsementKey: the EK public area the attester presented, if any; the certificate must certify it.
    ///   - time: the validation time.
    /// - Returns: no refusals when the certificate is good, otherwise why not (`ek.certificate`).
    public static func verify(
        pem: String, rootsPEM: [String], intermediatesPEM: [String] = [], endorsementKey: TPMPublic? = nil,
        at time: Date = Date()
    ) async -> [Refusal] {
        func refusal(_ reason: String) -> [Refusal] { [Refusal(.ekCertificate, reason)] }
        let leaf: Certificate
        do {
            leaf = try Certificate(pemEncoded: pem)
        } catch {
            return refusal("The EK certificate is not a PEM X.509 certificate.")
        }
        var roots: [Certificate] = []
        for text in rootsPEM {
            guard let documents = try? PEMDocument.parseMultiple(pemString: text) else {
                return refusal("A policy EK root is not PEM.")
            }
            for document in documents where document.discriminator == "CERTIFICATE" {
                guard let root = try? Certificate(derEncoded: document.derBytes) else {
                    return refusal("A policy EK root is not an X.509 certificate.")
                }
                roots.append(root)
            }
        }
        guard !roots.isEmpty else { return refusal("The policy names no EK root certificates.") }
        var intermediates: [Certificate] = []
        for text in intermediatesPEM {
            guard let documents = try? PEMDocument.parseMultiple(pemString: text) else {
                return refusal("An EK intermediate certificate is not PEM.")
            }
            for document in documents where document.discriminator == "CERTIFICATE" {
                guard let intermediate = try? Certificate(derEncoded: document.derBytes) else {
                    return refusal("An EK intermediate certificate is not an X.509 certificate.")
                }
                intermediates.append(intermediate)
            }
        }

        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(validationTime: time)
            EndorsementCertificatePolicy()
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates))
        guard case .validCertificate = result else {
            return refusal("The EK certificate (issuer \(leaf.issuer)) does not chain to the policy's EK roots, "
                + "or is expired: is this TPM from a trusted manufacturer or this host's swtpm CA?")
        }
        if let endorsementKey, let certified = certificatePublicKey(of: endorsementKey), certified != leaf.publicKey {
            return refusal("The EK certificate certifies another key than the attester's EK.")
        } else if let endorsementKey, certificatePublicKey(of: endorsementKey) == nil {
            return refusal("The attester's EK (\(endorsementKey.type)) is not a key type this verifier can compare.")
        }
        return []
    }

    /// The EK as an X.509 public key (RSA, or ECC on P-256/P-384), or `nil` for other keys.
    static func certificatePublicKey(of key: TPMPublic) -> Certificate.PublicKey? {
        switch key.key {
        case .rsa(let rsa):
            let exponent = withUnsafeBytes(of: rsa.exponent.bigEndian) { Array($0) }
            return (try? _RSA.Signing.PublicKey(n: rsa.modulus, e: exponent)).map(Certificate.PublicKey.init)
        case .ecc(let ecc) where ecc.curve == .nistP256:
            return (try? P256.Signing.PublicKey(rawRepresentation: ecc.x + ecc.y)).map(Certificate.PublicKey.init)
        case .ecc(let ecc) where ecc.curve == .nistP384:
            return (try? P384.Signing.PublicKey(rawRepresentation: ecc.x + ecc.y)).map(Certificate.PublicKey.init)
        default:
            return nil
        }
    }
}

extension QuoteVerifier {
    /// Verifies the quote and, when the policy names `ekRoots`, that the evidence's EK certificate
    /// chains to them. A policy with roots and evidence without a certificate is refused: roots that
    /// were silently skipped would give a policy author a guarantee that does not hold.
    /// - Parameters:
    ///   - evidence: the attester's evidence.
    ///   - nonce: the nonce this verifier issued.
    ///   - freshness: what the policy's `freshness` rules need besides the evidence.
    ///   - time: the certificate validation time.
    /// - Returns: ``Verdict/accepted``, or every refusal found.
    public func verifyIncludingEndorsement(
        _ evidence: Evidence, nonce: [UInt8], freshness: FreshnessContext = FreshnessContext(), at time: Date = Date()
    ) async -> Verdict {
        var refusals = verify(evidence, nonce: nonce, freshness: freshness).refusals
        if !policy.ekRoots.isEmpty {
            refusals += await checkEndorsement(evidence, at: time)
        }
        return refusals.isEmpty ? .accepted : .refused(refusals)
    }

    private func checkEndorsement(_ evidence: Evidence, at time: Date) async -> [Refusal] {
        guard let pem = evidence.ekCertificatePEM else {
            return [Refusal(.ekCertificate,
                "Policy \(policy.name) requires an EK certificate chaining to its ekRoots, but the evidence has none.")]
        }
        var roots: [String] = []
        for path in policy.ekRoots {
            guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20,
                  let text = String(data: data, encoding: .utf8)
            else {
                return [Refusal(.ekCertificate, "The policy's EK root \(path) cannot be read.")]
            }
            roots.append(text)
        }
        return await EKCertificate.verify(pem: pem, rootsPEM: roots, at: time)
    }
}
