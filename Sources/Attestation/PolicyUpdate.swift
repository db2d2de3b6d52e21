import Foundation
import TPM2
import Yams

/// Adds what a known-good boot measured to an existing policy file, editing its text in place so that
/// every comment, blank line and key order its author wrote survives.
///
/// New PCR values are appended to their PCR's list and new event digests to the list of the event rule
/// that matches them, each on its own line with a `# learned … from …` comment. Nothing else changes:
/// no PCR is added to the selection and no rule is written (those are the author's decisions; notes
/// name the events no rule covers).
public struct PolicyUpdate: Sendable {
    /// One value added to the policy.
    public struct Addition: Hashable, Sendable, CustomStringConvertible {
        /// Where it was added: `PCR 4` or `event rule PCR 9 EV_EVENT_TAG 'Linux initrd'`.
        public let place: String
        /// The value (a digest in the policy's bank).
        public let value: [UInt8]

        /// `PCR 4: 5c1d…`.
        public var description: String { "\(place): \(Hex.encode(value))" }
    }

    /// The policy text before the update.
    public let originalText: String
    /// The updated policy text (equal to ``originalText`` when nothing was added).
    public let updatedText: String
    /// The updated policy, as ``updatedText`` parses.
    public let updatedPolicy: AttestationPolicy
    /// What was added, in file order of their lists.
    public let additions: [Addition]
    /// Things people should know that did not change the policy (events no rule covers).
    public let notes: [String]
    /// The changed lines: for each, the 1-based line number, the line before and the lines after.
    public let changes: [(line: Int, before: String, after: [String])]

    /// Computes the update of a policy file's text by the evidence of a known-good boot.
    ///
    /// The evidence must quote exactly the policy's PCR selection and pass every check but freshness
    /// against the updated policy with its own nonce (so a forged quote teaches nothing).
    /// - Parameters:
    ///   - text: the policy file's text; it must lint.
    ///   - source: the policy's path, for messages.
    ///   - evidence: evidence from the known-good boot.
    ///   - comment: the comment for each new value (for example `learned 2026-11-29T12:00:00Z from good.json`);
    ///     control characters are removed.
    /// - Throws: ``AttestationError`` `.policyInvalid` when the text does not lint (the reason lists every
    ///   problem) or cannot be edited safely; `.evidenceRefused` when the evidence quotes another selection
    ///   or fails a check against the updated policy.
    public init(policyText text: String, source: String, evidence: Evidence, comment: String) throws(AttestationError) {
        let policy: AttestationPolicy
        do {
            policy = try AttestationPolicy(yaml: text, source: source)
        } catch {
            throw AttestationError(.policyInvalid, "\(source) does not lint, so it is left as it is:\n\(error)")
        }
        let found = try Self.observations(evidence, policy: policy)

        // Where each list is in the text.
        guard let root = try? Yams.compose(yaml: text), case .mapping(let top) = root,
              case .mapping(let pcrNodes)? = top["pcrs"]
        else {
            throw AttestationError(.policyInvalid, "\(source): the pcrs mapping was not found.")
        }
        var pcrLists: [Int: Node.Sequence] = [:]
        for (key, value) in pcrNodes {
            if case .scalar(let scalar) = key, let index = Int(scalar.string), case .sequence(let list) = value {
                pcrLists[index] = list
            }
        }
        var ruleLists: [Node.Sequence] = []
        if case .sequence(let rules)? = top["events"] {
            for rule in rules {
                if case .mapping(let fields) = rule, case .sequence(let digests)? = fields["digests"] {
                    ruleLists.append(digests)
                }
            }
        }
        guard ruleLists.count == policy.eventRules.count else {
            throw AttestationError(.policyInvalid, "\(source): the events list was not found as parsed.")
        }

        let note = String(comment.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(Character.init))
        var appender = YAMLListAppender(text: text)
        var allowed = policy.allowedPCRValues
        var rules = policy.eventRules
        var additions: [Addition] = []
        do {
            for (index, value) in found.pcrs.sorted(by: { $0.key < $1.key }) {
                guard let list = pcrLists[index], allowed[index]?.contains(value) == false else { continue }
                try appender.append([Self.scalar(value, like: list)], to: list, comment: note)
                allowed[index]?.append(value)
                additions.append(Addition(place: "PCR \(index)", value: value))
            }
            for (position, rule) in policy.eventRules.enumerated() {
                let new = found.ruleDigests[position].filter { !rule.allowedDigests.contains($0) }
                guard !new.isEmpty else { continue }
                try appender.append(new.map { Self.scalar($0, like: ruleLists[position]) }, to: ruleLists[position],
                                    comment: note)
                rules[position] = EventRule(pcr: rule.pcr, eventType: rule.eventType, label: rule.label,
                                            allowedDigests: rule.allowedDigests + new, note: rule.note)
                additions += new.map { Addition(place: "event rule \(rule.summary)", value: $0) }
            }
        } catch {
            throw AttestationError(.policyInvalid, "\(source) cannot be edited safely: \(error.reason); "
                + "add the values by hand: " + Self.describe(found, policy: policy))
        }

        let expected = AttestationPolicy(
            name: policy.name, summary: policy.summary, pcrBank: policy.pcrBank, allowedPCRValues: allowed,
            ekRoots: policy.ekRoots, eventRules: rules, freshness: policy.freshness)
        let verdict = QuoteVerifier(policy: expected.withoutFreshness).verify(evidence, nonce: evidence.nonce)
        guard verdict.isAccepted else {
            throw AttestationError(.evidenceRefused, "The evidence fails its checks even with its values added: "
                + verdict.refusals.map(\.description).joined(separator: "; "))
        }

        let updated = appender.result()
        // The editor knows policies, not all YAML: the result must parse to exactly the expected policy.
        guard (try? AttestationPolicy(yaml: updated, source: source)) == expected else {
            throw AttestationError(.policyInvalid, "\(source) cannot be edited safely (the edited text would not "
                + "read back as intended); add the values by hand: " + Self.describe(found, policy: policy))
        }
        originalText = text
        updatedText = updated
        updatedPolicy = expected
        self.additions = additions
        notes = found.notes
        changes = appender.edits.sorted { $0.line < $1.line }.map {
            (line: $0.line + 1, before: $0.original, after: [$0.replacement] + $0.inserted)
        }
    }

