import Foundation

// The stored records. Byte fields are plain bytes: the engine turns them into crypto types, so
// this module needs no cryptography and cannot hold a secret by construction. Dates keep
// millisecond precision.

/// A ring: t-of-n custodians that together hold every key version of the ring.
public struct RingRecord: Codable, Hashable, Sendable {
    /// Its name.
    public var name: String
    /// t: custodians needed for an operation.
    public var threshold: Int
    /// n: custodians holding a share (share indices 1...n).
    public var shares: Int
    /// The committed epoch: the share set every operation uses.
    public var epoch: Int
    /// When it was created.
    public var createdAt: Date

    /// Creates a record.
    public init(name: String, threshold: Int, shares: Int, epoch: Int, createdAt: Date) {
        self.name = name
        self.threshold = threshold
        self.shares = shares
        self.epoch = epoch
        self.createdAt = createdAt
    }
}

/// A key: its type, ring and version limits (Vault transit's key configuration).
public struct KeyRecord: Codable, Hashable, Sendable {
    /// Its name.
    public var name: String
    /// The key type's raw value (`hpke-p256`, `frost-p256`).
    public var type: String
    /// The ring whose custodians hold its shares.
    public var ring: String
    /// When it was created.
    public var createdAt: Date
    /// The newest version.
    public var latestVersion: Int
    /// The lowest version that decrypts or verifies.
    public var minDecryptionVersion: Int
    /// The lowest version that encrypts or signs; 0 means the latest.
    public var minEncryptionVersion: Int
    /// The lowest version whose shares still exist (`trim` raises it).
    public var minAvailableVersion: Int
    /// Whether the key may be deleted.
    public var deletionAllowed: Bool

    /// Creates a record.
    public init(
        name: String, type: String, ring: String, createdAt: Date, latestVersion: Int = 1,
        minDecryptionVersion: Int = 1, minEncryptionVersion: Int = 0, minAvailableVersion: Int = 1,
        deletionAllowed: Bool = false
    ) {
        self.name = name
        self.type = type
        self.ring = ring
        self.createdAt = createdAt
        self.latestVersion = latestVersion
        self.minDecryptionVersion = minDecryptionVersion
        self.minEncryptionVersion = minEncryptionVersion
        self.minAvailableVersion = minAvailableVersion
        self.deletionAllowed = deletionAllowed
    }
}

/// One version of a key: its group public key.
public struct KeyVersionRecord: Codable, Hashable, Sendable {
    /// The key's name.
    public var key: String
    /// The version, from 1.
    public var version: Int
    /// The group public key, SEC1 compressed (33 bytes).
    public var publicKey: [UInt8]
    /// `dkg` or `import`.
    public var origin: String
    /// When it was made.
    public var createdAt: Date

    /// Creates a record.
    public init(key: String, version: Int, publicKey: [UInt8], origin: String, createdAt: Date) {
        self.key = key
        self.version = version
        self.publicKey = publicKey
        self.origin = origin
        self.createdAt = createdAt
    }
}

/// The serialized Feldman commitment of one key version at one ring epoch: the public shares
/// X_i the custodians of that epoch must prove possession of.
public struct ShareCommitmentRecord: Codable, Hashable, Sendable {
    /// The key's name.
    public var key: String
    /// The key version.
    public var version: Int
    /// The ring epoch whose shares it describes.
    public var epoch: Int
    /// The serialized commitment (opaque to the store).
    public var commitment: [UInt8]

    /// Creates a record.
    public init(key: String, version: Int, epoch: Int, commitment: [UInt8]) {
        self.key = key
        self.version = version
        self.epoch = epoch
        self.commitment = commitment
    }
}

/// A custodian the daemon launched or rediscovered.
public struct CustodianRow: Codable, Hashable, Sendable {
    /// The backend's id (domain name, process directory); unique.
    public var id: String
    /// Its ring.
    public var ring: String
    /// The share index it holds (1...n).
    public var slot: Int
    /// From ``KeyStore/nextGeneration()``: which launch this is, never reused.
    public var generation: Int64
    /// `process` or `libvirt`.
    public var backend: String
    /// The host it runs on.
    public var host: String
    /// How the daemon reaches its agent (the backend's endpoint description).
    public var transport: String
    /// Opaque JSON the engine writes to recognise the custodian after a restart (public data
    /// only: key fingerprints, never a key).
    public var fingerprint: [UInt8]?
    /// `launching`, `attesting`, `healthy`, `stale`, `quarantined`.
    public var state: String
    /// When it was launched.
    public var launchedAt: Date
    /// The last accepted attestation or heartbeat.
    public var lastAttested: Date?

    /// Creates a row.
    public init(
        id: String, ring: String, slot: Int, generation: Int64, backend: String, host: String, transport: String,
        fingerprint: [UInt8]? = nil, state: String, launchedAt: Date, lastAttested: Date? = nil
    ) {
        self.id = id
        self.ring = ring
        self.slot = slot
        self.generation = generation
        self.backend = backend
        self.host = host
        self.transport = transport
        self.fingerprint = fingerprint
        self.state = state
        self.launchedAt = launchedAt
        self.lastAttested = lastAttested
    }
}

/// An epoch change under way: the ring moves from `fromEpoch` to `toEpoch`, whose shares the
/// `members` hold once committed. At most one per ring.
public struct EpochChangeRecord: Codable, Hashable, Sendable {
    /// What kind of change.
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        /// One custodian's share rebuilt for its replacement.
        case repair
        /// Every custodian replaced (`keyshard rotate`, maximum age).
        case rotation
        /// Same custodians, fresh shares, so old shares cannot be combined with new ones.
        case refresh
    }

    /// The ring.
    public var ring: String
    /// The committed epoch when the change began.
    public var fromEpoch: Int
    /// The epoch being built.
    public var toEpoch: Int
    /// What kind of change.
    public var kind: Kind
    /// When it began.
    public var startedAt: Date
    /// Share index → custodian id of the new epoch.
    public var members: [Int: String]

    /// Creates a record.
    public init(ring: String, fromEpoch: Int, toEpoch: Int, kind: Kind, startedAt: Date, members: [Int: String]) {
        self.ring = ring
        self.fromEpoch = fromEpoch
        self.toEpoch = toEpoch
        self.kind = kind
        self.startedAt = startedAt
        self.members = members
    }
}
