import AgentProtocol
import Attestation
import ShardCrypto

/// What the coordinator expects a custodian to hold for one key version: the participant identifier
/// the share was dealt to and its public share X_i = x_i·G, from the key version's Feldman commitment.
public struct ExpectedShare: Sendable, Equatable {
    /// The participant identifier i.
    public let participant: ParticipantID
    /// X_i, which the proof of possession must verify under.
    public let publicShare: Point

    /// Creates an expectation from a known public share.
    /// - Parameters:
    ///   - participant: the participant identifier.
    ///   - publicShare: X_i.
    public init(participant: ParticipantID, publicShare: Point) {
        self.participant = participant
        self.publicShare = publicShare
    }

    /// Creates an expectation with X_i evaluated from the key version's commitment (not taken from
    /// anything the custodian said).
    /// - Parameters:
    ///   - participant: the participant identifier.
    ///   - commitment: the key version's Feldman commitment.
    public init(participant: ParticipantID, commitment: FeldmanCommitment) {
        self.init(participant: participant, publicShare: commitment.publicShare(for: participant))
    }
}

/// The check of a heartbeat's proofs of possession: exactly one valid proof per key version the
/// custodian is expected to hold, each bound by ``EvidenceBinding/possession(nonce:transportKey:key:)``
/// to this heartbeat's nonce and the custodian's transport key.
public enum PossessionCheck {
    /// Every refusal of the proofs, each naming its key version; empty when they are exactly right.
    /// - Parameters:
    ///   - proofs: the heartbeat's proofs.
    ///   - expected: key version → the participant and X_i the custodian should hold.
    ///   - nonce: the heartbeat request's nonce.
    ///   - transportKey: the custodian's attested transport key.
    public static func refusals(
        _ proofs: [PossessionEntry], expected: [KeyReference: ExpectedShare], nonce: Nonce,
        transportKey: TransportPublicKey
    ) -> [Refusal] {
        var refusals: [Refusal] = []
        let byKey = Dictionary(grouping: proofs, by: \.key)
        for (key, entries) in byKey.sorted(by: { $0.key.description < $1.key.description }) {
            guard entries.count == 1, let entry = entries.first else {
                refusals.append(Refusal(.possessionDuplicate,
                    "The heartbeat carries \(entries.count) proofs for \(key); a custodian holds one share per "
                        + "key version, so the extra ones were added or copied in transit."))
                continue
            }
            guard let share = expected[key] else {
                refusals.append(Refusal(.possessionUnexpected,
                    "The heartbeat proves possession for \(key), which this custodian was never given: it holds "
                        + "a share the coordinator does not know of, or the heartbeat was tampered with."))
                continue
            }
            guard entry.participant == share.participant else {
                refusals.append(Refusal(.possessionParticipant,
                    "The proof for \(key) names participant \(entry.participant) but the share was dealt to "
                        + "participant \(share.participant)."))
                continue
            }
            let bound = EvidenceBinding.possession(nonce: nonce, transportKey: transportKey, key: key)
            if !entry.proof.verify(id: share.participant, publicShare: share.publicShare, nonce: bound) {
                refusals.append(Refusal(.possessionInvalid,
                    "The proof for \(key) does not verify under participant \(share.participant)'s public share "
                        + "for this heartbeat: the custodian no longer holds that share, or the proof is another "
                        + "heartbeat's, key's or custodian's."))
            }
        }
        for key in expected.keys.sorted(by: { $0.description < $1.description }) where byKey[key] == nil {
            refusals.append(Refusal(.possessionMissing,
                "The heartbeat has no proof for \(key), which this custodian was given: it lost the share, or "
                    + "the proof was dropped in transit."))
        }
        return refusals
    }
}

/// The coordinator's own state for one admitted custodian between heartbeats: what its admission
/// established, the TPM clock of the last accepted quote, and whether it was refused. Only
/// ``CustodianAttestor/reattest(_:state:expecting:)`` advances the clock, so no caller can hand in a
/// wrong "previous" quote; once a heartbeat is refused the state stays refused.
public actor CustodianState {
    /// What the admission established.
    public nonisolated let attested: AttestedCustodian
    /// The TPM clock of the last accepted quote (the admission quote at first).
    public private(set) var lastAcceptedClock: TPMClockInfo
    /// The refusal that retired this custodian, or `nil` while it is healthy.
    public private(set) var refusal: CoordinatorError?

    /// Starts the state of a newly admitted custodian.
    /// - Parameter attested: the ceremony's outcome.
    public init(_ attested: AttestedCustodian) {
        self.attested = attested
        self.lastAcceptedClock = attested.clock
    }

    /// Whether a heartbeat was refused (the custodian must be, or was, destroyed).
    public var isRetired: Bool { refusal != nil }

    /// The coordinator's clock rule, whatever the policy says: the same TPM boot and restart as the
    /// last accepted quote, and the clock strictly after it. Advances the clock when the rule holds
    /// and `commit` is set (nothing else was refused), in one step so two heartbeats cannot both
    /// advance from the same clock.
    func advance(to clock: TPMClockInfo, commit: Bool) -> [Refusal] {
        let refusals = FreshnessRules.continuity(clock, previous: lastAcceptedClock, strictlyForward: true)
        if refusals.isEmpty, commit { lastAcceptedClock = clock }
        return refusals
    }

    func retire(_ error: CoordinatorError) {
        if refusal == nil { refusal = error }
    }
}

/// The outcome of one re-attestation. There is no third case: a custodian is either healthy or must be
/// destroyed (``LaunchedCustodian/heartbeat(expecting:)`` destroys it).
public enum CustodianHealth: Sendable {
    /// The heartbeat passed every check.
    case healthy(Heartbeat)
    /// The heartbeat was refused, or not answered in time; the custodian is retired.
    case refused(CoordinatorError)

    /// Whether the custodian is healthy.
    public var isHealthy: Bool {
        if case .healthy = self { return true }
        return false
    }

    /// The refusal, if any.
    public var refusal: CoordinatorError? {
        if case .refused(let error) = self { return error }
        return nil
    }
}
