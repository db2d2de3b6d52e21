import Crypto
import ShardCrypto

/// The coordinator's long-term public identity key (ECDSA P-256), as the agent pins it: its
/// compressed SEC1 encoding is on the custodian's kernel command line, which OVMF measures into
/// PCR 9, so the attestation policy predicts exactly which coordinator a custodian obeys.
public struct CoordinatorKey: Sendable, Hashable, CustomStringConvertible {
    /// The length of the compressed encoding.
    public static let byteCount = 33
    /// The compressed SEC1 encoding, `02`/`03` ‖ X.
    public let compressed: [UInt8]

    /// Wraps a compressed SEC1 encoding.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless it is a 33-byte compressed
    ///   point on P-256.
    public init(compressed bytes: [UInt8]) throws(AgentProtocolError) {
        guard bytes.count == Self.byteCount, bytes[0] == 0x02 || bytes[0] == 0x03 else {
            throw AgentProtocolError.malformed("a coordinator key is a 33-byte compressed P-256 point")
        }
        do { _ = try P256.Signing.PublicKey(compressedRepresentation: bytes) } catch {
            throw AgentProtocolError.malformed("the coordinator key is not a P-256 point")
        }
        self.compressed = bytes
    }

    /// Parses the 66-hex-digit form used on command lines (`keyshard.coordinator=…`).
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for anything else.
    public init(hex: String) throws(AgentProtocolError) {
        guard let bytes = [UInt8](hexString: hex) else {
            throw AgentProtocolError.malformed("a coordinator key is 66 hex digits")
        }
        try self.init(compressed: bytes)
    }

    /// The 66-hex-digit form.
    public var hex: String { compressed.hexString }

    var verifyingKey: P256.Signing.PublicKey {
        // Force-try: checked in init.
        try! P256.Signing.PublicKey(compressedRepresentation: compressed)
    }

    public var description: String { "CoordinatorKey(\(hex))" }
}

/// The coordinator's long-term identity: the private half of ``CoordinatorKey``. It signs every
/// session opening, so only the coordinator whose key a custodian booted with can make it do
/// anything beyond attesting itself. Never printed.
public struct CoordinatorIdentity: Sendable, CustomStringConvertible, CustomReflectable {
    private let signingKey: P256.Signing.PrivateKey

    /// A fresh random identity.
    public init() { signingKey = P256.Signing.PrivateKey() }

    /// Restores an identity from its 32-byte private scalar (``exportPrivateKey()``).
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an invalid scalar.
    public init(privateKey: SecretBytes) throws(AgentProtocolError) {
        do {
            signingKey = try privateKey.withUnsafeBytes { try P256.Signing.PrivateKey(rawRepresentation: $0) }
        } catch {
            throw AgentProtocolError.malformed("the coordinator identity is not a P-256 private key")
        }
    }

    /// The 32-byte private scalar, in wiped storage, for the coordinator's own 0600 key store.
    public func exportPrivateKey() -> SecretBytes { SecretBytes(signingKey.rawRepresentation) }

    /// The public key custodians pin.
    public var publicKey: CoordinatorKey {
        // Force-try: swift-crypto's own key always encodes to a valid compressed point.
        try! CoordinatorKey(compressed: [UInt8](signingKey.publicKey.compressedRepresentation))
    }

    func sign(_ message: [UInt8]) throws -> [UInt8] { [UInt8](try signingKey.signature(for: message).rawRepresentation) }

    public var description: String { "CoordinatorIdentity(\(publicKey.hex), private key redacted)" }
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": publicKey]) }
}

