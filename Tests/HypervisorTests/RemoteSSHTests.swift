import Dispatch
import Foundation
import Hypervisor
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `qemu+ssh://` for real: the system libvirtd on this machine reached through a private sshd on
/// 127.0.0.1 (`PrivateSSHD`), next to the same daemon reached locally as `qemu:///system`.
/// libvirt runs `ssh` itself and `virt-ssh-helper` on the far side, exactly as for a remote host.
@Suite(
    "qemu+ssh:// through a private sshd on loopback", .serialized,
    .enabled(if: getuid() == 0, "qemu:///system, starting libvirtd and running sshd need root"))
struct RemoteSSHTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// libvirtd running, a private sshd started, `qemu:///system` open; sshd and its files go
    /// whatever `body` does.
    static func withRemoteHost(_ body: (PrivateSSHD, Connection) async throws -> Void) async throws {
        try #require(PrivateSSHD.isAvailable, "OpenSSH is missing: run scripts/bootstrap")
        let started = try ProcessRunner.run(root.appendingPathComponent("scripts/start-libvirt").path, timeout: 60)
        try #require(started.status == 0, "start-libvirt: \(started.combinedOutput)")
        let sshd = try PrivateSSHD()
        defer { sshd.stop() }
        try await sshd.start()
        let local = try Connection(uri: "qemu:///system")
        try await body(sshd, local)
    }

    @Test func opensAndReachesTheSameDaemonAsTheLocalURI() async throws {
        try await Self.withRemoteHost { sshd, local in
            let remote = try #require(await openWithin(seconds: 60, uri: sshd.qemuSSHURI())).get()
            #expect(remote.uri.hasPrefix("qemu+ssh://root@127.0.0.1:"))
            #expect(remote.isAlive)
            #expect(try remote.hostname() == local.hostname())
            let machine = try #require(try local.hostUUID())
            #expect(try remote.hostUUID() == machine)
            // The connection really went through the private sshd, with the client key.
            #expect(sshd.readLog().contains("Accepted publickey for root from 127.0.0.1"))
        }
    }

    @Test func custodianCreatedOverSSHIsListedThereAndLocally() async throws {
        try await Self.withRemoteHost { sshd, local in
            let remote = try #require(await openWithin(seconds: 60, uri: sshd.qemuSSHURI())).get()
            let image = try SpinImage()
            defer { image.remove() }
            let ring = "ssh-\(UUID().uuidString.prefix(8).lowercased())"
            let identity = try CustodianIdentity(ring: ring, shareIndex: 1, epoch: 1)
            let spec = image.spec(identity: identity, name: uniqueDomainName("ssh"))
            defer { destroyIfPresent(named: spec.name, on: local) }

            let domain = try remote.createCustodian(spec)
            #expect(domain.connection === remote)
            #expect(try domain.isActive())
            // The device audit and the endpoint read work on XML that came over ssh.
            try domain.admit(as: spec)
            #expect(try domain.agentEndpoint() == .virtioSerial(socketPath: image.agentSocketPath))

            let remoteFound = try remote.discoverCustodians().custodians.first { $0.domain.name == spec.name }
            #expect(remoteFound?.identity == identity)
            let localFound = try local.discoverCustodians().custodians.first { $0.domain.name == spec.name }
            #expect(localFound?.identity == identity)
            #expect(localFound?.domain.uuid == domain.uuid)

            try domain.destroy()
            #expect(try local.domain(named: spec.name) == nil)
            #expect(try remote.domain(named: spec.name) == nil)
        }
    }

    @Test func poolCountsTheLocalAndTheSSHURIOfOneMachineAsOneHost() async throws {
        try await Self.withRemoteHost { sshd, local in
            let sshURI = sshd.qemuSSHURI()
            let refusedURI = sshd.qemuSSHURI(keyPath: sshd.strangerKeyPath)
            let pool = HostPool(
                hosts: [
                    HostConfiguration(uri: "qemu:///system", maxCustodians: 4),
                    HostConfiguration(uri: sshURI, maxCustodians: 4),
                    HostConfiguration(uri: refusedURI, maxCustodians: 4),
                ], enablesKeepAlive: false)
            let surveys = await pool.survey()
            #expect(surveys.map(\.isReachable) == [true, true, false])
            let machine = try #require(surveys[0].machineUUID)
            #expect(surveys[1].machineUUID == machine)

            // t = 2: a machine may hold one custodian of the ring, however many URIs reach it.
            let ring = "ssh-pool-\(UUID().uuidString.prefix(8).lowercased())"
            let tooMany = await #expect(throws: HypervisorError.self) {
                try await pool.planPlacement(ring: ring, epoch: 1, threshold: 2, shareIndices: [1, 2])
            }
            #expect(tooMany?.code == .placementImpossible)
            let plan = try await pool.planPlacement(ring: ring, epoch: 1, threshold: 2, shareIndices: [1])
            #expect(plan.assignments.map(\.hostURI) == ["qemu:///system"])
            #expect(plan.sameMachineHosts.map(\.host.uri) == [sshURI])
            #expect(plan.unreachableHosts.map(\.host.uri) == [refusedURI])

            // Started where planned, the custodian is seen through both URIs, and the machine is full.
            let image = try SpinImage()
            defer { image.remove() }
            let identity = try CustodianIdentity(ring: ring, shareIndex: 1, epoch: 1)
            let spec = image.spec(identity: identity, name: uniqueDomainName("pool"))
            defer { destroyIfPresent(named: spec.name, on: local) }
            let domain = try pool.connection(to: try #require(plan.assignments.first).hostURI).createCustodian(spec)
            let after = await pool.survey()
            #expect(after[0].custodians.contains(identity))
            #expect(after[1].custodians.contains(identity))
            let full = await #expect(throws: HypervisorError.self) {
                try await pool.planPlacement(ring: ring, epoch: 1, threshold: 2, shareIndices: [2])
            }
            #expect(full?.code == .placementImpossible)
            try domain.destroy()
        }
    }

    @Test func unauthorisedKeyFailsWithATypedErrorAndNoPrompt() async throws {
        try await Self.withRemoteHost { sshd, _ in
            let outcome = try #require(
                await openWithin(seconds: 60, uri: sshd.qemuSSHURI(keyPath: sshd.strangerKeyPath)),
                "opening with an unauthorised key hung")
            guard case .failure(let error) = outcome else {
                Issue.record("an unauthorised key was let in")
                return
            }
            #expect(error.operation == "virConnectOpen")
            #expect(error.message.contains("Permission denied (publickey)"), "\(error)")
            #expect(!sshd.readLog().contains("Accepted publickey"))
        }
    }

    @Test func unexpectedHostKeyIsRefused() async throws {
        try await Self.withRemoteHost { sshd, _ in
            let outcome = try #require(
                await openWithin(seconds: 60, uri: sshd.qemuSSHURI(knownHosts: sshd.wrongKnownHostsPath)),
                "opening against a wrong known_hosts hung")
            guard case .failure(let error) = outcome else {
                Issue.record("a host with an unexpected key was trusted")
                return
            }
            #expect(error.operation == "virConnectOpen")
            #expect(error.message.contains("Host key verification failed"), "\(error)")
        }
    }

    @Test func libsshTransportChecksKnownHostsItself() async throws {
        try await Self.withRemoteHost { sshd, local in
            let remote = try #require(await openWithin(seconds: 60, uri: sshd.qemuLibSSHURI())).get()
            #expect(try remote.hostname() == local.hostname())

            let outcome = try #require(
                await openWithin(seconds: 60, uri: sshd.qemuLibSSHURI(knownHosts: sshd.wrongKnownHostsPath)),
                "libssh against a wrong known_hosts hung")
            guard case .failure(let error) = outcome else {
                Issue.record("libssh trusted a host with an unexpected key")
                return
            }
            #expect(error.message.uppercased().contains("HOST KEY VERIFICATION FAILED"), "\(error)")
        }
    }
}

