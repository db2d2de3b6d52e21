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
// Run as root after `make image`: swift run -c release custodian-benchmark [IMAGE_DIR] [RUNS]
// (`make bench` does). Under TCG (no KVM here) both numbers are dominated by emulation.

let arguments = CommandLine.arguments.dropFirst()
let imageDirectory = arguments.first ?? "vm-images/out"
let runs = arguments.dropFirst().first.flatMap(Int.init) ?? 3

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("custodian-benchmark: \(message)\n".utf8))
    exit(1)
}

guard getuid() == 0 else { fail("needs root (qemu:///system)") }
let image: CustodianImage
let policy: AttestationPolicy
do {
    image = try CustodianImage(directory: imageDirectory)
    let text = try String(contentsOfFile: imageDirectory + "/policy.yaml", encoding: .utf8)
    policy = try AttestationPolicy(yaml: text, source: imageDirectory + "/policy.yaml")
} catch {
    fail("\(error) (build the image with `make image`)")
}
let state = "/tmp/keyshard-bench-\(getpid())"
try? FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true,
                                         attributes: [.posixPermissions: 0o755])
defer { try? FileManager.default.removeItem(atPath: state) }
let connection: Connection
do {
    connection = try Connection(uri: "qemu:///system")
} catch {
    fail("cannot open qemu:///system: \(error) (scripts/start-libvirt starts libvirtd)")
}
let launcher = CustodianLauncher(
    connection: connection, image: image, attestor: CustodianAttestor(policy: policy),
    configuration: .init(stateDirectory: state))

/// Seconds from `virsh create` until the console shows the agent being started.
func bootFloor(run: Int) throws -> Double {
    let identity = try CustodianIdentity(ring: "bench-floor", shareIndex: UInt16(run), epoch: 1)
    let spec = launcher.spec(for: identity)
    let directory = state + "/" + spec.name
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                            attributes: [.posixPermissions: 0o755])
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
    defer { try? connection.domain(named: spec.name)?.destroy() }
    while Date().timeIntervalSince(start) < 300 {
        if let log = try? String(contentsOfFile: directory + "/console.log", encoding: .utf8),
           log.contains("keyshard-init: starting keyshard-agent") {
            return Date().timeIntervalSince(start)
        }
        usleep(50_000)
    }
    throw CoordinatorError(.agentUnreachable, "no agent start on the console after 300 s")
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

var floors: [Double] = []
var creates: [Double] = []
var boots: [Double] = []
var attests: [Double] = []
var readies: [Double] = []
for run in 1...runs {
    do {
        floors.append(try bootFloor(run: run))
        let identity = try CustodianIdentity(ring: "bench", shareIndex: UInt16(run), epoch: 1)
        let launched = try await launcher.launch(identity)
        creates.append(seconds(launched.timings.create))
        boots.append(seconds(launched.timings.boot))
        attests.append(seconds(launched.timings.attest))
        readies.append(seconds(launched.timings.total))
        await launched.retire()
        print(String(format: "run %d: floor %.1f s, keyshard create-to-agent-ready %.1f s", run, floors.last!, readies.last!))
    } catch {
        fail("run \(run): \(error)")
    }
}
print("")
print("| custodian start (qemu:///system, TCG, \(image.memoryMiB) MiB, \(runs) runs, medians) | seconds |")
print("|---|---|")
print(String(format: "| bare `virsh create` until /init starts the agent (boot floor) | %.1f |", median(floors)))
print(String(format: "| keyshard: virDomainCreateXML returns | %.2f |", median(creates)))
print(String(format: "| keyshard: … until the agent answers (boot, agent start, EK/AK in the vTPM) | %.1f |", median(boots)))
print(String(format: "| keyshard: attestation ceremony (quote, policy, EK chain, credential activation) | %.2f |", median(attests)))
print(String(format: "| keyshard: create → device audit → agent attested, AK tied to EK | %.1f |", median(readies)))
print(String(format: "| keyshard overhead over the floor | %.1f |", median(readies) - median(floors)))
