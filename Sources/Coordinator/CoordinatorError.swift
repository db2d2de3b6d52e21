import Attestation
import AgentProtocol

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
        /// A heartbeat failed re-attestation (its quote, its clock, its timing or a proof of
        /// possession): the custodian is retired. ``CoordinatorError/refusals`` lists each refusal.
        case heartbeatRefused = "heartbeat-refused"
        /// The custodian's EK, AK or transport key is another ring member's, a retired custodian's, or
        /// not the EK this custodian was first admitted with.
        case identityRefused = "identity-refused"
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for people.
    public let reason: String
    /// The individual refusals behind a `.heartbeatRefused` (empty for other errors), for matching.
    public let refusals: [Refusal]

    /// The agent channel's own error code when the exchange with the agent failed (a dropped
    /// connection, a timeout, a bad frame), for callers that retry only transport failures.
    public let transportFailure: AgentProtocolError.Code?

    /// Creates an error.
    /// - Parameters:
    ///   - code: what went wrong.
    ///   - reason: a sentence for people.
    ///   - refusals: the refusals behind it, if any.
    ///   - transportFailure: the agent channel's error code, when that is the cause.
    public init(
        _ code: Code, _ reason: String, refusals: [Refusal] = [], transportFailure: AgentProtocolError.Code? = nil
    ) {
        self.code = code
        self.reason = reason
        self.refusals = refusals
        self.transportFailure = transportFailure
    }

    /// The codes of ``refusals``.
    public var refusalCodes: Set<Refusal.Code> { Set(refusals.map(\.code)) }

    public var description: String { "\(code.rawValue): \(reason)" }
}
