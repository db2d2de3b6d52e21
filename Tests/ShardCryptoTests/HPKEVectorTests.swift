import Crypto
import Foundation
import Testing

@testable import ShardCrypto

/// The RFC 9180 test vector for keyshard's suite (base mode, 0x0010/0x0001/0x0002; the
/// RFC's appendix prints only the AES-128-GCM variant, the CFRG test-vectors.json the RFC
/// points to has this one), checked step by step, then decrypted by threshold
/// combination of shares of skRm.
@Suite struct HPKEVectorTests {
    let vector: HPKETestVector

    init() throws {
        let vectors = try HPKETestVector.load()
        // The resource holds exactly the base-mode vector of keyshard's suite.
        try #require(vectors.count == 1)
        vector = vectors[0]
        try #require(vector.mode == 0)
        try #require(vector.kemID == ThresholdHPKE.suiteID.kem)
        try #require(vector.kdfID == ThresholdHPKE.suiteID.kdf)
        try #require(vector.aeadID == ThresholdHPKE.suiteID.aead)
    }

    @Test func suiteIdentifiers() {
        #expect(HPKEKeySchedule.suiteID.hexString == "48504b45001000010002")
        #expect(DHKEM.suiteID.hexString == "4b454d0010")
    }

    @Test func deriveKeyPairMatchesBothKeyPairs() throws {
        let recipient = try DHKEM.deriveKeyPair(ikm: try hexBytes(vector.ikmR))
        #expect(recipient.privateKey.serialized().hexString == vector.skRm)
        #expect(try recipient.publicKey.uncompressed().hexString == vector.pkRm)
        let ephemeral = try DHKEM.deriveKeyPair(ikm: try hexBytes(vector.ikmE))
        #expect(ephemeral.privateKey.serialized().hexString == vector.skEm)
        #expect(try ephemeral.publicKey.uncompressed().hexString == vector.pkEm)
    }

    @Test func encapAndDecapGiveTheSharedSecret() throws {
        let recipient = try Point(sec1: try hexBytes(vector.pkRm))
        let ephemeral = try Scalar(bigEndian: try hexBytes(vector.skEm))
        let (sharedSecret, enc) = try DHKEM.encap(to: recipient, ephemeral: ephemeral)
        #expect(enc.hexString == vector.enc)
        #expect(sharedSecret.withUnsafeBytes { $0.hexString } == vector.sharedSecret)

        let decapsulated = try DHKEM.decap(enc: enc, privateKey: try Scalar(bigEndian: try hexBytes(vector.skRm)))
        #expect(decapsulated.withUnsafeBytes { $0.hexString } == vector.sharedSecret)
    }

    @Test func keyScheduleMatches() throws {
        let schedule = HPKEKeySchedule.base(
            sharedSecret: SymmetricKey(data: try hexBytes(vector.sharedSecret)), info: try hexBytes(vector.info))
        #expect(schedule.keyScheduleContext.hexString == vector.keyScheduleContext)
        #expect(schedule.secret.withUnsafeBytes { $0.hexString } == vector.secret)
        #expect(schedule.context.key.withUnsafeBytes { $0.hexString } == vector.key)
        #expect(schedule.context.baseNonce.withUnsafeBytes { $0.hexString } == vector.baseNonce)
        #expect(schedule.context.exporterSecret.withUnsafeBytes { $0.hexString } == vector.exporterSecret)
    }

    @Test func everyEncryptionAndExportMatches() throws {
        let schedule = HPKEKeySchedule.base(
            sharedSecret: SymmetricKey(data: try hexBytes(vector.sharedSecret)), info: try hexBytes(vector.info))
        var sender = schedule.context
        var recipient = schedule.context
        // 257 messages: sequence numbers 0…256, so the nonce XOR crosses a byte boundary.
        #expect(vector.encryptions.count == 257)
        for (sequenceNumber, encryption) in vector.encryptions.enumerated() {
            #expect(sender.nonce(sequenceNumber: UInt64(sequenceNumber)).hexString == encryption.nonce)
            let plaintext = try hexBytes(encryption.pt)
            let aad = try hexBytes(encryption.aad)
            #expect(try sender.seal(plaintext, aad: aad).hexString == encryption.ct)
            #expect(try recipient.open(try hexBytes(encryption.ct), aad: aad).testBytes == plaintext)
        }
        #expect(sender.sequenceNumber == 257 && recipient.sequenceNumber == 257)
        #expect(vector.exports.count == 3)
        for export in vector.exports {
            let value = try schedule.context.export(
                context: try hexBytes(export.exporterContext), length: export.length)
            #expect(value.withUnsafeBytes { $0.hexString } == export.exportedValue)
        }
    }

