import ShardCrypto

/// Every message of the coordinator ⇄ agent protocol, typed. ``encode()`` and
/// ``init(type:payload:)`` convert to and from a frame's type and payload; decoding
/// accepts exactly the encodings ``encode()`` produces.
public enum AgentMessage: Sendable, CustomStringConvertible {
    /// An error answering a request, or the connection (request id 0).
    case error(ErrorMessage)
    /// Step 1.
    case challenge(Challenge)
    /// Step 2.
    case evidence(EvidenceMessage)
    /// Step 3, request.
    case activateCredential(ActivateCredential)
    /// Step 3, response.
    case credentialActivated(CredentialActivated)
    /// Step 5, request.
    case deliverShare(ShareDelivery)
    /// Step 5, response.
    case shareAccepted(ShareAccepted)
    /// Step 6, request.
    case heartbeatRequest(HeartbeatRequest)
    /// Step 6, response.
    case heartbeat(Heartbeat)
    /// Threshold decryption, request.
    case partialDecryptRequest(PartialDecryptRequest)
    /// Threshold decryption, response.
    case partialDecryption(PartialDecryptionResponse)
    /// FROST round one, request.
    case signRound1Request(SignRound1Request)
    /// FROST round one, response.
    case signingCommitment(SigningCommitmentResponse)
    /// FROST round two, request.
    case signRound2Request(SignRound2Request)
    /// FROST round two, response.
    case signatureShare(SignatureShareResponse)
    /// DKG round one, request.
    case dkgRound1Request(DKGRound1Request)
    /// DKG round one, response.
    case dkgRound1Package(DKGRound1PackageResponse)
    /// DKG round two, request.
    case dkgRound2Request(DKGRound2Request)
    /// DKG round two, response.
    case dkgRound2Shares(DKGRound2SharesResponse)
    /// DKG receive, request.
    case dkgReceiveRequest(DKGReceiveRequest)
    /// DKG receive, response: this agent's complaints.
    case dkgComplaints(DKGComplaintList)
    /// DKG finish, request: every complaint.
    case dkgFinishRequest(DKGFinishRequest)
    /// DKG finish, response: the pending outcome and this agent's confirmation.
    case dkgFinished(DKGFinished)
    /// DKG confirm, request: the confirmation of every participant that passed round 1.
    case dkgConfirmRequest(DKGConfirmRequest)
    /// DKG confirm, response: the share is held (or, for a disqualified agent, the run ended).
    case dkgConfirmed(DKGConfirmed)
    /// Redistribution deal, request.
    case redistributeDealRequest(RedistributeDealRequest)
    /// Redistribution deal, response.
    case redistributeDealing(RedistributeDealing)
    /// Redistribution receive, request.
    case redistributeReceiveRequest(RedistributeReceiveRequest)
    /// Redistribution receive, response.
    case redistributeAccepted(RedistributeAccepted)
    /// Destroy, request.
    case destroy(DestroyRequest)
    /// Destroy, response.
    case destroyed(Destroyed)
    /// Zeroise some shares, request.
    case forgetShares(ForgetSharesRequest)
    /// Zeroise some shares, response.
    case sharesForgotten(SharesForgotten)
    /// Recipient attestation, request.
    case recipientQuoteRequest(RecipientQuoteRequest)
    /// Recipient attestation, response.
    case recipientQuote(RecipientQuote)
    /// Session handshake, request: a fresh nonce please.
    case sessionHello(SessionHello)
    /// Session handshake, response: the agent's nonce.
    case sessionChallenge(SessionChallenge)
    /// Session handshake, request: the coordinator's signed opening.
    case sessionOpen(SessionOpen)
    /// Session handshake, response: key confirmation.
    case sessionOpened(SessionOpened)
    /// Any request sealed under the session (opened by the session layer, never by a handler).
    case sealedRequest(SealedEnvelope)
    /// A response sealed under the session.
    case sealedResponse(SealedEnvelope)

