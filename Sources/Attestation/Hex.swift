import ShardCrypto

/// Hexadecimal for public values (digests, nonces), as policy authors read and write them.
/// The digit work is ShardCrypto's; this adds the short form and the optional `0x` prefix.
enum Hex {
    /// Lower-case hex.
    static func encode(_ bytes: some Sequence<UInt8>) -> String { bytes.hexString }

    /// The first four bytes in hex followed by `…`, as people compare digests at a glance.
    static func short(_ bytes: [UInt8]) -> String {
        bytes.count <= 4 ? encode(bytes) : encode(bytes.prefix(4)) + "…"
    }

    /// Decodes hex (either case, optional `0x`), or `nil` for odd length or a non-hex digit.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var digits = Substring(text)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        return [UInt8](hexString: digits)
    }
}
