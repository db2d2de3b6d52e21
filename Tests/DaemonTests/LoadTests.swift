import Foundation
import KeyshardAPI
import KeyshardClient
import ShardCrypto
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Many clients at once, mixing decrypt, sign, datakey and rewrap, while one custodian is killed
/// (and replaced by a repair) and the ring is rotated: every request is answered correctly or
/// refused with a clear error, none gets a wrong answer, none is lost (no answer, a dropped
/// connection). `KEYSHARD_LOAD_CLIENTS` (default 64) and `KEYSHARD_LOAD_SECONDS` (default 20;
/// `make soak` runs 60) size it.
@Suite("load: mixed operations during a repair and a rotation", .serialized)
struct LoadTests {
    enum Outcome: String, CaseIterable {
        case answered, refused, wrong, lost

        /// A text set by one task and read after it ended.
        final class Box: Sendable {
            private let text = Mutex<String>("not started")
            func set(_ value: String) { text.withLock { $0 = value } }
            var value: String { text.withLock { $0 } }
        }
    }
    enum Operation: String, CaseIterable { case decrypt, sign, datakey, rewrap }

    /// Counts per operation and outcome.
    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        private let examples = Mutex<[String]>([])

        func add(_ operation: Operation, _ outcome: Outcome, _ example: String? = nil) {
            counts.withLock { $0["\(operation.rawValue)/\(outcome.rawValue)", default: 0] += 1 }
            if let example { examples.withLock { if $0.count < 10 { $0.append(example) } } }
        }

        func count(_ operation: Operation? = nil, _ outcome: Outcome) -> Int {
            counts.withLock { counts in
                (operation.map { [$0] } ?? Operation.allCases).reduce(0) { $0 + (counts["\($1.rawValue)/\(outcome.rawValue)"] ?? 0) }
            }
        }

        var firstExamples: [String] { examples.withLock { $0 } }
    }

    static var clients: Int { ProcessInfo.processInfo.environment["KEYSHARD_LOAD_CLIENTS"].flatMap(Int.init) ?? 64 }
    static var seconds: Double { ProcessInfo.processInfo.environment["KEYSHARD_LOAD_SECONDS"].flatMap(Double.init) ?? 20 }

    @Test("every request is answered right or refused clearly; none is wrong or lost")
    func mixedLoadDuringRepairAndRotation() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            _ = try daemon.ok(["key", "create", "s", "--type", "frost-p256"])
            let setup = KeyshardClient(socketPath: daemon.socket)
            var sealed: [(plaintext: [UInt8], ciphertext: KeyshardCiphertext)] = []
            for index in 0..<8 {
                let plaintext = Array("message \(index) \(UUID())".utf8)
                sealed.append((plaintext, try await setup.encrypt("k", plaintext: SecretBytes(plaintext))))
            }
            try await setup.shutdown()
            let known = sealed

            let tally = Tally()
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(Self.seconds)
            let victim = try #require(try DaemonCLITests.custodianIDs(daemon).first)
            let rotation = Outcome.Box()
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<Self.clients {
                    group.addTask {
                        let api = KeyshardClient(socketPath: daemon.socket, requestTimeout: .seconds(300))
                        var round = client
                        while clock.now < deadline {
                            let operation = Operation.allCases[round % Operation.allCases.count]
                            round += 1
                            await Self.run(operation, api: api, known: known[round % known.count], tally: tally)
                        }
                        try? await api.shutdown()
                    }
                }
                // A quarter in: a custodian dies (the engine repairs its ring). Halfway: a rotation.
                group.addTask {
                    try? await Task.sleep(for: .seconds(Self.seconds / 4))
                    if let agent = daemon.leftoverProcesses.first(where: {
                        let line = DaemonCLITests.commandLine($0)
                        return line.contains(victim) && line.contains("keyshard-agent")
                    }) {
                        kill(agent, SIGKILL)
                    }
                    try? await Task.sleep(for: .seconds(Self.seconds / 4))
                    let admin = KeyshardClient(socketPath: daemon.socket, requestTimeout: .seconds(600))
                    // A repair may still hold the ring; a clear `busy` is retried, anything else is the answer.
                    var outcome = "refused"
                    for _ in 0..<20 {
                        do {
                            _ = try await admin.rotateRing("default")
                            outcome = "committed"
                            break
                        } catch let error as KeyshardError where error.code == .busy {
                            try? await Task.sleep(for: .seconds(2))
                        } catch {
                            outcome = "failed: \(error)"
                            break
                        }
                    }
                    rotation.set(outcome)
                    try? await admin.shutdown()
                }
            }
            let answered = tally.count(nil, .answered)
            let refused = tally.count(nil, .refused)
            let wrong = tally.count(nil, .wrong)
            let lost = tally.count(nil, .lost)
            let rotated = rotation.value
            print("load: \(Self.clients) clients, \(Int(Self.seconds)) s: "
                + Operation.allCases.map { "\($0.rawValue) \(tally.count($0, .answered))" }.joined(separator: ", ")
                + "; answered \(answered), refused \(refused), wrong \(wrong), lost \(lost); rotation \(rotated)")
            #expect(wrong == 0, "wrong answers: \(tally.firstExamples)")
            #expect(lost == 0, "lost requests: \(tally.firstExamples)")
            for operation in Operation.allCases { #expect(tally.count(operation, .answered) > 0, "no \(operation) succeeded") }
            #expect(rotated == "committed")
            #expect(!(try DaemonCLITests.custodianIDs(daemon)).contains(victim))
            ReliabilityReport.record(
                .load, "\(Self.clients) clients for \(Int(Self.seconds)) s (decrypt, sign, datakey, rewrap) during a repair and a rotation",
                held: wrong == 0 && lost == 0 && rotated == "committed",
                detail: "answered \(answered), refused \(refused), wrong \(wrong), lost \(lost)")
        }
    }

    /// One request, checked, counted.
    static func run(
        _ operation: Operation, api: KeyshardClient, known: (plaintext: [UInt8], ciphertext: KeyshardCiphertext), tally: Tally
    ) async {
        do {
            let right: Bool
            switch operation {
            case .decrypt:
                right = try await api.decrypt("k", ciphertext: known.ciphertext).withUnsafeBytes { Array($0) } == known.plaintext
            case .sign:
                let message = Array(UUID().uuidString.utf8)
                let signature = try await api.sign("s", message: message)
                let valid = try await api.verify("s", message: message, signature: signature)
                let forged = try await api.verify("s", message: message + [0], signature: signature)
                right = valid && !forged
            case .datakey:
                let key = try await api.dataKey("k")
                right = try await api.decrypt("k", ciphertext: key.ciphertext).withUnsafeBytes { Array($0) }
                    == key.plaintext.withUnsafeBytes { Array($0) }
            case .rewrap:
                let rewrapped = try await api.rewrap("k", ciphertext: known.ciphertext)
                right = try await api.decrypt("k", ciphertext: rewrapped).withUnsafeBytes { Array($0) } == known.plaintext
            }
            tally.add(operation, right ? .answered : .wrong, right ? nil : "\(operation): a wrong result")
        } catch let error as KeyshardError {
            // A refusal the caller can act on: the daemon said what and why.
            let clear = !error.message.isEmpty
            tally.add(operation, clear ? .refused : .lost, clear ? nil : "\(operation): a refusal without a reason")
        } catch {
            tally.add(operation, .lost, "\(operation): \(error)")
        }
    }
}
