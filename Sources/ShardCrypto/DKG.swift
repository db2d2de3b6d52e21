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
        public init(parameters: Parameters, packages: [Round1Package]) throws {
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
            var hasher = SHA256()
            for part in [Self.digestLabel] + parameters.transcript + (try sorted.map { try $0.serialized() }) {
                let length = UInt32(part.count)
                hasher.update(data: [
                    UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff),
                ])
                hasher.update(data: part)
            }
            self.digest = Array(hasher.finalize())
        }

        /// The commitment C_i of a participant that passed round 1.
        public func commitment(of id: ParticipantID) -> FeldmanCommitment? {
            guard qualified.contains(id) else { return nil }
            return packages.first { $0.from == id }?.commitment
        }
    }

    /// Judges a complaint from public data only.
    ///
    /// - An ``Complaint/Reason/invalidShare(evidence:)`` complaint needs no answer: if the
    ///   evidence carries the accused's valid signature for the accuser in this run and
    ///   fails C_i, the accused is at fault; otherwise the accuser is.
    /// - A ``Complaint/Reason/missingShare`` complaint is settled by `answer`, f_i(j)
    ///   revealed by the accused: no answer, or one that fails C_i, puts the accused at
    ///   fault; a valid one settles it with nobody at fault.
    ///
    /// - Parameters:
    ///   - complaint: the complaint.
    ///   - answer: the accused's revealed share, for a missing-share complaint.
    ///   - round1: the checked round-1 broadcast.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when accuser or accused did not
    ///   pass round 1, are the same, or the answer is not from the accused to the accuser.
    public static func resolveComplaint(
        _ complaint: Complaint, answer: Round2Share?, round1: Round1Outcome
    ) throws -> Verdict {
        guard complaint.accuser != complaint.accused else {
            throw ShardCryptoError(.invalidParameters, "participant \(complaint.accuser) complains about itself")
        }
        guard round1.qualified.contains(complaint.accuser) else {
            throw ShardCryptoError(
                .invalidParameters, "complaint from participant \(complaint.accuser), who did not pass round 1")
        }
        guard let commitment = round1.commitment(of: complaint.accused) else {
            throw ShardCryptoError(
                .invalidParameters, "complaint against participant \(complaint.accused), who did not pass round 1")
        }
        switch complaint.reason {
        case .invalidShare(let evidence):
            let authentic =
                evidence.from == complaint.accused && evidence.to == complaint.accuser
                && evidence.round1Digest == round1.digest
                && evidence.signatureVerifies(dealerCommitment: commitment, parameters: round1.parameters)
            guard authentic else { return .accuserAtFault }
            return evidence.valueVerifies(dealerCommitment: commitment) ? .accuserAtFault : .accusedAtFault
        case .missingShare:
            guard let answer else { return .accusedAtFault }
            guard answer.from == complaint.accused, answer.to == complaint.accuser else {
                throw ShardCryptoError(
                    .invalidParameters,
                    "the answer to \(complaint.accuser)'s complaint is a share from \(answer.from) to \(answer.to)")
            }
            return answer.valueVerifies(dealerCommitment: commitment) ? .shareRevealed : .accusedAtFault
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

        /// The group public key Σ_{i∈QUAL} C_{i,0}.
        public var groupPublicKey: Point { commitment.publicKey }

        /// X_j = x_j·G for participant j.
        public func publicShare(for id: ParticipantID) -> Point { commitment.publicShare(for: id) }
    }

    /// Settles every complaint and computes QUAL and the combined commitment.
    /// Deterministic: everyone who passes the same inputs gets the same result.
    /// - Parameters:
    ///   - round1: the checked round-1 broadcast.
    ///   - complaints: every complaint of the run.
    ///   - answers: the shares the accused revealed for missing-share complaints.
    /// - Throws: ``ShardCryptoError/Code/duplicateParticipant`` for a repeated complaint or
    ///   answer, ``ShardCryptoError/Code/invalidParameters`` for an answer no complaint asked
    ///   for, a malformed complaint, or fewer than t qualified participants left.
    public static func finalize(
        round1: Round1Outcome, complaints: [Complaint], answers: [Round2Share]
    ) throws -> PublicResult {
        struct Pair: Hashable {
            let accuser: ParticipantID
            let accused: ParticipantID
        }
        var answerFor: [Pair: Round2Share] = [:]
        for answer in answers {
            guard answerFor.updateValue(answer, forKey: Pair(accuser: answer.to, accused: answer.from)) == nil else {
                throw ShardCryptoError(.duplicateParticipant, "two answers from \(answer.from) to \(answer.to)")
            }
        }
        var complained = Set<Pair>()
        var atFault = Set<ParticipantID>()
        for complaint in complaints {
            let pair = Pair(accuser: complaint.accuser, accused: complaint.accused)
            guard complained.insert(pair).inserted else {
                throw ShardCryptoError(
                    .duplicateParticipant, "two complaints from \(complaint.accuser) about \(complaint.accused)")
            }
            switch try resolveComplaint(complaint, answer: answerFor[pair], round1: round1) {
            case .accusedAtFault: atFault.insert(complaint.accused)
            case .accuserAtFault: atFault.insert(complaint.accuser)
            case .shareRevealed: break
            }
        }
        if let stray = answerFor.keys.first(where: { !complained.contains($0) }) {
            throw ShardCryptoError(
                .invalidParameters, "an answer from \(stray.accused) to \(stray.accuser) that no complaint asked for")
        }
        let qualified = round1.qualified.filter { !atFault.contains($0) }
        guard qualified.count >= round1.parameters.threshold else {
            throw ShardCryptoError(
                .invalidParameters,
                "only \(qualified.count) participants qualified, fewer than the threshold "
                    + "\(round1.parameters.threshold)"
            )
        }
        let commitment = try FeldmanCommitment.combine(qualified.compactMap { round1.commitment(of: $0) })
        guard !commitment.publicKey.isIdentity else {
            throw ShardCryptoError(.identityPoint, "the combined group public key is the identity")
        }
        return PublicResult(
            qualified: qualified,
            disqualified: round1.parameters.participants.filter { !qualified.contains($0) },
            commitment: commitment,
            round1Digest: round1.digest)
    }

    /// A participant's output: its share of the group key and the public result.
    public struct Result: Sendable, CustomStringConvertible, CustomReflectable {
        /// x_j = Σ_{i∈QUAL} f_i(j). Secret.
        public let share: SecretShare
        /// The public outcome, equal for every honest participant of the run.
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
