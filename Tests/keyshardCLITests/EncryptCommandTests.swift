import Crypto
import Foundation
import ShardCrypto
import Testing

@Suite struct EncryptCommandTests {
    static let suite = HPKE.Ciphersuite.P256_SHA256_AES_GCM_256

    /// Decodes `keyshard:v1:<base64>` and opens it with swift-crypto's own HPKE
    /// recipient: an implementation independent of keyshard's.
    func openWithSwiftCrypto(_ line: String, key: P256.KeyAgreement.PrivateKey, info: String) throws -> [UInt8] {
        let armored = line.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(armored.hasPrefix("keyshard:v1:"))
        let bytes = try #require(Data(base64Encoded: String(armored.dropFirst("keyshard:v1:".count))))
        #expect(bytes.count >= 65 + 16)
        var recipient = try HPKE.Recipient(
            privateKey: key, ciphersuite: Self.suite, info: Data(info.utf8), encapsulatedKey: bytes.prefix(65))
        return Array(try recipient.open(bytes.dropFirst(65)))
    }

    @Test func sealsToAPEMKeyForAnyHPKERecipient() throws {
        let scratch = try ScratchDirectory()
        let key = P256.KeyAgreement.PrivateKey()
        let path = try scratch.write("key.pem", key.publicKey.pemRepresentation)
        let message = Array("the database password".utf8)
        let result = try CLI.run(["encrypt", "--public-key", path, "--info", "payments/db"], input: message)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try openWithSwiftCrypto(result.standardOutput, key: key, info: "payments/db") == message)
        // The info string is bound: the same ciphertext does not open under another purpose.
        #expect(throws: (any Error).self) { try openWithSwiftCrypto(result.standardOutput, key: key, info: "other") }
    }

    @Test func sealsToSEC1HexAndEmptyInput() throws {
        let scratch = try ScratchDirectory()
        let key = P256.KeyAgreement.PrivateKey()
        let path = try scratch.write("key.hex", Array(key.publicKey.compressedRepresentation).hexString + "\n")
        let result = try CLI.run(["encrypt", "--public-key", path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try openWithSwiftCrypto(result.standardOutput, key: key, info: "") == [])
    }

    @Test func twoEncryptionsDiffer() throws {
        let scratch = try ScratchDirectory()
        let key = P256.KeyAgreement.PrivateKey()
        let path = try scratch.write("key.pem", key.publicKey.pemRepresentation)
        let first = try CLI.run(["encrypt", "--public-key", path], input: [1, 2, 3])
        let second = try CLI.run(["encrypt", "--public-key", path], input: [1, 2, 3])
        #expect(first.standardOutput != second.standardOutput)
    }

    @Test func unreadableOrInvalidKeysExitSixtyFiveWithAReason() throws {
        let scratch = try ScratchDirectory()
        let missing = try CLI.run(["encrypt", "--public-key", scratch.url.appendingPathComponent("absent.pem").path])
        #expect(missing.status == 65)
        #expect(missing.standardError.contains("absent.pem"))
        #expect(missing.standardOutput.isEmpty)

        let garbage = try CLI.run(["encrypt", "--public-key", try scratch.write("bad.pem", "hello")])
        #expect(garbage.status == 65)
        #expect(garbage.standardError.contains("not a usable P-256 public key"))

        let offCurve = try CLI.run(["encrypt", "--public-key", try scratch.write("off.hex", "02" + String(repeating: "ff", count: 32))])
        #expect(offCurve.status == 65)

        let p384 = try CLI.run(["encrypt", "--public-key", try scratch.write("p384.pem", P384.Signing.PrivateKey().publicKey.pemRepresentation)])
        #expect(p384.status == 65)
    }

    @Test func missingOptionIsAUsageError() throws {
        let result = try CLI.run(["encrypt"])
        #expect(result.status == 64)
        #expect(result.standardError.contains("--public-key"))
    }

    @Test func helpTeachesTheFormat() throws {
        let result = try CLI.run(["encrypt", "--help"])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("keyshard:v1:"))
        #expect(result.standardOutput.contains("AES-256-GCM"))
    }
}
