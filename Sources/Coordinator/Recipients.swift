import AgentProtocol
import Foundation
import ShardCrypto

extension CustodianAttestor {
    /// What a dealer needs to trust `custodian` as a recipient of one run: its quote over PCR 4
    /// and 9 bound to the run and its transport key, its EK certificate and the EK chain the
    /// coordinator knows (the attestor's EK roots). The dealer checks all of it itself; the
    /// coordinator only relays.
    /// - Parameters:
    ///   - client: the custodian's agent connection (with a session).
    ///   - participant: the custodian's participant id in the run.
    ///   - custodian: what its attestation established (the transport key).
    ///   - binding: the run's ``AgentProtocol/RecipientBinding``.
    /// - Throws: ``CoordinatorError/Code/agentFailed`` when the agent does not answer;
    ///   `.endorsementRefused` when no EK root is configured.
    public func recipient(
        _ client: AgentClient, participant: ParticipantID, custodian: AttestedCustodian, binding: [UInt8]
    ) async throws(CoordinatorError) -> RecipientKey {
        let answer: AgentMessage
        do {
            answer = try await client.request(.recipientQuoteRequest(try RecipientQuoteRequest(binding: binding)))
        } catch {
            throw CoordinatorError(.agentFailed, "recipient quote: \(error)")
        }
        guard case .recipientQuote(let quote) = answer else {
            throw CoordinatorError(.agentFailed, "the agent answered a recipient-quote request with \(answer.type)")
        }
        do {
            return try RecipientKey(
                participant: participant, transportKey: custodian.transportKey, quote: quote,
                endorsementChain: try endorsementChainDER())
        } catch let error as CoordinatorError {
            throw error
        } catch {
            throw CoordinatorError(.endorsementRefused, "the EK chain cannot be sent: \(error)")
        }
    }

    /// Every certificate of the configured EK roots (roots and issuing CAs), as DER: dealers trust
    /// as roots only those whose digest their boot pins.
    func endorsementChainDER() throws(CoordinatorError) -> [[UInt8]] {
        let anchors = try EndorsementAnchors(pemTexts: try endorsementRootTexts())
        let chain = (anchors.roots + anchors.intermediates).map(\.der)
        guard !chain.isEmpty else {
            throw CoordinatorError(.endorsementRefused, "no EK root certificate is configured")
        }
        return chain
    }
}
