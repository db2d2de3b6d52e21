/// What one host can take, as seen by placement.
public struct HostCapacity: Sendable, Hashable {
    /// The host's libvirt URI.
    public let uri: String
    /// How many more custodians (of any ring) the host may run.
    public let freeSlots: Int
    /// Custodians of the ring and epoch being placed that already run there.
    public let ringMembers: Int

    /// A host's capacity.
    public init(uri: String, freeSlots: Int, ringMembers: Int) {
        self.uri = uri
        self.freeSlots = freeSlots
        self.ringMembers = ringMembers
    }
}

/// One share index placed on one host.
public struct PlacementAssignment: Sendable, Hashable {
    /// The share index (custodian) to start.
    public let shareIndex: UInt16
    /// The URI of the host to start it on.
    public let hostURI: String
}

/// Placement of custodians across hosts so that no host ever runs t or more custodians of
/// one ring and epoch: a single compromised host must never hold enough shares to rebuild
/// the key. A pure function, so it is tested without any host.
public enum Placement {
    /// Assigns each share index to a host.
    ///
    /// A host may take at most `min(freeSlots, threshold − 1 − ringMembers)` new custodians.
    /// Among hosts with room, each share goes to the host with the most room left (ties: fewer
    /// ring members, then the order given), which spreads the ring as evenly as capacity allows.
    ///
    /// - Parameters:
    ///   - shareIndices: the custodians to start (distinct, ≥ 1).
    ///   - threshold: the ring's t (≥ 2: with t = 1 any single custodian is the key).
    ///   - hosts: the reachable hosts and what they hold already.
    /// - Returns: one assignment per share index, in the order of `shareIndices`.
    /// - Throws: `HypervisorError.Code.placementImpossible` when the hosts cannot take all shares
    ///   within the rule (the reason says how many fit), `.invalidSpec` for duplicate or zero
    ///   indices or t < 2.
    public static func assign(
        shareIndices: [UInt16], threshold: Int, hosts: [HostCapacity]
    ) throws(HypervisorError) -> [PlacementAssignment] {
        guard threshold >= 2 else {
            throw HypervisorError(.invalidSpec, "threshold must be at least 2 to spread a ring over hosts")
        }
        guard Set(shareIndices).count == shareIndices.count, !shareIndices.contains(0) else {
            throw HypervisorError(.invalidSpec, "share indices must be distinct and at least 1")
        }
        var room = hosts.map { max(0, min($0.freeSlots, threshold - 1 - $0.ringMembers)) }
        var members = hosts.map(\.ringMembers)
        let totalRoom = room.reduce(0, +)
        guard totalRoom >= shareIndices.count else {
            throw HypervisorError(
                .placementImpossible,
                "\(shareIndices.count) custodians to place but the \(hosts.count) reachable hosts can take only "
                    + "\(totalRoom) while keeping fewer than \(threshold) of the ring on each; add hosts or capacity")
        }
        var assignments: [PlacementAssignment] = []
        for shareIndex in shareIndices {
            // totalRoom ≥ count guarantees some host has room left.
            let chosen = room.indices.filter { room[$0] > 0 }.min { lhs, rhs in
                (-room[lhs], members[lhs], lhs) < (-room[rhs], members[rhs], rhs)
            }!
            room[chosen] -= 1
            members[chosen] += 1
            assignments.append(PlacementAssignment(shareIndex: shareIndex, hostURI: hosts[chosen].uri))
        }
        return assignments
    }
}
