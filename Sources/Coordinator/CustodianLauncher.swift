import AgentProtocol
import Attestation
import Foundation
import Hypervisor
import NIOCore

/// Starts custodians on one libvirt host and admits them: create the transient domain, audit
/// the live device model, reach the agent over its virtio-serial channel, and run the
/// attestation ceremony. A custodian that fails any step is destroyed before anything else
/// can talk to it.
///
/// Every custodian boots with the image's base command line plus its pins
/// (``CustodianPins``: this coordinator's key from `attestor.identity`, the SHA-256 of the EK
/// root certificates among the policy's `ekRoots`, and ``Configuration/minimumThreshold``), and
/// is attested against the policy derived for exactly that command line
/// (``CustodianBootPolicy/derive(imagePolicy:image:commandLine:)``): `attestor.policy` is the
/// image's policy, whose PCR 9 cannot know the pins.
public struct CustodianLauncher: Sendable {
    /// Firmware and where per-custodian files go.
    public struct Configuration: Sendable {
        /// The OVMF code image (read-only pflash).
        public var firmwareCodePath = "/usr/share/OVMF/OVMF_CODE_4M.fd"
        /// The OVMF variable store template copied to each custodian's NVRAM.
        public var firmwareVariablesTemplatePath = "/usr/share/OVMF/OVMF_VARS_4M.fd"
        /// Under it each custodian gets a directory named after its domain (NVRAM, console log,
        /// agent socket). It must be reachable by the libvirt QEMU user.
        public var stateDirectory: String
        /// How long the agent may take to answer its first challenge (firmware, kernel and
        /// agent start; under TCG emulation tens of seconds).
        public var bootTimeout: Duration = .seconds(300)
        /// Virtual CPUs per custodian.
        public var vcpus = 1
        /// Where libvirt's swtpm logs are, to read the EKs `swtpm_setup` made for each custodian's
        /// vTPM (``SwtpmManufacturingLog``): the attested EK must be one of them. `nil` skips the pin
        /// (a remote host, whose logs are not here); the EK is then trusted on first admission.
        public var swtpmLogDirectory: String? = SwtpmManufacturingLog.libvirtLogDirectory
        /// The lowest threshold custodians accept for a key they hold (`keyshard.minthreshold=`).
        public var minimumThreshold = CustodianPins.lowestThreshold

        /// Creates a configuration.
        /// - Parameter stateDirectory: the parent of the per-custodian directories.
        public init(stateDirectory: String) { self.stateDirectory = stateDirectory }
    }

    /// The host.
    public let connection: Connection
    /// The image every custodian boots.
    public let image: CustodianImage
    /// The ceremony and its policy.
    public let attestor: CustodianAttestor
    /// Firmware and paths.
    public let configuration: Configuration
    /// Which TPM each custodian is: admission refuses an EK, AK or transport key another member has,
    /// and a re-admission with another EK.
    public let roster: RingRoster

    /// Creates a launcher.
    /// - Parameters:
    ///   - connection: the libvirt host.
    ///   - image: the image every custodian boots.
    ///   - attestor: the ceremony and its policy.
    ///   - configuration: firmware and paths.
    ///   - roster: the ring roster shared by every launcher of the coordinator (a new, empty one by default).
    public init(
        connection: Connection, image: CustodianImage, attestor: CustodianAttestor, configuration: Configuration,
        roster: RingRoster = RingRoster()
    ) {
        self.connection = connection
        self.image = image
        self.attestor = attestor
        self.configuration = configuration
        self.roster = roster
    }

