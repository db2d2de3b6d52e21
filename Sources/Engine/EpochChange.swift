import AgentProtocol
import Coordinator
import Foundation
import KeyStore
import KeyshardAPI
import ShardCrypto
import Synchronization

/// Epoch changes: every key version of a ring re-shared from t current holders to a new member
/// set (a repair, a rotation of every custodian, a replacement of an old one), in two phases.
///
/// 1. The change is recorded as pending; the new members receive new-epoch shares (new names, so
///    a member that stays holds both) from t dealers; their commitments are recorded as pending.
/// 2. The new set proves it works: a test decryption (HPKE keys) or signature (FROST keys) under
///    every unchanged public key, with new-epoch shares only.
/// 3. One SQLite transaction commits the epoch; only then do the old shares go and retiring
///    custodians get destroyed.
/// A crash before 3 leaves the old epoch whole (startup aborts the pending change and every
/// custodian forgets what it is not expected to hold); a crash after 3 leaves the new one whole.
extension Engine {
    /// Re-shares every key version of `ring` to `newMembers` and commits the new epoch. The caller
    /// holds the ring's structure lock and destroys new custodians itself when this throws.
    /// - Parameters:
    ///   - kind: `repair`, `rotation` or `replacement` (the audit log and `keyshard status` show it).
    ///   - newMembers: slot → custodian for every slot 1…n.
    ///   - retiring: custodians destroyed once the new epoch is committed.
    func changeEpoch(
        _ ring: RingRuntime, kind: String, newMembers: [UInt16: LiveCustodian], retiring: [LiveCustodian]
    ) async throws {
        let started = ContinuousClock.now
        let snapshot = ring.snapshot
        let from = snapshot.epoch
        // Epoch numbers come from the never-reused generation counter: an aborted change's
        // number is never used again, so no custodian can still hold a share of the next one.
        let to = max(from + 1, Int(try await store.nextGeneration()))
        guard newMembers.count == ring.shares else {
            throw KeyshardError(.internalError, "an epoch change of ring \(ring.name) needs \(ring.shares) new members, has \(newMembers.count)")
        }
        let dealers = Array(
            snapshot.members.values.filter { $0.isFresh(within: configuration.freshnessWindow) }
                .sorted { $0.lastAttestedDate > $1.lastAttestedDate }.prefix(ring.threshold))
        guard dealers.count == ring.threshold else {
            throw KeyshardError(
                .belowThreshold,
                "ring \(ring.name) has \(dealers.count) fresh custodian(s); re-sharing needs \(ring.threshold)")
        }
        try await audited(
            "epoch.begin",
            ["ring": ring.name, "kind": kind, "from": "\(from)", "to": "\(to)",
                "members": newMembers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.id)" }.joined(separator: ",")])
        try await store.beginEpochChange(
            EpochChangeRecord(
                ring: ring.name, fromEpoch: from, toEpoch: to, kind: EpochChangeRecord.Kind(rawValue: kind) ?? .refresh,
                startedAt: Date(),
                members: newMembers.reduce(into: [:]) { $0[Int($1.key)] = $1.value.id }))
        ring.setChange(kind)
        defer { ring.setChange(nil) }
        let versions = snapshot.commitments.keys.sorted { ($0.key, $0.version) < ($1.key, $1.version) }
        var newCommitments: [RingRuntime.VersionID: FeldmanCommitment] = [:]
        var newReferences: [KeyReference] = []
        let ordered = newMembers.sorted { $0.key < $1.key }.map(\.value)
        do {
            try await FaultInjection.reached("epoch.begun")
            for version in versions {
                guard let oldCommitment = snapshot.commitments[version] else { continue }
                let newReference = try ShareNames.reference(key: version.key, version: version.version, epoch: to)
                newReferences.append(newReference)
                let commitment = try await redistribute(
                    ring, version: version, oldCommitment: oldCommitment, from: from, to: to, dealers: dealers,
                    recipients: ordered)
                newCommitments[version] = commitment
                try await store.recordPendingCommitment(
                    ShareCommitmentRecord(
                        key: version.key, version: version.version, epoch: to, commitment: try commitment.serialized()))
                try await FaultInjection.reached("epoch.version-reshared")
            }
            // The new set must work before anything of the old one goes.
            let types = try await Dictionary(uniqueKeysWithValues: store.keys().filter { $0.ring == ring.name }.map { ($0.name, $0.type) })
            let probeSnapshot = RingRuntime.Snapshot(epoch: to, members: newMembers, commitments: newCommitments)
            for version in versions {
                guard let commitment = newCommitments[version] else { continue }
                let context = VersionContext(
                    ring: ring, snapshot: probeSnapshot, commitment: commitment,
                    reference: try ShareNames.reference(key: version.key, version: version.version, epoch: to),
                    publicShares: ThresholdHPKE.PublicShares(
                        commitment: commitment,
                        participants: probeSnapshot.members.keys.compactMap { try? ParticipantID($0) }))
                try await probe(context, type: types[version.key].flatMap(KeyType.init(rawValue:)) ?? .hpkeP256)
            }
            try await FaultInjection.reached("epoch.probed")
            _ = try await store.commitEpochChange(ring: ring.name)
        } catch {
            logger.error("epoch change aborted", metadata: ["ring": "\(ring.name)", "kind": "\(kind)", "error": "\(error)"])
            for custodian in ordered { await forget(newReferences, on: custodian) }
            _ = try? await store.abortEpochChange(ring: ring.name)
            await note("epoch.aborted", ["ring": ring.name, "kind": kind, "to": "\(to)", "reason": "\(error)"])
            EngineMetrics.epochChange(kind, "aborted")
            throw error
        }
        ring.commit(epoch: to, members: newMembers, commitments: newCommitments)
        EngineMetrics.epochChange(kind, "committed")
        await note("epoch.committed", ["ring": ring.name, "kind": kind, "epoch": "\(to)", "versions": "\(versions.count)"])
        try? await FaultInjection.reached("epoch.committed")
        let oldReferences = try versions.map { try ShareNames.reference(key: $0.key, version: $0.version, epoch: from) }
        let staying = Set(ordered.map(\.id))
        for custodian in snapshot.members.values where custodian.status != .quarantined {
            await forget(oldReferences, on: custodian)
            if !staying.contains(custodian.id), !retiring.contains(where: { $0 === custodian }) {
                await destroy(custodian, reason: "left ring \(ring.name) at epoch \(to)")
            }
        }
        for custodian in retiring { await destroy(custodian, reason: "\(kind) of ring \(ring.name) committed epoch \(to)") }
        logger.info(
            "epoch committed",
            metadata: ["ring": "\(ring.name)", "kind": "\(kind)", "epoch": "\(to)", "seconds": "\(ContinuousClock.now - started)"])
    }

    /// Re-shares one key version from `dealers` (epoch `from`) to `recipients` (epoch `to`).
    /// - Returns: the new commitment, whose public key is the old one.
    private func redistribute(
        _ ring: RingRuntime, version: RingRuntime.VersionID, oldCommitment: FeldmanCommitment, from: Int, to: Int,
        dealers: [LiveCustodian], recipients: [LiveCustodian]
    ) async throws -> FeldmanCommitment {
        let oldReference = try ShareNames.reference(key: version.key, version: version.version, epoch: from)
        let newReference = try ShareNames.reference(key: version.key, version: version.version, epoch: to)
        let participants = try recipients.map { try ParticipantID($0.slot) }
        let newThreshold = UInt16(ring.threshold)
        let binding = RecipientBinding.redistribution(
            key: oldReference, newKey: newReference, newThreshold: newThreshold, recipients: participants)
        let attestor = try attestor
        // Each dealer checks every recipient's quote itself; the engine only relays them.
        let recipientKeys = try await inParallel(Array(zip(recipients, participants))) { custodian, id in
            try await attestor.recipient(custodian.client, participant: id, custodian: custodian.attested, binding: binding)
        }
        let request = try RedistributeDealRequest(
            key: oldReference, newKey: newReference, newThreshold: newThreshold, recipients: recipientKeys)
        let dealings = try await inParallel(dealers) { dealer in
            guard case .redistributeDealing(let dealing) = try await dealer.request(.redistributeDealRequest(request)) else {
                throw KeyshardError(.custodianFailure, "custodian \(dealer.id) answered a re-share request wrongly")
            }
            return dealing
        }.sorted { $0.dealing.from < $1.dealing.from }
        let accepted = try await inParallel(Array(zip(recipients, participants))) { custodian, id in
            let mine = dealings.compactMap { $0.subShares.first { $0.to == id } }
            let receive = try RedistributeReceiveRequest(
                newKey: newReference, participant: id, newThreshold: newThreshold, oldCommitment: oldCommitment,
                dealings: dealings.map(\.dealing), dealingProofs: dealings.map(\.proof), subShares: mine)
            return try await custodian.gate.withLock {
                guard case .redistributeAccepted(let answer) = try await custodian.request(.redistributeReceiveRequest(receive))
                else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) did not accept its new share") }
                custodian.didReceive(newReference, ExpectedShare(participant: id, commitment: answer.commitment))
                return answer
            }
        }
        guard let commitment = accepted.first?.commitment,
            accepted.allSatisfy({ $0.commitment == commitment }), commitment.publicKey == oldCommitment.publicKey,
            accepted.allSatisfy({ commitment.publicShare(for: $0.participant) == $0.publicShare })
        else {
            throw KeyshardError(
                .custodianFailure, "the new holders of \(version) disagree on its commitment or its public key changed")
        }
        return commitment
    }

