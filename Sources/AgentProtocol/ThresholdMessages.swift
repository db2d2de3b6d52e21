import ShardCrypto

/// Threshold HPKE: asks for D_i = x_i·enc with a DLEQ proof for one ciphertext.
public struct PartialDecryptRequest: Sendable, Hashable, CustomStringConvertible {
    /// The key version the ciphertext was sealed to.
    public let key: KeyReference
    /// The HPKE ciphertext `enc ‖ ct` (the agent uses enc, and may log a digest of the whole).
    public let ciphertext: [UInt8]
    /// The DLEQ proof context binding the partial to this request.
    public let context: [UInt8]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for a ciphertext shorter than
    ///   an uncompressed enc (65 bytes) or an overlong context.
    public init(key: KeyReference, ciphertext: [UInt8], context: [UInt8]) throws(AgentProtocolError) {
        guard ciphertext.count >= Point.uncompressedByteCount else {
            throw AgentProtocolError.malformed(
                "a ciphertext is at least \(Point.uncompressedByteCount) bytes (enc), got \(ciphertext.count)")
        }
        guard context.count <= WireLimits.maximumContextLength else {
            throw AgentProtocolError.malformed("a context is at most \(WireLimits.maximumContextLength) bytes")
        }
        self.key = key
        self.ciphertext = ciphertext
        self.context = context
    }

    public var description: String {
        "PartialDecryptRequest(\(key), ciphertext \(ciphertext.count) B, context \(context.count) B)"
    }
}

extension PartialDecryptRequest: WireCodable {
    static let messageType = MessageType.partialDecryptRequest

    func encode(into writer: inout WireWriter) {
        writer.write(key)
        writer.writeVariable(ciphertext)
        writer.writeVariable(context)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            key: try reader.readKeyReference("key"), ciphertext: try reader.readVariable("ciphertext"),
            context: try reader.readVariable("context", maximum: WireLimits.maximumContextLength))
    }
}

/// Threshold HPKE: D_i and its DLEQ proof (``PartialDecryption``, 99 bytes on the wire).
public struct PartialDecryptionResponse: Sendable, Equatable, CustomStringConvertible {
    /// The key version.
    public let key: KeyReference
    /// D_i with its proof.
    public let partial: PartialDecryption

    /// Creates a response.
    public init(key: KeyReference, partial: PartialDecryption) {
        self.key = key
        self.partial = partial
    }

    public var description: String { "PartialDecryptionResponse(\(key), \(partial))" }
}

extension PartialDecryptionResponse: WireCodable {
    static let messageType = MessageType.partialDecryption

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.writeFixed(try partial.serialized())
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let bytes = try reader.readFixed(PartialDecryption.byteCount, "partial decryption")
        self.init(key: key, partial: try decodingField("partial decryption") { try PartialDecryption(serialized: bytes) })
    }
}

/// FROST round one: commit to a fresh nonce pair for `session`.
public struct SignRound1Request: Sendable, Hashable, CustomStringConvertible {
    /// The key version that signs.
    public let key: KeyReference
    /// The signing session; round two names it again.
    public let session: SessionID

    /// Creates a request.
    public init(key: KeyReference, session: SessionID) {
        self.key = key
        self.session = session
    }

    public var description: String { "SignRound1Request(\(key), \(session))" }
}

extension SignRound1Request: WireCodable {
    static let messageType = MessageType.signRound1Request

    func encode(into writer: inout WireWriter) {
        writer.write(key)
        writer.write(session)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        self.init(key: try reader.readKeyReference("key"), session: try reader.readSessionID("session"))
    }
}

/// FROST round one: the agent's commitment (D_i, E_i); its nonces stay in the agent.
public struct SigningCommitmentResponse: Sendable, Equatable, CustomStringConvertible {
    /// The signing session.
    public let session: SessionID
    /// The commitment, 68 bytes on the wire.
    public let commitment: FROST.SigningCommitment

    /// Creates a response.
    public init(session: SessionID, commitment: FROST.SigningCommitment) {
        self.session = session
        self.commitment = commitment
    }

