import AgentProtocol
import Coordinator
import Crypto
import CustodianBackend
import Foundation
import Hypervisor
import LibvirtBackend
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The libvirt backend's decisions, on libvirt's test driver (a real driver, no VMs): where
/// custodians go, which transport, whose domains discovery returns, and how an image out of
/// QEMU's reach is staged. The VMs themselves are `Tests/DaemonTests/LibvirtDaemonTests`.
@Suite("LibvirtBackend (libvirt test driver)", .serialized)
struct LibvirtBackendTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A scratch directory with a fake image (the measurements a launcher reads), test-driver
    /// hosts of their own, and an EK root file.
    final class Fixture {
        let directory: URL
        let image: URL

        init(imageMode: mode_t = 0o755) throws {
            directory = URL(fileURLWithPath: "/tmp/ks-lvb-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            chmod(directory.path, 0o755)
            let privateParent = directory.appendingPathComponent("private")
            try FileManager.default.createDirectory(at: privateParent, withIntermediateDirectories: true)
            chmod(privateParent.path, imageMode)
            image = privateParent.appendingPathComponent("image")
            try FileManager.default.createDirectory(at: image, withIntermediateDirectories: true)
            let initrd = Array("initrd".utf8)
            try Data("kernel".utf8).write(to: image.appendingPathComponent("vmlinuz"))
            try Data(initrd).write(to: image.appendingPathComponent("initrd.img"))
            let digest = SHA256.hash(data: initrd).map { String(format: "%02x", $0) }.joined()
            let document: [String: Any] = [
                "format": "keyshard-image-measurements/v1", "bank": "sha256",
                "image": [
                    "cmdline": "console=ttyS0 keyshard.transport=virtio-serial:org.keyshard.agent.0",
                    "memoryMiB": 512, "agent": ["kind": "keyshard-agent"], "initrd": ["sha256": digest],
                ],
                "pcrs": [
                    "4": ["status": "predicted", "value": String(repeating: "44", count: 32), "events": []]
                ],
            ]
            try JSONSerialization.data(withJSONObject: document).write(to: image.appendingPathComponent("measurements.json"))
            try Data("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".utf8)
                .write(to: directory.appendingPathComponent("ek-root.pem"))
        }

        /// A test-driver host of its own (a node file with no domains).
        func host(_ name: String, maxCustodians: Int = 16) throws -> LibvirtBackendConfiguration.Host {
            let node = directory.appendingPathComponent("\(name).xml")
            try Data("<node/>".utf8).write(to: node)
            return LibvirtBackendConfiguration.Host(
                uri: "test://" + node.path, maxCustodians: maxCustodians,
                endorsementRoots: [directory.appendingPathComponent("ek-root.pem").path], swtpmLogDirectory: .some(nil))
        }

        func backend(hosts: [LibvirtBackendConfiguration.Host], state: String = "state") async throws -> LibvirtBackend {
            var configuration = LibvirtBackendConfiguration(
                hosts: hosts, imageDirectory: image.path,
                imagePolicyPath: LibvirtBackendTests.root.appendingPathComponent("policies/custodian-image.yaml").path,
                directory: directory.appendingPathComponent(state).appendingPathComponent("libvirt").path)
            configuration.stateDirectory = directory.appendingPathComponent(state).path
            configuration.virtualization = .auto  // the test driver offers no kvm: no probe domain
            return try await LibvirtBackend(configuration: configuration, logger: Logger(label: "test"))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    static func record(_ id: String, host: String, slot: UInt16) -> CustodianRecord {
        CustodianRecord(
            backendID: id, host: host, ring: "r", slot: slot, generation: 1, transport: "unix:/nonexistent",
            launchedAt: Date())
    }

    @Test("placement: never t of an epoch's custodians on one host; companions count where they run")
    func placement() async throws {
        let fixture = try Fixture()
        let hosts = try ["a", "b", "c"].map { try fixture.host($0) }
        let backend = try await fixture.backend(hosts: hosts)
        // 2-of-3 on three hosts: one each.
        let spread = try await backend.place(PlacementRequest(ring: "r", threshold: 2, slots: [1, 2, 3], companions: []))
        #expect(Set(spread.values) == Set(hosts.map(\.uri)) && spread.count == 3, "\(spread)")
        // A repair of slots 2 and 3 beside a survivor on host a: neither goes to a.
        let repair = try await backend.place(
            PlacementRequest(ring: "r", threshold: 2, slots: [2, 3], companions: [Self.record("s1", host: hosts[0].uri, slot: 1)]))
        #expect(!repair.values.contains(hosts[0].uri) && Set(repair.values).count == 2, "\(repair)")
        // Three custodians of a 2-of-3 ring on two hosts would put two on one: refused, and why.
        let two = try await fixture.backend(hosts: Array(hosts.prefix(2)), state: "two")
        let refusal = await #expect(throws: BackendError.self) {
            try await two.place(PlacementRequest(ring: "r", threshold: 2, slots: [1, 2, 3], companions: []))
        }
        #expect(refusal?.code == .placementImpossible && refusal?.reason.contains("fewer than 2") == true, "\(String(describing: refusal))")
        // A 3-of-4 ring fits two hosts, two each.
        let fits = try await two.place(PlacementRequest(ring: "r", threshold: 3, slots: [1, 2, 3, 4], companions: []))
        #expect(fits.values.filter { $0 == hosts[0].uri }.count == 2 && fits.values.filter { $0 == hosts[1].uri }.count == 2)
        // One host: nothing to spread over, everything goes there.
        let one = try await fixture.backend(hosts: [hosts[2]], state: "one")
        #expect(try await one.place(PlacementRequest(ring: "r", threshold: 2, slots: [1, 2, 3], companions: [])).values.allSatisfy { $0 == hosts[2].uri })
    }

    @Test("transport by probe: vsock only where /dev/vhost-vsock exists and every host is qemu:///system")
    func transportProbe() {
        let local = LibvirtBackendConfiguration.Host(uri: "qemu:///system")
        let session = LibvirtBackendConfiguration.Host(uri: "qemu+unix:///session?socket=/s", endorsementRoots: ["/x"])
        var configuration = LibvirtBackendConfiguration(hosts: [local], imageDirectory: "/i", imagePolicyPath: "/p", directory: "/d")
        #expect(configuration.chosenTransport(vhostVsockExists: true) == .vsock)
        #expect(configuration.chosenTransport(vhostVsockExists: false) == .virtioSerial)
        // One command line for every host: a session or remote host makes it virtio-serial for all.
        configuration.hosts.append(session)
        #expect(configuration.chosenTransport(vhostVsockExists: true) == .virtioSerial)
        configuration.hosts = [local]
        configuration.transport = .virtioSerial
        #expect(configuration.chosenTransport(vhostVsockExists: true) == .virtioSerial)
        // qemu:///system defaults to libvirt's local CA and swtpm logs; other hosts must name theirs.
        #expect(local.endorsementRoots == LibvirtBackendConfiguration.libvirtLocalCA)
        #expect(local.swtpmLogDirectory == SwtpmManufacturingLog.libvirtLogDirectory && session.swtpmLogDirectory == nil)
    }

    @Test("an image under a private directory is staged where QEMU can read it; the state directory becomes passable, not listable")
    func staging() async throws {
        let fixture = try Fixture(imageMode: 0o700)
        #expect(HostPathAccess.problemForOthers(fixture.image.appendingPathComponent("vmlinuz").path, readable: true)?
            .contains("cannot search") == true)
        let stateDirectory = fixture.directory.appendingPathComponent("state").path
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let backend = try await fixture.backend(hosts: [try fixture.host("a")])
        #expect(backend.image.kernelPath.hasPrefix(stateDirectory + "/libvirt/image/"))
        for path in [backend.image.kernelPath, backend.image.initrdPath] {
            #expect(HostPathAccess.problemForOthers(path, readable: true) == nil, "\(path)")
        }
        var info = stat()
        // Others may pass through the state directory (0701) but neither list nor read it.
        #expect(stat(stateDirectory, &info) == 0 && info.st_mode & 0o777 == 0o701, "state directory mode \(String(info.st_mode & 0o777, radix: 8))")
        #expect(stat(stateDirectory + "/libvirt", &info) == 0 && info.st_mode & 0o777 == 0o711)
        #expect(backend.image.initrdMatchesMeasurements())
    }

    @Test("a directory QEMU cannot reach is refused with the directory in the way named")
    func unreachableDirectory() async throws {
        let fixture = try Fixture()
        let blocked = fixture.directory.appendingPathComponent("blocked")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: true)
        chmod(blocked.path, 0o700)
        chown(blocked.path, 65534, 65534)  // not ours: the backend must not loosen it
        defer { chown(blocked.path, 0, 0) }
        var configuration = LibvirtBackendConfiguration(
            hosts: [try fixture.host("a")], imageDirectory: fixture.image.path,
            imagePolicyPath: Self.root.appendingPathComponent("policies/custodian-image.yaml").path,
            directory: blocked.appendingPathComponent("libvirt").path)
        configuration.virtualization = .qemu
        guard getuid() == 0 else { return }  // only root can create below a directory it cannot search
        let error = await #expect(throws: BackendError.self) {
            _ = try await LibvirtBackend(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.code == .invalidConfiguration && error?.reason.contains(blocked.path) == true, "\(String(describing: error))")
    }

    @Test("discovery returns only the domains this backend owns, with their slot, generation and launch time")
    func discoveryByOwner() async throws {
        let fixture = try Fixture()
        // test:///default is one driver instance per process (a node file gives every connection its own).
        var host = try fixture.host("a")
        host.uri = "test:///default"
        let backend = try await fixture.backend(hosts: [host])
        let connection = try Connection(uri: host.uri)
        func spec(_ name: String, owner: String, slot: UInt16, generation: UInt64) throws -> CustodianDomainSpec {
            CustodianDomainSpec(
                identity: try CustodianIdentity(ring: "r", shareIndex: slot, epoch: generation), name: name, memoryMiB: 512,
                vcpus: 1, boot: .init(kernelPath: "/k", initrdPath: "/i", commandLine: "console=ttyS0"), firmware: nil,
                transport: .virtioSerial(socketPath: "/tmp/\(name).sock"),
                annotations: try CustodianAnnotations(owner: owner, launchedAtSeconds: 1_700_000_000, generation: generation))
        }
        let ours = try connection.createCustodian(try spec("keyshard-r-s1-g7", owner: backend.owner, slot: 1, generation: 7))
        let theirs = try connection.createCustodian(try spec("keyshard-r-s2-g8", owner: "ksd-another", slot: 2, generation: 8))
        defer {
            _ = try? ours.destroy()
            _ = try? theirs.destroy()
        }
        let found = try await backend.discover()
        #expect(found.map(\.backendID) == ["keyshard-r-s1-g7"])
        #expect(found.first?.slot == 1 && found.first?.generation == 7 && found.first?.transport == "unix:/tmp/keyshard-r-s1-g7.sock")
        #expect(found.first?.launchedAt == Date(timeIntervalSince1970: 1_700_000_000))
        // Destroying it through the backend ends the domain; destroying it again still succeeds.
        try await backend.destroy(try #require(found.first))
        #expect(try connection.domain(named: "keyshard-r-s1-g7") == nil)
        try await backend.destroy(try #require(found.first))
        #expect(try connection.domain(named: "keyshard-r-s2-g8") != nil, "another daemon's custodian was touched")
    }

    @Test("only the state directory is loosened: a parent of a configured directory keeps its mode")
    func onlyTheStateDirectoryIsLoosened() async throws {
        let fixture = try Fixture()
        let parent = fixture.directory.appendingPathComponent("srv")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        chmod(parent.path, 0o750)
        var configuration = LibvirtBackendConfiguration(
            hosts: [try fixture.host("a")], imageDirectory: fixture.image.path,
            imagePolicyPath: Self.root.appendingPathComponent("policies/custodian-image.yaml").path,
            directory: parent.appendingPathComponent("vms").path)
        configuration.stateDirectory = fixture.directory.appendingPathComponent("state").path
        let error = await #expect(throws: BackendError.self) {
            _ = try await LibvirtBackend(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.reason.contains(parent.path) == true, "\(String(describing: error))")
        var info = stat()
        #expect(stat(parent.path, &info) == 0 && info.st_mode & 0o777 == 0o750, "the parent was loosened")
    }

    @Test("an agent socket path longer than a Unix socket may be is refused before libvirt is asked")
    func socketPathTooLong() async throws {
        let fixture = try Fixture()
        var host = try fixture.host("a")
        host.uri = "test:///default"
        let backend = try await fixture.backend(hosts: [host])
        let pins = try CustodianPins(
            coordinatorKey: CoordinatorIdentity().publicKey, endorsementRootDigests: [[UInt8](repeating: 1, count: 32)])
        let ring = String(repeating: "r", count: 64)
        let error = await #expect(throws: BackendError.self) {
            _ = try await backend.launch(LaunchRequest(ring: ring, slot: 1, generation: 1, pins: pins))
        }
        #expect(error?.code == .invalidConfiguration && error?.reason.contains("longer than a Unix socket path") == true,
            "\(String(describing: error))")
        #expect(try Connection(uri: "test:///default").domain(named: "keyshard-\(ring)-s1-g1") == nil)
    }

    @Test("discovery cleans up only this owner's stale directories in a host directory daemons share")
    func cleanupIsPerOwner() async throws {
        let fixture = try Fixture()
        let shared = fixture.directory.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        chmod(shared.path, 0o755)
        var host = try fixture.host("a")
        host.uri = "test:///default"
        host.directory = shared.path
        let first = try await fixture.backend(hosts: [host], state: "one")
        let second = try await fixture.backend(hosts: [host], state: "two")
        #expect(first.owner != second.owner)
        let mine = shared.appendingPathComponent(first.owner).appendingPathComponent("keyshard-r-s1-g3").path
        let theirs = shared.appendingPathComponent(second.owner).appendingPathComponent("keyshard-r-s1-g3").path
        for path in [mine, theirs] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        _ = try await first.discover()
        #expect(!FileManager.default.fileExists(atPath: mine), "a stale directory of this owner stayed")
        #expect(FileManager.default.fileExists(atPath: theirs), "another daemon's custodian directory was removed")
    }
}
