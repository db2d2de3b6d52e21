import Crypto
import ShardCrypto

/// Step 1: the coordinator's fresh nonce, and the PCRs its policy wants quoted; the agent
/// answers with ``EvidenceMessage``.
public struct Challenge: Sendable, Hashable, CustomStringConvertible {
    /// Goes into the quote's qualifyingData with the transport key.
    public let nonce: Nonce
    /// The PCRs to quote; nil leaves the agent's configured default (`--pcrs`). The agent keeps
    /// the selection for later heartbeats, so evidence and heartbeats cover the same PCRs.
    public let selection: QuoteSelection?

    /// Creates a challenge.
    public init(nonce: Nonce, selection: QuoteSelection? = nil) {
        self.nonce = nonce
        self.selection = selection
    }

    public var description: String {
        "Challenge(\(nonce), pcrs: \(selection.map(String.init(describing:)) ?? "agent default"))"
    }
}

extension Challenge: WireCodable {
    static let messageType = MessageType.challenge

    /// nonce ‖ bank (u16, 0 = the agent's default) ‖ PCR bitmap (u32).
    func encode(into writer: inout WireWriter) {
        writer.write(nonce)
        writer.write(selection?.bank ?? 0)
        writer.write(selection?.bitmap ?? 0)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        let nonce = try reader.readNonce("nonce")
        let bank = try reader.readUInt16("selection bank")
        let bitmap = try reader.readUInt32("selection bitmap")
        guard bank != 0 else {
            guard bitmap == 0 else { throw AgentProtocolError.malformed("a PCR bitmap without a bank") }
            self.init(nonce: nonce)
            return
        }
        let indexes = Set((0..<32).filter { bitmap & (1 << UInt32($0)) != 0 }.map(UInt8.init))
        self.init(nonce: nonce, selection: try QuoteSelection(bank: bank, indexes: indexes))
    }
}

/// Step 2: what the agent's TPM says booted, and the transport key it will receive
/// shares under. Every TPM structure travels in tpm2-tools' marshalled form.
public struct EvidenceMessage: Sendable, Hashable, CustomStringConvertible {
    /// The EK certificate, DER.
    public let endorsementKeyCertificate: [UInt8]
    /// The AK's TPM2B_PUBLIC.
    public let attestationKeyPublic: [UInt8]
    /// The quote's TPMS_ATTEST.
    public let quote: [UInt8]
    /// The quote's TPMT_SIGNATURE.
    public let quoteSignature: [UInt8]
    /// The PCR values the quote covers.
    public let pcrValues: PCRValues
    /// The UEFI event log (binary_bios_measurements), possibly empty.
    public let eventLog: [UInt8]
    /// The agent's in-RAM transport public key, bound into the quote's qualifyingData.
    public let transportKey: TransportPublicKey

    /// Collects evidence.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong TPM structure.
    public init(
        endorsementKeyCertificate: [UInt8], attestationKeyPublic: [UInt8], quote: [UInt8], quoteSignature: [UInt8],
        pcrValues: PCRValues, eventLog: [UInt8], transportKey: TransportPublicKey
    ) throws(AgentProtocolError) {
        try WireLimits.check("EK certificate", endorsementKeyCertificate, maximum: WireLimits.maximumCertificateLength)
        try WireLimits.check("AK public", attestationKeyPublic, maximum: WireLimits.maximumTPMStructureLength)
        try WireLimits.check("quote", quote, maximum: WireLimits.maximumTPMStructureLength)
        try WireLimits.check("quote signature", quoteSignature, maximum: WireLimits.maximumTPMStructureLength)
        self.endorsementKeyCertificate = endorsementKeyCertificate
        self.attestationKeyPublic = attestationKeyPublic
        self.quote = quote
        self.quoteSignature = quoteSignature
        self.pcrValues = pcrValues
        self.eventLog = eventLog
        self.transportKey = transportKey
    }

    public var description: String {
        "EvidenceMessage(EK cert \(endorsementKeyCertificate.count) B, quote \(quote.count) B, \(pcrValues), "
            + "event log \(eventLog.count) B, \(transportKey))"
    }
}

extension EvidenceMessage: WireCodable {
    static let messageType = MessageType.evidence

