import AgentProtocol
import Coordinator
import CustodianBackend
import Foundation
import Logging
import ProcessBackend
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real custodians: `keyshard-agent` processes on manufactured swtpms, started, attested,
/// rediscovered, killed and destroyed. Each test has its own state directory (and so its own EK CA,
/// which takes seconds to make) and leaves no process and no file behind.
@Suite("ProcessBackend", .serialized)
struct ProcessBackendTests {
    @Test("two custodians attest against the backend's CA, pins and policy; a new backend rediscovers them")
    func launchAttestRediscover() async throws {
        try await Fixture.with { fixture in
            let backend = fixture.backend
            let roots = try backend.endorsementRootsPEM()
            #expect(roots.count == 2)
            // Root first: it alone is self-signed.
            #expect(try CustodianPins.endorsementRootDigests(pemTexts: [roots[0]]).count == 1)
            #expect(throws: CoordinatorError.self) { try CustodianPins.endorsementRootDigests(pemTexts: [roots[1]]) }

            let first = try await backend.launch(fixture.request(slot: 1, generation: 1))
            let second = try await backend.launch(fixture.request(slot: 2, generation: 1))
            #expect(first.backendID == "ks-ring-a-1-g1")
            #expect(second.backendID == "ks-ring-a-2-g1")
            #expect(first.host == "localhost" && first.ring == "ring-a" && first.slot == 1 && first.generation == 1)
            #expect(first.transport == "unix:" + fixture.custodianDirectory(first) + "/agent.sock")
            for path in [fixture.processDirectory, fixture.processDirectory + "/custodians", fixture.custodianDirectory(first)] {
                #expect(fixture.mode(of: path) == 0o700, "\(path) must be private")
            }

            // Both processes run in sessions of their own: a signal to the daemon's group (or its
            // death) does not reach them.
            for record in [first, second] {
                for process in ["agent", "swtpm"] {
                    let pid = try #require(fixture.pid(of: record, process))
                    #expect(fixture.session(of: pid) == pid, "\(process) leads its own session")
                    #expect(fixture.session(of: pid) != getsid(0))
                }
            }

            let policy = try backend.attestationPolicy(for: fixture.pins)
            #expect(policy.name == ProcessBackend.policyName)
            let attestor = CustodianAttestor(policy: policy, identity: fixture.identity, endorsementRootsPEM: roots)
            var fingerprints: [CustodianFingerprint] = []
            for record in [first, second] {
                let client = try await AgentClient.connect(to: try TransportSpecification(parsing: record.transport))
                do {
                    fingerprints.append(try await attestor.attest(client).fingerprint)
                } catch {
                    try? await client.close()
                    throw error
                }
                try await client.close()
            }
            #expect(fingerprints[0].endorsementKeyName != fingerprints[1].endorsementKeyName, "each has its own TPM")

            // A restarted daemon: the same CA, the same custodians.
            let signingKey = fixture.processDirectory + "/ca/signkey.pem"
            let signingKeyBefore = try Data(contentsOf: URL(fileURLWithPath: signingKey))
            let restarted = try fixture.makeBackend()
            #expect(try restarted.endorsementRootsPEM() == roots)
            #expect(try Data(contentsOf: URL(fileURLWithPath: signingKey)) == signingKeyBefore)
            let discovered = try await restarted.discover()
            #expect(discovered == [first, second])

            // Destroy through the restarted backend, which did not start the processes.
            let pids = [first, second].flatMap { record in ["agent", "swtpm"].compactMap { fixture.pid(of: record, $0) } }
            #expect(pids.count == 4)
            for record in discovered { try await restarted.destroy(record) }
            for pid in pids { #expect(fixture.waitUntilReaped(pid), "pid \(pid) still there after destroy") }
            for record in discovered {
                #expect(!FileManager.default.fileExists(atPath: fixture.custodianDirectory(record)))
            }
            #expect(try await restarted.discover().isEmpty)
            // Destroying again, through either backend, succeeds.
            try await restarted.destroy(first)
            try await backend.destroy(second)
            #expect(try await backend.discover().isEmpty)
        }
    }

    @Test("a SIGKILLed agent is reported once; destroy is no event; discovery kills the orphaned swtpm")
    func monitorReportsStoppedCustodian() async throws {
        try await Fixture.with { fixture in
            let backend = fixture.backend
            let victim = try await backend.launch(fixture.request(slot: 1, generation: 1))
            let bystander = try await backend.launch(fixture.request(slot: 2, generation: 1))
            let agent = try #require(fixture.pid(of: victim, "agent"))
            let swtpm = try #require(fixture.pid(of: victim, "swtpm"))

            var cancelled = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await backend.monitor() }
                defer { cancelled = ContinuousClock.now }
                try await backend.destroy(bystander)
                #expect(kill(agent, SIGKILL) == 0)
                let event = await nextEvent(backend.events, within: .seconds(10))
                guard case .stopped(let id, let reason)? = event else {
                    Issue.record("no stopped event within 10 s (got \(String(describing: event)))")
                    group.cancelAll()
                    return
                }
                #expect(id == victim.backendID)
                #expect(reason.contains("agent") && reason.contains("pid \(agent)") && reason.contains("SIGKILL"), "\(reason)")
                #expect(!reason.contains("swtpm"), "only the agent died: \(reason)")
                // Once per custodian: no second event while it stays dead.
                #expect(await nextEvent(backend.events, within: .seconds(1)) == nil)
                group.cancelAll()
            }
            #expect(ContinuousClock.now - cancelled < .seconds(2), "monitor() returns promptly when cancelled")

            // The agent is gone (reaped: no zombie), its swtpm still runs; a restarted daemon's
            // discovery kills the swtpm and removes the directory.
            #expect(fixture.isGone(agent))
            #expect(!fixture.isGone(swtpm))
            let restarted = try fixture.makeBackend()
            #expect(try await restarted.discover().isEmpty)
            #expect(fixture.waitUntilGone(swtpm))
            #expect(!FileManager.default.fileExists(atPath: fixture.custodianDirectory(victim)))
            try await backend.destroy(victim)
        }
    }

    @Test("a failing launch leaves nothing; a used generation or another attempt's directory is refused and kept")
    func launchRefusals() async throws {
        try await Fixture.with { fixture in
            // An agent that exits at once: the error carries its log, nothing of the attempt stays.
            let script = fixture.stateDirectory + "/failing-agent"
            try "#!/bin/sh\necho \"agent refuses: $1\" >&2\nexit 3\n".write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let failing = try fixture.makeBackend(agentExecutable: script)
            let failed = await fixture.launchError(failing, fixture.request(slot: 1, generation: 1))
            #expect(failed?.code == .launchFailed)
            #expect(failed?.reason.contains("exited with status 3") == true, "\(String(describing: failed))")
            #expect(failed?.reason.contains("agent refuses: --transport") == true, "\(String(describing: failed))")
            #expect(!FileManager.default.fileExists(atPath: fixture.processDirectory + "/custodians/ks-ring-a-1-g1"))
            #expect(fixture.processesUsingStateDirectory().isEmpty)

            // A generation already used: refused, and the running custodian is untouched.
            let running = try await fixture.backend.launch(fixture.request(slot: 1, generation: 2))
            let again = await fixture.launchError(fixture.backend, fixture.request(slot: 1, generation: 2))
            #expect(again?.code == .launchFailed)
            #expect(FileManager.default.fileExists(atPath: fixture.custodianDirectory(running) + "/record.json"))
            #expect(try await fixture.backend.discover() == [running])

            // Another attempt's directory (a crashed launch of this generation) is neither reused nor deleted.
            let stale = fixture.processDirectory + "/custodians/ks-ring-a-2-g3"
            try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: false)
            try "partial".write(toFile: stale + "/marker", atomically: true, encoding: .utf8)
            let collision = await fixture.launchError(fixture.backend, fixture.request(slot: 2, generation: 3))
            #expect(collision?.code == .launchFailed)
            #expect(collision?.reason.contains("new generation") == true, "\(String(describing: collision))")
            #expect(FileManager.default.fileExists(atPath: stale + "/marker"))
            try FileManager.default.removeItem(atPath: stale)

            // Pins that do not name this backend's root, and ring names that cannot be a directory.
            let foreign = try CustodianPins(
                coordinatorKey: fixture.identity.publicKey, endorsementRootDigests: [[UInt8](repeating: 7, count: 32)])
            let unpinned = await fixture.launchError(
                fixture.backend, LaunchRequest(ring: "ring-a", slot: 3, generation: 1, pins: foreign))
            #expect(unpinned?.code == .invalidConfiguration)
            #expect(throws: BackendError.self) { try fixture.backend.attestationPolicy(for: foreign) }
            for ring in ["../escape", "", ".hidden", "a/b", "ring with space"] {
                let refused = await fixture.launchError(
                    fixture.backend, LaunchRequest(ring: ring, slot: 1, generation: 9, pins: fixture.pins))
                #expect(refused?.code == .invalidConfiguration, "ring \(ring.debugDescription)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.processDirectory + "/custodians")
                == [running.backendID])
            try await fixture.backend.destroy(running)
            #expect(fixture.processesUsingStateDirectory().isEmpty)
        }
    }

    @Test("a missing or non-executable agent is refused before anything is created")
    func unavailableAgent() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ks-pb-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notExecutable = directory + "/keyshard-agent"
        try "not a program".write(toFile: notExecutable, atomically: true, encoding: .utf8)
        for agent in [directory + "/missing-agent", notExecutable] {
            do {
                _ = try ProcessBackend(stateDirectory: directory, agentExecutable: agent, logger: Logger(label: "test"))
                Issue.record("a backend with agent \(agent) was created")
            } catch {
                #expect(error.code == .unavailable)
                #expect(error.reason.contains(agent))
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["keyshard-agent"])
    }

    @Test("a record whose pid now belongs to another process is dropped, and that process is not killed")
    func reusedPidIsNotTheCustodian() async throws {
        try await Fixture.with { fixture in
            // This test's own process stands in for the unrelated process that reused the pid.
            let pid = getpid()
            let startTime = try #require(fixture.startTime(of: pid))
            let directory = fixture.processDirectory + "/custodians/ks-ring-a-1-g5"
            let record = fakeRecord(slot: 1, generation: 5, directory: directory, pid: pid, startTimes: (startTime + 1, startTime + 2))
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            try record.write(toFile: directory + "/record.json", atomically: true, encoding: .utf8)
            // A dead one too: a pid no process has.
            let dead = fixture.processDirectory + "/custodians/ks-ring-a-2-g5"
            try FileManager.default.createDirectory(atPath: dead, withIntermediateDirectories: false)
            try fakeRecord(slot: 2, generation: 5, directory: dead, pid: Int32.max - 1, startTimes: (1, 1))
                .write(toFile: dead + "/record.json", atomically: true, encoding: .utf8)

            #expect(try await fixture.backend.discover().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(!FileManager.default.fileExists(atPath: dead))
            // Still here, with the same identity: it was not killed (and neither record was taken for it).
            #expect(fixture.startTime(of: pid) == startTime)
            // A destroy naming the same record kills nothing either.
            let fake = CustodianRecord(
                backendID: "ks-ring-a-1-g5", host: "localhost", ring: "ring-a", slot: 1, generation: 5,
                transport: "unix:\(directory)/agent.sock", launchedAt: Date())
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            try record.write(toFile: directory + "/record.json", atomically: true, encoding: .utf8)
            try await fixture.backend.destroy(fake)
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(fixture.startTime(of: pid) == startTime)
        }
    }
}

