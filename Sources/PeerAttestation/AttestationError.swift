/// An operational failure: input that cannot be read at all (as opposed to evidence that is
/// readable but refused, which is a ``Verdict``).
public struct AttestationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, machine-readable name.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The evidence file is not valid keyshard-evidence/v1 JSON.
        public static let evidenceUnreadable = Code("evidence-unreadable")
        /// The policy file is not a valid attestation policy.
        public static let policyInvalid = Code("policy-invalid")
        /// Evidence that a tool needed to be good (for example to learn a policy from) was refused.
        public static let evidenceRefused = Code("evidence-refused")
        /// A nonce or other argument is malformed.
        public static let invalidArgument = Code("invalid-argument")

        public var description: String { name }
    }

    /// What went wrong, machine-readable.
    public let code: Code
    /// What went wrong, for a person.
    public let reason: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: the machine-readable kind.
    ///   - reason: a sentence for people.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: AttestationError, rhs: AttestationError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "\(code): \(reason)" }
}
