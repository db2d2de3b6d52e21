import Testing
@testable import ShardCrypto

@Suite struct ShamirTests {
    static func ids(_ values: [UInt16]) throws -> [ParticipantID] { try values.map(ParticipantID.init) }

    @Test(arguments: [(1, 1), (2, 3), (3, 5), (5, 5), (4, 9)])
    func everyThresholdSubsetRecoversTheSecret(threshold: Int, participants: Int) throws {
        let secret = Scalar.random()
        let (shares, commitment) = try Shamir.split(secret: secret, threshold: threshold, participants: participants)
        #expect(shares.count == participants)
        #expect(commitment.threshold == threshold)
        #expect(commitment.publicKey == .generatorMultiple(secret))
        for subset in subsets(of: shares, size: threshold) {
            #expect(try Shamir.interpolate(subset) == secret)
        }
        // More than t shares also work.
        #expect(try Shamir.interpolate(shares) == secret)
    }

    @Test func fewerThanThresholdSharesDoNotRecoverTheSecret() throws {
        let secret = Scalar.random()
        let (shares, _) = try Shamir.split(secret: secret, threshold: 3, participants: 5)
        for subset in subsets(of: shares, size: 2) {
            #expect(try Shamir.interpolate(subset) != secret)
        }
    }

    @Test func lagrangeCoefficientsMatchAHandComputation() throws {
        // For the set {1, 3}: λ1 = 3/(3−1) = 3/2, λ3 = 1/(1−3) = −1/2.
        let set = try Self.ids([1, 3])
        let half = try Scalar(2).inverse()
        #expect(try Shamir.lagrangeCoefficient(for: set[0], in: set) == Scalar(3) * half)
        #expect(try Shamir.lagrangeCoefficient(for: set[1], in: set) == -half)
    }

