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
/// (for example the ciphertext and request identifier). The proof carries its
/// commitments (A₁ = k·G, A₂ = k·H) rather than the challenge, so that t proofs
/// over one base can be checked together in one multi-scalar multiplication
/// (``verifyBatch(base:_:)``): the coordinator's decryption cost is dominated by
/// these checks, and checked one by one they cost four multiplications each.
public struct DLEQProof: Sendable, Equatable {
    /// A₁ = k·G.
    public let generatorCommitment: Point
    /// A₂ = k·H.
    public let baseCommitment: Point
    /// The response z = k + c·x.
    public let response: Scalar

    /// The encoding: uncompressed A₁ ‖ uncompressed A₂ ‖ z, 162 bytes. Uncompressed
    /// because decoding a compressed point costs a square root (about a third of a
    /// multiplication), and the coordinator decodes 2t of them per decryption.
    public static let byteCount = 2 * Point.uncompressedByteCount + Scalar.byteCount
    static let dst = "keyshard/v1/dleq"

    /// Wraps a received proof.
    public init(generatorCommitment: Point, baseCommitment: Point, response: Scalar) {
        self.generatorCommitment = generatorCommitment
        self.baseCommitment = baseCommitment
        self.response = response
    }

    /// Decodes A₁ ‖ A₂ ‖ z.
    /// - Throws: ``ShardCryptoError/Code/invalidScalarEncoding`` for a wrong length, point errors for
    ///   a bad commitment (the identity among them), ``ShardCryptoError/Code/scalarOutOfRange``.
    public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw ShardCryptoError(.invalidScalarEncoding, "a DLEQ proof is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        let point = Point.uncompressedByteCount
        self.init(
            generatorCommitment: try Point(sec1: bytes[0..<point]),
            baseCommitment: try Point(sec1: bytes[point..<2 * point]),
            response: try Scalar(bigEndian: bytes[(2 * point)...]))
    }

    /// A₁ ‖ A₂ ‖ z.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for a commitment that is the identity
    ///   (never for a proof made by ``prove(secret:base:context:)`` or decoded).
    public func serialized() throws(ShardCryptoError) -> [UInt8] {
        try generatorCommitment.uncompressed() + baseCommitment.uncompressed() + response.serialized()
    }

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
        return (partial, DLEQProof(generatorCommitment: a1, baseCommitment: a2, response: k + c * secret))
    }

    /// One statement for ``verifyBatch(base:_:)``: the proof that `partial` = x·base for the x
    /// with `publicKey` = x·G, bound to `context`.
    public struct Statement: Sendable {
        /// X = x·G.
        public let publicKey: Point
        /// D = x·H.
        public let partial: Point
        /// The proof.
        public let proof: DLEQProof
        /// The bytes the proof is bound to.
        public let context: [UInt8]

        /// Names a statement to check.
        public init(publicKey: Point, partial: Point, proof: DLEQProof, context: [UInt8]) {
            self.publicKey = publicKey
            self.partial = partial
            self.proof = proof
            self.context = context
        }
    }

    /// Checks the proof that `partial` = x·`base` for the x with `publicKey` = x·G.
    /// - Returns: whether the proof holds. A proof over an identity point never holds.
    public func verify(publicKey: Point, base: Point, partial: Point, context: [UInt8]) -> Bool {
        Self.verifyBatch(base: base, [Statement(publicKey: publicKey, partial: partial, proof: self, context: context)])
    }

    /// Checks several proofs over one base H at once: with challenges cᵢ and fresh random
    /// weights wᵢ, vᵢ, every proof holds iff (except with probability about 2⁻²⁵⁶ per proof)
    ///
    ///   (Σ wᵢzᵢ)·G + (Σ vᵢzᵢ)·H − Σ wᵢcᵢ·Xᵢ − Σ wᵢ·A₁ᵢ − Σ vᵢcᵢ·Dᵢ − Σ vᵢ·A₂ᵢ = O,
    ///
    /// one multi-scalar multiplication of 4t + 1 points instead of 4t multiplications. The
    /// weights are drawn after the proofs are fixed, so a prover cannot make a false proof
    /// cancel against another. A failed batch says only that *some* proof is false; callers
    /// that must name the culprit check the proofs one by one then (each is a batch of one).
    /// - Returns: whether every proof holds; `true` for no statements. A statement over an
    ///   identity point never holds.
    public static func verifyBatch(base: Point, _ statements: [Statement]) -> Bool {
        guard !base.isIdentity else { return false }
        var generatorCoefficient = Scalar.zero
        var baseCoefficient = Scalar.zero
        var terms: [(scalar: Scalar, point: Point)] = []
        terms.reserveCapacity(4 * statements.count + 1)
        for statement in statements {
            let proof = statement.proof
            guard !statement.publicKey.isIdentity, !statement.partial.isIdentity,
                !proof.generatorCommitment.isIdentity, !proof.baseCommitment.isIdentity,
                let c = try? challenge(
                    base: base, publicKey: statement.publicKey, partial: statement.partial,
                    a1: proof.generatorCommitment, a2: proof.baseCommitment, context: statement.context)
            else { return false }
            // With a single statement one weight suffices (w = 1): z·G − c·X = A₁ and
            // z·H − c·D = A₂ are then folded with v alone.
            let w = statements.count == 1 ? Scalar.one : Scalar.random()
            let v = Scalar.random()
            generatorCoefficient = generatorCoefficient + w * proof.response
            baseCoefficient = baseCoefficient + v * proof.response
            terms.append((Scalar.zero - w * c, statement.publicKey))
            terms.append((Scalar.zero - w, proof.generatorCommitment))
            terms.append((Scalar.zero - v * c, statement.partial))
            terms.append((Scalar.zero - v, proof.baseCommitment))
        }
        guard !statements.isEmpty else { return true }
        terms.append((baseCoefficient, base))
        return Point.sumOfMultiples(terms, generator: generatorCoefficient).isIdentity
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
