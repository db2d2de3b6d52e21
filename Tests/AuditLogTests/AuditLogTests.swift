@testable import AuditLog
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under the system temp dir, removed when `body` returns.
@discardableResult
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func lines(of path: String) throws -> [String] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

func write(_ lines: [String], to path: String) throws {
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
}

/// SHA-256 by coreutils, so the chain is checked by something other than the code under test.
func sha256sum(_ line: String) throws -> String {
    let result = try ProcessRunner.run("/usr/bin/sha256sum", [], input: Array(line.utf8), timeout: 30)
    return String(result.standardOutput.prefix(64))
}

/// A log with five records; returns its head.
@discardableResult
func fiveRecords(at path: String) async throws -> AuditHead {
    let log = try AuditLog(path: path)
    try await log.append("daemon.start", ["version": "1.0", "pid": 42])
    try await log.append("key.create", ["key": "payments", "caller_uid": 0, "ring": "default"])
    try await log.append("api.call", ["path": "/v1/transit/encrypt/payments", "user": "alice", "ok": true])
    try await log.append("custodian.quarantined", ["id": "ks-3", "reasons": ["quote", "pcr 9"], "epoch": .null])
    return try await log.append("key.rotate", ["key": "payments", "version": 2])
}

@Suite("AuditLog: writing and verifying")
struct AuditLogWriteTests {
    @Test("records are chained JSON lines in a fixed form; the verifier accepts the chain")
    func roundTrip() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/log/audit.log"
            let head = try await fiveRecords(at: path)
            let written = try lines(of: path)
            #expect(written.count == 5)
            #expect(written[0].hasPrefix("{\"seq\":1,\"time\":\""))
            #expect(
                written[0].hasSuffix(
                    ",\"event\":\"daemon.start\",\"fields\":{\"pid\":42,\"version\":\"1.0\"},\"prev\":\""
                        + String(repeating: "0", count: 64) + "\"}"))
            #expect(
                written[3].contains(
                    "\"fields\":{\"epoch\":null,\"id\":\"ks-3\",\"reasons\":[\"quote\",\"pcr 9\"]}"))
            let time = try #require(written[2].split(separator: "\"").dropFirst(5).first)
            #expect(time.count == 24 && time.hasSuffix("Z") && time.contains("T"))
            for index in 1..<5 {
                #expect(written[index].hasSuffix("\"prev\":\"\(try sha256sum(written[index - 1]))\"}"))
            }
            #expect(head == AuditHead(seq: 5, hash: try sha256sum(written[4])))

            let report = try AuditVerifier.verify(path: path, expectedHead: head)
            #expect(report.problems == [])
            #expect(report.lines == 5 && report.firstSeq == 1 && report.head == head && report.continuesFrom == nil)

            var info = stat()
            stat(path, &info)
            #expect(info.st_mode & 0o777 == 0o600)
            stat(dir + "/log", &info)
            #expect(info.st_mode & 0o777 == 0o700)
        }
    }

    @Test("concurrent appends share syncs, each returns its own head, and the chain holds them all in order")
    func groupCommit() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            let count = 64
            let heads = try await withThrowingTaskGroup(of: AuditHead.self) { group in
                for index in 0..<count {
                    group.addTask { try await log.append("api.call", ["n": .int(index)]) }
                }
                var heads: [AuditHead] = []
                for try await head in group { heads.append(head) }
                return heads
            }
            // Every append got a distinct record, and the file holds exactly those, chained.
            #expect(Set(heads.map(\.seq)) == Set(1...count))
            let last = try #require(heads.max { $0.seq < $1.seq })
            #expect(await log.head == last)
            let report = try AuditVerifier.verify(path: path, expectedHead: last)
            #expect(report.problems == [] && report.lines == count)
            // Appends that arrived while a sync ran were made durable by one later sync.
            let syncs = await log.appendSyncs
            #expect(syncs >= 1 && syncs < count, "\(syncs) syncs for \(count) concurrent appends")
            // One append alone still waits for its own sync.
            try await log.append("api.call")
            #expect(await log.appendSyncs == syncs + 1)
        }
    }

    @Test("reopening resumes seq and prev from the file")
    func reopenResumes() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let head = try await fiveRecords(at: path)
            let log = try AuditLog(path: path)
            #expect(await log.head == head)
            let next = try await log.append("daemon.start")
            #expect(next.seq == 6)
            #expect(try AuditVerifier.verify(path: path).problems == [])
        }
    }

    @Test("quotes, backslashes, newlines and control characters stay inside one line")
    func escaping() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            let nasty = "a\"b\\c\nd\re\tf\u{01}g é \u{2028}"
            try await log.append("api.call", ["error": .string(nasty), "list": .strings([nasty])])
            let written = try lines(of: path)
            #expect(written.count == 1)
            let entry = try #require(AuditEntry(line: Array(written[0].utf8)))
            #expect(entry.fields["error"] == .string(nasty))
            #expect(entry.fields["list"] == .strings([nasty]))
            #expect(try AuditVerifier.verify(path: path).problems == [])
        }
    }

    @Test("a bad event name or an oversized record is refused and not written")
    func invalidRecords() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            await #expect(throws: AuditError(.invalidRecord, "")) { try await log.append("has space") }
            await #expect(throws: AuditError(.invalidRecord, "")) { try await log.append("") }
            let huge = String(repeating: "x", count: AuditEntry.maximumLineLength)
            await #expect(throws: AuditError(.invalidRecord, "")) { try await log.append("big", ["x": .string(huge)]) }
            #expect(await log.head == .genesis)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        }
    }

    @Test("a removed file makes appends fail; reopen starts a continued file")
    func removedFile() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            let head = try await log.append("daemon.start")
            unlink(path)
            do {
                try await log.append("key.create")
                Issue.record("append to a removed log succeeded")
            } catch let error as AuditError {
                #expect(error.code == .writeFailed)
                #expect(error.reason.contains("removed"))
            } catch {
                Issue.record("unexpected \(error)")
            }
            try await log.reopen()
            try await log.append("key.create")
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems == [])
            #expect(report.continuesFrom == head.hash)
            #expect(report.firstSeq == 2 && report.head?.seq == 3)
        }
    }
}

