import Foundation
import GRDB
import KeyStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under the system temp dir, removed when `body` returns.
@discardableResult
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("keystore-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func mode(of path: String) -> UInt32 {
    var info = stat()
    guard stat(path, &info) == 0 else { return 0xFFFF }
    return UInt32(info.st_mode & 0o7777)
}

/// Store contents for the tests: one ring of 2-of-3 at epoch 0.
enum Fixture {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let members = [1: "ks-a", 2: "ks-b", 3: "ks-c"]

    static func ring(_ name: String = "r1", epoch: Int = 0) -> RingRecord {
        RingRecord(name: name, threshold: 2, shares: 3, epoch: epoch, createdAt: now)
    }

    static func publicKey(_ seed: UInt8) -> [UInt8] { [0x02] + [UInt8](repeating: seed, count: 32) }

    static func key(_ name: String, ring: String = "r1") -> KeyRecord {
        KeyRecord(name: name, type: "hpke-p256", ring: ring, createdAt: now)
    }

    static func version(_ key: String, _ version: Int) -> KeyVersionRecord {
        KeyVersionRecord(
            key: key, version: version, publicKey: publicKey(UInt8(version)), origin: "dkg", createdAt: now)
    }

    static func commitment(_ key: String, _ version: Int, epoch: Int) -> ShareCommitmentRecord {
        ShareCommitmentRecord(
            key: key, version: version, epoch: epoch, commitment: [UInt8(version), UInt8(epoch), 0xAA])
    }

    /// A ring with members and the given keys at version 1.
    static func populate(_ store: KeyStore, keys: [String] = ["k1"]) async throws {
        try await store.insertRing(ring())
        try await store.initialMembers(ring: "r1", epoch: 0, members: members)
        for name in keys {
            try await store.insertKey(key(name), version: version(name, 1), commitment: commitment(name, 1, epoch: 0))
        }
    }

    static func change(
        to epoch: Int = 1, members: [Int: String] = [1: "ks-d", 2: "ks-e", 3: "ks-f"]
    )
        -> EpochChangeRecord
    {
        EpochChangeRecord(
            ring: "r1", fromEpoch: epoch - 1, toEpoch: epoch, kind: .rotation, startedAt: now,
            members: members)
    }
}

