import Foundation
import Hypervisor
import Testing

/// Domain state, owner annotations and the KVM probe on libvirt's test driver; the probe against a
/// real host is exercised by every keyshardd start on the libvirt backend (`LibvirtDaemonTests`).
@Suite struct DomainStateAndProbeTests {
    @Test("a running custodian reads as running; once destroyed, its handle says the domain is gone")
    func state() throws {
        let connection = try Connection(uri: "test:///default")
        let domain = try connection.createCustodian(try SpecFixtures.uniqueSpec(shareIndex: 3))
        #expect(try domain.state() == .running)
        try domain.destroy()
        let error = #expect(throws: LibvirtError.self) { try domain.state() }
        #expect(error?.code == .noDomain, "\(String(describing: error))")
    }

    @Test("owner, launch time and generation are written to the metadata and read back by discovery")
    func annotationsRoundTrip() throws {
        let connection = try Connection(uri: "test:///default")
        var spec = try SpecFixtures.uniqueSpec(ring: "annotated", shareIndex: 4, epoch: 9)
        spec.annotations = try CustodianAnnotations(owner: "ksd-test.1", launchedAtSeconds: 1_800_000_000, generation: 9)
        let domain = try connection.createCustodian(spec)
        defer { _ = try? domain.destroy() }
        #expect(spec.audit(liveXML: try domain.liveXML()) == .matchesSpec, "the device audit still accepts annotated metadata")
        let found = try #require(try connection.discoverCustodians().custodians.first { $0.domain.name == spec.name })
        #expect(found.identity == spec.identity)
        #expect(found.annotations == spec.annotations)
        // A domain without annotations (an older daemon's) is discovered with none.
        let plain = try connection.createCustodian(try SpecFixtures.uniqueSpec(ring: "plain"))
        defer { _ = try? plain.destroy() }
        let unannotated = try #require(try connection.discoverCustodians().custodians.first { $0.domain.name == plain.name })
        #expect(unannotated.annotations == nil)
    }

    @Test("owner names are short and plain: no markup, no path, no spaces")
    func ownerNames() {
        for bad in ["", String(repeating: "a", count: 65), "a b", "a/b", "<x>", "ä"] {
            #expect(throws: HypervisorError.self) { _ = try CustodianAnnotations(owner: bad, launchedAtSeconds: 0, generation: 0) }
        }
        #expect((try? CustodianAnnotations(owner: "ksd-0a1B_c.d", launchedAtSeconds: 0, generation: 0)) != nil)
    }

    @Test("the KVM probe on a host without a kvm domain type decides TCG without starting anything")
    func probeWithoutKVM() async throws {
        let connection = try Connection(uri: "test:///default")
        #expect(try connection.offersKVM() == false)
        let before = try connection.activeDomains().map(\.name)
        let probe = await VirtualizationProbe.probe(
            connection, firmwareCodePath: "/usr/share/OVMF/OVMF_CODE_4M.fd",
            firmwareVariablesTemplatePath: "/usr/share/OVMF/OVMF_VARS_4M.fd", scratchDirectory: "/tmp")
        #expect(probe.virtualization == .qemu)
        #expect(probe.reason.contains("no kvm domain type"), "\(probe.reason)")
        #expect(try connection.activeDomains().map(\.name) == before)
    }

    @Test("lifecycle kinds read as libvirt's words")
    func eventWords() {
        #expect(DomainLifecycleEvent.Kind.stopped(.destroyed).description == "stopped (destroyed)")
        #expect(DomainLifecycleEvent.Kind.stopped(.crashed).description == "stopped (crashed)")
        #expect(DomainLifecycleEvent.Kind.crashed.description == "crashed")
    }
}
