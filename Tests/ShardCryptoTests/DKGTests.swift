import Testing

@testable import ShardCrypto

func ids(_ values: ClosedRange<UInt16>) throws -> [ParticipantID] { try values.map { try ParticipantID($0) } }
func ids(_ values: [UInt16]) throws -> [ParticipantID] { try values.map { try ParticipantID($0) } }
/// A participant identifier known to be valid.
func pid(_ value: UInt16) -> ParticipantID { try! ParticipantID(value) }

/// The error code `body` throws, or nil when it throws something else or nothing.
func errorCode(_ body: () throws -> Void) -> ShardCryptoError.Code? {
    do { try body() } catch let error as ShardCryptoError { return error.code } catch { return nil }
    return nil
}

/// A simulated DKG run: the test plays the coordinator, relaying every message. Every
/// participant's polynomial is known to the test, so it can sign as any of them (to play
/// a malicious participant) and check what the relay's view would reveal.
struct SimulatedDKG {
    let parameters: DKG.Parameters
    let participants: [DKG.Participant]
    let polynomials: [ParticipantID: Polynomial]

    /// - Parameter polynomials: fixed polynomials for some participants; the others are drawn at random.
    init(
        threshold: Int, count: UInt16, context: [UInt8] = Array("test-session".utf8),
        polynomials fixed: [UInt16: Polynomial] = [:]
    ) throws {
        let parameters = try DKG.Parameters(threshold: threshold, participants: try ids(1...count), context: context)
        self.parameters = parameters
        var polynomials: [ParticipantID: Polynomial] = [:]
        for id in parameters.participants {
            polynomials[id] = try fixed[id.rawValue] ?? Polynomial.random(constant: .random(), threshold: threshold)
        }
        self.polynomials = polynomials
        participants = try parameters.participants.map { id in
            try DKG.Participant(id: id, parameters: parameters, polynomial: polynomials[id]!)
        }
    }

    var packages: [DKG.Round1Package] { participants.map(\.round1Package) }

    func participant(_ id: UInt16) -> DKG.Participant { participants.first { $0.id.rawValue == id }! }

    /// The round-1 outcome every participant computes from the genuine packages.
    func outcome() throws -> DKG.Round1Outcome { try DKG.Round1Outcome(parameters: parameters, packages: packages) }

    /// A complaint signed with participant `accuser`'s real round-1 secret: what a malicious
    /// participant can make, and an honest one makes when it has grounds.
    func complaint(
        by accuser: UInt16, about accused: UInt16, _ reason: DKG.Complaint.Reason = .missingShare,
        signer: UInt16? = nil, round1Digest: [UInt8]? = nil
    ) throws -> DKG.Complaint {
        try DKG.Complaint.signed(
            accuser: try ParticipantID(accuser), accused: try ParticipantID(accused), reason: reason,
            round1Digest: try round1Digest ?? outcome().digest,
            accuserSecret: polynomials[try ParticipantID(signer ?? accuser)]!.coefficients[0], parameters: parameters)
    }

    /// Round 2 for everyone, then the shares grouped by recipient.
    func dealAll(
        packages: [DKG.Round1Package]? = nil, skip: Set<UInt16> = []
    ) throws -> [ParticipantID: [DKG.Round2Share]] {
        var inbox: [ParticipantID: [DKG.Round2Share]] = [:]
        for participant in participants where !skip.contains(participant.id.rawValue) {
            for share in try participant.round2(packages: packages ?? self.packages) {
                inbox[share.to, default: []].append(share)
            }
        }
        return inbox
    }

    /// Rounds 1 and 2 and receive; `tamper` may change the inbox in transit. Returns every complaint.
    func complaints(
        tamper: (inout [ParticipantID: [DKG.Round2Share]]) throws -> Void = { _ in }
    ) throws -> [DKG.Complaint] {
        var inbox = try dealAll()
        try tamper(&inbox)
        var complaints: [DKG.Complaint] = []
        for participant in participants {
            complaints += try participant.receive(shares: inbox[participant.id] ?? [])
        }
        return complaints
    }

    /// Finish for everyone, each with the complaint list `view` gives it.
    func finishAll(
        view: (ParticipantID) -> [DKG.Complaint]
    ) -> (confirmations: [DKG.Confirmation], failures: [ParticipantID: ShardCryptoError.Code]) {
        var confirmations: [DKG.Confirmation] = []
        var failures: [ParticipantID: ShardCryptoError.Code] = [:]
        for participant in participants {
            do {
                confirmations.append(try participant.finish(complaints: view(participant.id)))
            } catch {
                failures[participant.id] = error.code
            }
        }
        return (confirmations, failures)
    }