/// Expects `body` to throw a ``KeyStoreError`` with `code`, and returns it.
@discardableResult
func expectStoreError(
    _ code: KeyStoreError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> KeyStoreError? {
    do {
        try await body()
        Issue.record("expected KeyStoreError.\(code), got success", sourceLocation: sourceLocation)
    } catch let error as KeyStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected KeyStoreError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite("KeyStore: opening, files and schema")
struct KeyStoreOpeningTests {
    @Test("a new store migrates from empty in a new 0700 directory, as a 0600 WAL file")
    func migratesFromEmpty() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/state/nested/keyshard.sqlite"
            let store = try KeyStore(path: path)
            #expect(try await store.rings().isEmpty)
            #expect(try await store.keys().isEmpty)
            #expect(try await store.nextGeneration() == 1)
            #expect(mode(of: dir + "/state") == 0o700)
            #expect(mode(of: dir + "/state/nested") == 0o700)
            #expect(mode(of: path) == 0o600)
            #expect(mode(of: path + "-wal") == 0o600)
            let journal = try await DatabaseQueue(path: path).read { db in
                try String.fetchOne(db, sql: "PRAGMA journal_mode")
            }
            #expect(journal == "wal")
        }
    }

    @Test("an existing file readable by others is narrowed to 0600")
    func narrowsMode() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/keyshard.sqlite"
            _ = try KeyStore(path: path)
            chmod(path, 0o644)
            #expect(mode(of: path) == 0o644)
            _ = try KeyStore(path: path)
            #expect(mode(of: path) == 0o600)
        }
    }

    @Test("reopening keeps every record")
    func reopenKeepsData() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/keyshard.sqlite"
            do {
                let store = try KeyStore(path: path)
                try await Fixture.populate(store)
                try await store.upsertCustodian(
                    CustodianRow(
                        id: "ks-a", ring: "r1", slot: 1, generation: 7, backend: "process", host: "localhost",
                        transport: "unix:/tmp/a", fingerprint: Array("{\"ak\":\"ab\"}".utf8), state: "healthy",
                        launchedAt: Fixture.now, lastAttested: Fixture.now))
            }
            let store = try KeyStore(path: path)
            #expect(try await store.ring(named: "r1") == Fixture.ring())
            #expect(try await store.key(named: "k1") == Fixture.key("k1"))
            #expect(try await store.versions(of: "k1") == [Fixture.version("k1", 1)])
            #expect(
                try await store.commitment(key: "k1", version: 1, epoch: 0) == Fixture.commitment("k1", 1, epoch: 0))
            #expect(try await store.members(ring: "r1", epoch: 0) == Fixture.members)
            let custodian = try #require(try await store.custodian(id: "ks-a"))
            #expect(custodian.generation == 7)
            #expect(custodian.fingerprint == Array("{\"ak\":\"ab\"}".utf8))
            #expect(custodian.lastAttested == Fixture.now)
        }
    }

    @Test("a database migrated by a newer keyshardd is refused, naming the unknown migration")
    func newerSchemaRefused() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/keyshard.sqlite"
            _ = try KeyStore(path: path)
            try await DatabaseQueue(path: path).write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-from-the-future')")
            }
            let error = await expectStoreError(.unsupportedSchema) { _ = try KeyStore(path: path) }
            #expect(error?.reason.contains("v2-from-the-future") == true)
        }
    }

    @Test("a file that is not SQLite is refused with a clear error and left as it was")
    func notSQLiteRefused() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/keyshard.sqlite"
            let text = Data("state_dir: /var/lib/keyshard\n".utf8)
            try text.write(to: URL(fileURLWithPath: path))
            let error = await expectStoreError(.notADatabase) { _ = try KeyStore(path: path) }
            #expect(error?.reason.contains(path) == true)
            #expect(error?.reason.contains("not an SQLite database") == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == text)

            let random = dir + "/random.sqlite"
            try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(
                to: URL(fileURLWithPath: random))
            await expectStoreError(.notADatabase) { _ = try KeyStore(path: random) }
        }
    }

    @Test("a directory at the path is refused")
    func directoryRefused() async throws {
        try await withTemporaryDirectory { dir in
            await expectStoreError(.notADatabase) { _ = try KeyStore(path: dir) }
        }
    }

    @Test("generations strictly increase, across reopening and across two stores on one file")
    func generations() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/keyshard.sqlite"
            var seen: [Int64] = []
            do {
                let store = try KeyStore(path: path)
                for _ in 0..<3 { seen.append(try await store.nextGeneration()) }
            }
            let first = try KeyStore(path: path)
            let second = try KeyStore(path: path)
            let more = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for store in [first, second] {
                    group.addTask {
                        var values: [Int64] = []
                        for _ in 0..<10 { values.append(try await store.nextGeneration()) }
                        return values
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(seen == [1, 2, 3])
            #expect(Set(more).count == 20)
            #expect(more.allSatisfy { $0 > 3 })
            #expect(try await first.nextGeneration() == 24)
        }
    }
}

