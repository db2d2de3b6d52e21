import Foundation
import Hypervisor
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite struct DomainXMLTests {
    private func document(_ xml: String) throws -> XMLDocument {
        try XMLDocument(xmlString: xml, options: [])
    }

    private func values(_ xpath: String, in document: XMLDocument) throws -> [String] {
        try document.nodes(forXPath: xpath).map { $0.stringValue ?? "" }
    }

    @Test(arguments: [
        CustodianDomainSpec.AgentTransport.virtioSerial(socketPath: "/run/keyshard/agent.sock"),
        .vsock(cid: nil),
        .vsock(cid: 42),
    ])
    func custodianXMLValidatesAgainstLibvirtsSchema(transport: CustodianDomainSpec.AgentTransport) throws {
        let xml = try SpecFixtures.spec(identity: SpecFixtures.identity(), transport: transport).domainXML()
        let result = try validateWithLibvirtSchema(xml)
        #expect(result.valid, "\(result.output)\n\(xml)")
    }

    @Test func hostileCharactersAreEscapedAndSurviveTheRoundTrip() throws {
        let hostile = #"<&'">"#
        let identity = try SpecFixtures.identity(ring: "ring\(hostile)<evil x='1'>", shareIndex: 3, epoch: 9)
        var spec = SpecFixtures.spec(
            identity: identity,
            transport: .virtioSerial(socketPath: "/run/\(hostile)/agent.sock"),
            directory: "/var/lib/keyshard/\(hostile)",
            commandLine: "console=ttyS0 x=\(hostile)")
        spec.name = "keyshard-\(hostile)]]><devices><interface type='network'>"
        let xml = try spec.domainXML()

        let result = try validateWithLibvirtSchema(xml)
        #expect(result.valid, "\(result.output)\n\(xml)")
        // Nothing was injected: one <name>, no interface, and the values read back unchanged.
        let parsed = try document(xml)
        #expect(try values("/domain/name", in: parsed) == [spec.name])
        #expect(try parsed.nodes(forXPath: "//interface").isEmpty)
        #expect(try parsed.nodes(forXPath: "//evil").isEmpty)
        #expect(try values("/domain/os/cmdline", in: parsed) == [spec.boot.commandLine])
        #expect(try values("/domain/devices/channel/source/@path", in: parsed) == ["/run/\(hostile)/agent.sock"])
        #expect(try AgentEndpoint(liveXML: xml) == .virtioSerial(socketPath: "/run/\(hostile)/agent.sock"))
        let metadata = try #require(parsed.nodes(forXPath: "/domain/metadata/*").first as? XMLElement)
        #expect(try CustodianIdentity(metadataXML: metadata.xmlString) == identity)
        // The spec's own XML passes its own audit: every value compared equal after escaping.
        #expect(spec.audit(liveXML: xml) == .matchesSpec)
    }

    @Test func xmlHasTheCustodianShape() throws {
        var spec = SpecFixtures.spec(identity: try SpecFixtures.identity(), transport: .vsock(cid: nil))
        spec.virtualization = .kvm
        let parsed = try document(try spec.domainXML())
        #expect(try values("/domain/@type", in: parsed) == ["kvm"])
        #expect(try values("/domain/os/type/@machine", in: parsed) == ["q35"])
        #expect(try parsed.nodes(forXPath: "/domain/features/acpi").count == 1)
        #expect(try values("/domain/on_poweroff", in: parsed) == ["destroy"])
        #expect(try values("/domain/on_crash", in: parsed) == ["destroy"])
        #expect(try values("/domain/memory", in: parsed) == ["256"])
        #expect(try values("/domain/memory/@unit", in: parsed) == ["MiB"])
        #expect(try values("/domain/vcpu", in: parsed) == ["1"])
        #expect(try values("/domain/os/loader", in: parsed) == ["/usr/share/OVMF/OVMF_CODE_4M.fd"])
        #expect(try values("/domain/os/nvram/@template", in: parsed) == ["/usr/share/OVMF/OVMF_VARS_4M.fd"])
        #expect(try values("/domain/devices/tpm/@model", in: parsed) == ["tpm-crb"])
        #expect(try values("/domain/devices/tpm/backend/@type", in: parsed) == ["emulator"])
        #expect(try values("/domain/devices/tpm/backend/@version", in: parsed) == ["2.0"])
        #expect(try values("/domain/devices/vsock/cid/@auto", in: parsed) == ["yes"])
        #expect(try values("/domain/devices/memballoon/@model", in: parsed) == ["none"])
        #expect(try values("/domain/devices/serial/source/@path", in: parsed) == ["/var/lib/keyshard/console.log"])
        for absent in ["disk", "interface", "hostdev", "filesystem", "channel", "graphics"] {
            #expect(try parsed.nodes(forXPath: "/domain/devices/\(absent)").isEmpty, "\(absent)")
        }
        let namespaced = try #require(parsed.nodes(forXPath: "/domain/metadata/*").first as? XMLElement)
        #expect(namespaced.uri == CustodianDomainSpec.metadataNamespace)
        #expect(namespaced.prefix == "keyshard")
    }

    @Test func virtioSerialChannelCarriesTheAgentPortName() throws {
        let parsed = try document(try SpecFixtures.spec(identity: SpecFixtures.identity()).domainXML())
        #expect(try values("/domain/devices/channel/@type", in: parsed) == ["unix"])
        #expect(try values("/domain/devices/channel/source/@mode", in: parsed) == ["bind"])
        #expect(try values("/domain/devices/channel/target/@type", in: parsed) == ["virtio"])
        #expect(try values("/domain/devices/channel/target/@name", in: parsed) == ["org.keyshard.agent.0"])
        #expect(try parsed.nodes(forXPath: "/domain/devices/vsock").isEmpty)
    }

    @Test func fixedVsockCIDIsWritten() throws {
        let spec = SpecFixtures.spec(identity: try SpecFixtures.identity(), transport: .vsock(cid: 42))
        let parsed = try document(try spec.domainXML())
        #expect(try values("/domain/devices/vsock/cid/@address", in: parsed) == ["42"])
        #expect(try values("/domain/devices/vsock/cid/@auto", in: parsed) == ["no"])
        #expect(try AgentEndpoint(liveXML: spec.domainXML()) == .vsock(cid: 42))
    }
}

