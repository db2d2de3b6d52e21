internal import CTSS2

/// Constants tpm2-tss defines with casting macros, which Swift cannot import.
enum TPMConstants {
    static let algorithmNull: UInt16 = 0x0010
    static let algorithmSHA256: UInt16 = 0x000B
    static let algorithmECC: UInt16 = 0x0023
    static let algorithmRSA: UInt16 = 0x0001
    static let algorithmAES: UInt16 = 0x0006
    static let algorithmCFB: UInt16 = 0x0043
    static let algorithmECDSA: UInt16 = 0x0018
    static let curveNISTP256: UInt16 = 0x0003
    static let sessionPolicy: UInt8 = 0x01
    static let sessionContinue: UInt8 = 0x01
    /// Bytes read from NV per command; every TPM supports at least this.
    static let nvChunk: UInt16 = 512
    /// TPM2_PolicySecret(TPM_RH_ENDORSEMENT), the TCG default EK's authPolicy.
    static let ekPolicy: [UInt8] = [
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
        0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
    ]
}

/// Which TCG default EK template to use (TCG EK Credential Profile, low range).
public enum TPMEndorsementKeyType: String, Sendable, CaseIterable {
    /// Template L-2: ECC NIST P-256; certificate at NV 0x01c0000a.
    case eccP256 = "ecc"
    /// Template L-1: RSA 2048; certificate at NV 0x01c00002 (the one swtpm_setup certifies).
    case rsa2048 = "rsa"

    /// The NV index of this EK's certificate.
    public var certificateIndex: UInt32 {
        switch self {
        case .eccP256: 0x01c0_000a
        case .rsa2048: 0x01c0_0002
        }
    }
}

/// The public parts of the attestation identity a ``TPMDevice`` created.
public struct TPMAttestationIdentity: Hashable, Sendable {
    /// The EK's `TPM2B_PUBLIC` (TCG default ECC P-256 template), for MakeCredential.
    public let endorsementKeyPublic: [UInt8]
    /// The AK's `TPM2B_PUBLIC`, as `tpm2_createak -u` writes it.
    public let attestationKeyPublic: [UInt8]
    /// The AK's TPM name (name algorithm ‖ digest of its public area).
    public let attestationKeyName: [UInt8]

    /// Creates an identity from its public parts (a ``TPMDevice`` makes them; software TPMs too).
    public init(endorsementKeyPublic: [UInt8], attestationKeyPublic: [UInt8], attestationKeyName: [UInt8]) {
        self.endorsementKeyPublic = endorsementKeyPublic
        self.attestationKeyPublic = attestationKeyPublic
        self.attestationKeyName = attestationKeyName
    }
}

/// A quote as the TPM returned it.
public struct TPMQuote: Hashable, Sendable {
    /// The signed `TPMS_ATTEST`, as `tpm2_quote -m` writes it.
    public let attestation: [UInt8]
    /// The `TPMT_SIGNATURE`, as `tpm2_quote -s` writes it.
    public let signature: [UInt8]

    /// Creates a quote from its two encodings.
    public init(attestation: [UInt8], signature: [UInt8]) {
        self.attestation = attestation
        self.signature = signature
    }
}

/// One TPM reached through a TCTI, with ESAPI (tpm2-tss) on top.
///
/// Synchronous and not thread-safe: own it from one actor or thread. The EK and AK, once
/// created, stay loaded until ``close()`` or deinit (two transient objects); every policy
/// session is flushed right after the command it authorised, so any number of quotes and
/// activations run without leaking handles, even on a TPM without a resource manager.
public final class TPMDevice {
    private var esys: OpaquePointer?
    private var tcti: OpaquePointer?
    private var endorsementKey: ESYS_TR?
    private var attestationKey: ESYS_TR?

