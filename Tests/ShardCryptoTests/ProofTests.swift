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

    @Test func malformedProofsAreRefused() {
        #expect(throws: ShardCryptoError(.invalidScalarEncoding, "")) { try DLEQProof(serialized: [UInt8](repeating: 1, count: 63)) }
        #expect(throws: ShardCryptoError(.scalarOutOfRange, "")) { try DLEQProof(serialized: [UInt8](repeating: 0xff, count: 64)) }
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
