import Foundation

/// Which accelerator custodians of one host get, and why: KVM only when a probe domain really
/// runs under it, TCG otherwise.
///
/// `/dev/kvm` opening, or the capabilities listing a `kvm` domain type, is not enough: on some
/// hosts (nested virtualisation without the features OVMF needs) QEMU starts, OVMF's first
/// instructions stop the guest with "KVM internal error … emulation failure", and the domain sits
/// paused. The probe boots OVMF alone (no kernel, no disk, 64 MiB) as a transient `kvm` domain and
/// watches it for ``settleTime``: still running means KVM works; paused, crashed or gone means it
/// does not. The probe never holds anything and is destroyed either way.
///
/// Measured policies do not depend on the outcome: the accelerator changes no PCR the policy
/// checks (PCR 4 and 9 measure the kernel, initrd and command line; PCR 0 is not in the policy).
public struct VirtualizationProbe: Sendable, Hashable {
    /// What was decided.
    public let virtualization: CustodianDomainSpec.Virtualization
    /// Why, in a sentence for the log.
    public let reason: String

    /// A decision made without probing (configured, or the host unreachable).
    public init(virtualization: CustodianDomainSpec.Virtualization, reason: String) {
        self.virtualization = virtualization
        self.reason = reason
    }

    /// How long the probe domain must keep running to count as working.
    public static let settleTime: Duration = .seconds(4)

    /// Decides for one host.
    /// - Parameters:
    ///   - connection: the host.
    ///   - firmwareCodePath: the OVMF code image custodians boot.
    ///   - firmwareVariablesTemplatePath: its variable store template.
    ///   - scratchDirectory: a directory the host's QEMU may create the probe's NVRAM in (removed after).
    /// - Returns: `.kvm` when the probe ran, else `.qemu` with the reason.
    public static func probe(
        _ connection: Connection, firmwareCodePath: String, firmwareVariablesTemplatePath: String,
        scratchDirectory: String
    ) async -> VirtualizationProbe {
        let capabilities: Bool
        do {
            capabilities = try await offCooperativePool { try connection.offersKVM() }
        } catch {
            return VirtualizationProbe(
                virtualization: .qemu, reason: "the host's capabilities could not be read (\(error)); using TCG")
        }
        guard capabilities else {
            return VirtualizationProbe(virtualization: .qemu, reason: "the host offers no kvm domain type; using TCG")
        }
        let name = CustodianDomainSpec.domainNamePrefix + "kvm-probe-" + UUID().uuidString.prefix(8).lowercased()
        let nvram = scratchDirectory + "/" + name + ".fd"
        let xml = MarkupElement(
            "domain", [("type", "kvm")],
            children: [
                MarkupElement("name", text: name),
                MarkupElement("memory", [("unit", "MiB")], text: "64"),
                MarkupElement("vcpu", text: "1"),
                MarkupElement(
                    "os",
                    children: [
                        MarkupElement("type", [("arch", "x86_64"), ("machine", "q35")], text: "hvm"),
                        MarkupElement("loader", [("readonly", "yes"), ("type", "pflash")], text: firmwareCodePath),
                        MarkupElement("nvram", [("template", firmwareVariablesTemplatePath)], text: nvram),
                    ]),
                MarkupElement("features", children: [MarkupElement("acpi")]),
                MarkupElement("on_poweroff", text: "destroy"),
                MarkupElement("on_reboot", text: "destroy"),
                MarkupElement("on_crash", text: "destroy"),
                MarkupElement("devices", children: [MarkupElement("memballoon", [("model", "none")])]),
            ]
        ).serialized()
        defer { try? FileManager.default.removeItem(atPath: nvram) }
        let domain: Domain
        do {
            domain = try await offCooperativePool { try connection.createTransientDomain(xml: xml) }
        } catch {
            return VirtualizationProbe(
                virtualization: .qemu, reason: "a KVM probe domain did not start (\(error)); using TCG")
        }
        defer { _ = try? domain.destroy() }
        let clock = ContinuousClock()
        let deadline = clock.now + settleTime
        while clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(250))
            let state: DomainState
            do { state = try await offCooperativePool { try domain.state() } } catch {
                return VirtualizationProbe(
                    virtualization: .qemu, reason: "the KVM probe domain vanished (\(error)); using TCG")
            }
            guard state == .running else {
                return VirtualizationProbe(
                    virtualization: .qemu,
                    reason: "/dev/kvm is there but OVMF does not run under it (the probe domain is \(state), "
                        + "as after \"KVM internal error … emulation failure\"); using TCG")
            }
        }
        return VirtualizationProbe(virtualization: .kvm, reason: "a probe domain ran under KVM")
    }
}

extension Connection {
    /// Whether the host's capabilities offer an x86_64 guest with the `kvm` domain type.
    /// - Throws: `LibvirtError` (operation `virConnectGetCapabilities`).
    public func offersKVM() throws(LibvirtError) -> Bool {
        guard let capabilities = try? ParsedElement.parse(try capabilitiesXML()) else { return false }
        return capabilities.children("guest").contains { guest in
            guard let arch = guest.child("arch"), arch["name"] == "x86_64" else { return false }
            return arch.children("domain").contains { $0["type"] == "kvm" }
        }
    }
}
