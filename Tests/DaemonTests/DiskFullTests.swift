import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The state directory, or the audit log alone, on a file system that fills up: every operation
/// that must be logged is refused with a clear error, nothing already written is damaged, and
/// everything works again as soon as there is space.
@Suite("faults: full file systems", .serialized)
struct DiskFullTests {
    static let mountAllowed: Bool = {
        let probe = "/tmp/ks-mount-probe-\(UUID().uuidString.prefix(8))"
        guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard let mounted = try? ProcessRunner.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], timeout: 30),
              mounted.status == 0
        else { return false }
        _ = try? ProcessRunner.run("/usr/bin/umount", [probe], timeout: 30)
        return true
    }()

    static func mount(_ path: String, size: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try ProcessRunner.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", path], timeout: 30)
        guard mounted.status == 0 else { throw DaemonHarness.Failure(description: "mount: \(mounted.combinedOutput)") }
    }

    static func unmount(_ path: String) { _ = try? ProcessRunner.run("/usr/bin/umount", ["-l", path], timeout: 30) }

    /// Fills the file system of `directory` with one file; returns its path.
    static func fill(_ directory: String) throws -> String {
        let filler = directory + "/filler"
        let descriptor = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw DaemonHarness.Failure(description: "cannot create \(filler)") }
        let block = [UInt8](repeating: 0x55, count: 1 << 16)
        while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        // Whatever is left below a block.
        while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, 512) }) > 0 {}
        close(descriptor)
        return filler
    }

    /// The common course: a key and a ciphertext, the file system filled, operations refused
    /// clearly, space given back, everything working and intact.
    static func exercise(_ daemon: DaemonHarness, full directory: String, what: String) throws {
        _ = try daemon.ok(["key", "create", "k"])
        let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
        let filler = try fill(directory)

        let create = try daemon.cli(["key", "create", "n"], timeout: 120)
        #expect(create.status != 0, "a key was created with \(what) full")
        let decrypt = try daemon.cli(["decrypt", "k"], input: Array(ciphertext.utf8), timeout: 120)
        #expect(decrypt.status != 0, "a decryption ran although its audit record could not be written")
        let refusal = create.combinedOutput + decrypt.combinedOutput
        let clear = refusal.localizedCaseInsensitiveContains("space") || refusal.localizedCaseInsensitiveContains("audit")
        #expect(clear, "the refusal does not say why: \(refusal)")

        unlink(filler)
        let freed = ContinuousClock.now
        let recovered = try daemon.secondsUntilDecrypts("k", ciphertext, to: "old", since: freed, limit: .seconds(150))
        #expect(recovered != nil, "nothing decrypts after space came back")
        _ = try daemon.ok(["key", "create", "n"])
        let fresh = try daemon.ok(["encrypt", "--key", "n"], input: Array("new".utf8))
        #expect(try daemon.ok(["decrypt", "n"], input: Array(fresh.utf8)) == "new")
        let audit = try daemon.cli(["audit", "verify", daemon.auditPath])
        #expect(audit.status == 0, "\(audit.combinedOutput)")
        let integrity = try ProcessRunner.run(
            "/usr/bin/sqlite3", [daemon.stateDirectory + "/keyshard.sqlite", "PRAGMA integrity_check"], timeout: 60)
        #expect(integrity.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(integrity.combinedOutput)")
        ReliabilityReport.record(
            .fault, "\(what) full", held: create.status != 0 && decrypt.status != 0 && clear && recovered != nil
                && audit.status == 0 && integrity.standardOutput.hasPrefix("ok"),
            recoverySeconds: recovered,
            detail: "refused while full (\(create.combinedOutput.split(separator: "\n").first.map { String($0.prefix(110)) } ?? "")); "
                + "audit chain and SQLite intact")
    }

    @Test("the state directory full (store, audit log, custodians)", .enabled(if: mountAllowed, "needs root to mount a tmpfs"))
    func stateDirectoryFull() async throws {
        let daemon = DaemonHarness()
        try Self.mount(daemon.stateDirectory, size: "64m")
        defer {
            daemon.stop(signal: SIGTERM)
            Self.unmount(daemon.stateDirectory)
            daemon.destroy()
        }
        try daemon.start()
        try Self.exercise(daemon, full: daemon.stateDirectory, what: "the state directory")
    }

    @Test("the audit log's file system full, the state directory not", .enabled(if: mountAllowed, "needs root to mount a tmpfs"))
    func auditLogFull() async throws {
        let daemon = DaemonHarness()
        let auditDirectory = daemon.directory.appendingPathComponent("audit").path
        try Self.mount(auditDirectory, size: "1m")
        defer {
            daemon.stop(signal: SIGTERM)
            Self.unmount(auditDirectory)
            daemon.destroy()
        }
        let configuration = daemon.directory.appendingPathComponent("keyshard.yaml").path
        try Data("""
            state_dir: \(daemon.stateDirectory)
            socket: { path: \(daemon.socket), mode: "0600" }
            backend: { kind: process }
            audit: { path: \(auditDirectory)/audit.log }
            custodians: { max_age: 0 }
            roles: [{ uid: 0, role: admin }]

            """.utf8).write(to: URL(fileURLWithPath: configuration))
        daemon.auditPathOverride = auditDirectory + "/audit.log"
        try daemon.start(configuration: configuration)
        try Self.exercise(daemon, full: auditDirectory, what: "the audit log's file system")
    }
}

