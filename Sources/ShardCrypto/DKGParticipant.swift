extension DKG {
    /// One participant's side of a DKG run: holds its random polynomial f_i (secret,
    /// never printed) and walks through the rounds in order. Every message goes
    /// through an untrusted coordinator; the caller encrypts ``Round2Share`` values to
    /// their recipients and authenticates every message's sender in transport.
    ///
    /// 1. `init` draws f_i and makes ``round1Package`` (C_i and the proof of knowledge).
    /// 2. ``round2(packages:)`` checks everyone's round-1 package and returns one signed
    ///    share f_i(j) for every other participant j that passed round 1.
    /// 3. ``receive(shares:)`` checks the shares sent to this participant and returns
    ///    complaints about dealers whose share is missing or wrong.
    /// 4. ``answer(complaints:)`` reveals f_i(j) for every missing-share complaint against
    ///    this participant.
    /// 5. ``finish(complaints:answers:)`` settles all complaints (see ``DKG/finalize(round1:complaints:answers:)``)
    ///    and returns x_j = Σ_{i∈QUAL} f_i(j), checked against X_j = x_j·G.
    ///
    /// The relay cannot show participants different round-1 broadcasts unnoticed (every
    /// share carries the dealer's ``Round1Outcome/digest``), but it could hand out
    /// different complaint lists: before using the key, confirm that every participant
    /// reports the same ``PublicResult`` (for example over attested, authenticated channels).
    ///
    /// Not thread-safe: one participant is driven by one task.
    public final class Participant: CustomStringConvertible, CustomReflectable {
        private enum Phase {
            case round1
            case round2(Round1Outcome)
            case complaints(Round1Outcome, received: [ParticipantID: Scalar], complaints: [Complaint])
            case finished
        }

        /// This participant's identifier.
        public let id: ParticipantID
        /// The run's parameters.
        public let parameters: Parameters
        /// The round-1 broadcast: C_i and the proof of knowledge of a_{i,0}.
        public let round1Package: Round1Package

        // Dropped when the run finishes, so the polynomial lives no longer than needed.
        private var polynomial: Polynomial?
        private var phase = Phase.round1

        /// Starts a run: draws f_i of degree t − 1 and proves knowledge of a_{i,0}.
        /// - Parameters:
        ///   - id: this participant, one of `parameters.participants`.
        ///   - parameters: the run's parameters.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` when `id` is not a participant.
        public convenience init(id: ParticipantID, parameters: Parameters) throws {
            try self.init(
                id: id, parameters: parameters,
                polynomial: try Polynomial.random(constant: .random(), threshold: parameters.threshold))
        }

        /// Starts a run with a given polynomial (tests, and malicious participants in them).
        init(id: ParticipantID, parameters: Parameters, polynomial: Polynomial) throws {
            guard parameters.participants.contains(id) else {
                throw ShardCryptoError(.invalidParameters, "participant \(id) is not in this run")
            }
            let commitment = polynomial.commitment
            let transcript = try Round1Package.proofTranscript(from: id, commitment: commitment, parameters: parameters)
            let proof = try KnowledgeProof.prove(
                secret: polynomial.coefficients[0], transcript: transcript, dst: Round1Package.proofDST)
            self.id = id
            self.parameters = parameters
            self.polynomial = polynomial
            self.round1Package = Round1Package(from: id, commitment: commitment, proof: proof)
        }

        private func activePolynomial() throws -> Polynomial {
            guard let polynomial else {
                throw ShardCryptoError(.invalidParameters, "the DKG run of participant \(id) has finished")
            }
            return polynomial
        }

        private func share(to recipient: ParticipantID, outcome: Round1Outcome) throws -> Round2Share {
            let polynomial = try activePolynomial()
            return try Round2Share.signed(
                from: id, to: recipient, value: polynomial.evaluate(at: recipient.scalar), round1Digest: outcome.digest,
                dealerSecret: polynomial.coefficients[0], parameters: parameters)
        }

        /// Checks the round-1 broadcast and deals this participant's shares.
        /// - Parameter packages: every participant's round-1 package, this one's included.
        /// - Returns: f_i(j), signed, for every other participant j that passed round 1.
        /// - Throws: the errors of ``Round1Outcome/init(parameters:packages:)``;
        ///   ``ShardCryptoError/Code/transcriptMismatch`` when the broadcast holds a different
        ///   package for this participant; ``ShardCryptoError/Code/invalidParameters`` out of order.
        public func round2(packages: [Round1Package]) throws -> [Round2Share] {
            guard case .round1 = phase else { throw ShardCryptoError(.invalidParameters, "round 2 was already dealt") }
            let outcome = try Round1Outcome(parameters: parameters, packages: packages)
            guard outcome.packages.first(where: { $0.from == id }) == round1Package else {
                throw ShardCryptoError(
                    .transcriptMismatch, "the round-1 broadcast holds a package for \(id) that \(id) did not send")
            }
            let shares = try outcome.qualified.filter { $0 != id }.map { try share(to: $0, outcome: outcome) }
            phase = .round2(outcome)
            return shares
        }

        /// Checks the shares dealt to this participant.
        /// - Parameter shares: the shares addressed to this participant, at most one per dealer.
        /// - Returns: a complaint for every dealer that passed round 1 but whose share is
        ///   missing, badly signed (``Complaint/Reason/missingShare``) or does not match C_i
        ///   (``Complaint/Reason/invalidShare(evidence:)``).
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a share addressed to another
        ///   participant, from an unknown, disqualified or own sender, or out of order;
        ///   ``ShardCryptoError/Code/duplicateParticipant`` for two shares from one dealer;
        ///   ``ShardCryptoError/Code/transcriptMismatch`` when a dealer saw a different round-1 broadcast.
        public func receive(shares: [Round2Share]) throws -> [Complaint] {
            guard case .round2(let outcome) = phase else {
                throw ShardCryptoError(.invalidParameters, "shares can be received only once, after round 2 was dealt")
            }
            var byDealer: [ParticipantID: Round2Share] = [:]
            for share in shares {
                guard share.to == id else {
                    throw ShardCryptoError(
                        .invalidParameters, "a share for participant \(share.to) was delivered to \(id)")
                }
                guard parameters.participants.contains(share.from), share.from != id else {
                    throw ShardCryptoError(
                        .invalidParameters, "a share from \(share.from), who is not another participant of this run")
                }
                guard outcome.qualified.contains(share.from) else {
                    throw ShardCryptoError(
                        .invalidParameters, "a share from \(share.from), who was disqualified in round 1")
                }
                guard byDealer.updateValue(share, forKey: share.from) == nil else {
                    throw ShardCryptoError(.duplicateParticipant, "two shares from dealer \(share.from)")
                }
                guard share.round1Digest == outcome.digest else {
                    throw ShardCryptoError(
                        .transcriptMismatch, "dealer \(share.from) saw a different round-1 broadcast than \(id)")
                }
            }
            var received: [ParticipantID: Scalar] = [:]
            var complaints: [Complaint] = []
            for dealer in outcome.qualified where dealer != id {
                let commitment = outcome.commitment(of: dealer)!
                guard let share = byDealer[dealer],
                    share.signatureVerifies(dealerCommitment: commitment, parameters: parameters)
                else {
                    // Without the dealer's signature the share proves nothing: ask for it in public.
                    complaints.append(Complaint(accuser: id, accused: dealer, reason: .missingShare))
                    continue
                }
                if share.valueVerifies(dealerCommitment: commitment) {
                    received[dealer] = share.value
                } else {
                    complaints.append(Complaint(accuser: id, accused: dealer, reason: .invalidShare(evidence: share)))
                }
            }
            phase = .complaints(outcome, received: received, complaints: complaints)
            return complaints
        }

        /// Answers the complaints against this participant that need an answer.
        /// - Parameter complaints: every complaint of the run (others are ignored).
        /// - Returns: f_i(j), signed, for every missing-share complaint by j against this
        ///   participant: publicly revealed, as the protocol requires.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` before shares were received,
        ///   after the run finished, or for an accuser that did not pass round 1.
        public func answer(complaints: [Complaint]) throws -> [Round2Share] {
            guard case .complaints(let outcome, _, _) = phase else {
                throw ShardCryptoError(.invalidParameters, "complaints are answered after shares were received")
            }
            return try complaints.filter { $0.accused == id }.compactMap { complaint in
                guard case .missingShare = complaint.reason else { return nil }
                guard outcome.qualified.contains(complaint.accuser) else {
                    throw ShardCryptoError(
                        .invalidParameters, "a complaint from \(complaint.accuser), who did not pass round 1")
                }
                return try share(to: complaint.accuser, outcome: outcome)
            }
        }

        /// Settles the complaints and computes this participant's share of the group key.
        /// - Parameters:
        ///   - complaints: every complaint of the run, including this participant's own.
        ///   - answers: every revealed share.
        /// - Returns: x_j, the group public key, the combined commitment and QUAL.
        /// - Throws: the errors of ``DKG/finalize(round1:complaints:answers:)``;
        ///   ``ShardCryptoError/Code/disqualified`` when this participant is not in QUAL;
        ///   ``ShardCryptoError/Code/invalidParameters`` when a dealer in QUAL left this
        ///   participant without a valid share (its complaint is missing from `complaints`);
        ///   ``ShardCryptoError/Code/invalidShare`` when x_j·G ≠ X_j.
        public func finish(complaints: [Complaint], answers: [Round2Share]) throws -> Result {
            guard case .complaints(let outcome, let received, _) = phase else {
                throw ShardCryptoError(.invalidParameters, "the run finishes after shares were received, once")
            }
            let result = try DKG.finalize(round1: outcome, complaints: complaints, answers: answers)
            guard result.qualified.contains(id) else {
                throw ShardCryptoError(
                    .disqualified, "participant \(id) was disqualified and holds no share of the key")
            }
            var value = try activePolynomial().evaluate(at: id.scalar)
            for dealer in result.qualified where dealer != id {
                if let share = received[dealer] {
                    value = value + share
                } else if let revealed = answers.first(where: { $0.from == dealer && $0.to == id }),
                    revealed.valueVerifies(dealerCommitment: outcome.commitment(of: dealer)!)
                {
                    value = value + revealed.value
                } else {
                    throw ShardCryptoError(
                        .invalidParameters,
                        "dealer \(dealer) is in QUAL but gave \(id) no valid share; no complaint about it was settled"
                    )
                }
            }
            let share = SecretShare(id: id, value: value)
            guard result.commitment.verifies(share) else {
                throw ShardCryptoError(
                    .invalidShare, "the share of participant \(id) does not match the combined commitment")
            }
            polynomial = nil
            phase = .finished
            return Result(share: share, publicResult: result)
        }

        public var description: String { "DKG.Participant(id: \(id), polynomial: redacted)" }
        public var customMirror: Mirror { Mirror(self, children: ["id": id, "parameters": parameters]) }
    }
}
