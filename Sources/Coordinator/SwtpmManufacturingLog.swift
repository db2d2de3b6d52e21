import Foundation
import TPM2

/// The EKs libvirt's `swtpm_setup` made for a domain's vTPM, read from its log.
///
/// libvirt manufactures a transient domain's vTPM when the domain starts, before QEMU runs, and
/// `swtpm_setup` logs each EK's public key as it asks `swtpm_localca` to certify it
/// (`--type ek --ek <RSA modulus hex>` or `--ek x=<hex>,y=<hex>,id=<curve>`) in
/// `/var/log/swtpm/libvirt/qemu/<domain>-swtpm.log`. Reading that right after the domain is
/// created pins the EK the custodian must attest with to the vTPM libvirt made *for this domain*,
/// so evidence relayed from another TPM with a valid certificate from the same CA is refused at the
/// first admission, not only at a later one.
public struct SwtpmManufacturingLog: Sendable, Equatable {
    /// One EK public key as the log gives it.
    public enum EndorsementKey: Sendable, Hashable, CustomStringConvertible {
        /// An RSA EK: its modulus, big-endian.
        case rsa(modulus: [UInt8])
        /// An ECC EK: its curve name (`secp256r1`, `secp384r1`) and affine coordinates.
        case ecc(curve: String, x: [UInt8], y: [UInt8])

        public var description: String {
            switch self {
            case .rsa(let modulus): "RSA-\(modulus.count * 8)"
            case .ecc(let curve, _, _): "ECC \(curve)"
            }
        }
    }

    /// Where libvirt's swtpm logs live on a local host.
    public static let libvirtLogDirectory = "/var/log/swtpm/libvirt/qemu"

    /// The EKs of the last manufacturing run in the log (a domain name reused by a later transient
    /// domain appends a new run).
    public let endorsementKeys: [EndorsementKey]

    /// Parses a log.
    /// - Parameter text: the log's text.
    /// - Throws: ``CoordinatorError/Code/identityRefused`` when it records no manufacturing run or no EK.
    public init(text: String) throws(CoordinatorError) {
        let runs = text.components(separatedBy: "Starting vTPM manufacturing")
        guard runs.count > 1, let last = runs.last else {
            throw CoordinatorError(.identityRefused, "the swtpm log records no vTPM manufacturing")
        }
        var keys: [EndorsementKey] = []
        for line in last.split(separator: "\n") where line.contains("--type ek") {
            let words = line.split(separator: " ")
            guard let flag = words.firstIndex(of: "--ek"), flag + 1 < words.count else { continue }
            if let key = Self.parseKey(String(words[flag + 1])) { keys.append(key) }
        }
        guard !keys.isEmpty else {
            throw CoordinatorError(.identityRefused, "the swtpm log's last manufacturing run names no EK")
        }
        endorsementKeys = keys
    }

    /// Reads the log of a domain's vTPM.
    /// - Parameters:
    ///   - domainName: the domain.
    ///   - directory: where the logs are.
    /// - Throws: ``CoordinatorError/Code/identityRefused`` when the log is missing, unreadable or names no EK.
    public init(domainName: String, directory: String = Self.libvirtLogDirectory) throws(CoordinatorError) {
        let path = directory + "/" + domainName + "-swtpm.log"
        guard let data = FileManager.default.contents(atPath: path), data.count <= 16 << 20 else {
            throw CoordinatorError(
                .identityRefused,
                "cannot read \(path), where libvirt's swtpm_setup logs the EKs it made for \(domainName)")
        }
        try self.init(text: String(decoding: data, as: UTF8.self))
    }

    /// Whether `key` (the EK the custodian's certificate certifies) is one the log names.
    /// - Parameter key: the EK public area.
    public func contains(_ key: TPMPublic) -> Bool {
        endorsementKeys.contains { logged in
            switch (logged, key.key) {
            case (.rsa(let modulus), .rsa(let rsa)): return Self.stripped(modulus) == Self.stripped(rsa.modulus)
            case (.ecc(_, let x, let y), .ecc(let ecc)):
                return Self.stripped(x) == Self.stripped(ecc.x) && Self.stripped(y) == Self.stripped(ecc.y)
            default: return false
            }
        }
    }

    private static func parseKey(_ text: String) -> EndorsementKey? {
        if text.hasPrefix("x=") {
            var fields: [String: String] = [:]
            for part in text.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2 { fields[pair[0]] = pair[1] }
            }
            guard let x = fields["x"].flatMap(hex), let y = fields["y"].flatMap(hex) else { return nil }
            return .ecc(curve: fields["id"] ?? "unknown", x: x, y: y)
        }
        return hex(text).map { .rsa(modulus: $0) }
    }

    private static func hex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Leading zero bytes do not change a number.
    private static func stripped(_ bytes: [UInt8]) -> ArraySlice<UInt8> { bytes.drop { $0 == 0 } }
}
