#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import ShardCrypto

/// What keyshardd does, as the HTTP server calls it: the engine implements it. Every method is
/// one API operation; authorization and the API-call audit record happen in the server before
/// a method runs, the engine's own audit records (custodians, epochs, key ops) inside it.
///
/// Errors are ``KeyshardError``: a code the server maps to an HTTP status and a CLI exit code,
/// and a sentence that never carries key material.
public protocol KeyshardService: Sendable {
    /// Creates a key by DKG among the ring's attested custodians (the key never exists whole).
    /// - Parameters:
    ///   - ring: the ring; nil uses the configured default ring (created on first use with
    ///     `threshold`/`shares`, or the configured defaults).
    func createKey(_ name: String, type: KeyType, ring: String?, threshold: Int?, shares: Int?)
        async throws(KeyshardError) -> KeyInfo
    /// Splits a given scalar among the ring's custodians (a dealer split), then zeroises it.
    func importKey(_ name: String, type: KeyType, scalar: SecretBytes, ring: String?, threshold: Int?, shares: Int?)
        async throws(KeyshardError) -> KeyInfo
    /// One key.
    func key(_ name: String) async throws(KeyshardError) -> KeyInfo
    /// Every key's name, sorted.
    func keyNames() async throws(KeyshardError) -> [String]
    /// Deletes a key whose `deletionAllowed` is set: every custodian forgets every share of it.
    func deleteKey(_ name: String) async throws(KeyshardError)
    /// Adds a key version in the same ring (a new DKG).
    func rotateKey(_ name: String) async throws(KeyshardError) -> KeyInfo
    /// Changes a key's version limits; nil leaves a setting as it is.
    func configureKey(_ name: String, _ change: KeyConfigChange) async throws(KeyshardError) -> KeyInfo
    /// Destroys the shares of every version below `minimumVersion` on every custodian.
    func trimKey(_ name: String, minimumVersion: Int) async throws(KeyshardError) -> KeyInfo

    /// HPKE-seals `plaintext` to a key version (the latest when nil).
    func encrypt(_ name: String, plaintext: SecretBytes, context: [UInt8], version: Int?)
        async throws(KeyshardError) -> KeyshardCiphertext
    /// Threshold-decrypts a ciphertext of a version ≥ `minDecryptionVersion`.
    func decrypt(_ name: String, ciphertext: KeyshardCiphertext, context: [UInt8])
        async throws(KeyshardError) -> SecretBytes
    /// Decrypts and seals again under the latest (or given) version.
    func rewrap(_ name: String, ciphertext: KeyshardCiphertext, context: [UInt8], version: Int?)
        async throws(KeyshardError) -> KeyshardCiphertext
    /// A fresh random data key of `bits` bits and its ciphertext.
    func dataKey(_ name: String, bits: Int, context: [UInt8]) async throws(KeyshardError)
        -> (plaintext: SecretBytes, ciphertext: KeyshardCiphertext)
    /// A FROST(P-256, SHA-256) signature (RFC 9591) over `message` by t custodians.
    func sign(_ name: String, message: [UInt8], version: Int?) async throws(KeyshardError) -> KeyshardSignature
    /// Whether `signature` is a valid signature of `message` under the key version it names.
    func verify(_ name: String, message: [UInt8], signature: KeyshardSignature) async throws(KeyshardError) -> Bool

    /// Every custodian, or a ring's.
    func custodians(ring: String?) async throws(KeyshardError) -> [CustodianInfo]
    /// Every ring.
    func rings() async throws(KeyshardError) -> [RingInfo]
    /// Replaces every custodian of a ring with fresh ones and redistributes every key version's
    /// shares; public keys unchanged. `.busy` when an epoch change of the ring is under way.
    func rotateRing(_ ring: String) async throws(KeyshardError) -> RingInfo
    /// Re-reads the attestation policy and re-attests every custodian against it at once.
    func reloadPolicy() async throws(KeyshardError) -> PolicyReloadResult
    /// Whether the daemon serves: every ring at or above its threshold.
    func health() async -> HealthInfo
}

/// A key's purpose and algorithm; keys of one type refuse the other type's operations.
public enum KeyType: String, Codable, Sendable, CaseIterable {
    /// RFC 9180 HPKE, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM: encrypt, decrypt,
    /// datakey, rewrap.
    case hpkeP256 = "hpke-p256"
    /// RFC 9591 FROST(P-256, SHA-256): sign, verify.
    case frostP256 = "frost-p256"

