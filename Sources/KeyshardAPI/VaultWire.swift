#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The JSON bodies of keyshard's HTTP API, shaped like Vault's transit engine so that Vault
/// clients work unchanged. The server decodes requests and encodes responses with these types;
/// ``KeyshardClient`` does the opposite. Field names are Vault's (snake_case); fields Vault does
/// not have are keyshard's own (`threshold`, `shares`, `ring`, `code`) and are listed in
/// docs/API.md.
///
/// Requests decode leniently where Vault does: integers and booleans may arrive as JSON strings
/// (`vault write` sends every value as a string). Unknown fields are ignored, as Vault ignores them.
public enum VaultWire {}

// MARK: - Envelopes

extension VaultWire {
    /// Vault's response envelope: `{"request_id", "lease_id", "renewable", "lease_duration",
    /// "data", "wrap_info", "warnings", "auth"}`. keyshard never leases, wraps or authenticates
    /// by token, so those fields are always empty, and written as Vault writes them.
    public struct Envelope<Payload: Codable & Sendable>: Codable, Sendable {
        /// The request's id, also in both of its audit records.
        public var requestID: String
        /// The operation's result.
        public var data: Payload?
        /// Warnings about the request (nil: none).
        public var warnings: [String]?

        /// Creates an envelope.
        public init(requestID: String, data: Payload?, warnings: [String]? = nil) {
            self.requestID = requestID
            self.data = data
            self.warnings = warnings
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id"
            case leaseID = "lease_id"
            case renewable
            case leaseDuration = "lease_duration"
            case data
            case wrapInfo = "wrap_info"
            case warnings
            case auth
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            requestID = try container.decodeIfPresent(String.self, forKey: .requestID) ?? ""
            data = try container.decodeIfPresent(Payload.self, forKey: .data)
            warnings = try container.decodeIfPresent([String].self, forKey: .warnings)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(requestID, forKey: .requestID)
            try container.encode("", forKey: .leaseID)
            try container.encode(false, forKey: .renewable)
            try container.encode(0, forKey: .leaseDuration)
            if let data { try container.encode(data, forKey: .data) } else { try container.encodeNil(forKey: .data) }
            try container.encodeNil(forKey: .wrapInfo)
            if let warnings {
                try container.encode(warnings, forKey: .warnings)
            } else {
                try container.encodeNil(forKey: .warnings)
            }
            try container.encodeNil(forKey: .auth)
        }
    }

    /// Vault's error body, `{"errors": ["…"]}`, plus keyshard's `code`: the
    /// ``KeyshardError/Code`` raw value, so clients need not parse sentences.
    public struct ErrorBody: Codable, Sendable, Hashable {
        /// One sentence per problem (keyshard sends one).
        public var errors: [String]
        /// The ``KeyshardError/Code`` raw value.
        public var code: String?

        /// Creates an error body.
        public init(errors: [String], code: String?) {
            self.errors = errors
            self.code = code
        }

        /// The body for an error.
        public init(_ error: KeyshardError) {
            self.init(errors: [error.message], code: error.code.rawValue)
        }

        /// The error the body describes; a missing or unknown code reads as `fallback`.
        public func error(fallback: KeyshardError.Code) -> KeyshardError {
            let code = code.flatMap(KeyshardError.Code.init(rawValue:)) ?? fallback
            let message = errors.isEmpty ? "keyshardd gave no reason" : errors.joined(separator: "; ")
            return KeyshardError(code, message)
        }
    }

    /// An empty JSON object, for requests without a body and `data` without fields.
    public struct Empty: Codable, Sendable, Hashable {
        /// Creates it.
        public init() {}
    }
}

// MARK: - Keys

extension VaultWire {
    /// `POST /v1/transit/keys/:name`.
    public struct CreateKeyRequest: Codable, Sendable, Hashable {
        /// `hpke-p256` (default) or `frost-p256`.
        public var type: String?
        /// t (keyshard's own field).
        public var threshold: Int?
        /// n (keyshard's own field).
        public var shares: Int?
        /// The ring (keyshard's own field).
        public var ring: String?
        /// Vault's key derivation; refused when true.
        public var derived: Bool?
        /// Vault's convergent encryption; refused when true.
        public var convergentEncryption: Bool?
        /// Vault's exportable keys; refused when true (a keyshard key never exists whole).
        public var exportable: Bool?
        /// Vault's plaintext backups; refused when true.
        public var allowPlaintextBackup: Bool?

        /// Creates a request.
        public init(type: String? = nil, threshold: Int? = nil, shares: Int? = nil, ring: String? = nil) {
            self.type = type
            self.threshold = threshold
            self.shares = shares
            self.ring = ring
        }

