import Testing
@testable import ShardCrypto

@Suite struct GroupTests {
    @Test func generatorEncodingIsTheStandardOne() throws {
        // SEC 2 v2, section 2.4.2: the compressed P-256 base point.
        #expect(try Point.generator.compressed().hexString == "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
    }
}
