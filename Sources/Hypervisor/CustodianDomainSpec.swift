/// Everything keyshard asks of a custodian VM; `domainXML()` turns it into libvirt domain XML.
///
/// The shape is fixed by the threat model: q35 with ACPI (the guest finds its TPM through ACPI),
/// direct kernel boot of the measured image under OVMF with a per-domain NVRAM copy, a vTPM
/// (`tpm-crb`, swtpm emulator, TPM 2.0), one agent transport, a serial console into a log
/// file, and nothing else: no disk, no network, no balloon, destroyed on power-off, reboot or
/// crash.
public struct CustodianDomainSpec: Sendable, Hashable {
    /// Prefix of every custodian's domain name; listing filters on it.
    public static let domainNamePrefix = "keyshard-"
    /// XML namespace of keyshard's `<metadata>` child.
    public static let metadataNamespace = "https://keyshard.dev/xmlns/custodian/1"
    /// Namespace prefix used when writing the metadata.
    public static let metadataPrefix = "keyshard"
    /// Name of the virtio-serial port the agent listens on.
    public static let agentChannelName = "org.keyshard.agent.0"

    /// libvirt domain type.
    public enum Virtualization: String, Sendable, Hashable, CaseIterable {
        /// QEMU with TCG (no hardware virtualisation; what this development machine has).
        case qemu
        /// QEMU with KVM.
        case kvm
    }

    /// The image booted without a disk: kernel, initramfs and command line, all measured.
    public struct DirectKernelBoot: Sendable, Hashable {
        /// Absolute path of the kernel (`vmlinuz`).
        public var kernelPath: String
        /// Absolute path of the initramfs.
        public var initrdPath: String
        /// Kernel command line (measured into PCR 9 by the EFI stub).
        public var commandLine: String

        /// A direct kernel boot.
        public init(kernelPath: String, initrdPath: String, commandLine: String) {
            self.kernelPath = kernelPath
            self.initrdPath = initrdPath
            self.commandLine = commandLine
        }
    }

    /// OVMF (UEFI) firmware with a per-domain copy of the variable store.
    public struct UEFIFirmware: Sendable, Hashable {
        /// Read-only firmware code, e.g. `/usr/share/OVMF/OVMF_CODE_4M.fd`.
        public var loaderPath: String
        /// Variable store template copied for each domain, e.g. `/usr/share/OVMF/OVMF_VARS_4M.fd`.
        public var nvramTemplatePath: String
        /// This domain's own variable store (created from the template by libvirt).
        public var nvramPath: String

        /// A firmware description.
        public init(loaderPath: String, nvramTemplatePath: String, nvramPath: String) {
            self.loaderPath = loaderPath
            self.nvramTemplatePath = nvramTemplatePath
            self.nvramPath = nvramPath
        }
    }

    /// How the host reaches the agent.
    public enum AgentTransport: Sendable, Hashable {
        /// virtio-vsock; `cid` nil lets libvirt pick a free context ID.
        case vsock(cid: UInt32?)
        /// A virtio-serial port named `agentChannelName`, bound by QEMU to a Unix socket here.
        case virtioSerial(socketPath: String)
    }

    /// The libvirt domain name (must start with `domainNamePrefix`).
    public var name: String
    /// Ring, share index and epoch, written to the domain metadata.
    public var identity: CustodianIdentity
    /// Domain type (`qemu` by default).
    public var virtualization: Virtualization
    /// Guest memory in MiB.
    public var memoryMiB: Int
    /// Number of virtual CPUs.
    public var vcpus: Int
    /// The image.
    public var boot: DirectKernelBoot
    /// UEFI firmware; nil boots with the hypervisor's default (SeaBIOS), which measures no kernel.
    public var firmware: UEFIFirmware?
    /// Whether the domain gets a vTPM (`tpm-crb`, emulator backend, TPM 2.0).
    public var virtualTPM: Bool
    /// The agent transport.
    public var transport: AgentTransport
    /// File the serial console is written to; nil gives the guest no serial port.
    public var consoleLogPath: String?
    /// Emulator binary; nil uses the host's default.
    public var emulatorPath: String?
    /// The owning daemon and launch time, written to the metadata beside the identity; nil writes none.
    public var annotations: CustodianAnnotations?

