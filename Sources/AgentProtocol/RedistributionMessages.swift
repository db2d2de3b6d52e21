import Crypto
import ShardCrypto

/// Redistribution: re-share the agent's share of `key` to a new set; sub-shares are
/// sealed to each new holder's attested transport key.
public struct RedistributeDealRequest: Sendable, Hashable, CustomStringConvertible {
    /// The key version whose share is re-shared.
    public let key: KeyReference
    /// The key version the new shares will be held under (the same key, a new version chosen by
    /// the coordinator); sub-shares are sealed to it, so they cannot be replayed into another.
    public let newKey: KeyReference
    /// t', the new threshold.
    public let newThreshold: UInt16
    /// The new holders (ascending) with their transport keys.
    public let recipients: [RecipientKey]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for a new key that is another key or
    ///   the same version, a threshold of 0 or above the number of recipients, or recipients not
    ///   strictly ascending.
    public init(key: KeyReference, newKey: KeyReference, newThreshold: UInt16, recipients: [RecipientKey]) throws(AgentProtocolError) {
        guard newKey.keyID == key.keyID, newKey.version != key.version else {
            throw AgentProtocolError.malformed(
                "a redistribution re-shares \(key) as a new version of the same key, not as \(newKey)")
        }
        guard newThreshold >= 1, Int(newThreshold) <= recipients.count else {
            throw AgentProtocolError.malformed(
                "a new threshold must be 1…\(recipients.count) (the new holders), got \(newThreshold)")
        }
        try checkAscending(recipients.map(\.participant), "recipients")
        self.key = key
        self.newKey = newKey
        self.newThreshold = newThreshold
        self.recipients = recipients
    }

    public var description: String {
        "RedistributeDealRequest(\(key) → \(newKey), t'=\(newThreshold), to \(recipients.map(\.participant)))"
    }
}

extension RedistributeDealRequest: WireCodable {
    static let messageType = MessageType.redistributeDealRequest

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(newKey)
        writer.write(newThreshold)
        try writer.write(recipients)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            key: try reader.readKeyReference("key"), newKey: try reader.readKeyReference("new key"),
            newThreshold: try reader.readUInt16("new threshold"), recipients: try reader.readRecipients("recipients"))
    }
}

/// Redistribution: the public dealing G_i and a sealed sub-share g_i(j) per new holder.
public struct RedistributeDealing: Sendable, Equatable, CustomStringConvertible {
    /// The key version re-shared.
    public let key: KeyReference
    /// Dealer i and G_i, broadcast to every new holder.
    public let dealing: Redistribution.PublicDealing
    /// g_i(j), sealed to each new holder j.
    public let subShares: [SealedPayload]
    /// The dealer's proof of knowledge of x_i (= G_{i,0}'s discrete log) bound to this dealing
    /// (``RedistributeDealing/binding(dealing:newKey:newThreshold:)``): only a holder of old share
    /// i can deal for i, so a relay cannot slip in a dealing of its own.
    public let proof: PossessionProof

    /// Creates a response.
    public init(
        key: KeyReference, dealing: Redistribution.PublicDealing, subShares: [SealedPayload], proof: PossessionProof
    ) {
        self.key = key
        self.dealing = dealing
        self.subShares = subShares
        self.proof = proof
    }

    /// What a dealing's proof is bound to: SHA-256("keyshard/v1/dealing" ‖ dealing ‖ new key ‖ t′).
    public static func binding(
        dealing: Redistribution.PublicDealing, newKey: KeyReference, newThreshold: UInt16
    ) throws(ShardCryptoError) -> [UInt8] {
        var writer = WireWriter()
        writer.writeFixed(Array("keyshard/v1/dealing".utf8))
        writer.writeVariable(try dealing.serialized())
        writer.write(newKey)
        writer.write(newThreshold)
        return Array(SHA256.hash(data: writer.bytes))
    }

    public var description: String { "RedistributeDealing(\(key), \(dealing), \(subShares.count) sealed sub-shares)" }
}

extension RedistributeDealing: WireCodable {
    static let messageType = MessageType.redistributeDealing

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.writeVariable(try dealing.serialized())
        try writer.write(subShares)
        writer.writeFixed(try proof.serialized())
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(
            key: try reader.readKeyReference("key"), dealing: try reader.readPublicDealing("public dealing"),
            subShares: try reader.readSealedPayloads("sealed sub-shares"), proof: try reader.readPossessionProof("dealing proof"))
    }
}

