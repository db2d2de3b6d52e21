import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `make demo` is the README's first command: scripts/demo must run every step against a real
/// keyshardd and leave nothing behind.
@Suite("make demo", .serialized)
struct DemoScriptTests {
    @Test(
        "scripts/demo runs every step and cleans up, with process custodians and (as root) with VMs",
        arguments: ["process", "auto"])
    func demoRuns(backend: String) throws {
        let script = VaultClientTests.packageRoot.appendingPathComponent("scripts/demo").path
        var environment = ProcessInfo.processInfo.environment
        environment["KEYSHARD_DEMO_BACKEND"] = backend
        let result = try ProcessRunner.run(script, [DaemonHarness.binDirectory.path], environment: environment, timeout: 1200)
        #expect(result.status == 0, "\(result.combinedOutput.suffix(4000))")
        for step in ["1. A 3-of-5 HPKE key by DKG", "started and attested in", "decrypted:  the launch codes",
            "3. A FROST signing key", "4. ", "replaced and re-shared", "5. Rotate the ring", "public key unchanged",
            "6. Verify the audit log", "Timings", "ring rotation (5 new custodians", "Done:"]
        {
            #expect(result.standardOutput.contains(step), "missing: \(step)")
        }
        // As root with libvirtd and the image, auto means VMs.
        if backend == "auto", getuid() == 0 {
            #expect(result.standardOutput.contains("--backend libvirt"), "\(result.standardOutput.prefix(600))")
            #expect(result.standardOutput.contains("4. virsh destroy one custodian VM"))
        }
        print(result.standardOutput.split(separator: "\n").drop { !$0.contains("Timings") }.joined(separator: "\n"))
        // No demo daemon, agent, swtpm or QEMU survives it.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let survivors = entries.compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains("/tmp/keyshard-demo.")
        }
        #expect(survivors.isEmpty, "left running: \(survivors)")
    }
}
