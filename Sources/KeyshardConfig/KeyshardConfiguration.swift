import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// keyshardd's configuration, from `/etc/keyshard/keyshard.yaml` (``load(path:)``) or for
/// `keyshardd --dev` (``development(stateDir:socketPath:backend:)``). Every setting has a
/// default except where a section, once given, needs its parts (TCP needs its certificate, key
/// and client CA).
public struct KeyshardConfiguration: Sendable, Hashable {
    /// Where the configuration is read from unless `--config` or `KEYSHARD_CONFIG` say otherwise.
    public static let defaultPath = "/etc/keyshard/keyshard.yaml"

    /// Where durable state lives (`state_dir`).
    public var stateDirectory: String
    /// The Unix socket the API is served on.
    public var socket: SocketSettings
    /// The optional TCP listener (always mutual TLS).
    public var tcp: TCPSettings?
    /// Where custodians run.
    public var backend: BackendSettings
    /// Continuous attestation.
    public var heartbeat: HeartbeatSettings
    /// How long a custodian lives before it is replaced; nil: not replaced for age.
    public var custodianMaximumAge: Duration?
    /// The ring used when a key names none, created on first use.
    public var defaultRing: RingDefaults
    /// The audit log's path.
    public var auditPath: String
    /// Security events that also make every key of the affected ring get a new version.
    public var newKeyVersionOn: [SecurityEvent]
    /// The daemon's log level.
    public var logLevel: LogLevel
    /// Who may do what.
    public var roles: RoleMap

    /// The SQLite file inside the state directory.
    public var storePath: String { stateDirectory + "/keyshard.sqlite" }

    /// Every setting at its default (the configuration of an empty file).
    public static var defaults: KeyshardConfiguration {
        KeyshardConfiguration(
            stateDirectory: "/var/lib/keyshard", socket: SocketSettings(), tcp: nil, backend: BackendSettings(),
            heartbeat: HeartbeatSettings(), custodianMaximumAge: .seconds(3600), defaultRing: RingDefaults(),
            auditPath: "/var/log/keyshard/audit.log", newKeyVersionOn: [], logLevel: .info,
            roles: RoleMap(entries: [RoleMap.Entry(identity: .uid(0), role: .admin)]))
    }

    /// Creates a configuration from its parts.
    public init(
        stateDirectory: String, socket: SocketSettings, tcp: TCPSettings?, backend: BackendSettings,
        heartbeat: HeartbeatSettings, custodianMaximumAge: Duration?, defaultRing: RingDefaults, auditPath: String,
        newKeyVersionOn: [SecurityEvent], logLevel: LogLevel, roles: RoleMap
    ) {
        self.stateDirectory = stateDirectory
        self.socket = socket
        self.tcp = tcp
        self.backend = backend
        self.heartbeat = heartbeat
        self.custodianMaximumAge = custodianMaximumAge
        self.defaultRing = defaultRing
        self.auditPath = auditPath
        self.newKeyVersionOn = newKeyVersionOn
        self.logLevel = logLevel
        self.roles = roles
    }

    /// The configuration of `keyshardd --dev`: a throwaway daemon whose state and audit log are
    /// under `stateDir`, the process backend unless told otherwise, 2 s heartbeats, and only the
    /// invoking user (as admin) allowed in.
    /// - Parameters:
    ///   - stateDir: the state directory (relative paths are taken from the working directory).
    ///   - socketPath: the API socket (likewise).
    ///   - backend: where custodians run.
    public static func development(
        stateDir: String, socketPath: String, backend: BackendKind = .process
    ) -> KeyshardConfiguration {
        let state = absolute(stateDir)
        var configuration = defaults
        configuration.stateDirectory = state
        configuration.socket = SocketSettings(path: absolute(socketPath), mode: 0o600, group: nil)
        configuration.backend.kind = backend
        configuration.heartbeat = HeartbeatSettings(interval: .seconds(2), freshnessWindow: .seconds(10))
        configuration.auditPath = state + "/audit.log"
        configuration.logLevel = .info
        configuration.roles = RoleMap(entries: [RoleMap.Entry(identity: .uid(getuid()), role: .admin)])
        return configuration
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}

extension KeyshardConfiguration {
    /// The API socket.
    public struct SocketSettings: Sendable, Hashable {
        /// Its path (`socket.path`).
        public var path: String
        /// Its file mode (`socket.mode`, octal in the file).
        public var mode: UInt32
        /// The group that owns it (`socket.group`), resolved when loaded.
        public var group: GroupName?

