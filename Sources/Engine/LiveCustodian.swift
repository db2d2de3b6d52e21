import AgentProtocol
import Coordinator
import CustodianBackend
import Foundation
import KeyshardAPI
import NIOCore
import Synchronization

/// One admitted custodian as the engine holds it: its backend record, open session, what its
/// admission established, which shares it was given, and when it last attested.
///
/// The share ledger (``held``) changes only under ``gate``, and heartbeats take the gate too, so
/// a heartbeat's proofs are always checked against exactly what the custodian was given.
final class LiveCustodian: Sendable, CustomStringConvertible {
    /// What the engine thinks of it.
    enum Status: String, Sendable {
        /// Attested within the freshness window and answering.
        case healthy
        /// Missed heartbeats, but kept because destroying it would leave its ring below threshold;
        /// takes part in nothing until a heartbeat is accepted again.
        case stale
        /// Refused or gone; destroyed or being destroyed.
        case quarantined
    }

    private struct Mutable {
        var held: [KeyReference: ExpectedShare] = [:]
        var lastAttested: ContinuousClock.Instant
        var lastAttestedDate: Date
        var status: Status = .healthy
        var state: CustodianState
        var misses = 0
    }

    /// Test seam: rewrites answers as a compromised custodian would send them (tests play a
    /// custodian returning a wrong partial or signature share). Task-local, so only the test's
    /// own operation sees it; nil in production.
    @TaskLocal static var tamperedAnswers: (@Sendable (CustodianRecord, AgentMessage) async throws -> AgentMessage)?

    let record: CustodianRecord
    let client: AgentClient
    let attested: AttestedCustodian
    /// Serializes share changes and heartbeats.
    let gate = AsyncLock()
    private let mutable: Mutex<Mutable>

    init(record: CustodianRecord, client: AgentClient, attested: AttestedCustodian) {
        self.record = record
        self.client = client
        self.attested = attested
        mutable = Mutex(
            Mutable(lastAttested: .now, lastAttestedDate: Date(), state: CustodianState(attested)))
    }

    var id: String { record.backendID }
    var slot: UInt16 { record.slot }
    var description: String { record.backendID }

    var held: [KeyReference: ExpectedShare] { mutable.withLock { $0.held } }
    var status: Status { mutable.withLock { $0.status } }
    var lastAttestedDate: Date { mutable.withLock { $0.lastAttestedDate } }
    /// The Coordinator module's clock state for heartbeats.
    var heartbeatState: CustodianState { mutable.withLock { $0.state } }

    /// Whether it may take part in an operation now.
    func isFresh(within window: Duration) -> Bool {
        mutable.withLock { $0.status == .healthy && ContinuousClock.now - $0.lastAttested <= window }
    }

    /// Records a share the custodian accepted (call under ``gate``).
    func didReceive(_ key: KeyReference, _ share: ExpectedShare) { mutable.withLock { $0.held[key] = share } }

    /// Records shares the custodian forgot (call under ``gate``).
    func didForget(_ keys: some Sequence<KeyReference>) {
        mutable.withLock { state in for key in keys { state.held.removeValue(forKey: key) } }
    }

    /// An accepted heartbeat or admission.
    func attestedNow() {
        mutable.withLock {
            $0.lastAttested = .now
            $0.lastAttestedDate = Date()
            $0.status = .healthy
            $0.misses = 0
        }
    }

    /// A missed heartbeat kept as stale: a new clock state (the refused one stays refused) whose
    /// baseline is the admission's, so the TPM clock must still only move forward from there.
    /// - Returns: the number of consecutive misses.
    @discardableResult
    func markStale() -> Int {
        mutable.withLock {
            $0.status = .stale
            $0.state = CustodianState(attested)
            $0.misses += 1
            return $0.misses
        }
    }

    /// Whether this call moved it to quarantined (false when it already was).
    func quarantine() -> Bool {
        mutable.withLock {
            guard $0.status != .quarantined else { return false }
            $0.status = .quarantined
            return true
        }
    }

    /// Sends one request (the connection's request timeout bounds the wait), mapping every
    /// failure to an ``AgentFailure``.
    func request(_ message: AgentMessage, timeout: Duration? = nil) async throws(AgentFailure) -> AgentMessage {
        do {
            let answer = try await client.request(message, timeout: timeout)
            if let tamper = Self.tamperedAnswers { return try await tamper(record, answer) }
            return answer
        } catch let error as AgentProtocolError {
            throw AgentFailure(
                custodian: id, code: error.remote?.code, message: error.remote.map { "\($0.code): \($0.text)" } ?? "\(error)")
        } catch {
            throw AgentFailure(custodian: id, code: nil, message: "\(error)")
        }
    }
}

/// A custodian failed a request: unreachable (`code` nil), or it refused with `code`.
struct AgentFailure: Error, CustomStringConvertible {
    let custodian: String
    let code: AgentErrorCode?
    let message: String

    var description: String { "custodian \(custodian): \(message)" }
    var asKeyshardError: KeyshardError { KeyshardError(.custodianFailure, description) }
}
