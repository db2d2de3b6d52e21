import Foundation
import Histogram
import KeyshardAPI
import KeyshardClient
import ShardCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// `make bench`'s end-to-end rows: threshold decryption and FROST signing through the whole path
/// a user's request takes (client library → Unix socket → keyshardd → t agents → back), on the
/// process backend, for 2-of-3 and 3-of-5 rings and 1, 16 and 64 concurrent clients, each client
/// with its own connection. Next to them, measured in the same run on the same machine, the
/// single-key operation each replaces in one process: HPKE open with the whole key, and OpenSSL's
/// ECDSA P-256 sign. Latencies go into HdrHistogram (µs, 3 significant digits); the rows are
/// printed and written to `bench/results.json` beside earlier runs' shape, never judged.
///
/// Also, in the same run: the coordinator's compute alone (verify t DLEQ proofs in one batch,
/// interpolate, finish HPKE; and FROST's t signers plus aggregation in one process, the shape of
/// the ZF peer's rows) for 2-of-3 … 5-of-9; the end-to-end rows at 16 clients for 4-of-7 and 5-of-9
/// (how they grow with t and n); and the resident memory of keyshardd holding 10 rings of 5
/// custodians, and of one agent.
///
///   EndToEnd BIN_DIR [RESULTS_JSON]     (BIN_DIR holds keyshardd and keyshard-agent)
///   BENCH_SECONDS (default 5): how long each row runs; BENCH_CLIENTS (default "1,16,64");
///   BENCH_SCALING_CLIENTS (default 16): clients for the 4-of-7 and 5-of-9 rows;
///   BENCH_MEMORY_RINGS (default 10, 0 to skip): rings of 5 for the memory rows;
///   BENCH_PEERS: the peers' rows from scripts/bench-peers (default: peers.json beside RESULTS_JSON);
///   BENCH_LIBVIRT_IMAGE: a custodian image directory; when set (make bench does, as root), a second
///   keyshardd on the libvirt backend times key creation and ring rotation for 3 and 5 custodian VMs,
///   and custodian-benchmark's rows (custodians.json beside RESULTS_JSON) are merged;
///   fleet-benchmark's rows (fleet.json beside RESULTS_JSON, the attestation fleet) are merged when present.
@main
struct EndToEnd {
    struct Row: Codable {
        let name: String
        let value: Double
        let unit: String
        let p50_ms: Double?
        let p99_ms: Double?
        let baseline_name: String
        let baseline_value: Double
        let ratio: Double
        let goal: String
    }

    struct Results: Encodable {
        struct Machine: Encodable {
            let cpu: String
            let cores: Int
            let kernel: String
        }
        let machine: Machine
        let date: String
        let seconds_per_row: Double
        let results: [Row]
    }

    /// A row of scripts/bench-peers.
    struct Peer: Decodable {
        let name: String
        let value: Double
        let unit: String
    }

    struct Measurement {
        let operations: Int
        let seconds: Double
        let histogram: Histogram<UInt64>
        var perSecond: Double { Double(operations) / seconds }
        var p50: Double { Double(histogram.valueAtPercentile(50)) / 1000 }
        var p99: Double { Double(histogram.valueAtPercentile(99)) / 1000 }
    }

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let bin = arguments.first else {
            FileHandle.standardError.write(Data("usage: EndToEnd BIN_DIR [RESULTS_JSON]\n".utf8))
            exit(64)
        }
        let output = arguments.dropFirst().first ?? "bench/results.json"
        let environment = ProcessInfo.processInfo.environment
        let seconds = Double(environment["BENCH_SECONDS"] ?? "") ?? 5
        let clientCounts = (environment["BENCH_CLIENTS"] ?? "1,16,64").split(separator: ",").compactMap { Int($0) }
        let machine = Results.Machine(cpu: cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount, kernel: kernel())
        print("machine: \(machine.cpu), \(machine.cores) cores, Linux \(machine.kernel); \(seconds) s per row")

