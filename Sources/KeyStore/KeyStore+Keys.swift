import Foundation
internal import GRDB

extension KeyStore {
    // MARK: - Rings

    /// Stores a new ring.
    /// - Throws: ``KeyStoreError`` `.exists` when the name is taken, `.invalid` unless
    ///   1 ≤ threshold ≤ shares and epoch ≥ 0.
    public func insertRing(_ ring: RingRecord) async throws(KeyStoreError) {
        guard ring.threshold >= 1, ring.threshold <= ring.shares, ring.epoch >= 0 else {
            throw KeyStoreError(
                .invalid,
                "ring \(ring.name): threshold \(ring.threshold) of \(ring.shares) shares at epoch \(ring.epoch) "
                    + "is not a ring (1 ≤ threshold ≤ shares, epoch ≥ 0)")
        }
        try await write("store ring \(ring.name)") { db in
            guard try Self.fetchRing(db, ring.name) == nil else {
                throw KeyStoreError(.exists, "a ring named \(ring.name) exists")
            }
            try db.execute(
                sql: "INSERT INTO rings (name, threshold, shares, epoch, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [ring.name, ring.threshold, ring.shares, ring.epoch, ring.createdAt])
        }
    }

    /// The ring of that name, or nil.
    public func ring(named name: String) async throws(KeyStoreError) -> RingRecord? {
        try await read("read ring \(name)") { db in try Self.fetchRing(db, name) }
    }

    /// Every ring, by name.
    public func rings() async throws(KeyStoreError) -> [RingRecord] {
        try await read("list rings") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rings ORDER BY name").map(Self.ringRecord)
        }
    }

    // MARK: - Keys

