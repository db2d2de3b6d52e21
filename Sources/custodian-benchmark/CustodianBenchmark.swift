import AgentProtocol
import Attestation
import Coordinator
import Foundation
import Hypervisor

// Create-to-agent-ready time of a real custodian next to the bare boot floor of the same image.
//
//   floor:  `virsh create` of the same domain XML, until /init logs that it starts the agent
//           (firmware, kernel, modules: what any VM with this image pays, no keyshard code)
//   keyshard: CustodianLauncher.launch until the AK is tied to the EK (create, device audit,
//           virtio-serial connect, agent start, EK and AK creation in the vTPM, quote, policy
//           check, MakeCredential/ActivateCredential)
//
// Run as root after `make image`: swift run -c release custodian-benchmark [IMAGE_DIR] [RUNS] [--json FILE]
// (`make bench` does, and Benchmarks/EndToEnd merges FILE's rows into bench/results.json). Under
// TCG (no KVM here) both numbers are dominated by emulation.

@main
enum CustodianBenchmark {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var jsonPath: String?
        if let index = arguments.firstIndex(of: "--json"), index + 1 < arguments.count {
            jsonPath = arguments[index + 1]
            arguments.removeSubrange(index...(index + 1))
        }
        let imageDirectory = arguments.first ?? "vm-images/out"
        let runs = arguments.dropFirst().first.flatMap(Int.init) ?? 3
        guard getuid() == 0 else { fail("needs root (qemu:///system)") }
        let launcher: CustodianLauncher
        let state = "/tmp/keyshard-bench-\(getpid())"
        do {
            let image = try CustodianImage(directory: imageDirectory)
            let text = try String(contentsOfFile: imageDirectory + "/policy.yaml", encoding: .utf8)
            let policy = try AttestationPolicy(yaml: text, source: imageDirectory + "/policy.yaml")
            try FileManager.default.createDirectory(
                atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let connection = try Connection(uri: "qemu:///system")
            launcher = CustodianLauncher(
                connection: connection, image: image, attestor: CustodianAttestor(policy: policy, identity: CoordinatorIdentity()),
                configuration: .init(stateDirectory: state))
        } catch {
            fail("\(error) (build the image with `make image`; scripts/start-libvirt starts libvirtd)")
        }
        defer { try? FileManager.default.removeItem(atPath: state) }
        var samples = Samples()
        for run in 1...runs {
            do {
                try await measure(run: run, launcher: launcher, state: state, into: &samples)
            } catch {
                fail("run \(run): \(error)")
            }
        }
        samples.report(memoryMiB: launcher.image.memoryMiB, runs: runs)
        if let jsonPath {
            do {
                try samples.json(runs: runs).write(toFile: jsonPath, atomically: true, encoding: .utf8)
                print("wrote \(jsonPath)")
            } catch {
                fail("cannot write \(jsonPath): \(error)")
            }
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("custodian-benchmark: \(message)\n".utf8))
        exit(1)
    }

    struct Samples {
        var floors: [Double] = []
        var creates: [Double] = []
        var boots: [Double] = []
        var attests: [Double] = []
        var readies: [Double] = []
        /// The agent's peak RSS in the guest after admission (VmHWM, which it logs on the console), MiB.
        var agentPeakMiB: [Double] = []

        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

        /// The medians as result rows (name, value, unit, baseline, goal) for bench/results.json.
        func json(runs: Int) throws -> String {
            let floor = median(floors)
            let rows: [[String: Any]] = [
                [
                    "name": "libvirt custodian: create to attested, ready for its share (median of \(runs))",
                    "value": median(readies), "unit": "s",
                    "baseline_name": "bare virsh create of the same domain until /init starts the agent (boot floor)",
                    "baseline_value": floor, "ratio": median(readies) / floor, "goal": "<= 1.3x the boot floor",
                ],
                [
                    "name": "libvirt custodian: attestation ceremony (quote, policy, EK chain, credential activation)",
                    "value": median(attests), "unit": "s", "baseline_name": "bare boot floor", "baseline_value": floor,
                    "ratio": median(attests) / floor, "goal": "measured, not judged",
                ],
            ]
            let memory: [[String: Any]] = agentPeakMiB.isEmpty ? [] : [
                [
                    "name": "memory: agent peak RSS inside the custodian VM after admission (median of \(agentPeakMiB.count))",
                    "value": median(agentPeakMiB), "unit": "MiB", "baseline_name": "none", "baseline_value": 0,
                    "ratio": 0, "goal": "measured, not judged",
                ],
            ]
            let data = try JSONSerialization.data(withJSONObject: rows + memory, options: [.prettyPrinted, .sortedKeys])
            return String(decoding: data, as: UTF8.self) + "\n"
        }