        enum CodingKeys: String, CodingKey {
            case type, threshold, shares, ring, derived, exportable
            case convergentEncryption = "convergent_encryption"
            case allowPlaintextBackup = "allow_plaintext_backup"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try container.decodeIfPresent(String.self, forKey: .type)
            threshold = try container.lenientInt(.threshold)
            shares = try container.lenientInt(.shares)
            ring = try container.decodeIfPresent(String.self, forKey: .ring)
            derived = try container.lenientBool(.derived)
            convergentEncryption = try container.lenientBool(.convergentEncryption)
            exportable = try container.lenientBool(.exportable)
            allowPlaintextBackup = try container.lenientBool(.allowPlaintextBackup)
        }
    }

    /// `POST /v1/transit/keys/:name/import` (keyshard's own body: Vault imports wrapped keys).
    public struct ImportKeyRequest: Codable, Sendable, Hashable {
        /// `hpke-p256` (default) or `frost-p256`.
        public var type: String?
        /// The 32-byte scalar, hex or base64.
        public var key: String
        /// t.
        public var threshold: Int?
        /// n.
        public var shares: Int?
        /// The ring.
        public var ring: String?

        /// Creates a request.
        public init(type: String? = nil, key: String, threshold: Int?, shares: Int?, ring: String? = nil) {
            self.type = type
            self.key = key
            self.threshold = threshold
            self.shares = shares
            self.ring = ring
        }

        enum CodingKeys: String, CodingKey {
            case type, key, threshold, shares, ring
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try container.decodeIfPresent(String.self, forKey: .type)
            key = try container.decode(String.self, forKey: .key)
            threshold = try container.lenientInt(.threshold)
            shares = try container.lenientInt(.shares)
            ring = try container.decodeIfPresent(String.self, forKey: .ring)
        }

        /// Hides the scalar.
        public var redacted: String { "ImportKeyRequest(type: \(type ?? "-"), key: redacted)" }
    }

    /// `POST /v1/transit/keys/:name/config`.
    public struct KeyConfigRequest: Codable, Sendable, Hashable {
        /// Vault's `min_decryption_version`.
        public var minDecryptionVersion: Int?
        /// Vault's `min_encryption_version` (0: the latest).
        public var minEncryptionVersion: Int?
        /// Vault's `deletion_allowed`.
        public var deletionAllowed: Bool?

        /// Creates a request.
        public init(_ change: KeyConfigChange) {
            minDecryptionVersion = change.minDecryptionVersion
            minEncryptionVersion = change.minEncryptionVersion
            deletionAllowed = change.deletionAllowed
        }

        /// The change it asks for.
        public var change: KeyConfigChange {
            KeyConfigChange(
                minDecryptionVersion: minDecryptionVersion, minEncryptionVersion: minEncryptionVersion,
                deletionAllowed: deletionAllowed)
        }

        enum CodingKeys: String, CodingKey {
            case minDecryptionVersion = "min_decryption_version"
            case minEncryptionVersion = "min_encryption_version"
            case deletionAllowed = "deletion_allowed"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            minDecryptionVersion = try container.lenientInt(.minDecryptionVersion)
            minEncryptionVersion = try container.lenientInt(.minEncryptionVersion)
            deletionAllowed = try container.lenientBool(.deletionAllowed)
        }
    }

    /// `POST /v1/transit/keys/:name/trim`.
    public struct TrimRequest: Codable, Sendable, Hashable {
        /// Versions below it are destroyed.
        public var minAvailableVersion: Int?

        /// Creates a request.
        public init(minAvailableVersion: Int) { self.minAvailableVersion = minAvailableVersion }

        enum CodingKeys: String, CodingKey {
            case minAvailableVersion = "min_available_version"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            minAvailableVersion = try container.lenientInt(.minAvailableVersion)
        }
    }

    /// One version in a key's read body.
    public struct KeyVersionBody: Codable, Sendable, Hashable {
        /// The group public key as PEM SubjectPublicKeyInfo (as Vault shows ECDSA keys).
        public var publicKey: String
        /// When the version was made (RFC 3339).
        public var creationTime: String
        /// The curve, as Vault names it (`P-256`).
        public var name: String
        /// `dkg` or `import` (keyshard's own field).
        public var origin: String

        /// Creates a description.
        public init(publicKey: String, creationTime: String, name: String = "P-256", origin: String) {
            self.publicKey = publicKey
            self.creationTime = creationTime
            self.name = name
            self.origin = origin
        }

