/// What went wrong, in an error frame. Codes below 0x0100 are protocol failures the
/// framing layer sends itself; codes from 0x0100 are the agent's refusals. Unknown codes
/// from a newer peer are kept as they are.
public struct AgentErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The code on the wire.
    public let rawValue: UInt16

    /// Wraps a code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The frame could not be parsed (bad magic, version or header); the connection closes.
    public static let malformedFrame = AgentErrorCode(rawValue: 0x0001)
    /// The frame exceeded the maximum size; the connection closes.
    public static let frameTooLarge = AgentErrorCode(rawValue: 0x0002)
    /// The message type is unknown.
    public static let unknownMessageType = AgentErrorCode(rawValue: 0x0003)
    /// The payload did not decode.
    public static let malformedMessage = AgentErrorCode(rawValue: 0x0004)
    /// A response type was sent as a request.
    public static let unexpectedMessage = AgentErrorCode(rawValue: 0x0005)

    /// The agent's evidence was not accepted or credential activation has not succeeded.
    public static let notAttested = AgentErrorCode(rawValue: 0x0100)
    /// The request is refused in the agent's current state (second transport key, wrong order).
    public static let refused = AgentErrorCode(rawValue: 0x0101)
    /// A share, sub-share or commitment failed verification.
    public static let invalidShare = AgentErrorCode(rawValue: 0x0102)
    /// The agent holds no share of that key version.
    public static let unknownKey = AgentErrorCode(rawValue: 0x0103)
    /// The TPM failed.
    public static let tpmFailure = AgentErrorCode(rawValue: 0x0104)
    /// The request needs an authenticated session (see ``Session``) and came without one.
    public static let noSession = AgentErrorCode(rawValue: 0x0105)
    /// A session opening or a sealed request failed authentication, or its counter did not
    /// move forward (a replayed or reordered request).
    public static let badSession = AgentErrorCode(rawValue: 0x0106)
    /// A recipient named in the request failed this custodian's own check (its attestation, the
    /// pinned EK roots, the pinned threshold or commitment), so nothing was sealed to it.
    public static let recipientRefused = AgentErrorCode(rawValue: 0x0107)
    /// Anything else; details are in the agent's own log only.
    public static let internalError = AgentErrorCode(rawValue: 0x01FF)

    public var description: String {
        switch self {
        case .malformedFrame: "malformed-frame"
        case .frameTooLarge: "frame-too-large"
        case .unknownMessageType: "unknown-message-type"
        case .malformedMessage: "malformed-message"
        case .unexpectedMessage: "unexpected-message"
        case .notAttested: "not-attested"
        case .refused: "refused"
        case .invalidShare: "invalid-share"
        case .unknownKey: "unknown-key"
        case .tpmFailure: "tpm-failure"
        case .noSession: "no-session"
        case .badSession: "bad-session"
        case .recipientRefused: "recipient-refused"
        case .internalError: "internal-error"
        default: "code-0x\(String(rawValue, radix: 16))"
        }
    }
}

/// An error frame's body: a code and a sentence for a person. Never carries secrets.
public struct ErrorMessage: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public let code: AgentErrorCode
    /// A sentence a person can act on, at most 1024 UTF-8 bytes (longer text is cut).
    public let text: String

    /// Creates an error body; text beyond 1024 UTF-8 bytes is cut at a character boundary.
    public init(code: AgentErrorCode, text: String) {
        self.code = code
        var length = 0
        var end = text.startIndex
        for index in text.indices {
            length += text[index].utf8.count
            guard length <= WireLimits.maximumTextLength else { break }
            end = text.index(after: index)
        }
        self.text = String(text[..<end])
    }

    public var description: String { "\(code): \(text)" }
}

extension ErrorMessage: WireCodable {
    static let messageType = MessageType.error

    func encode(into writer: inout WireWriter) {
        writer.write(code.rawValue)
        writer.writeText(text)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let code = AgentErrorCode(rawValue: try reader.readUInt16("error code"))
        self.init(code: code, text: try reader.readText("error text"))
    }
}

/// Zeroise every share and power off.
public struct DestroyRequest: Sendable, Hashable, CustomStringConvertible {
    /// Why, for the agent's console log (at most 1024 bytes).
    public let reason: String

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for a reason over 1024 UTF-8 bytes.
    public init(reason: String) throws(AgentProtocolError) {
        guard reason.utf8.count <= WireLimits.maximumTextLength else {
            throw AgentProtocolError.malformed("a destroy reason is at most \(WireLimits.maximumTextLength) bytes")
        }
        self.reason = reason
    }

    public var description: String { "DestroyRequest(\(reason))" }
}

extension DestroyRequest: WireCodable {
    static let messageType = MessageType.destroy
    func encode(into writer: inout WireWriter) { writer.writeText(reason) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { try self.init(reason: try reader.readText("destroy reason")) }
}

/// Every share is zeroised; the agent powers off after sending this.
public struct Destroyed: Sendable, Hashable, CustomStringConvertible {
    /// How many key-version shares were wiped.
    public let zeroisedShares: UInt32

    /// Creates a response.
    public init(zeroisedShares: UInt32) { self.zeroisedShares = zeroisedShares }

    public var description: String { "Destroyed(\(zeroisedShares) shares zeroised)" }
}

extension Destroyed: WireCodable {
    static let messageType = MessageType.destroyed
    func encode(into writer: inout WireWriter) { writer.write(zeroisedShares) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { self.init(zeroisedShares: try reader.readUInt32("share count")) }
}

/// Zeroise the shares of the named key versions and keep the rest: the coordinator sends it
/// after an epoch change committed (the previous epoch's shares are worthless and must go) and
/// when a key version is trimmed or a key deleted. Forgetting a share the agent does not hold is
/// not an error, so a retry after a lost answer is harmless.
public struct ForgetSharesRequest: Sendable, Hashable, CustomStringConvertible {
    /// The most key versions one request names.
    public static let maximumKeys = 4096
    /// The key versions whose shares go.
    public let keys: [KeyReference]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for no key or more than ``maximumKeys``.
    public init(keys: [KeyReference]) throws(AgentProtocolError) {
        guard !keys.isEmpty, keys.count <= Self.maximumKeys else {
            throw AgentProtocolError.malformed("a forget request names 1…\(Self.maximumKeys) key versions, got \(keys.count)")
        }
        self.keys = keys
    }

    public var description: String { "ForgetSharesRequest(\(keys.count) key versions)" }
}

extension ForgetSharesRequest: WireCodable {
    static let messageType = MessageType.forgetShares
    func encode(into writer: inout WireWriter) throws {
        try writer.writeCount(keys.count)
        for key in keys { writer.write(key) }
    }
    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let count = try reader.readCount("forgotten keys", minimumElementSize: 1 + 4)
        var keys: [KeyReference] = []
        keys.reserveCapacity(count)
        for _ in 0..<count { keys.append(try reader.readKeyReference("forgotten key")) }
        try self.init(keys: keys)
    }
}

/// The named shares are zeroised.
public struct SharesForgotten: Sendable, Hashable, CustomStringConvertible {
    /// How many of the named key versions were held and are now wiped.
    public let zeroisedShares: UInt32

    /// Creates a response.
    public init(zeroisedShares: UInt32) { self.zeroisedShares = zeroisedShares }

    public var description: String { "SharesForgotten(\(zeroisedShares) shares zeroised)" }
}

extension SharesForgotten: WireCodable {
    static let messageType = MessageType.sharesForgotten
    func encode(into writer: inout WireWriter) { writer.write(zeroisedShares) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { self.init(zeroisedShares: try reader.readUInt32("share count")) }
}
