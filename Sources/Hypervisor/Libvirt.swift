internal import CLibvirt

/// Process-wide libvirt set-up. `Hypervisor` is the single Swift wrapper around
/// the libvirt C API (`CLibvirt`).
public enum Libvirt {
    /// A libvirt version, as `major.minor.release`.
    public struct Version: Hashable, Sendable, Comparable, CustomStringConvertible {
        /// Major version.
        public let major: Int
        /// Minor version.
        public let minor: Int
        /// Release.
        public let release: Int

        /// A version from its parts.
        public init(major: Int, minor: Int, release: Int) {
            self.major = major
            self.minor = minor
            self.release = release
        }

        init(encoded: UInt) {
            major = Int(encoded / 1_000_000)
            minor = Int(encoded / 1_000 % 1_000)
            release = Int(encoded % 1_000)
        }

        public static func < (lhs: Version, rhs: Version) -> Bool {
            (lhs.major, lhs.minor, lhs.release) < (rhs.major, rhs.minor, rhs.release)
        }

        public var description: String { "\(major).\(minor).\(release)" }
    }

    /// The version of the libvirt library this process loaded.
    public static var libraryVersion: Version {
        var encoded: UInt = 0
        // virGetVersion only fails for an unknown hypervisor type; nil asks for the library.
        _ = virGetVersion(&encoded, nil, nil)
        return Version(encoded: encoded)
    }

    /// Stops libvirt from printing errors to stderr: callers get typed errors instead.
    public static func silenceDefaultErrors() {
        CLibvirt_silenceDefaultErrors()
    }

    /// Process-wide set-up, done once before the first connection opens: libvirt must have
    /// its default event implementation registered before any connection exists, or remote
    /// connections never get keepalive or events. Every `Connection` calls this first.
    ///
    /// - Throws: `LibvirtError` when libvirt cannot initialise or register its event loop.
    public static func initialize() throws(LibvirtError) {
        if let failure = processSetUp { throw failure }
    }

    /// Runs once per process (Swift initialises global `static let`s exactly once, thread-safely).
    private static let processSetUp: LibvirtError? = {
        CLibvirt_silenceDefaultErrors()
        if virInitialize() < 0 { return LibvirtError.takeLast(operation: "virInitialize") }
        if virEventRegisterDefaultImpl() < 0 { return LibvirtError.takeLast(operation: "virEventRegisterDefaultImpl") }
        return nil
    }()
}
