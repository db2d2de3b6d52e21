import AgentProtocol
import Testing

// Testable for the one thing no honest participant does in public: a dealer signing a bad
// share, which the invalid-share complaint sample needs as evidence.
@testable import ShardCrypto

/// Real values for every message type, made with ShardCrypto's own protocols so that
/// every crypto object on the wire is one the agent would really send.
enum MessageSamples {
    static func id(_ raw: UInt16) -> ParticipantID { try! ParticipantID(raw) }

    static func key(_ version: UInt32 = 3) -> KeyReference { try! KeyReference(keyID: "payments-ring", version: version) }
    /// The version a redistribution of ``key(_:)`` produces.
    static func newKey() -> KeyReference { key(4) }

    static func transportKey(_ seed: UInt64) throws -> TransportPublicKey {
        try TransportPublicKey(uncompressed: try Point.generatorMultiple(Scalar(seed)).uncompressed())
    }

    static func pcrs() throws -> PCRValues {
        try PCRValues([
            0x000B: [0: [UInt8](repeating: 0xA0, count: 32), 4: [UInt8](repeating: 0xA4, count: 32),
                     9: [UInt8](repeating: 0xA9, count: 32)],
            0x0004: [0: [UInt8](repeating: 0x10, count: 20)],
        ])
    }

