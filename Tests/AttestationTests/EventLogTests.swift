import Attestation
import Crypto
import Foundation
import Testing
import TPM2

/// Builds crypto-agile event logs (TCG PC Client PFP §10) with SHA-1 and SHA-256 banks.
struct EventLogBuilder {
    private(set) var bytes: [UInt8]

    init(startupLocality: UInt8? = nil, algorithms: [(UInt16, UInt16)] = [(0x0004, 20), (0x000B, 32)]) {
        var spec = Array("Spec ID Event03\0".utf8) + Self.le32(0) + [0, 2, 0, 2] + Self.le32(UInt32(algorithms.count))
        for (algorithm, size) in algorithms { spec += Self.le16(algorithm) + Self.le16(size) }
        spec.append(0)
        bytes = Self.le32(0) + Self.le32(3) + [UInt8](repeating: 0, count: 20) + Self.le32(UInt32(spec.count)) + spec
        if let startupLocality {
            let data = Array("StartupLocality\0".utf8) + [startupLocality]
            bytes += Self.le32(0) + Self.le32(3) + Self.le32(2) + Self.le16(0x0004) + [UInt8](repeating: 0, count: 20)
                + Self.le16(0x000B) + [UInt8](repeating: 0, count: 32) + Self.le32(UInt32(data.count)) + data
        }
    }

    /// Appends an event measuring `data` (its SHA-1 and SHA-256 digests), or extending `sha256` if given.
    mutating func measure(pcr: UInt32, type: UInt32 = 0x0d, data: [UInt8], sha256: [UInt8]? = nil) {
        bytes += Self.le32(pcr) + Self.le32(type) + Self.le32(2)
            + Self.le16(0x0004) + Array(Insecure.SHA1.hash(data: data))
            + Self.le16(0x000B) + (sha256 ?? Array(SHA256.hash(data: data)))
            + Self.le32(UInt32(data.count)) + data
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(value >> (8 * $0) & 0xff) } }
}

@Suite struct EventLogTests {
    /// A log without a StartupLocality event: tpm2-tools 5.4 wrongly extends that EV_NO_ACTION event
    /// into PCR 0 instead of using it as PCR 0's initial value (PC Client PFP §10.4.5.3), so the
    /// cross-check with tpm2_eventlog leaves it out; ``startupLocalitySeedsPCR0()`` covers it.
    static func sampleLog() -> EventLogBuilder {
        var log = EventLogBuilder()
        log.measure(pcr: 0, data: Array("firmware volume".utf8))
        log.measure(pcr: 4, type: 0x0d, data: Array("kernel image".utf8))
        log.measure(pcr: 4, type: 0x4, data: [0, 0, 0, 0])
        log.measure(pcr: 9, type: 0x0d, data: Array("initrd".utf8))
        return log
    }

    /// tpm2-tools' `tpm2_eventlog` replays the same log independently; its PCRs must equal ours.
    @Test func replayAgreesWithTpm2Eventlog() throws {
        let log = Self.sampleLog().bytes
        let ours = try EventLog(parsing: log).replay(bank: .sha256)
        #expect(ours.keys.sorted() == [0, 4, 9])

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-eventlog-\(UUID())")
        try Data(log).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tpm2_eventlog")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        // The "pcrs: sha256:" section lists "  <index> : 0x<hex>".
        let sha256Section = try #require(output.components(separatedBy: "  sha256:\n").last)
        for (index, value) in ours {
            let hex = value.map { String(format: "%02x", $0) }.joined()
            #expect(sha256Section.contains(" \(index)  : 0x\(hex)"), "PCR \(index)")
        }
    }

    @Test func startupLocalitySeedsPCR0() throws {
        var log = EventLogBuilder(startupLocality: 3)
        log.measure(pcr: 0, data: [1])
        let digest = Array(SHA256.hash(data: [1]))
        let expected = Array(SHA256.hash(data: [UInt8](repeating: 0, count: 31) + [3] + digest))
        #expect(try EventLog(parsing: log.bytes).replay(bank: .sha256)[0] == expected)
    }

    @Test func truncatedLogsAreErrors() throws {
        let log = Self.sampleLog().bytes
        for cut in [1, 30, 60, log.count - 1] {
            #expect(throws: EventLogError.self) { try EventLog(parsing: Array(log.prefix(cut))) }
        }
    }

    @Test func absurdSizesAreRefusedWithoutAllocating() {
        var log = EventLogBuilder()
        log.measure(pcr: 1, data: [])
        var bytes = log.bytes
        // The last event's data size (its final four bytes, as the data is empty) claims 4 GiB.
        bytes.replaceSubrange((bytes.count - 4)..., with: [0xff, 0xff, 0xff, 0xff])
        #expect(throws: EventLogError.self) { try EventLog(parsing: bytes) }
        #expect(throws: EventLogError.self) {
            try EventLog(parsing: [UInt8](repeating: 0, count: EventLog.maximumSize + 1))
        }
    }

    @Test func notCryptoAgileIsAnError() {
        var bytes = Self.sampleLog().bytes
        bytes[32] ^= 0xff  // inside "Spec ID Event03"
        #expect(throws: EventLogError.self) { try EventLog(parsing: bytes) }
    }

    @Test func undeclaredBankIsAnError() throws {
        var log = EventLogBuilder(algorithms: [(0x000B, 32)])
        log.measure(pcr: 1, data: [1])  // carries a SHA-1 digest the header does not declare
        #expect(throws: EventLogError.self) { try EventLog(parsing: log.bytes) }
        #expect(throws: EventLogError.self) { try EventLog(parsing: EventLogBuilder().bytes).replay(bank: .sha384) }
    }

    // MARK: With a real quote

    private func swtpmLog(initrd: [UInt8]) -> [UInt8] {
        var log = EventLogBuilder()
        log.measure(pcr: 9, type: 0x6, data: Array("Linux initrd".utf8), sha256: initrd)
        return log.bytes
    }

    @Test func logThatReplaysToTheQuoteIsAccepted() throws {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.eventLog = swtpmLog(initrd: SwtpmEvidence.initrdDigest)
        let verifier = QuoteVerifier(policy: try AttestationPolicy(yaml: SwtpmEvidence.policyYAML()))
        #expect(verifier.verify(evidence, nonce: SwtpmEvidence.nonce) == .accepted)
        #expect(try Evidence(json: evidence.json()) == evidence)
    }

    @Test func logThatDoesNotReplayToTheQuoteIsRefused() throws {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.eventLog = swtpmLog(initrd: [UInt8](repeating: 7, count: 32))
        let verifier = QuoteVerifier(policy: try AttestationPolicy(yaml: SwtpmEvidence.policyYAML()))
        let verdict = verifier.verify(evidence, nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.eventLogMismatch])
        #expect(verdict.refusals.first?.reason.contains("PCR 9") == true)
    }

    @Test func malformedLogIsRefused() throws {
        var evidence = try SwtpmEvidence.get().ecc
        evidence.eventLog = [1, 2, 3]
        let verifier = QuoteVerifier(policy: try AttestationPolicy(yaml: SwtpmEvidence.policyYAML()))
        #expect(verifier.verify(evidence, nonce: SwtpmEvidence.nonce).refusalCodes == [.eventLogMalformed])
    }
}
