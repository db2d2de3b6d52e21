extension ParticipantID {
    /// The 2-byte big-endian encoding used in every keyshard transcript and message.
    var encoded: [UInt8] { [UInt8(rawValue >> 8), UInt8(rawValue & 0xff)] }

    /// Decodes the 2-byte big-endian encoding.
    init(encoded bytes: some Collection<UInt8>) throws(ShardCryptoError) {
        let bytes = Array(bytes)
        guard bytes.count == 2 else {
            throw ShardCryptoError(.invalidParameters, "a participant identifier is 2 bytes, got \(bytes.count)")
        }
        try self.init(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
    }
}

/// Pedersen/Feldman distributed key generation (RFC 9591 Appendix C, with signed
/// complaints that disqualify a dealer instead of revealing its share, and a final
/// confirmation among the participants), so that the group key never exists whole.
/// See ``DKG/Participant`` for the flow and docs/CRYPTOGRAPHY.md for what the relay can do.
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
        public init(threshold: Int, participants: [ParticipantID], context: [UInt8]) throws(ShardCryptoError) {
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
        public init(serialized bytes: some Collection<UInt8>) throws(ShardCryptoError) {
            let bytes = Array(bytes)
            guard bytes.count == Self.byteCount else {
                throw ShardCryptoError(.invalidParameters, "a DKG proof is \(Self.byteCount) bytes, got \(bytes.count)")
            }
            self.init(commitment: try Point(sec1: bytes[0..<33]), response: try Scalar(bigEndian: bytes[33..<65]))
        }

        /// R ‖ μ.
        public func serialized() throws(ShardCryptoError) -> [UInt8] { try commitment.compressed() + response.serialized() }

        static func challenge(publicKey: Point, commitment: Point, transcript: [[UInt8]], dst: String) throws(ShardCryptoError) -> Scalar
        {
            HashToScalar.hash(parts: [try publicKey.compressed(), try commitment.compressed()] + transcript, dst: dst)
        }

        static func prove(secret: Scalar, transcript: [[UInt8]], dst: String) throws(ShardCryptoError) -> KnowledgeProof {
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
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
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
        public func serialized() throws(ShardCryptoError) -> [UInt8] {
            from.encoded + (try proof.serialized()) + (try commitment.serialized())
        }

        static func proofTranscript(
            from: ParticipantID, commitment: FeldmanCommitment, parameters: Parameters
        ) throws(ShardCryptoError) -> [[UInt8]] {
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
        public init(serialized encoding: SecretBytes) throws(ShardCryptoError) {
            guard encoding.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidParameters, "a round-2 share is \(Self.byteCount) bytes, got \(encoding.count)")
            }
            let (from, to, digest, signature): (ParticipantID, ParticipantID, [UInt8], KnowledgeProof) =
                try encoding.withUnsafeBytes { bytes throws(ShardCryptoError) in
                    (
                        try ParticipantID(encoded: bytes[0..<2]), try ParticipantID(encoded: bytes[2..<4]),
                        Array(bytes[4..<36]), try KnowledgeProof(serialized: bytes[68..<Self.byteCount])
                    )
                }
            let value = try encoding.withUnsafeBytes { bytes throws(ShardCryptoError) in try Scalar(bigEndian: bytes[36..<68]) }
            self.init(from: from, to: to, value: value, round1Digest: digest, signature: signature)
        }

        /// `from (2) ‖ to (2) ‖ digest (32) ‖ value (32) ‖ signature (65)`, in wiped storage.
        public func serialized() throws(ShardCryptoError) -> SecretBytes {
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
        ) throws(ShardCryptoError) -> Round2Share {
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

    /// A participant's public accusation that a dealer did not give it a valid share,
    /// signed by the accuser with its round-1 secret a_{j,0} (verifiable under C_{j,0})
    /// and bound to the run's parameters and round-1 digest, so that the relay can
    /// neither forge nor replay one. Anyone with the round-1 packages can judge it with
    /// ``DKG/resolveComplaint(_:round1:)``. No complaint is ever answered by revealing
    /// a share: a valid missing-share complaint disqualifies the accused dealer.
    public struct Complaint: Sendable, CustomStringConvertible {
        /// Why the accuser complains.
        public enum Reason: Sendable {
            /// Nothing usable arrived (no share, or one whose dealer signature fails).
            /// The accused dealer is disqualified; nothing is revealed.
            case missingShare
            /// A correctly signed share that does not match C_i: the evidence itself,
            /// which proves the fault without any answer. Revealing it costs nothing,
            /// since it is not a point on the dealer's committed polynomial.
            case invalidShare(evidence: Round2Share)

            /// The reason's encoding: the tag, then the evidence share for an invalid one.
            func serialized() throws(ShardCryptoError) -> [UInt8] {
                switch self {
                case .missingShare: return [0]
                case .invalidShare(let evidence): return [1] + (try evidence.serialized().withUnsafeBytes { Array($0) })
                }
            }
        }

        /// The participant j complaining.
        public let accuser: ParticipantID
        /// The dealer i accused.
        public let accused: ParticipantID
        /// The accuser's digest of the round-1 broadcast (``Round1Outcome/digest``).
        public let round1Digest: [UInt8]
        /// The grounds.
        public let reason: Reason
        /// The accuser's signature under C_{j,0} over (j, i, parameters, digest, reason).
        public let signature: KnowledgeProof

        /// The length of a missing-share complaint: accuser ‖ accused ‖ digest ‖ signature ‖ tag.
        public static let missingShareByteCount = 2 + 2 + 32 + KnowledgeProof.byteCount + 1
        /// The length of an invalid-share complaint: a missing-share one's fields and the evidence share.
        public static let invalidShareByteCount = missingShareByteCount + Round2Share.byteCount
        static let signatureDST = "keyshard/v1/dkg/complaint"

        /// Wraps a received complaint; ``DKG/resolveComplaint(_:round1:)`` checks it.
        public init(
            accuser: ParticipantID, accused: ParticipantID, round1Digest: [UInt8], reason: Reason,
            signature: KnowledgeProof
        ) {
            self.accuser = accuser
            self.accused = accused
            self.round1Digest = round1Digest
            self.reason = reason
            self.signature = signature
        }

        /// Decodes `accuser (2) ‖ accused (2) ‖ digest (32) ‖ signature (65) ‖ 0x00`, or
        /// `… ‖ 0x01 ‖ evidence share (133)`.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a malformed encoding (an
        ///   unsigned complaint of the earlier format among them), or the identifier, point
        ///   and scalar decoding errors.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            let head = Self.missingShareByteCount
            guard bytes.count == head || bytes.count == Self.invalidShareByteCount,
                bytes[head - 1] == (bytes.count == head ? 0 : 1)
            else {
                throw ShardCryptoError(
                    .invalidParameters,
                    "a signed complaint is \(head) or \(Self.invalidShareByteCount) bytes with a matching tag")
            }
            let reason: Reason =
                bytes.count == head
                ? .missingShare : .invalidShare(evidence: try Round2Share(serialized: SecretBytes(bytes[head...])))
            self.init(
                accuser: try ParticipantID(encoded: bytes[0..<2]), accused: try ParticipantID(encoded: bytes[2..<4]),
                round1Digest: Array(bytes[4..<36]), reason: reason,
                signature: try KnowledgeProof(serialized: bytes[36..<(head - 1)]))
        }

        /// `accuser (2) ‖ accused (2) ‖ digest (32) ‖ signature (65) ‖ 0x00` for a missing
        /// share, `… ‖ 0x01 ‖ evidence (133)` for an invalid one. The evidence is public by
        /// design (it is not a point on the dealer's polynomial).
        public func serialized() throws(ShardCryptoError) -> [UInt8] {
            accuser.encoded + accused.encoded + round1Digest + (try signature.serialized()) + (try reason.serialized())
        }

        static func signatureTranscript(
            accuser: ParticipantID, accused: ParticipantID, round1Digest: [UInt8], reason: Reason,
            parameters: Parameters
        ) throws(ShardCryptoError) -> [[UInt8]] {
            [accuser.encoded, accused.encoded] + parameters.transcript + [round1Digest, try reason.serialized()]
        }

        /// Signs a complaint as accuser j, whose polynomial has constant term `accuserSecret`.
        static func signed(
            accuser: ParticipantID, accused: ParticipantID, reason: Reason, round1Digest: [UInt8],
            accuserSecret: Scalar, parameters: Parameters
        ) throws(ShardCryptoError) -> Complaint {
            let transcript = try signatureTranscript(
                accuser: accuser, accused: accused, round1Digest: round1Digest, reason: reason, parameters: parameters)
            let signature = try KnowledgeProof.prove(secret: accuserSecret, transcript: transcript, dst: signatureDST)
            return Complaint(
                accuser: accuser, accused: accused, round1Digest: round1Digest, reason: reason, signature: signature)
        }

        /// Whether the accuser's signature holds under its commitment C_j (it fails for
        /// another accuser, accused, reason, evidence, digest or run).
        public func signatureVerifies(accuserCommitment: FeldmanCommitment, parameters: Parameters) -> Bool {
            guard
                let transcript = try? Self.signatureTranscript(
                    accuser: accuser, accused: accused, round1Digest: round1Digest, reason: reason,
                    parameters: parameters)
            else { return false }
            return signature.verify(
                publicKey: accuserCommitment.publicKey, transcript: transcript, dst: Self.signatureDST)
        }

        public var description: String {
            switch reason {
            case .missingShare: "DKG.Complaint(\(accuser) accuses \(accused): missing share)"
            case .invalidShare: "DKG.Complaint(\(accuser) accuses \(accused): share does not match commitment)"
            }
        }
    }

    /// Who a valid complaint shows to be at fault. Both outcomes shrink QUAL; neither
    /// reveals anything secret.
    public enum Verdict: Sendable, Equatable {
        /// The accused dealer gave the accuser no usable share, or signed one that fails
        /// its own commitment: it is disqualified. (For a missing share nobody can tell a
        /// silent dealer from a relay that dropped the share or a lying accuser; the
        /// dealer is disqualified all the same, which costs at most availability.)
        case accusedAtFault
        /// The complaint's evidence is not a share the accused signed for the accuser in
        /// this run, or it matches the commitment after all: the accuser signed a false
        /// accusation and is disqualified.
        case accuserAtFault
    }

    /// A participant's confirmation of the run's outcome: a Schnorr signature with its
    /// round-1 secret a_{j,0}, verifiable under C_{j,0} of its round-1 package, over j, the
    /// run's parameters, the transcript digest (round-1 broadcast and every complaint),
    /// QUAL, the group public key and the combined commitment.
    ///
    /// *Every* participant that passed round 1 confirms, the ones later disqualified by
    /// complaints included, and a participant keeps its share only once it holds a valid
    /// confirmation from each of them, checked under the C_{m,0} of *its own* round-1
    /// outcome against the outcome *it* computed. A relay that shows two participants
    /// different complaint lists (and so different QUAL sets or keys) cannot give either
    /// a confirmation the other signed for its own view, and cannot forge one without
    /// a_{m,0}: both refuse the run. Public.
    public struct Confirmation: Sendable, Equatable, CustomStringConvertible {
        /// The confirming participant j.
        public let from: ParticipantID
        /// The signature under C_{j,0}.
        public let signature: KnowledgeProof

        /// The encoding length: from ‖ signature.
        public static let byteCount = 2 + KnowledgeProof.byteCount
        static let signatureDST = "keyshard/v1/dkg/confirmation"

        /// Wraps a received confirmation.
        public init(from: ParticipantID, signature: KnowledgeProof) {
            self.from = from
            self.signature = signature
        }

        /// Decodes `from (2) ‖ signature (65)`.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a wrong length, or the
        ///   identifier, point and scalar decoding errors.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidParameters, "a DKG confirmation is \(Self.byteCount) bytes, got \(bytes.count)")
            }
            self.init(
                from: try ParticipantID(encoded: bytes[0..<2]), signature: try KnowledgeProof(serialized: bytes[2...]))
        }

        /// `from (2) ‖ signature (65)`.
        public func serialized() throws(ShardCryptoError) -> [UInt8] { from.encoded + (try signature.serialized()) }

        static func transcript(from: ParticipantID, result: PublicResult, parameters: Parameters) throws(ShardCryptoError) -> [[UInt8]] {
            [from.encoded] + parameters.transcript + [
                result.transcriptDigest, result.qualified.flatMap(\.encoded), try result.groupPublicKey.compressed(),
                try result.commitment.serialized(),
            ]
        }

        /// Signs `result` as participant `from`, whose polynomial has constant term `round1Secret`.
        static func signed(
            from: ParticipantID, round1Secret: Scalar, result: PublicResult, parameters: Parameters
        ) throws(ShardCryptoError) -> Confirmation {
            let transcript = try transcript(from: from, result: result, parameters: parameters)
            return Confirmation(
                from: from,
                signature: try KnowledgeProof.prove(secret: round1Secret, transcript: transcript, dst: signatureDST))
        }

        /// Whether this confirms exactly `result`: the sender passed round 1 in `round1` and the
        /// signature holds under its C_{j,0} there, over `result`'s digest, QUAL, key and commitment.
        public func verifies(_ result: PublicResult, round1: Round1Outcome) -> Bool {
            guard let commitment = round1.commitment(of: from),
                let transcript = try? Self.transcript(from: from, result: result, parameters: round1.parameters)
            else { return false }
            return signature.verify(publicKey: commitment.publicKey, transcript: transcript, dst: Self.signatureDST)
        }

        public var description: String { "DKG.Confirmation(from: \(from))" }
    }
}
