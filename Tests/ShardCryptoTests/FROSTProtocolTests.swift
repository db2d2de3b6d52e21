import Testing
@testable import ShardCrypto

/// Signing sessions with random keys: the happy path over several (t, n) and the
/// refusals of signer and coordinator.
@Suite("FROST protocol") struct FROSTProtocolTests {
    let message = Array("keyshard FROST test message".utf8)

    /// One round one done and the list assembled, ready for round two.
    struct Session {
        let key: FROSTTestKey
        let signers: [SecretShare]
        let nonces: [ParticipantID: FROST.SigningNonces]
        let commitments: [FROST.SigningCommitment]

        init(threshold: Int, participants: Int, signers ids: [UInt16]) throws {
            let key = try FROSTTestKey.deal(threshold: threshold, participants: participants)
            self.key = key
            signers = try ids.map { try key.share($0) }
            var nonces: [ParticipantID: FROST.SigningNonces] = [:]
            var commitments: [FROST.SigningCommitment] = []
            for share in signers {
                let (secret, commitment) = FROST.commit(share: share)
                nonces[share.id] = secret
                commitments.append(commitment)
            }
            self.nonces = nonces
            self.commitments = commitments.sorted { $0.id < $1.id }
        }

        func sign(_ share: SecretShare, message: [UInt8], commitments: [FROST.SigningCommitment]? = nil) throws
            -> FROST.SignatureShare
        {
            try FROST.sign(
                share: share, nonces: nonces[share.id]!, message: message, commitments: commitments ?? self.commitments,
                groupPublicKey: key.groupPublicKey)
        }

        func signAll(message: [UInt8]) throws -> [FROST.SignatureShare] {
            try signers.map { try sign($0, message: message) }
        }

        func aggregate(_ shares: [FROST.SignatureShare], message: [UInt8]) throws -> FROST.Signature {
            try FROST.aggregate(
                shares: shares, message: message, commitments: commitments, groupPublicKey: key.groupPublicKey,
                publicShares: key.publicShares)
        }
    }

    // MARK: - Happy path

    @Test(arguments: [
        (1, 1, [1] as [UInt16]), (2, 2, [1, 2]), (2, 3, [2, 3]), (3, 5, [1, 3, 5]), (3, 5, [1, 2, 3, 4, 5]),
        (5, 7, [7, 2, 4, 6, 1]),
    ])
    func thresholdSignaturesVerify(threshold: Int, participants: Int, signers: [UInt16]) throws {
        let session = try Session(threshold: threshold, participants: participants, signers: signers)
        let signature = try session.aggregate(try session.signAll(message: message), message: message)
        #expect(FROST.verify(signature: signature, message: message, publicKey: session.key.groupPublicKey))
        let decoded = try FROST.Signature(serialized: try signature.serialized())
        #expect(decoded == signature)
        #expect(FROST.verify(signature: decoded, message: message, publicKey: session.key.groupPublicKey))
    }

    @Test func emptyAndLargeMessagesSign() throws {
        let key = try FROSTTestKey.deal(threshold: 2, participants: 3)
        for message in [[], [UInt8](repeating: 0xa5, count: 10 * 1024)] as [[UInt8]] {
            let signature = try frostSign(key: key, signers: [try key.share(1), try key.share(3)], message: message)
            #expect(FROST.verify(signature: signature, message: message, publicKey: key.groupPublicKey))
        }
    }

    @Test func sharesArriveInAnyOrder() throws {
        let session = try Session(threshold: 3, participants: 4, signers: [1, 2, 4])
        let shares = try session.signAll(message: message)
        let signature = try session.aggregate(shares.reversed(), message: message)
        #expect(FROST.verify(signature: signature, message: message, publicKey: session.key.groupPublicKey))
    }

    // MARK: - Verification failures

