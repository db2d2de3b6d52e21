import Foundation
import Testing

@testable import ShardCrypto

/// One RFC 9180 test vector (the CFRG `test-vectors.json` format).
struct HPKETestVector: Decodable {
    struct Encryption: Decodable {
        let aad: String
        let ct: String
        let nonce: String
        let pt: String
    }

    struct Export: Decodable {
        let exporterContext: String
        let length: Int
        let exportedValue: String

        enum CodingKeys: String, CodingKey {
            case exporterContext = "exporter_context"
            case length = "L"
            case exportedValue = "exported_value"
        }
    }

    let mode: Int
    let kemID: UInt16
    let kdfID: UInt16
    let aeadID: UInt16
    let info: String
    let ikmR: String
    let ikmE: String
    let skRm: String
    let skEm: String
    let pkRm: String
    let pkEm: String
    let enc: String
    let sharedSecret: String
    let keyScheduleContext: String
    let secret: String
    let key: String
    let baseNonce: String
    let exporterSecret: String
    let encryptions: [Encryption]
    let exports: [Export]

    enum CodingKeys: String, CodingKey {
        case mode, info, ikmR, ikmE, skRm, skEm, pkRm, pkEm, enc, secret, key, encryptions, exports
        case kemID = "kem_id"
        case kdfID = "kdf_id"
        case aeadID = "aead_id"
        case sharedSecret = "shared_secret"
        case keyScheduleContext = "key_schedule_context"
        case baseNonce = "base_nonce"
        case exporterSecret = "exporter_secret"
    }

    /// The vectors for keyshard's suite, base mode.
    static func load() throws -> [HPKETestVector] {
        try JSONDecoder().decode([HPKETestVector].self, from: vectorResource("rfc9180-p256-sha256-aes256gcm.json"))
    }
}

/// Decodes a hex string from a vector, failing the test on bad hex.
func hexBytes(_ string: String) throws -> [UInt8] {
    try #require([UInt8](hexString: string), "bad hex in test input")
}

extension SecretBytes {
    /// The bytes, for comparisons in tests only.
    var testBytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// A t-of-n split of a fresh or given key with everything the combiner needs.
struct ThresholdFixture {
    let privateKey: Scalar
    let publicKey: Point
    let shares: [SecretShare]
    let publicShares: [ParticipantID: Point]
    let threshold: Int

    init(privateKey: Scalar = .random(), threshold: Int, participants: Int) throws {
        let (shares, commitment) = try Shamir.split(
            secret: privateKey, threshold: threshold, participants: participants)
        self.privateKey = privateKey
        self.publicKey = commitment.publicKey
        self.shares = shares
        self.publicShares = Dictionary(uniqueKeysWithValues: shares.map { ($0.id, commitment.publicShare(for: $0.id)) })
        self.threshold = threshold
    }

    func share(_ id: UInt16) throws -> SecretShare { try #require(shares.first { $0.id.rawValue == id }) }

    func partials(_ ids: [UInt16], ciphertext: [UInt8], context: [UInt8]) throws -> [PartialDecryption] {
        try ids.map { try ThresholdHPKE.partialDecrypt(ciphertext: ciphertext, share: try share($0), context: context) }
    }

    func combine(
        _ ciphertext: [UInt8], _ partials: [PartialDecryption], info: [UInt8], context: [UInt8]
    ) throws -> SecretBytes {
        try ThresholdHPKE.combine(
            ciphertext: ciphertext, partials: partials, publicKey: publicKey, publicShares: publicShares,
            threshold: threshold, info: info, context: context)
    }
}
