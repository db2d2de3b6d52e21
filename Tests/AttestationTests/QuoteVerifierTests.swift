import Attestation
import Crypto
import Foundation
import Testing
import TPM2

/// The verifier against real swtpm evidence: the good paths and one case per refusal,
/// including regressions for known verifier bugs.
@Suite struct QuoteVerifierTests {
    let fixture: SwtpmEvidence
    let verifier: QuoteVerifier

    init() throws {
        fixture = try SwtpmEvidence.get()
        verifier = QuoteVerifier(policy: try AttestationPolicy(yaml: SwtpmEvidence.policyYAML()))
    }

    private func refusalCodes(_ evidence: Evidence, nonce: [UInt8] = SwtpmEvidence.nonce) -> Set<Refusal.Code> {
        verifier.verify(evidence, nonce: nonce).refusalCodes
    }

    // MARK: Good paths

    @Test func swtpmWasStoppedAndItsStateRemoved() {
        #expect(fixture.swtpmCleanedUp)
    }

    @Test func reportedPCRsAreTheIndependentlyComputedOnes() {
        #expect(fixture.ecc.pcrs[.sha256] == SwtpmEvidence.expectedPCRs)
    }

    @Test func goodECCQuoteIsAccepted() {
        #expect(verifier.verify(fixture.ecc, nonce: SwtpmEvidence.nonce) == .accepted)
    }

    @Test func goodRSASSAQuoteIsAccepted() {
        #expect(verifier.verify(fixture.rsassa, nonce: SwtpmEvidence.nonce) == .accepted)
    }

    @Test func goodRSAPSSQuoteIsAccepted() {
        #expect(verifier.verify(fixture.rsapss, nonce: SwtpmEvidence.nonce) == .accepted)
    }

    @Test func akNameMatchesTpm2Tools() throws {
        #expect(try TPMPublic(parsing: fixture.ecc.akPublic).name() == fixture.eccAKName)
    }

    @Test func evidenceSurvivesJSON() throws {
        #expect(try Evidence(json: fixture.ecc.json()) == fixture.ecc)
    }

    // MARK: Refusals

    @Test func replayedNonceIsRefused() {
        var other = SwtpmEvidence.nonce
        other[0] ^= 1
        let verdict = verifier.verify(fixture.ecc, nonce: other)
        #expect(verdict.refusalCodes == [.quoteNonce])
        #expect(verdict.refusals.first?.reason.contains("replayed") == true)
    }

    /// CVE-2024-29038: a verifier that does not check the magic accepts structures the TPM did not make.
    @Test func magicNotTPMGeneratedIsRefused() {
        var evidence = fixture.ecc
        evidence.quoteMessage[0] = 0xfe
        let codes = refusalCodes(evidence)
        #expect(codes.contains(.quoteMagic))
        #expect(codes.contains(.signatureInvalid))
    }

    @Test func nonQuoteTypeIsRefused() {
        // 0x8017 is TPM_ST_ATTEST_CERTIFY; tss2-mu then reads a different body, which no longer fits.
        var evidence = fixture.ecc
        evidence.quoteMessage[5] = 0x17
        #expect(!refusalCodes(evidence).isEmpty)
        #expect(!verifier.verify(evidence, nonce: SwtpmEvidence.nonce).isAccepted)
    }

    /// CVE-2024-29039: a genuine quote over fewer PCRs than the policy pins.
    @Test func narrowerPCRSelectionIsRefused() {
        var evidence = fixture.narrowSelection
        // The attacker also reports the policy's value for PCR 9, which the TPM never quoted.
        evidence.pcrs[.sha256]?[9] = SwtpmEvidence.expectedPCRs[9]
        #expect(refusalCodes(evidence) == [.quotePCRSelection])
    }

    @Test func widerPCRSelectionIsRefused() {
        #expect(refusalCodes(fixture.wideSelection) == [.quotePCRSelection])
    }

    /// CVE-2023-3674: a bad signature must refuse, not just be logged.
    @Test func corruptedSignatureIsRefused() {
        var evidence = fixture.ecc
        evidence.quoteSignature[evidence.quoteSignature.count - 1] ^= 0x01
        #expect(refusalCodes(evidence) == [.signatureInvalid])
        var rsa = fixture.rsassa
        rsa.quoteSignature[rsa.quoteSignature.count - 1] ^= 0x01
        #expect(refusalCodes(rsa) == [.signatureInvalid])
        var pss = fixture.rsapss
        pss.quoteSignature[pss.quoteSignature.count - 1] ^= 0x01
        #expect(refusalCodes(pss) == [.signatureInvalid])
    }

    @Test func quoteSignedByAnotherAKIsRefused() {
        var evidence = fixture.ecc
        evidence.akPublic = fixture.otherAKPublic
        #expect(refusalCodes(evidence) == [.signatureInvalid])
    }

