/// A TPM 2.0 algorithm identifier (`TPM_ALG_ID`, TPM 2.0 Part 2 §6.3).
///
/// A struct rather than an enum: a TPM may report identifiers this code does not know,
/// and those must survive parsing so a verifier can name them in a refusal.
public struct TPMAlgorithmID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 16-bit identifier as the TPM encodes it.
    public let rawValue: UInt16

    /// Wraps a raw identifier.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// RSA keys.
    public static let rsa = TPMAlgorithmID(rawValue: 0x0001)
    /// SHA-1.
    public static let sha1 = TPMAlgorithmID(rawValue: 0x0004)
    /// HMAC.
    public static let hmac = TPMAlgorithmID(rawValue: 0x0005)
    /// AES.
    public static let aes = TPMAlgorithmID(rawValue: 0x0006)
    /// Keyed-hash objects.
    public static let keyedHash = TPMAlgorithmID(rawValue: 0x0008)
    /// SHA-256.
    public static let sha256 = TPMAlgorithmID(rawValue: 0x000B)
    /// SHA-384.
    public static let sha384 = TPMAlgorithmID(rawValue: 0x000C)
    /// SHA-512.
    public static let sha512 = TPMAlgorithmID(rawValue: 0x000D)
    /// "No algorithm".
    public static let null = TPMAlgorithmID(rawValue: 0x0010)
    /// RSASSA-PKCS1-v1_5 signatures.
    public static let rsassa = TPMAlgorithmID(rawValue: 0x0014)
    /// RSA-OAEP encryption.
    public static let oaep = TPMAlgorithmID(rawValue: 0x0017)
    /// RSA-PSS signatures.
    public static let rsapss = TPMAlgorithmID(rawValue: 0x0016)
    /// ECDSA signatures.
    public static let ecdsa = TPMAlgorithmID(rawValue: 0x0018)
    /// ECDH key exchange.
    public static let ecdh = TPMAlgorithmID(rawValue: 0x0019)
    /// ECDAA signatures.
    public static let ecdaa = TPMAlgorithmID(rawValue: 0x001A)
    /// SM2 signatures.
    public static let sm2 = TPMAlgorithmID(rawValue: 0x001B)
    /// EC-Schnorr signatures.
    public static let ecschnorr = TPMAlgorithmID(rawValue: 0x001C)
    /// KDF1 (SP 800-56A).
    public static let kdf1SP800_56A = TPMAlgorithmID(rawValue: 0x0020)
    /// KDF1 (SP 800-108), the TPM's KDFa.
    public static let kdf1SP800_108 = TPMAlgorithmID(rawValue: 0x0022)
    /// Elliptic-curve keys.
    public static let ecc = TPMAlgorithmID(rawValue: 0x0023)
    /// Symmetric-cipher objects.
    public static let symCipher = TPMAlgorithmID(rawValue: 0x0025)
    /// CFB mode.
    public static let cfb = TPMAlgorithmID(rawValue: 0x0043)

    private static let names: [UInt16: String] = [
        0x0001: "rsa", 0x0004: "sha1", 0x0005: "hmac", 0x0006: "aes", 0x0008: "keyedhash",
        0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512", 0x0010: "null", 0x0014: "rsassa",
        0x0016: "rsapss", 0x0017: "oaep", 0x0018: "ecdsa", 0x0019: "ecdh", 0x001A: "ecdaa", 0x001B: "sm2",
        0x001C: "ecschnorr", 0x0020: "kdf1-sp800-56a", 0x0022: "kdf1-sp800-108", 0x0023: "ecc",
        0x0025: "symcipher", 0x0043: "cfb",
    ]

    /// The name tpm2-tools uses (`sha256`, `ecdsa`, …), or `0x…` for an unknown identifier.
    public var description: String {
        Self.names[rawValue] ?? "0x" + String(rawValue, radix: 16)
    }

    /// The hash algorithm a PCR bank or policy names (`sha1`, `sha256`, `sha384`, `sha512`), or `nil`.
    /// - Parameter bankName: the lower-case name, as tpm2-tools and policies spell it.
    public init?(hashName bankName: String) {
        switch bankName {
        case "sha1": self = .sha1
        case "sha256": self = .sha256
        case "sha384": self = .sha384
        case "sha512": self = .sha512
        default: return nil
        }
    }

    /// The digest size in bytes when this is a hash algorithm this code supports, else `nil`.
    public var digestSize: Int? {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        default: nil
        }
    }
}

/// A TPM 2.0 elliptic curve identifier (`TPM_ECC_CURVE`, Part 2 §6.4).
public struct TPMECCCurve: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 16-bit identifier as the TPM encodes it.
    public let rawValue: UInt16

    /// Wraps a raw identifier.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// NIST P-256.
    public static let nistP256 = TPMECCCurve(rawValue: 0x0003)
    /// NIST P-384.
    public static let nistP384 = TPMECCCurve(rawValue: 0x0004)
    /// NIST P-521.
    public static let nistP521 = TPMECCCurve(rawValue: 0x0005)

    /// `nist-p256`, `nist-p384`, `nist-p521`, or `0x…`.
    public var description: String {
        switch self {
        case .nistP256: "nist-p256"
        case .nistP384: "nist-p384"
        case .nistP521: "nist-p521"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}