        enum CodingKeys: String, CodingKey {
            case publicKey = "public_key"
            case creationTime = "creation_time"
            case name, origin
        }
    }

    /// `GET /v1/transit/keys/:name`: Vault's read body and keyshard's `threshold`, `shares`, `ring`.
    public struct KeyBody: Codable, Sendable, Hashable {
        /// The key's name.
        public var name: String
        /// `hpke-p256` or `frost-p256`.
        public var type: String
        /// Every available version, by its number as a string (as Vault writes it).
        public var keys: [String: KeyVersionBody]
        /// The newest version.
        public var latestVersion: Int
        /// The lowest version that decrypts or verifies.
        public var minDecryptionVersion: Int
        /// The lowest version that encrypts or signs (0: the latest).
        public var minEncryptionVersion: Int
        /// The lowest version whose shares still exist.
        public var minAvailableVersion: Int
        /// Whether the key may be deleted.
        public var deletionAllowed: Bool
        /// Always false: keyshard does not derive keys.
        public var derived: Bool
        /// Always false: a keyshard key never exists whole.
        public var exportable: Bool
        /// Always false.
        public var allowPlaintextBackup: Bool
        /// Whether the key encrypts.
        public var supportsEncryption: Bool
        /// Whether the key decrypts.
        public var supportsDecryption: Bool
        /// Always false.
        public var supportsDerivation: Bool
        /// Whether the key signs.
        public var supportsSigning: Bool
        /// Whether any version was imported rather than made by DKG.
        public var importedKey: Bool
        /// Always 0: keyshard rotates keys on request, not on a timer.
        public var autoRotatePeriod: Int
        /// t (keyshard).
        public var threshold: Int
        /// n (keyshard).
        public var shares: Int
        /// The ring (keyshard).
        public var ring: String

        enum CodingKeys: String, CodingKey {
            case name, type, keys, derived, exportable, threshold, shares, ring
            case latestVersion = "latest_version"
            case minDecryptionVersion = "min_decryption_version"
            case minEncryptionVersion = "min_encryption_version"
            case minAvailableVersion = "min_available_version"
            case deletionAllowed = "deletion_allowed"
            case allowPlaintextBackup = "allow_plaintext_backup"
            case supportsEncryption = "supports_encryption"
            case supportsDecryption = "supports_decryption"
            case supportsDerivation = "supports_derivation"
            case supportsSigning = "supports_signing"
            case importedKey = "imported_key"
            case autoRotatePeriod = "auto_rotate_period"
        }
    }

    /// `LIST /v1/transit/keys`.
    public struct KeyListBody: Codable, Sendable, Hashable {
        /// Every key's name, sorted.
        public var keys: [String]

        /// Creates a list.
        public init(keys: [String]) { self.keys = keys }
    }
}

// MARK: - Encryption

extension VaultWire {
    /// One item of an encrypt `batch_input`, or the single request's fields.
    public struct EncryptItem: Codable, Sendable, Hashable {
        /// The plaintext, base64.
        public var plaintext: String?
        /// The HPKE info, base64.
        public var context: String?
        /// The version to seal to (0 or absent: the latest).
        public var keyVersion: Int?
        /// Echoed in the item's result.
        public var reference: String?
        /// Vault's AEAD associated data; refused when not empty.
        public var associatedData: String?
        /// Vault's convergent-encryption nonce; refused when not empty.
        public var nonce: String?

        /// Creates an item.
        public init(plaintext: String, context: String? = nil, keyVersion: Int? = nil, reference: String? = nil) {
            self.plaintext = plaintext
            self.context = context
            self.keyVersion = keyVersion
            self.reference = reference
        }

        enum CodingKeys: String, CodingKey {
            case plaintext, context, reference, nonce
            case keyVersion = "key_version"
            case associatedData = "associated_data"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            plaintext = try container.decodeIfPresent(String.self, forKey: .plaintext)
            context = try container.decodeIfPresent(String.self, forKey: .context)
            keyVersion = try container.lenientInt(.keyVersion)
            reference = try container.decodeIfPresent(String.self, forKey: .reference)
            associatedData = try container.decodeIfPresent(String.self, forKey: .associatedData)
            nonce = try container.decodeIfPresent(String.self, forKey: .nonce)
        }
    }

    /// `POST /v1/transit/encrypt/:name`: one item's fields, or `batch_input`.
    public struct EncryptRequest: Codable, Sendable, Hashable {
        /// The single request (ignored when `batchInput` is set).
        public var single: EncryptItem
        /// The batch.
        public var batchInput: [EncryptItem]?
        /// The status for a batch with some failed items (Vault's `partial_failure_response_code`).
        public var partialFailureResponseCode: Int?