    /// Stores a new key with its first version and that version's commitment at the ring's
    /// committed epoch, all or nothing.
    /// - Throws: ``KeyStoreError`` `.exists` when the name is taken, `.notFound` for an unknown
    ///   ring, `.busy` while the ring has a pending epoch change (the new key would have no
    ///   shares in the next epoch), `.invalid` when the records disagree with each other or the
    ///   version limits break their order.
    public func insertKey(
        _ key: KeyRecord, version: KeyVersionRecord, commitment: ShareCommitmentRecord
    ) async throws(KeyStoreError) {
        guard version.key == key.name, commitment.key == key.name, commitment.version == version.version,
            version.version == key.latestVersion
        else {
            throw KeyStoreError(
                .invalid,
                "key \(key.name): the version (\(version.key) v\(version.version)) and commitment "
                    + "(\(commitment.key) v\(commitment.version)) must be the key's latest version \(key.latestVersion)"
            )
        }
        try Self.checkLimits(key)
        try await write("store key \(key.name)") { db in
            guard try Self.fetchKey(db, key.name) == nil else {
                throw KeyStoreError(.exists, "a key named \(key.name) exists")
            }
            let ring = try Self.requireRing(db, key.ring)
            try Self.refuseWhilePending(db, ring: ring.name, doing: "create key \(key.name)")
            guard commitment.epoch == ring.epoch else {
                throw KeyStoreError(
                    .invalid,
                    "key \(key.name): the commitment is for epoch \(commitment.epoch) but ring \(ring.name) "
                        + "is at epoch \(ring.epoch)")
            }
            try db.execute(
                sql: """
                    INSERT INTO keys (name, type, ring, createdAt, latestVersion, minDecryptionVersion,
                        minEncryptionVersion, minAvailableVersion, deletionAllowed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.name, key.type, key.ring, key.createdAt, key.latestVersion, key.minDecryptionVersion,
                    key.minEncryptionVersion, key.minAvailableVersion, key.deletionAllowed,
                ])
            try Self.insertVersion(db, version)
            try Self.insertCommitment(db, commitment, replacing: false)
        }
    }

    /// Adds the next version of a key with its commitment at the ring's committed epoch, and
    /// raises `latestVersion` to it, all or nothing.
    /// - Throws: ``KeyStoreError`` `.notFound` for an unknown key, `.invalid` for a version that
    ///   is not latest + 1 or a commitment of another version or epoch, `.busy` while the ring
    ///   has a pending epoch change.
    public func addVersion(
        _ keyName: String, version: KeyVersionRecord, commitment: ShareCommitmentRecord
    ) async throws(KeyStoreError) {
        guard version.key == keyName, commitment.key == keyName, commitment.version == version.version else {
            throw KeyStoreError(
                .invalid,
                "key \(keyName): the version and the commitment must both be of key \(keyName) v\(version.version)")
        }
        try await write("add version \(version.version) to key \(keyName)") { db in
            let key = try Self.requireKey(db, keyName)
            guard version.version == key.latestVersion + 1 else {
                throw KeyStoreError(
                    .invalid,
                    "key \(keyName) is at version \(key.latestVersion); the next version is \(key.latestVersion + 1), "
                        + "not \(version.version)")
            }
            let ring = try Self.requireRing(db, key.ring)
            try Self.refuseWhilePending(db, ring: ring.name, doing: "rotate key \(keyName)")
            guard commitment.epoch == ring.epoch else {
                throw KeyStoreError(
                    .invalid,
                    "key \(keyName) v\(version.version): the commitment is for epoch \(commitment.epoch) but ring "
                        + "\(ring.name) is at epoch \(ring.epoch)")
            }
            try Self.insertVersion(db, version)
            try Self.insertCommitment(db, commitment, replacing: false)
            try db.execute(
                sql: "UPDATE keys SET latestVersion = ? WHERE name = ?", arguments: [version.version, keyName])
        }
    }

    /// Changes a key's version limits; nil leaves a setting as it is. The engine validates the
    /// request first; the store still refuses any result that breaks the limits' order.
    /// - Returns: the key as stored afterwards.
    /// - Throws: ``KeyStoreError`` `.notFound`, `.invalid` (e.g. a minimum decryption version
    ///   above the latest version or below the oldest available one).
    @discardableResult
    public func updateKeyConfig(
        _ name: String, minDecryptionVersion: Int? = nil, minEncryptionVersion: Int? = nil,
        deletionAllowed: Bool? = nil
    ) async throws(KeyStoreError) -> KeyRecord {
        try await write("configure key \(name)") { db in
            var key = try Self.requireKey(db, name)
            if let minDecryptionVersion { key.minDecryptionVersion = minDecryptionVersion }
            if let minEncryptionVersion { key.minEncryptionVersion = minEncryptionVersion }
            if let deletionAllowed { key.deletionAllowed = deletionAllowed }
            try Self.checkLimits(key)
            try db.execute(
                sql: """
                    UPDATE keys SET minDecryptionVersion = ?, minEncryptionVersion = ?, deletionAllowed = ?
                    WHERE name = ?
                    """,
                arguments: [key.minDecryptionVersion, key.minEncryptionVersion, key.deletionAllowed, name])
            return key
        }
    }

    /// Forgets every version below `minAvailableVersion` (their public keys and commitments of
    /// every epoch) and records the new minimum. Call it after the custodians destroyed those
    /// shares.
    /// - Returns: the key as stored afterwards.
    /// - Throws: ``KeyStoreError`` `.notFound`, `.invalid` when the minimum is below the current one,
    ///   above the minimum decryption (or a nonzero minimum encryption) version, or above the latest.
    @discardableResult
    public func trim(_ name: String, minAvailableVersion: Int) async throws(KeyStoreError) -> KeyRecord {
        try await write("trim key \(name)") { db in
            var key = try Self.requireKey(db, name)
            guard minAvailableVersion >= key.minAvailableVersion else {
                throw KeyStoreError(
                    .invalid,
                    "key \(name): versions below \(key.minAvailableVersion) are already trimmed; "
                        + "\(minAvailableVersion) cannot bring them back")
            }
            key.minAvailableVersion = minAvailableVersion
            try Self.checkLimits(key)
            try db.execute(
                sql: "DELETE FROM keyVersions WHERE key = ? AND version < ?", arguments: [name, minAvailableVersion])
            try db.execute(
                sql: "UPDATE keys SET minAvailableVersion = ? WHERE name = ?", arguments: [minAvailableVersion, name])
            return key
        }
    }

    /// Deletes a key with its versions and commitments. Whether deletion is allowed is the
    /// engine's check (`deletionAllowed`), made before it tells the custodians to forget.
    /// - Throws: ``KeyStoreError`` `.notFound`.
    public func deleteKey(_ name: String) async throws(KeyStoreError) {
        try await write("delete key \(name)") { db in
            try db.execute(sql: "DELETE FROM keys WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { throw KeyStoreError(.notFound, "no key named \(name)") }
        }
    }

    /// The key of that name, or nil.
    public func key(named name: String) async throws(KeyStoreError) -> KeyRecord? {
        try await read("read key \(name)") { db in try Self.fetchKey(db, name) }
    }

    /// Every key (of one ring, when given), by name.
    public func keys(ring: String? = nil) async throws(KeyStoreError) -> [KeyRecord] {
        try await read("list keys") { db in
            let rows =
                if let ring {
                    try Row.fetchAll(db, sql: "SELECT * FROM keys WHERE ring = ? ORDER BY name", arguments: [ring])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM keys ORDER BY name")
                }
            return rows.map(Self.keyRecord)
        }
    }

    /// A key's stored versions, ascending (those from `minAvailableVersion` on).
    public func versions(of key: String) async throws(KeyStoreError) -> [KeyVersionRecord] {
        try await read("list the versions of key \(key)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM keyVersions WHERE key = ? ORDER BY version", arguments: [key])
                .map(Self.versionRecord)
        }
    }

    /// The commitment of a key version at an epoch, or nil.
    public func commitment(key: String, version: Int, epoch: Int) async throws(KeyStoreError) -> ShareCommitmentRecord?
    {
        try await read("read a commitment of key \(key)") { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM shareCommitments WHERE key = ? AND version = ? AND epoch = ?",
                arguments: [key, version, epoch]
            ).map(Self.commitmentRecord)
        }
    }

    /// The commitments of every key version of a ring at an epoch, by key then version.
    public func commitments(ring: String, epoch: Int) async throws(KeyStoreError) -> [ShareCommitmentRecord] {
        try await read("list the commitments of ring \(ring)") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.* FROM shareCommitments c JOIN keys k ON k.name = c.key
                    WHERE k.ring = ? AND c.epoch = ? ORDER BY c.key, c.version
                    """,
                arguments: [ring, epoch]
            ).map(Self.commitmentRecord)
        }
    }

