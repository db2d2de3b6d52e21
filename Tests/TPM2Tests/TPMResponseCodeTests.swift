import Testing
import TPM2

@Suite struct TPMResponseCodeTests {
    @Test func successIsRecognised() {
        #expect(TPMResponseCode(rawValue: 0).isSuccess)
        #expect(!TPMResponseCode(rawValue: 0x101).isSuccess)
    }

    @Test func tpmErrorsAreDecodedByTSS() {
        // TPM_RC_AUTH_FAIL (0x98e) is the classic "wrong password" answer.
        let code = TPMResponseCode(rawValue: 0x98e)
        #expect(code.layer == 0)
        #expect(code.description.contains("authorization"))
    }

    @Test func layerIsTheTopByte() {
        // ESAPI layer (7) with TSS2_BASE_RC_BAD_REFERENCE (5).
        #expect(TPMResponseCode(rawValue: 0x0007_0005).layer == 7)
    }
}