    func encode(into writer: inout WireWriter) {
        writer.writeVariable(endorsementKeyCertificate)
        writer.writeVariable(attestationKeyPublic)
        writer.writeVariable(quote)
        writer.writeVariable(quoteSignature)
        writer.write(pcrValues)
        writer.writeVariable(eventLog)
        writer.write(transportKey)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            endorsementKeyCertificate: try reader.readVariable(
                "EK certificate", maximum: WireLimits.maximumCertificateLength),
            attestationKeyPublic: try reader.readVariable("AK public", maximum: WireLimits.maximumTPMStructureLength),
            quote: try reader.readVariable("quote", maximum: WireLimits.maximumTPMStructureLength),
            quoteSignature: try reader.readVariable(
                "quote signature", maximum: WireLimits.maximumTPMStructureLength),
            pcrValues: try reader.readPCRValues("PCR values"),
            eventLog: try reader.readVariable("event log"),
            transportKey: try reader.readTransportKey("transport key"))
    }
}

/// Step 3: MakeCredential's output for the agent's EK and AK name.
public struct ActivateCredential: Sendable, Hashable, CustomStringConvertible {
    /// TPM2B_ID_OBJECT.
    public let credentialBlob: [UInt8]
    /// TPM2B_ENCRYPTED_SECRET.
    public let encryptedSecret: [UInt8]

    /// Wraps MakeCredential's output.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` for an empty or overlong blob.
    public init(credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws(AgentProtocolError) {
        try WireLimits.check("credential blob", credentialBlob, maximum: WireLimits.maximumTPMStructureLength)
        try WireLimits.check("encrypted secret", encryptedSecret, maximum: WireLimits.maximumTPMStructureLength)
        self.credentialBlob = credentialBlob
        self.encryptedSecret = encryptedSecret
    }

    public var description: String {
        "ActivateCredential(blob \(credentialBlob.count) B, secret \(encryptedSecret.count) B)"
    }
}

extension ActivateCredential: WireCodable {
    static let messageType = MessageType.activateCredential

    func encode(into writer: inout WireWriter) {
        writer.writeVariable(credentialBlob)
        writer.writeVariable(encryptedSecret)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            credentialBlob: try reader.readVariable("credential blob", maximum: WireLimits.maximumTPMStructureLength),
            encryptedSecret: try reader.readVariable(
                "encrypted secret", maximum: WireLimits.maximumTPMStructureLength))
    }
}

/// Step 3: proof that the agent's TPM recovered the coordinator's credential, so AK and EK share
/// a TPM. Not the credential itself: HMAC-SHA256 keyed with it over
/// "keyshard/v1/credential-activated" ‖ the agent's transport key (``proof(of:transportKey:)``). The
/// coordinator, which made the credential, checks it; anyone else who feeds the agent a MakeCredential
/// blob (for example one wrapping a sub-share for this TPM) learns nothing that opens it, so
/// ActivateCredential, an unauthenticated step, is no decryption oracle. Kept in wiped storage.
public struct CredentialActivated: Sendable, CustomStringConvertible, CustomReflectable {
    /// The length of the proof.
    public static let proofLength = 32
    /// HMAC-SHA256(credential, label ‖ transport key).
    public let proof: SecretBytes

    /// Wraps a proof.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless 32 bytes.
    public init(proof: SecretBytes) throws(AgentProtocolError) {
        guard proof.count == Self.proofLength else {
            throw AgentProtocolError.malformed("a credential proof is \(Self.proofLength) bytes, got \(proof.count)")
        }
        self.proof = proof
    }

    /// The proof for a recovered credential, as the agent computes it and the coordinator expects it.
    public static func proof(of credential: SecretBytes, transportKey: TransportPublicKey) -> SecretBytes {
        let tag = credential.withUnsafeBytes { key in
            HMAC<SHA256>.authenticationCode(
                for: Array("keyshard/v1/credential-activated".utf8) + transportKey.uncompressed,
                using: SymmetricKey(data: key))
        }
        return SecretBytes(Array(tag))
    }

    public var description: String { "CredentialActivated(\(proof.count) bytes, redacted)" }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension CredentialActivated: WireCodable {
    static let messageType = MessageType.credentialActivated

    func encode(into writer: inout WireWriter) {
        proof.withUnsafeBytes { writer.writeFixed(Array($0)) }
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(proof: SecretBytes(try reader.readFixed(Self.proofLength, "credential proof")))
    }
}