    @Test func signatureOfTheWrongKeyTypeIsRefused() {
        var evidence = fixture.ecc
        evidence.akPublic = fixture.rsassa.akPublic
        #expect(refusalCodes(evidence) == [.signatureScheme])
    }

    @Test func alteredQuotedDigestIsRefused() {
        var evidence = fixture.ecc
        evidence.quoteMessage[evidence.quoteMessage.count - 1] ^= 0x01
        #expect(refusalCodes(evidence) == [.quotePCRDigest, .signatureInvalid])
    }

    @Test func pcrValueOutsidePolicyIsRefused() throws {
        let strict = QuoteVerifier(policy: try AttestationPolicy(
            yaml: SwtpmEvidence.policyYAML(pcr9: [UInt8](repeating: 0x1e, count: 32))))
        let verdict = strict.verify(fixture.ecc, nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.pcrValue])
        let reason = try #require(verdict.refusals.first?.reason)
        let actual = SwtpmEvidence.expectedPCRs[9]!.map { String(format: "%02x", $0) }.joined()
        #expect(reason.contains("PCR 9 is \(actual)"))
        #expect(reason.contains("1e1e1e1e…"))
        #expect(reason.contains("initrd"))
    }

    @Test func reportedPCRsNotMatchingTheQuotedDigestAreRefused() {
        // The attester reports values the policy allows, but the TPM quoted others.
        var evidence = fixture.ecc
        evidence.pcrs[.sha256]?[9] = [UInt8](repeating: 0xab, count: 32)
        #expect(refusalCodes(evidence) == [.quotePCRDigest])
    }

    @Test func missingPCRValueIsRefused() {
        var evidence = fixture.ecc
        evidence.pcrs[.sha256]?[4] = nil
        #expect(refusalCodes(evidence) == [.pcrMissing])
    }

    @Test func truncatedStructuresAreRefused() {
        var message = fixture.ecc
        message.quoteMessage.removeLast(5)
        #expect(refusalCodes(message).contains(.quoteMalformed))
        var signature = fixture.ecc
        signature.quoteSignature.removeLast()
        #expect(refusalCodes(signature).contains(.signatureMalformed))
        var ak = fixture.ecc
        ak.akPublic.removeLast()
        #expect(refusalCodes(ak).contains(.akMalformed))
        var empty = fixture.ecc
        empty.quoteMessage = []
        #expect(refusalCodes(empty).contains(.quoteMalformed))
    }

    @Test func oversizedStructuresAreRefused() {
        var trailing = fixture.ecc
        trailing.quoteMessage.append(0)
        #expect(refusalCodes(trailing).contains(.quoteMalformed))
        var huge = fixture.ecc
        huge.quoteSignature += [UInt8](repeating: 0, count: 1 << 20)
        #expect(refusalCodes(huge).contains(.signatureMalformed))
        var longAK = fixture.ecc
        longAK.akPublic += [0, 0]
        #expect(refusalCodes(longAK).contains(.akMalformed))
    }

    @Test func nonRestrictedSigningKeyIsRefused() throws {
        let verdict = verifier.verify(fixture.unrestrictedKey, nonce: SwtpmEvidence.nonce)
        // The signature itself is genuine: only the key's attributes give it away.
        #expect(verdict.refusalCodes == [.akAttributes])
        #expect(verdict.refusals.first?.reason.contains("restricted") == true)
    }

    @Test func akWithoutFixedTPMIsRefused() throws {
        // Clear fixedTPM (bit 1 of the attribute word at offset 6..9 of the TPM2B_PUBLIC) and sign nothing
        // new: the attribute check must refuse on its own, whatever the signature says.
        var evidence = fixture.ecc
        evidence.akPublic[9] &= ~0x02
        let codes = refusalCodes(evidence)
        #expect(codes.contains(.akAttributes))
        #expect(!codes.contains(.akMalformed))
    }

    @Test func everyRefusalIsListedNotJustTheFirst() {
        var evidence = fixture.ecc
        evidence.quoteMessage[0] = 0
        evidence.pcrs[.sha256]?[0] = [UInt8](repeating: 1, count: 32)
        let codes = verifier.verify(evidence, nonce: [1, 2, 3]).refusalCodes
        #expect(codes.isSuperset(of: [.quoteMagic, .quoteNonce, .quotePCRDigest, .pcrValue, .signatureInvalid]))
    }

    @Test func aPolicyWithoutPCRsAcceptsNothing() {
        let empty = QuoteVerifier(policy: AttestationPolicy(name: "empty", pcrBank: .sha256, allowedPCRValues: [:]))
        #expect(empty.verify(fixture.ecc, nonce: SwtpmEvidence.nonce).refusalCodes.contains(.quotePCRSelection))
    }
}
