extension ParticipantID {
    /// The 2-byte big-endian encoding used in every keyshard transcript and message.
    var encoded: [UInt8] { [UInt8(rawValue >> 8), UInt8(rawValue & 0xff)] }

    /// Decodes the 2-byte big-endian encoding.
    init(encoded bytes: some Collection<UInt8>) throws {
        let bytes = Array(bytes)
        guard bytes.count == 2 else {
            throw ShardCryptoError(.invalidParameters, "a participant identifier is 2 bytes, got \(bytes.count)")
        }
        try self.init(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
    }
}

/// Pedersen/Feldman distributed key generation (RFC 9591 Appendix C, with
/// complaints as in Gennaro–Jarecki–Krawczyk–Rabin), so that the group key never
/// exists whole. See ``DKG/Participant`` for the flow.
public enum DKG {}

extension DKG {
    /// What every participant of one run must agree on before it starts.
    public struct Parameters: Sendable, Equatable {
        /// t: how many shares recover the key.
        public let threshold: Int
        /// Every participant's identifier, ascending.
        public let participants: [ParticipantID]
        /// A session identifier unique to this run (for example a random 32-byte
        /// value chosen by the coordinator and logged). Every proof and signature is
        /// bound to it, so messages of one run are worthless in another.
        public let context: [UInt8]

        /// Checks and stores the run's parameters.
        /// - Parameters:
        ///   - threshold: t, 1 ≤ t ≤ n.
        ///   - participants: the n distinct identifiers, in any order.
        ///   - context: the session identifier, not empty.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for an unusable (t, n) or an
        ///   empty context, ``ShardCryptoError/Code/duplicateParticipant`` for a repeated identifier.
        public init(threshold: Int, participants: [ParticipantID], context: [UInt8]) throws {
            try Shamir.checkDistinct(participants)
            try Shamir.validate(threshold: threshold, participants: participants.count)
            guard !context.isEmpty else {
                throw ShardCryptoError(.invalidParameters, "the DKG session context is empty")
            }
            self.threshold = threshold
            self.participants = participants.sorted()
            self.context = context
        }

        /// The transcript parts every proof and digest of the run starts with.
        var transcript: [[UInt8]] {
            [[UInt8(threshold >> 8), UInt8(threshold & 0xff)] + participants.flatMap(\.encoded), context]
        }
    }

    /// A Schnorr proof of knowledge of the discrete logarithm a of Y = a·G, bound to a
    /// transcript: R = k·G, c = H(Y, R, transcript), μ = k + c·a; it holds when
    /// μ·G = R + c·Y (RFC 9591 Appendix C). Used as the round-1 proof of knowledge
    /// of a_{i,0} and as the dealer's signature on its round-2 shares.
    public struct KnowledgeProof: Sendable, Equatable {
        /// R = k·G.
        public let commitment: Point
        /// μ = k + c·a.
        public let response: Scalar

        /// The encoding: compressed R ‖ μ, 65 bytes.
        public static let byteCount = 65

        /// Wraps a received proof.
        public init(commitment: Point, response: Scalar) {
            self.commitment = commitment
            self.response = response
        }

        /// Decodes R ‖ μ.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a wrong length, or the
        ///   point and scalar decoding errors.
        public init(serialized bytes: some Collection<UInt8>) throws {
            let bytes = Array(bytes)
            guard bytes.count == Self.byteCount else {
                throw ShardCryptoError(.invalidParameters, "a DKG proof is \(Self.byteCount) bytes, got \(bytes.count)")
            }
            self.init(commitment: try Point(sec1: bytes[0..<33]), response: try Scalar(bigEndian: bytes[33..<65]))
        }

        /// R ‖ μ.
        public func serialized() throws -> [UInt8] { try commitment.compressed() + response.serialized() }

        static func challenge(publicKey: Point, commitment: Point, transcript: [[UInt8]], dst: String) throws -> Scalar
        {
            HashToScalar.hash(parts: [try publicKey.compressed(), try commitment.compressed()] + transcript, dst: dst)
        }