    /// One message of every ``MessageType``.
    static func all() throws -> [AgentMessage] {
        let split = try Shamir.split(secret: Scalar(0xC0FFEE), threshold: 2, participants: 3)
        let share = split.shares[0]
        let nonce = try Nonce([UInt8](repeating: 7, count: 32))
        let session = try SessionID([UInt8](repeating: 9, count: 16))
        let enc = try Point.generatorMultiple(Scalar(77)).uncompressed()
        let ciphertext = enc + [UInt8](repeating: 0x55, count: 48)

        let (value, dleq) = try DLEQProof.prove(
            secret: share.value, base: try Point(sec1: enc), context: Array("request-1".utf8))
        let partial = PartialDecryption(id: share.id, value: value, proof: dleq)

        let signers = [split.shares[0], split.shares[1]]
        let rounds = signers.map { FROST.commit(share: $0) }
        let commitments = rounds.map(\.1)
        let message = Array("sign me".utf8)
        let signatureShare = try FROST.sign(
            share: signers[0], nonces: rounds[0].0, message: message, commitments: commitments,
            groupPublicKey: split.commitment.publicKey)

        let parameters = try DKG.Parameters(
            threshold: 2, participants: [id(1), id(2), id(3)], context: Array("dkg-session".utf8))
        let polynomials = try (0..<3).map { _ in try Polynomial.random(constant: .random(), threshold: 2) }
        let participants = try (0..<3).map {
            try DKG.Participant(id: id(UInt16($0 + 1)), parameters: parameters, polynomial: polynomials[$0])
        }
        let packages = participants.map(\.round1Package)
        let digest = try DKG.Round1Outcome(parameters: parameters, packages: packages).digest
        let badShare = try DKG.Round2Share.signed(
            from: id(1), to: id(3), value: .one, round1Digest: digest, dealerSecret: polynomials[0].coefficients[0],
            parameters: parameters)
        let complaints = [
            try DKG.Complaint.signed(
                accuser: id(2), accused: id(1), reason: .missingShare, round1Digest: digest,
                accuserSecret: polynomials[1].coefficients[0], parameters: parameters),
            try DKG.Complaint.signed(
                accuser: id(3), accused: id(1), reason: .invalidShare(evidence: badShare), round1Digest: digest,
                accuserSecret: polynomials[2].coefficients[0], parameters: parameters),
        ]
        // A clean run of the same participants, up to its confirmations.
        let dealt = try participants.flatMap { try $0.round2(packages: packages) }
        for participant in participants {
            _ = try participant.receive(shares: dealt.filter { $0.to == participant.id })
        }
        let confirmations = try participants.map { try $0.finish(complaints: []) }
        let pending = participants[0].pendingResult!
        let sealed = [
            try SealedPayload(from: id(1), to: id(2), ciphertext: [UInt8](repeating: 0xEE, count: 200)),
            try SealedPayload(
                from: id(1), to: id(3), ciphertext: [UInt8](repeating: 0xEF, count: 200),
                credentialBlob: [0, 0x44, 1, 2], encryptedSecret: [0, 0x44, 3, 4]),
        ]
        let recipientQuote = try RecipientQuote(
            endorsementCertificate: [0x30, 0x82, 0x02, 0x00], attestationKeyPublic: [0, 0x58, 0, 0x23],
            quote: [0xFF, 0x54, 0x43, 0x47, 0x80, 0x18], quoteSignature: [0, 0x18, 0, 0x0B])
        let recipients = try [id(2), id(3)].enumerated().map {
            try RecipientKey(
                participant: $0.element, transportKey: try transportKey(UInt64(100 + $0.offset)), quote: recipientQuote,
                endorsementChain: [[0x30, 0x82, 0x01, 0x00], [0x30, 0x03]])
        }
        let dealing = try Redistribution.deal(share: share, newThreshold: 2, newParticipants: [id(4), id(5), id(6)])

        return [
            .error(ErrorMessage(code: .notAttested, text: "evidence not accepted yet")),
            .challenge(Challenge(nonce: nonce, selection: try QuoteSelection(bank: 0x000B, indexes: [0, 4, 9]))),
            .evidence(
                try EvidenceMessage(
                    endorsementKeyCertificate: [UInt8](repeating: 0x30, count: 900),
                    attestationKeyPublic: [UInt8](repeating: 0x01, count: 90), quote: [UInt8](repeating: 0xFF, count: 145),
                    quoteSignature: [UInt8](repeating: 0x18, count: 72), pcrValues: try pcrs(),
                    eventLog: [UInt8](repeating: 0x42, count: 30_000), transportKey: try transportKey(42))),
            .activateCredential(
                try ActivateCredential(
                    credentialBlob: [UInt8](repeating: 0x44, count: 68), encryptedSecret: [UInt8](repeating: 0x45, count: 256))),
            .credentialActivated(try CredentialActivated(proof: SecretBytes([UInt8](repeating: 0x5A, count: 32)))),
            .deliverShare(
                try ShareDelivery(
                    key: key(), participant: share.id, sealedShare: [UInt8](repeating: 0x77, count: 131),
                    commitment: split.commitment)),
            .shareAccepted(ShareAccepted(key: key(), participant: share.id, publicShare: share.publicShare)),
            .heartbeatRequest(HeartbeatRequest(nonce: nonce)),
            .heartbeat(
                try Heartbeat(
                    quote: [UInt8](repeating: 0xFF, count: 145), quoteSignature: [UInt8](repeating: 0x18, count: 72),
                    pcrValues: try pcrs(),
                    proofs: [
                        PossessionEntry(
                            key: key(2), participant: share.id, proof: try PossessionProof.prove(share: share, nonce: nonce.bytes)),
                        PossessionEntry(
                            key: key(3), participant: share.id, proof: try PossessionProof.prove(share: share, nonce: nonce.bytes)),
                    ])),
            .partialDecryptRequest(
                try PartialDecryptRequest(key: key(), ciphertext: ciphertext, context: Array("request-1".utf8))),
            .partialDecryption(PartialDecryptionResponse(key: key(), partial: partial)),
            .signRound1Request(SignRound1Request(key: key(), session: session)),
            .signingCommitment(SigningCommitmentResponse(session: session, commitment: commitments[0])),
            .signRound2Request(try SignRound2Request(key: key(), session: session, message: message, commitments: commitments)),
            .signatureShare(SignatureShareResponse(session: session, share: signatureShare)),
            .dkgRound1Request(try DKGRound1Request(key: key(1), participant: id(1), parameters: parameters)),
            .dkgRound1Package(DKGRound1PackageResponse(key: key(1), package: packages[0])),
            .dkgRound2Request(try DKGRound2Request(key: key(1), packages: packages, recipients: recipients)),
            .dkgRound2Shares(DKGRound2SharesResponse(key: key(1), shares: sealed)),
            .dkgReceiveRequest(DKGReceiveRequest(key: key(1), shares: sealed)),
            .dkgComplaints(DKGComplaintList(key: key(1), complaints: complaints)),
            .dkgFinishRequest(DKGFinishRequest(key: key(1), complaints: complaints)),
            .dkgFinished(
                try DKGFinished(
                    key: key(1), participant: id(1), publicShare: pending.publicShare(for: id(1)),
                    qualified: pending.qualified, commitment: pending.commitment, round1Digest: pending.round1Digest,
                    transcriptDigest: pending.transcriptDigest, confirmation: confirmations[0])),
            .dkgConfirmRequest(try DKGConfirmRequest(key: key(1), confirmations: confirmations)),
            .dkgConfirmed(DKGConfirmed(key: key(1), participant: id(1), publicShare: pending.publicShare(for: id(1)))),
            .redistributeDealRequest(
                try RedistributeDealRequest(key: key(), newKey: newKey(), newThreshold: 2, recipients: recipients)),
            .redistributeDealing(
                RedistributeDealing(
                    key: key(), dealing: dealing.publicDealing, subShares: sealed,
                    proof: try PossessionProof.prove(share: share, nonce: [0xDE, 0xA1]))),
            .redistributeReceiveRequest(
                try RedistributeReceiveRequest(
                    newKey: key(4), participant: id(5), newThreshold: 2, oldCommitment: split.commitment,
                    dealings: [dealing.publicDealing],
                    dealingProofs: [try PossessionProof.prove(share: share, nonce: [0xDE, 0xA1])], subShares: sealed)),
            .redistributeAccepted(
                RedistributeAccepted(
                    newKey: key(4), participant: id(5), publicShare: share.publicShare, commitment: dealing.commitment)),
            .destroy(try DestroyRequest(reason: "heartbeat missed")),
            .destroyed(Destroyed(zeroisedShares: 2)),
            .forgetShares(try ForgetSharesRequest(keys: [try KeyReference(keyID: "payments/e3", version: 2)])),
            .sharesForgotten(SharesForgotten(zeroisedShares: 1)),
            .recipientQuoteRequest(try RecipientQuoteRequest(binding: [UInt8](repeating: 0xB1, count: 32))),
            .recipientQuote(recipientQuote),
            .sessionHello(SessionHello()),
            .sessionChallenge(SessionChallenge(nonce: nonce)),
            .sessionOpen(try SessionOpen(ephemeralKey: enc, signature: [UInt8](repeating: 0x5A, count: 64))),
            .sessionOpened(try SessionOpened(confirmation: [UInt8](repeating: 0xC0, count: 32))),
            .sealedRequest(try SealedEnvelope(counter: 7, box: [UInt8](repeating: 0x11, count: 40))),
            .sealedResponse(try SealedEnvelope(counter: 7, box: [UInt8](repeating: 0x22, count: 40))),
        ]
    }
}
