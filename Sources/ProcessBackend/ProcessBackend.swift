import AgentProtocol
import Attestation
import Coordinator
import CustodianBackend
import Foundation
import Logging
import Synchronization
import TPM2

#if canImport(Glibc)
    import Glibc
#endif

/// Custodians as local processes: each one a `keyshard-agent` on its own manufactured swtpm,
/// whose EK certificate chains to one local CA (`swtpm_localca`) that this backend makes once.
///
/// **It isolates nothing.** The agents are ordinary processes of this host: root (and the user
/// they run as) can read their memory and with it every share. It exists for development, tests
/// and `keyshardd --dev`; the libvirt backend is the one that keeps shares in VMs.
///
/// State lives under `<stateDirectory>/process/` (0700):
/// - `ca/`: the EK CA, created once and reused by every launch and every later daemon;
/// - `custodians/<backendID>/`: one custodian's TPM state (`tpm/`), the agent's socket
///   (`agent.sock`), the logs (`agent.log`, `swtpm.log`, `swtpm_setup.log`) and `record.json`,
///   which names the custodian and its two processes (pid and start time) for ``discover()``.
///
/// The processes run in sessions of their own, so they outlive the daemon (SIGKILL included) and
/// a restarted daemon rediscovers them; while the daemon lives, it reaps them as they exit.
public final class ProcessBackend: CustodianBackend {
    /// `process`.
    public let kind = "process"
    /// Custodians that stopped without ``destroy(_:)``, as ``monitor()`` notices them.
    public let events: AsyncStream<BackendEvent>
    /// `<stateDirectory>/process`.
    public let directory: String
    /// The name of ``attestationPolicy(for:)``'s policy, as audit records show it.
    public static let policyName = "process-backend-fresh-swtpm"

    private let continuation: AsyncStream<BackendEvent>.Continuation
    private let custodiansDirectory: String
    private let certificateAuthority: LocalEndorsementCA
    private let rootDigest: [UInt8]
    private let agentExecutable: String
    private let swtpmProgram: String
    private let logger: Logger
    private let state = Mutex(State())

