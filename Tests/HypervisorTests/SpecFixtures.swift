import Foundation
import Hypervisor
import Testing

/// Specs shaped like production custodians (OVMF, vTPM, direct kernel boot).
enum SpecFixtures {
    static func identity(ring: String = "ring-a", shareIndex: UInt16 = 1, epoch: UInt64 = 1) throws -> CustodianIdentity
    {
        try CustodianIdentity(ring: ring, shareIndex: shareIndex, epoch: epoch)
    }

    static func spec(
        identity: CustodianIdentity,
        transport: CustodianDomainSpec.AgentTransport = .virtioSerial(socketPath: "/run/keyshard/agent.sock"),
        directory: String = "/var/lib/keyshard",
        commandLine: String = "console=ttyS0 quiet"
    ) -> CustodianDomainSpec {
        CustodianDomainSpec(
            identity: identity,
            memoryMiB: 256,
            vcpus: 1,
            boot: .init(
                kernelPath: "\(directory)/vmlinuz", initrdPath: "\(directory)/initrd.img", commandLine: commandLine),
            firmware: .init(
                loaderPath: "/usr/share/OVMF/OVMF_CODE_4M.fd",
                nvramTemplatePath: "/usr/share/OVMF/OVMF_VARS_4M.fd",
                nvramPath: "\(directory)/\(identity.suggestedDomainName)_VARS.fd"),
            transport: transport,
            consoleLogPath: "\(directory)/console.log")
    }

    /// A spec with a unique name, for tests that create domains on the shared test driver.
    static func uniqueSpec(
        ring: String = "ring-a", shareIndex: UInt16 = 1, epoch: UInt64 = 1,
        transport: CustodianDomainSpec.AgentTransport = .virtioSerial(socketPath: "/run/keyshard/agent.sock")
    ) throws -> CustodianDomainSpec {
        var spec = spec(identity: try identity(ring: ring, shareIndex: shareIndex, epoch: epoch), transport: transport)
        spec.name = uniqueDomainName("\(ring)-s\(shareIndex)")
        return spec
    }
}

/// Runs `virt-xml-validate FILE domain` (libvirt's RelaxNG schema) on `xml`.
func validateWithLibvirtSchema(_ xml: String) throws -> (valid: Bool, output: String) {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-\(UUID().uuidString).xml")
    try xml.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/virt-xml-validate")
    process.arguments = [file.path, "domain"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus == 0, output)
}
