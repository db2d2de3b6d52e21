internal import CTSS2

/// A parsed `TPMS_ATTEST`: what a TPM signs when it quotes, certifies or attests.
///
/// Parsing checks only the encoding. Whether the structure is acceptable (magic, type,
/// nonce, selection) is the verifier's decision, so those fields are reported as they are.
public struct TPMAttestation: Hashable, Sendable {
    /// `TPM_GENERATED_VALUE` (0xff544347): the TPM puts it in everything it signs itself.
    public static let generatedValue: UInt32 = 0xff54_4347
    /// `TPM_ST_ATTEST_QUOTE`: the structure tag of a quote.
    public static let quoteType: UInt16 = 0x8018

    /// The largest encoding accepted; any real attestation structure is far smaller.
    public static let maximumEncodedSize = 4096

    /// The exact bytes parsed: the message a signature covers.
    public let encoded: [UInt8]
    /// The magic value; a TPM-generated structure holds ``generatedValue``.
    public let magic: UInt32
    /// The structure tag (`TPM_ST_ATTEST_*`).
    public let type: UInt16
    /// The qualified name of the signing key.
    public let qualifiedSigner: [UInt8]
    /// The caller's qualifying data (the verifier's nonce).
    public let extraData: [UInt8]
    /// The TPM's clock, in milliseconds.
    public let clock: UInt64
    /// TPM resets since the last TPM2_Clear.
    public let resetCount: UInt32
    /// Restarts since the last reset.
    public let restartCount: UInt32
    /// Whether the clock value was never reported higher before.
    public let clockIsSafe: Bool
    /// The vendor's firmware version.
    public let firmwareVersion: UInt64
    /// The quote body when ``type`` is ``quoteType``, otherwise `nil`.
    public let quote: Quote?

    /// The body of a quote (`TPMS_QUOTE_INFO`).
    public struct Quote: Hashable, Sendable {
        /// The PCR selection the TPM digested, banks in encoding order.
        public let selections: [TPMPCRSelection]
        /// The hash of the selected PCR values, using the signing scheme's hash.
        public let pcrDigest: [UInt8]
    }

    /// Parses a complete `TPMS_ATTEST` encoding, as `tpm2_quote -m` writes it.
    /// - Parameter bytes: the encoding.
    /// - Throws: ``TPMStructureError`` when it is empty, too large, truncated, malformed or followed by bytes.
    public init(parsing bytes: [UInt8]) throws(TPMStructureError) {
        var attest = TPMS_ATTEST()
        try parseComplete(
            bytes, into: &attest, what: "attestation structure (TPMS_ATTEST)",
            maximumSize: Self.maximumEncodedSize,
            unmarshal: Tss2_MU_TPMS_ATTEST_Unmarshal, marshal: Tss2_MU_TPMS_ATTEST_Marshal)
        encoded = bytes
        magic = attest.magic
        type = attest.type
        qualifiedSigner = prefixBytes(of: attest.qualifiedSigner.name, count: Int(attest.qualifiedSigner.size))
        extraData = prefixBytes(of: attest.extraData.buffer, count: Int(attest.extraData.size))
        clock = attest.clockInfo.clock
        resetCount = attest.clockInfo.resetCount
        restartCount = attest.clockInfo.restartCount
        clockIsSafe = attest.clockInfo.safe != 0
        firmwareVersion = attest.firmwareVersion
        if attest.type == Self.quoteType {
            let info = attest.attested.quote
            quote = Quote(
                selections: TPMPCRSelection.selections(in: info.pcrSelect), pcrDigest: CTSS2Bytes.of(info.pcrDigest))
        } else {
            quote = nil
        }
    }
}
