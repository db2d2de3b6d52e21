import TestSupport
import Attestation
import Crypto
import Foundation
import Testing
import TPM2

/// Software MakeCredential checked by a real TPM: swtpm's ActivateCredential must recover the
/// credential for the right AK and refuse it for any other.
@Suite struct MakeCredentialTests {
    /// Activates `made` with the AK in `ak.ctx` under the EK in `ek.ctx`, returning what the TPM recovered.
    private func activate(_ made: MadeCredential, in tpm: SoftwareTPM) throws -> [UInt8] {
        try tpm.write("cred.in", made.tpm2ToolsFile)
        // The TCG EK is usable only through PolicySecret(endorsement hierarchy).
        try tpm.tool("tpm2_startauthsession", ["--policy-session", "-S", "session.ctx"], flush: false)
        try tpm.tool("tpm2_policysecret", ["-S", "session.ctx", "-c", "e"], flush: false)
        try tpm.tool("tpm2_activatecredential", [
            "-c", "ak.ctx", "-C", "ek.ctx", "-i", "cred.in", "-o", "cred.out", "-P", "session:session.ctx",
        ])
        return try tpm.file("cred.out")
    }

    @Test(arguments: ["ecc", "rsa"])
    func swtpmActivatesASoftwareMadeCredentialOnlyForTheBoundAK(ekType: String) throws {
        try SoftwareTPM.with { tpm in
            try tpm.tool("tpm2_createek", ["-c", "ek.ctx", "-G", ekType, "-u", "ek.pub"])
            try tpm.tool("tpm2_createak", ["-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-s", "ecdsa", "-g", "sha256",
                                          "-u", "ak.pub", "-n", "ak.name", "-r", "ak.priv"])
            let ek = try TPMPublic(parsing: tpm.file("ek.pub"))
            #expect(ek.type == (ekType == "rsa" ? .rsa : .ecc))
            let akName = try TPMPublic(parsing: tpm.file("ak.pub")).name()
            #expect(akName == (try tpm.file("ak.name")))

            let credential = Array(SHA256.hash(data: Array("challenge".utf8)))
            let made = try MadeCredential(credential: credential, objectName: akName, endorsementKey: ek)
            #expect(try activate(made, in: tpm) == credential)

            // CVE-2022-1053's lesson: a credential bound to another name must not activate with this AK.
            var otherName = akName
            otherName[otherName.count - 1] ^= 1
            let misbound = try MadeCredential(credential: credential, objectName: otherName, endorsementKey: ek)
            #expect(throws: SoftwareTPM.Failure.self) { try activate(misbound, in: tpm) }
        }
    }

    @Test func unsupportedInputsAreRefused() throws {
        let ak = try TPMPublic(parsing: SwtpmEvidence.get().rsassa.akPublic)
        #expect(throws: AttestationError(.invalidArgument, "")) {
            try MadeCredential(credential: [1], objectName: [0, 0x0b], endorsementKey: ak)
        }
        let ecc = try TPMPublic(parsing: SwtpmEvidence.get().ecc.akPublic)
        // An ECC AK has no symmetric algorithm, unlike an EK.
        #expect(throws: AttestationError(.invalidArgument, "")) {
            try MadeCredential(credential: [1], objectName: [0, 0x0b], endorsementKey: ecc)
        }
    }
}