@Suite("KeyStore: rings, keys and versions")
struct KeyStoreKeyTests {
    @Test("names are unique; a key needs a known ring and a commitment at the ring's epoch")
    func insertRefusals() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            await expectStoreError(.exists) { try await store.insertRing(Fixture.ring()) }
            await expectStoreError(.invalid) {
                try await store.insertRing(
                    RingRecord(name: "bad", threshold: 4, shares: 3, epoch: 0, createdAt: Fixture.now))
            }
            await expectStoreError(.exists) {
                try await store.insertKey(
                    Fixture.key("k1"), version: Fixture.version("k1", 1),
                    commitment: Fixture.commitment("k1", 1, epoch: 0))
            }
            await expectStoreError(.notFound) {
                try await store.insertKey(
                    Fixture.key("k2", ring: "nope"), version: Fixture.version("k2", 1),
                    commitment: Fixture.commitment("k2", 1, epoch: 0))
            }
            await expectStoreError(.invalid) {
                try await store.insertKey(
                    Fixture.key("k2"), version: Fixture.version("k2", 1),
                    commitment: Fixture.commitment("k2", 1, epoch: 5))
            }
            #expect(try await store.keys().map(\.name) == ["k1"])
            #expect(try await store.versions(of: "k2").isEmpty)
        }
    }

    @Test("addVersion takes only latest + 1 and raises latestVersion with its commitment")
    func addVersion() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            await expectStoreError(.invalid) {
                try await store.addVersion(
                    "k1", version: Fixture.version("k1", 3), commitment: Fixture.commitment("k1", 3, epoch: 0))
            }
            await expectStoreError(.invalid) {
                try await store.addVersion(
                    "k1", version: Fixture.version("k1", 1), commitment: Fixture.commitment("k1", 1, epoch: 0))
            }
            await expectStoreError(.notFound) {
                try await store.addVersion(
                    "nope", version: Fixture.version("nope", 2), commitment: Fixture.commitment("nope", 2, epoch: 0))
            }
            try await store.addVersion(
                "k1", version: Fixture.version("k1", 2), commitment: Fixture.commitment("k1", 2, epoch: 0))
            #expect(try await store.key(named: "k1")?.latestVersion == 2)
            #expect(try await store.versions(of: "k1").map(\.version) == [1, 2])
            #expect(try await store.commitments(ring: "r1", epoch: 0).map(\.version) == [1, 2])
        }
    }

    @Test("the store refuses version limits out of order, whatever the engine checked")
    func configLimits() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            try await store.addVersion(
                "k1", version: Fixture.version("k1", 2), commitment: Fixture.commitment("k1", 2, epoch: 0))
            let error = await expectStoreError(.invalid) {
                try await store.updateKeyConfig("k1", minDecryptionVersion: 3)
            }
            #expect(error?.reason.contains("latest version 2") == true)
            await expectStoreError(.invalid) { try await store.updateKeyConfig("k1", minDecryptionVersion: 0) }
            await expectStoreError(.invalid) { try await store.updateKeyConfig("k1", minEncryptionVersion: 3) }
            try await store.updateKeyConfig("k1", minDecryptionVersion: 2)
            await expectStoreError(.invalid) { try await store.updateKeyConfig("k1", minEncryptionVersion: 1) }
            await expectStoreError(.notFound) { try await store.updateKeyConfig("nope", deletionAllowed: true) }
            let key = try await store.updateKeyConfig("k1", minEncryptionVersion: 2, deletionAllowed: true)
            #expect(key.minDecryptionVersion == 2 && key.minEncryptionVersion == 2 && key.deletionAllowed)
            #expect(try await store.key(named: "k1") == key)
        }
    }

    @Test("trim deletes versions and commitments below the minimum, never going back")
    func trim() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            for version in 2...3 {
                try await store.addVersion(
                    "k1", version: Fixture.version("k1", version),
                    commitment: Fixture.commitment("k1", version, epoch: 0))
            }
            // Versions still decryptable cannot lose their shares.
            await expectStoreError(.invalid) { try await store.trim("k1", minAvailableVersion: 2) }
            try await store.updateKeyConfig("k1", minDecryptionVersion: 2)
            let trimmed = try await store.trim("k1", minAvailableVersion: 2)
            #expect(trimmed.minAvailableVersion == 2)
            #expect(try await store.versions(of: "k1").map(\.version) == [2, 3])
            #expect(try await store.commitment(key: "k1", version: 1, epoch: 0) == nil)
            #expect(try await store.commitments(ring: "r1", epoch: 0).map(\.version) == [2, 3])
            await expectStoreError(.invalid) { try await store.trim("k1", minAvailableVersion: 1) }
            await expectStoreError(.invalid) { try await store.trim("k1", minAvailableVersion: 4) }
            #expect(try await store.key(named: "k1")?.minAvailableVersion == 2)
        }
    }

    @Test("deleting a key deletes its versions and commitments; keys list by ring")
    func deleteKey() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store, keys: ["a", "b"])
            try await store.insertRing(Fixture.ring("r2"))
            try await store.insertKey(
                Fixture.key("c", ring: "r2"), version: Fixture.version("c", 1),
                commitment: Fixture.commitment("c", 1, epoch: 0))
            #expect(try await store.keys(ring: "r1").map(\.name) == ["a", "b"])
            #expect(try await store.keys().map(\.name) == ["a", "b", "c"])
            try await store.deleteKey("a")
            await expectStoreError(.notFound) { try await store.deleteKey("a") }
            #expect(try await store.key(named: "a") == nil)
            #expect(try await store.versions(of: "a").isEmpty)
            #expect(try await store.commitments(ring: "r1", epoch: 0).map(\.key) == ["b"])
        }
    }
}

