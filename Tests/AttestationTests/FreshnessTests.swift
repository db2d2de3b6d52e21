import Attestation
import Foundation
import Testing
import TPM2

/// The policy's `freshness:` rules: parsing and lint errors, and the verifier's nonce-age, safe-clock and
/// monotonic checks against successive real swtpm quotes across a reset, a restart and a power loss.
@Suite struct FreshnessTests {
    static let allRules = """
        freshness:
          maxAge: 60s
          requireSafeClock: true
          monotonic: true
        """

    static func verifier(_ freshness: String = allRules) throws -> QuoteVerifier {
        QuoteVerifier(policy: try AttestationPolicy(yaml: FreshnessEvidence.policyYAML(freshness: freshness)))
    }

    static func clock(_ evidence: Evidence) throws -> TPMClockInfo {
        TPMClockInfo(try TPMAttestation(parsing: evidence.quoteMessage))
    }

    /// A context whose nonce is ten seconds old, well inside maxAge.
    static func context(previous: TPMClockInfo? = nil) -> FreshnessContext {
        FreshnessContext(nonceIssuedAt: Date(timeIntervalSince1970: 1_000_000),
                         checkedAt: Date(timeIntervalSince1970: 1_000_010), previous: previous)
    }

    // MARK: Parsing

    @Test func parsesTheBlock() throws {
        let policy = try AttestationPolicy(yaml: FreshnessEvidence.policyYAML(freshness: Self.allRules))
        #expect(policy.freshness == FreshnessRules(maxNonceAge: 60, requireSafeClock: true, monotonic: true))
        let partial = try AttestationPolicy(
            yaml: FreshnessEvidence.policyYAML(freshness: "freshness: {maxAge: 1m30s}"))
        #expect(partial.freshness == FreshnessRules(maxNonceAge: 90))
        #expect(try AttestationPolicy(yaml: FreshnessEvidence.policyYAML(freshness: "")).freshness == nil)
    }

    @Test(arguments: [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("250ms", 0.25), ("1h30m", 5400.0)])
    func readsDurations(text: String, seconds: Double) throws {
        let policy = try AttestationPolicy(
            yaml: FreshnessEvidence.policyYAML(freshness: "freshness:\n  maxAge: \(text)"))
        #expect(policy.freshness?.maxNonceAge == seconds)
    }

    @Test func reportsEveryProblemWithItsPosition() throws {
        let yaml = FreshnessEvidence.policyYAML(freshness: """
            freshness:
              maxAge: 60
              requireSafeClock: yes please
              monotonc: true
            """)
        // Lines: 1-4 header, 5-8 pcrs, 9 freshness, 10 maxAge, 11 requireSafeClock, 12 monotonc.
        let error = try #require(throws: PolicyError.self) { try AttestationPolicy(yaml: yaml, source: "p.yaml") }
        let positions = error.problems.map { "\($0.line ?? 0):\($0.column ?? 0)" }
        #expect(positions == ["10:11", "11:21", "12:3"])
        #expect(error.problems[0].message.contains("with a unit"))
        #expect(error.problems[1].message.contains("true or false"))
        #expect(error.problems[2].message.contains("Unknown freshness key \"monotonc\""))
    }

