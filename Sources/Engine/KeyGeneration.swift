import AgentProtocol
import Coordinator
import Foundation
import KeyshardAPI
import ShardCrypto

/// Making key versions: a DKG among every custodian of the ring, or a dealer split of an imported
/// scalar. Either way each custodian ends up holding share i of the version at the ring's epoch.
extension Engine {
    /// Runs a DKG for `key` `version` among the ring's members (all n, fresh) at its epoch and
    /// returns the group commitment every participant agreed on. Nobody, the engine included,
    /// ever holds the key: the engine relays round-1 packages, credential-wrapped round-2 shares
    /// and complaints, and checks that every custodian finished with the same transcript.
    /// On any failure every custodian forgets the run.
    func runDKG(_ ring: RingRuntime, key: String, version: Int, members: [UInt16: LiveCustodian]) async throws
        -> FeldmanCommitment
    {
        let epoch = ring.epoch
        let reference = try ShareNames.reference(key: key, version: version, epoch: epoch)
        let ordered = members.sorted { $0.key < $1.key }.map(\.value)
        let participants = try ordered.map { try ParticipantID($0.slot) }
        var context = Array("keyshard/v1/dkg/\(ring.name)/\(key)/v\(version)/e\(epoch)/".utf8)
        context += (0..<16).map { _ in UInt8.random(in: 0...255) }
        let parameters = try DKG.Parameters(threshold: ring.threshold, participants: participants, context: context)
        do {
            // Round 1: commitments and proofs of knowledge, broadcast.
            let packages = try await inParallel(Array(zip(ordered, participants))) { custodian, id in
                guard case .dkgRound1Package(let answer) = try await custodian.request(
                    .dkgRound1Request(try DKGRound1Request(key: reference, participant: id, parameters: parameters)))
                else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered DKG round 1 wrongly") }
                return answer.package
            }
            try await FaultInjection.reached("dkg.round1")
            // Every participant is a recipient; each dealer checks the others' quotes itself.
            let binding = RecipientBinding.dkg(key: reference, parameters: parameters)
            let attestor = try attestor
            let recipients = try await inParallel(Array(zip(ordered, participants))) { custodian, id in
                try await attestor.recipient(custodian.client, participant: id, custodian: custodian.attested, binding: binding)
            }
            let sealed = try await inParallel(Array(zip(ordered, participants))) { custodian, id in
                let others = recipients.filter { $0.participant != id }
                guard case .dkgRound2Shares(let shares) = try await custodian.request(
                    .dkgRound2Request(try DKGRound2Request(key: reference, packages: packages, recipients: others)))
                else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered DKG round 2 wrongly") }
                return shares.shares
            }.flatMap { $0 }
            let complaints = try await inParallel(Array(zip(ordered, participants))) { custodian, id in
                let mine = sealed.filter { $0.to == id }.sorted { $0.from < $1.from }
                guard case .dkgComplaints(let list) = try await custodian.request(
                    .dkgReceiveRequest(DKGReceiveRequest(key: reference, shares: mine)))
                else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered DKG receive wrongly") }
                return list.complaints
            }.flatMap { $0 }
            try await FaultInjection.reached("dkg.round2")
            if !complaints.isEmpty {
                throw KeyshardError(
                    .custodianFailure,
                    "the DKG of \(key) v\(version) had \(complaints.count) complaint(s); no key was made")
            }
            let finished = try await inParallel(ordered) { custodian in
                guard case .dkgFinished(let done) = try await custodian.request(
                    .dkgFinishRequest(DKGFinishRequest(key: reference, complaints: complaints)))
                else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) answered DKG finish wrongly") }
                return done
            }
            guard let first = finished.first,
                finished.allSatisfy({
                    $0.commitment == first.commitment && $0.transcriptDigest == first.transcriptDigest
                        && $0.qualified == participants
                })
            else {
                throw KeyshardError(
                    .custodianFailure, "the custodians finished the DKG of \(key) v\(version) with different results")
            }
            for done in finished where first.commitment.publicShare(for: done.participant) != done.publicShare {
                throw KeyshardError(.custodianFailure, "participant \(done.participant)'s public share does not fit the DKG commitment")
            }
            try await FaultInjection.reached("dkg.finished")
            // Confirmation: each custodian installs its share only after every confirmation verified;
            // under the gate, so a heartbeat sees the share and the ledger change together.
            let confirmations = finished.map(\.confirmation)
            _ = try await inParallel(ordered) { custodian in
                try await custodian.gate.withLock {
                    guard case .dkgConfirmed = try await custodian.request(
                        .dkgConfirmRequest(try DKGConfirmRequest(key: reference, confirmations: confirmations)))
                    else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) did not confirm the DKG") }
                    custodian.didReceive(
                        reference, ExpectedShare(participant: try ParticipantID(custodian.slot), commitment: first.commitment))
                }
                return true
            }
            try await FaultInjection.reached("dkg.confirmed")
            return first.commitment
        } catch {
            for custodian in ordered { await forget([reference], on: custodian) }
            throw error
        }
    }

    /// Splits `scalar` into the ring's n shares and delivers each sealed to its custodian's attested
    /// transport key; the scalar and the shares are wiped when this returns.
    func dealImport(_ ring: RingRuntime, key: String, version: Int, scalar: SecretBytes, members: [UInt16: LiveCustodian])
        async throws -> FeldmanCommitment
    {
        guard scalar.count == 32 else {
            throw KeyshardError(.badRequest, "an imported key is a 32-byte P-256 scalar, got \(scalar.count) bytes")
        }
        let reference = try ShareNames.reference(key: key, version: version, epoch: ring.epoch)
        let ordered = members.sorted { $0.key < $1.key }.map(\.value)
        // Shares for slots 1…n: the split's participant ids are the slots. The split and the sealing
        // are one synchronous call, so the scalar, the polynomial and the shares never sit in this
        // async function's frame: that is heap memory freed unwiped, where the shares of an import
        // were found in keyshardd's memory after it answered (CustodyInvariantTests).
        let ids = try ordered.map { try ParticipantID($0.slot) }
        let transportKeys = Dictionary(uniqueKeysWithValues: zip(ids, ordered.map(\.attested.transportKey)))
        let commitment: FeldmanCommitment
        let sealedShares: [[UInt8]]
        do {
            (commitment, sealedShares) = try Shamir.deal(secret: scalar, threshold: ring.threshold, participants: ids) { share in
                try ShareSealing.seal(share: share, to: transportKeys[share.id]!, key: reference)
            }
        } catch let error as ShardCryptoError where error.code == .zeroScalar {
            throw KeyshardError(.badRequest, "the imported key is zero")
        } catch let error as ShardCryptoError where error.code == .scalarOutOfRange {
            throw KeyshardError(.badRequest, "the imported key is not a valid P-256 scalar (zero or ≥ the group order)")
        }
        let deliveries = zip(zip(ids, sealedShares), ordered).map { ($0.0, $0.1, $1) }
        do {
            _ = try await inParallel(deliveries) { id, sealed, custodian in
                return try await custodian.gate.withLock {
                    guard case .shareAccepted(let accepted) = try await custodian.request(
                        .deliverShare(
                            try ShareDelivery(key: reference, participant: id, sealedShare: sealed, commitment: commitment)))
                    else { throw KeyshardError(.custodianFailure, "custodian \(custodian.id) did not accept its share") }
                    guard accepted.publicShare == commitment.publicShare(for: id) else {
                        throw KeyshardError(.custodianFailure, "custodian \(custodian.id) accepted another share than it was sent")
                    }
                    custodian.didReceive(reference, ExpectedShare(participant: id, commitment: commitment))
                    return true
                }
            }
            try await FaultInjection.reached("import.dealt")
            return commitment
        } catch {
            for custodian in ordered { await forget([reference], on: custodian) }
            throw error
        }
    }
}