    /// The frame type this message travels in.
    public var type: MessageType {
        switch self {
        case .error: .error
        case .challenge: .challenge
        case .evidence: .evidence
        case .activateCredential: .activateCredential
        case .credentialActivated: .credentialActivated
        case .deliverShare: .deliverShare
        case .shareAccepted: .shareAccepted
        case .heartbeatRequest: .heartbeatRequest
        case .heartbeat: .heartbeat
        case .partialDecryptRequest: .partialDecryptRequest
        case .partialDecryption: .partialDecryption
        case .signRound1Request: .signRound1Request
        case .signingCommitment: .signingCommitment
        case .signRound2Request: .signRound2Request
        case .signatureShare: .signatureShare
        case .dkgRound1Request: .dkgRound1Request
        case .dkgRound1Package: .dkgRound1Package
        case .dkgRound2Request: .dkgRound2Request
        case .dkgRound2Shares: .dkgRound2Shares
        case .dkgReceiveRequest: .dkgReceiveRequest
        case .dkgComplaints: .dkgComplaints
        case .dkgFinishRequest: .dkgFinishRequest
        case .dkgFinished: .dkgFinished
        case .dkgConfirmRequest: .dkgConfirmRequest
        case .dkgConfirmed: .dkgConfirmed
        case .redistributeDealRequest: .redistributeDealRequest
        case .redistributeDealing: .redistributeDealing
        case .redistributeReceiveRequest: .redistributeReceiveRequest
        case .redistributeAccepted: .redistributeAccepted
        case .destroy: .destroy
        case .destroyed: .destroyed
        case .forgetShares: .forgetShares
        case .sharesForgotten: .sharesForgotten
        case .recipientQuoteRequest: .recipientQuoteRequest
        case .recipientQuote: .recipientQuote
        case .sessionHello: .sessionHello
        case .sessionChallenge: .sessionChallenge
        case .sessionOpen: .sessionOpen
        case .sessionOpened: .sessionOpened
        case .sealedRequest: .sealedRequest
        case .sealedResponse: .sealedResponse
        }
    }

    /// The payload encoding.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` when a list exceeds 65535
    ///   entries or a crypto object cannot be encoded (an identity point).
    public func encode() throws(AgentProtocolError) -> [UInt8] {
        var writer = WireWriter()
        do {
            switch self {
            case .error(let body): body.encode(into: &writer)
            case .challenge(let body): body.encode(into: &writer)
            case .evidence(let body): body.encode(into: &writer)
            case .activateCredential(let body): body.encode(into: &writer)
            case .credentialActivated(let body): body.encode(into: &writer)
            case .deliverShare(let body): try body.encode(into: &writer)
            case .shareAccepted(let body): try body.encode(into: &writer)
            case .heartbeatRequest(let body): body.encode(into: &writer)
            case .heartbeat(let body): try body.encode(into: &writer)
            case .partialDecryptRequest(let body): body.encode(into: &writer)
            case .partialDecryption(let body): try body.encode(into: &writer)
            case .signRound1Request(let body): body.encode(into: &writer)
            case .signingCommitment(let body): try body.encode(into: &writer)
            case .signRound2Request(let body): try body.encode(into: &writer)
            case .signatureShare(let body): body.encode(into: &writer)
            case .dkgRound1Request(let body): try body.encode(into: &writer)
            case .dkgRound1Package(let body): try body.encode(into: &writer)
            case .dkgRound2Request(let body): try body.encode(into: &writer)
            case .dkgRound2Shares(let body): try body.encode(into: &writer)
            case .dkgReceiveRequest(let body): try body.encode(into: &writer)
            case .dkgComplaints(let body): try body.encode(into: &writer)
            case .dkgFinishRequest(let body): try body.encode(into: &writer)
            case .dkgFinished(let body): try body.encode(into: &writer)
            case .dkgConfirmRequest(let body): try body.encode(into: &writer)
            case .dkgConfirmed(let body): try body.encode(into: &writer)
            case .redistributeDealRequest(let body): try body.encode(into: &writer)
            case .redistributeDealing(let body): try body.encode(into: &writer)
            case .redistributeReceiveRequest(let body): try body.encode(into: &writer)
            case .redistributeAccepted(let body): try body.encode(into: &writer)
            case .destroy(let body): body.encode(into: &writer)
            case .destroyed(let body): body.encode(into: &writer)
            case .forgetShares(let body): try body.encode(into: &writer)
            case .sharesForgotten(let body): body.encode(into: &writer)
            case .recipientQuoteRequest(let body): body.encode(into: &writer)
            case .recipientQuote(let body): body.encode(into: &writer)
            case .sessionHello(let body): body.encode(into: &writer)
            case .sessionChallenge(let body): body.encode(into: &writer)
            case .sessionOpen(let body): body.encode(into: &writer)
            case .sessionOpened(let body): body.encode(into: &writer)
            case .sealedRequest(let body): body.encode(into: &writer)
            case .sealedResponse(let body): body.encode(into: &writer)
            }
        } catch let error as AgentProtocolError {
            throw error
        } catch let error as ShardCryptoError {
            throw AgentProtocolError.malformed("\(type) cannot be encoded: \(error.reason)")
        } catch {
            // The bodies throw only the two above; keep any other error's text rather than lose it.
            throw AgentProtocolError.malformed("\(type) cannot be encoded: \(error)")
        }
        return writer.bytes
    }

