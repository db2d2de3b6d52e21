import AgentProtocol
import Attestation
import CustodianAgent
import Foundation
import ShardCrypto
import TPM2
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `keyshard-agent` as a real process on a real swtpm, driven by the coordinator-side checks.
@Suite("keyshard-agent process", .serialized)
struct CustodianAgentTests {
    /// Pins every agent needs on its command line (values only; these tests never open a session).
    static let pins = [
        "--coordinator-key", CoordinatorIdentity().publicKey.hex, "--ek-root-sha256", String(repeating: "ab", count: 32),
    ]

    static func refusalCode(_ body: () async throws -> Void) async -> AgentErrorCode? {
        do {
            try await body()
            return nil
        } catch let error as AgentProtocolError {
            return error.remote?.code
        } catch {
            return nil
        }
    }

    @Test("attest, activate, deliver, heartbeat, partial decrypt, FROST sign, destroy")
    func fullFlow() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()
        let evidence = try await Coordinator.attest(client, agent: agent)

        // Deliver share 1 of a 2-of-3 key.
        let secret = Scalar.random()
        let (shares, commitment) = try Shamir.split(secret: secret, threshold: 2, participants: 3)
        let key = try KeyReference(keyID: "master", version: 1)
        let sealed = try ShareSealing.seal(share: shares[0], to: evidence.transportKey, key: key)
        let delivery = try ShareDelivery(
            key: key, participant: shares[0].id, sealedShare: sealed, commitment: commitment)
        guard case .shareAccepted(let accepted) = try await client.request(.deliverShare(delivery)) else {
            Issue.record("no acceptance")
            return
        }
        #expect(accepted.publicShare == commitment.publicShare(for: shares[0].id))

        // Heartbeat: a fresh quote bound to the nonce and the transport key, and a proof of possession.
        let beatNonce = Nonce.random()
        let beatRequest = AgentMessage.heartbeatRequest(HeartbeatRequest(nonce: beatNonce))
        guard case .heartbeat(let beat) = try await client.request(beatRequest) else {
            Issue.record("no heartbeat")
            return
        }
        let beatData = EvidenceBinding.heartbeat(nonce: beatNonce, transportKey: evidence.transportKey)
        let beatEvidence = Coordinator.verifierEvidence(
            akPublic: evidence.attestationKeyPublic, quote: beat.quote, signature: beat.quoteSignature,
            pcrValues: beat.pcrValues, qualifyingData: beatData)
        #expect(QuoteVerifier(policy: Coordinator.policy).verify(beatEvidence, nonce: beatData) == .accepted)
        let proof = try #require(beat.proofs.first)
        #expect(beat.proofs.count == 1 && proof.key == key)
        let bound = EvidenceBinding.possession(nonce: beatNonce, transportKey: evidence.transportKey, key: key)
        #expect(proof.proof.verify(id: shares[0].id, publicShare: accepted.publicShare, nonce: bound))
        // The bare nonce, or the quote's binding, is not what the proof answers.
        #expect(!proof.proof.verify(id: shares[0].id, publicShare: accepted.publicShare, nonce: beatNonce.bytes))
        #expect(!proof.proof.verify(id: shares[0].id, publicShare: accepted.publicShare, nonce: Array(beatData)))

        let publicShares = Dictionary(uniqueKeysWithValues: shares.map { ($0.id, commitment.publicShare(for: $0.id)) })

