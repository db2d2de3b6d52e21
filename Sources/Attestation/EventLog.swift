import TPM2

/// A TCG PC Client crypto-agile event log (`TCG_PCR_EVENT2` records after a `Spec ID Event03`
/// header), as firmware leaves it in `/sys/kernel/security/tpm0/binary_bios_measurements`.
///
/// Parsing is bounded: the log, each event's data and the number of events have hard limits, so a
/// hostile log costs at most a few megabytes and a linear scan.
public struct EventLog: Hashable, Sendable {
    /// The largest log read (real logs are tens of kilobytes).
    public static let maximumSize = 4 << 20
    /// The largest single event's data.
    public static let maximumEventDataSize = 1 << 20
    /// The most events read.
    public static let maximumEventCount = 65_536

    /// `EV_NO_ACTION`: informational events that are not extended into any PCR.
    public static let noActionEventType: UInt32 = 0x0000_0003

    /// One measurement.
    public struct Event: Hashable, Sendable {
        /// The PCR the event was extended into.
        public let pcrIndex: Int
        /// The event type (`EV_*`).
        public let eventType: UInt32
        /// The digest for each bank the log records.
        public let digests: [TPMAlgorithmID: [UInt8]]
        /// The event data.
        public let data: [UInt8]
    }

    /// The banks the log records, with their digest sizes, from the Spec ID event.
    public let digestSizes: [TPMAlgorithmID: Int]
    /// The locality the firmware started the TPM in (it becomes PCR 0's initial value), 0 if unrecorded.
    public let startupLocality: UInt8
    /// The events after the header, in log order.
    public let events: [Event]

    /// Parses a crypto-agile event log.
    /// - Parameter bytes: the binary log.
    /// - Throws: ``EventLogError`` when the log is too large, truncated, not crypto-agile, or inconsistent.
    public init(parsing bytes: [UInt8]) throws(EventLogError) {
        guard bytes.count <= Self.maximumSize else {
            throw EventLogError("The event log is \(bytes.count) bytes; the limit is \(Self.maximumSize).")
        }
        var reader = LittleEndianReader(bytes)

        // Header: a SHA-1-format TCG_PCClientPCREvent holding TCG_EfiSpecIdEvent.
        let headerPCR = try reader.uint32()
        let headerType = try reader.uint32()
        _ = try reader.bytes(20)
        let headerData = try reader.bytes(Int(try reader.uint32()), limit: Self.maximumEventDataSize)
        guard headerPCR == 0, headerType == Self.noActionEventType else {
            throw EventLogError("The event log does not start with a Spec ID event: it is not a crypto-agile log.")
        }
        var spec = LittleEndianReader(headerData)
        guard try spec.bytes(16) == Array("Spec ID Event03\0".utf8) else {
            throw EventLogError("The event log's first event is not \"Spec ID Event03\": it is not a crypto-agile log.")
        }
        _ = try spec.bytes(4 + 4)  // platformClass, specVersionMinor/Major, specErrata, uintnSize
        let algorithmCount = Int(try spec.uint32())
        guard (1...16).contains(algorithmCount) else {
            throw EventLogError("The Spec ID event lists \(algorithmCount) algorithms; expected 1 to 16.")
        }
        var sizes: [TPMAlgorithmID: Int] = [:]
        for _ in 0..<algorithmCount {
            let algorithm = TPMAlgorithmID(rawValue: try spec.uint16())
            let size = Int(try spec.uint16())
            guard size > 0, size <= 64, algorithm.digestSize.map({ $0 == size }) ?? true else {
                throw EventLogError("The Spec ID event gives \(algorithm) a digest size of \(size).")
            }
            sizes[algorithm] = size
        }
        digestSizes = sizes

        var events: [Event] = []
        var locality: UInt8 = 0
        while !reader.isAtEnd {
            guard events.count < Self.maximumEventCount else {
                throw EventLogError("The event log has more than \(Self.maximumEventCount) events.")
            }
            let pcrIndex = Int(try reader.uint32())
            let eventType = try reader.uint32()
            let digestCount = Int(try reader.uint32())
            guard digestCount <= sizes.count else {
                throw EventLogError(
                    "Event \(events.count + 1) has \(digestCount) digests; the log records \(sizes.count) banks.")
            }
            var digests: [TPMAlgorithmID: [UInt8]] = [:]
            for _ in 0..<digestCount {
                let algorithm = TPMAlgorithmID(rawValue: try reader.uint16())
                guard let size = sizes[algorithm] else {
                    throw EventLogError(
                        "Event \(events.count + 1) has a \(algorithm) digest, a bank the log does not declare.")
                }
                guard digests[algorithm] == nil else {
                    throw EventLogError("Event \(events.count + 1) has two \(algorithm) digests.")
                }
                digests[algorithm] = try reader.bytes(size)
            }
            let data = try reader.bytes(Int(try reader.uint32()), limit: Self.maximumEventDataSize)
            guard pcrIndex < TPMPCRSelection.maximumIndexCount || eventType == Self.noActionEventType else {
                throw EventLogError("Event \(events.count + 1) extends PCR \(pcrIndex); PCRs are 0 to 23.")
            }
            if eventType == Self.noActionEventType, pcrIndex == 0, data.count == 17,
               data.prefix(16).elementsEqual("StartupLocality\0".utf8) {
                locality = data[16]
            }
            events.append(Event(pcrIndex: pcrIndex, eventType: eventType, digests: digests, data: data))
        }
        self.events = events
        startupLocality = locality
    }

