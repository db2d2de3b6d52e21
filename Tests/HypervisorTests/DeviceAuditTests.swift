import Foundation
import Hypervisor
import Testing

/// The device audit on crafted live XML: a QEMU-shaped live domain (resource) that must pass,
/// and one tampering per test that must be refused with the right finding.
@Suite struct DeviceAuditTests {
    let spec: CustodianDomainSpec
    let live: String

    init() throws {
        spec = SpecFixtures.spec(
            identity: try SpecFixtures.identity(ring: "ring-live", shareIndex: 1, epoch: 1), transport: .vsock(cid: nil)
        )
        live = try String(contentsOfFile: try resourcePath("live-qemu-custodian.xml"), encoding: .utf8)
    }

    /// `live` with `xml` added as the last device.
    private func withDevice(_ xml: String) -> String {
        live.replacingOccurrences(of: "</devices>", with: "\(xml)\n</devices>")
    }

    private func replacing(_ old: String, with new: String) throws -> String {
        try #require(live.contains(old), "fixture lacks \(old)")
        return live.replacingOccurrences(of: old, with: new)
    }

    private func expectRefused(
        _ xml: String, kind: DeviceAuditFinding.Kind, element: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let verdict = spec.audit(liveXML: xml)
        #expect(!verdict.isAccepted, sourceLocation: sourceLocation)
        #expect(
            verdict.findings.contains { $0.kind == kind && $0.element == element },
            "findings: \(verdict.findings)", sourceLocation: sourceLocation)
    }

    @Test func qemuShapedLiveDomainWithLibvirtsOwnAdditionsIsAccepted() throws {
        #expect(spec.audit(liveXML: live) == .matchesSpec)
        #expect(try AgentEndpoint(liveXML: live) == .vsock(cid: 3))
    }

    @Test(arguments: [
        ("interface", "<interface type='network'><source network='default'/><model type='virtio'/></interface>"),
        ("disk", "<disk type='file' device='disk'><source file='/tmp/x.img'/><target dev='vda' bus='virtio'/></disk>"),
        (
            "hostdev",
            "<hostdev mode='subsystem' type='pci'><source><address bus='0x03' slot='0x00'/></source></hostdev>"
        ),
        (
            "filesystem",
            "<filesystem type='mount'><driver type='virtiofs'/><source dir='/'/><target dir='host'/></filesystem>"
        ),
        ("shmem", "<shmem name='leak'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>"),
        ("redirdev", "<redirdev bus='usb' type='spicevmc'/>"),
        ("smartcard", "<smartcard mode='passthrough' type='spicevmc'/>"),
        ("graphics", "<graphics type='vnc' port='-1'/>"),
        ("video", "<video><model type='virtio'/></video>"),
        ("rng", "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"),
        ("parallel", "<parallel type='file'><source path='/tmp/p'/></parallel>"),
        ("sound", "<sound model='ich9'/>"),
        ("crypto", "<crypto model='virtio' type='qemu'><backend model='builtin' queues='1'/></crypto>"),
        ("unknownThing", "<unknownThing/>"),
    ])
    func addedDeviceIsRefused(element: String, xml: String) {
        expectRefused(withDevice(xml), kind: .unexpectedDevice, element: "devices/\(element)")
    }

    @Test func extraChannelIsRefused() {
        let guestAgent = """
            <channel type='unix'><source mode='bind' path='/tmp/qga.sock'/>\
            <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
            """
        expectRefused(withDevice(guestAgent), kind: .unexpectedDevice, element: "devices/channel")
    }

    @Test func secondTPMIsRefused() {
        let tpm = "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"
        expectRefused(withDevice(tpm), kind: .unexpectedDevice, element: "devices/tpm")
    }

    @Test func passthroughTPMIsRefused() throws {
        let xml = try replacing(
            "<backend type='emulator' version='2.0'/>",
            with: "<backend type='passthrough'><device path='/dev/tpm0'/></backend>")
        expectRefused(xml, kind: .mismatchedDevice, element: "devices/tpm")
    }

    @Test func missingTPMIsRefused() throws {
        let start = try #require(live.range(of: "<tpm model='tpm-crb'>"))
        let end = try #require(live.range(of: "</tpm>"))
        var xml = live
        xml.removeSubrange(start.lowerBound..<end.upperBound)
        expectRefused(xml, kind: .missingDevice, element: "devices/tpm")
    }

    @Test func balloonIsRefused() throws {
        expectRefused(
            try replacing("<memballoon model='none'/>", with: "<memballoon model='virtio'/>"),
            kind: .unexpectedDevice, element: "devices/memballoon")
        expectRefused(
            try replacing("<memballoon model='none'/>", with: ""), kind: .missingDevice, element: "devices/memballoon")
    }

    @Test func qemuCommandLinePassthroughIsRefused() throws {
        let xml = try replacing(
            "</domain>",
            with: """
                <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
                  <qemu:arg value='-device'/><qemu:arg value='e1000,netdev=n0'/>
                </qemu:commandline>
                </domain>
                """)
        expectRefused(xml, kind: .passthrough, element: "qemu:commandline")
    }

    @Test func bootChangesAreRefused() throws {
        expectRefused(
            try replacing(
                "<cmdline>console=ttyS0 quiet</cmdline>", with: "<cmdline>console=ttyS0 init=/bin/sh</cmdline>"),
            kind: .mismatchedDomain, element: "os/cmdline")
        expectRefused(
            try replacing("/var/lib/keyshard/initrd.img", with: "/tmp/other-initrd.img"),
            kind: .mismatchedDomain, element: "os/initrd")
        expectRefused(
            try replacing("/usr/share/OVMF/OVMF_CODE_4M.fd", with: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"),
            kind: .mismatchedDomain, element: "os/loader")
        expectRefused(
            try replacing("machine='pc-q35-7.2'", with: "machine='pc-i440fx-7.2'"),
            kind: .mismatchedDomain, element: "os/type")
    }

    @Test func domainLevelChangesAreRefused() throws {
        expectRefused(
            try replacing("<memory unit='KiB'>262144</memory>", with: "<memory unit='KiB'>524288</memory>"),
            kind: .mismatchedDomain, element: "memory")
        expectRefused(
            try replacing("<on_crash>destroy</on_crash>", with: "<on_crash>coredump-restart</on_crash>"),
            kind: .mismatchedDomain, element: "on_crash")
        expectRefused(try replacing("<acpi/>", with: ""), kind: .mismatchedDomain, element: "features/acpi")
        expectRefused(
            try replacing("<domain type='qemu'", with: "<domain type='kvm'"), kind: .mismatchedDomain, element: "domain"
        )
        expectRefused(
            try replacing("<vcpu placement='static'>1</vcpu>", with: "<vcpu placement='static'>4</vcpu>"),
            kind: .mismatchedDomain, element: "vcpu")
    }

    @Test func memoryInOtherUnitsIsComparedByValue() throws {
        let xml = try replacing("<memory unit='KiB'>262144</memory>", with: "<memory unit='MiB'>256</memory>")
        #expect(spec.audit(liveXML: xml) == .matchesSpec)
    }

    @Test func consoleToANetworkSocketIsRefused() throws {
        let xml = withDevice("<serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/></serial>")
        expectRefused(xml, kind: .mismatchedDevice, element: "devices/serial")
        expectRefused(xml, kind: .unexpectedDevice, element: "devices/serial")
    }

    @Test func wrongTransportDeviceIsRefused() throws {
        var serialSpec = spec
        serialSpec.transport = .virtioSerial(socketPath: "/run/keyshard/agent.sock")
        let verdict = serialSpec.audit(liveXML: live)
        #expect(verdict.findings.contains { $0.kind == .unexpectedDevice && $0.element == "devices/vsock" })
        #expect(verdict.findings.contains { $0.kind == .missingDevice && $0.element == "devices/channel" })
    }

    @Test func usbTabletAndOtherInputsAreRefused() {
        expectRefused(withDevice("<input type='tablet' bus='usb'/>"), kind: .unexpectedDevice, element: "devices/input")
    }

    @Test func unreadableXMLIsRefusedNotCrashed() {
        let verdict = spec.audit(liveXML: "<domain><devices>")
        #expect(verdict.findings.map(\.kind) == [.unreadable])
    }

    @Test func everyFindingIsReportedNotJustTheFirst() {
        let xml = withDevice("<interface type='user'/><disk type='file' device='cdrom'/>")
        let elements = Set(spec.audit(liveXML: xml).findings.map(\.element))
        #expect(elements.isSuperset(of: ["devices/interface", "devices/disk"]))
    }

    @Test func metadataThatSaysSomethingElseIsRefused() throws {
        expectRefused(
            try replacing(
                "<keyshard:shareIndex>1</keyshard:shareIndex>", with: "<keyshard:shareIndex>2</keyshard:shareIndex>"),
            kind: .mismatchedDomain, element: "metadata")
        expectRefused(
            try replacing("https://keyshard.dev/xmlns/custodian/1", with: "https://example.invalid/other"),
            kind: .mismatchedDomain, element: "metadata")
    }
}

