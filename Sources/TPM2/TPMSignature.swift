internal import CTSS2

/// A parsed `TPMT_SIGNATURE`, as `tpm2_quote -s` writes it.
public enum TPMSignature: Hashable, Sendable {
    /// ECDSA: the hash used and the integers r and s, big-endian as the TPM sent them.
    case ecdsa(hash: TPMAlgorithmID, r: [UInt8], s: [UInt8])
    /// RSASSA-PKCS1-v1_5: the hash used and the signature.
    case rsassa(hash: TPMAlgorithmID, signature: [UInt8])
    /// RSA-PSS: the hash used and the signature.
    case rsapss(hash: TPMAlgorithmID, signature: [UInt8])
    /// A well-formed signature with a scheme this code does not verify (ECDAA, SM2, HMAC, …).
    case unsupported(scheme: TPMAlgorithmID)

    /// The largest encoding accepted: an RSA-4096 signature plus its header fits easily.
    public static let maximumEncodedSize = 1024

    /// The signature scheme.
    public var scheme: TPMAlgorithmID {
        switch self {
        case .ecdsa: .ecdsa
        case .rsassa: .rsassa
        case .rsapss: .rsapss
        case .unsupported(let scheme): scheme
        }
    }

    /// The hash the signer applied to the message, or `nil` for an unsupported scheme.
    public var hash: TPMAlgorithmID? {
        switch self {
        case .ecdsa(let hash, _, _), .rsassa(let hash, _), .rsapss(let hash, _): hash
        case .unsupported: nil
        }
    }

    /// Parses a complete `TPMT_SIGNATURE` encoding.
    /// - Parameter bytes: the encoding.
    /// - Throws: ``TPMStructureError`` when it is empty, too large, truncated, malformed or followed by bytes.
    public init(parsing bytes: [UInt8]) throws(TPMStructureError) {
        var signature = TPMT_SIGNATURE()
        try parseComplete(
            bytes, into: &signature, what: "signature (TPMT_SIGNATURE)", maximumSize: Self.maximumEncodedSize,
            unmarshal: Tss2_MU_TPMT_SIGNATURE_Unmarshal, marshal: Tss2_MU_TPMT_SIGNATURE_Marshal)
        switch TPMAlgorithmID(rawValue: signature.sigAlg) {
        case .ecdsa:
            let ecdsa = signature.signature.ecdsa
            self = .ecdsa(
                hash: TPMAlgorithmID(rawValue: ecdsa.hash),
                r: CTSS2Bytes.of(ecdsa.signatureR), s: CTSS2Bytes.of(ecdsa.signatureS))
        case .rsassa:
            let rsa = signature.signature.rsassa
            self = .rsassa(
                hash: TPMAlgorithmID(rawValue: rsa.hash),
                signature: prefixBytes(of: rsa.sig.buffer, count: Int(rsa.sig.size)))
        case .rsapss:
            let rsa = signature.signature.rsapss
            self = .rsapss(
                hash: TPMAlgorithmID(rawValue: rsa.hash),
                signature: prefixBytes(of: rsa.sig.buffer, count: Int(rsa.sig.size)))
        case let other:
            self = .unsupported(scheme: other)
        }
    }
}

/// Helpers named apart from the enum's cases.
enum CTSS2Bytes {
    static func of(_ parameter: TPM2B_ECC_PARAMETER) -> [UInt8] { bytes(of: parameter) }
}
