import Foundation
import Testing

@testable import ShardCrypto

/// The fixed vectors: FIPS-197 multiplication facts and splits computed by
/// Tests/interop/gf256_shamir_ref.py, an independent implementation.
struct GF256Vectors: Decodable {
    struct Multiplication: Decodable {
        let a: String
        let b: String
        let product: String
    }
    struct Split: Decodable {
        struct Share: Decodable {
            let id: UInt8
            let data: String
        }
        let label: String
        let secret: String
        let threshold: Int
        let coefficients: String
        let shares: [Share]
    }
    let multiplication: [Multiplication]
    let splits: [Split]

    static func load() throws -> GF256Vectors {
        try JSONDecoder().decode(GF256Vectors.self, from: vectorResource("gf256-shamir-vectors.json"))
    }
}

private func plain(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }


@Suite struct ByteShamirTests {
    @Test func multiplicationMatchesFIPS197() throws {
        let vectors = try GF256Vectors.load()
        #expect(vectors.multiplication.count >= 2)
        for fact in vectors.multiplication {
            let a = try bytes(fact.a)[0]
            let b = try bytes(fact.b)[0]
            let product = try bytes(fact.product)[0]
            #expect(GF256.multiply(a, b) == product, "{\(fact.a)}•{\(fact.b)}")
            #expect(GF256.multiply(b, a) == product, "{\(fact.b)}•{\(fact.a)}")
        }
    }

    @Test func inverseIsAnInverseForEveryNonZeroElement() {
        for a in UInt8(1)...UInt8(255) {
            #expect(GF256.multiply(a, GF256.inverse(a)) == 1, "a = \(a)")
        }
        #expect(GF256.inverse(0) == 0)
    }

    @Test func fixedCoefficientSplitsMatchTheIndependentReference() throws {
        let vectors = try GF256Vectors.load()
        #expect(vectors.splits.count == 3)
        for vector in vectors.splits {
            let secret = SecretBytes(try bytes(vector.secret))
            let shares = try ByteShamir.split(
                secret: secret, threshold: vector.threshold, shares: vector.shares.count,
                coefficients: SecretBytes(try bytes(vector.coefficients)))
            #expect(shares.map(\.id) == vector.shares.map(\.id), "\(vector.label)")
            for (share, expected) in zip(shares, vector.shares) {
                #expect(plain(share.bytes).hexString == expected.data, "\(vector.label) share \(expected.id)")
            }
            // And the reference's shares combine back to the secret from every t-subset.
            let referenceShares = try vector.shares.map {
                try ByteShare(id: $0.id, bytes: SecretBytes(try bytes($0.data)))
            }
            for subset in subsets(of: referenceShares, size: vector.threshold) {
                #expect(plain(try ByteShamir.combine(subset)).hexString == vector.secret, "\(vector.label)")
            }
        }
    }

    @Test func everyThresholdSubsetRecoversARandomAES256Key() throws {
        let key = SecretBytes.random(count: 32)
        let shares = try ByteShamir.split(secret: key, threshold: 3, shares: 6)
        #expect(shares.map(\.id) == [1, 2, 3, 4, 5, 6])
        for size in 3...6 {
            for subset in subsets(of: shares, size: size) {
                #expect(try ByteShamir.combine(subset).constantTimeEquals(key))
            }
        }
    }

    @Test func fewerThanThresholdSharesDoNotGiveTheSecret() throws {
        let key = SecretBytes.random(count: 32)
        let shares = try ByteShamir.split(secret: key, threshold: 3, shares: 5)
        for subset in subsets(of: shares, size: 2) + subsets(of: shares, size: 1) {
            #expect(!(try ByteShamir.combine(subset).constantTimeEquals(key)))
        }
        // A single share of a 1-of-n split is the secret itself; of a 2-of-n split it is not.
        let copies = try ByteShamir.split(secret: key, threshold: 1, shares: 2)
        #expect(try ByteShamir.combine([copies[1]]).constantTimeEquals(key))
    }

