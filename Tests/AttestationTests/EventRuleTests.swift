import Attestation
import Crypto
import Foundation
import Testing
import TPM2

/// The initrd digest the swtpm fixture extends PCR 9 with, and another digest, as policies write them.
private let initrdHex = SwtpmEvidence.initrdDigest.map { String(format: "%02x", $0) }.joined()
private let otherHex = String(repeating: "1e", count: 32)

/// Event-log rules in policies: parsing and lint errors, the verifier's checks against real swtpm
/// evidence, and learning rules from a reference log.
@Suite struct EventRuleTests {

    /// `TCG_PCClientTaggedEvent` as the Linux EFI stub writes it: id, size, NUL-terminated ASCII text.
    static func tagged(_ text: String, id: UInt32 = 0x8F3B_22EC) -> [UInt8] {
        let body = Array(text.utf8) + [0]
        return EventLogBuilder.le32(id) + EventLogBuilder.le32(UInt32(body.count)) + body
    }

    /// A log that replays to the swtpm fixture's PCRs: one PCR 9 event extending the initrd digest.
    static func swtpmLog(data: [UInt8] = EventRuleTests.tagged("Linux initrd"), type: UInt32 = 0x6) -> [UInt8] {
        var log = EventLogBuilder()
        log.measure(pcr: 9, type: type, data: data, sha256: SwtpmEvidence.initrdDigest)
        return log.bytes
    }

    /// The fixture's policy plus one event rule.
    static func policy(rule: String) throws -> AttestationPolicy {
        try AttestationPolicy(yaml: SwtpmEvidence.policyYAML() + "events:\n" + rule)
    }

    static func initrdRule(
        pcr: Int = 9, type: String = "EV_EVENT_TAG", label: String? = "Linux initrd", digest: String = initrdHex
    ) -> String {
        "  - pcr: \(pcr)\n    type: \(type)\n" + (label.map { "    label: \($0)\n" } ?? "")
            + "    digests: [\"\(digest)\"]\n    description: initrd built by vm-images\n"
    }

    private func evidence(log: [UInt8]? = EventRuleTests.swtpmLog()) throws -> Evidence {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.eventLog = log
        return evidence
    }

    // MARK: Parsing

    static let base = """
        apiVersion: keyshard/v1
        kind: AttestationPolicy
        name: custodian
        pcrBank: sha256
        pcrs:
          4: ["\(otherHex)"]
          9: ["\(otherHex)"]
        events:
        """

    private func problems(_ rules: String) -> [PolicyProblem] {
        do {
            _ = try AttestationPolicy(yaml: Self.base + "\n" + rules, source: "test.yaml")
            return []
        } catch {
            return error.problems
        }
    }

