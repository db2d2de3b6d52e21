/// A quote's qualifyingData (the `-q` of `tpm2_quote`) as people type it.
///
/// It is whatever the verifier chose for the quote to carry, 1…64 bytes (a tpm2-tools user's
/// nonce, or the coordinator's `EvidenceBinding` digest of its nonce and the transport key), so
/// the verifier takes it as plain bytes. The coordinator's fresh 32-byte challenge is the one
/// `Nonce` type, `AgentProtocol.Nonce`.
public enum QualifyingData {
    /// The largest qualifying data a TPM accepts (TPM2B_DATA holds a SHA-512 digest).
    public static let maximumSize = 64

    /// Decodes hex qualifying data (optional `0x`), or `nil` when it is not hex, empty or longer
    /// than ``maximumSize``.
    /// - Parameter text: the hex digits.
    public static func parse(_ text: String) -> [UInt8]? {
        guard let bytes = Hex.decode(text), !bytes.isEmpty, bytes.count <= maximumSize else { return nil }
        return bytes
    }
}
