import Attestation
import Coordinator
import CustodianBackend
import Foundation
import LoadAgent
import Synchronization

/// The parent's side of ``FleetHost``: the child process, one request line out and one answer
/// line back per request, matched by request number.
final class HostProcess: Sendable {
    private let process: Process
    private let input: FileHandle
    private let pending = Mutex<(next: Int, waiters: [Int: CheckedContinuation<String, any Error>])>((1, [:]))
    /// The software EK CA's root certificate file, which the host wrote.
    let rootPath: String

    /// Starts `executable host directory` and waits for its first line.
    init(executable: String, directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["host", directory]
        let toHost = Pipe()
        let fromHost = Pipe()
        process.standardInput = toHost
        process.standardOutput = fromHost
        try process.run()
        self.process = process
        input = toHost.fileHandleForWriting
        let reader = LineReader(fromHost.fileHandleForReading)
        guard let first = reader.next(), first.hasPrefix("0 ok ") else {
            process.terminate()
            throw FleetError("the fleet host did not start (see its standard error)")
        }
        rootPath = String(first.dropFirst(5))
        Thread.detachNewThread { [self] in
            while let line = reader.next() {
                let words = line.split(separator: " ", maxSplits: 2).map(String.init)
                guard words.count >= 2, let id = Int(words[0]) else { continue }
                let waiter = pending.withLock { $0.waiters.removeValue(forKey: id) }
                if words[1] == "ok" {
                    waiter?.resume(returning: words.count > 2 ? words[2] : "")
                } else {
                    waiter?.resume(throwing: FleetError(words.count > 2 ? words[2] : "the host failed"))
                }
            }
            let orphans = pending.withLock { state in
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            for waiter in orphans { waiter.resume(throwing: FleetError("the fleet host exited")) }
        }
    }

    /// The host's process id.
    var pid: Int32 { process.processIdentifier }

    /// Sends one request and returns the text after `ok`.
    func request(_ words: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let id = pending.withLock { state in
                defer { state.next += 1 }
                state.waiters[state.next] = continuation
                return state.next
            }
            input.write(Data("\(id) \(words)\n".utf8))
        }
    }

    /// Closes the host's standard input (it destroys every custodian and exits) and waits for it.
    func stop() {
        try? input.close()
        process.waitUntilExit()
    }
}

/// Lines of a pipe, read on the calling thread.
final class LineReader: @unchecked Sendable {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    init(_ handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                defer { buffer.removeSubrange(...newline) }
                return String(decoding: buffer[..<newline], as: UTF8.self)
            }
            let chunk = handle.availableData
            guard !chunk.isEmpty else { return nil }
            buffer += chunk
        }
    }
}

/// A custodian backend whose custodians are the host's software custodians: what keyshardd's
/// process and libvirt backends do for real (start, discover, destroy), without a process or VM
/// per custodian. Its policy trusts only the host's software EK CA.
final class FleetBackend: CustodianBackend {
    let kind = "fleet"
    private let host: HostProcess
    private let rootPEM: String
    private let records = Mutex<[String: CustodianRecord]>([:])
    let events: AsyncStream<BackendEvent>

    init(host: HostProcess) throws {
        self.host = host
        rootPEM = try String(contentsOfFile: host.rootPath, encoding: .utf8)
        events = AsyncStream { _ in }
    }

    func endorsementRootsPEM() throws(BackendError) -> [String] { [rootPEM] }

    func attestationPolicy(for pins: CustodianPins) throws(BackendError) -> AttestationPolicy {
        let zeros = [UInt8](repeating: 0, count: 32)
        return AttestationPolicy(
            name: "fleet-benchmark",
            summary: "software custodians of the fleet benchmark (sha256 PCRs 0, 4 and 9 zero, EKs from its own CA)",
            pcrBank: .sha256, allowedPCRValues: [0: [zeros], 4: [zeros], 9: [zeros]], ekRoots: [host.rootPath])
    }

    func launch(_ request: LaunchRequest) async throws(BackendError) -> CustodianRecord {
        let id = "f\(request.generation)-\(request.slot)"
        let digests = request.pins.endorsementRootDigests.map(Hex.encode).joined(separator: ",")
        let path: String
        do {
            path = try await host.request(
                "launch \(id) \(Hex.encode(request.pins.coordinatorKey.compressed)) \(request.pins.minimumThreshold) \(digests)")
        } catch {
            throw BackendError(.launchFailed, "the fleet host could not start \(id): \(error)")
        }
        let record = CustodianRecord(
            backendID: id, host: "localhost", ring: request.ring, slot: request.slot, generation: request.generation,
            transport: "unix:\(path)", launchedAt: Date())
        records.withLock { $0[id] = record }
        return record
    }

    func discover() async throws(BackendError) -> [CustodianRecord] { records.withLock { Array($0.values) } }

    func destroy(_ record: CustodianRecord) async throws(BackendError) {
        do { _ = try await host.request("destroy \(record.backendID)") } catch {
            throw BackendError(.destroyFailed, "the fleet host could not destroy \(record.backendID): \(error)")
        }
        _ = records.withLock { $0.removeValue(forKey: record.backendID) }
    }

    func monitor() async {
        // The host's custodians never stop on their own; wait until the engine stops.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
