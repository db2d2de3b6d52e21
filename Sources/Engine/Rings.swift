import Foundation
import KeyStore
import KeyshardAPI
import ShardCrypto

/// Finding and making rings.
extension Engine {
    func ring(named name: String) -> RingRuntime? { ringsBox.withLock { $0[name] } }

    /// The ring a request means: the named one, else the default ring when the threshold and share
    /// count fit it (or are not given), else `<t>-of-<n>`.
    func ringName(_ requested: String?, threshold: Int?, shares: Int?) throws(KeyshardError) -> String {
        if let requested {
            try ShareNames.validateRingName(requested)
            return requested
        }
        let defaults = configuration.defaultRing
        let t = threshold ?? defaults.threshold
        let n = shares ?? defaults.shares
        return t == defaults.threshold && n == defaults.shares ? defaults.name : "\(t)-of-\(n)"
    }

    /// The ring, made now when it does not exist: `shares` custodians launched and attested, then
    /// recorded as the members of epoch 1. A ring that exists must have the requested t and n.
    func ensureRing(_ name: String, threshold requestedThreshold: Int?, shares requestedShares: Int?) async throws
        -> RingRuntime
    {
        if let ring = ring(named: name) {
            if let t = requestedThreshold, t != ring.threshold {
                throw KeyshardError(.badRequest, "ring \(name) is \(ring.threshold)-of-\(ring.shares), not threshold \(t)")
            }
            if let n = requestedShares, n != ring.shares {
                throw KeyshardError(.badRequest, "ring \(name) is \(ring.threshold)-of-\(ring.shares), not \(n) shares")
            }
            return ring
        }
        let defaults = configuration.defaultRing
        let isDefault = name == defaults.name
        let threshold = requestedThreshold ?? (isDefault ? defaults.threshold : nil)
        let shares = requestedShares ?? (isDefault ? defaults.shares : nil)
        guard let threshold, let shares else {
            throw KeyshardError(.notFound, "no ring \(name); give --threshold and --shares to make it")
        }
        guard threshold >= configuration.minimumThreshold, threshold <= shares, shares <= 64 else {
            throw KeyshardError(
                .badRequest,
                "a ring needs \(configuration.minimumThreshold) ≤ threshold ≤ shares ≤ 64; got \(threshold)-of-\(shares)")
        }
        try await audited("ring.create", ["ring": name, "threshold": "\(threshold)", "shares": "\(shares)"])
        let members = try await launchCustodians(ring: name, threshold: threshold, slots: (1...shares).map { UInt16($0) })
        let ring = RingRuntime(name: name, threshold: threshold, shares: shares, epoch: 1)
        do {
            try await store.insertRing(
                RingRecord(name: name, threshold: threshold, shares: shares, epoch: 1, createdAt: Date()))
            try await store.initialMembers(
                ring: name, epoch: 1, members: members.reduce(into: [:]) { $0[Int($1.key)] = $1.value.id })
        } catch {
            for custodian in members.values { await destroy(custodian, reason: "ring \(name) could not be recorded") }
            throw error
        }
        let winner = ringsBox.withLock { rings -> RingRuntime in
            if let existing = rings[name] { return existing }
            rings[name] = ring
            return ring
        }
        guard winner === ring else {
            for custodian in members.values { await destroy(custodian, reason: "ring \(name) was made concurrently") }
            return winner
        }
        for custodian in members.values { ring.seat(custodian) }
        await note("ring.created", ["ring": name, "threshold": "\(threshold)", "shares": "\(shares)"])
        return ring
    }

    /// Runs a structural change of `ring` (new key version, import, trim, delete, epoch change)
    /// holding its lock, waiting at most the configured time for a change already running.
    func structurally<T: Sendable>(_ ring: RingRuntime, _ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + configuration.structuralWait
        while true {
            if let result = try await ring.structure.withLockIfAvailable(body) { return result }
            guard ContinuousClock.now < deadline else {
                throw KeyshardError(
                    .busy, "ring \(ring.name) is busy with \(ring.change ?? "another change"); try again shortly")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Every committed member, healthy and fresh, or `busy` naming what is missing (a DKG and an
    /// import need all n: a share for an absent slot would have to be repaired at once).
    func allFreshMembers(_ ring: RingRuntime) async throws -> [UInt16: LiveCustodian] {
        let members = ring.members
        let fresh = members.filter { $0.value.isFresh(within: configuration.freshnessWindow) }
        guard fresh.count == ring.shares else {
            let missing = (1...ring.shares).map(UInt16.init).filter { fresh[$0] == nil }
            throw KeyshardError(
                .busy,
                "ring \(ring.name) has \(fresh.count) of \(ring.shares) custodians attested (slots \(missing.map(String.init).joined(separator: ", ")) "
                    + "are being replaced); a new key version needs all of them: try again shortly")
        }
        return fresh
    }
}
