import Yams

/// Appends scalars to YAML sequences by editing the text, so that every comment, blank line and key order
/// the author wrote survives (Yams, like every YAML library that builds a tree, drops comments).
///
/// Positions come from Yams node marks (1-based line and column, counted in Unicode scalars, as libyaml
/// does). Only the line holding a flow sequence's `]` changes (the `]` becomes `,`, so its comment stays at
/// the same column); new items go on new lines, each with a trailing comment. The caller must re-parse the
/// result and compare it with what it expects: this editor handles what policies look like, not all YAML.
struct YAMLListAppender {
    /// Why an edit could not be made.
    struct Unsupported: Error {
        let reason: String
    }

    /// One edit: replace line `line` (0-based) by `replacement` and insert `inserted` after it.
    struct Edit {
        let line: Int
        let original: String
        let replacement: String
        let inserted: [String]
    }

    private let lines: [[Unicode.Scalar]]
    private(set) var edits: [Edit] = []

    /// Prepares to edit `text`.
    init(text: String) {
        // Split scalars, not Characters: "\r\n" is one Character and would not split at "\n".
        lines = Array(text.unicodeScalars).split(separator: "\n", omittingEmptySubsequences: false).map(Array.init)
    }

    /// Queues appending `values` (already written as YAML scalars) to `sequence`, each new item with
    /// `# comment`.
    mutating func append(_ values: [String], to sequence: Node.Sequence, comment: String) throws(Unsupported) {
        guard !values.isEmpty else { return }
        guard let first = sequence.first?.mark, let last = sequence.last?.mark else {
            throw Unsupported(reason: "the list is empty or has no position")
        }
        // Yams reports the style of a composed sequence from its end event, so it cannot be trusted:
        // a flow sequence is one whose start mark is at a `[`.
        if let open = sequence.mark, open.line >= 1, open.line <= lines.count, open.column >= 1,
           open.column <= lines[open.line - 1].count, lines[open.line - 1][open.column - 1] == "[" {
            try appendFlow(values, open: open, firstItem: first, comment: comment)
        } else {
            try appendBlock(values, lastItem: last, comment: comment)
        }
    }

    /// The edited text.
    func result() -> String {
        var output = lines.map { String(String.UnicodeScalarView($0)) }
        for edit in edits.sorted(by: { $0.line > $1.line }) {
            output[edit.line] = edit.replacement
            // Keep a CRLF file CRLF.
            let ending = edit.original.unicodeScalars.last == "\r" ? "\r" : ""
            output.insert(contentsOf: edit.inserted.map { $0 + ending }, at: edit.line + 1)
        }
        return output.joined(separator: "\n")
    }

    /// `[a, b]   # note` → `[a, b,   # note` then `<indent>new]  # comment`.
    private mutating func appendFlow(
        _ values: [String], open: Mark, firstItem: Mark, comment: String
    ) throws(Unsupported) {
        guard let close = closingBracket(line: open.line - 1, column: open.column - 1) else {
            throw Unsupported(reason: "the end of the list at line \(open.line) was not found")
        }
        guard lines[close.line][close.column] == "]" else {
            throw Unsupported(reason: "the list at line \(open.line) is not closed by ]")
        }
        var line = lines[close.line]
        let after = line[(close.column + 1)...]
        let afterTrimmed = after.drop { $0 == " " || $0 == "\t" }
        guard afterTrimmed.isEmpty || afterTrimmed.first == "#" || afterTrimmed == ["\r"] else {
            throw Unsupported(reason: "the list at line \(open.line) is followed by more flow text on its line "
                + "(nested flow style)")
        }
        let before = line[..<close.column].reversed().drop { $0 == " " || $0 == "\t" }
        line[close.column] = before.first == "," ? " " : ","
        let indent = String(repeating: " ", count: firstItem.column - 1)
        let commentColumn = Self.commentColumn(in: line)
        var inserted: [String] = []
        for (position, value) in values.enumerated() {
            let text = indent + value + (position == values.count - 1 ? "]" : ",")
            inserted.append(Self.withComment(text, comment, column: commentColumn))
        }
        edits.append(Edit(line: close.line, original: Self.string(lines[close.line]),
                          replacement: Self.string(line), inserted: inserted))
    }

    /// `    - a   # note` → the same, then `    - new  # comment`.
    private mutating func appendBlock(_ values: [String], lastItem: Mark, comment: String) throws(Unsupported) {
        let index = lastItem.line - 1
        let line = lines[index]
        let prefix = line[..<(lastItem.column - 1)]
        let trimmed = prefix.filter { $0 != " " }
        guard trimmed == ["-"] else {
            throw Unsupported(reason: "the list item at line \(lastItem.line) is not a plain '- value' line")
        }
        let commentColumn = Self.commentColumn(in: line)
        let inserted = values.map { Self.withComment(Self.string(Array(prefix)) + $0, comment, column: commentColumn) }
        let original = Self.string(line)
        edits.append(Edit(line: index, original: original, replacement: original, inserted: inserted))
    }

    /// The `]` or `}` matching the bracket at (line, column), 0-based, skipping quoted text and comments.
    private func closingBracket(line startLine: Int, column startColumn: Int) -> (line: Int, column: Int)? {
        var depth = 0
        var quote: Unicode.Scalar?
        var lineIndex = startLine
        var column = startColumn
        while lineIndex < lines.count {
            let line = lines[lineIndex]
            while column < line.count {
                let character = line[column]
                if let open = quote {
                    if open == "\"" && character == "\\" {
                        column += 2
                        continue
                    }
                    if character == open {
                        if open == "'" && column + 1 < line.count && line[column + 1] == "'" {
                            column += 2
                            continue
                        }
                        quote = nil
                    }
                    column += 1
                    continue
                }
                switch character {
                case "\"", "'":
                    quote = character
                case "#" where column == 0 || line[column - 1] == " " || line[column - 1] == "\t":
                    column = line.count
                    continue
                case "[", "{":
                    depth += 1
                case "]", "}":
                    depth -= 1
                    if depth == 0 { return (lineIndex, column) }
                default:
                    break
                }
                column += 1
            }
            lineIndex += 1
            column = 0
        }
        return nil
    }

    /// Where a line's comment starts (0-based), ignoring `#` inside quotes.
    private static func commentColumn(in line: [Unicode.Scalar]) -> Int? {
        var quote: Unicode.Scalar?
        var column = 0
        while column < line.count {
            let character = line[column]
            if let open = quote {
                if open == "\"" && character == "\\" { column += 1 } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" && (column == 0 || line[column - 1] == " " || line[column - 1] == "\t") {
                return column
            }
            column += 1
        }
        return nil
    }

    /// `text`, padded to the column of the neighbouring comment when it fits, then `# comment`.
    private static func withComment(_ text: String, _ comment: String, column: Int?) -> String {
        let width = text.unicodeScalars.count
        let padding = column.map { $0 > width + 1 ? $0 - width : 2 } ?? 2
        return text + String(repeating: " ", count: padding) + "# " + comment
    }

    private static func string(_ scalars: [Unicode.Scalar]) -> String {
        String(String.UnicodeScalarView(scalars))
    }
}
