import Coordinator
import Hypervisor

/// Everything ``LibvirtBackend`` needs to know: the hosts, the image and its policy, firmware,
/// and how guests are accelerated and reached.
public struct LibvirtBackendConfiguration: Sendable, Hashable {
    /// One libvirt host custodians may run on.
    public struct Host: Sendable, Hashable {
        /// Its libvirt URI (`qemu:///system`, `qemu+ssh://root@host2/system`, `qemu+unix:///session?socket=…`).
        public var uri: String
        /// How many custodians (of all rings) it may run at once.
        public var maxCustodians: Int
        /// The EK root (and issuing CA) certificates its swtpm signs EK certificates with; empty for
        /// a `qemu:///system` host means libvirt's local CA (``LibvirtBackendConfiguration/libvirtLocalCA``).
        public var endorsementRoots: [String]
        /// Where its per-custodian directories (NVRAM, console log, agent socket) go, below a
        /// subdirectory named after the owning daemon (so daemons may share it); the host's libvirt
        /// must be able to create files there. Nil: `<directory>/custodians`. The directories made
        /// below it get its owner, so a session libvirtd of another user can write them.
        public var directory: String?
        /// Where libvirt's swtpm logs for this host's domains are readable here, to check that an
        /// attested EK is one swtpm_setup made for that domain; nil skips the check.
        public var swtpmLogDirectory: String?

        /// A host; for `qemu:///system` the local CA and libvirt's swtpm log directory are the defaults.
        public init(
            uri: String, maxCustodians: Int = 16, endorsementRoots: [String] = [], directory: String? = nil,
            swtpmLogDirectory: String?? = nil
        ) {
            self.uri = uri
            self.maxCustodians = maxCustodians
            self.endorsementRoots = endorsementRoots.isEmpty && uri == "qemu:///system" ? libvirtLocalCA : endorsementRoots
            self.directory = directory
            self.swtpmLogDirectory =
                swtpmLogDirectory ?? (uri == "qemu:///system" ? SwtpmManufacturingLog.libvirtLogDirectory : nil)
        }
    }

    /// Whether custodians run under KVM.
    public enum Virtualization: String, Sendable, Hashable, CaseIterable {
        /// KVM when a probe domain runs under it on that host, TCG otherwise (said once per host).
        case auto
        /// KVM; a host where it does not work fails its launches.
        case kvm
        /// TCG (emulation) only.
        case qemu
    }

    /// How the coordinator reaches the agents.
    public enum Transport: String, Sendable, Hashable, CaseIterable {
        /// vsock where `/dev/vhost-vsock` exists and every host is `qemu:///system`, virtio-serial otherwise.
        case auto
        /// virtio-vsock (the agent listens on ``LibvirtBackendConfiguration/vsockPort``).
        case vsock
        /// A virtio-serial port bound by libvirt to a Unix socket in the custodian's directory.
        case virtioSerial = "virtio-serial"
    }

    /// libvirt's swtpm local CA (root, then issuing CA), made by the first vTPM start or by
    /// `scripts/start-libvirt`.
    public static let libvirtLocalCA = [
        "/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem", "/var/lib/swtpm-localca/issuercert.pem",
    ]

    /// The hosts, in order of preference.
    public var hosts: [Host]
    /// The built image (`vmlinuz`, `initrd.img`, `measurements.json`); staged into ``directory``.
    public var imageDirectory: String
    /// The image's attestation policy (as `make image` wrote it); each boot's policy is derived
    /// from it for the exact command line with the pins. Re-read on every policy reload.
    public var imagePolicyPath: String
    /// The backend's own directory (0711): the staged image and, by default, the custodians' directories.
    public var directory: String
    /// The daemon's state directory when ``directory`` is inside it: the one ancestor the backend
    /// gives others search permission (0701) so QEMU can pass; every other ancestor is left as it
    /// is, and one QEMU cannot pass is refused at start.
    public var stateDirectory: String?
    /// OVMF's code image.
    public var firmwareCodePath = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    /// OVMF's variable store template, copied per custodian.
    public var firmwareVariablesTemplatePath = "/usr/share/OVMF/OVMF_VARS_4M.fd"
    /// KVM, TCG, or probe.
    public var virtualization = Virtualization.auto
    /// vsock, virtio-serial, or probe.
    public var transport = Transport.auto
    /// The vsock port the agent listens on when the transport is vsock.
    public var vsockPort: UInt32 = 7000
    /// Virtual CPUs per custodian.
    public var vcpus = 1
    /// How long a custodian may take from `virDomainCreateXML` until its agent answers (firmware,
    /// kernel, agent; under TCG on a busy 2-core host about half a minute).
    public var bootTimeout: Duration = .seconds(240)
    /// Where `/dev/vhost-vsock` is looked for (tests point it elsewhere).
    public var vhostVsockPath = "/dev/vhost-vsock"

    /// A configuration with the documented defaults.
    public init(hosts: [Host], imageDirectory: String, imagePolicyPath: String, directory: String) {
        self.hosts = hosts
        self.imageDirectory = imageDirectory
        self.imagePolicyPath = imagePolicyPath
        self.directory = directory
    }

    /// The transport for every host (one policy names one command line, so all hosts use the same),
    /// decided by probe when ``transport`` is `auto`: vsock only where `/dev/vhost-vsock` exists and
    /// every host is this machine's `qemu:///system` (a guest's vsock is reachable only from its own
    /// host, and only a privileged QEMU may open the device); virtio-serial otherwise.
    public func chosenTransport(vhostVsockExists: Bool) -> Transport {
        switch transport {
        case .vsock, .virtioSerial: return transport
        case .auto: return vhostVsockExists && hosts.allSatisfy { $0.uri == "qemu:///system" } ? .vsock : .virtioSerial
        }
    }
}
