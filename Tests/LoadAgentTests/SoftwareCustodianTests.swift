import AgentProtocol
import Attestation
import Coordinator
import Crypto
import CustodianAgent
import Foundation
import LoadAgent
import Logging
import PeerAttestation
import ShardCrypto
import TPM2
import Testing

/// The fleet benchmark's software custodians: they must pass the coordinator's real admission and
/// heartbeat checks (or the benchmark measures a failure path), and they must be refused by any
/// policy whose EK roots are not the benchmark's own CA (or a software TPM could pose as a custodian).
@Suite(.serialized)
struct SoftwareCustodianTests {
    static let zeros = [UInt8](repeating: 0, count: 32)
    static let policy = AttestationPolicy(
        name: "software-fleet", pcrBank: .sha256, allowedPCRValues: [0: [zeros], 4: [zeros], 9: [zeros]])

    /// Runs `body` with one software custodian pinned to `identity` and its CA, on a socket in a scratch directory.
    static func withCustodian(
        identity: CoordinatorIdentity, _ body: (AgentClient, SoftwareEndorsementCA, String) async throws -> Void
    ) async throws {
        let directory = "/tmp/ksload-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try SoftwareEndorsementCA()
        var logger = Logger(label: "software-custodian")
        logger.logLevel = .warning
        let fleet = AgentFleet(directory: directory, authority: authority, logger: logger)
        let pins = try AgentPins(
            coordinatorKey: identity.publicKey, endorsementRootDigests: [Array(SHA256.hash(data: authority.rootDER))])
        let path = try await fleet.launch(id: "c1", pins: pins)
        let client = try await UnixSocketTransport(path: path).connect(options: AgentConnectionOptions())
        do {
            try await body(client, authority, path)
        } catch {
            try? await client.close()
            await fleet.destroyAll()
            throw error
        }
        try? await client.close()
        await fleet.destroyAll()
        #expect(await fleet.count == 0)
    }

    @Test("a software custodian passes the real admission ceremony and heartbeats under its CA's root")
    func admittedUnderItsOwnRoot() async throws {
        let identity = CoordinatorIdentity()
        try await Self.withCustodian(identity: identity) { client, authority, _ in
            let attestor = CustodianAttestor(policy: Self.policy, identity: identity, endorsementRootsPEM: [authority.rootPEM])
            let attested = try await attestor.attest(client)
            let state = CustodianState(attested)
            for _ in 0..<3 {
                let health = await attestor.reattest(client, state: state, expecting: [:])
                #expect(health.isHealthy, "\(String(describing: health.refusal))")
            }
        }
    }

    @Test("a policy trusting another EK root refuses a software custodian at admission")
    func refusedUnderAnotherRoot() async throws {
        let identity = CoordinatorIdentity()
        try await Self.withCustodian(identity: identity) { client, _, _ in
            let realDeploymentRoot = try SoftwareEndorsementCA()  // stands for a TPM vendor's or a host's swtpm CA
            let attestor = CustodianAttestor(
                policy: Self.policy, identity: identity, endorsementRootsPEM: [realDeploymentRoot.rootPEM])
            do {
                _ = try await attestor.attest(client)
                Issue.record("a software custodian was admitted under a root that never certified it")
            } catch let error as CoordinatorError {
                #expect(error.code == .endorsementRefused, "\(error)")
            }
        }
    }

    @Test("a new coordinator session abandons the previous session's unfinished DKG runs")
    func newSessionAbandonsUnfinishedRuns() async throws {
        let identity = CoordinatorIdentity()
        try await Self.withCustodian(identity: identity) { client, authority, path in
            let attestor = CustodianAttestor(policy: Self.policy, identity: identity, endorsementRootsPEM: [authority.rootPEM])
            _ = try await attestor.attest(client)
            let key = try KeyReference(keyID: "k", version: 1)
            let parameters = try DKG.Parameters(
                threshold: 2, participants: [try ParticipantID(1), try ParticipantID(2)], context: Array("run".utf8))
            let round1 = AgentMessage.dkgRound1Request(
                try DKGRound1Request(key: key, participant: try ParticipantID(1), parameters: parameters))
            guard case .dkgRound1Package = try await client.request(round1) else {
                Issue.record("no round-1 package")
                return
            }
            // The same session cannot start the run twice (a relay replaying round 1 gets nothing new)…
            await #expect(throws: (any Error).self) { _ = try await client.request(round1) }
            // …but after a coordinator restart (a new attestation and session) the run starts over,
            // instead of being refused forever because the crashed daemon never finished it.
            let again = try await UnixSocketTransport(path: path).connect(options: AgentConnectionOptions())
            defer { Task { try? await again.close() } }
            _ = try await attestor.attest(again)
            guard case .dkgRound1Package = try await again.request(round1) else {
                Issue.record("the run was not started over in the new session")
                return
            }
        }
    }

    @Test("the software TPM activates only a credential made for its EK and its AK's name")
    func activationIsBoundToTheEKAndName() throws {
        let tpm = try SimulatedTPM(authority: try SoftwareEndorsementCA())
        let identity = try tpm.createAttestationIdentity(endorsementKey: .eccP256)
        let ek = try TPMPublic(parsing: identity.endorsementKeyPublic)
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let made = try MadeCredential(credential: secret, objectName: identity.attestationKeyName, endorsementKey: ek)
        #expect(try tpm.activateCredential(credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret) == secret)

        var otherName = identity.attestationKeyName
        otherName[otherName.count - 1] ^= 1
        let forOtherName = try MadeCredential(credential: secret, objectName: otherName, endorsementKey: ek)
        #expect(throws: TPMDeviceError.self) {
            try tpm.activateCredential(credentialBlob: forOtherName.credentialBlob, encryptedSecret: forOtherName.encryptedSecret)
        }
        let otherTPM = try SimulatedTPM(authority: try SoftwareEndorsementCA())
        let otherEK = try TPMPublic(parsing: try otherTPM.createAttestationIdentity(endorsementKey: .eccP256).endorsementKeyPublic)
        let forOtherEK = try MadeCredential(credential: secret, objectName: identity.attestationKeyName, endorsementKey: otherEK)
        #expect(throws: TPMDeviceError.self) {
            try tpm.activateCredential(credentialBlob: forOtherEK.credentialBlob, encryptedSecret: forOtherEK.encryptedSecret)
        }
    }
}

/// The software TPM must never reach a real custodian: `keyshard-agent` does not link `LoadAgent`.
@Suite struct LoadAgentIsolationTests {
    @Test("keyshard-agent's binary carries CustodianAgent but nothing of LoadAgent")
    func agentBinaryHasNoSimulatedTPM() throws {
        let agent = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("keyshard-agent")
        let binary = try Data(contentsOf: agent)
        func contains(_ text: String) -> Bool { binary.range(of: Data(text.utf8)) != nil }
        // The positive control: type names of the agent's own module are in its metadata.
        #expect(contains("CustodianAgent"))
        #expect(contains("CustodianTPM"))
        #expect(!contains("SimulatedTPM"))
        #expect(!contains("SoftwareEndorsementCA"))
        #expect(!contains("AgentFleet"))
    }
}
