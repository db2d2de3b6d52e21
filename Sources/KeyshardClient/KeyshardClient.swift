import AsyncHTTPClient
import Foundation
import KeyshardAPI
import NIOCore
import NIOHTTP1
import ShardCrypto

/// keyshardd's API from the caller's side: typed methods mirroring `KeyshardService`, over
/// HTTP/1.1 on the daemon's Unix socket.
///
/// Methods throw `KeyshardError` when the daemon refuses (its `code` and sentence, decoded from
/// the error body) and ``KeyshardClientError`` when it cannot be reached or answers something
/// that is not its API. Call ``shutdown()`` when done (or use ``withClient(socketPath:_:)``).
public final class KeyshardClient: Sendable {
    /// Where keyshardd listens unless told otherwise.
    public static let defaultSocketPath = "/run/keyshard/keyshard.sock"
    /// The environment variable naming the socket.
    public static let socketEnvironmentVariable = "KEYSHARD_SOCKET"

    /// The socket to use: `option` (from `--socket`) if given, else `KEYSHARD_SOCKET`, else
    /// ``defaultSocketPath``.
    public static func socketPath(
        option: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let option, !option.isEmpty { return option }
        if let path = environment[socketEnvironmentVariable], !path.isEmpty { return path }
        return defaultSocketPath
    }

    /// The socket this client talks to.
    public let socketPath: String
    private let http: HTTPClient
    private let requestTimeout: Duration
    private let ringRotationTimeout: Duration

    /// The largest response body read (a batch of 1 MiB plaintexts fits).
    static let maximumResponseSize = 64 << 20

