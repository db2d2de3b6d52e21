import Attestation
import Foundation
import Testing

/// `keyshard attest verify` and `keyshard policy lint`, run as a person would: the built
/// executable, files on disk, exit codes and output.
@Suite struct AttestCLITests {
    struct Outcome {
        let status: Int32
        let reason: Process.TerminationReason
        let output: String
    }

    /// The `keyshard` executable built next to this test bundle.
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("keyshard")
    }

    func run(_ arguments: [String]) throws -> Outcome {
        let path = Self.executable
        try #require(FileManager.default.isExecutableFile(atPath: path.path),
                     "build the keyshard executable first (swift build --build-tests)")
        let process = Process()
        process.executableURL = path
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, reason: process.terminationReason,
            output: String(decoding: data, as: UTF8.self))
    }

    func withFiles<T>(_ files: [String: Data], _ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, data) in files { try data.write(to: directory.appendingPathComponent(name)) }
        return try body(directory)
    }

    /// The current time in RFC 3339, as a verifier records it when it issues a nonce.
    static var now: String { ISO8601DateFormatter().string(from: Date()) }

    private var nonceHex: String { SwtpmEvidence.nonce.map { String(format: "%02x", $0) }.joined() }

    private func verify(evidence: Data, policy: String = SwtpmEvidence.policyYAML(), nonce: String? = nil)
        throws -> Outcome
    {
        try withFiles(["e.json": evidence, "p.yaml": Data(policy.utf8)]) { directory in
            try run(["attest", "verify", "--policy", directory.appendingPathComponent("p.yaml").path,
                     "--evidence", directory.appendingPathComponent("e.json").path, "--nonce", nonce ?? nonceHex])
        }
    }

    @Test func goodEvidenceExitsZero() throws {
        let outcome = try verify(evidence: try SwtpmEvidence.get().ecc.json())
        #expect(outcome.status == 0)
        #expect(outcome.output.contains("accepted"))
    }

    @Test func refusedEvidenceExitsOneWithEveryReason() throws {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.quoteMessage[0] = 0
        let outcome = try verify(evidence: evidence.json(), nonce: "00ff")
        #expect(outcome.status == 1)
        #expect(outcome.output.contains("[quote.magic]"))
        #expect(outcome.output.contains("[quote.nonce]"))
        #expect(outcome.output.contains("[signature.invalid]"))
    }

    @Test func unreadableInputExitsTwo() throws {
        let good = try SwtpmEvidence.get().ecc.json()
        #expect(try verify(evidence: Data("{not json".utf8)).status == 2)
        #expect(try verify(evidence: good, policy: "kind: nothing\n").status == 2)
        #expect(try verify(evidence: good, nonce: "xyz").status == 2)
        let missing = try run(["attest", "verify", "--policy", "/nonexistent/p.yaml",
                               "--evidence", "/nonexistent/e.json", "--nonce", "00"])
        #expect(missing.status == 2)
    }

    @Test func arbitraryBytesNeverCrashIt() throws {
        var generator = SystemRandomNumberGenerator()
        let good = try SwtpmEvidence.get().ecc
        for round in 0..<4 {
            var evidence = good
            let count = Int.random(in: 0..<300, using: &generator)
            let junk = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            switch round {
            case 0: evidence.quoteMessage = junk
            case 1: evidence.quoteSignature = junk
            case 2: evidence.akPublic = junk
            default:
                let outcome = try verify(evidence: Data(junk))
                #expect(outcome.reason == .exit && outcome.status == 2)
                continue
            }
            let outcome = try verify(evidence: evidence.json())
            #expect(outcome.reason == .exit)
            #expect(outcome.status == 1)
        }
    }

    @Test func lintReportsLinesAndExitCodes() throws {
        let bad = "apiVersion: keyshard/v1\nkind: AttestationPolicy\nname: x\npcrBank: sha256\npcrs:\n  0: [\"00\"]\n"
        try withFiles(["good.yaml": Data(SwtpmEvidence.policyYAML().utf8), "bad.yaml": Data(bad.utf8)]) { directory in
            let good = try run(["policy", "lint", directory.appendingPathComponent("good.yaml").path])
            #expect(good.status == 0)
            #expect(good.output.contains("ok (policy swtpm-test, sha256:0,4,9)"))
            let badPath = directory.appendingPathComponent("bad.yaml").path
            let outcome = try run(["policy", "lint", badPath])
            #expect(outcome.status == 1)
            #expect(outcome.output.contains("\(badPath):6:7:"))
            #expect(try run(["policy", "lint", "/nonexistent.yaml"]).status == 2)
        }
    }

    @Test func learnThenVerifyAccepts() throws {
        let good = try SwtpmEvidence.get().ecc
        try withFiles(["e.json": good.json()]) { directory in
            let policyPath = directory.appendingPathComponent("learned.yaml").path
            let evidencePath = directory.appendingPathComponent("e.json").path
            let learned = try run(["policy", "learn", "--evidence", evidencePath, "-o", policyPath, "--name", "ref"])
            #expect(learned.status == 0)
            let text = try String(contentsOfFile: policyPath, encoding: .utf8)
            #expect(text.contains("# initrd or kernel command line digest"))
            #expect(text.contains("maxAge: 1m"))
            // A learned policy limits the nonce's age, so the offline check must be told when it was issued.
            let unknownAge = try run(["attest", "verify", "--policy", policyPath, "--evidence", evidencePath,
                                      "--nonce", nonceHex])
            #expect(unknownAge.status == 1)
            #expect(unknownAge.output.contains("[freshness.nonce-time]"))
            let verified = try run(["attest", "verify", "--policy", policyPath, "--evidence", evidencePath,
                                    "--nonce", nonceHex, "--nonce-issued-at", Self.now])
            #expect(verified.status == 0)
        }
    }

    @Test func learnRefusesForgedEvidence() throws {
        var forged = try SwtpmEvidence.get().ecc
        forged.quoteSignature[forged.quoteSignature.count - 1] ^= 1
        try withFiles(["e.json": forged.json()]) { directory in
            let outcome = try run(["policy", "learn", "--evidence", directory.appendingPathComponent("e.json").path,
                                   "-o", directory.appendingPathComponent("p.yaml").path])
            #expect(outcome.status == 1)
            #expect(outcome.output.contains("signature.invalid"))
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("p.yaml").path))
        }
    }

    @Test func explainListsEveryCheck() throws {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.pcrs[.sha256]?[9] = [UInt8](repeating: 0xab, count: 32)
        let outcome = try verify(evidence: evidence.json(), policy: SwtpmEvidence.policyYAML())
        #expect(outcome.status == 1)
        try withFiles(["e.json": evidence.json(), "p.yaml": Data(SwtpmEvidence.policyYAML().utf8)]) { directory in
            let table = try run(["policy", "explain", "--policy", directory.appendingPathComponent("p.yaml").path,
                                 "--evidence", directory.appendingPathComponent("e.json").path, "--nonce", nonceHex])
            #expect(table.status == 1)
            #expect(table.output.contains("pass    AK signature over the quote"))
            #expect(table.output.contains("FAIL    PCR values match the quoted digest"))
            #expect(table.output.contains("[quote.pcr-digest]"))
        }
    }

    /// With an event log: learn writes an initrd rule, explain lists it, and a changed initrd digest is
    /// refused by name.
    @Test func learnAndExplainEventRules() throws {
        var good = try SwtpmEvidence.get().ecc
        good.eventLog = EventRuleTests.swtpmLog()
        try withFiles(["e.json": good.json()]) { directory in
            let policyPath = directory.appendingPathComponent("learned.yaml").path
            let evidencePath = directory.appendingPathComponent("e.json").path
            let learned = try run(["policy", "learn", "--evidence", evidencePath, "-o", policyPath, "--name", "ref"])
            #expect(learned.status == 0)
            let text = try String(contentsOfFile: policyPath, encoding: .utf8)
            #expect(text.contains("label: \"Linux initrd\""))
            #expect(try run(["policy", "lint", policyPath]).status == 0)
            let table = try run(["policy", "explain", "--policy", policyPath, "--evidence", evidencePath,
                                 "--nonce", nonceHex, "--nonce-issued-at", Self.now])
            #expect(table.status == 0)
            #expect(table.output.contains("pass    nonce issued at most 1m before the check"))
            #expect(table.output.contains("pass    TPM clock is safe"))
            #expect(table.output.contains("pass    event rule PCR 9 EV_EVENT_TAG 'Linux initrd'"))

            let initrdHex = SwtpmEvidence.initrdDigest.map { String(format: "%02x", $0) }.joined()
            let otherHex = String(repeating: "1e", count: 32)
            let changed = text.replacingOccurrences(of: "- \"\(initrdHex)\"", with: "- \"\(otherHex)\"")
            #expect(changed != text)
            let refused = try verify(evidence: good.json(), policy: changed)
            #expect(refused.status == 1)
            #expect(refused.output.contains("eventlog.rule-digest"))
            #expect(refused.output.contains("PCR 9 event 'Linux initrd'"))
        }
    }

    /// `--nonce-issued-at` and `--previous-evidence` against successive real quotes: a reboot between them,
    /// an old nonce, and unusable option values.
    @Test func freshnessOptions() throws {
        let quotes = try FreshnessEvidence.get()
        let policy = FreshnessEvidence.policyYAML(freshness: FreshnessTests.allRules)
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        try withFiles([
            "p.yaml": Data(policy.utf8), "1.json": quotes.first.json(), "2.json": quotes.second.json(),
            "3.json": quotes.afterReset.json(), "other.json": try SwtpmEvidence.get().ecc.json(),
        ]) { directory in
            func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
            func verify(_ evidence: String, nonce: Int, _ extra: [String]) throws -> Outcome {
                try run(["attest", "verify", "--policy", path("p.yaml"), "--evidence", path(evidence),
                         "--nonce", hex(FreshnessEvidence.nonce(nonce))] + extra)
            }
            let continued = try verify("2.json", nonce: 2, ["--nonce-issued-at", Self.now,
                                                             "--previous-evidence", path("1.json")])
            #expect(continued.status == 0)
            let rebooted = try verify("3.json", nonce: 3, ["--nonce-issued-at", Self.now,
                                                            "--previous-evidence", path("2.json")])
            #expect(rebooted.status == 1)
            #expect(rebooted.output.contains("[freshness.reset]"))
            let old = try verify("2.json", nonce: 2, ["--nonce-issued-at", "2020-01-01T00:00:00Z"])
            #expect(old.status == 1)
            #expect(old.output.contains("[freshness.nonce-expired]"))

            #expect(try verify("2.json", nonce: 2, ["--nonce-issued-at", "yesterday"]).status == 2)
            let otherAK = try verify("2.json", nonce: 2, ["--nonce-issued-at", Self.now,
                                                           "--previous-evidence", path("other.json")])
            #expect(otherAK.status == 2)
            #expect(otherAK.output.contains("another attestation key"))

            let table = try run(["policy", "explain", "--policy", path("p.yaml"), "--evidence", path("3.json"),
                                 "--nonce", hex(FreshnessEvidence.nonce(3)), "--nonce-issued-at", Self.now,
                                 "--previous-evidence", path("2.json")])
            #expect(table.status == 1)
            #expect(table.output.contains("FAIL    TPM clock continues the previous quote's"))
            #expect(table.output.contains("pass    nonce issued at most 1m before the check"))
        }
        let help = try run(["attest", "verify", "--help"])
        #expect(help.output.contains("--nonce-issued-at <time>"))
        #expect(help.output.contains("--previous-evidence <file>"))
    }

    /// `policy learn --update`: in place with comments kept, `--dry-run` writes nothing, and every refusal
    /// leaves the file byte for byte as it was.
    @Test func learnUpdatesAnExistingPolicyInPlace() throws {
        let good = try PolicyUpdateTests.goodEvidence()
        var forged = good
        forged.quoteSignature[forged.quoteSignature.count - 1] ^= 1
        let original = Data(PolicyUpdateTests.commented.utf8)
        let broken = Data("apiVersion: keyshard/v1\nkind: AttestationPolicy\nname: x\npcrBank: sha256\n".utf8)
        try withFiles(["good.json": good.json(), "forged.json": forged.json(), "p.yaml": original,
                       "broken.yaml": broken]) { directory in
            func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
            func contents(_ name: String) throws -> Data {
                try Data(contentsOf: directory.appendingPathComponent(name))
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path("p.yaml"))

            let dry = try run(["policy", "learn", "--evidence", path("good.json"), "--update", path("p.yaml"),
                               "--dry-run"])
            #expect(dry.status == 0)
            #expect(dry.output.contains("@@ -14,1 +14,2 @@"))
            #expect(dry.output.contains("from good.json"))
            #expect(try contents("p.yaml") == original)

            let refused = try run(["policy", "learn", "--evidence", path("forged.json"), "--update", path("p.yaml")])
            #expect(refused.status == 1)
            #expect(refused.output.contains("signature.invalid"))
            #expect(try contents("p.yaml") == original)
            let unlinted = try run(["policy", "learn", "--evidence", path("good.json"),
                                    "--update", path("broken.yaml")])
            #expect(unlinted.status == 2)
            #expect(unlinted.output.contains("does not lint"))
            #expect(try contents("broken.yaml") == broken)
            #expect(try run(["policy", "learn", "--evidence", path("good.json"), "--update", path("p.yaml"),
                             "-o", path("other.yaml")]).status != 0)
            #expect(try contents("p.yaml") == original)

            let updated = try run(["policy", "learn", "--evidence", path("good.json"), "--update", path("p.yaml")])
            #expect(updated.status == 0)
            #expect(updated.output.contains("added 2 value(s)"))
            let text = try String(contentsOfFile: path("p.yaml"), encoding: .utf8)
            // Whole-line comments unchanged; trailing comments unchanged (the line of PCR 9's list gains a
            // new item, so that line itself differs: PolicyUpdateTests checks exactly how).
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            for line in PolicyUpdateTests.commented.split(separator: "\n") {
                guard let hash = line.firstIndex(of: "#") else { continue }
                if hash == line.firstIndex(where: { $0 != " " }) {
                    #expect(lines.contains(line))
                } else {
                    #expect(lines.contains { $0.hasSuffix(line[hash...]) })
                }
            }
            let mode = try FileManager.default.attributesOfItem(atPath: path("p.yaml"))[.posixPermissions] as? Int
            #expect(mode == 0o640)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
                $0.hasPrefix(".")
            }
            #expect(leftovers.isEmpty)
            #expect(try run(["policy", "lint", path("p.yaml")]).status == 0)
            let verified = try run(["attest", "verify", "--policy", path("p.yaml"), "--evidence", path("good.json"),
                                    "--nonce", nonceHex, "--nonce-issued-at", Self.now])
            #expect(verified.status == 0)

            let again = try run(["policy", "learn", "--evidence", path("good.json"), "--update", path("p.yaml")])
            #expect(again.status == 0)
            #expect(again.output.contains("nothing to add"))
            #expect(try String(contentsOfFile: path("p.yaml"), encoding: .utf8) == text)
        }
    }
}