    /// Whether the type encrypts and decrypts.
    public var supportsEncryption: Bool { self == .hpkeP256 }
    /// Whether the type signs.
    public var supportsSigning: Bool { self == .frostP256 }
}

/// A change to a key's configuration (Vault's `/keys/:name/config`).
public struct KeyConfigChange: Sendable, Hashable, Codable {
    /// Ciphertexts and signatures of lower versions are refused.
    public var minDecryptionVersion: Int?
    /// Encryption and signing with lower versions are refused (0: the latest).
    public var minEncryptionVersion: Int?
    /// Whether `deleteKey` is allowed.
    public var deletionAllowed: Bool?

    /// Creates a change.
    public init(minDecryptionVersion: Int? = nil, minEncryptionVersion: Int? = nil, deletionAllowed: Bool? = nil) {
        self.minDecryptionVersion = minDecryptionVersion
        self.minEncryptionVersion = minEncryptionVersion
        self.deletionAllowed = deletionAllowed
    }
}

/// One version of a key.
public struct KeyVersionInfo: Sendable, Hashable, Codable {
    /// The version, from 1.
    public let version: Int
    /// The group public key, SEC1 compressed (33 bytes).
    public let publicKey: [UInt8]
    /// When it was made.
    public let createdAt: Date
    /// Whether it was made by DKG (`dkg`) or imported (`import`).
    public let origin: String

    /// Creates a description.
    public init(version: Int, publicKey: [UInt8], createdAt: Date, origin: String) {
        self.version = version
        self.publicKey = publicKey
        self.createdAt = createdAt
        self.origin = origin
    }
}

/// A key as the API shows it: public parts only.
public struct KeyInfo: Sendable, Hashable, Codable {
    /// Its name.
    public let name: String
    /// Its type.
    public let type: KeyType
    /// The ring whose custodians hold its shares.
    public let ring: String
    /// t: custodians needed for an operation.
    public let threshold: Int
    /// n: custodians holding a share.
    public let shares: Int
    /// The newest version.
    public let latestVersion: Int
    /// The lowest version that decrypts or verifies.
    public let minDecryptionVersion: Int
    /// The lowest version that encrypts or signs (0: the latest).
    public let minEncryptionVersion: Int
    /// The lowest version whose shares still exist (trim raises it).
    public let minAvailableVersion: Int
    /// Whether the key may be deleted.
    public let deletionAllowed: Bool
    /// The versions still available, ascending.
    public let versions: [KeyVersionInfo]

    /// Creates a description.
    public init(
        name: String, type: KeyType, ring: String, threshold: Int, shares: Int, latestVersion: Int,
        minDecryptionVersion: Int, minEncryptionVersion: Int, minAvailableVersion: Int, deletionAllowed: Bool,
        versions: [KeyVersionInfo]
    ) {
        self.name = name
        self.type = type
        self.ring = ring
        self.threshold = threshold
        self.shares = shares
        self.latestVersion = latestVersion
        self.minDecryptionVersion = minDecryptionVersion
        self.minEncryptionVersion = minEncryptionVersion
        self.minAvailableVersion = minAvailableVersion
        self.deletionAllowed = deletionAllowed
        self.versions = versions
    }
}

/// A custodian as `keyshard custodians` lists it.
public struct CustodianInfo: Sendable, Hashable, Codable {
    /// The ring.
    public let ring: String
    /// Its share index.
    public let index: Int
    /// The backend's id (domain name, process directory).
    public let backendID: String
    /// The host it runs on.
    public let host: String
    /// `launching`, `attesting`, `healthy`, `stale`, `quarantined`.
    public let state: String
    /// The last accepted attestation or heartbeat.
    public let lastAttested: Date?
    /// The ring epoch whose shares it holds.
    public let epoch: Int
    /// When it was launched.
    public let launchedAt: Date

    /// Creates a description.
    public init(
        ring: String, index: Int, backendID: String, host: String, state: String, lastAttested: Date?, epoch: Int,
        launchedAt: Date
    ) {
        self.ring = ring
        self.index = index
        self.backendID = backendID
        self.host = host
        self.state = state
        self.lastAttested = lastAttested
        self.epoch = epoch
        self.launchedAt = launchedAt
    }
}