@Suite("AuditVerifier: tampering")
struct AuditTamperTests {
    @Test("one byte edited in the middle line is found at that line")
    func editedByte() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            var written = try lines(of: path)
            written[2] = written[2].replacingOccurrences(of: "alice", with: "alicf")
            try write(written, to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems.map(\.line) == [3], "\(report.problems)")
            #expect(report.problems.first?.description.contains("edited") == true)
        }
    }

    @Test("an edit that breaks the JSON is a malformed line")
    func malformed() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            var written = try lines(of: path)
            written[1] = String(written[1].dropLast(3))
            try write(written, to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems.map(\.line) == [2], "\(report.problems)")
            #expect(report.problems.first?.description.contains("not an audit record") == true)
        }
    }

    @Test("a record rewritten in another JSON form is found, even with the chain recomputed")
    func nonCanonical() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            try await log.append("a")
            var written = try lines(of: path)
            written[0] = written[0].replacingOccurrences(of: "{\"seq\":1,", with: "{ \"seq\":1,")
            try write(written, to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems.map(\.line) == [1], "\(report.problems)")
        }
    }

    @Test("a deleted line is found where the gap is")
    func deletedLine() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            var written = try lines(of: path)
            written.remove(at: 2)
            try write(written, to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems.map(\.line) == [3], "\(report.problems)")
            #expect(report.problems.first?.description.contains("1 line(s) dropped") == true)
        }
    }

    @Test("the first lines deleted: the file no longer starts a chain")
    func deletedStart() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            try write(Array(try lines(of: path).dropFirst(2)), to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems.map(\.line) == [1], "\(report.problems)")
        }
    }

    @Test("two swapped lines are found as out of order")
    func swappedLines() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            var written = try lines(of: path)
            written.swapAt(1, 2)
            try write(written, to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(!report.problems.isEmpty)
            #expect(
                report.problems.contains { $0.line == 3 && $0.description.contains("out of order") },
                "\(report.problems)")
            #expect(report.problems.allSatisfy { (2...3).contains($0.line) }, "\(report.problems)")
        }
    }

    @Test("lines cut off the end are found only against the expected head")
    func truncatedTail() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let head = try await fiveRecords(at: path)
            try write(Array(try lines(of: path).dropLast()), to: path)
            #expect(try AuditVerifier.verify(path: path).problems == [])
            let report = try AuditVerifier.verify(path: path, expectedHead: head)
            #expect(report.problems.count == 1)
            #expect(report.problems.first?.description.contains("dropped") == true)
            #expect(report.head?.seq == 4)
        }
    }

    @Test("a line over 1 MiB is a problem, not a crash, and the rest is still checked")
    func oversizedLine() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            var written = try lines(of: path)
            written.insert(String(repeating: "y", count: (1 << 20) + 10), at: 2)
            written[4] = written[4].replacingOccurrences(of: "quarantined", with: "quarantinex")
            try write(written, to: path)
            let report = try AuditVerifier.verify(path: path)
            #expect(report.lines == 6)
            #expect(
                report.problems.contains { $0.line == 3 && $0.description.contains("over the") }, "\(report.problems)")
            #expect(
                report.problems.contains { $0.line == 5 && $0.description.contains("edited") }, "\(report.problems)")
        }
    }
}