    /// Confirm for everyone that finished, each with the confirmations `view` gives it.
    /// `ended` holds the participants disqualified by complaints whose confirmation succeeded:
    /// their run ended with no share.
    func confirmAll(
        view: (ParticipantID) -> [DKG.Confirmation]
    ) -> (
        results: [ParticipantID: DKG.Result], ended: Set<ParticipantID>,
        failures: [ParticipantID: ShardCryptoError.Code]
    ) {
        var results: [ParticipantID: DKG.Result] = [:]
        var ended = Set<ParticipantID>()
        var failures: [ParticipantID: ShardCryptoError.Code] = [:]
        for participant in participants {
            do {
                if let result = try participant.confirm(confirmations: view(participant.id)) {
                    results[participant.id] = result
                } else {
                    ended.insert(participant.id)
                }
            } catch {
                failures[participant.id] = error.code
            }
        }
        return (results, ended, failures)
    }

    /// The whole protocol with an honest relay; `tamper` may change the inbox in transit.
    /// Participants that are disqualified (they still confirm) or refuse get no result.
    func run(
        tamper: (inout [ParticipantID: [DKG.Round2Share]]) throws -> Void = { _ in }
    ) throws -> (
        results: [ParticipantID: DKG.Result], complaints: [DKG.Complaint], confirmations: [DKG.Confirmation]
    ) {
        let complaints = try complaints(tamper: tamper)
        let (confirmations, _) = finishAll { _ in complaints }
        let (results, _, _) = confirmAll { _ in confirmations }
        return (results, complaints, confirmations)
    }
}

/// Checks what every DKG output must satisfy.
func expectConsistentKey(_ results: [DKG.Result], threshold: Int) throws {
    let first = try #require(results.first)
    for result in results {
        #expect(result.publicResult == first.publicResult)
        #expect(result.share.publicShare == result.commitment.publicShare(for: result.share.id))
        #expect(result.commitment.threshold == threshold)
    }
    let shares = results.map(\.share)
    for subset in subsets(of: shares, size: threshold) {
        #expect(Point.generatorMultiple(try Shamir.interpolate(subset)) == first.groupPublicKey)
    }
    for subset in subsets(of: shares, size: threshold - 1) where !subset.isEmpty {
        #expect(Point.generatorMultiple(try Shamir.interpolate(subset)) != first.groupPublicKey)
    }
}

@Suite struct DKGTests {
    @Test(arguments: [(1, 1), (2, 2), (2, 3), (3, 5)])
    func everyoneGetsAShareOfOneKey(threshold: Int, count: Int) throws {
        let run = try SimulatedDKG(threshold: threshold, count: UInt16(count))
        let (results, complaints, _) = try run.run()
        #expect(complaints.isEmpty)
        #expect(results.count == count)
        try expectConsistentKey(Array(results.values), threshold: threshold)
        let result = try #require(results.values.first)
        #expect(result.qualified == run.parameters.participants)
        #expect(result.publicResult.disqualified.isEmpty)
        // The key is the sum of the participants' constant terms, which no one holds.
        #expect(result.groupPublicKey == Point.sum(run.packages.map(\.commitment.publicKey)))
        #expect(result.commitment == (try FeldmanCommitment.combine(run.packages.map(\.commitment))))
    }

