/// One reason the live domain differs from what keyshard requested.
public struct DeviceAuditFinding: Sendable, Hashable, CustomStringConvertible {
    /// The kind of difference.
    public enum Kind: Sendable, Hashable {
        /// A device keyshard did not ask for (NIC, disk, hostdev, filesystem, extra channel, …).
        case unexpectedDevice
        /// A device keyshard asked for is absent.
        case missingDevice
        /// A requested device is present but configured differently.
        case mismatchedDevice
        /// A domain-level setting (type, memory, boot, firmware, lifecycle action) differs.
        case mismatchedDomain
        /// Hypervisor passthrough (e.g. `<qemu:commandline>`) that can add anything unseen.
        case passthrough
        /// The live XML could not be read at all.
        case unreadable
    }

    /// The kind of difference.
    public let kind: Kind
    /// The element concerned, e.g. `devices/interface`.
    public let element: String
    /// What differs, for a person.
    public let reason: String

    public var description: String { "\(element): \(reason)" }
}

/// The outcome of comparing a live domain with its spec.
public enum DeviceAuditVerdict: Sendable, Hashable {
    /// The live domain has exactly the requested shape: shares may be delivered.
    case matchesSpec
    /// The live domain differs: the custodian must be refused and destroyed.
    case refused([DeviceAuditFinding])

    /// Whether shares may be delivered.
    public var isAccepted: Bool { self == .matchesSpec }

    /// The findings (empty when accepted).
    public var findings: [DeviceAuditFinding] {
        if case .refused(let findings) = self { return findings }
        return []
    }
}

extension CustodianDomainSpec {
    /// Compares the live domain XML (`Domain.liveXML()`) with this spec, device by device.
    ///
    /// The device model is part of what is attested on the host side: any device keyshard did
    /// not request (network interface, disk, hostdev, filesystem, shmem, redirdev, smartcard,
    /// graphics, an extra channel, console or serial port, …), any passthrough, and any change
    /// to a requested device or to memory, boot, firmware or lifecycle actions refuses the
    /// custodian. Devices libvirt adds on its own that open no path into the guest (PCI, USB,
    /// SATA and virtio-serial controllers, PS/2 input, the q35 iTCO watchdog, `audio type='none'`)
    /// are accepted.
    ///
    /// - Parameter liveXML: the domain XML as libvirt reports it for the running domain.
    /// - Returns: `.matchesSpec`, or `.refused` with every finding.
    public func audit(liveXML: String) -> DeviceAuditVerdict {
        let domain: ParsedElement
        do {
            domain = try ParsedElement.parse(liveXML)
        } catch {
            return .refused([DeviceAuditFinding(kind: .unreadable, element: "domain", reason: error.reason)])
        }
        var auditor = DomainAuditor(spec: self)
        auditor.auditDomain(domain)
        return auditor.findings.isEmpty ? .matchesSpec : .refused(auditor.findings)
    }
}

extension Domain {
    /// Admission of a started custodian: reads the live XML back, audits it against `spec`,
    /// and destroys the domain when it differs, before any share could reach it.
    ///
    /// - Throws: `HypervisorError.Code.deviceAuditRefused` listing every finding (the domain
    ///   is destroyed first); `LibvirtError` when the live XML cannot be read (the domain is
    ///   destroyed too: an unauditable custodian is refused); `HypervisorError.Code.destroyFailed`
    ///   with the refusal and libvirt's reason when the refused domain could not be destroyed.
    public func admit(as spec: CustodianDomainSpec) throws {
        let live: String
        do {
            live = try liveXML()
        } catch {
            throw destroying(refused: error)
        }
        let verdict = spec.audit(liveXML: live)
        guard verdict.isAccepted else {
            let reasons = verdict.findings.map(\.description).joined(separator: "; ")
            throw destroying(
                refused: HypervisorError(.deviceAuditRefused, "custodian \(name) refused and destroyed: \(reasons)"))
        }
    }

    /// Destroys a refused domain and returns the refusal to throw; when destroying fails as well, an
    /// error that says so instead, since the caller would otherwise believe the custodian gone.
    private func destroying(refused refusal: any Error) -> any Error {
        do {
            try destroy()
            return refusal
        } catch {
            return HypervisorError(
                .destroyFailed,
                "custodian \(name) was refused (\(refusal)) but destroying it failed: \(error); "
                    + "it may still be running")
        }
    }
}

private struct DomainAuditor {
    let spec: CustodianDomainSpec
    var findings: [DeviceAuditFinding] = []

    init(spec: CustodianDomainSpec) { self.spec = spec }

    private mutating func note(_ kind: DeviceAuditFinding.Kind, _ element: String, _ reason: String) {
        findings.append(DeviceAuditFinding(kind: kind, element: element, reason: reason))
    }

