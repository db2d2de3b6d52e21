import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// keyshardd's audit log: hash-chained JSON lines, one record per line, each naming the SHA-256
/// of the line before it, so an edited, dropped or reordered line breaks the chain
/// (``AuditVerifier`` finds where).
///
/// Every append is one `write(2)` of the whole line, and returns only once an `fdatasync(2)`
/// begun after that write has completed. When it throws, the record is not in the file and the
/// caller must refuse the operation the record describes. Rotation: rename the file
/// (logrotate's default `create` mode, not `copytruncate`) and call ``reopen()`` (keyshardd
/// does on SIGHUP); the new file starts with an `audit.continued` record whose `prev` is the
/// old file's head.
///
/// Group commit: appends that arrive while a sync is running are written at once and made
/// durable together by the next sync, so concurrent requests share one `fdatasync` rather than
/// queueing behind one each (one per request capped a busy daemon at the disk's sync rate, and
/// held a cooperative thread for every sync). Syncs run on the log's own queue, never on Swift's
/// cooperative pool. When a sync fails, every record not yet durable is cut off the file and
/// each of their appends throws, so "returned" still means "on disk".
public actor AuditLog {
    /// The log's path.
    public nonisolated let path: String
    private var file: AuditFile
    /// Appends written but not yet durable, waiting for a sync of their file that covers their
    /// last byte (after a reopen, appends to the old file may still be waiting).
    private var waiting: [Waiter] = []
    private var syncing = false
    private let syncQueue = DispatchQueue(label: "keyshard.audit-log.sync")
    /// Syncs completed by appends (not counting opening's), for the tests of group commit.
    private(set) var appendSyncs = 0

    /// Opens the log at `path`, creating it (mode 0600, missing parent directories 0700) when
    /// needed, and resumes its chain.
    ///
    /// The file's last two lines are checked to parse and chain; a final line without its
    /// newline (a write torn by a crash or a full disk) is cut off and an `audit.recovered`
    /// record says how many bytes were dropped.
    /// - Parameters:
    ///   - path: the log file, e.g. `/var/log/keyshard/audit.log`.
    ///   - previous: the head of the chain this file continues, when the caller knows it (the
    ///     file was rotated while the daemon was down): an empty file then starts with
    ///     `audit.continued`. Ignored when the file has records.
    /// - Throws: ``AuditError`` `.openFailed`, `.readFailed`, `.corrupt` when the last lines do
    ///   not chain (run `keyshard audit verify`, then move the file away to start a new chain),
    ///   `.writeFailed` when the recovery record cannot be written.
    public init(path: String, continuing previous: AuditHead? = nil) throws(AuditError) {
        self.path = path
        self.file = try AuditFile.open(path: path, previous: previous)
    }

    /// The chain's head: the last durable record's seq and line hash.
    public var head: AuditHead { file.durableHead }

    /// Appends one record and makes it durable before returning.
    /// - Parameters:
    ///   - event: what happened: letters, digits, `.`, `_`, `-` (e.g. `key.create`).
    ///   - fields: the details; never a secret.
    /// - Returns: the new head.
    /// - Throws: ``AuditError`` `.writeFailed` with the system's reason (the record is not in
    ///   the log; lines already written are left intact), `.invalidRecord` for a bad event name
    ///   or a line over 1 MiB.
    @discardableResult
    public func append(_ event: String, _ fields: [String: AuditValue] = [:]) async throws(AuditError) -> AuditHead {
        let written = file
        try written.append(event, fields)
        let head = written.head
        try await waitUntilDurable(written, end: written.size)
        return head
    }

    /// Suspends until a sync has covered `end` bytes of `written`, starting one when none runs.
    private func waitUntilDurable(_ written: AuditFile, end: Int) async throws(AuditError) {
        guard written.durableSize < end else { return }
        let failure = await withCheckedContinuation { continuation in
            waiting.append(Waiter(file: written, end: end, resume: continuation))
            startSyncIfIdle()
        }
        if let failure { throw failure }
    }

    private func startSyncIfIdle() {
        guard !syncing, let first = waiting.first else { return }
        syncing = true
        let syncing = first.file
        let covered = SyncPoint(size: syncing.size, head: syncing.head)
        syncQueue.async {
            let failure = syncing.sync()
            Task { await self.syncFinished(syncing, covered: covered, failure: failure) }
        }
    }

    private func syncFinished(_ synced: AuditFile, covered: SyncPoint, failure: String?) {
        syncing = false
        if let failure {
            // Nothing written since the last good sync is known to be on disk: cut it all off
            // and fail every append still waiting (they were all written after that sync).
            let error = synced.rollBack(reason: failure)
            let failed = waiting.filter { $0.file === synced }
            waiting.removeAll { $0.file === synced }
            for waiter in failed { waiter.resume.resume(returning: error) }
            startSyncIfIdle()
            return
        }
        appendSyncs += 1
        synced.markDurable(covered.size, head: covered.head)
        var stillWaiting: [Waiter] = []
        for waiter in waiting {
            if waiter.file === synced, waiter.end <= covered.size {
                waiter.resume.resume(returning: nil)
            } else {
                stillWaiting.append(waiter)
            }
        }
        waiting = stillWaiting
        startSyncIfIdle()
    }

    /// An append waiting for its record to be durable.
    private struct Waiter {
        let file: AuditFile
        let end: Int
        let resume: CheckedContinuation<AuditError?, Never>
    }

    /// What one sync covers: the bytes written and the head when it began.
    private struct SyncPoint: Sendable {
        let size: Int
        let head: AuditHead
    }

    /// Reopens the path after logrotate moved the file: when the path is gone or holds an empty
    /// file, a new file starts with `audit.continued` carrying the current head; when it is still
    /// this log's file, nothing changes.
    /// - Throws: ``AuditError`` `.corrupt` when the path now holds another chain, or the open and
    ///   write failures of ``init(path:continuing:)``. The old file stays in use then.
    public func reopen() async throws(AuditError) {
        // Records still being synced belong to the old file: let them finish there first, until
        // none is pending (appends may arrive while this waits), so that the new file continues
        // from a head that is on disk. Nothing below suspends.
        while file.durableSize < file.size { try await waitUntilDurable(file, end: file.size) }
        if try file.stillAtPath() { return }
        let replacement = try AuditFile.open(path: path, previous: file.head, expecting: file.head)
        file = replacement
    }
}

