import AgentProtocol
import Attestation
import Crypto
import Coordinator
import CustodianBackend
import Engine
import Foundation
import KeyshardAPI
import ProcessBackend
import ShardCrypto
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The engine end to end on the process backend: real agents on real swtpms attested against the
/// backend's policy, keys made by DKG inside them, threshold operations, custodians killed and
/// replaced, restarts and rotations.
@Suite("Engine on real custodians", .serialized)
struct EngineTests {
    /// Seals to a version's public key with swift-crypto's HPKE (another RFC 9180 implementation),
    /// in keyshard's `enc ‖ ct` form.
    static func sealWithSwiftCrypto(_ plaintext: [UInt8], to compressed: [UInt8], info: [UInt8]) throws -> KeyshardCiphertext
    {
        let recipient = try P256.KeyAgreement.PublicKey(compressedRepresentation: compressed)
        var sender = try HPKE.Sender(recipientKey: recipient, ciphersuite: .P256_SHA256_AES_GCM_256, info: Data(info))
        let ciphertext = try sender.seal(plaintext)
        return KeyshardCiphertext(version: 1, bytes: Array(sender.encapsulatedKey) + Array(ciphertext))
    }

    static func bytes(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }

    @Test("a DKG key decrypts what another HPKE library sealed; a FROST key signs; rotate, config, trim")
    func keyLifecycle() async throws { try await EngineHarness.with(keyLifecycle) }

    func keyLifecycle(_ harness: EngineHarness) async throws {
        try await harness.start()
        let engine = harness.engine!

        let key = try await engine.createKey("payments", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        #expect(key.ring == "default" && key.threshold == 2 && key.shares == 3 && key.latestVersion == 1)
        let info = Array("payments/db".utf8)
        let secret = Array("card numbers".utf8)
        let foreign = try Self.sealWithSwiftCrypto(secret, to: key.versions[0].publicKey, info: info)
        #expect(Self.bytes(try await engine.decrypt("payments", ciphertext: foreign, context: info)) == secret)
        // The wrong context is refused, not garbage.
        await #expect(throws: KeyshardError.self) {
            _ = try await engine.decrypt("payments", ciphertext: foreign, context: Array("other".utf8))
        }

        let signing = try await engine.createKey("releases", type: .frostP256, ring: nil, threshold: nil, shares: nil)
        let message = Array("release 1.0".utf8)
        let signature = try await engine.sign("releases", message: message, version: nil)
        #expect(signature.bytes.count == 65)
        let parsed = try FROST.Signature(serialized: signature.bytes)
        #expect(FROST.verify(signature: parsed, message: message, publicKey: try Point(sec1: signing.versions[0].publicKey)))
        #expect(try await engine.verify("releases", message: message, signature: signature))
        #expect(try await engine.verify("releases", message: Array("forged".utf8), signature: signature) == false)
        // Purposes are separate.
        let wrongType = await #expect(throws: KeyshardError.self) {
            _ = try await engine.sign("payments", message: message, version: nil)
        }
        #expect(wrongType?.code == .unsupported)

