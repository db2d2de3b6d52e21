internal import GRDB

/// The schema, as migrations. A released migration is never edited: a schema change is a new
/// migration appended to the list, so every database a released keyshardd wrote still opens.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rings (
                        name TEXT PRIMARY KEY NOT NULL,
                        threshold INTEGER NOT NULL,
                        shares INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        createdAt DATETIME NOT NULL
                    );
                    CREATE TABLE keys (
                        name TEXT PRIMARY KEY NOT NULL,
                        type TEXT NOT NULL,
                        ring TEXT NOT NULL REFERENCES rings(name),
                        createdAt DATETIME NOT NULL,
                        latestVersion INTEGER NOT NULL,
                        minDecryptionVersion INTEGER NOT NULL,
                        minEncryptionVersion INTEGER NOT NULL,
                        minAvailableVersion INTEGER NOT NULL,
                        deletionAllowed BOOLEAN NOT NULL
                    );
                    CREATE INDEX keys_ring ON keys(ring);
                    CREATE TABLE keyVersions (
                        key TEXT NOT NULL REFERENCES keys(name) ON DELETE CASCADE,
                        version INTEGER NOT NULL,
                        publicKey BLOB NOT NULL,
                        origin TEXT NOT NULL,
                        createdAt DATETIME NOT NULL,
                        PRIMARY KEY (key, version)
                    );
                    CREATE TABLE shareCommitments (
                        key TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        commitment BLOB NOT NULL,
                        PRIMARY KEY (key, version, epoch),
                        FOREIGN KEY (key, version) REFERENCES keyVersions(key, version) ON DELETE CASCADE
                    );
                    CREATE TABLE custodians (
                        id TEXT PRIMARY KEY NOT NULL,
                        ring TEXT NOT NULL,
                        slot INTEGER NOT NULL,
                        generation INTEGER NOT NULL,
                        backend TEXT NOT NULL,
                        host TEXT NOT NULL,
                        transport TEXT NOT NULL,
                        fingerprint BLOB,
                        state TEXT NOT NULL,
                        launchedAt DATETIME NOT NULL,
                        lastAttested DATETIME
                    );
                    CREATE INDEX custodians_ring ON custodians(ring, slot);
                    CREATE TABLE members (
                        ring TEXT NOT NULL REFERENCES rings(name),
                        epoch INTEGER NOT NULL,
                        slot INTEGER NOT NULL,
                        custodian TEXT NOT NULL,
                        PRIMARY KEY (ring, epoch, slot)
                    );
                    -- The primary key is what makes "at most one pending change per ring" hold even
                    -- against a writer that skipped the check.
                    CREATE TABLE epochChanges (
                        ring TEXT PRIMARY KEY NOT NULL REFERENCES rings(name),
                        fromEpoch INTEGER NOT NULL,
                        toEpoch INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        startedAt DATETIME NOT NULL,
                        members TEXT NOT NULL
                    );
                    CREATE TABLE counters (
                        name TEXT PRIMARY KEY NOT NULL,
                        value INTEGER NOT NULL
                    );
                    INSERT INTO counters (name, value) VALUES ('generation', 0);
                    """)
        }
        return migrator
    }
}
