import Foundation
import TestSupport
import TPM2
import Testing

/// The ESAPI device layer against a real swtpm (no resource manager: only about three
/// transient objects fit, so a leaked handle or session fails these tests quickly).
@Suite("TPM device (swtpm)", .serialized)
struct TPMDeviceTests {
    static let selection = TPMPCRSelection(bank: .sha256, indexes: [0, 4, 9])

    static func tcti(_ tpm: SoftwareTPM) -> String { "swtpm:host=127.0.0.1,port=\(tpm.port)" }

    @Test("EK, AK, quote and PCR read; the quote binds the qualifying data and the AK is restricted ECDSA")
    func quoteAndRead() throws {
        try SoftwareTPM.with { tpm in
            let device = try TPMDevice(tcti: Self.tcti(tpm))
            defer { device.close() }
            let identity = try device.createAttestationIdentity()
            let ak = try TPMPublic(parsing: identity.attestationKeyPublic)
            #expect(ak.attributes.isSuperset(of: [.restricted, .sign, .fixedTPM, .fixedParent, .sensitiveDataOrigin]))
            #expect(try ak.name() == identity.attestationKeyName)
            let ek = try TPMPublic(parsing: identity.endorsementKeyPublic)
            #expect(ek.attributes.isSuperset(of: [.restricted, .decrypt, .adminWithPolicy]))
            guard case .ecc(let point) = ek.key else {
                Issue.record("the EK is not ECC")
                return
            }
            // The TCG template fixes everything but the point.
            let rebuilt = try TPMPublic.defaultECCEndorsementKey(x: point.x, y: point.y)
            #expect(rebuilt.encodedPublicArea == ek.encodedPublicArea)

            let data = [UInt8](repeating: 0xA5, count: 32)
            let quote = try device.quote(selection: Self.selection, qualifyingData: data)
            let attestation = try TPMAttestation(parsing: quote.attestation)
            #expect(attestation.extraData == data)
            #expect(attestation.quote?.selections == [Self.selection])
            _ = try TPMSignature(parsing: quote.signature)

            let pcrs = try device.readPCRs(Self.selection)
            #expect(Set(pcrs.keys) == [0, 4, 9])
            #expect(pcrs.values.allSatisfy { $0.count == 32 })
        }
    }

    @Test("1,000 quotes and 50 AK re-creations on one swtpm without a resource manager leak no handle")
    func noHandleLeak() throws {
        try SoftwareTPM.with { tpm in
            let device = try TPMDevice(tcti: Self.tcti(tpm))
            defer { device.close() }
            for _ in 0..<50 { _ = try device.createAttestationIdentity() }
            for round in 0..<1_000 {
                let data = withUnsafeBytes(of: UInt32(round).bigEndian) { Array($0) }
                let quote = try device.quote(selection: Self.selection, qualifyingData: data)
                #expect(try TPMAttestation(parsing: quote.attestation).extraData == data)
            }
            // A junk credential reaches the TPM (a policy session started and was refused) …
            let refusal = try #require(throws: TPMDeviceError.self) {
                _ = try device.activateCredential(credentialBlob: [0, 1, 0], encryptedSecret: [0, 1, 0])
            }
            #expect(refusal.code == .commandFailed)
            // … and there is still room for a session and two objects afterwards.
            _ = try device.createAttestationIdentity()
            _ = try device.quote(selection: Self.selection, qualifyingData: [1])
        }
    }

    @Test("No EK certificate in NV gives nil; a manufactured TPM gives its DER certificate")
    func endorsementCertificate() throws {
        try SoftwareTPM.with { tpm in
            let device = try TPMDevice(tcti: Self.tcti(tpm))
            defer { device.close() }
            #expect(try device.readEndorsementCertificate() == nil)
        }
        try SoftwareTPM.with(endorsementCertificates: true) { tpm in
            let device = try TPMDevice(tcti: Self.tcti(tpm))
            defer { device.close() }
            // swtpm_setup certifies the RSA-2048 EK (and an ECC P-384 one, not a default template here).
            #expect(try device.readEndorsementCertificate(.eccP256) == nil)
            let certificate = try #require(try device.readEndorsementCertificate(.rsa2048))
            #expect(certificate.first == 0x30)  // a DER SEQUENCE
            #expect(certificate.count > 300)
            // The RSA EK from template L-1 is the key the certificate names: its modulus is in the DER.
            let identity = try device.createAttestationIdentity(endorsementKey: .rsa2048)
            let ek = try TPMPublic(parsing: identity.endorsementKeyPublic)
            guard case .rsa(let rsa) = ek.key else {
                Issue.record("the EK is not RSA")
                return
            }
            #expect(rsa.keyBits == 2048)
            #expect(certificate.firstRange(of: rsa.modulus) != nil)
            #expect(try TPMPublic.defaultRSAEndorsementKey(modulus: rsa.modulus).encodedPublicArea
                == ek.encodedPublicArea)
        }
    }

    @Test("Refusals: unknown TCTI, quote before the AK, too much qualifying data, bad PCR index")
    func refusals() throws {
        #expect(throws: TPMDeviceError(.tctiUnavailable, "")) {
            _ = try TPMDevice(tcti: "swtpm:host=127.0.0.1,port=1")
        }
        try SoftwareTPM.with { tpm in
            let device = try TPMDevice(tcti: Self.tcti(tpm))
            defer { device.close() }
            #expect(throws: TPMDeviceError(.noAttestationKey, "")) {
                _ = try device.quote(selection: Self.selection, qualifyingData: [1])
            }
            _ = try device.createAttestationIdentity()
            #expect(throws: TPMDeviceError(.invalidArgument, "")) {
                _ = try device.quote(selection: Self.selection, qualifyingData: [UInt8](repeating: 0, count: 65))
            }
            #expect(throws: TPMDeviceError(.invalidArgument, "")) {
                _ = try device.readPCRs(TPMPCRSelection(bank: .sha256, indexes: [24]))
            }
        }
    }
}
