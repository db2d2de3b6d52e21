import Testing

@testable import ShardCrypto

/// One redistribution with every new holder receiving; the test plays the coordinator.
func redistribute(
    oldShares: [SecretShare], oldCommitment: FeldmanCommitment, newThreshold: Int, newIDs: [ParticipantID]
) throws -> [Redistribution.Result] {
    let dealings = try oldShares.map {
        try Redistribution.deal(share: $0, newThreshold: newThreshold, newParticipants: newIDs)
    }
    return try newIDs.map { recipient in
        try Redistribution.receive(
            recipient: recipient, oldCommitment: oldCommitment, newThreshold: newThreshold,
            dealings: dealings.map(\.publicDealing),
            subShares: dealings.flatMap(\.subShares).filter { $0.to == recipient })
    }
}

/// Every mix of 1…t−1 old shares with 1…t'−1 new shares on distinct ids: none gives the secret.
func expectMixesFail(
    old: [SecretShare], oldThreshold: Int, new: [SecretShare], newThreshold: Int, secret: Scalar
) throws {
    guard oldThreshold >= 2, newThreshold >= 2 else { return }
    var mixes = 0
    for oldCount in 1..<oldThreshold {
        for newCount in 1..<newThreshold {
            for oldSubset in subsets(of: old, size: oldCount) {
                for newSubset in subsets(of: new, size: newCount) {
                    let oldIDs = Set(oldSubset.map(\.id))
                    guard !newSubset.contains(where: { oldIDs.contains($0.id) }) else { continue }
                    #expect(try Shamir.interpolate(oldSubset + newSubset) != secret)
                    mixes += 1
                }
            }
        }
    }
    #expect(mixes > 0)
}

struct Shape: Sendable, CustomTestStringConvertible {
    let oldThreshold: Int
    let oldCount: Int
    let newThreshold: Int
    let newIDs: [UInt16]
    var testDescription: String { "\(oldThreshold)-of-\(oldCount) → \(newThreshold)-of-\(newIDs)" }
}

@Suite struct RedistributionTests {
    static let shapes = [
        Shape(oldThreshold: 2, oldCount: 3, newThreshold: 3, newIDs: [11, 12, 13, 14, 15]),
        Shape(oldThreshold: 3, oldCount: 5, newThreshold: 2, newIDs: [11, 12, 13]),
        Shape(oldThreshold: 3, oldCount: 5, newThreshold: 3, newIDs: [1, 2, 3, 4, 5]),
        Shape(oldThreshold: 2, oldCount: 2, newThreshold: 4, newIDs: [7, 8, 9, 10, 11, 12]),
        Shape(oldThreshold: 1, oldCount: 1, newThreshold: 2, newIDs: [1, 2, 3]),
        Shape(oldThreshold: 4, oldCount: 6, newThreshold: 1, newIDs: [20, 21]),
    ]