    @Test func tamperedMessageOrSignatureFailsVerification() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let signature = try session.aggregate(try session.signAll(message: message), message: message)
        let publicKey = session.key.groupPublicKey
        #expect(FROST.verify(signature: signature, message: message, publicKey: publicKey))
        #expect(!FROST.verify(signature: signature, message: message + [0], publicKey: publicKey))
        #expect(!FROST.verify(signature: signature, message: [], publicKey: publicKey))
        var flipped = message
        flipped[0] ^= 1
        #expect(!FROST.verify(signature: signature, message: flipped, publicKey: publicKey))
        let otherZ = FROST.Signature(r: signature.r, z: signature.z + .one)
        #expect(!FROST.verify(signature: otherZ, message: message, publicKey: publicKey))
        let otherR = FROST.Signature(r: signature.r + .generator, z: signature.z)
        #expect(!FROST.verify(signature: otherR, message: message, publicKey: publicKey))
        let otherKey = Point.generatorMultiple(.random())
        #expect(!FROST.verify(signature: signature, message: message, publicKey: otherKey))
        #expect(!FROST.verify(signature: signature, message: message, publicKey: .identity))
        #expect(!FROST.verify(signature: FROST.Signature(r: .identity, z: signature.z), message: message,
            publicKey: publicKey))
        var bytes = try signature.serialized()
        bytes[40] ^= 0x80
        let decoded = try FROST.Signature(serialized: bytes)
        #expect(!FROST.verify(signature: decoded, message: message, publicKey: publicKey))
    }

    // MARK: - Coordinator refusals

    @Test func wrongShareIsNamed() throws {
        let session = try Session(threshold: 3, participants: 5, signers: [1, 2, 4])
        let wrong = SecretShare(id: .id(2), value: try session.key.share(2).value + .one)
        let shares = try [session.sign(session.signers[0], message: message), session.sign(wrong, message: message),
            session.sign(session.signers[2], message: message)]
        let error = try #require(throws: ShardCryptoError.self) { try session.aggregate(shares, message: message) }
        #expect(error.code == .invalidSignatureShare)
        #expect(error.reason.contains("participant(s) 2 do not verify"), "\(error.reason)")
        // The share-level check agrees and names no one else.
        let culprits = shares.filter {
            !FROST.verifySignatureShare(
                $0, publicShare: session.key.publicShares[$0.id]!, message: message,
                commitments: session.commitments, groupPublicKey: session.key.groupPublicKey)
        }
        #expect(culprits.map(\.id) == [.id(2)])
    }

    @Test func everyWrongShareIsNamed() throws {
        let session = try Session(threshold: 3, participants: 5, signers: [1, 3, 5])
        var shares = try session.signAll(message: message)
        shares[0] = FROST.SignatureShare(id: shares[0].id, value: shares[0].value + .one)
        shares[2] = FROST.SignatureShare(id: shares[2].id, value: .zero)
        let error = try #require(throws: ShardCryptoError.self) { try session.aggregate(shares, message: message) }
        #expect(error.code == .invalidSignatureShare)
        #expect(error.reason.contains("participant(s) 1, 5 do not verify"), "\(error.reason)")
    }

    @Test func sharesForAnotherMessageAreRefused() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 3])
        let shares = try session.signAll(message: message)
        let error = try #require(throws: ShardCryptoError.self) { try session.aggregate(shares, message: [1, 2, 3]) }
        #expect(error.code == .invalidSignatureShare)
        #expect(error.reason.contains("1, 3"))
    }

    @Test func missingDuplicateAndForeignSharesAreRefused() throws {
        let session = try Session(threshold: 3, participants: 5, signers: [1, 2, 3])
        let shares = try session.signAll(message: message)
        let missing = try #require(throws: ShardCryptoError.self) {
            try session.aggregate(Array(shares.prefix(2)), message: message)
        }
        #expect(missing.code == .invalidSignatureShare)
        #expect(missing.reason.contains("no signature share from participant(s) 3"))
        let duplicate = try #require(throws: ShardCryptoError.self) {
            try session.aggregate(shares + [shares[1]], message: message)
        }
        #expect(duplicate.code == .invalidSignatureShare)
        let foreign = FROST.SignatureShare(id: .id(4), value: .random())
        let foreignError = try #require(throws: ShardCryptoError.self) {
            try session.aggregate(shares + [foreign], message: message)
        }
        #expect(foreignError.code == .invalidSignatureShare)
        #expect(foreignError.reason.contains("participant 4"))
    }

    @Test func missingPublicShareIsRefused() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let shares = try session.signAll(message: message)
        var publicShares = session.key.publicShares
        publicShares[.id(2)] = nil
        let error = try #require(throws: ShardCryptoError.self) {
            try FROST.aggregate(
                shares: shares, message: message, commitments: session.commitments,
                groupPublicKey: session.key.groupPublicKey, publicShares: publicShares)
        }
        #expect(error.code == .invalidParameters)
    }

    @Test func publicSharesOnlyNameCulpritsOfASignatureThatFails() throws {
        // The signature is checked first: honest shares give a valid signature under the group
        // key even when the public shares handed in are another key's (they are not consulted).
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        var shares = try session.signAll(message: message)
        let other = try FROSTTestKey.deal(threshold: 2, participants: 3)
        let signature = try FROST.aggregate(
            shares: shares, message: message, commitments: session.commitments,
            groupPublicKey: session.key.groupPublicKey, publicShares: other.publicShares)
        #expect(FROST.verify(signature: signature, message: message, publicKey: session.key.groupPublicKey))
        // A forged share makes the signature fail, and then the shares are checked: against the
        // right public shares only the forger is named; against another key's, every signer.
        shares[1] = FROST.SignatureShare(id: shares[1].id, value: shares[1].value + .one)
        let named = try #require(throws: ShardCryptoError.self) {
            try FROST.aggregate(
                shares: shares, message: message, commitments: session.commitments,
                groupPublicKey: session.key.groupPublicKey, publicShares: session.key.publicShares)
        }
        #expect(named.code == .invalidSignatureShare)
        #expect(named.reason.contains("participant(s) 2 do not verify"), "\(named.reason)")
        let everyone = try #require(throws: ShardCryptoError.self) {
            try FROST.aggregate(
                shares: shares, message: message, commitments: session.commitments,
                groupPublicKey: session.key.groupPublicKey, publicShares: other.publicShares)
        }
        #expect(everyone.reason.contains("participant(s) 1, 2 do not verify"), "\(everyone.reason)")
    }

    @Test func fewerSignersThanTheThresholdGiveNoSignature() throws {
        // Each share is correct for the two-signer list, but two points do not
        // determine a degree-2 polynomial: the sum is not a signature under the key.
        let session = try Session(threshold: 3, participants: 5, signers: [2, 5])
        let shares = try session.signAll(message: message)
        let error = try #require(throws: ShardCryptoError.self) { try session.aggregate(shares, message: message) }
        #expect(error.code == .invalidSignature)
        #expect(error.reason.contains("fewer signers than the threshold"))
    }

    @Test func coordinatorRefusesBadCommitmentLists() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 3])
        let shares = try session.signAll(message: message)
        let lists: [[FROST.SigningCommitment]] = [
            [], session.commitments.reversed(), session.commitments + [session.commitments[1]],
            [session.commitments[0], FROST.SigningCommitment(id: .id(3), hiding: .identity, binding: .generator)],
        ]
        for list in lists {
            let error = try #require(throws: ShardCryptoError.self) {
                try FROST.aggregate(
                    shares: shares, message: message, commitments: list, groupPublicKey: session.key.groupPublicKey,
                    publicShares: session.key.publicShares)
            }
            #expect(error.code == .invalidCommitments, "\(error)")
        }
    }

    @Test func identityGroupKeyIsRefused() throws {
        let session = try Session(threshold: 1, participants: 2, signers: [1])
        let error = try #require(throws: ShardCryptoError.self) {
            try FROST.sign(
                share: session.signers[0], nonces: session.nonces[.id(1)]!, message: message,
                commitments: session.commitments, groupPublicKey: .identity)
        }
        #expect(error.code == .identityPoint)
    }

    // MARK: - Signer refusals

    @Test func noncesAreSingleUse() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let signer = session.signers[0]
        #expect(session.nonces[signer.id]?.isUsed == false)
        _ = try session.sign(signer, message: message)
        #expect(session.nonces[signer.id]?.isUsed == true)
        let again = try #require(throws: ShardCryptoError.self) { try session.sign(signer, message: message) }
        #expect(again.code == .nonceReuse)
        let otherMessage = try #require(throws: ShardCryptoError.self) { try session.sign(signer, message: [9]) }
        #expect(otherMessage.code == .nonceReuse)
    }

    @Test func aFailedAttemptStillConsumesTheNonces() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let signer = session.signers[0]
        let refused = try #require(throws: ShardCryptoError.self) {
            try session.sign(signer, message: message, commitments: session.commitments.reversed())
        }
        #expect(refused.code == .invalidCommitments)
        let retry = try #require(throws: ShardCryptoError.self) { try session.sign(signer, message: message) }
        #expect(retry.code == .nonceReuse)
    }

    @Test func signerRefusesAListWithoutItself() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let others = try Session(threshold: 2, participants: 3, signers: [2, 3])
        let error = try #require(throws: ShardCryptoError.self) {
            try session.sign(session.signers[0], message: message, commitments: others.commitments)
        }
        #expect(error.code == .invalidCommitments)
        #expect(error.reason.contains("does not include participant 1"))
    }

    @Test func signerRefusesASubstitutedOwnCommitment() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let (_, fresh) = FROST.commit(share: session.signers[0])
        let list = [fresh, session.commitments[1]]
        let error = try #require(throws: ShardCryptoError.self) {
            try session.sign(session.signers[0], message: message, commitments: list)
        }
        #expect(error.code == .invalidCommitments)
        #expect(error.reason.contains("not the one it published"))
    }

    @Test func signerRefusesDuplicateCommitments() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let list = [session.commitments[0], session.commitments[1], session.commitments[1]]
        let error = try #require(throws: ShardCryptoError.self) {
            try session.sign(session.signers[0], message: message, commitments: list)
        }
        #expect(error.code == .invalidCommitments)
        #expect(error.reason.contains("two commitments"))
    }

    @Test func signerRefusesAnUnsortedList() throws {
        let session = try Session(threshold: 3, participants: 3, signers: [1, 2, 3])
        let list = [session.commitments[1], session.commitments[0], session.commitments[2]]
        let error = try #require(throws: ShardCryptoError.self) {
            try session.sign(session.signers[2], message: message, commitments: list)
        }
        #expect(error.code == .invalidCommitments)
        #expect(error.reason.contains("not sorted"))
    }

    @Test func signerRefusesAnEmptyList() throws {
        let session = try Session(threshold: 1, participants: 1, signers: [1])
        let error = try #require(throws: ShardCryptoError.self) {
            try session.sign(session.signers[0], message: message, commitments: [])
        }
        #expect(error.code == .invalidCommitments)
    }

    @Test func signerRefusesIdentityCommitments() throws {
        for (hiding, binding) in [(Point.identity, Point.generator), (Point.generator, Point.identity)] {
            let session = try Session(threshold: 2, participants: 2, signers: [1, 2])
            let list = [session.commitments[0], FROST.SigningCommitment(id: .id(2), hiding: hiding, binding: binding)]
            let error = try #require(throws: ShardCryptoError.self) {
                try session.sign(session.signers[0], message: message, commitments: list)
            }
            #expect(error.code == .invalidCommitments)
            #expect(error.reason.contains("identity"))
        }
    }

    @Test func groupCommitmentMayNotBeTheIdentity() throws {
        // Binding factors hash the whole list, so no participant can aim its own
        // commitments at −(everyone else's); exercise the guard with chosen factors.
        let session = try Session(threshold: 2, participants: 2, signers: [1, 2])
        let own = session.commitments[0]
        let cancelling = try FROST.CommitmentList(validating: [
            own, FROST.SigningCommitment(id: .id(2), hiding: -own.hiding, binding: .generator),
        ])
        // With ρ = 0, R = D₁ + D₂ = D₁ − D₁.
        let error = try #require(throws: ShardCryptoError.self) {
            try cancelling.groupCommitment(bindingFactors: [.id(1): .zero, .id(2): .zero])
        }
        #expect(error.code == .invalidCommitments)
    }

    @Test func signerRefusesNoncesOfAnotherParticipant() throws {
        let session = try Session(threshold: 2, participants: 3, signers: [1, 2])
        let error = try #require(throws: ShardCryptoError.self) {
            try FROST.sign(
                share: session.signers[0], nonces: session.nonces[.id(2)]!, message: message,
                commitments: session.commitments, groupPublicKey: session.key.groupPublicKey)
        }
        #expect(error.code == .invalidParameters)
    }

    @Test func noncesAreFreshEachRound() throws {
        let key = try FROSTTestKey.deal(threshold: 1, participants: 1)
        let first = FROST.commit(share: try key.share(1)).1
        let second = FROST.commit(share: try key.share(1)).1
        #expect(first.hiding != second.hiding)
        #expect(first.binding != second.binding)
        #expect(first.hiding != first.binding)
    }

    @Test func noncesAreNeverPrinted() throws {
        let key = try FROSTTestKey.deal(threshold: 1, participants: 1)
        let (nonces, _) = FROST.commit(share: try key.share(1))
        #expect(nonces.description == "SigningNonces(id: 1, unused, nonces: redacted)")
        #expect(Mirror(reflecting: nonces).children.map(\.label) == ["id"])
        var dumped = ""
        dump(nonces, to: &dumped)
        #expect(!dumped.contains("Scalar"))
    }
}
