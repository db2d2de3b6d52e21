internal import CTSS2

/// Key templates the device layer creates keys from.
enum TPMTemplates {
    /// What every TCG default EK template shares: SHA-256 name, a restricted decryption key fixed
    /// to this TPM, administered only through PolicySecret(endorsement).
    private static func endorsementKeyBase(type: TPM2_ALG_ID) -> TPM2B_PUBLIC {
        var template = TPM2B_PUBLIC()
        template.publicArea.type = type
        template.publicArea.nameAlg = TPMConstants.algorithmSHA256
        template.publicArea.objectAttributes = TPMObjectAttributes([
            .fixedTPM, .fixedParent, .sensitiveDataOrigin, .adminWithPolicy, .restricted, .decrypt,
        ]).rawValue
        template.publicArea.authPolicy.size = UInt16(TPMConstants.ekPolicy.count)
        withUnsafeMutableBytes(of: &template.publicArea.authPolicy.buffer) {
            $0.copyBytes(from: TPMConstants.ekPolicy)
        }
        return template
    }

    /// TCG EK Credential Profile template L-2: ECC NIST P-256, SHA-256 name, AES-128-CFB,
    /// authPolicy = PolicySecret(endorsement), unique = two 32-byte zero coordinates.
    static func eccEndorsementKey() -> TPM2B_PUBLIC {
        var template = endorsementKeyBase(type: TPMConstants.algorithmECC)
        template.publicArea.parameters.eccDetail.symmetric.algorithm = TPMConstants.algorithmAES
        template.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128
        template.publicArea.parameters.eccDetail.symmetric.mode.aes = TPMConstants.algorithmCFB
        template.publicArea.parameters.eccDetail.scheme.scheme = TPMConstants.algorithmNull
        template.publicArea.parameters.eccDetail.curveID = TPMConstants.curveNISTP256
        template.publicArea.parameters.eccDetail.kdf.scheme = TPMConstants.algorithmNull
        template.publicArea.unique.ecc.x.size = 32
        template.publicArea.unique.ecc.y.size = 32
        return template
    }

    /// TCG EK Credential Profile template L-1: RSA 2048, exponent 65537 (encoded 0), SHA-256
    /// name, AES-128-CFB, the same authPolicy, unique = 256 zero bytes.
    static func rsaEndorsementKey() -> TPM2B_PUBLIC {
        var template = endorsementKeyBase(type: TPMConstants.algorithmRSA)
        template.publicArea.parameters.rsaDetail.symmetric.algorithm = TPMConstants.algorithmAES
        template.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128
        template.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPMConstants.algorithmCFB
        template.publicArea.parameters.rsaDetail.scheme.scheme = TPMConstants.algorithmNull
        template.publicArea.parameters.rsaDetail.keyBits = 2048
        template.publicArea.parameters.rsaDetail.exponent = 0
        template.publicArea.unique.rsa.size = 256
        return template
    }

    /// The AK: a restricted ECDSA P-256/SHA-256 signing key, created in the TPM, usable with
    /// its (empty) auth value.
    static func eccAttestationKey() -> TPM2B_PUBLIC {
        var template = TPM2B_PUBLIC()
        template.publicArea.type = TPMConstants.algorithmECC
        template.publicArea.nameAlg = TPMConstants.algorithmSHA256
        template.publicArea.objectAttributes = TPMObjectAttributes([
            .fixedTPM, .fixedParent, .sensitiveDataOrigin, .userWithAuth, .restricted, .sign,
        ]).rawValue
        template.publicArea.parameters.eccDetail.symmetric.algorithm = TPMConstants.algorithmNull
        template.publicArea.parameters.eccDetail.scheme.scheme = TPMConstants.algorithmECDSA
        template.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPMConstants.algorithmSHA256
        template.publicArea.parameters.eccDetail.curveID = TPMConstants.curveNISTP256
        template.publicArea.parameters.eccDetail.kdf.scheme = TPMConstants.algorithmNull
        return template
    }
}

