/// Every message type on the wire, with its 16-bit code. The high byte groups a
/// protocol step; odd codes are requests from the coordinator, the following even code
/// is the agent's response. ``error`` answers any request.
public enum MessageType: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// An error frame: code and text, answering any request (or id 0 for the connection).
    case error = 0x0000

    /// Step 1: a fresh nonce.
    case challenge = 0x0101
    /// Step 2: EK certificate, AK, quote, PCRs, event log, transport key.
    case evidence = 0x0102
    /// Step 3: MakeCredential output for ActivateCredential.
    case activateCredential = 0x0103
    /// Step 3: the recovered credential.
    case credentialActivated = 0x0104

    /// Step 5: an HPKE-sealed share and its Feldman commitment.
    case deliverShare = 0x0201
    /// Step 5: the share matched the commitment and is kept.
    case shareAccepted = 0x0202

    /// Step 6: a heartbeat nonce.
    case heartbeatRequest = 0x0301
    /// Step 6: a fresh quote and proofs of possession bound to the nonce.
    case heartbeat = 0x0302

    /// Threshold HPKE: compute D_i = x_i·enc.
    case partialDecryptRequest = 0x0401
    /// Threshold HPKE: D_i with its DLEQ proof.
    case partialDecryption = 0x0402

    /// FROST round one: commit to nonces.
    case signRound1Request = 0x0501
    /// FROST round one: the signing commitment.
    case signingCommitment = 0x0502
    /// FROST round two: sign the message under the commitment list.
    case signRound2Request = 0x0503
    /// FROST round two: the signature share.
    case signatureShare = 0x0504

    /// DKG: start a run and broadcast a round-1 package.
    case dkgRound1Request = 0x0601
    /// DKG: the round-1 package.
    case dkgRound1Package = 0x0602
    /// DKG: all round-1 packages and the recipients' transport keys.
    case dkgRound2Request = 0x0603
    /// DKG: round-2 shares, each sealed to its recipient.
    case dkgRound2Shares = 0x0604
    /// DKG: the sealed round-2 shares addressed to this agent.
    case dkgReceiveRequest = 0x0605
    /// DKG: signed complaints against dealers whose shares failed.
    case dkgComplaints = 0x0606
    // 0x0607 and 0x0608 were dkg-answer-request and dkg-answers, which revealed shares in
    // the clear (issue 8); they decode as unknown and are not reused.
    /// DKG: every complaint; compute the outcome and keep the share pending.
    case dkgFinishRequest = 0x0609
    /// DKG: the pending outcome, this agent's public share and its signed confirmation.
    case dkgFinished = 0x060A
    /// DKG: every round-1 participant's confirmation; release the share if they all verify.
    case dkgConfirmRequest = 0x060B
    /// DKG: the share is confirmed and held (none for a disqualified agent, whose run ended).
    case dkgConfirmed = 0x060C

    /// Redistribution: deal sub-shares of a held share to a new set.
    case redistributeDealRequest = 0x0701
    /// Redistribution: the public dealing and sub-shares sealed to each new holder.
    case redistributeDealing = 0x0702
    /// Redistribution: combine sub-shares from the chosen dealers into a new share.
    case redistributeReceiveRequest = 0x0703
    /// Redistribution: the new share is kept.
    case redistributeAccepted = 0x0704

    /// Zeroise every share and power off.
    case destroy = 0x0801
    /// Shares are zeroised; the agent is about to power off.
    case destroyed = 0x0802
    /// Zeroise some shares, request.
    case forgetShares = 0x0803
    /// Zeroise some shares, response.
    case sharesForgotten = 0x0804

    /// Recipient attestation: quote PCR 4 and 9 bound to a run, for the dealers of that run.
    case recipientQuoteRequest = 0x0A01
    /// Recipient attestation: the quote and EK certificate.
    case recipientQuote = 0x0A02

    /// Session: ask for a fresh nonce to open an authenticated session with (see ``Session``).
    case sessionHello = 0x0901
    /// Session: the agent's nonce.
    case sessionChallenge = 0x0902
    /// Session: the coordinator's signed opening.
    case sessionOpen = 0x0903
    /// Session: the agent's key confirmation; the session is open.
    case sessionOpened = 0x0904
    /// Session: any request, encrypted and authenticated under the open session.
    case sealedRequest = 0x0905
    /// Session: the answer to a sealed request, encrypted under the same session.
    case sealedResponse = 0x0906

    /// Whether the coordinator sends this type and the agent answers it.
    public var isRequest: Bool { rawValue & 1 == 1 }

    /// The response type a successful answer to this request has (nil for responses).
    public var responseType: MessageType? { isRequest ? MessageType(rawValue: rawValue + 1) : nil }

    public var description: String {
        switch self {
        case .error: "error"
        case .challenge: "challenge"
        case .evidence: "evidence"
        case .activateCredential: "activate-credential"
        case .credentialActivated: "credential-activated"
        case .deliverShare: "deliver-share"
        case .shareAccepted: "share-accepted"
        case .heartbeatRequest: "heartbeat-request"
        case .heartbeat: "heartbeat"
        case .partialDecryptRequest: "partial-decrypt-request"
        case .partialDecryption: "partial-decryption"
        case .signRound1Request: "sign-round1-request"
        case .signingCommitment: "signing-commitment"
        case .signRound2Request: "sign-round2-request"
        case .signatureShare: "signature-share"
        case .dkgRound1Request: "dkg-round1-request"
        case .dkgRound1Package: "dkg-round1-package"
        case .dkgRound2Request: "dkg-round2-request"
        case .dkgRound2Shares: "dkg-round2-shares"
        case .dkgReceiveRequest: "dkg-receive-request"
        case .dkgComplaints: "dkg-complaints"
        case .dkgFinishRequest: "dkg-finish-request"
        case .dkgFinished: "dkg-finished"
        case .dkgConfirmRequest: "dkg-confirm-request"
        case .dkgConfirmed: "dkg-confirmed"
        case .redistributeDealRequest: "redistribute-deal-request"
        case .redistributeDealing: "redistribute-dealing"
        case .redistributeReceiveRequest: "redistribute-receive-request"
        case .redistributeAccepted: "redistribute-accepted"
        case .destroy: "destroy"
        case .destroyed: "destroyed"
        case .forgetShares: "forget-shares"
        case .sharesForgotten: "shares-forgotten"
        case .recipientQuoteRequest: "recipient-quote-request"
        case .recipientQuote: "recipient-quote"
        case .sessionHello: "session-hello"
        case .sessionChallenge: "session-challenge"
        case .sessionOpen: "session-open"
        case .sessionOpened: "session-opened"
        case .sealedRequest: "sealed-request"
        case .sealedResponse: "sealed-response"
        }
    }
}
