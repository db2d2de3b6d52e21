/// A failure of the agent protocol: framing, message decoding, transport set-up, or a
/// refusal reported by the peer. The reason names what was wrong and never holds payload
/// bytes, so it is safe to log.
public struct AgentProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure, stable across releases; equality of errors is equality of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A short kebab-case name.
        public let name: String

        init(_ name: String) { self.name = name }

        /// The frame's magic bytes are not keyshard's: the peer speaks another protocol.
        public static let badMagic = Code("bad-magic")
        /// The frame's version is not one this build speaks.
        public static let unsupportedVersion = Code("unsupported-version")
        /// The frame header is malformed (reserved bits set).
        public static let malformedFrame = Code("malformed-frame")
        /// The frame announces more bytes than the configured maximum.
        public static let frameTooLarge = Code("frame-too-large")
        /// The stream ended inside a frame.
        public static let truncatedFrame = Code("truncated-frame")
        /// The frame's message type is not known.
        public static let unknownMessageType = Code("unknown-message-type")
        /// The message payload does not decode: wrong length, bad count, trailing bytes, bad value.
        public static let malformedMessage = Code("malformed-message")
        /// A message of the wrong direction or in the wrong place (a response sent as a request).
        public static let unexpectedMessage = Code("unexpected-message")
        /// The peer answered a request with an error frame; see ``AgentProtocolError/remote``.
        public static let remoteError = Code("remote-error")
        /// The connection closed, or was closed, before the response arrived.
        public static let connectionClosed = Code("connection-closed")
        /// The task waiting for the response was cancelled; the connection stays usable.
        public static let cancelled = Code("cancelled")
        /// A transport specification string does not parse.
        public static let invalidTransportSpecification = Code("invalid-transport-specification")
        /// The transport cannot be used in this role or on this machine.
        public static let transportUnavailable = Code("transport-unavailable")

        /// A session could not be opened or a sealed answer did not authenticate.
        public static let sessionFailed = Code("session-failed")

        public var description: String { name }
    }

    /// What kind of failure.
    public let code: Code
    /// A sentence a person can act on; never contains secret or payload bytes.
    public let reason: String
    /// The error frame the peer sent, for ``Code/remoteError``.
    public let remote: ErrorMessage?

    /// Creates an error.
    /// - Parameters:
    ///   - code: what kind of failure.
    ///   - reason: a sentence a person can act on, without secret values.
    ///   - remote: the peer's error frame, when the peer reported the failure.
    public init(_ code: Code, _ reason: String, remote: ErrorMessage? = nil) {
        self.code = code
        self.reason = reason
        self.remote = remote
    }

    public static func == (lhs: AgentProtocolError, rhs: AgentProtocolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "\(code): \(reason)" }

    static func malformed(_ reason: String) -> AgentProtocolError { AgentProtocolError(.malformedMessage, reason) }
}
