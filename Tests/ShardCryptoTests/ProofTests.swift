import Testing
@testable import ShardCrypto

@Suite struct DLEQProofTests {
    @Test func honestProofVerifies() throws {
        let x = Scalar.random()
        let base = Point.generatorMultiple(.random())
        let (partial, proof) = try DLEQProof.prove(secret: x, base: base, context: Array("request-1".utf8))
        #expect(partial == x * base)
        #expect(proof.verify(publicKey: .generatorMultiple(x), base: base, partial: partial, context: Array("request-1".utf8)))
        #expect(try DLEQProof(serialized: proof.serialized()) == proof)
    }

    @Test func wrongPartialOrKeyOrContextFails() throws {
        let x = Scalar.random()
        let base = Point.generatorMultiple(.random())
        let context = Array("ctx".utf8)
        let (partial, proof) = try DLEQProof.prove(secret: x, base: base, context: context)
        let publicKey = Point.generatorMultiple(x)
        #expect(!proof.verify(publicKey: publicKey, base: base, partial: partial + .generator, context: context))
        #expect(!proof.verify(publicKey: publicKey + .generator, base: base, partial: partial, context: context))
        #expect(!proof.verify(publicKey: publicKey, base: base + .generator, partial: partial, context: context))
        #expect(!proof.verify(publicKey: publicKey, base: base, partial: partial, context: Array("other".utf8)))
        #expect(!proof.verify(publicKey: publicKey, base: base, partial: .identity, context: context))
        // A partial computed with another secret, with a proof for that other secret, fails against X.
        let y = Scalar.random()
        let (otherPartial, otherProof) = try DLEQProof.prove(secret: y, base: base, context: context)
        #expect(!otherProof.verify(publicKey: publicKey, base: base, partial: otherPartial, context: context))
    }

