import Testing

@testable import ShardCrypto

/// Everything the relay sees in the clear during a run: the round-1 packages, every
/// complaint, every confirmation and the public result. (Round-2 shares cross it sealed to
/// their recipients' attested transport keys, so they are not part of its view.)
struct RelayView {
    private(set) var messages: [[UInt8]] = []

    mutating func record(_ packages: [DKG.Round1Package]) throws {
        messages += try packages.map { try $0.serialized() }
    }

    mutating func record(_ complaints: [DKG.Complaint]) throws {
        messages += try complaints.map { try $0.serialized() }
    }

    mutating func record(_ confirmations: [DKG.Confirmation]) throws {
        messages += try confirmations.map { try $0.serialized() }
    }

    mutating func record(_ result: DKG.PublicResult) throws {
        messages += [try result.commitment.serialized(), result.round1Digest, result.transcriptDigest]
    }

    /// Whether `value`'s 32-byte encoding appears anywhere in the view, at any offset.
    func contains(_ value: Scalar) -> Bool {
        let needle = value.serialized()
        return messages.contains { message in
            message.count >= needle.count
                && (0...(message.count - needle.count)).contains { Array(message[$0..<($0 + needle.count)]) == needle }
        }
    }

    /// Checks that the view holds no f_i(j) for any dealer i and any participant j, and no
    /// a_{i,0}: without any of them, nothing the relay saw interpolates to a dealer's secret.
    func expectNoSharesIn(_ run: SimulatedDKG) {
        for (dealer, polynomial) in run.polynomials {
            #expect(!contains(polynomial.coefficients[0]), "a_{\(dealer),0} is in the relay's view")
            for id in run.parameters.participants {
                #expect(!contains(polynomial.evaluate(at: id.scalar)), "f_\(dealer)(\(id)) is in the relay's view")
            }
        }
    }
}

@Suite("DKG against a malicious relay and malicious participants")
struct DKGAdversaryTests {
    /// The attack of issue 8: the relay forges a missing-share complaint from every other
    /// participant about dealer 1, hoping for f_1(2…n) in the clear and so a_{1,0}.
    @Test func forgedMissingShareComplaintsAreRefusedAndRevealNothing() throws {
        let run = try SimulatedDKG(threshold: 3, count: 5)
        let honest = try run.complaints()
        #expect(honest.isEmpty)
        let outcome = try run.outcome()
        let one = pid(1)
        // Unsigned (a placeholder signature) and signed with the relay's own key.
        let unsigned = (2...5).map {
            DKG.Complaint(
                accuser: pid(UInt16($0)), accused: one, round1Digest: outcome.digest, reason: .missingShare,
                signature: DKG.KnowledgeProof(commitment: .generator, response: .one))
        }
        let relaySigned = try (2...5).map {
            try DKG.Complaint.signed(
                accuser: pid(UInt16($0)), accused: one, reason: .missingShare, round1Digest: outcome.digest,
                accuserSecret: .random(), parameters: run.parameters)
        }
        for forged in [unsigned, relaySigned] {
            for complaint in forged {
                #expect(errorCode { _ = try DKG.resolveComplaint(complaint, round1: outcome) } == .forgedComplaint)
            }
            #expect(errorCode { _ = try DKG.finalize(round1: outcome, complaints: forged) } == .forgedComplaint)
        }
        var view = RelayView()
        try view.record(run.packages)
        try view.record(unsigned + relaySigned)
        let (confirmations, failures) = run.finishAll { _ in relaySigned }
        #expect(confirmations.isEmpty)
        #expect(failures.count == 5 && failures.values.allSatisfy { $0 == .forgedComplaint })
        // The refusal ended every participant's run: it cannot be retried with other lists.
        #expect(errorCode { _ = try run.participant(1).finish(complaints: []) } == .invalidParameters)
        view.expectNoSharesIn(run)
    }

