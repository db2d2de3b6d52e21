/// Why the key store refused or failed an operation. Equality is on the code, so callers match on
/// what went wrong; the reason is for people and never carries key material (the store holds none).
public struct KeyStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// A stable short name, e.g. `"exists"`.
        public let rawValue: String

        /// A code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A ring or key of that name is already stored.
        public static let exists = Code(rawValue: "exists")
        /// No such ring, key, version, custodian or pending epoch change.
        public static let notFound = Code(rawValue: "notFound")
        /// The change would break an invariant of the stored state (the reason names it).
        public static let invalid = Code(rawValue: "invalid")
        /// An epoch change of the ring is under way.
        public static let busy = Code(rawValue: "busy")
        /// The database was written by a newer keyshardd whose schema this one does not know.
        public static let unsupportedSchema = Code(rawValue: "unsupportedSchema")
        /// The file at the path is not an SQLite database.
        public static let notADatabase = Code(rawValue: "notADatabase")
        /// The directory or file could not be created or given its permissions.
        public static let openFailed = Code(rawValue: "openFailed")
        /// SQLite failed (disk full, I/O error, locked past the busy timeout...).
        public static let databaseFailed = Code(rawValue: "databaseFailed")
        /// The calling task was cancelled before the operation ran.
        public static let cancelled = Code(rawValue: "cancelled")

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

    public static func == (lhs: KeyStoreError, rhs: KeyStoreError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "KeyStoreError.\(code): \(reason)" }
}
