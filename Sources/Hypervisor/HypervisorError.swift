/// A refusal or failure of the `Hypervisor` module itself (libvirt's own failures are
/// `LibvirtError`). Equality is on the code, so tests and callers match on what went wrong.
public struct HypervisorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// A stable short name, e.g. `"invalidSpec"`.
        public let rawValue: String

        /// A code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A `CustodianDomainSpec` or `CustodianIdentity` breaks a rule (reason names it).
        public static let invalidSpec = Code(rawValue: "invalidSpec")
        /// Another `LibvirtEventLoop` already runs in this process.
        public static let eventLoopAlreadyRunning = Code(rawValue: "eventLoopAlreadyRunning")
        /// XML from libvirt could not be parsed or lacks a required part.
        public static let malformedXML = Code(rawValue: "malformedXML")
        /// A domain's keyshard metadata is missing or not understood.
        public static let malformedMetadata = Code(rawValue: "malformedMetadata")
        /// The live domain offers no agent endpoint (no vsock CID, no agent channel).
        public static let noAgentEndpoint = Code(rawValue: "noAgentEndpoint")
        /// The live domain differs from its spec (device audit); the domain was destroyed.
        public static let deviceAuditRefused = Code(rawValue: "deviceAuditRefused")
        /// Placement cannot keep fewer than t custodians of a ring on every host.
        public static let placementImpossible = Code(rawValue: "placementImpossible")
        /// A refused domain could not be destroyed: it may still be running (the reason says why it
        /// was refused and why destroying it failed).
        public static let destroyFailed = Code(rawValue: "destroyFailed")

        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What exactly, in words a person can act on.
    public let reason: String

    /// An error with its code and reason.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: HypervisorError, rhs: HypervisorError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "HypervisorError.\(code): \(reason)" }
}
