import Crypto

extension DKG {
    /// The checked round-1 broadcast: exactly one package from every participant,
    /// with the senders whose proof of knowledge fails set aside. Participants and
    /// the coordinator build the same value from the same packages.
    public struct Round1Outcome: Sendable {
        /// The run's parameters.
        public let parameters: Parameters
        /// Every package, ascending by sender.
        public let packages: [Round1Package]
        /// Senders whose proof of knowledge holds and whose commitment has t points.
        public let qualified: [ParticipantID]
        /// Senders disqualified in round 1 (bad proof or wrong commitment length).
        public let disqualified: [ParticipantID]
        /// SHA-256 over the parameters and all packages: equal for two participants
        /// exactly when they saw the same broadcast.
        public let digest: [UInt8]

        static let digestLabel = Array("keyshard/v1/dkg/round1".utf8)

        /// Checks the round-1 broadcast.
        /// - Parameters:
        ///   - parameters: the run's parameters.
        ///   - packages: one package per participant, in any order.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a package from an unknown
        ///   sender or a participant with no package, ``ShardCryptoError/Code/duplicateParticipant``
        ///   when a sender appears twice.
        public init(parameters: Parameters, packages: [Round1Package]) throws(ShardCryptoError) {
            let known = Set(parameters.participants)
            var seen = Set<ParticipantID>()
            for package in packages {
                guard known.contains(package.from) else {
                    throw ShardCryptoError(
                        .invalidParameters, "round-1 package from participant \(package.from), who is not in this run")
                }
                guard seen.insert(package.from).inserted else {
                    throw ShardCryptoError(
                        .duplicateParticipant, "two round-1 packages from participant \(package.from)")
                }
            }
            if let missing = parameters.participants.first(where: { !seen.contains($0) }) {
                throw ShardCryptoError(.invalidParameters, "no round-1 package from participant \(missing)")
            }
            let sorted = packages.sorted { $0.from < $1.from }
            let passes = sorted.map {
                $0.commitment.threshold == parameters.threshold && $0.proofVerifies(parameters: parameters)
            }
            self.parameters = parameters
            self.packages = sorted
            self.qualified = zip(sorted, passes).filter(\.1).map(\.0.from)
            self.disqualified = zip(sorted, passes).filter { !$0.1 }.map(\.0.from)
            self.digest = DKG.framedDigest(
                [Self.digestLabel] + parameters.transcript + (try sorted.map { package throws(ShardCryptoError) in try package.serialized() }))
        }

        /// The commitment C_i of a participant that passed round 1.
        public func commitment(of id: ParticipantID) -> FeldmanCommitment? {
            guard qualified.contains(id) else { return nil }
            return packages.first { $0.from == id }?.commitment
        }
    }

