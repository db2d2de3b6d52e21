import Testing
@testable import ShardCrypto

@Suite struct ScalarTests {
    // n, the P-256 group order (SEC 2 v2, section 2.4.2).
    static let orderHex = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"

    @Test func encodingRoundTrips() throws {
        let bytes = [UInt8](hexString: "0c9c1a0fe806c184add50bbdcac913dda73e482daf95dcb9f35dbb0d8a9f7731")!
        #expect(try Scalar(bigEndian: bytes).serialized() == bytes)
    }

    @Test func rejectsWrongLengths() {
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) { try Scalar(bigEndian: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) { try Scalar(bigEndian: [UInt8](repeating: 1, count: 33)) }
    }

    @Test func rejectsOrderAndAbove() {
        let order = [UInt8](hexString: Self.orderHex)!
        #expect(throws: ShardCryptoError(.scalarOutOfRange, "")) { try Scalar(bigEndian: order) }
        #expect(throws: ShardCryptoError(.scalarOutOfRange, "")) { try Scalar(bigEndian: [UInt8](repeating: 0xff, count: 32)) }
        var belowOrder = order
        belowOrder[31] -= 1
        #expect((try? Scalar(bigEndian: belowOrder)) != nil)
    }

    @Test func arithmeticWrapsAroundTheOrder() throws {
        var belowOrder = [UInt8](hexString: Self.orderHex)!
        belowOrder[31] -= 1
        let minusOne = try Scalar(bigEndian: belowOrder)
        #expect(minusOne + .one == .zero)
        #expect(-Scalar.one == minusOne)
        #expect(minusOne * minusOne == .one)
        #expect(Scalar(3) - Scalar(5) == -Scalar(2))
    }

    @Test func inverseIsMultiplicativeInverse() throws {
        for _ in 0..<8 {
            let a = Scalar.random()
            #expect(a * (try a.inverse()) == .one)
        }
        #expect(throws: ShardCryptoError(.zeroScalar, "")) { try Scalar.zero.inverse() }
    }

    @Test func reductionOfWideValues() {
        // 2^256 mod n = 2^256 − n, whose hex is the two's complement of n.
        let twoTo256 = [UInt8(1)] + [UInt8](repeating: 0, count: 32)
        let expected = "00000000ffffffff00000000000000004319055258e8617b0c46353d039cdaaf"
        #expect(Scalar(reducing: twoTo256).serialized().hexString == expected)
    }

    @Test func randomScalarsAreNonZeroAndDistinct() {
        let values = (0..<16).map { _ in Scalar.random().serialized() }
        #expect(Set(values.map(\.hexString)).count == 16)
        #expect(!values.contains([UInt8](repeating: 0, count: 32)))
    }

    @Test func descriptionNeverShowsTheValue() {
        let secret = Scalar(0x1234_5678)
        let shown = "\(secret) \(String(reflecting: secret)) \(secret.serialized().hexString.suffix(8))"
        #expect(!"\(secret)".contains("12345678"))
        #expect(!String(reflecting: secret).contains("12345678"))
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("12345678"))
        #expect(shown.hasSuffix("12345678"))  // the serialization itself is correct
    }
}

@Suite struct PointTests {
    static let generatorCompressed = "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    static let generatorUncompressed =
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        + "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"

    @Test func generatorEncodingsAreTheStandardOnes() throws {
        // SEC 2 v2, section 2.4.2.
        #expect(try Point.generator.compressed().hexString == Self.generatorCompressed)
        #expect(try Point.generator.uncompressed().hexString == Self.generatorUncompressed)
        #expect(try Point(sec1: [UInt8](hexString: Self.generatorUncompressed)!) == .generator)
        #expect(try Point(sec1: [UInt8](hexString: Self.generatorCompressed)!) == .generator)
    }