/// The open file and the chain state; owned by one ``AuditLog``, whose actor is the only
/// caller except for ``sync()``, which its sync queue runs on the descriptor alone.
final class AuditFile: @unchecked Sendable {
    let path: String
    private let fd: Int32
    /// The bytes of whole records written to the file.
    private(set) var size: Int
    /// The head after the last record written.
    private(set) var head: AuditHead
    /// The bytes, and the head, that a completed sync made durable.
    private(set) var durableSize: Int
    private(set) var durableHead: AuditHead
    /// Set when a failed append could not be undone: appends are refused until reopened.
    private var broken: String?

    private init(path: String, fd: Int32, size: Int, head: AuditHead) {
        self.path = path
        self.fd = fd
        self.size = size
        self.head = head
        self.durableSize = size
        self.durableHead = head
    }

    deinit { close(fd) }

    /// Opens or creates the file and resumes its chain.
    /// - Parameters:
    ///   - previous: the chain an empty file continues.
    ///   - expecting: when reopening, the head a non-empty file at the path must end with.
    static func open(path: String, previous: AuditHead?, expecting: AuditHead? = nil) throws(AuditError) -> AuditFile {
        try Paths.makeParentDirectory(of: path)
        var created = true
        var fd = Glibc.open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0, errno == EEXIST {
            created = false
            fd = Glibc.open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        }
        guard fd >= 0 else { throw AuditError(.openFailed, "cannot open the audit log \(path): \(Paths.errnoText())") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw AuditError(.openFailed, "the audit log \(path) is not a regular file")
        }
        guard fchmod(fd, 0o600) == 0 else {
            let reason = Paths.errnoText()
            close(fd)
            throw AuditError(.openFailed, "cannot set mode 0600 on the audit log \(path): \(reason)")
        }
        if created { Paths.syncParentDirectory(of: path) }

        let tail: AuditTail
        do {
            tail = try AuditTail.read(fd: fd, size: Int(info.st_size), path: path)
        } catch {
            close(fd)
            throw error
        }
        if let expecting, let found = tail.head, found != expecting {
            close(fd)
            throw AuditError(
                .corrupt,
                "\(path) now holds a chain ending at \(found), not this log's head \(expecting); "
                    + "the log keeps writing to its old file")
        }
        let file = AuditFile(path: path, fd: fd, size: tail.size, head: tail.head ?? .genesis)
        if tail.head == nil, let previous, previous.seq > 0 {
            try file.appendContinued(from: previous)
        }
        if tail.droppedBytes > 0 {
            try file.append("audit.recovered", ["dropped_bytes": .int(tail.droppedBytes)])
        }
        try file.syncNow()
        return file
    }

