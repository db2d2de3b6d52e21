import TPM2
import Yams

extension AttestationPolicy {
    private static let knownRuleKeys = ["pcr", "type", "label", "digests", "description"]

    /// Reads the optional `events:` list.
    /// - Parameters:
    ///   - field: the `events` key and value, if present.
    ///   - digestSize: the bank's digest size, when the bank is valid.
    ///   - pinned: the PCRs of the policy's `pcrs`, or `nil` when `pcrs` did not parse (so no rule is
    ///     blamed for that).
    ///   - problem: records a problem at a node.
    static func parseEventRules(
        _ field: (key: Node, value: Node)?, digestSize: Int?, pinned: Set<Int>?, problem: (Node?, String) -> Void
    ) -> [EventRule] {
        guard let field else { return [] }
        guard case .sequence(let sequence) = field.value else {
            problem(field.value, "\"events\" must be a list of rules, each with pcr, type and digests.")
            return []
        }
        var rules: [EventRule] = []
        for item in sequence {
            if let rule = parseEventRule(item, digestSize: digestSize, pinned: pinned, problem: problem) {
                rules.append(rule)
            }
        }
        return rules
    }

    private static func parseEventRule(
        _ item: Node, digestSize: Int?, pinned: Set<Int>?, problem: (Node?, String) -> Void
    ) -> EventRule? {
        guard case .mapping(let mapping) = item else {
            problem(item, "An event rule is a mapping with pcr, type, digests and optionally label and description.")
            return nil
        }
        let keys = readKeys(
            of: mapping, known: knownRuleKeys, keyKind: "event rule key", place: " in this event rule", problem: problem)
        let fields = keys.fields.mapValues(\.value)
        var valid = keys.valid
        func scalarText(_ name: String) -> String? {
            guard let node = fields[name] else { return nil }
            guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
                problem(node, "\"\(name)\" in an event rule must be a non-empty string.")
                valid = false
                return nil
            }
            return scalar.string
        }

        var pcr: Int?
        if let node = fields["pcr"] {
            if case .scalar(let scalar) = node, let index = Int(scalar.string),
               (0..<TPMPCRSelection.maximumIndexCount).contains(index) {
                pcr = index
                if let pinned, !pinned.contains(index) {
                    problem(node, "PCR \(index) is not in this policy's pcrs, so the quote does not cover it and "
                        + "its events are not bound to the quote: anyone could write them into the log. "
                        + "Add PCR \(index) to pcrs or remove this rule.")
                    valid = false
                }
            } else {
                problem(node, "An event rule's pcr is a whole number from 0 to 23.")
                valid = false
            }
        } else {
            problem(item, "This event rule has no \"pcr\".")
            valid = false
        }

        var type: UInt32?
        if let node = fields["type"] {
            if let text = scalarText("type") {
                type = EventType.parse(text)
                if type == nil {
                    problem(node, "Event type \"\(text)\" is neither a TCG name (EV_EVENT_TAG, "
                        + "EV_EFI_BOOT_SERVICES_APPLICATION, …) nor a number.")
                    valid = false
                } else if type == EventType.noAction {
                    problem(node, "EV_NO_ACTION events are never extended into a PCR, so the quote does not cover "
                        + "them: a rule about them would trust unverified log entries.")
                    valid = false
                }
            }
        } else {
            problem(item, "This event rule has no \"type\" (for example EV_EVENT_TAG).")
            valid = false
        }

        let label = scalarText("label")
        let note = fields["description"] == nil ? nil : scalarText("description")

        var digests: [[UInt8]] = []
        if let node = fields["digests"] {
            if case .sequence(let list) = node, !list.isEmpty {
                for entry in list {
                    guard case .scalar(let scalar) = entry, let bytes = Hex.decode(scalar.string) else {
                        problem(entry, "Each of an event rule's digests is a hex digest.")
                        valid = false
                        continue
                    }
                    if let digestSize, bytes.count != digestSize {
                        problem(entry, "A digest in this bank is \(digestSize * 2) hex digits, "
                            + "this one has \(bytes.count * 2).")
                        valid = false
                        continue
                    }
                    if !digests.contains(bytes) { digests.append(bytes) }
                }
            } else {
                problem(node, "An event rule's digests is a non-empty list of hex digests, for example [\"1e7a…\"].")
                valid = false
            }
        } else {
            problem(item, "This event rule has no \"digests\": list the digests its events may have.")
            valid = false
        }

        guard valid, let pcr, let type else { return nil }
        return EventRule(pcr: pcr, eventType: type, label: label, allowedDigests: digests, note: note)
    }
}
