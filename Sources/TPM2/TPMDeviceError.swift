/// A TPM device operation failed: the TCTI could not be loaded, a command was refused,
/// or an argument cannot be expressed to the TPM.
///
/// Equality is on the code; ``responseCode`` carries tpm2-tss's code when the TPM or
/// the stack reported the failure.
public struct TPMDeviceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, machine-readable name such as `command-failed`.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The TCTI string named no loadable transport, or the TPM did not answer.
        public static let tctiUnavailable = Code("tcti-unavailable")
        /// A TPM command returned an error (see ``TPMDeviceError/responseCode``).
        public static let commandFailed = Code("command-failed")
        /// An argument cannot be sent to the TPM (too long, bad PCR index, malformed blob).
        public static let invalidArgument = Code("invalid-argument")
        /// The operation needs an attestation key, and none was created.
        public static let noAttestationKey = Code("no-attestation-key")

        public var description: String { name }
    }

    /// What went wrong, machine-readable.
    public let code: Code
    /// What went wrong, for a person.
    public let reason: String
    /// tpm2-tss's response code, when it reported the failure.
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

    public static func == (lhs: TPMDeviceError, rhs: TPMDeviceError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        "\(code): \(reason)" + (responseCode.map { " (\($0))" } ?? "")
    }
}
