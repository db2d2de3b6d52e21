import AgentProtocol
import Attestation
import Coordinator
import Foundation

/// Where custodians run: starts them with the coordinator's pins, finds the ones still running
/// after a daemon restart, destroys them, and reports when one stops on its own.
///
/// A backend never talks to an agent's protocol and never sees a share: it hands the engine a
/// ``CustodianRecord`` whose ``CustodianRecord/transport`` the engine connects to, attests and
/// opens a session on. Two implementations: `ProcessBackend` (agent + swtpm child processes,
/// isolating nothing, for development and tests) and `LibvirtBackend` (transient microVMs).
public protocol CustodianBackend: Sendable {
    /// `process` or `libvirt`, as the configuration names it.
    var kind: String { get }

    /// The EK root certificates (PEM, self-signed root first) that the TPMs of this backend's
    /// custodians chain to: the engine's attestor checks EK certificates against them and
    /// custodians pin their SHA-256 (``LaunchRequest/pins``).
    func endorsementRootsPEM() throws(BackendError) -> [String]

    /// The measured-boot policy a custodian this backend launched with `pins` must satisfy.
    func attestationPolicy(for pins: CustodianPins) throws(BackendError) -> AttestationPolicy

    /// Starts one custodian and returns once its agent accepts connections (not yet attested).
    /// - Throws: ``BackendError``; nothing of the attempt is left running or on disk.
    func launch(_ request: LaunchRequest) async throws(BackendError) -> CustodianRecord

    /// Every custodian of this backend that is still running (after a daemon restart, the ones a
    /// previous daemon started). Records of custodians that died are cleaned up, not returned.
    func discover() async throws(BackendError) -> [CustodianRecord]

    /// Stops the custodian (SIGKILL / `virDomainDestroy`) and removes everything of it on disk.
    /// Destroying one that is already gone succeeds.
    func destroy(_ record: CustodianRecord) async throws(BackendError)

    /// Custodians that stopped without ``destroy(_:)`` (killed, crashed, shut down), as soon as the
    /// backend notices: the engine quarantines them without waiting for a missed heartbeat. One
    /// stream per backend, consumed by one task.
    var events: AsyncStream<BackendEvent> { get }

    /// Watches the custodians (process exits, libvirt lifecycle events) and yields ``events``
    /// until the calling task is cancelled. The engine runs it inside its service, so no
    /// unstructured task exists; returns promptly on cancellation.
    func monitor() async
}

/// What the engine asks a backend to start.
public struct LaunchRequest: Sendable, Hashable {
    /// The ring the custodian will serve.
    public let ring: String
    /// Its share index (Shamir x-coordinate) in the ring, ≥ 1.
    public let slot: UInt16
    /// A number no earlier launch of this daemon's state used: backend ids are derived from it, so
    /// an attempt never reuses or deletes another attempt's files or domain.
    public let generation: UInt64
    /// The coordinator key, EK roots and minimum threshold the custodian boots with.
    public let pins: CustodianPins

    /// Creates a request.
    public init(ring: String, slot: UInt16, generation: UInt64, pins: CustodianPins) {
        self.ring = ring
        self.slot = slot
        self.generation = generation
        self.pins = pins
    }
}

/// A running custodian as its backend knows it; persisted by the backend (libvirt metadata, the
/// process backend's record files) so a new daemon can rediscover it.
public struct CustodianRecord: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The backend's name for it: a libvirt domain name, or the process backend's directory name.
    public let backendID: String
    /// The host it runs on (a libvirt URI, or `localhost`).
    public let host: String
    /// The ring it was launched for.
    public let ring: String
    /// Its share index in the ring.
    public let slot: UInt16
    /// The launch's ``LaunchRequest/generation``.
    public let generation: UInt64
    /// Where its agent listens (``AgentProtocol/TransportSpecification`` text, e.g. `unix:/path`).
    public let transport: String
    /// When it was launched.
    public let launchedAt: Date

    /// Creates a record.
    public init(
        backendID: String, host: String, ring: String, slot: UInt16, generation: UInt64, transport: String,
        launchedAt: Date
    ) {
        self.backendID = backendID
        self.host = host
        self.ring = ring
        self.slot = slot
        self.generation = generation
        self.transport = transport
        self.launchedAt = launchedAt
    }

    public var description: String { "\(backendID) (ring \(ring), slot \(slot), \(host))" }
}

/// Something a backend noticed about a custodian without being asked.
public enum BackendEvent: Sendable, Hashable {
    /// The custodian stopped (its process exited, its domain stopped or crashed); `reason` says how.
    case stopped(backendID: String, reason: String)
}

/// Why a backend could not do what was asked. The reason is a sentence an operator can act on.
public struct BackendError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching.
    public enum Code: String, Hashable, Sendable {
        /// A program, file or directory the backend needs is missing or unusable.
        case unavailable
        /// The configuration cannot work (bad paths, modes, unreadable image).
        case invalidConfiguration = "invalid-configuration"
        /// Starting the custodian failed; nothing of it is left.
        case launchFailed = "launch-failed"
        /// Stopping or cleaning up failed; the custodian may still run.
        case destroyFailed = "destroy-failed"
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
