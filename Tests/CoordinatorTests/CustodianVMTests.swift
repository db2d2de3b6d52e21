import AgentProtocol
import Attestation
import Coordinator
import Foundation
import Hypervisor
import ShardCrypto
import TPM2
import TestSupport
import Testing

/// One real custodian end to end: the image `make image` built (Debian cloud kernel, initramfs
/// with the static keyshard-agent), booted by libvirt on `qemu:///system` under TCG with OVMF and
/// a swtpm vTPM, admitted by the device audit, reached over virtio-serial, attested against the
/// policy derived for its boot from `measurements.json` and the exact command line it booted with
/// (the coordinator key and EK root on it; no reference boot), then given a share.
///
/// `make test` builds the image first; run `make image` before `swift test` by hand.
@Suite(
    "Custodian VM (libvirt, OVMF, swtpm, keyshard-agent)", .serialized,
    .enabled(if: getuid() == 0, "qemu:///system and starting libvirtd need root"))
struct CustodianVMTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var imageDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["KEYSHARD_IMAGE_DIR"] {
            return URL(fileURLWithPath: override)
        }
        return root.appendingPathComponent("vm-images/out")
    }

    /// libvirtd running, the image and its predicted policy read, a scratch state directory.
    struct Fixture {
        let connection: Connection
        let image: CustodianImage
        /// The image's policy (`vm-images/out/policy.yaml`); the launcher derives each boot's from it.
        let policy: AttestationPolicy
        /// The coordinator identity these tests play (its key goes on the custodians' command line).
        let identity = CoordinatorIdentity()
        let stateDirectory: URL

        init() throws {
            let started = try ProcessRunner.run(
                root.appendingPathComponent("scripts/start-libvirt").path, timeout: 60)
            try #require(started.status == 0, "\(started.combinedOutput)")
            let directory = imageDirectory
            guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("measurements.json").path)
            else {
                throw CoordinatorError(.invalidImage, "no image in \(directory.path): run `make image` first")
            }
            let policyText = try String(contentsOf: directory.appendingPathComponent("policy.yaml"), encoding: .utf8)
            policy = try AttestationPolicy(yaml: policyText, source: "policy.yaml")
            connection = try Connection(uri: "qemu:///system")
            stateDirectory = URL(fileURLWithPath: "/tmp/keyshard-vmtest-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(
                at: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            // QEMU runs as libvirt-qemu: a checkout under a private directory (a clone in
            // `mktemp -d`) is out of its reach, the staged copy is not.
            image = try CustodianImage.stage(
                from: directory.path, into: stateDirectory.appendingPathComponent("image").path)
        }

        func launcher(image: CustodianImage? = nil) -> CustodianLauncher {
            CustodianLauncher(
                connection: connection, image: image ?? self.image, attestor: CustodianAttestor(policy: policy, identity: identity),
                configuration: .init(stateDirectory: stateDirectory.path))
        }

        /// No domain of this test is left running, and the scratch directory goes.
        func tearDown(_ names: [String]) throws {
            defer { try? FileManager.default.removeItem(at: stateDirectory) }
            for name in names {
                if let domain = try connection.domain(named: name) { try? domain.destroy() }
            }
        }
    }

    @Test("boot with the pins, device audit, attestation against the derived policy, session, share, heartbeat, retire",
          .timeLimit(.minutes(15)))
    func custodianBootsAttestsAndHoldsAShare() async throws {
        let fixture = try Fixture()
        let identity = try CustodianIdentity(ring: "vmtest", shareIndex: 1, epoch: UInt64(Date().timeIntervalSince1970))
        let name = identity.suggestedDomainName
        defer { try? fixture.tearDown([name]) }
        #expect(fixture.policy.selection == TPMPCRSelection(bank: .sha256, indexes: [4, 9]))
        #expect(!fixture.policy.ekRoots.isEmpty && !fixture.policy.eventRules.isEmpty)
        let launcher = fixture.launcher()
        let pins = try launcher.pins()
        #expect(pins.coordinatorKey == fixture.identity.publicKey && pins.minimumThreshold == 2)
        let commandLine = try launcher.bootCommandLine()
        #expect(commandLine == fixture.image.commandLine + " keyshard.coordinator=\(fixture.identity.publicKey.hex) "
            + "keyshard.ekroot=\(pins.endorsementRootDigests.map(\.hexString).joined(separator: ",")) "
            + "keyshard.minthreshold=2")

        let launched: LaunchedCustodian
        do {
            launched = try await launcher.launch(identity)
        } catch {
            let console = (try? String(
                contentsOfFile: fixture.stateDirectory.appendingPathComponent("\(name)/console.log").path,
                encoding: .utf8)) ?? ""
            Issue.record("launch failed: \(error)\nconsole:\n\(console.suffix(4000))")
            return
        }
        #expect(try launched.domain.isActive())
        #expect(launched.consoleLog.contains("keyshard-init: starting keyshard-agent"))
        #expect(launched.spec.boot.commandLine == commandLine)
        // The policy it was admitted under is this boot's: PCR 9 for this command line, not the
        // image policy's (which is for the command line without pins).
        let (_, pcr9) = CustodianBootPolicy.pcr9(commandLine: commandLine, initrdSHA256: fixture.image.initrdSHA256)
        #expect(launched.attestor.policy.allowedPCRValues[9] == [pcr9])
        #expect(fixture.policy.allowedPCRValues[9] != [pcr9])
        #expect(launched.attestor.policy.allowedPCRValues[4] == fixture.policy.allowedPCRValues[4])
        print("custodian \(name): created in \(launched.timings.create), agent serving after \(launched.timings.boot), "
            + "attested in \(launched.timings.attest)")

        // The share goes to the transport key the accepted quote vouched for.
        let key = try KeyReference(keyID: "vmtest", version: 1)
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let delivery = try ShareDelivery(
            key: key, participant: shares[0].id,
            sealedShare: try ShareSealing.seal(share: shares[0], to: launched.attested.transportKey, key: key),
            commitment: commitment)
        guard case .shareAccepted(let accepted) = try await launched.client.request(.deliverShare(delivery)) else {
            Issue.record("the custodian did not accept its share")
            return
        }
        #expect(accepted.publicShare == commitment.publicShare(for: shares[0].id))

        // Re-attestation: the heartbeat's quote satisfies the same policy (fresh nonce, clock
        // forward from the admission quote), and proves possession of exactly the delivered share.
        let expected = [key: ExpectedShare(participant: shares[0].id, commitment: commitment)]
        guard case .healthy(let beat) = try await launched.heartbeat(expecting: expected) else {
            Issue.record("the heartbeat was refused")
            return
        }
        #expect(beat.proofs.map(\.key) == [key])
        #expect(await launched.state.lastAcceptedClock.clock > launched.attested.clock.clock)
        // A heartbeat that lacks the proof of a key version the custodian was given is refused, and
        // the custodian is destroyed.
        let otherKey = try KeyReference(keyID: "vmtest", version: 2)
        let refused = try await launched.heartbeat(
            expecting: expected.merging([otherKey: ExpectedShare(participant: shares[0].id, commitment: commitment)]) {
                first, _ in first
            })
        #expect(refused.refusal?.refusalCodes == [.possessionMissing], "\(String(describing: refused.refusal))")
        #expect(try fixture.connection.domain(named: name) == nil)
    }

    @Test("two custodian VMs re-share a key: each dealer attests both recipients itself, inside its own VM",
          .timeLimit(.minutes(15)))
    func custodiansAttestEachOtherInsideTheirVMs() async throws {
        let fixture = try Fixture()
        let epoch = UInt64(Date().timeIntervalSince1970)
        let identities = try [1, 2].map { try CustodianIdentity(ring: "vmpeers", shareIndex: UInt16($0), epoch: epoch) }
        defer { try? fixture.tearDown(identities.map(\.suggestedDomainName)) }
        let launcher = fixture.launcher()
        var custodians: [LaunchedCustodian] = []
        for identity in identities { custodians.append(try await launcher.launch(identity)) }

        // A 2-of-2 key imported into both, then re-shared to both as a new version.
        let key = try KeyReference(keyID: "vmpeers", version: 1)
        let newKey = try KeyReference(keyID: "vmpeers", version: 2)
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 2)
        for (index, custodian) in custodians.enumerated() {
            let delivery = try ShareDelivery(
                key: key, participant: shares[index].id,
                sealedShare: try ShareSealing.seal(share: shares[index], to: custodian.attested.transportKey, key: key),
                commitment: commitment)
            _ = try await custodian.client.request(.deliverShare(delivery))
        }
        let ids = shares.map(\.id)
        let binding = RecipientBinding.redistribution(key: key, newKey: newKey, newThreshold: 2, recipients: ids)
        var recipients: [RecipientKey] = []
        for (index, custodian) in custodians.enumerated() {
            recipients.append(
                try await custodian.attestor.recipient(
                    custodian.client, participant: ids[index], custodian: custodian.attested, binding: binding))
        }
        // Inside the VM, the dealer's own rule refuses a recipient whose transport key was substituted.
        var substituted = recipients
        substituted[1] = try RecipientKey(
            participant: ids[1], transportKey: try TransportPublicKey(privateKey: .random()),
            quote: recipients[1].quote, endorsementChain: recipients[1].endorsementChain)
        let refusal = await #expect(throws: AgentProtocolError.self) {
            try await custodians[0].client.request(
                .redistributeDealRequest(
                    try RedistributeDealRequest(key: key, newKey: newKey, newThreshold: 2, recipients: substituted)))
        }
        #expect(refusal?.remote?.code == .recipientRefused && refusal?.remote?.text.contains("recipient.binding") == true,
                "\(String(describing: refusal?.remote))")

        // The honest run: real PCR 4/9 equal across the two boots, EKs from the host's swtpm-localca.
        var dealings: [RedistributeDealing] = []
        for custodian in custodians {
            guard case .redistributeDealing(let dealing) = try await custodian.client.request(
                .redistributeDealRequest(
                    try RedistributeDealRequest(key: key, newKey: newKey, newThreshold: 2, recipients: recipients)))
            else {
                Issue.record("no dealing")
                return
            }
            dealings.append(dealing)
        }
        for (index, custodian) in custodians.enumerated() {
            let mine = dealings.compactMap { $0.subShares.first { $0.to == ids[index] } }
            guard case .redistributeAccepted(let accepted) = try await custodian.client.request(
                .redistributeReceiveRequest(
                    try RedistributeReceiveRequest(
                        newKey: newKey, participant: ids[index], newThreshold: 2, oldCommitment: commitment,
                        dealings: dealings.map(\.dealing), dealingProofs: dealings.map(\.proof), subShares: mine)))
            else {
                Issue.record("no acceptance")
                return
            }
            #expect(accepted.commitment.publicKey == commitment.publicKey)
        }
        for custodian in custodians { try await custodian.retire() }
    }

    @Test("an initrd with one file added boots but is refused at the quote, and its domain is destroyed",
          .timeLimit(.minutes(15)))
    func tamperedInitrdIsRefused() async throws {
        let fixture = try Fixture()
        let tampered = fixture.stateDirectory.appendingPathComponent("tampered-image")
        try FileManager.default.createDirectory(
            at: tampered, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for file in ["vmlinuz", "initrd.img", "measurements.json"] {
            try FileManager.default.copyItem(
                at: Self.imageDirectory.appendingPathComponent(file), to: tampered.appendingPathComponent(file))
        }
        // A second gzip'd cpio archive after the first: the kernel unpacks both, so the guest boots
        // the same agent plus one extra file, and only the measurement tells.
        let appended = try ProcessRunner.run(
            "/bin/sh",
            ["-c", "cd \"$1\" && mkdir extra && echo implant > extra/implant && cd extra "
                + "&& echo implant | cpio --quiet -o -H newc | gzip -n >> ../initrd.img && cd .. && rm -r extra",
             "sh", tampered.path],
            timeout: 60)
        try #require(appended.status == 0, "\(appended.combinedOutput)")

        let identity = try CustodianIdentity(ring: "vmtest", shareIndex: 2, epoch: UInt64(Date().timeIntervalSince1970))
        let name = identity.suggestedDomainName
        defer { try? fixture.tearDown([name]) }
        let image = try CustodianImage(directory: tampered.path)
        let launcher = fixture.launcher(image: image)
        let outcome: Result<LaunchedCustodian, CoordinatorError>
        do {
            outcome = .success(try await launcher.launch(identity))
        } catch {
            outcome = .failure(error)
        }
        if case .success(let launched) = outcome {
            try? await launched.retire()
            Issue.record("a tampered initrd was admitted")
            return
        }
        guard case .failure(let error) = outcome else { return }
        #expect(error.code == .evidenceRefused, "\(error)")
        #expect(error.reason.contains("pcr.value"), "\(error)")
        #expect(error.reason.contains("eventlog.rule-digest"), "\(error)")
        #expect(error.reason.contains("initrd"), "\(error)")
        #expect(try fixture.connection.domain(named: name) == nil)
    }

    @Test("another coordinator's custodian: our boot policy refuses its PCR 9, its agent refuses our session",
          .timeLimit(.minutes(15)))
    func anotherCoordinatorsCustodianRefusesTheSession() async throws {
        let fixture = try Fixture()
        let launcher = fixture.launcher()
        let other = CoordinatorIdentity()
        let ours = try launcher.pins()
        let theirs = try CustodianPins(
            coordinatorKey: other.publicKey, endorsementRootDigests: ours.endorsementRootDigests,
            minimumThreshold: ours.minimumThreshold)
        let ourLine = try launcher.bootCommandLine()
        let theirLine = try theirs.commandLine(base: fixture.image.commandLine)
        #expect(ourLine.utf8.count == theirLine.utf8.count && ourLine != theirLine)
        let ourPolicy = try launcher.bootPolicy()
        let theirPolicy = try CustodianBootPolicy.derive(
            imagePolicy: fixture.policy, image: fixture.image, commandLine: theirLine)
        #expect(ourPolicy.allowedPCRValues[9] != theirPolicy.allowedPCRValues[9])
        #expect(ourPolicy.allowedPCRValues[4] == theirPolicy.allowedPCRValues[4])

        // One boot, by hand (the launcher always boots with its own pins): the custodian the
        // other coordinator would have started.
        let identity = try CustodianIdentity(ring: "vmtest", shareIndex: 3, epoch: UInt64(Date().timeIntervalSince1970))
        let spec = try launcher.spec(for: identity, commandLine: theirLine)
        defer { try? fixture.tearDown([spec.name]) }
        try FileManager.default.createDirectory(
            atPath: fixture.stateDirectory.appendingPathComponent(spec.name).path, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        let domain = try await offCooperativePool { try fixture.connection.createCustodian(spec) }
        try await offCooperativePool { try domain.admit(as: spec) }
        guard case .virtioSerial(let socketPath) = try domain.agentEndpoint() else {
            Issue.record("no virtio-serial endpoint")
            return
        }
        let client = try await AgentClient.connect(
            to: .unix(path: socketPath), options: AgentConnectionOptions(requestTimeout: .seconds(300)))
        defer { Task { try? await client.close() } }
        _ = try? await client.request(.sessionHello(SessionHello()))  // returns once the agent serves
        let console = { (try? String(
            contentsOfFile: fixture.stateDirectory.appendingPathComponent("\(spec.name)/console.log").path,
            encoding: .utf8)) ?? "" }

        // The policy derived for our command line refuses this boot at PCR 9, naming the command line.
        do {
            _ = try await CustodianAttestor(policy: ourPolicy, identity: fixture.identity).attest(client)
            Issue.record("a custodian pinned to another coordinator passed our boot policy")
        } catch {
            #expect(error.code == .evidenceRefused, "\(error)")
            #expect(error.reason.contains("pcr.value") && error.reason.contains("command line changed"), "\(error)")
        }
        // Even with a policy that admits its boot, the agent obeys only the key on its command line.
        do {
            _ = try await CustodianAttestor(policy: theirPolicy, identity: fixture.identity).attest(client)
            Issue.record("an agent pinned to another coordinator opened a session with ours\n\(console().suffix(3000))")
        } catch {
            #expect(error.code == .sessionRefused, "\(error)\n\(console().suffix(3000))")
        }
        // And it does open one for the coordinator it was booted for.
        let attested = try await CustodianAttestor(policy: theirPolicy, identity: other).attest(client)
        #expect(!attested.attestationKeyName.isEmpty)
        try? domain.destroy()
    }
}
