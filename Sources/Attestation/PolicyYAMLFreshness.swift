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
        let keys = readKeys(
            of: mapping, known: knownFreshnessKeys, keyKind: "freshness key", place: " in freshness", problem: problem)
        let fields = keys.fields.mapValues(\.value)
        var valid = keys.valid

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