/// A `record.json` as a launch writes it, naming `pid` with the given start times for agent and swtpm.
private func fakeRecord(slot: Int, generation: Int, directory: String, pid: Int32, startTimes: (UInt64, UInt64)) -> String {
    """
    {"version": 1, "complete": true, "swtpmPort": 2321,
     "record": {"backendID": "ks-ring-a-\(slot)-g\(generation)", "host": "localhost", "ring": "ring-a",
                "slot": \(slot), "generation": \(generation), "transport": "unix:\(directory)/agent.sock",
                "launchedAt": 1700000000000},
     "agent": {"pid": \(pid), "startTime": \(startTimes.0)},
     "swtpm": {"pid": \(pid), "startTime": \(startTimes.1)}}
    """
}

/// The next event of `events`, or nil when none comes within `timeout`.
private func nextEvent(_ events: AsyncStream<BackendEvent>, within timeout: Duration) async -> BackendEvent? {
    await withTaskGroup(of: BackendEvent?.self) { group in
        group.addTask {
            var iterator = events.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// A state directory in /tmp (short: the agent's socket path lives under it), a backend on it, and
/// a coordinator identity whose pins name the backend's CA.
private struct Fixture: Sendable {
    let stateDirectory: String
    let backend: ProcessBackend
    let identity: CoordinatorIdentity
    let pins: CustodianPins

    var processDirectory: String { stateDirectory + "/process" }

    /// Runs `body` with a fresh fixture; afterwards destroys every custodian still there, checks that
    /// no process uses the state directory any more, and removes it.
    static func with(_ body: (Fixture) async throws -> Void) async throws {
        let directory = "/tmp/ks-pb-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let fixture: Fixture
        do {
            let backend = try ProcessBackend(stateDirectory: directory, logger: Logger(label: "process-backend-test"))
            let identity = CoordinatorIdentity()
            let pins = try CustodianPins(
                coordinatorKey: identity.publicKey,
                endorsementRootDigests: try CustodianPins.endorsementRootDigests(pemTexts: backend.endorsementRootsPEM()))
            fixture = Fixture(stateDirectory: directory, backend: backend, identity: identity, pins: pins)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        var failure: (any Error)?
        do { try await body(fixture) } catch { failure = error }
        await fixture.cleanUp()
        if let failure { throw failure }
    }

    func makeBackend(agentExecutable: String? = nil) throws -> ProcessBackend {
        try ProcessBackend(stateDirectory: stateDirectory, agentExecutable: agentExecutable, logger: Logger(label: "process-backend-test"))
    }

    func request(slot: UInt16, generation: UInt64) -> LaunchRequest {
        LaunchRequest(ring: "ring-a", slot: slot, generation: generation, pins: pins)
    }

    func launchError(_ backend: ProcessBackend, _ request: LaunchRequest) async -> BackendError? {
        do {
            let record = try await backend.launch(request)
            Issue.record("launch of \(record) succeeded")
            try? await backend.destroy(record)
            return nil
        } catch { return error }
    }

    func custodianDirectory(_ record: CustodianRecord) -> String {
        processDirectory + "/custodians/" + record.backendID
    }

    /// The pid `record.json` names for `process` (`agent` or `swtpm`).
    func pid(of record: CustodianRecord, _ process: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: custodianDirectory(record) + "/record.json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let entry = object[process] as? [String: Any], let pid = entry["pid"] as? Int
        else { return nil }
        return Int32(pid)
    }

    func mode(of path: String) -> mode_t? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return status.st_mode & 0o7777
    }

    /// Fields after the command name in /proc/PID/stat (index 0 is field 3).
    private func statFields(_ pid: Int32) -> [Substring]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    func session(of pid: Int32) -> Int32? { statFields(pid).flatMap { Int32($0[3]) } }
    func startTime(of pid: Int32) -> UInt64? { statFields(pid).flatMap { UInt64($0[19]) } }

    /// Gone from /proc (not even a zombie: the backend reaps its children).
    func isGone(_ pid: Int32) -> Bool { !FileManager.default.fileExists(atPath: "/proc/\(pid)") }

    /// Waits up to 5 s until `pid` is gone from /proc: the backend reaps its children, even those
    /// another backend instance destroyed.
    func waitUntilReaped(_ pid: Int32) -> Bool {
        for _ in 0..<250 {
            if isGone(pid) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Waits up to 5 s until `pid` is gone from /proc or a zombie of a parent other than this process.
    func waitUntilGone(_ pid: Int32) -> Bool {
        for _ in 0..<250 {
            guard let fields = statFields(pid) else { return true }
            if fields[0] == "Z" && Int32(fields[1]) != getpid() { return true }
            usleep(20_000)
        }
        return false
    }

    /// Processes whose command line names this state directory (swtpm, the agent, swtpm_setup).
    func processesUsingStateDirectory() -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(stateDirectory + "/")
        }
    }

    func cleanUp() async {
        if let leftovers = try? await backend.discover() {
            for record in leftovers { try? await backend.destroy(record) }
        }
        let survivors = processesUsingStateDirectory()
        for pid in survivors { kill(pid, SIGKILL) }
        #expect(survivors.isEmpty, "processes left running: \(survivors)")
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }
}