    /// SHA-256 over length-prefixed parts: unambiguous for any split of the parts.
    static func framedDigest(_ parts: [[UInt8]]) -> [UInt8] {
        var hasher = SHA256()
        for part in parts {
            let length = UInt32(part.count)
            hasher.update(data: [
                UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff),
            ])
            hasher.update(data: part)
        }
        return Array(hasher.finalize())
    }

    /// Checks a complaint and judges it from public data only. No complaint is ever
    /// answered by revealing a share.
    ///
    /// - A ``Complaint/Reason/missingShare`` complaint disqualifies the accused: a share
    ///   that did not arrive cannot be told apart from one a relay dropped or from a lie
    ///   by the accuser, and asking the dealer to reveal f_i(j) publicly would hand
    ///   f_i(j) to whoever forged or provoked the complaint.
    /// - An ``Complaint/Reason/invalidShare(evidence:)`` complaint needs no answer: if the
    ///   evidence carries the accused's valid signature for the accuser in this run and
    ///   fails C_i, the accused is at fault; otherwise the accuser signed a false
    ///   accusation and is.
    ///
    /// The coordinator can call this on every complaint it collects and drop the
    /// refused ones before relaying; a participant refuses a list that holds any.
    ///
    /// - Parameters:
    ///   - complaint: the complaint.
    ///   - round1: the checked round-1 broadcast.
    /// - Throws: ``ShardCryptoError/Code/invalidComplaint`` when accuser and accused are the
    ///   same or one of them did not pass round 1; ``ShardCryptoError/Code/forgedComplaint``
    ///   when the complaint is bound to another round-1 broadcast or run, or its signature
    ///   does not hold under the accuser's C_{j,0} (unsigned, altered, or signed by another).
    public static func resolveComplaint(_ complaint: Complaint, round1: Round1Outcome) throws(ShardCryptoError) -> Verdict {
        guard complaint.accuser != complaint.accused else {
            throw ShardCryptoError(.invalidComplaint, "participant \(complaint.accuser) complains about itself")
        }
        guard let accuserCommitment = round1.commitment(of: complaint.accuser) else {
            throw ShardCryptoError(
                .invalidComplaint, "complaint from participant \(complaint.accuser), who did not pass round 1")
        }
        guard let commitment = round1.commitment(of: complaint.accused) else {
            throw ShardCryptoError(
                .invalidComplaint, "complaint against participant \(complaint.accused), who did not pass round 1")
        }
        guard complaint.round1Digest == round1.digest else {
            throw ShardCryptoError(
                .forgedComplaint,
                "the complaint of \(complaint.accuser) about \(complaint.accused) is bound to another round-1 "
                    + "broadcast")
        }
        guard complaint.signatureVerifies(accuserCommitment: accuserCommitment, parameters: round1.parameters) else {
            throw ShardCryptoError(
                .forgedComplaint,
                "the complaint of \(complaint.accuser) about \(complaint.accused) is not signed by "
                    + "\(complaint.accuser)")
        }
        switch complaint.reason {
        case .missingShare:
            return .accusedAtFault
        case .invalidShare(let evidence):
            let authentic =
                evidence.from == complaint.accused && evidence.to == complaint.accuser
                && evidence.round1Digest == round1.digest
                && evidence.signatureVerifies(dealerCommitment: commitment, parameters: round1.parameters)
            guard authentic else { return .accuserAtFault }
            return evidence.valueVerifies(dealerCommitment: commitment) ? .accuserAtFault : .accusedAtFault
        }
    }

    /// The public outcome of a run: what the coordinator stores and every participant's
    /// ``Result`` repeats.
    public struct PublicResult: Sendable, Equatable {
        /// QUAL: the participants whose polynomials make up the key, ascending. Only they hold shares.
        public let qualified: [ParticipantID]
        /// Participants excluded in round 1 or by a complaint, ascending.
        public let disqualified: [ParticipantID]
        /// Σ_{i∈QUAL} C_i pointwise: the commitment to the key's sharing polynomial.
        public let commitment: FeldmanCommitment
        /// The round-1 digest the run is bound to.
        public let round1Digest: [UInt8]
        /// SHA-256 over the round-1 digest and every complaint, ascending by (accuser, accused):
        /// equal for two participants exactly when they settled the same complaints.
        public let transcriptDigest: [UInt8]

        static let transcriptLabel = Array("keyshard/v1/dkg/transcript".utf8)

        /// The group public key Σ_{i∈QUAL} C_{i,0}.
        public var groupPublicKey: Point { commitment.publicKey }

        /// X_j = x_j·G for participant j.
        public func publicShare(for id: ParticipantID) -> Point { commitment.publicShare(for: id) }
    }

    /// Checks and settles every complaint and computes QUAL and the combined commitment.
    /// Deterministic and independent of the order of `complaints`: everyone who passes the
    /// same set gets the same result.
    ///
    /// Secrecy does not depend on which complaints arrive: QUAL has at least t members and
    /// at most t − 1 custodians are malicious, so QUAL holds an honest dealer whose a_{i,0}
    /// nobody else knows. A relay or a lying accuser can shrink QUAL (and so bias which
    /// dealers make up the key) or abort the run, never learn the key.
    ///
    /// - Parameters:
    ///   - round1: the checked round-1 broadcast.
    ///   - complaints: every complaint of the run.
    /// - Throws: the errors of ``resolveComplaint(_:round1:)``;
    ///   ``ShardCryptoError/Code/invalidComplaint`` for two complaints from one accuser about
    ///   one dealer, or fewer than t qualified participants left.
    public static func finalize(round1: Round1Outcome, complaints: [Complaint]) throws(ShardCryptoError) -> PublicResult {
        struct Pair: Hashable, Comparable {
            let accuser: ParticipantID
            let accused: ParticipantID
            static func < (lhs: Pair, rhs: Pair) -> Bool {
                (lhs.accuser, lhs.accused) < (rhs.accuser, rhs.accused)
            }
        }
        var byPair: [Pair: Complaint] = [:]
        var atFault = Set<ParticipantID>()
        for complaint in complaints {
            let pair = Pair(accuser: complaint.accuser, accused: complaint.accused)
            guard byPair.updateValue(complaint, forKey: pair) == nil else {
                throw ShardCryptoError(
                    .invalidComplaint, "two complaints from \(complaint.accuser) about \(complaint.accused)")
            }
            switch try resolveComplaint(complaint, round1: round1) {
            case .accusedAtFault: atFault.insert(complaint.accused)
            case .accuserAtFault: atFault.insert(complaint.accuser)
            }
        }
        let qualified = round1.qualified.filter { !atFault.contains($0) }
        guard qualified.count >= round1.parameters.threshold else {
            throw ShardCryptoError(
                .invalidComplaint,
                "only \(qualified.count) participants qualified, fewer than the threshold "
                    + "\(round1.parameters.threshold): the run is abandoned"
            )
        }
        let commitment = try FeldmanCommitment.combine(qualified.compactMap { round1.commitment(of: $0) })
        guard !commitment.publicKey.isIdentity else {
            throw ShardCryptoError(.identityPoint, "the combined group public key is the identity")
        }
        let transcriptDigest = framedDigest(
            [PublicResult.transcriptLabel, round1.digest]
                + (try byPair.keys.sorted().map { pair throws(ShardCryptoError) in try byPair[pair]!.serialized() }))
        return PublicResult(
            qualified: qualified,
            disqualified: round1.parameters.participants.filter { !qualified.contains($0) },
            commitment: commitment,
            round1Digest: round1.digest,
            transcriptDigest: transcriptDigest)
    }

    /// A QUAL member's output once every participant that passed round 1 confirmed the
    /// same outcome: its share of the group key and the public result. (A participant
    /// disqualified by complaints confirms too, but gets no ``Result``.)
    public struct Result: Sendable, CustomStringConvertible, CustomReflectable {
        /// x_j = Σ_{i∈QUAL} f_i(j). Secret.
        public let share: SecretShare
        /// The public outcome, equal for every QUAL member of the run.
        public let publicResult: PublicResult

        /// The group public key.
        public var groupPublicKey: Point { publicResult.groupPublicKey }
        /// The combined Feldman commitment.
        public var commitment: FeldmanCommitment { publicResult.commitment }
        /// QUAL.
        public var qualified: [ParticipantID] { publicResult.qualified }

        public var description: String {
            "DKG.Result(id: \(share.id), share: redacted, groupPublicKey: \(groupPublicKey))"
        }
        public var customMirror: Mirror { Mirror(self, children: ["id": share.id, "publicResult": publicResult]) }
    }
}
