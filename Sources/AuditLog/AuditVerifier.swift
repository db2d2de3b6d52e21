import Crypto

#if canImport(Glibc)
    import Glibc
#endif

/// One thing wrong with an audit file.
public struct AuditProblem: Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line it is at.
    public let line: Int
    /// What is wrong.
    public let description: String

    /// Creates a problem.
    public init(line: Int, description: String) {
        self.line = line
        self.description = description
    }
}

/// What ``AuditVerifier`` found in one file.
public struct AuditReport: Sendable, Hashable {
    /// Lines read (a torn final line included).
    public var lines: Int
    /// The first record's seq, nil for a file without records.
    public var firstSeq: Int?
    /// Where the file's chain ends, nil for a file without records.
    public var head: AuditHead?
    /// The `prev` of the file's first record when it continues a rotated file's chain
    /// (`audit.continued`): that file's head should be this hash.
    public var continuesFrom: String?
    /// Every problem, in file order (at most ``AuditVerifier/maximumProblems``).
    public var problems: [AuditProblem]

    /// Whether no problem was found.
    public var isIntact: Bool { problems.isEmpty }
}

/// Checks an audit file's chain: edited lines, dropped lines, reordered lines, malformed records.
///
/// Each line's `prev` must be the SHA-256 of the line before it and `seq` must go up by one; a
/// chain starts with seq 1 and 64 zeros, or with `audit.continued` after rotation. Lines dropped
/// at the very end leave a shorter valid chain: only a head kept elsewhere (keyshardd serves its
/// head) reveals them, so pass it as `expectedHead`. The file is streamed, so memory stays
/// bounded however long the log is.
public enum AuditVerifier {
    /// Problems listed before the report stops adding more.
    public static let maximumProblems = 1000

    /// Verifies the file at `path`.
    /// - Parameters:
    ///   - path: the audit file.
    ///   - expectedHead: where the chain should end (the daemon's head), if known.
    /// - Throws: ``AuditError`` `.readFailed` when the file cannot be read at all.
    public static func verify(path: String, expectedHead: AuditHead? = nil) throws(AuditError) -> AuditReport {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditError(.readFailed, "cannot open \(path): \(Paths.errnoText())") }
        defer { close(fd) }
        var reader = LineReader(fd: fd, limit: AuditEntry.maximumLineLength)
        var checker = ChainChecker()
        while let line = try reader.next(path: path) {
            checker.check(line)
        }
        return checker.finish(expectedHead: expectedHead)
    }
}

/// The chain rules, one line at a time.
struct ChainChecker {
    private(set) var report = AuditReport(lines: 0, firstSeq: nil, head: nil, continuesFrom: nil, problems: [])
    /// The hash of the previous line, whatever it held.
    private var previousHash: String?
    /// The seq of the previous line, when it parsed.
    private var previousSeq: Int?
    /// The highest seq so far.
    private var maximumSeq: Int?
    /// Seq ranges reported as dropped, to rename them when the lines turn up later (reordered).
    private var gaps: [(seqs: ClosedRange<Int>, problem: Int)] = []
    /// Lines since the last record that parsed: their seqs are unknown, not missing.
    private var unreadable = 0
    private var omitted = 0

