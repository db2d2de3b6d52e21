import Foundation
import TestSupport
import Testing

/// Runs the custodian image builder's own tests (`vm-images/test/`), which are shell and Python
/// because the builder is: the PCR arithmetic and event-log replay, a twice-built reproducibility
/// check, and a real OVMF + swtpm boot under libvirt comparing the guest's PCR 4 and 9 with the
/// prediction in `measurements.json`. The images they build carry a test-fixture program in place
/// of keyshard-agent (`vm-images/test/fixture-agent.c`) and are never deployed.
@Suite("VM image", .serialized)
struct VMImageTests {
    /// The package root: three levels above this file (`Tests/VMImageTests/VMImageTests.swift`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Runs a program from the package root, returning its exit status and combined output.
    /// (``ProcessRunner``: boot-test may start libvirtd, which must not hold the test's output open.)
    static func run(_ arguments: [String], timeout: Double = 900) throws -> (status: Int32, output: String) {
        let result = try ProcessRunner.run(
            "/usr/bin/env", arguments, currentDirectory: root, timeout: timeout)
        let note = result.timedOut ? "\n[killed after \(Int(timeout)) s]" : ""
        return (result.status, result.combinedOutput + note)
    }

    @Test("UTF-16LE load options, PCR extend, event-log replay, QEMU header patch, Authenticode")
    func measurementArithmetic() throws {
        let result = try Self.run([
            "/usr/bin/python3", "-m", "unittest", "discover", "-s", "vm-images/test", "-p", "test_*.py",
        ])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("Two builds give the same initrd; no agent, no image", .timeLimit(.minutes(10)))
    func reproducibleBuild() throws {
        let result = try Self.run(["vm-images/test/reproducible-test"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("reproducible-test: PASS"))
    }

    @Test(
        "A real boot (libvirt, OVMF, swtpm) measures exactly the predicted PCR 4 and 9",
        .enabled(if: getuid() == 0, "qemu:///system and starting libvirtd need root"),
        .timeLimit(.minutes(10))
    )
    func bootMatchesPrediction() throws {
        let result = try Self.run(["vm-images/test/boot-test"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("boot-test: PASS"))
    }
}