        /// Creates a request.
        public init(_ single: EncryptItem) {
            self.single = single
        }

        /// Creates a batch request.
        public init(batch: [EncryptItem], partialFailureResponseCode: Int? = nil) {
            self.single = EncryptItem(plaintext: "")
            self.single.plaintext = nil
            self.batchInput = batch
            self.partialFailureResponseCode = partialFailureResponseCode
        }

        enum CodingKeys: String, CodingKey {
            case batchInput = "batch_input"
            case partialFailureResponseCode = "partial_failure_response_code"
        }

        public init(from decoder: any Decoder) throws {
            single = try EncryptItem(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            batchInput = try container.decodeIfPresent([EncryptItem].self, forKey: .batchInput)
            partialFailureResponseCode = try container.lenientInt(.partialFailureResponseCode)
        }

        public func encode(to encoder: any Encoder) throws {
            try single.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(batchInput, forKey: .batchInput)
            try container.encodeIfPresent(partialFailureResponseCode, forKey: .partialFailureResponseCode)
        }
    }

    /// A ciphertext result (encrypt, rewrap): the single response's `data`, or one `batch_results` item.
    public struct CiphertextResult: Codable, Sendable, Hashable {
        /// `keyshard:vN:…`.
        public var ciphertext: String?
        /// The version it was sealed to.
        public var keyVersion: Int?
        /// The item's `reference`, echoed.
        public var reference: String?
        /// Why the item failed.
        public var error: String?
        /// The failure's ``KeyshardError/Code`` (keyshard's own field).
        public var code: String?

        /// Creates a result.
        public init(
            ciphertext: String? = nil, keyVersion: Int? = nil, reference: String? = nil, error: String? = nil,
            code: String? = nil
        ) {
            self.ciphertext = ciphertext
            self.keyVersion = keyVersion
            self.reference = reference
            self.error = error
            self.code = code
        }

        enum CodingKeys: String, CodingKey {
            case ciphertext, reference, error, code
            case keyVersion = "key_version"
        }
    }

    /// The `data` of encrypt and rewrap: the single result's fields, or `batch_results`.
    public struct CiphertextResponse: Codable, Sendable, Hashable {
        /// The single result (fields empty for a batch).
        public var single: CiphertextResult
        /// The batch's results, in input order.
        public var batchResults: [CiphertextResult]?

        /// Creates a response.
        public init(single: CiphertextResult = CiphertextResult(), batchResults: [CiphertextResult]? = nil) {
            self.single = single
            self.batchResults = batchResults
        }

        enum CodingKeys: String, CodingKey {
            case batchResults = "batch_results"
        }

        public init(from decoder: any Decoder) throws {
            single = try CiphertextResult(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            batchResults = try container.decodeIfPresent([CiphertextResult].self, forKey: .batchResults)
        }

        public func encode(to encoder: any Encoder) throws {
            try single.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(batchResults, forKey: .batchResults)
        }
    }

    /// One item of a decrypt or rewrap `batch_input`, or the single request's fields.
    public struct CiphertextItem: Codable, Sendable, Hashable {
        /// `keyshard:vN:…`.
        public var ciphertext: String?
        /// The HPKE info, base64.
        public var context: String?
        /// Rewrap only: the version to seal to (0 or absent: the latest).
        public var keyVersion: Int?
        /// Echoed in the item's result.
        public var reference: String?
        /// Vault's AEAD associated data; refused when not empty.
        public var associatedData: String?
        /// Vault's convergent-encryption nonce; refused when not empty.
        public var nonce: String?

        /// Creates an item.
        public init(ciphertext: String, context: String? = nil, keyVersion: Int? = nil, reference: String? = nil) {
            self.ciphertext = ciphertext
            self.context = context
            self.keyVersion = keyVersion
            self.reference = reference
        }

        enum CodingKeys: String, CodingKey {
            case ciphertext, context, reference, nonce
            case keyVersion = "key_version"
            case associatedData = "associated_data"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            ciphertext = try container.decodeIfPresent(String.self, forKey: .ciphertext)
            context = try container.decodeIfPresent(String.self, forKey: .context)
            keyVersion = try container.lenientInt(.keyVersion)
            reference = try container.decodeIfPresent(String.self, forKey: .reference)
            associatedData = try container.decodeIfPresent(String.self, forKey: .associatedData)
            nonce = try container.decodeIfPresent(String.self, forKey: .nonce)
        }
    }