/// The device audit on the live XML of a real custodian (captured from a boot under
/// `qemu:///system`), so what libvirt adds on this platform is known to pass and a device
/// slipped into that very XML is known to be refused.
@Suite struct CapturedLiveXMLAuditTests {
    let spec: CustodianDomainSpec
    let live: String
    static let directory = "/var/lib/keyshard/custodians/keyshard-vmtest-s1-e1"

    init() throws {
        spec = CustodianDomainSpec(
            identity: try SpecFixtures.identity(ring: "vmtest", shareIndex: 1, epoch: 1),
            memoryMiB: 512, vcpus: 1,
            boot: .init(
                kernelPath: "/var/lib/keyshard/image/vmlinuz", initrdPath: "/var/lib/keyshard/image/initrd.img",
                commandLine: "console=ttyS0 panic=-1 keyshard.transport=virtio-serial:org.keyshard.agent.0 "
                    + "keyshard.tcti=device:/dev/tpmrm0"),
            firmware: .init(
                loaderPath: "/usr/share/OVMF/OVMF_CODE_4M.fd", nvramTemplatePath: "/usr/share/OVMF/OVMF_VARS_4M.fd",
                nvramPath: Self.directory + "/nvram.fd"),
            transport: .virtioSerial(socketPath: Self.directory + "/agent.sock"),
            consoleLogPath: Self.directory + "/console.log")
        live = try String(contentsOfFile: try resourcePath("live-qemu-custodian-captured.xml"), encoding: .utf8)
    }

