import Foundation
import Testing
@testable import ShardCrypto

/// RFC 9591 appendix E.4, FROST(P-256, SHA-256), as JSON (see Resources/VECTORS-SOURCES.md).
struct FROSTVector: Decodable {
    struct Inputs: Decodable {
        struct ParticipantShare: Decodable {
            let identifier: UInt16
            let participantShare: String
        }
        let participantList: [UInt16]
        let groupSecretKey: String
        let groupPublicKey: String
        let message: String
        let sharePolynomialCoefficients: [String]
        let participantShares: [ParticipantShare]
    }
    struct RoundOneOutput: Decodable {
        let identifier: UInt16
        let hidingNonceRandomness: String
        let bindingNonceRandomness: String
        let hidingNonce: String
        let bindingNonce: String
        let hidingNonceCommitment: String
        let bindingNonceCommitment: String
        let bindingFactorInput: String
        let bindingFactor: String
    }
    struct RoundTwoOutput: Decodable {
        let identifier: UInt16
        let sigShare: String
    }
    struct Outputs<Output: Decodable>: Decodable { let outputs: [Output] }
    struct FinalOutput: Decodable { let sig: String }

    /// Decoded separately, without key conversion: its keys are upper case.
    var config: [String: String] = [:]
    let inputs: Inputs
    let roundOneOutputs: Outputs<RoundOneOutput>
    let roundTwoOutputs: Outputs<RoundTwoOutput>
    let finalOutput: FinalOutput

    private enum CodingKeys: String, CodingKey { case inputs, roundOneOutputs, roundTwoOutputs, finalOutput }
    private struct Configuration: Decodable { let config: [String: String] }

    static func load() throws -> FROSTVector {
        let data = try vectorResource("rfc9591-frost-p256-sha256.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var vector = try decoder.decode(FROSTVector.self, from: data)
        vector.config = try JSONDecoder().decode(Configuration.self, from: data).config
        return vector
    }
}

func scalar(_ hex: String) throws -> Scalar { try Scalar(bigEndian: bytes(hex)) }
func point(_ hex: String) throws -> Point { try Point(sec1: bytes(hex)) }

@Suite("FROST RFC 9591 vectors") struct FROSTVectorTests {
    let vector: FROSTVector
    let groupPublicKey: Point
    let message: [UInt8]

    init() throws {
        vector = try FROSTVector.load()
        groupPublicKey = try point(vector.inputs.groupPublicKey)
        message = try bytes(vector.inputs.message)
    }

    func share(_ id: UInt16) throws -> SecretShare {
        let entry = try #require(vector.inputs.participantShares.first { $0.identifier == id })
        return SecretShare(id: .id(id), value: try scalar(entry.participantShare))
    }

    /// Round one for every listed participant with the vector's randomness.
    func roundOne() throws -> [(nonces: FROST.SigningNonces, commitment: FROST.SigningCommitment)] {
        try vector.roundOneOutputs.outputs.map { output in
            FROST.commit(
                share: try share(output.identifier),
                hidingRandomness: SecretBytes(try bytes(output.hidingNonceRandomness)),
                bindingRandomness: SecretBytes(try bytes(output.bindingNonceRandomness)))
        }
    }

    @Test func configurationMatchesTheInputs() throws {
        #expect(vector.config["name"] == "FROST(P-256, SHA-256)")
        #expect(vector.config["MAX_PARTICIPANTS"] == String(vector.inputs.participantShares.count))
        #expect(vector.config["NUM_PARTICIPANTS"] == String(vector.inputs.participantList.count))
        #expect(vector.config["MIN_PARTICIPANTS"] == String(vector.inputs.sharePolynomialCoefficients.count + 1))
        #expect(vector.roundOneOutputs.outputs.map(\.identifier) == vector.inputs.participantList)
        #expect(vector.roundTwoOutputs.outputs.map(\.identifier) == vector.inputs.participantList)
        #expect(FROST.Ciphersuite.contextString == Array("FROST-P256-SHA256-v1".utf8))
    }

    @Test func groupPublicKeyIsTheSecretTimesG() throws {
        let secret = try scalar(vector.inputs.groupSecretKey)
        #expect(try Point.generatorMultiple(secret).compressed().hexString == vector.inputs.groupPublicKey)
    }

    @Test func participantSharesComeFromThePolynomial() throws {
        let coefficients = try ([vector.inputs.groupSecretKey] + vector.inputs.sharePolynomialCoefficients).map(scalar)
        let polynomial = try Polynomial(coefficients: coefficients)
        #expect(vector.inputs.participantShares.count == 3)
        for entry in vector.inputs.participantShares {
            let computed = polynomial.share(for: .id(entry.identifier))
            #expect(computed.value.serialized().hexString == entry.participantShare, "share \(entry.identifier)")
        }
        // Any two shares recover the secret.
        let recovered = try Shamir.interpolate([try share(1), try share(3)])
        #expect(recovered.serialized().hexString == vector.inputs.groupSecretKey)
    }

