/// How the engine runs: heartbeat cadence, freshness, custodian lifetimes, ring defaults and
/// which security events add key versions. keyshardd fills it from keyshard.yaml.
public struct EngineConfiguration: Sendable {
    /// Time between two heartbeats of one custodian.
    public var heartbeatInterval: Duration = .seconds(2)
    /// A custodian takes part in operations only when its last accepted attestation is this recent;
    /// a heartbeat that takes longer than this is a miss.
    public var freshnessWindow: Duration = .seconds(10)
    /// Custodians older than this are replaced, one at a time per ring; nil never.
    public var maximumCustodianAge: Duration? = .seconds(3600)
    /// The ring keys go to when a request names none.
    public var defaultRing = RingDefaults(name: "default", threshold: 2, shares: 3)
    /// The lowest threshold custodians accept (their `--min-threshold` pin).
    public var minimumThreshold = 2
    /// Add a version to every key of a ring when one of its custodians is quarantined for a bad
    /// quote or proof (not for merely stopping).
    public var newKeyVersionOnQuarantine = false
    /// Add a version to every key when the attestation policy changes.
    public var newKeyVersionOnPolicyChange = false
    /// Custodians launched at once while a ring is made or rotated (TCG boots are CPU-bound).
    public var launchConcurrency = 3
    /// How long one agent request may take after it was sent.
    public var requestTimeout: Duration = .seconds(30)
    /// How long a key operation waits for a ring's structural change (a repair) before `busy`.
    public var structuralWait: Duration = .seconds(120)

    /// The ring a request without one uses.
    public struct RingDefaults: Sendable, Hashable {
        /// Its name.
        public var name: String
        /// t.
        public var threshold: Int
        /// n.
        public var shares: Int

        /// Creates defaults.
        public init(name: String, threshold: Int, shares: Int) {
            self.name = name
            self.threshold = threshold
            self.shares = shares
        }
    }

    /// The defaults above.
    public init() {}
}