    /// fdatasync(2); the failure's reason, or nil. The only method safe off the owning actor.
    func sync() -> String? {
        var result: Int32
        repeat { result = fdatasync(fd) } while result != 0 && errno == EINTR
        return result == 0 ? nil : Paths.errnoText()
    }

    /// Makes everything written so far durable before returning (opening, where no append waits).
    func syncNow() throws(AuditError) {
        if let failure = sync() { throw rollBack(reason: failure) }
        markDurable(size, head: head)
    }

    /// Records that a sync covered `size` bytes ending at `head`.
    func markDurable(_ size: Int, head: AuditHead) {
        guard size > durableSize else { return }
        durableSize = size
        durableHead = head
    }

    /// After a failed sync: cuts the file back to its last durable byte, so it ends with records
    /// known to be on disk and the chain resumes from there; the error to give every append that
    /// was waiting.
    func rollBack(reason: String) -> AuditError {
        size = durableSize
        head = durableHead
        undo(after: "syncing")
        return AuditError(.writeFailed, "cannot make the audit log \(path) durable: \(reason)")
    }

    /// Whether the path still names this file and the file is as this log left it.
    func stillAtPath() throws(AuditError) -> Bool {
        var mine = stat()
        var atPath = stat()
        guard fstat(fd, &mine) == 0 else {
            throw AuditError(.readFailed, "cannot stat the audit log: \(Paths.errnoText())")
        }
        guard stat(path, &atPath) == 0 else { return false }
        return mine.st_dev == atPath.st_dev && mine.st_ino == atPath.st_ino && Int(atPath.st_size) == size
            && size > 0
    }

    func append(_ event: String, _ fields: [String: AuditValue]) throws(AuditError) {
        guard !event.isEmpty, event.utf8.count <= 128,
            event.utf8.allSatisfy({ Self.eventBytes.contains($0) })
        else {
            throw AuditError(.invalidRecord, "an audit event name is 1 to 128 letters, digits, '.', '_' or '-'")
        }
        if let broken { throw AuditError(.writeFailed, broken) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw AuditError(.writeFailed, "cannot stat the audit log \(path): \(Paths.errnoText())")
        }
        guard info.st_nlink > 0 else {
            throw AuditError(
                .writeFailed, "the audit log \(path) was removed; reopen it (SIGHUP) to start a continued file")
        }
        if size == 0, head.seq > 0 {
            // A failed sync cut the file back to nothing: it starts again as a continued file.
            try appendContinued(from: head)
        } else if Int(info.st_size) != size {
            guard info.st_size == 0 else {
                throw AuditError(
                    .writeFailed,
                    "the audit log \(path) has \(info.st_size) bytes but this log wrote \(size): another writer "
                        + "changed it")
            }
            // Truncated in place (logrotate copytruncate): the chain goes on in the same file.
            size = 0
            durableSize = 0
            try appendContinued(from: head)
        }
        try write(AuditEntry(seq: head.seq + 1, time: AuditEntry.now(), event: event, fields: fields, prev: head.hash))
    }

    private func appendContinued(from previous: AuditHead) throws(AuditError) {
        try write(
            AuditEntry(
                seq: previous.seq + 1, time: AuditEntry.now(), event: "audit.continued",
                fields: ["previous_seq": .int(previous.seq)], prev: previous.hash))
    }

    private func write(_ entry: AuditEntry) throws(AuditError) {
        var bytes = entry.line
        guard bytes.count <= AuditEntry.maximumLineLength else {
            throw AuditError(
                .invalidRecord,
                "an audit record of \(bytes.count) bytes is over the \(AuditEntry.maximumLineLength)-byte limit")
        }
        let lineHash = AuditEntry.hash(bytes)
        bytes.append(0x0A)
        var written: Int
        repeat {
            written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        } while written < 0 && errno == EINTR
        if written != bytes.count {
            let reason =
                written < 0
                ? Paths.errnoText()
                : "only \(written) of \(bytes.count) bytes written (is the file system full?)"
            undo(after: "writing")
            throw AuditError(.writeFailed, "cannot write to the audit log \(path): \(reason)")
        }
        size += bytes.count
        head = AuditHead(seq: entry.seq, hash: lineHash)
    }

