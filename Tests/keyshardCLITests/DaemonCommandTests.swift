import Crypto
import Foundation
import KeyshardAPI
import ServerTestSupport
import ShardCrypto
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The CLI's daemon commands, run as a user runs them, against a real server on a temporary
/// socket in front of an in-memory service.
@Suite struct DaemonCommandTests {
    @Test func aKeysLifeThroughTheCLI() async throws {
        try await TestServer.with { server in
            let socket = ["--socket", server.socketPath]
            let created = try await CLI.run(
                ["key", "create", "payments", "--threshold", "2", "--shares", "3"] + socket)
            #expect(created.status == 0, "\(created.standardError)")
            #expect(created.standardOutput.contains("key payments: hpke-p256, ring default, 2-of-3"))

            let message = Array("the payroll database password".utf8)
            let encrypted = try await CLI.run(
                ["encrypt", "--key", "payments", "--info", "db"] + socket, input: message)
            #expect(encrypted.status == 0, "\(encrypted.standardError)")
            let line = encrypted.standardOutput.trimmingCharacters(in: .newlines)
            #expect(line.hasPrefix("keyshard:v1:"))

            let decrypted = try await CLI.run(
                ["decrypt", "payments", "--info", "db"] + socket, input: Array(line.utf8))
            #expect(decrypted.status == 0, "\(decrypted.standardError)")
            #expect(Array(decrypted.standardOutput.utf8) == message)

            // The PEM from `key show --public-key` works for offline encryption that the daemon decrypts.
            let pem = try await CLI.run(["key", "show", "payments", "--public-key"] + socket)
            #expect(pem.standardOutput.hasPrefix("-----BEGIN PUBLIC KEY-----"))
            let scratch = try ScratchDirectory()
            let keyFile = try scratch.write("payments.pem", pem.standardOutput)
            let offline = try await CLI.run(["encrypt", "--public-key", keyFile], input: [9, 8, 7])
            let reopened = try await CLI.run(
                ["decrypt", "payments"] + socket, input: Array(offline.standardOutput.utf8))
            #expect(Array(reopened.standardOutput.utf8) == [9, 8, 7])

            let datakey = try await CLI.run(["datakey", "payments", "--bits", "128"] + socket)
            let object = try JSONSerialization.jsonObject(with: Data(datakey.standardOutput.utf8)) as? [String: String]
            #expect(object?["plaintext"].flatMap { Data(base64Encoded: $0) }?.count == 16)
            #expect(object?["ciphertext"]?.hasPrefix("keyshard:v1:") == true)

            #expect(try await CLI.run(["key", "rotate", "payments"] + socket).status == 0)
            let rewrapped = try await CLI.run(["rewrap", "payments", "--info", "db"] + socket, input: Array(line.utf8))
            #expect(rewrapped.standardOutput.hasPrefix("keyshard:v2:"), "\(rewrapped.standardError)")

            let list = try await CLI.run(["key", "list", "--json"] + socket)
            #expect(list.standardOutput.contains("\"payments\""))
            let shown = try await CLI.run(["key", "show", "payments", "--json"] + socket)
            #expect(shown.standardOutput.contains("\"latest_version\" : 2"))
        }
    }

    @Test func signaturesVerifyWithAnyRFC9591VerifierAndTheKeysVersions() async throws {
        try await TestServer.with { server in
            let socket = ["--socket", server.socketPath]
            #expect(try await CLI.run(["key", "create", "release", "--type", "frost-p256"] + socket).status == 0)
            let message = Array("release 1.0".utf8)
            let signed = try await CLI.run(["sign", "release"] + socket, input: message)
            #expect(signed.status == 0, "\(signed.standardError)")
            let hex = signed.standardOutput.trimmingCharacters(in: .newlines)
            #expect(hex.count == 130)

            let valid = try await CLI.run(["verify", "--key", "release", "--signature", hex] + socket, input: message)
            #expect(valid.status == 0 && valid.standardOutput == "valid (version 1)\n", "\(valid.standardError)")
            let invalid = try await CLI.run(
                ["verify", "--key", "release", "--signature", hex] + socket, input: message + [1])
            #expect(invalid.status == 1 && invalid.standardOutput == "invalid\n")
            // After a rotation the old signature still verifies, by the version that made it.
            #expect(try await CLI.run(["key", "rotate", "release"] + socket).status == 0)
            let old = try await CLI.run(["verify", "--key", "release", "--signature", hex] + socket, input: message)
            #expect(old.standardOutput == "valid (version 1)\n")
            let badHex = try await CLI.run(
                ["verify", "--key", "release", "--signature", "xyz"] + socket, input: message)
            #expect(badHex.status == 65 && badHex.standardOutput.isEmpty)
        }
    }