/// Runs `body` for every element concurrently; the results in input order, or the first error
/// after every task finished (so no request is left running unobserved).
func inParallel<Element: Sendable, Result: Sendable>(
    _ elements: [Element], _ body: @escaping @Sendable (Element) async throws -> Result
) async throws -> [Result] {
    let results = await withTaskGroup(of: (Int, Swift.Result<Result, any Error>).self) { group in
        for (index, element) in elements.enumerated() {
            group.addTask {
                do { return (index, .success(try await body(element))) } catch { return (index, .failure(error)) }
            }
        }
        var results: [(Int, Swift.Result<Result, any Error>)] = []
        for await result in group { results.append(result) }
        return results.sorted { $0.0 < $1.0 }.map(\.1)
    }
    return try results.map { try $0.get() }
}

/// Two-argument form of ``inParallel(_:_:)`` for zipped pairs.
func inParallel<A: Sendable, B: Sendable, Result: Sendable>(
    _ pairs: [(A, B)], _ body: @escaping @Sendable (A, B) async throws -> Result
) async throws -> [Result] {
    try await inParallel(pairs.map { Pair(first: $0.0, second: $0.1) }) { try await body($0.first, $0.second) }
}

private struct Pair<A: Sendable, B: Sendable>: Sendable {
    let first: A
    let second: B
}
