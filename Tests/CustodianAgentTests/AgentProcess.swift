import AgentProtocol
import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A `keyshard-agent` process serving a Unix socket, with its own manufactured swtpm (EK
/// certificate from a scratch CA). ``stop()`` kills both and removes the socket.
final class AgentProcess: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let tpm: SoftwareTPM
    let process: Process
    let socketPath: String
    let log: URL

    /// The agent binary beside the test bundle.
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("keyshard-agent")
    }

    /// Starts an agent on a new manufactured swtpm, or on `tpm` (which the agent then owns and stops).
    /// - Parameters:
    ///   - extraArguments: more agent options.
    ///   - tpm: the TPM to use instead of a new one.
    ///   - wrapper: a command (and its arguments) that runs the agent, e.g. `prlimit --memlock=0:0`.
    static func start(
        extraArguments: [String] = [], tpm given: SoftwareTPM? = nil, wrapper: [String] = []
    ) throws -> AgentProcess {
        let tpm = try given ?? SoftwareTPM.start(endorsementCertificates: true)
        let socketPath = "/tmp/ks-agent-\(UUID().uuidString.prefix(8)).sock"
        let log = tpm.directory.appendingPathComponent("agent.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        let agentArguments = [
            "--transport", "unix:\(socketPath)", "--tcti", "swtpm:host=127.0.0.1,port=\(tpm.port)",
            "--pcrs", "sha256:0,4,9", "--event-log", "/nonexistent",
        ] + extraArguments
        if let program = wrapper.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = Array(wrapper.dropFirst()) + [executable.path] + agentArguments
        } else {
            process.executableURL = executable
            process.arguments = agentArguments
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        do {
            try process.run()
        } catch {
            tpm.stop()
            throw error
        }
        let agent = AgentProcess(tpm: tpm, process: process, socketPath: socketPath, log: log)
        for _ in 0..<500 {
            if FileManager.default.fileExists(atPath: socketPath) { return agent }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        let output = agent.logText
        agent.stop()
        throw Failure(description: "the agent did not start listening: \(output)")
    }

    private init(tpm: SoftwareTPM, process: Process, socketPath: String, log: URL) {
        self.tpm = tpm
        self.process = process
        self.socketPath = socketPath
        self.log = log
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func connect() async throws -> AgentClient {
        try await AgentClient.connect(to: try TransportSpecification(parsing: "unix:\(socketPath)"))
    }

    /// Waits up to `seconds` for the agent to exit on its own; its status, or nil.
    func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Kills the agent (SIGKILL: it inherits the test thread's mask, where SIGTERM is blocked)
    /// and its swtpm; removes the socket. Idempotent.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        unlink(socketPath)
        tpm.stop()
    }
}