@Suite struct SpecValidationTests {
    private func refusal(_ change: (inout CustodianDomainSpec) -> Void) throws -> HypervisorError? {
        var spec = SpecFixtures.spec(identity: try SpecFixtures.identity())
        change(&spec)
        return #expect(throws: HypervisorError.self) { try spec.domainXML() }
    }

    @Test func nameWithoutTheKeyshardPrefixIsRefused() throws {
        let error = try refusal { $0.name = "custodian-1" }
        #expect(error?.code == .invalidSpec)
        #expect(error?.reason.contains("keyshard-") == true)
    }

    @Test func nameWithASlashIsRefused() throws {
        #expect(try refusal { $0.name = "keyshard-a/b" }?.code == .invalidSpec)
    }

    @Test func memoryAndVCPUsOutOfRangeAreRefused() throws {
        #expect(try refusal { $0.memoryMiB = 0 }?.reason.contains("memory") == true)
        #expect(try refusal { $0.vcpus = 0 }?.reason.contains("vCPU") == true)
        #expect(try refusal { $0.vcpus = CustodianDomainSpec.maximumVCPUs + 1 }?.code == .invalidSpec)
    }

    @Test func relativePathsAreRefused() throws {
        #expect(try refusal { $0.boot.kernelPath = "vmlinuz" }?.reason.contains("kernel") == true)
        #expect(
            try refusal { $0.transport = .virtioSerial(socketPath: "agent.sock") }?.reason.contains("agent socket")
                == true)
        #expect(try refusal { $0.firmware?.nvramPath = "VARS.fd" }?.reason.contains("NVRAM") == true)
        #expect(try refusal { $0.consoleLogPath = "console.log" }?.reason.contains("console") == true)
    }

    @Test func controlCharactersAreRefused() throws {
        #expect(try refusal { $0.boot.commandLine = "quiet\u{0}init=/bin/sh" }?.reason.contains("command line") == true)
        #expect(try refusal { $0.name = "keyshard-a\nb" }?.reason.contains("domain name") == true)
    }

    @Test func commandLineMustFitTheKernelsWithOVMFsSuffix() throws {
        // 2048 bytes with the NUL, less OVMF's " initrd=initrd" under UEFI: 2033.
        var spec = SpecFixtures.spec(identity: try SpecFixtures.identity())
        spec.boot.commandLine = String(repeating: "a", count: 2033)
        #expect(throws: Never.self) { try spec.validate() }
        spec.firmware = nil
        spec.boot.commandLine = String(repeating: "a", count: 2047)
        #expect(throws: Never.self) { try spec.validate() }
        let long = try refusal { $0.boot.commandLine = String(repeating: "a", count: 2034) }
        #expect(long?.code == .invalidSpec && long?.reason.contains("at most 2033") == true)
        #expect(try refusal { $0.boot.commandLine = "quiet keyshard.x=é" }?.reason.contains("ASCII") == true)
    }

    @Test func reservedVsockCIDsAreRefused() throws {
        for cid: UInt32 in [0, 1, 2, .max] {
            #expect(try refusal { $0.transport = .vsock(cid: cid) }?.reason.contains("reserved") == true)
        }
    }

    @Test func identityRulesAreEnforced() {
        #expect(throws: HypervisorError(.invalidSpec, "")) { try CustodianIdentity(ring: "r", shareIndex: 0, epoch: 1) }
        #expect(throws: HypervisorError(.invalidSpec, "")) { try CustodianIdentity(ring: "", shareIndex: 1, epoch: 1) }
        #expect(throws: HypervisorError(.invalidSpec, "")) {
            try CustodianIdentity(ring: "a/b", shareIndex: 1, epoch: 1)
        }
        #expect(throws: HypervisorError(.invalidSpec, "")) {
            try CustodianIdentity(ring: String(repeating: "r", count: 65), shareIndex: 1, epoch: 1)
        }
        #expect(throws: HypervisorError(.invalidSpec, "")) {
            try CustodianIdentity(ring: "a\tb", shareIndex: 1, epoch: 1)
        }
    }

    @Test func suggestedNameCarriesRingIndexAndEpoch() throws {
        let identity = try CustodianIdentity(ring: "payments", shareIndex: 4, epoch: 12)
        #expect(identity.suggestedDomainName == "keyshard-payments-s4-e12")
        #expect(SpecFixtures.spec(identity: identity).name == "keyshard-payments-s4-e12")
    }
}
