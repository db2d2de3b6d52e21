import ShardCrypto

/// A 32-byte challenge or heartbeat nonce, chosen fresh by the coordinator.
public struct Nonce: Sendable, Hashable, CustomStringConvertible {
    /// The length of every nonce.
    public static let byteCount = 32
    /// The nonce bytes; public (the verifier chose them).
    public let bytes: [UInt8]

    /// Wraps nonce bytes.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless exactly 32 bytes.
    public init(_ bytes: [UInt8]) throws(AgentProtocolError) {
        guard bytes.count == Self.byteCount else {
            throw AgentProtocolError.malformed("a nonce is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A nonce from the system's cryptographically secure generator.
    public static func random() -> Nonce {
        var generator = SystemRandomNumberGenerator()
        // Force-unwrap: the length is right by construction.
        return try! Nonce((0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    public var description: String { "Nonce(\(bytes.hexString))" }
}

/// Which key version a message is about: the coordinator's key identifier and version.
public struct KeyReference: Sendable, Hashable, CustomStringConvertible {
    /// The longest key identifier, in UTF-8 bytes.
    public static let maximumIdentifierLength = 128
    /// The key's identifier in the coordinator's key ring: 1…128 bytes of UTF-8, no control characters.
    public let keyID: String
    /// The key version, counting from 1 in the coordinator's key ring.
    public let version: UInt32

    /// Names a key version.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty, overlong or
    ///   control-character identifier.
    public init(keyID: String, version: UInt32) throws(AgentProtocolError) {
        let length = keyID.utf8.count
        guard length >= 1, length <= Self.maximumIdentifierLength else {
            throw AgentProtocolError.malformed(
                "a key identifier is 1…\(Self.maximumIdentifierLength) UTF-8 bytes, got \(length)")
        }
        guard !keyID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw AgentProtocolError.malformed("a key identifier contains a control character")
        }
        self.keyID = keyID
        self.version = version
    }

    public var description: String { "\(keyID)@v\(version)" }
}

/// The agent's in-RAM transport public key: an uncompressed P-256 point (65 bytes)
/// to which shares and sub-shares are HPKE-sealed. Checked to be on the curve.
public struct TransportPublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The length of the encoding.
    public static let byteCount = 65
    /// The SEC1 uncompressed encoding, 0x04 ‖ X ‖ Y.
    public let uncompressed: [UInt8]

    /// Wraps a SEC1 uncompressed encoding.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless it is 65 bytes, starts
    ///   with 0x04 and is a point on P-256 other than the identity.
    public init(uncompressed bytes: [UInt8]) throws(AgentProtocolError) {
        guard bytes.count == Self.byteCount, bytes.first == 0x04 else {
            throw AgentProtocolError.malformed(
                "a transport public key is a \(Self.byteCount)-byte uncompressed point starting 0x04")
        }
        do { _ = try Point(sec1: bytes) } catch {
            throw AgentProtocolError.malformed("the transport public key is not a P-256 point: \(error)")
        }
        self.uncompressed = bytes
    }

    public var description: String { "TransportPublicKey(\(uncompressed.prefix(9).hexString)…)" }
}

/// A 16-byte identifier the coordinator picks for one FROST signing session, so round
/// two finds the nonces round one committed to.
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    /// The length of every session identifier.
    public static let byteCount = 16
    /// The identifier bytes.
    public let bytes: [UInt8]

    /// Wraps session identifier bytes.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless exactly 16 bytes.
    public init(_ bytes: [UInt8]) throws(AgentProtocolError) {
        guard bytes.count == Self.byteCount else {
            throw AgentProtocolError.malformed("a session identifier is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A random session identifier.
    public static func random() -> SessionID {
        var generator = SystemRandomNumberGenerator()
        return try! SessionID((0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    public var description: String { "Session(\(bytes.hexString))" }
}

/// What a recipient's TPM says about it, for a dealer to check itself before sealing anything
/// derived from a share to it: a quote over PCR 4 and 9 by its restricted AK, bound to its
/// transport key and to one run (``RecipientBinding``), and its EK certificate. The answer to
/// ``RecipientQuoteRequest``.
public struct RecipientQuote: Sendable, Hashable, CustomStringConvertible {
    /// The EK certificate, DER.
    public let endorsementCertificate: [UInt8]
    /// The AK's TPM2B_PUBLIC.
    public let attestationKeyPublic: [UInt8]
    /// TPMS_ATTEST.
    public let quote: [UInt8]
    /// TPMT_SIGNATURE.
    public let quoteSignature: [UInt8]

    /// Collects a recipient quote.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong field.
    public init(endorsementCertificate: [UInt8], attestationKeyPublic: [UInt8], quote: [UInt8], quoteSignature: [UInt8])
        throws(AgentProtocolError)
    {
        try WireLimits.check("EK certificate", endorsementCertificate, maximum: WireLimits.maximumCertificateLength)
        try WireLimits.check("AK public", attestationKeyPublic, maximum: WireLimits.maximumTPMStructureLength)
        try WireLimits.check("quote", quote, maximum: WireLimits.maximumTPMStructureLength)
        try WireLimits.check("quote signature", quoteSignature, maximum: WireLimits.maximumTPMStructureLength)
        self.endorsementCertificate = endorsementCertificate
        self.attestationKeyPublic = attestationKeyPublic
        self.quote = quote
        self.quoteSignature = quoteSignature
    }

    public var description: String { "RecipientQuote(quote \(quote.count) B)" }
}

/// A recipient of sealed secrets (a DKG round-2 share, a redistribution sub-share): its
/// participant id, its transport key and the attestation the *dealer* checks against the rule in
/// its own measured boot. The coordinator relays it and attaches the EK chain it knows; it cannot
/// make a dealer seal to a key no genuine, identically booted custodian holds.
public struct RecipientKey: Sendable, Hashable, CustomStringConvertible {
    /// The most certificates an EK chain may carry.
    public static let maximumChainLength = 8
    /// The recipient.
    public let participant: ParticipantID
    /// Its attested transport key.
    public let transportKey: TransportPublicKey
    /// Its quote for this run.
    public let quote: RecipientQuote
    /// DER certificates above the EK certificate (intermediates and the root, any order); the
    /// dealer uses as roots only those whose SHA-256 its boot pins.
    public let endorsementChain: [[UInt8]]

    /// Pairs a participant with its transport key and attestation.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong chain.
    public init(
        participant: ParticipantID, transportKey: TransportPublicKey, quote: RecipientQuote, endorsementChain: [[UInt8]]
    ) throws(AgentProtocolError) {
        guard !endorsementChain.isEmpty, endorsementChain.count <= Self.maximumChainLength else {
            throw AgentProtocolError.malformed("an EK chain has 1…\(Self.maximumChainLength) certificates")
        }
        for certificate in endorsementChain {
            try WireLimits.check("EK chain certificate", certificate, maximum: WireLimits.maximumCertificateLength)
        }
        self.participant = participant
        self.transportKey = transportKey
        self.quote = quote
        self.endorsementChain = endorsementChain
    }

    public var description: String { "RecipientKey(\(participant))" }
}

/// Bytes HPKE-sealed by one participant to another's transport key (a DKG round-2 share or a
/// redistribution sub-share) and, between custodians, wrapped for the recipient's TPM with
/// MakeCredential (``credentialBlob`` and ``encryptedSecret`` non-empty; the ciphertext is then
/// the AES-GCM box around the HPKE ciphertext). Safe to relay and log by length.
public struct SealedPayload: Sendable, Hashable, CustomStringConvertible {
    /// The longest ciphertext accepted: enc (65) + a 133-byte DKG share + tag, with room.
    public static let maximumCiphertextLength = 1024
    /// The sender.
    public let from: ParticipantID
    /// The recipient.
    public let to: ParticipantID
    /// HPKE `enc ‖ ciphertext`, or the credential-wrapped box around it.
    public let ciphertext: [UInt8]
    /// MakeCredential's TPM2B_ID_OBJECT; empty when not wrapped.
    public let credentialBlob: [UInt8]
    /// MakeCredential's TPM2B_ENCRYPTED_SECRET; empty when not wrapped.
    public let encryptedSecret: [UInt8]

    /// Wraps a sealed payload.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong ciphertext,
    ///   or only one of the two credential parts.
    public init(
        from: ParticipantID, to: ParticipantID, ciphertext: [UInt8], credentialBlob: [UInt8] = [],
        encryptedSecret: [UInt8] = []
    ) throws(AgentProtocolError) {
        guard !ciphertext.isEmpty, ciphertext.count <= Self.maximumCiphertextLength else {
            throw AgentProtocolError.malformed(
                "a sealed payload is 1…\(Self.maximumCiphertextLength) bytes, got \(ciphertext.count)")
        }
        guard credentialBlob.isEmpty == encryptedSecret.isEmpty,
            credentialBlob.count <= WireLimits.maximumTPMStructureLength,
            encryptedSecret.count <= WireLimits.maximumTPMStructureLength
        else {
            throw AgentProtocolError.malformed("a wrapped payload carries both MakeCredential parts, each ≤ 4096 bytes")
        }
        self.from = from
        self.to = to
        self.ciphertext = ciphertext
        self.credentialBlob = credentialBlob
        self.encryptedSecret = encryptedSecret
    }

    /// Whether the payload is wrapped for the recipient's TPM.
    public var isCredentialWrapped: Bool { !credentialBlob.isEmpty }

    public var description: String {
        "SealedPayload(\(from)→\(to), \(ciphertext.count) bytes\(isCredentialWrapped ? ", TPM-wrapped" : ""))"
    }
}

/// PCR values by bank (TPM_ALG_ID: 0x0004 SHA-1, 0x000B SHA-256, 0x000C SHA-384,
/// 0x000D SHA-512) and index. Digest lengths must match the bank.
public struct PCRValues: Sendable, Hashable, CustomStringConvertible {
    /// The highest PCR index accepted (TPM 2.0 PC Client platforms have 24).
    public static let maximumIndex: UInt8 = 31
    /// Bank → PCR index → digest.
    public let digests: [UInt16: [UInt8: [UInt8]]]

    /// Checks and wraps PCR values.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an unknown bank, an index
    ///   above ``maximumIndex`` or a digest of the wrong length for its bank.
    public init(_ digests: [UInt16: [UInt8: [UInt8]]]) throws(AgentProtocolError) {
        for (bank, values) in digests {
            guard let length = Self.digestLength(bank: bank) else {
                throw AgentProtocolError.malformed("PCR bank 0x\(String(bank, radix: 16)) is not a known hash")
            }
            for (index, digest) in values {
                guard index <= Self.maximumIndex else {
                    throw AgentProtocolError.malformed("PCR index \(index) is above \(Self.maximumIndex)")
                }
                guard digest.count == length else {
                    throw AgentProtocolError.malformed(
                        "PCR \(index) in bank 0x\(String(bank, radix: 16)) is \(digest.count) bytes, not \(length)")
                }
            }
        }
        self.digests = digests
    }

    /// The digest length of a bank, nil for an unknown algorithm.
    public static func digestLength(bank: UInt16) -> Int? {
        switch bank {
        case 0x0004: 20
        case 0x000B: 32
        case 0x000C: 48
        case 0x000D: 64
        default: nil
        }
    }

    public var description: String {
        let banks = digests.keys.sorted().map { "0x\(String($0, radix: 16)): \(digests[$0]!.count) PCRs" }
        return "PCRValues(\(banks.joined(separator: ", ")))"
    }
}

/// The PCRs a verifier asks the agent to quote: one bank and a set of indexes. The verifier's
/// policy decides what is measured, so the selection travels with the challenge instead of
/// being fixed in the guest (where changing it would mean a new, re-measured image).
public struct QuoteSelection: Sendable, Hashable, CustomStringConvertible {
    /// The highest PCR index a PC Client TPM has.
    public static let maximumIndex: UInt8 = 23
    /// The bank's TPM algorithm identifier (0x000B sha256, 0x000C sha384, 0x000D sha512, 0x0004 sha1).
    public let bank: UInt16
    /// The PCR indexes, each at most ``maximumIndex``.
    public let indexes: Set<UInt8>

    /// Checks and wraps a selection.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an unknown bank, no index or
    ///   an index above ``maximumIndex``.
    public init(bank: UInt16, indexes: Set<UInt8>) throws(AgentProtocolError) {
        guard PCRValues.digestLength(bank: bank) != nil else {
            throw AgentProtocolError.malformed("PCR bank 0x\(String(bank, radix: 16)) is not a known hash")
        }
        guard !indexes.isEmpty else { throw AgentProtocolError.malformed("a quote selection names no PCR") }
        if let high = indexes.first(where: { $0 > Self.maximumIndex }) {
            throw AgentProtocolError.malformed("PCR index \(high) is above \(Self.maximumIndex)")
        }
        self.bank = bank
        self.indexes = indexes
    }

    /// The indexes as a bitmap, bit i for PCR i (the wire form).
    var bitmap: UInt32 { indexes.reduce(0) { $0 | (1 << UInt32($1)) } }

    public var description: String {
        "0x\(String(bank, radix: 16)):\(indexes.sorted().map(String.init).joined(separator: ","))"
    }
}