    @Test(arguments: shapes)
    func theKeyMovesToTheNewSetUnchanged(shape: Shape) throws {
        let secret = Scalar.random()
        let (oldShares, oldCommitment) = try Shamir.split(
            secret: secret, threshold: shape.oldThreshold, participants: shape.oldCount)
        // Use the last t old holders, not the first, as dealers.
        let dealers = Array(oldShares.suffix(shape.oldThreshold))
        let newIDs = try ids(shape.newIDs)
        let results = try redistribute(
            oldShares: dealers, oldCommitment: oldCommitment, newThreshold: shape.newThreshold, newIDs: newIDs)
        let commitment = results[0].commitment
        #expect(commitment.threshold == shape.newThreshold)
        #expect(commitment.publicKey == oldCommitment.publicKey)
        #expect(commitment.publicKey == Point.generatorMultiple(secret))
        for result in results {
            #expect(result.commitment == commitment)
            #expect(result.share.publicShare == commitment.publicShare(for: result.share.id))
        }
        let newShares = results.map(\.share)
        for subset in subsets(of: newShares, size: shape.newThreshold) {
            #expect(try Shamir.interpolate(subset) == secret)
        }
        if shape.newThreshold > 1 {
            for subset in subsets(of: newShares, size: shape.newThreshold - 1) {
                #expect(try Shamir.interpolate(subset) != secret)
            }
        }
        try expectMixesFail(
            old: oldShares, oldThreshold: shape.oldThreshold, new: newShares, newThreshold: shape.newThreshold,
            secret: secret)
        // The coordinator computes the same commitment from the public dealings alone.
        let dealings = try dealers.map {
            try Redistribution.deal(share: $0, newThreshold: shape.newThreshold, newParticipants: newIDs)
        }
        #expect(
            try Redistribution.newCommitment(
                oldCommitment: oldCommitment, newThreshold: shape.newThreshold, dealings: dealings.map(\.publicDealing)
            ).publicKey
                == oldCommitment.publicKey)
    }

    @Test func moreThanThresholdDealersWorkToo() throws {
        let secret = Scalar.random()
        let (oldShares, oldCommitment) = try Shamir.split(secret: secret, threshold: 2, participants: 4)
        let results = try redistribute(
            oldShares: oldShares, oldCommitment: oldCommitment, newThreshold: 2, newIDs: try ids(1...3))
        #expect(try Shamir.interpolate([results[0].share, results[2].share]) == secret)
    }

    @Test func aDKGKeyCanBeRedistributedAndStaysTheSameKey() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let (results, _, _) = try run.run()
        let dkg = results.values.sorted { $0.share.id < $1.share.id }
        let moved = try redistribute(
            oldShares: [dkg[0].share, dkg[2].share], oldCommitment: dkg[0].commitment, newThreshold: 3,
            newIDs: try ids(4...8))
        #expect(moved[0].commitment.publicKey == dkg[0].groupPublicKey)
        for subset in subsets(of: moved.map(\.share), size: 3) {
            #expect(Point.generatorMultiple(try Shamir.interpolate(subset)) == dkg[0].groupPublicKey)
        }
    }

    @Test func refusals() throws {
        let (oldShares, oldCommitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let newIDs = try ids(1...3)
        let dealings = try oldShares.prefix(2).map {
            try Redistribution.deal(share: $0, newThreshold: 2, newParticipants: newIDs)
        }
        let publicDealings = dealings.map(\.publicDealing)
        let recipient = newIDs[0]
        let mine = dealings.flatMap(\.subShares).filter { $0.to == recipient }
        func receive(_ dealings: [Redistribution.PublicDealing], _ subShares: [Redistribution.SubShare]) throws {
            _ = try Redistribution.receive(
                recipient: recipient, oldCommitment: oldCommitment, newThreshold: 2, dealings: dealings,
                subShares: subShares)
        }
        #expect(throws: Never.self) { try receive(publicDealings, mine) }

        // An old holder that re-shares something other than its share: G_{i,0} ≠ X_i.
        let liar = try Redistribution.deal(
            share: SecretShare(id: oldShares[1].id, value: .random()), newThreshold: 2, newParticipants: newIDs)
        let lying = [publicDealings[0], liar.publicDealing]
        let liarSubShares = [mine[0]] + liar.subShares.filter { $0.to == recipient }
        #expect(throws: ShardCryptoError(.invalidShare, "")) { try receive(lying, liarSubShares) }
        do { try receive(lying, liarSubShares) } catch let error as ShardCryptoError {
            #expect(error.reason.contains("dealer 2"))
        }

        // A sub-share that does not match G_i names its dealer.
        let tampered = [
            mine[0], Redistribution.SubShare(from: mine[1].from, to: recipient, value: mine[1].value + .one),
        ]
        #expect(throws: ShardCryptoError(.invalidShare, "")) { try receive(publicDealings, tampered) }
        do { try receive(publicDealings, tampered) } catch let error as ShardCryptoError {
            #expect(error.reason.contains("dealer 2"))
        }

        // A commitment of the wrong degree.
        let wrongDegree = try Redistribution.deal(share: oldShares[1], newThreshold: 3, newParticipants: newIDs)
        #expect(throws: ShardCryptoError(.invalidShare, "")) {
            try receive(
                [publicDealings[0], wrongDegree.publicDealing],
                [mine[0]] + wrongDegree.subShares.filter { $0.to == recipient })
        }

        #expect(errorCode { try receive([publicDealings[0]], [mine[0]]) } == .invalidParameters)
        #expect(errorCode { try receive(publicDealings + [publicDealings[0]], mine) } == .duplicateParticipant)
        #expect(errorCode { try receive(publicDealings, mine + [mine[0]]) } == .duplicateParticipant)
        #expect(errorCode { try receive(publicDealings, [mine[0]]) } == .invalidParameters)
        let forOther = dealings[1].subShares.first { $0.to != recipient }!
        #expect(errorCode { try receive(publicDealings, [mine[0], forOther]) } == .invalidParameters)
        let third = try Redistribution.deal(share: oldShares[2], newThreshold: 2, newParticipants: newIDs)
        #expect(
            errorCode { try receive(publicDealings, mine + third.subShares.filter { $0.to == recipient }) }
                == .invalidParameters)
        #expect(
            errorCode {
                _ = try Redistribution.receive(
                    recipient: recipient, oldCommitment: oldCommitment, newThreshold: 0, dealings: publicDealings,
                    subShares: mine)
            } == .invalidParameters)

        #expect(
            errorCode { _ = try Redistribution.deal(share: oldShares[0], newThreshold: 0, newParticipants: newIDs) }
                == .invalidParameters)
        #expect(
            errorCode { _ = try Redistribution.deal(share: oldShares[0], newThreshold: 4, newParticipants: newIDs) }
                == .invalidParameters)
        #expect(
            errorCode {
                _ = try Redistribution.deal(share: oldShares[0], newThreshold: 2, newParticipants: newIDs + [newIDs[0]])
            }
                == .duplicateParticipant)
    }

    @Test func messagesRoundTripAndSecretsAreRedacted() throws {
        let (oldShares, _) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let dealing = try Redistribution.deal(share: oldShares[0], newThreshold: 3, newParticipants: try ids(1...4))
        let encoded = try dealing.publicDealing.serialized()
        #expect(encoded.count == 2 + 3 * 33)
        #expect(try Redistribution.PublicDealing(serialized: encoded) == dealing.publicDealing)
        #expect(errorCode { _ = try Redistribution.PublicDealing(serialized: [0, 1]) } == .invalidParameters)
        let subShare = dealing.subShares[1]
        let decoded = try Redistribution.SubShare(serialized: subShare.serialized())
        #expect(decoded.from == subShare.from && decoded.to == subShare.to && decoded.value == subShare.value)
        #expect(errorCode { _ = try Redistribution.SubShare(serialized: SecretBytes([0, 1])) } == .invalidParameters)
        let hex = subShare.value.serialized().hexString
        var dumped = ""
        dump(dealing, to: &dumped)
        dump(subShare, to: &dumped)
        #expect(!dumped.contains(hex))
        #expect(!dealing.description.contains(hex) && !subShare.description.contains(hex))
    }
}