@Suite("KeyStore: custodians and members")
struct KeyStoreCustodianTests {
    func row(_ id: String, slot: Int, ring: String = "r1") -> CustodianRow {
        CustodianRow(
            id: id, ring: ring, slot: slot, generation: Int64(slot), backend: "process", host: "localhost",
            transport: "unix:/run/\(id)", state: "launching", launchedAt: Fixture.now)
    }

    @Test("custodians are upserted, listed by ring, change state and are deleted")
    func custodians() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await store.upsertCustodian(row("b", slot: 2))
            try await store.upsertCustodian(row("a", slot: 1))
            try await store.upsertCustodian(row("x", slot: 1, ring: "r2"))
            var changed = row("a", slot: 1)
            changed.host = "host2"
            try await store.upsertCustodian(changed)
            #expect(try await store.custodians(ring: "r1").map(\.id) == ["a", "b"])
            #expect(try await store.custodians().map(\.id) == ["a", "b", "x"])
            #expect(try await store.custodian(id: "a")?.host == "host2")

            let attested = Fixture.now.addingTimeInterval(5)
            try await store.setCustodianState("a", state: "healthy", lastAttested: attested)
            try await store.setCustodianState("a", state: "stale")
            let a = try #require(try await store.custodian(id: "a"))
            #expect(a.state == "stale" && a.lastAttested == attested)
            await expectStoreError(.notFound) { try await store.setCustodianState("nope", state: "healthy") }

            #expect(try await store.deleteCustodian("a"))
            #expect(try await store.deleteCustodian("a") == false)
            #expect(try await store.custodian(id: "a") == nil)
        }
    }

    @Test("initial members are recorded once, with valid slots and distinct custodians")
    func initialMembers() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await store.insertRing(Fixture.ring())
            await expectStoreError(.invalid) { try await store.initialMembers(ring: "r1", epoch: 0, members: [4: "x"]) }
            await expectStoreError(.invalid) {
                try await store.initialMembers(ring: "r1", epoch: 0, members: [1: "x", 2: "x"])
            }
            await expectStoreError(.invalid) { try await store.initialMembers(ring: "r1", epoch: 1, members: [1: "x"]) }
            await expectStoreError(.notFound) {
                try await store.initialMembers(ring: "r9", epoch: 0, members: [1: "x"])
            }
            try await store.initialMembers(ring: "r1", epoch: 0, members: Fixture.members)
            await expectStoreError(.invalid) {
                try await store.initialMembers(ring: "r1", epoch: 0, members: Fixture.members)
            }
            #expect(try await store.members(ring: "r1", epoch: 0) == Fixture.members)
        }
    }
}

