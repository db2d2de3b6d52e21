import Yams

/// Reads typed values out of YAML nodes, collecting every problem with its node's position
/// instead of stopping at the first.
final class ConfigReader {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) {
        self.file = file
    }

    func problem(_ node: Node?, _ path: String, _ message: String) {
        problems.append(
            ConfigProblem(file: file, line: node?.mark?.line, column: node?.mark?.column, path: path, message: message))
    }

    /// A mapping's fields by name, each key checked to be known; nil when the node is not a
    /// mapping (reported). A null value (`tcp:` with nothing after it) counts as absent.
    func fields(_ node: Node, _ path: String, known: [String]) -> [String: Field]? {
        guard case .mapping(let mapping) = node else {
            problem(node, path, "must be a mapping with the keys " + known.joined(separator: ", "))
            return nil
        }
        var fields: [String: Field] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                problem(key, path, "keys must be plain names")
                continue
            }
            let name = scalar.string
            let fieldPath = path.isEmpty ? name : "\(path).\(name)"
            if fields[name] != nil {
                problem(key, fieldPath, "appears twice")
                continue
            }
            guard known.contains(name) else {
                let hint = Suggestion.closest(to: name, among: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                problem(
                    key, path.isEmpty ? name : fieldPath,
                    "unknown key\(hint); \(path.isEmpty ? "top-level" : path) keys are " + known.joined(separator: ", ")
                )
                continue
            }
            if Self.isNull(value) { continue }
            fields[name] = Field(key: key, value: value, path: fieldPath)
        }
        return fields
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar = node else { return false }
        return node.tag.description == Tag.Name.null.rawValue
    }

    // MARK: - Scalars

    func string(_ field: Field?) -> String? {
        guard let field else { return nil }
        guard case .scalar(let scalar) = field.value else {
            problem(field.value, field.path, "must be a single value, not a list or mapping")
            return nil
        }
        return scalar.string
    }

    func nonEmptyString(_ field: Field?) -> String? {
        guard let field, let text = string(field) else { return nil }
        guard !text.isEmpty else {
            problem(field.value, field.path, "must not be empty")
            return nil
        }
        return text
    }

    func absolutePath(_ field: Field?) -> String? {
        guard let field, let text = nonEmptyString(field) else { return nil }
        guard text.hasPrefix("/") else {
            problem(field.value, field.path, "\"\(text)\" is not an absolute path (start it with /)")
            return nil
        }
        return text
    }

    func int(_ field: Field?, in range: ClosedRange<Int>) -> Int? {
        guard let field, let text = string(field) else { return nil }
        guard let value = Int(text), text.first != "+" else {
            problem(field.value, field.path, "\"\(text)\" is not a whole number")
            return nil
        }
        guard range.contains(value) else {
            problem(field.value, field.path, "\(value) is not between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return value
    }

    func choice<T: RawRepresentable & CaseIterable>(_ field: Field?, _ type: T.Type) -> T? where T.RawValue == String {
        guard let field, let text = string(field) else { return nil }
        guard let value = T(rawValue: text) else {
            let names = T.allCases.map(\.rawValue)
            let hint = Suggestion.closest(to: text, among: names).map { " (did you mean \"\($0)\"?)" } ?? ""
            problem(field.value, field.path, "\"\(text)\" is not one of \(names.joined(separator: ", "))\(hint)")
            return nil
        }
        return value
    }

    /// `500ms`, `2s`, `5m`, `1h`; `0` alone only where `allowZero`.
    func duration(_ field: Field?, allowZero: Bool = false) -> Duration? {
        guard let field, let text = string(field) else { return nil }
        if allowZero, text == "0" { return .zero }
        guard let value = DurationText.parse(text) else {
            problem(field.value, field.path, "\"\(text)\" is not a duration (use e.g. 500ms, 2s, 5m, 1h)")
            return nil
        }
        guard value > .zero || allowZero else {
            problem(field.value, field.path, "must be longer than 0")
            return nil
        }
        return value
    }

    /// A file mode in octal, `"0660"` or `660`.
    func mode(_ field: Field?) -> UInt32? {
        guard let field, let text = string(field) else { return nil }
        guard (3...4).contains(text.count), let value = UInt32(text, radix: 8), value <= 0o777 else {
            problem(field.value, field.path, "\"\(text)\" is not a file mode (use octal like \"0660\")")
            return nil
        }
        return value
    }

    // MARK: - Lists

    /// The items of a sequence; nil when the node is not one (reported).
    func items(_ field: Field?) -> [Field]? {
        guard let field else { return nil }
        guard case .sequence(let sequence) = field.value else {
            problem(field.value, field.path, "must be a list")
            return nil
        }
        return sequence.enumerated().map { index, node in
            Field(key: field.key, value: node, path: "\(field.path)[\(index)]")
        }
    }

    func strings(_ field: Field?) -> [String]? {
        guard let items = items(field) else { return nil }
        var values: [String] = []
        for item in items {
            guard let text = nonEmptyString(item) else { return nil }
            values.append(text)
        }
        return values
    }
}

/// A value in a mapping, with the key it belongs to and its dotted path.
struct Field {
    let key: Node
    let value: Node
    let path: String
}

/// Durations as the file writes them.
enum DurationText {
    /// Parses `<whole number><ms|s|m|h>`.
    static func parse(_ text: String) -> Duration? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 9, let value = Int64(digits) else { return nil }
        switch unit {
        case "ms": return .milliseconds(value)
        case "s": return .seconds(value)
        case "m": return .seconds(value * 60)
        case "h": return .seconds(value * 3600)
        default: return nil
        }
    }

    /// `2s`, `500ms`, `1h` for messages.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 {
            if seconds % 3600 == 0, seconds != 0 { return "\(seconds / 3600)h" }
            if seconds % 60 == 0, seconds != 0 { return "\(seconds / 60)m" }
            return "\(seconds)s"
        }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
    }
}

/// "Did you mean": the known name nearest to a misspelt one.
enum Suggestion {
    static func closest(to name: String, among known: [String]) -> String? {
        let folded = fold(name)
        if let same = known.first(where: { fold($0) == folded }) { return same }
        let scored = known.map { ($0, distance(Array(name.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let allowed = max(1, min(3, best.0.count / 3))
        return best.1 <= allowed ? best.0 : nil
    }

    /// `freshnessWindow`, `freshness-window` and `freshness_window` are the same name misspelt.
    private static func fold(_ name: String) -> String {
        name.lowercased().filter { $0 != "_" && $0 != "-" }
    }

    /// Levenshtein distance.
    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
