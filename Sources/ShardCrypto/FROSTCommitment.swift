extension FROST {
    /// A signer's public round-one output: its identifier and the commitments
    /// D = d·G (hiding) and E = e·G (binding) to its two nonces.
    ///
    /// Codable as `{"id": 1, "hiding": "<33-byte hex>", "binding": "<33-byte hex>"}`.
    public struct SigningCommitment: Sendable, Equatable, Codable, CustomStringConvertible {
        /// The signer.
        public let id: ParticipantID
        /// The hiding nonce commitment D = d·G.
        public let hiding: Point
        /// The binding nonce commitment E = e·G.
        public let binding: Point

        /// The length of ``serialized()``: 2-byte identifier, two compressed points.
        public static let byteCount = 2 + 2 * Point.compressedByteCount

        /// Pairs an identifier with its two nonce commitments. Identity points are
        /// accepted here and refused by ``FROST/sign(share:nonces:message:commitments:groupPublicKey:)``
        /// and ``FROST/aggregate(shares:message:commitments:groupPublicKey:publicShares:)``.
        public init(id: ParticipantID, hiding: Point, binding: Point) {
            self.id = id
            self.hiding = hiding
            self.binding = binding
        }

        /// keyshard's wire form: big-endian 2-byte identifier ‖ compressed D ‖ compressed E (68 bytes).
        /// - Throws: ``ShardCryptoError/Code/identityPoint`` when a commitment is the identity.
        public func serialized() throws(ShardCryptoError) -> [UInt8] {
            FROST.encode(id) + (try hiding.compressed()) + (try binding.compressed())
        }

        /// Decodes ``serialized()``.
        /// - Throws: ``ShardCryptoError/Code/invalidCommitments`` for a wrong length,
        ///   ``ShardCryptoError/Code/invalidParameters`` for identifier 0, and the point
        ///   decoding errors of ``Point/init(sec1:)`` for a bad commitment.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidCommitments, "a signing commitment is \(Self.byteCount) bytes, got \(bytes.count)")
            }
            self.init(
                id: try FROST.decodeID(bytes[0..<2]),
                hiding: try FROST.decodeElement(bytes[2..<35]),
                binding: try FROST.decodeElement(bytes[35..<68]))
        }

        private enum CodingKeys: String, CodingKey { case id, hiding, binding }

        /// Decodes the JSON form; points must be 33-byte compressed hex.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func point(_ key: CodingKeys) throws -> Point {
                let hex = try container.decode(String.self, forKey: key)
                guard let bytes = [UInt8](hexString: hex) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: container, debugDescription: "\(key.rawValue) is not hexadecimal")
                }
                return try FROST.decodeElement(bytes)
            }
            self.init(id: try container.decode(ParticipantID.self, forKey: .id), hiding: try point(.hiding),
                binding: try point(.binding))
        }

        /// Encodes the JSON form.
        /// - Throws: ``ShardCryptoError/Code/identityPoint`` when a commitment is the identity, and
        ///   whatever the encoder throws (`Encodable` fixes the untyped signature).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(try hiding.compressed().hexString, forKey: .hiding)
            try container.encode(try binding.compressed().hexString, forKey: .binding)
        }

        public var description: String { "SigningCommitment(id: \(id), hiding: \(hiding), binding: \(binding))" }
    }

    /// A commitment list that passed RFC 9591's checks: non-empty, sorted by
    /// identifier with no duplicates, and free of identity commitments. Holds the
    /// §4.3–4.6 computations that both signers and the coordinator run.
    struct CommitmentList {
        let commitments: [SigningCommitment]

        /// Validates `commitments`.
        /// - Throws: ``ShardCryptoError/Code/invalidCommitments`` when the list is
        ///   empty, unsorted, repeats an identifier or holds an identity commitment.
        init(validating commitments: [SigningCommitment]) throws(ShardCryptoError) {
            guard !commitments.isEmpty else {
                throw ShardCryptoError(.invalidCommitments, "the commitment list is empty")
            }
            for (previous, next) in zip(commitments, commitments.dropFirst()) {
                guard previous.id != next.id else {
                    throw ShardCryptoError(
                        .invalidCommitments, "participant \(next.id) has two commitments in the list")
                }
                guard previous.id < next.id else {
                    throw ShardCryptoError(
                        .invalidCommitments,
                        "the commitment list is not sorted by identifier (\(previous.id) before \(next.id))")
                }
            }
            for commitment in commitments where commitment.hiding.isIdentity || commitment.binding.isIdentity {
                throw ShardCryptoError(
                    .invalidCommitments, "participant \(commitment.id) sent an identity nonce commitment")
            }
            self.commitments = commitments
        }

        /// RFC 9591 §4.3 `participants_from_commitment_list`.
        var participants: [ParticipantID] { commitments.map(\.id) }

        /// The commitment of `id`, if it is in the list.
        func commitment(for id: ParticipantID) -> SigningCommitment? {
            commitments.first { $0.id == id }
        }

        /// RFC 9591 §4.3 `encode_group_commitment_list`:
        /// Σ SerializeScalar(id) ‖ SerializeElement(D) ‖ SerializeElement(E).
        func encoded() throws(ShardCryptoError) -> [UInt8] {
            // `flatMap` only rethrows untyped errors; `map` keeps the type.
            Array(
                try commitments.map { commitment throws(ShardCryptoError) in
                    commitment.id.scalar.serialized() + (try commitment.hiding.compressed())
                        + (try commitment.binding.compressed())
                }.joined())
        }

        /// RFC 9591 §4.4 `rho_input` for every participant, in list order:
        /// SerializeElement(PK) ‖ H4(msg) ‖ H5(encoded list) ‖ SerializeScalar(id).
        func bindingFactorInputs(groupPublicKey: Point, message: [UInt8]) throws(ShardCryptoError) -> [(ParticipantID, [UInt8])] {
            let prefix = try groupPublicKey.compressed() + Ciphersuite.h4(message) + Ciphersuite.h5(try encoded())
            return commitments.map { ($0.id, prefix + $0.id.scalar.serialized()) }
        }

        /// RFC 9591 §4.4 `compute_binding_factors`: ρ_i = H1(rho_input_i).
        func bindingFactors(groupPublicKey: Point, message: [UInt8]) throws(ShardCryptoError) -> [ParticipantID: Scalar] {
            let inputs = try bindingFactorInputs(groupPublicKey: groupPublicKey, message: message)
            return Dictionary(uniqueKeysWithValues: inputs.map { ($0.0, Ciphersuite.h1($0.1)) })
        }

        /// D_i + ρ_i·E_i, one participant's contribution to the group commitment.
        static func commitmentShare(_ commitment: SigningCommitment, bindingFactor: Scalar) -> Point {
            commitment.hiding + bindingFactor * commitment.binding
        }

        /// RFC 9591 §4.5 `compute_group_commitment`: R = Σ D_i + ρ_i·E_i.
        /// - Throws: ``ShardCryptoError/Code/invalidCommitments`` when R is the
        ///   identity, which RFC 9591 `SerializeElement` refuses to encode.
        func groupCommitment(bindingFactors: [ParticipantID: Scalar]) throws(ShardCryptoError) -> Point {
            // Σ D_i + Σ ρ_i·E_i: additions, and one multi-scalar multiplication for the t products.
            let sum = Point.sum(commitments.map(\.hiding))
                + Point.sumOfMultiples(commitments.map { (scalar: bindingFactors[$0.id]!, point: $0.binding) })
            guard !sum.isIdentity else {
                throw ShardCryptoError(.invalidCommitments, "the commitments add up to the identity group commitment")
            }
            return sum
        }
    }

    /// What every party derives from the commitment list, the group key and the
    /// message before signing or checking: binding factors, R and c.
    struct SessionValues {
        let bindingFactors: [ParticipantID: Scalar]
        let groupCommitment: Point
        let challenge: Scalar

        /// Runs RFC 9591 §4.4–4.6 over a validated list.
        /// - Throws: ``ShardCryptoError/Code/invalidCommitments`` when R is the identity,
        ///   ``ShardCryptoError/Code/identityPoint`` when the group public key is.
        init(list: CommitmentList, groupPublicKey: Point, message: [UInt8]) throws(ShardCryptoError) {
            guard !groupPublicKey.isIdentity else {
                throw ShardCryptoError(.identityPoint, "the group public key is the identity")
            }
            bindingFactors = try list.bindingFactors(groupPublicKey: groupPublicKey, message: message)
            groupCommitment = try list.groupCommitment(bindingFactors: bindingFactors)
            challenge = try FROST.challenge(
                groupCommitment: groupCommitment, groupPublicKey: groupPublicKey, message: message)
        }
    }

    /// RFC 9591 §4.6 `compute_challenge`: c = H2(SerializeElement(R) ‖ SerializeElement(PK) ‖ msg).
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when R or PK is the identity.
    static func challenge(groupCommitment: Point, groupPublicKey: Point, message: [UInt8]) throws(ShardCryptoError) -> Scalar {
        Ciphersuite.h2(try groupCommitment.compressed() + groupPublicKey.compressed() + message)
    }
}
