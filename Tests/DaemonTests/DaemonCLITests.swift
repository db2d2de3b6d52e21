import Crypto
import Foundation
import ShardCrypto
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// keyshardd --dev on the process backend, driven only through the keyshard CLI and curl, as an
/// admin, an application and cron would.
@Suite("keyshardd through the CLI", .serialized)
struct DaemonCLITests {
    static func json(_ text: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw DaemonHarness.Failure(description: "not a JSON object: \(text)")
        }
        return object
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("every command: keys by DKG and import, encrypt/decrypt/rewrap/datakey, sign/verify, versions, custodians, status, audit")
    func everyCommand() async throws {
        try await DaemonHarness.with { daemon in
            // A 2-of-3 HPKE key by DKG (the default ring), a FROST key, and an imported key.
            _ = try daemon.ok(["key", "create", "payments"])
            _ = try daemon.ok(["key", "create", "releases", "--type", "frost-p256"])
            let scalar = Scalar.random()
            _ = try daemon.ok(
                ["key", "import", "legacy", "--threshold", "2", "--shares", "3"], input: Array(Self.hex(scalar.serialized()).utf8))
            let list = try daemon.ok(["key", "list"])
            #expect(["payments", "releases", "legacy"].allSatisfy { list.contains($0) })
            let shown = try Self.json(try daemon.ok(["key", "show", "payments", "--json"]))
            #expect(shown["latest_version"] as? Int == 1 || shown["latestVersion"] as? Int == 1, "\(shown)")
            let pem = try daemon.ok(["key", "show", "payments", "--public-key"])
            #expect(pem.contains("-----BEGIN PUBLIC KEY-----"))

            // Encrypt through the daemon and locally to the PEM; both decrypt by threshold.
            let secret = Array("db password".utf8)
            let viaDaemon = try daemon.ok(["encrypt", "--key", "payments", "--info", "app/db"], input: secret)
            #expect(viaDaemon.hasPrefix("keyshard:v1:"))
            #expect(Array(try daemon.ok(["decrypt", "payments", "--info", "app/db"], input: Array(viaDaemon.utf8)).utf8) == secret)
            let pemFile = daemon.directory.appendingPathComponent("payments.pem")
            try Data(pem.utf8).write(to: pemFile)
            let local = try daemon.ok(["encrypt", "--public-key", pemFile.path, "--info", "app/db"], input: secret)
            #expect(Array(try daemon.ok(["decrypt", "payments", "--info", "app/db"], input: Array(local.utf8)).utf8) == secret)
            // The wrong info is refused with a reason, nothing on stdout.
            let wrong = try daemon.cli(["decrypt", "payments", "--info", "other"], input: Array(local.utf8))
            #expect(wrong.status != 0 && wrong.standardOutput.isEmpty && wrong.standardError.contains("keyshard:"))
            // Garbage is bad input (65).
            #expect(try daemon.cli(["decrypt", "payments"], input: Array("not a ciphertext".utf8)).status == 65)

            // An imported key decrypts what was sealed to scalar·G.
            let sealed = try ThresholdHPKE.seal(plaintext: secret, to: .generatorMultiple(scalar), info: [])
            let armored = "keyshard:v1:" + Data(sealed).base64EncodedString()
            #expect(Array(try daemon.ok(["decrypt", "legacy"], input: Array(armored.utf8)).utf8) == secret)

            // Data keys.
            let datakey = try Self.json(try daemon.ok(["datakey", "payments"]))
            let plaintext = try #require(datakey["plaintext"] as? String)
            let wrapped = try #require(datakey["ciphertext"] as? String)
            #expect(Data(base64Encoded: plaintext)?.count == 32)
            // The CLI prints raw bytes; the API answers base64, which compares exactly.
            let opened = try daemon.http("POST", "/v1/transit/decrypt/payments", body: "{\"ciphertext\": \"\(wrapped)\"}")
            #expect(opened.status == 200)
            let openedData = try #require(try Self.json(opened.body)["data"] as? [String: Any])
            #expect(openedData["plaintext"] as? String == plaintext)

            // Versions: rotate, rewrap, retire, trim.
            _ = try daemon.ok(["key", "rotate", "payments"])
            let rewrapped = try daemon.ok(["rewrap", "payments", "--info", "app/db"], input: Array(viaDaemon.utf8))
            #expect(rewrapped.hasPrefix("keyshard:v2:"))
            _ = try daemon.ok(["key", "config", "payments", "--min-decryption-version", "2"])
            let retired = try daemon.cli(["decrypt", "payments", "--info", "app/db"], input: Array(viaDaemon.utf8))
            #expect(retired.status != 0 && retired.standardError.contains("retired"), "\(retired.combinedOutput)")
            _ = try daemon.ok(["key", "trim", "payments", "--min-version", "2"])
            #expect(Array(try daemon.ok(["decrypt", "payments", "--info", "app/db"], input: Array(rewrapped.utf8)).utf8) == secret)

            // FROST: a 65-byte RFC 9591 signature in hex that verifies by name and by public key.
            let message = Array("release 1.0".utf8)
            let signature = try daemon.ok(["sign", "releases"], input: message).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(signature.count == 130)
            _ = try daemon.ok(["verify", "--key", "releases", "--signature", signature], input: message)
            let signerPEM = daemon.directory.appendingPathComponent("releases.pem")
            try Data(try daemon.ok(["key", "show", "releases", "--public-key"]).utf8).write(to: signerPEM)
            _ = try daemon.ok(["verify", "--public-key", signerPEM.path, "--signature", signature], input: message)
            #expect(try daemon.cli(["verify", "--key", "releases", "--signature", signature], input: Array("forged".utf8)).status == 1)
            // A signing key does not decrypt.
            #expect(try daemon.cli(["decrypt", "releases"], input: Array(viaDaemon.utf8)).status != 0)

            // Custodians, status, audit.
            let custodians = try daemon.ok(["custodians", "--json"])
            #expect(custodians.contains("healthy"))
            #expect(try daemon.cli(["status"]).status == 0)
            _ = try daemon.ok(["audit", "verify", daemon.auditPath])

            // Prometheus metrics: the API's and the engine's, no key names in labels.
            let metrics = try daemon.http("GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("keyshard_heartbeats_total"), "\(metrics.body.prefix(2000))")
            #expect(metrics.body.contains("keyshard_threshold_operations_total"))
            #expect(!metrics.body.contains("payments"))
        }
    }

    @Test("a SIGKILLed custodian is replaced and decryption goes on")
    func custodianKilled() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: [1, 2, 3])
            let before = try Self.custodianIDs(daemon)
            let victim = try #require(before.first)
            let agent = try #require(daemon.leftoverProcesses.first { Self.commandLine($0).contains(victim) && Self.commandLine($0).contains("keyshard-agent") })
            kill(agent, SIGKILL)
            #expect(Array(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)).utf8) == [1, 2, 3])
            var replaced = false
            for _ in 0..<300 where !replaced {
                let now = try Self.custodianIDs(daemon)
                replaced = now.count == 3 && !now.contains(victim)
                if !replaced { usleep(200_000) }
            }
            #expect(replaced)
            #expect(Array(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)).utf8) == [1, 2, 3])
            let audit = try String(contentsOfFile: daemon.auditPath, encoding: .utf8)
            #expect(audit.contains("custodian.quarantined") && audit.contains("epoch.committed"))
        }
    }

    @Test("keyshardd SIGKILLed mid-rotation restarts with the old epoch: keys work, old ciphertexts decrypt")
    func killedMidRotation() async throws {
        let daemon = DaemonHarness()
        defer { daemon.destroy() }
        try daemon.start(arguments: ["--keep-custodians"])
        _ = try daemon.ok(["key", "create", "k"])
        _ = try daemon.ok(["key", "create", "s", "--type", "frost-p256"])
        let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
        daemon.stop(signal: SIGTERM)
        // The fault hook kills keyshardd after the first key version was re-shared to the new set.
        try daemon.start(environment: ["KEYSHARD_FAULT_KILL_AT": "epoch.version-reshared"], arguments: ["--keep-custodians"])
        let rotation = try daemon.cli(["rotate", "--ring", "default"], timeout: 120)
        #expect(rotation.status != 0)
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) != 0)  // it is already dead
        try daemon.start(arguments: ["--keep-custodians"])
        #expect(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)) == "old")
        let signature = try daemon.ok(["sign", "s"], input: [1]).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try daemon.ok(["verify", "--key", "s", "--signature", signature], input: [1])
        // The interrupted change was aborted, and a new rotation succeeds.
        let audit = try String(contentsOfFile: daemon.auditPath, encoding: .utf8)
        #expect(audit.contains("epoch.aborted"))
        _ = try daemon.ok(["rotate", "--ring", "default"])
        #expect(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)) == "old")
        #expect(try Self.custodianIDs(daemon).count == 3)
        daemon.stop(signal: SIGTERM)
    }

    @Test("two rotations at once: one succeeds, the other exits 75; the public key is unchanged")
    func concurrentRotations() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let pem = try daemon.ok(["key", "show", "k", "--public-key"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: [5])
            let before = Set(try Self.custodianIDs(daemon))
            async let first = Task.detached { try daemon.cli(["rotate"], timeout: 180) }.value
            usleep(300_000)
            let second = try daemon.cli(["rotate"], timeout: 180)
            let firstResult = try await first
            #expect(Set([firstResult.status, second.status]) == [0, 75], "\(firstResult.combinedOutput) / \(second.combinedOutput)")
            #expect(try daemon.ok(["key", "show", "k", "--public-key"]) == pem)
            #expect(Array(try daemon.ok(["decrypt", "k"], input: Array(ciphertext.utf8)).utf8) == [5])
            #expect(before.isDisjoint(with: try Self.custodianIDs(daemon)))
        }
    }

    @Test("a caller without a role is refused (77), a caller who cannot open the socket gets nothing (69)")
    func callerWithoutRole() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", DaemonHarness.keyshard]
            func asNobody(_ arguments: [String]) throws -> ProcessResult {
                try ProcessRunner.run(
                    nobody[0], Array(nobody.dropFirst()) + arguments + ["--socket", daemon.socket], timeout: 60)
            }
            // The --dev socket is 0600: other users cannot even connect.
            var status = stat()
            #expect(stat(daemon.socket, &status) == 0 && status.st_mode & 0o777 == 0o600)
            chmod(daemon.directory.path, 0o755)
            #expect(try asNobody(["key", "list"]).status == 69)
            // Opened up, the daemon itself refuses: uid 65534 has no role.
            chmod(daemon.socket, 0o666)
            let refused = try asNobody(["encrypt", "--key", "k"])
            #expect(refused.status == 77, "\(refused.combinedOutput)")
            #expect(refused.standardError.contains("65534"))
            let audit = try String(contentsOfFile: daemon.auditPath, encoding: .utf8)
            #expect(audit.contains("\"65534\"") || audit.contains(":65534"))
        }
    }

    @Test("an edited, dropped or reordered audit line is found")
    func auditTampering() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            daemon.stop(signal: SIGTERM)
            let original = try String(contentsOfFile: daemon.auditPath, encoding: .utf8)
            var lines = original.split(separator: "\n").map(String.init)
            #expect(lines.count > 5)
            _ = try daemon.ok(["audit", "verify", daemon.auditPath])
            let copy = daemon.directory.appendingPathComponent("audit.copy").path
            // Edited: one field of a middle line.
            let middle = lines.count / 2
            lines[middle] = lines[middle].replacingOccurrences(of: "\"event\":\"", with: "\"event\":\"x")
            try (lines.joined(separator: "\n") + "\n").write(toFile: copy, atomically: true, encoding: .utf8)
            let edited = try daemon.cli(["audit", "verify", copy])
            #expect(edited.status == 1 && edited.combinedOutput.contains("\(middle + 1)"), "\(edited.combinedOutput)")
            // Dropped.
            var dropped = original.split(separator: "\n").map(String.init)
            dropped.remove(at: middle)
            try (dropped.joined(separator: "\n") + "\n").write(toFile: copy, atomically: true, encoding: .utf8)
            #expect(try daemon.cli(["audit", "verify", copy]).status == 1)
            // Reordered.
            var swapped = original.split(separator: "\n").map(String.init)
            swapped.swapAt(middle, middle + 1)
            try (swapped.joined(separator: "\n") + "\n").write(toFile: copy, atomically: true, encoding: .utf8)
            #expect(try daemon.cli(["audit", "verify", copy]).status == 1)
        }
    }

    static func commandLine(_ pid: pid_t) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
    }

    static func custodianIDs(_ daemon: DaemonHarness) throws -> [String] {
        let text = try daemon.ok(["custodians", "--json"])
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let array = object["custodians"] as? [[String: Any]]
        else {
            throw DaemonHarness.Failure(description: "custodians --json is not a list: \(text)")
        }
        return array.compactMap { ($0["backend_id"] ?? $0["backendID"]) as? String }
    }
}