@Suite("KeyStore: two-phase epochs")
struct KeyStoreEpochTests {
    @Test("a second epoch change of a ring is busy, also from another store on the same file")
    func beginTwiceBusy() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/s.sqlite"
            let store = try KeyStore(path: path)
            try await Fixture.populate(store)
            try await store.beginEpochChange(Fixture.change())
            await expectStoreError(.busy) { try await store.beginEpochChange(Fixture.change()) }
            let other = try KeyStore(path: path)
            let error = await expectStoreError(.busy) { try await other.beginEpochChange(Fixture.change()) }
            #expect(error?.reason.contains("epoch 0 to 1") == true)
            // Keys cannot change under a pending change: they would have no shares in the new epoch.
            await expectStoreError(.busy) {
                try await other.addVersion(
                    "k1", version: Fixture.version("k1", 2), commitment: Fixture.commitment("k1", 2, epoch: 0))
            }
            await expectStoreError(.busy) {
                try await other.insertKey(
                    Fixture.key("k2"), version: Fixture.version("k2", 1),
                    commitment: Fixture.commitment("k2", 1, epoch: 0))
            }
        }
    }

    @Test("of many racing begins on two stores, exactly one wins")
    func racingBegins() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/s.sqlite"
            let first = try KeyStore(path: path)
            try await Fixture.populate(first)
            let second = try KeyStore(path: path)
            let outcomes = await withTaskGroup(of: KeyStoreError.Code?.self) { group in
                for index in 0..<16 {
                    let store = index.isMultiple(of: 2) ? first : second
                    group.addTask {
                        do {
                            try await store.beginEpochChange(Fixture.change())
                            return nil
                        } catch let error as KeyStoreError {
                            return error.code
                        } catch {
                            return KeyStoreError.Code(rawValue: "\(error)")
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.compactMap { $0 }.allSatisfy { $0 == .busy })
        }
    }

    @Test("begin refuses a change that does not start at the committed epoch or go up")
    func beginRefusals() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            var change = Fixture.change()
            change.fromEpoch = 1
            await expectStoreError(.invalid) { try await store.beginEpochChange(change) }
            change = Fixture.change()
            change.toEpoch = 0
            await expectStoreError(.invalid) { try await store.beginEpochChange(change) }
            await expectStoreError(.invalid) {
                try await store.beginEpochChange(Fixture.change(members: [1: "d", 5: "e"]))
            }
            change = Fixture.change()
            change.ring = "nope"
            await expectStoreError(.notFound) { try await store.beginEpochChange(change) }
            #expect(try await store.pendingEpochChange(ring: "r1") == nil)
        }
    }

    @Test("commit switches epoch, members and commitments at once; the old epoch is gone")
    func commit() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store, keys: ["a", "b"])
            let change = Fixture.change()
            try await store.beginEpochChange(change)
            #expect(try await store.pendingEpochChange(ring: "r1") == change)
            for key in ["a", "b"] {
                try await store.recordPendingCommitment(Fixture.commitment(key, 1, epoch: 1))
            }
            // Until the commit, the old epoch is the ring's.
            #expect(try await store.ring(named: "r1")?.epoch == 0)
            #expect(try await store.members(ring: "r1", epoch: 0) == Fixture.members)
            #expect(try await store.commitments(ring: "r1", epoch: 0).count == 2)

            #expect(try await store.commitEpochChange(ring: "r1") == change)
            #expect(try await store.ring(named: "r1")?.epoch == 1)
            #expect(try await store.members(ring: "r1", epoch: 1) == change.members)
            #expect(try await store.members(ring: "r1", epoch: 0).isEmpty)
            #expect(try await store.commitments(ring: "r1", epoch: 0).isEmpty)
            #expect(
                try await store.commitments(ring: "r1", epoch: 1) == [
                    Fixture.commitment("a", 1, epoch: 1), Fixture.commitment("b", 1, epoch: 1),
                ])
            #expect(try await store.pendingEpochChange(ring: "r1") == nil)
            await expectStoreError(.notFound) { try await store.commitEpochChange(ring: "r1") }
            // The ring takes new keys again, at the new epoch.
            try await store.addVersion(
                "a", version: Fixture.version("a", 2), commitment: Fixture.commitment("a", 2, epoch: 1))
        }
    }

    @Test("commit with a key version lacking its new commitment is refused and changes nothing")
    func commitMissing() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store, keys: ["a", "b"])
            try await store.beginEpochChange(Fixture.change())
            try await store.recordPendingCommitment(Fixture.commitment("a", 1, epoch: 1))
            let error = await expectStoreError(.invalid) { try await store.commitEpochChange(ring: "r1") }
            #expect(error?.reason.contains("b v1") == true)
            #expect(error?.reason.contains("a v1") == false)
            #expect(try await store.ring(named: "r1")?.epoch == 0)
            #expect(try await store.members(ring: "r1", epoch: 0) == Fixture.members)
            #expect(try await store.commitments(ring: "r1", epoch: 0).count == 2)
            #expect(try await store.commitments(ring: "r1", epoch: 1).map(\.key) == ["a"])
            #expect(try await store.pendingEpochChange(ring: "r1") != nil)
        }
    }

    @Test("pending commitments must be for the change's new epoch and a known version")
    func pendingCommitmentRefusals() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            await expectStoreError(.notFound) {
                try await store.recordPendingCommitment(Fixture.commitment("k1", 1, epoch: 1))
            }
            try await store.beginEpochChange(Fixture.change())
            await expectStoreError(.invalid) {
                try await store.recordPendingCommitment(Fixture.commitment("k1", 1, epoch: 2))
            }
            await expectStoreError(.notFound) {
                try await store.recordPendingCommitment(Fixture.commitment("k1", 2, epoch: 1))
            }
            // A retried redistribution replaces its earlier result.
            try await store.recordPendingCommitment(Fixture.commitment("k1", 1, epoch: 1))
            var again = Fixture.commitment("k1", 1, epoch: 1)
            again.commitment = [9, 9]
            try await store.recordPendingCommitment(again)
            #expect(try await store.commitment(key: "k1", version: 1, epoch: 1) == again)
        }
    }

    @Test("abort leaves the old epoch intact and drops the new epoch's commitments")
    func abort() async throws {
        try await withTemporaryDirectory { dir in
            let store = try KeyStore(path: dir + "/s.sqlite")
            try await Fixture.populate(store)
            try await store.beginEpochChange(Fixture.change())
            try await store.recordPendingCommitment(Fixture.commitment("k1", 1, epoch: 1))
            #expect(try await store.abortEpochChange(ring: "r1") == Fixture.change())
            #expect(try await store.ring(named: "r1")?.epoch == 0)
            #expect(try await store.members(ring: "r1", epoch: 0) == Fixture.members)
            #expect(
                try await store.commitment(key: "k1", version: 1, epoch: 0) == Fixture.commitment("k1", 1, epoch: 0))
            #expect(try await store.commitment(key: "k1", version: 1, epoch: 1) == nil)
            #expect(try await store.pendingEpochChange(ring: "r1") == nil)
            await expectStoreError(.notFound) { try await store.abortEpochChange(ring: "r1") }
            // A new attempt may start at once.
            try await store.beginEpochChange(Fixture.change())
        }
    }

    @Test("a crash between begin and commit leaves the old epoch current and the change visible")
    func crashBetweenBeginAndCommit() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/s.sqlite"
            let change = Fixture.change()
            do {
                let store = try KeyStore(path: path)
                try await Fixture.populate(store)
                try await store.beginEpochChange(change)
                try await store.recordPendingCommitment(Fixture.commitment("k1", 1, epoch: 1))
            }
            let store = try KeyStore(path: path)
            #expect(try await store.ring(named: "r1")?.epoch == 0)
            #expect(try await store.members(ring: "r1", epoch: 0) == Fixture.members)
            #expect(try await store.commitment(key: "k1", version: 1, epoch: 0) != nil)
            #expect(try await store.pendingEpochChange(ring: "r1") == change)
            #expect(try await store.pendingEpochChanges() == [change])
            #expect(try await store.commitment(key: "k1", version: 1, epoch: 1) != nil)
            // The restarted daemon can finish what the old one began.
            try await store.commitEpochChange(ring: "r1")
            #expect(try await store.ring(named: "r1")?.epoch == 1)
        }
    }
}
