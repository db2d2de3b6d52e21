import Foundation
import ShardCrypto
import Testing

@Suite struct VerifyCommandTests {
    // RFC 9591 Appendix E.4, FROST(P-256, SHA-256): group public key, message "test" and the final signature.
    static let rfcPublicKey = "023a309ad94e9fe8a7ba45dfc58f38bf091959d3c99cfbd02b4dc00585ec45ab70"
    static let rfcSignature = "02aea65143565d19f2811d6c1d7a7486fdd57dd3f6b08d8653ca260ec0ebe00b61"
        + "ca5d775641ac46891ac3d6089e1db471b3ab173ccb586035582185e43f13f245"
    static let rfcMessage = Array("test".utf8)

    @Test func theRFCSignatureIsValid() throws {
        let scratch = try ScratchDirectory()
        let key = try scratch.write("group.hex", Self.rfcPublicKey)
        let result = try CLI.run(["verify", "--public-key", key, "--signature", Self.rfcSignature], input: Self.rfcMessage)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == "valid\n")
    }

    @Test func aPEMKeyWorksToo() throws {
        let scratch = try ScratchDirectory()
        let pem = try Point(sec1: [UInt8](hexString: Self.rfcPublicKey)!).pemRepresentation()
        let key = try scratch.write("group.pem", pem)
        let result = try CLI.run(["verify", "--public-key", key, "--signature", Self.rfcSignature], input: Self.rfcMessage)
        #expect(result.status == 0, "\(result.standardError)")
    }

    @Test func anotherMessageOrKeyIsInvalid() throws {
        let scratch = try ScratchDirectory()
        let key = try scratch.write("group.hex", Self.rfcPublicKey)
        let tampered = try CLI.run(["verify", "--public-key", key, "--signature", Self.rfcSignature], input: Array("tesT".utf8))
        #expect(tampered.status == 1)
        #expect(tampered.standardOutput == "invalid\n")

        let otherKey = try scratch.write("other.hex", try Point.generatorMultiple(.random()).compressed().hexString)
        let wrongKey = try CLI.run(["verify", "--public-key", otherKey, "--signature", Self.rfcSignature], input: Self.rfcMessage)
        #expect(wrongKey.status == 1)
        #expect(wrongKey.standardOutput == "invalid\n")

        var flipped = [UInt8](hexString: Self.rfcSignature)!
        flipped[64] ^= 0x01
        let badZ = try CLI.run(["verify", "--public-key", key, "--signature", flipped.hexString], input: Self.rfcMessage)
        #expect(badZ.status == 1)
    }

    @Test(arguments: [
        ("not hex", "zz"),
        ("odd length", String(rfcSignature.dropLast())),
        ("too short", String(rfcSignature.dropLast(2))),
        ("too long", rfcSignature + "00"),
        ("identity R", "00" + String(repeating: "00", count: 64)),
        ("R off the curve", "02" + String(repeating: "ff", count: 32) + String(rfcSignature.suffix(64))),
        ("z not below the order", String(rfcSignature.prefix(66)) + String(repeating: "ff", count: 32)),
        ("empty", ""),
    ])
    func malformedSignaturesExitSixtyFiveWithoutACrash(label: String, signature: String) throws {
        let scratch = try ScratchDirectory()
        let key = try scratch.write("group.hex", Self.rfcPublicKey)
        let result = try CLI.run(["verify", "--public-key", key, "--signature", signature], input: Self.rfcMessage)
        #expect(result.status == 65, "\(label): \(result.standardError)")
        #expect(result.standardOutput.isEmpty, "\(label)")
        #expect(result.standardError.hasPrefix("keyshard: "), "\(label)")
    }

    @Test func malformedKeyExitsSixtyFive() throws {
        let scratch = try ScratchDirectory()
        let key = try scratch.write("group.hex", "04" + String(repeating: "00", count: 64))
        let result = try CLI.run(["verify", "--public-key", key, "--signature", Self.rfcSignature], input: Self.rfcMessage)
        #expect(result.status == 65)
        #expect(result.standardError.contains("group.hex"))
    }
}
