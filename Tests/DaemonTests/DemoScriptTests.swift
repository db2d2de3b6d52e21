import Foundation
import TestSupport
import Testing

/// `make demo` is the README's first command: scripts/demo must run every step against a real
/// keyshardd and leave nothing behind.
@Suite("make demo", .serialized)
struct DemoScriptTests {
    @Test("scripts/demo runs every step and cleans up")
    func demoRuns() throws {
        let script = VaultClientTests.packageRoot.appendingPathComponent("scripts/demo").path
        let result = try ProcessRunner.run(script, [DaemonHarness.binDirectory.path], timeout: 600)
        #expect(result.status == 0, "\(result.combinedOutput.suffix(4000))")
        for step in ["1. A 3-of-5 HPKE key by DKG", "decrypted:  the launch codes", "3. A FROST signing key",
            "4. SIGKILL one custodian", "replaced and re-shared", "5. Rotate the ring", "public key unchanged",
            "6. Verify the audit log", "Done:"]
        {
            #expect(result.standardOutput.contains(step), "missing: \(step)")
        }
        // No demo daemon, agent or swtpm survives it.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let survivors = entries.compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains("/tmp/keyshard-demo.")
        }
        #expect(survivors.isEmpty, "left running: \(survivors)")
    }
}