    /// The pins every custodian of this launcher boots with.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` when no self-signed EK root is among
    ///   the attestor's roots (or the policy's `ekRoots` files, which must be readable), or the
    ///   minimum threshold is out of range.
    public func pins() throws(CoordinatorError) -> CustodianPins {
        var roots = attestor.endorsementRootsPEM
        if roots.isEmpty {
            for path in attestor.policy.ekRoots {
                guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
                    throw CoordinatorError(
                        .invalidConfiguration,
                        "the policy's EK root \(path) cannot be read (libvirt's swtpm CA is made by "
                            + "scripts/start-libvirt or the first vTPM start)")
                }
                roots.append(String(decoding: data, as: UTF8.self))
            }
        }
        return try CustodianPins(
            coordinatorKey: attestor.identity.publicKey,
            endorsementRootDigests: try CustodianPins.endorsementRootDigests(pemTexts: roots),
            minimumThreshold: configuration.minimumThreshold)
    }

    /// The command line every custodian boots with: the image's, then ``pins()``.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` (see ``pins()`` and
    ///   ``CustodianPins/commandLine(base:)``).
    public func bootCommandLine() throws(CoordinatorError) -> String {
        try pins().commandLine(base: image.commandLine)
    }

    /// The policy a custodian booted with ``bootCommandLine()`` is attested against.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` (see
    ///   ``CustodianBootPolicy/derive(imagePolicy:image:commandLine:)``).
    public func bootPolicy() throws(CoordinatorError) -> AttestationPolicy {
        try CustodianBootPolicy.derive(imagePolicy: attestor.policy, image: image, commandLine: try bootCommandLine())
    }

    /// The domain spec a custodian with this identity is created from.
    /// - Parameters:
    ///   - identity: ring, share index and epoch.
    ///   - commandLine: the kernel command line; ``bootCommandLine()`` when nil.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` from ``bootCommandLine()``.
    public func spec(for identity: CustodianIdentity, commandLine: String? = nil) throws(CoordinatorError)
        -> CustodianDomainSpec
    {
        let directory = custodianDirectory(identity.suggestedDomainName)
        let line: String
        if let commandLine { line = commandLine } else { line = try bootCommandLine() }
        return CustodianDomainSpec(
            identity: identity, memoryMiB: image.memoryMiB, vcpus: configuration.vcpus,
            boot: .init(kernelPath: image.kernelPath, initrdPath: image.initrdPath, commandLine: line),
            firmware: .init(
                loaderPath: configuration.firmwareCodePath,
                nvramTemplatePath: configuration.firmwareVariablesTemplatePath,
                nvramPath: directory + "/nvram.fd"),
            transport: .virtioSerial(socketPath: directory + "/agent.sock"),
            consoleLogPath: directory + "/console.log")
    }

    /// Creates, audits, reaches and attests one custodian.
    /// - Parameter identity: ring, share index and epoch.
    /// - Returns: the admitted custodian with its open agent connection.
    /// - Throws: ``CoordinatorError``: `.invalidImage` for a test-fixture image,
    ///   `.invalidConfiguration` when the pins, command line or boot policy cannot be made,
    ///   `.hypervisorFailed`, `.deviceAuditRefused`, `.agentUnreachable`, or the ceremony's errors
    ///   (`.sessionRefused` when the agent pins another coordinator). The domain is destroyed and
    ///   its directory removed on every failure.
    public func launch(_ identity: CustodianIdentity) async throws(CoordinatorError) -> LaunchedCustodian {
        guard image.agentKind == "keyshard-agent" else {
            throw CoordinatorError(.invalidImage, "the image's agent is a \(image.agentKind), not keyshard-agent")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let commandLine = try bootCommandLine()
        let bootAttestor = CustodianAttestor(
            policy: try CustodianBootPolicy.derive(
                imagePolicy: attestor.policy, image: image, commandLine: commandLine),
            identity: attestor.identity, endorsementRootsPEM: attestor.endorsementRootsPEM)
        let spec = try spec(for: identity, commandLine: commandLine)
        do {
            try spec.validate()
        } catch {
            throw CoordinatorError(.invalidConfiguration, "\(error)")
        }
        // Under qemu:///system QEMU runs as libvirt-qemu: say so before libvirt's "Permission denied".
        if connection.uri == "qemu:///system" {
            for path in [image.kernelPath, image.initrdPath] {
                if let problem = HostPathAccess.problemForOthers(path, readable: true) {
                    throw CoordinatorError(
                        .invalidConfiguration,
                        "QEMU (libvirt-qemu) cannot read the image: \(problem); stage it where it can "
                            + "(CustodianImage.stage(from:into:))")
                }
            }
        }
        let directory = custodianDirectory(spec.name)
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw CoordinatorError(.hypervisorFailed, "cannot create \(directory): \(error)")
        }

        let domain: Domain
        do {
            domain = try await offCooperativePool { try connection.createCustodian(spec) }
        } catch {
            var failure = CoordinatorError(.hypervisorFailed, "libvirt did not start \(spec.name): \(error)")
            if let cleanup = Self.removeDirectory(directory) {
                failure = CoordinatorError(.hypervisorFailed, failure.reason + "; " + cleanup)
            }
            throw failure
        }
        let created = clock.now
        var client: AgentClient?
        do throws(CoordinatorError) {
            do {
                try await offCooperativePool { try domain.admit(as: spec) }
            } catch {
                throw CoordinatorError(.deviceAuditRefused, "\(error)")
            }
            // libvirt manufactured the vTPM before QEMU started, so its log already names the EKs.
            var manufactured: SwtpmManufacturingLog?
            if let logs = configuration.swtpmLogDirectory {
                manufactured = try SwtpmManufacturingLog(domainName: spec.name, directory: logs)
            }
            let endpoint: AgentEndpoint
            do {
                endpoint = try await offCooperativePool { try domain.agentEndpoint() }
            } catch {
                throw CoordinatorError(.agentUnreachable, "no agent endpoint in \(spec.name): \(error)")
            }
            guard case .virtioSerial(let socketPath) = endpoint else {
                throw CoordinatorError(.agentUnreachable, "\(spec.name) has a vsock endpoint; this launcher speaks virtio-serial")
            }
            let options = AgentConnectionOptions(requestTimeout: TimeAmount(configuration.bootTimeout))
            do {
                client = try await AgentClient.connect(to: .unix(path: socketPath), options: options)
            } catch {
                throw CoordinatorError(.agentUnreachable, "cannot connect to \(socketPath): \(error)")
            }
            try await Self.waitUntilServing(client!, timeout: configuration.bootTimeout)
            let serving = clock.now
            // The challenge's nonce is issued only now, so the policy's nonce age measures the
            // attestation, not the boot.
            let attested = try await bootAttestor.attest(client!)
            if let manufactured, !manufactured.contains(attested.endorsementKey) {
                throw CoordinatorError(
                    .identityRefused,
                    "\(spec.name) attested with an EK that is not one libvirt's swtpm_setup made for its vTPM "
                        + "(\(manufactured.endorsementKeys.map(\.description).joined(separator: ", "))): "
                        + "the evidence comes from another TPM")
            }
            try await roster.admit(attested.fingerprint, as: identity)
            let admitted = clock.now
            return LaunchedCustodian(
                domain: domain, spec: spec, identity: identity, client: client!, attested: attested,
                attestor: bootAttestor, roster: roster, directory: directory,
                timings: .init(create: created - started, boot: serving - created, attest: admitted - serving))
        } catch {
            // The connection's close cannot fail in a way that matters here; the domain's destroy can.
            try? await client?.close()
            let failures = [Self.destroy(domain), Self.removeDirectory(directory)].compactMap { $0 }
            guard failures.isEmpty else {
                throw CoordinatorError(
                    .hypervisorFailed,
                    "\(spec.name) was refused (\(error)) and its cleanup failed: " + failures.joined(separator: "; "))
            }
            throw error
        }
    }

    /// Destroys a domain; a domain that is already gone (it powered off) counts as destroyed.
    /// - Returns: why destroying failed, or `nil`.
    static func destroy(_ domain: Domain) -> String? {
        do {
            try domain.destroy()
            return nil
        } catch where error.code == .noDomain || error.code == .operationInvalid {
            return nil  // not running any more: the transient domain is gone
        } catch {
            return "destroying \(domain.name) failed (it may still be running): \(error)"
        }
    }

    /// Removes a custodian's directory.
    /// - Returns: why that failed, or `nil`.
    static func removeDirectory(_ directory: String) -> String? {
        do {
            if FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.removeItem(atPath: directory)
            }
            return nil
        } catch {
            return "removing \(directory) failed: \(error)"
        }
    }

    /// Waits until the agent answers at all. QEMU holds what the host writes to the virtio-serial
    /// socket until the guest opens its port, so the first request is answered once the agent
    /// serves; `session-hello` costs the agent one random nonce and no TPM command, which makes it
    /// a cheap readiness probe (the nonce is replaced by the real opening's hello).
    /// - Throws: ``CoordinatorError/Code/agentUnreachable`` when no answer comes within the client's
    ///   request timeout.
    public static func waitUntilServing(_ client: AgentClient, timeout: Duration) async throws(CoordinatorError) {
        do {
            _ = try await client.request(.sessionHello(SessionHello()))
        } catch where error.code == .remoteError {
            return  // the agent answered: it serves
        } catch {
            throw CoordinatorError(.agentUnreachable, "the agent did not answer within \(timeout): \(error)")
        }
    }

    private func custodianDirectory(_ domainName: String) -> String {
        configuration.stateDirectory + "/" + domainName
    }
}