    /// Opens (or creates) the backend's state and its EK CA; the first start takes seconds while
    /// the CA's keys are made.
    /// - Parameters:
    ///   - stateDirectory: the daemon's state directory (it must exist); this backend uses `process/` in it.
    ///   - agentExecutable: the `keyshard-agent` to run; nil takes the one beside the running program.
    ///   - logger: where launches, removals and the warning that this backend isolates nothing go.
    /// - Throws: ``BackendError/Code/unavailable`` when the agent, swtpm or swtpm_setup is missing or
    ///   the CA cannot be made; ``BackendError/Code/invalidConfiguration`` for an unusable state directory.
    public init(stateDirectory: String, agentExecutable: String? = nil, logger: Logger) throws(BackendError) {
        self.logger = logger
        let agent: String
        if let agentExecutable { agent = agentExecutable } else { agent = try Self.agentBesideExecutable() }
        guard Files.isExecutableFile(agent) else {
            throw BackendError(
                .unavailable,
                "the custodian agent \(agent) is missing or not executable: build it (swift build --product "
                    + "keyshard-agent) or name its path")
        }
        self.agentExecutable = agent
        guard let swtpm = Files.findProgram("swtpm"), let setup = Files.findProgram("swtpm_setup"),
            let localCA = Files.findProgram("swtpm_localca")
        else {
            throw BackendError(
                .unavailable,
                "swtpm, swtpm_setup or swtpm_localca is not installed (Debian: apt-get install swtpm swtpm-tools)")
        }
        self.swtpmProgram = swtpm

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: stateDirectory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw BackendError(.invalidConfiguration, "the state directory \(stateDirectory) does not exist")
        }
        directory = stateDirectory + "/process"
        custodiansDirectory = directory + "/custodians"
        for path in [directory, custodiansDirectory] {
            let made = Files.makePrivateDirectory(path)
            guard made == 0 || made == EEXIST else {
                throw BackendError(.invalidConfiguration, "cannot create \(path): \(String(cString: strerror(made)))")
            }
            // Custodian directories hold TPM state and the agents' sockets: nobody else may enter.
            guard chmod(path, 0o700) == 0 else {
                throw BackendError(.invalidConfiguration, "cannot make \(path) private (0700): \(String(cString: strerror(errno)))")
            }
        }
        // A daemon killed while it made the CA leaves its throwaway TPM behind.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(Self.caScratchPrefix) {
            Files.remove(directory + "/" + name)
        }
        certificateAuthority = try LocalEndorsementCA.open(
            directory: directory + "/ca", scratch: directory + "/" + Self.caScratchPrefix + UUID().uuidString,
            setupProgram: setup, localCAProgram: localCA, logger: logger)
        do {
            guard let digest = try CustodianPins.endorsementRootDigests(pemTexts: [certificateAuthority.rootPEM]).first
            else { throw BackendError(.unavailable, "the EK CA's root is not self-signed") }
            rootDigest = digest
        } catch {
            throw BackendError(.unavailable, "the EK CA's root \(certificateAuthority.rootPath) is unusable: \(error)")
        }
        (events, continuation) = AsyncStream.makeStream(of: BackendEvent.self)
        logger.warning(
            "\(Self.isolationWarning)",
            metadata: ["directory": "\(directory)", "agent": "\(agent)"])
    }

    deinit { continuation.finish() }

    // MARK: Trust

    /// The CA's root and issuing certificates, root first.
    public func endorsementRootsPEM() throws(BackendError) -> [String] {
        [certificateAuthority.rootPEM, certificateAuthority.issuerPEM]
    }

    /// A fresh swtpm measures nothing: the policy requires sha256 PCRs 0, 4 and 9 to be zero, and
    /// the EK to chain to this backend's CA. It proves that the quote came from one of this
    /// backend's TPMs, not what runs on it.
    /// - Throws: ``BackendError/Code/invalidConfiguration`` when `pins` do not pin this backend's
    ///   root (its custodians would refuse every recipient).
    public func attestationPolicy(for pins: CustodianPins) throws(BackendError) -> AttestationPolicy {
        try checkPins(pins)
        let zeros = [UInt8](repeating: 0, count: 32)
        return AttestationPolicy(
            name: Self.policyName,
            summary: "keyshard process backend: agents on fresh swtpms, which measure nothing (sha256 PCRs 0, 4 "
                + "and 9 all zero); isolates nothing, for development and tests only",
            pcrBank: .sha256, allowedPCRValues: [0: [zeros], 4: [zeros], 9: [zeros]],
            ekRoots: [certificateAuthority.rootPath, certificateAuthority.issuerPath])
    }

    // MARK: Lifecycle

    /// Manufactures a TPM, starts swtpm and the agent, and returns once the agent accepts connections.
    /// - Throws: ``BackendError/Code/invalidConfiguration`` for a ring name that cannot be part of a
    ///   directory name, a socket path too long, or pins without this backend's root;
    ///   ``BackendError/Code/launchFailed`` (with the end of the failing program's log) when the
    ///   generation was used before or anything fails. Nothing of the attempt is left running or on disk.
    public func launch(_ request: LaunchRequest) async throws(BackendError) -> CustodianRecord {
        let id = try Self.backendID(for: request)
        try checkPins(request.pins)
        let paths = CustodianPaths(directory: custodiansDirectory + "/" + id)
        guard paths.socket.utf8.count <= SocketProbe.maximumUnixPathLength else {
            throw BackendError(
                .invalidConfiguration,
                "the agent socket \(paths.socket) is longer than a Unix socket path may be "
                    + "(\(SocketProbe.maximumUnixPathLength) bytes): use a shorter state directory")
        }
        let reserved = state.withLock { $0.custodians[id] == nil && $0.launching.insert(id).inserted }
        guard reserved else { throw BackendError(.launchFailed, "\(id) is already running or being launched") }
        defer { _ = state.withLock { $0.launching.remove(id) } }
        let made = Files.makePrivateDirectory(paths.directory)
        guard made == 0 else {
            if made == EEXIST {
                throw BackendError(
                    .launchFailed,
                    "\(paths.directory) exists: generation \(request.generation) of ring \(request.ring) slot "
                        + "\(request.slot) was used by an earlier launch, whose state is never reused or deleted; "
                        + "launch with a new generation")
            }
            throw BackendError(.launchFailed, "cannot create \(paths.directory): \(String(cString: strerror(made)))")
        }
        var children: [ChildProcess] = []
        do {
            let record = try await start(request, id: id, paths: paths, children: &children)
            logger.info(
                "launched a process custodian",
                metadata: [
                    "custodian": "\(id)", "agent": "\(children.last?.identity.pid ?? 0)", "directory": "\(paths.directory)",
                ])
            return record
        } catch {
            for child in children.reversed() { child.kill(processGroup: true) }
            for child in children { _ = child.waitForExitBlocking(timeout: Self.exitTimeout) }
            Files.remove(paths.directory)
            let failure =
                error as? BackendError
                ?? BackendError(.launchFailed, error is CancellationError ? "the launch was cancelled" : "\(error)")
            logger.info("a process custodian failed to launch", metadata: ["custodian": "\(id)", "reason": "\(failure.reason)"])
            throw BackendError(.launchFailed, "\(id): \(failure.reason)")
        }
    }

    /// The running custodians under the state directory, whichever daemon started them. A record
    /// whose agent or swtpm is gone (pid and start time both checked, so a reused pid never counts)
    /// is cleaned up: what remains of its processes is killed and its directory removed.
    /// - Throws: ``BackendError/Code/unavailable`` when the custodians' directory cannot be read.
    public func discover() async throws(BackendError) -> [CustodianRecord] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: custodiansDirectory) } catch {
            throw BackendError(.unavailable, "cannot list \(custodiansDirectory): \(error)")
        }
        var found: [CustodianRecord] = []
        var stopped: [BackendEvent] = []
        for name in names.sorted() where Self.isBackendID(name) {
            let paths = CustodianPaths(directory: custodiansDirectory + "/" + name)
            let known: Custodian?? = state.withLock { state in
                if state.launching.contains(name) || state.custodians[name]?.destroying == true { return .none }
                return .some(state.custodians[name])
            }
            guard case .some(let tracked) = known else { continue }
            if let tracked {
                if tracked.isRunning {
                    found.append(tracked.record)
                    continue
                }
                if let event = markReported(name) { stopped.append(event) }
                await remove(name, processes: tracked.processes, paths: paths, reason: tracked.stoppedReason)
                continue
            }
            let file = CustodianFile.read(path: paths.record)
            let processes = [
                file?.agent.map { TrackedProcess.adopted(name: "agent", $0) },
                file?.swtpm.map { TrackedProcess.adopted(name: "swtpm", $0) },
            ]
            if let file, file.complete, file.record.backendID == name, case let (agent?, swtpm?) = (processes[0], processes[1]),
                agent.isRunning, swtpm.isRunning
            {
                let adopted = state.withLock { state in
                    if state.custodians[name] == nil {
                        state.custodians[name] = Custodian(record: file.record, agent: agent, swtpm: swtpm)
                    }
                    return state.custodians[name]?.record
                }
                if let adopted { found.append(adopted) }
                continue
            }
            let reason =
                file == nil
                ? "no readable record.json"
                : file?.complete == false
                    ? "its launch never finished" : "its agent or swtpm is no longer running"
            await remove(name, processes: processes.compactMap { $0 }, paths: paths, reason: reason)
        }
        for event in stopped { continuation.yield(event) }
        return found
    }

    /// SIGKILLs the agent and its swtpm (only processes whose pid and start time match the record),
    /// waits until they are gone and removes the custodian's directory. Idempotent.
    /// - Throws: ``BackendError/Code/invalidConfiguration`` for a record that is not this backend's;
    ///   ``BackendError/Code/destroyFailed`` when a process outlives SIGKILL or the directory stays.
    public func destroy(_ record: CustodianRecord) async throws(BackendError) {
        let id = record.backendID
        guard Self.isBackendID(id) else {
            throw BackendError(.invalidConfiguration, "\(id) is not the id of a process backend custodian")
        }
        let paths = CustodianPaths(directory: custodiansDirectory + "/" + id)
        let tracked = state.withLock { state -> Custodian? in
            state.custodians[id]?.destroying = true
            return state.custodians[id]
        }
        let processes =
            tracked?.processes
            ?? CustodianFile.read(path: paths.record).map { file in
                [
                    file.agent.map { TrackedProcess.adopted(name: "agent", $0) },
                    file.swtpm.map { TrackedProcess.adopted(name: "swtpm", $0) },
                ].compactMap { $0 }
            } ?? []
        for process in processes { process.kill() }
        if let survivor = await Self.waitUntilGone(processes) {
            state.withLock { $0.custodians[id]?.destroying = false }
            throw BackendError(
                .destroyFailed, "the \(survivor.name) of \(id) (pid \(survivor.identity.pid)) still runs after SIGKILL")
        }
        guard Files.remove(paths.directory) else {
            state.withLock { $0.custodians[id]?.destroying = false }
            throw BackendError(.destroyFailed, "cannot remove \(paths.directory)")
        }
        state.withLock { _ = $0.custodians.removeValue(forKey: id) }
        logger.info("destroyed a process custodian", metadata: ["custodian": "\(id)"])
    }

    /// Polls the custodians this backend launched or discovered (every 200 ms) and yields
    /// ``BackendEvent/stopped(backendID:reason:)`` once for each that stopped without
    /// ``destroy(_:)``, naming the process that died and, for this daemon's own children, how.
    /// Returns when the calling task is cancelled.
    public func monitor() async {
        while !Task.isCancelled {
            for event in collectStopped() { continuation.yield(event) }
            do { try await Task.sleep(for: Self.monitorInterval) } catch { return }
        }
    }

    // MARK: Launch steps

    private func start(
        _ request: LaunchRequest, id: String, paths: CustodianPaths, children: inout [ChildProcess]
    ) async throws -> CustodianRecord {
        guard Files.makePrivateDirectory(paths.tpmState) == 0 else {
            throw BackendError(.launchFailed, "cannot create \(paths.tpmState): \(String(cString: strerror(errno)))")
        }
        try await certificateAuthority.manufacture(state: paths.tpmState, work: paths.directory, log: paths.setupLog) {
            children.append($0)
        }
        let record = CustodianRecord(
            backendID: id, host: "localhost", ring: request.ring, slot: request.slot, generation: request.generation,
            transport: "unix:" + paths.socket, launchedAt: CustodianFile.launchTime())
        var file = CustodianFile(record: record, complete: false)

        let (swtpm, port) = try await startTPM(paths: paths, children: &children)
        file.swtpm = swtpm.identity
        file.swtpmPort = port
        try file.write(path: paths.record)

        let agent = try spawn(
            "agent", agentExecutable, Self.agentArguments(pins: request.pins, socket: paths.socket, port: port),
            log: paths.agentLog)
        children.append(agent)
        file.agent = agent.identity
        try file.write(path: paths.record)
        let listening = try await Self.waitUntil(timeout: Self.agentTimeout) {
            !agent.isRunning || !swtpm.isRunning || SocketProbe.acceptsUnix(path: paths.socket)
        }
        if let status = agent.exitStatus {
            throw BackendError(.launchFailed, "the agent \(status) before it listened; agent.log ends:\n" + Files.tail(paths.agentLog))
        }
        if let status = swtpm.exitStatus {
            throw BackendError(.launchFailed, "swtpm \(status) while the agent started; swtpm.log ends:\n" + Files.tail(paths.swtpmLog))
        }
        guard listening else {
            throw BackendError(
                .launchFailed,
                "the agent did not accept connections on \(paths.socket) within \(Self.agentTimeout); agent.log ends:\n"
                    + Files.tail(paths.agentLog))
        }
        file.complete = true
        try file.write(path: paths.record)
        state.withLock { state in
            state.custodians[id] = Custodian(record: record, agent: .child(agent), swtpm: .child(swtpm))
        }
        return record
    }

    /// Starts swtpm on a free port pair. The ports were free when picked, but anyone may bind them
    /// before swtpm does; swtpm then exits at once, and another pair is tried.
    private func startTPM(paths: CustodianPaths, children: inout [ChildProcess]) async throws -> (ChildProcess, Int) {
        for _ in 0..<Self.portAttempts {
            guard let port = SocketProbe.freePortPair() else {
                throw BackendError(.launchFailed, "found no two free consecutive loopback ports for swtpm")
            }
            let swtpm = try spawn(
                "swtpm", swtpmProgram,
                [
                    "socket", "--tpm2",
                    "--server", "type=tcp,bindaddr=127.0.0.1,port=\(port)",
                    "--ctrl", "type=tcp,bindaddr=127.0.0.1,port=\(port + 1)",
                    "--tpmstate", "dir=\(paths.tpmState)",
                    "--flags", "not-need-init,startup-clear",
                ], log: paths.swtpmLog)
            children.append(swtpm)
            let listening = try await Self.waitUntil(timeout: Self.swtpmTimeout) {
                !swtpm.isRunning || (SocketProbe.acceptsTCP(port: port) && SocketProbe.acceptsTCP(port: port + 1))
            }
            // Still running a moment after both ports answer: it bound them (it exits when a bind fails).
            if listening, swtpm.isRunning {
                try await Task.sleep(for: .milliseconds(50))
                if swtpm.isRunning { return (swtpm, port) }
            }
            if !listening {
                throw BackendError(
                    .launchFailed, "swtpm did not listen within \(Self.swtpmTimeout); swtpm.log ends:\n" + Files.tail(paths.swtpmLog))
            }
        }
        throw BackendError(
            .launchFailed, "swtpm exited on \(Self.portAttempts) port pairs; swtpm.log ends:\n" + Files.tail(paths.swtpmLog))
    }

    private func spawn(_ name: String, _ executable: String, _ arguments: [String], log: String) throws(BackendError)
        -> ChildProcess
    {
        do { return try ChildProcess.spawn(name: name, executable: executable, arguments: arguments, log: log) } catch {
            throw BackendError(.launchFailed, "\(error)")
        }
    }

    /// The agent's command line: the custodian's pins as options (a process has no measured kernel
    /// command line), the swtpm TCTI, and no event log (a fresh swtpm has none).
    static func agentArguments(pins: CustodianPins, socket: String, port: Int) -> [String] {
        [
            "--transport", "unix:" + socket,
            "--tcti", "swtpm:host=127.0.0.1,port=\(port)",
            "--pcrs", "sha256:0,4,9",
            "--event-log", "/nonexistent",
            "--coordinator-key", pins.coordinatorKey.hex,
        ]
            + pins.endorsementRootDigests.flatMap { ["--ek-root-sha256", $0.map { String(format: "%02x", $0) }.joined()] }
            + ["--min-threshold", "\(pins.minimumThreshold)"]
    }

    // MARK: Bookkeeping

    private func checkPins(_ pins: CustodianPins) throws(BackendError) {
        guard pins.endorsementRootDigests.contains(rootDigest) else {
            throw BackendError(
                .invalidConfiguration,
                "the custodian pins do not name this backend's EK root (\(certificateAuthority.rootPath)): its "
                    + "custodians would refuse every recipient; pin the digests of endorsementRootsPEM()")
        }
    }

    private func collectStopped() -> [BackendEvent] {
        state.withLock { state in
            var events: [BackendEvent] = []
            for (id, custodian) in state.custodians where !custodian.reported && !custodian.destroying {
                guard !custodian.isRunning else { continue }
                state.custodians[id]?.reported = true
                events.append(.stopped(backendID: id, reason: custodian.stoppedReason))
            }
            return events.sorted { "\($0)" < "\($1)" }
        }
    }

    private func markReported(_ id: String) -> BackendEvent? {
        state.withLock { state in
            guard let custodian = state.custodians[id], !custodian.reported, !custodian.destroying else { return nil }
            state.custodians[id]?.reported = true
            return .stopped(backendID: id, reason: custodian.stoppedReason)
        }
    }

    /// Kills what is left of a dead custodian and removes its directory (discovery's cleanup).
    private func remove(_ id: String, processes: [TrackedProcess], paths: CustodianPaths, reason: String) async {
        for process in processes { process.kill() }
        if let survivor = await Self.waitUntilGone(processes) {
            logger.warning(
                "a dead custodian's process outlived SIGKILL; its directory is kept",
                metadata: ["custodian": "\(id)", "process": "\(survivor.name)", "pid": "\(survivor.identity.pid)"])
            return
        }
        if Files.remove(paths.directory) {
            logger.info("removed a custodian that no longer runs", metadata: ["custodian": "\(id)", "reason": "\(reason)"])
        } else {
            logger.warning("cannot remove a dead custodian's directory", metadata: ["directory": "\(paths.directory)"])
        }
        state.withLock { _ = $0.custodians.removeValue(forKey: id) }
    }

    /// Waits until every process is gone, at most ``exitTimeout``.
    /// - Returns: one still running then, or nil.
    private static func waitUntilGone(_ processes: [TrackedProcess]) async -> TrackedProcess? {
        let deadline = ContinuousClock.now + exitTimeout
        while let running = processes.first(where: \.isRunning) {
            guard ContinuousClock.now < deadline else { return running }
            // A cancelled task still finishes its cleanup; after SIGKILL that takes milliseconds.
            if Task.isCancelled { usleep(2_000) } else { try? await Task.sleep(for: .milliseconds(5)) }
        }
        return nil
    }

    /// Polls `condition` until it holds or `timeout` passes.
    /// - Returns: whether it held.
    /// - Throws: `CancellationError`.
    private static func waitUntil(timeout: Duration, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// `ks-<ring>-<slot>-g<generation>`.
    /// - Throws: ``BackendError/Code/invalidConfiguration`` for a ring name outside
    ///   `[A-Za-z0-9._-]`, starting with anything but a letter or digit, or longer than 48 characters.
    static func backendID(for request: LaunchRequest) throws(BackendError) -> String {
        let ring = request.ring
        guard (1...48).contains(ring.utf8.count), ring.utf8.allSatisfy(isNameByte),
            let first = ring.utf8.first, isAlphanumeric(first)
        else {
            throw BackendError(
                .invalidConfiguration,
                "ring name \(ring.prefix(60).debugDescription) cannot name a process custodian: use 1 to 48 letters, "
                    + "digits, '.', '_' or '-', starting with a letter or digit")
        }
        guard request.slot >= 1 else { throw BackendError(.invalidConfiguration, "slot 0 is not a share index") }
        return "ks-\(ring)-\(request.slot)-g\(request.generation)"
    }

    /// Whether `name` can be a directory this backend made (and so may be removed by it).
    static func isBackendID(_ name: String) -> Bool {
        name.hasPrefix("ks-") && name.utf8.count <= 96 && name.utf8.allSatisfy(isNameByte)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// `keyshard-agent` in the directory of the running executable (`/proc/self/exe`).
    private static func agentBesideExecutable() throws(BackendError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else {
            throw BackendError(.unavailable, "cannot read /proc/self/exe to find keyshard-agent: name the agent's path")
        }
        let executable = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory + "/keyshard-agent"
    }

    private static let isolationWarning =
        "the process backend isolates nothing: custodians are plain local processes, and any local root can "
        + "read their memory and with it every share. Use it for development and tests only."
    private static let caScratchPrefix = "ca-setup-"
    private static let monitorInterval: Duration = .milliseconds(200)
    private static let swtpmTimeout: Duration = .seconds(10)
    private static let agentTimeout: Duration = .seconds(30)
    private static let exitTimeout: Duration = .seconds(5)
    private static let portAttempts = 5
}

/// One custodian's processes, as ``ProcessBackend`` tracks them.
private struct Custodian: Sendable {
    let record: CustodianRecord
    let agent: TrackedProcess
    let swtpm: TrackedProcess
    /// A `.stopped` event was yielded for it.
    var reported = false
    /// ``ProcessBackend/destroy(_:)`` is stopping it: its death is no event.
    var destroying = false

    var processes: [TrackedProcess] { [agent, swtpm] }
    var isRunning: Bool { agent.isRunning && swtpm.isRunning }

    /// Which of its processes died and how.
    var stoppedReason: String {
        processes.filter { !$0.isRunning }
            .map { "its \($0.name) (pid \($0.identity.pid)) \($0.exitDescription)" }
            .joined(separator: "; ")
    }
}

/// What ``ProcessBackend`` knows of its custodians.
private struct State: Sendable {
    var custodians: [String: Custodian] = [:]
    /// Ids whose launch is under way: discovery leaves their half-made directories alone.
    var launching: Set<String> = []
}

/// A custodian's process: a child this daemon started (exit status known, reaped), or one a
/// previous daemon started (known by pid and start time only).
enum TrackedProcess: Sendable {
    case child(ChildProcess)
    case adopted(name: String, ProcessIdentity)

    var name: String {
        switch self {
        case .child(let child): child.name
        case .adopted(let name, _): name
        }
    }

    var identity: ProcessIdentity {
        switch self {
        case .child(let child): child.identity
        case .adopted(_, let identity): identity
        }
    }

    var isRunning: Bool {
        switch self {
        case .child(let child): child.isRunning
        case .adopted(_, let identity): identity.isRunning
        }
    }

    /// How it ended (for a stopped one).
    var exitDescription: String {
        switch self {
        case .child(let child): child.exitStatus?.description ?? "is running"
        case .adopted: ExitStatus.unknown.description
        }
    }

    func kill() {
        switch self {
        case .child(let child): child.kill()
        case .adopted(_, let identity): identity.kill()
        }
    }
}
