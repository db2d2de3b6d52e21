import Metrics

/// The engine's metrics (swift-metrics; keyshardd exports them with the API's at `/metrics`).
/// Labels are bounded: outcomes and kinds, never key names or custodian ids.
enum EngineMetrics {
    static func heartbeat(_ outcome: String) {
        Counter(label: "keyshard_heartbeats_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// An accepted heartbeat, timed from the start of its round: above the heartbeat interval, the
    /// custodian went longer than the interval between two attestations.
    static func heartbeatAccepted(after delay: Duration) {
        Timer(label: "keyshard_heartbeat_delay_seconds").recordNanoseconds(delay.nanoseconds)
    }

    /// One heartbeat round: how long until every custodian's heartbeat was checked, and whether that
    /// took longer than the interval (the next round then starts late).
    static func heartbeatRound(_ duration: Duration, interval: Duration) {
        Timer(label: "keyshard_heartbeat_round_seconds").recordNanoseconds(duration.nanoseconds)
        if duration > interval { Counter(label: "keyshard_heartbeat_rounds_overrun_total").increment() }
    }

    static func quarantine(misbehaved: Bool) {
        Counter(label: "keyshard_quarantines_total", dimensions: [("cause", misbehaved ? "misbehaved" : "stopped-or-missed")])
            .increment()
    }

    static func epochChange(_ kind: String, _ outcome: String) {
        Counter(label: "keyshard_epoch_changes_total", dimensions: [("kind", kind), ("outcome", outcome)]).increment()
    }

    static func launch(_ outcome: String) {
        Counter(label: "keyshard_custodian_launches_total", dimensions: [("outcome", outcome)]).increment()
    }

    static func operation(_ name: String, _ outcome: String) {
        Counter(label: "keyshard_threshold_operations_total", dimensions: [("operation", name), ("outcome", outcome)])
            .increment()
    }

    static func launchSeconds(_ seconds: Double) {
        Timer(label: "keyshard_custodian_launch_seconds").recordSeconds(seconds)
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole + attoseconds / 1_000_000_000
    }
}
