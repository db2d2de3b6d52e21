import Foundation
import ShardCrypto

/// `keyshard-demo`: the threshold protocols end to end, with custodians simulated
/// as objects in this one process and the offline `keyshard` CLI run as a separate
/// program for encryption and verification.
///
/// It exists so a new user sees, in one command (`make demo`), what keyshardd and
/// its custodian VMs do with a key: create it without a dealer, decrypt and sign by
/// threshold, catch a cheating custodian, and rotate shares to a new set.
@main
struct Demo {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 2 else {
            FileHandle.standardError.write(Data("usage: keyshard-demo PATH-TO-keyshard\n".utf8))
            exit(2)
        }
        let demo = try Demo(keyshard: URL(fileURLWithPath: arguments[1]))
        defer { try? FileManager.default.removeItem(at: demo.directory) }
        try demo.run()
    }

    let keyshard: URL
    let directory: URL

    init(keyshard: URL) throws {
        self.keyshard = keyshard
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-demo-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func run() throws {
        print("keyshard demo: custodians are simulated in this process; keyshard is run as a separate program.")

        step(1, "Dealerless key generation: 5 custodians, any 3 of them can use the key")
        let ids = try (1...5).map { try ParticipantID(UInt16($0)) }
        let (shares, commitment) = try distributedKeyGeneration(ids: ids, threshold: 3)
        let groupKey = commitment.publicKey
        let keyFile = directory.appendingPathComponent("group.pem")
        try groupKey.pemRepresentation().write(to: keyFile, atomically: true, encoding: .utf8)
        detail("group public key \(try groupKey.compressed().hexString.prefix(20))…  (\(keyFile.lastPathComponent))")
        detail("each custodian checked every share it received against its dealer's Feldman commitment")
        detail("the private key was never computed anywhere: only its 5 shares exist")

        step(2, "Encrypt with the public key alone: keyshard encrypt")
        let secretText = "the payroll database password"
        let encrypted = try runKeyshard(["encrypt", "--public-key", keyFile.path, "--info", "demo/payroll"], input: Array(secretText.utf8))
        guard encrypted.status == 0 else { throw DemoFailure("keyshard encrypt failed: \(encrypted.error)") }
        let armored = encrypted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        detail("$ echo -n '\(secretText)' | keyshard encrypt --public-key group.pem --info demo/payroll")
        detail(String(armored.prefix(72)) + "…")
        guard armored.hasPrefix("keyshard:v1:"),
            let decoded = Data(base64Encoded: String(armored.dropFirst("keyshard:v1:".count)))
        else { throw DemoFailure("unexpected ciphertext line") }
        let ciphertext = Array(decoded)

        step(3, "Threshold decryption by custodians 1, 3 and 5")
        let publicShares = Dictionary(uniqueKeysWithValues: ids.map { ($0, commitment.publicShare(for: $0)) })
        let context = Array("demo request 1".utf8)
        var partials: [PartialDecryption] = []
        for index in [0, 2, 4] {
            let partial = try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: shares[index], context: context)
            partials.append(partial)
            detail("custodian \(shares[index].id): D_i = x_i·enc with a Chaum–Pedersen proof (\(try partial.serialized().count) bytes)")
        }
        let plaintext = try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: partials, publicKey: groupKey, publicShares: publicShares,
            threshold: 3, info: Array("demo/payroll".utf8), context: context)
        detail("coordinator verified 3 proofs, combined Σλ_i·D_i and finished HPKE: \"\(text(plaintext))\"")

        step(4, "A custodian that lies is caught, not trusted")
        let honest = try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: shares[1], context: context)
        let forged = PartialDecryption(id: honest.id, value: honest.value + .generator, proof: honest.proof)
        do {
            _ = try ThresholdHPKE.combine(
                ciphertext: ciphertext, partials: [forged, partials[1], partials[2]], publicKey: groupKey,
                publicShares: publicShares, threshold: 3, info: Array("demo/payroll".utf8), context: context)
            throw DemoFailure("a forged partial decryption was accepted")
        } catch let error as ShardCryptoError {
            detail("custodian 2 returns a wrong D_2: refused (\(error.code): \(error.reason))")
        }
        let robust = try ThresholdHPKE.combineRobustly(
            ciphertext: ciphertext, partials: [forged] + partials, publicKey: groupKey, publicShares: publicShares,
            threshold: 3, info: Array("demo/payroll".utf8), context: context)
        detail("robust combine used custodians \(robust.usedParticipants.map(\.description).joined(separator: ", ")) "
            + "and reported \(robust.rejected.map { "\($0.id)" }.joined(separator: ", ")) for quarantine")

        step(5, "Threshold signature (RFC 9591 FROST) by custodians 2, 4 and 5; checked by keyshard verify")
        let message = Array("release 1.0".utf8)
        let signers = [shares[1], shares[3], shares[4]]
        let rounds = signers.map { FROST.commit(share: $0) }
        let commitments = rounds.map(\.1)
        let signatureShares = try zip(signers, rounds).map { share, round in
            try FROST.sign(share: share, nonces: round.0, message: message, commitments: commitments, groupPublicKey: groupKey)
        }
        let signature = try FROST.aggregate(
            shares: signatureShares, message: message, commitments: commitments, groupPublicKey: groupKey,
            publicShares: publicShares)
        let signatureHex = try signature.serialized().hexString
        let verified = try runKeyshard(["verify", "--public-key", keyFile.path, "--signature", signatureHex], input: message)
        detail("$ echo -n 'release 1.0' | keyshard verify --public-key group.pem --signature \(signatureHex.prefix(16))…")
        detail("\(verified.output.trimmingCharacters(in: .newlines)) (exit \(verified.status))")
        guard verified.status == 0 else { throw DemoFailure("the threshold signature did not verify") }
        let tampered = try runKeyshard(["verify", "--public-key", keyFile.path, "--signature", signatureHex], input: Array("release 1.1".utf8))
        detail("same signature over 'release 1.1': \(tampered.output.trimmingCharacters(in: .newlines)) (exit \(tampered.status))")

        step(6, "Rotation: custodians 1, 2, 4 redistribute the key to 3 fresh custodians, any 2 of 3")
        let newIDs = try (1...3).map { try ParticipantID(UInt16($0)) }
        let dealers = [shares[0], shares[1], shares[3]]
        let dealings = try dealers.map { try Redistribution.deal(share: $0, newThreshold: 2, newParticipants: newIDs) }
        let newShares = try newIDs.map { id in
            try Redistribution.receive(
                recipient: id, oldCommitment: commitment, newThreshold: 2, dealings: dealings.map(\.publicDealing),
                subShares: dealings.compactMap { $0.subShares.first { $0.to == id } })
        }
        let newCommitment = newShares[0].commitment
        detail("public key unchanged: \(newCommitment.publicKey == groupKey ? "yes" : "NO")")
        let newPublicShares = Dictionary(uniqueKeysWithValues: newIDs.map { ($0, newCommitment.publicShare(for: $0)) })
        let newPartials = try [newShares[0].share, newShares[2].share].map {
            try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: $0, context: context)
        }
        let again = try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: newPartials, publicKey: groupKey, publicShares: newPublicShares,
            threshold: 2, info: Array("demo/payroll".utf8), context: context)
        detail("new custodians 1 and 3 decrypt the old ciphertext: \"\(text(again))\"")
        do {
            _ = try ThresholdHPKE.combine(
                ciphertext: ciphertext, partials: [partials[0], newPartials[1]], publicKey: groupKey,
                publicShares: newPublicShares, threshold: 2, info: Array("demo/payroll".utf8), context: context)
            throw DemoFailure("an old share was accepted by the new sharing")
        } catch let error as ShardCryptoError {
            detail("an old share mixed with a new one: refused (\(error.code))")
        }
        print("\ndemo complete: every step above ran the real protocols; only the VMs were simulated.")
    }

    /// Runs the DKG among simulated custodians and returns their shares and the joint commitment.
    func distributedKeyGeneration(ids: [ParticipantID], threshold: Int) throws -> ([SecretShare], FeldmanCommitment) {
        let parameters = try DKG.Parameters(threshold: threshold, participants: ids, context: Array("keyshard demo".utf8))
        let participants = try ids.map { try DKG.Participant(id: $0, parameters: parameters) }
        let packages = participants.map(\.round1Package)
        detail("round 1: \(packages.count) Feldman commitments, each with a proof of knowledge of its constant term")
        let outgoing = try participants.flatMap { try $0.round2(packages: packages) }
        var complaints: [DKG.Complaint] = []
        for participant in participants {
            complaints += try participant.receive(shares: outgoing.filter { $0.to == participant.id })
        }
        detail("round 2: \(outgoing.count) private shares relayed, \(complaints.count) signed complaints")
        let confirmations = try participants.map { try $0.finish(complaints: complaints) }
        let results = try participants.compactMap { try $0.confirm(confirmations: confirmations) }
        guard results.count == participants.count else { throw DemoFailure("a custodian was disqualified") }
        detail(
            "confirmed: \(confirmations.count) signatures, one from every participant with its round-1 secret, "
                + "over one transcript, QUAL and key")
        return (results.map(\.share), results[0].commitment)
    }

    func runKeyshard(_ arguments: [String], input: [UInt8]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = keyshard
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let error = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
    }

    func step(_ number: Int, _ title: String) { print("\n[\(number)/6] \(title)") }
    func detail(_ line: String) { print("      \(line)") }
    func text(_ secret: SecretBytes) -> String { secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}

struct DemoFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