    private mutating func expect(_ actual: String?, _ expected: String, _ element: String, _ what: String) {
        if actual != expected {
            note(
                .mismatchedDomain, element,
                "\(what) is \(actual.map { "'\($0)'" } ?? "absent"), requested '\(expected)'")
        }
    }

    mutating func auditDomain(_ domain: ParsedElement) {
        guard domain.localName == "domain", domain.namespaceURI == nil else {
            note(.unreadable, domain.name, "root element is not <domain>")
            return
        }
        expect(domain["type"], spec.virtualization.rawValue, "domain", "domain type")
        expect(domain.child("name")?.text, spec.name, "name", "name")
        auditMetadata(domain.child("metadata"))
        auditMemory(domain)
        expect(domain.child("vcpu")?.text, String(spec.vcpus), "vcpu", "vCPU count")
        auditOS(domain.child("os"))
        if domain.child("features")?.child("acpi") == nil {
            note(.mismatchedDomain, "features/acpi", "ACPI is off; the guest would not find its TPM")
        }
        for action in ["on_poweroff", "on_reboot", "on_crash"] {
            expect(domain.child(action)?.text, "destroy", action, action)
        }
        for element in domain.children where element.namespaceURI != nil {
            note(.passthrough, element.name, "namespaced element in the domain (hypervisor passthrough) is not allowed")
        }
        guard let devices = domain.child("devices") else {
            note(.missingDevice, "devices", "live XML has no <devices>")
            return
        }
        auditDevices(devices)
    }

    /// The metadata is how a restarted daemon recognises the custodian: it must say exactly
    /// what was requested, once.
    private mutating func auditMetadata(_ metadata: ParsedElement?) {
        let records = (metadata?.children ?? []).filter {
            $0.namespaceURI == CustodianDomainSpec.metadataNamespace
        }
        guard records.count == 1, let record = records.first else {
            note(.mismatchedDomain, "metadata", "expected one keyshard custodian record, found \(records.count)")
            return
        }
        do {
            let identity = try CustodianIdentity(metadataElement: record)
            if identity != spec.identity {
                note(.mismatchedDomain, "metadata", "metadata says \(identity), requested \(spec.identity)")
            }
        } catch {
            note(.mismatchedDomain, "metadata", error.reason)
        }
    }

    private mutating func auditMemory(_ domain: ParsedElement) {
        let requestedKiB = UInt64(spec.memoryMiB) * 1024
        guard let memory = domain.child("memory"), let value = UInt64(memory.text) else {
            note(.mismatchedDomain, "memory", "memory size is absent")
            return
        }
        let scale: UInt64? =
            switch memory["unit"] ?? "KiB" {
            case "KiB", "k": 1
            case "MiB", "M": 1024
            case "GiB", "G": 1024 * 1024
            default: nil
            }
        guard let scale, value * scale == requestedKiB else {
            note(
                .mismatchedDomain, "memory",
                "memory is \(value) \(memory["unit"] ?? "KiB"), requested \(spec.memoryMiB) MiB")
            return
        }
    }

    private mutating func auditOS(_ os: ParsedElement?) {
        guard let os else {
            note(.mismatchedDomain, "os", "live XML has no <os>")
            return
        }
        let machine = os.child("type")?["machine"] ?? ""
        // libvirt expands "q35" to a versioned machine type such as "pc-q35-7.2".
        if machine != "q35" && !machine.hasPrefix("pc-q35") {
            note(.mismatchedDomain, "os/type", "machine type is '\(machine)', requested q35")
        }
        expect(os.child("kernel")?.text, spec.boot.kernelPath, "os/kernel", "kernel")
        expect(os.child("initrd")?.text, spec.boot.initrdPath, "os/initrd", "initrd")
        expect(os.child("cmdline")?.text, spec.boot.commandLine, "os/cmdline", "kernel command line")
        if let firmware = spec.firmware {
            expect(os.child("loader")?.text, firmware.loaderPath, "os/loader", "firmware loader")
            expect(os.child("nvram")?.text, firmware.nvramPath, "os/nvram", "NVRAM path")
        } else {
            if os.child("loader") != nil {
                note(.mismatchedDomain, "os/loader", "firmware loader present, none requested")
            }
        }
    }

