import AgentProtocol
import Coordinator
import CustodianBackend
import Foundation
import KeyStore
import KeyshardAPI
import Logging
import Synchronization

/// Launching, admitting, quarantining and destroying custodians.
extension Engine {
    /// Launches a custodian for `slot` of `ring`, attests it and opens its session. It is not yet a
    /// member of any epoch: the caller seats it or hands it shares.
    /// - Throws: the backend's or the attestation's refusal; nothing of the attempt is left.
    func launchCustodian(ring: String, slot: UInt16, host: String?) async throws -> LiveCustodian {
        var attempt = 1
        while true {
            let loss = AgentLoss()
            do {
                return try await launchCustodianOnce(ring: ring, slot: slot, host: host, loss: loss)
            } catch where loss.lost && attempt < Self.launchAttempts {
                // The custodian's agent went away before the ceremony could finish (its VM stopped,
                // its channel refused every reconnection): nothing was judged, so a fresh custodian
                // gets the slot. A refusal by the policy or the identity checks is never retried.
                attempt += 1
                logger.warning(
                    "custodian lost during admission; launching another for the slot",
                    metadata: ["ring": "\(ring)", "slot": "\(slot)", "attempt": "\(attempt)", "error": "\(error)"])
            }
        }
    }

    /// Launches for one slot: one lost custodian is replaced once, a refused one never.
    static let launchAttempts = 2

    /// Set by ``admit(_:loss:)`` when the agent was lost rather than refused.
    final class AgentLoss: Sendable {
        private let flag = Mutex(false)
        var lost: Bool { flag.withLock { $0 } }
        func set() { flag.withLock { $0 = true } }
    }

    private func launchCustodianOnce(ring: String, slot: UInt16, host: String?, loss: AgentLoss) async throws -> LiveCustodian {
        let generation = try await store.nextGeneration()
        let request = LaunchRequest(ring: ring, slot: slot, generation: UInt64(generation), pins: try pins(), host: host)
        let started = ContinuousClock.now
        let record = try await backend.launch(request)
        try await store.upsertCustodian(
            CustodianRow(
                id: record.backendID, ring: ring, slot: Int(slot), generation: generation, backend: backend.kind,
                host: record.host, transport: record.transport, fingerprint: nil, state: "attesting",
                launchedAt: record.launchedAt, lastAttested: nil))
        await note("custodian.launched", ["custodian": record.backendID, "ring": ring, "slot": "\(slot)", "host": record.host])
        do {
            let custodian = try await admit(record, loss: loss)
            EngineMetrics.launch("admitted")
            EngineMetrics.launchSeconds((ContinuousClock.now - started).seconds)
            logger.info(
                "custodian admitted",
                metadata: ["custodian": "\(record.backendID)", "ring": "\(ring)", "slot": "\(slot)",
                    "seconds": "\(ContinuousClock.now - started)"])
            return custodian
        } catch {
            EngineMetrics.launch("refused")
            logger.warning(
                "custodian refused at admission; destroying it",
                metadata: ["custodian": "\(record.backendID)", "ring": "\(ring)", "slot": "\(slot)", "error": "\(error)"])
            try? await backend.destroy(record)
            _ = try? await store.deleteCustodian(record.backendID)
            await note("custodian.destroyed", ["custodian": record.backendID, "reason": "admission failed"])
            throw error
        }
    }

    /// How many fresh connections admission tries after the agent's channel dropped the first.
    static let admissionTransportRetries = 4

