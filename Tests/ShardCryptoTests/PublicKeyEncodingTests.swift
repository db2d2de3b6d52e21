import Crypto
import Testing
@testable import ShardCrypto

@Suite struct PublicKeyEncodingTests {
    @Test func readsPEMWrittenBySwiftCrypto() throws {
        let key = P256.KeyAgreement.PrivateKey()
        let point = try Point(publicKeyText: "\n" + key.publicKey.pemRepresentation + "\n\n")
        #expect(try point.uncompressed() == Array(key.publicKey.x963Representation))
        #expect(try point.pemRepresentation() == key.publicKey.pemRepresentation)
    }

    @Test func readsSEC1Hex() throws {
        let point = Point.generatorMultiple(.random())
        #expect(try Point(publicKeyText: point.compressed().hexString + "\n") == point)
        #expect(try Point(publicKeyText: "  " + point.uncompressed().hexString.uppercased()) == point)
    }

    @Test func refusesOtherInputWithAReason() {
        #expect(throws: ShardCryptoError(.invalidKeyEncoding, "")) { try Point(publicKeyText: "") }
        #expect(throws: ShardCryptoError(.invalidKeyEncoding, "")) { try Point(publicKeyText: "not hex at all") }
        #expect(throws: ShardCryptoError(.invalidKeyEncoding, "")) {
            try Point(publicKeyText: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
        }
        #expect(throws: ShardCryptoError(.invalidKeyEncoding, "")) {
            try Point(publicKeyText: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
        }
        // A P-384 key in a valid PEM block is not a P-256 key.
        let p384 = P384.Signing.PrivateKey().publicKey.pemRepresentation
        #expect(throws: ShardCryptoError(.invalidKeyEncoding, "")) { try Point(publicKeyText: p384) }
        #expect(throws: ShardCryptoError(.pointNotOnCurve, "")) { try Point(publicKeyText: "02" + String(repeating: "ff", count: 32)) }
    }
}