    private mutating func auditDevices(_ devices: ParsedElement) {
        var seen: [String: Int] = [:]
        for device in devices.children {
            let path = "devices/\(device.name)"
            seen[device.localName, default: 0] += 1
            if device.namespaceURI != nil {
                note(.passthrough, path, "namespaced device element is not allowed")
                continue
            }
            switch device.localName {
            case "emulator":
                if let emulatorPath = spec.emulatorPath, device.text != emulatorPath {
                    note(.mismatchedDevice, path, "emulator is '\(device.text)', requested '\(emulatorPath)'")
                }
            case "controller":
                let allowed: Set = ["pci", "usb", "sata", "virtio-serial"]
                if !allowed.contains(device["type"] ?? "") {
                    note(.unexpectedDevice, path, "controller of type '\(device["type"] ?? "?")' was not requested")
                }
            case "input":
                if device["bus"] != "ps2" || !["mouse", "keyboard"].contains(device["type"] ?? "") {
                    note(
                        .unexpectedDevice, path,
                        "input device '\(device["type"] ?? "?")' on bus '\(device["bus"] ?? "?")'")
                }
            case "watchdog":
                if device["model"] != "itco" {
                    note(.unexpectedDevice, path, "watchdog model '\(device["model"] ?? "?")' was not requested")
                }
            case "audio":
                if device["type"] != "none" {
                    note(.unexpectedDevice, path, "audio backend '\(device["type"] ?? "?")' was not requested")
                }
            case "memballoon":
                if device["model"] != "none" {
                    note(.unexpectedDevice, path, "memory balloon '\(device["model"] ?? "?")' was not requested")
                }
            case "serial", "console":
                auditConsole(device, path)
            case "channel":
                auditChannel(device, path)
            case "vsock":
                auditVsock(device, path)
            case "tpm":
                auditTPM(device, path)
            default:
                note(.unexpectedDevice, path, "device <\(device.name)> was not requested")
            }
        }
        for (device, count) in seen
        where count > 1 && ["vsock", "tpm", "serial", "console", "channel"].contains(device) {
            note(.unexpectedDevice, "devices/\(device)", "\(count) <\(device)> devices, at most one requested")
        }
        if spec.virtualTPM && seen["tpm"] == nil { note(.missingDevice, "devices/tpm", "requested vTPM is absent") }
        if seen["memballoon"] == nil {
            note(.missingDevice, "devices/memballoon", "no <memballoon model='none'/>; libvirt would add a balloon")
        }
        switch spec.transport {
        case .vsock: if seen["vsock"] == nil { note(.missingDevice, "devices/vsock", "requested vsock is absent") }
        case .virtioSerial:
            if seen["channel"] == nil { note(.missingDevice, "devices/channel", "agent channel is absent") }
        }
        if spec.consoleLogPath != nil && seen["serial"] == nil {
            note(.missingDevice, "devices/serial", "requested serial console is absent")
        }
    }

    private mutating func auditConsole(_ device: ParsedElement, _ path: String) {
        guard let logPath = spec.consoleLogPath else {
            note(.unexpectedDevice, path, "\(device.localName) port was not requested")
            return
        }
        if device["type"] != "file" || device.child("source")?["path"] != logPath {
            note(.mismatchedDevice, path, "\(device.localName) is not the requested console log file")
        }
        // libvirt mirrors the serial port as <console target type='serial'>; anything else is a new port.
        if device.localName == "console", let targetType = device.child("target")?["type"], targetType != "serial" {
            note(.unexpectedDevice, path, "console on target '\(targetType)' was not requested")
        }
    }

    private mutating func auditChannel(_ device: ParsedElement, _ path: String) {
        guard case .virtioSerial(let socketPath) = spec.transport else {
            note(.unexpectedDevice, path, "channel was not requested (transport is vsock)")
            return
        }
        let target = device.child("target")
        guard target?["name"] == CustodianDomainSpec.agentChannelName, target?["type"] == "virtio" else {
            note(.unexpectedDevice, path, "channel '\(target?["name"] ?? "?")' is not the agent channel")
            return
        }
        if device["type"] != "unix" || device.child("source")?["path"] != socketPath
            || device.child("source")?["mode"] != "bind"
        {
            note(.mismatchedDevice, path, "agent channel is not bound to the requested socket")
        }
    }

    private mutating func auditVsock(_ device: ParsedElement, _ path: String) {
        guard case .vsock(let requestedCID) = spec.transport else {
            note(.unexpectedDevice, path, "vsock was not requested (transport is virtio-serial)")
            return
        }
        if device["model"] != "virtio" {
            note(.mismatchedDevice, path, "vsock model '\(device["model"] ?? "?")', requested virtio")
        }
        if let requestedCID, device.child("cid")?["address"] != String(requestedCID) {
            note(.mismatchedDevice, path, "vsock CID differs from the requested \(requestedCID)")
        }
    }

    private mutating func auditTPM(_ device: ParsedElement, _ path: String) {
        guard spec.virtualTPM else {
            note(.unexpectedDevice, path, "vTPM was not requested")
            return
        }
        let backend = device.child("backend")
        if device["model"] != "tpm-crb" || backend?["type"] != "emulator" || backend?["version"] != "2.0" {
            note(.mismatchedDevice, path, "vTPM is not tpm-crb with an emulator backend of version 2.0")
        }
    }
}
