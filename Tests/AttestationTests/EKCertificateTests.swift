import TestSupport
import Attestation
import Foundation
import Testing
import TPM2

/// EK certificates made by swtpm_setup with a local CA, checked against that CA.
@Suite struct EKCertificateTests {
    struct Manufactured {
        let certificatePEM: String
        let issuerPEM: String
        let rootPEM: String
        let rsaEK: TPMPublic
        let eccEK: TPMPublic
    }

    static func manufacture() throws -> Manufactured {
        try SoftwareTPM.with(endorsementCertificates: true) { tpm in
            // 0x01c00002: the RSA-2048 EK certificate (TCG EK Credential Profile).
            try tpm.tool("tpm2_nvread", ["0x1c00002", "-C", "o", "-o", "ek.der"])
            try tpm.tool("tpm2_createek", ["-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"])
            try tpm.tool("tpm2_createek", ["-c", "ekecc.ctx", "-G", "ecc", "-u", "ekecc.pub"])
            let der = try tpm.file("ek.der")
            let pem = "-----BEGIN CERTIFICATE-----\n"
                + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
                + "\n-----END CERTIFICATE-----\n"
            return Manufactured(
                certificatePEM: pem,
                issuerPEM: String(decoding: try tpm.file("ca/issuercert.pem"), as: UTF8.self),
                rootPEM: String(decoding: try tpm.file("ca/swtpm-localca-rootca-cert.pem"), as: UTF8.self),
                rsaEK: try TPMPublic(parsing: tpm.file("ek.pub")),
                eccEK: try TPMPublic(parsing: tpm.file("ekecc.pub")))
        }
    }

    @Test func swtpmEKCertificateChainsToItsLocalCAAndCertifiesTheEK() async throws {
        let made = try Self.manufacture()
        let good = await EKCertificate.verify(
            pem: made.certificatePEM, rootsPEM: [made.issuerPEM], endorsementKey: made.rsaEK)
        #expect(good.isEmpty, "\(good)")

        // The root CA alone, without the issuing intermediate, is not enough.
        let noIntermediate = await EKCertificate.verify(pem: made.certificatePEM, rootsPEM: [made.rootPEM])
        #expect(noIntermediate.map(\.code) == [.ekCertificate])

        // A certificate for another key: the attester's EK is not the certified one.
        let otherKey = await EKCertificate.verify(
            pem: made.certificatePEM, rootsPEM: [made.issuerPEM], endorsementKey: made.eccEK)
        #expect(otherKey.map(\.code) == [.ekCertificate])
        #expect(otherKey.first?.reason.contains("another key") == true)

        // Checked at a time before it was issued (swtpm EK certificates never expire: notAfter 9999).
        let early = await EKCertificate.verify(
            pem: made.certificatePEM, rootsPEM: [made.issuerPEM], at: Date(timeIntervalSince1970: 0))
        #expect(early.map(\.code) == [.ekCertificate])
    }

    @Test func garbageIsRefused() async {
        #expect(await EKCertificate.verify(pem: "not a certificate", rootsPEM: []).map(\.code) == [.ekCertificate])
    }

    @Test func policyEKRootsAreEnforced() async throws {
        let made = try Self.manufacture()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-ekroots-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rootPath = directory.appendingPathComponent("issuercert.pem").path
        try Data(made.issuerPEM.utf8).write(to: URL(fileURLWithPath: rootPath))

        func verifier(roots: [String]) throws -> QuoteVerifier {
            let yaml = SwtpmEvidence.policyYAML() + "ekRoots: [\(roots.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
            return QuoteVerifier(policy: try AttestationPolicy(yaml: yaml))
        }
        var evidence = try SwtpmEvidence.get().ecc
        let nonce = SwtpmEvidence.nonce

        let missing = try await verifier(roots: [rootPath]).verifyIncludingEndorsement(evidence, nonce: nonce)
        #expect(missing.refusalCodes == [.ekCertificate])

        evidence.ekCertificatePEM = made.certificatePEM
        #expect(try await verifier(roots: [rootPath]).verifyIncludingEndorsement(evidence, nonce: nonce) == .accepted)
        #expect(try Evidence(json: evidence.json()) == evidence)

        let unreadable = try await verifier(roots: ["/nonexistent/root.pem"])
            .verifyIncludingEndorsement(evidence, nonce: nonce)
        #expect(unreadable.refusalCodes == [.ekCertificate])

        let wrongRoot = directory.appendingPathComponent("root.pem").path
        try Data(made.rootPEM.utf8).write(to: URL(fileURLWithPath: wrongRoot))
        let unchained = try await verifier(roots: [wrongRoot]).verifyIncludingEndorsement(evidence, nonce: nonce)
        #expect(unchained.refusalCodes == [.ekCertificate])
    }
}
