import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a chain ends: the last record's sequence number and the SHA-256 (hex) of its line.
public struct AuditHead: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The last record's `seq` (0 before the first record).
    public let seq: Int
    /// Lower-case hex SHA-256 of the last line's bytes without its newline (64 zeros before the
    /// first record).
    public let hash: String

    /// The head of an empty chain.
    public static let genesis = AuditHead(seq: 0, hash: String(repeating: "0", count: 64))

    /// Creates a head.
    public init(seq: Int, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    public var description: String { "seq \(seq) hash \(hash)" }
}

/// One record of the log, as one JSON line:
/// `{"seq":N,"time":"…","event":"…","fields":{…},"prev":"<hex>"}` — keys in that order,
/// `fields` sorted, no spaces.
public struct AuditEntry: Sendable, Hashable {
    /// The record's position in the chain, from 1, across rotated files.
    public let seq: Int
    /// UTC time with milliseconds, `2026-12-02T14:49:06.123Z`.
    public let time: String
    /// What happened, e.g. `key.create`, `custodian.quarantined`, `api.call`.
    public let event: String
    /// Details.
    public let fields: [String: AuditValue]
    /// The hex SHA-256 of the previous line (64 zeros for the first record of a chain).
    public let prev: String

    /// The largest line written or read (bytes without the newline).
    public static let maximumLineLength = 1 << 20

    /// Creates an entry.
    public init(seq: Int, time: String, event: String, fields: [String: AuditValue], prev: String) {
        self.seq = seq
        self.time = time
        self.event = event
        self.fields = fields
        self.prev = prev
    }

    /// Parses a line (without its newline).
    /// - Returns: nil when the bytes are not a record (not JSON, a key missing or of the wrong type).
    public init?(line: some Collection<UInt8>) {
        guard let decoded = try? JSONDecoder().decode(Wire.self, from: Data(line)) else { return nil }
        self.init(
            seq: decoded.seq, time: decoded.time, event: decoded.event, fields: decoded.fields,
            prev: decoded.prev)
    }

    /// The line's bytes, without the newline: the canonical form, the only one the verifier accepts.
    public var line: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        out.append(contentsOf: "{\"seq\":\(seq),\"time\":".utf8)
        JSONText.appendString(time, to: &out)
        out.append(contentsOf: ",\"event\":".utf8)
        JSONText.appendString(event, to: &out)
        out.append(contentsOf: ",\"fields\":{".utf8)
        for (index, key) in JSONText.sortedKeys(fields).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            fields[key]!.appendJSON(to: &out)
        }
        out.append(contentsOf: "},\"prev\":".utf8)
        JSONText.appendString(prev, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Lower-case hex SHA-256 of `bytes`.
    static func hash(_ bytes: some Collection<UInt8>) -> String {
        hex(SHA256.hash(data: Array(bytes)))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` is 64 lower-case hex digits.
    static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The current UTC time with milliseconds.
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = time_t(spec.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }

    private struct Wire: Decodable {
        let seq: Int
        let time: String
        let event: String
        let fields: [String: AuditValue]
        let prev: String
    }
}