    /// Decodes a frame's payload.
    /// - Parameters:
    ///   - type: the frame's raw type.
    ///   - payload: the frame's payload.
    /// - Throws: ``AgentProtocolError/Code/unknownMessageType`` for a type this build does
    ///   not know, ``AgentProtocolError/Code/malformedMessage`` for a payload that is not
    ///   exactly one valid encoding of that type.
    public init(type rawType: UInt16, payload: [UInt8]) throws(AgentProtocolError) {
        guard let type = MessageType(rawValue: rawType) else {
            throw AgentProtocolError(.unknownMessageType, "message type 0x\(String(rawType, radix: 16)) is unknown")
        }
        var reader = WireReader(payload)
        func body<T: WireCodable>(_: T.Type) throws(AgentProtocolError) -> T { try T(from: &reader) }
        switch type {
        case .error: self = .error(try body(ErrorMessage.self))
        case .challenge: self = .challenge(try body(Challenge.self))
        case .evidence: self = .evidence(try body(EvidenceMessage.self))
        case .activateCredential: self = .activateCredential(try body(ActivateCredential.self))
        case .credentialActivated: self = .credentialActivated(try body(CredentialActivated.self))
        case .deliverShare: self = .deliverShare(try body(ShareDelivery.self))
        case .shareAccepted: self = .shareAccepted(try body(ShareAccepted.self))
        case .heartbeatRequest: self = .heartbeatRequest(try body(HeartbeatRequest.self))
        case .heartbeat: self = .heartbeat(try body(Heartbeat.self))
        case .partialDecryptRequest: self = .partialDecryptRequest(try body(PartialDecryptRequest.self))
        case .partialDecryption: self = .partialDecryption(try body(PartialDecryptionResponse.self))
        case .signRound1Request: self = .signRound1Request(try body(SignRound1Request.self))
        case .signingCommitment: self = .signingCommitment(try body(SigningCommitmentResponse.self))
        case .signRound2Request: self = .signRound2Request(try body(SignRound2Request.self))
        case .signatureShare: self = .signatureShare(try body(SignatureShareResponse.self))
        case .dkgRound1Request: self = .dkgRound1Request(try body(DKGRound1Request.self))
        case .dkgRound1Package: self = .dkgRound1Package(try body(DKGRound1PackageResponse.self))
        case .dkgRound2Request: self = .dkgRound2Request(try body(DKGRound2Request.self))
        case .dkgRound2Shares: self = .dkgRound2Shares(try body(DKGRound2SharesResponse.self))
        case .dkgReceiveRequest: self = .dkgReceiveRequest(try body(DKGReceiveRequest.self))
        case .dkgComplaints: self = .dkgComplaints(try body(DKGComplaintList.self))
        case .dkgFinishRequest: self = .dkgFinishRequest(try body(DKGFinishRequest.self))
        case .dkgFinished: self = .dkgFinished(try body(DKGFinished.self))
        case .dkgConfirmRequest: self = .dkgConfirmRequest(try body(DKGConfirmRequest.self))
        case .dkgConfirmed: self = .dkgConfirmed(try body(DKGConfirmed.self))
        case .redistributeDealRequest: self = .redistributeDealRequest(try body(RedistributeDealRequest.self))
        case .redistributeDealing: self = .redistributeDealing(try body(RedistributeDealing.self))
        case .redistributeReceiveRequest:
            self = .redistributeReceiveRequest(try body(RedistributeReceiveRequest.self))
        case .redistributeAccepted: self = .redistributeAccepted(try body(RedistributeAccepted.self))
        case .destroy: self = .destroy(try body(DestroyRequest.self))
        case .destroyed: self = .destroyed(try body(Destroyed.self))
        case .forgetShares: self = .forgetShares(try body(ForgetSharesRequest.self))
        case .sharesForgotten: self = .sharesForgotten(try body(SharesForgotten.self))
        case .recipientQuoteRequest: self = .recipientQuoteRequest(try body(RecipientQuoteRequest.self))
        case .recipientQuote: self = .recipientQuote(try body(RecipientQuote.self))
        case .sessionHello: self = .sessionHello(try body(SessionHello.self))
        case .sessionChallenge: self = .sessionChallenge(try body(SessionChallenge.self))
        case .sessionOpen: self = .sessionOpen(try body(SessionOpen.self))
        case .sessionOpened: self = .sessionOpened(try body(SessionOpened.self))
        case .sealedRequest: self = .sealedRequest(try body(SealedEnvelope.self))
        case .sealedResponse: self = .sealedResponse(try body(SealedEnvelope.self))
        }
        try reader.finish("\(type)")
    }