    /// Creates a client; no connection is made until the first call.
    /// - Parameters:
    ///   - socketPath: keyshardd's socket.
    ///   - requestTimeout: how long one call may take (key creation runs a DKG).
    ///   - ringRotationTimeout: how long ``rotateRing(_:)`` may take (it replaces every custodian).
    public init(
        socketPath: String, requestTimeout: Duration = .seconds(300), ringRotationTimeout: Duration = .seconds(3600)
    ) {
        self.socketPath = socketPath
        self.requestTimeout = requestTimeout
        self.ringRotationTimeout = ringRotationTimeout
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5)))
        // A missing socket or a stopped daemon should fail the call at once, not after retrying
        // for the whole request timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the connections. Call it exactly once, after the last call.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// Runs `body` with a client and shuts it down afterwards, whether `body` throws or not.
    public static func withClient<T: Sendable>(
        socketPath: String, _ body: (KeyshardClient) async throws -> T
    ) async throws -> T {
        let client = KeyshardClient(socketPath: socketPath)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    // MARK: - Keys

    /// Creates a key by DKG (`POST /v1/transit/keys/:name`).
    public func createKey(
        _ name: String, type: KeyType = .hpkeP256, ring: String? = nil, threshold: Int? = nil, shares: Int? = nil
    ) async throws -> KeyInfo {
        let body = VaultWire.CreateKeyRequest(type: type.rawValue, threshold: threshold, shares: shares, ring: ring)
        let key: VaultWire.KeyBody = try await data(.POST, "/v1/transit/keys/\(try segment(name))", body: body)
        return try key.keyInfo()
    }

    /// Imports a scalar as a new key, split by the daemon (`POST /v1/transit/keys/:name/import`).
    /// The scalar travels as hex in the request body; this process's copy stays in ``SecretBytes``.
    public func importKey(
        _ name: String, type: KeyType = .hpkeP256, scalar: SecretBytes, ring: String? = nil, threshold: Int?,
        shares: Int?
    ) async throws -> KeyInfo {
        let hex = scalar.withUnsafeBytes { [UInt8]($0).hexString }
        let body = VaultWire.ImportKeyRequest(
            type: type.rawValue, key: hex, threshold: threshold, shares: shares, ring: ring)
        let key: VaultWire.KeyBody = try await data(.POST, "/v1/transit/keys/\(try segment(name))/import", body: body)
        return try key.keyInfo()
    }

    /// One key (`GET /v1/transit/keys/:name`).
    public func key(_ name: String) async throws -> KeyInfo {
        let key: VaultWire.KeyBody = try await data(.GET, "/v1/transit/keys/\(try segment(name))")
        return try key.keyInfo()
    }

    /// Every key's name (`LIST /v1/transit/keys`).
    public func keyNames() async throws -> [String] {
        let list: VaultWire.KeyListBody = try await data(.RAW(value: "LIST"), "/v1/transit/keys")
        return list.keys
    }

    /// Deletes a key whose configuration allows it (`DELETE /v1/transit/keys/:name`).
    public func deleteKey(_ name: String) async throws {
        _ = try await send(.DELETE, "/v1/transit/keys/\(try segment(name))", body: VaultWire.Empty?.none)
    }

    /// Adds a key version (`POST /v1/transit/keys/:name/rotate`).
    public func rotateKey(_ name: String) async throws -> KeyInfo {
        let key: VaultWire.KeyBody = try await data(.POST, "/v1/transit/keys/\(try segment(name))/rotate")
        return try key.keyInfo()
    }

    /// Changes a key's version limits (`POST /v1/transit/keys/:name/config`).
    public func configureKey(_ name: String, _ change: KeyConfigChange) async throws -> KeyInfo {
        let key: VaultWire.KeyBody = try await data(
            .POST, "/v1/transit/keys/\(try segment(name))/config", body: VaultWire.KeyConfigRequest(change))
        return try key.keyInfo()
    }

    /// Destroys every version below `minimumVersion` (`POST /v1/transit/keys/:name/trim`).
    public func trimKey(_ name: String, minimumVersion: Int) async throws -> KeyInfo {
        let key: VaultWire.KeyBody = try await data(
            .POST, "/v1/transit/keys/\(try segment(name))/trim",
            body: VaultWire.TrimRequest(minAvailableVersion: minimumVersion))
        return try key.keyInfo()
    }

    // MARK: - Encryption

    /// Seals `plaintext` to a key version (the latest when nil) on the daemon.
    public func encrypt(
        _ name: String, plaintext: SecretBytes, context: [UInt8] = [], version: Int? = nil
    )
        async throws -> KeyshardCiphertext
    {
        let item = VaultWire.EncryptItem(
            plaintext: plaintext.withUnsafeBytes { VaultWire.base64($0) }, context: Self.context(context),
            keyVersion: version)
        let result: VaultWire.CiphertextResponse = try await data(
            .POST, "/v1/transit/encrypt/\(try segment(name))", body: VaultWire.EncryptRequest(item))
        return try Self.ciphertext(result.single.ciphertext)
    }

    /// Threshold-decrypts a ciphertext.
    public func decrypt(
        _ name: String, ciphertext: KeyshardCiphertext, context: [UInt8] = []
    ) async throws
        -> SecretBytes
    {
        let item = VaultWire.CiphertextItem(ciphertext: ciphertext.description, context: Self.context(context))
        let result: VaultWire.PlaintextResponse = try await data(
            .POST, "/v1/transit/decrypt/\(try segment(name))", body: VaultWire.CiphertextRequest(item))
        return try Self.secret(result.single.plaintext, field: "plaintext")
    }

    /// Decrypts and seals again under the latest (or given) version, without the plaintext
    /// leaving the daemon.
    public func rewrap(
        _ name: String, ciphertext: KeyshardCiphertext, context: [UInt8] = [], version: Int? = nil
    )
        async throws -> KeyshardCiphertext
    {
        let item = VaultWire.CiphertextItem(
            ciphertext: ciphertext.description, context: Self.context(context), keyVersion: version)
        let result: VaultWire.CiphertextResponse = try await data(
            .POST, "/v1/transit/rewrap/\(try segment(name))", body: VaultWire.CiphertextRequest(item))
        return try Self.ciphertext(result.single.ciphertext)
    }

    /// A fresh data key and its ciphertext (`POST /v1/transit/datakey/plaintext/:name`).
    public func dataKey(
        _ name: String, bits: Int = 256, context: [UInt8] = []
    ) async throws
        -> (plaintext: SecretBytes, ciphertext: KeyshardCiphertext)
    {
        let result: VaultWire.DataKeyResponse = try await data(
            .POST, "/v1/transit/datakey/plaintext/\(try segment(name))",
            body: VaultWire.DataKeyRequest(bits: bits, context: Self.context(context)))
        return (try Self.secret(result.plaintext, field: "plaintext"), try Self.ciphertext(result.ciphertext))
    }

    // MARK: - Signatures

    /// A FROST signature over `message` by the key's custodians.
    public func sign(_ name: String, message: [UInt8], version: Int? = nil) async throws -> KeyshardSignature {
        let item = VaultWire.SignatureItem(input: VaultWire.base64(message), keyVersion: version)
        let result: VaultWire.SignatureResponse = try await data(
            .POST, "/v1/transit/sign/\(try segment(name))", body: VaultWire.SignatureRequest(item))
        guard let text = result.single.signature else { throw Self.violation("the sign answer has no signature") }
        do {
            return try KeyshardSignature(parsing: text)
        } catch {
            throw Self.violation("the sign answer's signature does not parse: \(error.message)")
        }
    }

    /// Whether `signature` is valid for `message`, checked by the daemon.
    public func verify(_ name: String, message: [UInt8], signature: KeyshardSignature) async throws -> Bool {
        let item = VaultWire.SignatureItem(input: VaultWire.base64(message), signature: signature.description)
        let result: VaultWire.SignatureResponse = try await data(
            .POST, "/v1/transit/verify/\(try segment(name))", body: VaultWire.SignatureRequest(item))
        guard let valid = result.single.valid else { throw Self.violation("the verify answer has no \"valid\"") }
        return valid
    }

    // MARK: - Custodians, rings, policy, health

    /// Every custodian, or a ring's.
    public func custodians(ring: String? = nil) async throws -> [CustodianInfo] {
        let query = try ring.map { "?ring=\(try segment($0))" } ?? ""
        let body: VaultWire.CustodiansBody = try await data(.GET, "/v1/keyshard/custodians\(query)")
        return try body.custodians.map { body throws(KeyshardError) in try body.custodian() }
    }

    /// Every ring.
    public func rings() async throws -> [RingInfo] {
        let body: VaultWire.RingsBody = try await data(.GET, "/v1/keyshard/rings")
        return body.rings.map(\.ring)
    }

    /// Replaces every custodian of a ring; returns when the new epoch is committed.
    public func rotateRing(_ ring: String) async throws -> RingInfo {
        let body: VaultWire.RingBody = try await data(
            .POST, "/v1/keyshard/rings/\(try segment(ring))/rotate", timeout: ringRotationTimeout)
        return body.ring
    }

    /// Re-reads the attestation policy and re-attests every custodian.
    public func reloadPolicy() async throws -> PolicyReloadResult {
        let body: VaultWire.PolicyReloadBody = try await data(.POST, "/v1/keyshard/policy/reload")
        return body.result
    }

    /// The daemon's health (`GET /v1/sys/health`, open to every caller); answered both when
    /// serving (200) and when a ring is below its threshold (503).
    public func health() async throws -> HealthInfo {
        let (status, bytes) = try await send(.GET, "/v1/sys/health", body: VaultWire.Empty?.none, accepting: [503])
        do {
            return try JSONDecoder().decode(VaultWire.HealthBody.self, from: bytes).health
        } catch {
            throw Self.violation("the health answer (HTTP \(status)) is not keyshardd's: \(error)")
        }
    }

    // MARK: - Transport

    /// Calls the API without a body and decodes `data` from Vault's envelope.
    private func data<Payload: Codable & Sendable>(
        _ method: HTTPMethod, _ path: String, timeout: Duration? = nil
    )
        async throws -> Payload
    {
        try await data(method, path, body: VaultWire.Empty?.none, timeout: timeout)
    }

    /// Calls the API and decodes `data` from Vault's envelope.
    private func data<Payload: Codable & Sendable, Body: Encodable & Sendable>(
        _ method: HTTPMethod, _ path: String, body: Body?, timeout: Duration? = nil
    ) async throws -> Payload {
        let (_, bytes) = try await send(method, path, body: body, timeout: timeout)
        let envelope: VaultWire.Envelope<Payload>
        do {
            envelope = try JSONDecoder().decode(VaultWire.Envelope<Payload>.self, from: bytes)
        } catch {
            throw Self.violation("the answer to \(method.rawValue) \(path) is not keyshardd's: \(error)")
        }
        guard let data = envelope.data else { throw Self.violation("the answer to \(path) has no data") }
        return data
    }

    /// Sends one request; returns a 2xx (or `accepting`) status and the body, and throws the
    /// daemon's `KeyshardError` for any other status.
    private func send<Body: Encodable & Sendable>(
        _ method: HTTPMethod, _ path: String, body: Body?, timeout: Duration? = nil, accepting: Set<UInt> = []
    ) async throws -> (UInt, Data) {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: path) else {
            throw KeyshardClientError(.unreachable, "cannot reach keyshardd at \(socketPath): not a usable socket path")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let limit = timeout ?? requestTimeout
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, deadline: .now() + TimeAmount(limit))
            bytes = try await response.body.collect(upTo: Self.maximumResponseSize)
        } catch {
            throw transportError(error, limit: limit)
        }
        let status = response.status.code
        let data = Data(bytes.readableBytesView)
        if (200..<300).contains(status) || accepting.contains(status) { return (status, data) }
        guard let errorBody = try? JSONDecoder().decode(VaultWire.ErrorBody.self, from: data) else {
            throw Self.violation(
                "keyshardd answered HTTP \(status) to \(method.rawValue) \(path) without an error body")
        }
        throw errorBody.error(fallback: Self.code(forStatus: status))
    }

    /// The code of an error body without one (a proxy, an older daemon).
    private static func code(forStatus status: UInt) -> KeyshardError.Code {
        switch status {
        case 403: .forbidden
        case 404: .notFound
        case 409: .busy
        case 502: .custodianFailure
        case 503: .belowThreshold
        case 400..<500: .badRequest
        default: .internalError
        }
    }

    private func transportError(_ error: any Error, limit: Duration) -> KeyshardClientError {
        if let error = error as? HTTPClientError,
            error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            return KeyshardClientError(.timeout, "keyshardd at \(socketPath) did not answer within \(limit)")
        }
        let reason: String
        if let io = error as? IOError {
            switch io.errnoCode {
            case ENOENT: reason = "no such socket (is keyshardd running, and is this its socket?)"
            case ECONNREFUSED: reason = "connection refused (keyshardd is not running)"
            case EACCES: reason = "permission denied (is your user in the socket's group?)"
            default: reason = "\(io)"
            }
        } else {
            reason = "\(error)"
        }
        return KeyshardClientError(.unreachable, "cannot reach keyshardd at \(socketPath): \(reason)")
    }

    private static func violation(_ message: String) -> KeyshardClientError {
        KeyshardClientError(.protocolViolation, message)
    }

    /// A path segment: key and ring names are letters, digits, `.`, `_`, `-`; anything else is
    /// percent-encoded so it cannot change the path (the daemon then refuses the name).
    private func segment(_ name: String) throws -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        guard let encoded = name.addingPercentEncoding(withAllowedCharacters: allowed) else {
            throw KeyshardError(.badRequest, "the name cannot be put in a path")
        }
        return encoded
    }

    private static func context(_ bytes: [UInt8]) -> String? {
        bytes.isEmpty ? nil : VaultWire.base64(bytes)
    }

    private static func ciphertext(_ text: String?) throws -> KeyshardCiphertext {
        guard let text else { throw violation("the answer has no ciphertext") }
        do {
            return try KeyshardCiphertext(parsing: text)
        } catch {
            throw violation("the answer's ciphertext does not parse: \(error.message)")
        }
    }

    /// A base64 secret from the answer, decoded into ``SecretBytes``; the scratch copy is wiped.
    private static func secret(_ text: String?, field: String) throws -> SecretBytes {
        guard let text else { throw violation("the answer has no \(field)") }
        var bytes: [UInt8]
        do {
            bytes = try VaultWire.decodeBase64(text, field: field)
        } catch {
            throw violation("the answer's \(field) is not base64")
        }
        defer {
            bytes.withUnsafeMutableBytes { buffer in
                if let base = buffer.baseAddress { memset(base, 0, buffer.count) }
            }
        }
        return SecretBytes(bytes)
    }
}

extension TimeAmount {
    /// A `Duration` as NIO's time amount.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
