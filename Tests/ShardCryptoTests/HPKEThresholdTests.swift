import Testing

@testable import ShardCrypto

/// Threshold HPKE round trips and every refusal path of the custodian and the combiner.
@Suite struct HPKEThresholdTests {
    let info = Array("keyshard/v1/datakey".utf8)
    let message = Array("thirty-two bytes of data key....".utf8)
    let requestContext = Array("request-1".utf8)
    let fixture: ThresholdFixture
    let ciphertext: [UInt8]

    init() throws {
        fixture = try ThresholdFixture(threshold: 3, participants: 5)
        ciphertext = try ThresholdHPKE.seal(plaintext: message, to: fixture.publicKey, info: info)
    }

    func combineError(
        _ partials: [PartialDecryption], ciphertext: [UInt8]? = nil, info: [UInt8]? = nil, context: [UInt8]? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> ShardCryptoError? {
        #expect(throws: ShardCryptoError.self, sourceLocation: sourceLocation) {
            try fixture.combine(
                ciphertext ?? self.ciphertext, partials, info: info ?? self.info, context: context ?? requestContext)
        }
    }

    /// The same participant and proof with D_i moved by G: what a faulty or malicious custodian might send.
    func tampered(_ partial: PartialDecryption) -> PartialDecryption {
        PartialDecryption(id: partial.id, value: partial.value + .generator, proof: partial.proof)
    }

    func robustly(_ partials: [PartialDecryption]) throws -> ThresholdHPKE.CombineResult {
        try ThresholdHPKE.combineRobustly(
            ciphertext: ciphertext, partials: partials, publicKey: fixture.publicKey,
            publicShares: fixture.publicShares, threshold: fixture.threshold, info: info, context: requestContext)
    }

    // MARK: Round trips

    @Test func anyThresholdSubsetDecrypts() throws {
        for ids: [UInt16] in [[1, 2, 3], [5, 3, 1], [2, 4, 5], [1, 2, 3, 4, 5]] {
            let partials = try fixture.partials(ids, ciphertext: ciphertext, context: requestContext)
            #expect(try fixture.combine(ciphertext, partials, info: info, context: requestContext).testBytes == message)
        }
    }

    @Test func emptyPlaintextRoundTrips() throws {
        let empty = try ThresholdHPKE.seal(plaintext: [], to: fixture.publicKey, info: info)
        #expect(empty.count == ThresholdHPKE.minimumCiphertextByteCount)
        let partials = try fixture.partials([1, 2, 3], ciphertext: empty, context: requestContext)
        #expect(try fixture.combine(empty, partials, info: info, context: requestContext).count == 0)
        #expect(try ThresholdHPKE.open(ciphertext: empty, privateKey: fixture.privateKey, info: info).count == 0)
    }

    @Test func sealIsRandomized() throws {
        let again = try ThresholdHPKE.seal(plaintext: message, to: fixture.publicKey, info: info)
        #expect(again[..<65] != ciphertext[..<65])
    }

