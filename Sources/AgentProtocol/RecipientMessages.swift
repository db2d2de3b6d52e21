import Crypto
import ShardCrypto

/// Asks an agent for a ``RecipientQuote``: a quote over PCR 4 and 9 with qualifyingData
/// SHA-256("keyshard/v1/recipient" ‖ binding ‖ transport key), which dealers of one run check
/// before they seal anything to this agent. The binding names the run (``RecipientBinding``); the
/// agent quotes whatever binding it is asked for, and each dealer recomputes it from its own
/// request, so a quote for one run is worthless in another.
public struct RecipientQuoteRequest: Sendable, Hashable, CustomStringConvertible {
    /// The run's 32-byte binding.
    public let binding: [UInt8]

    /// Creates a request.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` unless 32 bytes.
    public init(binding: [UInt8]) throws(AgentProtocolError) {
        guard binding.count == 32 else { throw AgentProtocolError.malformed("a recipient binding is 32 bytes") }
        self.binding = binding
    }

    public var description: String { "RecipientQuoteRequest(\(binding.prefix(8).hexString)…)" }
}

extension RecipientQuoteRequest: WireCodable {
    static let messageType = MessageType.recipientQuoteRequest
    func encode(into writer: inout WireWriter) { writer.writeFixed(binding) }
    init(from reader: inout WireReader) throws(AgentProtocolError) { try self.init(binding: try reader.readFixed(32, "binding")) }
}

extension RecipientQuote: WireCodable {
    static let messageType = MessageType.recipientQuote

    func encode(into writer: inout WireWriter) {
        writer.writeVariable(endorsementCertificate)
        writer.writeVariable(attestationKeyPublic)
        writer.writeVariable(quote)
        writer.writeVariable(quoteSignature)
    }

    init(from reader: inout WireReader) throws(AgentProtocolError) {
        try self.init(
            endorsementCertificate: try reader.readVariable(
                "EK certificate", maximum: WireLimits.maximumCertificateLength),
            attestationKeyPublic: try reader.readVariable("AK public", maximum: WireLimits.maximumTPMStructureLength),
            quote: try reader.readVariable("quote", maximum: WireLimits.maximumTPMStructureLength),
            quoteSignature: try reader.readVariable(
                "quote signature", maximum: WireLimits.maximumTPMStructureLength))
    }
}

/// The binding of recipient quotes to one run, computed by the coordinator (to ask for quotes) and
/// by every dealer from its own request (to check them).
public enum RecipientBinding {
    /// A DKG run: SHA-256("keyshard/v1/recipient-binding/dkg" ‖ key ‖ t ‖ participants ‖ context).
    /// - Parameters:
    ///   - key: the key version being generated.
    ///   - parameters: the run's parameters.
    public static func dkg(key: KeyReference, parameters: DKG.Parameters) -> [UInt8] {
        var writer = WireWriter()
        writer.writeFixed(Array("keyshard/v1/recipient-binding/dkg".utf8))
        writer.write(key)
        writer.write(UInt16(parameters.threshold))
        try? writer.write(parameters.participants)
        writer.writeVariable(parameters.context)
        return Array(SHA256.hash(data: writer.bytes))
    }

    /// A redistribution: SHA-256("keyshard/v1/recipient-binding/redistribution" ‖ key ‖ new key ‖
    /// t′ ‖ new holders).
    /// - Parameters:
    ///   - key: the key version re-shared.
    ///   - newKey: the version the new shares belong to.
    ///   - newThreshold: t′.
    ///   - recipients: the new holders' identifiers.
    public static func redistribution(
        key: KeyReference, newKey: KeyReference, newThreshold: UInt16, recipients: [ParticipantID]
    ) -> [UInt8] {
        var writer = WireWriter()
        writer.writeFixed(Array("keyshard/v1/recipient-binding/redistribution".utf8))
        writer.write(key)
        writer.write(newKey)
        writer.write(newThreshold)
        try? writer.write(recipients.sorted())
        return Array(SHA256.hash(data: writer.bytes))
    }
}
