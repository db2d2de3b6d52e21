import Foundation

/// One line of the reliability suite's summary: what was tried, whether the promise held, and how
/// long recovery took. Printed as the test runs, and appended to `$KEYSHARD_RELIABILITY_REPORT`
/// when set (`make reliability` sets it and prints the table from it).
public enum ReliabilityReport {
    /// Which part of the suite.
    public enum Area: String, Sendable { case fault, load, badInput = "bad input", access, custody }

    /// Prints one line and appends it to the report file, if any.
    public static func record(_ area: Area, _ what: String, held: Bool, recoverySeconds: Double? = nil, detail: String = "") {
        let recovery = recoverySeconds.map { String(format: "%.1f", $0) } ?? "-"
        let line = [area.rawValue, what, held ? "held" : "FAILED", recovery, detail]
            .map { $0.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") }
            .joined(separator: "\t")
        print("reliability: " + line.replacingOccurrences(of: "\t", with: " | "))
        guard let path = ProcessInfo.processInfo.environment["KEYSHARD_RELIABILITY_REPORT"], !path.isEmpty else { return }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
}
