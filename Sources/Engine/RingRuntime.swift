import AgentProtocol
import KeyshardAPI
import ShardCrypto
import Synchronization

/// A ring as the engine runs it: its committed epoch, which live custodian holds which slot, the
/// commitments of every key version at that epoch, and the lock its structural changes take.
final class RingRuntime: Sendable {
    /// Identifies one key version.
    struct VersionID: Hashable, Sendable, CustomStringConvertible {
        let key: String
        let version: Int
        var description: String { "\(key) v\(version)" }
    }

    private struct Mutable {
        var epoch: Int
        var members: [UInt16: LiveCustodian]
        var commitments: [VersionID: FeldmanCommitment]
        /// Every slot's public share of a version, derived from the commitment beside it (a
        /// commitment that changed is derived again).
        var publicShares: [VersionID: (commitment: FeldmanCommitment, shares: ThresholdHPKE.PublicShares)] = [:]
        var change: String?
    }

    let name: String
    let threshold: Int
    let shares: Int
    /// Taken by whatever changes which shares exist: a new key version, an import, an epoch change,
    /// a trim or a delete. Threshold operations never take it.
    let structure = AsyncLock()
    private let mutable: Mutex<Mutable>

    init(name: String, threshold: Int, shares: Int, epoch: Int) {
        self.name = name
        self.threshold = threshold
        self.shares = shares
        mutable = Mutex(Mutable(epoch: epoch, members: [:], commitments: [:], change: nil))
    }

    /// A consistent view for one operation.
    struct Snapshot: Sendable {
        let epoch: Int
        let members: [UInt16: LiveCustodian]
        let commitments: [VersionID: FeldmanCommitment]
    }

    var snapshot: Snapshot {
        mutable.withLock { Snapshot(epoch: $0.epoch, members: $0.members, commitments: $0.commitments) }
    }

    var epoch: Int { mutable.withLock { $0.epoch } }
    var members: [UInt16: LiveCustodian] { mutable.withLock { $0.members } }
    var change: String? { mutable.withLock { $0.change } }

    func setChange(_ change: String?) { mutable.withLock { $0.change = change } }

    /// Puts a custodian in a slot of the committed epoch (startup, a new ring).
    func seat(_ custodian: LiveCustodian) { mutable.withLock { $0.members[custodian.slot] = custodian } }

    /// Removes a custodian from its slot, if it holds it.
    func unseat(_ custodian: LiveCustodian) {
        mutable.withLock { state in
            if state.members[custodian.slot] === custodian { state.members.removeValue(forKey: custodian.slot) }
        }
    }

    /// The public key and every slot's public share Xᵢ of `version` under `commitment`, derived
    /// once per commitment: operations use them on every request, and each costs a multi-scalar
    /// multiplication.
    func publicShares(of version: VersionID, commitment: FeldmanCommitment) -> ThresholdHPKE.PublicShares {
        if let cached = mutable.withLock({ $0.publicShares[version] }), cached.commitment == commitment {
            return cached.shares
        }
        let slots = (1...max(shares, 1)).compactMap { try? ParticipantID(UInt16(clamping: $0)) }
        let derived = ThresholdHPKE.PublicShares(commitment: commitment, participants: slots)
        mutable.withLock { state in
            // Only versions still committed are kept, so the cache never outgrows the commitments.
            state.publicShares = state.publicShares.filter { state.commitments[$0.key] != nil }
            if state.commitments[version] == commitment { state.publicShares[version] = (commitment, derived) }
        }
        return derived
    }

    func setCommitment(_ commitment: FeldmanCommitment, for version: VersionID) {
        mutable.withLock { $0.commitments[version] = commitment }
    }

    func removeCommitments(where predicate: (VersionID) -> Bool) {
        mutable.withLock { state in state.commitments = state.commitments.filter { !predicate($0.key) } }
    }

    /// Switches to a committed epoch: its members and commitments replace the old ones at once.
    func commit(epoch: Int, members: [UInt16: LiveCustodian], commitments: [VersionID: FeldmanCommitment]) {
        mutable.withLock {
            $0.epoch = epoch
            $0.members = members
            $0.commitments = commitments
        }
    }

    /// Members attested within `window`, freshest first.
    func freshMembers(within window: Duration) -> [LiveCustodian] {
        members.values.filter { $0.isFresh(within: window) }.sorted { $0.lastAttestedDate > $1.lastAttestedDate }
    }

    /// `ok`, `degraded` or `below-threshold`.
    func health(within window: Duration) -> (healthy: Int, state: String) {
        let healthy = freshMembers(within: window).count
        let state = healthy >= shares ? "ok" : healthy >= threshold ? "degraded" : "below-threshold"
        return (healthy, state)
    }
}
