import Foundation
import TestSupport
import Testing

/// hvac, HashiCorp Vault's Python client from PyPI, unmodified, against keyshardd's socket. The
/// test installs it into a private virtualenv under .build (once) and runs
/// Tests/interop/hvac_transit.py.
@Suite("An unmodified Vault client", .serialized)
struct VaultClientTests {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The virtualenv's python, made when missing.
    static func python() throws -> String {
        let venv = packageRoot.appendingPathComponent(".build/test-venv-hvac")
        let python = venv.appendingPathComponent("bin/python3").path
        if !FileManager.default.fileExists(atPath: venv.appendingPathComponent("ready").path) {
            try? FileManager.default.removeItem(at: venv)
            let made = try ProcessRunner.run("/usr/bin/python3", ["-m", "venv", venv.path], timeout: 120)
            guard made.status == 0 else { throw DaemonHarness.Failure(description: "python3 -m venv failed: \(made.combinedOutput)") }
            let installed = try ProcessRunner.run(
                python, ["-m", "pip", "install", "--quiet", "hvac==2.4.0", "requests-unixsocket==0.4.1"], timeout: 300)
            guard installed.status == 0 else {
                throw DaemonHarness.Failure(description: "pip install hvac failed: \(installed.combinedOutput)")
            }
            FileManager.default.createFile(atPath: venv.appendingPathComponent("ready").path, contents: nil)
        }
        return python
    }

    @Test("hvac encrypts, decrypts, rewraps, makes data keys, signs and verifies through the socket")
    func hvacTransit() async throws {
        let python = try Self.python()
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "app-data"])
            _ = try daemon.ok(["key", "create", "app-signing", "--type", "frost-p256"])
            let script = Self.packageRoot.appendingPathComponent("Tests/interop/hvac_transit.py").path
            let result = try ProcessRunner.run(python, [script, daemon.socket, "app-data", "app-signing"], timeout: 300)
            #expect(result.status == 0, "\(result.combinedOutput)")
            #expect(result.standardOutput.contains("sign + verify ok"), "\(result.combinedOutput)")
            // Every call reached the audit log with the caller's uid.
            let audit = try String(contentsOfFile: daemon.auditPath, encoding: .utf8)
            #expect(audit.contains("api.call") && audit.contains("sign"))
        }
    }
}
