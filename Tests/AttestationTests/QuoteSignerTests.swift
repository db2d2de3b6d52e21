import Attestation
import TPM2
import Testing

/// The quote's `qualifiedSigner` against the AK presented with it, on real swtpm quotes.
@Suite("Quote signer")
struct QuoteSignerTests {
    /// A TPM2B_PUBLIC with its name algorithm (bytes 4–5) and attribute word (bytes 6–9) rewritten;
    /// the key itself, so any signature by it, is unchanged.
    static func rewritten(_ publicArea: [UInt8], nameAlgorithm: UInt16? = nil, adding: TPMObjectAttributes = [])
        -> [UInt8]
    {
        var bytes = publicArea
        if let nameAlgorithm {
            bytes[4] = UInt8(nameAlgorithm >> 8)
            bytes[5] = UInt8(nameAlgorithm & 0xff)
        }
        var attributes = UInt32(bytes[6]) << 24 | UInt32(bytes[7]) << 16 | UInt32(bytes[8]) << 8 | UInt32(bytes[9])
        attributes |= adding.rawValue
        for index in 0..<4 { bytes[6 + index] = UInt8(truncatingIfNeeded: attributes >> (24 - 8 * UInt32(index))) }
        return bytes
    }

    static func verifier() throws -> QuoteVerifier {
        QuoteVerifier(policy: try AttestationPolicy(yaml: SwtpmEvidence.policyYAML()))
    }

    @Test("swtpm writes the AK's qualified name under the EK; a genuine quote with its EK passes")
    func qualifiedNameMatchesTheTPM() throws {
        let fixture = try SwtpmEvidence.get()
        let ek = try TPMPublic(parsing: fixture.ekPublic)
        let ak = try TPMPublic(parsing: fixture.ecc.akPublic)
        let quote = try TPMAttestation(parsing: fixture.ecc.quoteMessage)
        #expect(try ak.name() == fixture.eccAKName)
        let ekQualifiedName = try ek.qualifiedName(primaryIn: TPMPublic.endorsementHierarchy)
        let expected = try ak.qualifiedName(parentQualifiedName: ekQualifiedName)
        #expect(quote.qualifiedSigner == expected)
        // The signer is the qualified name, not the name: comparing with the name would refuse every quote.
        #expect(quote.qualifiedSigner != fixture.eccAKName)
        #expect(QuoteVerifier.checkSigner(of: quote, ak: ak, endorsementKey: ek).isEmpty)

        var evidence = fixture.ecc
        evidence.endorsementKey = ek
        #expect(try Self.verifier().verify(evidence, nonce: SwtpmEvidence.nonce) == .accepted)
    }

    @Test("a quote presented with another AK of the same TPM, or under another EK, names another signer")
    func anotherSigner() throws {
        let fixture = try SwtpmEvidence.get()
        let ek = try TPMPublic(parsing: fixture.ekPublic)
        let quote = try TPMAttestation(parsing: fixture.ecc.quoteMessage)
        let other = try TPMPublic(parsing: fixture.otherAKPublic)
        #expect(
            QuoteVerifier.checkSigner(of: quote, ak: other, endorsementKey: ek).map(\.code) == [.quoteSignerMismatch])
        // The right AK, but as a child of another EK (the RSA AK's quote is by the same EK: use its AK as a
        // stand-in parent that is certainly not the EK).
        let ak = try TPMPublic(parsing: fixture.ecc.akPublic)
        let stranger = try TPMPublic(parsing: fixture.rsassa.akPublic)
        #expect(QuoteVerifier.checkSigner(of: quote, ak: ak, endorsementKey: stranger).map(\.code)
            == [.quoteSignerMismatch])

        var evidence = fixture.ecc
        evidence.akPublic = fixture.otherAKPublic
        evidence.endorsementKey = ek
        let codes = try Self.verifier().verify(evidence, nonce: SwtpmEvidence.nonce).refusalCodes
        #expect(codes.isSuperset(of: [.signatureInvalid, .quoteSignerMismatch]), "\(codes)")
    }

    @Test("an unrestricted key's quote presented as a restricted AK: the signature holds, the signer does not")
    func unrestrictedKeyPosingAsAnAK() throws {
        let fixture = try SwtpmEvidence.get()
        var evidence = fixture.unrestrictedKey
        // Without the change the verifier refuses it for its attributes.
        #expect(try Self.verifier().verify(evidence, nonce: SwtpmEvidence.nonce).refusalCodes == [.akAttributes])
        evidence.akPublic = Self.rewritten(evidence.akPublic, adding: .restricted)
        evidence.endorsementKey = try TPMPublic(parsing: fixture.ekPublic)
        let verdict = try Self.verifier().verify(evidence, nonce: SwtpmEvidence.nonce)
        #expect(verdict.refusalCodes == [.quoteSignerMismatch], "\(verdict)")
        // Without an EK only the signer's name algorithm can be checked, and this one passes: the coordinator
        // always gives the EK (and still activates a credential for the AK's name).
        evidence.endorsementKey = nil
        #expect(try Self.verifier().verify(evidence, nonce: SwtpmEvidence.nonce) == .accepted)
    }

    @Test("an AK with a SHA-1 name is refused, though its signature verifies")
    func sha1Name() throws {
        let fixture = try SwtpmEvidence.get()
        var evidence = fixture.ecc
        evidence.akPublic = Self.rewritten(evidence.akPublic, nameAlgorithm: TPMAlgorithmID.sha1.rawValue)
        let codes = try Self.verifier().verify(evidence, nonce: SwtpmEvidence.nonce).refusalCodes
        #expect(codes.contains(.akSHA1Name), "\(codes)")
        #expect(codes.contains(.quoteSignerMismatch), "\(codes)")  // the signer was named with SHA-256
        #expect(!codes.contains(.signatureInvalid), "\(codes)")
    }
}