    /// `POST /v1/transit/decrypt/:name` and `/rewrap/:name`.
    public struct CiphertextRequest: Codable, Sendable, Hashable {
        /// The single request (ignored when `batchInput` is set).
        public var single: CiphertextItem
        /// The batch.
        public var batchInput: [CiphertextItem]?
        /// The status for a batch with some failed items.
        public var partialFailureResponseCode: Int?

        /// Creates a request.
        public init(_ single: CiphertextItem) {
            self.single = single
        }

        /// Creates a batch request.
        public init(batch: [CiphertextItem], partialFailureResponseCode: Int? = nil) {
            self.single = CiphertextItem(ciphertext: "")
            self.single.ciphertext = nil
            self.batchInput = batch
            self.partialFailureResponseCode = partialFailureResponseCode
        }

        enum CodingKeys: String, CodingKey {
            case batchInput = "batch_input"
            case partialFailureResponseCode = "partial_failure_response_code"
        }

        public init(from decoder: any Decoder) throws {
            single = try CiphertextItem(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            batchInput = try container.decodeIfPresent([CiphertextItem].self, forKey: .batchInput)
            partialFailureResponseCode = try container.lenientInt(.partialFailureResponseCode)
        }

        public func encode(to encoder: any Encoder) throws {
            try single.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(batchInput, forKey: .batchInput)
            try container.encodeIfPresent(partialFailureResponseCode, forKey: .partialFailureResponseCode)
        }
    }

    /// A plaintext result: the single decrypt response's `data`, or one `batch_results` item.
    public struct PlaintextResult: Codable, Sendable, Hashable {
        /// The plaintext, base64.
        public var plaintext: String?
        /// The item's `reference`, echoed.
        public var reference: String?
        /// Why the item failed.
        public var error: String?
        /// The failure's ``KeyshardError/Code``.
        public var code: String?

        /// Creates a result.
        public init(plaintext: String? = nil, reference: String? = nil, error: String? = nil, code: String? = nil) {
            self.plaintext = plaintext
            self.reference = reference
            self.error = error
            self.code = code
        }

        /// Hides the plaintext.
        public var redacted: String { "PlaintextResult(plaintext: \(plaintext == nil ? "none" : "redacted"))" }
    }

    /// The `data` of decrypt.
    public struct PlaintextResponse: Codable, Sendable, Hashable {
        /// The single result.
        public var single: PlaintextResult
        /// The batch's results, in input order.
        public var batchResults: [PlaintextResult]?

        /// Creates a response.
        public init(single: PlaintextResult = PlaintextResult(), batchResults: [PlaintextResult]? = nil) {
            self.single = single
            self.batchResults = batchResults
        }

        enum CodingKeys: String, CodingKey {
            case batchResults = "batch_results"
        }

        public init(from decoder: any Decoder) throws {
            single = try PlaintextResult(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            batchResults = try container.decodeIfPresent([PlaintextResult].self, forKey: .batchResults)
        }

        public func encode(to encoder: any Encoder) throws {
            try single.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(batchResults, forKey: .batchResults)
        }
    }

    /// `POST /v1/transit/datakey/{plaintext,wrapped}/:name`.
    public struct DataKeyRequest: Codable, Sendable, Hashable {
        /// 128, 256 (default) or 512.
        public var bits: Int?
        /// The HPKE info, base64.
        public var context: String?
        /// Vault's nonce; refused when not empty.
        public var nonce: String?
        /// Vault's associated data; refused when not empty.
        public var associatedData: String?

        /// Creates a request.
        public init(bits: Int? = nil, context: String? = nil) {
            self.bits = bits
            self.context = context
        }

        enum CodingKeys: String, CodingKey {
            case bits, context, nonce
            case associatedData = "associated_data"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            bits = try container.lenientInt(.bits)
            context = try container.decodeIfPresent(String.self, forKey: .context)
            nonce = try container.decodeIfPresent(String.self, forKey: .nonce)
            associatedData = try container.decodeIfPresent(String.self, forKey: .associatedData)
        }
    }

    /// The `data` of datakey.
    public struct DataKeyResponse: Codable, Sendable, Hashable {
        /// The data key, base64 (`plaintext` path only).
        public var plaintext: String?
        /// `keyshard:vN:…`.
        public var ciphertext: String
        /// The version it was sealed to.
        public var keyVersion: Int

        /// Creates a response.
        public init(plaintext: String?, ciphertext: String, keyVersion: Int) {
            self.plaintext = plaintext
            self.ciphertext = ciphertext
            self.keyVersion = keyVersion
        }

