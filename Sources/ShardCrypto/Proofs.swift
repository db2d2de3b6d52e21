/// Derives a proof nonce from fresh randomness *and* the secret, so that a weak
/// random number generator alone does not leak the secret (the hedging RFC 9591
/// `nonce_generate` uses).
/// - Parameter randomness: 32 fresh random bytes; supplied only by tests.
func hedgedNonce(
    secret: Scalar, transcript: [[UInt8]], dst: String, randomness: SecretBytes = .random(count: 32)
) -> Scalar {
    // Fixed-length secret parts first, then the length-prefixed transcript: unambiguous, and
    // the secret is read in place from wiped storage. The framed transcript is built straight
    // in wiped storage too, since a transcript may carry a secret (the DKG share signature
    // covers the share f_i(j)).
    let framedTranscript = SecretBytes(count: transcript.reduce(0) { $0 + 4 + $1.count }) { buffer in
        var offset = 0
        for part in transcript {
            let length = UInt32(part.count)
            buffer.storeBytes(of: length.bigEndian, toByteOffset: offset, as: UInt32.self)
            let body = buffer[(offset + 4)..<(offset + 4 + part.count)]
            UnsafeMutableRawBufferPointer(rebasing: body).copyBytes(from: part)
            offset += 4 + part.count
        }
    }
    return HashToScalar.hash(
        concatenating: [randomness, secret.secretBytes(), framedTranscript],
        dst: Array(dst.utf8))
}

/// A Chaum–Pedersen proof that log_G(X) = log_H(D): the prover knows x with
/// X = x·G and D = x·H. Custodians attach one to every partial decryption
/// D_i = x_i·E so the coordinator can reject a wrong D_i before combining.
///
/// Non-interactive by Fiat–Shamir over a transcript bound to a caller context
/// (for example the ciphertext and request identifier).
public struct DLEQProof: Sendable, Equatable {
    /// The challenge c.
    public let challenge: Scalar
    /// The response z = k − c·x.
    public let response: Scalar

    /// The encoding: c ‖ z, 64 bytes.
    public static let byteCount = 64
    static let dst = "keyshard/v1/dleq"

    /// Wraps a received proof.
    public init(challenge: Scalar, response: Scalar) {
        self.challenge = challenge
        self.response = response
    }

    /// Decodes c ‖ z.
    /// - Throws: ``ShardCryptoError/Code/invalidScalarEncoding`` / ``ShardCryptoError/Code/scalarOutOfRange``.
    public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw ShardCryptoError(.invalidScalarEncoding, "a DLEQ proof is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.init(challenge: try Scalar(bigEndian: bytes[0..<32]), response: try Scalar(bigEndian: bytes[32..<64]))
    }

    /// c ‖ z.
    public func serialized() -> [UInt8] { challenge.serialized() + response.serialized() }

    static func challenge(base: Point, publicKey: Point, partial: Point, a1: Point, a2: Point, context: [UInt8]) throws(ShardCryptoError) -> Scalar {
        HashToScalar.hash(
            parts: [
                try Point.generator.compressed(), try publicKey.compressed(), try base.compressed(),
                try partial.compressed(), try a1.compressed(), try a2.compressed(), context,
            ], dst: dst)
    }

    /// Proves that `secret`·G and `secret`·`base` share the discrete logarithm.
    /// - Parameters:
    ///   - secret: x.
    ///   - base: H (for decryption, the HPKE encapsulated key E).
    ///   - context: bytes the proof is bound to; the verifier must supply the same.
    /// - Returns: the partial result D = x·H and its proof.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when `base` is the identity.
    public static func prove(secret: Scalar, base: Point, context: [UInt8]) throws(ShardCryptoError) -> (partial: Point, proof: DLEQProof) {
        guard !base.isIdentity else { throw ShardCryptoError(.identityPoint, "the DLEQ base point is the identity") }
        let publicKey = Point.generatorMultiple(secret)
        let partial = secret * base
        let k = hedgedNonce(secret: secret, transcript: [try base.compressed(), context], dst: dst + "/nonce")
        let a1 = Point.generatorMultiple(k)
        let a2 = k * base
        let c = try challenge(base: base, publicKey: publicKey, partial: partial, a1: a1, a2: a2, context: context)
        return (partial, DLEQProof(challenge: c, response: k - c * secret))
    }

    /// Checks the proof that `partial` = x·`base` for the x with `publicKey` = x·G.
    /// - Returns: whether the proof holds. A proof over an identity point never holds.
    public func verify(publicKey: Point, base: Point, partial: Point, context: [UInt8]) -> Bool {
        guard !publicKey.isIdentity, !base.isIdentity, !partial.isIdentity else { return false }
        let a1 = Point.generatorMultiple(response) + challenge * publicKey
        let a2 = response * base + challenge * partial
        guard !a1.isIdentity, !a2.isIdentity,
            let c = try? Self.challenge(base: base, publicKey: publicKey, partial: partial, a1: a1, a2: a2, context: context)
        else { return false }
        return c == challenge
    }
}

/// A Schnorr proof of possession of a share x_i for X_i = x_i·G, bound to a
/// verifier-chosen nonce: the heartbeat's evidence that a custodian still holds
/// its share, without revealing it.
public struct PossessionProof: Sendable, Equatable {
    /// The commitment R = k·G.
    public let commitment: Point
    /// The response z = k + c·x.
    public let response: Scalar

    /// The encoding: compressed R ‖ z, 65 bytes.
    public static let byteCount = 65
    static let dst = "keyshard/v1/possession"

    /// Wraps a received proof.
    public init(commitment: Point, response: Scalar) {
        self.commitment = commitment
        self.response = response
    }

    /// Decodes R ‖ z.
    public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw ShardCryptoError(.invalidScalarEncoding, "a possession proof is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.init(commitment: try Point(sec1: bytes[0..<33]), response: try Scalar(bigEndian: bytes[33..<65]))
    }

    /// R ‖ z.
    public func serialized() throws(ShardCryptoError) -> [UInt8] { try commitment.compressed() + response.serialized() }

    static func challenge(id: ParticipantID, publicShare: Point, commitment: Point, nonce: [UInt8]) throws(ShardCryptoError) -> Scalar {
        HashToScalar.hash(
            parts: [[UInt8(id.rawValue >> 8), UInt8(id.rawValue & 0xff)], try publicShare.compressed(), try commitment.compressed(), nonce],
            dst: dst)
    }

    /// Proves possession of `share` bound to `nonce`.
    public static func prove(share: SecretShare, nonce: [UInt8]) throws(ShardCryptoError) -> PossessionProof {
        let publicShare = share.publicShare
        let k = hedgedNonce(secret: share.value, transcript: [nonce], dst: dst + "/nonce")
        let r = Point.generatorMultiple(k)
        let c = try challenge(id: share.id, publicShare: publicShare, commitment: r, nonce: nonce)
        return PossessionProof(commitment: r, response: k + c * share.value)
    }

    /// Whether this proves possession of the secret behind `publicShare` for
    /// participant `id`, bound to `nonce`.
    public func verify(id: ParticipantID, publicShare: Point, nonce: [UInt8]) -> Bool {
        guard !publicShare.isIdentity, !commitment.isIdentity,
            let c = try? Self.challenge(id: id, publicShare: publicShare, commitment: commitment, nonce: nonce)
        else { return false }
        return Point.generatorMultiple(response) == commitment + c * publicShare
    }
}
