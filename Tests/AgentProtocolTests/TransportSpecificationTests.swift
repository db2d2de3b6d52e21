import AgentProtocol
import Foundation
import Testing

@Suite("Agent transport specifications")
struct TransportSpecificationTests {
    @Test(
        "valid specifications parse and print back",
        arguments: [
            ("unix:/run/keyshard/agent-1.sock", TransportSpecification.unix(path: "/run/keyshard/agent-1.sock")),
            ("unix:relative.sock", .unix(path: "relative.sock")),
            ("vsock:3:5000", .vsock(cid: 3, port: 5000)),
            ("vsock:2:1024", .vsock(cid: 2, port: 1024)),
            ("vsock-listen:5000", .vsockListen(port: 5000)),
            ("virtio-serial:org.keyshard.agent.0", .virtioSerial(name: "org.keyshard.agent.0")),
        ])
    func parses(text: String, expected: TransportSpecification) throws {
        let parsed = try TransportSpecification(parsing: text)
        #expect(parsed == expected)
        #expect(parsed.description == text)
        #expect(parsed.transport.description == text)
    }

    @Test(
        "malformed specifications are refused with a reason",
        arguments: [
            ("", "no scheme"),
            ("unix", "no scheme"),
            ("unix:", "path is empty"),
            ("unix:/" + String(repeating: "p", count: 107), "longer than 107"),
            ("tcp:127.0.0.1:5000", "unknown scheme 'tcp'"),
            ("vsock:3", "CID:PORT"),
            ("vsock:3:", "port ''"),
            ("vsock::5000", "CID ''"),
            ("vsock:x:5000", "CID 'x'"),
            ("vsock:3:5000:1", "CID:PORT"),
            ("vsock:-1:5000", "CID '-1'"),
            ("vsock:+3:5000", "CID '+3'"),
            ("vsock:3:4294967296", "below 2^32"),
            ("vsock:4294967295:5000", "wildcard"),
            ("vsock-listen:", "port ''"),
            ("vsock-listen:4294967295", "wildcard"),
            ("vsock-listen:٣", "not a decimal"),
            ("virtio-serial:", "port name"),
            ("virtio-serial:../../dev/mem", "port name"),
            ("virtio-serial:a b", "port name"),
        ])
    func refuses(text: String, reasonPart: String) {
        let error = #expect(throws: AgentProtocolError.self) { try TransportSpecification(parsing: text) }
        #expect(error?.code == .invalidTransportSpecification)
        #expect(error?.reason.contains(reasonPart) == true, "\(String(describing: error))")
    }

    @Test("a transport used in the wrong role says which specification to use")
    func wrongRole() async {
        let options = AgentConnectionOptions()
        let listenOnly = try! TransportSpecification(parsing: "vsock-listen:5000").transport
        let error = await #expect(throws: AgentProtocolError.self) { try await listenOnly.connect(options: options) }
        #expect(error?.code == .transportUnavailable)
        #expect(error?.reason.contains("vsock:CID:PORT") == true)

        let guestOnly = try! TransportSpecification(parsing: "virtio-serial:org.keyshard.agent.0").transport
        let guestError = await #expect(throws: AgentProtocolError.self) { try await guestOnly.connect(options: options) }
        #expect(guestError?.code == .transportUnavailable)
        #expect(guestError?.reason.contains("unix:PATH") == true)

        let connectOnly = try! TransportSpecification(parsing: "vsock:3:5000").transport
        let serveError = await #expect(throws: AgentProtocolError.self) {
            try await connectOnly.serve(options: options, handler: ScriptedAgent(), onReady: {})
        }
        #expect(serveError?.code == .transportUnavailable)
        #expect(serveError?.reason.contains("vsock-listen:PORT") == true)
    }

    @Test("vsock addresses carry the CID and port, or the wildcard CID when listening")
    func vsockAddresses() {
        let connect = VsockTransport(mode: .connect(cid: 7, port: 5000)).address
        #expect(connect.cid.rawValue == 7 && connect.port.rawValue == 5000)
        let listen = VsockTransport(mode: .listen(port: 5001)).address
        #expect(listen.cid == .any && listen.port.rawValue == 5001)
    }
}

@Suite("virtio-serial port discovery")
struct VirtioSerialPortTests {
    /// A fake /sys/class/virtio-ports with two named ports and one without a name file.
    static func fakeSysfs() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ks-vport-\(UUID().uuidString)")
        for (device, name) in [("vport0p1", "org.qemu.guest_agent.0\n"), ("vport1p1", "org.keyshard.agent.0\n"), ("vport1p2", nil)] {
            let directory = root.appendingPathComponent(device)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if let name { try Data(name.utf8).write(to: directory.appendingPathComponent("name")) }
        }
        return root
    }

    @Test("the port is found by its name")
    func findsPort() throws {
        let root = try Self.fakeSysfs()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = try VirtioSerialPorts.devicePath(
            named: "org.keyshard.agent.0", sysfsDirectory: root.path, deviceDirectory: "/dev")
        #expect(path == "/dev/vport1p1")
        let names = try VirtioSerialPorts.portNames(sysfsDirectory: root.path)
        #expect(names.map(\.device) == ["vport0p1", "vport1p1"])
    }

    @Test("a missing name is refused, listing the ports that exist")
    func missingName() throws {
        let root = try Self.fakeSysfs()
        defer { try? FileManager.default.removeItem(at: root) }
        let error = #expect(throws: AgentProtocolError.self) {
            try VirtioSerialPorts.devicePath(named: "org.keyshard.agent.9", sysfsDirectory: root.path)
        }
        #expect(error?.code == .transportUnavailable)
        #expect(error?.reason.contains("vport1p1=org.keyshard.agent.0") == true)
    }

    @Test("no sysfs directory means no virtio_console, and says so")
    func noSysfs() {
        let error = #expect(throws: AgentProtocolError.self) {
            try VirtioSerialPorts.devicePath(named: "x", sysfsDirectory: "/nonexistent/virtio-ports")
        }
        #expect(error?.code == .transportUnavailable)
        #expect(error?.reason.contains("virtio_console") == true)
    }
}
