import Yams

extension AttestationPolicy {
    private static let knownFreshnessKeys = ["maxAge", "requireSafeClock", "monotonic"]

    /// Reads the optional `freshness:` block.
    /// - Parameters:
    ///   - field: the `freshness` key and value, if present.
    ///   - problem: records a problem at a node.
    /// - Returns: the rules, or `nil` when there is no block or it has problems.
    static func parseFreshness(
        _ field: (key: Node, value: Node)?, problem: (Node?, String) -> Void
    ) -> FreshnessRules? {
        guard let field else { return nil }
        guard case .mapping(let mapping) = field.value, !mapping.isEmpty else {
            problem(field.value, "\"freshness\" is a mapping with maxAge (such as 60s), requireSafeClock and "
                + "monotonic (true or false); remove it for no freshness rules.")
            return nil
        }
        var valid = true
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            guard case .scalar(let keyScalar) = key else {
                problem(key, "Keys must be plain names.")
                valid = false
                continue
            }
            let name = keyScalar.string
            if fields[name] != nil {
                problem(key, "\"\(name)\" appears twice in freshness.")
                valid = false
            } else if !knownFreshnessKeys.contains(name) {
                problem(key, "Unknown freshness key \"\(name)\"; known keys: "
                    + knownFreshnessKeys.joined(separator: ", ") + ".")
                valid = false
            }
            fields[name] = value
        }

        var maxAge: Double?
        if let node = fields["maxAge"] {
            if case .scalar(let scalar) = node, let seconds = FreshnessRules.parseDuration(scalar.string),
               seconds > 0, seconds <= FreshnessRules.maximumNonceAge {
                maxAge = seconds
            } else {
                problem(node, "maxAge is a duration from 1ms to 24h with a unit: 500ms, 30s, 5m, 1h or 1m30s.")
                valid = false
            }
        }
        func flag(_ name: String) -> Bool {
            guard let node = fields[name] else { return false }
            guard case .scalar(let scalar) = node, let value = Bool(scalar.string) else {
                problem(node, "\(name) is true or false.")
                valid = false
                return false
            }
            return value
        }
        let requireSafeClock = flag("requireSafeClock")
        let monotonic = flag("monotonic")
        guard valid else { return nil }
        return FreshnessRules(maxNonceAge: maxAge, requireSafeClock: requireSafeClock, monotonic: monotonic)
    }
}