    @Test func rulesParse() throws {
        let policy = try AttestationPolicy(yaml: Self.base + """

              - pcr: 9
                type: EV_EVENT_TAG            # the EFI stub's initrd measurement
                label: Linux initrd
                digests: ["\(initrdHex)", "0x\(otherHex.uppercased())"]
                description: initrd built by vm-images
              - {pcr: 4, type: "0x80000003", digests: ["\(otherHex)"]}
              - {pcr: 4, type: ev_efi_action, digests: ["\(otherHex)"]}
            """)
        #expect(policy.eventRules == [
            EventRule(pcr: 9, eventType: 6, label: "Linux initrd",
                      allowedDigests: [SwtpmEvidence.initrdDigest, [UInt8](repeating: 0x1e, count: 32)],
                      note: "initrd built by vm-images"),
            EventRule(pcr: 4, eventType: 0x8000_0003, allowedDigests: [[UInt8](repeating: 0x1e, count: 32)]),
            EventRule(pcr: 4, eventType: 0x8000_0007, allowedDigests: [[UInt8](repeating: 0x1e, count: 32)]),
        ])
        #expect(policy.eventRules[1].summary == "PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION")
        #expect(try AttestationPolicy(yaml: policy.yaml()) == policy)
    }

    @Test func policiesWithoutEventsHaveNoRules() throws {
        #expect(try AttestationPolicy(yaml: SwtpmEvidence.policyYAML()).eventRules.isEmpty)
    }

    /// Each lint error: (rules text, the line it must be reported at, part of its message).
    @Test(arguments: [
        ("  - {pcr: 9, type: EV_EVENT_TAG, digests: [\"\(initrdHex)\"], lable: x}\n", 9, "Unknown event rule key"),
        ("  - pcr: 9\n    type: EV_EVENT_TAG\n    digests: [\"abcd\"]\n", 11, "64 hex digits"),
        ("  - pcr: 9\n    type: EV_EVENT_TAG\n    digests: [\"zz\"]\n", 11, "hex digest"),
        ("  - pcr: 7\n    type: EV_EVENT_TAG\n    digests: [\"\(initrdHex)\"]\n", 9, "not bound to the quote"),
        ("  - pcr: 24\n    type: EV_EVENT_TAG\n    digests: [\"\(initrdHex)\"]\n", 9, "0 to 23"),
        ("  - pcr: 9\n    type: EV_KERNEL\n    digests: [\"\(initrdHex)\"]\n", 10, "EV_KERNEL"),
        ("  - pcr: 9\n    type: EV_NO_ACTION\n    digests: [\"\(initrdHex)\"]\n", 10, "never extended"),
        ("  - pcr: 9\n    type: EV_EVENT_TAG\n    digests: []\n", 11, "non-empty list"),
        ("  - pcr: 9\n    type: EV_EVENT_TAG\n", 9, "no \"digests\""),
        ("  - type: EV_EVENT_TAG\n    digests: [\"\(initrdHex)\"]\n", 9, "no \"pcr\""),
        ("  - pcr: 9\n    digests: [\"\(initrdHex)\"]\n", 9, "no \"type\""),
        ("  - pcr: 9\n    pcr: 4\n    type: EV_EVENT_TAG\n    digests: [\"\(initrdHex)\"]\n", 10, "twice"),
        ("  - pcr: 9\n    type: EV_EVENT_TAG\n    label: [a]\n    digests: [\"\(initrdHex)\"]\n", 11, "label"),
        ("  - just a string\n", 9, "mapping"),
        ("  {pcr: 9}\n", 9, "list of rules"),
    ] as [(String, Int, String)])
    func lintErrorsCarryTheirLine(rules: String, line: Int, message: String) {
        let found = problems(rules)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.line == line, "\(found)")
        #expect(found.first?.message.contains(message) == true, "\(found)")
    }

    /// A typo in pcrs (here `9x`) is reported once, at the typo, not again at every rule about PCR 9.
    @Test func aRuleIsNotBlamedWhenPCRsThemselvesAreWrong() {
        let yaml = Self.base.replacingOccurrences(of: "  9: [", with: "  9x: [")
            + "\n  - {pcr: 9, type: EV_EVENT_TAG, digests: [\"\(initrdHex)\"]}\n"
        do {
            _ = try AttestationPolicy(yaml: yaml)
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.line == 7)
        }
    }

    // MARK: Verifier

    @Test func matchingRulesAreAccepted() throws {
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule()))
        let evidence = try evidence()
        #expect(verifier.verify(evidence, nonce: SwtpmEvidence.nonce) == .accepted)
        let names = verifier.evaluate(evidence, nonce: SwtpmEvidence.nonce).filter(\.passed).map(\.name)
        #expect(names.contains("event log is present (the policy has event rules)"))
        #expect(names.contains("event rule PCR 9 EV_EVENT_TAG 'Linux initrd'"))
    }

    @Test func ruleWithoutLabelAndUTF16LabelsMatch() throws {
        let unlabelled = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule(label: nil)))
        #expect(unlabelled.verify(try evidence(), nonce: SwtpmEvidence.nonce) == .accepted)
        let wide = Array("Linux initrd".utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] })
        let labelled = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule()))
        #expect(labelled.verify(try evidence(log: Self.swtpmLog(data: wide)), nonce: SwtpmEvidence.nonce) == .accepted)
        let numeric = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule(type: "6")))
        #expect(numeric.verify(try evidence(), nonce: SwtpmEvidence.nonce) == .accepted)
    }

    @Test func missingLogIsRefused() throws {
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule()))
        let verdict = verifier.verify(try evidence(log: nil), nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogMissing])
        #expect(verdict.refusals.first?.reason.contains("binary_bios_measurements") == true)
        let ruleCheck = verifier.evaluate(try evidence(log: nil), nonce: SwtpmEvidence.nonce).last
        #expect(ruleCheck?.name == "event rule PCR 9 EV_EVENT_TAG 'Linux initrd'")
        #expect(ruleCheck?.passed == false)
    }

    @Test func missingEventIsRefused() throws {
        let rule = "  - {pcr: 4, type: EV_EFI_BOOT_SERVICES_APPLICATION, digests: [\"\(initrdHex)\"]}\n"
        let verdict = QuoteVerifier(policy: try Self.policy(rule: rule))
            .verify(try evidence(), nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogRuleMissing])
        #expect(verdict.refusals.first?.reason.contains("PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION event") == true)
    }

    @Test func wrongDigestIsRefused() throws {
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule(digest: otherHex)))
        let verdict = verifier.verify(try evidence(), nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogRuleDigest])
        let reason = try #require(verdict.refusals.first?.reason)
        #expect(reason.contains("PCR 9 event 'Linux initrd'"))
        #expect(reason.contains("has digest \(initrdHex)"))
        #expect(reason.contains("allows 1e1e1e1e…"))
        #expect(reason.contains("the initrd changed"))
        #expect(reason.contains("initrd built by vm-images"))
    }

    @Test func labelMismatchIsRefused() throws {
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule(label: "LOADED_IMAGE::LoadOptions")))
        let verdict = verifier.verify(try evidence(), nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogRuleMissing])
        #expect(verdict.refusals.first?.reason.contains("'LOADED_IMAGE::LoadOptions'") == true)
    }

    @Test func typeMismatchIsRefused() throws {
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule(type: "EV_IPL")))
        #expect(verifier.verify(try evidence(), nonce: SwtpmEvidence.nonce).refusalCodes == [.eventLogRuleMissing])
        // The same event under another type in the log: the rule still finds nothing.
        let tagRule = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule()))
        #expect(tagRule.verify(try evidence(log: Self.swtpmLog(type: 0xd)), nonce: SwtpmEvidence.nonce)
            .refusalCodes == [.eventLogRuleMissing])
    }

    @Test func everyMatchingEventMustBeAllowed() throws {
        // A second "Linux initrd" event in PCR 9 with another digest: the log no longer replays, and the
        // rule refuses the extra event on its own.
        var log = EventLogBuilder()
        log.measure(pcr: 9, type: 6, data: Self.tagged("Linux initrd"), sha256: SwtpmEvidence.initrdDigest)
        log.measure(pcr: 9, type: 6, data: Self.tagged("Linux initrd"), sha256: [UInt8](repeating: 5, count: 32))
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule()))
        let verdict = verifier.verify(try evidence(log: log.bytes), nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogMismatch, .eventLogRuleDigest])
        #expect(verdict.refusals.contains { $0.reason.contains("log event 2") })
    }

    /// An event in a PCR the quote does not cover can be forged freely; a rule about it never passes.
    @Test func ruleForAnUnquotedPCRNeverPasses() throws {
        var log = EventLogBuilder()
        log.measure(pcr: 9, type: 6, data: Self.tagged("Linux initrd"), sha256: SwtpmEvidence.initrdDigest)
        log.measure(pcr: 7, type: 6, data: Self.tagged("forged"), sha256: SwtpmEvidence.initrdDigest)
        let base = try AttestationPolicy(yaml: SwtpmEvidence.policyYAML())
        let policy = AttestationPolicy(
            name: "in-code", pcrBank: .sha256, allowedPCRValues: base.allowedPCRValues,
            eventRules: [EventRule(pcr: 7, eventType: 6, allowedDigests: [SwtpmEvidence.initrdDigest])])
        let verdict = QuoteVerifier(policy: policy).verify(try evidence(log: log.bytes), nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogRuleMissing])
        #expect(verdict.refusals.first?.reason.contains("does not pin PCR 7") == true)
    }

    @Test func malformedLogIsRefusedOnceNotPerRule() throws {
        let verifier = QuoteVerifier(policy: try Self.policy(rule: Self.initrdRule()))
        #expect(verifier.verify(try evidence(log: [1, 2, 3]), nonce: SwtpmEvidence.nonce).refusalCodes
            == [.eventLogMalformed])
    }

    // MARK: Learning

    @Test func learnedRulesRoundTrip() throws {
        let reference = try evidence()
        let learned = try AttestationPolicy.learn(from: reference, name: "reference")
        #expect(learned.eventRules == [
            EventRule(pcr: 9, eventType: EventType.eventTag, label: "Linux initrd",
                      allowedDigests: [SwtpmEvidence.initrdDigest]),
        ])
        let text = learned.yaml(header: ["learned"])
        #expect(text.contains("# PCR 9: the EFI stub's measurement of the initrd file"))
        let reread = try AttestationPolicy(yaml: text, source: "learned.yaml")
        #expect(reread == learned)
        #expect(reread.freshness == .recommended)
        // The learned maxAge needs the nonce's issue time; here the nonce is as old as the check.
        let live = FreshnessContext(nonceIssuedAt: Date(timeIntervalSince1970: 1000),
                                    checkedAt: Date(timeIntervalSince1970: 1000))
        #expect(QuoteVerifier(policy: reread).verify(reference, nonce: SwtpmEvidence.nonce, freshness: live)
            == .accepted)
        // The learned rule is what refuses the same boot without its log.
        #expect(QuoteVerifier(policy: reread).verify(try evidence(log: nil), nonce: SwtpmEvidence.nonce,
                                                     freshness: live).refusalCodes == [.eventLogMissing])
    }

    @Test func learningWithoutALogWritesNoRules() throws {
        #expect(try AttestationPolicy.learn(from: try evidence(log: nil), name: "x").eventRules.isEmpty)
    }

    @Test func learningFromALogThatDoesNotReplayIsRefused() throws {
        var log = EventLogBuilder()
        log.measure(pcr: 9, type: 6, data: Self.tagged("Linux initrd"))
        #expect(throws: AttestationError(.evidenceRefused, "")) {
            try AttestationPolicy.learn(from: try evidence(log: log.bytes), name: "x")
        }
    }

    /// A log shaped like OVMF + the Linux EFI stub's: rules for PCR 4's applications and PCR 9's tags only.
    @Test func learnPicksKernelAndStubEvents() throws {
        let kernel = [UInt8](repeating: 0x44, count: 32)
        let loader = [UInt8](repeating: 0x55, count: 32)
        let commandLine = [UInt8](repeating: 0x66, count: 32)
        var builder = EventLogBuilder()
        builder.measure(pcr: 4, type: 0x8000_0007, data: Array("Calling EFI Application from Boot Option".utf8))
        builder.measure(pcr: 4, type: 0x8000_0003, data: [1, 2, 3], sha256: loader)
        builder.measure(pcr: 4, type: 0x8000_0003, data: [4, 5, 6], sha256: kernel)
        builder.measure(pcr: 4, type: 0x4, data: [0, 0, 0, 0])
        builder.measure(pcr: 9, type: 6, data: Self.tagged("LOADED_IMAGE::LoadOptions", id: 0x8F3B_22ED),
                        sha256: commandLine)
        builder.measure(pcr: 9, type: 6, data: Self.tagged("Linux initrd"), sha256: SwtpmEvidence.initrdDigest)
        let log = try EventLog(parsing: builder.bytes)

        let rules = EventRule.learn(from: log, bank: .sha256, pcrs: [0, 4, 9])
        #expect(rules == [
            EventRule(pcr: 4, eventType: EventType.efiBootServicesApplication, allowedDigests: [loader, kernel]),
            EventRule(pcr: 9, eventType: EventType.eventTag, label: "LOADED_IMAGE::LoadOptions",
                      allowedDigests: [commandLine]),
            EventRule(pcr: 9, eventType: EventType.eventTag, label: "Linux initrd",
                      allowedDigests: [SwtpmEvidence.initrdDigest]),
        ])
        #expect(EventRule.learn(from: log, bank: .sha256, pcrs: [0, 9]).map(\.pcr) == [9, 9])
        #expect(EventRule.learn(from: log, bank: .sha256, pcrs: [0]).isEmpty)

        // Written out with the policy, the rules read back and lint clean.
        let pinned = [UInt8](repeating: 0, count: 32)
        let policy = AttestationPolicy(name: "ovmf", pcrBank: .sha256, allowedPCRValues: [4: [pinned], 9: [pinned]],
                                       eventRules: rules)
        let text = policy.yaml()
        #expect(text.contains("kernel command line"))
        #expect(text.contains("Authenticode"))
        #expect(try AttestationPolicy(yaml: text) == policy)
    }
}
