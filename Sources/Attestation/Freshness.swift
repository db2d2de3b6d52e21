import Foundation
import TPM2

/// The TPM's clock as a quote reports it (`TPMS_CLOCK_INFO` inside `TPMS_ATTEST`).
///
/// For keys outside the endorsement and platform hierarchies the TPM obfuscates `resetCount` and
/// `restartCount` with a per-key offset; comparisons here are always between quotes by the same AK,
/// where the offset is constant, so equality still means "no reset or restart in between".
public struct TPMClockInfo: Hashable, Sendable, CustomStringConvertible {
    /// Milliseconds the TPM has been powered since it was last cleared (`clock`).
    public let clock: UInt64
    /// TPM resets (`TPM2_Startup(CLEAR)` after no or a `CLEAR` shutdown: a reboot) since the last clear.
    public let resetCount: UInt32
    /// TPM restarts or resumes (`TPM2_Startup(STATE)`: hibernation, suspend) since the last reset.
    public let restartCount: UInt32
    /// `safe`: the TPM has never reported a clock value higher than this one (it is `NO` after an
    /// unorderly shutdown, until the TPM saves a clock value past what it may have reported, or `TPM2_Clear`).
    public let isSafe: Bool

    /// Creates clock information.
    /// - Parameters:
    ///   - clock: the clock, in milliseconds.
    ///   - resetCount: the reset count.
    ///   - restartCount: the restart count.
    ///   - isSafe: the `safe` flag.
    public init(clock: UInt64, resetCount: UInt32, restartCount: UInt32, isSafe: Bool) {
        self.clock = clock
        self.resetCount = resetCount
        self.restartCount = restartCount
        self.isSafe = isSafe
    }

    /// The clock information of a parsed attestation structure.
    /// - Parameter attestation: the `TPMS_ATTEST`.
    public init(_ attestation: TPMAttestation) {
        self.init(clock: attestation.clock, resetCount: attestation.resetCount,
                  restartCount: attestation.restartCount, isSafe: attestation.clockIsSafe)
    }

    /// `clock 1062 ms, reset 1, restart 0, safe`.
    public var description: String {
        "clock \(clock) ms, reset \(resetCount), restart \(restartCount), \(isSafe ? "safe" : "not safe")"
    }
}

/// The policy's `freshness:` block: how recent and how continuous a quote must be.
///
/// The nonce proves the quote was made after the nonce existed; these rules bound how long after, and
/// tie successive quotes of one AK to one uninterrupted TPM life (Keylime and go-attestation habits).
public struct FreshnessRules: Hashable, Sendable {
    /// `maxAge`: the longest time, in seconds, between issuing the nonce and checking the quote;
    /// `nil` for no limit.
    public let maxNonceAge: Double?
    /// `requireSafeClock`: the quote's `TPMS_CLOCK_INFO.safe` must be YES.
    public let requireSafeClock: Bool
    /// `monotonic`: against the previous accepted quote of the same AK, the clock must not go back and
    /// `resetCount` and `restartCount` must not change.
    public let monotonic: Bool

    /// The longest `maxAge` accepted; a longer one would not be freshness.
    public static let maximumNonceAge: Double = 24 * 3600

    /// What `keyshard policy learn` writes: 60 s, a safe clock, and one TPM life per AK series.
    public static let recommended = FreshnessRules(maxNonceAge: 60, requireSafeClock: true, monotonic: true)

    /// Creates rules.
    /// - Parameters:
    ///   - maxNonceAge: the longest nonce age in seconds, or `nil` for none.
    ///   - requireSafeClock: whether the clock must be safe.
    ///   - monotonic: whether quotes must continue the previous one's TPM life.
    public init(maxNonceAge: Double? = nil, requireSafeClock: Bool = false, monotonic: Bool = false) {
        self.maxNonceAge = maxNonceAge
        self.requireSafeClock = requireSafeClock
        self.monotonic = monotonic
    }
}

extension FreshnessRules {
    /// Why the ``recommended`` rules would refuse the TPM of a reference boot, for `policy learn` to say:
    /// a reference quote whose clock is not safe means `requireSafeClock` refuses that TPM's quotes for a
    /// while. `nil` when there is nothing to say (or the quote does not parse; learning refuses it).
    /// - Parameter evidence: the reference boot's evidence.
    public static func learningNote(for evidence: Evidence) -> String? {
        guard let attestation = try? TPMAttestation(parsing: evidence.quoteMessage), !attestation.clockIsSafe else {
            return nil
        }
        return "the reference quote's TPM clock is not safe (the TPM lost power without an orderly shutdown), so "
            + "requireSafeClock: true refuses this TPM's quotes until its clock is safe again (libtpms: within about "
            + "70 minutes of powered time); set it to false only for TPMs known to lose power."
    }
}

