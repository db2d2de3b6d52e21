#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The agent's own memory use from `/proc/self/status`, for its log: inside a VM nobody else can
/// see which part of the guest's memory is the agent's.
struct ProcessMemory {
    /// Resident set size now (VmRSS), KiB.
    let residentKiB: Int
    /// The highest resident set size so far (VmHWM), KiB.
    let peakResidentKiB: Int

    /// Reads the figures; nil where `/proc` is missing.
    static func current() -> ProcessMemory? {
        guard let data = FileManager.default.contents(atPath: "/proc/self/status") else { return nil }
        var values: [String: Int] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let key = parts.first, key == "VmRSS:" || key == "VmHWM:",
                  let value = Int(parts[1])
            else { continue }
            values[String(key)] = value
        }
        guard let resident = values["VmRSS:"], let peak = values["VmHWM:"] else { return nil }
        return ProcessMemory(residentKiB: resident, peakResidentKiB: peak)
    }
}