        func report(memoryMiB: Int, runs: Int) {
            print("")
            print("| custodian start (qemu:///system, TCG, \(memoryMiB) MiB, \(runs) runs, medians) | seconds |")
            print("|---|---|")
            print(String(format: "| bare `virsh create` until /init starts the agent (boot floor) | %.1f |", median(floors)))
            print(String(format: "| keyshard: virDomainCreateXML returns | %.2f |", median(creates)))
            print(String(format: "| keyshard: … until the agent answers (boot, agent start, EK/AK in the vTPM) | %.1f |",
                         median(boots)))
            print(String(format: "| keyshard: attestation ceremony (quote, policy, EK chain, credential activation) | %.2f |",
                         median(attests)))
            print(String(format: "| keyshard: create to agent ready, total | %.1f |", median(readies)))
            print(String(format: "| keyshard overhead over the floor | %.1f |", median(readies) - median(floors)))
            if !agentPeakMiB.isEmpty {
                print(String(format: "| agent peak RSS in the guest after admission (MiB) | %.1f |", median(agentPeakMiB)))
            }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func measure(run: Int, launcher: CustodianLauncher, state: String, into samples: inout Samples) async throws {
        samples.floors.append(try bootFloor(run: run, launcher: launcher, state: state))
        let identity = try CustodianIdentity(ring: "bench", shareIndex: UInt16(run), epoch: 1)
        let launched = try await launcher.launch(identity)
        samples.creates.append(seconds(launched.timings.create))
        samples.boots.append(seconds(launched.timings.boot))
        samples.attests.append(seconds(launched.timings.attest))
        samples.readies.append(seconds(launched.timings.total))
        // The agent logs its VmRSS/VmHWM when the credential activated (the end of its admission);
        // the console file may lag the guest by a moment.
        let deadline = ContinuousClock.now + .seconds(10)
        var peak: Int?
        while peak == nil, ContinuousClock.now < deadline {
            peak = agentPeakKiB(in: launched.consoleLog)
            if peak == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        if let peak {
            samples.agentPeakMiB.append(Double(peak) / 1024)
        } else {
            print("run \(run): the console has no agent memory line; its end:\n"
                + launched.consoleLog.split(separator: "\n").suffix(8).joined(separator: "\n"))
        }
        try await launched.retire()
        print(String(format: "run %d: floor %.1f s, keyshard create-to-agent-ready %.1f s",
                     run, samples.floors.last!, samples.readies.last!))
    }

    /// The `peakRssKiB=` of the agent's "credential activated" console line.
    static func agentPeakKiB(in console: String) -> Int? {
        for line in console.split(separator: "\n") where line.contains("credential activated") {
            guard let range = line.range(of: "peakRssKiB=") else { continue }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    /// Seconds from `virsh create` until the console shows the agent being started.
    static func bootFloor(run: Int, launcher: CustodianLauncher, state: String) throws -> Double {
        let identity = try CustodianIdentity(ring: "bench-floor", shareIndex: UInt16(run), epoch: 1)
        let spec = try launcher.spec(for: identity)
        let directory = state + "/" + spec.name
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let xmlPath = directory + ".xml"
        try spec.domainXML().write(toFile: xmlPath, atomically: true, encoding: .utf8)
        let virsh = Process()
        virsh.executableURL = URL(fileURLWithPath: "/usr/bin/virsh")
        virsh.arguments = ["-q", "-c", "qemu:///system", "create", xmlPath]
        virsh.standardOutput = FileHandle.nullDevice
        virsh.standardInput = FileHandle.nullDevice
        let start = Date()
        try virsh.run()
        virsh.waitUntilExit()
        guard virsh.terminationStatus == 0 else { throw CoordinatorError(.hypervisorFailed, "virsh create failed") }
        defer { try? launcher.connection.domain(named: spec.name)?.destroy() }
        while Date().timeIntervalSince(start) < 300 {
            if let log = try? String(contentsOfFile: directory + "/console.log", encoding: .utf8),
               log.contains("keyshard-init: starting keyshard-agent") {
                return Date().timeIntervalSince(start)
            }
            usleep(50_000)
        }
        throw CoordinatorError(.agentUnreachable, "no agent start on the console after 300 s")
    }
}
