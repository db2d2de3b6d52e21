import Foundation
import TPM2

extension AttestationPolicy {
    /// Learns a policy from evidence of a known-good boot: the quote's own PCR selection, each PCR
    /// allowed exactly the value it has now, the ``FreshnessRules/recommended`` freshness rules, and,
    /// when the evidence has an event log, event rules for PCR 4's `EV_EFI_BOOT_SERVICES_APPLICATION` and
    /// PCR 9's `EV_EVENT_TAG` events (if those PCRs are quoted), allowing exactly the digests logged.
    ///
    /// The evidence must first pass every check but freshness against that policy with its own nonce (a
    /// genuine, restricted AK signed these PCR values), so a policy is never learned from a forged quote.
    /// Whether the boot itself was good is the caller's judgement.
    /// - Parameters:
    ///   - evidence: evidence from the reference boot.
    ///   - name: the new policy's name.
    /// - Throws: ``AttestationError`` `.evidenceRefused` when the quote does not parse, covers several banks
    ///   or none, or fails a check.
    public static func learn(from evidence: Evidence, name: String) throws(AttestationError) -> AttestationPolicy {
        func refused(_ reason: String) -> AttestationError { AttestationError(.evidenceRefused, reason) }
        let banks = try quotedSelections(evidence)
        guard banks.count == 1, let selection = banks.first else {
            throw refused("The quote covers \(banks.count) PCR banks; a policy pins exactly one: quote one bank.")
        }
        var allowed: [Int: [[UInt8]]] = [:]
        for index in selection.indexes {
            guard let value = evidence.pcrs[selection.bank]?[index] else {
                throw refused("The evidence reports no value for quoted PCR \(index) in \(selection.bank).")
            }
            allowed[index] = [value]
        }
        var rules: [EventRule] = []
        if let bytes = evidence.eventLog, let log = try? EventLog(parsing: bytes) {
            rules = EventRule.learn(from: log, bank: selection.bank, pcrs: Set(selection.indexes))
        }
        // A log that does not parse or replay is refused by the check below, so nothing is learned from it.
        let policy = AttestationPolicy(
            name: name, pcrBank: selection.bank, allowedPCRValues: allowed, eventRules: rules,
            freshness: .recommended)
        // A reference boot's nonce is old by the time anyone learns from it: freshness is for live checks.
        let verdict = QuoteVerifier(policy: policy.withoutFreshness).verify(evidence, nonce: evidence.nonce)
        guard verdict.isAccepted else {
            throw refused("The evidence fails its own checks: "
                + verdict.refusals.map(\.description).joined(separator: "; "))
        }
        return policy
    }

    /// The policy as YAML that ``init(yaml:source:)`` reads back, with a comment naming what each
    /// PCR usually measures.
    /// - Parameter header: comment lines to put first (without `#`).
    public func yaml(header: [String] = []) -> String {
        var lines = header.map { $0.isEmpty ? "#" : "# " + $0 }
        lines += [
            "apiVersion: \(Self.apiVersion)",
            "kind: \(Self.kind)",
            "name: \(Self.quoted(name))",
        ]
        if let summary { lines.append("description: \(Self.quoted(summary))") }
        lines.append("pcrBank: \(pcrBank)")
        lines.append("pcrs:                 # the quote's selection must be exactly these indexes")
        for (index, values) in allowedPCRValues.sorted(by: { $0.key < $1.key }) {
            let list = values.map { "\"\(Hex.encode($0))\"" }.joined(separator: ", ")
            let comment = PCRMeaning.name(for: index).map { "   # \($0)" } ?? ""
            lines.append("  \(index): [\(list)]\(comment)")
        }
        if !eventRules.isEmpty {
            lines.append("events:               # each rule: some event matches, and every match has an allowed digest")
            for rule in eventRules {
                lines.append("  # \(rule.learnedComment)")
                lines.append("  - pcr: \(rule.pcr)")
                lines.append("    type: \(EventType.display(rule.eventType))")
                if let label = rule.label { lines.append("    label: \(Self.quoted(label))") }
                lines.append("    digests:")
                lines += rule.allowedDigests.map { "      - \"\(Hex.encode($0))\"" }
                if let note = rule.note { lines.append("    description: \(Self.quoted(note))") }
            }
        }
        if let freshness {
            lines += freshness.yamlLines
        }
        if !ekRoots.isEmpty {
            lines.append("ekRoots:")
            lines += ekRoots.map { "  - \(Self.quoted($0))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A double-quoted YAML scalar.
    private static func quoted(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case _ where scalar.value < 0x20: escaped += String(format: "\\x%02x", scalar.value)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return "\"\(escaped)\""
    }
}

extension FreshnessRules {
    /// The `freshness:` block as ``AttestationPolicy/yaml(header:)`` writes it, each rule with a comment.
    var yamlLines: [String] {
        func line(_ text: String, _ comment: String) -> String {
            text.padding(toLength: max(text.count + 1, 26), withPad: " ", startingAt: 0) + "# " + comment
        }
        var lines = [line("freshness:", "how recent and how continuous each quote must be")]
        if let maxNonceAge {
            lines.append(line("  maxAge: \(Self.format(maxNonceAge))",
                              "refuse a quote checked longer than this after its nonce was issued"))
        }
        lines.append(line("  requireSafeClock: \(requireSafeClock)", "refuse a TPM clock that may have gone back"))
        lines.append(line("  monotonic: \(monotonic)", "a re-attestation must continue the previous quote's boot"))
        return lines
    }
}

extension AttestationPolicy {
    /// The non-empty PCR selections the evidence's quote covers, for tools that learn from evidence.
    /// - Throws: ``AttestationError`` `.evidenceRefused` when the quote does not parse or is not a quote.
    static func quotedSelections(_ evidence: Evidence) throws(AttestationError) -> [TPMPCRSelection] {
        let attestation: TPMAttestation
        do {
            attestation = try TPMAttestation(parsing: evidence.quoteMessage)
        } catch {
            throw AttestationError(.evidenceRefused, "The evidence's quote is unusable: \(error.reason)")
        }
        guard let quote = attestation.quote else {
            throw AttestationError(.evidenceRefused, "The evidence's attestation structure is not a quote.")
        }
        return quote.selections.filter { !$0.indexes.isEmpty }
    }
}