    @Test func statusCustodiansRotateAndPolicyReload() async throws {
        let service = RecordingService()
        try await TestServer.with(service: service) { server in
            let socket = ["--socket", server.socketPath]
            let status = try await CLI.run(["status"] + socket)
            #expect(status.status == 0, "\(status.standardError)")
            #expect(status.standardOutput.contains("serving"))
            #expect(status.standardOutput.contains("default  2/3"))

            let custodians = try await CLI.run(["custodians", "--ring", "default"] + socket)
            #expect(custodians.status == 0)
            #expect(custodians.standardOutput.contains("process-2"))
            #expect(custodians.standardOutput.contains("never"))

            // Not a terminal: a successful rotation prints nothing.
            let rotated = try await CLI.run(["rotate", "--ring", "default"] + socket)
            #expect(rotated.status == 0 && rotated.standardOutput.isEmpty && rotated.standardError.isEmpty)
            let rotatedJSON = try await CLI.run(["rotate", "--json"] + socket)
            #expect(rotatedJSON.standardOutput.contains("\"epoch\" : 2"))

            let reload = try await CLI.run(["policy", "reload"] + socket)
            #expect(reload.standardOutput.contains("2 custodian(s) re-attested and accepted; 1 replaced"))

            await service.setBusy("default")
            let busy = try await CLI.run(["rotate", "--ring", "default"] + socket)
            #expect(busy.status == 75)
            #expect(busy.standardError.hasPrefix("keyshard: ") && busy.standardOutput.isEmpty)

            await service.setBelowThreshold("default")
            let below = try await CLI.run(["status"] + socket)
            #expect(below.status == 2)
            #expect(below.standardError.contains("below threshold: default"))
            let json = try await CLI.run(["status", "--json"] + socket)
            #expect(json.status == 2 && json.standardOutput.contains("\"serving\" : false"))
            let encrypt = try await CLI.run(["encrypt", "--key", "absent"] + socket, input: [1])
            #expect(encrypt.status == 69)
        }
    }

    @Test func rotateShowsProgressOnATerminal() async throws {
        let service = RecordingService()
        await service.setRotationDelay(.milliseconds(2500))
        try await TestServer.with(service: service) { server in
            // script(1) gives the CLI a pseudo-terminal as standard output.
            let command = "\(CLI.executable.path) rotate --ring default --socket \(server.socketPath)"
            let result = try await runOffPool {
                try ProcessRunner.run(
                    "/usr/bin/script", ["--quiet", "--return", "--command", command, "/dev/null"], timeout: 60)
            }
            #expect(result.status == 0, "\(result.combinedOutput)")
            #expect(result.standardOutput.contains("rotating ring default"), "\(result.standardOutput)")
            // Polled while the rotation ran.
            #expect(result.standardOutput.contains("  epoch 1, 3/3 healthy, ok"), "\(result.standardOutput)")
            #expect(
                result.standardOutput.contains("ring default: epoch 2, 3/3 healthy, ok"), "\(result.standardOutput)")
        }
    }

    @Test func refusalsHaveTheirExitCodes() async throws {
        try await TestServer.with(roles: TableRoleResolver()) { server in
            let socket = ["--socket", server.socketPath]
            let forbidden = try await CLI.run(["key", "list"] + socket)
            #expect(forbidden.status == 77)
            #expect(forbidden.standardError.hasPrefix("keyshard: uid \(getuid())"), "\(forbidden.standardError)")
            #expect(forbidden.standardOutput.isEmpty)

            let notACiphertext = try await CLI.run(["decrypt", "k"] + socket, input: Array("hello".utf8))
            #expect(notACiphertext.status == 65)
            #expect(notACiphertext.standardError.contains("not a keyshard ciphertext"))
        }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-daemon-\(UUID()).sock").path
        let unreachable = try await CLI.run(["status", "--socket", missing])
        #expect(unreachable.status == 69)
        #expect(unreachable.standardError.contains("cannot reach keyshardd at \(missing)"))
        let fromEnvironment = try await CLI.run(
            ["key", "list"],
            environment: ProcessInfo.processInfo.environment.merging(["KEYSHARD_SOCKET": missing]) { $1 })
        #expect(fromEnvironment.status == 69 && fromEnvironment.standardError.contains(missing))

        let usage = try await CLI.run(["key", "config", "k", "--socket", missing])
        #expect(usage.status == 64)
        #expect(usage.standardError.contains("--min-decryption-version"))
        let both = try await CLI.run(["encrypt", "--key", "k", "--public-key", "f"])
        #expect(both.status == 64)
    }

    @Test func everyDaemonCommandExplainsItselfWithExamples() async throws {
        for command in [
            ["status"], ["key", "create"], ["key", "import"], ["key", "show"], ["key", "config"], ["key", "trim"],
            ["encrypt"], ["decrypt"], ["datakey"], ["rewrap"], ["sign"], ["verify"], ["custodians"], ["rotate"],
            ["policy", "reload"], ["audit", "verify"],
        ] {
            let help = try await CLI.run(command + ["--help"])
            #expect(help.status == 0, "\(command)")
            #expect(help.standardOutput.contains("keyshard " + command.joined(separator: " ")), "\(command)")
            #expect(help.standardOutput.lowercased().contains("example"), "\(command)")
        }
    }
}
