import Foundation
internal import GRDB

// Two-phase epochs: `beginEpochChange` records the new member set, the engine redistributes and
// records each key version's new commitment, and `commitEpochChange` switches the ring in one
// transaction. Until that commit the old epoch is the ring's, so a crash at any step leaves the
// old epoch usable; after it, the new one.

extension KeyStore {
    /// Records the start of an epoch change.
    /// - Throws: ``KeyStoreError`` `.busy` when the ring has a pending change (checked and
    ///   written in one transaction, so of two racing callers exactly one wins), `.notFound` for
    ///   an unknown ring, `.invalid` when `fromEpoch` is not the committed epoch, `toEpoch` is
    ///   not above it, or the members are not valid for the ring.
    public func beginEpochChange(_ change: EpochChangeRecord) async throws(KeyStoreError) {
        let members = try Self.encodeMembers(change.members)
        try await write("begin an epoch change of ring \(change.ring)") { db in
            let ring = try Self.requireRing(db, change.ring)
            try Self.refuseWhilePending(db, ring: ring.name, doing: "begin a \(change.kind.rawValue)")
            guard change.fromEpoch == ring.epoch, change.toEpoch > ring.epoch else {
                throw KeyStoreError(
                    .invalid,
                    "ring \(ring.name) is at epoch \(ring.epoch); a change must start there and go up "
                        + "(asked: \(change.fromEpoch) → \(change.toEpoch))")
            }
            try Self.checkMembers(change.members, of: ring)
            do {
                try db.execute(
                    sql: """
                        INSERT INTO epochChanges (ring, fromEpoch, toEpoch, kind, startedAt, members)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        change.ring, change.fromEpoch, change.toEpoch, change.kind.rawValue, change.startedAt, members,
                    ])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw KeyStoreError(.busy, "ring \(ring.name) has an epoch change under way")
            }
            // Leftovers of an earlier attempt at the same epoch must not count for this one.
            try Self.deleteCommitments(db, ring: ring.name, epoch: change.toEpoch)
        }
    }

    /// The ring's pending epoch change, or nil.
    public func pendingEpochChange(ring: String) async throws(KeyStoreError) -> EpochChangeRecord? {
        try await read("read the epoch change of ring \(ring)") { db in try Self.fetchPending(db, ring) }
    }

    /// Every pending epoch change, by ring (to resume or abort them after a restart).
    public func pendingEpochChanges() async throws(KeyStoreError) -> [EpochChangeRecord] {
        try await read("list epoch changes") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM epochChanges ORDER BY ring").map(Self.changeRecord)
        }
    }

    /// Records a key version's commitment for the pending change's new epoch (again for the same
    /// version replaces it, so a retried redistribution can record its result).
    /// - Throws: ``KeyStoreError`` `.notFound` for an unknown key version or when the key's ring
    ///   has no pending change, `.invalid` when the epoch is not the change's new epoch.
    public func recordPendingCommitment(_ commitment: ShareCommitmentRecord) async throws(KeyStoreError) {
        try await write("record a commitment of key \(commitment.key)") { db in
            let key = try Self.requireKey(db, commitment.key)
            guard let change = try Self.fetchPending(db, key.ring) else {
                throw KeyStoreError(.notFound, "ring \(key.ring) has no epoch change under way")
            }
            guard commitment.epoch == change.toEpoch else {
                throw KeyStoreError(
                    .invalid,
                    "ring \(key.ring) is changing to epoch \(change.toEpoch), not \(commitment.epoch)")
            }
            let known = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM keyVersions WHERE key = ? AND version = ?",
                arguments: [commitment.key, commitment.version])
            guard known == 1 else {
                throw KeyStoreError(.notFound, "key \(commitment.key) has no version \(commitment.version)")
            }
            try Self.insertCommitment(db, commitment, replacing: true)
        }
    }

    /// Gives up the ring's pending change: deletes it and the commitments of its new epoch. The
    /// committed epoch is untouched.
    /// - Returns: the change given up.
    /// - Throws: ``KeyStoreError`` `.notFound` when none is pending.
    @discardableResult
    public func abortEpochChange(ring: String) async throws(KeyStoreError) -> EpochChangeRecord {
        try await write("abort the epoch change of ring \(ring)") { db in
            guard let change = try Self.fetchPending(db, ring) else {
                throw KeyStoreError(.notFound, "ring \(ring) has no epoch change under way")
            }
            try Self.deleteCommitments(db, ring: ring, epoch: change.toEpoch)
            try db.execute(sql: "DELETE FROM members WHERE ring = ? AND epoch = ?", arguments: [ring, change.toEpoch])
            try db.execute(sql: "DELETE FROM epochChanges WHERE ring = ?", arguments: [ring])
            return change
        }
    }

    /// Makes the pending change's epoch the ring's, in one transaction: checks that every key
    /// version of the ring has a commitment at the new epoch, sets the ring's epoch, records
    /// the new members, deletes the members and commitments of older epochs and the pending row.
    /// - Returns: the committed change.
    /// - Throws: ``KeyStoreError`` `.notFound` when none is pending, `.invalid` naming the key
    ///   versions without a commitment at the new epoch (nothing is changed then).
    @discardableResult
    public func commitEpochChange(ring: String) async throws(KeyStoreError) -> EpochChangeRecord {
        try await write("commit the epoch change of ring \(ring)") { db in
            guard let change = try Self.fetchPending(db, ring) else {
                throw KeyStoreError(.notFound, "ring \(ring) has no epoch change under way")
            }
            let missing = try Row.fetchAll(
                db,
                sql: """
                    SELECT v.key, v.version FROM keyVersions v JOIN keys k ON k.name = v.key
                    WHERE k.ring = ? AND NOT EXISTS (
                        SELECT 1 FROM shareCommitments c
                        WHERE c.key = v.key AND c.version = v.version AND c.epoch = ?)
                    ORDER BY v.key, v.version
                    """,
                arguments: [ring, change.toEpoch]
            ).map { row -> String in
                let key: String = row["key"]
                let version: Int = row["version"]
                return "\(key) v\(version)"
            }
            guard missing.isEmpty else {
                throw KeyStoreError(
                    .invalid,
                    "ring \(ring) cannot move to epoch \(change.toEpoch): no commitment there for "
                        + missing.joined(separator: ", "))
            }
            try db.execute(sql: "UPDATE rings SET epoch = ? WHERE name = ?", arguments: [change.toEpoch, ring])
            try db.execute(sql: "DELETE FROM members WHERE ring = ?", arguments: [ring])
            try Self.insertMembers(db, ring, change.toEpoch, change.members)
            try db.execute(
                sql: "DELETE FROM shareCommitments WHERE epoch < ? AND key IN (SELECT name FROM keys WHERE ring = ?)",
                arguments: [change.toEpoch, ring])
            try db.execute(sql: "DELETE FROM epochChanges WHERE ring = ?", arguments: [ring])
            return change
        }
    }

    // MARK: - Rows

    static func deleteCommitments(_ db: Database, ring: String, epoch: Int) throws {
        try db.execute(
            sql: "DELETE FROM shareCommitments WHERE epoch = ? AND key IN (SELECT name FROM keys WHERE ring = ?)",
            arguments: [epoch, ring])
    }

    static func fetchPending(_ db: Database, _ ring: String) throws -> EpochChangeRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM epochChanges WHERE ring = ?", arguments: [ring]).map(changeRecord)
    }

    static func changeRecord(_ row: Row) throws -> EpochChangeRecord {
        let ring: String = row["ring"]
        let kindText: String = row["kind"]
        guard let kind = EpochChangeRecord.Kind(rawValue: kindText) else {
            throw KeyStoreError(.databaseFailed, "the epoch change of ring \(ring) has an unknown kind \(kindText)")
        }
        return EpochChangeRecord(
            ring: ring, fromEpoch: row["fromEpoch"], toEpoch: row["toEpoch"], kind: kind, startedAt: row["startedAt"],
            members: try decodeMembers(row["members"], ring: ring))
    }

    /// Members as a JSON object with the slot as a decimal key, sorted, e.g. `{"1":"ks-a","2":"ks-b"}`.
    static func encodeMembers(_ members: [Int: String]) throws(KeyStoreError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let object = Dictionary(uniqueKeysWithValues: members.map { (String($0.key), $0.value) })
        do {
            return String(decoding: try encoder.encode(object), as: UTF8.self)
        } catch {
            throw KeyStoreError(.invalid, "the members cannot be encoded: \(error)")
        }
    }

    static func decodeMembers(_ text: String, ring: String) throws -> [Int: String] {
        let object: [String: String]
        do {
            object = try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw KeyStoreError(.databaseFailed, "the epoch change of ring \(ring) has unreadable members")
        }
        var members: [Int: String] = [:]
        for (slot, id) in object {
            guard let index = Int(slot) else {
                throw KeyStoreError(.databaseFailed, "the epoch change of ring \(ring) has a member slot \"\(slot)\"")
            }
            members[index] = id
        }
        return members
    }
}
