import AgentProtocol
import Attestation
@testable import Coordinator
import CustodianAgent
import Foundation
import Hypervisor
import ShardCrypto
import TPM2
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A compromised agent: it answers honestly, and a test rewrites its heartbeats. (A man in the
/// middle on the channel can no longer rewrite anything: answers travel sealed under the session,
/// end to end with the attested transport key; `SessionTests` shows that.)
actor HeartbeatRelay {
    typealias Tamper = @Sendable (Heartbeat) async throws -> Heartbeat

    private var tamper: Tamper?
    /// Every heartbeat the agent sent, untouched, oldest first.
    private(set) var seen: [Heartbeat] = []

    func tamper(with body: Tamper?) { tamper = body }

    func rewrite(_ beat: Heartbeat) async throws -> Heartbeat {
        seen.append(beat)
        return try await tamper?(beat) ?? beat
    }

    /// Runs `body` with a coordinator connection to `agent` whose heartbeats the relay rewrites.
    static func around(
        _ agent: AgentProcess, _ body: @Sendable (AgentClient, HeartbeatRelay) async throws -> Void
    ) async throws {
        let relay = HeartbeatRelay()
        let client = try await agent.connect()
        do {
            try await CustodianAttestor.$compromisedAgent.withValue({ try await relay.rewrite($0) }) {
                try await body(client, relay)
            }
        } catch {
            try? await client.close()
            throw error
        }
        try? await client.close()
    }
}

/// Heartbeats through a man in the middle, and custodians that are not who they say: each attack is
/// refused with a reason naming what was wrong, and a refused custodian stays refused.
@Suite("Heartbeat attacks and custodian identity", .serialized)
struct HeartbeatAttackTests {
    /// Two key versions delivered to the agent, as participant 1 of one and participant 3 of the other.
    struct Holdings {
        let expected: [KeyReference: ExpectedShare]
        let first: KeyReference
        let second: KeyReference
    }

    static func deliver(to client: AgentClient, _ attested: AttestedCustodian) async throws -> Holdings {
        let first = try KeyReference(keyID: "master", version: 1)
        let second = try KeyReference(keyID: "signing", version: 4)
        var expected: [KeyReference: ExpectedShare] = [:]
        for (key, index) in [(first, 0), (second, 2)] {
            let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
            let delivery = try ShareDelivery(
                key: key, participant: shares[index].id,
                sealedShare: try ShareSealing.seal(share: shares[index], to: attested.transportKey, key: key),
                commitment: commitment)
            guard case .shareAccepted = try await client.request(.deliverShare(delivery)) else {
                throw AgentProcess.Failure(description: "the agent did not accept \(key)")
            }
            expected[key] = ExpectedShare(participant: shares[index].id, commitment: commitment)
        }
        return Holdings(expected: expected, first: first, second: second)
    }

    static func attestor(for agent: AgentProcess) throws -> CustodianAttestor {
        CustodianAttestor(
            policy: Coordinator.policy, identity: Coordinator.identity,
            endorsementRootsPEM: [try Coordinator.issuer(of: agent)])
    }

    /// One relayed attack: a fresh custodian state, an honest heartbeat (accepted), then the tampered
    /// one; returns its refusal, after checking that an honest heartbeat is refused from then on.
    static func attack(
        _ client: AgentClient, _ relay: HeartbeatRelay, attestor: CustodianAttestor, attested: AttestedCustodian,
        expected: [KeyReference: ExpectedShare], tamper: @escaping HeartbeatRelay.Tamper
    ) async throws -> CoordinatorError? {
        let state = CustodianState(attested)
        let honest = await attestor.reattest(client, state: state, expecting: expected)
        #expect(honest.isHealthy, "\(String(describing: honest.refusal))")
        await relay.tamper(with: tamper)
        let refused = await attestor.reattest(client, state: state, expecting: expected)
        await relay.tamper(with: nil)
        #expect(await state.isRetired)
        // Retirement sticks: the next, untampered heartbeat does not bring the custodian back.
        #expect(!(await attestor.reattest(client, state: state, expecting: expected)).isHealthy)
        return refused.refusal
    }

    static func replacing(_ beat: Heartbeat, proofs: [PossessionEntry]) throws -> Heartbeat {
        try Heartbeat(quote: beat.quote, quoteSignature: beat.quoteSignature, pcrValues: beat.pcrValues, proofs: proofs)
    }

    @Test("a relay that drops, swaps, duplicates, re-labels or invents proofs of possession is refused")
    func tamperedProofs() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        try await HeartbeatRelay.around(agent) { client, relay in
            let attested = try await Coordinator.attest(client, agent: agent)
            let holdings = try await Self.deliver(to: client, attested)
            let attestor = try Self.attestor(for: agent)
            let (first, second) = (holdings.first, holdings.second)
            func attack(_ tamper: @escaping HeartbeatRelay.Tamper) async throws -> CoordinatorError? {
                try await Self.attack(
                    client, relay, attestor: attestor, attested: attested, expected: holdings.expected,
                    tamper: tamper)
            }

            let dropped = try await attack { beat in
                try Self.replacing(beat, proofs: beat.proofs.filter { $0.key != second })
            }
            #expect(dropped?.code == .heartbeatRefused)
            #expect(dropped?.refusalCodes == [.possessionMissing])
            #expect(dropped?.reason.contains("signing@v4") == true, "\(String(describing: dropped))")

            // Each proof presented for the other key version (participants kept): both fail.
            let swapped = try await attack { beat in
                let byKey = Dictionary(uniqueKeysWithValues: beat.proofs.map { ($0.key, $0) })
                return try Self.replacing(beat, proofs: [
                    PossessionEntry(key: first, participant: byKey[first]!.participant, proof: byKey[second]!.proof),
                    PossessionEntry(key: second, participant: byKey[second]!.participant, proof: byKey[first]!.proof),
                ])
            }
            #expect(swapped?.refusals.map(\.code) == [.possessionInvalid, .possessionInvalid])
            #expect(swapped?.reason.contains("master@v1") == true && swapped?.reason.contains("signing@v4") == true)

            let relabelled = try await attack { beat in
                try Self.replacing(beat, proofs: beat.proofs.map {
                    guard $0.key == first else { return $0 }
                    return PossessionEntry(key: $0.key, participant: try ParticipantID(2), proof: $0.proof)
                })
            }
            #expect(relabelled?.refusalCodes == [.possessionParticipant])
            #expect(relabelled?.reason.contains("master@v1") == true)

            let duplicated = try await attack { beat in
                try Self.replacing(beat, proofs: beat.proofs + [beat.proofs[0]])
            }
            #expect(duplicated?.refusalCodes == [.possessionDuplicate])

            let unknown = try KeyReference(keyID: "master", version: 2)
            let invented = try await attack { beat in
                try Self.replacing(beat, proofs: beat.proofs + [
                    PossessionEntry(key: unknown, participant: beat.proofs[0].participant, proof: beat.proofs[0].proof),
                ])
            }
            #expect(invented?.refusalCodes == [.possessionUnexpected])
            #expect(invented?.reason.contains("master@v2") == true)

            // The coordinator expects a key version the agent never received.
            let state = CustodianState(attested)
            var more = holdings.expected
            more[unknown] = holdings.expected[first]
            let lost = await attestor.reattest(client, state: state, expecting: more)
            #expect(lost.refusal?.refusalCodes == [.possessionMissing])
            #expect(lost.refusal?.reason.contains("master@v2") == true)
        }
    }

    @Test("a replayed earlier heartbeat and one held back past the window are refused")
    func replayAndDelay() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        try await HeartbeatRelay.around(agent) { client, relay in
            let attested = try await Coordinator.attest(client, agent: agent)
            let holdings = try await Self.deliver(to: client, attested)
            var attestor = try Self.attestor(for: agent)

            // The heartbeat the agent gave for an earlier nonce, replayed for a later request: another
            // nonce, proofs bound to it, and a TPM clock before the last accepted one.
            let replayed = try await Self.attack(
                client, relay, attestor: attestor, attested: attested, expected: holdings.expected
            ) { [relay] _ in await relay.seen[0] }
            let codes = replayed?.refusalCodes ?? []
            #expect(codes.isSuperset(of: [.quoteNonce, .possessionInvalid, .freshnessClockBack]), "\(codes)")

            // Held back: the relay sits on a genuine answer longer than the coordinator's window.
            attestor.heartbeatWindow = .milliseconds(300)
            let delayed = try await Self.attack(
                client, relay, attestor: attestor, attested: attested, expected: holdings.expected
            ) { beat in
                try await Task.sleep(for: .milliseconds(800))
                return beat
            }
            #expect(delayed?.refusalCodes == [.heartbeatLate], "\(String(describing: delayed))")
            ReliabilityReport.record(
                .badInput, "replayed evidence: an earlier heartbeat replayed, a genuine one held back past the window",
                held: codes.isSuperset(of: [.quoteNonce, .possessionInvalid, .freshnessClockBack])
                    && delayed?.refusalCodes == [.heartbeatLate],
                detail: "refused: \(codes.map { "\($0)" }.sorted().joined(separator: ", ")); heartbeat.late")
        }
    }

    @Test("the clock rule: a TPM reset, a restart, or a clock that does not move forward is refused")
    func clockRule() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()
        let attested = try await Coordinator.attest(client, agent: agent)
        let last = attested.clock
        func refusal(_ clock: TPMClockInfo) async -> [Refusal.Code] {
            await CustodianState(attested).advance(to: clock, commit: true).map(\.code)
        }
        let later = TPMClockInfo(
            clock: last.clock + 10, resetCount: last.resetCount, restartCount: last.restartCount, isSafe: true)
        #expect(await refusal(later).isEmpty)
        #expect(await refusal(TPMClockInfo(
            clock: last.clock + 10, resetCount: last.resetCount, restartCount: last.restartCount + 1, isSafe: true))
            == [.freshnessRestart])
        #expect(await refusal(TPMClockInfo(
            clock: last.clock + 10, resetCount: last.resetCount + 1, restartCount: 0, isSafe: true))
            .contains(.freshnessReset))
        #expect(await refusal(last) == [.freshnessClockBack])  // the same instant again is not forward

        // The state advances only on commit, and only forward.
        let state = CustodianState(attested)
        #expect(await state.advance(to: later, commit: false).isEmpty)
        #expect(await state.lastAcceptedClock == last)
        #expect(await state.advance(to: later, commit: true).isEmpty)
        #expect(await state.lastAcceptedClock == later)
        #expect(await state.advance(to: later, commit: true).map(\.code) == [.freshnessClockBack])
        try? await client.close()
    }

    @Test("a custodian whose TPM was restarted under it is refused and retired")
    func restartedTPM() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()
        let attested = try await Coordinator.attest(client, agent: agent)
        let holdings = try await Self.deliver(to: client, attested)
        let attestor = try Self.attestor(for: agent)
        let state = CustodianState(attested)
        #expect(await attestor.reattest(client, state: state, expecting: holdings.expected).isHealthy)

        // An orderly TPM restart (Shutdown(STATE), _TPM_Init, Startup(STATE)): restartCount goes up and
        // the agent's transient EK and AK are flushed, so no quote by the admitted AK can follow.
        try agent.tpm.tool("tpm2_shutdown", [], flush: false)
        let initialise = try ProcessRunner.run(
            "/usr/bin/swtpm_ioctl", ["--tcp", "127.0.0.1:\(agent.tpm.port + 1)", "-i"], timeout: 30)
        #expect(initialise.status == 0, "\(initialise.combinedOutput)")
        try agent.tpm.tool("tpm2_startup", [], flush: false)
        let clock = try agent.tpm.tool("tpm2_readclock", [], flush: false)
        #expect(clock.contains("restart_count: \(attested.clock.restartCount + 1)"), "\(clock)")

        let refused = await attestor.reattest(client, state: state, expecting: holdings.expected)
        // The agent's quote fails (its AK is gone), so the heartbeat is refused as the agent's failure.
        #expect(refused.refusal?.code == .agentFailed, "\(String(describing: refused.refusal))")
        #expect(refused.refusal?.reason.contains("tpm-failure") == true, "\(String(describing: refused.refusal))")
        #expect(await state.isRetired)
        try? await client.close()
    }

    @Test("one TPM cannot be two ring members; a re-admission must present the first EK; retired TPMs stay out")
    func roster() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        // A second agent on a copy of the first one's vTPM state: same EK and EK certificate, its own AK
        // and transport key.
        let clone = try AgentProcess.start(tpm: try SoftwareTPM.start(cloning: agent.tpm))
        defer { clone.stop() }
        let other = try AgentProcess.start()
        defer { other.stop() }

        let first = try await Coordinator.attest(try await agent.connect(), agent: agent)
        let copied = try await Coordinator.attest(try await clone.connect(), agent: clone)
        let stranger = try await Coordinator.attest(try await other.connect(), agent: other)
        #expect(first.fingerprint.endorsementKeyName == copied.fingerprint.endorsementKeyName)
        #expect(first.fingerprint.attestationKeyName != copied.fingerprint.attestationKeyName)

        let one = try CustodianIdentity(ring: "r", shareIndex: 1, epoch: 1)
        let two = try CustodianIdentity(ring: "r", shareIndex: 2, epoch: 1)
        let three = try CustodianIdentity(ring: "r", shareIndex: 3, epoch: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ks-roster-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("roster.json").path
        let roster = try RingRoster(path: path)
        try await roster.admit(first.fingerprint, as: one)

        func refusal(_ body: () async throws -> Void) async -> CoordinatorError? {
            do {
                try await body()
                return nil
            } catch {
                return error as? CoordinatorError
            }
        }
        // The cloned vTPM as another member: same EK.
        let cloned = await refusal { try await roster.admit(copied.fingerprint, as: two) }
        #expect(cloned?.code == .identityRefused)
        #expect(cloned?.reason.contains("EK of ring member") == true, "\(String(describing: cloned))")
        // The same evidence relayed for a second domain: same EK, AK and transport key.
        #expect(await refusal { try await roster.admit(first.fingerprint, as: two) }?.code == .identityRefused)
        try await roster.admit(stranger.fingerprint, as: two)

        // A daemon restart reads the roster back: custodian one re-admitted must present its first EK.
        let restarted = try RingRoster(path: path)
        #expect(await restarted.snapshot.count == 2)
        try await restarted.admit(copied.fingerprint, as: one)  // the same EK (a restarted agent, new AK) is fine
        let swappedTPM = await refusal { try await restarted.admit(stranger.fingerprint, as: one) }
        #expect(swappedTPM?.code == .identityRefused)
        #expect(swappedTPM?.reason.contains("first admitted with EK") == true, "\(String(describing: swappedTPM))")

        // Retired: its EK never comes back, whichever custodian presents it.
        try await restarted.retire(two)
        let returned = await refusal { try await restarted.admit(stranger.fingerprint, as: three) }
        #expect(returned?.reason.contains("retired custodian") == true, "\(String(describing: returned))")
    }

    @Test("the EK swtpm_setup logged when it made the vTPM is the one the custodian attests with")
    func manufacturingLogPinsTheEK() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let other = try AgentProcess.start()
        defer { other.stop() }
        let text = String(decoding: try agent.tpm.file("swtpm_setup.log"), as: UTF8.self)
        let log = try SwtpmManufacturingLog(text: text)
        #expect(!log.endorsementKeys.isEmpty)
        let attested = try await Coordinator.attest(try await agent.connect(), agent: agent)
        let stranger = try await Coordinator.attest(try await other.connect(), agent: other)
        #expect(log.contains(attested.endorsementKey), "\(log.endorsementKeys)")
        // Evidence from another TPM, whatever CA certified it, is not this vTPM's.
        #expect(!log.contains(stranger.endorsementKey))
        // A reused domain name appends a run: only the last one counts.
        let otherText = String(decoding: try other.tpm.file("swtpm_setup.log"), as: UTF8.self)
        let appended = try SwtpmManufacturingLog(text: text + otherText)
        #expect(appended.contains(stranger.endorsementKey) && !appended.contains(attested.endorsementKey))
        #expect(throws: CoordinatorError.self) { try SwtpmManufacturingLog(text: "swtpm: nothing made here\n") }
    }

    @Test("the agent refuses to start when mlockall fails, unless --no-mlock")
    func memoryLockIsRequired() async throws {
        // Root keeps CAP_IPC_LOCK and locks whatever RLIMIT_MEMLOCK says, so the capability is dropped
        // from the bounding set as well as the limit set to zero.
        let wrapper = ["/usr/bin/setpriv", "--bounding-set", "-ipc_lock", "/usr/bin/prlimit", "--memlock=0:0"]
        let probe = try ProcessRunner.run(
            wrapper[0], Array(wrapper.dropFirst()) + ["/bin/true"], timeout: 30)
        try #require(probe.status == 0, "setpriv/prlimit unavailable: \(probe.combinedOutput)")

        let tpm = try SoftwareTPM.start(endorsementCertificates: true)
        defer { tpm.stop() }
        let result = try ProcessRunner.run(
            wrapper[0], Array(wrapper.dropFirst()) + [
                AgentProcess.executable.path, "--transport", "unix:/tmp/ks-nolock-\(UUID().uuidString.prefix(8)).sock",
                "--tcti", "swtpm:host=127.0.0.1,port=\(tpm.port)",
            ] + CustodianAgentTests.pins, timeout: 60)
        #expect(result.status == 71, "\(result.combinedOutput)")
        #expect(result.standardError.contains("cannot lock memory (mlockall"), "\(result.standardError)")
        #expect(result.standardError.contains("--no-mlock"))

        // The same limits with --no-mlock: the agent starts and serves.
        let unlocked = try AgentProcess.start(extraArguments: ["--no-mlock"], wrapper: wrapper)
        defer { unlocked.stop() }
        #expect(unlocked.process.isRunning)
        #expect(unlocked.logText.contains("memory locking disabled by --no-mlock"))

        // The decision itself: each failure is fatal.
        #expect(throws: ProcessHardening.Failure.self) {
            try ProcessHardening.check(disableDumpingErrno: EINVAL, lockMemoryErrno: nil)
        }
        #expect(throws: ProcessHardening.Failure.self) {
            try ProcessHardening.check(disableDumpingErrno: nil, lockMemoryErrno: EPERM)
        }
        try ProcessHardening.check(disableDumpingErrno: nil, lockMemoryErrno: nil)
    }
}
