import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real TPM for tests: `swtpm socket` on two free loopback ports with its state in a fresh
/// temporary directory, driven with tpm2-tools over the swtpm TCTI.
///
/// Use it through ``SoftwareTPM/with(endorsementCertificates:_:)``, which always stops the process and
/// removes the directory, whether the body returns or throws; or ``start(endorsementCertificates:)`` and
/// ``stop()`` around asynchronous code. Shared by every test target that needs a real TPM.
public final class SoftwareTPM: @unchecked Sendable {
    /// Why the helper failed.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// The TPM command port; the control port is the next one.
    public let port: Int
    /// Scratch directory: swtpm's state lives in `state/`, tool outputs beside it.
    public let directory: URL
    private let process: Process

    /// Starts swtpm, runs `body`, then stops swtpm and deletes its directory.
    ///
    /// With `endorsementCertificates`, the TPM is first manufactured by `swtpm_setup` with EK
    /// certificates from a local CA created in the scratch directory (`ca/issuercert.pem`), so the
    /// host's /var/lib/swtpm-localca is never touched.
    public static func with<T>(endorsementCertificates: Bool = false, _ body: (SoftwareTPM) throws -> T) throws -> T {
        let tpm = try start(endorsementCertificates: endorsementCertificates)
        defer { tpm.stop() }
        return try body(tpm)
    }

    private init(port: Int, directory: URL, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Starts swtpm; the caller must call ``stop()`` (prefer ``with(endorsementCertificates:_:)``).
    /// - Parameters:
    ///   - endorsementCertificates: manufacture the TPM with EK certificates from a scratch CA.
    ///   - cloning: another TPM whose state (and scratch CA) this one starts from: the same seeds, so the
    ///     same EK and EK certificate, as a copied vTPM state file would give.
    ///   - certificateAuthority: a directory holding the local CA that signs the EK certificates
    ///     (created on first use), so several TPMs chain to one root as a host's vTPMs do; nil makes
    ///     a CA of its own in the scratch directory (`ca/`).
    public static func start(
        endorsementCertificates: Bool = false, cloning original: SoftwareTPM? = nil, certificateAuthority: URL? = nil
    ) throws -> SoftwareTPM {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("keyshard-swtpm-\(UUID().uuidString)")
        let state = directory.appendingPathComponent("state")
        if let original {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for part in ["state", "ca"] {
                let source = original.directory.appendingPathComponent(part)
                if FileManager.default.fileExists(atPath: source.path) {
                    try FileManager.default.copyItem(at: source, to: directory.appendingPathComponent(part))
                }
            }
        } else {
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        }
        if endorsementCertificates, original == nil {
            do {
                try manufacture(directory: directory, state: state, ca: certificateAuthority)
            } catch {
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
        }
        for _ in 0..<5 {
            let port = try freePortPair()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/swtpm")
            process.arguments = [
                "socket", "--tpm2",
                "--server", "type=tcp,bindaddr=127.0.0.1,port=\(port)",
                "--ctrl", "type=tcp,bindaddr=127.0.0.1,port=\(port + 1)",
                "--tpmstate", "dir=\(state.path)",
                "--flags", "not-need-init,startup-clear",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if waitUntilListening(port: port, process: process) {
                return SoftwareTPM(port: port, directory: directory, process: process)
            }
            // Lost a race for the ports, or swtpm failed: clean up and try other ports.
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
        throw Failure(description: "swtpm did not start (is the swtpm package installed?)")
    }

    private static func manufacture(directory: URL, state: URL, ca shared: URL?) throws {
        let ca = shared ?? directory.appendingPathComponent("ca")
        try FileManager.default.createDirectory(at: ca, withIntermediateDirectories: true)
        let localCAConfig = directory.appendingPathComponent("swtpm-localca.conf")
        try Data("""
            statedir = \(ca.path)
            signingkey = \(ca.path)/signkey.pem
            issuercert = \(ca.path)/issuercert.pem
            certserial = \(ca.path)/certserial

            """.utf8).write(to: localCAConfig)
        let setupConfig = directory.appendingPathComponent("swtpm_setup.conf")
        try Data("""
            create_certs_tool = /usr/bin/swtpm_localca
            create_certs_tool_config = \(localCAConfig.path)
            create_certs_tool_options = /etc/swtpm-localca.options

            """.utf8).write(to: setupConfig)
        // The log is what libvirt keeps per domain too (the coordinator reads the EKs from it).
        let log = directory.appendingPathComponent("swtpm_setup.log")
        let result = try ProcessRunner.run(
            "/usr/bin/swtpm_setup",
            ["--tpm2", "--tpmstate", state.path, "--create-ek-cert", "--config", setupConfig.path,
             "--logfile", log.path], timeout: 120)
        guard result.status == 0 else {
            let logged = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw Failure(description: "swtpm_setup failed: " + result.combinedOutput + logged)
        }
    }

    /// Stops swtpm and removes its directory. Idempotent.
    ///
    /// SIGKILL, not SIGTERM: swtpm inherits the test thread's signal mask, in which SIGTERM is
    /// blocked, so it would never see a SIGTERM. Its state is scratch anyway.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Whether the swtpm process has exited and its directory is gone (for tests of the helper).
    public var isStopped: Bool {
        !process.isRunning && !FileManager.default.fileExists(atPath: directory.path)
    }

    /// Runs a tpm2-tools program against this TPM, then flushes transient objects and sessions,
    /// since without a resource manager only about three objects fit.
    /// - Returns: the program's standard output.
    /// Pass `flush: false` to keep a policy session alive for the next command.
    @discardableResult
    public func tool(_ name: String, _ arguments: [String], flush: Bool = true) throws -> String {
        let output = try runTool(name, arguments)
        if flush {
            _ = try runTool("tpm2_flushcontext", ["-t"])
            _ = try runTool("tpm2_flushcontext", ["-s"])
        }
        return output
    }

    /// Writes a file into the scratch directory.
    public func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: directory.appendingPathComponent(name))
    }

    /// The bytes of a file in the scratch directory.
    public func file(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// The path of a file in the scratch directory.
    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func runTool(_ name: String, _ arguments: [String]) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["TPM2TOOLS_TCTI"] = "swtpm:host=127.0.0.1,port=\(port)"
        let result = try ProcessRunner.run(
            "/usr/bin/" + name, arguments, environment: environment, currentDirectory: directory, timeout: 120)
        guard result.status == 0 else {
            throw Failure(description: "\(name) \(arguments.joined(separator: " ")) failed: " + result.standardError)
        }
        return result.standardOutput
    }

    /// Two consecutive free loopback ports (swtpm's control port is the command port + 1).
    private static func freePortPair() throws -> Int {
        for _ in 0..<50 {
            let port = Int.random(in: 20_000..<60_000)
            if canBind(port), canBind(port + 1) { return port }
        }
        throw Failure(description: "found no two free consecutive loopback ports")
    }

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func waitUntilListening(port: Int, process: Process) -> Bool {
        for _ in 0..<100 {
            guard process.isRunning else { return false }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return false }
            var address = loopback(port)
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(fd)
            if connected { return true }
            usleep(20_000)
        }
        return false
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
