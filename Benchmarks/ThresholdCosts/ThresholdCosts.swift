import Benchmark
import ShardCrypto

/// keyshard's threshold operations next to OpenSSL's single-key operations on the
/// same machine, in one run. Each threshold benchmark names what one iteration does,
/// so the rows compare like with like:
///
/// - decryption: a custodian's partial decryption (x_i·enc + DLEQ proof) and the
///   coordinator's combine (verify t proofs, interpolate, HPKE key schedule, AES-GCM)
///   against one OpenSSL ECDH and a whole-key HPKE open;
/// - signing: one FROST signer's two rounds and the coordinator's aggregate (verifies
///   every share) against one OpenSSL ECDSA signature; verification against ECDSA verify;
/// - scalar arithmetic: keyshard's fixed-width constant-time field (what ``Scalar`` uses)
///   against OpenSSL's generic `BIGNUM` functions (what it used before), one operation
///   per inner iteration, each on the previous result so the operations cannot overlap.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 5,
        maxDuration: .seconds(2),
        maxIterations: 1_000
    )

    let threshold = 3
    let message = Array("a 32-byte message to be signed..".utf8)
    let info = Array("bench".utf8)
    let context = Array("bench request".utf8)

    // Fixtures: a 3-of-5 key made by a dealer split (the benchmark measures use, not creation).
    let (shares, commitment) = try! Shamir.split(secret: .random(), threshold: threshold, participants: 5)
    let groupKey = commitment.publicKey
    let publicShares = Dictionary(uniqueKeysWithValues: shares.map { ($0.id, commitment.publicShare(for: $0.id)) })
    let signers = Array(shares.prefix(threshold))
    let ciphertext = try! ThresholdHPKE.seal(plaintext: Array(repeating: 0x42, count: 32), to: groupKey, info: info)
    let partials = try! signers.map { try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: $0, context: context) }
    let wholeKey = Scalar.random()
    let wholeKeyCiphertext = try! ThresholdHPKE.seal(
        plaintext: Array(repeating: 0x42, count: 32), to: .generatorMultiple(wholeKey), info: info)
    let opensslA = LibcryptoReferenceKey()
    let opensslB = LibcryptoReferenceKey()
    let ecdsaSignature = try! opensslA.sign(message)

    // Reference: OpenSSL single-key operations.
    Benchmark("OpenSSL ECDH P-256 (single key)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try opensslA.deriveSharedSecret(with: opensslB)) }
    }
    Benchmark("OpenSSL ECDSA P-256 sign (single key)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try opensslA.sign(message)) }
    }
    Benchmark("OpenSSL ECDSA P-256 verify") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(opensslA.verify(ecdsaSignature, for: message)) }
    }

    // Decryption.
    Benchmark("HPKE open with a whole key (single-key reference)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try ThresholdHPKE.open(ciphertext: wholeKeyCiphertext, privateKey: wholeKey, info: info))
        }
    }
    Benchmark("Threshold decrypt: one custodian's partial + DLEQ proof") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: shares[0], context: context))
        }
    }
    Benchmark("Threshold decrypt: combine 3-of-5 (3 DLEQ checks + HPKE)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                try ThresholdHPKE.combine(
                    ciphertext: ciphertext, partials: partials, publicKey: groupKey, publicShares: publicShares,
                    threshold: threshold, info: info, context: context))
        }
    }

    // Signing.
    // One closure call is one sample; set-up runs before startMeasurement() and is not timed.
    Benchmark("FROST round 1: one signer's nonces and commitment") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(FROST.commit(share: signers[0])) }
    }
    Benchmark("FROST round 2: one signer's share (3 signers)") { benchmark in
        let rounds = signers.map { FROST.commit(share: $0) }
        let commitments = rounds.map(\.1)
        benchmark.startMeasurement()
        blackHole(
            try FROST.sign(
                share: signers[0], nonces: rounds[0].0, message: message, commitments: commitments,
                groupPublicKey: groupKey))
    }
    Benchmark("FROST aggregate 3-of-5 (verifies 3 shares + signature)") { benchmark in
        let rounds = signers.map { FROST.commit(share: $0) }
        let commitments = rounds.map(\.1)
        let signatureShares = try zip(signers, rounds).map { share, round in
            try FROST.sign(share: share, nonces: round.0, message: message, commitments: commitments, groupPublicKey: groupKey)
        }
        benchmark.startMeasurement()
        blackHole(
            try FROST.aggregate(
                shares: signatureShares, message: message, commitments: commitments, groupPublicKey: groupKey,
                publicShares: publicShares))
    }
    Benchmark("FROST verify") { benchmark in
        let rounds = signers.map { FROST.commit(share: $0) }
        let commitments = rounds.map(\.1)
        let signatureShares = try zip(signers, rounds).map { share, round in
            try FROST.sign(share: share, nonces: round.0, message: message, commitments: commitments, groupPublicKey: groupKey)
        }
        let signature = try FROST.aggregate(
            shares: signatureShares, message: message, commitments: commitments, groupPublicKey: groupKey,
            publicShares: publicShares)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(FROST.verify(signature: signature, message: message, publicKey: groupKey))
        }
    }

    // Scalar arithmetic. Each add or mul sample runs 1,000 dependent operations (scaled:
    // the table shows the time of one); an inversion is long enough to time alone.
    let scalarA = Scalar.random()
    let scalarB = Scalar.random()
    let referenceA = LibcryptoReferenceScalar(canonical: scalarA.serialized())!
    let referenceB = LibcryptoReferenceScalar(canonical: scalarB.serialized())!
    let inner = Benchmark.Configuration(scalingFactor: .kilo)

    Benchmark("scalar add (fixed-width Montgomery)", configuration: inner) { benchmark in
        var value = scalarA
        for _ in benchmark.scaledIterations { value = value + scalarB }
        blackHole(value)
    }
    Benchmark("scalar add (BIGNUM BN_mod_add)", configuration: inner) { benchmark in
        var value = referenceA
        for _ in benchmark.scaledIterations { value = value + referenceB }
        blackHole(value)
    }
    Benchmark("scalar mul (fixed-width Montgomery)", configuration: inner) { benchmark in
        var value = scalarA
        for _ in benchmark.scaledIterations { value = value * scalarB }
        blackHole(value)
    }
    Benchmark("scalar mul (BIGNUM BN_mod_mul)", configuration: inner) { benchmark in
        var value = referenceA
        for _ in benchmark.scaledIterations { value = value * referenceB }
        blackHole(value)
    }
    Benchmark("scalar inverse (fixed-width Montgomery)") { benchmark in
        var value = scalarA
        for _ in benchmark.scaledIterations { value = try value.inverse() }
        blackHole(value)
    }
    Benchmark("scalar inverse (BIGNUM BN_mod_exp_mont_consttime)") { benchmark in
        var value = referenceA
        for _ in benchmark.scaledIterations { value = value.inverse() }
        blackHole(value)
    }
}
