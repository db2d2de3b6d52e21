import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// schemathesis (PyPI), unmodified, generating requests from docs/openapi.yaml against a real
/// keyshardd: no generated input may get a 5xx, and every answer must match the document. The
/// settings (seed, examples per operation, checks, path parameters, what is left out and why)
/// are in Tests/interop/schemathesis.toml; schemathesis speaks TCP, so a forwarder
/// (Tests/interop/tcp_to_unix.py) carries its connections to the daemon's Unix socket.
@Suite("schemathesis against docs/openapi.yaml", .serialized)
struct SchemaFuzzTests {
    /// Exact pins (the newest schemathesis that installs on Debian 12's Python 3.11 when this was
    /// written). hypothesis draws the cases: the same seed gives the same cases only with the same
    /// hypothesis, so it is pinned beside schemathesis rather than left to its range; jsonschema_rs
    /// because Tests/interop/openapi_findings.py calls it itself.
    static let requirements = ["schemathesis==4.32.5", "hypothesis==6.170.17", "jsonschema_rs==0.60.3"]

    /// Keys the document's `{name}` paths are pointed at (schemathesis.toml's `[parameters]`),
    /// made before the run so that generated requests reach real keys and real custodians.
    static let encryptionKey = "fuzz-hpke"
    /// The frost-p256 key of sign and verify (their own `[[operations]]` entry).
    static let signingKey = "fuzz-frost"
    /// The key trim and delete get: destroying it costs the main run nothing.
    static let sacrificialKey = "fuzz-doomed"

    /// Wall-clock limits of the schemathesis runs (95 s together), beyond which a run is killed and
    /// the test fails: a hang is a finding too. The main run took 35–55 s on the shared 2-core
    /// machine, the trim and delete runs about a second each.
    static let mainRunLimit: Double = 75
    /// The limit of each of the trim and delete runs.
    static let destructiveRunLimit: Double = 10

    static var packageRoot: URL { VaultClientTests.packageRoot }

