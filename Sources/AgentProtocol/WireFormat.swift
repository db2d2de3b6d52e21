/// Big-endian readers and writers for message payloads. Every variable-length field
/// carries its length; every length and count is checked against the bytes that are
/// actually left before anything is allocated, so a hostile length costs nothing.
struct WireWriter {
    private(set) var bytes: [UInt8] = []

    mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func write(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    mutating func write(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    /// Bytes of a length fixed by the message definition: no prefix.
    mutating func writeFixed(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    /// A UInt32 length prefix, then the bytes.
    mutating func writeVariable(_ value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// A UInt16 count prefix for a list whose elements the caller writes next.
    mutating func writeCount(_ count: Int) throws(AgentProtocolError) {
        guard let count16 = UInt16(exactly: count) else {
            throw AgentProtocolError.malformed("a list of \(count) elements exceeds the 65535 limit")
        }
        write(count16)
    }
}

struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func readUInt8(_ field: String) throws(AgentProtocolError) -> UInt8 { try readFixed(1, field)[0] }

    mutating func readUInt16(_ field: String) throws(AgentProtocolError) -> UInt16 {
        let raw = try readFixed(2, field)
        return UInt16(raw[0]) << 8 | UInt16(raw[1])
    }

    mutating func readUInt32(_ field: String) throws(AgentProtocolError) -> UInt32 {
        try readFixed(4, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func readUInt64(_ field: String) throws(AgentProtocolError) -> UInt64 {
        try readFixed(8, field).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func readFixed(_ count: Int, _ field: String) throws(AgentProtocolError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw AgentProtocolError.malformed("\(field) needs \(count) bytes, \(remaining) left")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A UInt32-length-prefixed field of at most `maximum` bytes.
    mutating func readVariable(_ field: String, maximum: Int = .max, minimum: Int = 0) throws(AgentProtocolError) -> [UInt8] {
        let length = try readUInt32("\(field) length")
        guard length <= remaining else {
            throw AgentProtocolError.malformed("\(field) announces \(length) bytes, \(remaining) left")
        }
        guard Int(length) <= maximum, Int(length) >= minimum else {
            throw AgentProtocolError.malformed("\(field) is \(length) bytes, allowed \(minimum)…\(maximum)")
        }
        return try readFixed(Int(length), field)
    }

    /// A UInt16 count of elements that each take at least `minimumElementSize` bytes:
    /// refused when the bytes left cannot hold that many, before any array is made.
    mutating func readCount(_ field: String, minimumElementSize: Int, maximum: Int = Int(UInt16.max)) throws(AgentProtocolError) -> Int {
        let count = Int(try readUInt16("\(field) count"))
        guard count <= maximum else {
            throw AgentProtocolError.malformed("\(field) has \(count) elements, at most \(maximum) allowed")
        }
        guard count * max(minimumElementSize, 1) <= remaining else {
            throw AgentProtocolError.malformed("\(field) announces \(count) elements, only \(remaining) bytes left")
        }
        return count
    }

    /// Refuses trailing bytes, so every accepted payload has exactly one encoding.
    func finish(_ message: String) throws(AgentProtocolError) {
        guard remaining == 0 else {
            throw AgentProtocolError.malformed("\(message) has \(remaining) trailing bytes")
        }
    }
}