        // Baselines, one process, one task: what a single-key KMS would do per request.
        let wholeKey = Scalar.random()
        let info = Array("bench".utf8)
        let sealedToWholeKey = try ThresholdHPKE.seal(
            plaintext: Array(repeating: 0x42, count: 32), to: .generatorMultiple(wholeKey), info: info)
        let hpkeOpen = measureLocally(seconds: seconds) {
            _ = try ThresholdHPKE.open(ciphertext: sealedToWholeKey, privateKey: wholeKey, info: info)
        }
        let ecdsaKey = LibcryptoReferenceKey()
        let message = Array("a 32-byte message to be signed..".utf8)
        let ecdsaSign = measureLocally(seconds: seconds) { _ = try ecdsaKey.sign(message) }
        print(String(format: "baseline  single-key HPKE open (keyshard's HPKE, one core): %.0f ops/s", hpkeOpen.perSecond))
        print(String(format: "baseline  OpenSSL ECDSA P-256 sign (one core): %.0f ops/s", ecdsaSign.perSecond))

        var rows: [Row] = []
        let sizes = [(2, 3), (3, 5), (4, 7), (5, 9)]
        for (threshold, shares) in sizes {
            let compute = try coordinatorCompute(threshold: threshold, shares: shares, seconds: seconds)
            rows.append(
                Row(
                    name: "threshold decrypt, coordinator compute only, \(threshold)-of-\(shares)",
                    value: compute.perSecond, unit: "ops/s", p50_ms: compute.p50, p99_ms: compute.p99,
                    baseline_name: "single-key HPKE open, one process", baseline_value: hpkeOpen.perSecond,
                    ratio: compute.perSecond / hpkeOpen.perSecond,
                    goal: ">= 0.25x single-key open (verify t proofs in one batch, combine, finish HPKE)"))
            print(rows.last!.line)
        }
        for (threshold, shares) in sizes {
            let frost = try frostInOneProcess(threshold: threshold, shares: shares, seconds: seconds)
            rows.append(
                Row(
                    name: "keyshard FROST sign and aggregate, \(threshold)-of-\(shares), one process", value: frost.perSecond,
                    unit: "ops/s", p50_ms: frost.p50, p99_ms: frost.p99, baseline_name: "OpenSSL ECDSA P-256 sign, one process",
                    baseline_value: ecdsaSign.perSecond, ratio: frost.perSecond / ecdsaSign.perSecond,
                    goal: "faster than ZF frost-p256 (frost_rs) for the same t-of-n"))
            print(rows.last!.line)
        }

        let daemon = try Daemon(bin: bin)
        defer { daemon.stop() }
        let admin = KeyshardClient(socketPath: daemon.socket)
        let scalingClients = Int(environment["BENCH_SCALING_CLIENTS"] ?? "") ?? 16
        for (threshold, shares) in sizes {
            let ring = "\(threshold)-of-\(shares)"
            _ = try await admin.createKey("bench-hpke-\(ring)", type: .hpkeP256, threshold: threshold, shares: shares)
            _ = try await admin.createKey("bench-frost-\(ring)", type: .frostP256, threshold: threshold, shares: shares)
            let ciphertext = try await admin.encrypt(
                "bench-hpke-\(ring)", plaintext: SecretBytes(Array(repeating: 0x42, count: 32)))
            for clients in threshold <= 3 ? clientCounts : [scalingClients] {
                let decrypt = try await measureThroughDaemon(socket: daemon.socket, clients: clients, seconds: seconds) {
                    client in _ = try await client.decrypt("bench-hpke-\(ring)", ciphertext: ciphertext)
                }
                rows.append(
                    Row(
                        name: "threshold decrypt end to end, \(ring), \(clients) clients", value: decrypt.perSecond,
                        unit: "ops/s", p50_ms: decrypt.p50, p99_ms: decrypt.p99,
                        baseline_name: "single-key HPKE open, one process", baseline_value: hpkeOpen.perSecond,
                        ratio: decrypt.perSecond / hpkeOpen.perSecond,
                        goal: ">= 0.1x baseline throughput; p99 <= 5 ms at 16 clients"))
                print(rows.last!.line)
                let sign = try await measureThroughDaemon(socket: daemon.socket, clients: clients, seconds: seconds) {
                    client in _ = try await client.sign("bench-frost-\(ring)", message: message)
                }
                rows.append(
                    Row(
                        name: "FROST sign end to end, \(ring), \(clients) clients", value: sign.perSecond, unit: "ops/s",
                        p50_ms: sign.p50, p99_ms: sign.p99, baseline_name: "OpenSSL ECDSA P-256 sign, one process",
                        baseline_value: ecdsaSign.perSecond, ratio: sign.perSecond / ecdsaSign.perSecond,
                        goal: ">= 0.05x ECDSA throughput; p99 <= 10 ms"))
                print(rows.last!.line)
            }
        }
        // Memory: keyshardd with BENCH_MEMORY_RINGS rings of 5 custodians (one key each), and one agent.
        let memoryRings = Int(environment["BENCH_MEMORY_RINGS"] ?? "") ?? 10
        if memoryRings > 0 {
            for index in 0..<memoryRings {
                _ = try await admin.createKey("bench-memory-\(index)", type: .hpkeP256, ring: "memory-\(index)", threshold: 3, shares: 5)
            }
            let custodians = try await admin.custodians().count
            let daemonRSS = residentMiB(pid: daemon.pid)
            let agents = childAgents(of: daemon.pid)
            let agentRSS = agents.map { residentMiB(pid: $0) }
            let meanAgent = agentRSS.isEmpty ? 0 : agentRSS.reduce(0, +) / Double(agentRSS.count)
            rows.append(
                Row(
                    name: "keyshardd resident memory, \(memoryRings) rings x 5 custodians (+ \(custodians - 5 * memoryRings) bench custodians)",
                    value: daemonRSS, unit: "MiB", p50_ms: nil, p99_ms: nil, baseline_name: "none", baseline_value: 0, ratio: 0,
                    goal: "measured, not judged"))
            print(rows.last!.line)
            rows.append(
                Row(
                    name: "keyshard-agent resident memory, mean of \(agentRSS.count) (process backend)", value: meanAgent,
                    unit: "MiB", p50_ms: nil, p99_ms: nil, baseline_name: "none", baseline_value: 0, ratio: 0,
                    goal: "measured, not judged"))
            print(rows.last!.line)
        }
        try await admin.shutdown()