        enum CodingKeys: String, CodingKey {
            case plaintext, ciphertext
            case keyVersion = "key_version"
        }
    }
}

// MARK: - Signatures

extension VaultWire {
    /// Vault's signing options keyshard accepts only at their defaults.
    public struct SigningOptions: Codable, Sendable, Hashable {
        /// `sha2-256` (FROST(P-256, SHA-256) hashes with SHA-256 itself) or absent.
        public var hashAlgorithm: String?
        /// false or absent: FROST signs the message, not a digest.
        public var prehashed: Bool?
        /// RSA only in Vault; `pss` (its default) or absent.
        public var signatureAlgorithm: String?
        /// ECDSA only in Vault; `asn1` (its default) or absent. keyshard signatures are RFC 9591 bytes.
        public var marshalingAlgorithm: String?
        /// RSA-PSS only in Vault; `auto` (its default) or absent.
        public var saltLength: String?

        /// No options.
        public init() {}

        enum CodingKeys: String, CodingKey {
            case prehashed
            case hashAlgorithm = "hash_algorithm"
            case signatureAlgorithm = "signature_algorithm"
            case marshalingAlgorithm = "marshaling_algorithm"
            case saltLength = "salt_length"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            hashAlgorithm = try container.decodeIfPresent(String.self, forKey: .hashAlgorithm)
            prehashed = try container.lenientBool(.prehashed)
            signatureAlgorithm = try container.decodeIfPresent(String.self, forKey: .signatureAlgorithm)
            marshalingAlgorithm = try container.decodeIfPresent(String.self, forKey: .marshalingAlgorithm)
            saltLength = try container.lenientString(.saltLength)
        }
    }

    /// One item of a sign or verify `batch_input`, or the single request's fields.
    public struct SignatureItem: Codable, Sendable, Hashable {
        /// The message, base64.
        public var input: String?
        /// Verify only: `keyshard:vN:…`.
        public var signature: String?
        /// Verify only: Vault's HMAC; refused (keyshard has no HMAC keys).
        public var hmac: String?
        /// Sign only: the version to sign with (0 or absent: the latest).
        public var keyVersion: Int?
        /// Vault's derivation context; refused when not empty.
        public var context: String?
        /// Echoed in the item's result.
        public var reference: String?

        /// Creates an item.
        public init(input: String, signature: String? = nil, keyVersion: Int? = nil, reference: String? = nil) {
            self.input = input
            self.signature = signature
            self.keyVersion = keyVersion
            self.reference = reference
        }

        enum CodingKeys: String, CodingKey {
            case input, signature, hmac, context, reference
            case keyVersion = "key_version"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            input = try container.decodeIfPresent(String.self, forKey: .input)
            signature = try container.decodeIfPresent(String.self, forKey: .signature)
            hmac = try container.decodeIfPresent(String.self, forKey: .hmac)
            keyVersion = try container.lenientInt(.keyVersion)
            context = try container.decodeIfPresent(String.self, forKey: .context)
            reference = try container.decodeIfPresent(String.self, forKey: .reference)
        }
    }

    /// `POST /v1/transit/sign/:name` and `/verify/:name`.
    public struct SignatureRequest: Codable, Sendable, Hashable {
        /// The single request (ignored when `batchInput` is set).
        public var single: SignatureItem
        /// Vault's signing options.
        public var options: SigningOptions
        /// The batch.
        public var batchInput: [SignatureItem]?
        /// The status for a batch with some failed items.
        public var partialFailureResponseCode: Int?

        /// Creates a request.
        public init(_ single: SignatureItem) {
            self.single = single
            self.options = SigningOptions()
        }

        /// Creates a batch request.
        public init(batch: [SignatureItem], partialFailureResponseCode: Int? = nil) {
            self.single = SignatureItem(input: "")
            self.single.input = nil
            self.options = SigningOptions()
            self.batchInput = batch
            self.partialFailureResponseCode = partialFailureResponseCode
        }

        enum CodingKeys: String, CodingKey {
            case batchInput = "batch_input"
            case partialFailureResponseCode = "partial_failure_response_code"
        }

        public init(from decoder: any Decoder) throws {
            single = try SignatureItem(from: decoder)
            options = try SigningOptions(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            batchInput = try container.decodeIfPresent([SignatureItem].self, forKey: .batchInput)
            partialFailureResponseCode = try container.lenientInt(.partialFailureResponseCode)
        }

        public func encode(to encoder: any Encoder) throws {
            try single.encode(to: encoder)
            try options.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(batchInput, forKey: .batchInput)
            try container.encodeIfPresent(partialFailureResponseCode, forKey: .partialFailureResponseCode)
        }
    }

