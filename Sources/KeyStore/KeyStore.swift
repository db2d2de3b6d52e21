import Foundation
internal import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's durable state in one SQLite file: rings, keys, key versions and their public
/// keys, share commitments per epoch, custodians, ring members, pending epoch changes and the
/// launch-generation counter. Public data only — never a share or any other secret.
///
/// Every multi-row change runs in one write transaction (`BEGIN IMMEDIATE`), so two daemons or
/// two tasks on the same file cannot interleave a check and its write. Opening applies the
/// schema's migrations and refuses a database written by a newer keyshardd.
public final class KeyStore: Sendable {
    /// The database file.
    public let path: String
    /// How long a write waits for another connection's lock before failing.
    public static let busyTimeout: TimeInterval = 10

    let queue: DatabaseQueue

    /// Opens (creating when missing) the store at `path`.
    ///
    /// A missing parent directory is created with mode 0700, a new file with mode 0600; an
    /// existing file wider than 0600 is narrowed to it. The database runs in WAL mode with
    /// `synchronous = FULL`, so a committed transaction survives a power loss.
    /// - Parameter path: the database file, e.g. `/var/lib/keyshard/state.sqlite`.
    /// - Throws: ``KeyStoreError`` `.notADatabase` for a file that is not SQLite,
    ///   `.unsupportedSchema` for one a newer keyshardd migrated, `.openFailed` when the directory
    ///   or the permissions cannot be made, `.databaseFailed` for SQLite's own failures.
    public init(path: String) throws(KeyStoreError) {
        self.path = path
        try FileSecurity.makeParentDirectory(of: path)
        try FileSecurity.createIfMissing(path)
        try FileSecurity.checkSQLiteHeader(path)

        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.foreignKeysEnabled = true
        configuration.label = "keyshard.store"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.openError(error, path: path)
        }
        let migrator = Schema.migrator
        do {
            let superseded = try queue.read { db in try migrator.hasBeenSuperseded(db) }
            if superseded {
                let unknown = try queue.read { db in
                    try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
                }
                throw KeyStoreError(
                    .unsupportedSchema,
                    "\(path) was written by a newer keyshardd (schema migrations \(unknown.joined(separator: ", ")) "
                        + "are unknown to this one); run that version or restore a backup of the state directory")
            }
            try migrator.migrate(queue)
        } catch let error as KeyStoreError {
            throw error
        } catch {
            throw Self.openError(error, path: path)
        }
        self.queue = queue
        try FileSecurity.restrict(path)
    }

    /// Returns a strictly increasing number, never returned before by any store on this file
    /// (it survives restarts): custodian launches are told apart by it.
    /// - Throws: ``KeyStoreError`` `.databaseFailed`.
    public func nextGeneration() async throws(KeyStoreError) -> Int64 {
        try await write("take the next generation") { db in
            try db.execute(sql: "UPDATE counters SET value = value + 1 WHERE name = 'generation'")
            guard let value = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'generation'")
            else { throw KeyStoreError(.databaseFailed, "the generation counter is missing from \(self.path)") }
            return value
        }
    }

    // MARK: - Access

    /// Runs `body` in one write transaction; errors become ``KeyStoreError``.
    func write<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(KeyStoreError) -> T {
        do {
            return try await queue.write(body)
        } catch {
            throw Self.mapped(error, what: what, path: path)
        }
    }

    /// Runs `body` as a read; errors become ``KeyStoreError``.
    func read<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(KeyStoreError) -> T {
        do {
            return try await queue.read(body)
        } catch {
            throw Self.mapped(error, what: what, path: path)
        }
    }

    static func mapped(_ error: any Error, what: String, path: String) -> KeyStoreError {
        switch error {
        case let error as KeyStoreError:
            return error
        case is CancellationError:
            return KeyStoreError(.cancelled, "could not \(what): the task was cancelled")
        case let error as DatabaseError:
            return KeyStoreError(
                .databaseFailed, "could not \(what) in \(path): \(error.message ?? "\(error.resultCode)")")
        default:
            return KeyStoreError(.databaseFailed, "could not \(what) in \(path): \(error)")
        }
    }

    private static func openError(_ error: any Error, path: String) -> KeyStoreError {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_NOTADB {
            return FileSecurity.notADatabase(path)
        }
        return mapped(error, what: "open the store", path: path)
    }
}

/// The file-system side of opening: directories, modes, the SQLite header.
enum FileSecurity {
    static let header = Array("SQLite format 3\0".utf8)

    static func makeParentDirectory(of path: String) throws(KeyStoreError) {
        let parent = (path as NSString).deletingLastPathComponent
        guard !parent.isEmpty else { return }
        try makeDirectory(parent)
    }

    /// mkdir -p with 0700 for every directory it creates; existing ones are left as they are.
    private static func makeDirectory(_ directory: String) throws(KeyStoreError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw KeyStoreError(.openFailed, "\(directory) exists and is not a directory")
            }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory { try makeDirectory(parent) }
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw KeyStoreError(.openFailed, "cannot create the directory \(directory): \(errnoText())")
        }
    }

    /// Creates an empty file with mode 0600 so SQLite never creates it with the umask's mode
    /// (SQLite gives the -wal and -shm files the main file's mode).
    static func createIfMissing(_ path: String) throws(KeyStoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            close(fd)
        } else if errno != EEXIST {
            throw KeyStoreError(.openFailed, "cannot create \(path): \(errnoText())")
        }
    }

    /// SQLite would report some non-database files only at the first query, or even overwrite
    /// an empty-looking one; reading the 16-byte header first gives a clear refusal.
    static func checkSQLiteHeader(_ path: String) throws(KeyStoreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KeyStoreError(.openFailed, "cannot read \(path): \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw KeyStoreError(.openFailed, "cannot stat \(path): \(errnoText())") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw KeyStoreError(.notADatabase, "\(path) is not a regular file")
        }
        guard info.st_size > 0 else { return }
        var bytes = [UInt8](repeating: 0, count: header.count)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count == header.count, bytes == header else { throw notADatabase(path) }
    }

    static func notADatabase(_ path: String) -> KeyStoreError {
        KeyStoreError(
            .notADatabase,
            "\(path) is not an SQLite database; keyshardd keeps its state there, so move that file away "
                + "or choose another state_dir")
    }

    /// Narrows the database and its WAL files to 0600 and checks that it holds.
    static func restrict(_ path: String) throws(KeyStoreError) {
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            guard stat(file, &info) == 0 else {
                if file == path { throw KeyStoreError(.openFailed, "cannot stat \(path): \(errnoText())") }
                continue
            }
            if info.st_mode & 0o7777 != 0o600 {
                guard chmod(file, 0o600) == 0 else {
                    throw KeyStoreError(.openFailed, "cannot set mode 0600 on \(file): \(errnoText())")
                }
                guard stat(file, &info) == 0, info.st_mode & 0o7777 == 0o600 else {
                    throw KeyStoreError(.openFailed, "\(file) does not keep mode 0600")
                }
            }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
