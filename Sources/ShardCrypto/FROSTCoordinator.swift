extension FROST {
    /// One signer's round-two output z_i. Public once sent, but only meaningful
    /// with the commitment list and message it was made for.
    ///
    /// Codable as `{"id": 1, "share": "<32-byte hex>"}`.
    public struct SignatureShare: Sendable, Equatable, Codable, CustomStringConvertible {
        /// The signer.
        public let id: ParticipantID
        /// z_i.
        public let value: Scalar

        /// The length of ``serialized()``: 2-byte identifier ‖ 32-byte scalar.
        public static let byteCount = 2 + Scalar.byteCount

        /// Pairs an identifier with a share value.
        public init(id: ParticipantID, value: Scalar) {
            self.id = id
            self.value = value
        }

        /// keyshard's wire form: big-endian 2-byte identifier ‖ RFC 9591 `SerializeScalar(z_i)`.
        public func serialized() -> [UInt8] { FROST.encode(id) + value.serialized() }

        /// Decodes ``serialized()``.
        /// - Throws: ``ShardCryptoError/Code/invalidSignatureShare`` for a wrong length,
        ///   ``ShardCryptoError/Code/invalidParameters`` for identifier 0,
        ///   ``ShardCryptoError/Code/scalarOutOfRange`` when z_i is not below the group order.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidSignatureShare, "a signature share is \(Self.byteCount) bytes, got \(bytes.count)")
            }
            self.init(id: try FROST.decodeID(bytes[0..<2]), value: try Scalar(bigEndian: bytes[2...]))
        }

        private enum CodingKeys: String, CodingKey { case id, share }

        /// Decodes the JSON form.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard let bytes = [UInt8](hexString: try container.decode(String.self, forKey: .share)) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .share, in: container, debugDescription: "share is not hexadecimal")
            }
            self.init(id: try container.decode(ParticipantID.self, forKey: .id), value: try Scalar(bigEndian: bytes))
        }

        /// Encodes the JSON form.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(value.serialized().hexString, forKey: .share)
        }

        public var description: String { "SignatureShare(id: \(id))" }
    }

    /// RFC 9591 §5.4 `verify_signature_share`: whether z_i·G = D_i + ρ_i·E_i + (c·λ_i)·X_i.
    /// - Parameters:
    ///   - share: the signature share to check.
    ///   - publicShare: the signer's public share X_i = x_i·G.
    ///   - message: the message being signed.
    ///   - commitments: the commitment list sent to the signers, sorted by identifier.
    ///   - groupPublicKey: the group public key.
    /// - Returns: false as well when the list is invalid or does not include the signer.
    public static func verifySignatureShare(
        _ share: SignatureShare, publicShare: Point, message: [UInt8], commitments: [SigningCommitment],
        groupPublicKey: Point
    ) -> Bool {
        guard let list = try? CommitmentList(validating: commitments),
            let session = try? SessionValues(list: list, groupPublicKey: groupPublicKey, message: message)
        else { return false }
        return verifySignatureShare(share, publicShare: publicShare, list: list, session: session)
    }

    static func verifySignatureShare(
        _ share: SignatureShare, publicShare: Point, list: CommitmentList, session: SessionValues
    ) -> Bool {
        guard !publicShare.isIdentity, let commitment = list.commitment(for: share.id),
            let lambda = try? Shamir.lagrangeCoefficient(for: share.id, in: list.participants)
        else { return false }
        let commitmentShare = CommitmentList.commitmentShare(
            commitment, bindingFactor: session.bindingFactors[share.id]!)
        return Point.generatorMultiple(share.value) == commitmentShare + (session.challenge * lambda) * publicShare
    }

    /// The coordinator's last step (RFC 9591 §5.3 `aggregate`): R from the commitments,
    /// z = Σ z_i, and the signature verified; when it does not verify, every share is checked
    /// by §5.4 `verify_signature_share` to name the culprits.
    /// - Parameters:
    ///   - shares: one signature share from every participant in `commitments`, any order.
    ///   - message: the signed message.
    ///   - commitments: the commitment list that was sent to the signers, sorted by identifier.
    ///   - groupPublicKey: the group public key.
    ///   - publicShares: X_i for (at least) every signer.
    /// - Returns: the signature, already verified against `groupPublicKey`.
    /// - Throws: ``ShardCryptoError/Code/invalidCommitments`` for a list that is empty,
    ///   unsorted, repeats an identifier, holds an identity commitment or adds up to the identity;
    ///   ``ShardCryptoError/Code/invalidSignatureShare`` when a share is missing, repeated or from a
    ///   participant outside the list, or when shares do not verify (the reason names every culprit);
    ///   ``ShardCryptoError/Code/invalidParameters`` when a signer's public share is missing;
    ///   ``ShardCryptoError/Code/identityPoint`` when the group public key is the identity;
    ///   ``ShardCryptoError/Code/invalidSignature`` when every share verifies but the sum does not:
    ///   fewer signers than the threshold, or public shares that do not belong to `groupPublicKey`.
    public static func aggregate(
        shares: [SignatureShare], message: [UInt8], commitments: [SigningCommitment], groupPublicKey: Point,
        publicShares: [ParticipantID: Point]
    ) throws(ShardCryptoError) -> Signature {
        let list = try CommitmentList(validating: commitments)
        let signers = Set(list.participants)
        var sharesByID: [ParticipantID: SignatureShare] = [:]
        for share in shares {
            guard signers.contains(share.id) else {
                throw ShardCryptoError(
                    .invalidSignatureShare, "participant \(share.id) sent a share but has no commitment in the list")
            }
            guard sharesByID.updateValue(share, forKey: share.id) == nil else {
                throw ShardCryptoError(.invalidSignatureShare, "participant \(share.id) sent more than one share")
            }
        }
        let missing = list.participants.filter { sharesByID[$0] == nil }
        guard missing.isEmpty else {
            throw ShardCryptoError(
                .invalidSignatureShare, "no signature share from participant(s) \(Self.names(missing))")
        }
        let withoutPublicShare = list.participants.filter { publicShares[$0] == nil }
        guard withoutPublicShare.isEmpty else {
            throw ShardCryptoError(
                .invalidParameters, "no public share known for participant(s) \(Self.names(withoutPublicShare))")
        }
        let session = try SessionValues(list: list, groupPublicKey: groupPublicKey, message: message)
        // The signature is checked first and the shares only when it fails (RFC 9591 §5.4's
        // remark): a signature that verifies under the group key is correct whatever the
        // shares were, so per-share checks (two multiplications each) only serve to name a
        // culprit, and honest rounds skip them.
        let z = list.participants.reduce(Scalar.zero) { sum, id in sum + sharesByID[id]!.value }
        let signature = Signature(r: session.groupCommitment, z: z)
        if verify(signature: signature, message: message, publicKey: groupPublicKey) { return signature }
        let culprits = list.participants.filter { id in
            !verifySignatureShare(sharesByID[id]!, publicShare: publicShares[id]!, list: list, session: session)
        }
        guard culprits.isEmpty else {
            throw ShardCryptoError(
                .invalidSignatureShare,
                "the signature share(s) of participant(s) \(Self.names(culprits)) do not verify")
        }
        throw ShardCryptoError(
            .invalidSignature,
            "every share verified but the signature does not: fewer signers than the threshold, "
                + "or public shares that do not belong to the group key")
    }

    private static func names(_ ids: [ParticipantID]) -> String {
        ids.map(\.description).joined(separator: ", ")
    }
}