/// An admitted custodian: its domain, the agent connection and what the ceremony established.
public struct LaunchedCustodian: Sendable {
    /// How long each phase took.
    public struct Timings: Sendable {
        /// `virDomainCreateXML` until it returned.
        public let create: Duration
        /// From the domain's start until the agent answered (firmware, kernel, agent start).
        public let boot: Duration
        /// The attestation ceremony (EK and AK in the vTPM, quote, checks, credential activation).
        public let attest: Duration
        /// All three: create to agent ready.
        public var total: Duration { create + boot + attest }
    }

    /// The running domain.
    public let domain: Domain
    /// What it was created from.
    public let spec: CustodianDomainSpec
    /// Its ring, share index and epoch.
    public let identity: CustodianIdentity
    /// The open agent connection.
    public let client: AgentClient
    /// The ceremony's outcome.
    public let attested: AttestedCustodian
    /// The attestor with the policy derived for this custodian's boot: heartbeats are checked with it.
    public let attestor: CustodianAttestor
    /// The custodian's heartbeat state (last accepted TPM clock, retirement).
    public let state: CustodianState
    /// The roster the custodian was admitted to.
    public let roster: RingRoster
    /// The custodian's directory (NVRAM, console log, agent socket).
    public let directory: String
    /// Phase durations.
    public let timings: Timings

