import Crypto
import Foundation
import Testing
@testable import ShardCrypto

/// Wire forms of signatures, commitments and signature shares, and their refusals.
@Suite("FROST encodings") struct FROSTEncodingTests {
    /// The RFC 9591 E.4 signature and group key.
    let signatureHex =
        "02aea65143565d19f2811d6c1d7a7486fdd57dd3f6b08d8653ca260ec0ebe00b61"
        + "ca5d775641ac46891ac3d6089e1db471b3ab173ccb586035582185e43f13f245"
    /// The P-256 group order n, big-endian.
    let orderHex = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"

    func signatureBytes() throws -> [UInt8] { try bytes(signatureHex) }

    @Test func signatureRoundTrips() throws {
        let signature = try FROST.Signature(serialized: try signatureBytes())
        #expect(try signature.serialized() == (try signatureBytes()))
        #expect(signature.description == "FROST.Signature(\(signatureHex))")
        #expect(FROST.Signature.byteCount == 65)
    }

    @Test(arguments: [0, 1, 33, 64, 66, 97, 130])
    func signatureOfWrongLengthIsRefused(length: Int) throws {
        var encoding = try signatureBytes()
        encoding = length <= encoding.count
            ? Array(encoding.prefix(length)) : encoding + [UInt8](repeating: 1, count: length - encoding.count)
        let error = try #require(throws: ShardCryptoError.self) { try FROST.Signature(serialized: encoding) }
        #expect(error.code == .invalidSignature)
        #expect(error.reason.contains("65 bytes"))
    }

    @Test func signatureWithBadRIsRefused() throws {
        let z = Array(try signatureBytes()[33...])
        let badRs: [[UInt8]] = [
            [UInt8](repeating: 0, count: 33),  // the identity has no 33-byte encoding
            [0x04] + Array(try signatureBytes()[1..<33]),  // uncompressed prefix on 33 bytes
            [0x05] + Array(try signatureBytes()[1..<33]),  // unknown prefix
            [0x02] + [UInt8](repeating: 0xff, count: 32),  // x ≥ p
            [0x02] + [UInt8](repeating: 0, count: 31) + [0x02],  // x = 2: x³ − 3x + b is not a square mod p
        ]
        for r in badRs {
            let error = try #require(throws: ShardCryptoError.self) { try FROST.Signature(serialized: r + z) }
            #expect(error.code == .invalidSignature, "R = \(r.hexString)")
            #expect(error.reason.contains("R is not a valid point"))
        }
    }

    @Test func signatureWithZOutOfRangeIsRefused() throws {
        let r = Array(try signatureBytes()[0..<33])
        let n = try bytes(orderHex)
        var nPlusOne = n
        nPlusOne[31] += 1
        for z in [n, nPlusOne, [UInt8](repeating: 0xff, count: 32)] {
            let error = try #require(throws: ShardCryptoError.self) { try FROST.Signature(serialized: r + z) }
            #expect(error.code == .invalidSignature)
            #expect(error.reason.contains("z is not a valid scalar"))
        }
        // n − 1 is a valid scalar (the signature just does not verify).
        var nMinusOne = n
        nMinusOne[31] -= 1
        let decoded = try FROST.Signature(serialized: r + nMinusOne)
        #expect(!FROST.verify(signature: decoded, message: Array("test".utf8), publicKey: .generator))
    }

