import AgentProtocol
import Attestation
import Coordinator
import Foundation
import ShardCrypto
import TestSupport
import TPM2
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The coordinator's attestation ceremony (``CustodianAttestor``) against a real agent process
/// on its own swtpm: what it accepts, and each step's refusal.
@Suite("Coordinator attestation ceremony", .serialized)
struct CeremonyTests {
    static func code(_ body: () async throws -> Void) async -> CoordinatorError.Code? {
        do {
            try await body()
            return nil
        } catch let error as CoordinatorError {
            return error.code
        } catch {
            return nil
        }
    }

    @Test("the agent quotes exactly the policy's PCR selection; the AK is tied to the certified EK")
    func acceptsAndFollowsThePolicySelection() async throws {
        let agent = try AgentProcess.start()  // started with --pcrs sha256:0,4,9
        defer { agent.stop() }
        let client = try await agent.connect()
        let narrow = AttestationPolicy(name: "pcr-9-only", pcrBank: .sha256, allowedPCRValues: [9: [Coordinator.zeros]])
        let attested = try await Coordinator.attest(client, agent: agent, policy: narrow)
        let quote = try #require(try TPMAttestation(parsing: attested.evidence.quoteMessage).quote)
        #expect(quote.selections == [TPMPCRSelection(bank: .sha256, indexes: [9])])
        #expect(attested.attestationKeyName == (try TPMPublic(parsing: attested.attestationKeyPublic).name()))
        // The agent logs its own memory when admitted (the only view of it from outside a VM).
        let activation = agent.logText.split(separator: "\n").first { $0.contains("credential activated") }
        let peak = activation?.split(separator: " ").first { $0.hasPrefix("peakRssKiB=") }?.dropFirst(11)
        #expect(peak.flatMap { Int($0) }.map { $0 > 1024 } == true, "\(activation ?? "no activation line")")
        // Heartbeats keep the selection the accepted challenge asked for.
        let nonce = Nonce.random()
        guard case .heartbeat(let beat) = try await client.request(.heartbeatRequest(HeartbeatRequest(nonce: nonce)))
        else {
            Issue.record("no heartbeat")
            return
        }
        #expect(try TPMAttestation(parsing: beat.quote).quote?.selections == quote.selections)
        try? await client.close()
    }

    /// keyshardd's admission retries a fresh connection only when the channel dropped the first
    /// (a virtio-serial port being reopened), never after a refusal: the error says which it was
    /// in a typed field, not in its text.
    @Test("a channel that drops the connection is a transport failure (a refusal is not: see refusals())")
    func droppedChannelIsATransportFailure() async throws {
        let path = "/tmp/ks-drop-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(listener, 4) == 0)
        // Accept one connection and close it before answering anything, as a reopening port does.
        let dropper = Thread {
            let connection = accept(listener, nil, nil)
            if connection >= 0 { close(connection) }
        }
        dropper.start()

        let client = try await AgentClient.connect(to: .unix(path: path))
        var dropped: CoordinatorError?
        do {
            _ = try await CustodianAttestor(policy: Coordinator.policy, identity: Coordinator.identity).attest(client)
        } catch {
            dropped = error
        }
        try? await client.close()
        #expect(dropped?.code == .agentFailed, "\(String(describing: dropped))")
        #expect(dropped?.transportFailure == .connectionClosed, "\(String(describing: dropped))")
    }

    @Test("refusals: PCRs outside the policy, an EK root from another CA, no EK roots at all")
    func refusals() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()

        let elsewhere = AttestationPolicy(
            name: "other-boot", pcrBank: .sha256, allowedPCRValues: [9: [[UInt8](repeating: 0x5a, count: 32)]])
        var refusal: CoordinatorError?
        do {
            try await Coordinator.attest(client, agent: agent, policy: elsewhere)
        } catch let error as CoordinatorError {
            refusal = error
        }
        #expect(refusal?.code == .evidenceRefused)
        #expect(refusal?.reason.contains("pcr.value") == true, "\(String(describing: refusal))")
        #expect(refusal?.transportFailure == nil, "a refusal is no transport failure: \(String(describing: refusal))")

        let otherCA = try SoftwareTPM.start(endorsementCertificates: true)
        defer { otherCA.stop() }
        let foreignRoot = String(decoding: try otherCA.file("ca/issuercert.pem"), as: UTF8.self)
        #expect(await Self.code {
            _ = try await CustodianAttestor(policy: Coordinator.policy, identity: Coordinator.identity, endorsementRootsPEM: [foreignRoot])
                .attest(client)
        } == .endorsementRefused)
        #expect(await Self.code {
            _ = try await CustodianAttestor(policy: Coordinator.policy, identity: Coordinator.identity).attest(client)
        } == .endorsementRefused)

        // None of the refused ceremonies sent ActivateCredential, so share operations stay refused.
        guard case .evidence(let evidence) = try await client.request(.challenge(Challenge(nonce: .random()))) else {
            Issue.record("no evidence")
            return
        }
        let key = try KeyReference(keyID: "k", version: 1)
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 2)
        let delivery = try ShareDelivery(
            key: key, participant: shares[0].id,
            sealedShare: try ShareSealing.seal(share: shares[0], to: evidence.transportKey, key: key),
            commitment: commitment)
        var remote: AgentErrorCode?
        do {
            _ = try await client.request(.deliverShare(delivery))
        } catch {
            remote = error.remote?.code
        }
        #expect(remote == .noSession)
        try? await client.close()
    }
}
