import AgentProtocol
import CustodianAgent
import Foundation
import LoadAgent
import Logging

/// The child process that hosts the simulated custodians (`fleet-benchmark host DIRECTORY`), so the
/// daemon's CPU is measured apart from theirs. It makes the software EK CA, writes its root to
/// `DIRECTORY/ek-root.pem`, and then answers one request per line on standard input:
///
///     ID launch CUSTODIAN COORDINATOR-KEY-HEX MIN-THRESHOLD ROOT-DIGEST-HEX[,…]  →  ID ok SOCKET-PATH
///     ID destroy CUSTODIAN                                                      →  ID ok
///
/// or `ID error REASON`. Line 0 of its output is `0 ok ROOT-PEM-PATH`. It exits when standard input closes.
enum FleetHost {
    static func run(directory: String) async -> Int32 {
        var logger = Logger(label: "fleet-agents") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let authority: SoftwareEndorsementCA
        let rootPath = directory + "/ek-root.pem"
        do {
            authority = try SoftwareEndorsementCA()
            try authority.rootPEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
        } catch {
            FileHandle.standardError.write(Data("fleet host: cannot make the EK CA: \(error)\n".utf8))
            return 1
        }
        let fleet = AgentFleet(directory: directory, authority: authority, logger: logger)
        let output = LineWriter()
        output.write("0 ok \(rootPath)")
        let lines = AsyncStream<String> { continuation in
            Thread.detachNewThread {
                while let line = readLine() { continuation.yield(line) }
                continuation.finish()
            }
        }
        await withDiscardingTaskGroup { group in
            for await line in lines {
                group.addTask {
                    let words = line.split(separator: " ").map(String.init)
                    guard let id = words.first, words.count >= 3 else { return output.write("? error bad request: \(line)") }
                    do {
                        output.write("\(id) ok " + (try await handle(Array(words.dropFirst()), fleet: fleet)))
                    } catch {
                        output.write("\(id) error \(error)".replacingOccurrences(of: "\n", with: " "))
                    }
                }
            }
        }
        await fleet.destroyAll()
        return 0
    }

    private static func handle(_ words: [String], fleet: AgentFleet) async throws -> String {
        switch (words[0], words.count) {
        case ("launch", 5):
            guard let key = Hex.decode(words[2]), let threshold = Int(words[3]) else {
                throw FleetError("bad launch request")
            }
            let digests = try words[4].split(separator: ",").map { text -> [UInt8] in
                guard let digest = Hex.decode(String(text)) else { throw FleetError("bad root digest \(text)") }
                return digest
            }
            let pins = try AgentPins(
                coordinatorKey: try CoordinatorKey(compressed: key), endorsementRootDigests: Set(digests),
                minimumThreshold: threshold)
            return try await fleet.launch(id: words[1], pins: pins)
        case ("destroy", 2):
            await fleet.destroy(id: words[1])
            return "destroyed"
        default:
            throw FleetError("unknown request \(words[0]) with \(words.count - 1) arguments")
        }
    }
}

/// Whole lines to standard output, one writer at a time.
final class LineWriter: Sendable {
    private let queue = DispatchQueue(label: "fleet-benchmark.output")

    func write(_ line: String) {
        queue.sync { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }
}

/// Lowercase hex.
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