        static func prove(secret: Scalar, transcript: [[UInt8]], dst: String) throws -> KnowledgeProof {
            let k = hedgedNonce(secret: secret, transcript: transcript, dst: dst + "/nonce")
            let r = Point.generatorMultiple(k)
            let c = try challenge(
                publicKey: .generatorMultiple(secret), commitment: r, transcript: transcript, dst: dst)
            return KnowledgeProof(commitment: r, response: k + c * secret)
        }

        func verify(publicKey: Point, transcript: [[UInt8]], dst: String) -> Bool {
            guard !publicKey.isIdentity, !commitment.isIdentity,
                let c = try? Self.challenge(
                    publicKey: publicKey, commitment: commitment, transcript: transcript, dst: dst)
            else { return false }
            return Point.generatorMultiple(response) == commitment + c * publicKey
        }
    }

    /// Participant i's round-1 broadcast: the Feldman commitment C_i to its random
    /// polynomial and a proof of knowledge of a_{i,0}, which stops a rogue-key attack
    /// (choosing C_{i,0} as a function of the others' to control the group key).
    public struct Round1Package: Sendable, Equatable, CustomStringConvertible {
        /// The sender i.
        public let from: ParticipantID
        /// C_i = (a_{i,0}·G, …, a_{i,t−1}·G).
        public let commitment: FeldmanCommitment
        /// The proof of knowledge of a_{i,0}, bound to i and the run's parameters.
        public let proof: KnowledgeProof

        static let proofDST = "keyshard/v1/dkg/proof-of-knowledge"

        /// Wraps a received package.
        public init(from: ParticipantID, commitment: FeldmanCommitment, proof: KnowledgeProof) {
            self.from = from
            self.commitment = commitment
            self.proof = proof
        }

        /// Decodes `from (2 bytes) ‖ proof (65) ‖ C_i (33 bytes per coefficient)`.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a short encoding, or
        ///   the identifier, point and scalar decoding errors.
        public init(serialized bytes: [UInt8]) throws {
            let header = 2 + KnowledgeProof.byteCount
            guard bytes.count > header else {
                throw ShardCryptoError(
                    .invalidParameters, "a round-1 package is at least \(header + 33) bytes, got \(bytes.count)")
            }
            self.init(
                from: try ParticipantID(encoded: bytes[0..<2]),
                commitment: try FeldmanCommitment(serialized: Array(bytes[header...])),
                proof: try KnowledgeProof(serialized: bytes[2..<header]))
        }

        /// `from (2 bytes) ‖ proof (65) ‖ C_i (33 bytes per coefficient)`.
        public func serialized() throws -> [UInt8] {
            from.encoded + (try proof.serialized()) + (try commitment.serialized())
        }

        static func proofTranscript(
            from: ParticipantID, commitment: FeldmanCommitment, parameters: Parameters
        ) throws -> [[UInt8]] {
            [from.encoded] + parameters.transcript + [try commitment.serialized()]
        }

        /// Whether the proof of knowledge holds for this sender under `parameters`
        /// (it fails for another session context, sender or commitment).
        public func proofVerifies(parameters: Parameters) -> Bool {
            guard let transcript = try? Self.proofTranscript(from: from, commitment: commitment, parameters: parameters)
            else {
                return false
            }
            return proof.verify(publicKey: commitment.publicKey, transcript: transcript, dst: Self.proofDST)
        }

        public var description: String { "DKG.Round1Package(from: \(from), threshold: \(commitment.threshold))" }
    }