    /// A sign or verify result: the single response's `data`, or one `batch_results` item.
    public struct SignatureResult: Codable, Sendable, Hashable {
        /// Sign: `keyshard:vN:…`.
        public var signature: String?
        /// Sign: the version that signed.
        public var keyVersion: Int?
        /// Verify: whether the signature is valid.
        public var valid: Bool?
        /// The item's `reference`, echoed.
        public var reference: String?
        /// Why the item failed.
        public var error: String?
        /// The failure's ``KeyshardError/Code``.
        public var code: String?

        /// Creates a result.
        public init(
            signature: String? = nil, keyVersion: Int? = nil, valid: Bool? = nil, reference: String? = nil,
            error: String? = nil, code: String? = nil
        ) {
            self.signature = signature
            self.keyVersion = keyVersion
            self.valid = valid
            self.reference = reference
            self.error = error
            self.code = code
        }

        enum CodingKeys: String, CodingKey {
            case signature, valid, reference, error, code
            case keyVersion = "key_version"
        }
    }

    /// The `data` of sign and verify.
    public struct SignatureResponse: Codable, Sendable, Hashable {
        /// The single result.
        public var single: SignatureResult
        /// The batch's results, in input order.
        public var batchResults: [SignatureResult]?

        /// Creates a response.
        public init(single: SignatureResult = SignatureResult(), batchResults: [SignatureResult]? = nil) {
            self.single = single
            self.batchResults = batchResults
        }

        enum CodingKeys: String, CodingKey {
            case batchResults = "batch_results"
        }

        public init(from decoder: any Decoder) throws {
            single = try SignatureResult(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            batchResults = try container.decodeIfPresent([SignatureResult].self, forKey: .batchResults)
        }

        public func encode(to encoder: any Encoder) throws {
            try single.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(batchResults, forKey: .batchResults)
        }
    }
}

// MARK: - keyshard's own endpoints

extension VaultWire {
    /// A ring, in `/v1/sys/health` and `/v1/keyshard/rings`.
    public struct RingBody: Codable, Sendable, Hashable {
        /// Its name.
        public var name: String
        /// t.
        public var threshold: Int
        /// n.
        public var shares: Int
        /// The committed epoch.
        public var epoch: Int
        /// Custodians attested within the freshness window.
        public var healthy: Int
        /// `ok`, `degraded` or `below-threshold`.
        public var state: String
        /// The epoch change under way, if any.
        public var changing: String?
        /// The keys it holds.
        public var keys: [String]

        /// Creates a body.
        public init(_ ring: RingInfo) {
            name = ring.name
            threshold = ring.threshold
            shares = ring.shares
            epoch = ring.epoch
            healthy = ring.healthy
            state = ring.state
            changing = ring.changing
            keys = ring.keys
        }

        /// The ring it describes.
        public var ring: RingInfo {
            RingInfo(
                name: name, threshold: threshold, shares: shares, epoch: epoch, healthy: healthy, state: state,
                changing: changing, keys: keys)
        }

        enum CodingKeys: String, CodingKey {
            case name, threshold, shares, epoch, healthy, state, changing, keys
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(threshold, forKey: .threshold)
            try container.encode(shares, forKey: .shares)
            try container.encode(epoch, forKey: .epoch)
            try container.encode(healthy, forKey: .healthy)
            try container.encode(state, forKey: .state)
            // Written as null rather than left out, so scripts can test it.
            if let changing {
                try container.encode(changing, forKey: .changing)
            } else {
                try container.encodeNil(forKey: .changing)
            }
            try container.encode(keys, forKey: .keys)
        }
    }

    /// `GET /v1/keyshard/rings`.
    public struct RingsBody: Codable, Sendable, Hashable {
        /// Every ring.
        public var rings: [RingBody]

        /// Creates a body.
        public init(rings: [RingBody]) { self.rings = rings }
    }

    /// A custodian, in `/v1/keyshard/custodians`.
    public struct CustodianBody: Codable, Sendable, Hashable {
        /// The ring.
        public var ring: String
        /// Its share index.
        public var index: Int
        /// The backend's id.
        public var backendID: String
        /// The host it runs on.
        public var host: String
        /// Its state.
        public var state: String
        /// The last accepted attestation or heartbeat (RFC 3339), or null.
        public var lastAttested: String?
        /// The epoch whose shares it holds.
        public var epoch: Int
        /// When it was launched (RFC 3339).
        public var launchedAt: String