    @Test func proofOfKnowledgeIsBoundToSessionSenderAndCommitment() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let package = run.packages[0]
        #expect(package.proofVerifies(parameters: run.parameters))
        let otherSession = try DKG.Parameters(threshold: 2, participants: try ids(1...3), context: Array("other".utf8))
        #expect(!package.proofVerifies(parameters: otherSession))
        let otherSet = try DKG.Parameters(threshold: 2, participants: try ids(1...4), context: run.parameters.context)
        #expect(!package.proofVerifies(parameters: otherSet))
        let relabelled = DKG.Round1Package(
            from: try ParticipantID(2), commitment: package.commitment, proof: package.proof)
        #expect(!relabelled.proofVerifies(parameters: run.parameters))
        let swapped = DKG.Round1Package(
            from: package.from, commitment: run.packages[1].commitment, proof: package.proof)
        #expect(!swapped.proofVerifies(parameters: run.parameters))
    }

    @Test func aPackageFromAnotherSessionIsDisqualified() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        let stray = try DKG.Participant(
            id: try ParticipantID(3),
            parameters: try DKG.Parameters(threshold: 2, participants: try ids(1...4), context: Array("replayed".utf8)))
        let packages = run.packages.map { $0.from.rawValue == 3 ? stray.round1Package : $0 }
        let honest = run.participants.filter { $0.id.rawValue != 3 }
        var inbox: [ParticipantID: [DKG.Round2Share]] = [:]
        for participant in honest {
            for share in try participant.round2(packages: packages) { inbox[share.to, default: []].append(share) }
        }
        #expect(inbox[try ParticipantID(3)] == nil)
        var complaints: [DKG.Complaint] = []
        for participant in honest { complaints += try participant.receive(shares: inbox[participant.id] ?? []) }
        #expect(complaints.isEmpty)
        let confirmations = try honest.map { try $0.finish(complaints: []) }
        // Participant 3 did not pass round 1: its confirmation is neither needed nor accepted.
        let results = try honest.map { try #require(try $0.confirm(confirmations: confirmations)) }
        #expect(results[0].qualified == (try ids([1, 2, 4])))
        #expect(results[0].publicResult.disqualified == (try ids([3])))
        #expect(results[0].groupPublicKey == Point.sum(honest.map(\.round1Package.commitment.publicKey)))
        try expectConsistentKey(results, threshold: 2)
    }

    @Test func round1Refusals() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let packages = run.packages
        let me = run.participant(1)
        #expect(errorCode { _ = try me.round2(packages: packages + [packages[1]]) } == .duplicateParticipant)
        #expect(errorCode { _ = try me.round2(packages: Array(packages.dropLast())) } == .invalidParameters)
        let outsider = try DKG.Participant(
            id: try ParticipantID(9),
            parameters: try DKG.Parameters(
                threshold: 2, participants: try ids([1, 2, 3, 9]), context: run.parameters.context))
        #expect(errorCode { _ = try me.round2(packages: packages + [outsider.round1Package]) } == .invalidParameters)
        let impostor = try DKG.Participant(id: try ParticipantID(1), parameters: run.parameters)
        #expect(
            errorCode { _ = try me.round2(packages: [impostor.round1Package] + packages.dropFirst()) }
                == .transcriptMismatch)
        _ = try me.round2(packages: packages)
        #expect(errorCode { _ = try me.round2(packages: packages) } == .invalidParameters)
        #expect(errorCode { _ = try me.finish(complaints: []) } == .invalidParameters)
        #expect(errorCode { _ = try me.confirm(confirmations: []) } == .invalidParameters)
        #expect(
            errorCode { _ = try DKG.Participant(id: try ParticipantID(4), parameters: run.parameters) }
                == .invalidParameters)
    }

    @Test func parameterRefusals() throws {
        #expect(
            errorCode { _ = try DKG.Parameters(threshold: 2, participants: try ids([1, 2, 2]), context: [1]) }
                == .duplicateParticipant)
        #expect(
            errorCode { _ = try DKG.Parameters(threshold: 4, participants: try ids(1...3), context: [1]) }
                == .invalidParameters)
        #expect(
            errorCode { _ = try DKG.Parameters(threshold: 0, participants: try ids(1...3), context: [1]) }
                == .invalidParameters)
        #expect(
            errorCode { _ = try DKG.Parameters(threshold: 2, participants: try ids(1...3), context: []) }
                == .invalidParameters)
    }

    @Test func round2Refusals() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let inbox = try run.dealAll()
        let two = try ParticipantID(2)
        let three = try ParticipantID(3)
        let receiver = run.participant(2)
        let forTwo = try #require(inbox[two])
        let forThree = try #require(inbox[three])
        // A share for another recipient.
        #expect(errorCode { _ = try receiver.receive(shares: [forTwo[0], forThree[0]]) } == .invalidParameters)
        // Two shares from one dealer.
        #expect(errorCode { _ = try receiver.receive(shares: forTwo + [forTwo[0]]) } == .duplicateParticipant)
        // A share from its own id or from outside the run.
        let own = DKG.Round2Share(
            from: two, to: two, value: .one, round1Digest: forTwo[0].round1Digest, signature: forTwo[0].signature)
        #expect(errorCode { _ = try receiver.receive(shares: [own]) } == .invalidParameters)
        let stranger = DKG.Round2Share(
            from: try ParticipantID(7), to: two, value: .one, round1Digest: forTwo[0].round1Digest,
            signature: forTwo[0].signature)
        #expect(errorCode { _ = try receiver.receive(shares: [stranger]) } == .invalidParameters)
        // A dealer that saw another round-1 broadcast.
        let otherView = DKG.Round2Share(
            from: forTwo[0].from, to: two, value: forTwo[0].value, round1Digest: [UInt8](repeating: 7, count: 32),
            signature: forTwo[0].signature)
        #expect(errorCode { _ = try receiver.receive(shares: [otherView]) } == .transcriptMismatch)
        // Nothing was consumed by the refusals: the genuine shares still work.
        #expect(try receiver.receive(shares: forTwo).isEmpty)
        #expect(errorCode { _ = try receiver.receive(shares: forTwo) } == .invalidParameters)
    }

    @Test func aDealerWhoSignsABadShareIsProvenAtFaultAndExcluded() throws {
        let run = try SimulatedDKG(threshold: 2, count: 4)
        let cheaterPolynomial = run.polynomials[try ParticipantID(1)]!
        // The cheater signs a wrong value for participant 2 with its real key a_{1,0}.
        let complaints = try run.complaints { inbox in
            let two = try ParticipantID(2)
            let genuine = inbox[two]!.first { $0.from.rawValue == 1 }!
            let forged = try DKG.Round2Share.signed(
                from: genuine.from, to: two, value: genuine.value + .one, round1Digest: genuine.round1Digest,
                dealerSecret: cheaterPolynomial.coefficients[0], parameters: run.parameters)
            inbox[two] = inbox[two]!.map { $0.from.rawValue == 1 ? forged : $0 }
        }
        let complaint = try #require(complaints.first)
        #expect(complaints.count == 1)
        #expect(complaint.accuser.rawValue == 2 && complaint.accused.rawValue == 1)
        guard case .invalidShare = complaint.reason else {
            Issue.record("expected an invalid-share complaint")
            return
        }
        #expect(try DKG.resolveComplaint(complaint, round1: try run.outcome()) == .accusedAtFault)
        // The disqualified dealer finishes too: its confirmation is needed, though it gets no share.
        let (confirmations, failures) = run.finishAll { _ in complaints }
        #expect(failures.isEmpty)
        #expect(confirmations.map(\.from) == (try ids(1...4)))
        #expect(run.participant(1).pendingResult?.disqualified == (try ids([1])))
        #expect(!run.participant(1).holdsPendingShare && run.participant(2).holdsPendingShare)
        let (results, ended, refused) = run.confirmAll { _ in confirmations }
        #expect(results.keys.sorted() == (try ids([2, 3, 4])))
        #expect(ended == [pid(1)])
        #expect(refused.isEmpty)
        let result = try #require(results.values.first)
        #expect(result.publicResult.disqualified == (try ids([1])))
        #expect(result.groupPublicKey == Point.sum(run.packages.dropFirst().map(\.commitment.publicKey)))
        try expectConsistentKey(Array(results.values), threshold: 2)
    }

    @Test func falseComplaintsPutTheAccuserAtFault() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let inbox = try run.dealAll()
        let outcome = try run.outcome()
        let genuine = try #require(inbox[try ParticipantID(2)]?.first { $0.from.rawValue == 1 })
        let accuser = try ParticipantID(2)
        let accused = try ParticipantID(1)
        // Participant 2 lies, signing its false accusations with its real key.
        func verdict(_ evidence: DKG.Round2Share) throws -> DKG.Verdict {
            try DKG.resolveComplaint(
                try run.complaint(by: 2, about: 1, .invalidShare(evidence: evidence)), round1: outcome)
        }
        // The genuine share as "evidence": it matches the commitment.
        #expect(try verdict(genuine) == .accuserAtFault)
        // A made-up value: the dealer never signed it.
        let madeUp = DKG.Round2Share(
            from: accused, to: accuser, value: genuine.value + .one, round1Digest: genuine.round1Digest,
            signature: genuine.signature)
        #expect(try verdict(madeUp) == .accuserAtFault)
        // A genuine share for someone else.
        let forThree = try #require(inbox[try ParticipantID(3)]?.first { $0.from.rawValue == 1 })
        #expect(try verdict(forThree) == .accuserAtFault)

        // In a full run the false accuser is excluded and learns it.
        var complaints: [DKG.Complaint] = []
        for participant in run.participants {
            complaints += try participant.receive(shares: inbox[participant.id] ?? [])
        }
        #expect(complaints.isEmpty)
        complaints.append(try run.complaint(by: 2, about: 1, .invalidShare(evidence: madeUp)))
        let (confirmations, failures) = run.finishAll { _ in complaints }
        #expect(failures.isEmpty)
        let (results, ended, _) = run.confirmAll { _ in confirmations }
        #expect(results.keys.sorted() == (try ids([1, 3])))
        #expect(ended == [accuser])
        #expect(results.values.first?.qualified == (try ids([1, 3])))
        try expectConsistentKey(Array(results.values), threshold: 2)
    }

    @Test func aMissingShareDisqualifiesItsDealerWithoutAnyReveal() throws {
        let run = try SimulatedDKG(threshold: 3, count: 4)
        let (results, complaints, confirmations) = try run.run { inbox in
            inbox[try ParticipantID(2)]!.removeAll { $0.from.rawValue == 1 }
        }
        let complaint = try #require(complaints.first)
        #expect(complaints.count == 1)
        guard case .missingShare = complaint.reason else {
            Issue.record("expected a missing-share complaint")
            return
        }
        #expect(try DKG.resolveComplaint(complaint, round1: try run.outcome()) == .accusedAtFault)
        #expect(confirmations.map(\.from) == (try ids(1...4)))
        #expect(results.keys.sorted() == (try ids([2, 3, 4])))
        #expect(results.values.first?.publicResult.disqualified == (try ids([1])))
        try expectConsistentKey(Array(results.values), threshold: 3)
    }

    @Test func aTamperedShareCountsAsMissingAndExcludesTheDealer() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        // The relay changes the value: the dealer's signature no longer holds.
        let (results, complaints, _) = try run.run { inbox in
            let two = try ParticipantID(2)
            inbox[two] = inbox[two]!.map {
                $0.from.rawValue == 1
                    ? DKG.Round2Share(
                        from: $0.from, to: $0.to, value: $0.value + .one, round1Digest: $0.round1Digest,
                        signature: $0.signature)
                    : $0
            }
        }
        #expect(complaints.count == 1)
        guard case .missingShare = complaints[0].reason else {
            Issue.record("expected a missing-share complaint")
            return
        }
        #expect(results.keys.sorted() == (try ids([2, 3])))
        #expect(results.values.first?.qualified == (try ids([2, 3])))
        try expectConsistentKey(Array(results.values), threshold: 2)
    }

    @Test func finishRefusalsEndTheRun() throws {
        // Each refusal ends the run, so each case gets a fresh one.
        func fresh() throws -> (SimulatedDKG, [DKG.Complaint]) {
            let run = try SimulatedDKG(threshold: 2, count: 3)
            let complaints = try run.complaints { inbox in
                inbox[try ParticipantID(2)]!.removeAll { $0.from.rawValue == 1 }
            }
            #expect(complaints.count == 1)
            return (run, complaints)
        }
        // Its own complaint was dropped by the relay: it has no share from dealer 1.
        var (run, complaints) = try fresh()
        #expect(errorCode { _ = try run.participant(2).finish(complaints: []) } == .invalidComplaint)
        #expect(errorCode { _ = try run.participant(2).finish(complaints: complaints) } == .invalidParameters)
        #expect(errorCode { _ = try run.participant(2).confirm(confirmations: []) } == .invalidParameters)
        (run, complaints) = try fresh()
        #expect(
            errorCode { _ = try run.participant(3).finish(complaints: complaints + complaints) } == .invalidComplaint)
        // The complete inputs finish once, and only once.
        (run, complaints) = try fresh()
        let confirmation = try run.participant(2).finish(complaints: complaints)
        #expect(confirmation.from.rawValue == 2)
        #expect(errorCode { _ = try run.participant(2).finish(complaints: complaints) } == .invalidParameters)
        // Outsiders and self complaints cannot be judged.
        let outcome = try run.outcome()
        #expect(
            errorCode { _ = try DKG.resolveComplaint(try run.complaint(by: 2, about: 2), round1: outcome) }
                == .invalidComplaint)
        let outsider = DKG.Complaint(
            accuser: try ParticipantID(8), accused: try ParticipantID(2), round1Digest: outcome.digest,
            reason: .missingShare, signature: complaints[0].signature)
        #expect(errorCode { _ = try DKG.resolveComplaint(outsider, round1: outcome) } == .invalidComplaint)
    }

    @Test func messagesRoundTrip() throws {
        let run = try SimulatedDKG(threshold: 3, count: 4)
        let package = run.packages[2]
        let encoded = try package.serialized()
        #expect(encoded.count == 2 + 65 + 3 * 33)
        #expect(try DKG.Round1Package(serialized: encoded) == package)
        #expect(try DKG.Round1Package(serialized: encoded).proofVerifies(parameters: run.parameters))
        #expect(errorCode { _ = try DKG.Round1Package(serialized: Array(encoded.prefix(67))) } == .invalidParameters)
        #expect(errorCode { _ = try DKG.Round1Package(serialized: Array(encoded.dropLast())) } == .invalidPointEncoding)
        #expect(
            errorCode { _ = try DKG.Round1Package(serialized: [0, 0] + encoded.dropFirst(2)) } == .invalidParameters)

        let inbox = try run.dealAll()
        let share = try #require(inbox[try ParticipantID(1)]?.first)
        let secret = try share.serialized()
        #expect(secret.count == DKG.Round2Share.byteCount)
        let decoded = try DKG.Round2Share(serialized: secret)
        #expect(decoded.from == share.from && decoded.to == share.to && decoded.value == share.value)
        #expect(decoded.round1Digest == share.round1Digest && decoded.signature == share.signature)
        #expect(errorCode { _ = try DKG.Round2Share(serialized: SecretBytes([1, 2, 3])) } == .invalidParameters)

        let outcome = try run.outcome()
        for (complaint, length) in [
            (try run.complaint(by: 1, about: share.from.rawValue), DKG.Complaint.missingShareByteCount),
            (
                try run.complaint(by: 1, about: share.from.rawValue, .invalidShare(evidence: share)),
                DKG.Complaint.invalidShareByteCount
            ),
        ] {
            let bytes = try complaint.serialized()
            #expect(bytes.count == length)
            let back = try DKG.Complaint(serialized: bytes)
            #expect(back.accuser == complaint.accuser && back.accused == complaint.accused)
            #expect(back.round1Digest == outcome.digest && back.signature == complaint.signature)
            #expect(back.signatureVerifies(accuserCommitment: run.packages[0].commitment, parameters: run.parameters))
            #expect(try back.serialized() == bytes)
            // A wrong tag for the length.
            var retagged = bytes
            retagged[DKG.Complaint.missingShareByteCount - 1] ^= 1
            #expect(errorCode { _ = try DKG.Complaint(serialized: retagged) } == .invalidParameters)
        }
        // The earlier, unsigned encodings are refused.
        #expect(errorCode { _ = try DKG.Complaint(serialized: [0, 1, 0, 2, 0]) } == .invalidParameters)
        #expect(errorCode { _ = try DKG.Complaint(serialized: [0, 1, 0, 2, 1]) } == .invalidParameters)

        let confirmation = DKG.Confirmation(from: share.to, signature: share.signature)
        let confirmationBytes = try confirmation.serialized()
        #expect(confirmationBytes.count == DKG.Confirmation.byteCount)
        #expect(try DKG.Confirmation(serialized: confirmationBytes) == confirmation)
        #expect(errorCode { _ = try DKG.Confirmation(serialized: [0, 1]) } == .invalidParameters)
        #expect(errorCode { _ = try DKG.KnowledgeProof(serialized: [1]) } == .invalidParameters)
    }

    @Test func secretsAreRedacted() throws {
        let run = try SimulatedDKG(threshold: 2, count: 2)
        let (results, _, _) = try run.run()
        let result = try #require(results.values.first)
        let share = result.share.value.serialized().hexString
        var dumped = ""
        dump(result, to: &dumped)
        dump(run.participants[0], to: &dumped)
        #expect(!dumped.contains(share))
        #expect(!result.description.contains(share))
        #expect(run.participants[0].description == "DKG.Participant(id: 1, polynomial: redacted)")
        let participant = try DKG.Participant(id: try ParticipantID(1), parameters: run.parameters)
        let dealt = try participant.round2(packages: [participant.round1Package, run.packages[1]])
        #expect(dealt[0].description == "DKG.Round2Share(from: 1, to: 2, value: redacted)")
        var dumpedShare = ""
        dump(dealt[0], to: &dumpedShare)
        #expect(!dumpedShare.contains(dealt[0].value.serialized().hexString))
    }
}
