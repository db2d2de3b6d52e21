import Attestation
import Foundation

/// Reading files for commands: size-limited, with errors a person can act on.
enum CLIInput {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The bytes of a file, or standard input for `-`.
    static func read(_ path: String, limit: Int) throws -> Data {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw Failure(description: "cannot read \(path): no such file or not readable")
            }
            defer { try? handle.close() }
            data = (try? handle.read(upToCount: limit + 1)) ?? Data()
        }
        guard data.count <= limit else {
            throw Failure(description: "\(path) is larger than \(limit) bytes")
        }
        return data
    }

    /// A UTF-8 text file.
    static func text(at path: String, limit: Int) throws -> String {
        guard let text = String(data: try read(path, limit: limit), encoding: .utf8) else {
            throw Failure(description: "\(path) is not UTF-8 text")
        }
        return text
    }

    /// A policy file, parsed.
    static func policy(at path: String) throws -> AttestationPolicy {
        try AttestationPolicy(yaml: text(at: path, limit: AttestationPolicy.maximumFileSize), source: path)
    }

    /// A hex nonce.
    static func nonce(_ text: String) throws -> [UInt8] {
        guard let bytes = QualifyingData.parse(text) else {
            throw Failure(
                description: "the nonce must be hexadecimal bytes (an even number of digits, at most 64 bytes)")
        }
        return bytes
    }
}

/// Writing diagnostics.
enum CLIOutput {
    /// A line on standard error, prefixed with the program's name.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("keyshard: \(message)\n".utf8))
    }
}
