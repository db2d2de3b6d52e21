internal import CTSS2
import Crypto

/// Object attributes (`TPMA_OBJECT`, TPM 2.0 Part 2 §8.3).
public struct TPMObjectAttributes: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The 32-bit attribute word.
    public let rawValue: UInt32

    /// Wraps a raw attribute word.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The object cannot be duplicated: its hierarchy lives only in this TPM.
    public static let fixedTPM = TPMObjectAttributes(rawValue: 1 << 1)
    /// The object's context cannot be saved across a TPM reset.
    public static let stClear = TPMObjectAttributes(rawValue: 1 << 2)
    /// The object cannot move to another parent.
    public static let fixedParent = TPMObjectAttributes(rawValue: 1 << 4)
    /// The TPM generated the sensitive part itself.
    public static let sensitiveDataOrigin = TPMObjectAttributes(rawValue: 1 << 5)
    /// The auth value authorises user actions.
    public static let userWithAuth = TPMObjectAttributes(rawValue: 1 << 6)
    /// Admin actions need a policy session.
    public static let adminWithPolicy = TPMObjectAttributes(rawValue: 1 << 7)
    /// Not subject to dictionary-attack protection.
    public static let noDA = TPMObjectAttributes(rawValue: 1 << 10)
    /// Duplication requires an inner wrapper.
    public static let encryptedDuplication = TPMObjectAttributes(rawValue: 1 << 11)
    /// The key signs or decrypts only TPM-formatted data: a restricted signing key cannot sign
    /// a forged TPMS_ATTEST.
    public static let restricted = TPMObjectAttributes(rawValue: 1 << 16)
    /// The key decrypts.
    public static let decrypt = TPMObjectAttributes(rawValue: 1 << 17)
    /// The key signs.
    public static let sign = TPMObjectAttributes(rawValue: 1 << 18)

    private static let named: [(TPMObjectAttributes, String)] = [
        (.fixedTPM, "fixedtpm"), (.stClear, "stclear"), (.fixedParent, "fixedparent"),
        (.sensitiveDataOrigin, "sensitivedataorigin"), (.userWithAuth, "userwithauth"),
        (.adminWithPolicy, "adminwithpolicy"), (.noDA, "noda"), (.encryptedDuplication, "encryptedduplication"),
        (.restricted, "restricted"), (.decrypt, "decrypt"), (.sign, "sign"),
    ]

    /// The names tpm2-tools uses, joined with `|` (for example `fixedtpm|fixedparent|sign`).
    public var description: String {
        let names = Self.named.filter { contains($0.0) }.map(\.1)
        return names.isEmpty ? "none" : names.joined(separator: "|")
    }
}

/// A parsed `TPM2B_PUBLIC`: the public area of a TPM object, as `tpm2_createak -u` writes it.
public struct TPMPublic: Hashable, Sendable {
    /// The largest encoding accepted: an RSA-4096 public area is about 600 bytes.
    public static let maximumEncodedSize = 2048

    /// The object's type: ``TPMAlgorithmID/rsa``, ``TPMAlgorithmID/ecc``, or another.
    public let type: TPMAlgorithmID
    /// The hash algorithm of the object's name.
    public let nameAlgorithm: TPMAlgorithmID
    /// The object attributes.
    public let attributes: TPMObjectAttributes
    /// The authorisation policy digest (empty when none).
    public let authPolicy: [UInt8]
    /// The key material and its parameters.
    public let key: Key
    /// The marshalled `TPMT_PUBLIC` (the bytes inside the `TPM2B`), from which the name is computed.
    public let encodedPublicArea: [UInt8]

    /// An object's public key with its parameters.
    public enum Key: Hashable, Sendable {
        /// An RSA key.
        case rsa(RSAKey)
        /// An elliptic-curve key.
        case ecc(ECCKey)
        /// Another kind of object (keyed hash, symmetric cipher).
        case other
    }

