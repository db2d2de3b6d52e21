import Foundation
import KeyshardAPI
import KeyshardServer
import ShardCrypto

/// What keyshardd decodes from an API caller, one parser per input. The first byte picks it
/// (`selector % 16`); the rest of the input is what that parser reads:
///
/// | selector % 16 | input                                                                    |
/// |---------------|--------------------------------------------------------------------------|
/// | 0             | a ciphertext's text form, `KeyshardCiphertext(parsing:)`                 |
/// | 1             | a signature's text form, `KeyshardSignature(parsing:)`                   |
/// | 2…9           | a JSON request body (``BodyKind``), decoded and checked as a handler does |
/// | 10            | ciphertext bytes (enc ‖ ct): the engine's check, a custodian's parse, the combiner |
/// | 11            | a SEC1 point, `Point(sec1:)`, and a signature's bytes                    |
/// | 12…15         | bytes on a connection (``HTTPPipelineFuzz``), in chunks of `chunkSizes[selector >> 4]` |
///
/// Any outcome but a crash, a hang or an unbounded allocation is fine, except where a check
/// below says what must hold (a parsed value prints back to what parses to it again).
enum APIFuzzTarget {
    /// Chunk sizes for the HTTP mode: whole input, byte by byte, and the sizes in between that
    /// split request lines, `LIST `, chunk headers and bodies at different places.
    static let chunkSizes = [Int.max, 1, 2, 3, 4, 5, 7, 8, 13, 16, 32, 64, 100, 256, 1024, 4096]

    /// The JSON bodies keyshardd's handlers decode.
    enum BodyKind: UInt8, CaseIterable {
        case encrypt = 2, ciphertext, dataKey, signature, createKey, importKey, keyConfig, trim
    }