        // Custodian VMs: create-to-ready against the boot floor (custodian-benchmark, run just before),
        // and through keyshardd on the libvirt backend, key creation and ring rotation.
        if let image = environment["BENCH_LIBVIRT_IMAGE"], !image.isEmpty {
            let custodiansPath = (output as NSString).deletingLastPathComponent + "/custodians.json"
            if let data = FileManager.default.contents(atPath: custodiansPath),
                let measured = try? JSONDecoder().decode([Row].self, from: data)
            {
                for row in measured {
                    rows.append(row)
                    print(row.line)
                }
            }
            let vms = try Daemon(bin: bin, extraArguments: ["--backend", "libvirt", "--image-dir", image])
            defer { vms.stop() }
            let client = KeyshardClient(socketPath: vms.socket, requestTimeout: .seconds(900))
            for (threshold, shares) in [(2, 3), (3, 5)] {
                let ring = "vm-\(threshold)-of-\(shares)"
                let clock = ContinuousClock()
                let created = try await clock.measure {
                    _ = try await client.createKey("bench-vm-\(ring)", ring: ring, threshold: threshold, shares: shares)
                }
                let rotated = try await clock.measure { _ = try await client.rotateRing(ring) }
                for (what, duration) in [("key create on a new ring (boots, attestation, DKG)", created), ("ring rotation", rotated)] {
                    rows.append(
                        Row(
                            name: "libvirt backend: \(what), \(shares) custodian VMs", value: duration / .seconds(1), unit: "s",
                            p50_ms: nil, p99_ms: nil, baseline_name: "none", baseline_value: 0, ratio: 0,
                            goal: "measured, not judged"))
                    print(rows.last!.line)
                }
            }
            try await client.shutdown()
        }

        // The attestation fleet (fleet-benchmark, run just before): one engine heart-beating a
        // thousand software custodians.
        let fleetPath = (output as NSString).deletingLastPathComponent + "/fleet.json"
        if let data = FileManager.default.contents(atPath: fleetPath),
            let measured = try? JSONDecoder().decode([Row].self, from: data)
        {
            for row in measured {
                rows.append(row)
                print(row.line)
            }
        } else {
            print("no attestation fleet rows (\(fleetPath) missing: fleet-benchmark --json makes it)")
        }

        // Quote verification (attestation-benchmark, run just before): keyshard's verifier against a
        // bare ECDSA verify in the same run; the quote peers below are set against keyshard's verifier.
        let benchDirectory = (output as NSString).deletingLastPathComponent
        let attestationPath = environment["BENCH_ATTESTATION"] ?? (benchDirectory + "/attestation.json")
        var quoteRate: Double?
        if let data = FileManager.default.contents(atPath: attestationPath),
            let measured = try? JSONDecoder().decode([Peer].self, from: data),
            let bare = measured.first(where: { $0.name.contains("bare ECDSA") }),
            let keyshard = measured.first(where: { $0.name.contains("keyshard quote") })
        {
            quoteRate = keyshard.value
            rows.append(
                Row(
                    name: keyshard.name, value: keyshard.value, unit: keyshard.unit, p50_ms: nil, p99_ms: nil,
                    baseline_name: bare.name, baseline_value: bare.value, ratio: keyshard.value / bare.value,
                    goal: ">= 0.9x bare ECDSA verify"))
            print(rows.last!.line)
        } else {
            print("no quote rows (\(attestationPath) missing: attestation-benchmark --json makes it)")
        }

