import Hypervisor
import Testing

/// SplitMix64: a seeded generator so the randomised checks are reproducible.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func perHost(_ assignments: [PlacementAssignment]) -> [String: Int] {
    assignments.reduce(into: [:]) { $0[$1.hostURI, default: 0] += 1 }
}

@Suite struct PlacementTests {
    @Test func spreadsARingSoNoHostHoldsThreshold() throws {
        let hosts = ["a", "b", "c"].map { HostCapacity(uri: $0, freeSlots: 10, ringMembers: 0) }
        let assignments = try Placement.assign(shareIndices: [1, 2, 3, 4, 5], threshold: 3, hosts: hosts)
        #expect(assignments.map(\.shareIndex) == [1, 2, 3, 4, 5])
        let counts = perHost(assignments)
        #expect(counts.values.allSatisfy { $0 <= 2 })
        #expect(counts.values.sorted() == [1, 2, 2])
    }

    @Test func existingRingMembersCountAgainstTheHost() throws {
        let hosts = [
            HostCapacity(uri: "full", freeSlots: 10, ringMembers: 2),
            HostCapacity(uri: "one", freeSlots: 10, ringMembers: 1),
            HostCapacity(uri: "empty", freeSlots: 10, ringMembers: 0),
        ]
        let counts = perHost(try Placement.assign(shareIndices: [4, 5, 6], threshold: 3, hosts: hosts))
        #expect(counts["full"] == nil)
        #expect(counts["one"] == 1)
        #expect(counts["empty"] == 2)
    }

    @Test func freeSlotsBoundAHost() throws {
        let hosts = [
            HostCapacity(uri: "small", freeSlots: 1, ringMembers: 0),
            HostCapacity(uri: "large", freeSlots: 9, ringMembers: 0),
            HostCapacity(uri: "other", freeSlots: 9, ringMembers: 0),
        ]
        let counts = perHost(try Placement.assign(shareIndices: [1, 2, 3, 4, 5], threshold: 4, hosts: hosts))
        #expect(counts["small"] == 1)
        #expect(counts["large"] == 2)
        #expect(counts["other"] == 2)
    }

    @Test func tooFewHostsIsRefusedWithHowManyFit() {
        let hosts = ["a", "b"].map { HostCapacity(uri: $0, freeSlots: 10, ringMembers: 0) }
        let error = #expect(throws: HypervisorError.self) {
            try Placement.assign(shareIndices: [1, 2, 3, 4, 5], threshold: 3, hosts: hosts)
        }
        #expect(error?.code == .placementImpossible)
        #expect(error?.reason.contains("take only 4") == true)
    }

    @Test func noHostsIsRefused() {
        #expect(throws: HypervisorError(.placementImpossible, "")) {
            try Placement.assign(shareIndices: [1], threshold: 2, hosts: [])
        }
    }

    @Test func badRequestsAreRefused() {
        let hosts = [HostCapacity(uri: "a", freeSlots: 10, ringMembers: 0)]
        #expect(throws: HypervisorError(.invalidSpec, "")) {
            try Placement.assign(shareIndices: [1], threshold: 1, hosts: hosts)
        }
        #expect(throws: HypervisorError(.invalidSpec, "")) {
            try Placement.assign(shareIndices: [1, 1], threshold: 3, hosts: hosts)
        }
        #expect(throws: HypervisorError(.invalidSpec, "")) {
            try Placement.assign(shareIndices: [0], threshold: 3, hosts: hosts)
        }
    }

    @Test func randomisedPoolsNeverBreakTheRuleAndRefuseOnlyWhenTheyMust() throws {
        var generator = SplitMix64(state: 0x6B65_7973_6861_7264)
        for _ in 0..<500 {
            let threshold = Int.random(in: 2...5, using: &generator)
            let hosts = (0..<Int.random(in: 0...6, using: &generator)).map { index in
                HostCapacity(
                    uri: "h\(index)", freeSlots: Int.random(in: 0...4, using: &generator),
                    ringMembers: Int.random(in: 0...threshold, using: &generator))
            }
            let count = Int.random(in: 1...8, using: &generator)
            let indices = (1...count).map { UInt16($0) }
            let room = hosts.map { max(0, min($0.freeSlots, threshold - 1 - $0.ringMembers)) }.reduce(0, +)
            do {
                let assignments = try Placement.assign(shareIndices: indices, threshold: threshold, hosts: hosts)
                #expect(Set(assignments.map(\.shareIndex)) == Set(indices))
                let counts = perHost(assignments)
                for host in hosts {
                    let added = counts[host.uri] ?? 0
                    #expect(added <= host.freeSlots)
                    #expect(added == 0 || host.ringMembers + added < threshold)
                }
            } catch {
                #expect(error.code == .placementImpossible)
                #expect(room < count)
            }
        }
    }
}