/// A ring as `keyshard status` shows it.
public struct RingInfo: Sendable, Hashable, Codable {
    /// Its name.
    public let name: String
    /// t.
    public let threshold: Int
    /// n.
    public let shares: Int
    /// The committed epoch.
    public let epoch: Int
    /// Custodians attested within the freshness window.
    public let healthy: Int
    /// `ok` (all n healthy), `degraded` (t…n−1), `below-threshold`.
    public let state: String
    /// The epoch change under way (`repair`, `rotation`, `refresh`), if any.
    public let changing: String?
    /// The keys it holds.
    public let keys: [String]

    /// Creates a description.
    public init(
        name: String, threshold: Int, shares: Int, epoch: Int, healthy: Int, state: String, changing: String?,
        keys: [String]
    ) {
        self.name = name
        self.threshold = threshold
        self.shares = shares
        self.epoch = epoch
        self.healthy = healthy
        self.state = state
        self.changing = changing
        self.keys = keys
    }
}

/// What a policy reload did.
public struct PolicyReloadResult: Sendable, Hashable, Codable {
    /// Custodians re-attested and still accepted.
    public let accepted: Int
    /// Custodians refused and replaced, with the reason.
    public let replaced: [String: String]

    /// Creates a result.
    public init(accepted: Int, replaced: [String: String]) {
        self.accepted = accepted
        self.replaced = replaced
    }
}

/// `/v1/sys/health`.
public struct HealthInfo: Sendable, Hashable, Codable {
    /// Every ring at or above its threshold.
    public let serving: Bool
    /// The rings.
    public let rings: [RingInfo]
    /// `process` or `libvirt`.
    public let backend: String
    /// keyshardd's version.
    public let version: String

    /// Creates a description.
    public init(serving: Bool, rings: [RingInfo], backend: String, version: String) {
        self.serving = serving
        self.rings = rings
        self.backend = backend
        self.version = version
    }
}

/// A ciphertext in keyshard's text form, `keyshard:v<version>:<base64(enc ‖ ct)>`: the HPKE
/// encapsulated key (65 bytes) followed by the AEAD ciphertext, as any RFC 9180 library's
/// single-shot seal to the version's public key produces them (empty AAD).
public struct KeyshardCiphertext: Sendable, Hashable, CustomStringConvertible {
    /// The key version it was sealed to.
    public let version: Int
    /// enc ‖ ct.
    public let bytes: [UInt8]

    /// Creates a ciphertext.
    public init(version: Int, bytes: [UInt8]) {
        self.version = version
        self.bytes = bytes
    }

    /// Parses the text form.
    /// - Throws: ``KeyshardError/Code/badRequest`` naming what is wrong.
    public init(parsing text: String) throws(KeyshardError) {
        let (version, bytes) = try KeyshardArmor.parse(text, what: "ciphertext")
        self.init(version: version, bytes: bytes)
    }

    /// The text form.
    public var description: String { KeyshardArmor.format(version: version, bytes: bytes) }
}

/// A signature in keyshard's text form, `keyshard:v<version>:<base64(R ‖ z)>` (65 bytes, RFC 9591).
public struct KeyshardSignature: Sendable, Hashable, CustomStringConvertible {
    /// The key version that signed.
    public let version: Int
    /// R (33 bytes, compressed) ‖ z (32 bytes).
    public let bytes: [UInt8]

    /// Creates a signature.
    public init(version: Int, bytes: [UInt8]) {
        self.version = version
        self.bytes = bytes
    }

    /// Parses the text form.
    /// - Throws: ``KeyshardError/Code/badRequest`` naming what is wrong.
    public init(parsing text: String) throws(KeyshardError) {
        let (version, bytes) = try KeyshardArmor.parse(text, what: "signature")
        self.init(version: version, bytes: bytes)
    }

    /// The text form.
    public var description: String { KeyshardArmor.format(version: version, bytes: bytes) }
}

/// The `keyshard:v<N>:<base64>` armour shared by ciphertexts and signatures.
public enum KeyshardArmor {
    /// The prefix (Vault's is `vault:`).
    public static let prefix = "keyshard:v"
    /// The longest armoured text accepted (a 1 MiB payload in base64 and the prefix).
    public static let maximumLength = 1_400_000

    /// `keyshard:v<version>:<base64>`.
    public static func format(version: Int, bytes: [UInt8]) -> String {
        "\(prefix)\(version):" + Data(bytes).base64EncodedString()
    }