        // The peers' rows (scripts/bench-peers, run just before), on the same baselines.
        let peersPath = environment["BENCH_PEERS"] ?? (benchDirectory + "/peers.json")
        if let data = FileManager.default.contents(atPath: peersPath),
            let peers = try? JSONDecoder().decode([Peer].self, from: data)
        {
            for peer in peers {
                if peer.unit == "quotes/s" {
                    guard let quoteRate else { continue }
                    rows.append(
                        Row(
                            name: "peer: " + peer.name, value: peer.value, unit: peer.unit, p50_ms: nil, p99_ms: nil,
                            baseline_name: "keyshard quote verification (full policy), one core", baseline_value: quoteRate,
                            ratio: peer.value / quoteRate, goal: "keyshard >= 2.5x Keylime (ratio <= 0.4)"))
                    print(rows.last!.line)
                    continue
                }
                let hpke = peer.name.contains("HPKE")
                let baseline = hpke ? hpkeOpen.perSecond : ecdsaSign.perSecond
                rows.append(
                    Row(
                        name: "peer: " + peer.name, value: peer.value, unit: peer.unit, p50_ms: nil, p99_ms: nil,
                        baseline_name: hpke ? "single-key HPKE open, one process" : "OpenSSL ECDSA P-256 sign, one process",
                        baseline_value: baseline, ratio: peer.value / baseline,
                        goal: hpke ? "keyshard's single-key open near this library's" : "keyshard's FROST compute faster than ZF's"))
                print(rows.last!.line)
            }
        } else {
            print("no peer rows (\(peersPath) missing: scripts/bench-peers makes it)")
        }

