import AgentProtocol
import Attestation
import Coordinator
import CustodianBackend
import Foundation
import Hypervisor
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Custodians as transient libvirt domains: the image `make image` built (Debian cloud kernel and
/// an initramfs with keyshard-agent), booted directly under OVMF with a swtpm vTPM, no disk and no
/// network, on one or more libvirt hosts.
///
/// The backend starts a domain, audits its live device model, waits until its agent answers, and
/// hands the engine the agent's transport; the engine attests and opens the session. It never sees
/// a share.
///
/// Files (``LibvirtBackendConfiguration/directory``, 0711: QEMU may pass through, nobody may list):
/// - `image/`: the staged image (0755/0644). QEMU runs as `libvirt-qemu`, which cannot read a
///   checkout under a private directory, so the image is copied here at every start.
/// - `instance`: this backend's owner name, written into every domain's metadata: discovery and
///   cleanup touch only domains this state directory owns, never another daemon's.
/// - `custodians/<domain>/`: NVRAM, console log, agent socket of one custodian; removed with it.
///
/// Domains are named `keyshard-<ring>-s<slot>-g<generation>`; the metadata carries ring, slot,
/// the generation (as the epoch field: a custodian lives across epochs), owner and launch time.
public final class LibvirtBackend: CustodianBackend {
    /// `libvirt`.
    public let kind = "libvirt"
    /// Custodians that stopped without ``destroy(_:)``, seen through libvirt's lifecycle events
    /// (and, after a lost connection, by listing the host again).
    public let events: AsyncStream<BackendEvent>
    /// The staged image every custodian boots.
    public let image: CustodianImage
    /// This backend's owner name (in every domain's metadata).
    public let owner: String
    /// The configuration.
    public let configuration: LibvirtBackendConfiguration

    private let continuation: AsyncStream<BackendEvent>.Continuation
    private let pool: HostPool
    private let logger: Logger
    private let state = Mutex(State())
    private let vhostVsockExists: Bool

    private struct State {
        /// Custodians this backend launched or discovered and has not destroyed.
        var known: [String: CustodianRecord] = [:]
        /// Accelerator per host URI, once probed.
        var virtualization: [String: VirtualizationProbe] = [:]
    }

    /// Stages the image, reads its policy and EK roots, and probes each reachable host's accelerator.
    /// - Parameters:
    ///   - configuration: hosts, image, policy, paths.
    ///   - logger: launches, probes and failures (never secrets).
    /// - Throws: ``BackendError/Code/invalidConfiguration`` for an image, policy, EK root or directory
    ///   that cannot be used (the reason names it and what QEMU could not reach);
    ///   ``BackendError/Code/unavailable`` for missing firmware.
    public init(configuration: LibvirtBackendConfiguration, logger: Logger) async throws(BackendError) {
        self.configuration = configuration
        self.logger = logger
        guard !configuration.hosts.isEmpty else {
            throw BackendError(.invalidConfiguration, "the libvirt backend needs at least one host")
        }
        for path in [configuration.firmwareCodePath, configuration.firmwareVariablesTemplatePath]
        where !FileManager.default.isReadableFile(atPath: path) {
            throw BackendError(.unavailable, "OVMF firmware \(path) is missing (Debian: apt-get install ovmf)")
        }
        let directory = configuration.directory
        try Self.makeReachableDirectory(directory, mayLoosen: configuration.stateDirectory)
        if configuration.hosts.contains(where: { $0.directory == nil }) {
            try Self.makeReachableDirectory(directory + "/custodians", mayLoosen: nil)
        }
        for host in configuration.hosts {
            if let hostDirectory = host.directory {
                if let problem = HostPathAccess.problemForOthers(hostDirectory) {
                    throw BackendError(
                        .invalidConfiguration, "host \(host.uri)'s directory \(hostDirectory) is out of QEMU's reach: \(problem)")
                }
            }
        }
        do {
            image = try CustodianImage.stage(from: configuration.imageDirectory, into: directory + "/image")
        } catch {
            throw BackendError(.invalidConfiguration, "the custodian image cannot be used: \(error.reason)")
        }
        guard image.agentKind == "keyshard-agent" else {
            throw BackendError(.invalidConfiguration, "the image's agent is a \(image.agentKind), not keyshard-agent")
        }
        owner = try Self.loadOrCreateOwner(directory + "/instance")
        // Each host's directory for this owner's custodians, owned like the host's directory.
        for host in configuration.hosts {
            let parent = host.directory ?? directory + "/custodians"
            let own = parent + "/" + owner
            if mkdir(own, 0o711) != 0, errno != EEXIST {
                throw BackendError(.invalidConfiguration, "cannot create \(own): \(String(cString: strerror(errno)))")
            }
            _ = chmod(own, 0o711)
            Self.giveOwnerOf(parent, to: own)
        }
        vhostVsockExists = FileManager.default.fileExists(atPath: configuration.vhostVsockPath)
        pool = HostPool(hosts: configuration.hosts.map { HostConfiguration(uri: $0.uri, maxCustodians: $0.maxCustodians) })
        (events, continuation) = AsyncStream.makeStream(of: BackendEvent.self, bufferingPolicy: .unbounded)
        // Fail now, not at the first launch, on a policy or root that cannot be read.
        _ = try imagePolicy()
        _ = try endorsementRootsPEM()
        if !image.initrdMatchesMeasurements() {
            logger.error(
                "the staged initrd's SHA-256 differs from measurements.json: every custodian will be refused at its first quote (PCR 4 and 9)",
                metadata: ["image": "\(configuration.imageDirectory)"])
        }
        if configuration.hosts.count == 1 {
            logger.warning(
                "one libvirt host: every custodian of every ring runs there, so no placement rule keeps t shares off one machine; list more hosts to spread rings",
                metadata: ["uri": "\(configuration.hosts[0].uri)"])
        }
        let transport = configuration.chosenTransport(vhostVsockExists: vhostVsockExists)
        let why =
            configuration.transport != .auto
            ? "configured" : transport == .vsock
                ? "\(configuration.vhostVsockPath) exists"
                : vhostVsockExists ? "a host other than qemu:///system cannot use vsock" : "\(configuration.vhostVsockPath) is missing"
        logger.notice("agent transport chosen", metadata: ["transport": "\(transport.rawValue)", "why": "\(why)"])
        for host in configuration.hosts {
            logger.notice("libvirt host", metadata: ["uri": "\(host.uri)", "max_custodians": "\(host.maxCustodians)"])
            _ = await virtualization(for: host.uri)
        }
    }

    deinit { continuation.finish() }

    // MARK: Trust

    /// Every host's EK roots and issuing CAs (files read now).
    public func endorsementRootsPEM() throws(BackendError) -> [String] {
        var texts: [String] = []
        for host in configuration.hosts {
            guard !host.endorsementRoots.isEmpty else {
                throw BackendError(
                    .invalidConfiguration, "host \(host.uri) names no EK roots (ek_roots): its vTPMs could not be trusted")
            }
            for path in host.endorsementRoots {
                guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
                    throw BackendError(
                        .invalidConfiguration,
                        "host \(host.uri)'s EK root \(path) cannot be read (libvirt's swtpm CA is made by "
                            + "scripts/start-libvirt or the first vTPM start)")
                }
                let text = String(decoding: data, as: UTF8.self)
                if !texts.contains(text) { texts.append(text) }
            }
        }
        return texts
    }

    /// The image's policy, with PCR 9 derived for the command line a custodian boots with `pins`.
    public func attestationPolicy(for pins: CustodianPins) throws(BackendError) -> AttestationPolicy {
        let policy = try imagePolicy()
        do {
            return try CustodianBootPolicy.derive(
                imagePolicy: policy, image: image, commandLine: try commandLine(pins: pins, transport: defaultTransport))
        } catch {
            throw BackendError(.invalidConfiguration, "no boot policy can be derived from \(configuration.imagePolicyPath): \(error.reason)")
        }
    }

    /// One transport for all hosts: a policy names one command line.
    private var defaultTransport: LibvirtBackendConfiguration.Transport {
        configuration.chosenTransport(vhostVsockExists: vhostVsockExists)
    }

    private func imagePolicy() throws(BackendError) -> AttestationPolicy {
        let path = configuration.imagePolicyPath
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
            throw BackendError(.invalidConfiguration, "the image policy \(path) cannot be read: build it with `make image`")
        }
        do {
            return try AttestationPolicy(yaml: String(decoding: data, as: UTF8.self), source: path)
        } catch {
            throw BackendError(.invalidConfiguration, "the image policy \(path) is invalid: \(error)")
        }
    }

    /// The image's base command line with the transport word for `transport`, then the pins.
    func commandLine(pins: CustodianPins, transport: LibvirtBackendConfiguration.Transport) throws(CoordinatorError)
        -> String
    {
        let word: String
        switch transport {
        case .vsock: word = "keyshard.transport=" + TransportSpecification.vsockListen(port: configuration.vsockPort).description
        case .virtioSerial, .auto:
            word = "keyshard.transport=" + TransportSpecification.virtioSerial(name: CustodianDomainSpec.agentChannelName).description
        }
        var words = image.commandLine.split(separator: " ").map(String.init).filter { !$0.hasPrefix("keyshard.transport=") }
        words.append(word)
        return try pins.commandLine(base: words.joined(separator: " "))
    }

    /// The EK the custodian attested with must be one libvirt's swtpm_setup made for its domain
    /// (hosts whose swtpm logs are readable here): evidence relayed from another TPM is refused.
    public func checkAdmission(_ record: CustodianRecord, attested: AttestedCustodian) async throws(BackendError) {
        guard let host = configuration.hosts.first(where: { $0.uri == record.host }), let logs = host.swtpmLogDirectory
        else { return }
        let manufactured: SwtpmManufacturingLog
        do {
            manufactured = try SwtpmManufacturingLog(domainName: record.backendID, directory: logs)
        } catch {
            throw BackendError(.launchFailed, "\(record.backendID): \(error.reason)")
        }
        guard manufactured.contains(attested.endorsementKey) else {
            throw BackendError(
                .launchFailed,
                "\(record.backendID) attested with an EK that is not one libvirt's swtpm_setup made for its vTPM: "
                    + "the evidence comes from another TPM")
        }
    }

    // MARK: Placement

    /// Surveys the hosts and spreads the slots so no machine holds `threshold` of the custodians
    /// that will share an epoch (the companions count where they run; other custodians of the ring,
    /// e.g. the old set during a rotation, hold shares of another epoch and do not).
    ///
    /// With one host there is nothing to spread over: every custodian goes there (the start-up log
    /// says that this host then reaches every share, which the VMs' isolation alone protects).
    public func place(_ request: PlacementRequest) async throws(BackendError) -> [UInt16: String] {
        if configuration.hosts.count == 1 {
            return Dictionary(uniqueKeysWithValues: request.slots.map { ($0, configuration.hosts[0].uri) })
        }
        var members: [String: Int] = [:]
        for companion in request.companions { members[companion.host, default: 0] += 1 }
        let plan: PlacementPlan
        do {
            plan = try await pool.planPlacement(
                threshold: request.threshold, shareIndices: request.slots, ringMembers: { members[$0.host.uri] ?? 0 })
        } catch {
            throw BackendError(.placementImpossible, "ring \(request.ring): \((error as HypervisorError).reason)")
        }
        for unreachable in plan.unreachableHosts {
            logger.warning("a libvirt host is unreachable; placing without it", metadata: ["uri": "\(unreachable.host.uri)"])
        }
        return Dictionary(uniqueKeysWithValues: plan.assignments.map { ($0.shareIndex, $0.hostURI) })
    }

    // MARK: Lifecycle

    /// Creates the domain, audits it, and waits until its agent answers.
    public func launch(_ request: LaunchRequest) async throws(BackendError) -> CustodianRecord {
        let hostURI: String
        if let chosen = request.host {
            hostURI = chosen
        } else {
            let placed = try await place(
                PlacementRequest(ring: request.ring, threshold: Int.max, slots: [request.slot], companions: []))
            hostURI = placed[request.slot] ?? configuration.hosts[0].uri
        }
        guard let host = configuration.hosts.first(where: { $0.uri == hostURI }) else {
            throw BackendError(.invalidConfiguration, "host \(hostURI) is not configured")
        }
        let name = "\(CustodianDomainSpec.domainNamePrefix)\(request.ring)-s\(request.slot)-g\(request.generation)"
        let transport = defaultTransport
        let launchedAt = Date()
        let spec: CustodianDomainSpec
        let directory = custodianDirectory(name, on: host)
        do {
            let identity = try CustodianIdentity(ring: request.ring, shareIndex: request.slot, epoch: request.generation)
            let probe = await virtualization(for: host.uri)
            spec = CustodianDomainSpec(
                identity: identity, name: name, virtualization: probe.virtualization, memoryMiB: image.memoryMiB,
                vcpus: configuration.vcpus,
                boot: .init(
                    kernelPath: image.kernelPath, initrdPath: image.initrdPath,
                    commandLine: try commandLine(pins: request.pins, transport: transport)),
                firmware: .init(
                    loaderPath: configuration.firmwareCodePath,
                    nvramTemplatePath: configuration.firmwareVariablesTemplatePath, nvramPath: directory + "/nvram.fd"),
                transport: transport == .vsock
                    ? .vsock(cid: nil) : .virtioSerial(socketPath: directory + "/agent.sock"),
                consoleLogPath: directory + "/console.log",
                annotations: try CustodianAnnotations(
                    owner: owner, launchedAtSeconds: Int64(launchedAt.timeIntervalSince1970), generation: request.generation))
            try spec.validate()
        } catch let error as HypervisorError {
            throw BackendError(.invalidConfiguration, "\(name): \(error.reason)")
        } catch let error as CoordinatorError {
            throw BackendError(.invalidConfiguration, "\(name): \(error.reason)")
        } catch {
            throw BackendError(.invalidConfiguration, "\(name): \(error)")
        }
        if case .virtioSerial(let socketPath) = spec.transport,
            socketPath.utf8.count > TransportSpecification.maximumUnixPathLength
        {
            throw BackendError(
                .invalidConfiguration,
                "\(name)'s agent socket \(socketPath) is longer than a Unix socket path may be "
                    + "(\(TransportSpecification.maximumUnixPathLength) bytes): use a shorter ring name, state directory "
                    + "or host directory")
        }
        // 0711: QEMU opens the NVRAM by path; nobody lists the directory.
        guard mkdir(directory, 0o711) == 0 else {
            let reason =
                errno == EEXIST
                ? "\(directory) exists: generation \(request.generation) was used by an earlier launch; launch with a new generation"
                : "cannot create \(directory): \(String(cString: strerror(errno)))"
            throw BackendError(.launchFailed, reason)
        }
        _ = chmod(directory, 0o711)
        // A session libvirtd of another user creates the NVRAM and the socket in here.
        Self.giveOwnerOf((directory as NSString).deletingLastPathComponent, to: directory)
        let clock = ContinuousClock()
        let started = clock.now
        var domain: Domain?
        do {
            let created = try await withHost(host.uri) { connection in try connection.createCustodian(spec) }
            domain = created
            try await offCooperativePool { try created.admit(as: spec) }
            let endpoint = try await offCooperativePool { try created.agentEndpoint() }
            let specification: TransportSpecification
            switch endpoint {
            case .virtioSerial(let path): specification = .unix(path: path)
            case .vsock(let cid): specification = .vsock(cid: cid, port: configuration.vsockPort)
            }
            try await waitUntilServing(specification, domain: created, consoleLog: directory + "/console.log")
            let record = CustodianRecord(
                backendID: name, host: host.uri, ring: request.ring, slot: request.slot, generation: request.generation,
                transport: specification.description, launchedAt: launchedAt)
            state.withLock { $0.known[name] = record }
            logger.info(
                "custodian VM serving",
                metadata: [
                    "custodian": "\(name)", "host": "\(host.uri)", "virtualization": "\(spec.virtualization.rawValue)",
                    "seconds": "\(clock.now - started)",
                ])
            return record
        } catch {
            let console = Self.tail(of: directory + "/console.log")
            if let domain { _ = try? domain.destroy() }
            try? FileManager.default.removeItem(atPath: directory)
            let reason: String
            switch error {
            case let error as BackendError: reason = error.reason
            case let error as CoordinatorError: reason = error.reason
            case let error as HypervisorError: reason = error.reason
            case let error as LibvirtError: reason = error.message
            case is CancellationError: reason = "the launch was cancelled"
            default: reason = "\(error)"
            }
            logger.warning("custodian VM failed to start", metadata: ["custodian": "\(name)", "reason": "\(reason)"])
            throw BackendError(
                .launchFailed, "\(name) on \(host.uri): \(reason)" + (console.isEmpty ? "" : "; its console ended: \(console)"))
        }
    }

    /// Every running domain this backend owns on the hosts that answer. Directories of custodians
    /// that no longer run are removed once every host has answered.
    public func discover() async throws(BackendError) -> [CustodianRecord] {
        var found: [CustodianRecord] = []
        var everyHostAnswered = true
        for host in configuration.hosts {
            let discovered: [DiscoveredCustodian]
            do {
                discovered = try await withHost(host.uri) { connection in try connection.discoverCustodians().custodians }
            } catch {
                everyHostAnswered = false
                logger.warning("a libvirt host did not answer discovery", metadata: ["uri": "\(host.uri)", "error": "\(error)"])
                continue
            }
            for custodian in discovered where custodian.annotations?.owner == owner {
                guard let annotations = custodian.annotations else { continue }
                let transport: String
                do {
                    switch try await offCooperativePool({ try custodian.domain.agentEndpoint() }) {
                    case .virtioSerial(let path): transport = TransportSpecification.unix(path: path).description
                    case .vsock(let cid): transport = TransportSpecification.vsock(cid: cid, port: configuration.vsockPort).description
                    }
                } catch {
                    logger.warning("a custodian domain has no agent endpoint; destroying it", metadata: ["custodian": "\(custodian.domain.name)"])
                    let domain = custodian.domain
                    _ = try? await offCooperativePool { try domain.destroy() }
                    continue
                }
                found.append(
                    CustodianRecord(
                        backendID: custodian.domain.name, host: host.uri, ring: custodian.identity.ring,
                        slot: custodian.identity.shareIndex, generation: annotations.generation, transport: transport,
                        launchedAt: Date(timeIntervalSince1970: TimeInterval(annotations.launchedAtSeconds))))
            }
        }
        state.withLock { state in for record in found { state.known[record.backendID] = record } }
        if everyHostAnswered {
            let running = Set(found.map(\.backendID))
            for host in configuration.hosts {
                // Only this owner's directories: another daemon may share the host's directory.
                let parent = custodiansDirectory(on: host)
                for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                where name.hasPrefix(CustodianDomainSpec.domainNamePrefix) && !running.contains(name)
                    && state.withLock({ $0.known[name] == nil })
                {
                    try? FileManager.default.removeItem(atPath: parent + "/" + name)
                }
            }
        }
        return found
    }

    /// Destroys the domain (gone already counts as destroyed) and removes its directory.
    public func destroy(_ record: CustodianRecord) async throws(BackendError) {
        state.withLock { _ = $0.known.removeValue(forKey: record.backendID) }
        do {
            try await withHost(record.host) { connection in
                guard let domain = try connection.domain(named: record.backendID) else { return }
                do {
                    try domain.destroy()
                } catch let error as LibvirtError where error.code == .noDomain || error.code == .operationInvalid {
                    // Gone between the lookup and the destroy: destroyed all the same.
                }
            }
        } catch {
            throw BackendError(.destroyFailed, "destroying \(record.backendID) on \(record.host) failed (it may still run): \(error)")
        }
        if let host = configuration.hosts.first(where: { $0.uri == record.host }) {
            try? FileManager.default.removeItem(atPath: custodianDirectory(record.backendID, on: host))
        }
    }

    // MARK: Events

    /// Runs libvirt's event loop (unless one runs) and a monitor per host until cancelled, turning
    /// lifecycle events of known custodians that stopped into ``events``; after a reconnection it
    /// lists the host and reports known custodians that vanished while it was away.
    public func monitor() async {
        await withDiscardingTaskGroup { group in
            if !LibvirtEventLoop.isRunning {
                let loop = LibvirtEventLoop(logger: logger)
                group.addTask { try? await loop.run() }
            }
            for host in configuration.hosts {
                let monitor = HostMonitor(uri: host.uri, logger: logger)
                group.addTask { try? await monitor.run() }
                group.addTask {
                    for await event in monitor.events { await self.handle(event) }
                }
            }
        }
    }

    private func handle(_ event: HostEvent) async {
        switch event {
        case .lifecycle(let lifecycle) where lifecycle.meansCustodianLost:
            if lifecycle.domainName.hasPrefix(CustodianDomainSpec.domainNamePrefix) {
                logger.notice(
                    "libvirt lifecycle event",
                    metadata: ["domain": "\(lifecycle.domainName)", "uri": "\(lifecycle.connectionURI)", "event": "\(lifecycle.kind)"])
            }
            let record = state.withLock { state -> CustodianRecord? in
                guard let record = state.known[lifecycle.domainName], record.host == lifecycle.connectionURI else { return nil }
                state.known.removeValue(forKey: lifecycle.domainName)
                return record
            }
            if let record {
                continuation.yield(.stopped(backendID: record.backendID, reason: "libvirt reports it \(lifecycle.kind) on \(record.host)"))
            }
        case .connected(let uri, _):
            let running: Set<String>
            do {
                running = Set(try await withHost(uri) { connection in
                    try connection.activeDomains(namePrefix: CustodianDomainSpec.domainNamePrefix).map(\.name)
                })
            } catch { return }
            let vanished = state.withLock { state -> [CustodianRecord] in
                let gone = state.known.values.filter { $0.host == uri && !running.contains($0.backendID) }
                for record in gone { state.known.removeValue(forKey: record.backendID) }
                return gone
            }
            for record in vanished {
                continuation.yield(.stopped(backendID: record.backendID, reason: "its domain is gone from \(uri) (seen after reconnecting)"))
            }
        case .connectionLost(let uri, _):
            logger.warning("lost the connection to a libvirt host; reconnecting", metadata: ["uri": "\(uri)"])
        case .lifecycle:
            break
        }
    }

    // MARK: Helpers

    /// The accelerator for a host: the configured one, or the probe's (run once per host and said once).
    private func virtualization(for uri: String) async -> VirtualizationProbe {
        switch configuration.virtualization {
        case .kvm: return VirtualizationProbe(virtualization: .kvm, reason: "configured")
        case .qemu: return VirtualizationProbe(virtualization: .qemu, reason: "configured")
        case .auto: break
        }
        if let known = state.withLock({ $0.virtualization[uri] }) { return known }
        let connection: Connection
        do {
            connection = try await offCooperativePool { [pool] in try pool.connection(to: uri) }
        } catch {
            return VirtualizationProbe(virtualization: .qemu, reason: "host unreachable; not probed yet")
        }
        let probe = await VirtualizationProbe.probe(
            connection, firmwareCodePath: configuration.firmwareCodePath,
            firmwareVariablesTemplatePath: configuration.firmwareVariablesTemplatePath,
            scratchDirectory: configuration.hosts.first { $0.uri == uri }.map(custodiansDirectory(on:)) ?? configuration.directory)
        let first = state.withLock { state -> Bool in
            defer { state.virtualization[uri] = probe }
            return state.virtualization[uri] == nil
        }
        if first {
            logger.notice(
                "custodian virtualization chosen",
                metadata: ["uri": "\(uri)", "virtualization": "\(probe.virtualization == .kvm ? "kvm" : "tcg")", "why": "\(probe.reason)"])
        }
        return probe
    }

    /// Runs `body` on the host's connection off the cooperative pool; a connection lost to a
    /// libvirtd restart is reopened once.
    private func withHost<Result: Sendable>(
        _ uri: String, _ body: @escaping @Sendable (Connection) throws -> Result
    ) async throws -> Result {
        let pool = self.pool
        return try await offCooperativePool {
            do {
                return try body(try pool.connection(to: uri))
            } catch let error as LibvirtError where error.isConnectionLost {
                return try body(try pool.connection(to: uri))
            }
        }
    }

    /// Waits until the agent serves, then returns without having talked to it: QEMU takes one
    /// client on a virtio-serial socket, and a probe connection closed just before the engine's
    /// own would race the agent's reopening of its port (the engine's connection was seen closed).
    /// The agent says `[CustodianAgent] listening` on its serial console once its port is open;
    /// that line is only a hint (the guest could print it early; the engine's attestation decides).
    /// Where the console cannot be read here, the agent is asked `session-hello` instead. Gives up
    /// when the domain stops or ``LibvirtBackendConfiguration/bootTimeout`` passes.
    private func waitUntilServing(
        _ specification: TransportSpecification, domain: Domain, consoleLog: String
    ) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + configuration.bootTimeout
        while clock.now < deadline {
            if Self.consoleSaysListening(consoleLog) { return }
            if !FileManager.default.isReadableFile(atPath: consoleLog), clock.now > started + .seconds(5) {
                return try await probeServing(specification)
            }
            guard case .running = try await offCooperativePool({ try domain.state() }) else {
                throw BackendError(.launchFailed, "the domain stopped before its agent served")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BackendError(.launchFailed, "the agent did not start serving within \(configuration.bootTimeout)")
    }

    /// Asks the agent `session-hello` until it answers (hosts whose console is not readable here).
    private func probeServing(_ specification: TransportSpecification) async throws {
        let options = AgentConnectionOptions(requestTimeout: TimeAmount(configuration.bootTimeout), logger: logger)
        let client = try await AgentClient.connect(to: specification, options: options)
        do {
            try await CustodianLauncher.waitUntilServing(client, timeout: configuration.bootTimeout)
        } catch {
            try? await client.close()
            throw error
        }
        try? await client.close()
    }

    static let listeningLine = Array("[CustodianAgent] listening".utf8)

    static func consoleSaysListening(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        // The boot log is a few tens of KiB; never read more than 1 MiB of it.
        guard let data = try? handle.read(upToCount: 1 << 20) else { return false }
        return data.firstRange(of: listeningLine) != nil
    }

    private func custodianDirectory(_ name: String, on host: LibvirtBackendConfiguration.Host) -> String {
        custodiansDirectory(on: host) + "/" + name
    }

    /// This owner's custodian directories on a host: `<host directory>/<owner>`.
    private func custodiansDirectory(on host: LibvirtBackendConfiguration.Host) -> String {
        (host.directory ?? configuration.directory + "/custodians") + "/" + owner
    }

    /// Gives `path` the owner and group of `parent` when they are not this process's (a session
    /// libvirtd of another user must create files in it).
    static func giveOwnerOf(_ parent: String, to path: String) {
        var info = stat()
        if stat(parent, &info) == 0, info.st_uid != geteuid() {
            _ = chown(path, info.st_uid, info.st_gid)
        }
    }

    /// Creates `path` if needed and gives others search permission (0711), so QEMU reaches what is
    /// inside but cannot list it. Its parent gets search permission for others only when it is
    /// `mayLoosen` (the daemon's state directory); any ancestor QEMU cannot pass is refused.
    static func makeReachableDirectory(_ path: String, mayLoosen: String?) throws(BackendError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BackendError(.invalidConfiguration, "cannot create \(path): \(error)")
        }
        let parent = (path as NSString).deletingLastPathComponent
        var info = stat()
        // The daemon's state directory is 0700; QEMU must pass through it (its files stay 0600).
        if let mayLoosen, (parent as NSString).standardizingPath == (mayLoosen as NSString).standardizingPath,
            stat(parent, &info) == 0, info.st_uid == geteuid(), info.st_mode & S_IXOTH == 0
        {
            _ = chmod(parent, mode_t(info.st_mode & 0o7777) | S_IXOTH)
        }
        guard chmod(path, 0o711) == 0 else {
            throw BackendError(.invalidConfiguration, "cannot make \(path) 0711: \(String(cString: strerror(errno)))")
        }
        if let problem = HostPathAccess.problemForOthers(path) {
            throw BackendError(
                .invalidConfiguration,
                "QEMU (user libvirt-qemu under qemu:///system) could not reach \(path): \(problem); put the state "
                    + "directory or backend.libvirt.directory under a path others may search, such as /var/lib/keyshard")
        }
    }

    static func loadOrCreateOwner(_ path: String) throws(BackendError) -> String {
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
            if (try? CustodianAnnotations(owner: text, launchedAtSeconds: 0, generation: 0)) != nil { return text }
            throw BackendError(.invalidConfiguration, "\(path) does not hold an owner name; remove it only if no custodian runs")
        }
        let name = "ksd-" + UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: "")
        guard FileManager.default.createFile(atPath: path, contents: Data((name + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw BackendError(.invalidConfiguration, "cannot write \(path)") }
        return name
    }

    /// The last lines of a console log, for a launch failure's reason.
    static func tail(of path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return "" }
        let lines = String(decoding: data.suffix(2048), as: UTF8.self).split(separator: "\n").suffix(3)
        return lines.joined(separator: " | ")
    }
}
