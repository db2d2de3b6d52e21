import Testing
@testable import ShardCrypto

/// The fixed-width field behind ``Scalar`` checked against OpenSSL's `BIGNUM`
/// arithmetic (``LibcryptoReferenceScalar``) at the edges and on many
/// pseudo-random inputs. Constant time cannot be asserted by a test (timing tests
/// are flaky and forbidden here); these show the arithmetic is right.
@Suite struct ScalarFieldTests {
    static let orderHex = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
    static let order = [UInt8](hexString: orderHex)!

    /// SplitMix64: a fixed seed makes every failure reproducible.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The big-endian bytes of order + delta (delta may be negative), modulo 2²⁵⁶.
    static func orderPlus(_ delta: Int) -> [UInt8] {
        var bytes = order
        var carry = delta
        for index in stride(from: 31, through: 0, by: -1) where carry != 0 {
            let sum = Int(bytes[index]) + carry
            bytes[index] = UInt8(truncatingIfNeeded: sum)
            carry = sum >> 8
        }
        return bytes
    }

    static func power(ofTwo exponent: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes[31 - exponent / 8] = 1 << (exponent % 8)
        return bytes
    }

    /// Canonical values (< n) where carries and borrows are most likely to go wrong.
    static let edges: [[UInt8]] = {
        var values: [[UInt8]] = [
            [UInt8](repeating: 0, count: 32), power(ofTwo: 0), power(ofTwo: 1), orderPlus(-1), orderPlus(-2),
            orderPlus(-3), power(ofTwo: 255), power(ofTwo: 64), power(ofTwo: 128), power(ofTwo: 192),
            power(ofTwo: 63), power(ofTwo: 254),
            [UInt8](hexString: "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8")!,  // (n − 1) / 2
            [UInt8](hexString: "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a9")!,  // (n + 1) / 2
            [UInt8](hexString: "00000000ffffffff00000000000000004319055258e8617b0c46353d039cdaaf")!,  // 2²⁵⁶ mod n
            [UInt8](hexString: "000000000000000000000000000000000000000000000000ffffffffffffffff")!,
            [UInt8](hexString: "ffffffff00000000fffffffffffffffe0000000000000000ffffffffffffffff")!,
            [UInt8](hexString: "fffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffff")!,
        ]
        var twoTo255MinusOne = [UInt8](repeating: 0xff, count: 32)
        twoTo255MinusOne[0] = 0x7f
        values.append(twoTo255MinusOne)
        return values
    }()

