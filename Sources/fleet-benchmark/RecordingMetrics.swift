import CoreMetrics
import Synchronization

/// Collects what the engine reports through swift-metrics (counter totals and every timer value),
/// so the benchmark reads the daemon's own heartbeat accounting instead of guessing it.
final class RecordingMetrics: MetricsFactory {
    private let store = Mutex<(counters: [String: Int64], timers: [String: [Int64]])>(([:], [:]))

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A counter's total (0 when it never counted).
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        store.withLock { $0.counters[Self.key(label, dimensions)] ?? 0 }
    }

    /// Every value a timer recorded, in nanoseconds, in recording order.
    func timer(_ label: String) -> [Int64] { store.withLock { $0.timers[label] ?? [] } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: Self.key(label, dimensions), store: self)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: Self.key(label, dimensions), store: self)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: Self.key(label, dimensions), store: self)
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    fileprivate func add(_ key: String, _ amount: Int64) { store.withLock { $0.counters[key, default: 0] += amount } }
    fileprivate func record(_ key: String, _ value: Int64) { store.withLock { $0.timers[key, default: []].append(value) } }
}

private final class Handler: CounterHandler, RecorderHandler, TimerHandler {
    let key: String
    let store: RecordingMetrics

    init(key: String, store: RecordingMetrics) {
        self.key = key
        self.store = store
    }

    func increment(by amount: Int64) { store.add(key, amount) }
    func reset() {}
    func record(_ value: Int64) { store.record(key, value) }
    func record(_ value: Double) { store.record(key, Int64(value)) }
    func recordNanoseconds(_ duration: Int64) { store.record(key, duration) }
}
