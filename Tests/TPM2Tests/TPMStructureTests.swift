import Testing
import TPM2

/// Structures captured from swtpm 0.7.1 with tpm2-tools 5.4: `tpm2_createak -G ecc -s ecdsa -g sha256`
/// and `tpm2_quote -l sha256:0,4,9 -q 0011223344556677` after extending PCR 9.
enum SwtpmCapture {
    static let akPublic = hex(
        "00580023000b00050072000000100018000b000300100020591bf2a932d494a0b020f4a41ce579f73404b3133f1c15f8"
            + "ffe8a84fceaa83510020b45623a5574d8d3c899a44cea49f9f496fea235abf0ee4f188ae85ab55e2fd56")
    static let akName = hex("000bff021b0742a1710d54305d0baee9a297a6569a0e05090ca3212ed82b32e68cc2")
    static let signature = hex(
        "0018000b0020d284017cb77905ddd598636e1992617ef3c23b26f2ea4481d7a43d095309d2090020aee4dbf854c0caa9"
            + "f2c69a7ec400b6c24409dc49f277ed2b00b4a0d8f10e934d")
    static let message = hex(
        "ff54434780180022000b6b3d4647a63a39ae1e81097ec53888c51d5fd0bb49b493fb9c4da027444e74f60008001122"
            + "33445566770000000000001629000000010000000001201910230016363600000001000b031102000020da84a32b"
            + "9caf4d5626e80cc0a696991fc96112611a7101c37dbe7755a582a1fe")

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}

@Suite struct TPMStructureTests {
    @Test func parsesAnECCAttestationKey() throws {
        let ak = try TPMPublic(parsing: SwtpmCapture.akPublic)
        #expect(ak.type == .ecc)
        #expect(ak.nameAlgorithm == .sha256)
        #expect(ak.attributes.isSuperset(of: [.restricted, .sign, .fixedTPM, .fixedParent, .sensitiveDataOrigin]))
        #expect(!ak.attributes.contains(.decrypt))
        guard case .ecc(let key) = ak.key else {
            Issue.record("expected an ECC key")
            return
        }
        #expect(key.curve == .nistP256)
        #expect(key.scheme == .ecdsa)
        #expect(key.schemeHash == .sha256)
        #expect(key.x.count == 32 && key.y.count == 32)
        #expect(ak.encodedPublicArea == Array(SwtpmCapture.akPublic.dropFirst(2)))
    }

    @Test func nameMatchesWhatTpm2ToolsWrote() throws {
        #expect(try TPMPublic(parsing: SwtpmCapture.akPublic).name() == SwtpmCapture.akName)
    }

    @Test func parsesAQuote() throws {
        let attest = try TPMAttestation(parsing: SwtpmCapture.message)
        #expect(attest.magic == TPMAttestation.generatedValue)
        #expect(attest.type == TPMAttestation.quoteType)
        #expect(attest.extraData == SwtpmCapture.hex("0011223344556677"))
        #expect(attest.encoded == SwtpmCapture.message)
        let quote = try #require(attest.quote)
        #expect(quote.selections == [TPMPCRSelection(bank: .sha256, indexes: [9, 0, 4])])
        #expect(quote.selections.first?.description == "sha256:0,4,9")
        #expect(quote.pcrDigest.count == 32)
    }

    @Test func parsesAnECDSASignature() throws {
        let signature = try TPMSignature(parsing: SwtpmCapture.signature)
        guard case .ecdsa(let hash, let r, let s) = signature else {
            Issue.record("expected ECDSA")
            return
        }
        #expect(hash == .sha256)
        #expect(r.count == 32 && s.count == 32)
        #expect(signature.scheme == .ecdsa)
    }

    @Test func trailingBytesAreRefused() {
        #expect(throws: TPMStructureError(.trailingBytes, "")) {
            try TPMAttestation(parsing: SwtpmCapture.message + [0])
        }
        #expect(throws: TPMStructureError(.trailingBytes, "")) {
            try TPMSignature(parsing: SwtpmCapture.signature + [0, 0])
        }
        #expect(throws: TPMStructureError(.trailingBytes, "")) {
            try TPMPublic(parsing: SwtpmCapture.akPublic + [1])
        }
    }

    @Test func truncatedStructuresAreRefused() {
        for length in [1, 10, SwtpmCapture.message.count - 1] {
            #expect(throws: TPMStructureError(.truncated, "")) {
                try TPMAttestation(parsing: Array(SwtpmCapture.message.prefix(length)))
            }
        }
        #expect(throws: TPMStructureError(.truncated, "")) { try TPMAttestation(parsing: []) }
        #expect(throws: TPMStructureError(.truncated, "")) {
            try TPMSignature(parsing: Array(SwtpmCapture.signature.dropLast()))
        }
        #expect(throws: TPMStructureError(.truncated, "")) {
            try TPMPublic(parsing: Array(SwtpmCapture.akPublic.dropLast()))
        }
    }

    @Test func oversizedInputIsRefusedBeforeParsing() {
        let huge = SwtpmCapture.message + [UInt8](repeating: 0, count: TPMAttestation.maximumEncodedSize)
        #expect(throws: TPMStructureError(.tooLarge, "")) { try TPMAttestation(parsing: huge) }
        #expect(throws: TPMStructureError(.tooLarge, "")) {
            try TPMSignature(parsing: [UInt8](repeating: 0, count: TPMSignature.maximumEncodedSize + 1))
        }
    }

    @Test func oversizedInnerLengthIsRefused() {
        // extraData's size field (offset 42) claims 0xffff bytes: more than the input and than TPM2B_DATA holds.
        var message = SwtpmCapture.message
        message[42] = 0xff
        message[43] = 0xff
        #expect(throws: TPMStructureError.self) { try TPMAttestation(parsing: message) }
    }

    @Test func pcrSelectionListParses() throws {
        // count 2: sha1 with PCR 7, sha256 with PCRs 0 and 17.
        let list = try TPMPCRSelection.parseList([0, 0, 0, 2, 0x00, 0x04, 3, 0x80, 0, 0, 0x00, 0x0b, 3, 1, 0, 2])
        #expect(list == [
            TPMPCRSelection(bank: .sha1, indexes: [7]), TPMPCRSelection(bank: .sha256, indexes: [0, 17]),
        ])
        #expect(throws: TPMStructureError(.trailingBytes, "")) {
            try TPMPCRSelection.parseList([0, 0, 0, 0, 9])
        }
    }

    @Test func algorithmNamesFollowTpm2Tools() {
        #expect(TPMAlgorithmID.sha256.description == "sha256")
        #expect(TPMAlgorithmID(hashName: "sha384") == .sha384)
        #expect(TPMAlgorithmID(hashName: "md5") == nil)
        #expect(TPMAlgorithmID(rawValue: 0x1234).description == "0x1234")
        #expect(TPMObjectAttributes([.sign, .restricted]).description == "restricted|sign")
    }
}