/// What the verifier knows besides the evidence that the freshness rules need.
public struct FreshnessContext: Hashable, Sendable {
    /// When this verifier issued the nonce; `nil` when unknown (a policy with `maxAge` then refuses).
    public var nonceIssuedAt: Date?
    /// When the quote is checked (normally now).
    public var checkedAt: Date
    /// The clock information of the previous accepted quote by the same AK, or `nil` for the first one.
    public var previous: TPMClockInfo?

    /// Creates a context.
    /// - Parameters:
    ///   - nonceIssuedAt: when the nonce was issued, if known.
    ///   - checkedAt: the time of the check.
    ///   - previous: the previous accepted quote's clock information, if any.
    public init(nonceIssuedAt: Date? = nil, checkedAt: Date = Date(), previous: TPMClockInfo? = nil) {
        self.nonceIssuedAt = nonceIssuedAt
        self.checkedAt = checkedAt
        self.previous = previous
    }
}

extension FreshnessRules {
    /// Evaluates the rules for a quote's clock: one ``CheckResult`` per enabled rule, in YAML order.
    ///
    /// Pure: it does not look at the signature, so callers must also verify the quote (``QuoteVerifier``
    /// does both).
    /// - Parameters:
    ///   - clock: the quote's clock information.
    ///   - context: the nonce's issue time, the check time and the previous quote's clock.
    ///   - policyName: the policy's name, for messages.
    /// - Returns: the checks and their refusals.
    public func evaluate(_ clock: TPMClockInfo, context: FreshnessContext, policyName: String) -> [CheckResult] {
        var results: [CheckResult] = []
        if let maxNonceAge {
            let refusals = checkAge(maxNonceAge, context: context, policyName: policyName)
            results.append(CheckResult(
                name: "nonce issued at most \(Self.format(maxNonceAge)) before the check", passed: refusals.isEmpty,
                refusals: refusals))
        }
        if requireSafeClock {
            let refusals = clock.isSafe ? [] : [Refusal(.freshnessClockUnsafe,
                "The TPM reports its clock as not safe (\(clock)): it lost power without an orderly shutdown and "
                    + "its clock may have gone back, so clock-based freshness cannot be trusted. Shut VMs down "
                    + "cleanly; the flag returns once the TPM has saved a clock value past what it reported before "
                    + "(libtpms: within about 70 minutes of powered time) or after TPM2_Clear. Remove "
                    + "requireSafeClock from policy \(policyName) only if this TPM is known to lose power.")]
            results.append(CheckResult(name: "TPM clock is safe", passed: refusals.isEmpty, refusals: refusals))
        }
        if monotonic {
            guard let previous = context.previous else {
                results.append(CheckResult(
                    name: "TPM clock continues the previous quote's (none given: this quote starts the series)",
                    passed: true, refusals: []))
                return results
            }
            let refusals = Self.continuity(clock, previous: previous, strictlyForward: false)
            results.append(CheckResult(
                name: "TPM clock continues the previous quote's (same boot, clock not back)",
                passed: refusals.isEmpty, refusals: refusals))
        }
        return results
    }

    private func checkAge(_ maxNonceAge: Double, context: FreshnessContext, policyName: String) -> [Refusal] {
        guard let issued = context.nonceIssuedAt else {
            return [Refusal(.freshnessNonceTime,
                "Policy \(policyName) limits a nonce's age to \(Self.format(maxNonceAge)) but this check was not "
                    + "told when the nonce was issued: pass the time the challenge was sent "
                    + "(keyshard attest verify --nonce-issued-at, RFC 3339).")]
        }
        let age = context.checkedAt.timeIntervalSince(issued)
        if age < 0 {
            return [Refusal(.freshnessNonceTime,
                "The nonce's issue time is \(Self.format(-age)) after the check time: give the time this "
                    + "verifier issued the nonce, in RFC 3339 with a zone (2026-11-29T12:00:00Z), and check "
                    + "the verifier's clock.")]
        }
        if age > maxNonceAge {
            return [Refusal(.freshnessNonceExpired,
                "The nonce was issued \(Self.format(age)) before this check; policy \(policyName) accepts at most "
                    + "\(Self.format(maxNonceAge)): the quote may have been held back or replayed. Issue a new "
                    + "nonce and ask for a fresh quote.")]
        }
        return []
    }

