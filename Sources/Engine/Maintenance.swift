import AgentProtocol
import Coordinator
import CustodianBackend
import Foundation
import KeyStore
import KeyshardAPI
import ShardCrypto

/// What keeps rings alive: heartbeats, backend events, repairs, age-based replacement, and the
/// reconciliation with a previous daemon's custodians at startup.
extension Engine {
    // MARK: Heartbeats

    /// Re-attests every custodian each interval, all at once, until shutdown.
    func heartbeatLoop() async {
        while !readiness.isShuttingDown, !Task.isCancelled {
            let round = ContinuousClock.now
            let custodians = custodiansBox.withLock { Array($0.values) }.filter { $0.status != .quarantined }
            await withDiscardingTaskGroup { group in
                for custodian in custodians { group.addTask { await self.heartbeat(custodian, round: round) } }
            }
            // A round longer than the interval delays every custodian's next heartbeat: the sign that
            // this daemon heart-beats more custodians than its CPUs can check in time.
            if !custodians.isEmpty {
                EngineMetrics.heartbeatRound(ContinuousClock.now - round, interval: configuration.heartbeatInterval)
            }
            do { try await Task.sleep(until: round + configuration.heartbeatInterval) } catch { return }
        }
    }

    /// One heartbeat: quote + possession proofs checked against the policy and the custodian's
    /// share ledger. A refused quote or proof quarantines at once; a miss (no answer, or too late)
    /// quarantines too unless that would leave the ring below threshold, in which case the
    /// custodian is kept as stale (taking part in nothing) and heart-beaten again, so a ring
    /// whose hosts stall for a while recovers instead of losing its key.
    /// - Parameters:
    ///   - custodian: the custodian.
    ///   - round: when its heartbeat round began (an accepted heartbeat's delay is measured from it).
    func heartbeat(_ custodian: LiveCustodian, round: ContinuousClock.Instant = .now) async {
        guard let attestor = try? attestor else { return }
        // A share change holds the gate; this custodian is beaten next round.
        let outcome = await custodian.gate.withLockIfAvailable { () -> CustodianHealth in
            await attestor.reattest(custodian.client, state: custodian.heartbeatState, expecting: custodian.held)
        }
        guard let outcome else { return }
        switch outcome {
        case .healthy:
            EngineMetrics.heartbeat("accepted")
            EngineMetrics.heartbeatAccepted(after: ContinuousClock.now - round)
            let wasStale = custodian.status == .stale
            custodian.attestedNow()
            if wasStale {
                await note("custodian.recovered", ["custodian": custodian.id])
                logger.notice("stale custodian attested again", metadata: ["custodian": "\(custodian.id)"])
            }
        case .refused(let error) where error.transportFailure == .cancelled:
            // Cancelled by the engine's own shutdown: the custodian did nothing wrong, and one kept
            // for the next daemon (--keep-custodians) must not be destroyed on the way out.
            logger.debug("heartbeat cancelled", metadata: ["custodian": "\(custodian.id)"])
        case .refused(let error):
            let miss = error.code == .agentFailed || (!error.refusals.isEmpty && error.refusalCodes == [.heartbeatLate])
            let ring = ringsBox.withLock { $0[custodian.record.ring] }
            if miss, let ring, ring.members[custodian.slot] === custodian {
                let others = ring.freshMembers(within: configuration.freshnessWindow).filter { $0 !== custodian }.count
                if others < ring.threshold {
                    EngineMetrics.heartbeat("missed-kept-stale")
                    let misses = custodian.markStale()
                    if misses == 1 {
                        logger.error(
                            "custodian missed a heartbeat; kept as stale because its ring would fall below threshold",
                            metadata: ["custodian": "\(custodian.id)", "reason": "\(error.reason)"])
                        await note("custodian.stale", ["custodian": custodian.id, "reason": error.reason])
                    }
                    return
                }
            }
            EngineMetrics.heartbeat(miss ? "missed" : "refused")
            await quarantine(custodian, reason: "heartbeat refused: \(error.reason)", misbehaved: !miss)
        }
    }

    // MARK: Backend events

    func watchBackendEvents() async {
        for await event in backend.events {
            switch event {
            case .stopped(let backendID, let reason):
                guard let custodian = custodiansBox.withLock({ $0[backendID] }) else { continue }
                await quarantine(custodian, reason: "stopped: \(reason)", misbehaved: false)
            }
        }
    }