    /// RSA key parameters and modulus.
    public struct RSAKey: Hashable, Sendable {
        /// The modulus size in bits.
        public let keyBits: Int
        /// The public exponent (the TPM's 0 already replaced by 65537).
        public let exponent: UInt32
        /// The modulus, big-endian.
        public let modulus: [UInt8]
        /// The signing or decryption scheme (``TPMAlgorithmID/null`` for any).
        public let scheme: TPMAlgorithmID
        /// The scheme's hash (``TPMAlgorithmID/null`` when the scheme has none).
        public let schemeHash: TPMAlgorithmID
        /// The symmetric algorithm of a restricted decryption key (``TPMAlgorithmID/null`` otherwise).
        public let symmetric: TPMAlgorithmID
        /// The symmetric key size in bits (0 when ``symmetric`` is null).
        public let symmetricKeyBits: Int
    }

    /// Elliptic-curve key parameters and point.
    public struct ECCKey: Hashable, Sendable {
        /// The curve.
        public let curve: TPMECCCurve
        /// The affine x coordinate, big-endian, as the TPM sent it.
        public let x: [UInt8]
        /// The affine y coordinate, big-endian, as the TPM sent it.
        public let y: [UInt8]
        /// The signing or key-exchange scheme (``TPMAlgorithmID/null`` for any).
        public let scheme: TPMAlgorithmID
        /// The scheme's hash (``TPMAlgorithmID/null`` when the scheme has none).
        public let schemeHash: TPMAlgorithmID
        /// The symmetric algorithm of a restricted decryption key (``TPMAlgorithmID/null`` otherwise).
        public let symmetric: TPMAlgorithmID
        /// The symmetric key size in bits (0 when ``symmetric`` is null).
        public let symmetricKeyBits: Int
    }

    /// Parses a complete `TPM2B_PUBLIC` encoding (two size bytes, then the `TPMT_PUBLIC`).
    /// - Parameter bytes: the encoding.
    /// - Throws: ``TPMStructureError`` when it is empty, too large, truncated, malformed or followed by bytes.
    public init(parsing bytes: [UInt8]) throws(TPMStructureError) {
        var outer = TPM2B_PUBLIC()
        try parseComplete(
            bytes, into: &outer, what: "public area (TPM2B_PUBLIC)", maximumSize: Self.maximumEncodedSize,
            unmarshal: Tss2_MU_TPM2B_PUBLIC_Unmarshal, marshal: Tss2_MU_TPM2B_PUBLIC_Marshal)
        let declaredSize = Int(bytes[0]) << 8 | Int(bytes[1])
        guard declaredSize == bytes.count - 2 else {
            throw TPMStructureError(
                .malformed, "The public area says it is \(declaredSize) bytes but holds \(bytes.count - 2).")
        }
        let area = outer.publicArea
        encodedPublicArea = Array(bytes[2...])
        type = TPMAlgorithmID(rawValue: area.type)
        nameAlgorithm = TPMAlgorithmID(rawValue: area.nameAlg)
        attributes = TPMObjectAttributes(rawValue: area.objectAttributes)
        authPolicy = CTSS2Bytes.of(area.authPolicy)
        switch type {
        case .rsa:
            let parameters = area.parameters.rsaDetail
            let modulus = prefixBytes(of: area.unique.rsa.buffer, count: Int(area.unique.rsa.size))
            let symmetricBits = parameters.symmetric.algorithm == TPM2_ALG_NULL ? 0 : parameters.symmetric.keyBits.sym
            key = .rsa(RSAKey(
                keyBits: Int(parameters.keyBits),
                exponent: parameters.exponent == 0 ? 65537 : parameters.exponent,
                modulus: modulus,
                scheme: TPMAlgorithmID(rawValue: parameters.scheme.scheme),
                schemeHash: parameters.scheme.scheme == TPM2_ALG_NULL
                    ? .null : TPMAlgorithmID(rawValue: parameters.scheme.details.anySig.hashAlg),
                symmetric: TPMAlgorithmID(rawValue: parameters.symmetric.algorithm),
                symmetricKeyBits: Int(symmetricBits)))
        case .ecc:
            let parameters = area.parameters.eccDetail
            let symmetricBits = parameters.symmetric.algorithm == TPM2_ALG_NULL ? 0 : parameters.symmetric.keyBits.sym
            key = .ecc(ECCKey(
                curve: TPMECCCurve(rawValue: parameters.curveID),
                x: CTSS2Bytes.of(area.unique.ecc.x),
                y: CTSS2Bytes.of(area.unique.ecc.y),
                scheme: TPMAlgorithmID(rawValue: parameters.scheme.scheme),
                schemeHash: parameters.scheme.scheme == TPM2_ALG_NULL
                    ? .null : TPMAlgorithmID(rawValue: parameters.scheme.details.anySig.hashAlg),
                symmetric: TPMAlgorithmID(rawValue: parameters.symmetric.algorithm),
                symmetricKeyBits: Int(symmetricBits)))
        default:
            key = .other
        }
    }

