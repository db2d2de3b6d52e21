import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Unix domain socket: the process backend and tests, and the host side of
/// virtio-serial (libvirt binds the channel's socket; the coordinator connects to it).
public struct UnixSocketTransport: AgentTransport {
    /// The socket path.
    public let path: String

    /// Names the socket.
    public init(path: String) { self.path = path }

    public var description: String { "unix:\(path)" }

    public func connect(options: AgentConnectionOptions) async throws -> AgentClient {
        try await ClientBootstrap(group: options.group)
            .connectTimeout(options.connectTimeout)
            .connect(unixDomainSocketPath: path, channelInitializer: clientChannelInitializer(options: options))
    }

    /// Binds the socket (replacing a stale socket file), restricts it to the owner
    /// (mode 0600: only the coordinator's user may talk to the agent) and serves it.
    public func serve(
        options: AgentConnectionOptions, handler: any AgentRequestHandler, onReady: @escaping @Sendable () -> Void
    ) async throws {
        let server = try await ServerBootstrap(group: options.group)
            .bind(
                unixDomainSocketPath: path, cleanupExistingSocketFile: true,
                childChannelInitializer: serverChannelInitializer(options: options))
        guard chmod(path, 0o600) == 0 else {
            try? await server.channel.close()
            throw AgentProtocolError(.transportUnavailable, "cannot restrict \(path) to its owner (errno \(errno))")
        }
        try await serveListener(server, options: options, handler: handler, onReady: onReady)
    }
}

/// vsock: the coordinator connects to the guest's CID and port; the agent listens on
/// a port for any CID. Needs /dev/vhost-vsock on the host and the virtio vsock
/// transport in the guest.
public struct VsockTransport: AgentTransport {
    /// Which side this transport is.
    public enum Mode: Sendable, Hashable {
        /// Connect to a guest.
        case connect(cid: UInt32, port: UInt32)
        /// Listen on a port.
        case listen(port: UInt32)
    }

    /// Which side.
    public let mode: Mode

    /// Creates a vsock transport.
    public init(mode: Mode) { self.mode = mode }

    public var description: String {
        switch mode {
        case .connect(let cid, let port): "vsock:\(cid):\(port)"
        case .listen(let port): "vsock-listen:\(port)"
        }
    }

    /// The address to connect to or bind.
    public var address: VsockAddress {
        switch mode {
        case .connect(let cid, let port):
            VsockAddress(cid: .init(rawValue: cid), port: .init(rawValue: port))
        case .listen(let port):
            VsockAddress(cid: .any, port: .init(rawValue: port))
        }
    }

    public func connect(options: AgentConnectionOptions) async throws -> AgentClient {
        guard case .connect = mode else {
            throw AgentProtocolError(
                .transportUnavailable, "\(self) is the agent's side; the coordinator connects with vsock:CID:PORT")
        }
        return try await ClientBootstrap(group: options.group)
            .connectTimeout(options.connectTimeout)
            .connect(to: address, channelInitializer: clientChannelInitializer(options: options))
    }

    public func serve(
        options: AgentConnectionOptions, handler: any AgentRequestHandler, onReady: @escaping @Sendable () -> Void
    ) async throws {
        guard case .listen = mode else {
            throw AgentProtocolError(
                .transportUnavailable, "\(self) is the coordinator's side; the agent listens with vsock-listen:PORT")
        }
        let server = try await ServerBootstrap(group: options.group)
            .bind(to: address, childChannelInitializer: serverChannelInitializer(options: options))
        try await serveListener(server, options: options, handler: handler, onReady: onReady)
    }
}