    /// A canonical value with limbs drawn from carry-provoking patterns as well as at random.
    static func structuredValue(_ generator: inout SeededGenerator) -> [UInt8] {
        let orderLimbs: [UInt64] = [0xF3B9_CAC2_FC63_2551, 0xBCE6_FAAD_A717_9E84, .max, 0xFFFF_FFFF_0000_0000]
        var bytes: [UInt8] = []
        for limb in (0..<4).reversed() {
            let word: UInt64
            switch generator.next() % 6 {
            case 0: word = 0
            case 1: word = .max
            case 2: word = orderLimbs[limb]
            case 3: word = orderLimbs[limb] &- 1
            default: word = generator.next()
            }
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return LibcryptoReferenceScalar(reducing: bytes).serialized()
    }

    static func randomBytes(_ count: Int, _ generator: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    static func pair(_ bytes: [UInt8]) throws -> (Scalar, LibcryptoReferenceScalar) {
        (try Scalar(bigEndian: bytes), try #require(LibcryptoReferenceScalar(canonical: bytes)))
    }

    /// Every operation of ``Scalar`` against `BIGNUM` for one pair of canonical inputs.
    static func checkAgainstReference(_ aBytes: [UInt8], _ bBytes: [UInt8]) throws {
        let (a, referenceA) = try pair(aBytes)
        let (b, referenceB) = try pair(bBytes)
        let inputs = "a = \(aBytes.hexString), b = \(bBytes.hexString)"
        #expect((a + b).serialized() == (referenceA + referenceB).serialized(), "add: \(inputs)")
        #expect((a - b).serialized() == (referenceA - referenceB).serialized(), "sub: \(inputs)")
        #expect((a * b).serialized() == (referenceA * referenceB).serialized(), "mul: \(inputs)")
        #expect((-a).serialized() == (-referenceA).serialized(), "neg: \(inputs)")
        #expect((a == b) == (referenceA == referenceB), "equality: \(inputs)")
        #expect(a.isZero == (aBytes == [UInt8](repeating: 0, count: 32)), "isZero: \(inputs)")
        #expect(a.serialized() == aBytes, "round trip: \(inputs)")
    }

    @Test func montgomeryConstantsAreRight() throws {
        // n0 · n′ ≡ −1 (mod 2⁶⁴).
        #expect(ScalarField.n0 &* ScalarField.nPrime == UInt64.max)
        // R² mod n: its Montgomery form, encoded, is R² mod n again only if the constant is right.
        let rSquared = Scalar(element: ScalarField.fromPlain(ScalarField.rSquared))
        let twoTo512 = [UInt8(1)] + [UInt8](repeating: 0, count: 64)
        #expect(rSquared.serialized() == LibcryptoReferenceScalar(reducing: twoTo512).serialized())
        // One in Montgomery form is R mod n and encodes as 1.
        #expect(Scalar.one.serialized() == Self.power(ofTwo: 0))
        #expect(Scalar(element: .one) == Scalar(1))
        #expect(Scalar(reducing: [UInt8(1)] + [UInt8](repeating: 0, count: 32)).serialized()
            == LibcryptoReferenceScalar(reducing: [UInt8(1)] + [UInt8](repeating: 0, count: 32)).serialized())
        // The exponent the inversion walks is n − 2, nibble by nibble.
        let nibbles = (0..<64).reversed().map { String(ScalarField.exponentNibble($0), radix: 16) }.joined()
        #expect(nibbles == Self.orderPlus(-2).hexString)
    }

    @Test func edgeValuesAgreeWithBIGNUM() throws {
        for a in Self.edges {
            for b in Self.edges { try Self.checkAgainstReference(a, b) }
        }
    }

    @Test func randomValuesAgreeWithBIGNUM() throws {
        var generator = SeededGenerator(state: 0x6b65_7973_6861_7264)
        for _ in 0..<1_000 {
            try Self.checkAgainstReference(
                LibcryptoReferenceScalar(reducing: Self.randomBytes(32, &generator)).serialized(),
                LibcryptoReferenceScalar(reducing: Self.randomBytes(32, &generator)).serialized())
            try Self.checkAgainstReference(Self.structuredValue(&generator), Self.structuredValue(&generator))
        }
    }

    @Test func fieldLawsHold() throws {
        var generator = SeededGenerator(state: 42)
        for _ in 0..<200 {
            let a = try Scalar(bigEndian: Self.structuredValue(&generator))
            let b = try Scalar(bigEndian: Self.structuredValue(&generator))
            let c = try Scalar(bigEndian: Self.structuredValue(&generator))
            #expect(a * (b + c) == a * b + a * c)
            #expect((a - b) + b == a)
            #expect(a + (-a) == .zero)
            #expect(a * .one == a)
            #expect(a * b == b * a)
        }
    }

    @Test func inverseAgreesWithBIGNUM() throws {
        var generator = SeededGenerator(state: 7)
        let randoms = (0..<40).map { _ in
            LibcryptoReferenceScalar(reducing: Self.randomBytes(32, &generator)).serialized()
        }
        for bytes in Self.edges.dropFirst() + randoms {
            let (a, reference) = try Self.pair(bytes)
            let inverse = try a.inverse()
            #expect(inverse.serialized() == reference.inverse().serialized(), "inverse of \(bytes.hexString)")
            #expect(a * inverse == .one, "a · a⁻¹ for \(bytes.hexString)")
        }
        #expect(ScalarField.inverse(.zero).w0 == 0)  // 0^(n−2) = 0: the field itself never divides by zero
        #expect(throws: ShardCryptoError(.zeroScalar, "")) { try Scalar.zero.inverse() }
    }

    @Test func reductionOfWideInputsAgreesWithBIGNUM() {
        var generator = SeededGenerator(state: 0x48_32_46)
        var inputs: [[UInt8]] = [
            [], [0], [1], Self.order, Self.order + Self.order, [UInt8](repeating: 0xff, count: 48),
            [UInt8](repeating: 0xff, count: 64), [UInt8](repeating: 0, count: 16) + Self.order,
            Self.order + [UInt8](repeating: 0, count: 16), Self.order + [UInt8](repeating: 0, count: 32),
            Self.orderPlus(-1) + Self.orderPlus(-1), [UInt8](repeating: 0, count: 64),
        ]
        for length in [1, 16, 31, 32, 33, 47, 48, 63, 64, 65, 96, 100, 128] {
            for _ in 0..<40 { inputs.append(Self.randomBytes(length, &generator)) }
        }
        for input in inputs {
            #expect(
                Scalar(reducing: input).serialized() == LibcryptoReferenceScalar(reducing: input).serialized(),
                "reduce \(input.count) bytes: \(input.hexString)")
            // The wiped-storage path that hash_to_field and nonce derivation take.
            #expect(
                Scalar(reducing: SecretBytes(input)).serialized()
                    == LibcryptoReferenceScalar(reducing: input).serialized())
        }
    }