/// The authenticated, encrypted session between a coordinator and one agent.
///
/// Attestation proves *what* the agent is and which transport key it holds; the session proves to
/// the agent *who* is asking. Without it any process that reaches the agent's channel (the
/// virtio-serial socket, a vsock port) could ask an attested agent for partial decryptions,
/// signature shares or a redistribution to its own key. Handshake, after the attestation steps:
///
/// 1. `session-hello` → `session-challenge`: the agent draws a fresh 32-byte nonce N for this
///    stream (a second hello replaces the pending nonce but never the open session).
/// 2. `session-open(E, σ)`: the coordinator draws an ephemeral P-256 key e, E = e·G, and signs
///    T = "keyshard/v1/session" ‖ coordinator key ‖ agent transport key ‖ N ‖ E with its identity
///    key. The agent checks σ under the key pinned in its measured boot; N is consumed whatever the
///    outcome, so a signature is good for one opening only.
/// 3. Both sides compute Z = x(t·E) = x(e·T) with the agent's attested transport key T and derive,
///    with HKDF-SHA256 (salt SHA-256(T), info "keyshard/v1/session-keys"), a request key, a
///    response key and a confirmation key. `session-opened` carries HMAC(confirmation key,
///    "keyshard/v1/session-opened" ‖ SHA-256(T)), so the coordinator knows it talks to the holder of
///    the attested transport key.
///
/// Every later request travels as `sealed-request`: a counter c (strictly increasing per session,
/// so replayed or reordered requests are refused) and AES-256-GCM under the request key with nonce
/// 0⁴ ‖ c and the request id and counter as associated data; the answer is `sealed-response` under
/// the response key with the same counter. Without a session the agent answers only the
/// attestation steps (challenge, activate-credential) and the handshake itself.
public enum Session {
    /// The request types an agent answers without a session.
    public static let unauthenticatedRequests: Set<MessageType> = [
        .challenge, .activateCredential, .sessionHello, .sessionOpen,
    ]

    static let transcriptLabel = Array("keyshard/v1/session".utf8)
    static let keysLabel = Array("keyshard/v1/session-keys".utf8)
    static let confirmationLabel = Array("keyshard/v1/session-opened".utf8)

    /// T, the signed transcript of one opening.
    static func transcript(
        coordinator: CoordinatorKey, transportKey: TransportPublicKey, agentNonce: Nonce, ephemeral: [UInt8]
    ) -> [UInt8] {
        transcriptLabel + coordinator.compressed + transportKey.uncompressed + agentNonce.bytes + ephemeral
    }

    /// The three keys of a session from the shared x-coordinate and the transcript.
    static func deriveKeys(sharedX: SecretBytes, transcript: [UInt8]) -> SessionKeys {
        let salt = Array(SHA256.hash(data: transcript))
        let material = sharedX.withUnsafeBytes { shared in
            HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: shared), salt: salt, info: keysLabel, outputByteCount: 96)
        }
        return material.withUnsafeBytes { bytes in
            SessionKeys(
                request: SymmetricKey(data: bytes[0..<32]), response: SymmetricKey(data: bytes[32..<64]),
                confirmation: SymmetricKey(data: bytes[64..<96]), transcriptDigest: salt)
        }
    }
}

/// The symmetric keys of one open session (swift-crypto keeps them in wiped storage).
struct SessionKeys: Sendable {
    let request: SymmetricKey
    let response: SymmetricKey
    let confirmation: SymmetricKey
    let transcriptDigest: [UInt8]