@Suite struct RefreshTests {
    /// A refresh in which `dealers` deal and every holder receives.
    func refresh(
        _ shares: [SecretShare], commitment: FeldmanCommitment, dealers: [SecretShare]? = nil
    ) throws -> [Redistribution.Result] {
        let holderIDs = shares.map(\.id)
        let dealings = try (dealers ?? shares).map {
            try Refresh.deal(from: $0.id, threshold: commitment.threshold, participants: holderIDs)
        }
        return try shares.map { share in
            try Refresh.receive(
                share: share, oldCommitment: commitment, dealings: dealings.map(\.publicDealing),
                subShares: dealings.flatMap(\.subShares).filter { $0.to == share.id })
        }
    }

    @Test(arguments: [(2, 3), (3, 5), (4, 4)])
    func refreshedSharesHoldTheSameKeyAndDoNotMixWithOldOnes(threshold: Int, count: Int) throws {
        let secret = Scalar.random()
        let (oldShares, oldCommitment) = try Shamir.split(secret: secret, threshold: threshold, participants: count)
        let results = try refresh(oldShares, commitment: oldCommitment)
        let commitment = results[0].commitment
        #expect(commitment.publicKey == oldCommitment.publicKey)
        #expect(commitment != oldCommitment)
        for (result, old) in zip(results, oldShares) {
            #expect(result.commitment == commitment)
            #expect(result.share.publicShare == commitment.publicShare(for: result.share.id))
            #expect(result.share.publicShare != old.publicShare)
            #expect(!oldCommitment.verifies(result.share))
        }
        let newShares = results.map(\.share)
        for subset in subsets(of: newShares, size: threshold) {
            #expect(try Shamir.interpolate(subset) == secret)
        }
        for subset in subsets(of: newShares, size: threshold - 1) {
            #expect(try Shamir.interpolate(subset) != secret)
        }
        try expectMixesFail(
            old: oldShares, oldThreshold: threshold, new: newShares, newThreshold: threshold, secret: secret)
    }

    @Test func thresholdDealersSufficeAndRefreshComposesWithRedistribution() throws {
        let secret = Scalar.random()
        let (oldShares, oldCommitment) = try Shamir.split(secret: secret, threshold: 2, participants: 4)
        let refreshed = try refresh(oldShares, commitment: oldCommitment, dealers: [oldShares[1], oldShares[3]])
        let moved = try redistribute(
            oldShares: [refreshed[0].share, refreshed[3].share], oldCommitment: refreshed[0].commitment,
            newThreshold: 3,
            newIDs: try ids(1...5))
        for subset in subsets(of: moved.map(\.share), size: 3) {
            #expect(try Shamir.interpolate(subset) == secret)
        }
    }