    /// Splits and decodes the armour.
    /// - Throws: ``KeyshardError/Code/badRequest``.
    public static func parse(_ text: String, what: String) throws(KeyshardError) -> (Int, [UInt8]) {
        // Tolerates the newline a file or `echo` leaves; FoundationEssentials has no trimming API.
        // "\r\n" is one Character in Swift, equal to neither "\r" nor "\n": a Windows line ending
        // would otherwise survive the trim (found by api-fuzz's harness).
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\r\n" || $0 == "\t" }
        let trimmed = String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
        guard trimmed.utf8.count <= maximumLength else {
            throw KeyshardError(.badRequest, "the \(what) is longer than \(maximumLength) characters")
        }
        guard trimmed.hasPrefix(prefix) else {
            throw KeyshardError(.badRequest, "a keyshard \(what) starts with \"keyshard:v<version>:\"")
        }
        let rest = trimmed.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":"), let version = Int(rest[rest.startIndex..<colon]), version >= 1,
            version <= Int(UInt32.max)
        else {
            throw KeyshardError(.badRequest, "the \(what)'s version is not a positive number (\"keyshard:v<version>:\")")
        }
        guard let data = Data(base64Encoded: String(rest[rest.index(after: colon)...])) else {
            throw KeyshardError(.badRequest, "the \(what) after \"keyshard:v\(version):\" is not base64")
        }
        return (version, Array(data))
    }
}

/// Why keyshardd refused or failed an operation.
public struct KeyshardError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, for matching; each has an HTTP status and a CLI exit code.
    public enum Code: String, Hashable, Sendable, Codable, CaseIterable {
        /// Malformed or invalid input (400; exit 64, EX_USAGE... see README).
        case badRequest = "bad-request"
        /// No such key, ring or version (404).
        case notFound = "not-found"
        /// The caller lacks the role (403).
        case forbidden
        /// The operation does not fit the key: wrong type, retired version, deletion not allowed (400).
        case unsupported
        /// A key or ring of that name exists (409... Vault answers 400; see the API docs).
        case exists
        /// An epoch change of the ring is under way; try again (409; exit 75).
        case busy
        /// Fewer than t custodians are healthy and fresh (503).
        case belowThreshold = "below-threshold"
        /// The audit record could not be written, so the operation was refused (503).
        case auditUnavailable = "audit-unavailable"
        /// The custodians or the backend failed in a way that is not the caller's (500/502).
        case custodianFailure = "custodian-failure"
        /// A bug or an unexpected state (500).
        case internalError = "internal"
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for people, never key material.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// What a caller may do; each includes the ones below it.
public enum Role: String, Codable, Sendable, Comparable, CaseIterable {
    /// Encrypt, decrypt, datakey, rewrap, sign, verify, read keys.
    case client
    /// Also: create and rotate keys, change their configuration, rotate rings, reload policy,
    /// list custodians.
    case `operator`
    /// Also: import, trim and delete keys.
    case admin

    private var rank: Int {
        switch self {
        case .client: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// Who called: the Unix socket peer's credentials (SO_PEERCRED) or the TLS client certificate.
public struct Caller: Sendable, Hashable, CustomStringConvertible {
    /// The peer's uid (Unix socket).
    public let uid: UInt32?
    /// The peer's primary gid (Unix socket).
    public let gid: UInt32?
    /// The peer's pid (Unix socket), for the audit log.
    public let pid: Int32?
    /// The TLS client certificate's subject (RFC 4514 text), for TCP callers.
    public let certificateSubject: String?

    /// Creates a caller.
    public init(uid: UInt32? = nil, gid: UInt32? = nil, pid: Int32? = nil, certificateSubject: String? = nil) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.certificateSubject = certificateSubject
    }

    public var description: String {
        if let certificateSubject { return "certificate \"\(certificateSubject)\"" }
        return "uid \(uid.map(String.init) ?? "?") gid \(gid.map(String.init) ?? "?") pid \(pid.map(String.init) ?? "?")"
    }
}

/// Maps callers to roles (the configuration's `roles:` list implements it).
public protocol RoleResolver: Sendable {
    /// The highest role `caller` has for `key` (nil: an operation on no particular key), or nil
    /// when the caller has none.
    func role(of caller: Caller, forKey key: String?) -> Role?
}
