import AgentProtocol
import Attestation
import Coordinator
import Foundation
import ShardCrypto
import TestSupport
import Testing

/// The custody guarantee against a malicious coordinator, with real agents on real swtpms: the
/// test is the coordinator, holds the session, relays everything, and tries to make the agents
/// hand it a share, a DKG polynomial value or the key. Every answer it gets is recorded and
/// scanned at the end for secrets in the clear.
@Suite("Custody: a malicious coordinator gets no share, f_i(j) or key", .serialized)
struct CustodyTests {
    static func ids(_ values: [UInt16]) throws -> [ParticipantID] { try values.map { try ParticipantID($0) } }

    /// Relays a DKG among `members` of the ring (participant i+1 = ring member i) and, when
    /// `confirm`, hands every agent every finish's confirmation. The relay drops the sealed
    /// round-2 shares `drop` picks.
    static func runDKG(
        _ ring: Ring, key: KeyReference, threshold: Int, drop: (SealedPayload) -> Bool = { _ in false },
        confirm: Bool = true
    ) async throws -> (finished: [DKGFinished], packages: [DKG.Round1Package]) {
        let participants = try ids((1...ring.agents.count).map(UInt16.init))
        let parameters = try DKG.Parameters(
            threshold: threshold, participants: participants, context: Array(UUID().uuidString.utf8))
        var packages: [DKG.Round1Package] = []
        for (index, id) in participants.enumerated() {
            guard case .dkgRound1Package(let package) = try await ring.request(
                index, .dkgRound1Request(try DKGRound1Request(key: key, participant: id, parameters: parameters)))
            else { throw CustodyFailure("no round-1 package") }
            packages.append(package.package)
        }
        let binding = RecipientBinding.dkg(key: key, parameters: parameters)
        var recipients: [RecipientKey] = []
        for (index, id) in participants.enumerated() { recipients.append(try await ring.recipient(index, as: id, binding: binding)) }
        var sealed: [SealedPayload] = []
        for (index, id) in participants.enumerated() {
            let others = recipients.filter { $0.participant != id }
            guard case .dkgRound2Shares(let shares) = try await ring.request(
                index, .dkgRound2Request(try DKGRound2Request(key: key, packages: packages, recipients: others)))
            else { throw CustodyFailure("no round-2 shares") }
            #expect(shares.shares.allSatisfy { $0.isCredentialWrapped })
            sealed += shares.shares
        }
        var complaints: [DKG.Complaint] = []
        for (index, id) in participants.enumerated() {
            let mine = sealed.filter { $0.to == id && !drop($0) }.sorted { $0.from < $1.from }
            guard case .dkgComplaints(let list) = try await ring.request(
                index, .dkgReceiveRequest(DKGReceiveRequest(key: key, shares: mine)))
            else { throw CustodyFailure("no complaints") }
            complaints += list.complaints
        }
        var finished: [DKGFinished] = []
        for index in participants.indices {
            guard case .dkgFinished(let done) = try await ring.request(
                index, .dkgFinishRequest(DKGFinishRequest(key: key, complaints: complaints)))
            else { throw CustodyFailure("no finish") }
            finished.append(done)
        }
        let confirmations = finished.map(\.confirmation)
        for index in participants.indices where confirm {
            guard case .dkgConfirmed = try await ring.request(
                index, .dkgConfirmRequest(try DKGConfirmRequest(key: key, confirmations: confirmations)))
            else { throw CustodyFailure("no confirmation") }
        }
        return (finished, packages)
    }

    /// Admits custodians whatever their PCR 4 and 9 (the coordinator is the attacker here: it
    /// may admit anything; the dealers' own rule is what must hold).
    static let firmwareOnlyPolicy = AttestationPolicy(
        name: "firmware-only", pcrBank: .sha256, allowedPCRValues: [0: [Coordinator.zeros]])

    struct CustodyFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test("a DKG relayed by the coordinator: every custodian checks its peers, the key decrypts, nothing leaks")
    func honestDKG() async throws {
        let ring = try await Ring.start(3)
        defer { ring.stop() }
        let key = try KeyReference(keyID: "custody-dkg", version: 1)
        let (finished, packages) = try await Self.runDKG(ring, key: key, threshold: 2)
        let commitment = finished[0].commitment
        #expect(finished.allSatisfy { $0.commitment == commitment })

        // Two of three decrypt a message sealed to the group key with plain HPKE.
        let info = Array("custody".utf8)
        let ciphertext = try ThresholdHPKE.seal(plaintext: Array("hello".utf8), to: commitment.publicKey, info: info)
        var partials: [PartialDecryption] = []
        for index in [0, 2] {
            guard case .partialDecryption(let answer) = try await ring.request(
                index, .partialDecryptRequest(try PartialDecryptRequest(key: key, ciphertext: ciphertext, context: [])))
            else { throw CustodyFailure("no partial") }
            partials.append(answer.partial)
        }
        let participants = try Self.ids([1, 2, 3])
        let plaintext = try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: partials, publicKey: commitment.publicKey,
            publicShares: Dictionary(uniqueKeysWithValues: participants.map { ($0, commitment.publicShare(for: $0)) }),
            threshold: 2, info: info, context: [])
        #expect(plaintext.withUnsafeBytes { Array($0) } == Array("hello".utf8))