    @Test func lagrangeRefusesBadSets() throws {
        let set = try Self.ids([1, 2, 2])
        #expect(throws: ShardCryptoError(.duplicateParticipant, "")) { try Shamir.lagrangeCoefficient(for: set[0], in: set) }
        #expect(throws: ShardCryptoError(.invalidParameters, "")) {
            try Shamir.lagrangeCoefficient(for: try ParticipantID(9), in: try Self.ids([1, 2]))
        }
        #expect(throws: ShardCryptoError(.invalidParameters, "")) { try ParticipantID(0) }
    }

    @Test func splitRefusesBadParameters() {
        #expect(throws: ShardCryptoError(.invalidParameters, "")) { try Shamir.split(secret: .one, threshold: 0, participants: 3) }
        #expect(throws: ShardCryptoError(.invalidParameters, "")) { try Shamir.split(secret: .one, threshold: 4, participants: 3) }
        #expect(throws: ShardCryptoError(.invalidParameters, "")) { try Shamir.split(secret: .one, threshold: 2, participants: 70_000) }
    }

    /// `deal` (keyshardd's import): every share reaches `seal` once, in order, verifies against the
    /// commitment, and any t of them recover the secret; unusable secrets and sets are refused.
    @Test func dealSealsEveryShareOfTheSecret() throws {
        let secret = Scalar.random()
        let ids = try Self.ids([3, 1, 2])
        var seen: [SecretShare] = []
        let (commitment, sealed) = try Shamir.deal(secret: secret.secretBytes(), threshold: 2, participants: ids) { share in
            seen.append(share)
            return share.id.rawValue
        }
        #expect(sealed == [3, 1, 2] && seen.map(\.id) == ids)
        #expect(commitment.threshold == 2 && commitment.publicKey == .generatorMultiple(secret))
        #expect(seen.allSatisfy { commitment.verifies($0) })
        #expect(try Shamir.interpolate(Array(seen.prefix(2))) == secret)

        let seal: (SecretShare) -> Int = { _ in 0 }
        #expect(throws: ShardCryptoError(.zeroScalar, "")) {
            try Shamir.deal(secret: Scalar.zero.secretBytes(), threshold: 2, participants: ids, seal: seal)
        }
        let order = SecretBytes([UInt8](hexString: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!)
        #expect(throws: ShardCryptoError(.scalarOutOfRange, "")) {
            try Shamir.deal(secret: order, threshold: 2, participants: ids, seal: seal)
        }
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) {
            try Shamir.deal(secret: SecretBytes([1, 2, 3]), threshold: 2, participants: ids, seal: seal)
        }
        #expect(throws: ShardCryptoError(.invalidParameters, "")) {
            try Shamir.deal(secret: secret.secretBytes(), threshold: 4, participants: ids, seal: seal)
        }
        #expect(throws: ShardCryptoError(.duplicateParticipant, "")) {
            try Shamir.deal(secret: secret.secretBytes(), threshold: 2, participants: try Self.ids([1, 2, 2]), seal: seal)
        }
    }

    @Test func feldmanCommitmentsVerifySharesAndGivePublicShares() throws {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 3, participants: 5)
        for share in shares {
            #expect(commitment.verifies(share))
            #expect(commitment.publicShare(for: share.id) == share.publicShare)
        }
        let forged = SecretShare(id: shares[0].id, value: shares[0].value + .one)
        #expect(!commitment.verifies(forged))
        #expect(throws: ShardCryptoError(.invalidShare, "")) { try commitment.verify(forged) }
        // A genuine value presented under another participant's identifier is refused too.
        let misattributed = SecretShare(id: shares[1].id, value: shares[0].value)
        #expect(!commitment.verifies(misattributed))
    }

    @Test func publicSharesInterpolateToThePublicKey() throws {
        let secret = Scalar.random()
        let (shares, commitment) = try Shamir.split(secret: secret, threshold: 2, participants: 4)
        let points = shares.prefix(2).map { (id: $0.id, point: $0.publicShare) }
        #expect(try Shamir.interpolate(points: points) == commitment.publicKey)
    }

    @Test func commitmentSerializationRoundTripsAndRejectsGarbage() throws {
        let (_, commitment) = try Shamir.split(secret: .random(), threshold: 3, participants: 3)
        let bytes = try commitment.serialized()
        #expect(bytes.count == 3 * 33)
        #expect(try FeldmanCommitment(serialized: bytes) == commitment)
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try FeldmanCommitment(serialized: Array(bytes.dropLast())) }
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) { try FeldmanCommitment(serialized: []) }
        #expect(throws: ShardCryptoError(.identityPoint, "")) { try FeldmanCommitment(coefficients: [.generator, .identity]) }
    }

    @Test func combinedCommitmentsCommitToTheSumOfPolynomials() throws {
        let f = try Polynomial.random(constant: .random(), threshold: 2)
        let g = try Polynomial.random(constant: .random(), threshold: 2)
        let combined = try FeldmanCommitment.combine([f.commitment, g.commitment])
        let id = try ParticipantID(7)
        #expect(combined.verifies(SecretShare(id: id, value: f.evaluate(at: id.scalar) + g.evaluate(at: id.scalar))))
        let h = try Polynomial.random(constant: .random(), threshold: 3)
        #expect(throws: ShardCryptoError(.invalidParameters, "")) { try FeldmanCommitment.combine([f.commitment, h.commitment]) }
    }

    @Test func sharesAndPolynomialsAreRedacted() throws {
        let (shares, _) = try Shamir.split(secret: Scalar(0xdead_beef), threshold: 2, participants: 2)
        let text = "\(shares[0]) \(String(reflecting: shares[0]))"
        let value = shares[0].value.serialized().hexString
        #expect(!text.contains(value))
        #expect(!text.contains(String(value.suffix(16))))
        var dumped = ""
        dump(shares[0], to: &dumped)
        #expect(!dumped.contains(String(value.suffix(16))))
    }
}
