import AgentProtocol
import Attestation
import Coordinator
import Foundation
import ShardCrypto
import TPM2
import TestSupport
import Testing

/// The launcher's per-boot command line and policy: the pins on the command line, the EK root
/// digest taken from the self-signed root only, and PCR 9 derived exactly as
/// `vm-images/measure.py predict` derives it (checked by running measure.py on the same inputs).
@Suite("Custodian boot policy (pins on the command line, PCR 9 derived per boot)")
struct CustodianBootPolicyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let measurePy = root.appendingPathComponent("vm-images/measure.py").path
    static let builtImage = root.appendingPathComponent("vm-images/out")
    static let baseCommandLine =
        "console=ttyS0 panic=-1 keyshard.transport=virtio-serial:org.keyshard.agent.0 keyshard.tcti=device:/dev/tpmrm0"

    static func python(_ arguments: [String]) throws -> [String: Any] {
        let result = try ProcessRunner.run("/usr/bin/python3", arguments, currentDirectory: root, timeout: 120)
        try #require(result.status == 0, "\(result.combinedOutput)")
        let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))
        return try #require(object as? [String: Any])
    }

    static func pins(_ identity: CoordinatorIdentity = CoordinatorIdentity(), roots: Int = 1, threshold: Int = 2)
        throws -> CustodianPins
    {
        try CustodianPins(
            coordinatorKey: identity.publicKey,
            endorsementRootDigests: (0..<roots).map { [UInt8](repeating: UInt8($0 + 1), count: 32) },
            minimumThreshold: threshold)
    }

    /// A fake image directory: a small initrd, a kernel placeholder, and measurements.json.
    static func fakeImage(initrd: [UInt8] = Array("initrd".utf8), baseCmdline: String = baseCommandLine,
                          pcr4: String = String(repeating: "44", count: 32)) throws -> (URL, CustodianImage) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-bootpolicy-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("kernel".utf8).write(to: directory.appendingPathComponent("vmlinuz"))
        try Data(initrd).write(to: directory.appendingPathComponent("initrd.img"))
        let digest = sha256Hex(initrd)
        let document: [String: Any] = [
            "format": "keyshard-image-measurements/v1", "bank": "sha256",
            "image": [
                "cmdline": baseCmdline, "baseCmdline": baseCmdline, "memoryMiB": 512,
                "agent": ["kind": "keyshard-agent"], "initrd": ["sha256": digest],
            ],
            "pcrs": [
                "4": ["status": "predicted", "value": pcr4,
                      "events": [
                          ["type": "EV_EFI_BOOT_SERVICES_APPLICATION", "digest": String(repeating: "aa", count: 32)],
                      ]],
                "9": ["status": "predicted", "pinned": false, "value": String(repeating: "99", count: 32)],
            ],
        ]
        try JSONSerialization.data(withJSONObject: document)
            .write(to: directory.appendingPathComponent("measurements.json"))
        return (directory, try CustodianImage(directory: directory.path))
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        // SHA-256 through the PCR arithmetic's own primitive would be circular; Python is the reference.
        let result = try? ProcessRunner.run(
            "/usr/bin/python3",
            ["-c", "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"],
            input: bytes, timeout: 30)
        return result?.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    static func imagePolicy(for image: CustodianImage, initrd: String? = nil) throws -> AttestationPolicy {
        try AttestationPolicy(yaml: """
            apiVersion: keyshard/v1
            kind: AttestationPolicy
            name: custodian-test
            pcrBank: sha256
            pcrs:
              4: ["\(image.pcr4.value.hexString)"]
              9: ["\(String(repeating: "99", count: 32))"]
            events:
              - pcr: 4
                type: EV_EFI_BOOT_SERVICES_APPLICATION
                digests: ["\(String(repeating: "aa", count: 32))"]
              - pcr: 9
                type: EV_EVENT_TAG
                label: LOADED_IMAGE::LoadOptions
                digests: ["\(String(repeating: "bb", count: 32))"]
              - pcr: 9
                type: EV_EVENT_TAG
                label: Linux initrd
                digests: ["\(initrd ?? image.initrdSHA256.hexString)"]
            freshness:
              maxAge: 60s
            ekRoots: [/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem]
            """)
    }

    @Test("the pinned command line, load options digest and PCR 9 equal measure.py's for the same inputs")
    func derivationMatchesMeasurePy() throws {
        let (directory, image) = try Self.fakeImage(initrd: Array("an initrd \(UUID())".utf8))
        defer { try? FileManager.default.removeItem(at: directory) }
        for (pins, roots) in [(try Self.pins(), 1), (try Self.pins(roots: 2, threshold: 3), 2)] {
            let line = try pins.commandLine(base: image.commandLine)
            let (options, pcr9) = CustodianBootPolicy.pcr9(commandLine: line, initrdSHA256: image.initrdSHA256)
            let rootArguments = pins.endorsementRootDigests.map { "'\($0.hexString)'" }.joined(separator: ", ")
            let script = """
                import json, sys
                sys.path.insert(0, 'vm-images')
                import measure
                line = measure.pinned_cmdline(sys.argv[1], sys.argv[2], [\(rootArguments)], int(sys.argv[3]))
                options = measure.sha256(measure.load_options(line))
                initrd = bytes.fromhex(measure.file_sha256(sys.argv[4]))
                print(json.dumps({"cmdline": line, "options": options.hex(), "initrd": initrd.hex(),
                                  "pcr9": measure.replay([options, initrd]).hex()}))
                """
            let python = try Self.python([
                "-c", script, image.commandLine, pins.coordinatorKey.hex, String(pins.minimumThreshold),
                image.initrdPath,
            ])
            #expect(python["cmdline"] as? String == line)
            #expect(python["options"] as? String == options.hexString)
            #expect(python["initrd"] as? String == image.initrdSHA256.hexString)
            #expect(python["pcr9"] as? String == pcr9.hexString)
            #expect(line.hasSuffix("keyshard.minthreshold=\(pins.minimumThreshold)"))
            let rootList = pins.endorsementRootDigests.map(\.hexString).joined(separator: ",")
            #expect(line.contains("keyshard.ekroot=" + rootList))
            #expect(pins.endorsementRootDigests.count == roots)
        }
    }

    @Test(
        "measure.py predict with the pins on the built image gives the launcher's PCR 4 and 9",
        .enabled(
            if: FileManager.default.fileExists(atPath: builtImage.appendingPathComponent("measurements.json").path),
            "needs `make image`"))
    func builtImageMatchesMeasurePyPredict() throws {
        let image = try CustodianImage(directory: Self.builtImage.path)
        let pins = try Self.pins()
        let line = try pins.commandLine(base: image.commandLine)
        let predicted = try Self.python([
            Self.measurePy, "predict", "--kernel", image.kernelPath, "--initrd", image.initrdPath,
            "--cmdline", image.commandLine, "--memory-mib", String(image.memoryMiB),
            "--coordinator-key", pins.coordinatorKey.hex,
            "--ek-root-sha256", pins.endorsementRootDigests.map(\.hexString).joined(separator: ","),
            "--min-threshold", String(pins.minimumThreshold),
        ])
        let predictedImage = try #require(predicted["image"] as? [String: Any])
        let pcrs = try #require(predicted["pcrs"] as? [String: [String: Any]])
        #expect(predictedImage["cmdline"] as? String == line)
        #expect(predictedImage["baseCmdline"] as? String == image.commandLine)
        let policyText = try String(contentsOf: Self.builtImage.appendingPathComponent("policy.yaml"), encoding: .utf8)
        let policy = try CustodianBootPolicy.derive(
            imagePolicy: try AttestationPolicy(yaml: policyText), image: image, commandLine: line)
        #expect(policy.allowedPCRValues[9]?.map(\.hexString) == [pcrs["9"]?["value"] as? String ?? "?"])
        #expect(policy.allowedPCRValues[4]?.map(\.hexString) == [pcrs["4"]?["value"] as? String ?? "?"])
        let events = try #require(pcrs["9"]?["events"] as? [[String: Any]])
        let options = policy.eventRules.first { $0.label == CustodianBootPolicy.loadOptionsTag }
        #expect(options?.allowedDigests.map(\.hexString) == [events.first?["digest"] as? String ?? "?"])
        // PCR 4 does not see the command line: the prediction without pins is the same.
        #expect(image.pcr4.value.hexString == pcrs["4"]?["value"] as? String)
    }

    @Test("the derived policy pins this boot's PCR 9, the image's PCR 4 and initrd; another key, another PCR 9")
    func derivedPolicy() throws {
        let (directory, image) = try Self.fakeImage()
        defer { try? FileManager.default.removeItem(at: directory) }
        let imagePolicy = try Self.imagePolicy(for: image)
        let ours = try Self.pins().commandLine(base: image.commandLine)
        let theirs = try Self.pins().commandLine(base: image.commandLine)
        #expect(ours.utf8.count == theirs.utf8.count && ours != theirs)
        let policy = try CustodianBootPolicy.derive(imagePolicy: imagePolicy, image: image, commandLine: ours)
        let other = try CustodianBootPolicy.derive(imagePolicy: imagePolicy, image: image, commandLine: theirs)
        let (options, pcr9) = CustodianBootPolicy.pcr9(commandLine: ours, initrdSHA256: image.initrdSHA256)
        #expect(policy.allowedPCRValues[9] == [pcr9])
        #expect(policy.allowedPCRValues[4] == [image.pcr4.value])
        #expect(other.allowedPCRValues[9] != policy.allowedPCRValues[9])
        #expect(other.allowedPCRValues[4] == policy.allowedPCRValues[4])
        #expect(policy.eventRules.first { $0.label == CustodianBootPolicy.loadOptionsTag }?.allowedDigests == [options])
        #expect(policy.eventRules.first { $0.label == CustodianBootPolicy.initrdTag }?.allowedDigests
            == [image.initrdSHA256])
        #expect(policy.ekRoots == imagePolicy.ekRoots && policy.freshness == imagePolicy.freshness)
        #expect(policy.selection == imagePolicy.selection)
    }

    @Test("refusals: too long, not ASCII, vga=, pins in the base, bad pins, a policy for another image")
    func refusals() throws {
        let (directory, image) = try Self.fakeImage()
        defer { try? FileManager.default.removeItem(at: directory) }
        func code(_ body: () throws -> Void) -> (CoordinatorError.Code, String)? {
            do { try body() } catch let error as CoordinatorError { return (error.code, error.reason) } catch {
                return (.agentFailed, "unexpected \(error)")
            }
            return nil
        }
        // 2048 bytes with " initrd=initrd" and the NUL: 2033 fit, 2034 do not.
        #expect(code { try CustodianBootPolicy.validate(commandLine: String(repeating: "a", count: 2033)) } == nil)
        let long = code { try CustodianBootPolicy.validate(commandLine: String(repeating: "a", count: 2034)) }
        #expect(long?.0 == .invalidConfiguration && long?.1.contains("2049 bytes") == true,
                "\(String(describing: long))")
        // 30 roots: 30 × 65 bytes of digests do not fit beside the base command line.
        let many = code { _ = try Self.pins(roots: 30).commandLine(base: image.commandLine) }
        #expect(many?.0 == .invalidConfiguration)
        #expect(code { try CustodianBootPolicy.validate(commandLine: "console=ttyS0 é") }?.0 == .invalidConfiguration)
        #expect(code { try CustodianBootPolicy.validate(commandLine: "console=ttyS0\tquiet") }?.0
            == .invalidConfiguration)
        #expect(code { try CustodianBootPolicy.validate(commandLine: "vga=791 quiet") }?.1.contains("PCR 4") == true)
        let pinnedBase = code { _ = try Self.pins().commandLine(base: "quiet keyshard.coordinator=02ab") }
        #expect(pinnedBase?.1.contains("keyshard.coordinator") == true)
        let noRoot = code {
            _ = try CustodianPins(coordinatorKey: CoordinatorIdentity().publicKey, endorsementRootDigests: [])
        }
        #expect(noRoot?.0 == .invalidConfiguration)
        #expect(code { _ = try Self.pins(threshold: 1) }?.0 == .invalidConfiguration)
        #expect(code { _ = try CustodianPins(coordinatorKey: CoordinatorIdentity().publicKey,
                                             endorsementRootDigests: [[1, 2, 3]]) }?.0 == .invalidConfiguration)

        let line = try Self.pins().commandLine(base: image.commandLine)
        // The image policy must be this image's: its PCR 4 and its initrd.
        let (otherDirectory, otherImage) = try Self.fakeImage(pcr4: String(repeating: "45", count: 32))
        defer { try? FileManager.default.removeItem(at: otherDirectory) }
        let wrongKernel = code { _ = try CustodianBootPolicy.derive(
            imagePolicy: try! Self.imagePolicy(for: otherImage), image: image, commandLine: line) }
        #expect(wrongKernel?.0 == .invalidConfiguration && wrongKernel?.1.contains("PCR 4") == true)
        let wrongInitrd = code { _ = try CustodianBootPolicy.derive(
            imagePolicy: try! Self.imagePolicy(for: image, initrd: String(repeating: "cc", count: 32)),
            image: image, commandLine: line) }
        #expect(wrongInitrd?.0 == .invalidConfiguration && wrongInitrd?.1.contains("initrd") == true)
    }

    @Test("the EK root digest is the self-signed root's (DER SHA-256), not the issuing CA's")
    func endorsementRootDigest() throws {
        let (root, issuer) = try SoftwareTPM.with(endorsementCertificates: true) { tpm in
            (String(decoding: try tpm.file("ca/swtpm-localca-rootca-cert.pem"), as: UTF8.self),
             String(decoding: try tpm.file("ca/issuercert.pem"), as: UTF8.self))
        }
        let reference = try ProcessRunner.run(
            "/usr/bin/python3",
            ["-c", "import hashlib, ssl, sys; "
                + "print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(sys.stdin.read())).hexdigest())"],
            input: Array(root.utf8), timeout: 30)
        let expected = reference.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(expected.count == 64, "\(reference.combinedOutput)")
        #expect(try CustodianPins.endorsementRootDigests(pemTexts: [issuer, root]).map(\.hexString) == [expected])
        #expect(try CustodianPins.endorsementRootDigests(pemTexts: [root + issuer]).map(\.hexString) == [expected])
        do {
            _ = try CustodianPins.endorsementRootDigests(pemTexts: [issuer])
            Issue.record("an issuing CA was taken for a root")
        } catch {
            #expect(error.code == .invalidConfiguration && error.reason.contains("self-signed"), "\(error)")
        }
        do {
            _ = try CustodianPins.endorsementRootDigests(pemTexts: ["not a certificate"])
            Issue.record("garbage was taken for a root")
        } catch {
            #expect(error.code == .invalidConfiguration)
        }
    }
}
