import Testing

@testable import ShardCrypto

func ids(_ values: ClosedRange<UInt16>) throws -> [ParticipantID] { try values.map { try ParticipantID($0) } }
func ids(_ values: [UInt16]) throws -> [ParticipantID] { try values.map { try ParticipantID($0) } }

/// The error code `body` throws, or nil when it throws something else or nothing.
func errorCode(_ body: () throws -> Void) -> ShardCryptoError.Code? {
    do { try body() } catch let error as ShardCryptoError { return error.code } catch { return nil }
    return nil
}

/// A simulated DKG run: the test plays the coordinator, relaying every message.
struct SimulatedDKG {
    let parameters: DKG.Parameters
    let participants: [DKG.Participant]

    /// - Parameter polynomials: fixed polynomials for some participants (to play a cheater who knows its own).
    init(
        threshold: Int, count: UInt16, context: [UInt8] = Array("test-session".utf8),
        polynomials: [UInt16: Polynomial] = [:]
    ) throws {
        let parameters = try DKG.Parameters(threshold: threshold, participants: try ids(1...count), context: context)
        self.parameters = parameters
        participants = try parameters.participants.map { id in
            guard let polynomial = polynomials[id.rawValue] else {
                return try DKG.Participant(id: id, parameters: parameters)
            }
            return try DKG.Participant(id: id, parameters: parameters, polynomial: polynomial)
        }
    }

    var packages: [DKG.Round1Package] { participants.map(\.round1Package) }

    func participant(_ id: UInt16) -> DKG.Participant { participants.first { $0.id.rawValue == id }! }

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

    /// The whole protocol with honest participants; `tamper` may change the inbox in transit.
    func run(
        tamper: (inout [ParticipantID: [DKG.Round2Share]]) throws -> Void = { _ in }
    ) throws -> (results: [ParticipantID: DKG.Result], complaints: [DKG.Complaint], answers: [DKG.Round2Share]) {
        var inbox = try dealAll()
        try tamper(&inbox)
        var complaints: [DKG.Complaint] = []
        for participant in participants {
            complaints += try participant.receive(shares: inbox[participant.id] ?? [])
        }
        let answers = try participants.flatMap { try $0.answer(complaints: complaints) }
        var results: [ParticipantID: DKG.Result] = [:]
        for participant in participants {
            if let result = try? participant.finish(complaints: complaints, answers: answers) {
                results[participant.id] = result
            }
        }
        return (results, complaints, answers)
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
        let results = try honest.map { try $0.finish(complaints: [], answers: []) }
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
        #expect(errorCode { _ = try me.answer(complaints: []) } == .invalidParameters)
        #expect(errorCode { _ = try me.finish(complaints: [], answers: []) } == .invalidParameters)
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
        let cheaterPolynomial = try Polynomial.random(constant: .random(), threshold: 2)
        let run = try SimulatedDKG(threshold: 2, count: 4, polynomials: [1: cheaterPolynomial])
        let cheater = run.participant(1)
        // The cheater signs a wrong value for participant 2 with its real key a_{1,0}.
        let (results, complaints, _) = try run.run { inbox in
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
        let outcome = try DKG.Round1Outcome(parameters: run.parameters, packages: run.packages)
        #expect(try DKG.resolveComplaint(complaint, answer: nil, round1: outcome) == .accusedAtFault)
        #expect(results.keys.sorted() == (try ids([2, 3, 4])))
        #expect(errorCode { _ = try cheater.finish(complaints: complaints, answers: []) } == .disqualified)
        let result = try #require(results.values.first)
        #expect(result.publicResult.disqualified == (try ids([1])))
        #expect(result.groupPublicKey == Point.sum(run.packages.dropFirst().map(\.commitment.publicKey)))
        try expectConsistentKey(Array(results.values), threshold: 2)
    }

    @Test func falseComplaintsPutTheAccuserAtFault() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        let inbox = try run.dealAll()
        let outcome = try DKG.Round1Outcome(parameters: run.parameters, packages: run.packages)
        let genuine = try #require(inbox[try ParticipantID(2)]?.first { $0.from.rawValue == 1 })
        let accuser = try ParticipantID(2)
        let accused = try ParticipantID(1)
        func verdict(_ evidence: DKG.Round2Share) throws -> DKG.Verdict {
            try DKG.resolveComplaint(
                DKG.Complaint(accuser: accuser, accused: accused, reason: .invalidShare(evidence: evidence)),
                answer: nil, round1: outcome)
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
        let falseComplaint = DKG.Complaint(accuser: accuser, accused: accused, reason: .invalidShare(evidence: madeUp))
        var complaints: [DKG.Complaint] = []
        for participant in run.participants {
            complaints += try participant.receive(shares: inbox[participant.id] ?? [])
        }
        #expect(complaints.isEmpty)
        complaints.append(falseComplaint)
        #expect(errorCode { _ = try run.participant(2).finish(complaints: complaints, answers: []) } == .disqualified)
        let results = try [1, 3].map { try run.participant($0).finish(complaints: complaints, answers: []) }
        #expect(results[0].qualified == (try ids([1, 3])))
        try expectConsistentKey(results, threshold: 2)
    }

    @Test func aMissingShareIsRevealedAndNobodyIsExcluded() throws {
        let run = try SimulatedDKG(threshold: 3, count: 4)
        let (results, complaints, answers) = try run.run { inbox in
            inbox[try ParticipantID(2)]!.removeAll { $0.from.rawValue == 1 }
        }
        let complaint = try #require(complaints.first)
        #expect(complaints.count == 1)
        guard case .missingShare = complaint.reason else {
            Issue.record("expected a missing-share complaint")
            return
        }
        #expect(answers.count == 1)
        #expect(answers[0].from.rawValue == 1 && answers[0].to.rawValue == 2)
        let outcome = try DKG.Round1Outcome(parameters: run.parameters, packages: run.packages)
        #expect(try DKG.resolveComplaint(complaint, answer: answers[0], round1: outcome) == .shareRevealed)
        #expect(results.count == 4)
        try expectConsistentKey(Array(results.values), threshold: 3)
    }

    @Test func aTamperedShareCountsAsMissingAndAnUnansweredComplaintExcludesTheDealer() throws {
        let run = try SimulatedDKG(threshold: 2, count: 3)
        var inbox = try run.dealAll()
        let two = try ParticipantID(2)
        // The relay changes the value: the dealer's signature no longer holds.
        inbox[two] = inbox[two]!.map {
            $0.from.rawValue == 1
                ? DKG.Round2Share(
                    from: $0.from, to: $0.to, value: $0.value + .one, round1Digest: $0.round1Digest,
                    signature: $0.signature)
                : $0
        }
        var complaints: [DKG.Complaint] = []
        for participant in run.participants {
            complaints += try participant.receive(shares: inbox[participant.id] ?? [])
        }
        #expect(complaints.count == 1)
        guard case .missingShare = complaints[0].reason else {
            Issue.record("expected a missing-share complaint")
            return
        }
        let outcome = try DKG.Round1Outcome(parameters: run.parameters, packages: run.packages)
        #expect(try DKG.resolveComplaint(complaints[0], answer: nil, round1: outcome) == .accusedAtFault)
        let wrongAnswer = DKG.Round2Share(
            from: try ParticipantID(1), to: two, value: .one, round1Digest: outcome.digest,
            signature: inbox[two]![0].signature)
        #expect(try DKG.resolveComplaint(complaints[0], answer: wrongAnswer, round1: outcome) == .accusedAtFault)
        let misaddressed = try #require(inbox[try ParticipantID(3)]?.first { $0.from.rawValue == 1 })
        #expect(
            errorCode { _ = try DKG.resolveComplaint(complaints[0], answer: misaddressed, round1: outcome) }
                == .invalidParameters)
        // Dealer 1 stays silent: it is excluded, the others finish with QUAL = {2, 3}.
        let results = try [2, 3].map { try run.participant($0).finish(complaints: complaints, answers: []) }
        #expect(results[0].qualified == (try ids([2, 3])))
        try expectConsistentKey(results, threshold: 2)
    }

