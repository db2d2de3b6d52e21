import AgentProtocol
import Coordinator
import Foundation
import ShardCrypto
import Testing

/// forget-shares: an epoch commit, a trim or a delete makes custodians zeroise the named key
/// versions and only those; heartbeats then prove exactly the rest.
@Suite("Forgetting named shares", .serialized)
struct ForgetSharesTests {
    @Test("forgotten versions are gone from heartbeats and refuse use; the others stay; repeats are harmless")
    func forgetNamedShares() async throws {
        let ring = try await Ring.start(3)
        defer { ring.stop() }
        let old = try KeyReference(keyID: "k/e1", version: 1)
        let kept = try KeyReference(keyID: "k/e1", version: 2)
        let (_, oldCommitment) = try await CustodyTests.importKey(ring, key: old)
        let (_, keptCommitment) = try await CustodyTests.importKey(ring, key: kept)
        let expected: [KeyReference: ExpectedShare] = [
            old: ExpectedShare(participant: try ParticipantID(1), commitment: oldCommitment),
            kept: ExpectedShare(participant: try ParticipantID(1), commitment: keptCommitment),
        ]
        let state = CustodianState(ring.custodians[0])
        #expect(await ring.attestor.reattest(ring.clients[0], state: state, expecting: expected).isHealthy)

        guard case .sharesForgotten(let forgotten) = try await ring.request(
            0, .forgetShares(try ForgetSharesRequest(keys: [old, try KeyReference(keyID: "never", version: 1)])))
        else { throw CustodyTests.CustodyFailure("no forget answer") }
        #expect(forgotten.zeroisedShares == 1)
        // The ledger without the forgotten version matches; the old ledger now misses a proof.
        let after = await ring.attestor.reattest(ring.clients[0], state: state, expecting: [kept: expected[kept]!])
        #expect(after.isHealthy, "\(String(describing: after.refusal))")
        let stale = await ring.attestor.reattest(
            ring.clients[0], state: CustodianState(ring.custodians[0]), expecting: expected)
        #expect(stale.refusal?.refusalCodes.contains(.possessionMissing) == true)
        // The forgotten share no longer decrypts; the kept one does.
        let ciphertext = try ThresholdHPKE.seal(plaintext: [1], to: oldCommitment.publicKey, info: [])
        #expect(await ring.refusal(0, .partialDecryptRequest(try PartialDecryptRequest(key: old, ciphertext: ciphertext, context: [1]))) == .unknownKey)
        #expect(await ring.refusal(1, .partialDecryptRequest(try PartialDecryptRequest(key: old, ciphertext: ciphertext, context: [1]))) == nil)
        // Forgetting again is not an error.
        guard case .sharesForgotten(let again) = try await ring.request(0, .forgetShares(try ForgetSharesRequest(keys: [old])))
        else { throw CustodyTests.CustodyFailure("no second forget answer") }
        #expect(again.zeroisedShares == 0)
        // Without a session it is refused like every share operation.
        let foreign = try await ring.agents[0].connect()
        await #expect(throws: AgentProtocolError.self) {
            _ = try await foreign.request(.forgetShares(try ForgetSharesRequest(keys: [kept])))
        }
        try? await foreign.close()
    }
}
