import KeyshardAPI

/// Every operation the API serves: its name in audit records and metrics, and the role it needs.
///
/// Metrics are labelled with these names only (never key names), so label cardinality stays
/// fixed whatever callers send.
enum APIOperation: String, Sendable, CaseIterable {
    /// `POST /v1/transit/keys/:name`.
    case createKey = "key.create"
    /// `POST /v1/transit/keys/:name/import`.
    case importKey = "key.import"
    /// `GET /v1/transit/keys/:name`.
    case readKey = "key.read"
    /// `LIST /v1/transit/keys`.
    case listKeys = "key.list"
    /// `DELETE /v1/transit/keys/:name`.
    case deleteKey = "key.delete"
    /// `POST /v1/transit/keys/:name/rotate`.
    case rotateKey = "key.rotate"
    /// `POST /v1/transit/keys/:name/config`.
    case configureKey = "key.config"
    /// `POST /v1/transit/keys/:name/trim`.
    case trimKey = "key.trim"
    /// `POST /v1/transit/encrypt/:name`.
    case encrypt
    /// `POST /v1/transit/decrypt/:name`.
    case decrypt
    /// `POST /v1/transit/rewrap/:name`.
    case rewrap
    /// `POST /v1/transit/datakey/{plaintext,wrapped}/:name`.
    case dataKey = "datakey"
    /// `POST /v1/transit/sign/:name`.
    case sign
    /// `POST /v1/transit/verify/:name`.
    case verify
    /// `GET /v1/keyshard/custodians`.
    case custodians
    /// `GET /v1/keyshard/rings`.
    case rings
    /// `POST /v1/keyshard/rings/:ring/rotate`.
    case rotateRing = "ring.rotate"
    /// `POST /v1/keyshard/policy/reload`.
    case reloadPolicy = "policy.reload"
    /// `GET /v1/sys/health`: open to every caller, not audited.
    case health
    /// `GET /metrics`: any caller with a role.
    case metrics

    /// The least role that may run it; nil: no role needed.
    var requiredRole: Role? {
        switch self {
        case .health: nil
        case .encrypt, .decrypt, .rewrap, .dataKey, .sign, .verify, .readKey, .listKeys, .rings, .metrics: .client
        case .createKey, .rotateKey, .configureKey, .rotateRing, .custodians, .reloadPolicy: .operator
        case .importKey, .trimKey, .deleteKey: .admin
        }
    }

    /// Whether calls are audited. Health checks and metric scrapes run every few seconds and
    /// touch no key; auditing them would bury the log.
    var isAudited: Bool { self != .health && self != .metrics }
}
