/// A tiny XML element tree with a serializer that escapes every text and attribute value.
///
/// Element and attribute names come from this module's code, never from input; values (names,
/// paths, command lines, ring identifiers) always go through `escaped`, so no input can close
/// a tag or inject an element.
struct MarkupElement: Sendable, Equatable {
    let name: String
    var attributes: [(name: String, value: String)]
    var children: [MarkupElement]
    var text: String?

    init(_ name: String, _ attributes: [(String, String)] = [], text: String? = nil, children: [MarkupElement] = []) {
        self.name = name
        self.attributes = attributes.map { (name: $0.0, value: $0.1) }
        self.children = children
        self.text = text
    }

    static func == (lhs: MarkupElement, rhs: MarkupElement) -> Bool {
        lhs.name == rhs.name && lhs.text == rhs.text && lhs.children == rhs.children
            && lhs.attributes.elementsEqual(rhs.attributes) { $0.name == $1.name && $0.value == $1.value }
    }

    /// The element as indented XML text (two spaces per level), ending in a newline.
    func serialized(indent: Int = 0) -> String {
        let padding = String(repeating: "  ", count: indent)
        var out = padding + "<" + name
        for attribute in attributes {
            out += " \(attribute.name)=\"\(Self.escaped(attribute.value))\""
        }
        if children.isEmpty {
            guard let text else { return out + "/>\n" }
            return out + ">" + Self.escaped(text) + "</" + name + ">\n"
        }
        out += ">\n"
        if let text { out += padding + "  " + Self.escaped(text) + "\n" }
        for child in children { out += child.serialized(indent: indent + 1) }
        return out + padding + "</" + name + ">\n"
    }

    /// `value` with the five XML special characters replaced by entities, safe both as text and
    /// inside a double-quoted attribute.
    static func escaped(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