/// Placement over fake hosts described by libvirt test-driver files (Resources/hosts/).
@Suite struct HostPoolTests {
    private func hostURI(_ file: String) throws -> String { "test://" + (try resourcePath("hosts/\(file)")) }

    private func pool(maxCustodians: Int = 8) throws -> HostPool {
        HostPool(hosts: [
            HostConfiguration(uri: try hostURI("host-empty.xml"), maxCustodians: maxCustodians),
            HostConfiguration(uri: try hostURI("host-one-member.xml"), maxCustodians: maxCustodians),
            HostConfiguration(uri: try hostURI("host-full-for-ring.xml"), maxCustodians: maxCustodians),
            HostConfiguration(uri: try hostURI("host-broken.xml"), maxCustodians: maxCustodians),
            HostConfiguration(uri: "test:///nonexistent/keyshard-host.xml", maxCustodians: maxCustodians),
        ])
    }

    @Test func surveyReadsCustodiansAndReportsHostsThatFail() async throws {
        let surveys = await (try pool()).survey()
        #expect(surveys.map(\.isReachable) == [true, true, true, false, false])
        #expect(surveys[0].custodians.isEmpty)
        #expect(Set(surveys[1].custodians.map(\.ring)) == ["ring-p", "ring-q"])
        #expect(surveys[2].custodians.map(\.shareIndex).sorted() == [2, 3])
        #expect(surveys[1].freeSlots == 6)
        // The test driver reports no host UUID, so these files stay distinct machines.
        #expect(surveys.allSatisfy { $0.machineUUID == nil })
        for failed in surveys[3...] {
            guard case .unreachable(let error) = failed.status else {
                Issue.record("\(failed.host.uri) should be unreachable")
                continue
            }
            #expect(error.operation == "virConnectOpen")
        }
    }

    @Test func planKeepsFewerThanThresholdPerHostAndSkipsUnreachableHosts() async throws {
        let pool = try pool()
        let plan = try await pool.planPlacement(ring: "ring-p", epoch: 1, threshold: 3, shareIndices: [4, 5, 6])
        let counts = perHost(plan.assignments)
        #expect(counts[try hostURI("host-full-for-ring.xml")] == nil)
        #expect(counts[try hostURI("host-one-member.xml")] == 1)
        #expect(counts[try hostURI("host-empty.xml")] == 2)
        #expect(plan.unreachableHosts.count == 2)
    }

    @Test func otherEpochsDoNotCount() async throws {
        let plan = try await pool().planPlacement(
            ring: "ring-p", epoch: 2, threshold: 3, shareIndices: [1, 2, 3, 4, 5, 6])
        #expect(perHost(plan.assignments).values.sorted() == [2, 2, 2])
    }

    @Test func hostCapacityLimitsPlacement() async throws {
        // Two keyshard domains already fill a host of capacity 2, whatever their ring.
        let plan = try await pool(maxCustodians: 2).planPlacement(
            ring: "ring-z", epoch: 1, threshold: 3, shareIndices: [1, 2])
        #expect(plan.assignments.allSatisfy { $0.hostURI == (try? hostURI("host-empty.xml")) })
    }

    @Test func createdCustodiansAreCountedByTheNextPlan() async throws {
        let pool = try pool()
        let plan = try await pool.planPlacement(ring: "ring-p", epoch: 1, threshold: 3, shareIndices: [4, 5, 6])
        var created: [Domain] = []
        defer { created.forEach(destroyIfRunning) }
        for assignment in plan.assignments {
            let spec = SpecFixtures.spec(
                identity: try CustodianIdentity(ring: "ring-p", shareIndex: assignment.shareIndex, epoch: 1))
            created.append(try pool.connection(to: assignment.hostURI).createCustodian(spec))
        }
        // Every reachable host now holds t − 1 = 2 members of ring-p epoch 1: no room for a seventh.
        let surveys = await pool.survey().filter(\.isReachable)
        #expect(surveys.allSatisfy { $0.custodians.count { $0.ring == "ring-p" && $0.epoch == 1 } == 2 })
        let error = await #expect(throws: HypervisorError.self) {
            try await pool.planPlacement(ring: "ring-p", epoch: 1, threshold: 3, shareIndices: [7])
        }
        #expect(error?.code == .placementImpossible)
    }

    @Test func unknownHostIsRefused() throws {
        #expect(throws: HypervisorError(.invalidSpec, "")) { try pool().connection(to: "test:///elsewhere.xml") }
    }
}