    /// Opens a TPM.
    /// - Parameter tcti: a tctildr configuration such as `device:/dev/tpmrm0` or
    ///   `swtpm:host=127.0.0.1,port=2321`.
    /// - Throws: ``TPMDeviceError/Code/tctiUnavailable`` when the TCTI does not load or ESAPI
    ///   cannot start on it.
    public init(tcti configuration: String) throws(TPMDeviceError) {
        _ = tss2LoggingDefault
        var tctiContext: OpaquePointer?
        let tctiRC = Tss2_TctiLdr_Initialize(configuration, &tctiContext)
        guard tctiRC == TSS2_RC_SUCCESS, let tctiContext else {
            throw TPMDeviceError(
                .tctiUnavailable, "The TCTI '\(configuration)' could not be opened.",
                responseCode: TPMResponseCode(rawValue: tctiRC))
        }
        var esysContext: OpaquePointer?
        let esysRC = Esys_Initialize(&esysContext, tctiContext, nil)
        guard esysRC == TSS2_RC_SUCCESS, esysContext != nil else {
            var doomed: OpaquePointer? = tctiContext
            Tss2_TctiLdr_Finalize(&doomed)
            throw TPMDeviceError(
                .tctiUnavailable, "ESAPI could not start on '\(configuration)'.",
                responseCode: TPMResponseCode(rawValue: esysRC))
        }
        self.tcti = tctiContext
        self.esys = esysContext
    }

    deinit { close() }

    /// Flushes the EK and AK and releases ESAPI and the TCTI. Idempotent.
    public func close() {
        flushKeys()
        if esys != nil { Esys_Finalize(&esys) }
        if tcti != nil { Tss2_TctiLdr_Finalize(&tcti) }
    }

    private func flushKeys() {
        guard let esys else { return }
        if let attestationKey { _ = Esys_FlushContext(esys, attestationKey) }
        if let endorsementKey { _ = Esys_FlushContext(esys, endorsementKey) }
        attestationKey = nil
        endorsementKey = nil
    }

    private func context() throws(TPMDeviceError) -> OpaquePointer {
        guard let esys else { throw TPMDeviceError(.tctiUnavailable, "The TPM device was closed.") }
        return esys
    }

    private func check(_ rc: TSS2_RC, _ what: String) throws(TPMDeviceError) {
        guard rc == TSS2_RC_SUCCESS else {
            let code = TPMResponseCode(rawValue: rc)
            throw TPMDeviceError(.commandFailed, "\(what) failed: \(code).", responseCode: code)
        }
    }

    // MARK: Endorsement certificate

