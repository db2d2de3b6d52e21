import TPM2

/// A policy rule about individual event-log events: some event of this PCR, type (and label) must be
/// in the log, and every such event's digest must be one the policy allows.
///
/// The rules judge the log; the log is bound to the quote only because it must replay to the quoted PCR
/// values, so a rule's PCR must be in the policy's selection.
public struct EventRule: Hashable, Sendable {
    /// The PCR the event extends.
    public let pcr: Int
    /// The event type (`EV_*`); see ``EventType``.
    public let eventType: UInt32
    /// Text the event data must contain (ASCII or UTF-16LE), or `nil` to match every event of the type.
    public let label: String?
    /// The digests, in the policy's bank, that matching events may have.
    public let allowedDigests: [[UInt8]]
    /// An optional note for people (the YAML `description`).
    public let note: String?

    /// Creates a rule.
    /// - Parameters:
    ///   - pcr: the PCR index.
    ///   - eventType: the event type.
    ///   - label: text the event data must contain, if any.
    ///   - allowedDigests: the digests matching events may have.
    ///   - note: an optional note.
    public init(pcr: Int, eventType: UInt32, label: String? = nil, allowedDigests: [[UInt8]], note: String? = nil) {
        self.pcr = pcr
        self.eventType = eventType
        self.label = label
        self.allowedDigests = allowedDigests
        self.note = note
    }

    /// How messages name the rule: `PCR 9 EV_EVENT_TAG 'Linux initrd'`.
    public var summary: String {
        "PCR \(pcr) \(EventType.display(eventType))" + (label.map { " '\($0)'" } ?? "")
    }

    /// Whether an event is one this rule governs.
    /// - Parameter event: a log event.
    public func matches(_ event: EventLog.Event) -> Bool {
        guard event.pcrIndex == pcr, event.eventType == eventType else { return false }
        guard let label else { return true }
        let ascii = Array(label.utf8)
        let utf16 = label.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        return Self.contains(event.data, ascii) || Self.contains(event.data, utf16)
    }

    /// What probably changed when a matching event's digest is not allowed.
    var changeHint: String {
        if eventType == EventType.eventTag, let label {
            if label.contains("initrd") { return " (the initrd changed)" }
            if label.contains("LoadOptions") { return " (the kernel command line changed)" }
        }
        if eventType == EventType.efiBootServicesApplication {
            return " (a boot application or the kernel image changed)"
        }
        return PCRMeaning.hint(for: pcr)
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return needle.isEmpty }
        for start in 0...(haystack.count - needle.count)
        where haystack[start] == needle[0] && haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}

extension EventRule {
    /// The PCRs and event types ``learn(from:bank:pcrs:)`` writes rules for: the kernel's Authenticode
    /// digest in PCR 4 and the EFI stub's tagged events (initrd, command line) in PCR 9.
    static let learnedKinds: [(pcr: Int, type: UInt32)] = [
        (4, EventType.efiBootServicesApplication), (9, EventType.eventTag),
    ]

    /// Rules that pin the learned kinds of event as they are in a reference log: one rule per
    /// PCR, type and label found in the event data, allowing exactly the digests seen.
    /// - Parameters:
    ///   - log: the reference boot's log.
    ///   - bank: the policy's bank.
    ///   - pcrs: the policy's PCR selection; rules are written only for these PCRs.
    /// - Returns: the rules, by PCR then log order.
    public static func learn(from log: EventLog, bank: TPMAlgorithmID, pcrs: Set<Int>) -> [EventRule] {
        var rules: [EventRule] = []
        for kind in learnedKinds where pcrs.contains(kind.pcr) {
            var labels: [String?] = []
            for event in log.events where event.pcrIndex == kind.pcr && event.eventType == kind.type {
                let label = kind.type == EventType.eventTag ? Self.label(in: event.data) : nil
                if !labels.contains(label) { labels.append(label) }
            }
            for label in labels {
                let probe = EventRule(pcr: kind.pcr, eventType: kind.type, label: label, allowedDigests: [])
                var digests: [[UInt8]] = []
                // Every event the rule will match, not only those this label came from: a label can be part
                // of another event's data, and a rule without one matches every event of its type.
                for event in log.events where probe.matches(event) {
                    if let digest = event.digests[bank], !digests.contains(digest) { digests.append(digest) }
                }
                guard !digests.isEmpty else { continue }
                rules.append(EventRule(pcr: kind.pcr, eventType: kind.type, label: label, allowedDigests: digests))
            }
        }
        return rules
    }

    /// The text of a tagged event (`TCG_PCClientTaggedEvent`: id, size, data), or the longest printable
    /// ASCII or UTF-16LE run of at least three characters in other data.
    static func label(in data: [UInt8]) -> String? {
        var payload = data
        if data.count >= 8 {
            let size = Int(data[4]) | Int(data[5]) << 8 | Int(data[6]) << 16 | Int(data[7]) << 24
            if size == data.count - 8 { payload = Array(data[8...]) }
        }
        func printable(_ byte: UInt8) -> Bool { (0x20...0x7e).contains(byte) }
        var best = ""
        var run = ""
        for byte in payload {
            if printable(byte) { run.append(Character(Unicode.Scalar(byte))) } else {
                if run.count > best.count { best = run }
                run = ""
            }
        }
        if run.count > best.count { best = run }
        var wide = ""
        run = ""
        var index = 0
        while index + 1 < payload.count {
            if printable(payload[index]) && payload[index + 1] == 0 {
                run.append(Character(Unicode.Scalar(payload[index])))
            } else {
                if run.count > wide.count { wide = run }
                run = ""
            }
            index += 2
        }
        if run.count > wide.count { wide = run }
        let chosen = wide.count > best.count ? wide : best
        return chosen.count >= 3 ? chosen : nil
    }

    /// A comment for a learned rule, saying what the event is.
    var learnedComment: String {
        if eventType == EventType.efiBootServicesApplication {
            return "PCR 4: UEFI applications started (boot loader, kernel): their Authenticode digests"
        }
        if let label, label.contains("initrd") { return "PCR 9: the EFI stub's measurement of the initrd file" }
        if let label, label.contains("LoadOptions") {
            return "PCR 9: the EFI stub's measurement of the kernel command line (UTF-16LE, with NUL)"
        }
        return "\(summary): as in the reference boot"
    }
}
