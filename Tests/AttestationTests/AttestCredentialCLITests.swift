import Attestation
import Foundation
import TestSupport
import Testing

/// `keyshard attest credential` against a real TPM: swtpm's `tpm2_activatecredential` must recover the
/// secret the command wrote, and only for the evidence's AK.
extension AttestCLITests {
    /// Runs ActivateCredential on `credential` with the AK in `ak.ctx` under the EK in `ek.ctx`.
    private func activate(_ credential: String, in tpm: SoftwareTPM) throws -> [UInt8] {
        // The TCG EK is usable only through PolicySecret(endorsement hierarchy).
        try tpm.tool("tpm2_startauthsession", ["--policy-session", "-S", "session.ctx"], flush: false)
        try tpm.tool("tpm2_policysecret", ["-S", "session.ctx", "-c", "e"], flush: false)
        try tpm.tool("tpm2_activatecredential", [
            "-c", "ak.ctx", "-C", "ek.ctx", "-i", credential, "-o", "answer.bin", "-P", "session:session.ctx",
        ])
        return try tpm.file("answer.bin")
    }

    @Test func credentialOpensOnlyInTheEKsTPMForTheEvidencesAK() throws {
        try SoftwareTPM.with(endorsementCertificates: true) { tpm in
            try tpm.tool("tpm2_createek", ["-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"])
            try tpm.tool("tpm2_createak", ["-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-s", "ecdsa", "-g", "sha256",
                                          "-u", "ak.pub", "-n", "ak.name", "-r", "ak.priv"])
            try tpm.tool("tpm2_quote", ["-c", "ak.ctx", "-l", "sha256:0", "-q", "00ff", "-g", "sha256",
                                       "-m", "q.msg", "-s", "q.sig"])
            let evidence = Evidence(nonce: [0, 0xff], akPublic: try tpm.file("ak.pub"),
                                    quoteMessage: try tpm.file("q.msg"), quoteSignature: try tpm.file("q.sig"),
                                    pcrs: [.sha256: [0: [UInt8](repeating: 0, count: 32)]])
            try tpm.write("e.json", [UInt8](evidence.json()))
            try tpm.write("other.json", [UInt8](try SwtpmEvidence.get().ecc.json()))
            try tpm.write("plain.json", [UInt8](try SwtpmEvidence.get().unrestrictedKey.json()))
            // swtpm_setup stored the RSA EK's certificate (DER) at the TCG index 0x01c00002.
            try tpm.tool("tpm2_nvread", ["0x01c00002", "-o", "ek.der"])

            // With the EK public area.
            let byPublic = try run(["attest", "credential", "--evidence", tpm.path("e.json"),
                                    "--ek-public", tpm.path("ek.pub"), "--out-dir", tpm.path("one")])
            #expect(byPublic.status == 0)
            let secret = try tpm.file("one/secret.bin")
            #expect(secret.count == 32)
            let mode = try FileManager.default.attributesOfItem(atPath: tpm.path("one/secret.bin"))[.posixPermissions]
            #expect(mode as? Int == 0o600)
            #expect(!byPublic.output.lowercased().contains(secret.map { String(format: "%02x", $0) }.joined()))
            #expect(try tpm.file("one/credential.bin").prefix(8) == [0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1])
            #expect(try activate("one/credential.bin", in: tpm) == secret)

            // With the EK certificate, checked against the swtpm CA.
            let byCertificate = try run(["attest", "credential", "--evidence", tpm.path("e.json"),
                                         "--ek-certificate", tpm.path("ek.der"),
                                         "--ek-root", tpm.path("ca/issuercert.pem"), "--out-dir", tpm.path("two")])
            #expect(byCertificate.status == 0)
            let secondSecret = try tpm.file("two/secret.bin")
            #expect(secondSecret != secret)
            #expect(try activate("two/credential.bin", in: tpm) == secondSecret)

            // A credential bound to another TPM's AK does not open with this one (CVE-2022-1053's lesson).
            let other = try run(["attest", "credential", "--evidence", tpm.path("other.json"),
                                 "--ek-public", tpm.path("ek.pub"), "--out-dir", tpm.path("three")])
            #expect(other.status == 0)
            #expect(throws: SoftwareTPM.Failure.self) { try activate("three/credential.bin", in: tpm) }

            // Refusals write nothing.
            let notAnAK = try run(["attest", "credential", "--evidence", tpm.path("plain.json"),
                                   "--ek-public", tpm.path("ek.pub"), "--out-dir", tpm.path("four")])
            #expect(notAnAK.status == 1)
            #expect(notAnAK.output.contains("[ak.attributes]"))
            try tpm.tool("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-subj", "/CN=not the swtpm CA", "-days", "1",
                                    "-keyout", "other-ca.key", "-out", "other-ca.pem"], flush: false)
            let wrongRoot = try run(["attest", "credential", "--evidence", tpm.path("e.json"),
                                     "--ek-certificate", tpm.path("ek.der"),
                                     "--ek-root", tpm.path("other-ca.pem"), "--out-dir", tpm.path("five")])
            #expect(wrongRoot.status == 1)
            #expect(wrongRoot.output.contains("[ek.certificate]"))
            let unchecked = try run(["attest", "credential", "--evidence", tpm.path("e.json"),
                                     "--ek-certificate", tpm.path("ek.der"), "--out-dir", tpm.path("six")])
            #expect(unchecked.status != 0 && unchecked.output.contains("--ek-root"))
            let notAnEK = try run(["attest", "credential", "--evidence", tpm.path("e.json"),
                                   "--ek-public", tpm.path("e.json"), "--out-dir", tpm.path("seven")])
            #expect(notAnEK.status == 2)
            for directory in ["four", "five", "six", "seven"] {
                #expect(!FileManager.default.fileExists(atPath: tpm.path(directory)))
            }
        }
    }
}