/// Opens a connection on a Dispatch thread and gives up waiting after `seconds`, so a connection
/// that hangs (an ssh prompt, a silent peer) fails the test instead of hanging the suite.
///
/// - Returns: the outcome, or nil when `seconds` passed first.
func openWithin(seconds: Double, uri: String) async -> Result<Connection, LibvirtError>? {
    let firstAnswer = FirstAnswer()
    return await withCheckedContinuation {
        (continuation: CheckedContinuation<Result<Connection, LibvirtError>?, Never>) in
        let answer: @Sendable (Result<Connection, LibvirtError>?) -> Void = { outcome in
            if firstAnswer.claim() { continuation.resume(returning: outcome) }
        }
        DispatchQueue.global().async {
            do throws(LibvirtError) {
                answer(.success(try Connection(uri: uri)))
            } catch {
                answer(.failure(error))
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { answer(nil) }
    }
}

/// Lets exactly one of several racing callbacks through.
private final class FirstAnswer: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}

/// Destroys a domain by name if it still exists; tests call it in `defer`.
func destroyIfPresent(named name: String, on connection: Connection) {
    if let domain = try? connection.domain(named: name) { try? domain.destroy() }
}

/// The smallest image a real QEMU domain starts from: a "kernel" that is only a Linux boot
/// protocol header (2.02) whose real-mode entry (offset 0x200) is `jmp $`, so the guest spins
/// quietly until destroyed, and a 16-byte initrd. No firmware, no TPM: nothing is measured.
struct SpinImage {
    let directory: URL
    var kernelPath: String { directory.appendingPathComponent("spin-kernel").path }
    var initrdPath: String { directory.appendingPathComponent("initrd").path }
    var agentSocketPath: String { directory.appendingPathComponent("agent.sock").path }

    init() throws {
        directory = URL(fileURLWithPath: "/tmp/keyshard-spin-\(UUID().uuidString.prefix(8))")
        // QEMU runs as libvirt-qemu: it must be able to reach the files (libvirt labels the files themselves).
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        var kernel = [UInt8](repeating: 0, count: 4096)
        kernel[0x1F1] = 4  // setup sectors after the boot sector
        kernel[0x200] = 0xEB  // jmp $ (EB FE)
        kernel[0x201] = 0xFE
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        kernel[0x206] = 0x02  // boot protocol 2.02, little-endian
        kernel[0x207] = 0x02
        kernel[0x211] = 0x01  // LOADED_HIGH
        kernel.replaceSubrange(0x22C..<0x230, with: [0xFF, 0xFF, 0xFF, 0x37])  // initrd_addr_max
        try Data(kernel).write(to: URL(fileURLWithPath: kernelPath))
        try Data(count: 16).write(to: URL(fileURLWithPath: initrdPath))
    }

    func spec(identity: CustodianIdentity, name: String) -> CustodianDomainSpec {
        CustodianDomainSpec(
            identity: identity, name: name, memoryMiB: 32, vcpus: 1,
            boot: .init(kernelPath: kernelPath, initrdPath: initrdPath, commandLine: "quiet"),
            firmware: nil, virtualTPM: false, transport: .virtioSerial(socketPath: agentSocketPath))
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}