    /// The virtualenv's bin directory, made once and marked `ready` with the pins it holds; made
    /// again when missing or when ``requirements`` changed since.
    static func venvBin() throws -> URL {
        let venv = packageRoot.appendingPathComponent(".build/test-venv-schemathesis")
        let bin = venv.appendingPathComponent("bin")
        let ready = venv.appendingPathComponent("ready")
        let pins = Data((requirements.joined(separator: "\n") + "\n").utf8)
        if FileManager.default.contents(atPath: ready.path) != pins {
            try? FileManager.default.removeItem(at: venv)
            let made = try ProcessRunner.run("/usr/bin/python3", ["-m", "venv", venv.path], timeout: 120)
            guard made.status == 0 else { throw DaemonHarness.Failure(description: "python3 -m venv failed: \(made.combinedOutput)") }
            let installed = try ProcessRunner.run(
                bin.appendingPathComponent("python3").path,
                ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"] + requirements, timeout: 600)
            guard installed.status == 0 else {
                throw DaemonHarness.Failure(description: "pip install schemathesis failed: \(installed.combinedOutput)")
            }
            FileManager.default.createFile(atPath: ready.path, contents: pins)
        }
        return bin
    }

    /// `tcp_to_unix.py` running: a TCP port on 127.0.0.1 whose connections reach the daemon's
    /// socket. The forwarder exits when its standard input closes (``stop()``, or this process
    /// ending); its command line names the daemon's scratch directory, so the harness's
    /// ``DaemonHarness/destroy()`` kills it too.
    final class Forwarder {
        let process = Process()
        /// The port on 127.0.0.1 that it listens on.
        let port: Int
        /// Its standard input: closing it stops the forwarder.
        private let input = Pipe()

        /// Starts the forwarder to `socket` with the venv's `python` and waits for its port.
        /// - Throws: when it cannot be started or prints no port.
        init(python: String, socket: String) throws {
            let output = Pipe()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [SchemaFuzzTests.packageRoot.appendingPathComponent("Tests/interop/tcp_to_unix.py").path, socket]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The first line is the port; nothing else is ever written there.
            var line: [UInt8] = []
            let reader = output.fileHandleForReading
            while line.last != 0x0A, line.count < 16, let byte = try reader.read(upToCount: 1), !byte.isEmpty {
                line += byte
            }
            guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                process.terminate()
                throw DaemonHarness.Failure(description: "the forwarder printed no port: \(String(decoding: line, as: UTF8.self))")
            }
            self.port = port
        }

        /// Closes its standard input and waits (5 s at most, then SIGKILL) for it to exit.
        func stop() {
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// What one schemathesis run reported (its `--report json` file).
    struct RunReport {
        /// schemathesis's own exit code: 0 when no check failed and nothing errored.
        var exitCode: Int
        /// Operations that got at least one case.
        var operationsTested: Int
        /// Cases generated and sent, in every phase.
        var cases: Int
        /// One line per kind of failure: its code, title, count and operations.
        var failures: [String]
        /// Errors of the run itself (an unreachable server, a schema it cannot use).
        var errors: Int
        /// How long schemathesis ran.
        var seconds: Double
        /// The seed it used (schemathesis.toml's).
        var seed: Int?

        /// Reads the report at `url`.
        /// - Throws: when it cannot be read or is not a JSON object.
        init(json url: URL) throws {
            let data = try Data(contentsOf: url)
            guard let report = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw DaemonHarness.Failure(description: "\(url.path) is not a JSON object")
            }
            exitCode = report["exit_code"] as? Int ?? -1
            operationsTested = (report["operations"] as? [String: Any])?["tested"] as? Int ?? 0
            cases = (report["test_cases"] as? [String: Any])?["generated"] as? Int ?? 0
            // Grouped by kind: `{"code": "ST108", "title": …, "count": 5, "operations": [...]}`.
            failures = (report["failures"] as? [Any] ?? []).map { failure in
                guard let failure = failure as? [String: Any] else { return "\(failure)" }
                let operations = (failure["operations"] as? [String] ?? []).joined(separator: ", ")
                return "\(failure["code"] ?? "?") \(failure["title"] ?? "") ×\(failure["count"] ?? 1) (\(operations))"
            }
            errors = (report["errors"] as? [Any])?.count ?? 0
            seconds = report["running_time"] as? Double ?? 0
            seed = report["seed"] as? Int
        }
    }

    /// Runs `schemathesis run docs/openapi.yaml` against `port` with the project's configuration and
    /// `arguments` (which operations); its output and report.
    static func schemathesis(
        bin: URL, port: Int, arguments: [String], report: URL, scratch: URL, timeout: Double
    ) throws -> (ProcessResult, RunReport?) {
        var environment = ProcessInfo.processInfo.environment
        // Its own files (hypothesis's directory, default reports) land in the scratch directory,
        // not in the work tree; no colour codes in the test log.
        environment["HOME"] = scratch.path
        environment["NO_COLOR"] = "1"
        let result = try ProcessRunner.run(
            bin.appendingPathComponent("schemathesis").path,
            ["--config-file", packageRoot.appendingPathComponent("Tests/interop/schemathesis.toml").path, "run",
                packageRoot.appendingPathComponent("docs/openapi.yaml").path, "--url", "http://127.0.0.1:\(port)",
                "--no-color", "--report", "json", "--report-json-path", report.path] + arguments,
            environment: environment, currentDirectory: scratch, timeout: timeout)
        return (result, try? RunReport(json: report))
    }

    /// The summary block schemathesis prints last (from its `=== SUMMARY ===` line), for the test log.
    static func summary(_ output: String) -> String {
        guard let marker = output.range(of: " SUMMARY ") else { return String(output.suffix(3000)) }
        let start = output[..<marker.lowerBound].lastIndex(of: "\n").map { output.index(after: $0) } ?? output.startIndex
        return String(output[start...])
    }

    /// Each disagreement between the daemon and the document that schemathesis found, replayed
    /// as a fixed request (Tests/interop/openapi_findings.py): lenient fields the document called
    /// invalid, a body the document required, batch refusals the document described as ErrorBody.
    @Test("the document findings of schemathesis stay fixed, one fixed request each")
    func documentFindingsStayFixed() async throws {
        let bin = try Self.venvBin()
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", Self.encryptionKey])
            _ = try daemon.ok(["key", "create", Self.signingKey, "--type", "frost-p256"])
            let forwarder = try Forwarder(python: bin.appendingPathComponent("python3").path, socket: daemon.socket)
            defer { forwarder.stop() }
            var environment = ProcessInfo.processInfo.environment
            environment["HOME"] = daemon.directory.path
            let result = try ProcessRunner.run(
                bin.appendingPathComponent("python3").path,
                [Self.packageRoot.appendingPathComponent("Tests/interop/openapi_findings.py").path,
                    Self.packageRoot.appendingPathComponent("docs/openapi.yaml").path, "http://127.0.0.1:\(forwarder.port)",
                    Self.encryptionKey, Self.signingKey],
                environment: environment, currentDirectory: daemon.directory, timeout: 60)
            print(result.standardOutput)
            #expect(result.status == 0, "\(result.combinedOutput.suffix(6000))")
            #expect(!result.standardOutput.contains("FAILED"), "\(result.standardOutput)")
        }
    }

