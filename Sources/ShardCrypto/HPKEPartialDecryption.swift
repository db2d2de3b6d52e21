/// One custodian's contribution to a threshold HPKE decryption: D_i = x_i·enc and
/// a DLEQ proof that D_i uses the same x_i as the public share X_i = x_i·G.
///
/// D_i is safe to send to the coordinator: it reveals neither x_i nor, on its
/// own, anything about the message; only t of them together give the
/// Diffie–Hellman value x·enc of this one ciphertext.
public struct PartialDecryption: Sendable, Equatable, CustomStringConvertible {
    /// The custodian that computed it.
    public let id: ParticipantID
    /// D_i = x_i·enc.
    public let value: Point
    /// The Chaum–Pedersen proof for (G, X_i, enc, D_i), bound to the request context.
    public let proof: DLEQProof

    /// The wire encoding's length: id (2, big-endian) ‖ uncompressed D_i (65) ‖ proof (162).
    /// Uncompressed, as in the proof: the coordinator decodes t of these per decryption.
    public static let byteCount = 2 + Point.uncompressedByteCount + DLEQProof.byteCount

    /// Wraps received parts.
    /// - Parameters:
    ///   - id: the custodian's identifier.
    ///   - value: D_i.
    ///   - proof: the DLEQ proof.
    public init(id: ParticipantID, value: Point, proof: DLEQProof) {
        self.id = id
        self.value = value
        self.proof = proof
    }

    /// Decodes id ‖ D_i ‖ proof.
    /// - Throws: ``ShardCryptoError/Code/invalidParameters`` for a wrong length or identifier 0,
    ///   point errors for a bad D_i, scalar errors for a bad proof.
    public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
        guard bytes.count == Self.byteCount else {
            throw ShardCryptoError(
                .invalidParameters, "a partial decryption is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        let pointEnd = 2 + Point.uncompressedByteCount
        self.init(
            id: try ParticipantID(UInt16(bytes[0]) << 8 | UInt16(bytes[1])),
            value: try Point(sec1: bytes[2..<pointEnd]),
            proof: try DLEQProof(serialized: Array(bytes[pointEnd...])))
    }

    /// id ‖ uncompressed D_i ‖ proof, ``byteCount`` bytes.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` when D_i or a proof commitment is the
    ///   identity (never for a decoded value).
    public func serialized() throws(ShardCryptoError) -> [UInt8] {
        HPKEKeySchedule.bigEndian(id.rawValue) + (try value.uncompressed()) + (try proof.serialized())
    }

    /// D_i and the proof are public values.
    public var description: String { "PartialDecryption(id: \(id), value: \(value))" }
}

/// A partial decryption that the coordinator refused, and why: the input for
/// quarantining a custodian.
public struct RejectedPartial: Sendable, Hashable, CustomStringConvertible {
    /// Why a partial decryption was refused.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// The DLEQ proof does not verify against the participant's public share
        /// for this ciphertext and context: a wrong D_i, a proof made with another
        /// share, or a proof for another request.
        case invalidProof
        /// The participant has no public share for this key: not one of its custodians.
        case unknownParticipant

        public var description: String {
            switch self {
            case .invalidProof: "DLEQ proof does not verify against its public share"
            case .unknownParticipant: "no public share for this key"
            }
        }
    }

    /// The participant whose partial decryption was refused.
    public let id: ParticipantID
    /// Why.
    public let reason: Reason

    /// Records a refusal.
    public init(id: ParticipantID, reason: Reason) {
        self.id = id
        self.reason = reason
    }

    public var description: String { "participant \(id) (\(reason))" }
}
