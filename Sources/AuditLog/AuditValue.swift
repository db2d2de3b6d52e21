/// A value in an audit record's `fields`. Only these few shapes exist, so a caller has to pick
/// each value it records: nothing can slip in by encoding a whole structure (which might hold
/// a secret).
public enum AuditValue: Sendable, Hashable, Codable {
    /// A string.
    case string(String)
    /// An integer.
    case int(Int)
    /// A boolean.
    case bool(Bool)
    /// A list of strings.
    case strings([String])
    /// JSON null: the field is known to have no value.
    case null

    /// Decodes the JSON shapes above; anything else (a float, an object) is refused.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([String].self) {
            self = .strings(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "an audit field is a string, integer, boolean, list of strings or null"
            )
        }
    }

    /// Encodes as the JSON shape of the case.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .strings(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// Appends the canonical JSON text of the value (the form ``AuditLog`` writes).
    func appendJSON(to out: inout [UInt8]) {
        switch self {
        case .string(let value): JSONText.appendString(value, to: &out)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .strings(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(value, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }
}

extension AuditValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    /// A string field.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer field.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// A boolean field.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A list-of-strings field.
    public init(arrayLiteral elements: String...) { self = .strings(elements) }
    /// A null field.
    public init(nilLiteral: ()) { self = .null }
}

/// The JSON text the log writes: compact, keys in a fixed order, minimal escapes, so every
/// record has exactly one byte form and the verifier can insist on it.
enum JSONText {
    static func appendString(_ string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Field names in byte order, so the order does not depend on Swift's string comparison.
    static func sortedKeys(_ fields: [String: AuditValue]) -> [String] {
        fields.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