    /// A short write leaves a torn line; cut it off so the file ends with whole records.
    private func undo(after step: String) {
        if ftruncate(fd, off_t(size)) != 0 {
            broken =
                "the audit log \(path) may end with a partial record (failed \(step), then could not truncate: "
                + "\(Paths.errnoText())); reopen it to recover"
        }
    }

    private static let eventBytes: Set<UInt8> = Set(
        Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".utf8))
}

/// The end of an existing file: where its whole records end and its head.
struct AuditTail {
    /// Bytes of whole records.
    var size: Int
    /// The last record's head, nil for a file without records.
    var head: AuditHead?
    /// Bytes of a torn final line that were cut off.
    var droppedBytes: Int

    /// Reads and checks the last two lines, cutting off a torn final line.
    static func read(fd: Int32, size: Int, path: String) throws(AuditError) -> AuditTail {
        guard size > 0 else { return AuditTail(size: 0, head: nil, droppedBytes: 0) }
        let limit = 2 * (AuditEntry.maximumLineLength + 1) + 1
        let start = max(0, size - limit)
        var window = [UInt8](repeating: 0, count: size - start)
        var filled = 0
        while filled < window.count {
            let count = window.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(start + filled))
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                throw AuditError(.readFailed, "cannot read the audit log \(path): \(Paths.errnoText())")
            }
            filled += count
        }

        var end = window.count
        var dropped = 0
        if window.last != 0x0A {
            if let newline = window.lastIndex(of: 0x0A) {
                end = newline + 1
            } else if start == 0 {
                end = 0
            } else {
                throw AuditError(.corrupt, "the audit log \(path) ends with a line longer than 1 MiB")
            }
            dropped = window.count - end
            guard ftruncate(fd, off_t(start + end)) == 0 else {
                throw AuditError(
                    .writeFailed, "cannot cut the torn last line off the audit log \(path): \(Paths.errnoText())")
            }
        }
        let wholeSize = start + end
        guard end > 0 else { return AuditTail(size: wholeSize, head: nil, droppedBytes: dropped) }

        // window[..<end] ends with a newline; find the last line and the one before it.
        let lastEnd = end - 1
        let lastStart = window[..<lastEnd].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        guard lastStart > 0 || start == 0 else {
            throw AuditError(.corrupt, "the audit log \(path) ends with a line longer than 1 MiB")
        }
        let lastLine = window[lastStart..<lastEnd]
        guard let last = AuditEntry(line: lastLine), lastLine.elementsEqual(last.line) else {
            throw Self.corrupt(path, "its last line is not an audit record")
        }
        let head = AuditHead(seq: last.seq, hash: AuditEntry.hash(lastLine))

        if lastStart > 0 {
            let previousEnd = lastStart - 1
            if let previousNewline = window[..<previousEnd].lastIndex(of: 0x0A) ?? (start == 0 ? -1 : nil) {
                let previousLine = window[(previousNewline + 1)..<previousEnd]
                guard let previous = AuditEntry(line: previousLine) else {
                    throw Self.corrupt(path, "its second-to-last line is not an audit record")
                }
                guard previous.seq + 1 == last.seq, AuditEntry.hash(previousLine) == last.prev else {
                    throw Self.corrupt(path, "its last line does not follow the line before it")
                }
            }
        } else if !(last.seq == 1 && last.prev == AuditHead.genesis.hash) && last.event != "audit.continued" {
            throw Self.corrupt(path, "its only line neither starts a chain nor continues one")
        }
        return AuditTail(size: wholeSize, head: head, droppedBytes: dropped)
    }

    private static func corrupt(_ path: String, _ what: String) -> AuditError {
        AuditError(
            .corrupt,
            "the audit log \(path) cannot be continued: \(what). Run `keyshard audit verify \(path)`, keep the "
                + "file as evidence and move it away; keyshardd then starts a new chain")
    }
}

/// Directories and errno text.
enum Paths {
    static func makeParentDirectory(of path: String) throws(AuditError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        try makeDirectory(String(path[..<slash]))
    }

    /// mkdir -p with 0700 for each directory it creates.
    private static func makeDirectory(_ directory: String) throws(AuditError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw AuditError(.openFailed, "\(directory) exists and is not a directory")
            }
            return
        }
        if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            try makeDirectory(String(directory[..<slash]))
        }
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw AuditError(.openFailed, "cannot create the directory \(directory): \(errnoText())")
        }
    }

    /// Makes a new file's directory entry durable too.
    static func syncParentDirectory(of path: String) {
        let parent: String
        if let slash = path.lastIndex(of: "/") {
            parent = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            parent = "."
        }
        let fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