    // MARK: Repairs

    func repairLoop() async {
        for await item in repairQueue {
            if readiness.isShuttingDown { return }
            if item.hasPrefix("rekey:") {
                await rekey(ring: String(item.dropFirst("rekey:".count)))
            } else {
                await repair(ring: item)
            }
        }
    }

    /// Fills the ring's empty slots: replacements launched and attested, then every key version
    /// re-shared from t healthy holders to the new member set (which also refreshes the holders
    /// that stay, so the lost custodian's share is worthless). Tried again by ``ageLoop()`` while
    /// slots stay empty.
    func repair(ring name: String) async {
        guard let ring = ring(named: name) else { return }
        _ = await ring.structure.withLockIfAvailable { () -> Bool in
            let members = ring.members
            // A member that is not fresh cannot receive a new share: it is replaced too.
            let fresh = members.filter { $0.value.isFresh(within: configuration.freshnessWindow) }
            let empty = (1...ring.shares).map(UInt16.init).filter { fresh[$0] == nil }
            guard !empty.isEmpty else { return true }
            guard fresh.count >= ring.threshold else {
                logger.error(
                    "ring below threshold; cannot repair until custodians return",
                    metadata: ["ring": "\(name)", "fresh": "\(fresh.count)", "threshold": "\(ring.threshold)"])
                return false
            }
            for slot in empty {
                if let stale = members[slot] { await quarantine(stale, reason: "replaced while stale", misbehaved: false) }
            }
            ring.setChange("repair")
            defer { ring.setChange(nil) }
            let replacements: [UInt16: LiveCustodian]
            do {
                replacements = try await launchCustodians(
                    ring: name, threshold: ring.threshold, slots: empty, companions: Array(fresh.values))
            } catch {
                logger.error("repair could not launch replacements", metadata: ["ring": "\(name)", "error": "\(error)"])
                return false
            }
            let newMembers = fresh.merging(replacements) { $1 }
            do {
                try await changeEpoch(ring, kind: "repair", newMembers: newMembers, retiring: [])
                return true
            } catch {
                logger.error("repair failed; will retry", metadata: ["ring": "\(name)", "error": "\(error)"])
                for custodian in replacements.values { await destroy(custodian, reason: "repair failed") }
                return false
            }
        }
    }

    /// Adds a version to every key of a ring (a configured reaction to a misbehaving custodian).
    func rekey(ring name: String) async {
        let keys = ((try? await store.keys()) ?? []).filter { $0.ring == name }
        for key in keys {
            do {
                _ = try await rotateKey(key.name)
                await note("key.rotated-on-event", ["key": key.name, "ring": name])
            } catch {
                logger.error("security-event rekey failed", metadata: ["key": "\(key.name)", "error": "\(error)"])
            }
        }
    }

    // MARK: Age

    /// Retries repairs of rings with empty slots, and replaces custodians older than the maximum
    /// age, one at a time per ring and only while every slot is healthy.
    func ageLoop() async {
        while !readiness.isShuttingDown, !Task.isCancelled {
            do { try await Task.sleep(for: configuration.heartbeatInterval * 3) } catch { return }
            for ring in ringsBox.withLock({ Array($0.values) }) {
                let members = ring.members
                let fresh = members.values.filter { $0.isFresh(within: configuration.freshnessWindow) }
                if fresh.count < ring.shares {
                    if !ring.structure.isLocked { await repair(ring: ring.name) }
                    continue
                }
                guard let maximumAge = configuration.maximumCustodianAge,
                    let oldest = fresh.min(by: { $0.record.launchedAt < $1.record.launchedAt }),
                    Date().timeIntervalSince(oldest.record.launchedAt) > maximumAge.seconds
                else { continue }
                await replace(oldest, in: ring, reason: "older than \(maximumAge)")
            }
        }
    }

    /// Replaces one healthy member by a fresh custodian in its slot.
    func replace(_ old: LiveCustodian, in ring: RingRuntime, reason: String) async {
        _ = await ring.structure.withLockIfAvailable { () -> Bool in
            guard ring.members[old.slot] === old else { return false }
            ring.setChange("replacement")
            defer { ring.setChange(nil) }
            let companions = ring.members.values.filter { $0 !== old }
            guard
                let replacement = try? await launchCustodians(
                    ring: ring.name, threshold: ring.threshold, slots: [old.slot], companions: companions)[old.slot]
            else {
                return false
            }
            var members = ring.members
            members[old.slot] = replacement
            do {
                try await changeEpoch(ring, kind: "replacement", newMembers: members, retiring: [old])
                await note("custodian.replaced", ["custodian": old.id, "by": replacement.id, "reason": reason])
                return true
            } catch {
                await destroy(replacement, reason: "replacement failed")
                return false
            }
        }
    }

