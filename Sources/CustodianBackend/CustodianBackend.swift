import AgentProtocol
import Attestation
import Coordinator
import Foundation

/// Where custodians run: starts them with the coordinator's pins, finds the ones still running
/// after a daemon restart, destroys them, and reports when one stops on its own.
///
/// A backend never sees a share and speaks no more of the agent's protocol than "do you serve
/// yet?": it hands the engine a ``CustodianRecord`` whose ``CustodianRecord/transport`` the
/// engine connects to, attests and opens a session on. Two implementations: `ProcessBackend` (agent + swtpm child processes,
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

    /// Where to start custodians for some slots of a ring: slot → ``CustodianRecord/host``.
    /// A backend with several hosts keeps fewer than the ring's threshold of the custodians that
    /// will share an epoch (the request's companions and the new ones) on any one machine; a
    /// backend with one host answers with an empty map (its one host).
    /// - Throws: ``BackendError/Code/placementImpossible`` when the hosts that answer cannot take
    ///   the custodians within that rule.
    func place(_ request: PlacementRequest) async throws(BackendError) -> [UInt16: String]

    /// Checks an attested custodian against what only the backend knows (for libvirt: that the EK
    /// it attested with is one swtpm_setup made for its domain's vTPM). The default accepts.
    /// - Throws: ``BackendError/Code/launchFailed`` with the reason to refuse it.
    func checkAdmission(_ record: CustodianRecord, attested: AttestedCustodian) async throws(BackendError)

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

/// What the engine asks ``CustodianBackend/place(_:)``.
public struct PlacementRequest: Sendable, Hashable {
    /// The ring.
    public let ring: String
    /// Its threshold t: no machine may hold t of the custodians that share an epoch.
    public let threshold: Int
    /// The slots to place.
    public let slots: [UInt16]
    /// The custodians that will share the new custodians' epoch (a repair's survivors); empty
    /// when the whole ring is new (creation, rotation).
    public let companions: [CustodianRecord]

    /// Creates a request.
    public init(ring: String, threshold: Int, slots: [UInt16], companions: [CustodianRecord]) {
        self.ring = ring
        self.threshold = threshold
        self.slots = slots
        self.companions = companions
    }
}

extension CustodianBackend {
    /// One host: nothing to choose.
    public func place(_ request: PlacementRequest) async throws(BackendError) -> [UInt16: String] { [:] }

    /// Nothing more to check.
    public func checkAdmission(_ record: CustodianRecord, attested: AttestedCustodian) async throws(BackendError) {}
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
    /// The host ``CustodianBackend/place(_:)`` chose; nil lets the backend pick.
    public let host: String?

    /// Creates a request.
    public init(ring: String, slot: UInt16, generation: UInt64, pins: CustodianPins, host: String? = nil) {
        self.ring = ring
        self.slot = slot
        self.generation = generation
        self.pins = pins
        self.host = host
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
        /// The hosts cannot take the custodians without one machine holding a threshold of a ring.
        case placementImpossible = "placement-impossible"
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