        /// Creates settings; the defaults are `/run/keyshard/keyshard.sock`, 0660, no group.
        public init(path: String = "/run/keyshard/keyshard.sock", mode: UInt32 = 0o660, group: GroupName? = nil) {
            self.path = path
            self.mode = mode
            self.group = group
        }
    }

    /// A group named in the configuration and its id, looked up when the file was loaded.
    public struct GroupName: Sendable, Hashable {
        /// The name.
        public var name: String
        /// Its gid.
        public var gid: UInt32

        /// Creates a group reference.
        public init(name: String, gid: UInt32) {
            self.name = name
            self.gid = gid
        }
    }

    /// The TCP listener: mutual TLS only.
    public struct TCPSettings: Sendable, Hashable {
        /// The host or address to bind (`127.0.0.1`, `::1`, `0.0.0.0`).
        public var host: String
        /// The port.
        public var port: Int
        /// The server certificate chain (PEM).
        public var certificate: String
        /// The server's private key (PEM).
        public var key: String
        /// The CA bundle client certificates must chain to (PEM).
        public var clientCA: String

        /// Creates settings.
        public init(host: String, port: Int, certificate: String, key: String, clientCA: String) {
            self.host = host
            self.port = port
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }

    /// Which backend runs custodians.
    public enum BackendKind: String, Sendable, Hashable, CaseIterable {
        /// libvirt domains: the isolation keyshard is designed for.
        case libvirt
        /// Local agent processes: development and tests only; isolates nothing.
        case process
    }

    /// The backend and each backend's settings (only the chosen one's are used).
    public struct BackendSettings: Sendable, Hashable {
        /// The chosen backend (`backend.kind`).
        public var kind: BackendKind
        /// `backend.libvirt`.
        public var libvirt: LibvirtSettings
        /// `backend.process`.
        public var process: ProcessSettings

        /// Creates settings; the default is libvirt.
        public init(
            kind: BackendKind = .libvirt, libvirt: LibvirtSettings = LibvirtSettings(),
            process: ProcessSettings = ProcessSettings()
        ) {
            self.kind = kind
            self.libvirt = libvirt
            self.process = process
        }
    }

    /// How guests are accelerated.
    public enum Virtualization: String, Sendable, Hashable, CaseIterable {
        /// KVM when a probe boot works, TCG otherwise.
        case auto
        /// KVM only.
        case kvm
        /// TCG (emulation) only.
        case qemu
    }

    /// One libvirt host (`backend.libvirt.hosts[]`: a URI, or a mapping with `uri` and the rest).
    public struct LibvirtHost: Sendable, Hashable {
        /// The libvirt URI (`qemu:///system`, `qemu+ssh://root@host2/system`).
        public var uri: String
        /// How many custodians of all rings it may run (`max_custodians`, default 16).
        public var maxCustodians: Int
        /// PEM files of its swtpm's EK root and issuing CA (`ek_roots`); empty: libvirt's local CA
        /// for `qemu:///system`.
        public var endorsementRoots: [String]
        /// Where its custodians' directories go (`directory`); nil: under the backend's directory.
        public var directory: String?
        /// Where its swtpm logs are readable here (`swtpm_logs`); nil: libvirt's for `qemu:///system`.
        public var swtpmLogs: String?

        /// A host.
        public init(
            uri: String, maxCustodians: Int = 16, endorsementRoots: [String] = [], directory: String? = nil,
            swtpmLogs: String? = nil
        ) {
            self.uri = uri
            self.maxCustodians = maxCustodians
            self.endorsementRoots = endorsementRoots
            self.directory = directory
            self.swtpmLogs = swtpmLogs
        }
    }

    /// How the coordinator reaches agents in VMs.
    public enum AgentTransport: String, Sendable, Hashable, CaseIterable {
        /// vsock where `/dev/vhost-vsock` exists, else virtio-serial.
        case auto
        /// virtio-vsock.
        case vsock
        /// virtio-serial (a Unix socket on the host).
        case virtioSerial = "virtio-serial"
    }