    @Test("schemathesis: no 5xx on any generated input, every answer as docs/openapi.yaml says")
    func schemathesisAgainstTheDocument() async throws {
        let bin = try Self.venvBin()
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", Self.encryptionKey])
            _ = try daemon.ok(["key", "create", Self.signingKey, "--type", "frost-p256"])
            // The sacrificial key has two versions and allows deletion, so trim and delete can succeed.
            _ = try daemon.ok(["key", "create", Self.sacrificialKey])
            _ = try daemon.ok(["key", "rotate", Self.sacrificialKey])
            let allowed = try daemon.http(
                "POST", "/v1/transit/keys/\(Self.sacrificialKey)/config", body: #"{"deletion_allowed": true}"#)
            try #require(allowed.status == 200, "\(allowed.body)")

            let forwarder = try Forwarder(python: bin.appendingPathComponent("python3").path, socket: daemon.socket)
            defer { forwarder.stop() }
            // First everything that leaves the keys in place; then, last, trim and then delete on
            // the sacrificial key (delete first would leave trim nothing but 404s), so neither can
            // take a key from under the main run. Only coverage and fuzzing for those two: the
            // document's links (encrypt → decrypt, sign → verify) lie outside them.
            let destructive = ["trimKey", "deleteKey"]
            let runs: [(what: String, arguments: [String], limit: Double)] =
                [("every operation but trim, delete and ring rotation",
                    destructive.flatMap { ["--exclude-operation-id", $0] }, Self.mainRunLimit)]
                + destructive.map { ("\($0) on \(Self.sacrificialKey)",
                    ["--include-operation-id", $0, "--phases", "coverage,fuzzing"], Self.destructiveRunLimit) }
            let started = ContinuousClock.now
            var outcomes: [(what: String, result: ProcessResult, report: RunReport?)] = []
            for (index, run) in runs.enumerated() {
                let (result, report) = try Self.schemathesis(
                    bin: bin, port: forwarder.port, arguments: run.arguments,
                    report: daemon.directory.appendingPathComponent("schemathesis-\(index).json"), scratch: daemon.directory,
                    timeout: run.limit)
                print("schemathesis (\(run.what)):\n" + Self.summary(result.standardOutput))
                outcomes.append((run.what, result, report))
            }
            let seconds = (ContinuousClock.now - started) / .seconds(1)

            for (what, result, report) in outcomes {
                #expect(!result.timedOut, "schemathesis (\(what)) ran into its time limit:\n\(result.combinedOutput.suffix(4000))")
                #expect(result.status == 0, "schemathesis (\(what)) exited \(result.status):\n\(result.combinedOutput.suffix(8000))")
                #expect(report != nil, "schemathesis (\(what)) wrote no report:\n\(result.combinedOutput.suffix(4000))")
                if let report {
                    #expect(report.exitCode == 0 && report.failures.isEmpty && report.errors == 0, "\(what): \(report.failures)")
                }
            }
            #expect(daemon.isRunning, "keyshardd died under schemathesis")
            // Still serving an ordinary caller after all of it.
            let ciphertext = try daemon.ok(["encrypt", "--key", Self.encryptionKey], input: Array("after".utf8))
            #expect(try daemon.ok(["decrypt", Self.encryptionKey], input: Array(ciphertext.utf8)) == "after")

            let reports = outcomes.compactMap(\.report)
            let operations = reports.map(\.operationsTested).reduce(0, +)
            let cases = reports.map(\.cases).reduce(0, +)
            let failures = reports.flatMap(\.failures)
            let errors = reports.map(\.errors).reduce(0, +)
            let held = outcomes.allSatisfy { $0.result.status == 0 } && reports.count == outcomes.count && failures.isEmpty
                && errors == 0 && daemon.isRunning
            let seed = reports.first?.seed.map(String.init) ?? "?"
            ReliabilityReport.record(
                .badInput, "schemathesis against docs/openapi.yaml (seed \(seed): no 5xx, answers as documented)", held: held,
                detail: "\(operations) operations, \(cases) cases, "
                    + (failures.isEmpty ? "no failures" : "\(failures.count) failures: \(failures.prefix(5).joined(separator: "; "))")
                    + (errors == 0 ? "" : ", \(errors) errors")
                    + String(format: " in %.0f s", seconds))
        }
    }
}
