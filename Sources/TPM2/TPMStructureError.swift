/// A TPM structure could not be parsed or encoded.
///
/// Carries a machine-readable ``Code`` and a sentence for people; equality is on the code,
/// so callers and tests match on it.
public struct TPMStructureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, machine-readable name such as `truncated`.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The input ended before the structure did.
        public static let truncated = Code("truncated")
        /// The structure parsed, but bytes followed it.
        public static let trailingBytes = Code("trailing-bytes")
        /// The input is larger than any valid encoding of the structure.
        public static let tooLarge = Code("too-large")
        /// A field held a value the structure does not allow.
        public static let malformed = Code("malformed")
        /// The structure is valid but uses an algorithm this code does not support.
        public static let unsupportedAlgorithm = Code("unsupported-algorithm")

        public var description: String { name }
    }

    /// What went wrong, machine-readable.
    public let code: Code
    /// What went wrong, for a person.
    public let reason: String
    /// tpm2-tss's response code when the marshalling library reported the failure.
    public let responseCode: TPMResponseCode?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the machine-readable kind.
    ///   - reason: a sentence for people.
    ///   - responseCode: the tpm2-tss code behind it, if any.
    public init(_ code: Code, _ reason: String, responseCode: TPMResponseCode? = nil) {
        self.code = code
        self.reason = reason
        self.responseCode = responseCode
    }

    public static func == (lhs: TPMStructureError, rhs: TPMStructureError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "\(code): \(reason)" }
}
