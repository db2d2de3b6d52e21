/// Why a piece of evidence was refused: a stable code for machines and a sentence for people.
public struct Refusal: Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable refusal code such as `quote.magic` or `pcr.value`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, `area.reason`.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The EK certificate does not chain to the policy's roots or does not certify the EK.
        public static let ekCertificate = Code("ek.certificate")
        /// The AK public area could not be parsed.
        public static let akMalformed = Code("ak.malformed")
        /// The AK lacks an attribute an attestation key must have, or has `decrypt`.
        public static let akAttributes = Code("ak.attributes")
        /// The AK's key type, curve or size is not one this verifier accepts.
        public static let akKey = Code("ak.key")
        /// The AK's name algorithm is SHA-1: its name (what MakeCredential and the quote's signer bind)
        /// would rest on a broken hash.
        public static let akSHA1Name = Code("ak.sha1-name")
        /// The quote's `qualifiedSigner` is not the AK's qualified name (under the EK, when the EK is
        /// known): the TPM says another key signed it.
        public static let quoteSignerMismatch = Code("quote.signer-mismatch")
        /// The quote message (TPMS_ATTEST) could not be parsed.
        public static let quoteMalformed = Code("quote.malformed")
        /// The quote's magic is not TPM_GENERATED_VALUE: the TPM did not produce it (CVE-2024-29038).
        public static let quoteMagic = Code("quote.magic")
        /// The attestation structure is not a quote.
        public static let quoteType = Code("quote.type")
        /// The quote's qualifying data is not the expected nonce (stale or replayed quote).
        public static let quoteNonce = Code("quote.nonce")
        /// The quoted PCR selection is not exactly the policy's (CVE-2024-29039).
        public static let quotePCRSelection = Code("quote.pcr-selection")
        /// The reported PCR values do not hash to the quoted PCR digest.
        public static let quotePCRDigest = Code("quote.pcr-digest")
        /// The quote's signature could not be parsed.
        public static let signatureMalformed = Code("signature.malformed")
        /// The signature's scheme or hash is not one this verifier accepts for the AK.
        public static let signatureScheme = Code("signature.scheme")
        /// The signature does not verify with the AK (CVE-2023-3674).
        public static let signatureInvalid = Code("signature.invalid")
        /// A PCR the policy pins has no reported value.
        public static let pcrMissing = Code("pcr.missing")
        /// The event log could not be parsed or replayed (truncated, oversized, not crypto-agile).
        public static let eventLogMalformed = Code("eventlog.malformed")
        /// Replaying the event log does not give the quoted PCR values.
        public static let eventLogMismatch = Code("eventlog.mismatch")
        /// The policy has event rules but the evidence carries no event log.
        public static let eventLogMissing = Code("eventlog.missing")
        /// No event in the log matches an event rule's PCR, type and label.
        public static let eventLogRuleMissing = Code("eventlog.rule-missing")
        /// An event matching an event rule has a digest the rule does not allow.
        public static let eventLogRuleDigest = Code("eventlog.rule-digest")
        /// A PCR's value is not one the policy allows.
        public static let pcrValue = Code("pcr.value")
        /// The nonce was issued longer ago than the policy's `freshness.maxAge`.
        public static let freshnessNonceExpired = Code("freshness.nonce-expired")
        /// The policy has `freshness.maxAge` but the verifier was not told when the nonce was issued, or
        /// was told a time after the check.
        public static let freshnessNonceTime = Code("freshness.nonce-time")
        /// The quote's `TPMS_CLOCK_INFO.safe` is NO and the policy has `freshness.requireSafeClock`.
        public static let freshnessClockUnsafe = Code("freshness.clock-unsafe")
        /// `resetCount` differs from the previous quote's: the TPM was reset (a reboot) in between.
        public static let freshnessReset = Code("freshness.reset")
        /// `restartCount` differs from the previous quote's: the TPM was restarted (resume) in between.
        public static let freshnessRestart = Code("freshness.restart")
        /// The TPM clock is before the previous quote's in the same boot (out of order or rolled back).
        public static let freshnessClockBack = Code("freshness.clock-back")
        /// A heartbeat was answered later than the coordinator's window after its nonce was issued.
        public static let heartbeatLate = Code("heartbeat.late")
        /// A key version the custodian is expected to hold has no proof of possession in the heartbeat.
        public static let possessionMissing = Code("possession.missing")
        /// A heartbeat proves possession for a key version the custodian is not expected to hold.
        public static let possessionUnexpected = Code("possession.unexpected-key")
        /// A heartbeat carries two proofs for one key version.
        public static let possessionDuplicate = Code("possession.duplicate")
        /// A proof names another participant identifier than the one the key version was dealt to.
        public static let possessionParticipant = Code("possession.participant")
        /// A proof does not verify under the expected public share X_i for this heartbeat.
        public static let possessionInvalid = Code("possession.invalid")

        public var description: String { name }
    }

    /// What kind of refusal.
    public let code: Code
    /// What was wrong and what a person could do about it.
    public let reason: String

    /// Creates a refusal.
    /// - Parameters:
    ///   - code: the stable code.
    ///   - reason: an actionable sentence.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `[code] reason`.
    public var description: String { "[\(code)] \(reason)" }
}

/// The outcome of checking evidence against a policy.
public enum Verdict: Hashable, Sendable {
    /// Every check passed.
    case accepted
    /// At least one check failed; every failure is listed.
    case refused([Refusal])

    /// Whether the evidence was accepted.
    public var isAccepted: Bool { self == .accepted }

    /// The refusals (empty when accepted).
    public var refusals: [Refusal] {
        if case .refused(let refusals) = self { return refusals }
        return []
    }

    /// The refusal codes, for matching.
    public var refusalCodes: Set<Refusal.Code> { Set(refusals.map(\.code)) }
}

/// One named check of ``QuoteVerifier/evaluate(_:nonce:freshness:)`` and its outcome.
public struct CheckResult: Hashable, Sendable {
    /// What was checked, for people.
    public let name: String
    /// Whether the check ran and passed.
    public let passed: Bool
    /// Why it failed (empty when it passed, or when it could not run because what it needs is missing or
    /// did not parse: a structure, or the event log the policy's event rules judge).
    public let refusals: [Refusal]

    /// Creates a check result.
    /// - Parameters:
    ///   - name: what was checked.
    ///   - passed: whether it ran and passed.
    ///   - refusals: why it failed.
    public init(name: String, passed: Bool, refusals: [Refusal]) {
        self.name = name
        self.passed = passed
        self.refusals = refusals
    }
}
