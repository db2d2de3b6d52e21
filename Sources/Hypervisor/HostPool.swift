/// A libvirt host keyshard may place custodians on.
public struct HostConfiguration: Sendable, Hashable {
    /// The host's libvirt URI (`qemu:///system`, `qemu+ssh://host/system`, …).
    public let uri: String
    /// How many custodians (of all rings) the host may run at once.
    public let maxCustodians: Int

    /// A host.
    public init(uri: String, maxCustodians: Int) {
        self.uri = uri
        self.maxCustodians = maxCustodians
    }
}

/// What one host reported when surveyed.
public struct HostSurvey: Sendable {
    /// Reachable with its custodians, or not reachable and why.
    public enum Status: Sendable {
        /// The host answered.
        case reachable(custodians: [CustodianIdentity], unrecognizedDomains: [UnrecognizedDomain])
        /// The host could not be reached or listed.
        case unreachable(LibvirtError)
    }

    /// The host.
    public let host: HostConfiguration
    /// What it reported.
    public let status: Status
    /// The machine's libvirt host UUID (`Connection.hostUUID()`); nil when unreachable or when
    /// the driver reports none.
    public let machineUUID: String?

    /// The custodians on the host (empty when unreachable).
    public var custodians: [CustodianIdentity] {
        if case .reachable(let custodians, _) = status { return custodians }
        return []
    }

    /// Whether the host answered.
    public var isReachable: Bool {
        if case .reachable = status { return true }
        return false
    }

    /// Room for more custodians: the limit minus every keyshard domain running there
    /// (unrecognised ones too: they occupy the host all the same).
    public var freeSlots: Int {
        guard case .reachable(let custodians, let unrecognized) = status else { return 0 }
        return max(0, host.maxCustodians - custodians.count - unrecognized.count)
    }
}

/// A placement across the pool.
public struct PlacementPlan: Sendable {
    /// Where each share index goes.
    public let assignments: [PlacementAssignment]
    /// Hosts left out because they did not answer (their custodians are unknown).
    public let unreachableHosts: [HostSurvey]
    /// Hosts left out because an earlier host of the pool is the same machine (same host UUID),
    /// e.g. `qemu:///system` and `qemu+ssh://` to that very machine. Counting both would let one
    /// machine take t − 1 custodians per URI, t or more in all.
    public let sameMachineHosts: [HostSurvey]
}

/// Several libvirt hosts, each behind a `ReconnectingConnection`, and placement over them.
public final class HostPool: Sendable {
    /// The hosts, in the order given (the tie-breaker of placement).
    public let hosts: [HostConfiguration]
    private let connections: [String: ReconnectingConnection]

    /// A pool; nothing connects until first use.
    ///
    /// - Parameter enablesKeepAlive: passed to each host's `ReconnectingConnection`.
    public init(hosts: [HostConfiguration], enablesKeepAlive: Bool = true) {
        self.hosts = hosts
        var connections: [String: ReconnectingConnection] = [:]
        for host in hosts where connections[host.uri] == nil {
            connections[host.uri] = ReconnectingConnection(uri: host.uri, enablesKeepAlive: enablesKeepAlive)
        }
        self.connections = connections
    }

    /// The live connection to a host of the pool.
    ///
    /// - Throws: `HypervisorError.Code.invalidSpec` for a URI outside the pool; `LibvirtError`
    ///   when the host cannot be reached.
    public func connection(to uri: String) throws -> Connection {
        guard let holder = connections[uri] else {
            throw HypervisorError(.invalidSpec, "host \(uri) is not in the pool")
        }
        return try holder.connection()
    }

    /// Asks every host which custodians it runs, all hosts at once and off the cooperative
    /// pool (a slow or dead remote host delays only its own answer). A host that fails is
    /// reported, not thrown.
    ///
    /// - Returns: one survey per host, in the order of `hosts`.
    public func survey() async -> [HostSurvey] {
        await withTaskGroup(of: (Int, HostSurvey).self) { group in
            for (index, host) in hosts.enumerated() {
                let holder = connections[host.uri]!
                group.addTask {
                    do {
                        let (discovery, machineUUID) = try await offCooperativePool {
                            try holder.withConnection { connection throws(LibvirtError) in
                                (try connection.discoverCustodians(), try connection.hostUUID())
                            }
                        }
                        return (
                            index,
                            HostSurvey(
                                host: host,
                                status: .reachable(
                                    custodians: discovery.custodians.map(\.identity),
                                    unrecognizedDomains: discovery.unrecognized),
                                machineUUID: machineUUID)
                        )
                    } catch {
                        let failure =
                            error as? LibvirtError
                            ?? LibvirtError(
                                code: .internalError, domain: 0, message: "\(error)", operation: "survey")
                        return (index, HostSurvey(host: host, status: .unreachable(failure), machineUUID: nil))
                    }
                }
            }
            var surveys = [HostSurvey?](repeating: nil, count: hosts.count)
            for await (index, survey) in group { surveys[index] = survey }
            return surveys.compactMap { $0 }
        }
    }

    /// Plans where to start custodians of `ring` in `epoch`, keeping fewer than `threshold`
    /// custodians of that ring and epoch on every machine, over the hosts that answer now.
    ///
    /// Custodians of other epochs do not count: shares of different epochs lie on different
    /// polynomials and do not combine. Hosts reporting the same host UUID are one machine: only
    /// the first of them in `hosts` is planned on (with its `maxCustodians`), the others are
    /// listed in `sameMachineHosts`. Hosts without a UUID count as distinct machines.
    ///
    /// - Throws: `HypervisorError` (`.placementImpossible`, `.invalidSpec`) from `Placement.assign`.
    public func planPlacement(
        ring: String, epoch: UInt64, threshold: Int, shareIndices: [UInt16]
    ) async throws(HypervisorError) -> PlacementPlan {
        try await planPlacement(threshold: threshold, shareIndices: shareIndices) { survey in
            survey.custodians.count { $0.ring == ring && $0.epoch == epoch }
        }
    }

    /// Plans like ``planPlacement(ring:epoch:threshold:shareIndices:)`` with the caller saying how
    /// many members of the ring's new epoch each surveyed host already runs (keyshardd knows its
    /// members by name, and its custodians live across epochs).
    ///
    /// - Throws: `HypervisorError` (`.placementImpossible`, `.invalidSpec`) from `Placement.assign`.
    public func planPlacement(
        threshold: Int, shareIndices: [UInt16], ringMembers: (HostSurvey) -> Int
    ) async throws(HypervisorError) -> PlacementPlan {
        let surveys = await survey()
        var machinesSeen = Set<String>()
        var reachable: [HostSurvey] = []
        var sameMachine: [HostSurvey] = []
        for survey in surveys where survey.isReachable {
            if let uuid = survey.machineUUID, !machinesSeen.insert(uuid).inserted {
                sameMachine.append(survey)
            } else {
                reachable.append(survey)
            }
        }
        let capacities = reachable.map { survey in
            HostCapacity(
                uri: survey.host.uri, freeSlots: survey.freeSlots,
                ringMembers: ringMembers(survey))
        }
        let assignments = try Placement.assign(shareIndices: shareIndices, threshold: threshold, hosts: capacities)
        return PlacementPlan(
            assignments: assignments, unreachableHosts: surveys.filter { !$0.isReachable },
            sameMachineHosts: sameMachine)
    }
}
