// The attestation fleet: one keyshard engine heart-beating many custodians (1,000 by default, in
// 3-of-5 rings, one key each) at its default 2 s interval, for a while, measuring the CPU it uses
// and the heartbeats that missed their deadline (refused, not answered, or accepted later than
// one interval after their round began: that custodian then went longer than the interval
// between attestations).
//
// The custodians are real `Custodian` state machines on software TPMs (`LoadAgent`), hosted in a
// child process so the engine's CPU is measured alone. The engine is keyshardd's, with its SQLite
// store and audit log; only the HTTP server is not started (heartbeats never pass through it).
//
//   swift run -c release fleet-benchmark [--custodians N] [--seconds S] [--json FILE]
//
// `make bench` runs it and Benchmarks/EndToEnd merges FILE's rows into bench/results.json.
import AuditLog
import CoreMetrics
import Engine
import Foundation
import KeyStore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

@main
struct FleetBenchmark {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "host", arguments.count == 2 {
            exit(await FleetHost.run(directory: arguments[1]))
        }
        func value(_ flag: String) -> String? {
            arguments.firstIndex(of: flag).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
        }
        let custodians = value("--custodians").flatMap(Int.init) ?? 1000
        let seconds = value("--seconds").flatMap(Double.init) ?? 60
        guard custodians >= 5, custodians % 5 == 0, seconds >= 4 else {
            FileHandle.standardError.write(Data(
                "usage: fleet-benchmark [--custodians N (a multiple of 5)] [--seconds S (≥ 4)] [--json FILE]\n".utf8))
            exit(64)
        }
        do {
            let rows = try await measure(custodians: custodians, seconds: seconds)
            if let path = value("--json") {
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
                try data.write(to: URL(fileURLWithPath: path))
                print("wrote \(path)")
            }
        } catch {
            FileHandle.standardError.write(Data("fleet-benchmark: \(error)\n".utf8))
            exit(1)
        }
    }

    static func measure(custodians: Int, seconds: Double) async throws -> [[String: Any]] {
        let metrics = RecordingMetrics()
        MetricsSystem.bootstrap(metrics)
        raiseDescriptorLimit()
        let directory = "/tmp/ksfleet-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let host = try HostProcess(executable: "/proc/self/exe", directory: directory)
        defer { host.stop() }

        var logger = Logger(label: "fleet-benchmark")
        logger.logLevel = .warning
        var configuration = EngineConfiguration()
        configuration.maximumCustodianAge = nil
        configuration.launchConcurrency = 16
        let interval = configuration.heartbeatInterval
        let engine = Engine(
            configuration: configuration, store: try KeyStore(path: directory + "/keyshard.db"),
            audit: AuditLogRecorder(try AuditLog(path: directory + "/audit.log")), backend: try FleetBackend(host: host),
            identity: try EngineIdentity.loadOrCreate(path: directory + "/coordinator.key"), logger: logger)
        let running = Task { try await engine.run() }
        defer { running.cancel() }
        _ = try await engine.rings()

        let rings = custodians / 5
        print("fleet: \(custodians) software custodians in \(rings) 3-of-5 rings, one key each; heartbeats every \(interval)")
        let clock = ContinuousClock()
        let creation = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = 0
                func add() {
                    let ring = next
                    next += 1
                    group.addTask {
                        _ = try await engine.createKey(
                            "fleet-\(ring)", type: .hpkeP256, ring: "fleet-\(ring)", threshold: 3, shares: 5)
                    }
                }
                for _ in 0..<min(4, rings) { add() }
                while try await group.next() != nil { if next < rings { add() } }
            }
        }
        print("fleet: rings created in \(creation)")

        // Two full rounds with every custodian, then the measured window.
        try await Task.sleep(for: interval * 2)
        let before = snapshot(metrics, host: host)
        try await Task.sleep(for: .seconds(seconds))
        let after = snapshot(metrics, host: host)
        await engine.destroyAllCustodians()

        let wall = after.wall - before.wall
        let engineCores = (after.engineCPU - before.engineCPU) / wall
        let hostCores = (after.hostCPU - before.hostCPU) / wall
        let delays = Array(metrics.timer("keyshard_heartbeat_delay_seconds")[before.delays..<after.delays]).sorted()
        let late = delays.filter { Double($0) > interval / .nanoseconds(1) }.count
        let failed = ["missed", "refused", "missed-kept-stale"].reduce(Int64(0)) {
            $0 + after.outcomes[$1, default: 0] - before.outcomes[$1, default: 0]
        }
        let accepted = after.outcomes["accepted", default: 0] - before.outcomes["accepted", default: 0]
        let overruns = after.overruns - before.overruns
        let missed = Int(failed) + late
        func percentile(_ p: Double) -> Double {
            delays.isEmpty ? 0 : Double(delays[min(delays.count - 1, Int(Double(delays.count) * p))]) / 1e6
        }
        let expected = Double(custodians) * wall / (interval / .seconds(1))
        print(String(
            format: "fleet: %.0f s measured: %lld heartbeats accepted (≈ %.0f due), %d missed their deadline "
                + "(%lld refused or unanswered, %d late), %lld rounds overran",
            wall, accepted, expected, missed, failed, late, overruns))
        print(String(
            format: "fleet: engine CPU %.2f cores, custodian host %.2f cores; heartbeat delay from its round's start "
                + "p50 %.0f ms, p99 %.0f ms, max %.0f ms", engineCores, hostCores, percentile(0.5), percentile(0.99),
            delays.last.map { Double($0) / 1e6 } ?? 0))
        let name = "attestation fleet: \(custodians) custodians at a \(Int(interval / .seconds(1))) s heartbeat"
        return [
            row("\(name), engine CPU", engineCores, "cores", goal: "< 1 core", p50: nil, p99: nil),
            row("\(name), missed deadlines in \(Int(wall)) s", Double(missed), "heartbeats", goal: "0 missed",
                p50: percentile(0.5), p99: percentile(0.99)),
            row("\(name), heartbeats accepted in \(Int(wall)) s", Double(accepted), "heartbeats",
                goal: "measured, not judged", p50: nil, p99: nil, baseline: ("heartbeats due", expected)),
            row("\(name), custodian host CPU (software TPMs)", hostCores, "cores", goal: "measured, not judged",
                p50: nil, p99: nil),
            row("\(name), ring creation (admission and DKG of every custodian)", creation / .seconds(1), "s",
                goal: "measured, not judged", p50: nil, p99: nil),
        ]
    }

    struct Snapshot {
        let wall: Double
        let engineCPU: Double
        let hostCPU: Double
        let delays: Int
        let outcomes: [String: Int64]
        let overruns: Int64
    }

    static func snapshot(_ metrics: RecordingMetrics, host: HostProcess) -> Snapshot {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let engineCPU = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        var outcomes: [String: Int64] = [:]
        for outcome in ["accepted", "missed", "refused", "missed-kept-stale"] {
            outcomes[outcome] = metrics.counter("keyshard_heartbeats_total", [("outcome", outcome)])
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Snapshot(
            wall: Double(now.tv_sec) + Double(now.tv_nsec) / 1e9, engineCPU: engineCPU, hostCPU: processCPU(host.pid),
            delays: metrics.timer("keyshard_heartbeat_delay_seconds").count, outcomes: outcomes,
            overruns: metrics.counter("keyshard_heartbeat_rounds_overrun_total"))
    }

    /// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15).
    static func processCPU(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    static func row(
        _ name: String, _ value: Double, _ unit: String, goal: String, p50: Double?, p99: Double?,
        baseline: (String, Double)? = nil
    ) -> [String: Any] {
        var row: [String: Any] = [
            "name": name, "value": value, "unit": unit, "goal": goal,
            "baseline_name": baseline?.0 ?? "none", "baseline_value": baseline?.1 ?? 0,
            "ratio": baseline.map { $0.1 > 0 ? value / $0.1 : 0 } ?? 0,
        ]
        if let p50 { row["p50_ms"] = p50 }
        if let p99 { row["p99_ms"] = p99 }
        return row
    }
}