    @Test func noncesComeFromTheRandomnessAndTheShare() throws {
        for output in vector.roundOneOutputs.outputs {
            let secret = try share(output.identifier).value
            let hiding = FROST.Ciphersuite.nonceGenerate(
                randomness: SecretBytes(try bytes(output.hidingNonceRandomness)), secret: secret)
            let binding = FROST.Ciphersuite.nonceGenerate(
                randomness: SecretBytes(try bytes(output.bindingNonceRandomness)), secret: secret)
            #expect(hiding.serialized().hexString == output.hidingNonce, "hiding nonce \(output.identifier)")
            #expect(binding.serialized().hexString == output.bindingNonce, "binding nonce \(output.identifier)")
        }
    }

    @Test func commitmentsMatch() throws {
        for (output, result) in zip(vector.roundOneOutputs.outputs, try roundOne()) {
            #expect(result.commitment.id == .id(output.identifier))
            #expect(try result.commitment.hiding.compressed().hexString == output.hidingNonceCommitment)
            #expect(try result.commitment.binding.compressed().hexString == output.bindingNonceCommitment)
            #expect(result.nonces.commitment == result.commitment)
        }
    }

    @Test func bindingFactorInputsAndFactorsMatch() throws {
        let list = try FROST.CommitmentList(validating: try roundOne().map(\.commitment))
        let inputs = try list.bindingFactorInputs(groupPublicKey: groupPublicKey, message: message)
        let factors = try list.bindingFactors(groupPublicKey: groupPublicKey, message: message)
        #expect(inputs.count == vector.roundOneOutputs.outputs.count)
        for (output, input) in zip(vector.roundOneOutputs.outputs, inputs) {
            #expect(input.0 == .id(output.identifier))
            #expect(input.1.hexString == output.bindingFactorInput, "binding_factor_input \(output.identifier)")
            #expect(
                factors[.id(output.identifier)]?.serialized().hexString == output.bindingFactor,
                "binding_factor \(output.identifier)")
        }
    }

    @Test func signatureSharesAggregateAndVerify() throws {
        let results = try roundOne()
        let commitments = results.map(\.commitment)
        let shares = try results.map { result in
            try FROST.sign(
                share: try share(result.commitment.id.rawValue), nonces: result.nonces, message: message,
                commitments: commitments, groupPublicKey: groupPublicKey)
        }
        for (output, share) in zip(vector.roundTwoOutputs.outputs, shares) {
            #expect(share.id == .id(output.identifier))
            #expect(share.value.serialized().hexString == output.sigShare, "sig_share \(output.identifier)")
            let publicShare = try self.share(output.identifier).publicShare
            #expect(
                FROST.verifySignatureShare(
                    share, publicShare: publicShare, message: message, commitments: commitments,
                    groupPublicKey: groupPublicKey))
        }
        var publicShares: [ParticipantID: Point] = [:]
        for entry in vector.inputs.participantShares {
            publicShares[.id(entry.identifier)] = try share(entry.identifier).publicShare
        }
        let signature = try FROST.aggregate(
            shares: shares, message: message, commitments: commitments, groupPublicKey: groupPublicKey,
            publicShares: publicShares)
        #expect(try signature.serialized().hexString == vector.finalOutput.sig)
        #expect(FROST.verify(signature: signature, message: message, publicKey: groupPublicKey))
    }

    @Test func publishedSignatureDecodesAndVerifies() throws {
        let signature = try FROST.Signature(serialized: try bytes(vector.finalOutput.sig))
        #expect(FROST.verify(signature: signature, message: message, publicKey: groupPublicKey))
        #expect(!FROST.verify(signature: signature, message: Array("tesT".utf8), publicKey: groupPublicKey))
        #expect(try signature.serialized().hexString == vector.finalOutput.sig)
    }

    @Test func sameParticipantsSignWithFreshNonces() throws {
        let key = FROSTTestKey(
            shares: try vector.inputs.participantShares.map { try share($0.identifier) },
            groupPublicKey: groupPublicKey)
        let signers = try vector.inputs.participantList.map { try share($0) }
        let first = try frostSign(key: key, signers: signers, message: message)
        let second = try frostSign(key: key, signers: signers, message: message)
        #expect(FROST.verify(signature: first, message: message, publicKey: groupPublicKey))
        #expect(FROST.verify(signature: second, message: message, publicKey: groupPublicKey))
        // Fresh nonces: a new R every time, never the vector's.
        #expect(first.r != second.r)
        #expect(try first.serialized().hexString != vector.finalOutput.sig)
    }
}
