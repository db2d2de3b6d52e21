import Attestation
import Foundation
import Testing

/// `PolicyUpdate`: adding a known-good boot's values to a commented policy by editing its text.
@Suite struct PolicyUpdateTests {
    static let zero = String(repeating: "0", count: 64)
    static let oldPCR9 = String(repeating: "ab", count: 32)
    static let oldInitrd = String(repeating: "1e", count: 32)

    /// A policy as a person writes it: comments everywhere, blank lines, flow and block lists, its own key
    /// order. PCR 9 and the initrd rule allow only an older build, so the swtpm evidence is refused.
    static let commented = """
        # Custodian policy for the swtpm test VM.
        # Owner: ops. Review every change.

        apiVersion: keyshard/v1
        kind: AttestationPolicy
        name: commented            # shown in refusals
        pcrBank: sha256

        # swtpm measures no firmware: PCRs 0 and 4 stay zero.
        pcrs:
          0: ["\(zero)"]   # firmware code
          4:
            - "\(zero)"    # kernel
          9: ["\(oldPCR9)"]   # initrd, October build

        events:
          # The initrd the EFI stub measured.
          - pcr: 9
            type: EV_EVENT_TAG
            label: Linux initrd
            digests:
              - "\(oldInitrd)"   # initrd 2026-10
            description: initrd built by vm-images

        freshness:
          maxAge: 5m               # busy hosts quote slowly
          requireSafeClock: true
        # end of policy

        """

    static func goodEvidence() throws -> Evidence {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.eventLog = EventRuleTests.swtpmLog()
        return evidence
    }

    static let live = FreshnessContext(nonceIssuedAt: Date(timeIntervalSince1970: 5),
                                       checkedAt: Date(timeIntervalSince1970: 10))

    static func update(_ text: String = commented, evidence: Evidence? = nil) throws -> PolicyUpdate {
        try PolicyUpdate(policyText: text, source: "p.yaml", evidence: evidence ?? goodEvidence(),
                         comment: "learned 2026-11-29T12:00:00Z from good.json")
    }

    @Test func addsTheNewValuesAndKeepsEveryCommentAndLine() throws {
        let evidence = try Self.goodEvidence()
        let before = try AttestationPolicy(yaml: Self.commented)
        #expect(QuoteVerifier(policy: before).verify(evidence, nonce: SwtpmEvidence.nonce, freshness: Self.live)
            .refusalCodes == [.pcrValue, .eventLogRuleDigest])

        let update = try Self.update()
        let pcr9 = try #require(SwtpmEvidence.expectedPCRs[9])
        #expect(update.additions.map(\.description) == [
            "PCR 9: \(pcr9.map { String(format: "%02x", $0) }.joined())",
            "event rule PCR 9 EV_EVENT_TAG 'Linux initrd': "
                + SwtpmEvidence.initrdDigest.map { String(format: "%02x", $0) }.joined(),
        ])

        // Every original line survives in order; the only change to one is the flow list's `]` becoming `,`,
        // which keeps its trailing comment at the same column. Everything else is new, learned lines.
        let original = Self.commented.components(separatedBy: "\n")
        let updated = update.updatedText.components(separatedBy: "\n")
        let kept = updated.filter { !$0.contains("# learned 2026-11-29T12:00:00Z from good.json") }
        #expect(kept.count == original.count)
        for (old, new) in zip(original, kept) where old != new {
            #expect(old.replacingOccurrences(of: "]", with: ",") == new)
            #expect(old.hasPrefix("  9: "))
        }
        for line in original where line.trimmingCharacters(in: .whitespaces).hasPrefix("#") {
            #expect(updated.contains(line))
        }
        #expect(updated.count == original.count + 2)

        // It lints, reads back as the update says, and the boot it learned from is now accepted.
        let reread = try AttestationPolicy(yaml: update.updatedText)
        #expect(reread == update.updatedPolicy)
        #expect(reread.freshness == before.freshness)
        #expect(QuoteVerifier(policy: reread).verify(evidence, nonce: SwtpmEvidence.nonce, freshness: Self.live)
            == .accepted)
        #expect(update.diff(name: "p.yaml").contains("@@ -14,1 +14,2 @@"))
    }

    @Test func aValueAlreadyPresentIsNotAddedAgain() throws {
        let once = try Self.update()
        let twice = try Self.update(once.updatedText)
        #expect(twice.additions.isEmpty)
        #expect(twice.updatedText == once.updatedText)
        #expect(once.updatedText.components(separatedBy: Self.zero).count - 1 == 2)
    }

    @Test func badInputIsRefusedWithTheRightCode() throws {
        #expect(throws: AttestationError(.policyInvalid, "")) {
            try Self.update(Self.commented.replacingOccurrences(of: "pcrBank: sha256", with: "pcrBank: md5"))
        }
        var forged = try Self.goodEvidence()
        forged.quoteSignature[forged.quoteSignature.count - 1] ^= 1
        #expect(throws: AttestationError(.evidenceRefused, "")) { try Self.update(evidence: forged) }
        #expect(throws: AttestationError(.evidenceRefused, "")) {
            try Self.update(evidence: try SwtpmEvidence.get().narrowSelection)
        }
        // The rule's events must be in the evidence to learn their digests.
        #expect(throws: AttestationError(.evidenceRefused, "")) {
            try Self.update(evidence: try SwtpmEvidence.get().ecc)
        }
    }

    @Test func aLayoutItCannotEditIsRefusedNotMangled() throws {
        let nested = """
            apiVersion: keyshard/v1
            kind: AttestationPolicy
            name: nested
            pcrBank: sha256
            pcrs: {0: ["\(Self.zero)"], 4: ["\(Self.zero)"], 9: ["\(Self.oldPCR9)"]}

            """
        #expect(throws: AttestationError(.policyInvalid, "")) {
            try Self.update(nested, evidence: try SwtpmEvidence.get().ecc)
        }
    }

    @Test func blockListsPlainScalarsAndCRLFAreKept() throws {
        let text = """
            apiVersion: keyshard/v1\r
            kind: AttestationPolicy\r
            name: crlf\r
            pcrBank: sha256\r
            pcrs:\r
              0: ["\(Self.zero)"]\r
              4: ["\(Self.zero)"]\r
              9:\r
              - \(Self.oldPCR9)\r

            """
        let update = try Self.update(text, evidence: try SwtpmEvidence.get().ecc)
        let pcr9 = try #require(SwtpmEvidence.expectedPCRs[9]).map { String(format: "%02x", $0) }.joined()
        #expect(update.updatedText.contains("  - \(pcr9)  # learned 2026-11-29T12:00:00Z from good.json\r\n"))
        #expect(update.updatedText.components(separatedBy: "\n").dropLast().allSatisfy { $0.hasSuffix("\r") })
    }

    @Test func eventsNoRuleCoversAreNotedNotAdded() throws {
        let policy = SwtpmEvidence.policyYAML()
        let update = try Self.update(policy)
        #expect(update.additions.isEmpty)
        #expect(update.updatedText == policy)
        #expect(update.notes.count == 1)
        #expect(update.notes.first?.contains("PCR 9 EV_EVENT_TAG 'Linux initrd'") == true)
    }
}
