import TPM2
import Yams

/// One problem found in a policy file, with its position.
public struct PolicyProblem: Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line, when known.
    public let line: Int?
    /// The 1-based column, when known.
    public let column: Int?
    /// What is wrong and how to fix it.
    public let message: String

    /// Creates a problem.
    /// - Parameters:
    ///   - line: the 1-based line, if known.
    ///   - column: the 1-based column, if known.
    ///   - message: what is wrong.
    public init(line: Int?, column: Int?, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line:column: message`, as compilers print it.
    public var description: String {
        guard let line else { return message }
        return column.map { "\(line):\($0): \(message)" } ?? "\(line): \(message)"
    }
}

/// A policy file that is not a valid attestation policy: every problem found, each with its line.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the policy came from (a path), for messages.
    public let source: String
    /// The problems, in file order.
    public let problems: [PolicyProblem]

    /// Creates an error.
    /// - Parameters:
    ///   - source: the policy's path or name.
    ///   - problems: what is wrong.
    public init(source: String, problems: [PolicyProblem]) {
        self.source = source
        self.problems = problems
    }

    /// One `source:line:column: message` line per problem.
    public var description: String {
        problems.map { "\(source):\($0)" }.joined(separator: "\n")
    }
}

extension AttestationPolicy {
    /// The `apiVersion` this code reads.
    public static let apiVersion = "keyshard/v1"
    /// The `kind` this code reads.
    public static let kind = "AttestationPolicy"
    /// The largest policy file read.
    public static let maximumFileSize = 1 << 20

    private static let knownKeys = ["apiVersion", "kind", "name", "description", "pcrBank", "pcrs", "ekRoots", "events",
                                     "freshness"]

    /// Parses a policy from YAML, collecting every problem rather than stopping at the first.
    ///
    /// Unknown top-level keys are errors: a misspelt or not-yet-supported rule that is silently
    /// ignored would let through boots its author meant to refuse.
    /// - Parameters:
    ///   - yaml: the policy text.
    ///   - source: the file's path, for messages.
    /// - Throws: ``PolicyError`` listing every problem with its line and column.
    public init(yaml: String, source: String = "<policy>") throws(PolicyError) {
        var problems: [PolicyProblem] = []
        func problem(_ node: Node?, _ message: String) {
            problems.append(PolicyProblem(line: node?.mark?.line, column: node?.mark?.column, message: message))
        }
        guard yaml.utf8.count <= Self.maximumFileSize else {
            throw PolicyError(source: source, problems: [
                PolicyProblem(
                    line: nil, column: nil, message: "The policy is larger than \(Self.maximumFileSize) bytes."),
            ])
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw PolicyError(source: source, problems: [Self.problem(from: error)])
        } catch {
            throw PolicyError(source: source, problems: [PolicyProblem(line: nil, column: nil, message: "\(error)")])
        }
        guard let root, case .mapping(let top) = root else {
            throw PolicyError(source: source, problems: [
                PolicyProblem(line: root?.mark?.line ?? 1, column: root?.mark?.column ?? 1,
                              message: "A policy is a mapping with apiVersion, kind, name, pcrBank and pcrs."),
            ])
        }

        let fields = Self.readKeys(of: top, known: Self.knownKeys, keyKind: "key", place: "", problem: problem).fields

        func requiredString(_ name: String) -> String? {
            guard let field = fields[name] else {
                problem(root, "Missing \"\(name)\".")
                return nil
            }
            guard case .scalar(let scalar) = field.value, !scalar.string.isEmpty else {
                problem(field.value, "\"\(name)\" must be a non-empty string.")
                return nil
            }
            return scalar.string
        }

        if let apiVersion = requiredString("apiVersion"), apiVersion != Self.apiVersion {
            problem(fields["apiVersion"]?.value,
                    "apiVersion is \"\(apiVersion)\"; this keyshard reads \"\(Self.apiVersion)\".")
        }
        if let kind = requiredString("kind"), kind != Self.kind {
            problem(fields["kind"]?.value, "kind is \"\(kind)\"; expected \"\(Self.kind)\".")
        }
        let name = requiredString("name")
        var summary: String?
        if let field = fields["description"] {
            if case .scalar(let scalar) = field.value { summary = scalar.string } else {
                problem(field.value, "\"description\" must be a string.")
            }
        }

        var bank: TPMAlgorithmID?
        if let bankName = requiredString("pcrBank") {
            bank = TPMAlgorithmID(hashName: bankName)
            if bank == nil {
                problem(fields["pcrBank"]?.value, "pcrBank \"\(bankName)\" is not sha1, sha256, sha384 or sha512.")
            } else if bank == .sha1 {
                problem(fields["pcrBank"]?.value,
                        "pcrBank sha1 is not accepted: SHA-1 collisions are practical; use sha256.")
            }
        }

        let problemsBeforePCRs = problems.count
        let pcrs = Self.parsePCRs(fields["pcrs"], root: root, digestSize: bank?.digestSize, problem: problem)
        // A rule's PCR is checked against pcrs only when pcrs read cleanly, so one mistake is not reported twice.
        let pcrsParsed = problems.count == problemsBeforePCRs
        let ekRoots = Self.parseStringList(fields["ekRoots"], what: "ekRoots", problem: problem)
        let eventRules = Self.parseEventRules(
            fields["events"], digestSize: bank?.digestSize, pinned: pcrsParsed ? Set(pcrs.keys) : nil,
            problem: problem)
        let freshness = Self.parseFreshness(fields["freshness"], problem: problem)

        guard problems.isEmpty, let name, let bank else {
            let ordered = problems.sorted { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) }
            throw PolicyError(source: source, problems: ordered)
        }
        self.init(name: name, summary: summary, pcrBank: bank, allowedPCRValues: pcrs, ekRoots: ekRoots,
                  eventRules: eventRules, freshness: freshness)
    }

    private static func parsePCRs(
        _ field: (key: Node, value: Node)?, root: Node, digestSize: Int?, problem: (Node?, String) -> Void
    ) -> [Int: [[UInt8]]] {
        guard let field else {
            problem(root, "Missing \"pcrs\": map each PCR index to the list of values it may hold.")
            return [:]
        }
        guard case .mapping(let mapping) = field.value, !mapping.isEmpty else {
            problem(field.value, "\"pcrs\" must map PCR indexes to lists of hex values, for example 4: [\"1e7a…\"].")
            return [:]
        }
        var pcrs: [Int: [[UInt8]]] = [:]
        for (key, value) in mapping {
            guard case .scalar(let keyScalar) = key, let index = Int(keyScalar.string),
                  (0..<TPMPCRSelection.maximumIndexCount).contains(index)
            else {
                problem(key, "PCR indexes are whole numbers from 0 to 23.")
                continue
            }
            if pcrs[index] != nil {
                problem(key, "PCR \(index) appears twice.")
                continue
            }
            guard case .sequence(let sequence) = value, !sequence.isEmpty else {
                problem(value, "PCR \(index) needs a list of allowed values, for example [\"1e7a…\"].")
                continue
            }
            var allowed: [[UInt8]] = []
            for item in sequence {
                guard case .scalar(let scalar) = item, let bytes = Hex.decode(scalar.string) else {
                    problem(item, "PCR \(index): each allowed value is a hex digest.")
                    continue
                }
                if let digestSize, bytes.count != digestSize {
                    problem(item, "PCR \(index): a value in this bank is \(digestSize * 2) hex digits, "
                        + "this one has \(bytes.count * 2).")
                    continue
                }
                if !allowed.contains(bytes) { allowed.append(bytes) }
            }
            pcrs[index] = allowed
        }
        return pcrs
    }

    private static func parseStringList(
        _ field: (key: Node, value: Node)?, what: String, problem: (Node?, String) -> Void
    ) -> [String] {
        guard let field else { return [] }
        guard case .sequence(let sequence) = field.value else {
            problem(field.value, "\"\(what)\" must be a list of paths.")
            return []
        }
        var strings: [String] = []
        for item in sequence {
            guard case .scalar(let scalar) = item, !scalar.string.isEmpty else {
                problem(item, "\"\(what)\" entries are paths.")
                continue
            }
            strings.append(scalar.string)
        }
        return strings
    }

    /// Reads the keys of one mapping of the policy (the top level, an event rule, `freshness`):
    /// every key must be a plain name, known, and present once; each problem is reported at its key.
    /// - Parameters:
    ///   - mapping: the mapping.
    ///   - known: the keys this mapping may have.
    ///   - keyKind: what an unknown key is called in the message ("key", "event rule key").
    ///   - place: where a repeated key is, for the message (" in freshness"), or empty.
    ///   - problem: records a problem at a node.
    /// - Returns: the fields by name (the last of a repeated key), and whether no key had a problem.
    static func readKeys(
        of mapping: Node.Mapping, known: [String], keyKind: String, place: String, problem: (Node?, String) -> Void
    ) -> (fields: [String: (key: Node, value: Node)], valid: Bool) {
        var fields: [String: (key: Node, value: Node)] = [:]
        var valid = true
        for (key, value) in mapping {
            guard case .scalar(let keyScalar) = key else {
                problem(key, "Keys must be plain names.")
                valid = false
                continue
            }
            let name = keyScalar.string
            if fields[name] != nil {
                problem(key, "\"\(name)\" appears twice\(place).")
                valid = false
            } else if !known.contains(name) {
                problem(key, "Unknown \(keyKind) \"\(name)\"; known keys: " + known.joined(separator: ", ") + ".")
                valid = false
            }
            fields[name] = (key, value)
        }
        return (fields, valid)
    }

    private static func problem(from error: YamlError) -> PolicyProblem {
        switch error {
        case .scanner(_, let text, let mark, _), .parser(_, let text, let mark, _), .composer(_, let text, let mark, _):
            return PolicyProblem(line: mark.line, column: mark.column, message: "YAML syntax: \(text).")
        case .reader(let text, _, _, _):
            return PolicyProblem(line: nil, column: nil, message: "YAML encoding: \(text).")
        default:
            return PolicyProblem(line: nil, column: nil, message: "YAML: \(error).")
        }
    }
}
