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
    public init(key: KeyReference, participant: ParticipantID, parameters: DKG.Parameters) throws {
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

    init(from reader: inout WireReader) throws {
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

    init(from reader: inout WireReader) throws {
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
    public init(key: KeyReference, packages: [DKG.Round1Package], recipients: [RecipientKey]) throws {
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

    init(from reader: inout WireReader) throws {
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

    init(from reader: inout WireReader) throws {
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

    init(from reader: inout WireReader) throws {
        self.init(key: try reader.readKeyReference("key"), shares: try reader.readSealedPayloads("sealed shares"))
    }
}

/// A list of DKG complaints with the key version they concern: the agent's complaints
/// after receiving (``MessageType/dkgComplaints``) or everyone's, sent to be answered
/// (``MessageType/dkgAnswerRequest``). Complaint evidence is public by design.
public struct DKGComplaintList: Sendable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The complaints.
    public let complaints: [DKG.Complaint]

    /// Creates a list.
    public init(key: KeyReference, complaints: [DKG.Complaint]) {
        self.key = key
        self.complaints = complaints
    }

    public var description: String { "DKGComplaintList(\(key), \(complaints.count) complaints)" }

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(complaints)
    }

    init(from reader: inout WireReader) throws {
        self.init(key: try reader.readKeyReference("key"), complaints: try reader.readComplaints("complaints"))
    }
}

/// DKG: shares this agent reveals publicly, answering complaints against it.
public struct DKGAnswers: Sendable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// The revealed round-2 shares; public by protocol once revealed.
    public let answers: [DKG.Round2Share]

    /// Creates a response.
    public init(key: KeyReference, answers: [DKG.Round2Share]) {
        self.key = key
        self.answers = answers
    }

    public var description: String { "DKGAnswers(\(key), \(answers.count) revealed shares)" }
}

extension DKGAnswers: WireCodable {
    static let messageType = MessageType.dkgAnswers

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(answers)
    }

    init(from reader: inout WireReader) throws {
        self.init(key: try reader.readKeyReference("key"), answers: try reader.readRevealedShares("answers"))
    }
}

/// DKG: every complaint and every answer; the agent finishes the run and keeps its share.
public struct DKGFinishRequest: Sendable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// Every complaint of the run.
    public let complaints: [DKG.Complaint]
    /// Every revealed share.
    public let answers: [DKG.Round2Share]

    /// Creates a request.
    public init(key: KeyReference, complaints: [DKG.Complaint], answers: [DKG.Round2Share]) {
        self.key = key
        self.complaints = complaints
        self.answers = answers
    }

    public var description: String {
        "DKGFinishRequest(\(key), \(complaints.count) complaints, \(answers.count) answers)"
    }
}

extension DKGFinishRequest: WireCodable {
    static let messageType = MessageType.dkgFinishRequest

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        try writer.write(complaints)
        try writer.write(answers)
    }

    init(from reader: inout WireReader) throws {
        self.init(
            key: try reader.readKeyReference("key"), complaints: try reader.readComplaints("complaints"),
            answers: try reader.readRevealedShares("answers"))
    }
}

/// DKG: the run's public outcome as this agent computed it; the coordinator checks
/// that every agent reports the same.
public struct DKGFinished: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// This agent's identifier.
    public let participant: ParticipantID
    /// X_i = x_i·G.
    public let publicShare: Point
    /// QUAL, ascending.
    public let qualified: [ParticipantID]
    /// The combined commitment; its first point is the group public key.
    public let commitment: FeldmanCommitment
    /// The digest of the round-1 broadcast, 32 bytes.
    public let round1Digest: [UInt8]

    /// Creates a response.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for a digest that is not 32
    ///   bytes or a qualified set that is empty or not ascending.
    public init(
        key: KeyReference, participant: ParticipantID, publicShare: Point, qualified: [ParticipantID],
        commitment: FeldmanCommitment, round1Digest: [UInt8]
    ) throws {
        guard round1Digest.count == 32 else {
            throw AgentProtocolError.malformed("a round-1 digest is 32 bytes, got \(round1Digest.count)")
        }
        guard !qualified.isEmpty else { throw AgentProtocolError.malformed("the qualified set is empty") }
        try checkAscending(qualified, "qualified set")
        self.key = key
        self.participant = participant
        self.publicShare = publicShare
        self.qualified = qualified
        self.commitment = commitment
        self.round1Digest = round1Digest
    }

    public var description: String {
        "DKGFinished(\(key), participant \(participant), qualified \(qualified), \(commitment))"
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
    }

    init(from reader: inout WireReader) throws {
        try self.init(
            key: try reader.readKeyReference("key"), participant: try reader.readParticipant("participant"),
            publicShare: try reader.readPoint("public share"), qualified: try reader.readParticipants("qualified"),
            commitment: try reader.readCommitment("commitment"), round1Digest: try reader.readFixed(32, "digest"))
    }
}

func checkAscending(_ ids: [ParticipantID], _ field: String) throws {
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

    mutating func write(_ shares: [DKG.Round2Share]) throws {
        try writeCount(shares.count)
        for share in shares { writeFixed(try share.serialized().withUnsafeBytes { Array($0) }) }
    }
}

extension WireReader {
    mutating func readRound1Package(_ field: String) throws -> DKG.Round1Package {
        let bytes = try readVariable(
            field, maximum: 2 + DKG.KnowledgeProof.byteCount + WireLimits.maximumParticipants * 33, minimum: 1)
        return try decodingField(field) { try DKG.Round1Package(serialized: bytes) }
    }

    mutating func readComplaints(_ field: String) throws -> [DKG.Complaint] {
        let count = try readCount(field, minimumElementSize: 4 + 5, maximum: WireLimits.maximumParticipants)
        var complaints: [DKG.Complaint] = []
        complaints.reserveCapacity(count)
        for _ in 0..<count {
            let bytes = try readVariable(field, maximum: 5 + DKG.Round2Share.byteCount, minimum: 5)
            complaints.append(try decodingField(field) { try DKG.Complaint(serialized: bytes) })
        }
        return complaints
    }

    mutating func readRevealedShares(_ field: String) throws -> [DKG.Round2Share] {
        let count = try readCount(
            field, minimumElementSize: DKG.Round2Share.byteCount, maximum: WireLimits.maximumParticipants)
        var shares: [DKG.Round2Share] = []
        shares.reserveCapacity(count)
        for _ in 0..<count {
            let bytes = try readFixed(DKG.Round2Share.byteCount, field)
            shares.append(try decodingField(field) { try DKG.Round2Share(serialized: SecretBytes(bytes)) })
        }
        return shares
    }
}