    @Test func aRealCustodiansLiveXMLIsAcceptedAndNamesItsAgentSocket() throws {
        #expect(spec.audit(liveXML: live) == .matchesSpec, "\(spec.audit(liveXML: live).findings)")
        #expect(try AgentEndpoint(liveXML: live) == .virtioSerial(socketPath: Self.directory + "/agent.sock"))
    }

    @Test(arguments: [
        ("interface", "<interface type='user'><model type='virtio'/></interface>"),
        ("disk", "<disk type='file' device='disk'><source file='/tmp/x.img'/><target dev='vda' bus='virtio'/></disk>"),
        ("filesystem", "<filesystem type='mount'><source dir='/'/><target dir='host'/></filesystem>"),
        ("hostdev", "<hostdev mode='subsystem' type='pci'><source><address bus='0x03' slot='0x00'/></source></hostdev>"),
    ])
    func aDeviceAddedToTheRealXMLIsRefused(element: String, xml: String) {
        let tampered = live.replacingOccurrences(of: "</devices>", with: "\(xml)\n  </devices>")
        let verdict = spec.audit(liveXML: tampered)
        #expect(!verdict.isAccepted)
        #expect(verdict.findings.contains { $0.element.hasSuffix(element) }, "\(verdict.findings)")
    }

    @Test func anotherSocketPathOrKernelIsRefused() {
        let moved = live.replacingOccurrences(of: Self.directory + "/agent.sock", with: "/tmp/elsewhere.sock")
        #expect(!spec.audit(liveXML: moved).isAccepted)
        let kernel = live.replacingOccurrences(
            of: "<kernel>/var/lib/keyshard/image/vmlinuz", with: "<kernel>/tmp/other-vmlinuz")
        #expect(spec.audit(liveXML: kernel).findings.contains { $0.element == "os/kernel" })
    }
}
