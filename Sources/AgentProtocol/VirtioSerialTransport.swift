import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// virtio-serial, guest side: the agent opens the character device of the port libvirt
/// named (`<target type='virtio' name='…'/>`) and serves one frame stream on it. The
/// host side is libvirt's Unix socket: use ``UnixSocketTransport`` there.
///
/// While the host has not connected, reads on the port return end-of-file: the agent
/// then reopens the port after ``reopenDelay`` until cancelled.
public struct VirtioSerialTransport: AgentTransport {
    /// The port name, as in /sys/class/virtio-ports/*/name.
    public let portName: String
    /// Where port names are listed.
    public var sysfsDirectory = "/sys/class/virtio-ports"
    /// Where the port devices are.
    public var deviceDirectory = "/dev"
    /// How long to wait before reopening the port after the host disconnects.
    public var reopenDelay: Duration = .milliseconds(250)

    /// Names the port.
    public init(portName: String) { self.portName = portName }

    public var description: String { "virtio-serial:\(portName)" }

    public func connect(options: AgentConnectionOptions) async throws -> AgentClient {
        throw AgentProtocolError(
            .transportUnavailable,
            "virtio-serial is the guest's side; the host connects to libvirt's channel socket with unix:PATH")
    }

    public func serve(
        options: AgentConnectionOptions, handler: any AgentRequestHandler, onReady: @escaping @Sendable () -> Void
    ) async throws {
        let path = try VirtioSerialPorts.devicePath(
            named: portName, sysfsDirectory: sysfsDirectory, deviceDirectory: deviceDirectory)
        var announced = false
        while !Task.isCancelled {
            let descriptor = try await Self.openPort(path, reopening: announced)
            if !announced {
                announced = true
                onReady()
            }
            try await serveStream(descriptor: descriptor, options: options, handler: handler)
            try await Task.sleep(for: reopenDelay)
        }
    }

    /// How long a reopen keeps trying before the agent gives up on its port.
    static let reopenPatience: Duration = .seconds(10)

    /// Opens the port. The first open fails at once (a missing or misnamed port is a configuration
    /// error). A reopen, after the host side closed its connection, is retried for
    /// ``reopenPatience``: the port may still be held by the stream that just ended, and an
    /// agent that gave up here would exit and power its VM off, which the coordinator saw as a
    /// channel that dropped its first connection and then refused every new one.
    static func openPort(_ path: String, reopening: Bool) async throws -> CInt {
        let deadline = ContinuousClock.now + reopenPatience
        while true {
            let descriptor = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
            if descriptor >= 0 { return descriptor }
            let error = errno
            guard reopening, ContinuousClock.now < deadline else {
                throw AgentProtocolError(.transportUnavailable, "cannot open \(path) (errno \(error))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Serves one frame stream on a descriptor it takes ownership of (a virtio-serial
    /// port, or any stream descriptor NIO can poll), until end of file or cancellation.
    func serveStream(
        descriptor: CInt, options: AgentConnectionOptions, handler: any AgentRequestHandler
    ) async throws {
        let channel = try await NIOPipeBootstrap(group: options.group)
            .takingOwnershipOfDescriptor(
                inputOutput: descriptor, channelInitializer: serverChannelInitializer(options: options))
        await ConnectionServer(options: options, handler: handler).serve(channel)
    }
}

/// Finds virtio-serial ports by name.
public enum VirtioSerialPorts {
    /// The device path of the port called `name`.
    /// - Parameters:
    ///   - name: the port's name.
    ///   - sysfsDirectory: where each port has a directory holding a `name` file.
    ///   - deviceDirectory: where the port's device node is, under the same name as its sysfs directory.
    /// - Returns: for example `/dev/vport0p1`.
    /// - Throws: ``AgentProtocolError/Code/transportUnavailable`` naming the ports that were found
    ///   when none has that name, or when the sysfs directory cannot be read (no virtio_console).
    public static func devicePath(
        named name: String, sysfsDirectory: String = "/sys/class/virtio-ports", deviceDirectory: String = "/dev"
    ) throws(AgentProtocolError) -> String {
        let ports = try portNames(sysfsDirectory: sysfsDirectory)
        guard let match = ports.first(where: { $0.name == name }) else {
            let found = ports.isEmpty ? "none" : ports.map { "\($0.device)=\($0.name)" }.joined(separator: ", ")
            throw AgentProtocolError(
                .transportUnavailable, "no virtio-serial port is named \(name) under \(sysfsDirectory) (found: \(found))")
        }
        return deviceDirectory + "/" + match.device
    }

    /// Every port under `sysfsDirectory` that has a name, sorted by device.
    /// - Throws: ``AgentProtocolError/Code/transportUnavailable`` when the directory cannot be read.
    public static func portNames(sysfsDirectory: String = "/sys/class/virtio-ports") throws(AgentProtocolError) -> [(
        device: String, name: String
    )] {
        guard let directory = opendir(sysfsDirectory) else {
            throw AgentProtocolError(
                .transportUnavailable,
                "cannot read \(sysfsDirectory) (errno \(errno)); is the virtio_console module loaded?")
        }
        defer { closedir(directory) }
        var ports: [(device: String, name: String)] = []
        while let entry = readdir(directory) {
            let device = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard !device.hasPrefix("."), let name = readSmallFile(sysfsDirectory + "/" + device + "/name") else {
                continue
            }
            let trimmed = String(name.reversed().drop(while: { $0 == "\n" }).reversed())
            if !trimmed.isEmpty { ports.append((device, trimmed)) }
        }
        return ports.sorted { $0.device < $1.device }
    }

    /// The first 4 KiB of a file as UTF-8, nil when it cannot be read.
    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { return nil }
        return String(validating: buffer[0..<count], as: UTF8.self)
    }
}