    init(
        domain: Domain, spec: CustodianDomainSpec, identity: CustodianIdentity, client: AgentClient,
        attested: AttestedCustodian, attestor: CustodianAttestor, roster: RingRoster, directory: String,
        timings: Timings
    ) {
        self.domain = domain
        self.spec = spec
        self.identity = identity
        self.client = client
        self.attested = attested
        self.attestor = attestor
        self.state = CustodianState(attested)
        self.roster = roster
        self.directory = directory
        self.timings = timings
    }

    /// The serial console so far (the agent and /init log there), for diagnostics.
    public var consoleLog: String {
        (try? String(contentsOfFile: directory + "/console.log", encoding: .utf8)) ?? ""
    }

    /// Re-attests the custodian (``CustodianAttestor/reattest(_:state:expecting:)``) and, when the
    /// heartbeat is refused, retires it: the domain is destroyed before this returns `.refused`.
    /// - Parameter expected: key version → the participant and public share the custodian was given.
    /// - Returns: `.healthy` with the heartbeat, or `.refused` with the reason (the custodian is gone).
    /// - Throws: ``CoordinatorError/Code/hypervisorFailed`` when the refused custodian could not be
    ///   destroyed (the reason has the refusal too): it may still run, and an operator must act.
    public func heartbeat(expecting expected: [KeyReference: ExpectedShare]) async throws(CoordinatorError)
        -> CustodianHealth
    {
        let health = await attestor.reattest(client, state: state, expecting: expected)
        if case .refused(let refusal) = health {
            do {
                try await retire(reason: "heartbeat refused: \(refusal.code.rawValue)")
            } catch {
                throw CoordinatorError(.hypervisorFailed, "\(refusal); then retiring failed: \(error.reason)")
            }
        }
        return health
    }

    /// Asks the agent to zeroise and power off, then destroys the domain (whatever the agent
    /// answered), removes the custodian's directory and retires it from the roster (its EK, AK and
    /// transport key are refused from now on).
    /// - Parameter reason: logged on the custodian's console (at most 1024 bytes).
    /// - Throws: ``CoordinatorError/Code/hypervisorFailed`` listing every step that failed (all are
    ///   tried): when destroying failed, the custodian may still be running.
    public func retire(reason: String = "retired by the coordinator") async throws(CoordinatorError) {
        // The agent's answer is a courtesy: it may already be gone, and the domain is destroyed anyway.
        if let request = try? DestroyRequest(reason: reason) {
            _ = try? await client.request(.destroy(request))
        }
        try? await client.close()
        var failures = [CustodianLauncher.destroy(domain), CustodianLauncher.removeDirectory(directory)]
            .compactMap { $0 }
        do throws(CoordinatorError) {
            try await roster.retire(identity)
        } catch {
            failures.append(error.reason)
        }
        guard failures.isEmpty else {
            throw CoordinatorError(.hypervisorFailed, "retiring \(spec.name): " + failures.joined(separator: "; "))
        }
    }
}