    /// Replays the log into PCR values for one bank: each PCR starts at zero (PCR 0's last byte is the
    /// startup locality) and is extended, `PCR = H(PCR ‖ digest)`, by every event except `EV_NO_ACTION`.
    /// - Parameter bank: the bank to replay.
    /// - Returns: the final value of every PCR the log extends in that bank.
    /// - Throws: ``EventLogError`` when the bank is not recorded, not supported, or an event lacks its digest.
    public func replay(bank: TPMAlgorithmID) throws(EventLogError) -> [Int: [UInt8]] {
        guard let size = digestSizes[bank], bank.digestSize == size else {
            throw EventLogError("The event log does not record the \(bank) bank.")
        }
        var pcrs: [Int: [UInt8]] = [:]
        for (number, event) in events.enumerated() where event.eventType != Self.noActionEventType {
            guard let digest = event.digests[bank] else {
                throw EventLogError("Event \(number + 1) has no \(bank) digest.")
            }
            var current = pcrs[event.pcrIndex] ?? initialValue(of: event.pcrIndex, size: size)
            current = Digests.hash(current + digest, with: bank) ?? current
            pcrs[event.pcrIndex] = current
        }
        return pcrs
    }

    private func initialValue(of index: Int, size: Int) -> [UInt8] {
        var value = [UInt8](repeating: 0, count: size)
        if index == 0 { value[size - 1] = startupLocality }
        return value
    }
}

/// An event log that cannot be parsed or replayed.
public struct EventLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the log.
    public let reason: String

    /// Creates an error.
    /// - Parameter reason: what is wrong.
    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// Bounds-checked little-endian reading (the event log, unlike TPM structures, is little-endian).
struct LittleEndianReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func bytes(_ count: Int, limit: Int = .max) throws(EventLogError) -> [UInt8] {
        guard count <= limit else {
            throw EventLogError("An event claims \(count) bytes of data; the limit is \(limit).")
        }
        guard count <= bytes.count - offset else {
            throw EventLogError("The event log ends early, at byte \(bytes.count), inside a record.")
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func uint16() throws(EventLogError) -> UInt16 {
        let b = try bytes(2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func uint32() throws(EventLogError) -> UInt32 {
        let b = try bytes(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
}
