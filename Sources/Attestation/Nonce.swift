/// Verifier nonces as people type them.
public enum Nonce {
    /// The largest qualifying data a TPM accepts (TPM2B_DATA holds a SHA-512 digest).
    public static let maximumSize = 64

    /// Decodes a hex nonce (optional `0x`), or `nil` when it is not hex, empty or longer than ``maximumSize``.
    /// - Parameter text: the hex digits.
    public static func parse(_ text: String) -> [UInt8]? {
        guard let bytes = Hex.decode(text), !bytes.isEmpty, bytes.count <= maximumSize else { return nil }
        return bytes
    }
}