    @Test func knownMultipleOfTheGenerator() throws {
        // 2G, from the NIST P-256 point-multiplication test values.
        let twoG = Point.generatorMultiple(Scalar(2))
        #expect(try twoG.uncompressed().hexString ==
            "047cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc47669978"
            + "07775510db8ed040293d9ac69f7430dbba7dade63ce982299e04b79d227873d1")
        #expect(twoG == .generator + .generator)
        #expect(Scalar(2) * Point.generator == twoG)
    }

    @Test func groupLaws() {
        let a = Scalar.random()
        let b = Scalar.random()
        let p = Point.generatorMultiple(a)
        #expect(Point.generatorMultiple(a + b) == p + Point.generatorMultiple(b))
        #expect(b * p == Point.generatorMultiple(a * b))
        #expect((p - p).isIdentity)
        #expect(Point.generatorMultiple(.zero).isIdentity)
        #expect(Point.sum([]).isIdentity)
    }

    @Test func rejectsTheIdentity() {
        #expect(throws: ShardCryptoError(.identityPoint, "")) { try Point(sec1: [0x00]) }
        #expect(throws: ShardCryptoError(.identityPoint, "")) { try Point.identity.compressed() }
        #expect(throws: ShardCryptoError(.identityPoint, "")) { try Point.identity.affineX() }
    }

    @Test func rejectsOffCurvePoints() {
        var bytes = [UInt8](hexString: Self.generatorUncompressed)!
        bytes[64] ^= 1
        #expect(throws: ShardCryptoError(.pointNotOnCurve, "")) { try Point(sec1: bytes) }
        // x = 1: x³ − 3x + b is a quadratic non-residue mod p, so no y exists.
        var compressed = [UInt8](repeating: 0, count: 33)
        compressed[0] = 0x02
        compressed[32] = 0x01
        #expect(throws: ShardCryptoError(.pointNotOnCurve, "")) { try Point(sec1: compressed) }
        // x ≥ p is not a field element.
        let xTooLarge = [UInt8(0x02)] + [UInt8](repeating: 0xff, count: 32)
        #expect(throws: ShardCryptoError(.pointNotOnCurve, "")) { try Point(sec1: xTooLarge) }
    }

    @Test func rejectsMalformedEncodings() {
        let generator = [UInt8](hexString: Self.generatorUncompressed)!
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try Point(sec1: []) }
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try Point(sec1: generator.dropLast()) }
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try Point(sec1: generator + [0]) }
        var hybrid = generator
        hybrid[0] = 0x06
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try Point(sec1: hybrid) }
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try Point(sec1: [0x00, 0x00]) }
    }

    @Test func affineXIsTheDiffieHellmanValue() throws {
        let x = try Point.generator.affineX()
        x.withUnsafeBytes { #expect(Array($0).hexString == String(Self.generatorCompressed.dropFirst(2))) }
    }
}

@Suite struct HashToScalarTests {
    // RFC 9380 Appendix K.1, expand_message_xmd(SHA-256), DST "QUUX-V01-CS02-with-expander-SHA256-128".
    static let dst = Array("QUUX-V01-CS02-with-expander-SHA256-128".utf8)

    @Test func expandMessageMatchesRFC9380() {
        #expect(HashToScalar.expandMessageXMD(message: [], dst: Self.dst, outputLength: 0x20).hexString
            == "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235")
        #expect(HashToScalar.expandMessageXMD(message: Array("abc".utf8), dst: Self.dst, outputLength: 0x20).hexString
            == "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615")
        let long = HashToScalar.expandMessageXMD(message: [], dst: Self.dst, outputLength: 0x80)
        #expect(long.hexString.hasPrefix("af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbe"))
        #expect(long.count == 0x80)
    }

    @Test func lengthPrefixingSeparatesPartLists() {
        let a = HashToScalar.hash(parts: [[1, 2], [3]], dst: "test")
        let b = HashToScalar.hash(parts: [[1], [2, 3]], dst: "test")
        #expect(a != b)
    }
}
