import Testing
@testable import ShardCrypto

@Suite struct LibcryptoReferenceTests {
    @Test func ecdhAgreesBothWays() throws {
        let alice = LibcryptoReferenceKey()
        let bob = LibcryptoReferenceKey()
        let ab = try alice.deriveSharedSecret(with: bob)
        #expect(ab.constantTimeEquals(try bob.deriveSharedSecret(with: alice)))
        #expect(!ab.constantTimeEquals(try alice.deriveSharedSecret(with: LibcryptoReferenceKey())))
    }

    @Test func ecdsaSignaturesVerifyOnlyForTheirMessage() throws {
        let key = LibcryptoReferenceKey()
        let signature = try key.sign([1, 2, 3])
        #expect(key.verify(signature, for: [1, 2, 3]))
        #expect(!key.verify(signature, for: [1, 2, 4]))
        #expect(!LibcryptoReferenceKey().verify(signature, for: [1, 2, 3]))
        #expect(!key.verify([0x30, 0x00], for: [1, 2, 3]))
    }
}