    /// A test operation under the new shares: decrypt a random probe sealed to the unchanged public
    /// key (HPKE), or sign one and verify it (FROST).
    private func probe(_ context: VersionContext, type: KeyType) async throws {
        let message = (0..<32).map { _ in UInt8.random(in: 0...255) }
        switch type {
        case .hpkeP256:
            let info = Array("keyshard/v1/epoch-probe".utf8)
            let ciphertext = try ThresholdHPKE.seal(plaintext: message, to: context.commitment.publicKey, info: info)
            let opened = try await thresholdDecrypt(context, ciphertext: ciphertext, info: info)
            guard opened.withUnsafeBytes({ Array($0) }) == message else {
                throw KeyshardError(.custodianFailure, "the new shares of \(context.reference) decrypted a probe wrongly")
            }
        case .frostP256:
            let signature = try await thresholdSign(context, message: message)
            guard FROST.verify(signature: signature, message: message, publicKey: context.commitment.publicKey) else {
                throw KeyshardError(.custodianFailure, "the new shares of \(context.reference) signed a probe wrongly")
            }
        }
    }
}

/// Named points in multi-step changes where tests (and the reliability suite) can make the daemon
/// die: `KEYSHARD_FAULT_KILL_AT=<step>` in the environment SIGKILLs keyshardd the first time it
/// reaches that step, `<step>#N` the N-th time. Unset, it does nothing; it can only end the process,
/// which whoever sets the daemon's environment can do anyway.
///
/// Steps: `dkg.round1`, `dkg.round2`, `dkg.finished`, `dkg.confirmed` (a DKG's shares installed,
/// nothing recorded), `import.dealt` (an import's shares delivered, nothing recorded),
/// `key.recorded`, `version.recorded`, `epoch.begun`, `epoch.version-reshared`, `epoch.probed`,
/// `epoch.committed`.
enum FaultInjection {
    static let target: (step: String, count: Int)? = {
        guard let text = ProcessInfo.processInfo.environment["KEYSHARD_FAULT_KILL_AT"], !text.isEmpty else { return nil }
        let parts = text.split(separator: "#", maxSplits: 1).map(String.init)
        return (parts[0], parts.count == 2 ? max(1, Int(parts[1]) ?? 1) : 1)
    }()
    private static let reachedCount = Mutex<Int>(0)

    static func reached(_ name: String) async throws {
        guard let target, target.step == name else { return }
        let count = reachedCount.withLock { count in
            count += 1
            return count
        }
        guard count == target.count else { return }
        FileHandle.standardError.write(Data("keyshardd: fault injection: killed at \(name) (#\(count))\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
