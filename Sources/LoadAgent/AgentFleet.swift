import AgentProtocol
import CustodianAgent
import Foundation
import Logging
import Synchronization
import TPM2

/// Many custodians in one process, each a real ``CustodianAgent/Custodian`` on a ``SimulatedTPM``
/// behind its own Unix socket, for benchmarks that need more custodians than a machine can run
/// agents and swtpms for. Every custodian speaks the whole agent protocol (attestation, credential
/// activation, sessions, DKG, heartbeats with possession proofs); only its TPM is software.
public actor AgentFleet {
    private let directory: String
    private let authority: SoftwareEndorsementCA
    private let logger: Logger
    private var running: [String: Task<Void, Never>] = [:]

    /// A fleet whose sockets live in `directory` (which must exist, private to the caller).
    /// - Parameters:
    ///   - directory: where the sockets go.
    ///   - authority: the CA that certifies the custodians' EKs.
    ///   - logger: the custodians' log (warnings only are useful at a thousand custodians).
    public init(directory: String, authority: SoftwareEndorsementCA, logger: Logger) {
        self.directory = directory
        self.authority = authority
        self.logger = logger
    }

    /// The number of custodians serving.
    public var count: Int { running.count }

    /// Starts a custodian with `pins` on `directory/ID.sock` and returns the socket path once it listens.
    /// - Throws: when the id is taken or not a plain name, or the custodian or its socket cannot start.
    public func launch(id: String, pins: AgentPins) async throws -> String {
        guard running[id] == nil, !id.isEmpty, !id.contains("/"), !id.hasPrefix(".") else {
            throw FleetError("custodian id \(id) is taken or not a plain name")
        }
        let path = directory + "/" + id + ".sock"
        let custodian = try Custodian(
            tpm: try SimulatedTPM(authority: authority), selection: TPMPCRSelection(bank: .sha256, indexes: [0, 4, 9]),
            eventLogPath: directory + "/no-event-log", logger: logger, endorsementKey: .eccP256, pins: pins,
            onDestroy: { [weak self] in Task { await self?.destroy(id: id) } })
        let ready = ReadySignal()
        let logger = logger
        running[id] = Task {
            do {
                try await UnixSocketTransport(path: path).serve(
                    options: AgentConnectionOptions(logger: logger), handler: custodian, onReady: { ready.signal(nil) })
                ready.signal(FleetError("\(id)'s listener closed"))
            } catch {
                ready.signal(error)
            }
            await custodian.zeroise()
        }
        try await ready.wait()
        return path
    }

    /// Stops a custodian (its shares are zeroised) and removes its socket; an unknown id is a no-op.
    public func destroy(id: String) {
        guard let task = running.removeValue(forKey: id) else { return }
        task.cancel()
        unlink(directory + "/" + id + ".sock")
    }

    /// Stops every custodian.
    public func destroyAll() {
        for id in Array(running.keys) { destroy(id: id) }
    }
}

/// A fleet request that cannot be carried out.
public struct FleetError: Error, CustomStringConvertible {
    /// Why.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// Resumes one waiter with the first outcome signalled; later signals are ignored.
private final class ReadySignal: Sendable {
    private let state = Mutex<(done: Bool, outcome: (any Error)??, waiter: CheckedContinuation<Void, any Error>?)>(
        (false, nil, nil))

    func signal(_ error: (any Error)?) {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
            guard !state.done else { return nil }
            state.done = true
            state.outcome = .some(error)
            defer { state.waiter = nil }
            return state.waiter
        }
        guard let waiter else { return }
        if let error { waiter.resume(throwing: error) } else { waiter.resume() }
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: (any Error)?? = state.withLock { state in
                if state.done { return state.outcome }
                state.waiter = continuation
                return nil
            }
            guard let outcome else { return }
            if let error = outcome { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }
}