    /// Custodians as libvirt domains.
    public struct LibvirtSettings: Sendable, Hashable {
        /// The hosts, in order of preference.
        public var hosts: [LibvirtHost]
        /// The directory holding the custodian image (`make image` writes `vm-images/out`).
        public var imageDirectory: String
        /// The image's attestation policy; each boot's policy is derived from it.
        public var policy: String
        /// The backend's directory (`directory`); nil: `<state_dir>/libvirt`.
        public var directory: String?
        /// Virtual CPUs per guest.
        public var vcpus: Int
        /// KVM, TCG or probe.
        public var virtualization: Virtualization
        /// vsock, virtio-serial or probe.
        public var transport: AgentTransport
        /// How long a VM may take to boot until its agent answers.
        public var bootTimeout: Duration
        /// OVMF's code image.
        public var firmwareCode: String
        /// OVMF's variable store template.
        public var firmwareVariables: String

        /// Creates settings with the documented defaults.
        public init(
            hosts: [LibvirtHost] = [LibvirtHost(uri: "qemu:///system")], imageDirectory: String = "/var/lib/keyshard/image",
            policy: String = "/etc/keyshard/policies/custodian-image.yaml", directory: String? = nil, vcpus: Int = 1,
            virtualization: Virtualization = .auto, transport: AgentTransport = .auto, bootTimeout: Duration = .seconds(240),
            firmwareCode: String = "/usr/share/OVMF/OVMF_CODE_4M.fd",
            firmwareVariables: String = "/usr/share/OVMF/OVMF_VARS_4M.fd"
        ) {
            self.hosts = hosts
            self.imageDirectory = imageDirectory
            self.policy = policy
            self.directory = directory
            self.vcpus = vcpus
            self.virtualization = virtualization
            self.transport = transport
            self.bootTimeout = bootTimeout
            self.firmwareCode = firmwareCode
            self.firmwareVariables = firmwareVariables
        }
    }

    /// Custodians as local processes.
    public struct ProcessSettings: Sendable, Hashable {
        /// The `keyshard-agent` executable; nil: the one beside `keyshardd`.
        public var agent: String?
        /// An attestation policy for the process custodians' software TPMs; nil: the backend's own.
        public var policy: String?

        /// Creates settings.
        public init(agent: String? = nil, policy: String? = nil) {
            self.agent = agent
            self.policy = policy
        }
    }

    /// Continuous attestation.
    public struct HeartbeatSettings: Sendable, Hashable {
        /// How often each custodian is challenged.
        public var interval: Duration
        /// How old a custodian's last accepted heartbeat may be for it to take part in an operation.
        public var freshnessWindow: Duration
        // No "missed heartbeats before quarantine" count: a miss while the ring has t other fresh
        // members replaces the custodian, and one that would leave fewer keeps it as stale until it
        // answers (docs/DAEMON.md), which is what a count would have traded against.

        /// Creates settings; the defaults are 2 s and 10 s.
        public init(interval: Duration = .seconds(2), freshnessWindow: Duration = .seconds(10)) {
            self.interval = interval
            self.freshnessWindow = freshnessWindow
        }
    }

    /// The default ring.
    public struct RingDefaults: Sendable, Hashable {
        /// Its name.
        public var name: String
        /// t.
        public var threshold: Int
        /// n.
        public var shares: Int

        /// Creates defaults; `default`, 2 of 3 unless given.
        public init(name: String = "default", threshold: Int = 2, shares: Int = 3) {
            self.name = name
            self.threshold = threshold
            self.shares = shares
        }
    }

    /// A security event that can trigger a new key version.
    public enum SecurityEvent: String, Sendable, Hashable, CaseIterable {
        /// A custodian was quarantined.
        case quarantine
        /// The attestation policy changed.
        case policyChange = "policy-change"
    }

    /// Log levels, named as swift-log names them.
    public enum LogLevel: String, Sendable, Hashable, CaseIterable {
        /// Everything.
        case trace
        /// Debugging detail.
        case debug
        /// Normal operation.
        case info
        /// Worth noticing.
        case notice
        /// Something is off.
        case warning
        /// An operation failed.
        case error
        /// The daemon cannot go on.
        case critical
    }
}
