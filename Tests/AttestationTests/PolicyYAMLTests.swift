import Attestation
import Foundation
import TestSupport
import Testing
import TPM2

@Suite struct PolicyYAMLTests {
    static let digestA = String(repeating: "1e", count: 32)
    static let digestB = String(repeating: "05", count: 32)

    static let good = """
        # A custodian booted with OVMF.
        apiVersion: keyshard/v1
        kind: AttestationPolicy
        name: custodian-ovmf
        description: OVMF direct kernel boot
        pcrBank: sha256
        pcrs:                 # the quote's selection must be exactly these indexes
          0: ["\(digestA)", "0x\(digestB.uppercased())"]
          4: ["\(digestB)"]
        ekRoots: [/var/lib/swtpm-localca/issuercert.pem]
        """

    private func problems(_ yaml: String) -> [PolicyProblem] {
        do {
            _ = try AttestationPolicy(yaml: yaml, source: "test.yaml")
            return []
        } catch {
            return error.problems
        }
    }

    @Test func theIssueSchemaParses() throws {
        let policy = try AttestationPolicy(yaml: Self.good)
        #expect(policy.name == "custodian-ovmf")
        #expect(policy.summary == "OVMF direct kernel boot")
        #expect(policy.pcrBank == .sha256)
        #expect(policy.selection == TPMPCRSelection(bank: .sha256, indexes: [0, 4]))
        #expect(policy.allowedPCRValues[0]?.count == 2)
        #expect(policy.allowedPCRValues[0]?.last == [UInt8](repeating: 0x05, count: 32))
        #expect(policy.ekRoots == ["/var/lib/swtpm-localca/issuercert.pem"])
    }

    @Test func unknownKeysAreErrorsWithTheirLine() {
        let found = problems(Self.good + "\neventLog: {}\n")
        #expect(found.count == 1)
        #expect(found.first?.line == 11)
        #expect(found.first?.message.contains("Unknown key \"eventLog\"") == true)
    }

    @Test func wrongLengthDigestPointsAtTheValue() {
        let yaml = Self.good.replacingOccurrences(of: "4: [\"\(Self.digestB)\"]", with: "4: [\"abcd\"]")
        let found = problems(yaml)
        #expect(found.count == 1)
        #expect(found.first?.line == 9)
        #expect(found.first?.column == 7)
        #expect(found.first?.message.contains("64 hex digits") == true)
    }

    @Test func everyProblemIsReportedInLineOrder() {
        let yaml = """
            apiVersion: keyshard/v2
            kind: Policy
            pcrBank: md5
            pcrs:
              99: ["00"]
              x: []
            """
        let found = problems(yaml)
        let lines = found.compactMap(\.line)
        #expect(lines == lines.sorted())
        #expect(found.contains { $0.line == 1 && $0.message.contains("apiVersion") })
        #expect(found.contains { $0.line == 2 && $0.message.contains("kind") })
        #expect(found.contains { $0.line == 3 && $0.message.contains("md5") })
        #expect(found.contains { $0.line == 5 && $0.message.contains("0 to 23") })
        #expect(found.contains { $0.line == 6 })
        #expect(found.contains { $0.message.contains("Missing \"name\"") })
        ReliabilityReport.record(
            .badInput, "an attestation policy with semantic errors (wrong version, kind, bank, PCR index, no name)",
            held: lines == lines.sorted() && found.count >= 6, detail: "\(found.count) problems, each with its line")
    }

    @Test func duplicatePCRIndexIsAnError() {
        let yaml = Self.good.replacingOccurrences(of: "  4: [", with: "  0: [")
        #expect(problems(yaml).contains { $0.line == 9 && $0.message.contains("twice") })
    }

    @Test func sha1BankIsRefused() {
        let yaml = Self.good.replacingOccurrences(of: "pcrBank: sha256", with: "pcrBank: sha1")
        #expect(problems(yaml).contains { $0.line == 6 && $0.message.contains("SHA-1") })
    }

    @Test func yamlSyntaxErrorsCarryTheirLine() {
        let found = problems("apiVersion: keyshard/v1\npcrs: [1, 2\nname: x\n")
        #expect(found.count == 1)
        #expect(found.first?.line != nil)
        #expect(found.first?.message.contains("YAML syntax") == true)
        ReliabilityReport.record(
            .badInput, "an attestation policy that is not valid YAML", held: found.count == 1 && found.first?.line != nil,
            detail: "one problem, with its line")
    }

    @Test func nonMappingDocumentIsAnError() {
        #expect(problems("- just\n- a list\n").count == 1)
        #expect(problems("").count == 1)
    }