        // Threshold decryption with the agent's partial and a local one.
        let plaintext = Array("the agent helped decrypt this".utf8)
        let info = Array("keyshard test".utf8)
        let ciphertext = try ThresholdHPKE.seal(plaintext: plaintext, to: commitment.publicKey, info: info)
        let context = Array("request-1".utf8)
        let partialRequest = try PartialDecryptRequest(key: key, ciphertext: ciphertext, context: context)
        guard case .partialDecryption(let partial) = try await client.request(.partialDecryptRequest(partialRequest))
        else {
            Issue.record("no partial")
            return
        }
        let local = try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: shares[1], context: context)
        let opened = try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: [partial.partial, local], publicKey: commitment.publicKey,
            publicShares: publicShares, threshold: 2, info: info, context: context)
        #expect(opened.withUnsafeBytes { Array($0) } == plaintext)

        // FROST: the agent signs with participant 2 (local).
        let session = SessionID.random()
        guard case .signingCommitment(let round1) = try await client.request(
            .signRound1Request(SignRound1Request(key: key, session: session)))
        else {
            Issue.record("no commitment")
            return
        }
        let (localNonces, localCommitment) = FROST.commit(share: shares[1])
        let commitments = [round1.commitment, localCommitment].sorted { $0.id < $1.id }
        let message = Array("sign me".utf8)
        let round2 = try SignRound2Request(key: key, session: session, message: message, commitments: commitments)
        guard case .signatureShare(let remoteShare) = try await client.request(.signRound2Request(round2)) else {
            Issue.record("no signature share")
            return
        }
        let localShare = try FROST.sign(
            share: shares[1], nonces: localNonces, message: message, commitments: commitments,
            groupPublicKey: commitment.publicKey)
        _ = try FROST.aggregate(
            shares: [remoteShare.share, localShare], message: message, commitments: commitments,
            groupPublicKey: commitment.publicKey, publicShares: publicShares)
        // A second round two for the same session is refused: nonces are single-use.
        #expect(await Self.refusalCode { _ = try await client.request(.signRound2Request(round2)) } == .refused)

        // Destroy: the share is zeroised, then the process exits by itself.
        guard case .destroyed(let destroyed) = try await client.request(.destroy(try DestroyRequest(reason: "test")))
        else {
            Issue.record("no destroyed answer")
            return
        }
        #expect(destroyed.zeroisedShares == 1)
        #expect(agent.waitForExit(seconds: 10) == 0)
        // The log never shows the share.
        #expect(!agent.logText.contains(shares[0].value.serialized().hexString))
        #expect(agent.logText.contains("destroyed on request"))
        try? await client.close()
    }

    @Test("refusals: share operations before attestation, activation before evidence, a wrong nonce, a bad share")
    func refusals() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()
        let key = try KeyReference(keyID: "master", version: 1)
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)

        // Before anything: every share or key operation is refused: there is no session.
        #expect(await Self.refusalCode {
            _ = try await client.request(.heartbeatRequest(HeartbeatRequest(nonce: .random())))
        } == .noSession)
        #expect(await Self.refusalCode {
            _ = try await client.request(.signRound1Request(SignRound1Request(key: key, session: .random())))
        } == .noSession)
        #expect(await Self.refusalCode {
            let request = try ActivateCredential(credentialBlob: [0, 1, 0], encryptedSecret: [0, 1, 0])
            _ = try await client.request(.activateCredential(request))
        } == .notAttested)

        // Evidence issued but not activated: a share delivery is still refused.
        let nonce = Nonce.random()
        guard case .evidence(let evidence) = try await client.request(.challenge(Challenge(nonce: nonce))) else {
            Issue.record("no evidence")
            return
        }
        let sealed = try ShareSealing.seal(share: shares[0], to: evidence.transportKey, key: key)
        let delivery = try ShareDelivery(
            key: key, participant: shares[0].id, sealedShare: sealed, commitment: commitment)
        #expect(await Self.refusalCode { _ = try await client.request(.deliverShare(delivery)) } == .noSession)

        // The verifier refuses the evidence for another nonce (a replay) and another transport key.
        let verifier = QuoteVerifier(policy: Coordinator.policy)
        let right = EvidenceBinding.evidence(nonce: nonce, transportKey: evidence.transportKey)
        let wrong = EvidenceBinding.evidence(nonce: .random(), transportKey: evidence.transportKey)
        let otherKey = try TransportPublicKey(privateKey: .random())
        let swapped = EvidenceBinding.evidence(nonce: nonce, transportKey: otherKey)
        #expect(
            verifier.verify(Coordinator.verifierEvidence(evidence, qualifyingData: right), nonce: right) == .accepted)
        #expect(verifier.verify(Coordinator.verifierEvidence(evidence, qualifyingData: wrong), nonce: wrong)
            .refusalCodes.contains(.quoteNonce))
        #expect(verifier.verify(Coordinator.verifierEvidence(evidence, qualifyingData: swapped), nonce: swapped)
            .refusalCodes.contains(.quoteNonce))

        // A credential made for another AK name does not activate, and enables nothing.
        let (ek, _) = try Coordinator.endorsementKey(certificateDER: evidence.endorsementKeyCertificate)
        let misbound = try MadeCredential(
            credential: [1, 2, 3], objectName: [0x00, 0x0b] + [UInt8](repeating: 7, count: 32), endorsementKey: ek)
        #expect(await Self.refusalCode {
            let request = try ActivateCredential(
                credentialBlob: misbound.credentialBlob, encryptedSecret: misbound.encryptedSecret)
            _ = try await client.request(.activateCredential(request))
        } == .tpmFailure)
        #expect(await Self.refusalCode { _ = try await client.request(.deliverShare(delivery)) } == .noSession)

        // After attestation: a share that fails its commitment is refused, the right one accepted.
        let attested = try await Coordinator.attest(client, agent: agent)
        let (_, otherCommitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let resealed = try ShareSealing.seal(share: shares[0], to: attested.transportKey, key: key)
        let bad = try ShareDelivery(
            key: key, participant: shares[0].id, sealedShare: resealed, commitment: otherCommitment)
        #expect(await Self.refusalCode { _ = try await client.request(.deliverShare(bad)) } == .invalidShare)
        // Sealed to another transport key: does not open.
        let foreign = try ShareSealing.seal(share: shares[0], to: otherKey, key: key)
        let misdirected = try ShareDelivery(
            key: key, participant: shares[0].id, sealedShare: foreign, commitment: commitment)
        #expect(await Self.refusalCode { _ = try await client.request(.deliverShare(misdirected)) } == .invalidShare)
        let good = try ShareDelivery(key: key, participant: shares[0].id, sealedShare: resealed, commitment: commitment)
        guard case .shareAccepted = try await client.request(.deliverShare(good)) else {
            Issue.record("the good share was not accepted")
            return
        }
        // A second share for the same key version is refused.
        #expect(await Self.refusalCode { _ = try await client.request(.deliverShare(good)) } == .refused)
        // Redistribution with a bad sub-share: refused, naming no secret, nothing kept.
        let (oldShares, oldCommitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let newKey = try KeyReference(keyID: "reshared", version: 2)
        let newIDs = oldShares.map(\.id)
        let dealings = try oldShares.prefix(2).map {
            try Redistribution.deal(share: $0, newThreshold: 2, newParticipants: newIDs)
        }
        let honest = try ShareSealing.seal(
            subShare: try #require(dealings[0].subShares.first { $0.to == newIDs[0] }),
            to: attested.transportKey, newKey: newKey)
        let forged = try ShareSealing.seal(
            subShare: Redistribution.SubShare(from: dealings[1].from, to: newIDs[0], value: .random()),
            to: attested.transportKey, newKey: newKey)
        let badReceive = try RedistributeReceiveRequest(
            newKey: newKey, participant: newIDs[0], newThreshold: 2, oldCommitment: oldCommitment,
            dealings: dealings.map(\.publicDealing),
            dealingProofs: try zip(oldShares.prefix(2), dealings).map { share, dealing in
                try PossessionProof.prove(
                    share: share,
                    nonce: try RedistributeDealing.binding(dealing: dealing.publicDealing, newKey: newKey, newThreshold: 2))
            },
            subShares: [honest, forged])
        #expect(await Self.refusalCode {
            _ = try await client.request(.redistributeReceiveRequest(badReceive))
        } == .invalidShare)

        // Unknown key.
        let otherKeyRef = try KeyReference(keyID: "other", version: 1)
        #expect(await Self.refusalCode {
            _ = try await client.request(.signRound1Request(SignRound1Request(key: otherKeyRef, session: .random())))
        } == .unknownKey)
        try? await client.close()
    }

    @Test("frames over the limit and garbage bytes close that connection; the agent keeps serving")
    func hostileBytes() async throws {
        let eventLog = "/tmp/ks-eventlog-\(UUID().uuidString.prefix(8))"
        let logBytes: [UInt8] = Array("a stand-in for binary_bios_measurements".utf8)
        try Data(logBytes).write(to: URL(fileURLWithPath: eventLog))
        defer { unlink(eventLog) }
        let agent = try AgentProcess.start(extraArguments: ["--event-log", eventLog])
        defer { agent.stop() }

        let oversized = try RawConnection(path: agent.socketPath)
        // A header announcing 4 GiB: refused at once, without waiting for the payload.
        oversized.send(FrameCodec.magic + [FrameCodec.version, 0, 0x03, 0x01] + [0, 0, 0, 0, 0, 0, 0, 1]
            + [0xff, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 10))
        let refusal = try #require(oversized.readErrorFrame())
        #expect(refusal.code == .frameTooLarge)
        #expect(oversized.isClosedByPeer())

        let garbage = try RawConnection(path: agent.socketPath)
        garbage.send((0..<200).map { _ in UInt8.random(in: 0...255) })
        if let answer = garbage.readErrorFrame() {
            #expect([AgentErrorCode.malformedFrame, .frameTooLarge].contains(answer.code))
        }
        #expect(garbage.isClosedByPeer())

        // Still alive and answering.
        #expect(agent.process.isRunning)
        let client = try await agent.connect()
        guard case .evidence(let evidence) = try await client.request(.challenge(Challenge(nonce: .random()))) else {
            Issue.record("the agent stopped answering")
            return
        }
        // The event log travels in the evidence as read.
        #expect(evidence.eventLog == logBytes)
        try? await client.close()
    }

    @Test("SIGTERM zeroises the held share and exits 0")
    func terminationSignal() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()
        let evidence = try await Coordinator.attest(client, agent: agent)
        let key = try KeyReference(keyID: "master", version: 1)
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 2)
        let sealed = try ShareSealing.seal(share: shares[1], to: evidence.transportKey, key: key)
        let delivery = try ShareDelivery(
            key: key, participant: shares[1].id, sealedShare: sealed, commitment: commitment)
        guard case .shareAccepted = try await client.request(.deliverShare(delivery)) else {
            Issue.record("no acceptance")
            return
        }
        kill(agent.process.processIdentifier, SIGTERM)
        #expect(agent.waitForExit(seconds: 10) == 0)
        #expect(agent.logText.contains("zeroised and exiting"))
        #expect(agent.logText.contains("shares=1"))
        try? await client.close()
    }

    @Test("--help explains every option and exits 0")
    func help() throws {
        let result = try ProcessRunner.run(AgentProcess.executable.path, ["--help"], timeout: 60)
        let output = result.standardOutput
        #expect(result.status == 0)
        for option in [
            "--transport", "--tcti", "--pcrs", "--event-log", "--ek", "--no-mlock", "virtio-serial:", "--kernel-cmdline",
            "--coordinator-key", "--ek-root-sha256", "--min-threshold",
        ] {
            #expect(output.contains(option), "\(option)")
        }
    }

    @Test("bad command lines exit with status 64 and say why")
    func usage() throws {
        let result = try ProcessRunner.run(
            AgentProcess.executable.path, ["--transport", "unix:/tmp/x.sock"] + Self.pins, timeout: 60)
        let output = result.standardError
        #expect(result.status == 64)
        #expect(output.contains("--tcti is required"))
        let options = try AgentOptions(arguments: [
            "--transport", "vsock-listen:5000", "--tcti", "device:/dev/tpmrm0", "--ek", "rsa", "--no-mlock",
        ] + Self.pins)
        #expect(options.endorsementKey == .rsa2048 && !options.lockMemory && options.tcti == "device:/dev/tpmrm0")
        #expect(try AgentOptions(arguments: ["--transport", "unix:/tmp/a", "--tcti", "x"] + Self.pins).endorsementKey == nil)
        #expect(throws: AgentOptionsError.self) {
            try AgentOptions(arguments: ["--transport", "unix:/tmp/a", "--tcti", "x", "--ek", "dsa"] + Self.pins)
        }
        #expect(throws: AgentOptionsError.self) {
            try AgentOptions(arguments: ["--transport", "tcp:1", "--tcti", "x"])
        }
        #expect(throws: AgentOptionsError.self) { try AgentOptions.parseSelection("md5:1") }
        #expect(throws: AgentOptionsError.self) { try AgentOptions.parseSelection("sha256:24") }
        #expect(
            try AgentOptions.parseSelection("sha256:9,0,4") == TPMPCRSelection(bank: .sha256, indexes: [0, 4, 9]))
    }
}

