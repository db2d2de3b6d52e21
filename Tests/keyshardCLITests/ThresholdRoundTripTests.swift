import Foundation
import ShardCrypto
import Testing

/// The CLI's offline commands against keys that exist only as shares.
@Suite struct ThresholdRoundTripTests {
    /// A 3-of-5 key made by dealerless key generation.
    static func distributedKey() throws -> (shares: [SecretShare], commitment: FeldmanCommitment) {
        let ids = try (1...5).map { try ParticipantID(UInt16($0)) }
        let parameters = try DKG.Parameters(threshold: 3, participants: ids, context: Array("cli-test".utf8))
        let participants = try ids.map { try DKG.Participant(id: $0, parameters: parameters) }
        let packages = participants.map(\.round1Package)
        let outgoing = try participants.flatMap { try $0.round2(packages: packages) }
        for participant in participants {
            let complaints = try participant.receive(shares: outgoing.filter { $0.to == participant.id })
            #expect(complaints.isEmpty)
        }
        let confirmations = try participants.map { try $0.finish(complaints: []) }
        let results = try participants.compactMap { try $0.confirm(confirmations: confirmations) }
        return (results.map(\.share), results[0].commitment)
    }

    @Test func encryptOutputDecryptsWithAThresholdOfShares() throws {
        let (shares, commitment) = try Self.distributedKey()
        let scratch = try ScratchDirectory()
        let keyFile = try scratch.write("group.pem", try commitment.publicKey.pemRepresentation())
        let message = Array("rotate me".utf8)
        let result = try CLI.run(["encrypt", "--public-key", keyFile, "--info", "demo"], input: message)
        #expect(result.status == 0, "\(result.standardError)")
        let line = result.standardOutput.trimmingCharacters(in: .newlines)
        let ciphertext = Array(try #require(Data(base64Encoded: String(line.dropFirst("keyshard:v1:".count)))))
        let context = Array("request-1".utf8)
        let signers = [shares[0], shares[2], shares[4]]
        let partials = try signers.map { try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: $0, context: context) }
        let publicShares = Dictionary(uniqueKeysWithValues: shares.map { ($0.id, commitment.publicShare(for: $0.id)) })
        let plaintext = try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: partials, publicKey: commitment.publicKey,
            publicShares: publicShares, threshold: 3, info: Array("demo".utf8), context: context)
        plaintext.withUnsafeBytes { #expect(Array($0) == message) }
    }

    @Test func aThresholdSignatureVerifiesAndATamperedOneDoesNot() throws {
        let (shares, commitment) = try Self.distributedKey()
        let message = Array("release 1.0".utf8)
        let signers = [shares[1], shares[3], shares[4]]
        let rounds = signers.map { FROST.commit(share: $0) }
        let commitments = rounds.map(\.1)
        let signatureShares = try zip(signers, rounds).map { share, round in
            try FROST.sign(share: share, nonces: round.0, message: message, commitments: commitments, groupPublicKey: commitment.publicKey)
        }
        let publicShares = Dictionary(uniqueKeysWithValues: shares.map { ($0.id, commitment.publicShare(for: $0.id)) })
        let signature = try FROST.aggregate(
            shares: signatureShares, message: message, commitments: commitments,
            groupPublicKey: commitment.publicKey, publicShares: publicShares)

        let scratch = try ScratchDirectory()
        let keyFile = try scratch.write("group.pem", try commitment.publicKey.pemRepresentation())
        let hex = try signature.serialized().hexString
        let good = try CLI.run(["verify", "--public-key", keyFile, "--signature", hex], input: message)
        #expect(good.status == 0, "\(good.standardError)")
        #expect(good.standardOutput == "valid\n")
        let bad = try CLI.run(["verify", "--public-key", keyFile, "--signature", hex], input: message + [0])
        #expect(bad.status == 1)
        #expect(bad.standardOutput == "invalid\n")
    }
}