    @Test func complaintsSignedBySomeoneElseOrAlteredAreRefused() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        let outcome = try run.outcome()
        // Participant 3 is malicious and signs an accusation in participant 2's name.
        let impersonated = try run.complaint(by: 2, about: 1, signer: 3)
        #expect(errorCode { _ = try DKG.resolveComplaint(impersonated, round1: outcome) } == .forgedComplaint)
        // A genuine complaint with a field changed in transit.
        let genuine = try run.complaint(by: 2, about: 1)
        #expect(try DKG.resolveComplaint(genuine, round1: outcome) == .accusedAtFault)
        let redirected = DKG.Complaint(
            accuser: genuine.accuser, accused: pid(4), round1Digest: genuine.round1Digest, reason: .missingShare,
            signature: genuine.signature)
        #expect(errorCode { _ = try DKG.resolveComplaint(redirected, round1: outcome) } == .forgedComplaint)
        let reattributed = DKG.Complaint(
            accuser: pid(3), accused: genuine.accused, round1Digest: genuine.round1Digest, reason: .missingShare,
            signature: genuine.signature)
        #expect(errorCode { _ = try DKG.resolveComplaint(reattributed, round1: outcome) } == .forgedComplaint)
        // The evidence of an invalid-share complaint is signed too: it cannot be swapped.
        let inbox = try run.dealAll()
        let evidence = try #require(inbox[pid(2)]?.first { $0.from == pid(1) })
        let withEvidence = try run.complaint(by: 2, about: 1, .invalidShare(evidence: evidence))
        let downgraded = DKG.Complaint(
            accuser: withEvidence.accuser, accused: withEvidence.accused, round1Digest: withEvidence.round1Digest,
            reason: .missingShare, signature: withEvidence.signature)
        #expect(errorCode { _ = try DKG.resolveComplaint(downgraded, round1: outcome) } == .forgedComplaint)
    }

    @Test func complaintsBoundToAnotherDigestAreRefused() throws {
        let fixed = try Dictionary(
            uniqueKeysWithValues: (1...3).map {
                (UInt16($0), try Polynomial.random(constant: .random(), threshold: 2))
            })
        let run = try SimulatedDKG(threshold: 2, count: 3, polynomials: fixed)
        let outcome = try run.outcome()
        // Signed with 2's real key, but over another round-1 digest.
        let otherDigest = try run.complaint(by: 2, about: 1, round1Digest: [UInt8](repeating: 0xAB, count: 32))
        #expect(errorCode { _ = try DKG.resolveComplaint(otherDigest, round1: outcome) } == .forgedComplaint)
        // A genuine complaint of another run with the same keys (another session context), replayed.
        let otherRun = try SimulatedDKG(
            threshold: 2, count: 3, context: Array("other session".utf8), polynomials: fixed)
        let replayed = try otherRun.complaint(by: 2, about: 1)
        #expect(try DKG.resolveComplaint(replayed, round1: try otherRun.outcome()) == .accusedAtFault)
        #expect(errorCode { _ = try DKG.resolveComplaint(replayed, round1: outcome) } == .forgedComplaint)
        // The same digest with the replayed signature does not hold either: the context is signed.
        let relabelled = DKG.Complaint(
            accuser: replayed.accuser, accused: replayed.accused, round1Digest: outcome.digest,
            reason: .missingShare, signature: replayed.signature)
        #expect(errorCode { _ = try DKG.resolveComplaint(relabelled, round1: outcome) } == .forgedComplaint)
    }

    @Test func selfComplaintsAreRefused() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        #expect(try run.complaints().isEmpty)
        // Properly signed by 2, about 2: a way to drop out of QUAL and be counted as a victim.
        let own = try run.complaint(by: 2, about: 2)
        #expect(errorCode { _ = try DKG.resolveComplaint(own, round1: try run.outcome()) } == .invalidComplaint)
        let (confirmations, failures) = run.finishAll { _ in [own] }
        #expect(confirmations.isEmpty)
        #expect(failures.count == 3 && failures.values.allSatisfy { $0 == .invalidComplaint })
    }

    @Test func repeatedComplaintsAreRefused() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        let outcome = try run.outcome()
        let first = try run.complaint(by: 2, about: 1)
        let second = try run.complaint(by: 2, about: 1)
        let inbox = try run.dealAll()
        let evidence = try #require(inbox[pid(2)]?.first { $0.from == pid(1) })
        let otherReason = try run.complaint(by: 2, about: 1, .invalidShare(evidence: evidence))
        for repeated in [[first, first], [first, second], [otherReason, first]] {
            #expect(errorCode { _ = try DKG.finalize(round1: outcome, complaints: repeated) } == .invalidComplaint)
        }
        // Complaints about one dealer from different accusers are not repeats.
        let fromThree = try run.complaint(by: 3, about: 1)
        #expect(try DKG.finalize(round1: outcome, complaints: [first, fromThree]).qualified == (try ids(2...4)))
        // An honest participant complains at most once per dealer, however much the relay breaks.
        var received: [DKG.Complaint] = []
        for participant in run.participants {
            let complaints = try participant.receive(shares: [])
            #expect(Set(complaints.map(\.accused)).count == complaints.count)
            #expect(complaints.count == 3)
            received += complaints
        }
        #expect(received.count == 12)
    }

    /// The relay drops every share dealer 1 sends. Dealer 1 is disqualified (no public
    /// answer, as there is no answer round), the others get one consistent key, and the
    /// relay's whole view holds no f_i(j). Before the fix, dealer 1 would have answered
    /// the four complaints with f_1(2…5) in the clear: three of them give a_{1,0}.
    @Test func aRelayThatDropsSharesDisqualifiesTheDealerAndLearnsNothing() throws {
        let run = try SimulatedDKG(threshold: 3, count: 5)
        var view = RelayView()
        try view.record(run.packages)
        let complaints = try run.complaints { inbox in
            for id in inbox.keys { inbox[id]!.removeAll { $0.from == pid(1) } }
        }
        #expect(complaints.count == 4)
        #expect(complaints.allSatisfy { $0.accused == pid(1) })
        try view.record(complaints)
        let (confirmations, failures) = run.finishAll { _ in complaints }
        #expect(failures.isEmpty)
        try view.record(confirmations)
        let (results, ended, _) = run.confirmAll { _ in confirmations }
        #expect(results.keys.sorted() == (try ids(2...5)))
        #expect(ended == [pid(1)])
        let result = try #require(results[pid(2)])
        try view.record(result.publicResult)
        #expect(result.qualified == (try ids(2...5)))
        #expect(result.publicResult.disqualified == [pid(1)])
        #expect(result.groupPublicKey == Point.sum(run.packages.dropFirst().map(\.commitment.publicKey)))
        // Any t of the four shares recover the key; t − 1 do not.
        try expectConsistentKey(Array(results.values), threshold: 3)
        // What the old answer round would have published is enough to recover a_{1,0}…
        let dealer = run.polynomials[pid(1)]!
        let revealed = (2...4).map { dealer.share(for: pid(UInt16($0))) }
        #expect(try Shamir.interpolate(revealed) == dealer.coefficients[0])
        // …and none of it, nor any other share or secret, is in the relay's view now.
        view.expectNoSharesIn(run)
        for share in results.values.map(\.share) { #expect(!view.contains(share.value)) }
    }

    /// A malicious participant lies that dealer 1's share never arrived. It can shrink
    /// QUAL (and so bias which dealers make up the key), never learn anything.
    @Test func aLyingAccuserCanOnlyShrinkQUAL() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        var complaints = try run.complaints()
        #expect(complaints.isEmpty)
        complaints.append(try run.complaint(by: 4, about: 1))
        let (confirmations, failures) = run.finishAll { _ in complaints }
        #expect(failures.isEmpty)
        let (results, ended, _) = run.confirmAll { _ in confirmations }
        #expect(results.keys.sorted() == (try ids(2...4)))
        #expect(ended == [pid(1)])
        try expectConsistentKey(Array(results.values), threshold: 2)
        var view = RelayView()
        try view.record(run.packages)
        try view.record(complaints)
        try view.record(confirmations)
        view.expectNoSharesIn(run)
    }

    /// The relay drops dealer 1's share to participant 2, then shows 2's complaint to
    /// participants 2 and 3 only. 2 and 3 compute QUAL = {2, 3, 4}, 1 and 4 compute
    /// QUAL = {1, 2, 3, 4}: every participant finishes (1 too, disqualified in the view of
    /// 2 and 3), but no one's confirmation set verifies, so no share is released anywhere.
    @Test func aRelayThatShowsDifferentComplaintListsFailsConfirmationForEveryone() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        let complaints = try run.complaints { inbox in inbox[pid(2)]!.removeAll { $0.from == pid(1) } }
        #expect(complaints.count == 1)
        let (confirmations, failures) = run.finishAll { [2, 3].contains($0.rawValue) ? complaints : [] }
        #expect(failures.isEmpty)
        #expect(confirmations.count == 4)
        // Every participant needs all four confirmations, and each half signed its own outcome.
        let (results, ended, refused) = run.confirmAll { _ in confirmations }
        #expect(results.isEmpty && ended.isEmpty)
        #expect(refused.count == 4 && refused.values.allSatisfy { $0 == .transcriptMismatch })
        // The pending shares are gone: nothing can be confirmed afterwards.
        for participant in run.participants {
            #expect(errorCode { _ = try participant.confirm(confirmations: confirmations) } == .invalidParameters)
        }
    }

    /// Different complaint lists that happen to give the same QUAL are caught too: the
    /// confirmations are bound to the transcript digest over every complaint.
    @Test func differentComplaintListsWithTheSameQUALFailConfirmation() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        let complaints = try run.complaints { inbox in
            inbox[pid(2)]!.removeAll { $0.from == pid(1) }
            inbox[pid(3)]!.removeAll { $0.from == pid(1) }
        }
        #expect(complaints.count == 2)
        let (confirmations, failures) = run.finishAll { $0 == pid(4) ? [complaints[0]] : complaints }
        #expect(failures.isEmpty)
        let (results, ended, refused) = run.confirmAll { _ in confirmations }
        #expect(results.isEmpty && ended.isEmpty)
        #expect(refused[pid(1)] == .transcriptMismatch)
        #expect(refused[pid(2)] == .transcriptMismatch)
        #expect(refused[pid(3)] == .transcriptMismatch)
        #expect(refused[pid(4)] == .transcriptMismatch)
    }

    /// The partition the earlier rule allowed (confirmations among QUAL members only): with
    /// n ≥ 2t the relay cuts the participants into two halves, dropping every share between
    /// them and showing each half only its own complaints, so that each half computes a QUAL
    /// of its own t members and its own key. Every participant now needs a confirmation from
    /// all four round-1 participants, signed with a_{m,0} over *its* outcome: the other
    /// half signed another outcome, and the relay cannot sign for them. Whichever
    /// confirmations the relay hands out, everyone refuses and no share is kept anywhere.
    @Test func aPartitionWhenNIsAtLeast2tIsRefusedByEveryoneAndRevealsNothing() throws {
        let left: Set<UInt16> = [1, 2]
        func sameSide(_ id: ParticipantID, _ other: ParticipantID) -> Bool {
            left.contains(id.rawValue) == left.contains(other.rawValue)
        }
        func partitioned() throws -> (SimulatedDKG, [DKG.Complaint], [DKG.Confirmation]) {
            let run = try SimulatedDKG(threshold: 2, count: 4)
            let complaints = try run.complaints { inbox in
                for id in inbox.keys { inbox[id]!.removeAll { !sameSide($0.from, id) } }
            }
            #expect(complaints.count == 8)
            let (confirmations, failures) = run.finishAll { id in complaints.filter { sameSide($0.accuser, id) } }
            #expect(failures.isEmpty)
            #expect(confirmations.count == 4)
            // Each half computed its own QUAL and key, still pending.
            let keys = Set(try run.participants.map { try #require($0.pendingResult).groupPublicKey.compressed() })
            #expect(keys.count == 2)
            #expect(run.participant(1).pendingResult?.qualified == (try ids([1, 2])))
            #expect(run.participant(3).pendingResult?.qualified == (try ids([3, 4])))
            return (run, complaints, confirmations)
        }
        let cases: [(String, (SimulatedDKG, [DKG.Confirmation], ParticipantID) throws -> [DKG.Confirmation],
            ShardCryptoError.Code)] = [
            // The earlier rule's view: only the own half's confirmations.
            ("own half only", { _, all, id in all.filter { sameSide($0.from, id) } }, .invalidConfirmation),
            ("all four", { _, all, _ in all }, .transcriptMismatch),
            (
                "the other half's forged by the relay",
                { run, all, id in
                    let pending = try #require(run.participant(id.rawValue).pendingResult)
                    return try all.map { confirmation in
                        sameSide(confirmation.from, id)
                            ? confirmation
                            : try DKG.Confirmation.signed(
                                from: confirmation.from, round1Secret: .random(), result: pending,
                                parameters: run.parameters)
                    }
                }, .transcriptMismatch
            ),
        ]
        for (name, hand, code) in cases {
            let (run, complaints, confirmations) = try partitioned()
            var handed: [ParticipantID: [DKG.Confirmation]] = [:]
            for id in run.parameters.participants { handed[id] = try hand(run, confirmations, id) }
            let (results, ended, refused) = run.confirmAll { handed[$0]! }
            #expect(results.isEmpty && ended.isEmpty, "\(name)")
            #expect(refused.count == 4 && refused.values.allSatisfy { $0 == code }, "\(name)")
            // No key is kept anywhere, and the runs cannot be retried with other confirmations.
            for participant in run.participants {
                #expect(!participant.holdsPendingShare && participant.pendingResult == nil, "\(name)")
                #expect(
                    errorCode { _ = try participant.confirm(confirmations: confirmations) } == .invalidParameters,
                    "\(name)")
            }
            var view = RelayView()
            try view.record(run.packages)
            try view.record(complaints)
            try view.record(confirmations)
            view.expectNoSharesIn(run)
        }
    }

    /// A participant disqualified by complaints must confirm too: a malicious dealer that
    /// withholds its confirmation, or a relay that drops it, blocks the run for everyone
    /// (a denial of service either could cause anyway). Its confirmation is checked under
    /// its own C_{j,0}, so the relay cannot stand in for it.
    @Test func aDisqualifiedParticipantsConfirmationIsRequired() throws {
        func finished() throws -> (SimulatedDKG, [DKG.Confirmation]) {
            let run = try SimulatedDKG(threshold: 2, count: 4)
            let complaints = try run.complaints { inbox in inbox[pid(2)]!.removeAll { $0.from == pid(1) } }
            let (confirmations, failures) = run.finishAll { _ in complaints }
            #expect(failures.isEmpty && confirmations.count == 4)
            #expect(run.participant(2).pendingResult?.qualified == (try ids(2...4)))
            return (run, confirmations)
        }
        // Withheld or dropped: everyone refuses.
        var (run, confirmations) = try finished()
        var outcome = run.confirmAll { _ in confirmations.filter { $0.from != pid(1) } }
        #expect(outcome.results.isEmpty && outcome.ended.isEmpty)
        #expect(outcome.failures.count == 4 && outcome.failures.values.allSatisfy { $0 == .invalidConfirmation })
        // Signed by the relay in 1's name over the right outcome: refused.
        (run, confirmations) = try finished()
        let pending = try #require(run.participant(2).pendingResult)
        let forged = try DKG.Confirmation.signed(
            from: pid(1), round1Secret: .random(), result: pending, parameters: run.parameters)
        outcome = run.confirmAll { _ in [forged] + confirmations.dropFirst() }
        #expect(outcome.results.isEmpty && outcome.ended.isEmpty)
        #expect(outcome.failures.count == 4 && outcome.failures.values.allSatisfy { $0 == .transcriptMismatch })
        // With every confirmation the run succeeds, and 1 ends with nothing.
        (run, confirmations) = try finished()
        outcome = run.confirmAll { _ in confirmations.reversed() }
        #expect(outcome.results.keys.sorted() == (try ids(2...4)) && outcome.ended == [pid(1)])
        #expect(outcome.failures.isEmpty)
        try expectConsistentKey(Array(outcome.results.values), threshold: 2)
    }

    @Test func fewerThanTQualifiedAborts() throws {
        // 3-of-3: one dropped share leaves two qualified dealers.
        let small = try SimulatedDKG(threshold: 3, count: 3)
        let dropped = try small.complaints { inbox in inbox[pid(2)]!.removeAll { $0.from == pid(1) } }
        let (confirmations, failures) = small.finishAll { _ in dropped }
        #expect(confirmations.isEmpty)
        #expect(failures.count == 3 && failures.values.allSatisfy { $0 == .invalidComplaint })
        // 2-of-3: the relay knocks out two dealers.
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let complaints = try run.complaints { inbox in
            inbox[pid(3)]!.removeAll { [1, 2].contains($0.from.rawValue) }
        }
        #expect(complaints.count == 2)
        let outcome = try run.outcome()
        #expect(errorCode { _ = try DKG.finalize(round1: outcome, complaints: complaints) } == .invalidComplaint)
        let (none, refused) = run.finishAll { _ in complaints }
        #expect(none.isEmpty && refused.count == 3)
    }

    @Test func confirmationRefusalsWipeThePendingShare() throws {
        func finished() throws -> (SimulatedDKG, [DKG.Confirmation]) {
            let run = try SimulatedDKG(threshold: 2, count: 3)
            #expect(try run.complaints().isEmpty)
            let (confirmations, failures) = run.finishAll { _ in [] }
            #expect(failures.isEmpty)
            return (run, confirmations)
        }
        let cases: [(String, ([DKG.Confirmation], SimulatedDKG) throws -> [DKG.Confirmation], ShardCryptoError.Code)] =
            [
                ("one missing", { all, _ in Array(all.dropLast()) }, .invalidConfirmation),
                ("one twice", { all, _ in all + [all[0]] }, .invalidConfirmation),
                ("none", { _, _ in [] }, .invalidConfirmation),
                (
                    "from a non-member",
                    { all, _ in all + [DKG.Confirmation(from: pid(9), signature: all[0].signature)] },
                    .invalidConfirmation
                ),
                (
                    "relabelled",
                    { all, _ in [all[0], DKG.Confirmation(from: pid(2), signature: all[0].signature), all[2]] },
                    .transcriptMismatch
                ),
                (
                    "from another run",
                    { all, _ in
                        let (_, other) = try finished()
                        return [all[0], all[1], other[2]]
                    }, .transcriptMismatch
                ),
            ]
        for (name, tamper, code) in cases {
            let (run, confirmations) = try finished()
            let given = try tamper(confirmations, run)
            #expect(errorCode { _ = try run.participant(1).confirm(confirmations: given) } == code, "\(name)")
            // Refused once, refused for good: the pending share was dropped.
            #expect(
                errorCode { _ = try run.participant(1).confirm(confirmations: confirmations) } == .invalidParameters,
                "\(name)")
            // The others still confirm with the genuine set, in any order.
            let other = try #require(try run.participant(2).confirm(confirmations: confirmations.reversed()))
            #expect(other.qualified.count == 3)
        }
    }
}