    @Test func openRefusesAMessageOutOfSequenceAndDoesNotAdvance() throws {
        let schedule = HPKEKeySchedule.base(
            sharedSecret: SymmetricKey(data: try hexBytes(vector.sharedSecret)), info: try hexBytes(vector.info))
        var recipient = schedule.context
        let second = vector.encryptions[1]
        let error = #expect(throws: ShardCryptoError.self) {
            try recipient.open(try hexBytes(second.ct), aad: try hexBytes(second.aad))
        }
        #expect(error?.code == .decryptionFailed)
        #expect(recipient.sequenceNumber == 0)
    }

    @Test func exportLengthIsBounded() throws {
        let context = HPKEKeySchedule.base(sharedSecret: SymmetricKey(size: .bits256), info: []).context
        for length in [0, 255 * 32 + 1] {
            let error = #expect(throws: ShardCryptoError.self) { try context.export(context: [], length: length) }
            #expect(error?.code == .invalidParameters)
        }
        #expect(try context.export(context: [], length: 255 * 32).bitCount == 255 * 32 * 8)
    }

    @Test func wholeKeyOpenOfTheVectorCiphertextWithItsAAD() throws {
        // The public single-shot API uses empty AAD, and the vector's first message has
        // AAD "Count-0", so this goes through Decap + key schedule + context directly.
        let first = vector.encryptions[0]
        let sharedSecret = try DHKEM.decap(
            enc: try hexBytes(vector.enc), privateKey: try Scalar(bigEndian: try hexBytes(vector.skRm)))
        var context = HPKEKeySchedule.base(sharedSecret: sharedSecret, info: try hexBytes(vector.info)).context
        #expect(try context.open(try hexBytes(first.ct), aad: try hexBytes(first.aad)).testBytes == hexBytes(first.pt))
    }

    @Test(arguments: [(2, 3), (3, 5)])
    func thresholdDecryptionOfTheVectorFromEverySubset(threshold: Int, participants: Int) throws {
        let first = vector.encryptions[0]
        let fixture = try ThresholdFixture(
            privateKey: try Scalar(bigEndian: try hexBytes(vector.skRm)), threshold: threshold,
            participants: participants)
        #expect(try fixture.publicKey.uncompressed().hexString == vector.pkRm)
        let ciphertext = try hexBytes(vector.enc) + hexBytes(first.ct)
        let parsed = try ThresholdHPKE.Ciphertext(ciphertext)
        let requestContext = Array("vector-request".utf8)
        let allPartials = try fixture.partials(
            fixture.shares.map(\.id.rawValue), ciphertext: ciphertext, context: requestContext)
        let ids = fixture.shares.map(\.id.rawValue)
        let chosenSubsets = subsets(of: ids, size: threshold)
        #expect(chosenSubsets.count == (participants == 3 ? 3 : 10))
        for subset in chosenSubsets + [ids] {
            let partials = allPartials.filter { subset.contains($0.id.rawValue) }
            var recovered = try ThresholdHPKE.recoverContext(
                parsed, partials: partials, publicKey: fixture.publicKey, publicShares: fixture.publicShares,
                threshold: threshold, info: try hexBytes(vector.info), context: requestContext, robust: false)
            #expect(recovered.used.map(\.rawValue) == Array(subset.prefix(threshold)))
            #expect(recovered.context.key.withUnsafeBytes { $0.hexString } == vector.key)
            let plaintext = try recovered.context.open(parsed.sealed, aad: try hexBytes(first.aad))
            #expect(plaintext.testBytes == (try hexBytes(first.pt)))
        }
    }
}
