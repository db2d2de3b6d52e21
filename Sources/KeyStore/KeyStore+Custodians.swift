import Foundation
internal import GRDB

extension KeyStore {
    /// Stores a custodian, replacing the row with the same id.
    /// - Throws: ``KeyStoreError`` `.databaseFailed`.
    public func upsertCustodian(_ custodian: CustodianRow) async throws(KeyStoreError) {
        try await write("store custodian \(custodian.id)") { db in
            try db.execute(
                sql: """
                    INSERT INTO custodians (id, ring, slot, generation, backend, host, transport, fingerprint, state,
                        launchedAt, lastAttested)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET ring = excluded.ring, slot = excluded.slot,
                        generation = excluded.generation, backend = excluded.backend, host = excluded.host,
                        transport = excluded.transport, fingerprint = excluded.fingerprint, state = excluded.state,
                        launchedAt = excluded.launchedAt, lastAttested = excluded.lastAttested
                    """,
                arguments: [
                    custodian.id, custodian.ring, custodian.slot, custodian.generation, custodian.backend,
                    custodian.host, custodian.transport, custodian.fingerprint.map { Data($0) }, custodian.state,
                    custodian.launchedAt, custodian.lastAttested,
                ])
        }
    }

    /// The custodian with that backend id, or nil.
    public func custodian(id: String) async throws(KeyStoreError) -> CustodianRow? {
        try await read("read custodian \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM custodians WHERE id = ?", arguments: [id]).map(Self.custodianRow)
        }
    }

    /// Every custodian (of one ring, when given), by ring, slot and generation.
    public func custodians(ring: String? = nil) async throws(KeyStoreError) -> [CustodianRow] {
        try await read("list custodians") { db in
            let rows =
                if let ring {
                    try Row.fetchAll(
                        db, sql: "SELECT * FROM custodians WHERE ring = ? ORDER BY slot, generation", arguments: [ring])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM custodians ORDER BY ring, slot, generation")
                }
            return rows.map(Self.custodianRow)
        }
    }

    /// Records a custodian's state, and when given its last accepted attestation (nil leaves it).
    /// - Throws: ``KeyStoreError`` `.notFound` for an unknown id.
    public func setCustodianState(_ id: String, state: String, lastAttested: Date? = nil) async throws(KeyStoreError) {
        try await write("record the state of custodian \(id)") { db in
            if let lastAttested {
                try db.execute(
                    sql: "UPDATE custodians SET state = ?, lastAttested = ? WHERE id = ?",
                    arguments: [state, lastAttested, id])
            } else {
                try db.execute(sql: "UPDATE custodians SET state = ? WHERE id = ?", arguments: [state, id])
            }
            guard db.changesCount > 0 else { throw KeyStoreError(.notFound, "no custodian with id \(id)") }
        }
    }

    /// Forgets a custodian (after its backend destroyed it).
    /// - Returns: whether there was such a row; deleting twice is not an error, so cleanup can retry.
    @discardableResult
    public func deleteCustodian(_ id: String) async throws(KeyStoreError) -> Bool {
        try await write("delete custodian \(id)") { db in
            try db.execute(sql: "DELETE FROM custodians WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    // MARK: - Members

    /// Which custodian holds which share index of a ring at an epoch (slot → custodian id);
    /// empty for an epoch that is not stored.
    public func members(ring: String, epoch: Int) async throws(KeyStoreError) -> [Int: String] {
        try await read("read the members of ring \(ring)") { db in try Self.fetchMembers(db, ring, epoch) }
    }

    /// Records the first members of a new ring, at its committed epoch.
    /// - Throws: ``KeyStoreError`` `.notFound` for an unknown ring, `.invalid` when the ring has
    ///   members already, the epoch is not the ring's, a slot is outside 1...n or one custodian
    ///   holds two slots.
    public func initialMembers(ring: String, epoch: Int, members: [Int: String]) async throws(KeyStoreError) {
        try await write("record the members of ring \(ring)") { db in
            let record = try Self.requireRing(db, ring)
            guard epoch == record.epoch else {
                throw KeyStoreError(.invalid, "ring \(ring) is at epoch \(record.epoch), not \(epoch)")
            }
            let existing = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM members WHERE ring = ?", arguments: [ring])
            guard existing == 0 else {
                throw KeyStoreError(
                    .invalid, "ring \(ring) has members already; later members come with an epoch change")
            }
            try Self.checkMembers(members, of: record)
            try Self.insertMembers(db, ring, epoch, members)
        }
    }

    static func checkMembers(_ members: [Int: String], of ring: RingRecord) throws(KeyStoreError) {
        if let slot = members.keys.first(where: { !(1...ring.shares).contains($0) }) {
            throw KeyStoreError(.invalid, "ring \(ring.name) has share indices 1...\(ring.shares), not \(slot)")
        }
        let ids = members.values
        if Set(ids).count != ids.count {
            throw KeyStoreError(.invalid, "one custodian cannot hold two share indices of ring \(ring.name)")
        }
    }

    static func insertMembers(_ db: Database, _ ring: String, _ epoch: Int, _ members: [Int: String]) throws {
        for (slot, custodian) in members.sorted(by: { $0.key < $1.key }) {
            try db.execute(
                sql: "INSERT OR REPLACE INTO members (ring, epoch, slot, custodian) VALUES (?, ?, ?, ?)",
                arguments: [ring, epoch, slot, custodian])
        }
    }

    static func fetchMembers(_ db: Database, _ ring: String, _ epoch: Int) throws -> [Int: String] {
        var members: [Int: String] = [:]
        for row in try Row.fetchAll(
            db, sql: "SELECT slot, custodian FROM members WHERE ring = ? AND epoch = ?", arguments: [ring, epoch])
        {
            let slot: Int = row["slot"]
            let custodian: String = row["custodian"]
            members[slot] = custodian
        }
        return members
    }

    static func custodianRow(_ row: Row) -> CustodianRow {
        let fingerprint: Data? = row["fingerprint"]
        return CustodianRow(
            id: row["id"], ring: row["ring"], slot: row["slot"], generation: row["generation"],
            backend: row["backend"], host: row["host"], transport: row["transport"],
            fingerprint: fingerprint.map(Array.init), state: row["state"], launchedAt: row["launchedAt"],
            lastAttested: row["lastAttested"])
    }
}
