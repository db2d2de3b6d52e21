import Crypto
import Foundation
import ShardCrypto
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// keyshardd killed (SIGKILL, by its fault-injection hook) at every named step of the changes that
/// make or move shares, then restarted: old ciphertexts still decrypt, signing still works, the
/// interrupted change happened wholly or not at all (and can be done again), the ring is whole and
/// the audit chain verifies. Each case reports how long the restarted daemon took to decrypt again.
@Suite("faults: keyshardd killed at each step", .serialized)
struct FaultTests {
    /// What is interrupted.
    enum Operation: String, Sendable {
        case createKey = "key create (DKG)"
        case importKey = "key import (dealer split)"
        case rotateKey = "key rotate (new version by DKG)"
        case rotateRing = "ring rotation (every custodian replaced)"
        case repair = "repair (a killed custodian replaced)"
        case replaceAged = "refresh (a custodian past its maximum age replaced)"
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let operation: Operation
        let step: String
        var testDescription: String { "\(operation.rawValue) killed at \(step)" }
    }

    static let cases: [Case] = [
        Case(operation: .createKey, step: "dkg.round1"),
        Case(operation: .createKey, step: "dkg.finished"),
        Case(operation: .createKey, step: "dkg.confirmed"),
        Case(operation: .createKey, step: "key.recorded"),
        Case(operation: .importKey, step: "import.dealt"),
        Case(operation: .rotateKey, step: "dkg.confirmed"),
        Case(operation: .rotateKey, step: "version.recorded"),
        Case(operation: .rotateRing, step: "epoch.begun"),
        Case(operation: .rotateRing, step: "epoch.probed"),
        Case(operation: .rotateRing, step: "epoch.committed"),
        Case(operation: .repair, step: "epoch.version-reshared"),
        Case(operation: .repair, step: "epoch.committed"),
        Case(operation: .replaceAged, step: "epoch.version-reshared"),
        Case(operation: .replaceAged, step: "epoch.probed"),
    ]