        // Rotation adds a version; old ciphertexts still decrypt until retired.
        let rotated = try await engine.rotateKey("payments")
        #expect(rotated.latestVersion == 2 && rotated.versions.count == 2)
        #expect(rotated.versions[0].publicKey != rotated.versions[1].publicKey)
        let fresh = try await engine.encrypt("payments", plaintext: SecretBytes(secret), context: info, version: nil)
        #expect(fresh.version == 2)
        #expect(Self.bytes(try await engine.decrypt("payments", ciphertext: foreign, context: info)) == secret)
        let rewrapped = try await engine.rewrap("payments", ciphertext: foreign, context: info, version: nil)
        #expect(rewrapped.version == 2)
        _ = try await engine.configureKey("payments", KeyConfigChange(minDecryptionVersion: 2))
        let retired = await #expect(throws: KeyshardError.self) {
            _ = try await engine.decrypt("payments", ciphertext: foreign, context: info)
        }
        #expect(retired?.code == .unsupported && retired?.message.contains("retired") == true)
        let trimmed = try await engine.trimKey("payments", minimumVersion: 2)
        #expect(trimmed.minAvailableVersion == 2 && trimmed.versions.map(\.version) == [2])
        #expect(Self.bytes(try await engine.decrypt("payments", ciphertext: rewrapped, context: info)) == secret)
        // Every custodian forgot version 1 (its heartbeats, checked against the ledger, stay good).
        try await Task.sleep(for: .seconds(1.5))
        let custodians = try await engine.custodians(ring: "default")
        #expect(custodians.count == 3 && custodians.allSatisfy { $0.state == "healthy" })

        // An import of a known scalar: its public key is the scalar's, and it decrypts.
        let scalar = Scalar.random()
        let imported = try await engine.importKey(
            "imported", type: .hpkeP256, scalar: SecretBytes(scalar.serialized()), ring: nil, threshold: nil, shares: nil)
        #expect(imported.versions[0].publicKey == (try Point.generatorMultiple(scalar).compressed()))
        let sealed = try ThresholdHPKE.seal(plaintext: secret, to: Point.generatorMultiple(scalar), info: [])
        #expect(
            Self.bytes(try await engine.decrypt("imported", ciphertext: KeyshardCiphertext(version: 1, bytes: sealed), context: []))
                == secret)
        #expect(harness.auditLines.contains { $0.contains("\"event\":\"key.created\"") })
    }

    @Test("a SIGKILLed custodian is noticed, replaced and its ring re-shared; operations go on")
    func custodianKilled() async throws { try await EngineHarness.with(custodianKilled) }

    func custodianKilled(_ harness: EngineHarness) async throws {
        try await harness.start()
        let engine = harness.engine!
        let key = try await engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        let info = Array("i".utf8)
        let ciphertext = try Self.sealWithSwiftCrypto([1, 2, 3], to: key.versions[0].publicKey, info: info)
        let before = try await engine.custodians(ring: nil)
        let victim = try #require(before.first)
        let pid = try #require(Self.agentPID(harness, backendID: victim.backendID))
        kill(pid, SIGKILL)
        // Operations go on with the two others while the replacement is made.
        #expect(Self.bytes(try await engine.decrypt("k", ciphertext: ciphertext, context: info)) == [1, 2, 3])
        let replaced = await harness.eventually {
            let now = (try? await engine.custodians(ring: nil)) ?? []
            return now.count == 3 && !now.contains { $0.backendID == victim.backendID }
                && now.allSatisfy { $0.state == "healthy" && $0.epoch > victim.epoch }
        }
        #expect(replaced)
        #expect(Self.bytes(try await engine.decrypt("k", ciphertext: ciphertext, context: info)) == [1, 2, 3])
        let lines = harness.auditLines
        #expect(lines.contains { $0.contains("custodian.quarantined") && $0.contains(victim.backendID) })
        #expect(lines.contains { $0.contains("epoch.committed") && $0.contains("repair") })
    }

    /// The process backend, except that the agent of the first custodian it launches is SIGKILLed
    /// as soon as the launch returns: a custodian VM that powered off before its ceremony.
    final class LosingFirstLaunch: CustodianBackend, @unchecked Sendable {
        let base: ProcessBackend
        let directory: String
        private let launches = Mutex(0)
        let lost = Mutex<String?>(nil)
        init(_ base: ProcessBackend, directory: String) {
            self.base = base
            self.directory = directory
        }
        var kind: String { base.kind }
        func endorsementRootsPEM() throws(BackendError) -> [String] { try base.endorsementRootsPEM() }
        func attestationPolicy(for pins: CustodianPins) throws(BackendError) -> AttestationPolicy {
            try base.attestationPolicy(for: pins)
        }
        func place(_ request: PlacementRequest) async throws(BackendError) -> [UInt16: String] { try await base.place(request) }
        func checkAdmission(_ record: CustodianRecord, attested: AttestedCustodian) async throws(BackendError) {
            try await base.checkAdmission(record, attested: attested)
        }
        func launch(_ request: LaunchRequest) async throws(BackendError) -> CustodianRecord {
            let record = try await base.launch(request)
            if launches.withLock({ $0 += 1; return $0 }) == 1 {
                let file = directory + "/process/custodians/\(record.backendID)/record.json"
                if let data = FileManager.default.contents(atPath: file),
                    let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let pid = (json["agent"] as? [String: Any])?["pid"] as? Int
                {
                    kill(pid_t(pid), SIGKILL)
                    lost.withLock { $0 = record.backendID }
                }
            }
            return record
        }
        func discover() async throws(BackendError) -> [CustodianRecord] { try await base.discover() }
        func destroy(_ record: CustodianRecord) async throws(BackendError) { try await base.destroy(record) }
        var events: AsyncStream<BackendEvent> { base.events }
        func monitor() async { await base.monitor() }
    }

    @Test("a custodian lost before its ceremony finished is replaced by a fresh launch; the key is made")
    func custodianLostAtAdmission() async throws { try await EngineHarness.with(custodianLostAtAdmission) }

    func custodianLostAtAdmission(_ harness: EngineHarness) async throws {
        var losing: LosingFirstLaunch?
        try await harness.start(wrapBackend: { base in
            let backend = LosingFirstLaunch(base, directory: harness.directory.path)
            losing = backend
            return backend
        })
        let engine = harness.engine!
        let key = try await engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        let lost = try #require(losing?.lost.withLock { $0 }, "no agent was killed")
        let custodians = try await engine.custodians(ring: nil)
        #expect(custodians.count == 3 && !custodians.contains { $0.backendID == lost }, "\(custodians)")
        let lines = harness.auditLines
        #expect(lines.contains { $0.contains("custodian.destroyed") && $0.contains(lost) && $0.contains("admission failed") })
        let info = Array("i".utf8)
        let ciphertext = try Self.sealWithSwiftCrypto([4, 5], to: key.versions[0].publicKey, info: info)
        #expect(Self.bytes(try await engine.decrypt("k", ciphertext: ciphertext, context: info)) == [4, 5])
    }

    @Test("after a restart the engine rediscovers its custodians and serves the same key")
    func restart() async throws { try await EngineHarness.with(restart) }

    func restart(_ harness: EngineHarness) async throws {
        try await harness.start()
        let key = try await harness.engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        let before = try await harness.engine.custodians(ring: nil).map(\.backendID)
        await harness.stop()
        try await harness.start()
        let after = try await harness.engine.custodians(ring: nil)
        #expect(after.map(\.backendID) == before)
        #expect(try await harness.engine.key("k").versions[0].publicKey == key.versions[0].publicKey)
        let ciphertext = try Self.sealWithSwiftCrypto([9], to: key.versions[0].publicKey, info: [])
        #expect(Self.bytes(try await harness.engine.decrypt("k", ciphertext: ciphertext, context: [])) == [9])
    }

    @Test("a ring rotation replaces every custodian, keeps the public key, and a second one at once is busy")
    func ringRotation() async throws { try await EngineHarness.with(ringRotation) }

    func ringRotation(_ harness: EngineHarness) async throws {
        try await harness.start()
        let engine = harness.engine!
        let key = try await engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        let signer = try await engine.createKey("s", type: .frostP256, ring: nil, threshold: nil, shares: nil)
        let before = Set(try await engine.custodians(ring: nil).map(\.backendID))
        async let first = engine.rotateRing("default")
        try await Task.sleep(for: .milliseconds(300))
        let second = await #expect(throws: KeyshardError.self) { _ = try await engine.rotateRing("default") }
        #expect(second?.code == .busy)
        let rotated = try await first
        #expect(rotated.epoch > 1)
        let after = try await engine.custodians(ring: nil)
        #expect(after.count == 3 && before.isDisjoint(with: after.map(\.backendID)))
        #expect(try await engine.key("k").versions[0].publicKey == key.versions[0].publicKey)
        let ciphertext = try Self.sealWithSwiftCrypto([7], to: key.versions[0].publicKey, info: [])
        #expect(Self.bytes(try await engine.decrypt("k", ciphertext: ciphertext, context: [])) == [7])
        let signature = try await engine.sign("s", message: [1], version: nil)
        #expect(FROST.verify(
            signature: try FROST.Signature(serialized: signature.bytes), message: [1],
            publicKey: try Point(sec1: signer.versions[0].publicKey)))
        // The old custodians are gone.
        let running = Set(try await harness.backend.discover().map(\.backendID))
        #expect(running.isDisjoint(with: before))
    }

    @Test("a custodian answering a wrong partial or signature share is caught by its proof, quarantined and replaced")
    func misbehavingCustodian() async throws { try await EngineHarness.with(misbehavingCustodian) }

    func misbehavingCustodian(_ harness: EngineHarness) async throws {
        try await harness.start()
        let engine = harness.engine!
        let key = try await engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        let signer = try await engine.createKey("s", type: .frostP256, ring: nil, threshold: nil, shares: nil)
        let ciphertext = try Self.sealWithSwiftCrypto([4, 2], to: key.versions[0].publicKey, info: [])
        // The first custodian to answer lies: its partial decryption has the right shape but another
        // point, so its DLEQ proof fails.
        let liarBox = Mutex<String?>(nil)
        let opened = try await Engine.withTamperedAnswers({ record, answer in
            guard case .partialDecryption(let response) = answer,
                liarBox.withLock({ current in
                    if current == nil { current = record.backendID }
                    return current == record.backendID
                })
            else { return answer }
            let forged = PartialDecryption(
                id: response.partial.id, value: .generatorMultiple(.random()), proof: response.partial.proof)
            return .partialDecryption(PartialDecryptionResponse(key: response.key, partial: forged))
        }) {
            try await engine.decrypt("k", ciphertext: ciphertext, context: [])
        }
        #expect(Self.bytes(opened) == [4, 2])
        let liar = try #require(liarBox.withLock { $0 })
        #expect(await harness.eventually { !((try? await engine.custodians(ring: nil)) ?? []).contains { $0.backendID == liar } })
        #expect(harness.auditLines.contains { $0.contains("custodian.quarantined") && $0.contains(liar) && $0.contains("DLEQ") })
        // Wait for the repair, then a signer that lies about its share.
        #expect(await harness.eventually {
            let all = (try? await engine.custodians(ring: nil)) ?? []
            return all.count == 3 && all.allSatisfy { $0.state == "healthy" }
        })
        // Whichever custodian answers round two first lies.
        let chosen = Mutex<String?>(nil)
        let message = Array("sign this".utf8)
        let signature = try await Engine.withTamperedAnswers({ record, answer in
            guard case .signatureShare(let response) = answer,
                chosen.withLock({ current in
                    if current == nil { current = record.backendID }
                    return current == record.backendID
                })
            else { return answer }
            return .signatureShare(
                SignatureShareResponse(session: response.session, share: FROST.SignatureShare(id: response.share.id, value: .random())))
        }) {
            try await engine.sign("s", message: message, version: nil)
        }
        #expect(FROST.verify(
            signature: try FROST.Signature(serialized: signature.bytes), message: message,
            publicKey: try Point(sec1: signer.versions[0].publicKey)))
        let signingLiar = try #require(chosen.withLock { $0 })
        let signingLiarQuarantined = harness.auditLines.contains {
            $0.contains("custodian.quarantined") && $0.contains(signingLiar) && $0.contains("FROST")
        }
        #expect(signingLiarQuarantined)
        let decryptionLiarQuarantined = harness.auditLines.contains {
            $0.contains("custodian.quarantined") && $0.contains(liar) && $0.contains("DLEQ")
        }
        ReliabilityReport.record(
            .badInput, "a custodian returning a wrong partial decryption, then one returning a wrong signature share",
            held: Self.bytes(opened) == [4, 2] && decryptionLiarQuarantined && signingLiarQuarantined,
            detail: "both caught by their proofs, quarantined and replaced; the operations succeeded with the others")
    }

    @Test("custodians older than the maximum age are replaced one at a time; the key keeps working")
    func shortLives() async throws { try await EngineHarness.with(shortLives) }

    func shortLives(_ harness: EngineHarness) async throws {
        try await harness.start(configure: { $0.maximumCustodianAge = .seconds(4) })
        let engine = harness.engine!
        let key = try await engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        let ciphertext = try Self.sealWithSwiftCrypto([3], to: key.versions[0].publicKey, info: [])
        let original = Set(try await engine.custodians(ring: nil).map(\.backendID))
        var sawPartial = false
        let renewed = await harness.eventually(seconds: 90) {
            let now = (try? await engine.custodians(ring: nil)) ?? []
            let remaining = original.intersection(now.map(\.backendID)).count
            if remaining > 0, remaining < original.count { sawPartial = true }
            // Decryption works throughout.
            if let opened = try? await engine.decrypt("k", ciphertext: ciphertext, context: []) {
                #expect(Self.bytes(opened) == [3])
            }
            return now.count == 3 && remaining == 0
        }
        #expect(renewed)
        #expect(sawPartial, "custodians were replaced one at a time, not all at once")
        #expect(try await engine.key("k").versions[0].publicKey == key.versions[0].publicKey)
        #expect(harness.auditLines.contains { $0.contains("custodian.replaced") })
    }

    @Test("a policy reload re-attests every custodian at once; one that would leave the ring below threshold is refused, naming the PCR, and nothing changes")
    func policyReload() async throws { try await EngineHarness.with(policyReload) }

    func policyReload(_ harness: EngineHarness) async throws {
        let configured = Mutex<AttestationPolicy?>(nil)
        let source: @Sendable () throws -> AttestationPolicy? = { configured.withLock { $0 } }
        try await harness.start(policySource: source)
        let engine = harness.engine!
        _ = try await engine.createKey("k", type: .hpkeP256, ring: nil, threshold: nil, shares: nil)
        // The same rules again: nothing changes.
        let same = try await engine.reloadPolicy()
        #expect(same.accepted == 3 && same.replaced.isEmpty)
        // A policy that wants another firmware (PCR 0) than these swtpms report would refuse every
        // custodian: the reload is refused with the PCR named, and nothing changes.
        configured.withLock {
            $0 = AttestationPolicy(
                name: "other-firmware", pcrBank: .sha256, allowedPCRValues: [0: [[UInt8](repeating: 0xAB, count: 32)]])
        }
        let refused = await #expect(throws: KeyshardError.self) { _ = try await engine.reloadPolicy() }
        #expect(refused?.code == .unsupported && refused?.message.contains("pcr") == true, "\(String(describing: refused))")
        #expect(harness.auditLines.contains { $0.contains("policy.reload-refused") })
        let ids = Set(try await engine.custodians(ring: nil).map(\.backendID))
        try await Task.sleep(for: .seconds(1.5))  // heartbeats under the kept policy go on
        let after = try await engine.custodians(ring: nil)
        #expect(Set(after.map(\.backendID)) == ids && after.allSatisfy { $0.state == "healthy" })
        let ciphertext = try ThresholdHPKE.seal(plaintext: [8], to: try Point(sec1: try await engine.key("k").versions[0].publicKey), info: [])
        #expect(Self.bytes(try await engine.decrypt("k", ciphertext: KeyshardCiphertext(version: 1, bytes: ciphertext), context: [])) == [8])
    }

    /// The agent pid of a process-backend custodian, from its record.
    static func agentPID(_ harness: EngineHarness, backendID: String) -> pid_t? {
        let path = harness.directory.appendingPathComponent("process/custodians/\(backendID)/record.json")
        guard let data = FileManager.default.contents(atPath: path.path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        for key in ["agentPID", "agentPid", "agent_pid"] {
            if let value = object[key] as? Int { return pid_t(value) }
        }
        if let agent = object["agent"] as? [String: Any], let value = agent["pid"] as? Int { return pid_t(value) }
        return nil
    }
}
