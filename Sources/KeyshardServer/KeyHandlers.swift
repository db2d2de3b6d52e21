import Foundation
import Hummingbird
import KeyshardAPI
import ShardCrypto

/// `/v1/transit/keys…`: creating, importing, reading, listing, rotating, configuring, trimming
/// and deleting keys. (`package` for api-fuzz, which runs the body checks below.)
package struct KeyHandlers: Sendable {
    let service: any KeyshardService
    let limits: ServerConfiguration

    func create(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.CreateKeyRequest.self, from: request, limit: limits.maximumBodySize)
        for (field, value) in [
            ("derived", body.derived), ("convergent_encryption", body.convergentEncryption),
            ("exportable", body.exportable), ("allow_plaintext_backup", body.allowPlaintextBackup),
        ] where value == true {
            throw KeyshardError(
                .unsupported, "\(field) is not supported: keyshard keys are never derived, exported or backed up whole")
        }
        let type = try Self.keyType(body.type)
        if let ring = body.ring { try Names.validate(ring, what: "ring") }
        let key = try await service.createKey(
            name, type: type, ring: body.ring, threshold: body.threshold, shares: body.shares)
        return try APIResponses.envelope(VaultWire.KeyBody(key), context: context)
    }

    func importKey(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        // The body carries the key: read it into wiped storage, and wipe the decoded text.
        var body = try await RequestBodies.decodeSecret(
            VaultWire.ImportKeyRequest.self, from: request, limit: limits.maximumBodySize)
        defer { SecretText.wipe(&body.key) }
        let type = try Self.keyType(body.type)
        if let ring = body.ring { try Names.validate(ring, what: "ring") }
        let scalar = try Self.scalar(body.key)
        let key = try await service.importKey(
            name, type: type, scalar: scalar, ring: body.ring, threshold: body.threshold, shares: body.shares)
        return try APIResponses.envelope(VaultWire.KeyBody(key), context: context)
    }

    func read(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let key = try await service.key(try Names.key(context))
        return try APIResponses.envelope(VaultWire.KeyBody(key), context: context)
    }

    func list(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let names = try await service.keyNames()
        return try APIResponses.envelope(VaultWire.KeyListBody(keys: names), context: context)
    }

    func delete(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        try await service.deleteKey(try Names.key(context))
        return APIResponses.noContent()
    }

    func rotate(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let key = try await service.rotateKey(try Names.key(context))
        return try APIResponses.envelope(VaultWire.KeyBody(key), context: context)
    }

    func configure(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.KeyConfigRequest.self, from: request, limit: limits.maximumBodySize)
        for (field, value) in [
            ("min_decryption_version", body.minDecryptionVersion),
            ("min_encryption_version", body.minEncryptionVersion),
        ] {
            if let value, value < 0 { throw KeyshardError(.badRequest, "\(field) must not be negative") }
        }
        let key = try await service.configureKey(name, body.change)
        return try APIResponses.envelope(VaultWire.KeyBody(key), context: context)
    }

    func trim(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.TrimRequest.self, from: request, limit: limits.maximumBodySize)
        guard let minimum = body.minAvailableVersion else {
            throw KeyshardError(.badRequest, "min_available_version is required")
        }
        guard minimum >= 1 else { throw KeyshardError(.badRequest, "min_available_version must be at least 1") }
        let key = try await service.trimKey(name, minimumVersion: minimum)
        return try APIResponses.envelope(VaultWire.KeyBody(key), context: context)
    }

    /// `type`: absent means `hpke-p256`, as Vault's absent type means its default.
    /// - Throws: ``KeyshardError/Code/unsupported`` for a type keyshard does not have.
    package static func keyType(_ text: String?) throws(KeyshardError) -> KeyType {
        guard let text, !text.isEmpty else { return .hpkeP256 }
        guard let type = KeyType(rawValue: text) else {
            let known = KeyType.allCases.map(\.rawValue).joined(separator: ", ")
            throw KeyshardError(.unsupported, "key type \"\(text.prefix(40))\" is not supported; keyshard has \(known)")
        }
        return type
    }

    /// The imported scalar: 32 bytes as 64 hex digits or as base64. Scratch copies are wiped: the
    /// text is trimmed without a copy, and base64 is decoded through `Data` values overwritten
    /// before they are released (``VaultWire/decodeBase64(_:field:)`` would leave the decoded bytes
    /// and a re-encoded string behind).
    /// - Throws: ``KeyshardError/Code/badRequest`` for another encoding or length.
    package static func scalar(_ text: String) throws(KeyshardError) -> SecretBytes {
        let invalid = KeyshardError(.badRequest, "key must be the 32-byte scalar as 64 hex digits or as base64")
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || (0x09...0x0D).contains($0) }
        guard let first = text.utf8.firstIndex(where: { !isSpace($0) }),
            let last = text.utf8.lastIndex(where: { !isSpace($0) })
        else { throw invalid }
        let trimmed = text[first...last]
        if trimmed.utf8.count == 2 * Scalar.byteCount, var hex = [UInt8](hexString: trimmed) {
            defer { Base64Field.wipe(&hex) }
            return SecretBytes(hex)
        }
        var encoded = Data(trimmed.utf8)
        defer { SecretText.wipe(&encoded) }
        guard var decoded = Data(base64Encoded: encoded) else { throw invalid }
        defer { SecretText.wipe(&decoded) }
        // Strict, as every base64 field: only the canonical padded encoding is accepted.
        var canonical = decoded.base64EncodedData()
        defer { SecretText.wipe(&canonical) }
        guard canonical == encoded else { throw invalid }
        guard decoded.count == Scalar.byteCount else {
            throw KeyshardError(.badRequest, "key must be exactly 32 bytes, not \(decoded.count)")
        }
        return SecretBytes(decoded)
    }
}

/// Checks for names in paths: keys and rings (`package` for api-fuzz).
package enum Names {
    /// The longest key or ring name.
    static let maximumLength = 128

    /// The `:name` path parameter, checked.
    static func key(_ context: KeyshardRequestContext) throws(KeyshardError) -> String {
        guard let name = context.parameters.get("name") else {
            throw KeyshardError(.badRequest, "the path names no key")
        }
        try validate(name, what: "key")
        return name
    }

    /// Names are 1–128 of `A–Z a–z 0–9 . _ -`, not starting with `.` or `-`, so they are safe in
    /// paths, logs, audit records and file names.
    /// - Throws: ``KeyshardError/Code/badRequest`` for any other name.
    package static func validate(_ name: String, what: String) throws(KeyshardError) {
        let allowed = name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
        guard !name.isEmpty, name.utf8.count <= maximumLength, allowed, name.first != ".", name.first != "-" else {
            throw KeyshardError(
                .badRequest,
                "a \(what) name is 1 to \(maximumLength) letters, digits, '.', '_' or '-', not starting with '.' or '-'"
            )
        }
    }
}