    /// The share f_i(j) that dealer i sends privately to participant j, signed by i
    /// with a_{i,0} so that j can prove a bad share to everyone. Secret: encrypt it
    /// to j (the caller's transport does that) and never print it.
    public struct Round2Share: Sendable, CustomStringConvertible, CustomReflectable {
        /// The dealer i.
        public let from: ParticipantID
        /// The recipient j.
        public let to: ParticipantID
        /// f_i(j).
        public let value: Scalar
        /// The dealer's digest of the round-1 broadcast (``Round1Outcome/digest``); the
        /// recipient compares it with its own to detect a relay that showed different
        /// participants different packages.
        public let round1Digest: [UInt8]
        /// The dealer's signature over (i, j, parameters, digest, value) under C_{i,0}.
        public let signature: KnowledgeProof

        /// The encoding length: from ‖ to ‖ digest ‖ value ‖ signature.
        public static let byteCount = 2 + 2 + 32 + Scalar.byteCount + KnowledgeProof.byteCount
        static let signatureDST = "keyshard/v1/dkg/share-signature"

        /// Wraps a received share.
        public init(
            from: ParticipantID, to: ParticipantID, value: Scalar, round1Digest: [UInt8], signature: KnowledgeProof
        ) {
            self.from = from
            self.to = to
            self.value = value
            self.round1Digest = round1Digest
            self.signature = signature
        }

        /// Decodes `from (2) ‖ to (2) ‖ digest (32) ‖ value (32) ‖ signature (65)`.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a wrong length, or the
        ///   identifier, point and scalar decoding errors.
        public init(serialized encoding: SecretBytes) throws {
            guard encoding.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidParameters, "a round-2 share is \(Self.byteCount) bytes, got \(encoding.count)")
            }
            let (from, to, digest, signature): (ParticipantID, ParticipantID, [UInt8], KnowledgeProof) =
                try encoding.withUnsafeBytes {
                    (
                        try ParticipantID(encoded: $0[0..<2]), try ParticipantID(encoded: $0[2..<4]), Array($0[4..<36]),
                        try KnowledgeProof(serialized: $0[68..<Self.byteCount])
                    )
                }
            let value = try encoding.withUnsafeBytes { try Scalar(bigEndian: $0[36..<68]) }
            self.init(from: from, to: to, value: value, round1Digest: digest, signature: signature)
        }