    /// A spec with keyshard's defaults (name from the identity, QEMU/TCG, vTPM on).
    public init(
        identity: CustodianIdentity,
        name: String? = nil,
        virtualization: Virtualization = .qemu,
        memoryMiB: Int,
        vcpus: Int,
        boot: DirectKernelBoot,
        firmware: UEFIFirmware?,
        virtualTPM: Bool = true,
        transport: AgentTransport,
        consoleLogPath: String? = nil,
        emulatorPath: String? = nil,
        annotations: CustodianAnnotations? = nil
    ) {
        self.identity = identity
        self.name = name ?? identity.suggestedDomainName
        self.virtualization = virtualization
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.boot = boot
        self.firmware = firmware
        self.virtualTPM = virtualTPM
        self.transport = transport
        self.consoleLogPath = consoleLogPath
        self.emulatorPath = emulatorPath
        self.annotations = annotations
    }

    /// Largest accepted vCPU count and memory (sanity bounds, not host limits).
    public static let maximumVCPUs = 64
    /// Largest accepted memory in MiB.
    public static let maximumMemoryMiB = 1 << 20
    /// Linux's x86 `COMMAND_LINE_SIZE`: the command line the kernel keeps, its NUL included.
    public static let kernelCommandLineSize = 2048
    /// What OVMF appends to the command line it passes the kernel when there is an initrd.
    public static let firmwareInitrdSuffix = " initrd=initrd"

    /// The longest `boot.commandLine` in bytes: the kernel's 2048 with the NUL, less what OVMF
    /// appends under UEFI firmware (the kernel would cut the rest off, unmeasured pins among it).
    public var maximumCommandLineBytes: Int {
        Self.kernelCommandLineSize - 1 - (firmware == nil ? 0 : Self.firmwareInitrdSuffix.utf8.count)
    }

    /// Checks the rules libvirt would not catch or would catch too late.
    ///
    /// - Throws: `HypervisorError.Code.invalidSpec` naming the broken rule: name without the
    ///   keyshard prefix or with `/`, memory or vCPUs out of range, a relative path, a control
    ///   character in any string, a kernel command line that is not ASCII or longer than
    ///   ``maximumCommandLineBytes``, or a vsock CID below 3 (0–2 are reserved).
    public func validate() throws(HypervisorError) {
        guard name.hasPrefix(Self.domainNamePrefix), name.count > Self.domainNamePrefix.count else {
            throw HypervisorError(.invalidSpec, "domain name must start with '\(Self.domainNamePrefix)'")
        }
        guard !name.contains("/") else {
            throw HypervisorError(.invalidSpec, "domain name must not contain '/'")
        }
        guard (1...Self.maximumMemoryMiB).contains(memoryMiB) else {
            throw HypervisorError(.invalidSpec, "memory must be 1…\(Self.maximumMemoryMiB) MiB, not \(memoryMiB)")
        }
        guard (1...Self.maximumVCPUs).contains(vcpus) else {
            throw HypervisorError(.invalidSpec, "vCPU count must be 1…\(Self.maximumVCPUs), not \(vcpus)")
        }
        var paths: [(String, String)] = [("kernel", boot.kernelPath), ("initrd", boot.initrdPath)]
        if let firmware {
            paths += [
                ("firmware loader", firmware.loaderPath), ("NVRAM template", firmware.nvramTemplatePath),
                ("NVRAM", firmware.nvramPath),
            ]
        }
        if case .virtioSerial(let socketPath) = transport { paths.append(("agent socket", socketPath)) }
        if let consoleLogPath { paths.append(("console log", consoleLogPath)) }
        if let emulatorPath { paths.append(("emulator", emulatorPath)) }
        for (what, path) in paths where !path.hasPrefix("/") {
            throw HypervisorError(.invalidSpec, "\(what) path must be absolute")
        }
        for (what, value) in paths + [("domain name", name), ("kernel command line", boot.commandLine)]
        where value.unicodeScalars.contains(where: CustodianIdentity.isControl) {
            throw HypervisorError(.invalidSpec, "\(what) must not contain control characters")
        }
        guard boot.commandLine.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw HypervisorError(.invalidSpec, "kernel command line must be ASCII (QEMU passes it as bytes)")
        }
        guard boot.commandLine.utf8.count <= maximumCommandLineBytes else {
            throw HypervisorError(
                .invalidSpec,
                "kernel command line is \(boot.commandLine.utf8.count) bytes; at most \(maximumCommandLineBytes) fit "
                    + "in the kernel's \(Self.kernelCommandLineSize)"
                    + (firmware == nil ? "" : " with OVMF's '\(Self.firmwareInitrdSuffix.dropFirst())'"))
        }
        if case .vsock(let cid?) = transport, cid < 3 || cid == UInt32.max {
            throw HypervisorError(.invalidSpec, "vsock CID \(cid) is reserved; use 3…\(UInt32.max - 1) or automatic")
        }
    }
}
