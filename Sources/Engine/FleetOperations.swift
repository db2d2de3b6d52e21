import Coordinator
import Foundation
import KeyStore
import KeyshardAPI

/// The fleet side of ``KeyshardAPI/KeyshardService``: listing, ring rotation, policy reload, health.
extension Engine {
    public func custodians(ring: String?) async throws(KeyshardError) -> [CustodianInfo] {
        try await api {
            let window = configuration.freshnessWindow
            let rings = ringsBox.withLock { Array($0.values) }.filter { ring == nil || $0.name == ring }
            if let ring, rings.isEmpty { throw KeyshardError(.notFound, "no ring named \(ring)") }
            var result: [CustodianInfo] = []
            for runtime in rings {
                let epoch = runtime.epoch
                for (slot, custodian) in runtime.members.sorted(by: { $0.key < $1.key }) {
                    let state =
                        custodian.status == .healthy && !custodian.isFresh(within: window) ? "stale" : custodian.status.rawValue
                    result.append(
                        CustodianInfo(
                            ring: runtime.name, index: Int(slot), backendID: custodian.id, host: custodian.record.host,
                            state: state, lastAttested: custodian.lastAttestedDate, epoch: epoch,
                            launchedAt: custodian.record.launchedAt))
                }
            }
            return result.sorted { ($0.ring, $0.index) < ($1.ring, $1.index) }
        }
    }

    public func rings() async throws(KeyshardError) -> [RingInfo] {
        try await api { try await ringInfos() }
    }

    func ringInfos() async throws -> [RingInfo] {
        let keys = try await store.keys()
        return ringsBox.withLock { Array($0.values) }.sorted { $0.name < $1.name }.map { ring in
            let health = ring.health(within: configuration.freshnessWindow)
            return RingInfo(
                name: ring.name, threshold: ring.threshold, shares: ring.shares, epoch: ring.epoch, healthy: health.healthy,
                state: health.state, changing: ring.change, keys: keys.filter { $0.ring == ring.name }.map(\.name).sorted())
        }
    }

    public func rotateRing(_ name: String) async throws(KeyshardError) -> RingInfo {
        try await api {
            guard let ring = ring(named: name) else { throw KeyshardError(.notFound, "no ring named \(name)") }
            let done = try await ring.structure.withLockIfAvailable { () -> Bool in
                try await audited("ring.rotate", ["ring": name])
                let old = ring.members
                let fresh = old.values.filter { $0.isFresh(within: configuration.freshnessWindow) }
                guard fresh.count >= ring.threshold else {
                    throw KeyshardError(
                        .belowThreshold, "ring \(name) has \(fresh.count) fresh custodians; a rotation needs \(ring.threshold)")
                }
                ring.setChange("rotation")
                defer { ring.setChange(nil) }
                let replacements = try await launchCustodians(
                    ring: name, threshold: ring.threshold, slots: (1...ring.shares).map(UInt16.init))
                do {
                    try await changeEpoch(ring, kind: "rotation", newMembers: replacements, retiring: Array(old.values))
                } catch {
                    for custodian in replacements.values { await destroy(custodian, reason: "rotation failed") }
                    throw error
                }
                return true
            }
            guard done != nil else {
                throw KeyshardError(
                    .busy, "ring \(name) is busy with \(ring.change ?? "another change"); rotate again later")
            }
            guard let info = try await ringInfos().first(where: { $0.name == name }) else {
                throw KeyshardError(.internalError, "ring \(name) vanished")
            }
            return info
        }
    }

    /// Re-reads the policy and checks every custodian against it at once, before anything changes:
    /// when the new policy would leave a ring with fewer than t custodians it accepts, the reload is
    /// refused and the old policy stays (a typo in a policy must not destroy every key). Otherwise
    /// the new policy is installed and the custodians it refuses are quarantined and replaced.
    public func reloadPolicy() async throws(KeyshardError) -> PolicyReloadResult {
        try await readiness.wait()
        let candidate = try buildAttestor()
        let custodians = custodiansBox.withLock { Array($0.values) }.filter { $0.status == .healthy }
        let verdicts = await askEach(custodians) { custodian -> String? in
            // A throwaway clock state: this trial must not retire anything.
            let health = try await custodian.gate.withLock {
                await candidate.reattest(
                    custodian.client, state: CustodianState(custodian.attested), expecting: custodian.held)
            }
            return health.refusal?.reason
        }
        var refused: [(LiveCustodian, String)] = []
        for (custodian, verdict) in verdicts {
            switch verdict {
            case .success(let reason?): refused.append((custodian, reason))
            case .success(nil): break
            case .failure(let failure): refused.append((custodian, "no answer: \(failure.message)"))
            }
        }
        let refusedIDs = Set(refused.map(\.0.id))
        for ring in ringsBox.withLock({ Array($0.values) }) {
            let fresh = ring.freshMembers(within: configuration.freshnessWindow)
            let kept = fresh.filter { !refusedIDs.contains($0.id) }.count
            guard kept >= ring.threshold else {
                let reasons = refused.filter { $0.0.record.ring == ring.name }.prefix(3).map { "\($0.0.id): \($0.1)" }
                await note(
                    "policy.reload-refused",
                    ["policy": candidate.policy.name, "ring": ring.name, "accepted": "\(kept)", "threshold": "\(ring.threshold)"])
                throw KeyshardError(
                    .unsupported,
                    "policy \(candidate.policy.name) would accept only \(kept) of ring \(ring.name)'s custodians and it needs "
                        + "\(ring.threshold); the previous policy stays. Refusals: " + reasons.joined(separator: "; "))
            }
        }
        install(candidate)
        await note("policy.reloaded", ["policy": candidate.policy.name, "refused": "\(refused.count)"])
        var replaced: [String: String] = [:]
        for (custodian, reason) in refused {
            replaced[custodian.id] = reason
            await quarantine(custodian, reason: "refused by policy \(candidate.policy.name): \(reason)", misbehaved: true)
        }
        if configuration.newKeyVersionOnPolicyChange {
            for ring in ringsBox.withLock({ Array($0.keys) }) { repairContinuation.yield("rekey:" + ring) }
        }
        return PolicyReloadResult(accepted: custodians.count - refused.count, replaced: replaced)
    }

    public func health() async -> HealthInfo {
        let rings = (try? await ringInfos()) ?? []
        return HealthInfo(
            serving: !readiness.isShuttingDown && rings.allSatisfy { $0.state != "below-threshold" }, rings: rings,
            backend: backend.kind, version: version)
    }
}