        // Nothing the coordinator saw is a share x_j, an f_i(j) or an a_{i,0}.
        var secrets = participants.map { commitment.publicShare(for: $0) } + [commitment.publicKey]
        for package in packages {
            secrets.append(package.commitment.publicKey)
            secrets += participants.map { package.commitment.publicShare(for: $0) }
        }
        #expect(ring.transcript.scalarsMatching(secrets).isEmpty)
    }

    @Test("a custodian disqualified by complaints still confirms; without its confirmation nobody keeps a share")
    func disqualifiedCustodianConfirms() async throws {
        let ring = try await Ring.start(3)
        defer { ring.stop() }
        let one = try ParticipantID(1)
        let two = try ParticipantID(2)
        // The coordinator drops dealer 1's share to 2: 2 complains and 1 is disqualified.
        var secrets: [Point] = []
        func run(_ key: KeyReference) async throws -> [DKGFinished] {
            let (finished, packages) = try await Self.runDKG(
                ring, key: key, threshold: 2, drop: { $0.from == one && $0.to == two }, confirm: false)
            let participants = try Self.ids([1, 2, 3])
            let commitment = finished[1].commitment
            secrets += participants.map { commitment.publicShare(for: $0) } + [commitment.publicKey]
            for package in packages {
                secrets.append(package.commitment.publicKey)
                secrets += participants.map { package.commitment.publicShare(for: $0) }
            }
            #expect(finished.map(\.holdsShare) == [false, true, true])
            #expect(try finished.allSatisfy { $0.qualified == (try Self.ids([2, 3])) })
            #expect(finished[0].confirmation.from == one)
            return finished
        }
        let probe = try ThresholdHPKE.seal(
            plaintext: Array("probe".utf8), to: .generator, info: Array("custody".utf8))
        func partialRefusal(_ index: Int, _ key: KeyReference) async throws -> AgentErrorCode? {
            await ring.refusal(
                index, .partialDecryptRequest(try PartialDecryptRequest(key: key, ciphertext: probe, context: [])))
        }

        // Only QUAL's confirmations (what the earlier rule asked for): every agent refuses, none keeps a share.
        let withheld = try KeyReference(keyID: "custody-dkg-withheld", version: 1)
        let partial = try await run(withheld)
        let qualOnly = try DKGConfirmRequest(key: withheld, confirmations: partial.dropFirst().map(\.confirmation))
        for index in 0..<3 {
            #expect(await ring.refusal(index, .dkgConfirmRequest(qualOnly)) == .refused)
            #expect(try await partialRefusal(index, withheld) == .unknownKey)
        }

        // Every confirmation: 2 and 3 keep their shares, 1 ends its run holding none.
        let key = try KeyReference(keyID: "custody-dkg-disqualified", version: 1)
        let finished = try await run(key)
        let all = try DKGConfirmRequest(key: key, confirmations: finished.map(\.confirmation))
        var held: [Point?] = []
        for index in 0..<3 {
            guard case .dkgConfirmed(let confirmed) = try await ring.request(index, .dkgConfirmRequest(all))
            else { throw CustodyFailure("no confirmation") }
            held.append(confirmed.publicShare)
        }
        #expect(held == [nil, finished[1].publicShare, finished[2].publicShare])
        #expect(try await partialRefusal(0, key) == .unknownKey)
        let commitment = finished[1].commitment
        let info = Array("custody".utf8)
        let ciphertext = try ThresholdHPKE.seal(plaintext: Array("qual".utf8), to: commitment.publicKey, info: info)
        var partials: [PartialDecryption] = []
        for index in [1, 2] {
            guard case .partialDecryption(let answer) = try await ring.request(
                index, .partialDecryptRequest(try PartialDecryptRequest(key: key, ciphertext: ciphertext, context: [])))
            else { throw CustodyFailure("no partial") }
            partials.append(answer.partial)
        }
        let plaintext = try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: partials, publicKey: commitment.publicKey,
            publicShares: Dictionary(
                uniqueKeysWithValues: try Self.ids([2, 3]).map { ($0, commitment.publicShare(for: $0)) }),
            threshold: 2, info: info, context: [])
        #expect(plaintext.withUnsafeBytes { Array($0) } == Array("qual".utf8))
        // Nothing the coordinator saw in either run is a share x_j, an f_i(j) or an a_{i,0}.
        #expect(ring.transcript.scalarsMatching(secrets).isEmpty)
    }

    @Test("no DKG and no imported share below the pinned minimum threshold")
    func thresholdOneDKG() async throws {
        let ring = try await Ring.start(1)
        defer { ring.stop() }
        let parameters = try DKG.Parameters(threshold: 1, participants: try Self.ids([1, 2]), context: [1])
        let request = try DKGRound1Request(
            key: try KeyReference(keyID: "k", version: 1), participant: try ParticipantID(1), parameters: parameters)
        #expect(await ring.refusal(0, .dkgRound1Request(request)) == .recipientRefused)
        // A 1-of-2 split gives each holder the whole key: refused even as an import.
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 1, participants: 2)
        let key = try KeyReference(keyID: "k", version: 2)
        let delivery = try ShareDelivery(
            key: key, participant: shares[0].id,
            sealedShare: try ShareSealing.seal(share: shares[0], to: ring.custodians[0].transportKey, key: key),
            commitment: commitment)
        #expect(await ring.refusal(0, .deliverShare(delivery)) == .recipientRefused)
    }

    @Test("a foreign client's challenge cannot change the PCRs the coordinator's heartbeats quote")
    func foreignChallengeKeepsHeartbeats() async throws {
        let ring = try await Ring.start(1)
        defer { ring.stop() }
        let foreign = try await ring.agents[0].connect()
        let other = try QuoteSelection(bank: 0x000B, indexes: [7])
        guard case .evidence = try await foreign.request(.challenge(Challenge(nonce: .random(), selection: other))) else {
            throw CustodyFailure("no evidence for the foreign challenge")
        }
        try? await foreign.close()
        let health = await ring.attestor.reattest(
            ring.clients[0], state: CustodianState(ring.custodians[0]), expecting: [:])
        #expect(health.isHealthy, "\(String(describing: health.refusal))")
    }

    /// A heartbeat the coordinator itself cancels (its daemon shutting down) judges nothing: the
    /// custodian is not retired, and the next heartbeat is accepted. Without this a graceful stop
    /// quarantined (and destroyed) custodians kept for the next daemon.
    @Test("a heartbeat cancelled by the coordinator does not retire the custodian")
    func cancelledHeartbeatRetiresNothing() async throws {
        let ring = try await Ring.start(1)
        defer { ring.stop() }
        let state = CustodianState(ring.custodians[0])
        let attestor = ring.attestor
        let client = ring.clients[0]
        let cancelled = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await attestor.reattest(client, state: state, expecting: [:])
        }.value
        #expect(cancelled.refusal?.transportFailure == .cancelled, "\(String(describing: cancelled.refusal))")
        let next = await attestor.reattest(client, state: state, expecting: [:])
        #expect(next.isHealthy, "\(String(describing: next.refusal))")
    }

    /// Imports a known 2-of-3 key into the ring: the test knows every old share.
    static func importKey(_ ring: Ring, key: KeyReference) async throws -> (shares: [SecretShare], FeldmanCommitment) {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        for index in 0..<3 {
            let sealed = try ShareSealing.seal(share: shares[index], to: ring.custodians[index].transportKey, key: key)
            _ = try await ring.request(
                index,
                .deliverShare(
                    try ShareDelivery(key: key, participant: shares[index].id, sealedShare: sealed, commitment: commitment)))
        }
        return (shares, commitment)
    }

    @Test(
        "redistribution: t'=1, substituted keys, replayed quotes, duplicates, foreign EK roots, other PCRs are refused"
    )
    func redistributionRefusals() async throws {
        let ring = try await Ring.start(3)
        defer { ring.stop() }
        let key = try KeyReference(keyID: "custody-reshare", version: 1)
        let newKey = try KeyReference(keyID: key.keyID, version: 2)
        let (oldShares, commitment) = try await Self.importKey(ring, key: key)
        let participants = try Self.ids([1, 2, 3])

        func recipients(threshold: UInt16, newKey: KeyReference = newKey) async throws -> [RecipientKey] {
            let binding = RecipientBinding.redistribution(
                key: key, newKey: newKey, newThreshold: threshold, recipients: participants)
            var result: [RecipientKey] = []
            for (index, id) in participants.enumerated() { result.append(try await ring.recipient(index, as: id, binding: binding)) }
            return result
        }
        /// The dealer's refusal: its code and text, or nil when it dealt.
        func deal(_ recipients: [RecipientKey], threshold: UInt16 = 2) async throws -> ErrorMessage? {
            do {
                _ = try await ring.request(
                    0,
                    .redistributeDealRequest(
                        try RedistributeDealRequest(
                            key: key, newKey: newKey, newThreshold: threshold, recipients: recipients)))
                return nil
            } catch let error as AgentProtocolError {
                return error.remote
            }
        }
        func refused(_ refusal: ErrorMessage?, _ reason: String) -> Bool {
            refusal?.code == .recipientRefused && refusal?.text.contains(reason) == true
        }
        let honest = try await recipients(threshold: 2)

        // t' = 1 would hand every recipient the whole key.
        let lowered = try await deal(try await recipients(threshold: 1), threshold: 1)
        #expect(refused(lowered, "below threshold 2"), "\(String(describing: lowered))")

        // The coordinator's own key in place of custodian 3's, with custodian 3's genuine quote.
        let attacker = Scalar.random()
        var substituted = honest
        substituted[2] = try RecipientKey(
            participant: honest[2].participant, transportKey: try TransportPublicKey(privateKey: attacker),
            quote: honest[2].quote, endorsementChain: honest[2].endorsementChain)
        let swappedKey = try await deal(substituted)
        #expect(refused(swappedKey, "recipient.binding"), "\(String(describing: swappedKey))")

        // Quotes made for another run (another new version) are worthless here.
        let otherRun = try await recipients(threshold: 2, newKey: try KeyReference(keyID: key.keyID, version: 9))
        let replayed = try await deal(otherRun)
        #expect(refused(replayed, "recipient.binding"), "\(String(describing: replayed))")

        // One custodian presented as two participants.
        var duplicated = honest
        duplicated[2] = try RecipientKey(
            participant: honest[2].participant, transportKey: honest[1].transportKey, quote: honest[1].quote,
            endorsementChain: honest[1].endorsementChain)
        let twice = try await deal(duplicated)
        #expect(refused(twice, "recipient.duplicate"), "\(String(describing: twice))")

        // A genuine agent on a TPM from another CA (the coordinator's own swtpm, say), and one whose
        // PCR 9 differs (another initrd or command line), even with its root passed along.
        let foreign = try AgentProcess.start(pinnedRoot: Array(Ring.rootPEM(ring.certificateAuthority).utf8))
        defer { foreign.stop() }
        let measured = try AgentProcess.start(certificateAuthority: ring.certificateAuthority) { tpm in
            try tpm.tool("tpm2_pcrextend", ["9:sha256=" + String(repeating: "ab", count: 32)])
        }
        defer { measured.stop() }
        let binding = RecipientBinding.redistribution(
            key: key, newKey: newKey, newThreshold: 2, recipients: participants)
        for (outsider, expected) in [(foreign, "recipient.endorsement"), (measured, "recipient.measurements")] {
            let client = try await outsider.connect()
            let outsiderChain = try Ring.chainPEM(outsider.certificateAuthority)
            let attestor = CustodianAttestor(
                policy: Self.firmwareOnlyPolicy, identity: Coordinator.identity,
                endorsementRootsPEM: outsiderChain + (try Ring.chainPEM(ring.certificateAuthority)))
            let custodian = try await attestor.attest(client)
            var withOutsider = honest
            withOutsider[2] = try await attestor.recipient(
                client, participant: participants[2], custodian: custodian, binding: binding)
            let refusal = await #expect(throws: AgentProtocolError.self) {
                try await ring.clients[0].request(
                    .redistributeDealRequest(
                        try RedistributeDealRequest(key: key, newKey: newKey, newThreshold: 2, recipients: withOutsider)))
            }
            #expect(refusal?.remote?.code == .recipientRefused)
            #expect(refusal?.remote?.text.contains(expected) == true, "\(String(describing: refusal?.remote))")
            try? await client.close()
        }

        // A sub-share the coordinator sealed itself (HPKE to the transport key, no TPM wrapping) is refused.
        let forged = try Redistribution.deal(share: oldShares[1], newThreshold: 2, newParticipants: participants)
        let injected = try ShareSealing.seal(
            subShare: forged.subShares[0], to: ring.custodians[0].transportKey, newKey: newKey)

        // The honest redistribution: custodians 1 and 2 deal to all three.
        var dealings: [RedistributeDealing] = []
        for index in [0, 1] {
            guard case .redistributeDealing(let dealing) = try await ring.request(
                index,
                .redistributeDealRequest(
                    try RedistributeDealRequest(key: key, newKey: newKey, newThreshold: 2, recipients: honest)))
            else { throw CustodyFailure("no dealing") }
            #expect(dealing.subShares.allSatisfy { $0.isCredentialWrapped })
            dealings.append(dealing)
        }
        // ActivateCredential is an unauthenticated step, but it is no oracle: fed the wrapping of a
        // sub-share for its own TPM, the agent answers a proof that does not open the box.
        let wrapped = try #require(dealings[0].subShares.first { $0.to == participants[0] })
        let foreignClient = try await ring.agents[0].connect()
        guard case .credentialActivated(let activated) = try await foreignClient.request(
            .activateCredential(
                try ActivateCredential(credentialBlob: wrapped.credentialBlob, encryptedSecret: wrapped.encryptedSecret)))
        else { throw CustodyFailure("no activation answer") }
        try? await foreignClient.close()
        #expect(throws: AttestationError.self) {
            try CredentialWrap.open(
                CredentialWrappedPayload(
                    credentialBlob: wrapped.credentialBlob, encryptedSecret: wrapped.encryptedSecret, box: wrapped.ciphertext),
                credential: activated.proof,
                context: ShareSealing.wrappingContext(dkg: false, key: newKey, from: wrapped.from, to: wrapped.to))
        }

        func receive(
            _ index: Int, commitment: FeldmanCommitment, subShares: [SealedPayload], threshold: UInt16 = 2
        ) async throws -> AgentErrorCode? {
            await ring.refusal(
                index,
                .redistributeReceiveRequest(
                    try RedistributeReceiveRequest(
                        newKey: newKey, participant: participants[index], newThreshold: threshold,
                        oldCommitment: commitment, dealings: dealings.map(\.dealing),
                        dealingProofs: dealings.map(\.proof), subShares: subShares)))
        }
        func subShares(to index: Int) -> [SealedPayload] {
            dealings.compactMap { $0.subShares.first { $0.to == participants[index] } }
        }
        #expect(try await receive(0, commitment: commitment, subShares: [subShares(to: 0)[0], injected]) == .invalidShare)
        // A dealing the coordinator made itself for dealer 2 (G_{2,0} = X_2, sub-shares it knows,
        // wrapped and sealed with public keys only) fails its proof of knowledge of x_2.
        let fabricated = try Redistribution.deal(share: oldShares[1], newThreshold: 2, newParticipants: participants)
        let fabricatedProof = try PossessionProof.prove(share: SecretShare(id: oldShares[1].id, value: .random()), nonce: [1])
        let fabricatedRefusal = await ring.refusal(
            0,
            .redistributeReceiveRequest(
                try RedistributeReceiveRequest(
                    newKey: newKey, participant: participants[0], newThreshold: 2, oldCommitment: commitment,
                    dealings: [dealings[0].dealing, fabricated.publicDealing],
                    dealingProofs: [dealings[0].proof, fabricatedProof], subShares: subShares(to: 0))))
        #expect(fabricatedRefusal == .invalidShare)
        // Another commitment than the one the held version was pinned to.
        let (_, swapped) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        #expect(try await receive(0, commitment: swapped, subShares: subShares(to: 0)) == .invalidShare)
        // Payloads wrapped for custodian 2's TPM do not open on custodian 1.
        #expect(try await receive(0, commitment: commitment, subShares: subShares(to: 1)) != nil)

        var newShares: [ParticipantID: Point] = [:]
        for index in 0..<3 {
            guard case .redistributeAccepted(let accepted) = try await ring.request(
                index,
                .redistributeReceiveRequest(
                    try RedistributeReceiveRequest(
                        newKey: newKey, participant: participants[index], newThreshold: 2, oldCommitment: commitment,
                        dealings: dealings.map(\.dealing), dealingProofs: dealings.map(\.proof),
                        subShares: subShares(to: index))))
            else { throw CustodyFailure("no acceptance") }
            #expect(accepted.commitment.publicKey == commitment.publicKey)
            newShares[participants[index]] = accepted.publicShare
        }

        // The coordinator saw no old share (raw, hex or base64), no new share and no sub-share.
        for share in oldShares { #expect(!ring.transcript.contains(secret: share.value.serialized())) }
        var secrets = Array(newShares.values) + [commitment.publicKey]
        for dealing in dealings {
            secrets += participants.map { dealing.dealing.commitment.publicShare(for: $0) }
        }
        #expect(ring.transcript.scalarsMatching(secrets).isEmpty)
    }
}
