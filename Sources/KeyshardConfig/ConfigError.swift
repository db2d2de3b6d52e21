/// One problem in a configuration file, with where it is.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file, as given to ``KeyshardConfiguration/load(path:)`` or ``KeyshardConfiguration/parse(text:file:)``.
    public let file: String
    /// The 1-based line, nil when the problem is with the whole file (it cannot be read).
    public let line: Int?
    /// The 1-based column, nil with `line`.
    public let column: Int?
    /// The setting, dotted (`heartbeat.interval`, `roles[2].user`); empty for the top level.
    public let path: String
    /// What is wrong and how to fix it.
    public let message: String

    /// Creates a problem.
    public init(file: String, line: Int?, column: Int?, path: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// `file:line:column: path: message`, as compilers print it.
    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if !path.isEmpty { text += "\(path): " }
        return text + message
    }
}

/// A configuration that cannot be used: every problem found, in file order.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems.
    public let problems: [ConfigProblem]

    /// Creates an error.
    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    /// One line per problem.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