    @Test func malformedProofsAreRefused() throws {
        let (_, proof) = try DLEQProof.prove(secret: .random(), base: .generatorMultiple(.random()), context: [])
        let bytes = try proof.serialized()
        #expect(bytes.count == DLEQProof.byteCount && bytes.count == 162)
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) { try DLEQProof(serialized: Array(bytes.dropLast())) }
        // The old challenge ‖ response form (64 bytes) is refused rather than misread.
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) { try DLEQProof(serialized: [UInt8](repeating: 1, count: 64)) }
        #expect(throws: ShardCryptoError(.scalarOutOfRange, "")) {
            try DLEQProof(serialized: Array(bytes.prefix(130)) + [UInt8](repeating: 0xff, count: 32))
        }
        var offCurve = bytes
        offCurve[64] ^= 1
        #expect(throws: ShardCryptoError(.pointNotOnCurve, "")) { try DLEQProof(serialized: offCurve) }
        var compressedInside = bytes
        compressedInside[65] = 0x02
        #expect(throws: ShardCryptoError.self) { try DLEQProof(serialized: compressedInside) }
    }

    /// t proofs over one base, as one decryption's custodians send them.
    static func statements(count: Int, base: Point, context: [UInt8]) throws -> [DLEQProof.Statement] {
        try (0..<count).map { _ in
            let x = Scalar.random()
            let (partial, proof) = try DLEQProof.prove(secret: x, base: base, context: context)
            return DLEQProof.Statement(publicKey: .generatorMultiple(x), partial: partial, proof: proof, context: context)
        }
    }

    @Test func aBatchOfHonestProofsVerifiesAndOneFalseProofFailsIt() throws {
        let base = Point.generatorMultiple(.random())
        let context = Array("batch".utf8)
        for count in [1, 2, 3, 5, 9] {
            var statements = try Self.statements(count: count, base: base, context: context)
            #expect(DLEQProof.verifyBatch(base: base, statements), "\(count) honest proofs")
            let liar = count / 2
            let honest = statements[liar]
            statements[liar] = DLEQProof.Statement(
                publicKey: honest.publicKey, partial: honest.partial + .generator, proof: honest.proof, context: context)
            #expect(!DLEQProof.verifyBatch(base: base, statements), "\(count) proofs, one false")
            #expect(!DLEQProof.verifyBatch(base: base + .generator, try Self.statements(count: count, base: base, context: context)))
        }
        #expect(DLEQProof.verifyBatch(base: base, []))
    }

    @Test func colludingProversCannotCancelTheirErrorsInTheBatch() throws {
        // Two provers whose proofs are each false by ±Δ in the base equation: an unweighted sum of
        // the checks would cancel the errors and pass; the random weights do not.
        let base = Point.generatorMultiple(.random())
        let context = Array("collusion".utf8)
        let delta = Point.generatorMultiple(.random())
        func forged(_ shift: Point) throws -> (DLEQProof.Statement, residual: Point) {
            let x = Scalar.random()
            let k = Scalar.random()
            let publicKey = Point.generatorMultiple(x)
            let partial = x * base
            let a1 = Point.generatorMultiple(k)
            let a2 = k * base + shift
            let c = try DLEQProof.challenge(base: base, publicKey: publicKey, partial: partial, a1: a1, a2: a2, context: context)
            let proof = DLEQProof(generatorCommitment: a1, baseCommitment: a2, response: k + c * x)
            // z·H − c·D − A₂, zero for an honest proof.
            let residual = proof.response * base - c * partial - a2
            return (DLEQProof.Statement(publicKey: publicKey, partial: partial, proof: proof, context: context), residual)
        }
        let (first, firstResidual) = try forged(delta)
        let (second, secondResidual) = try forged(-delta)
        #expect(!firstResidual.isIdentity && (firstResidual + secondResidual).isIdentity, "the errors cancel unweighted")
        #expect(!DLEQProof.verifyBatch(base: base, [first, second]))
        #expect(!DLEQProof.verifyBatch(base: base, [first]) && !DLEQProof.verifyBatch(base: base, [second]))
        #expect(!first.proof.verify(publicKey: first.publicKey, base: base, partial: first.partial, context: context))
    }

    @Test func theBatchNamesOnlyTheCulpritsOfADecryption() throws {
        // ThresholdHPKE checks a decryption's partials in one batch and, when it fails, one by one.
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 3, participants: 5)
        let ciphertext = try ThresholdHPKE.seal(plaintext: [1, 2, 3], to: commitment.publicKey, info: [])
        let publicShares = ThresholdHPKE.PublicShares(commitment: commitment, participants: shares.map(\.id))
        var partials = try shares.map { try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: $0, context: [7]) }
        let allGood = try ThresholdHPKE.verifyPartials(ciphertext: ciphertext, partials: partials, publicShares: publicShares, context: [7])
        #expect(allGood.valid.count == 5 && allGood.rejected.isEmpty)
        #expect(try ThresholdHPKE.combine(ciphertext: ciphertext, verified: allGood, threshold: 3, info: []).withUnsafeBytes { Array($0) } == [1, 2, 3])
        // Participants 2 and 4 lie (2 with another request's proof, 4 with a shifted D).
        partials[1] = try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: shares[1], context: [8])
        partials[3] = PartialDecryption(id: partials[3].id, value: partials[3].value + .generator, proof: partials[3].proof)
        let verdict = try ThresholdHPKE.verifyPartials(ciphertext: ciphertext, partials: partials, publicShares: publicShares, context: [7])
        #expect(verdict.valid.map(\.id.rawValue) == [1, 3, 5])
        #expect(verdict.rejected.map(\.id.rawValue) == [2, 4] && verdict.rejected.allSatisfy { $0.reason == .invalidProof })
        #expect(try ThresholdHPKE.combine(ciphertext: ciphertext, verified: verdict, threshold: 3, info: []).withUnsafeBytes { Array($0) } == [1, 2, 3])
        // A verification is bound to its ciphertext and must come from a key version's public shares.
        let other = try ThresholdHPKE.seal(plaintext: [9], to: commitment.publicKey, info: [])
        #expect(throws: ShardCryptoError(.invalidParameters, "")) {
            try ThresholdHPKE.combine(ciphertext: other, verified: verdict, threshold: 3, info: [])
        }
        let loose = try ThresholdHPKE.verifyPartials(
            ciphertext: ciphertext, partials: partials, publicShares: publicShares.shares, context: [7])
        #expect(throws: ShardCryptoError(.invalidParameters, "")) {
            try ThresholdHPKE.combine(ciphertext: ciphertext, verified: loose, threshold: 3, info: [])
        }
        #expect(throws: ShardCryptoError(.invalidParameters, "")) {
            try ThresholdHPKE.combine(ciphertext: ciphertext, verified: verdict, threshold: 4, info: [])
        }
    }
}

