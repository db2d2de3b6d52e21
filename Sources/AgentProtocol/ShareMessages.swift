import ShardCrypto

/// Step 5: share x_i of a key version, HPKE-sealed to the agent's transport key, with
/// the Feldman commitment the agent checks it against before keeping it.
public struct ShareDelivery: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The agent's participant identifier i in the key's ring.
    public let participant: ParticipantID
    /// HPKE `enc ‖ ciphertext` of the share; only the agent's transport key opens it.
    public let sealedShare: [UInt8]
    /// The key version's commitment A_0 … A_{t−1}.
    public let commitment: FeldmanCommitment

    /// Creates a delivery.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong sealed share.
    public init(key: KeyReference, participant: ParticipantID, sealedShare: [UInt8], commitment: FeldmanCommitment)
        throws(AgentProtocolError)
    {
        try WireLimits.check("sealed share", sealedShare, maximum: WireLimits.maximumSealedShareLength)
        self.key = key
        self.participant = participant
        self.sealedShare = sealedShare
        self.commitment = commitment
    }

    public var description: String {
        "ShareDelivery(\(key), participant \(participant), sealed \(sealedShare.count) B, \(commitment))"
    }
}

extension ShareDelivery: WireCodable {
    static let messageType = MessageType.deliverShare

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(participant)
        writer.writeVariable(sealedShare)
        try writer.write(commitment)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            key: try reader.readKeyReference("key"), participant: try reader.readParticipant("participant"),
            sealedShare: try reader.readVariable("sealed share", maximum: WireLimits.maximumSealedShareLength),
            commitment: try reader.readCommitment("commitment"))
    }
}

/// Step 5: the share opened, matched the commitment and is kept; X_i lets the
/// coordinator cross-check with the commitment it holds.
public struct ShareAccepted: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The agent's participant identifier.
    public let participant: ParticipantID
    /// X_i = x_i·G.
    public let publicShare: Point

    /// Creates an acceptance.
    public init(key: KeyReference, participant: ParticipantID, publicShare: Point) {
        self.key = key
        self.participant = participant
        self.publicShare = publicShare
    }

    public var description: String { "ShareAccepted(\(key), participant \(participant))" }
}

extension ShareAccepted: WireCodable {
    static let messageType = MessageType.shareAccepted

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(participant)
        try writer.write(publicShare)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(
            key: try reader.readKeyReference("key"), participant: try reader.readParticipant("participant"),
            publicShare: try reader.readPoint("public share"))
    }
}

/// Step 6: a new nonce the agent's quote and proofs of possession must bind.
public struct HeartbeatRequest: Sendable, Hashable, CustomStringConvertible {
    /// The heartbeat nonce.
    public let nonce: Nonce

    /// Creates a heartbeat request.
    public init(nonce: Nonce) { self.nonce = nonce }

    public var description: String { "HeartbeatRequest(\(nonce))" }
}

extension HeartbeatRequest: WireCodable {
    static let messageType = MessageType.heartbeatRequest
    func encode(into writer: inout WireWriter) { writer.write(nonce) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { self.init(nonce: try reader.readNonce("nonce")) }
}

/// One key version's Schnorr proof of possession of x_i, bound to the heartbeat's nonce, the transport
/// key and the key version by ``EvidenceBinding/possession(nonce:transportKey:key:)``.
public struct PossessionEntry: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The agent's participant identifier in that key's ring.
    public let participant: ParticipantID
    /// The proof (65 bytes on the wire).
    public let proof: PossessionProof

    /// Creates an entry.
    public init(key: KeyReference, participant: ParticipantID, proof: PossessionProof) {
        self.key = key
        self.participant = participant
        self.proof = proof
    }

    public var description: String { "PossessionEntry(\(key), participant \(participant))" }
}

/// Step 6: a fresh quote over the nonce and a proof of possession per key version held.
public struct Heartbeat: Sendable, Equatable, CustomStringConvertible {
    /// TPMS_ATTEST of the quote whose qualifyingData binds the nonce.
    public let quote: [UInt8]
    /// TPMT_SIGNATURE of the quote.
    public let quoteSignature: [UInt8]
    /// The PCR values the quote covers.
    public let pcrValues: PCRValues
    /// One proof per key version held.
    public let proofs: [PossessionEntry]

    /// Creates a heartbeat.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong quote.
    public init(quote: [UInt8], quoteSignature: [UInt8], pcrValues: PCRValues, proofs: [PossessionEntry]) throws(AgentProtocolError) {
        try WireLimits.check("quote", quote, maximum: WireLimits.maximumTPMStructureLength)
        try WireLimits.check("quote signature", quoteSignature, maximum: WireLimits.maximumTPMStructureLength)
        self.quote = quote
        self.quoteSignature = quoteSignature
        self.pcrValues = pcrValues
        self.proofs = proofs
    }

    public var description: String { "Heartbeat(quote \(quote.count) B, \(pcrValues), \(proofs.count) proofs)" }
}

extension Heartbeat: WireCodable {
    static let messageType = MessageType.heartbeat

    func encode(into writer: inout WireWriter) throws {
        writer.writeVariable(quote)
        writer.writeVariable(quoteSignature)
        writer.write(pcrValues)
        try writer.writeCount(proofs.count)
        for entry in proofs {
            writer.write(entry.key)
            writer.write(entry.participant)
            writer.writeFixed(try entry.proof.serialized())
        }
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let quote = try reader.readVariable("quote", maximum: WireLimits.maximumTPMStructureLength)
        let signature = try reader.readVariable("quote signature", maximum: WireLimits.maximumTPMStructureLength)
        let pcrs = try reader.readPCRValues("PCR values")
        let count = try reader.readCount("proofs", minimumElementSize: 1 + 1 + 4 + 2 + PossessionProof.byteCount)
        var proofs: [PossessionEntry] = []
        proofs.reserveCapacity(count)
        for _ in 0..<count {
            let key = try reader.readKeyReference("proof key")
            let participant = try reader.readParticipant("proof participant")
            let bytes = try reader.readFixed(PossessionProof.byteCount, "possession proof")
            proofs.append(
                PossessionEntry(
                    key: key, participant: participant,
                    proof: try decodingField("possession proof") { try PossessionProof(serialized: bytes) }))
        }
        try self.init(quote: quote, quoteSignature: signature, pcrValues: pcrs, proofs: proofs)
    }
}