@Suite("AuditLog: recovery and rotation")
struct AuditRecoveryTests {
    @Test("a torn final line is reported, then cut off on open with an audit.recovered record")
    func tornLine() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            let before = try lines(of: path)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            let torn = "{\"seq\":6,\"time\":\"2026-"
            try handle.write(contentsOf: Data(torn.utf8))
            try handle.close()

            let damaged = try AuditVerifier.verify(path: path)
            #expect(damaged.problems.map(\.line) == [6])
            #expect(damaged.problems.first?.description.contains("torn") == true)

            let log = try AuditLog(path: path)
            #expect(await log.head.seq == 6)
            let after = try lines(of: path)
            #expect(Array(after.prefix(5)) == before)
            let recovered = try #require(AuditEntry(line: Array(after[5].utf8)))
            #expect(recovered.event == "audit.recovered")
            #expect(recovered.fields["dropped_bytes"] == .int(torn.utf8.count))
            #expect(try AuditVerifier.verify(path: path).problems == [])
        }
    }

    @Test("a file whose last lines do not chain is refused on open, untouched")
    func corruptTailRefused() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            try await fiveRecords(at: path)
            var written = try lines(of: path)
            written.swapAt(3, 4)
            try write(written, to: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(throws: AuditError(.corrupt, "")) { _ = try AuditLog(path: path) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
    }

    @Test("after logrotate renames the file, reopen continues the chain in a new file")
    func rotation() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            try await log.append("daemon.start")
            try await log.append("key.create", ["key": "k"])
            try await log.reopen()  // a SIGHUP without rotation changes nothing
            #expect(try lines(of: path).count == 2)
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            // Until the SIGHUP, records go to the renamed file, as with any logrotate'd daemon.
            let oldHead = try await log.append("key.rotate", ["key": "k"])
            try await log.reopen()
            try await log.append("key.rotate", ["key": "k"])

            let old = try AuditVerifier.verify(path: path + ".1")
            let new = try AuditVerifier.verify(path: path, expectedHead: await log.head)
            #expect(old.problems == [] && new.problems == [])
            #expect(old.head == oldHead)
            #expect(new.continuesFrom == oldHead.hash)
            #expect(new.firstSeq == 4 && new.head?.seq == 5)
            let first = try #require(AuditEntry(line: Array(try lines(of: path)[0].utf8)))
            #expect(first.event == "audit.continued" && first.fields["previous_seq"] == .int(3))
        }
    }

    @Test("appends racing a reopen after rotation all return, each durable in the file it was written to")
    func rotationUnderConcurrentAppends() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            try await log.append("daemon.start")
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            let count = 48
            let heads = try await withThrowingTaskGroup(of: AuditHead.self) { group in
                for index in 0..<count {
                    group.addTask { try await log.append("api.call", ["n": .int(index)]) }
                    if index == count / 2 { group.addTask { try await log.reopen(); return .genesis } }
                }
                var heads: [AuditHead] = []
                for try await head in group where head != .genesis { heads.append(head) }
                return heads
            }
            // Every append got its record; the two files together hold each exactly once, in one chain.
            let old = try AuditVerifier.verify(path: path + ".1")
            let new = try AuditVerifier.verify(path: path, expectedHead: await log.head)
            #expect(old.problems == [] && new.problems == [], "\(old.problems) \(new.problems)")
            #expect(new.continuesFrom == old.head?.hash)
            let records = (try lines(of: path + ".1") + lines(of: path)).compactMap { AuditEntry(line: Array($0.utf8)) }
            let calls = records.filter { $0.event == "api.call" }
            #expect(calls.count == count && Set(calls.map(\.seq)) == Set(heads.map(\.seq)))
        }
    }

    @Test("logrotate's create mode: an empty file at the path is continued into")
    func rotationCreate() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let log = try AuditLog(path: path)
            let head = try await log.append("daemon.start")
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]))
            try await log.reopen()
            let report = try AuditVerifier.verify(path: path)
            #expect(report.continuesFrom == head.hash && report.problems == [])
            var info = stat()
            stat(path, &info)
            #expect(info.st_mode & 0o777 == 0o600)
        }
    }

    @Test("a daemon started after rotation continues from a head it was given")
    func continuingFromGivenHead() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let head = try await fiveRecords(at: path)
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            let log = try AuditLog(path: path, continuing: head)
            try await log.append("daemon.start")
            let report = try AuditVerifier.verify(path: path)
            #expect(report.problems == [] && report.continuesFrom == head.hash && report.firstSeq == 6)
        }
    }

    @Test("reopen refuses a path that now holds another chain and keeps writing the old file")
    func reopenForeignChain() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/audit.log"
            let other = dir + "/other.log"
            try await fiveRecords(at: other)
            let log = try AuditLog(path: path)
            try await log.append("daemon.start")
            try FileManager.default.moveItem(atPath: path, toPath: path + ".mine")
            try FileManager.default.moveItem(atPath: other, toPath: path)
            await #expect(throws: AuditError(.corrupt, "")) { try await log.reopen() }
            try await log.append("key.create")
            #expect(try AuditVerifier.verify(path: path + ".mine").lines == 2)
        }
    }
}

