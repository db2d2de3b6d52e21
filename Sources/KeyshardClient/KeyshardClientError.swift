/// A failure to talk to keyshardd at all, as opposed to a refusal by it (which is a
/// `KeyshardError` with the daemon's code and sentence).
public struct KeyshardClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Hashable, Sendable {
        /// The socket does not exist, refuses connections, or is not ours to open.
        case unreachable
        /// The daemon did not answer in time.
        case timeout
        /// The answer was not keyshardd's API (a different server, a truncated body).
        case protocolViolation = "protocol-violation"
    }

    /// What went wrong.
    public let code: Code
    /// A sentence naming the socket and the cause.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