    @Test func decodingRefusesValuesAtOrAboveTheOrder() throws {
        var generator = SeededGenerator(state: 99)
        var refused: [[UInt8]] = [
            Self.order, Self.orderPlus(1), Self.orderPlus(2), Self.orderPlus(1 << 40),
            [UInt8](repeating: 0xff, count: 32),
            [UInt8](hexString: "ffffffff00000001000000000000000000000000000000000000000000000000")!,
            [UInt8](hexString: "ffffffff00000000ffffffffffffffffbce6faada7179e85f3b9cac2fc632551")!,
            [UInt8](hexString: "ffffffff00000000ffffffffffffffffbce6faaea7179e84f3b9cac2fc632551")!,
        ]
        for _ in 0..<200 {
            // Uniform in [n, 2²⁵⁶): n plus a random offset below 2²⁵⁶ − n < 2¹²⁸.
            refused.append(Self.orderPlus(Int(truncatingIfNeeded: generator.next() >> 2)))
        }
        for bytes in refused {
            #expect(LibcryptoReferenceScalar(canonical: bytes) == nil, "the reference refuses \(bytes.hexString)")
            #expect(throws: ShardCryptoError(.scalarOutOfRange, ""), "\(bytes.hexString)") {
                try Scalar(bigEndian: bytes)
            }
            // The field still decodes it (to itself mod n) and reports it out of range.
            let (element, isBelowOrder) = bytes.withUnsafeBytes { ScalarField.decode($0) }
            #expect(isBelowOrder == 0)
            #expect(Scalar(element: element).serialized() == LibcryptoReferenceScalar(reducing: bytes).serialized())
        }
        var accepted = Self.edges + [Self.orderPlus(-(1 << 40)), Self.orderPlus(-256)]
        for _ in 0..<200 { accepted.append(Self.orderPlus(-1 - Int(truncatingIfNeeded: generator.next() >> 2))) }
        for bytes in accepted {
            #expect(LibcryptoReferenceScalar(canonical: bytes) != nil)
            #expect(try Scalar(bigEndian: bytes).serialized() == bytes, "accepts \(bytes.hexString)")
        }
    }

    @Test func equalityLooksAtEveryLimb() {
        let base = ScalarField.Element(0x0123_4567_89AB_CDEF, 0x0FED_CBA9_8765_4321, 0x1111_2222_3333_4444, 0x0555_6666)
        #expect(Scalar(element: base) == Scalar(element: base))
        for bit in 0..<256 {
            var flipped = base
            let mask = UInt64(1) << UInt64(bit % 64)
            switch bit / 64 {
            case 0: flipped.w0 ^= mask
            case 1: flipped.w1 ^= mask
            case 2: flipped.w2 ^= mask
            default: flipped.w3 ^= mask
            }
            #expect(Scalar(element: base) != Scalar(element: flipped), "bit \(bit)")
            #expect(!Scalar(element: ScalarField.Element(flipped.w0 ^ base.w0, flipped.w1 ^ base.w1,
                flipped.w2 ^ base.w2, flipped.w3 ^ base.w3)).isZero)
        }
        #expect(Scalar.zero.isZero)
        #expect(!Scalar.one.isZero)
        #expect(!(-Scalar.one).isZero)
    }

    @Test func randomScalarsAreCanonicalAndNonZero() throws {
        for _ in 0..<256 {
            let value = Scalar.random()
            #expect(!value.isZero)
            #expect(LibcryptoReferenceScalar(canonical: value.serialized()) != nil)
        }
    }

    @Test func bigNumBoundaryIsSecureConstantTimeAndExact() throws {
        var generator = SeededGenerator(state: 5)
        for bytes in Self.edges + (0..<20).map({ _ in Self.structuredValue(&generator) }) {
            let scalar = try Scalar(bigEndian: bytes)
            scalar.withBigNum { pointer in
                #expect(BigNumInspection.hasConstantTimeFlag(pointer))
                #expect(BigNumInspection.bytes(pointer) == bytes)
                #expect(BigNumInspection.hasSecureFlag(pointer), "the limbs are on libcrypto's secure heap")
                // A non-zero BIGNUM's limbs are allocated from the secure heap right now
                // (BN_bin2bn gives zero no limbs at all).
                if !scalar.isZero { #expect(SecureHeap.bytesInUse > 0) }
            }
        }
    }

    @Test func secureHeapIsInitializedAfterTheFirstSecretOperation() {
        _ = Point.generatorMultiple(.random())
        #expect(SecureHeap.isInitialized)
    }

    @Test func hedgedNonceHashesRandomnessSecretAndFramedTranscript() throws {
        // The framed transcript is now built in wiped storage; it must be the same bytes:
        // random ‖ secret ‖ (4-byte big-endian length ‖ part)*.
        let randomness = [UInt8](repeating: 0x5A, count: 32)
        let secret = Scalar(0x0102_0304)
        let transcript: [[UInt8]] = [[0xAA, 0xBB], [], [UInt8](repeating: 0xCC, count: 300)]
        let framed: [UInt8] = [0, 0, 0, 2, 0xAA, 0xBB] + [0, 0, 0, 0] + [0, 0, 1, 0x2C]
            + [UInt8](repeating: 0xCC, count: 300)
        let nonce = hedgedNonce(
            secret: secret, transcript: transcript, dst: "test/nonce", randomness: SecretBytes(randomness))
        #expect(nonce == HashToScalar.hash(randomness + secret.serialized() + framed, dst: Array("test/nonce".utf8)))
        #expect(hedgedNonce(secret: secret, transcript: transcript, dst: "test/nonce") != nonce)  // fresh randomness
    }

    @Test func secretHashPathMatchesThePublicOne() {
        // Nonce derivation hashes from wiped storage; it must give what hashing the
        // concatenation as an ordinary message gives (the RFC 9380 vectors cover that path).
        let dst = Array("keyshard-test".utf8)
        let parts = [SecretBytes([1, 2, 3]), SecretBytes([UInt8](repeating: 0xAB, count: 32)), SecretBytes([])]
        let concatenated = [1, 2, 3] + [UInt8](repeating: 0xAB, count: 32)
        #expect(HashToScalar.hash(concatenating: parts, dst: dst) == HashToScalar.hash(concatenated, dst: dst))
        #expect(
            HashToScalar.hash(concatenated, dst: dst).serialized()
                == LibcryptoReferenceScalar(
                    reducing: HashToScalar.expandMessageXMD(message: concatenated, dst: dst, outputLength: 48)
                ).serialized())
    }
}