    var confirmationTag: [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Session.confirmationLabel + transcriptDigest, using: confirmation))
    }

    private static func nonce(_ counter: UInt64) -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * index)) }
        // Force-try: 12 bytes is AES-GCM's nonce length.
        return try! AES.GCM.Nonce(data: bytes)
    }

    private static func associatedData(_ direction: UInt8, requestID: UInt64, counter: UInt64) -> [UInt8] {
        var writer = WireWriter()
        writer.writeFixed(Array("keyshard/v1/sealed".utf8))
        writer.write(direction)
        writer.write(requestID)
        writer.write(counter)
        return writer.bytes
    }

    /// Seals an inner frame (type ‖ payload) for one direction.
    func seal(_ inner: Frame, response: Bool, counter: UInt64) throws(AgentProtocolError) -> Frame {
        var plain = WireWriter()
        plain.write(inner.type)
        plain.writeFixed(inner.payload)
        let box: AES.GCM.SealedBox
        do {
            box = try AES.GCM.seal(
                plain.bytes, using: response ? self.response : request, nonce: Self.nonce(counter),
                authenticating: Self.associatedData(response ? 1 : 0, requestID: inner.requestID, counter: counter))
        } catch {
            throw AgentProtocolError(.sessionFailed, "AES-GCM sealing failed: \(error)")
        }
        var envelope = WireWriter()
        SealedEnvelope(counter: counter, box: Array(box.ciphertext) + Array(box.tag), checked: ()).encode(into: &envelope)
        return Frame(
            type: (response ? MessageType.sealedResponse : .sealedRequest).rawValue, requestID: inner.requestID,
            payload: envelope.bytes)
    }

    /// Opens a sealed frame; nil when it does not decode or fails authentication.
    func open(_ frame: Frame, response: Bool) -> (inner: Frame, counter: UInt64)? {
        var reader = WireReader(frame.payload)
        guard let envelope = try? SealedEnvelope(from: &reader), (try? reader.finish("sealed frame")) != nil else {
            return nil
        }
        let counter = envelope.counter
        let body = envelope.box[...]
        guard
            let box = try? AES.GCM.SealedBox(
                nonce: Self.nonce(counter), ciphertext: body.dropLast(16), tag: body.suffix(16)),
            let plain = try? AES.GCM.open(
                box, using: response ? self.response : request,
                authenticating: Self.associatedData(response ? 1 : 0, requestID: frame.requestID, counter: counter))
        else { return nil }
        let bytes = [UInt8](plain)
        guard bytes.count >= 2 else { return nil }
        let type = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        return (Frame(type: type, requestID: frame.requestID, payload: Array(bytes[2...])), counter)
    }
}

/// What an agent needs to accept sessions: the pinned coordinator key, its transport public key,
/// and the Diffie–Hellman with its transport private key (kept by the agent, never handed out).
public struct SessionAcceptor: Sendable {
    /// The only key whose signature opens a session.
    public let coordinatorKey: CoordinatorKey
    /// The agent's attested transport public key.
    public let transportKey: TransportPublicKey
    /// x(t·E) for the coordinator's ephemeral point E; throws when the transport key is gone.
    public let agree: @Sendable (Point) async throws -> SecretBytes

    /// Creates an acceptor.
    /// - Parameters:
    ///   - coordinatorKey: the pinned coordinator key.
    ///   - transportKey: the agent's transport public key.
    ///   - agree: the ECDH with the transport private key, returning the shared x-coordinate.
    public init(
        coordinatorKey: CoordinatorKey, transportKey: TransportPublicKey,
        agree: @escaping @Sendable (Point) async throws -> SecretBytes
    ) {
        self.coordinatorKey = coordinatorKey
        self.transportKey = transportKey
        self.agree = agree
    }

    /// Checks an opening against the pending nonce and derives the session.
    func accept(_ open: SessionOpen, agentNonce: Nonce) async throws -> SessionKeys {
        let transcript = Session.transcript(
            coordinator: coordinatorKey, transportKey: transportKey, agentNonce: agentNonce,
            ephemeral: open.ephemeralKey)
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: open.signature),
            coordinatorKey.verifyingKey.isValidSignature(signature, for: transcript)
        else {
            throw ErrorMessage(
                code: .badSession, text: "the session opening is not signed by this custodian's coordinator")
        }
        let ephemeral: Point
        do { ephemeral = try Point(sec1: open.ephemeralKey) } catch {
            throw ErrorMessage(code: .badSession, text: "the session's ephemeral key is not a P-256 point")
        }
        return Session.deriveKeys(sharedX: try await agree(ephemeral), transcript: transcript)
    }
}

/// `session-hello`: asks for a fresh nonce to open a session with.
public struct SessionHello: Sendable, Hashable, CustomStringConvertible {
    /// Creates a hello.
    public init() {}
    public var description: String { "SessionHello()" }
}

extension SessionHello: WireCodable {
    static let messageType = MessageType.sessionHello
    func encode(into writer: inout WireWriter) {}
    init(from reader: inout WireReader) throws(AgentProtocolError) {}
}

/// `session-challenge`: the agent's nonce for this stream's next opening.
public struct SessionChallenge: Sendable, Hashable, CustomStringConvertible {
    /// Goes into the signed transcript; good for one opening.
    public let nonce: Nonce
    /// Wraps a nonce.
    public init(nonce: Nonce) { self.nonce = nonce }
    public var description: String { "SessionChallenge(\(nonce))" }
}

