import Synchronization

/// Keeps one usable `Connection` to a host, reopening it after libvirtd restarted.
///
/// A libvirt connection does not survive its daemon: after a restart every call fails with a
/// connection-level error (`LibvirtError.isConnectionLost`) and `isAlive` turns false (at once
/// with keepalive on). This holder hands out the current connection, opens a new one when the
/// old is dead, and counts generations so subscribers know to re-register for events.
public final class ReconnectingConnection: Sendable {
    /// The URI every (re)connection opens.
    public let uri: String
    private let enablesKeepAlive: Bool
    private let state = Mutex<State>(State())

    private struct State {
        var current: Connection?
        var generation = 0
    }

    /// A holder that connects lazily on first use.
    ///
    /// - Parameters:
    ///   - uri: the libvirt URI of the host.
    ///   - enablesKeepAlive: ask for keepalive on each new connection opened while a
    ///     `LibvirtEventLoop` runs (drivers without keepalive support are accepted silently).
    public init(uri: String, enablesKeepAlive: Bool = true) {
        self.uri = uri
        self.enablesKeepAlive = enablesKeepAlive
    }

    /// How many connections this holder has opened so far (0 before the first).
    public var generation: Int { state.withLock { $0.generation } }

    /// The live connection, reopened when the previous one died or was invalidated.
    ///
    /// - Throws: `LibvirtError` from `virConnectOpen` when the host cannot be reached.
    public func connection() throws(LibvirtError) -> Connection {
        try state.withLock { (state: inout State) throws(LibvirtError) -> Connection in
            if let current = state.current, current.isAlive { return current }
            state.current = nil
            let opened = try Connection(uri: uri)
            // Keepalive probes are sent and answered by the event loop: without a running loop
            // they would only time out. Local drivers have no keepalive and refuse; that is fine.
            if enablesKeepAlive && LibvirtEventLoop.isRunning {
                _ = try? opened.enableKeepAlive()
            }
            state.current = opened
            state.generation += 1
            return opened
        }
    }

    /// Drops the current connection so the next `connection()` opens a new one; call it when an
    /// operation failed with `LibvirtError.isConnectionLost`.
    public func invalidate() {
        state.withLock { $0.current = nil }
    }

    /// Runs `operation` on the live connection; when it fails because the connection was lost,
    /// reconnects once and runs it again.
    ///
    /// - Throws: the operation's error, or `LibvirtError` when reconnecting fails.
    public func withConnection<Result>(
        _ operation: (Connection) throws(LibvirtError) -> Result
    ) throws(LibvirtError) -> Result {
        let first = try connection()
        do {
            return try operation(first)
        } catch  where error.isConnectionLost {
            state.withLock { state in
                if state.current === first { state.current = nil }
            }
            return try operation(try connection())
        }
    }
}
