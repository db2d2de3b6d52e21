import Metrics

/// The engine's metrics (swift-metrics; keyshardd exports them with the API's at `/metrics`).
/// Labels are bounded: outcomes and kinds, never key names or custodian ids.
enum EngineMetrics {
    static func heartbeat(_ outcome: String) {
        Counter(label: "keyshard_heartbeats_total", dimensions: [("outcome", outcome)]).increment()
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