    /// The object's TPM name: `nameAlg` (two bytes, big-endian) followed by `H_nameAlg(TPMT_PUBLIC)`.
    ///
    /// This is what `tpm2_createak -n` writes and what MakeCredential binds a credential to.
    /// - Throws: ``TPMStructureError`` with `.unsupportedAlgorithm` when the name algorithm is not
    ///   SHA-1, SHA-256, SHA-384 or SHA-512.
    public func name() throws(TPMStructureError) -> [UInt8] {
        bigEndianBytes(nameAlgorithm.rawValue) + (try hashWithNameAlgorithm(encodedPublicArea))
    }

    /// `TPM_RH_ENDORSEMENT`, the handle that starts the qualified name of a primary key in the
    /// endorsement hierarchy (the EK).
    public static let endorsementHierarchy: UInt32 = 0x4000_000B

    /// The qualified name of a primary object of `hierarchy` (TPM 2.0 Part 1 §16.6):
    /// `nameAlg ‖ H_nameAlg(hierarchy handle ‖ name)`.
    /// - Parameter hierarchy: the hierarchy handle, e.g. ``endorsementHierarchy``.
    /// - Throws: ``TPMStructureError`` with `.unsupportedAlgorithm` for an unsupported name algorithm.
    public func qualifiedName(primaryIn hierarchy: UInt32) throws(TPMStructureError) -> [UInt8] {
        let handle = bigEndianBytes(UInt16(hierarchy >> 16)) + bigEndianBytes(UInt16(hierarchy & 0xffff))
        return bigEndianBytes(nameAlgorithm.rawValue) + (try hashWithNameAlgorithm(handle + (try name())))
    }

    /// The qualified name of this object as a child of the object with `parentQualifiedName`:
    /// `nameAlg ‖ H_nameAlg(parent's qualified name ‖ name)`. A quote's `qualifiedSigner` is this
    /// for its signing key, so it names the key *and* its ancestry (an AK under a given EK).
    /// - Parameter parentQualifiedName: the parent's qualified name.
    /// - Throws: ``TPMStructureError`` with `.unsupportedAlgorithm` for an unsupported name algorithm.
    public func qualifiedName(parentQualifiedName: [UInt8]) throws(TPMStructureError) -> [UInt8] {
        bigEndianBytes(nameAlgorithm.rawValue) + (try hashWithNameAlgorithm(parentQualifiedName + (try name())))
    }

    private func hashWithNameAlgorithm(_ bytes: [UInt8]) throws(TPMStructureError) -> [UInt8] {
        switch nameAlgorithm {
        case .sha1: Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha384: Array(SHA384.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        default:
            throw TPMStructureError(
                .unsupportedAlgorithm, "The object's name algorithm \(nameAlgorithm) is not supported.")
        }
    }
}

extension CTSS2Bytes {
    static func of(_ digest: TPM2B_DIGEST) -> [UInt8] { bytes(of: digest) }
}