    /// Connects to a running custodian, runs the attestation ceremony against the current policy and
    /// opens the session (after a daemon restart too: the agent accepts a new session from its
    /// pinned coordinator). Refusals are audited with their reasons.
    /// - Parameter loss: told when the agent was lost (unreachable, or its channel dropped every
    ///   connection) rather than refused by the attestation.
    func admit(_ record: CustodianRecord, loss: AgentLoss? = nil) async throws -> LiveCustodian {
        let attestor = try attestor
        let specification = try TransportSpecification(parsing: record.transport)
        let options = AgentConnectionOptions(
            requestTimeout: .nanoseconds(Int64(configuration.requestTimeout.components.seconds) * 1_000_000_000),
            logger: logger)
        var client: AgentClient
        do {
            client = try await AgentClient.connect(to: specification, options: options)
        } catch {
            loss?.set()
            throw error
        }
        var outcome: Result<AttestedCustodian, CoordinatorError>
        do { outcome = .success(try await attestor.attest(client)) } catch { outcome = .failure(error) }
        // A virtio-serial port the agent is just reopening (after an earlier client left) drops a
        // connection before any answer. A fresh challenge on a new connection is as good as the
        // first, so the transport gets a few more tries; a refusal by the attestation itself is
        // final at once. (Channels that then refused every new connection, seen in CI, were VMs
        // that had powered off: their agent gave up reopening its port and exited. The agent now
        // retries the reopen; see VirtioSerialTransport.openPort.)
        func droppedByTransport(_ outcome: Result<AttestedCustodian, CoordinatorError>) -> Bool {
            if case .failure(let error) = outcome { return error.transportFailure == .connectionClosed }
            return false
        }
        var transient = droppedByTransport(outcome)
        var retries = 0
        while transient, retries < Self.admissionTransportRetries {
            retries += 1
            try? await client.close()
            try await Task.sleep(for: .seconds(1))
            do {
                client = try await AgentClient.connect(to: specification, options: options)
            } catch {
                logger.info(
                    "custodian channel not accepting yet; retrying",
                    metadata: ["custodian": "\(record.backendID)", "attempt": "\(retries)", "error": "\(error)"])
                outcome = .failure(
                    CoordinatorError(.agentUnreachable, "the agent's channel refused \(retries) new connection(s): \(error)"))
                continue
            }
            do { outcome = .success(try await attestor.attest(client)) } catch { outcome = .failure(error) }
            transient = droppedByTransport(outcome)
        }
        let attested: AttestedCustodian
        switch outcome {
        case .success(let value):
            attested = value
        case .failure(let error):
            try? await client.close()
            // Lost, not judged: nothing reached it, or the channel closed (or the answer never
            // came). An agent that answered wrongly (a bad frame or session) is refused, not lost.
            if error.code == .agentUnreachable || error.transportFailure == .connectionClosed { loss?.set() }
            await note(
                "attestation.refused",
                ["custodian": record.backendID, "policy": attestor.policy.name, "reason": error.reason,
                    "code": error.code.rawValue, "refusals": error.refusals.map { "\($0.code)" }.joined(separator: ",")])
            throw KeyshardError(.custodianFailure, "custodian \(record.backendID) was refused: \(error.reason)")
        }
        // One TPM, one custodian: a second custodian presenting a live member's EK, AK or
        // transport key is a clone or a relay.
        do {
            try await backend.checkAdmission(record, attested: attested)
        } catch {
            try? await client.close()
            await note("attestation.refused", ["custodian": record.backendID, "policy": attestor.policy.name, "reason": error.reason])
            throw KeyshardError(.custodianFailure, "custodian \(record.backendID) was refused: \(error.reason)")
        }
        let fingerprint = attested.fingerprint
        let duplicate = custodiansBox.withLock { live in
            live.values.first { other in
                other.id != record.backendID && other.status != .quarantined
                    && (other.attested.fingerprint.endorsementKeyName == fingerprint.endorsementKeyName
                        || other.attested.fingerprint.attestationKeyName == fingerprint.attestationKeyName
                        || other.attested.fingerprint.transportKey == fingerprint.transportKey)
            }
        }
        if let duplicate {
            try? await client.close()
            await note("attestation.refused", ["custodian": record.backendID, "reason": "same TPM or transport key as \(duplicate.id)"])
            throw KeyshardError(.custodianFailure, "custodian \(record.backendID) presents the TPM of \(duplicate.id)")
        }
        let custodian = LiveCustodian(record: record, client: client, attested: attested)
        custodiansBox.withLock { $0[record.backendID] = custodian }
        let encoded = try? JSONEncoder().encode(fingerprint)
        try await store.upsertCustodian(
            CustodianRow(
                id: record.backendID, ring: record.ring, slot: Int(record.slot), generation: Int64(record.generation),
                backend: backend.kind, host: record.host, transport: record.transport,
                fingerprint: encoded.map { Array($0) }, state: "healthy", launchedAt: record.launchedAt,
                lastAttested: Date()))
        await note(
            "attestation.accepted",
            ["custodian": record.backendID, "policy": attestor.policy.name, "ring": record.ring, "slot": "\(record.slot)"])
        return custodian
    }