/// Redistribution: the new holder's inputs to ``Redistribution/receive``: the old
/// commitment, the chosen dealers' public dealings and the sub-shares sealed to it.
public struct RedistributeReceiveRequest: Sendable, Equatable, CustomStringConvertible {
    /// The new key version the combined share belongs to.
    public let newKey: KeyReference
    /// This agent's identifier j in the new set.
    public let participant: ParticipantID
    /// t'.
    public let newThreshold: UInt16
    /// The commitment of the old sharing.
    public let oldCommitment: FeldmanCommitment
    /// The chosen dealers' public dealings, ascending by dealer (the same for every new holder).
    public let dealings: [Redistribution.PublicDealing]
    /// Each dealing's proof (``RedistributeDealing/proof``), in the same order.
    public let dealingProofs: [PossessionProof]
    /// One sealed sub-share from each chosen dealer, addressed to `participant`.
    public let subShares: [SealedPayload]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for a zero threshold,
    ///   dealings not strictly ascending by dealer, or not one proof per dealing.
    public init(
        newKey: KeyReference, participant: ParticipantID, newThreshold: UInt16, oldCommitment: FeldmanCommitment,
        dealings: [Redistribution.PublicDealing], dealingProofs: [PossessionProof], subShares: [SealedPayload]
    ) throws(AgentProtocolError) {
        guard newThreshold >= 1 else { throw AgentProtocolError.malformed("the new threshold is 0") }
        guard dealingProofs.count == dealings.count else {
            throw AgentProtocolError.malformed("every dealing needs its proof: \(dealings.count) dealings, \(dealingProofs.count) proofs")
        }
        try checkAscending(dealings.map(\.from), "dealings")
        self.dealingProofs = dealingProofs
        self.newKey = newKey
        self.participant = participant
        self.newThreshold = newThreshold
        self.oldCommitment = oldCommitment
        self.dealings = dealings
        self.subShares = subShares
    }

    public var description: String {
        "RedistributeReceiveRequest(\(newKey), participant \(participant), t'=\(newThreshold), "
            + "dealers \(dealings.map(\.from)))"
    }
}

extension RedistributeReceiveRequest: WireCodable {
    static let messageType = MessageType.redistributeReceiveRequest

    func encode(into writer: inout WireWriter) throws {
        writer.write(newKey)
        writer.write(participant)
        writer.write(newThreshold)
        try writer.write(oldCommitment)
        try writer.writeCount(dealings.count)
        for dealing in dealings { writer.writeVariable(try dealing.serialized()) }
        for proof in dealingProofs { writer.writeFixed(try proof.serialized()) }
        try writer.write(subShares)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let newKey = try reader.readKeyReference("new key")
        let participant = try reader.readParticipant("participant")
        let threshold = try reader.readUInt16("new threshold")
        let oldCommitment = try reader.readCommitment("old commitment")
        let count = try reader.readCount(
            "dealings", minimumElementSize: 4 + 2 + 33, maximum: WireLimits.maximumParticipants)
        var dealings: [Redistribution.PublicDealing] = []
        dealings.reserveCapacity(count)
        for _ in 0..<count { dealings.append(try reader.readPublicDealing("public dealing")) }
        var proofs: [PossessionProof] = []
        for _ in 0..<count { proofs.append(try reader.readPossessionProof("dealing proof")) }
        try self.init(
            newKey: newKey, participant: participant, newThreshold: threshold, oldCommitment: oldCommitment,
            dealings: dealings, dealingProofs: proofs, subShares: try reader.readSealedPayloads("sealed sub-shares"))
    }
}

/// Redistribution: the new share is kept; X'_j and the new commitment for the coordinator's cross-check.
public struct RedistributeAccepted: Sendable, Equatable, CustomStringConvertible {
    /// The new key version.
    public let newKey: KeyReference
    /// This agent's identifier in the new set.
    public let participant: ParticipantID
    /// X'_j.
    public let publicShare: Point
    /// The new commitment Σ λ_i·G_i.
    public let commitment: FeldmanCommitment

    /// Creates a response.
    public init(newKey: KeyReference, participant: ParticipantID, publicShare: Point, commitment: FeldmanCommitment) {
        self.newKey = newKey
        self.participant = participant
        self.publicShare = publicShare
        self.commitment = commitment
    }

    public var description: String { "RedistributeAccepted(\(newKey), participant \(participant), \(commitment))" }
}

extension RedistributeAccepted: WireCodable {
    static let messageType = MessageType.redistributeAccepted

    func encode(into writer: inout WireWriter) throws {
        writer.write(newKey)
        writer.write(participant)
        try writer.write(publicShare)
        try writer.write(commitment)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(
            newKey: try reader.readKeyReference("new key"), participant: try reader.readParticipant("participant"),
            publicShare: try reader.readPoint("public share"), commitment: try reader.readCommitment("commitment"))
    }
}

extension WireReader {
    mutating func readPossessionProof(_ field: String) throws(AgentProtocolError) -> PossessionProof {
        let bytes = try readFixed(PossessionProof.byteCount, field)
        return try decodingField(field) { try PossessionProof(serialized: bytes) }
    }

    mutating func readPublicDealing(_ field: String) throws(AgentProtocolError) -> Redistribution.PublicDealing {
        let bytes = try readVariable(field, maximum: 2 + WireLimits.maximumParticipants * 33, minimum: 1)
        return try decodingField(field) { try Redistribution.PublicDealing(serialized: bytes) }
    }
}