/// Whether this process may mount a tmpfs (root in a namespace that allows it).
let tmpfsMountAllowed: Bool = {
    let probe = FileManager.default.temporaryDirectory.appendingPathComponent("audit-probe-\(UUID().uuidString)").path
    guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil else {
        return false
    }
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard
        let mounted = try? ProcessRunner.run(
            "/usr/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], timeout: 30),
        mounted.status == 0
    else { return false }
    _ = try? ProcessRunner.run("/usr/bin/umount", [probe], timeout: 30)
    return true
}()

@Suite("AuditLog: full file system", .serialized)
struct AuditDiskFullTests {
    @Test(
        "an append on a full file system fails with a typed error and damages nothing",
        .enabled(if: tmpfsMountAllowed, "needs permission to mount a tmpfs (root); skipped")
    )
    func diskFull() async throws {
        try await withTemporaryDirectory { dir in
            let mountPoint = dir + "/small"
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            let mounted = try ProcessRunner.run(
                "/usr/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint], timeout: 30)
            try #require(mounted.status == 0, "\(mounted.combinedOutput)")
            defer { _ = try? ProcessRunner.run("/usr/bin/umount", [mountPoint], timeout: 30) }

            let path = mountPoint + "/audit.log"
            let log = try AuditLog(path: path)
            try await log.append("daemon.start")
            let head = try await log.append("key.create", ["key": "k"])
            let before = try Data(contentsOf: URL(fileURLWithPath: path))

            // Fill what is left.
            let filler = mountPoint + "/filler"
            let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
            try #require(fd >= 0)
            let block = [UInt8](repeating: 0x55, count: 4096)
            while block.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) > 0 {}
            close(fd)

            // Bigger than a page, so it cannot fit in the log file's last page.
            let big: AuditValue = .string(String(repeating: "z", count: 10_000))
            do {
                try await log.append("api.call", ["detail": big])
                Issue.record("append on a full file system succeeded")
            } catch let error as AuditError {
                #expect(error.code == .writeFailed)
                #expect(error.reason.contains("No space left") || error.reason.contains("full"), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
            #expect(await log.head == head)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(try AuditVerifier.verify(path: path, expectedHead: head).problems == [])

            // With space again, the chain goes on where it was.
            unlink(filler)
            try await log.append("api.call", ["detail": big])
            let report = try AuditVerifier.verify(path: path, expectedHead: await log.head)
            #expect(report.problems == [] && report.lines == 3)
        }
    }
}