    /// Takes a custodian out of service at once: destroyed through the backend, removed from its
    /// ring's slot, audited, and its ring queued for repair.
    /// - Parameters:
    ///   - reason: why, for the audit log and the operator's log.
    ///   - misbehaved: a bad quote, proof or partial (may trigger a new key version), not a mere stop.
    func quarantine(_ custodian: LiveCustodian, reason: String, misbehaved: Bool) async {
        guard custodian.quarantine() else { return }
        EngineMetrics.quarantine(misbehaved: misbehaved)
        logger.warning("custodian quarantined", metadata: ["custodian": "\(custodian.id)", "reason": "\(reason)"])
        await note(
            "custodian.quarantined",
            ["custodian": custodian.id, "ring": custodian.record.ring, "slot": "\(custodian.slot)", "reason": reason,
                "misbehaved": "\(misbehaved)"])
        await destroy(custodian, reason: "quarantined: \(reason)")
        let ring = ringsBox.withLock { $0[custodian.record.ring] }
        ring?.unseat(custodian)
        if ring != nil {
            repairContinuation.yield(custodian.record.ring)
            if misbehaved, configuration.newKeyVersionOnQuarantine {
                repairContinuation.yield("rekey:" + custodian.record.ring)
            }
        }
    }

    /// How long the courtesy `destroy` request may take: the backend's destruction that follows is
    /// what removes the custodian, and one that stopped answering (frozen, or paused) must not hold
    /// up its replacement for a whole request timeout.
    static let courtesyTimeout: Duration = .seconds(2)

    /// Asks the agent to zeroise (a courtesy), then destroys it through the backend and forgets it.
    func destroy(_ custodian: LiveCustodian, reason: String) async {
        // From now on its exit is expected: the backend's "stopped" event must not read as a loss.
        _ = custodian.quarantine()
        if let request = try? DestroyRequest(reason: String(reason.prefix(1000))) {
            _ = try? await custodian.request(.destroy(request), timeout: Self.courtesyTimeout)
        }
        try? await custodian.client.close()
        do {
            try await backend.destroy(custodian.record)
            _ = try? await store.deleteCustodian(custodian.id)
            await note("custodian.destroyed", ["custodian": custodian.id, "reason": reason])
        } catch {
            logger.critical(
                "a custodian could not be destroyed; it may still run",
                metadata: ["custodian": "\(custodian.id)", "error": "\(error)"])
            await note("custodian.destroy-failed", ["custodian": custodian.id, "error": "\(error)"])
        }
        custodiansBox.withLock { _ = $0.removeValue(forKey: custodian.id) }
    }

    /// Forgets shares on a custodian under its gate; failures are logged (a custodian that still
    /// holds a share it should not fails its next heartbeat and is replaced).
    func forget(_ keys: [KeyReference], on custodian: LiveCustodian) async {
        guard !keys.isEmpty else { return }
        _ = try? await custodian.gate.withLock {
            for chunk in stride(from: 0, to: keys.count, by: ForgetSharesRequest.maximumKeys) {
                let part = Array(keys[chunk..<min(keys.count, chunk + ForgetSharesRequest.maximumKeys)])
                do {
                    _ = try await custodian.request(.forgetShares(try ForgetSharesRequest(keys: part)))
                    custodian.didForget(part)
                } catch {
                    logger.warning(
                        "a custodian did not forget shares", metadata: ["custodian": "\(custodian.id)", "error": "\(error)"])
                }
            }
        }
    }

    /// Launches custodians for `slots` of `ring`, a few at a time; all or nothing. The backend
    /// places them so that no machine holds `threshold` of them together with `companions` (the
    /// members that will share their epoch).
    func launchCustodians(
        ring: String, threshold: Int, slots: [UInt16], companions: [LiveCustodian] = []
    ) async throws -> [UInt16: LiveCustodian] {
        let hosts = try await backend.place(
            PlacementRequest(ring: ring, threshold: threshold, slots: slots, companions: companions.map(\.record)))
        var launched: [UInt16: LiveCustodian] = [:]
        do {
            var pending = slots[...]
            while !pending.isEmpty {
                let batch = pending.prefix(max(1, configuration.launchConcurrency))
                pending = pending.dropFirst(batch.count)
                // Every launch of a batch runs to its end, so none is left running unrecorded.
                let results = await withTaskGroup(of: Result<LiveCustodian, any Error>.self) { group in
                    for slot in batch {
                        group.addTask {
                            do { return .success(try await self.launchCustodian(ring: ring, slot: slot, host: hosts[slot])) } catch {
                                return .failure(error)
                            }
                        }
                    }
                    var results: [Result<LiveCustodian, any Error>] = []
                    for await result in group { results.append(result) }
                    return results
                }
                var failure: (any Error)?
                for result in results {
                    switch result {
                    case .success(let custodian): launched[custodian.slot] = custodian
                    case .failure(let error): failure = failure ?? error
                    }
                }
                if let failure { throw failure }
            }
            return launched
        } catch {
            for custodian in launched.values { await destroy(custodian, reason: "its ring could not be completed") }
            throw error
        }
    }
}
