import AgentProtocol
import ShardCrypto
import Testing

@Suite("Sealed shares, DKG shares and sub-shares")
struct ShareSealingTests {
    let agentKey = Scalar(0xA6E47)
    let otherKey = Scalar(0x07E4)

    @Test("a delivered share opens with the agent's key and matches the commitment")
    func shareRoundTrip() throws {
        let split = try Shamir.split(secret: Scalar(99), threshold: 2, participants: 3)
        let share = split.shares[1]
        let key = MessageSamples.key()
        let sealed = try ShareSealing.seal(share: share, to: try TransportPublicKey(privateKey: agentKey), key: key)
        let delivery = try ShareDelivery(key: key, participant: share.id, sealedShare: sealed, commitment: split.commitment)
        let decoded = try AgentMessage(type: MessageType.deliverShare.rawValue, payload: try AgentMessage.deliverShare(delivery).encode())
        guard case .deliverShare(let received) = decoded else { Issue.record("not a delivery"); return }
        let opened = try ShareSealing.openShare(
            received.sealedShare, privateKey: agentKey, key: key, participant: received.participant)
        #expect(opened.value == share.value)
        #expect(received.commitment.verifies(opened))
    }

    @Test("a share opened with another key, key version or participant is refused")
    func shareMisuse() throws {
        let share = SecretShare(id: MessageSamples.id(2), value: Scalar(5))
        let key = MessageSamples.key(3)
        let sealed = try ShareSealing.seal(share: share, to: try TransportPublicKey(privateKey: agentKey), key: key)
        let attempts: [(String, () throws -> SecretShare)] = [
            ("other private key", { try ShareSealing.openShare(sealed, privateKey: otherKey, key: key, participant: share.id) }),
            ("other version", {
                try ShareSealing.openShare(sealed, privateKey: agentKey, key: MessageSamples.key(4), participant: share.id)
            }),
            ("other participant", {
                try ShareSealing.openShare(sealed, privateKey: agentKey, key: key, participant: MessageSamples.id(3))
            }),
            ("altered", {
                var altered = sealed
                altered[altered.count - 1] ^= 1
                return try ShareSealing.openShare(altered, privateKey: agentKey, key: key, participant: share.id)
            }),
        ]
        for (name, attempt) in attempts {
            let error = #expect(throws: ShardCryptoError.self, "\(name)") { _ = try attempt() }
            #expect(error?.code == .decryptionFailed, "\(name)")
        }
    }

    @Test("DKG round-2 shares seal to their recipient and refuse to be relabelled")
    func dkgShares() throws {
        let parameters = try DKG.Parameters(
            threshold: 2, participants: [MessageSamples.id(1), MessageSamples.id(2)], context: [1])
        let participants = try [1, 2].map { try DKG.Participant(id: MessageSamples.id($0), parameters: parameters) }
        let shares = try participants[0].round2(packages: participants.map(\.round1Package))
        let toTwo = try #require(shares.first { $0.to == MessageSamples.id(2) })
        let key = MessageSamples.key(1)
        let payload = try ShareSealing.seal(dkgShare: toTwo, to: try TransportPublicKey(privateKey: agentKey), key: key)
        #expect(payload.from == MessageSamples.id(1) && payload.to == MessageSamples.id(2))
        let opened = try ShareSealing.openDKGShare(payload, privateKey: agentKey, key: key)
        #expect(opened.value == toTwo.value)
        let relabelled = try SealedPayload(from: MessageSamples.id(3), to: payload.to, ciphertext: payload.ciphertext)
        let error = #expect(throws: ShardCryptoError.self) {
            try ShareSealing.openDKGShare(relabelled, privateKey: agentKey, key: key)
        }
        #expect(error?.code == .decryptionFailed)
    }

    @Test("redistribution sub-shares seal to the new holder and open to a share of the same key")
    func subShares() throws {
        let old = try Shamir.split(secret: Scalar(4242), threshold: 2, participants: 3)
        let newHolders = [MessageSamples.id(4), MessageSamples.id(5)]
        let newKey = MessageSamples.key(9)
        let privateKeys = [Scalar(1111), Scalar(2222)]
        let recipients = try privateKeys.map { try TransportPublicKey(privateKey: $0) }
        let dealings = try old.shares.prefix(2).map {
            try Redistribution.deal(share: $0, newThreshold: 2, newParticipants: newHolders)
        }
        var newShares: [SecretShare] = []
        for (index, holder) in newHolders.enumerated() {
            let sealed = try dealings.map { dealing in
                try ShareSealing.seal(
                    subShare: dealing.subShares.first { $0.to == holder }!, to: recipients[index], newKey: newKey)
            }
            let opened = try sealed.map { try ShareSealing.openSubShare($0, privateKey: privateKeys[index], newKey: newKey) }
            let result = try Redistribution.receive(
                recipient: holder, oldCommitment: old.commitment, newThreshold: 2,
                dealings: dealings.map(\.publicDealing), subShares: opened)
            newShares.append(result.share)
            // Sealed to the other new holder's key: refused.
            let error = #expect(throws: ShardCryptoError.self) {
                try ShareSealing.openSubShare(sealed[0], privateKey: privateKeys[1 - index], newKey: newKey)
            }
            #expect(error?.code == .decryptionFailed)
        }
        #expect(try Shamir.interpolate(newShares) == Scalar(4242))
    }
}