    @Test func signatureWithIdentityRCannotBeEncoded() throws {
        let error = try #require(throws: ShardCryptoError.self) {
            try FROST.Signature(r: .identity, z: .one).serialized()
        }
        #expect(error.code == .identityPoint)
    }

    @Test func commitmentRoundTrips() throws {
        let key = try FROSTTestKey.deal(threshold: 1, participants: 300)
        let (_, commitment) = FROST.commit(share: try key.share(258))
        let wire = try commitment.serialized()
        #expect(wire.count == FROST.SigningCommitment.byteCount)
        #expect(Array(wire[0..<2]) == [0x01, 0x02])
        #expect(try FROST.SigningCommitment(serialized: wire) == commitment)
        let json = try JSONEncoder().encode(commitment)
        #expect(try JSONDecoder().decode(FROST.SigningCommitment.self, from: json) == commitment)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["id"] as? Int == 258)
        #expect(object["hiding"] as? String == (try commitment.hiding.compressed().hexString))
        #expect(object["binding"] as? String == (try commitment.binding.compressed().hexString))
    }

    @Test func malformedCommitmentsAreRefused() throws {
        let key = try FROSTTestKey.deal(threshold: 1, participants: 1)
        let wire = try FROST.commit(share: try key.share(1)).1.serialized()
        let short = try #require(throws: ShardCryptoError.self) {
            try FROST.SigningCommitment(serialized: Array(wire.dropLast()))
        }
        #expect(short.code == .invalidCommitments)
        let zeroID = try #require(throws: ShardCryptoError.self) {
            try FROST.SigningCommitment(serialized: [0, 0] + wire[2...])
        }
        #expect(zeroID.code == .invalidParameters)
        var badPoint = wire
        badPoint[2] = 0x07
        let point = try #require(throws: ShardCryptoError.self) { try FROST.SigningCommitment(serialized: badPoint) }
        #expect(point.code == .invalidPointEncoding)
        let uncompressed = #"{"id":1,"hiding":"\#(try Point.generator.uncompressed().hexString)","binding":"00"}"#
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(FROST.SigningCommitment.self, from: Data(uncompressed.utf8))
        }
        let identity = FROST.SigningCommitment(id: .id(1), hiding: .identity, binding: .generator)
        let encodeError = try #require(throws: ShardCryptoError.self) { try identity.serialized() }
        #expect(encodeError.code == .identityPoint)
    }

    @Test func signatureShareRoundTrips() throws {
        let share = FROST.SignatureShare(id: .id(7), value: .random())
        let wire = share.serialized()
        #expect(wire.count == 34)
        #expect(Array(wire[0..<2]) == [0, 7])
        #expect(try FROST.SignatureShare(serialized: wire) == share)
        let json = try JSONEncoder().encode(share)
        #expect(try JSONDecoder().decode(FROST.SignatureShare.self, from: json) == share)
        #expect(share.description == "SignatureShare(id: 7)")
    }

    @Test func malformedSignatureSharesAreRefused() throws {
        let wire = FROST.SignatureShare(id: .id(7), value: .random()).serialized()
        let short = try #require(throws: ShardCryptoError.self) {
            try FROST.SignatureShare(serialized: Array(wire.prefix(33)))
        }
        #expect(short.code == .invalidSignatureShare)
        let outOfRange = try #require(throws: ShardCryptoError.self) {
            try FROST.SignatureShare(serialized: [0, 7] + (try bytes(orderHex)))
        }
        #expect(outOfRange.code == .scalarOutOfRange)
        let zeroID = try #require(throws: ShardCryptoError.self) {
            try FROST.SignatureShare(serialized: [0, 0] + wire[2...])
        }
        #expect(zeroID.code == .invalidParameters)
    }

    @Test func hashFunctionsAreDomainSeparated() throws {
        let input = Array("m".utf8)
        let scalars = [FROST.Ciphersuite.h1(input), FROST.Ciphersuite.h2(input), FROST.Ciphersuite.h3(input)]
        #expect(Set(scalars.map { $0.serialized().hexString }).count == 3)
        #expect(FROST.Ciphersuite.h4(input) != FROST.Ciphersuite.h5(input))
        // H4 is SHA-256 over contextString ‖ "msg" ‖ m, independently of HashToScalar.
        #expect(
            FROST.Ciphersuite.h4(input).hexString
                == Array(SHA256.hash(data: Array("FROST-P256-SHA256-v1msgm".utf8))).hexString)
    }
}