    @Test func thresholdMinusOneSharesAreConsistentWithEverySecret() throws {
        // Information-theoretic hiding, checked exhaustively for one byte and t = 2:
        // for a fixed share (id 1, y), every candidate secret s has exactly one
        // line through (0, s) and (1, y), so the share rules nothing out; and the
        // split's share byte is uniform over the coefficient, whatever the secret.
        for secret in [UInt8(0x00), 0x5A, 0xFF] {
            var seen = Set<UInt8>()
            for coefficient in UInt8.min...UInt8.max {
                let share = try ByteShamir.split(
                    secret: SecretBytes([secret]), threshold: 2, shares: 2,
                    coefficients: SecretBytes([coefficient]))[0]
                seen.insert(plain(share.bytes)[0])
            }
            #expect(seen.count == 256, "secret \(secret)")
        }
    }

    @Test func shareEncodingIsIdThenData() throws {
        let shares = try ByteShamir.split(secret: SecretBytes.random(count: 32), threshold: 2, shares: 3)
        let encoded = plain(shares[2].serialized())
        #expect(encoded.count == 33)
        #expect(encoded[0] == 3)
        #expect(Array(encoded[1...]) == plain(shares[2].bytes))
        let decoded = try ByteShare(serialized: SecretBytes(encoded))
        #expect(decoded.id == 3)
        #expect(decoded.bytes.constantTimeEquals(shares[2].bytes))
    }

    @Test func sharesAreRedacted() throws {
        let share = try ByteShamir.split(secret: SecretBytes([0xAB, 0xCD]), threshold: 2, shares: 2)[0]
        #expect(share.description == "ByteShare(id: 1, 2 bytes, redacted)")
        var dumped = ""
        dump(share, to: &dumped)
        #expect(!dumped.contains(plain(share.bytes).hexString))
    }

    @Test func refusals() throws {
        let key = SecretBytes.random(count: 32)
        let shares = try ByteShamir.split(secret: key, threshold: 2, shares: 3)
        func code(_ body: () throws -> Void) -> ShardCryptoError.Code? {
            do { try body() } catch let error as ShardCryptoError { return error.code } catch { return nil }
            return nil
        }
        #expect(code { _ = try ByteShamir.combine([shares[0], shares[1], shares[0]]) } == .duplicateParticipant)
        #expect(code { _ = try ByteShamir.combine([]) } == .invalidParameters)
        let short = try ByteShare(id: 4, bytes: SecretBytes(plain(shares[2].bytes).dropLast()))
        #expect(code { _ = try ByteShamir.combine([shares[0], short]) } == .invalidShare)
        #expect(code { _ = try ByteShare(id: 0, bytes: SecretBytes([1, 2])) } == .invalidParameters)
        #expect(code { _ = try ByteShare(serialized: SecretBytes([0, 1, 2])) } == .invalidParameters)
        #expect(code { _ = try ByteShare(serialized: SecretBytes([1])) } == .invalidParameters)
        #expect(code { _ = try ByteShare(id: 1, bytes: SecretBytes([])) } == .invalidParameters)
        #expect(
            code { _ = try ByteShamir.split(secret: SecretBytes([]), threshold: 1, shares: 1) } == .invalidParameters)
        #expect(code { _ = try ByteShamir.split(secret: key, threshold: 0, shares: 3) } == .invalidParameters)
        #expect(code { _ = try ByteShamir.split(secret: key, threshold: 4, shares: 3) } == .invalidParameters)
        #expect(code { _ = try ByteShamir.split(secret: key, threshold: 2, shares: 256) } == .invalidParameters)
        #expect(try ByteShamir.split(secret: key, threshold: 2, shares: 255).last?.id == 255)
        #expect(
            code { _ = try ByteShamir.split(secret: key, threshold: 2, shares: 3, coefficients: SecretBytes([1])) }
                == .invalidParameters)
    }
}
