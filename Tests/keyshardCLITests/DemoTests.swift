import Foundation
import Testing

/// `make demo` is the README's first command: it must keep working.
@Suite struct DemoTests {
    @Test func demoRunsEveryStepAndCatchesTheCheater() throws {
        let demo = CLI.executable.deletingLastPathComponent().appendingPathComponent("keyshard-demo")
        let process = Process()
        process.executableURL = demo
        process.arguments = [CLI.executable.path]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        for step in 1...6 { #expect(output.contains("[\(step)/6]")) }
        #expect(output.contains("\"the payroll database password\""))
        #expect(output.contains("valid (exit 0)"))
        #expect(output.contains("invalid (exit 1)"))
        #expect(output.contains("public key unchanged: yes"))
        #expect(output.contains("refused (invalid-proof"))
        #expect(output.hasSuffix("only the VMs were simulated.\n"))
    }

    @Test func demoWithoutArgumentsExplainsItself() throws {
        let process = Process()
        process.executableURL = CLI.executable.deletingLastPathComponent().appendingPathComponent("keyshard-demo")
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
        #expect(message.contains("usage: keyshard-demo"))
    }
}