    // MARK: - Rows

    /// Version limits in Vault transit's order: 1 ≤ available ≤ decryption ≤ latest, and an
    /// encryption minimum of 0 (the latest) or decryption ≤ encryption ≤ latest.
    static func checkLimits(_ key: KeyRecord) throws(KeyStoreError) {
        let name = key.name
        guard key.latestVersion >= 1 else {
            throw KeyStoreError(.invalid, "key \(name): the latest version must be at least 1")
        }
        guard key.minDecryptionVersion >= 1, key.minDecryptionVersion <= key.latestVersion else {
            throw KeyStoreError(
                .invalid,
                "key \(name): the minimum decryption version \(key.minDecryptionVersion) is not between 1 and the "
                    + "latest version \(key.latestVersion)")
        }
        guard key.minAvailableVersion >= 1, key.minAvailableVersion <= key.minDecryptionVersion else {
            throw KeyStoreError(
                .invalid,
                "key \(name): versions below \(key.minAvailableVersion) would be gone but the minimum decryption "
                    + "version is \(key.minDecryptionVersion); raise min_decryption_version first")
        }
        if key.minEncryptionVersion != 0 {
            guard key.minEncryptionVersion >= key.minDecryptionVersion,
                key.minEncryptionVersion <= key.latestVersion
            else {
                throw KeyStoreError(
                    .invalid,
                    "key \(name): the minimum encryption version \(key.minEncryptionVersion) must be 0 (the latest) "
                        + "or between the minimum decryption version \(key.minDecryptionVersion) and the latest "
                        + "version \(key.latestVersion)")
            }
        }
    }

    static func refuseWhilePending(_ db: Database, ring: String, doing what: String) throws {
        if let change = try fetchPending(db, ring) {
            throw KeyStoreError(
                .busy,
                "cannot \(what): ring \(ring) is changing from epoch \(change.fromEpoch) to \(change.toEpoch) "
                    + "(\(change.kind.rawValue)); try again when it is done")
        }
    }

    static func insertVersion(_ db: Database, _ version: KeyVersionRecord) throws {
        try db.execute(
            sql: "INSERT INTO keyVersions (key, version, publicKey, origin, createdAt) VALUES (?, ?, ?, ?, ?)",
            arguments: [version.key, version.version, Data(version.publicKey), version.origin, version.createdAt])
    }

    static func insertCommitment(_ db: Database, _ commitment: ShareCommitmentRecord, replacing: Bool) throws {
        try db.execute(
            sql: "INSERT \(replacing ? "OR REPLACE " : "")INTO shareCommitments (key, version, epoch, commitment) "
                + "VALUES (?, ?, ?, ?)",
            arguments: [commitment.key, commitment.version, commitment.epoch, Data(commitment.commitment)])
    }

    static func fetchRing(_ db: Database, _ name: String) throws -> RingRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM rings WHERE name = ?", arguments: [name]).map(ringRecord)
    }

    static func requireRing(_ db: Database, _ name: String) throws -> RingRecord {
        guard let ring = try fetchRing(db, name) else { throw KeyStoreError(.notFound, "no ring named \(name)") }
        return ring
    }

    static func fetchKey(_ db: Database, _ name: String) throws -> KeyRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM keys WHERE name = ?", arguments: [name]).map(keyRecord)
    }

    static func requireKey(_ db: Database, _ name: String) throws -> KeyRecord {
        guard let key = try fetchKey(db, name) else { throw KeyStoreError(.notFound, "no key named \(name)") }
        return key
    }

    static func ringRecord(_ row: Row) -> RingRecord {
        RingRecord(
            name: row["name"], threshold: row["threshold"], shares: row["shares"], epoch: row["epoch"],
            createdAt: row["createdAt"])
    }

    static func keyRecord(_ row: Row) -> KeyRecord {
        KeyRecord(
            name: row["name"], type: row["type"], ring: row["ring"], createdAt: row["createdAt"],
            latestVersion: row["latestVersion"], minDecryptionVersion: row["minDecryptionVersion"],
            minEncryptionVersion: row["minEncryptionVersion"], minAvailableVersion: row["minAvailableVersion"],
            deletionAllowed: row["deletionAllowed"])
    }

    static func versionRecord(_ row: Row) -> KeyVersionRecord {
        let publicKey: Data = row["publicKey"]
        return KeyVersionRecord(
            key: row["key"], version: row["version"], publicKey: Array(publicKey), origin: row["origin"],
            createdAt: row["createdAt"])
    }

    static func commitmentRecord(_ row: Row) -> ShareCommitmentRecord {
        let commitment: Data = row["commitment"]
        return ShareCommitmentRecord(
            key: row["key"], version: row["version"], epoch: row["epoch"], commitment: Array(commitment))
    }
}