extension SessionChallenge: WireCodable {
    static let messageType = MessageType.sessionChallenge
    func encode(into writer: inout WireWriter) { writer.write(nonce) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { self.init(nonce: try reader.readNonce("session nonce")) }
}

/// `session-open`: the coordinator's ephemeral key and its identity's signature over the transcript.
public struct SessionOpen: Sendable, Hashable, CustomStringConvertible {
    /// E = e·G, uncompressed (65 bytes).
    public let ephemeralKey: [UInt8]
    /// ECDSA P-256 over the transcript, r ‖ s (64 bytes).
    public let signature: [UInt8]

    /// Wraps an opening.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for wrong lengths.
    public init(ephemeralKey: [UInt8], signature: [UInt8]) throws(AgentProtocolError) {
        guard ephemeralKey.count == 65, ephemeralKey[0] == 0x04, signature.count == 64 else {
            throw AgentProtocolError.malformed("a session opening is a 65-byte point and a 64-byte signature")
        }
        self.ephemeralKey = ephemeralKey
        self.signature = signature
    }

    public var description: String { "SessionOpen(\(ephemeralKey.prefix(9).hexString)…)" }
}

extension SessionOpen: WireCodable {
    static let messageType = MessageType.sessionOpen
    func encode(into writer: inout WireWriter) {
        writer.writeFixed(ephemeralKey)
        writer.writeFixed(signature)
    }
    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            ephemeralKey: try reader.readFixed(65, "ephemeral key"), signature: try reader.readFixed(64, "signature"))
    }
}

/// `session-opened`: the agent's key confirmation.
public struct SessionOpened: Sendable, Hashable, CustomStringConvertible {
    /// HMAC-SHA256 under the confirmation key.
    public let confirmation: [UInt8]
    /// Wraps a confirmation.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless 32 bytes.
    public init(confirmation: [UInt8]) throws(AgentProtocolError) {
        guard confirmation.count == 32 else { throw AgentProtocolError.malformed("a session confirmation is 32 bytes") }
        self.confirmation = confirmation
    }
    public var description: String { "SessionOpened()" }
}

extension SessionOpened: WireCodable {
    static let messageType = MessageType.sessionOpened
    func encode(into writer: inout WireWriter) { writer.writeFixed(confirmation) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { try self.init(confirmation: try reader.readFixed(32, "confirmation")) }
}

/// A `sealed-request` or `sealed-response` body as it travels: counter (u64) ‖ length-prefixed
/// AES-GCM ciphertext and tag. Opened by the session layer, never by a request handler.
public struct SealedEnvelope: Sendable, Hashable, CustomStringConvertible {
    /// The shortest box: the inner type (2 bytes) and the 16-byte tag.
    static let minimumBoxLength = 2 + 16
    /// The session counter the box claims (authenticated as associated data).
    public let counter: UInt64
    /// Ciphertext ‖ tag.
    public let box: [UInt8]

    /// Wraps an envelope (tests and fuzzing; the session layer builds its own).
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` when the box is shorter than type and tag.
    public init(counter: UInt64, box: [UInt8]) throws(AgentProtocolError) {
        guard box.count >= Self.minimumBoxLength else {
            throw AgentProtocolError.malformed("a sealed box is at least \(Self.minimumBoxLength) bytes")
        }
        self.counter = counter
        self.box = box
    }

    fileprivate init(counter: UInt64, box: [UInt8], checked: Void) {
        self.counter = counter
        self.box = box
    }

    public var description: String { "SealedEnvelope(counter \(counter), \(box.count) bytes)" }
}

extension SealedEnvelope: WireCodable {
    static let messageType = MessageType.sealedRequest
    func encode(into writer: inout WireWriter) {
        writer.write(counter)
        writer.writeVariable(box)
    }
    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let counter = try reader.readUInt64("sealed counter")
        try self.init(
            counter: counter,
            box: try reader.readVariable("sealed box", minimum: Self.minimumBoxLength))
    }
}