    @Test func wholeKeyOpenAgreesAndRefusesAnotherKey() throws {
        #expect(try ThresholdHPKE.open(ciphertext: ciphertext, privateKey: fixture.privateKey, info: info).testBytes
            == message)
        let error = #expect(throws: ShardCryptoError.self) {
            try ThresholdHPKE.open(ciphertext: ciphertext, privateKey: .random(), info: info)
        }
        #expect(error?.code == .decryptionFailed)
        let zero = #expect(throws: ShardCryptoError.self) {
            try ThresholdHPKE.open(ciphertext: ciphertext, privateKey: .zero, info: info)
        }
        #expect(zero?.code == .zeroScalar)
    }

    @Test func partialDecryptionSerializationRoundTrips() throws {
        let partial = try #require(try fixture.partials([4], ciphertext: ciphertext, context: requestContext).first)
        let bytes = try partial.serialized()
        #expect(bytes.count == PartialDecryption.byteCount && bytes.count == 229)
        #expect(try PartialDecryption(serialized: bytes) == partial)

        let short = #expect(throws: ShardCryptoError.self) {
            try PartialDecryption(serialized: Array(bytes.dropLast()))
        }
        #expect(short?.code == .invalidParameters)
        let zeroID = #expect(throws: ShardCryptoError.self) { try PartialDecryption(serialized: [0, 0] + bytes[2...]) }
        #expect(zeroID?.code == .invalidParameters)
        var badPoint = bytes
        badPoint[2] = 0x05
        let point = #expect(throws: ShardCryptoError.self) { try PartialDecryption(serialized: badPoint) }
        #expect(point?.code == .invalidPointEncoding)
    }

    @Test func descriptionsRedactThePlaintext() throws {
        let partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        let result = try robustly(partials)
        let text = String(describing: result) + String(reflecting: result.plaintext)
        #expect(text.contains("redacted"))
        #expect(!text.contains(message.hexString) && !text.contains("thirty-two"))
    }

    // MARK: Bad partial decryptions

    @Test func tamperedPartialIsRefusedAndNamed() throws {
        var partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        partials[1] = tampered(partials[1])
        let error = combineError(partials)
        #expect(error?.code == .invalidProof)
        #expect(error?.reason.contains("participant 2") == true)
        #expect(error?.reason.contains("participant 1") == false)
    }

    @Test func proofFromAnotherShareIsRefused() throws {
        let partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        // Participant 1's value and proof relabelled as participant 2's.
        let relabelled = PartialDecryption(id: partials[1].id, value: partials[0].value, proof: partials[0].proof)
        let first = combineError([partials[0], relabelled, partials[2]])
        #expect(first?.code == .invalidProof)
        #expect(first?.reason.contains("participant 2") == true)
        // Participant 2's value with participant 1's proof.
        let mixed = PartialDecryption(id: partials[1].id, value: partials[1].value, proof: partials[0].proof)
        #expect(combineError([partials[0], mixed, partials[2]])?.code == .invalidProof)
    }

    @Test func proofForAnotherContextIsRefused() throws {
        var partials = try fixture.partials([1, 2], ciphertext: ciphertext, context: requestContext)
        partials += try fixture.partials([3], ciphertext: ciphertext, context: Array("request-2".utf8))
        let error = combineError(partials)
        #expect(error?.code == .invalidProof)
        #expect(error?.reason.contains("participant 3") == true)
    }

    @Test func proofForAnotherCiphertextIsRefused() throws {
        let other = try ThresholdHPKE.seal(plaintext: message, to: fixture.publicKey, info: info)
        var partials = try fixture.partials([1, 2], ciphertext: ciphertext, context: requestContext)
        partials += try fixture.partials([3], ciphertext: other, context: requestContext)
        #expect(combineError(partials)?.code == .invalidProof)
    }

    @Test func everyCulpritIsNamedInStrictMode() throws {
        var partials = try fixture.partials([1, 2, 3, 4], ciphertext: ciphertext, context: requestContext)
        for index in [0, 3] { partials[index] = tampered(partials[index]) }
        let error = combineError(partials)
        #expect(error?.code == .invalidProof)
        #expect(error?.reason.contains("participant 1") == true && error?.reason.contains("participant 4") == true)
    }

    @Test func robustCombineSkipsAndReportsBadPartials() throws {
        var partials = try fixture.partials([1, 2, 3, 4, 5], ciphertext: ciphertext, context: requestContext)
        partials[0] = tampered(partials[0])
        let outsider = try SecretShare(id: ParticipantID(9), value: .random())
        partials.append(
            try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: outsider, context: requestContext))

        let result = try robustly(partials)
        #expect(result.plaintext.testBytes == message)
        #expect(result.usedParticipants.map(\.rawValue) == [2, 3, 4])
        #expect(result.rejected == [
            RejectedPartial(id: try ParticipantID(1), reason: .invalidProof),
            RejectedPartial(id: try ParticipantID(9), reason: .unknownParticipant),
        ])
        let verification = try ThresholdHPKE.verifyPartials(
            ciphertext: ciphertext, partials: partials, publicShares: fixture.publicShares, context: requestContext)
        #expect(verification.valid.map(\.id.rawValue) == [2, 3, 4, 5])
        #expect(verification.rejected == result.rejected)
    }

    @Test func robustCombineRefusesWhenTooFewValidRemain() throws {
        var partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        partials[2] = tampered(partials[2])
        let error = #expect(throws: ShardCryptoError.self) { try robustly(partials) }
        #expect(error?.code == .invalidParameters)
        #expect(error?.reason.contains("participant 3") == true)
        #expect(error?.reason.contains("needs 3 valid") == true)
    }

    @Test func partialFromAParticipantWithoutPublicShareIsRefused() throws {
        let outsider = try SecretShare(id: ParticipantID(6), value: .random())
        var partials = try fixture.partials([1, 2], ciphertext: ciphertext, context: requestContext)
        partials.append(
            try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: outsider, context: requestContext))
        let error = combineError(partials)
        #expect(error?.code == .invalidParameters)
        #expect(error?.reason.contains("participant 6") == true)
    }

    @Test func duplicateParticipantsAreRefused() throws {
        let partials = try fixture.partials([1, 2], ciphertext: ciphertext, context: requestContext)
        #expect(combineError(partials + [partials[0]])?.code == .duplicateParticipant)
        let error = #expect(throws: ShardCryptoError.self) { try robustly(partials + [partials[1]]) }
        #expect(error?.code == .duplicateParticipant)
    }

    @Test func tooFewPartialsAreRefused() throws {
        let partials = try fixture.partials([1, 2], ciphertext: ciphertext, context: requestContext)
        let error = combineError(partials)
        #expect(error?.code == .invalidParameters)
        #expect(error?.reason.contains("needs 3 valid partial decryptions, got 2") == true)
        #expect(combineError([])?.code == .invalidParameters)
    }

    @Test func unusableThresholdOrMismatchedPublicSharesAreRefused() throws {
        let partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        for threshold in [0] {
            let error = #expect(throws: ShardCryptoError.self) {
                try ThresholdHPKE.combine(
                    ciphertext: ciphertext, partials: partials, publicKey: fixture.publicKey,
                    publicShares: fixture.publicShares, threshold: threshold, info: info, context: requestContext)
            }
            #expect(error?.code == .invalidParameters)
        }
        // A threshold lower than the sharing's: two public shares do not interpolate to the key.
        let error = #expect(throws: ShardCryptoError.self) {
            try ThresholdHPKE.combine(
                ciphertext: ciphertext, partials: partials, publicKey: fixture.publicKey,
                publicShares: fixture.publicShares, threshold: 2, info: info, context: requestContext)
        }
        #expect(error?.reason.contains("do not interpolate to the public key") == true)
    }

    // MARK: Bad ciphertexts and parameters

    @Test func wrongInfoFailsToDecrypt() throws {
        let partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        #expect(combineError(partials, info: Array("keyshard/v1/other".utf8))?.code == .decryptionFailed)
    }

    @Test func tamperedCiphertextByteFailsToDecrypt() throws {
        for index in [65, ciphertext.count - 1] {
            var tampered = ciphertext
            tampered[index] ^= 0x01
            let partials = try fixture.partials([1, 2, 3], ciphertext: tampered, context: requestContext)
            #expect(combineError(partials, ciphertext: tampered)?.code == .decryptionFailed)
        }
    }

    @Test func truncatedCiphertextIsRefusedEverywhere() throws {
        let partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        for length in [0, 64, 65, ThresholdHPKE.minimumCiphertextByteCount - 1] {
            let truncated = Array(ciphertext.prefix(length))
            #expect(combineError(partials, ciphertext: truncated)?.code == .invalidCiphertext)
            let custodian = #expect(throws: ShardCryptoError.self) {
                try ThresholdHPKE.partialDecrypt(
                    ciphertext: truncated, share: try fixture.share(1), context: requestContext)
            }
            #expect(custodian?.code == .invalidCiphertext)
            let whole = #expect(throws: ShardCryptoError.self) {
                try ThresholdHPKE.open(ciphertext: truncated, privateKey: fixture.privateKey, info: info)
            }
            #expect(whole?.code == .invalidCiphertext)
        }
    }

    @Test func badEncapsulatedKeysAreRefused() throws {
        let partials = try fixture.partials([1, 2, 3], ciphertext: ciphertext, context: requestContext)
        let sealed = Array(ciphertext[65...])
        var offCurve = Array(ciphertext[..<65])
        offCurve[64] ^= 0x01  // y + 1 (or − 1): no longer on the curve
        var compressedPrefix = Array(ciphertext[..<65])
        compressedPrefix[0] = 0x02
        let cases: [([UInt8], ShardCryptoError.Code)] = [
            ([UInt8](repeating: 0, count: 65), .identityPoint),
            (offCurve, .pointNotOnCurve),
            (compressedPrefix, .invalidPointEncoding),
        ]
        for (enc, code) in cases {
            let bad = enc + sealed
            #expect(combineError(partials, ciphertext: bad)?.code == code)
            let custodian = #expect(throws: ShardCryptoError.self) {
                try ThresholdHPKE.partialDecrypt(ciphertext: bad, share: try fixture.share(1), context: requestContext)
            }
            #expect(custodian?.code == code)
            let whole = #expect(throws: ShardCryptoError.self) {
                try ThresholdHPKE.open(ciphertext: bad, privateKey: fixture.privateKey, info: info)
            }
            #expect(whole?.code == code)
        }
    }

    @Test func sealingToTheIdentityIsRefused() {
        let error = #expect(throws: ShardCryptoError.self) {
            try ThresholdHPKE.seal(plaintext: message, to: .identity, info: info)
        }
        #expect(error?.code == .identityPoint)
    }

    @Test func zeroShareIsRefusedByTheCustodian() throws {
        let error = #expect(throws: ShardCryptoError.self) {
            try ThresholdHPKE.partialDecrypt(
                ciphertext: ciphertext, share: SecretShare(id: try ParticipantID(1), value: .zero),
                context: requestContext)
        }
        #expect(error?.code == .zeroScalar)
    }
}