/// A write to the store torn by a crash: keyshardd SIGKILLed, its SQLite write-ahead log cut in
/// the middle of its last frame (the write the kill interrupted) or ending in half a frame of a
/// transaction that never committed. SQLite drops what is torn; keyshardd starts, every key
/// whose record survived works, and the one whose record was torn is gone wholly (its custodians
/// forget the shares at reconciliation) and can be made again.
@Suite("faults: torn store writes", .serialized)
struct TornWriteTests {
    enum Tear: String, Sendable, CaseIterable {
        case lastFrameCut = "the last frame of the write-ahead log cut short"
        case halfFrameAppended = "half a frame of an uncommitted transaction after the last commit"
    }

    @Test("keyshardd restarts on a torn write-ahead log and loses nothing that was committed", arguments: Tear.allCases)
    func tornWriteAheadLog(_ tear: Tear) async throws {
        let daemon = DaemonHarness()
        defer { daemon.destroy() }
        try daemon.start(arguments: ["--keep-custodians"])
        _ = try daemon.ok(["key", "create", "k"])
        let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
        _ = try daemon.ok(["key", "create", "n"])
        daemon.stop(signal: SIGKILL)

        let wal = daemon.stateDirectory + "/keyshard.sqlite-wal"
        let size = (try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
        try #require(size > 32 + 2 * 4096, "the write-ahead log has no frames to tear (\(size) bytes)")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: wal))
        switch tear {
        case .lastFrameCut: try handle.truncate(atOffset: UInt64(size - 1000))
        case .halfFrameAppended:
            try handle.seekToEnd()
            // A frame header (24 bytes: page number, commit size, salts, checksums) and half a page.
            handle.write(Data((0..<(24 + 2048)).map { _ in UInt8.random(in: 0...255) }))
        }
        try handle.close()

        let restarted = ContinuousClock.now
        try daemon.start(arguments: ["--keep-custodians"])
        let recovered = try daemon.secondsUntilDecrypts("k", ciphertext, to: "old", since: restarted)
        #expect(recovered != nil, "old ciphertexts do not decrypt after the torn write")
        let survived = try daemon.cli(["key", "show", "n"]).status == 0
        if tear == .halfFrameAppended { #expect(survived, "a committed key was lost to an uncommitted torn frame") }
        if !survived { _ = try daemon.ok(["key", "create", "n"]) }
        let fresh = try daemon.ok(["encrypt", "--key", "n"], input: Array("new".utf8))
        #expect(try daemon.ok(["decrypt", "n"], input: Array(fresh.utf8)) == "new")
        daemon.stop(signal: SIGTERM)
        let integrity = try ProcessRunner.run(
            "/usr/bin/sqlite3", [daemon.stateDirectory + "/keyshard.sqlite", "PRAGMA integrity_check"], timeout: 60)
        let intact = integrity.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "ok"
        #expect(intact, "\(integrity.combinedOutput)")
        ReliabilityReport.record(
            .fault, "a torn SQLite write: \(tear.rawValue)", held: recovered != nil && intact, recoverySeconds: recovered,
            detail: survived ? "the last key survived" : "the torn key's record was dropped wholly; made again")
    }
}