    /// The TPM clock rule between two quotes of one AK: the same boot (resetCount) and restart
    /// (restartCount), and the clock not going back (`strictlyForward`: strictly after, as the
    /// coordinator demands of heartbeats, where an equal clock means a replay).
    /// - Returns: `freshness.reset`, `freshness.restart`, `freshness.clock-back` refusals, or none.
    public static func continuity(
        _ clock: TPMClockInfo, previous: TPMClockInfo, strictlyForward: Bool
    ) -> [Refusal] {
        var refusals: [Refusal] = []
        if clock.resetCount != previous.resetCount {
            refusals.append(Refusal(.freshnessReset,
                "The TPM's resetCount is \(clock.resetCount), the previous quote's was \(previous.resetCount): "
                    + "the TPM was reset (the VM rebooted) between the two quotes, so this is another VM life "
                    + "whose boot was not watched. If the reboot was expected, attest it afresh without a "
                    + "previous quote (a full first attestation)."))
        }
        if clock.restartCount != previous.restartCount {
            refusals.append(Refusal(.freshnessRestart,
                "The TPM's restartCount is \(clock.restartCount), the previous quote's was "
                    + "\(previous.restartCount): the TPM was restarted (suspend or hibernation, or a saved VM "
                    + "state was resumed) between the two quotes. If that was expected, attest it afresh "
                    + "without a previous quote."))
        }
        if clock.resetCount == previous.resetCount && clock.restartCount == previous.restartCount
            && (clock.clock < previous.clock || (strictlyForward && clock.clock == previous.clock)) {
            refusals.append(Refusal(.freshnessClockBack,
                "The TPM clock is \(clock.clock) ms, not after the previous quote's \(previous.clock) ms in the same "
                    + "boot: the quotes are out of order (the 'previous' one is newer) or the TPM state was rolled "
                    + "back (a VM snapshot was restored). Check which quote is the latest; treat a rollback as "
                    + "an attack."))
        }
        return refusals
    }

    /// A duration as the policy writes it: `30s`, `1m30s`, `1h`, `1500ms`.
    static func format(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        // Whole milliseconds, as parseDuration reads them back (it takes no decimal point).
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        var remaining = milliseconds / 1000
        var text = ""
        for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] where remaining >= size {
            text += "\(remaining / size)\(unit)"
            remaining %= size
        }
        return text.isEmpty ? "0s" : text
    }

    /// Parses a duration: one or more `<whole number><unit>` with units `ms`, `s`, `m`, `h`
    /// (`30s`, `5m`, `1h30m`); `nil` when malformed.
    static func parseDuration(_ text: String) -> Double? {
        var seconds = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9, let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": seconds += value / 1000
            case "s": seconds += value
            case "m": seconds += value * 60
            case "h": seconds += value * 3600
            default: return nil
            }
        }
        return seconds
    }
}

/// Reading the previous quote that ``FreshnessRules/monotonic`` compares with.
public enum PreviousQuote {
    /// The clock information of a previous quote by the same AK, after checking that it is one.
    ///
    /// The previous evidence must carry the same AK public area as the current evidence and a quote
    /// whose signature verifies with it, so a made-up "previous" clock cannot be slipped in. (Its
    /// nonce and PCRs were judged when it was accepted, and are not judged again.)
    /// - Parameters:
    ///   - previous: the evidence accepted before.
    ///   - current: the evidence being checked now.
    /// - Returns: the previous quote's clock information.
    /// - Throws: ``AttestationError`` `.invalidArgument` when the previous evidence's AK differs, or its
    ///   AK, quote or signature does not parse or verify.
    public static func clockInfo(of previous: Evidence, before current: Evidence) throws(AttestationError)
        -> TPMClockInfo
    {
        func unusable(_ reason: String) -> AttestationError {
            AttestationError(.invalidArgument, "The previous evidence is unusable: \(reason)")
        }
        guard previous.akPublic == current.akPublic else {
            throw unusable("it was signed by another attestation key, and TPM clocks are compared per AK; "
                + "give the last accepted evidence of this attester.")
        }
        let ak: TPMPublic
        let attestation: TPMAttestation
        let signature: TPMSignature
        do {
            ak = try TPMPublic(parsing: previous.akPublic)
            attestation = try TPMAttestation(parsing: previous.quoteMessage)
            signature = try TPMSignature(parsing: previous.quoteSignature)
        } catch {
            throw unusable(error.reason)
        }
        let refusals = AKSignature.check(signature, over: attestation.encoded, by: ak)
        guard refusals.isEmpty else {
            throw unusable("its quote signature does not verify with its AK (\(refusals[0].code)).")
        }
        return TPMClockInfo(attestation)
    }
}
