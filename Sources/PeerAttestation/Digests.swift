import Crypto
import TPM2

/// Hashing by TPM algorithm identifier.
public enum Digests {
    /// The digest of `data` with a supported hash, or `nil`.
    public static func hash(_ data: [UInt8], with algorithm: TPMAlgorithmID) -> [UInt8]? {
        switch algorithm {
        case .sha1: Array(Insecure.SHA1.hash(data: data))
        case .sha256: Array(SHA256.hash(data: data))
        case .sha384: Array(SHA384.hash(data: data))
        case .sha512: Array(SHA512.hash(data: data))
        default: nil
        }
    }

    /// Hashes `message` with `algorithm` and hands the typed digest to `check`; `false` for other hashes.
    public static func verify(_ message: [UInt8], hash algorithm: TPMAlgorithmID, _ check: (any Digest) -> Bool) -> Bool {
        switch algorithm {
        case .sha256: check(SHA256.hash(data: message))
        case .sha384: check(SHA384.hash(data: message))
        case .sha512: check(SHA512.hash(data: message))
        default: false
        }
    }
}
