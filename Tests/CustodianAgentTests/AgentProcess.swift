import AgentProtocol
import Crypto
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
    /// The directory of the CA that signed the EK certificate (`issuercert.pem` is its root).
    let certificateAuthority: URL
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
    ///   - extraArguments: more agent options (pins given here replace the defaults).
    ///   - tpm: the TPM to use instead of a new one.
    ///   - wrapper: a command (and its arguments) that runs the agent, e.g. `prlimit --memlock=0:0`.
    ///   - certificateAuthority: a CA directory shared by a ring's TPMs; nil gives the TPM a CA of its own.
    ///   - pinnedRoot: the EK root certificate (PEM) the agent pins; nil pins its own CA's.
    ///   - prepare: runs against the TPM before the agent starts (for example to extend a PCR).
    static func start(
        extraArguments: [String] = [], tpm given: SoftwareTPM? = nil, wrapper: [String] = [],
        certificateAuthority: URL? = nil, pinnedRoot: [UInt8]? = nil, prepare: (SoftwareTPM) throws -> Void = { _ in }
    ) throws -> AgentProcess {
        let tpm = try given ?? SoftwareTPM.start(endorsementCertificates: true, certificateAuthority: certificateAuthority)
        do { try prepare(tpm) } catch {
            tpm.stop()
            throw error
        }
        let socketPath = "/tmp/ks-agent-\(UUID().uuidString.prefix(8)).sock"
        let log = tpm.directory.appendingPathComponent("agent.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        // swtpm_localca makes a self-signed root and an issuing CA under it (as in
        // /var/lib/swtpm-localca); the agent pins the root, as a custodian's command line does.
        let caDirectory = certificateAuthority ?? tpm.directory.appendingPathComponent("ca")
        let caFile = [Ring.rootFile, "issuercert.pem"].map { caDirectory.appendingPathComponent($0) }
            .first { FileManager.default.fileExists(atPath: $0.path) } ?? caDirectory.appendingPathComponent("issuercert.pem")
        // A cloned TPM has no CA of its own: it pins a digest nothing chains to (it never deals here).
        let root = try pinnedRoot.map { try rootDigest(pem: $0) }
            ?? (try? rootDigest(pem: Array(Data(contentsOf: caFile)))) ?? String(repeating: "00", count: 32)
        let pins =
            extraArguments.contains("--kernel-cmdline") || extraArguments.contains("--coordinator-key")
            ? [] : ["--coordinator-key", Coordinator.identity.publicKey.hex, "--ek-root-sha256", root]
        let agentArguments = [
            "--transport", "unix:\(socketPath)", "--tcti", "swtpm:host=127.0.0.1,port=\(tpm.port)",
            "--pcrs", "sha256:0,4,9", "--event-log", "/nonexistent",
        ] + pins + extraArguments
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
        let agent = AgentProcess(
            tpm: tpm, certificateAuthority: certificateAuthority ?? tpm.directory.appendingPathComponent("ca"),
            process: process, socketPath: socketPath, log: log)
        for _ in 0..<500 {
            if FileManager.default.fileExists(atPath: socketPath) { return agent }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        let output = agent.logText
        agent.stop()
        throw Failure(description: "the agent did not start listening: \(output)")
    }

    /// SHA-256 of the DER certificate in a PEM file, in hex: the form `--ek-root-sha256` takes.
    static func rootDigest(pem: [UInt8]) throws -> String {
        let text = String(decoding: pem, as: UTF8.self)
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let der = Data(base64Encoded: body) else { throw Failure(description: "the CA certificate is not PEM") }
        return SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    private init(tpm: SoftwareTPM, certificateAuthority: URL, process: Process, socketPath: String, log: URL) {
        self.tpm = tpm
        self.certificateAuthority = certificateAuthority
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