    /// Decodes a frame.
    /// - Throws: as ``init(type:payload:)``.
    public init(frame: Frame) throws(AgentProtocolError) { try self.init(type: frame.type, payload: frame.payload) }

    /// This message in a frame with the given request id.
    /// - Throws: as ``encode()``.
    public func frame(requestID: UInt64) throws(AgentProtocolError) -> Frame {
        Frame(type: type.rawValue, requestID: requestID, payload: try encode())
    }

    /// The body's description: type and public fields, never secret values.
    public var description: String {
        switch self {
        case .error(let body): "error(\(body))"
        case .challenge(let body): "\(body)"
        case .evidence(let body): "\(body)"
        case .activateCredential(let body): "\(body)"
        case .credentialActivated(let body): "\(body)"
        case .deliverShare(let body): "\(body)"
        case .shareAccepted(let body): "\(body)"
        case .heartbeatRequest(let body): "\(body)"
        case .heartbeat(let body): "\(body)"
        case .partialDecryptRequest(let body): "\(body)"
        case .partialDecryption(let body): "\(body)"
        case .signRound1Request(let body): "\(body)"
        case .signingCommitment(let body): "\(body)"
        case .signRound2Request(let body): "\(body)"
        case .signatureShare(let body): "\(body)"
        case .dkgRound1Request(let body): "\(body)"
        case .dkgRound1Package(let body): "\(body)"
        case .dkgRound2Request(let body): "\(body)"
        case .dkgRound2Shares(let body): "\(body)"
        case .dkgReceiveRequest(let body): "\(body)"
        case .dkgComplaints(let body): "\(body)"
        case .dkgFinishRequest(let body): "\(body)"
        case .dkgFinished(let body): "\(body)"
        case .dkgConfirmRequest(let body): "\(body)"
        case .dkgConfirmed(let body): "\(body)"
        case .redistributeDealRequest(let body): "\(body)"
        case .redistributeDealing(let body): "\(body)"
        case .redistributeReceiveRequest(let body): "\(body)"
        case .redistributeAccepted(let body): "\(body)"
        case .destroy(let body): "\(body)"
        case .destroyed(let body): "\(body)"
        case .forgetShares(let body): "\(body)"
        case .sharesForgotten(let body): "\(body)"
        case .recipientQuoteRequest(let body): "\(body)"
        case .recipientQuote(let body): "\(body)"
        case .sessionHello(let body): "\(body)"
        case .sessionChallenge(let body): "\(body)"
        case .sessionOpen(let body): "\(body)"
        case .sessionOpened(let body): "\(body)"
        case .sealedRequest(let body): "sealed-request \(body)"
        case .sealedResponse(let body): "sealed-response \(body)"
        }
    }
}