    @Test func finishRefusals() throws {
        let run = try SimulatedDKG(threshold: 3, count: 3)
        var inbox = try run.dealAll()
        inbox[try ParticipantID(2)]!.removeAll { $0.from.rawValue == 1 }
        var complaints: [DKG.Complaint] = []
        for participant in run.participants {
            complaints += try participant.receive(shares: inbox[participant.id] ?? [])
        }
        let answers = try run.participant(1).answer(complaints: complaints)
        let two = run.participant(2)
        // Its own complaint was dropped by the relay: it has no share from dealer 1.
        #expect(errorCode { _ = try two.finish(complaints: [], answers: []) } == .invalidParameters)
        #expect(
            errorCode { _ = try two.finish(complaints: complaints + complaints, answers: answers) }
                == .duplicateParticipant)
        #expect(
            errorCode { _ = try two.finish(complaints: complaints, answers: answers + answers) }
                == .duplicateParticipant)
        #expect(errorCode { _ = try run.participant(3).finish(complaints: [], answers: answers) } == .invalidParameters)
        // Unanswered: dealer 1 is excluded, leaving 2 of a 3-of-3 run.
        #expect(errorCode { _ = try two.finish(complaints: complaints, answers: []) } == .invalidParameters)
        let outcome = try DKG.Round1Outcome(parameters: run.parameters, packages: run.packages)
        let selfComplaint = DKG.Complaint(accuser: two.id, accused: two.id, reason: .missingShare)
        #expect(
            errorCode { _ = try DKG.resolveComplaint(selfComplaint, answer: nil, round1: outcome) }
                == .invalidParameters)
        let outsider = DKG.Complaint(accuser: try ParticipantID(8), accused: two.id, reason: .missingShare)
        #expect(
            errorCode { _ = try DKG.resolveComplaint(outsider, answer: nil, round1: outcome) } == .invalidParameters)
        // The refusals consumed nothing: the complete inputs finish.
        let result = try two.finish(complaints: complaints, answers: answers)
        #expect(result.qualified.count == 3)
        #expect(errorCode { _ = try two.finish(complaints: complaints, answers: answers) } == .invalidParameters)
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

        for complaint in [
            DKG.Complaint(accuser: share.to, accused: share.from, reason: .missingShare),
            DKG.Complaint(accuser: share.to, accused: share.from, reason: .invalidShare(evidence: share)),
        ] {
            let bytes = try complaint.serialized()
            let back = try DKG.Complaint(serialized: bytes)
            #expect(back.accuser == complaint.accuser && back.accused == complaint.accused)
            #expect(try back.serialized() == bytes)
        }
        #expect(errorCode { _ = try DKG.Complaint(serialized: [0, 1, 0, 2, 1]) } == .invalidParameters)
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
