import TPM2

/// A measured-boot policy: which PCRs a quote must cover and the values each may hold.
///
/// Read from YAML (`apiVersion: keyshard/v1`, `kind: AttestationPolicy`) with
/// ``AttestationPolicy/init(yaml:source:)``; see `policies/` for examples.
public struct AttestationPolicy: Hashable, Sendable {
    /// The policy's name, for messages and audit records.
    public let name: String
    /// An optional note for people.
    public let summary: String?
    /// The PCR bank the quote must use.
    public let pcrBank: TPMAlgorithmID
    /// The allowed values of each pinned PCR; the quote must select exactly these indexes.
    public let allowedPCRValues: [Int: [[UInt8]]]
    /// Paths of PEM files whose certificates may anchor the EK certificate chain.
    public let ekRoots: [String]
    /// Rules about individual event-log events; when there are any, evidence must carry an event log.
    public let eventRules: [EventRule]
    /// How fresh and continuous quotes must be (the YAML `freshness:` block); `nil` for no such rules.
    public let freshness: FreshnessRules?
    /// The PCR selection a quote must report, exactly: the pinned indexes in ascending order.
    /// Kept with the policy, which outlives the many quotes checked against it.
    public let selection: TPMPCRSelection

    /// Creates a policy.
    /// - Parameters:
    ///   - name: the policy's name.
    ///   - summary: an optional note.
    ///   - pcrBank: the bank the quote must use.
    ///   - allowedPCRValues: for each PCR index, the values it may hold.
    ///   - ekRoots: PEM files of trusted EK roots.
    ///   - eventRules: rules about event-log events.
    ///   - freshness: freshness rules, if any.
    public init(
        name: String, summary: String? = nil, pcrBank: TPMAlgorithmID, allowedPCRValues: [Int: [[UInt8]]],
        ekRoots: [String] = [], eventRules: [EventRule] = [], freshness: FreshnessRules? = nil
    ) {
        self.name = name
        self.summary = summary
        self.pcrBank = pcrBank
        self.allowedPCRValues = allowedPCRValues
        self.ekRoots = ekRoots
        self.eventRules = eventRules
        self.freshness = freshness
        self.selection = TPMPCRSelection(bank: pcrBank, indexes: allowedPCRValues.keys)
    }

    /// This policy without its freshness rules: what a quote of a past boot (one to learn from, whose
    /// nonce's issue time nobody recorded) is checked against.
    public var withoutFreshness: AttestationPolicy {
        AttestationPolicy(name: name, summary: summary, pcrBank: pcrBank, allowedPCRValues: allowedPCRValues,
                          ekRoots: ekRoots, eventRules: eventRules)
    }
}
