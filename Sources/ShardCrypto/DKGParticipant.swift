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
    ///    complaints, signed with a_{j,0}, about dealers whose share is missing or wrong
    ///    (at most one per dealer).
    /// 4. ``finish(complaints:)`` settles every complaint (see ``DKG/finalize(round1:complaints:)``),
    ///    computes x_j = Σ_{i∈QUAL} f_i(j), checks it against X_j and keeps the result
    ///    *pending*; it returns this participant's ``Confirmation`` of the outcome, signed
    ///    with a_{j,0}. A participant disqualified by complaints finishes too: it holds no
    ///    share, but its confirmation is needed all the same.
    /// 5. ``confirm(confirmations:)`` checks one confirmation from *every* participant that
    ///    passed round 1 (QUAL or not) under the C_{m,0} of this participant's round-1
    ///    outcome, over the outcome this participant computed, and only then releases the
    ///    ``Result`` (a QUAL member) or ends the run cleanly (a disqualified participant).
    ///
    /// No share is ever revealed: a missing share disqualifies its dealer. The relay cannot
    /// show participants different round-1 broadcasts unnoticed (every share and complaint
    /// carries the ``Round1Outcome/digest``), cannot forge or replay complaints (they are
    /// signed), and cannot leave participants with different complaint lists, QUAL sets or
    /// keys: each needs the confirmation of every round-1 participant, and an honest one signs
    /// only its own view, so a partition into halves fails for everyone. It can drop shares and
    /// so shrink QUAL, or abort (as can any one participant, by not confirming); see
    /// docs/CRYPTOGRAPHY.md.
    ///
    /// One run, one pending result: any refusal in ``finish(complaints:)`` or
    /// ``confirm(confirmations:)`` ends the run and wipes its secrets.
    ///
    /// Not thread-safe: one participant is driven by one task.
    public final class Participant: CustomStringConvertible, CustomReflectable {
        private enum Phase {
            case round1
            case round2(Round1Outcome)
            case complaints(Round1Outcome, received: [ParticipantID: Scalar])
            /// `share` is nil for a participant disqualified by complaints.
            case confirming(Round1Outcome, pending: PublicResult, share: SecretShare?)
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
        public convenience init(id: ParticipantID, parameters: Parameters) throws(ShardCryptoError) {
            try self.init(
                id: id, parameters: parameters,
                polynomial: try Polynomial.random(constant: .random(), threshold: parameters.threshold))
        }

        /// Starts a run with a given polynomial (tests, and malicious participants in them).
        init(id: ParticipantID, parameters: Parameters, polynomial: Polynomial) throws(ShardCryptoError) {
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

        private func activePolynomial() throws(ShardCryptoError) -> Polynomial {
            guard let polynomial else {
                throw ShardCryptoError(.invalidParameters, "the DKG run of participant \(id) has finished")
            }
            return polynomial
        }

        private func share(to recipient: ParticipantID, outcome: Round1Outcome) throws(ShardCryptoError) -> Round2Share {
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
        public func round2(packages: [Round1Package]) throws(ShardCryptoError) -> [Round2Share] {
            guard case .round1 = phase else { throw ShardCryptoError(.invalidParameters, "round 2 was already dealt") }
            let outcome = try Round1Outcome(parameters: parameters, packages: packages)
            guard outcome.packages.first(where: { $0.from == id }) == round1Package else {
                throw ShardCryptoError(
                    .transcriptMismatch, "the round-1 broadcast holds a package for \(id) that \(id) did not send")
            }
            let shares = try outcome.qualified.filter { $0 != id }.map { recipient throws(ShardCryptoError) in
                try share(to: recipient, outcome: outcome)
            }
            phase = .round2(outcome)
            return shares
        }

        /// Checks the shares dealt to this participant.
        /// - Parameter shares: the shares addressed to this participant, at most one per dealer.
        /// - Returns: one complaint, signed with a_{j,0} and bound to the round-1 digest, for
        ///   every dealer that passed round 1 but whose share is missing, badly signed
        ///   (``Complaint/Reason/missingShare``) or does not match C_i
        ///   (``Complaint/Reason/invalidShare(evidence:)``); never two about one dealer.
        /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a share addressed to another
        ///   participant, from an unknown, disqualified or own sender, or out of order;
        ///   ``ShardCryptoError/Code/duplicateParticipant`` for two shares from one dealer;
        ///   ``ShardCryptoError/Code/transcriptMismatch`` when a dealer saw a different round-1 broadcast.
        public func receive(shares: [Round2Share]) throws(ShardCryptoError) -> [Complaint] {
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
            let secret = try activePolynomial().coefficients[0]
            func complaint(about dealer: ParticipantID, _ reason: Complaint.Reason) throws(ShardCryptoError) -> Complaint {
                try Complaint.signed(
                    accuser: id, accused: dealer, reason: reason, round1Digest: outcome.digest, accuserSecret: secret,
                    parameters: parameters)
            }
            var received: [ParticipantID: Scalar] = [:]
            var complaints: [Complaint] = []
            // One pass over the dealers: at most one complaint per dealer.
            for dealer in outcome.qualified where dealer != id {
                let commitment = outcome.commitment(of: dealer)!
                guard let share = byDealer[dealer],
                    share.signatureVerifies(dealerCommitment: commitment, parameters: parameters)
                else {
                    // Without the dealer's signature the share proves nothing; the dealer is
                    // disqualified rather than asked to reveal f_i(j) in public.
                    complaints.append(try complaint(about: dealer, .missingShare))
                    continue
                }
                if share.valueVerifies(dealerCommitment: commitment) {
                    received[dealer] = share.value
                } else {
                    complaints.append(try complaint(about: dealer, .invalidShare(evidence: share)))
                }
            }
            phase = .complaints(outcome, received: received)
            return complaints
        }

        /// Settles the complaints, computes this participant's share of the group key and
        /// keeps it pending until ``confirm(confirmations:)``. A participant that the complaints
        /// disqualify computes no share but still confirms the outcome: the others need its
        /// confirmation before they keep their shares.
        /// - Parameter complaints: every complaint of the run, including this participant's own.
        /// - Returns: this participant's confirmation of the outcome, signed with a_{j,0}, for
        ///   every other participant that passed round 1.
        /// - Throws: the errors of ``DKG/finalize(round1:complaints:)``;
        ///   ``ShardCryptoError/Code/invalidComplaint`` when a dealer in QUAL left this
        ///   QUAL member without a valid share (its complaint is missing from `complaints`);
        ///   ``ShardCryptoError/Code/invalidShare`` when x_j·G ≠ X_j;
        ///   ``ShardCryptoError/Code/invalidParameters`` out of order. Every refusal ends the run.
        public func finish(complaints: [Complaint]) throws(ShardCryptoError) -> Confirmation {
            guard case .complaints(let outcome, let received) = phase else {
                throw ShardCryptoError(.invalidParameters, "the run finishes after shares were received, once")
            }
            // Whatever happens next, the polynomial leaves the participant: no share is ever
            // re-sent, and a_{j,0} is needed only for the confirmation below.
            let polynomial = try activePolynomial()
            self.polynomial = nil
            phase = .finished
            let result = try DKG.finalize(round1: outcome, complaints: complaints)
            var share: SecretShare?
            if result.qualified.contains(id) {
                var value = polynomial.evaluate(at: id.scalar)
                for dealer in result.qualified where dealer != id {
                    guard let dealt = received[dealer] else {
                        throw ShardCryptoError(
                            .invalidComplaint,
                            "dealer \(dealer) is in QUAL but gave \(id) no valid share: the complaint list lacks "
                                + "\(id)'s")
                    }
                    value = value + dealt
                }
                let own = SecretShare(id: id, value: value)
                guard result.commitment.verifies(own) else {
                    throw ShardCryptoError(
                        .invalidShare, "the share of participant \(id) does not match the combined commitment")
                }
                share = own
            }
            let confirmation = try Confirmation.signed(
                from: id, round1Secret: polynomial.coefficients[0], result: result, parameters: parameters)
            phase = .confirming(outcome, pending: result, share: share)
            return confirmation
        }

        /// The public outcome ``finish(complaints:)`` computed and ``confirm(confirmations:)``
        /// waits to have confirmed; nil before finishing and after the run ended. Public data only.
        public var pendingResult: PublicResult? {
            guard case .confirming(_, let pending, _) = phase else { return nil }
            return pending
        }

        /// Whether a share waits for confirmation: false for a participant disqualified by
        /// complaints, and before finishing and after the run ended.
        public var holdsPendingShare: Bool {
            guard case .confirming(_, _, let share) = phase else { return false }
            return share != nil
        }

        /// Ends the run once every participant that passed round 1 confirmed the outcome this
        /// participant computed, releasing the share of a QUAL member.
        /// - Parameter confirmations: one confirmation from every participant in this participant's
        ///   ``Round1Outcome/qualified`` (QUAL members and those disqualified by complaints),
        ///   this one's included, in any order.
        /// - Returns: x_j, the group public key, the combined commitment and QUAL for a QUAL
        ///   member; nil for a participant disqualified by complaints, whose run ends here with
        ///   nothing kept.
        /// - Throws: ``ShardCryptoError/Code/invalidConfirmation`` for a confirmation from a
        ///   participant that did not pass round 1, two from one participant, or none from one;
        ///   ``ShardCryptoError/Code/transcriptMismatch`` when a confirmation does not verify
        ///   under the sender's C_{m,0} of this participant's round-1 outcome over the outcome
        ///   this participant computed (m saw other complaints, QUAL or commitments, or it is
        ///   forged); ``ShardCryptoError/Code/invalidParameters`` before ``finish(complaints:)``
        ///   or after the run ended. Every refusal wipes the pending share.
        public func confirm(confirmations: [Confirmation]) throws(ShardCryptoError) -> Result? {
            guard case .confirming(let round1, let result, let share) = phase else {
                throw ShardCryptoError(.invalidParameters, "participant \(id) has no pending DKG result to confirm")
            }
            // Dropped before checking: a refused confirmation set ends the run.
            phase = .finished
            var seen = Set<ParticipantID>()
            for confirmation in confirmations {
                guard round1.qualified.contains(confirmation.from) else {
                    throw ShardCryptoError(
                        .invalidConfirmation,
                        "a confirmation from \(confirmation.from), who did not pass round 1 for \(id)")
                }
                guard seen.insert(confirmation.from).inserted else {
                    throw ShardCryptoError(.invalidConfirmation, "two confirmations from \(confirmation.from)")
                }
            }
            if let missing = round1.qualified.first(where: { !seen.contains($0) }) {
                throw ShardCryptoError(
                    .invalidConfirmation, "no confirmation from \(missing), who passed round 1: the run is refused")
            }
            for confirmation in confirmations where !confirmation.verifies(result, round1: round1) {
                throw ShardCryptoError(
                    .transcriptMismatch,
                    "the confirmation of \(confirmation.from) does not hold for the outcome \(id) computed: "
                        + "\(confirmation.from) saw other complaints, QUAL or commitments, or it is forged")
            }
            guard let share else { return nil }
            return Result(share: share, publicResult: result)
        }

        public var description: String { "DKG.Participant(id: \(id), polynomial: redacted)" }
        public var customMirror: Mirror { Mirror(self, children: ["id": id, "parameters": parameters]) }
    }
}
