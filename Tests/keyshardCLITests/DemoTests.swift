import Foundation
import TestSupport
import Testing

/// `make demo` is the README's first command: it must keep working.
@Suite struct DemoTests {
    @Test func demoRunsEveryStepAndCatchesTheCheater() throws {
        let demo = CLI.executable.deletingLastPathComponent().appendingPathComponent("keyshard-demo")
        let result = try ProcessRunner.run(demo.path, [CLI.executable.path], timeout: 300)
        let output = result.standardOutput
        #expect(result.status == 0, "\(output)")
        for step in 1...6 { #expect(output.contains("[\(step)/6]")) }
        #expect(output.contains("\"the payroll database password\""))
        #expect(output.contains("valid (exit 0)"))
        #expect(output.contains("invalid (exit 1)"))
        #expect(output.contains("public key unchanged: yes"))
        #expect(output.contains("refused (invalid-proof"))
        #expect(output.hasSuffix("only the VMs were simulated.\n"))
    }

    @Test func demoWithoutArgumentsExplainsItself() throws {
        let demo = CLI.executable.deletingLastPathComponent().appendingPathComponent("keyshard-demo")
        let result = try ProcessRunner.run(demo.path, timeout: 60)
        let message = result.standardError
        #expect(result.status == 2)
        #expect(message.contains("usage: keyshard-demo"))
    }
}
