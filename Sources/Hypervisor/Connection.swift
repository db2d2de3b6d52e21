internal import CLibvirt

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An open libvirt connection (`virConnectPtr`), closed when the last reference goes.
///
/// libvirt connections are thread-safe (libvirt locks inside every public call), so one
/// `Connection` may be shared across tasks; hence `@unchecked Sendable`. Each failing call
/// copies libvirt's per-thread error synchronously into a `LibvirtError`.
public final class Connection: @unchecked Sendable {
    /// The URI this connection was opened with, e.g. `qemu:///system` or `test:///default`.
    public let uri: String

    let handle: OpaquePointer

    /// Opens a read-write connection.
    ///
    /// - Parameter uri: a libvirt URI (`qemu:///system`, `qemu+ssh://host/system`, `test:///default`,
    ///   or `test:///path/to/host.xml` for a fake host described by a test-driver file).
    /// - Throws: `LibvirtError` (operation `virConnectOpen`) when the host cannot be reached or
    ///   the URI is not understood.
    public init(uri: String) throws(LibvirtError) {
        try Libvirt.initialize()
        guard let opened = virConnectOpen(uri) else {
            throw LibvirtError.takeLast(operation: "virConnectOpen")
        }
        self.uri = uri
        self.handle = opened
    }

    deinit {
        virConnectClose(handle)
    }

    /// Whether the connection still talks to its hypervisor (false once libvirtd went away).
    public var isAlive: Bool {
        virConnectIsAlive(handle) == 1
    }

    /// The host name of the hypervisor's machine.
    ///
    /// - Throws: `LibvirtError` (operation `virConnectGetHostname`).
    public func hostname() throws(LibvirtError) -> String {
        guard let name = virConnectGetHostname(handle) else {
            throw LibvirtError.takeLast(operation: "virConnectGetHostname")
        }
        defer { free(name) }
        return String(cString: name)
    }

    /// Result of asking for keepalive.
    public enum KeepAliveOutcome: Sendable, Equatable {
        /// libvirt now sends keepalive probes and closes the connection when they go unanswered.
        case enabled
        /// The remote side does not support keepalive (libvirt returned 1).
        case unsupportedByPeer
    }

    /// Turns on keepalive probes, so a vanished libvirtd is noticed within
    /// `interval * (count + 1)` seconds and `isAlive` turns false.
    ///
    /// Needs the libvirt event loop running (`LibvirtEventLoop`); local-only drivers such as
    /// `test:///` do not support keepalive and fail with `LibvirtError.Code.noSupport`.
    ///
    /// - Parameters:
    ///   - interval: seconds between probes while the connection is idle (≥ 1).
    ///   - count: unanswered probes tolerated before the connection is closed.
    /// - Throws: `LibvirtError` (operation `virConnectSetKeepAlive`).
    @discardableResult
    public func enableKeepAlive(interval: Int32 = 5, count: UInt32 = 3) throws(LibvirtError) -> KeepAliveOutcome {
        let result = virConnectSetKeepAlive(handle, interval, count)
        if result < 0 { throw LibvirtError.takeLast(operation: "virConnectSetKeepAlive") }
        return result == 1 ? .unsupportedByPeer : .enabled
    }
}