    @Test func errorDescriptionIsCompilerStyle() {
        do {
            _ = try AttestationPolicy(yaml: "kind: AttestationPolicy\n", source: "p.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("p.yaml:"))
        }
    }
}

@Suite struct EvidenceJSONTests {
    static let sample = """
        {"format": "keyshard-evidence/v1", "nonce": "00ff",
         "ak": {"public": "AAE="},
         "quote": {"message": "AQI=", "signature": "AwQ="},
         "pcrs": {"sha256": {"0": "\(String(repeating: "00", count: 32))"}}}
        """

    @Test func theIssueFormatParses() throws {
        let evidence = try Evidence(json: Data(Self.sample.utf8))
        #expect(evidence.nonce == [0x00, 0xff])
        #expect(evidence.akPublic == [0, 1])
        #expect(evidence.quoteMessage == [1, 2])
        #expect(evidence.quoteSignature == [3, 4])
        #expect(evidence.pcrs[.sha256]?[0] == [UInt8](repeating: 0, count: 32))
        #expect(evidence.ekCertificatePEM == nil && evidence.eventLog == nil)
    }

    @Test(arguments: [
        "not json",
        "{}",
        #"{"format": "keyshard-evidence/v2", "nonce": "", "ak": {"public": ""}, "quote": {"message": "", "signature": ""}, "pcrs": {}}"#,
        #"{"format": "keyshard-evidence/v1", "nonce": "zz", "ak": {"public": ""}, "quote": {"message": "", "signature": ""}, "pcrs": {}}"#,
        #"{"format": "keyshard-evidence/v1", "nonce": "", "ak": {"public": "!!"}, "quote": {"message": "", "signature": ""}, "pcrs": {}}"#,
        #"{"format": "keyshard-evidence/v1", "nonce": "", "ak": {"public": ""}, "quote": {"message": "", "signature": ""}, "pcrs": {"md5": {}}}"#,
        #"{"format": "keyshard-evidence/v1", "nonce": "", "ak": {"public": ""}, "quote": {"message": "", "signature": ""}, "pcrs": {"sha256": {"24": "00"}}}"#,
        #"{"format": "keyshard-evidence/v1", "nonce": "", "ak": {"public": ""}, "quote": {"message": "", "signature": ""}, "pcrs": {"sha256": {"1": "00"}}}"#,
        #"{"format": "keyshard-evidence/v1", "nonce": "", "ak": {"public": ""}, "quote": {"message": 5, "signature": ""}, "pcrs": {}}"#,
    ])
    func unreadableEvidenceIsAnOperationalError(json: String) {
        #expect(throws: AttestationError(.evidenceUnreadable, "")) { try Evidence(json: Data(json.utf8)) }
    }

    @Test func oversizedEvidenceIsRefusedUnread() {
        let huge = Data(repeating: 0x20, count: Evidence.maximumDocumentSize + 1)
        #expect(throws: AttestationError(.evidenceUnreadable, "")) { try Evidence(json: huge) }
    }

    @Test func qualifyingDataParsing() {
        #expect(QualifyingData.parse("0x00ff") == [0, 255])
        #expect(QualifyingData.parse("") == nil)
        #expect(QualifyingData.parse("abc") == nil)
        #expect(QualifyingData.parse(String(repeating: "00", count: 65)) == nil)
    }
}

@Suite struct PolicyLearningTests {
    @Test func learnedPolicyRoundTripsThroughYAML() throws {
        let evidence = try SwtpmEvidence.get().rsassa
        let learned = try AttestationPolicy.learn(from: evidence, name: "ref \"quoted\"")
        #expect(learned.selection == TPMPCRSelection(bank: .sha256, indexes: [0, 4, 9]))
        #expect(learned.allowedPCRValues[9] == [SwtpmEvidence.expectedPCRs[9]!])
        let reread = try AttestationPolicy(yaml: learned.yaml(header: ["a comment"]))
        #expect(reread == learned)
    }

    @Test func learningFromAForgedQuoteIsRefused() throws {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.quoteMessage[0] = 0
        #expect(throws: AttestationError(.evidenceRefused, "")) {
            try AttestationPolicy.learn(from: evidence, name: "x")
        }
    }
}

@Suite struct ShippedPolicyTests {
    /// The repository's `policies/` directory, found from this file's path.
    static var policiesDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies")
    }

    @Test func everyShippedPolicyLints() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.policiesDirectory.path)
            .filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: Self.policiesDirectory.appendingPathComponent(file), encoding: .utf8)
            #expect(throws: Never.self, "\(file)") { try AttestationPolicy(yaml: text, source: file) }
        }
    }

    @Test func theExamplePolicyAcceptsTheTestsSwtpmEvidence() throws {
        let text = try String(contentsOf: Self.policiesDirectory.appendingPathComponent("example-swtpm.yaml"),
                              encoding: .utf8)
        let verifier = QuoteVerifier(policy: try AttestationPolicy(yaml: text))
        #expect(verifier.verify(try SwtpmEvidence.get().ecc, nonce: SwtpmEvidence.nonce) == .accepted)
    }
}
