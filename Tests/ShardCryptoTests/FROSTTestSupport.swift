import Foundation
import Testing
@testable import ShardCrypto

/// A trusted-dealer key for FROST tests: shares, public shares and the group key.
struct FROSTTestKey {
    let shares: [SecretShare]
    let groupPublicKey: Point

    var publicShares: [ParticipantID: Point] {
        Dictionary(uniqueKeysWithValues: shares.map { ($0.id, $0.publicShare) })
    }

    static func deal(threshold: Int, participants: Int) throws -> FROSTTestKey {
        let (shares, commitment) = try Shamir.split(secret: .random(), threshold: threshold, participants: participants)
        return FROSTTestKey(shares: shares, groupPublicKey: commitment.publicKey)
    }

    func share(_ id: UInt16) throws -> SecretShare {
        try #require(shares.first { $0.id.rawValue == id })
    }
}

/// Runs both rounds for `signers` and aggregates.
func frostSign(key: FROSTTestKey, signers: [SecretShare], message: [UInt8]) throws -> FROST.Signature {
    let roundOne = signers.map { FROST.commit(share: $0) }
    let commitments = roundOne.map(\.1).sorted { $0.id < $1.id }
    let shares = try zip(signers, roundOne).map { share, output in
        try FROST.sign(
            share: share, nonces: output.0, message: message, commitments: commitments,
            groupPublicKey: key.groupPublicKey)
    }
    return try FROST.aggregate(
        shares: shares, message: message, commitments: commitments, groupPublicKey: key.groupPublicKey,
        publicShares: key.publicShares)
}

extension ParticipantID {
    /// A literal identifier for tests (never 0 there).
    static func id(_ value: UInt16) -> ParticipantID { try! ParticipantID(value) }
}
