internal import CTSS2

/// A TPM 2.0 / TSS2 response code (`TSS2_RC`), with the text tpm2-tss gives it.
///
/// `TPM2` is the single Swift wrapper around tpm2-tss (`CTSS2`): the attestation
/// verifier uses its structure parsing, the guest agent its ESAPI device layer.
public struct TPMResponseCode: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw 32-bit code: the layer in the top byte, the TPM or TSS code below.
    public let rawValue: UInt32

    /// Wraps a raw response code.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Whether the code means success (`TSS2_RC_SUCCESS`).
    public var isSuccess: Bool { rawValue == TSS2_RC_SUCCESS }

    /// The layer that produced the code (0 = TPM, 6 = MU, 7 = ESAPI, 10 = TCTI, …).
    public var layer: UInt8 { UInt8(truncatingIfNeeded: rawValue >> TSS2_RC_LAYER_SHIFT) }

    /// tpm2-tss's decoding, for example `tpm:error(2.0): authorization failure without DA implications`.
    public var description: String {
        guard let text = Tss2_RC_Decode(rawValue) else { return "0x" + String(rawValue, radix: 16) }
        return String(cString: text)
    }
}