extension TPMPublic {
    /// The public area of a TCG default ECC P-256 EK with the given point: what a verifier
    /// rebuilds from an EK certificate's public key to run MakeCredential, since the template
    /// fixes every other field.
    /// - Parameters:
    ///   - x: the point's 32-byte x coordinate.
    ///   - y: the point's 32-byte y coordinate.
    /// - Throws: ``TPMStructureError/Code/malformed`` unless both coordinates are 32 bytes.
    public static func defaultECCEndorsementKey(x: [UInt8], y: [UInt8]) throws(TPMStructureError) -> TPMPublic {
        guard x.count == 32, y.count == 32 else {
            throw TPMStructureError(.malformed, "A P-256 EK coordinate is 32 bytes, not \(x.count) and \(y.count).")
        }
        var template = TPMTemplates.eccEndorsementKey()
        withUnsafeMutableBytes(of: &template.publicArea.unique.ecc.x.buffer) { $0.copyBytes(from: x) }
        withUnsafeMutableBytes(of: &template.publicArea.unique.ecc.y.buffer) { $0.copyBytes(from: y) }
        return try publicArea(of: &template)
    }

    /// The public area of a TCG default RSA-2048 EK with the given modulus (see
    /// ``defaultECCEndorsementKey(x:y:)``).
    /// - Parameter modulus: the 256-byte modulus, big-endian.
    /// - Throws: ``TPMStructureError/Code/malformed`` unless the modulus is 256 bytes.
    public static func defaultRSAEndorsementKey(modulus: [UInt8]) throws(TPMStructureError) -> TPMPublic {
        // An X.509 INTEGER may carry a leading zero byte.
        let trimmed = modulus.count == 257 && modulus[0] == 0 ? Array(modulus.dropFirst()) : modulus
        guard trimmed.count == 256 else {
            throw TPMStructureError(.malformed, "An RSA-2048 EK modulus is 256 bytes, not \(modulus.count).")
        }
        var template = TPMTemplates.rsaEndorsementKey()
        withUnsafeMutableBytes(of: &template.publicArea.unique.rsa.buffer) { $0.copyBytes(from: trimmed) }
        return try publicArea(of: &template)
    }

    /// The public area of an AK from the device's AK template (restricted ECDSA P-256/SHA-256
    /// signing key, fixed to its TPM) with the given point, as `TPM2B_PUBLIC` bytes. A TPM makes
    /// this itself; the fleet benchmark's software custodians present it for their software AKs.
    /// - Parameters:
    ///   - x: the point's 32-byte x coordinate.
    ///   - y: the point's 32-byte y coordinate.
    /// - Throws: ``TPMStructureError/Code/malformed`` unless both coordinates are 32 bytes.
    public static func eccAttestationKey(x: [UInt8], y: [UInt8]) throws(TPMStructureError) -> TPMPublic {
        guard x.count == 32, y.count == 32 else {
            throw TPMStructureError(.malformed, "A P-256 AK coordinate is 32 bytes, not \(x.count) and \(y.count).")
        }
        var template = TPMTemplates.eccAttestationKey()
        template.publicArea.unique.ecc.x.size = 32
        template.publicArea.unique.ecc.y.size = 32
        withUnsafeMutableBytes(of: &template.publicArea.unique.ecc.x.buffer) { $0.copyBytes(from: x) }
        withUnsafeMutableBytes(of: &template.publicArea.unique.ecc.y.buffer) { $0.copyBytes(from: y) }
        return try publicArea(of: &template)
    }

    /// The `TPM2B_PUBLIC` encoding of this public area (its size, then ``encodedPublicArea``).
    public var encoded: [UInt8] {
        [UInt8(encodedPublicArea.count >> 8), UInt8(encodedPublicArea.count & 0xff)] + encodedPublicArea
    }

    private static func publicArea(of template: inout TPM2B_PUBLIC) throws(TPMStructureError) -> TPMPublic {
        var buffer = [UInt8](repeating: 0, count: MemoryLayout<TPM2B_PUBLIC>.size + 16)
        var written = 0
        let rc = buffer.withUnsafeMutableBufferPointer {
            Tss2_MU_TPM2B_PUBLIC_Marshal(&template, $0.baseAddress, $0.count, &written)
        }
        guard rc == TSS2_RC_SUCCESS else {
            throw TPMStructureError(.malformed, "The EK template did not marshal.", responseCode: .init(rawValue: rc))
        }
        return try TPMPublic(parsing: Array(buffer.prefix(written)))
    }
}