    // MARK: Startup

    /// Brings the previous daemon's state back: aborts pending epoch changes, re-admits every
    /// committed member that still runs (new session, full attestation), makes each forget what it
    /// should not hold, destroys every other custodian, and queues repairs for empty slots.
    func reconcile() async throws {
        let running = try await backend.discover()
        var unclaimed = Dictionary(running.map { ($0.backendID, $0) }, uniquingKeysWith: { first, _ in first })
        for record in try await store.rings() {
            if let pending = try await store.pendingEpochChange(ring: record.name) {
                _ = try await store.abortEpochChange(ring: record.name)
                await note(
                    "epoch.aborted",
                    ["ring": record.name, "kind": pending.kind.rawValue, "to": "\(pending.toEpoch)", "reason": "keyshardd restarted mid-change"])
            }
            let ring = RingRuntime(name: record.name, threshold: record.threshold, shares: record.shares, epoch: record.epoch)
            for commitment in try await store.commitments(ring: record.name, epoch: record.epoch) {
                ring.setCommitment(
                    try FeldmanCommitment(serialized: commitment.commitment),
                    for: RingRuntime.VersionID(key: commitment.key, version: commitment.version))
            }
            ringsBox.withLock { $0[record.name] = ring }
            let members = try await store.members(ring: record.name, epoch: record.epoch)
            for (slot, id) in members.sorted(by: { $0.key < $1.key }) {
                guard let backendRecord = unclaimed.removeValue(forKey: id) else {
                    await note("custodian.missing", ["custodian": id, "ring": record.name, "slot": "\(slot)"])
                    continue
                }
                do {
                    let custodian = try await admit(backendRecord)
                    try await restoreLedger(custodian, ring: ring)
                    ring.seat(custodian)
                } catch {
                    logger.warning("a custodian could not be re-admitted", metadata: ["custodian": "\(id)", "error": "\(error)"])
                    try? await backend.destroy(backendRecord)
                    _ = try? await store.deleteCustodian(id)
                    await note("custodian.destroyed", ["custodian": id, "reason": "not re-admitted after restart: \(error)"])
                }
            }
            if ring.members.count < ring.shares { repairContinuation.yield(record.name) }
        }
        for record in unclaimed.values {
            try? await backend.destroy(record)
            _ = try? await store.deleteCustodian(record.backendID)
            await note("custodian.destroyed", ["custodian": record.backendID, "reason": "not a member of any committed epoch"])
        }
        let known = Set(custodiansBox.withLock { Array($0.keys) })
        for row in try await store.custodians(ring: nil) where !known.contains(row.id) { _ = try? await store.deleteCustodian(row.id) }
    }

    /// After a restart: asks the custodian what it holds (an unverified inventory), makes it forget
    /// everything the committed epoch does not name, and sets its ledger to the committed shares.
    /// The next heartbeat then checks the ledger for real.
    func restoreLedger(_ custodian: LiveCustodian, ring: RingRuntime) async throws {
        let snapshot = ring.snapshot
        let participant = try ParticipantID(custodian.slot)
        var expected: [KeyReference: ExpectedShare] = [:]
        for (version, commitment) in snapshot.commitments {
            let reference = try ShareNames.reference(key: version.key, version: version.version, epoch: snapshot.epoch)
            expected[reference] = ExpectedShare(participant: participant, commitment: commitment)
        }
        guard case .heartbeat(let inventory) = try await custodian.request(.heartbeatRequest(HeartbeatRequest(nonce: .random())))
        else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) gave no inventory") }
        let extra = inventory.proofs.map(\.key).filter { expected[$0] == nil }
        try await custodian.gate.withLock {
            for (reference, share) in expected { custodian.didReceive(reference, share) }
        }
        await forget(extra, on: custodian)
        if !extra.isEmpty {
            await note("custodian.forgot", ["custodian": custodian.id, "shares": "\(extra.count)", "reason": "not in the committed epoch"])
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