        let results = Results(
            machine: machine, date: ISO8601DateFormatter().string(from: Date()), seconds_per_row: seconds, results: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let directory = (output as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try encoder.encode(results).write(to: URL(fileURLWithPath: output))
        print("wrote \(output)")
    }

    /// What the coordinator computes for one decryption once t partials are in: one batch check
    /// of their DLEQ proofs against the version's cached public shares, the interpolation and
    /// HPKE's key schedule and AEAD; the custodians' partials are made beforehand.
    static func coordinatorCompute(threshold: Int, shares count: Int, seconds: Double) throws -> Measurement {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: threshold, participants: count)
        let publicShares = ThresholdHPKE.PublicShares(commitment: commitment, participants: shares.map(\.id))
        let info = Array("bench".utf8)
        let context = Array("bench request".utf8)
        let ciphertext = try ThresholdHPKE.seal(plaintext: Array(repeating: 0x42, count: 32), to: commitment.publicKey, info: info)
        let partials = try shares.prefix(threshold).map {
            try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: $0, context: context)
        }
        return measureLocally(seconds: seconds) {
            let verified = try ThresholdHPKE.verifyPartials(
                ciphertext: ciphertext, partials: partials, publicShares: publicShares, context: context)
            _ = try ThresholdHPKE.combine(ciphertext: ciphertext, verified: verified, threshold: threshold, info: info)
        }
    }

    /// FROST with every signer in this process, as the ZF peer is timed: t commitments, t
    /// signature shares, aggregation (which verifies the signature).
    static func frostInOneProcess(threshold: Int, shares count: Int, seconds: Double) throws -> Measurement {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: threshold, participants: count)
        let publicShares = ThresholdHPKE.PublicShares(commitment: commitment, participants: shares.map(\.id)).shares
        let signers = Array(shares.prefix(threshold))
        let message = Array("a 32-byte message to be signed..".utf8)
        return measureLocally(seconds: seconds) {
            let rounds = signers.map { FROST.commit(share: $0) }
            let commitments = rounds.map(\.1)
            let signatureShares = try zip(signers, rounds).map { share, round in
                try FROST.sign(
                    share: share, nonces: round.0, message: message, commitments: commitments,
                    groupPublicKey: commitment.publicKey)
            }
            _ = try FROST.aggregate(
                shares: signatureShares, message: message, commitments: commitments, groupPublicKey: commitment.publicKey,
                publicShares: publicShares)
        }
    }

    /// VmRSS of a process, MiB.
    static func residentMiB(pid: Int32) -> Double {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib / 1024
    }

    /// The keyshard-agent processes among `pid`'s descendants.
    static func childAgents(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var parents: [Int32: Int32] = [:]
        var names: [Int32: String] = [:]
        for entry in entries {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            names[child] = String(stat[stat.index(after: open)..<close])
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, let parent = Int32(fields[1]) { parents[child] = parent }
        }
        func descends(_ process: Int32) -> Bool {
            var current = process
            for _ in 0..<16 {
                guard let parent = parents[current] else { return false }
                if parent == pid { return true }
                current = parent
            }
            return false
        }
        return names.filter { $0.value.hasPrefix("keyshard-agent") && descends($0.key) }.map(\.key)
    }

    /// Runs `body` back to back on this task for `seconds`.
    static func measureLocally(seconds: Double, _ body: () throws -> Void) -> Measurement {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        var operations = 0
        while clock.now < end {
            let began = clock.now
            do { try body() } catch { fatalError("baseline failed: \(error)") }
            _ = histogram.record(UInt64(max(0, (clock.now - began) / .nanoseconds(1))) / 1000)
            operations += 1
        }
        return Measurement(operations: operations, seconds: (clock.now - start) / .seconds(1), histogram: histogram)
    }

    /// `clients` tasks, each with its own client (its own connection), calling `body` back to back
    /// for `seconds`; every failure counts and is reported.
    static func measureThroughDaemon(
        socket: String, clients: Int, seconds: Double, _ body: @escaping @Sendable (KeyshardClient) async throws -> Void
    ) async throws -> Measurement {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        let perClient = try await withThrowingTaskGroup(of: (Int, Histogram<UInt64>).self) { group in
            for _ in 0..<clients {
                group.addTask {
                    let client = KeyshardClient(socketPath: socket, requestTimeout: .seconds(60))
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var operations = 0
                    do {
                        while clock.now < end {
                            let began = clock.now
                            try await body(client)
                            _ = histogram.record(UInt64(max(0, (clock.now - began) / .nanoseconds(1))) / 1000)
                            operations += 1
                        }
                    } catch {
                        try? await client.shutdown()
                        throw error
                    }
                    try await client.shutdown()
                    return (operations, histogram)
                }
            }
            var results: [(Int, Histogram<UInt64>)] = []
            for try await result in group { results.append(result) }
            return results
        }
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for (_, histogram) in perClient { merged.add(histogram) }
        return Measurement(
            operations: perClient.reduce(0) { $0 + $1.0 }, seconds: (clock.now - start) / .seconds(1), histogram: merged)
    }

    static func cpuModel() -> String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) }
            ?? "unknown"
    }

    static func kernel() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

extension EndToEnd.Row {
    var line: String {
        (name.count < 60 ? name.padding(toLength: 60, withPad: " ", startingAt: 0) : name)
            + String(
                format: " %9.0f %@ ", value, unit as NSString)
            + (p50_ms.map { String(format: " p50 %7.2f ms  p99 %7.2f ms ", $0, p99_ms ?? 0) } ?? String(repeating: " ", count: 30))
            + String(format: " %6.3fx ", ratio) + baseline_name
    }
}

/// A `keyshardd --dev` (process backend) in a scratch directory, stopped (custodians destroyed) at the end.
final class Daemon {
    let directory: String
    let socket: String
    private let process: Process
    var pid: Int32 { process.processIdentifier }

    init(bin: String, extraArguments: [String] = []) throws {
        directory = "/tmp/ks-bench-\(UUID().uuidString.prefix(8))"
        // 0755: with VMs, QEMU (libvirt-qemu) must pass through to the staged image and sockets.
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        socket = directory + "/keyshard.sock"
        process = Process()
        process.executableURL = URL(fileURLWithPath: bin + "/keyshardd")
        process.arguments = ["--dev", "--state-dir", directory + "/state", "--socket", socket] + extraArguments
        FileManager.default.createFile(atPath: directory + "/keyshardd.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/keyshardd.log"))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<300 {
            if FileManager.default.fileExists(atPath: socket) { return }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        throw NSError(domain: "EndToEnd", code: 1, userInfo: [NSLocalizedDescriptionKey: "keyshardd did not start; see \(directory)/keyshardd.log"])
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()  // SIGTERM: --dev destroys its custodians
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