    /// A unified-style diff of the change (`---`/`+++` header, one `@@` hunk per changed line).
    /// - Parameter name: the file name for the header.
    public func diff(name: String) -> String {
        var lines = ["--- \(name)", "+++ \(name) (updated)"]
        var shift = 0
        for change in changes {
            lines.append("@@ -\(change.line),1 +\(change.line + shift),\(change.after.count) @@")
            lines.append("-" + change.before)
            lines += change.after.map { "+" + $0 }
            shift += change.after.count - 1
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private struct Observations {
        var pcrs: [Int: [UInt8]] = [:]
        var ruleDigests: [[[UInt8]]] = []
        var notes: [String] = []
    }

    /// The PCR values and, per rule, the digests of matching events in the evidence.
    private static func observations(_ evidence: Evidence, policy: AttestationPolicy) throws(AttestationError)
        -> Observations
    {
        func refused(_ reason: String) -> AttestationError { AttestationError(.evidenceRefused, reason) }
        let quoted = try AttestationPolicy.quotedSelections(evidence)
        guard quoted == [policy.selection] else {
            let text = quoted.isEmpty ? "no PCRs" : quoted.map(\.description).joined(separator: " ")
            throw refused("The evidence quotes \(text) but policy \(policy.name) pins \(policy.selection); an update "
                + "adds values, not PCRs: quote with tpm2_quote -l \(policy.selection), or learn a new policy.")
        }
        var found = Observations()
        for index in policy.selection.indexes {
            guard let value = evidence.pcrs[policy.pcrBank]?[index] else {
                throw refused("The evidence reports no value for quoted PCR \(index) in \(policy.pcrBank).")
            }
            found.pcrs[index] = value
        }
        found.ruleDigests = Array(repeating: [], count: policy.eventRules.count)
        guard let bytes = evidence.eventLog else {
            if !policy.eventRules.isEmpty {
                throw refused("Policy \(policy.name) has event rules but the evidence has no event log to learn "
                    + "their digests from: collect binary_bios_measurements with the quote.")
            }
            return found
        }
        let log: EventLog
        do {
            log = try EventLog(parsing: bytes)
        } catch {
            throw refused("The evidence's event log is unusable: \(error.reason)")
        }
        for (position, rule) in policy.eventRules.enumerated() {
            for event in log.events where rule.matches(event) {
                if let digest = event.digests[policy.pcrBank], !found.ruleDigests[position].contains(digest) {
                    found.ruleDigests[position].append(digest)
                }
            }
        }
        let covered = Set(policy.eventRules.map(\.summary))
        for learned in EventRule.learn(from: log, bank: policy.pcrBank, pcrs: Set(policy.selection.indexes))
        where !covered.contains(learned.summary) {
            found.notes.append("The log has \(learned.summary) events that no rule of policy \(policy.name) covers; "
                + "not added (write a rule if they matter: keyshard policy learn -o - shows one).")
        }
        return found
    }

    /// A digest as a YAML scalar quoted like the list's last item.
    private static func scalar(_ value: [UInt8], like list: Node.Sequence) -> String {
        let hex = Hex.encode(value)
        guard case .scalar(let last)? = list.last else { return "\"\(hex)\"" }
        switch last.style {
        case .plain: return hex
        case .singleQuoted: return "'\(hex)'"
        default: return "\"\(hex)\""
        }
    }

    private static func describe(_ found: Observations, policy: AttestationPolicy) -> String {
        var parts = found.pcrs.sorted { $0.key < $1.key }
            .filter { policy.allowedPCRValues[$0.key]?.contains($0.value) == false }
            .map { "PCR \($0.key) \(Hex.encode($0.value))" }
        for (position, rule) in policy.eventRules.enumerated() {
            parts += found.ruleDigests[position].filter { !rule.allowedDigests.contains($0) }
                .map { "\(rule.summary) \(Hex.encode($0))" }
        }
        return parts.joined(separator: ", ") + "."
    }
}