        /// `from (2) ‖ to (2) ‖ digest (32) ‖ value (32) ‖ signature (65)`, in wiped storage.
        public func serialized() throws -> SecretBytes {
            let head = from.encoded + to.encoded + round1Digest
            let tail = try signature.serialized()
            let secret = value.secretBytes()
            return SecretBytes(count: Self.byteCount) { buffer in
                buffer.copyBytes(from: head)
                secret.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[36..<68]).copyMemory(from: $0) }
                UnsafeMutableRawBufferPointer(rebasing: buffer[68...]).copyBytes(from: tail)
            }
        }

        static func signatureTranscript(
            from: ParticipantID, to: ParticipantID, value: Scalar, round1Digest: [UInt8], parameters: Parameters
        ) -> [[UInt8]] {
            [from.encoded, to.encoded] + parameters.transcript + [round1Digest, value.serialized()]
        }

        /// Signs f_i(j) as dealer i, whose polynomial has constant term `dealerSecret`.
        static func signed(
            from: ParticipantID, to: ParticipantID, value: Scalar, round1Digest: [UInt8], dealerSecret: Scalar,
            parameters: Parameters
        ) throws -> Round2Share {
            let transcript = signatureTranscript(
                from: from, to: to, value: value, round1Digest: round1Digest, parameters: parameters)
            let signature = try KnowledgeProof.prove(secret: dealerSecret, transcript: transcript, dst: signatureDST)
            return Round2Share(from: from, to: to, value: value, round1Digest: round1Digest, signature: signature)
        }

        /// Whether the dealer's signature holds under its commitment C_i.
        public func signatureVerifies(dealerCommitment: FeldmanCommitment, parameters: Parameters) -> Bool {
            let transcript = Self.signatureTranscript(
                from: from, to: to, value: value, round1Digest: round1Digest, parameters: parameters)
            return signature.verify(
                publicKey: dealerCommitment.publicKey, transcript: transcript, dst: Self.signatureDST)
        }

        /// Whether f_i(j)·G equals C_i evaluated at j.
        public func valueVerifies(dealerCommitment: FeldmanCommitment) -> Bool {
            dealerCommitment.verifies(SecretShare(id: to, value: value))
        }

        public var description: String { "DKG.Round2Share(from: \(from), to: \(to), value: redacted)" }
        public var customMirror: Mirror { Mirror(self, children: ["from": from, "to": to]) }
    }

    /// A participant's public accusation that a dealer did not give it a valid share.
    /// Anyone with the round-1 packages can judge it with ``DKG/resolveComplaint(_:answer:round1:)``.
    public struct Complaint: Sendable, CustomStringConvertible {
        /// Why the accuser complains.
        public enum Reason: Sendable {
            /// Nothing usable arrived (no share, or one whose signature fails). The
            /// accused must answer by revealing f_i(j) publicly.
            case missingShare
            /// A correctly signed share that does not match C_i: the evidence itself,
            /// which proves the fault without any answer. Revealing it costs nothing,
            /// since it is not a point on the dealer's polynomial.
            case invalidShare(evidence: Round2Share)
        }

        /// The participant j complaining.
        public let accuser: ParticipantID
        /// The dealer i accused.
        public let accused: ParticipantID
        /// The grounds.
        public let reason: Reason

        /// Creates a complaint.
        public init(accuser: ParticipantID, accused: ParticipantID, reason: Reason) {
            self.accuser = accuser
            self.accused = accused
            self.reason = reason
        }

        /// Decodes `accuser (2) ‖ accused (2) ‖ 0x00` or `… ‖ 0x01 ‖ evidence share (133)`.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a malformed encoding.
        public init(serialized bytes: [UInt8]) throws {
            guard bytes.count == 5 || bytes.count == 5 + Round2Share.byteCount,
                bytes.count == 5 ? bytes[4] == 0 : bytes[4] == 1
            else {
                throw ShardCryptoError(
                    .invalidParameters, "a complaint is 5 or \(5 + Round2Share.byteCount) bytes with a matching tag")
            }
            let reason: Reason =
                bytes[4] == 0
                ? .missingShare : .invalidShare(evidence: try Round2Share(serialized: SecretBytes(bytes[5...])))
            self.init(
                accuser: try ParticipantID(encoded: bytes[0..<2]), accused: try ParticipantID(encoded: bytes[2..<4]),
                reason: reason)
        }

        /// `accuser (2) ‖ accused (2) ‖ 0x00` for a missing share,
        /// `… ‖ 0x01 ‖ evidence (133)` for an invalid one.
        /// The evidence is public by design (it is not a point on the dealer's polynomial).
        public func serialized() throws -> [UInt8] {
            switch reason {
            case .missingShare: return accuser.encoded + accused.encoded + [0]
            case .invalidShare(let evidence):
                return accuser.encoded + accused.encoded + [1]
                    + (try evidence.serialized().withUnsafeBytes { Array($0) })
            }
        }

        public var description: String {
            switch reason {
            case .missingShare: "DKG.Complaint(\(accuser) accuses \(accused): missing share)"
            case .invalidShare: "DKG.Complaint(\(accuser) accuses \(accused): share does not match commitment)"
            }
        }
    }

    /// Who a complaint shows to be at fault.
    public enum Verdict: Sendable, Equatable {
        /// The accused dealer signed a share that fails its own commitment, or did not
        /// reveal a valid share when asked: it is disqualified.
        case accusedAtFault
        /// The complaint is false: its evidence is not a share the accused signed for
        /// the accuser in this run, or it matches the commitment after all. The accuser
        /// is disqualified.
        case accuserAtFault
        /// A missing share was revealed publicly and matches the commitment: nobody is
        /// at fault (a relay may have dropped it); the accuser uses the revealed share.
        case shareRevealed
    }
}