/// What an admin sees when things go wrong, and the configuration check.
@Suite("keyshardd refusals and configuration", .serialized)
struct DaemonRefusalTests {
    @Test("below threshold: status exits 2 and operations fail fast with 69 naming the ring")
    func belowThreshold() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: [1])
            #expect(try daemon.cli(["status"]).status == 0)
            // Two of three custodians die: the key cannot be used (and a 2-of-3 key is lost).
            let agents = daemon.leftoverProcesses.filter { DaemonCLITests.commandLine($0).contains("keyshard-agent") }
            #expect(agents.count == 3)
            for pid in agents.prefix(2) { kill(pid, SIGKILL) }
            var status = try daemon.cli(["status"])
            for _ in 0..<100 where status.status != 2 {
                usleep(100_000)
                status = try daemon.cli(["status"])
            }
            #expect(status.status == 2, "\(status.combinedOutput)")
            #expect(status.combinedOutput.contains("below"))
            let refused = try daemon.cli(["decrypt", "k"], input: Array(ciphertext.utf8))
            #expect(refused.status == 69, "\(refused.combinedOutput)")
            #expect(refused.standardError.contains("ring default") && refused.standardError.contains("needs 2"), "\(refused.standardError)")
        }
    }

    @Test("a second keyshardd on the same state directory refuses to start and the first keeps serving")
    func oneDaemonPerStateDirectory() async throws {
        try await DaemonHarness.with { daemon in
            let second = try ProcessRunner.run(
                DaemonHarness.keyshardd,
                ["--dev", "--state-dir", daemon.stateDirectory, "--socket", daemon.directory.appendingPathComponent("other.sock").path],
                timeout: 60)
            #expect(second.status == 1, "\(second.combinedOutput)")
            #expect(second.standardError.contains("another keyshardd uses the state directory"))
            #expect(try daemon.cli(["status"]).status == 0)
        }
    }

    @Test("keyshardd --check-config names every problem with its line and exits 78; a valid file exits 0")
    func checkConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ksconf-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = directory.appendingPathComponent("bad.yaml")
        try """
            state_dir: /var/lib/keyshard
            heartbeat:
              interval: 2x
            backend:
              kind: process
            rings:
              default: { name: default, threshold: 4, shares: 3 }
            hartbeat: {}
            """.write(to: bad, atomically: true, encoding: .utf8)
        let refused = try ProcessRunner.run(DaemonHarness.keyshardd, ["--check-config", "--config", bad.path], timeout: 60)
        #expect(refused.status == 78, "\(refused.combinedOutput)")
        #expect(refused.standardError.contains("bad.yaml:3:"), "\(refused.standardError)")
        #expect(refused.standardError.contains("bad.yaml:8:"), "\(refused.standardError)")
        let good = directory.appendingPathComponent("good.yaml")
        try """
            state_dir: \(directory.path)/state
            socket: { path: \(directory.path)/keyshard.sock, mode: "0660" }
            backend: { kind: process }
            audit: { path: \(directory.path)/audit.log }
            """.write(to: good, atomically: true, encoding: .utf8)
        let accepted = try ProcessRunner.run(DaemonHarness.keyshardd, ["--check-config", "--config", good.path], timeout: 60)
        #expect(accepted.status == 0, "\(accepted.combinedOutput)")
        // Missing file: a clear error, no daemon.
        let missing = try ProcessRunner.run(
            DaemonHarness.keyshardd, ["--check-config", "--config", directory.appendingPathComponent("none.yaml").path], timeout: 60)
        #expect(missing.status == 78 && missing.standardError.contains("none.yaml"))
        ReliabilityReport.record(
            .badInput, "a configuration with syntax and semantic errors (keyshardd --check-config)",
            held: refused.status == 78 && refused.standardError.contains("bad.yaml:3:")
                && refused.standardError.contains("bad.yaml:8:") && accepted.status == 0,
            detail: "exit 78, every problem with its line; a valid file exits 0")
    }
}
