/// Why the coordinator refused or could not complete a step with a custodian. The reason is a
/// sentence an operator can act on; it never carries key material.
public struct CoordinatorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public enum Code: String, Hashable, Sendable {
        /// The agent answered with the wrong message, an error frame, or not at all.
        case agentFailed = "agent-failed"
        /// The evidence does not satisfy the attestation policy (quote, PCRs, event log).
        case evidenceRefused = "evidence-refused"
        /// The EK certificate is missing, unreadable, or does not chain to the policy's roots.
        case endorsementRefused = "endorsement-refused"
        /// ActivateCredential did not return the credential: the AK is not in the EK's TPM.
        case activationFailed = "activation-failed"
        /// The live domain has devices that were not requested.
        case deviceAuditRefused = "device-audit-refused"
        /// The agent did not become reachable in time.
        case agentUnreachable = "agent-unreachable"
        /// An image directory or its `measurements.json` is unusable.
        case invalidImage = "invalid-image"
        /// A launch cannot be configured: the image policy is not the image's, a pin is missing or
        /// bad (no self-signed EK root), or the custodian's kernel command line is unusable.
        case invalidConfiguration = "invalid-configuration"
        /// libvirt refused an operation.
        case hypervisorFailed = "hypervisor-failed"
        /// The agent refused the coordinator's session (another pinned coordinator key) or its
        /// key confirmation was wrong.
        case sessionRefused = "session-refused"
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for people.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}