/// A blocking Unix-socket client that sends raw bytes, for what a well-behaved client never sends.
final class RawConnection {
    let descriptor: CInt

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8.prefix($0.count - 1)) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw AgentProtocolError(.connectionClosed, "raw connect failed: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next frame if it is an error frame.
    func readErrorFrame() -> ErrorMessage? {
        var reader = FrameReader()
        while true {
            if let frame = try? reader.nextFrame() {
                guard case .error(let body) = try? AgentMessage(frame: frame) else { return nil }
                return body
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            reader.append(chunk[0..<count])
        }
    }

    /// Whether the agent closed the connection (end of stream, or a reset with our bytes unread).
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, 0)
        return count == 0 || (count < 0 && errno == ECONNRESET)
    }
}

/// DKG limits of one agent (runs across several real agents are in CustodyTests).
@Suite("keyshard-agent DKG limits", .serialized)
struct CustodianAgentDKGTests {
    @Test("an agent keeps at most 16 DKG runs open, and one run per key version")
    func dkgRunsAreBounded() async throws {
        let agent = try AgentProcess.start()
        defer { agent.stop() }
        let client = try await agent.connect()
        _ = try await Coordinator.attest(client, agent: agent)
        let ids = try [1, 2].map { try ParticipantID(UInt16($0)) }
        let parameters = try DKG.Parameters(threshold: 2, participants: ids, context: Array("bounded".utf8))
        func start(_ version: UInt32) throws -> AgentMessage {
            .dkgRound1Request(
                try DKGRound1Request(
                    key: try KeyReference(keyID: "dkg-bound", version: version), participant: ids[0],
                    parameters: parameters))
        }
        for version in 1...16 { _ = try await client.request(try start(UInt32(version))) }
        #expect(await CustodianAgentTests.refusalCode { _ = try await client.request(try start(17)) } == .refused)
        #expect(await CustodianAgentTests.refusalCode { _ = try await client.request(try start(3)) } == .refused)
        try? await client.close()
    }
}