@Suite struct MultiScalarMultiplicationTests {
    @Test func theSumOfMultiplesEqualsTheMultiplicationsOneByOne() {
        for count in [1, 2, 3, 8, 17] {
            let terms = (0..<count).map { _ in (scalar: Scalar.random(), point: Point.generatorMultiple(.random())) }
            let oneByOne = Point.sum(terms.map { $0.scalar * $0.point })
            #expect(Point.sumOfMultiples(terms) == oneByOne)
            let g = Scalar.random()
            #expect(Point.sumOfMultiples(terms, generator: g) == oneByOne + .generatorMultiple(g))
        }
        #expect(Point.sumOfMultiples([]).isIdentity)
        let g = Scalar.random()
        #expect(Point.sumOfMultiples([], generator: g) == .generatorMultiple(g))
        // Terms that cancel, and zero scalars, give the identity.
        let p = Point.generatorMultiple(.random())
        let k = Scalar.random()
        #expect(Point.sumOfMultiples([(k, p), (Scalar.zero - k, p)]).isIdentity)
        #expect(Point.sumOfMultiples([(.zero, p)]).isIdentity)
    }
}

@Suite struct PossessionProofTests {
    @Test func proofBindsShareAndNonce() throws {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: 2, participants: 3)
        let nonce = Array(SecretBytes.random(count: 32).withUnsafeBytes { Array($0) })
        let proof = try PossessionProof.prove(share: shares[1], nonce: nonce)
        let publicShare = commitment.publicShare(for: shares[1].id)
        #expect(proof.verify(id: shares[1].id, publicShare: publicShare, nonce: nonce))
        #expect(try PossessionProof(serialized: proof.serialized()) == proof)
        // Replayed against a fresh nonce: refused.
        #expect(!proof.verify(id: shares[1].id, publicShare: publicShare, nonce: nonce.reversed()))
        // Presented as another custodian's proof: refused.
        #expect(!proof.verify(id: shares[2].id, publicShare: commitment.publicShare(for: shares[2].id), nonce: nonce))
        #expect(!proof.verify(id: shares[2].id, publicShare: publicShare, nonce: nonce))
    }

    @Test func malformedProofsAreRefused() throws {
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) { try PossessionProof(serialized: [1, 2, 3]) }
        #expect(throws: ShardCryptoError(.invalidPointEncoding, "")) {
            try PossessionProof(serialized: [0x00] + [UInt8](repeating: 0, count: 64))
        }
    }
}

extension MultiScalarMultiplicationTests {
    @Test func identityPointsAmongTheTermsAddNothing() {
        let p = Point.generatorMultiple(.random())
        let k = Scalar.random()
        #expect(Point.sumOfMultiples([(k, .identity), (k, p)]) == k * p)
        #expect(Point.sumOfMultiples([(k, .identity)]).isIdentity)
        #expect(Point.sumOfMultiples([(k, .identity)], generator: k) == .generatorMultiple(k))
        #expect(Point.sumOfMultiples([(.zero, p)], generator: .zero).isIdentity)
    }
}