        enum CodingKeys: String, CodingKey {
            case ring, index, host, state, epoch
            case backendID = "backend_id"
            case lastAttested = "last_attested"
            case launchedAt = "launched_at"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(ring, forKey: .ring)
            try container.encode(index, forKey: .index)
            try container.encode(backendID, forKey: .backendID)
            try container.encode(host, forKey: .host)
            try container.encode(state, forKey: .state)
            if let lastAttested {
                try container.encode(lastAttested, forKey: .lastAttested)
            } else {
                try container.encodeNil(forKey: .lastAttested)
            }
            try container.encode(epoch, forKey: .epoch)
            try container.encode(launchedAt, forKey: .launchedAt)
        }
    }

    /// `GET /v1/keyshard/custodians`.
    public struct CustodiansBody: Codable, Sendable, Hashable {
        /// The custodians.
        public var custodians: [CustodianBody]

        /// Creates a body.
        public init(custodians: [CustodianBody]) { self.custodians = custodians }
    }

    /// `POST /v1/keyshard/policy/reload`.
    public struct PolicyReloadBody: Codable, Sendable, Hashable {
        /// Custodians re-attested and still accepted.
        public var accepted: Int
        /// Custodians refused and replaced, with the reason.
        public var replaced: [String: String]

        /// Creates a body.
        public init(_ result: PolicyReloadResult) {
            accepted = result.accepted
            replaced = result.replaced
        }

        /// The result it describes.
        public var result: PolicyReloadResult { PolicyReloadResult(accepted: accepted, replaced: replaced) }
    }

    /// `GET /v1/sys/health`: Vault's flat body (no envelope), and keyshard's rings.
    public struct HealthBody: Codable, Sendable, Hashable {
        /// Always true.
        public var initialized: Bool
        /// True when the daemon does not serve (a ring is below its threshold), as a sealed Vault does not.
        public var sealed: Bool
        /// Always false.
        public var standby: Bool
        /// Always false.
        public var performanceStandby: Bool
        /// Always `disabled`.
        public var replicationPerformanceMode: String
        /// Always `disabled`.
        public var replicationDRMode: String
        /// The daemon's clock, Unix seconds.
        public var serverTimeUTC: Int
        /// keyshardd's version.
        public var version: String
        /// Every ring at or above its threshold (keyshard).
        public var serving: Bool
        /// `process` or `libvirt` (keyshard).
        public var backend: String
        /// The rings (keyshard).
        public var rings: [RingBody]

        /// Creates a body.
        public init(_ health: HealthInfo, now: Date) {
            initialized = true
            sealed = !health.serving
            standby = false
            performanceStandby = false
            replicationPerformanceMode = "disabled"
            replicationDRMode = "disabled"
            serverTimeUTC = Int(now.timeIntervalSince1970)
            version = health.version
            serving = health.serving
            backend = health.backend
            rings = health.rings.map(RingBody.init)
        }

        /// The health it describes.
        public var health: HealthInfo {
            HealthInfo(serving: serving, rings: rings.map(\.ring), backend: backend, version: version)
        }

        enum CodingKeys: String, CodingKey {
            case initialized, sealed, standby, version, serving, backend, rings
            case performanceStandby = "performance_standby"
            case replicationPerformanceMode = "replication_performance_mode"
            case replicationDRMode = "replication_dr_mode"
            case serverTimeUTC = "server_time_utc"
        }
    }
}

// MARK: - Lenient decoding

extension KeyedDecodingContainer {
    /// An integer sent as a JSON number or as a string of digits (`vault write` sends strings).
    func lenientInt(_ key: Key) throws -> Int? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let value = try? decode(Int.self, forKey: key) { return value }
        if let text = try? decode(String.self, forKey: key) {
            if text.isEmpty { return nil }
            if let value = Int(text) { return value }
        }
        throw DecodingError.typeMismatch(
            Int.self,
            .init(codingPath: codingPath + [key], debugDescription: "expected an integer"))
    }

    /// A boolean sent as JSON true/false or as the string "true"/"false".
    func lenientBool(_ key: Key) throws -> Bool? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let value = try? decode(Bool.self, forKey: key) { return value }
        if let text = try? decode(String.self, forKey: key) {
            switch text.lowercased() {
            case "": return nil
            case "true", "1": return true
            case "false", "0": return false
            default: break
            }
        }
        throw DecodingError.typeMismatch(
            Bool.self,
            .init(codingPath: codingPath + [key], debugDescription: "expected true or false"))
    }

    /// A string, or a number written as one (Vault's `salt_length` takes both).
    func lenientString(_ key: Key) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let value = try? decode(String.self, forKey: key) { return value }
        if let value = try? decode(Int.self, forKey: key) { return String(value) }
        throw DecodingError.typeMismatch(
            String.self,
            .init(codingPath: codingPath + [key], debugDescription: "expected a string"))
    }
}
