import Attestation
import Foundation

/// Reads the configured attestation policy file (called at start and on every reload).
enum PolicyFile {
    static func load(_ path: String) throws -> AttestationPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DaemonError("the attestation policy \(path) cannot be read")
        }
        guard data.count <= 1 << 20 else { throw DaemonError("the attestation policy \(path) is over 1 MiB") }
        return try AttestationPolicy(yaml: String(decoding: data, as: UTF8.self), source: path)
    }
}
