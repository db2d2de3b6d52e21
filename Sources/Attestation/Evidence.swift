import Foundation
import TPM2

/// Attestation evidence in the `keyshard-evidence/v1` JSON format.
///
/// The TPM structures stay as the bytes tpm2-tools wrote (`tpm2_createak -u`, `tpm2_quote -m`,
/// `tpm2_quote -s`): they are parsed by the verifier, which refuses what does not parse, so that
/// a malformed quote is a refusal with a reason rather than an unreadable file.
public struct Evidence: Hashable, Sendable {
    /// The value of the `format` field.
    public static let format = "keyshard-evidence/v1"
    /// The largest evidence document read; a real one with an event log is well under 1 MiB.
    public static let maximumDocumentSize = 8 << 20

    /// The nonce the attester says it answered (informational: the quote's qualifyingData is what counts).
    public var nonce: [UInt8]
    /// The AK's `TPM2B_PUBLIC`.
    public var akPublic: [UInt8]
    /// The quote's `TPMS_ATTEST`.
    public var quoteMessage: [UInt8]
    /// The quote's `TPMT_SIGNATURE`.
    public var quoteSignature: [UInt8]
    /// The reported PCR values, by bank and index.
    public var pcrs: [TPMAlgorithmID: [Int: [UInt8]]]
    /// The EK certificate, PEM, when the attester sent one.
    public var ekCertificatePEM: String?
    /// The binary TCG event log, when the attester sent one.
    public var eventLog: [UInt8]?
    /// The EK the AK was created under, when the verifier knows it (the coordinator rebuilds it from the
    /// certified EK): the quote's `qualifiedSigner` must then be the AK's qualified name under it.
    /// When `nil`, only the signer's name algorithm and length are checked. Not part of the JSON document.
    public var endorsementKey: TPMPublic?

    /// Creates evidence from its parts.
    /// - Parameters:
    ///   - nonce: the nonce the attester answered.
    ///   - akPublic: the AK's `TPM2B_PUBLIC`.
    ///   - quoteMessage: the `TPMS_ATTEST`.
    ///   - quoteSignature: the `TPMT_SIGNATURE`.
    ///   - pcrs: reported PCR values by bank and index.
    ///   - ekCertificatePEM: the EK certificate, if any.
    ///   - eventLog: the event log, if any.
    ///   - endorsementKey: the AK's parent EK, if known (for the `qualifiedSigner` check).
    public init(
        nonce: [UInt8], akPublic: [UInt8], quoteMessage: [UInt8], quoteSignature: [UInt8],
        pcrs: [TPMAlgorithmID: [Int: [UInt8]]], ekCertificatePEM: String? = nil, eventLog: [UInt8]? = nil,
        endorsementKey: TPMPublic? = nil
    ) {
        self.endorsementKey = endorsementKey
        self.nonce = nonce
        self.akPublic = akPublic
        self.quoteMessage = quoteMessage
        self.quoteSignature = quoteSignature
        self.pcrs = pcrs
        self.ekCertificatePEM = ekCertificatePEM
        self.eventLog = eventLog
    }

    private struct Document: Codable {
        struct AK: Codable {
            var publicArea: String
            enum CodingKeys: String, CodingKey { case publicArea = "public" }
        }
        struct Quote: Codable {
            var message: String
            var signature: String
        }
        var format: String
        var nonce: String
        var ak: AK
        var quote: Quote
        var pcrs: [String: [String: String]]
        var ekCertificate: String?
        var eventLog: String?
    }

    /// Reads a `keyshard-evidence/v1` JSON document.
    /// - Parameter json: the document.
    /// - Throws: ``AttestationError`` `.evidenceUnreadable` when it is too large, not JSON, lacks a field,
    ///   has another format, or holds bad base64, hex, bank names, PCR indexes or PCR value lengths.
    public init(json: Data) throws(AttestationError) {
        func unreadable(_ reason: String) -> AttestationError { AttestationError(.evidenceUnreadable, reason) }
        guard json.count <= Self.maximumDocumentSize else {
            throw unreadable("The evidence is \(json.count) bytes; the limit is \(Self.maximumDocumentSize).")
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: json)
        } catch {
            throw unreadable("The evidence is not keyshard-evidence/v1 JSON: \(Self.describe(error))")
        }
        guard document.format == Self.format else {
            throw unreadable("The evidence format is \"\(document.format)\"; expected \"\(Self.format)\".")
        }
        func base64(_ text: String, _ field: String) throws(AttestationError) -> [UInt8] {
            guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw unreadable("The evidence field \(field) is not base64.")
            }
            return [UInt8](data)
        }
        guard let nonce = Hex.decode(document.nonce) else {
            throw unreadable("The evidence field nonce is not hexadecimal.")
        }
        var pcrs: [TPMAlgorithmID: [Int: [UInt8]]] = [:]
        for (bankName, values) in document.pcrs {
            guard let bank = TPMAlgorithmID(hashName: bankName), let size = bank.digestSize else {
                throw unreadable("The evidence names PCR bank \"\(bankName)\"; known: sha1, sha256, sha384, sha512.")
            }
            var bankValues: [Int: [UInt8]] = [:]
            for (indexText, valueText) in values {
                guard let index = Int(indexText), (0..<TPMPCRSelection.maximumIndexCount).contains(index) else {
                    throw unreadable("The evidence names PCR \"\(indexText)\" in \(bankName); PCRs are 0 to 23.")
                }
                guard let value = Hex.decode(valueText), value.count == size else {
                    throw unreadable("PCR \(index) in \(bankName) must be \(size * 2) hex digits.")
                }
                bankValues[index] = value
            }
            pcrs[bank] = bankValues
        }
        self.init(
            nonce: nonce,
            akPublic: try base64(document.ak.publicArea, "ak.public"),
            quoteMessage: try base64(document.quote.message, "quote.message"),
            quoteSignature: try base64(document.quote.signature, "quote.signature"),
            pcrs: pcrs,
            ekCertificatePEM: document.ekCertificate,
            eventLog: try document.eventLog.map { text throws(AttestationError) in try base64(text, "eventLog") })
    }

    /// Encodes the evidence as `keyshard-evidence/v1` JSON (keys sorted, so output is stable).
    public func json() -> Data {
        var banks: [String: [String: String]] = [:]
        for (bank, values) in pcrs {
            banks[bank.description] = Dictionary(
                uniqueKeysWithValues: values.map { (String($0.key), Hex.encode($0.value)) })
        }
        let document = Document(
            format: Self.format, nonce: Hex.encode(nonce),
            ak: .init(publicArea: Data(akPublic).base64EncodedString()),
            quote: .init(
                message: Data(quoteMessage).base64EncodedString(),
                signature: Data(quoteSignature).base64EncodedString()),
            pcrs: banks, ekCertificate: ekCertificatePEM,
            eventLog: eventLog.map { Data($0).base64EncodedString() })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Encoding plain strings and dictionaries cannot fail.
        return (try? encoder.encode(document)) ?? Data()
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))."
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath))."
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON." : "bad value at \(path(context.codingPath))."
        default:
            return "not valid JSON."
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map(\.stringValue).joined(separator: ".")
    }
}