    mutating func check(_ line: ReadLine) {
        report.lines += 1
        let number = report.lines
        defer { previousHash = line.hash }
        guard line.terminated else {
            problem(
                number,
                "incomplete last line (\(line.length) bytes without a newline): a torn write; keyshardd cuts it off "
                    + "when it next opens the log")
            previousSeq = nil
            unreadable += 1
            return
        }
        guard !line.oversize else {
            problem(number, "line is \(line.length) bytes, over the \(AuditEntry.maximumLineLength)-byte limit")
            previousSeq = nil
            unreadable += 1
            return
        }
        guard let entry = AuditEntry(line: line.bytes) else {
            problem(number, "not an audit record (malformed JSON or a missing seq, time, event, fields or prev)")
            previousSeq = nil
            unreadable += 1
            return
        }
        if !line.bytes.elementsEqual(entry.line) {
            problem(number, "not in the exact form keyshardd writes (key order, spacing or escapes differ): edited")
        }
        if !AuditEntry.isHash(entry.prev) {
            problem(number, "prev is not a SHA-256 in hex")
        }

        if report.firstSeq == nil { report.firstSeq = entry.seq }
        if number == 1 {
            if entry.event == "audit.continued" {
                report.continuesFrom = entry.prev
            } else if entry.prev != AuditHead.genesis.hash || entry.seq != 1 {
                problem(
                    number,
                    "the file starts at seq \(entry.seq) without starting a chain (seq 1, prev of zeros) or "
                        + "continuing one (audit.continued): lines before it were dropped")
            }
        } else if let maximumSeq {
            if entry.seq <= maximumSeq {
                problem(number, "seq \(entry.seq) after seq \(maximumSeq): this line is out of order or repeated")
                if let gap = gaps.firstIndex(where: { $0.seqs.contains(entry.seq) }), gaps[gap].problem >= 0 {
                    let index = gaps[gap].problem
                    let old = report.problems[index]
                    report.problems[index] = AuditProblem(
                        line: old.line,
                        description: "lines out of order: seq \(gaps[gap].seqs.lowerBound)"
                            + "\(gaps[gap].seqs.count > 1 ? "…\(gaps[gap].seqs.upperBound)" : "") should come before "
                            + "this line (seq \(entry.seq) is at line \(number))")
                }
            } else if entry.seq > maximumSeq + 1 + unreadable {
                let missing = (maximumSeq + 1 + unreadable)...(entry.seq - 1)
                let index = problem(
                    number,
                    "seq jumps from \(maximumSeq) to \(entry.seq): \(missing.count) line(s) dropped before this line")
                gaps.append((missing, index ?? -1))
            } else if previousSeq == maximumSeq, entry.prev != previousHash {
                problem(
                    number - 1,
                    "this line's hash is not the prev of line \(number): line \(number - 1) was edited "
                        + "(or line \(number)'s prev)")
            }
        }
        previousSeq = entry.seq
        unreadable = 0
        maximumSeq = max(maximumSeq ?? entry.seq, entry.seq)
        report.head = AuditHead(seq: entry.seq, hash: line.hash)
    }

    mutating func finish(expectedHead: AuditHead?) -> AuditReport {
        if let expectedHead, report.head != expectedHead {
            let found = report.head.map { "seq \($0.seq)" } ?? "no record"
            problem(
                max(report.lines, 1),
                "the file ends at \(found), but the chain's head is seq \(expectedHead.seq) hash "
                    + "\(expectedHead.hash.prefix(16))…: lines at the end were dropped or the file was replaced")
        }
        if omitted > 0 {
            report.problems.append(
                AuditProblem(line: report.lines, description: "\(omitted) more problem(s) not listed"))
        }
        return report
    }

    @discardableResult
    private mutating func problem(_ line: Int, _ description: String) -> Int? {
        guard report.problems.count < AuditVerifier.maximumProblems else {
            omitted += 1
            return nil
        }
        report.problems.append(AuditProblem(line: line, description: description))
        return report.problems.count - 1
    }
}

/// One line as read: its first `limit` bytes, and the hash and length of all of it.
struct ReadLine {
    var bytes: [UInt8]
    var hash: String
    var length: Int
    var oversize: Bool
    var terminated: Bool
}

/// Reads a file line by line in fixed chunks, hashing each whole line but keeping at most
/// `limit` bytes of it.
struct LineReader {
    let fd: Int32
    let limit: Int
    private var chunk: [UInt8] = []
    private var position = 0
    private var atEnd = false

    init(fd: Int32, limit: Int) {
        self.fd = fd
        self.limit = limit
    }

    mutating func next(path: String) throws(AuditError) -> ReadLine? {
        var bytes: [UInt8] = []
        var hasher = SHA256()
        var length = 0
        var oversize = false
        while true {
            if position == chunk.count {
                var more = false
                if !atEnd { more = try fill(path: path) }
                if !more {
                    guard length > 0 else { return nil }
                    return ReadLine(
                        bytes: bytes, hash: AuditEntry.hex(hasher.finalize()), length: length, oversize: oversize,
                        terminated: false)
                }
            }
            let newline = chunk[position...].firstIndex(of: 0x0A)
            let end = newline ?? chunk.count
            let piece = chunk[position..<end]
            hasher.update(data: piece)
            length += piece.count
            if !oversize {
                if bytes.count + piece.count <= limit {
                    bytes.append(contentsOf: piece)
                } else {
                    oversize = true
                    bytes = []
                }
            }
            position = newline.map { $0 + 1 } ?? end
            if newline != nil {
                return ReadLine(
                    bytes: bytes, hash: AuditEntry.hex(hasher.finalize()), length: length, oversize: oversize,
                    terminated: true)
            }
        }
    }

    /// Reads the next chunk; false at the end of the file.
    private mutating func fill(path: String) throws(AuditError) -> Bool {
        chunk = [UInt8](repeating: 0, count: 1 << 16)
        position = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw AuditError(.readFailed, "cannot read \(path): \(Paths.errnoText())") }
            chunk.removeSubrange(count...)
            if count == 0 { atEnd = true }
            return count > 0
        }
    }
}
