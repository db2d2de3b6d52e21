/// Why the audit log could not be opened, written or read. Equality is on the code. When an
/// append throws, the record is not in the log and keyshardd refuses the operation it described.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// A stable short name, e.g. `"writeFailed"`.
        public let rawValue: String

        /// A code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The file or its directory could not be created, opened or given mode 0600.
        public static let openFailed = Code(rawValue: "openFailed")
        /// A record could not be written and made durable (disk full, I/O error, file removed);
        /// the reason carries the system's error text.
        public static let writeFailed = Code(rawValue: "writeFailed")
        /// The file could not be read.
        public static let readFailed = Code(rawValue: "readFailed")
        /// The file's last records do not form a chain this log can continue.
        public static let corrupt = Code(rawValue: "corrupt")
        /// The record itself is not acceptable (bad event name, too long).
        public static let invalidRecord = Code(rawValue: "invalidRecord")

        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What exactly, in words an admin can act on.
    public let reason: String

    /// An error with its code and reason.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: AuditError, rhs: AuditError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "AuditError.\(code): \(reason)" }
}
