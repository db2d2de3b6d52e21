import Crypto
import Foundation
import Testing

@testable import ShardCrypto

/// keyshard's HPKE against swift-crypto's own implementation of the same suite,
/// both directions, with fresh keys each run.
@Suite struct HPKEInteropTests {
    let info = Array("keyshard interop".utf8)
    let message = Array("a data key, wrapped for the group".utf8)
    let requestContext = Array("request-42".utf8)

    @Test(arguments: [(2, 3), (3, 5)])
    func swiftCryptoSenderToThresholdCombine(threshold: Int, participants: Int) throws {
        let swiftCryptoKey = P256.KeyAgreement.PrivateKey()
        let fixture = try ThresholdFixture(
            privateKey: try Scalar(bigEndian: Array(swiftCryptoKey.rawRepresentation)), threshold: threshold,
            participants: participants)
        #expect(try fixture.publicKey.uncompressed() == Array(swiftCryptoKey.publicKey.x963Representation))

        var sender = try HPKE.Sender(
            recipientKey: swiftCryptoKey.publicKey, ciphersuite: .P256_SHA256_AES_GCM_256, info: Data(info))
        let ciphertext = Array(sender.encapsulatedKey) + Array(try sender.seal(message))

        let ids = fixture.shares.map(\.id.rawValue).suffix(threshold)
        let partials = try fixture.partials(Array(ids), ciphertext: ciphertext, context: requestContext)
        let plaintext = try fixture.combine(ciphertext, partials, info: info, context: requestContext)
        #expect(plaintext.testBytes == message)

        // The exporter agrees too, through the threshold path.
        var recovered = try ThresholdHPKE.recoverContext(
            try ThresholdHPKE.Ciphertext(ciphertext), partials: partials, publicKey: fixture.publicKey,
            publicShares: fixture.publicShares, threshold: threshold, info: info, context: requestContext,
            robust: false)
        let exported = try recovered.context.export(context: Array("exp".utf8), length: 32)
        let swiftCryptoExported = try sender.exportSecret(context: Array("exp".utf8), outputByteCount: 32)
        #expect(exported == swiftCryptoExported)
        #expect(try recovered.context.open(ciphertext[65...], aad: []).testBytes == message)

        // And the whole-key path.
        #expect(try ThresholdHPKE.open(ciphertext: ciphertext, privateKey: fixture.privateKey, info: info).testBytes
            == message)
    }

    @Test(arguments: [0, 1, 1000])
    func keyshardSealToSwiftCryptoRecipient(length: Int) throws {
        let swiftCryptoKey = P256.KeyAgreement.PrivateKey()
        let publicKey = try Point(sec1: Array(swiftCryptoKey.publicKey.x963Representation))
        let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let ciphertext = try ThresholdHPKE.seal(plaintext: plaintext, to: publicKey, info: info)
        #expect(ciphertext.count == 65 + length + 16)

        var recipient = try HPKE.Recipient(
            privateKey: swiftCryptoKey, ciphersuite: .P256_SHA256_AES_GCM_256, info: Data(info),
            encapsulatedKey: Data(ciphertext[..<65]))
        #expect(Array(try recipient.open(ciphertext[65...])) == plaintext)
    }

    @Test func keyshardSealOfSecretBytesToSwiftCryptoRecipient() throws {
        let swiftCryptoKey = P256.KeyAgreement.PrivateKey()
        let publicKey = try Point(sec1: Array(swiftCryptoKey.publicKey.x963Representation))
        let secret = SecretBytes.random(count: 32)
        let ciphertext = try ThresholdHPKE.seal(plaintext: secret, to: publicKey, info: info)
        var recipient = try HPKE.Recipient(
            privateKey: swiftCryptoKey, ciphersuite: .P256_SHA256_AES_GCM_256, info: Data(info),
            encapsulatedKey: Data(ciphertext[..<65]))
        #expect(Array(try recipient.open(ciphertext[65...])) == secret.testBytes)
    }

    @Test func swiftCryptoRecipientRefusesKeyshardCiphertextUnderOtherInfo() throws {
        let swiftCryptoKey = P256.KeyAgreement.PrivateKey()
        let publicKey = try Point(sec1: Array(swiftCryptoKey.publicKey.x963Representation))
        let ciphertext = try ThresholdHPKE.seal(plaintext: message, to: publicKey, info: info)
        var recipient = try HPKE.Recipient(
            privateKey: swiftCryptoKey, ciphersuite: .P256_SHA256_AES_GCM_256, info: Data("other".utf8),
            encapsulatedKey: Data(ciphertext[..<65]))
        #expect(throws: (any Error).self) { try recipient.open(ciphertext[65...]) }
    }
}