    static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let rest = Array(input.dropFirst())
        switch selector % 16 {
        case 0: checkCiphertextText(String(decoding: rest, as: UTF8.self))
        case 1: checkSignatureText(String(decoding: rest, as: UTF8.self))
        case 2...9: checkBody(BodyKind(rawValue: selector % 16)!, Data(rest))
        case 10: checkCiphertextBytes(rest)
        case 11:
            checkPoint(rest)
            checkSignatureBytes(rest)
        default:
            HTTPPipelineFuzz.run(rest, chunkSize: chunkSizes[Int(selector >> 4)])
        }
    }

    // MARK: The armour

    static func checkCiphertextText(_ text: String) {
        guard let ciphertext = try? KeyshardCiphertext(parsing: text) else { return }
        // What keyshardd writes back must read as the same ciphertext (a rewrap's output is
        // the next decrypt's input).
        precondition(
            (try? KeyshardCiphertext(parsing: ciphertext.description)) == ciphertext,
            "a parsed ciphertext does not parse back from its text form")
        checkCiphertextBytes(ciphertext.bytes)
    }

    static func checkSignatureText(_ text: String) {
        guard let signature = try? KeyshardSignature(parsing: text) else { return }
        precondition(
            (try? KeyshardSignature(parsing: signature.description)) == signature,
            "a parsed signature does not parse back from its text form")
        checkSignatureBytes(signature.bytes)
    }

    // MARK: Threshold decryption's parsing

    /// One key, x = 42, held by a single custodian (t = 1), so that a ciphertext that gets past
    /// the parsers is also combined and opened. Fixed, so a crash reproduces.
    static let share = SecretShare(id: try! ParticipantID(1), value: Scalar(42))
    static let publicKey = Point.generatorMultiple(Scalar(42))

    /// What happens to a ciphertext's bytes before and during a threshold decryption: the
    /// engine's check (Engine/ThresholdOperations.swift) decides whether custodians are asked
    /// at all; a custodian then parses it in `partialDecrypt`, the coordinator again in
    /// `combine`. The engine must not pass what a custodian refuses: custodians answering with
    /// errors would look like failing custodians.
    static func checkCiphertextBytes(_ bytes: [UInt8]) {
        guard bytes.count >= ThresholdHPKE.minimumCiphertextByteCount,
            (try? Point(sec1: bytes.prefix(ThresholdHPKE.encapsulatedKeyByteCount))) != nil
        else { return }
        let context = Array("api-fuzz".utf8)
        let partial: PartialDecryption
        do {
            partial = try ThresholdHPKE.partialDecrypt(ciphertext: bytes, share: share, context: context)
        } catch {
            preconditionFailure("the engine passed a ciphertext a custodian refuses: \(error)")
        }
        _ = try? ThresholdHPKE.combine(
            ciphertext: bytes, partials: [partial], publicKey: publicKey, publicShares: [share.id: publicKey],
            threshold: 1, info: [], context: context)
    }

    // MARK: Points and signatures

    /// A point that decodes encodes back to the same bytes (SEC1 has one encoding per point
    /// and form, and off-curve or out-of-range coordinates must be refused).
    static func checkPoint(_ bytes: [UInt8]) {
        guard let point = try? Point(sec1: bytes) else { return }
        let again = bytes.count == Point.compressedByteCount ? try? point.compressed() : try? point.uncompressed()
        precondition(again == bytes, "a SEC1 point has a second encoding")
    }

    /// The engine's verify: `FROST.Signature(serialized:)`, then the check under a fixed key.
    static func checkSignatureBytes(_ bytes: [UInt8]) {
        guard let signature = try? FROST.Signature(serialized: bytes) else { return }
        precondition((try? signature.serialized()) == bytes, "a FROST signature has a second encoding")
        _ = FROST.verify(signature: signature, message: Array("api-fuzz".utf8), publicKey: publicKey)
    }

    // MARK: Request bodies

    /// Decodes `body` as the handlers do (``RequestBodies``: same JSON decoder, empty body as
    /// `{}`), runs the checks each handler makes before it calls the service, and checks that
    /// a decoded body survives the client's encoding (KeyshardClient sends these types).
    /// - Parameter pathAlgorithm: sign and verify's `:hash_algorithm` path parameter, if any.
    static func checkBody(_ kind: BodyKind, _ body: Data, pathAlgorithm: String? = nil) {
        switch kind {
        case .encrypt:
            guard let request = decoded(VaultWire.EncryptRequest.self, body) else { return }
            for item in [request.single] + (request.batchInput ?? []) {
                _ = try? CryptoHandlers.refuseVaultOnly(associatedData: item.associatedData, nonce: item.nonce)
                if let plaintext = item.plaintext { _ = try? Base64Field.secret(plaintext, field: "plaintext") }
                _ = try? Base64Field.bytes(item.context, field: "context")
                _ = try? CryptoHandlers.version(item.keyVersion)
            }
        case .ciphertext:
            guard let request = decoded(VaultWire.CiphertextRequest.self, body) else { return }
            for item in [request.single] + (request.batchInput ?? []) {
                _ = try? CryptoHandlers.refuseVaultOnly(associatedData: item.associatedData, nonce: item.nonce)
                if let text = item.ciphertext { checkCiphertextText(text) }
                _ = try? Base64Field.bytes(item.context, field: "context")
                _ = try? CryptoHandlers.version(item.keyVersion)
            }
        case .dataKey:
            guard let request = decoded(VaultWire.DataKeyRequest.self, body) else { return }
            _ = try? CryptoHandlers.refuseVaultOnly(associatedData: request.associatedData, nonce: request.nonce)
            _ = try? Base64Field.bytes(request.context, field: "context")
        case .signature:
            guard let request = decoded(VaultWire.SignatureRequest.self, body) else { return }
            _ = try? CryptoHandlers.checkSigningOptions(request.options, pathAlgorithm: pathAlgorithm)
            for item in [request.single] + (request.batchInput ?? []) {
                _ = try? CryptoHandlers.refuseDerivation(item.context)
                if let input = item.input { _ = try? Base64Field.bytes(input, field: "input") }
                if let text = item.signature { checkSignatureText(text) }
                _ = try? CryptoHandlers.version(item.keyVersion)
            }
        case .createKey:
            guard let request = decoded(VaultWire.CreateKeyRequest.self, body) else { return }
            _ = try? KeyHandlers.keyType(request.type)
            if let ring = request.ring { _ = try? Names.validate(ring, what: "ring") }
        case .importKey:
            guard let request = decoded(VaultWire.ImportKeyRequest.self, body) else { return }
            _ = try? KeyHandlers.keyType(request.type)
            if let ring = request.ring { _ = try? Names.validate(ring, what: "ring") }
            _ = try? KeyHandlers.scalar(request.key)
        case .keyConfig:
            _ = decoded(VaultWire.KeyConfigRequest.self, body)
        case .trim:
            _ = decoded(VaultWire.TrimRequest.self, body)
        }
    }

    /// The body decoded as the server decodes it, after checking that the client's encoding of
    /// it decodes to the same value.
    static func decoded<Body: Codable & Equatable>(_ type: Body.Type, _ body: Data) -> Body? {
        guard let value = try? RequestBodies.decode(type, fromBody: body) else { return nil }
        let encoded: Data
        do {
            encoded = try JSONEncoder().encode(value)
        } catch {
            preconditionFailure("a decoded \(type) does not encode: \(error)")
        }
        precondition(
            (try? RequestBodies.decode(type, fromBody: encoded)) == value,
            "a \(type) does not survive encoding and decoding")
        return value
    }
}
