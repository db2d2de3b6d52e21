import Foundation
import ShardCrypto
import Testing
import _CryptoExtras

/// ShardCrypto's labelled RSA-OAEP, checked against swift-crypto (which can decrypt only with an empty label).
@Suite struct RSAOAEPTests {
    @Test func emptyLabelDecryptsWithSwiftCrypto() throws {
        let key = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let message = Array("seed".utf8)
        let ciphertext = try RSAOAEP.encryptSHA256(
            message, publicKeyDER: [UInt8](key.publicKey.derRepresentation), label: [])
        #expect(ciphertext.count == 256)
        #expect([UInt8](try key.decrypt(ciphertext, padding: .PKCS1_OAEP_SHA256)) == message)
    }

    @Test func aLabelChangesTheCiphertextSoTheLabelFreeDecryptionFails() throws {
        let key = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let ciphertext = try RSAOAEP.encryptSHA256(
            [1, 2, 3], publicKeyDER: [UInt8](key.publicKey.derRepresentation), label: Array("IDENTITY\0".utf8))
        #expect(throws: (any Error).self) { try key.decrypt(ciphertext, padding: .PKCS1_OAEP_SHA256) }
    }

    @Test func refusals() throws {
        #expect(throws: ShardCryptoError(.invalidKeyEncoding, "")) {
            try RSAOAEP.encryptSHA256([1], publicKeyDER: [0x30, 0x00], label: [])
        }
        let key = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        #expect(throws: ShardCryptoError(.encryptionFailed, "")) {
            try RSAOAEP.encryptSHA256(
                [UInt8](repeating: 7, count: 300), publicKeyDER: [UInt8](key.publicKey.derRepresentation), label: [])
        }
    }
}
