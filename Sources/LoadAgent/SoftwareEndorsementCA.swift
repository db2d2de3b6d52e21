import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority that exists for one benchmark run and certifies ``SimulatedTPM`` EKs.
/// Its root is trusted only by the policy the benchmark hands its own daemon, so no real
/// deployment's policy (whose `ekRoots` are TPM vendors' or a host's swtpm CA) admits a software
/// custodian.
public struct SoftwareEndorsementCA: Sendable {
    private let key: P256.Signing.PrivateKey
    private let name: DistinguishedName
    /// The self-signed root, PEM.
    public let rootPEM: String
    /// The root's DER, whose SHA-256 custodians pin.
    public let rootDER: [UInt8]

    /// Makes a fresh root key and certificate, valid for a day.
    /// - Throws: when the certificate cannot be made.
    public init() throws {
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName {
            OrganizationName("keyshard benchmark")
            CommonName("software EK CA (load tests only)")
        }
        let now = Date()
        let root = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        var serializer = DER.Serializer()
        try serializer.serialize(root)
        rootDER = serializer.serializedBytes
        rootPEM = try root.serializeAsPEM().pemString
    }

    /// Certifies a software EK.
    /// - Parameter endorsementKey: the EK's public key.
    /// - Returns: the EK certificate, DER.
    /// - Throws: when the certificate cannot be made.
    func certify(_ endorsementKey: P256.KeyAgreement.PublicKey) throws -> [UInt8] {
        let now = Date()
        let subject = try DistinguishedName { CommonName("software EK") }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(try P256.Signing.PublicKey(rawRepresentation: endorsementKey.rawRepresentation)),
            notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: name, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(KeyUsage(keyEncipherment: true)) },
            issuerPrivateKey: Certificate.PrivateKey(key))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }
}
