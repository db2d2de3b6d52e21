import Synchronization

extension FROST {
    /// A signer's secret round-one state: the hiding and binding nonces (d, e).
    ///
    /// Single use. Signing twice with the same nonces over different commitment
    /// lists or messages reveals the share, so the first call to
    /// ``FROST/sign(share:nonces:message:commitments:groupPublicKey:)`` takes the
    /// nonces out (whether it then succeeds or not) and every later call throws
    /// ``ShardCryptoError/Code/nonceReuse``. A reference type, so copies of the
    /// value share that one state. The nonces are never printed.
    public final class SigningNonces: Sendable, CustomStringConvertible, CustomReflectable {
        /// The public commitment to these nonces, as published in round one.
        public let commitment: SigningCommitment

        private struct Secrets: Sendable {
            let hiding: Scalar
            let binding: Scalar
        }

        // nil once used; the scalars are dropped then (plain limbs: see Scalar on copies).
        private let secrets: Mutex<Secrets?>

        init(hiding: Scalar, binding: Scalar, commitment: SigningCommitment) {
            self.commitment = commitment
            self.secrets = Mutex(Secrets(hiding: hiding, binding: binding))
        }

        /// Whether these nonces have been used (or handed to a signing attempt).
        public var isUsed: Bool { secrets.withLock { $0 == nil } }

        /// Hands out the nonces exactly once.
        /// - Throws: ``ShardCryptoError/Code/nonceReuse`` on every call after the first.
        func take() throws(ShardCryptoError) -> (hiding: Scalar, binding: Scalar) {
            guard let taken = secrets.withLock({ state -> Secrets? in
                defer { state = nil }
                return state
            }) else {
                throw ShardCryptoError(
                    .nonceReuse,
                    "these signing nonces of participant \(commitment.id) were already used; run round one again")
            }
            return (taken.hiding, taken.binding)
        }

        public var description: String {
            "SigningNonces(id: \(commitment.id), \(isUsed ? "used" : "unused"), nonces: redacted)"
        }
        public var customMirror: Mirror { Mirror(self, children: ["id": commitment.id]) }
    }

    /// Round one (RFC 9591 §5.1 `commit`): draws a hiding and a binding nonce with
    /// `nonce_generate` from fresh randomness and the share, and commits to them.
    /// - Parameter share: the signer's share (only mixed into the nonces, not revealed).
    /// - Returns: the secret nonces, to keep for round two, and the commitment to publish.
    public static func commit(share: SecretShare) -> (SigningNonces, SigningCommitment) {
        commit(
            share: share, hidingRandomness: .random(count: 32), bindingRandomness: .random(count: 32))
    }

    /// Round one with the randomness supplied: for the RFC 9591 test vectors only.
    /// Production code calls ``commit(share:)``; reusing randomness here reuses nonces.
    static func commit(
        share: SecretShare, hidingRandomness: SecretBytes, bindingRandomness: SecretBytes
    ) -> (SigningNonces, SigningCommitment) {
        let hiding = Ciphersuite.nonceGenerate(randomness: hidingRandomness, secret: share.value)
        let binding = Ciphersuite.nonceGenerate(randomness: bindingRandomness, secret: share.value)
        let commitment = SigningCommitment(
            id: share.id, hiding: .generatorMultiple(hiding), binding: .generatorMultiple(binding))
        return (SigningNonces(hiding: hiding, binding: binding, commitment: commitment), commitment)
    }

    /// Round two (RFC 9591 §5.2 `sign`): the signer's share of the signature,
    /// z_i = d_i + e_i·ρ_i + λ_i·x_i·c.
    ///
    /// The nonces are consumed first, so they are gone even when a check below fails.
    /// - Parameters:
    ///   - share: the signer's secret share x_i.
    ///   - nonces: the nonces from this signer's ``commit(share:)``, unused.
    ///   - message: the message to sign.
    ///   - commitments: every signer's commitment, sorted by identifier, including this signer's.
    ///   - groupPublicKey: the group public key PK.
    /// - Returns: the signature share for the coordinator.
    /// - Throws: ``ShardCryptoError/Code/nonceReuse`` when the nonces were used before;
    ///   ``ShardCryptoError/Code/invalidParameters`` when the nonces belong to another participant;
    ///   ``ShardCryptoError/Code/invalidCommitments`` when the list is empty, unsorted, repeats
    ///   an identifier, holds an identity commitment, lacks this signer, carries a commitment for
    ///   this signer other than the one from round one, or adds up to the identity;
    ///   ``ShardCryptoError/Code/identityPoint`` when the group public key is the identity.
    public static func sign(
        share: SecretShare, nonces: SigningNonces, message: [UInt8], commitments: [SigningCommitment],
        groupPublicKey: Point
    ) throws(ShardCryptoError) -> SignatureShare {
        let (hidingNonce, bindingNonce) = try nonces.take()
        guard nonces.commitment.id == share.id else {
            throw ShardCryptoError(
                .invalidParameters,
                "the nonces belong to participant \(nonces.commitment.id), not to participant \(share.id)")
        }
        let list = try CommitmentList(validating: commitments)
        guard let own = list.commitment(for: share.id) else {
            throw ShardCryptoError(.invalidCommitments, "the commitment list does not include participant \(share.id)")
        }
        guard own == nonces.commitment else {
            throw ShardCryptoError(
                .invalidCommitments,
                "the commitment listed for participant \(share.id) is not the one it published in round one")
        }
        let session = try SessionValues(list: list, groupPublicKey: groupPublicKey, message: message)
        let lambda = try Shamir.lagrangeCoefficient(for: share.id, in: list.participants)
        let z = hidingNonce + bindingNonce * session.bindingFactors[share.id]!
            + lambda * share.value * session.challenge
        return SignatureShare(id: share.id, value: z)
    }
}
