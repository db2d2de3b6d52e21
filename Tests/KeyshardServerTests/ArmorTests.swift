import KeyshardAPI
import Testing

/// The `keyshard:v<N>:<base64>` armour as callers paste it: from files with Unix or Windows line
/// endings, with spaces around it; anything inside it stays strict.
@Suite struct ArmorTests {
    static let armour = KeyshardArmor.format(version: 3, bytes: Array(0..<90))

    @Test("trailing LF, CRLF, CR and spaces are tolerated; the version and bytes are the armour's")
    func lineEndings() throws {
        for text in [Self.armour, Self.armour + "\n", Self.armour + "\r\n", Self.armour + "\r\n\r\n", "  " + Self.armour + " \r", "\t" + Self.armour + "\r\n"] {
            let (version, bytes) = try KeyshardArmor.parse(text, what: "ciphertext")
            #expect(version == 3 && bytes == Array(0..<90), "\(text.debugDescription)")
        }
    }

    @Test("white space or a line break inside the armour is refused")
    func insideStaysStrict() {
        let middle = Self.armour.index(Self.armour.startIndex, offsetBy: 20)
        for text in [String(Self.armour[..<middle]) + "\r\n" + Self.armour[middle...], Self.armour.replacingOccurrences(of: ":v3:", with: ":v3 :")] {
            #expect(throws: KeyshardError.self) { _ = try KeyshardArmor.parse(text, what: "ciphertext") }
        }
    }
}