    @Test("the daemon dies at the step, restarts, and nothing is lost", arguments: cases)
    func killedAtStep(_ fault: Case) async throws {
        let daemon = DaemonHarness()
        defer { daemon.destroy() }
        try daemon.start(arguments: ["--keep-custodians"])
        _ = try daemon.ok(["key", "create", "k"])
        _ = try daemon.ok(["key", "create", "s", "--type", "frost-p256"])
        let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
        let scalarBytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let scalar = try Scalar(bigEndian: scalarBytes)
        daemon.stop(signal: SIGTERM)

        if fault.operation == .replaceAged {
            // The same state under a configuration whose custodians age out at once: the engine
            // replaces the oldest within a few heartbeats, and the hook kills it mid-change.
            let configuration = daemon.directory.appendingPathComponent("aged.yaml").path
            try Data("""
                state_dir: \(daemon.stateDirectory)
                socket: { path: \(daemon.socket), mode: "0600" }
                backend: { kind: process }
                heartbeat: { interval: 1s, freshness_window: 3s }
                custodians: { max_age: 4s }
                roles: [{ uid: \(getuid()), role: admin }]

                """.utf8).write(to: URL(fileURLWithPath: configuration))
            try daemon.start(environment: ["KEYSHARD_FAULT_KILL_AT": fault.step], configuration: configuration)
        } else {
            try daemon.start(environment: ["KEYSHARD_FAULT_KILL_AT": fault.step], arguments: ["--keep-custodians"])
        }
        switch fault.operation {
        case .replaceAged: break
        case .createKey: _ = try daemon.cli(["key", "create", "n"], timeout: 120)
        case .importKey:
            _ = try daemon.cli(
                ["key", "import", "n", "--threshold", "2", "--shares", "3"], input: Array(Self.hex(scalarBytes).utf8),
                timeout: 120)
        case .rotateKey: _ = try daemon.cli(["key", "rotate", "k"], timeout: 120)
        case .rotateRing: _ = try daemon.cli(["rotate", "--ring", "default"], timeout: 180)
        case .repair:
            let victim = try #require(try DaemonCLITests.custodianIDs(daemon).first)
            let agent = try #require(daemon.leftoverProcesses.first {
                DaemonCLITests.commandLine($0).contains(victim) && DaemonCLITests.commandLine($0).contains("keyshard-agent")
            })
            kill(agent, SIGKILL)
        }
        let deadline = Date().addingTimeInterval(120)
        while daemon.isRunning, Date() < deadline { usleep(100_000) }
        #expect(!daemon.isRunning, "keyshardd never reached \(fault.step)")
        #expect(daemon.logText.contains("fault injection: killed at \(fault.step)"))
        daemon.stop(signal: SIGKILL)

        let restarted = ContinuousClock.now
        try daemon.start(arguments: ["--keep-custodians"])
        let recovered = try daemon.secondsUntilDecrypts("k", ciphertext, to: "old", since: restarted)
        var held = recovered != nil
        #expect(recovered != nil, "old ciphertexts do not decrypt after the restart")

        // Signing still works.
        let signature = try daemon.ok(["sign", "s"], input: [7]).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try daemon.ok(["verify", "--key", "s", "--signature", signature], input: [7])

        // The interrupted change happened wholly or not at all, and can be done (again).
        switch fault.operation {
        case .createKey, .importKey:
            let exists = try daemon.cli(["key", "show", "n"]).status == 0
            if fault.step == "key.recorded" { #expect(exists, "the key was recorded before the kill") }
            if !exists {
                if fault.operation == .createKey {
                    _ = try daemon.ok(["key", "create", "n"])
                } else {
                    _ = try daemon.ok(
                        ["key", "import", "n", "--threshold", "2", "--shares", "3"],
                        input: Array(Self.hex(scalarBytes).utf8))
                }
            }
            let fresh = try daemon.ok(["encrypt", "--key", "n"], input: Array("new".utf8))
            #expect(try daemon.ok(["decrypt", "n"], input: Array(fresh.utf8)) == "new")
            if fault.operation == .importKey {
                let body = try daemon.http("GET", "/v1/transit/keys/n").body
                let pem = try Self.publicKeyPEM(body, version: 1)
                let expected = try (scalar * Point.generator).compressed()
                let published = try P256.Signing.PublicKey(pemRepresentation: pem).compressedRepresentation
                held = held && published == Data(expected)
                #expect(held, "the imported key's public key is not scalar·G")
            }
        case .rotateKey:
            let body = try daemon.http("GET", "/v1/transit/keys/k").body
            let latest = try Self.latestVersion(body)
            if fault.step == "version.recorded" { #expect(latest == 2) }
            if latest == 1 { _ = try daemon.ok(["key", "rotate", "k"]) }
            let fresh = try daemon.ok(["encrypt", "--key", "k"], input: Array("new".utf8))
            #expect(fresh.hasPrefix("keyshard:v2:"), "\(fresh)")
            #expect(try daemon.ok(["decrypt", "k"], input: Array(fresh.utf8)) == "new")
        case .rotateRing, .repair, .replaceAged:
            var whole = false
            for _ in 0..<300 where !whole {
                whole = try DaemonCLITests.custodianIDs(daemon).count == 3
                if !whole { usleep(200_000) }
            }
            #expect(whole, "the ring did not get back to 3 custodians")
            held = held && whole
            _ = try daemon.ok(["rotate", "--ring", "default"])
        }
        #expect(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)) == "old")
        let audit = try daemon.cli(["audit", "verify", daemon.auditPath])
        #expect(audit.status == 0, "\(audit.combinedOutput)")
        held = held && audit.status == 0
        daemon.stop(signal: SIGTERM)
        ReliabilityReport.record(.fault, "keyshardd SIGKILLed during \(fault.operation.rawValue) at \(fault.step)",
            held: held, recoverySeconds: recovered)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func keyData(_ body: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let data = object["data"] as? [String: Any]
        else { throw DaemonHarness.Failure(description: "not a key body: \(body.prefix(300))") }
        return data
    }

    static func latestVersion(_ body: String) throws -> Int {
        guard let latest = try keyData(body)["latest_version"] as? Int else {
            throw DaemonHarness.Failure(description: "no latest_version: \(body.prefix(300))")
        }
        return latest
    }

    static func publicKeyPEM(_ body: String, version: Int) throws -> String {
        guard let keys = try keyData(body)["keys"] as? [String: Any], let entry = keys["\(version)"] as? [String: Any],
              let pem = entry["public_key"] as? String
        else { throw DaemonHarness.Failure(description: "no public key for version \(version): \(body.prefix(300))") }
        return pem
    }
}

/// Custodians that stop answering or lose their TPM: replaced, never trusted again.
@Suite("faults: custodians frozen or without their TPM", .serialized)
struct CustodianFaultTests {
    /// Waits until `victim` is no longer a custodian and the ring has 3 again; the seconds it took.
    static func waitForReplacement(of victim: String, in daemon: DaemonHarness, seconds: Double = 150) throws -> Double? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(seconds) {
            let now = try DaemonCLITests.custodianIDs(daemon)
            if now.count == 3, !now.contains(victim) { return (ContinuousClock.now - start) / .seconds(1) }
            usleep(250_000)
        }
        return nil
    }

    static func process(of custodian: String, named program: String, in daemon: DaemonHarness) -> pid_t? {
        daemon.leftoverProcesses.first {
            let line = DaemonCLITests.commandLine($0)
            return line.contains(custodian) && line.contains(program)
        }
    }

    @Test("a custodian frozen (SIGSTOP) past its heartbeat deadline is replaced; resumed, it holds nothing")
    func frozenCustodian() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
            let victim = try #require(try DaemonCLITests.custodianIDs(daemon).first)
            let agent = try #require(Self.process(of: victim, named: "keyshard-agent", in: daemon))
            kill(agent, SIGSTOP)
            let replaced = try Self.waitForReplacement(of: victim, in: daemon)
            kill(agent, SIGCONT)
            #expect(replaced != nil, "the frozen custodian was not replaced")
            // Resumed, it is no member, and its process (and with it every share it held) is gone.
            var gone = false
            for _ in 0..<100 where !gone {
                gone = kill(agent, 0) != 0 || DaemonCLITests.commandLine(agent).isEmpty
                if !gone { usleep(100_000) }
            }
            #expect(gone, "the frozen agent still runs after it was replaced")
            #expect(!(try DaemonCLITests.custodianIDs(daemon)).contains(victim))
            #expect(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)) == "old")
            let audit = try String(contentsOfFile: daemon.auditPath, encoding: .utf8)
            let quarantined = audit.split(separator: "\n").contains { $0.contains("custodian.quarantined") && $0.contains(victim) }
            #expect(quarantined)
            ReliabilityReport.record(
                .fault, "a custodian frozen with SIGSTOP past its heartbeat deadline, then resumed",
                held: replaced != nil && gone && quarantined, recoverySeconds: replaced,
                detail: "replaced; the resumed agent was gone")
        }
    }

    @Test("a custodian whose swtpm is SIGKILLed fails its heartbeat and is replaced")
    func swtpmKilled() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
            let victim = try #require(try DaemonCLITests.custodianIDs(daemon).first)
            let swtpm = try #require(Self.process(of: victim, named: "swtpm", in: daemon))
            kill(swtpm, SIGKILL)
            let replaced = try Self.waitForReplacement(of: victim, in: daemon)
            #expect(replaced != nil, "the custodian without its TPM was not replaced")
            #expect(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)) == "old")
            ReliabilityReport.record(
                .fault, "a custodian's swtpm SIGKILLed", held: replaced != nil, recoverySeconds: replaced,
                detail: "its next heartbeat failed; replaced")
        }
    }
}