    @Test func refusals() throws {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let holderIDs = shares.map(\.id)
        let dealings = try shares.map { try Refresh.deal(from: $0.id, threshold: 2, participants: holderIDs) }
        let publicDealings = dealings.map(\.publicDealing)
        let me = shares[0]
        let mine = dealings.flatMap(\.subShares).filter { $0.to == me.id }
        func receive(_ dealings: [Refresh.PublicDealing], _ subShares: [Redistribution.SubShare]) throws {
            _ = try Refresh.receive(share: me, oldCommitment: commitment, dealings: dealings, subShares: subShares)
        }
        #expect(throws: Never.self) { try receive(publicDealings, mine) }

        let tampered = mine.map {
            $0.from == shares[2].id ? Redistribution.SubShare(from: $0.from, to: $0.to, value: $0.value + .one) : $0
        }
        #expect(throws: ShardCryptoError(.invalidShare, "")) { try receive(publicDealings, tampered) }
        do { try receive(publicDealings, tampered) } catch let error as ShardCryptoError {
            #expect(error.reason.contains("dealer 3"))
        }
        let wrongShare = SecretShare(id: me.id, value: me.value + .one)
        #expect(
            errorCode {
                _ = try Refresh.receive(
                    share: wrongShare, oldCommitment: commitment, dealings: publicDealings, subShares: mine)
            }
                == .invalidShare)
        #expect(errorCode { try receive(Array(publicDealings.prefix(1)), Array(mine.prefix(1))) } == .invalidParameters)
        #expect(errorCode { try receive(publicDealings + [publicDealings[0]], mine) } == .duplicateParticipant)
        #expect(errorCode { try receive(publicDealings, mine + [mine[0]]) } == .duplicateParticipant)
        #expect(errorCode { try receive(publicDealings, Array(mine.dropLast())) } == .invalidParameters)
        let wrongDegree = try Refresh.deal(from: shares[2].id, threshold: 3, participants: holderIDs)
        let wrongDegreeSubShares = Array(mine.prefix(2)) + wrongDegree.subShares.filter { $0.to == me.id }
        #expect(
            errorCode {
                try receive(Array(publicDealings.prefix(2)) + [wrongDegree.publicDealing], wrongDegreeSubShares)
            } == .invalidShare)
        // A threshold-1 sharing has nothing to refresh.
        let (single, singleCommitment) = try Shamir.split(secret: .random(), threshold: 1, participants: 2)
        #expect(
            errorCode {
                _ = try Refresh.receive(share: single[0], oldCommitment: singleCommitment, dealings: [], subShares: [])
            }
                == .invalidParameters)
        #expect(
            errorCode { _ = try Refresh.deal(from: holderIDs[0], threshold: 1, participants: holderIDs) }
                == .invalidParameters)
        #expect(
            errorCode { _ = try Refresh.deal(from: try ParticipantID(9), threshold: 2, participants: holderIDs) }
                == .invalidParameters)
        #expect(
            errorCode {
                _ = try Refresh.deal(from: holderIDs[0], threshold: 2, participants: holderIDs + [holderIDs[1]])
            }
                == .duplicateParticipant)
        // The zero commitment refuses what FeldmanCommitment refuses, but never sees A_0.
        #expect(errorCode { _ = try Refresh.ZeroCommitment(coefficients: []) } == .invalidParameters)
        #expect(errorCode { _ = try Refresh.ZeroCommitment(coefficients: [.generator, .identity]) } == .identityPoint)
        #expect(errorCode { _ = try Refresh.ZeroCommitment(serialized: [0x02]) } == .invalidPointEncoding)
    }

    @Test func zeroCommitmentHandlesTheIdentityConstantTermExplicitly() throws {
        let dealing = try Refresh.deal(from: try ParticipantID(1), threshold: 3, participants: try ids(1...4))
        #expect(dealing.commitment.threshold == 3)
        #expect(dealing.commitment.coefficients.count == 2)
        // δ(0) = 0: the commitment's value at 0 would be the identity; at every holder it matches δ(j)·G.
        for subShare in dealing.subShares {
            #expect(Point.generatorMultiple(subShare.value) == dealing.commitment.publicShare(for: subShare.to))
        }
        let encoded = try dealing.publicDealing.serialized()
        #expect(encoded.count == 2 + 2 * 33)
        #expect(try Refresh.PublicDealing(serialized: encoded) == dealing.publicDealing)
        var dumped = ""
        dump(dealing, to: &dumped)
        for subShare in dealing.subShares { #expect(!dumped.contains(subShare.value.serialized().hexString)) }
    }
}