    public var description: String { "SigningCommitmentResponse(\(session), \(commitment))" }
}

extension SigningCommitmentResponse: WireCodable {
    static let messageType = MessageType.signingCommitment

    func encode(into writer: inout WireWriter) throws {
        writer.write(session)
        writer.writeFixed(try commitment.serialized())
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let session = try reader.readSessionID("session")
        let bytes = try reader.readFixed(FROST.SigningCommitment.byteCount, "signing commitment")
        self.init(
            session: session,
            commitment: try decodingField("signing commitment") { try FROST.SigningCommitment(serialized: bytes) })
    }
}

/// FROST round two: sign `message` under the commitment list of this session.
public struct SignRound2Request: Sendable, Equatable, CustomStringConvertible {
    /// The key version that signs.
    public let key: KeyReference
    /// The session of round one.
    public let session: SessionID
    /// The message to sign.
    public let message: [UInt8]
    /// Every signer's commitment, ascending by identifier (RFC 9591 order).
    public let commitments: [FROST.SigningCommitment]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty list, one not
    ///   strictly ascending, or more than 1024 signers.
    public init(key: KeyReference, session: SessionID, message: [UInt8], commitments: [FROST.SigningCommitment])
        throws(AgentProtocolError)
    {
        guard !commitments.isEmpty, commitments.count <= WireLimits.maximumParticipants else {
            throw AgentProtocolError.malformed(
                "a commitment list has 1…\(WireLimits.maximumParticipants) entries, got \(commitments.count)")
        }
        guard zip(commitments, commitments.dropFirst()).allSatisfy({ $0.id < $1.id }) else {
            throw AgentProtocolError.malformed("the commitment list must be strictly ascending by signer")
        }
        self.key = key
        self.session = session
        self.message = message
        self.commitments = commitments
    }

    public var description: String {
        "SignRound2Request(\(key), \(session), message \(message.count) B, signers \(commitments.map(\.id)))"
    }
}

extension SignRound2Request: WireCodable {
    static let messageType = MessageType.signRound2Request

    func encode(into writer: inout WireWriter) throws {
        writer.write(key)
        writer.write(session)
        writer.writeVariable(message)
        try writer.writeCount(commitments.count)
        for commitment in commitments { writer.writeFixed(try commitment.serialized()) }
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let key = try reader.readKeyReference("key")
        let session = try reader.readSessionID("session")
        let message = try reader.readVariable("message")
        let count = try reader.readCount(
            "commitments", minimumElementSize: FROST.SigningCommitment.byteCount,
            maximum: WireLimits.maximumParticipants)
        var commitments: [FROST.SigningCommitment] = []
        commitments.reserveCapacity(count)
        for _ in 0..<count {
            let bytes = try reader.readFixed(FROST.SigningCommitment.byteCount, "signing commitment")
            commitments.append(
                try decodingField("signing commitment") { try FROST.SigningCommitment(serialized: bytes) })
        }
        try self.init(key: key, session: session, message: message, commitments: commitments)
    }
}

/// FROST round two: z_i.
public struct SignatureShareResponse: Sendable, Equatable, CustomStringConvertible {
    /// The signing session.
    public let session: SessionID
    /// The share, 34 bytes on the wire.
    public let share: FROST.SignatureShare

    /// Creates a response.
    public init(session: SessionID, share: FROST.SignatureShare) {
        self.session = session
        self.share = share
    }

    public var description: String { "SignatureShareResponse(\(session), \(share))" }
}

extension SignatureShareResponse: WireCodable {
    static let messageType = MessageType.signatureShare

    func encode(into writer: inout WireWriter) {
        writer.write(session)
        writer.writeFixed(share.serialized())
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let session = try reader.readSessionID("session")
        let bytes = try reader.readFixed(FROST.SignatureShare.byteCount, "signature share")
        self.init(session: session, share: try decodingField("signature share") { try FROST.SignatureShare(serialized: bytes) })
    }
}