    @Test(arguments: ["freshness: {}", "freshness: [60s]", "freshness:\n  maxAge: 0s", "freshness:\n  maxAge: 25h",
                      "freshness:\n  maxAge: 5d", "freshness:\n  maxAge: s"])
    func refusesMalformedBlocks(block: String) throws {
        #expect(throws: PolicyError.self) {
            try AttestationPolicy(yaml: FreshnessEvidence.policyYAML(freshness: block))
        }
    }

    @Test func learnedYAMLRoundTrips() throws {
        let policy = AttestationPolicy(
            name: "x", pcrBank: .sha256, allowedPCRValues: [0: [[UInt8](repeating: 0, count: 32)]],
            freshness: .recommended)
        let text = policy.yaml()
        #expect(text.contains("maxAge: 1m "))
        #expect(try AttestationPolicy(yaml: text) == policy)
        for seconds in [0.25, 1.5, 45, 90, 3600, 5430] {
            let rules = FreshnessRules(maxNonceAge: seconds, requireSafeClock: true)
            let withRules = AttestationPolicy(name: "x", pcrBank: .sha256, allowedPCRValues: policy.allowedPCRValues,
                                              freshness: rules)
            #expect(try AttestationPolicy(yaml: withRules.yaml()).freshness == rules)
        }
    }

    // MARK: Real quotes

    @Test func theFixtureHasTheClocksItClaims() throws {
        let quotes = try FreshnessEvidence.get()
        let (first, second) = (try Self.clock(quotes.first), try Self.clock(quotes.second))
        let (reset, restart, lost) = (try Self.clock(quotes.afterReset), try Self.clock(quotes.afterRestart),
                                      try Self.clock(quotes.afterPowerLoss))
        #expect(first.isSafe && second.isSafe && reset.isSafe && restart.isSafe)
        #expect(!lost.isSafe)
        #expect(second.resetCount == first.resetCount && second.restartCount == first.restartCount)
        #expect(second.clock >= first.clock)
        #expect(reset.resetCount != second.resetCount)
        #expect(restart.resetCount == reset.resetCount && restart.restartCount != reset.restartCount)
    }

    @Test func twoSuccessiveQuotesPass() throws {
        let quotes = try FreshnessEvidence.get()
        let verifier = try Self.verifier()
        #expect(verifier.verify(quotes.first, nonce: FreshnessEvidence.nonce(1), freshness: Self.context())
            == .accepted)
        let previous = try PreviousQuote.clockInfo(of: quotes.first, before: quotes.second)
        #expect(previous == (try Self.clock(quotes.first)))
        let verdict = verifier.verify(quotes.second, nonce: FreshnessEvidence.nonce(2),
                                      freshness: Self.context(previous: previous))
        #expect(verdict == .accepted)
    }

    @Test func aQuoteAfterATPMResetIsRefused() throws {
        let quotes = try FreshnessEvidence.get()
        let verdict = try Self.verifier().verify(
            quotes.afterReset, nonce: FreshnessEvidence.nonce(3),
            freshness: Self.context(previous: try Self.clock(quotes.second)))
        #expect(verdict.refusalCodes == [.freshnessReset])
        #expect(verdict.refusals[0].reason.contains("attest it afresh without a previous quote"))
        // Without monotonic the same quote passes: the rule, not something else, refused it.
        let lenient = try Self.verifier("freshness:\n  requireSafeClock: true")
        #expect(lenient.verify(quotes.afterReset, nonce: FreshnessEvidence.nonce(3),
                               freshness: Self.context(previous: try Self.clock(quotes.second))) == .accepted)
    }

    @Test func aQuoteAfterATPMRestartIsRefused() throws {
        let quotes = try FreshnessEvidence.get()
        let verdict = try Self.verifier().verify(
            quotes.afterRestart, nonce: FreshnessEvidence.nonce(4),
            freshness: Self.context(previous: try Self.clock(quotes.afterReset)))
        #expect(verdict.refusalCodes == [.freshnessRestart])
    }

    @Test func quotesOutOfOrderAreRefused() throws {
        let quotes = try FreshnessEvidence.get()
        let (first, second) = (try Self.clock(quotes.first), try Self.clock(quotes.second))
        try #require(second.clock > first.clock)
        let verdict = try Self.verifier().verify(quotes.first, nonce: FreshnessEvidence.nonce(1),
                                                 freshness: Self.context(previous: second))
        #expect(verdict.refusalCodes == [.freshnessClockBack])
    }

    @Test func anUnsafeClockIsRefused() throws {
        let quotes = try FreshnessEvidence.get()
        let verdict = try Self.verifier().verify(quotes.afterPowerLoss, nonce: FreshnessEvidence.nonce(5),
                                                 freshness: Self.context())
        #expect(verdict.refusalCodes == [.freshnessClockUnsafe])
        let lenient = try Self.verifier("freshness:\n  monotonic: true")
        #expect(lenient.verify(quotes.afterPowerLoss, nonce: FreshnessEvidence.nonce(5),
                               freshness: Self.context()) == .accepted)
    }

    /// Flipping the safe byte of a genuine quote breaks its signature; the freshness check judges the flag
    /// as parsed either way, and the pure function judges it alone.
    @Test func theSafeFlagIsWhatTheCheckReads() throws {
        var evidence = try FreshnessEvidence.get().second
        let attestation = try TPMAttestation(parsing: evidence.quoteMessage)
        try #require(attestation.clockIsSafe)
        // magic, type, qualifiedSigner (TPM2B), extraData (TPM2B), clock, resetCount, restartCount, then safe.
        let safeOffset = 4 + 2 + 2 + attestation.qualifiedSigner.count + 2 + attestation.extraData.count + 8 + 4 + 4
        #expect(evidence.quoteMessage[safeOffset] == 1)
        evidence.quoteMessage[safeOffset] = 0
        let flipped = TPMClockInfo(try TPMAttestation(parsing: evidence.quoteMessage))
        #expect(!flipped.isSafe && flipped.clock == attestation.clock)
        let verdict = try Self.verifier().verify(evidence, nonce: FreshnessEvidence.nonce(2), freshness: Self.context())
        #expect(verdict.refusalCodes == [.signatureInvalid, .freshnessClockUnsafe])

        let rules = FreshnessRules(requireSafeClock: true)
        let results = rules.evaluate(flipped, context: Self.context(), policyName: "p")
        #expect(results.map(\.name) == ["TPM clock is safe"])
        #expect(results[0].refusals.map(\.code) == [.freshnessClockUnsafe])
        #expect(rules.evaluate(TPMClockInfo(attestation), context: Self.context(), policyName: "p")[0].passed)
    }

    @Test func nonceAge() throws {
        let evidence = try FreshnessEvidence.get().first
        let verifier = try Self.verifier("freshness:\n  maxAge: 60s")
        let issued = Date(timeIntervalSince1970: 1_000_000)
        func codes(checkedAfter seconds: Double, issueTimeKnown: Bool = true) -> Set<Refusal.Code> {
            verifier.verify(evidence, nonce: FreshnessEvidence.nonce(1), freshness: FreshnessContext(
                nonceIssuedAt: issueTimeKnown ? issued : nil, checkedAt: issued.addingTimeInterval(seconds)))
                .refusalCodes
        }
        #expect(codes(checkedAfter: 0).isEmpty)
        #expect(codes(checkedAfter: 60).isEmpty)
        #expect(codes(checkedAfter: 60.5) == [.freshnessNonceExpired])
        #expect(codes(checkedAfter: 3600) == [.freshnessNonceExpired])
        #expect(codes(checkedAfter: -5) == [.freshnessNonceTime])
        #expect(codes(checkedAfter: 0, issueTimeKnown: false) == [.freshnessNonceTime])
    }

    @Test func explainShowsOneRowPerRule() throws {
        let quotes = try FreshnessEvidence.get()
        let names = try Self.verifier().evaluate(quotes.first, nonce: FreshnessEvidence.nonce(1),
                                                 freshness: Self.context()).map(\.name)
        #expect(names.contains("nonce issued at most 1m before the check"))
        #expect(names.contains("TPM clock is safe"))
        #expect(names.contains("TPM clock continues the previous quote's (none given: this quote starts the series)"))
        let withPrevious = try Self.verifier().evaluate(quotes.second, nonce: FreshnessEvidence.nonce(2),
            freshness: Self.context(previous: try Self.clock(quotes.first)))
        let row = try #require(withPrevious.first { $0.name.hasPrefix("TPM clock continues") })
        #expect(row.passed && row.name.contains("same boot"))
        // A quote that does not parse: the freshness rows are reported as not run.
        var broken = quotes.first
        broken.quoteMessage = [1, 2, 3]
        let rows = try Self.verifier().evaluate(broken, nonce: FreshnessEvidence.nonce(1), freshness: Self.context())
        #expect(rows.filter { $0.name == "TPM clock is safe" }.map(\.passed) == [false])
    }

    @Test func thePreviousQuoteMustBeThisAKsAndGenuine() throws {
        let quotes = try FreshnessEvidence.get()
        let otherAK = try SwtpmEvidence.get().ecc
        #expect(throws: AttestationError(.invalidArgument, "")) {
            try PreviousQuote.clockInfo(of: otherAK, before: quotes.second)
        }
        var forged = quotes.first
        forged.quoteMessage[forged.quoteMessage.count - 1] ^= 1
        #expect(throws: AttestationError(.invalidArgument, "")) {
            try PreviousQuote.clockInfo(of: forged, before: quotes.second)
        }
    }

    @Test func learningFromAnUnsafeClockSaysWhatRequireSafeClockWillDo() throws {
        let quotes = try FreshnessEvidence.get()
        #expect(FreshnessRules.learningNote(for: quotes.first) == nil)
        let note = try #require(FreshnessRules.learningNote(for: quotes.afterPowerLoss))
        #expect(note.contains("requireSafeClock"))
        // Learning itself still works: freshness is not judged on a reference boot.
        let learned = try AttestationPolicy.learn(from: quotes.afterPowerLoss, name: "x")
        #expect(learned.freshness == .recommended)
    }
}