    /// Reads the EK certificate the manufacturer stored in NV.
    /// - Parameter type: which EK's certificate (ECC at 0x01c0000a, RSA at 0x01c00002).
    /// - Returns: the DER certificate, or nil when the index is absent.
    /// - Throws: ``TPMDeviceError/Code/commandFailed`` when the index exists but cannot be read.
    public func readEndorsementCertificate(
        _ type: TPMEndorsementKeyType = .eccP256
    ) throws(TPMDeviceError) -> [UInt8]? {
        let esys = try context()
        var index = ESYS_TR(ESYS_TR_NONE)
        guard Esys_TR_FromTPMPublic(
            esys, type.certificateIndex, ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE),
            ESYS_TR(ESYS_TR_NONE), &index) == TSS2_RC_SUCCESS
        else { return nil }
        defer { _ = Esys_TR_Close(esys, &index) }
        var nvPublic: UnsafeMutablePointer<TPM2B_NV_PUBLIC>?
        try check(
            Esys_NV_ReadPublic(
                esys, index, ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), &nvPublic, nil),
            "NV_ReadPublic of the EK certificate")
        defer { Esys_Free(nvPublic) }
        let size = Int(nvPublic?.pointee.nvPublic.dataSize ?? 0)
        var certificate: [UInt8] = []
        certificate.reserveCapacity(size)
        while certificate.count < size {
            let chunk = UInt16(min(Int(TPMConstants.nvChunk), size - certificate.count))
            var data: UnsafeMutablePointer<TPM2B_MAX_NV_BUFFER>?
            try check(
                Esys_NV_Read(
                    esys, index, index, ESYS_TR(ESYS_TR_PASSWORD), ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE),
                    chunk, UInt16(certificate.count), &data),
                "NV_Read of the EK certificate")
            defer { Esys_Free(data) }
            guard let data, data.pointee.size == chunk else {
                throw TPMDeviceError(.commandFailed, "NV_Read returned a short chunk of the EK certificate.")
            }
            certificate += prefixBytes(of: data.pointee.buffer, count: Int(chunk))
        }
        return certificate
    }

    // MARK: EK and AK

    /// Creates the EK from a TCG default template (a primary key in the endorsement hierarchy)
    /// and an AK under it: a restricted ECDSA P-256/SHA-256 signing key. Both stay loaded; a
    /// second call replaces them.
    /// - Parameter endorsementKey: the EK template (ECC P-256 by default).
    /// - Returns: the public areas and the AK's name.
    /// - Throws: ``TPMDeviceError/Code/commandFailed`` when the TPM refuses.
    public func createAttestationIdentity(
        endorsementKey type: TPMEndorsementKeyType = .eccP256
    ) throws(TPMDeviceError) -> TPMAttestationIdentity {
        let esys = try context()
        flushKeys()

        var ekTemplate = type == .eccP256 ? TPMTemplates.eccEndorsementKey() : TPMTemplates.rsaEndorsementKey()
        var sensitive = TPM2B_SENSITIVE_CREATE()
        var outsideInfo = TPM2B_DATA()
        var creationPCR = TPML_PCR_SELECTION()
        var ek = ESYS_TR(ESYS_TR_NONE)
        var ekPublic: UnsafeMutablePointer<TPM2B_PUBLIC>?
        try check(
            Esys_CreatePrimary(
                esys, ESYS_TR(ESYS_TR_RH_ENDORSEMENT), ESYS_TR(ESYS_TR_PASSWORD), ESYS_TR(ESYS_TR_NONE),
                ESYS_TR(ESYS_TR_NONE), &sensitive, &ekTemplate, &outsideInfo, &creationPCR, &ek, &ekPublic,
                nil, nil, nil),
            "CreatePrimary of the EK")
        defer { Esys_Free(ekPublic) }
        endorsementKey = ek

        var akTemplate = TPMTemplates.eccAttestationKey()

        var akPrivate: UnsafeMutablePointer<TPM2B_PRIVATE>?
        var akPublic: UnsafeMutablePointer<TPM2B_PUBLIC>?
        try withEndorsementSession { session throws(TPMDeviceError) in
            try check(
                Esys_Create(
                    esys, ek, session, ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), &sensitive, &akTemplate,
                    &outsideInfo, &creationPCR, &akPrivate, &akPublic, nil, nil, nil),
                "Create of the AK")
        }
        defer {
            Esys_Free(akPrivate)
            Esys_Free(akPublic)
        }
        guard let akPrivate, let akPublic, let ekPublic else {
            throw TPMDeviceError(.commandFailed, "The TPM returned no key material.")
        }
        var ak = ESYS_TR(ESYS_TR_NONE)
        try withEndorsementSession { session throws(TPMDeviceError) in
            try check(
                Esys_Load(
                    esys, ek, session, ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), akPrivate, akPublic, &ak),
                "Load of the AK")
        }
        attestationKey = ak

        var name: UnsafeMutablePointer<TPM2B_NAME>?
        try check(Esys_TR_GetName(esys, ak, &name), "Reading the AK's name")
        defer { Esys_Free(name) }
        let akName = name.map { prefixBytes(of: $0.pointee.name, count: Int($0.pointee.size)) } ?? []
        return TPMAttestationIdentity(
            endorsementKeyPublic: try marshal(ekPublic, Tss2_MU_TPM2B_PUBLIC_Marshal),
            attestationKeyPublic: try marshal(akPublic, Tss2_MU_TPM2B_PUBLIC_Marshal),
            attestationKeyName: akName)
    }

    /// Runs `body` with a fresh policy session satisfied by PolicySecret(endorsement), as the
    /// TCG default EK's policy demands, and flushes the session afterwards whatever happens.
    private func withEndorsementSession<T>(
        _ body: (ESYS_TR) throws(TPMDeviceError) -> T
    ) throws(TPMDeviceError) -> T {
        let esys = try context()
        var symmetric = TPMT_SYM_DEF()
        symmetric.algorithm = TPMConstants.algorithmNull
        var session = ESYS_TR(ESYS_TR_NONE)
        try check(
            Esys_StartAuthSession(
                esys, ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE),
                ESYS_TR(ESYS_TR_NONE), nil, TPMConstants.sessionPolicy, &symmetric, TPMConstants.algorithmSHA256,
                &session),
            "StartAuthSession")
        // Kept open by the TPM after each command, so this flush is the only one and always valid.
        defer { _ = Esys_FlushContext(esys, session) }
        try check(
            Esys_TRSess_SetAttributes(esys, session, TPMConstants.sessionContinue, TPMConstants.sessionContinue),
            "Setting the session's attributes")
        try check(
            Esys_PolicySecret(
                esys, ESYS_TR(ESYS_TR_RH_ENDORSEMENT), session, ESYS_TR(ESYS_TR_PASSWORD), ESYS_TR(ESYS_TR_NONE),
                ESYS_TR(ESYS_TR_NONE), nil, nil, nil, 0, nil, nil),
            "PolicySecret(endorsement)")
        return try body(session)
    }

    private func marshal<T>(
        _ value: UnsafePointer<T>,
        _ function: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?, Int, UnsafeMutablePointer<Int>?) -> TSS2_RC
    ) throws(TPMDeviceError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: MemoryLayout<T>.size + 16)
        var written = 0
        let rc = buffer.withUnsafeMutableBufferPointer { function(value, $0.baseAddress, $0.count, &written) }
        try check(rc, "Marshalling a TPM structure")
        return Array(buffer.prefix(written))
    }

    // MARK: Quote, PCRs, credential activation

    /// Quotes PCRs with the AK.
    /// - Parameters:
    ///   - selection: the PCRs to quote (one bank).
    ///   - qualifyingData: up to 64 bytes the quote binds (the verifier's nonce or a hash of it).
    /// - Returns: the signed attestation and its signature.
    /// - Throws: ``TPMDeviceError/Code/noAttestationKey`` before ``createAttestationIdentity()``;
    ///   ``TPMDeviceError/Code/invalidArgument`` for too much qualifying data or a bad PCR index;
    ///   ``TPMDeviceError/Code/commandFailed`` when the TPM refuses.
    public func quote(selection: TPMPCRSelection, qualifyingData: [UInt8]) throws(TPMDeviceError) -> TPMQuote {
        let esys = try context()
        guard let attestationKey else {
            throw TPMDeviceError(.noAttestationKey, "Quote needs an AK; call createAttestationIdentity() first.")
        }
        var data = TPM2B_DATA()
        guard qualifyingData.count <= MemoryLayout.size(ofValue: data.buffer) else {
            throw TPMDeviceError(.invalidArgument, "qualifyingData is at most 64 bytes, not \(qualifyingData.count).")
        }
        data.size = UInt16(qualifyingData.count)
        withUnsafeMutableBytes(of: &data.buffer) { $0.copyBytes(from: qualifyingData) }
        var scheme = TPMT_SIG_SCHEME()
        scheme.scheme = TPMConstants.algorithmNull
        var pcrs = try Self.selectionList(selection)
        var attest: UnsafeMutablePointer<TPM2B_ATTEST>?
        var signature: UnsafeMutablePointer<TPMT_SIGNATURE>?
        try check(
            Esys_Quote(
                esys, attestationKey, ESYS_TR(ESYS_TR_PASSWORD), ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE),
                &data, &scheme, &pcrs, &attest, &signature),
            "Quote")
        defer {
            Esys_Free(attest)
            Esys_Free(signature)
        }
        guard let attest, let signature else { throw TPMDeviceError(.commandFailed, "Quote returned nothing.") }
        return TPMQuote(
            attestation: prefixBytes(of: attest.pointee.attestationData, count: Int(attest.pointee.size)),
            signature: try marshal(signature, Tss2_MU_TPMT_SIGNATURE_Marshal))
    }

    /// Reads PCR values.
    /// - Parameter selection: the PCRs to read (one bank).
    /// - Returns: each selected index's current value.
    /// - Throws: ``TPMDeviceError/Code/invalidArgument`` for an index above 23, or when the bank
    ///   is not allocated; ``TPMDeviceError/Code/commandFailed`` when the TPM refuses.
    public func readPCRs(_ selection: TPMPCRSelection) throws(TPMDeviceError) -> [Int: [UInt8]] {
        let esys = try context()
        var values: [Int: [UInt8]] = [:]
        // One PCR per command: PCR_Read returns at most eight digests and may drop some silently.
        for index in selection.indexes {
            var list = try Self.selectionList(TPMPCRSelection(bank: selection.bank, indexes: [index]))
            var counter: UInt32 = 0
            var selectionOut: UnsafeMutablePointer<TPML_PCR_SELECTION>?
            var digests: UnsafeMutablePointer<TPML_DIGEST>?
            try check(
                Esys_PCR_Read(
                    esys, ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), ESYS_TR(ESYS_TR_NONE), &list, &counter,
                    &selectionOut, &digests),
                "PCR_Read")
            defer {
                Esys_Free(selectionOut)
                Esys_Free(digests)
            }
            guard let digests, digests.pointee.count == 1 else {
                throw TPMDeviceError(.invalidArgument, "PCR \(index) of bank \(selection.bank) is not allocated.")
            }
            values[index] = bytes(of: digests.pointee.digests.0)
        }
        return values
    }

    /// Recovers a credential made (TPM2_MakeCredential) for this TPM's EK and the AK's name.
    /// - Parameters:
    ///   - credentialBlob: the marshalled `TPM2B_ID_OBJECT`.
    ///   - encryptedSecret: the marshalled `TPM2B_ENCRYPTED_SECRET`.
    /// - Returns: the credential. The caller should move it into wiped storage.
    /// - Throws: ``TPMDeviceError/Code/noAttestationKey`` before ``createAttestationIdentity()``;
    ///   ``TPMDeviceError/Code/invalidArgument`` for blobs that do not parse;
    ///   ``TPMDeviceError/Code/commandFailed`` when the credential was made for another EK or name.
    public func activateCredential(
        credentialBlob: [UInt8], encryptedSecret: [UInt8]
    ) throws(TPMDeviceError) -> [UInt8] {
        let esys = try context()
        guard let attestationKey, let endorsementKey else {
            throw TPMDeviceError(.noAttestationKey, "ActivateCredential needs the EK and AK.")
        }
        var blob = TPM2B_ID_OBJECT()
        var secret = TPM2B_ENCRYPTED_SECRET()
        do {
            try parseComplete(
                credentialBlob, into: &blob, what: "credential blob", maximumSize: MemoryLayout<TPM2B_ID_OBJECT>.size,
                unmarshal: Tss2_MU_TPM2B_ID_OBJECT_Unmarshal, marshal: Tss2_MU_TPM2B_ID_OBJECT_Marshal)
            try parseComplete(
                encryptedSecret, into: &secret, what: "encrypted secret",
                maximumSize: MemoryLayout<TPM2B_ENCRYPTED_SECRET>.size,
                unmarshal: Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal, marshal: Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal)
        } catch {
            throw TPMDeviceError(.invalidArgument, error.reason, responseCode: error.responseCode)
        }
        var certInfo: UnsafeMutablePointer<TPM2B_DIGEST>?
        try withEndorsementSession { session throws(TPMDeviceError) in
            try check(
                Esys_ActivateCredential(
                    esys, attestationKey, endorsementKey, ESYS_TR(ESYS_TR_PASSWORD), session, ESYS_TR(ESYS_TR_NONE),
                    &blob, &secret, &certInfo),
                "ActivateCredential")
        }
        guard let certInfo else { throw TPMDeviceError(.commandFailed, "ActivateCredential returned nothing.") }
        defer {
            // The credential is the verifier's one-time secret: wipe ESAPI's copy before freeing it.
            withUnsafeMutableBytes(of: &certInfo.pointee) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            Esys_Free(certInfo)
        }
        return bytes(of: certInfo.pointee)
    }

    static func selectionList(_ selection: TPMPCRSelection) throws(TPMDeviceError) -> TPML_PCR_SELECTION {
        var item = TPMS_PCR_SELECTION()
        item.hash = selection.bank.rawValue
        item.sizeofSelect = 3
        for index in selection.indexes {
            guard index >= 0, index < TPMPCRSelection.maximumIndexCount else {
                throw TPMDeviceError(.invalidArgument, "PCR index \(index) is not 0…23.")
            }
            withUnsafeMutableBytes(of: &item.pcrSelect) { $0[index / 8] |= UInt8(1 << (index % 8)) }
        }
        var list = TPML_PCR_SELECTION()
        list.count = 1
        list.pcrSelections.0 = item
        return list
    }
}
