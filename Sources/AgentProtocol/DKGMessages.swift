import ShardCrypto

/// DKG: start a run of ``DKG/Participant`` as `participant` and broadcast its round-1 package.
public struct DKGRound1Request: Sendable, Equatable, CustomStringConvertible {
    /// The key version the run creates.
    public let key: KeyReference
    /// This agent's identifier in the run.
    public let participant: ParticipantID
    /// t, the participants and the session context every participant agrees on.
    public let parameters: DKG.Parameters

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` when `participant` is not one of
    ///   the run's participants, or the context is longer than 1024 bytes.
    public init(key: KeyReference, participant: ParticipantID, parameters: DKG.Parameters) throws(AgentProtocolError) {
        guard parameters.participants.contains(participant) else {
            throw AgentProtocolError.malformed("participant \(participant) is not in the DKG run")
        }
        guard parameters.context.count <= WireLimits.maximumContextLength,
            parameters.participants.count <= WireLimits.maximumParticipants
        else {
            throw AgentProtocolError.malformed("the DKG context or participant list is too long")
        }
        self.key = key
        self.participant = participant
        self.parameters = parameters
    }

    public var description: String {
        "DKGRound1Request(\(key), participant \(participant), t=\(parameters.threshold), "
            + "n=\(parameters.participants.count))"
    }
}

extension DKGRound1Request: WireCodable {
    static let messageType = MessageType.dkgRound1Request

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(participant)
        writer.write(UInt16(parameters.threshold))
        try writer.write(parameters.participants)
        writer.writeVariable(parameters.context)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let participant = try reader.readParticipant("participant")
        let threshold = Int(try reader.readUInt16("threshold"))
        let participants = try reader.readParticipants("participants")
        let context = try reader.readVariable("context", maximum: WireLimits.maximumContextLength, minimum: 1)
        let parameters = try decodingField("DKG parameters") {
            try DKG.Parameters(threshold: threshold, participants: participants, context: context)
        }
        try self.init(key: key, participant: participant, parameters: parameters)
    }
}

/// DKG: this agent's round-1 broadcast.
public struct DKGRound1PackageResponse: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The package (commitment and proof of knowledge).
    public let package: DKG.Round1Package

    /// Creates a response.
    public init(key: KeyReference, package: DKG.Round1Package) {
        self.key = key
        self.package = package
    }

    public var description: String { "DKGRound1PackageResponse(\(key), \(package))" }
}

extension DKGRound1PackageResponse: WireCodable {
    static let messageType = MessageType.dkgRound1Package

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.writeVariable(try package.serialized())
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let package = try reader.readRound1Package("round-1 package")
        self.init(key: key, package: package)
    }
}

/// DKG: every round-1 package, and the transport keys to seal round-2 shares to.
public struct DKGRound2Request: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// Every participant's round-1 package, ascending by sender.
    public let packages: [DKG.Round1Package]
    /// Every other participant's attested transport key, ascending.
    public let recipients: [RecipientKey]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for packages not strictly
    ///   ascending by sender, or too many.
    public init(key: KeyReference, packages: [DKG.Round1Package], recipients: [RecipientKey]) throws(AgentProtocolError) {
        try checkAscending(packages.map(\.from), "round-1 packages")
        try checkAscending(recipients.map(\.participant), "recipients")
        self.key = key
        self.packages = packages
        self.recipients = recipients
    }

    public var description: String {
        "DKGRound2Request(\(key), \(packages.count) packages, \(recipients.count) recipients)"
    }
}

extension DKGRound2Request: WireCodable {
    static let messageType = MessageType.dkgRound2Request

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.writeCount(packages.count)
        for package in packages { writer.writeVariable(try package.serialized()) }
        try writer.write(recipients)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let count = try reader.readCount(
            "round-1 packages", minimumElementSize: 4 + 2 + 65 + 33, maximum: WireLimits.maximumParticipants)
        var packages: [DKG.Round1Package] = []
        packages.reserveCapacity(count)
        for _ in 0..<count { packages.append(try reader.readRound1Package("round-1 package")) }
        try self.init(key: key, packages: packages, recipients: try reader.readRecipients("recipients"))
    }
}

/// DKG: round-2 shares f_i(j), each HPKE-sealed to recipient j's transport key.
public struct DKGRound2SharesResponse: Sendable, Hashable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// One sealed share per recipient.
    public let shares: [SealedPayload]

    /// Creates a response.
    public init(key: KeyReference, shares: [SealedPayload]) {
        self.key = key
        self.shares = shares
    }

    public var description: String { "DKGRound2SharesResponse(\(key), \(shares.count) sealed shares)" }
}

extension DKGRound2SharesResponse: WireCodable {
    static let messageType = MessageType.dkgRound2Shares

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(shares)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(key: try reader.readKeyReference("key"), shares: try reader.readSealedPayloads("sealed shares"))
    }
}

/// DKG: the sealed round-2 shares addressed to this agent.
public struct DKGReceiveRequest: Sendable, Hashable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// One sealed share from each other dealer.
    public let shares: [SealedPayload]

    /// Creates a request.
    public init(key: KeyReference, shares: [SealedPayload]) {
        self.key = key
        self.shares = shares
    }

    public var description: String { "DKGReceiveRequest(\(key), \(shares.count) sealed shares)" }
}

extension DKGReceiveRequest: WireCodable {
    static let messageType = MessageType.dkgReceiveRequest

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(shares)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(key: try reader.readKeyReference("key"), shares: try reader.readSealedPayloads("sealed shares"))
    }
}

/// DKG: this agent's complaints after receiving, each signed by the agent with its
/// round-1 secret and bound to the run's round-1 digest (``DKG/Complaint``). Public by
/// design: a complaint carries no share of an honest dealer. The coordinator may check each
/// with ``DKG/resolveComplaint(_:round1:)`` before relaying; agents refuse a list that holds
/// a forged, self or repeated complaint.
public struct DKGComplaintList: Sendable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The complaints, at most one per dealer.
    public let complaints: [DKG.Complaint]

    /// Creates a list.
    public init(key: KeyReference, complaints: [DKG.Complaint]) {
        self.key = key
        self.complaints = complaints
    }

    public var description: String { "DKGComplaintList(\(key), \(complaints.count) complaints)" }
}

extension DKGComplaintList: WireCodable {
    static let messageType = MessageType.dkgComplaints

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(complaints)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(key: try reader.readKeyReference("key"), complaints: try reader.readComplaints("complaints"))
    }
}

/// DKG: every complaint of the run. The agent settles them, computes its share and keeps
/// it *pending* (not usable, not in the heartbeat) until ``DKGConfirmRequest``.
public struct DKGFinishRequest: Sendable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// Every complaint of the run.
    public let complaints: [DKG.Complaint]

    /// Creates a request.
    public init(key: KeyReference, complaints: [DKG.Complaint]) {
        self.key = key
        self.complaints = complaints
    }

    public var description: String { "DKGFinishRequest(\(key), \(complaints.count) complaints)" }
}

extension DKGFinishRequest: WireCodable {
    static let messageType = MessageType.dkgFinishRequest

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(complaints)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(key: try reader.readKeyReference("key"), complaints: try reader.readComplaints("complaints"))
    }
}

/// DKG: the run's outcome as this agent computed it, still pending, with the agent's
/// confirmation: a signature with its round-1 secret a_{i,0} under C_{i,0} over the
/// transcript digest, QUAL, the group key and the commitment. Every agent that passed
/// round 1 sends one, also an agent the complaints disqualified (it holds no share, and is
/// not in `qualified`). The coordinator hands all of them to every agent
/// (``DKGConfirmRequest``); one missing blocks the run for everyone.
public struct DKGFinished: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// This agent's identifier.
    public let participant: ParticipantID
    /// C(i) of the combined commitment: X_i = x_i·G of the pending share when this agent is
    /// in `qualified`; for a disqualified agent, which holds no share, only that value.
    public let publicShare: Point
    /// QUAL, ascending.
    public let qualified: [ParticipantID]
    /// The combined commitment; its first point is the group public key.
    public let commitment: FeldmanCommitment
    /// The digest of the round-1 broadcast, 32 bytes.
    public let round1Digest: [UInt8]
    /// The digest of the round-1 digest and every complaint, 32 bytes.
    public let transcriptDigest: [UInt8]
    /// This agent's confirmation of the outcome.
    public let confirmation: DKG.Confirmation

    /// Creates a response.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for a digest that is not 32
    ///   bytes, a qualified set that is empty or not ascending, or a confirmation from
    ///   another participant.
    public init(
        key: KeyReference, participant: ParticipantID, publicShare: Point, qualified: [ParticipantID],
        commitment: FeldmanCommitment, round1Digest: [UInt8], transcriptDigest: [UInt8],
        confirmation: DKG.Confirmation
    ) throws(AgentProtocolError) {
        guard round1Digest.count == 32, transcriptDigest.count == 32 else {
            throw AgentProtocolError.malformed("a DKG digest is 32 bytes")
        }
        guard !qualified.isEmpty else { throw AgentProtocolError.malformed("the qualified set is empty") }
        try checkAscending(qualified, "qualified set")
        guard confirmation.from == participant else {
            throw AgentProtocolError.malformed(
                "participant \(participant) reports a confirmation from \(confirmation.from)")
        }
        self.key = key
        self.participant = participant
        self.publicShare = publicShare
        self.qualified = qualified
        self.commitment = commitment
        self.round1Digest = round1Digest
        self.transcriptDigest = transcriptDigest
        self.confirmation = confirmation
    }

    /// Whether this agent is in QUAL and so holds a pending share.
    public var holdsShare: Bool { qualified.contains(participant) }

    public var description: String {
        "DKGFinished(\(key), participant \(participant), qualified \(qualified), \(commitment), "
            + (holdsShare ? "pending)" : "disqualified, no share)")
    }
}

extension DKGFinished: WireCodable {
    static let messageType = MessageType.dkgFinished

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(participant)
        try writer.write(publicShare)
        try writer.write(qualified)
        try writer.write(commitment)
        writer.writeFixed(round1Digest)
        writer.writeFixed(transcriptDigest)
        writer.writeFixed(try confirmation.serialized())
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let participant = try reader.readParticipant("participant")
        let publicShare = try reader.readPoint("public share")
        let qualified = try reader.readParticipants("qualified")
        let commitment = try reader.readCommitment("commitment")
        let round1Digest = try reader.readFixed(32, "round-1 digest")
        let transcriptDigest = try reader.readFixed(32, "transcript digest")
        let confirmation = try reader.readConfirmation("confirmation")
        try self.init(
            key: key, participant: participant, publicShare: publicShare, qualified: qualified,
            commitment: commitment, round1Digest: round1Digest, transcriptDigest: transcriptDigest,
            confirmation: confirmation)
    }
}

/// DKG: one confirmation from every participant that passed round 1 (QUAL members and those
/// disqualified by complaints), ascending by participant. The agent releases its pending
/// share only if they come from exactly the participants that passed round 1 in its own view
/// and each verifies under that participant's C_{m,0} over the outcome the agent computed;
/// otherwise the run and its pending share are dropped. A disqualified agent checks them
/// the same way and then ends its run.
public struct DKGConfirmRequest: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The confirmations, strictly ascending by sender.
    public let confirmations: [DKG.Confirmation]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for confirmations not strictly
    ///   ascending by sender (two from one member among them), or too many.
    public init(key: KeyReference, confirmations: [DKG.Confirmation]) throws(AgentProtocolError) {
        try checkAscending(confirmations.map(\.from), "confirmations")
        self.key = key
        self.confirmations = confirmations
    }

    public var description: String { "DKGConfirmRequest(\(key), \(confirmations.count) confirmations)" }
}

extension DKGConfirmRequest: WireCodable {
    static let messageType = MessageType.dkgConfirmRequest

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.writeCount(confirmations.count)
        for confirmation in confirmations { writer.writeFixed(try confirmation.serialized()) }
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let count = try reader.readCount(
            "confirmations", minimumElementSize: DKG.Confirmation.byteCount, maximum: WireLimits.maximumParticipants)
        var confirmations: [DKG.Confirmation] = []
        confirmations.reserveCapacity(count)
        for _ in 0..<count { confirmations.append(try reader.readConfirmation("confirmation")) }
        try self.init(key: key, confirmations: confirmations)
    }
}

/// DKG: every participant that passed round 1 confirmed the outcome; the agent now holds its
/// share, or, disqualified by complaints, ended its run with none.
public struct DKGConfirmed: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// This agent's identifier.
    public let participant: ParticipantID
    /// X_i = x_i·G of the share now held; nil for a disqualified agent, which holds none.
    public let publicShare: Point?

    /// Creates a response.
    public init(key: KeyReference, participant: ParticipantID, publicShare: Point?) {
        self.key = key
        self.participant = participant
        self.publicShare = publicShare
    }

    public var description: String {
        "DKGConfirmed(\(key), participant \(participant)" + (publicShare == nil ? ", disqualified: no share)" : ")")
    }
}

extension DKGConfirmed: WireCodable {
    static let messageType = MessageType.dkgConfirmed

    /// `key ‖ participant ‖ 0x01 ‖ X_i`, or `key ‖ participant ‖ 0x00` for a disqualified agent.
    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(participant)
        if let publicShare {
            writer.write(UInt8(1))
            try writer.write(publicShare)
        } else {
            writer.write(UInt8(0))
        }
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let participant = try reader.readParticipant("participant")
        let publicShare: Point?
        switch try reader.readUInt8("share held") {
        case 0: publicShare = nil
        case 1: publicShare = try reader.readPoint("public share")
        case let flag: throw AgentProtocolError.malformed("share held is \(flag), not 0 or 1")
        }
        self.init(key: key, participant: participant, publicShare: publicShare)
    }
}

func checkAscending(_ ids: [ParticipantID], _ field: String) throws(AgentProtocolError) {
    guard ids.count <= WireLimits.maximumParticipants else {
        throw AgentProtocolError.malformed("\(field) has \(ids.count) entries, at most \(WireLimits.maximumParticipants)")
    }
    guard zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }) else {
        throw AgentProtocolError.malformed("\(field) must be strictly ascending by participant")
    }
}

extension WireWriter {
    mutating func write(_ complaints: [DKG.Complaint]) throws {
        try writeCount(complaints.count)
        for complaint in complaints { writeVariable(try complaint.serialized()) }
    }

}

extension WireReader {
    mutating func readRound1Package(_ field: String) throws(AgentProtocolError) -> DKG.Round1Package {
        let bytes = try readVariable(
            field, maximum: 2 + DKG.KnowledgeProof.byteCount + WireLimits.maximumParticipants * 33, minimum: 1)
        return try decodingField(field) { try DKG.Round1Package(serialized: bytes) }
    }

    /// Signed complaints; each is a missing-share (102 bytes) or invalid-share (235 bytes) one.
    mutating func readComplaints(_ field: String) throws(AgentProtocolError) -> [DKG.Complaint] {
        let count = try readCount(
            field, minimumElementSize: 4 + DKG.Complaint.missingShareByteCount,
            maximum: WireLimits.maximumParticipants)
        var complaints: [DKG.Complaint] = []
        complaints.reserveCapacity(count)
        for _ in 0..<count {
            let bytes = try readVariable(
                field, maximum: DKG.Complaint.invalidShareByteCount, minimum: DKG.Complaint.missingShareByteCount)
            complaints.append(try decodingField(field) { try DKG.Complaint(serialized: bytes) })
        }
        return complaints
    }

    mutating func readConfirmation(_ field: String) throws(AgentProtocolError) -> DKG.Confirmation {
        let bytes = try readFixed(DKG.Confirmation.byteCount, field)
        return try decodingField(field) { try DKG.Confirmation(serialized: bytes) }
    }
}
