/// An error raised by ``ShardCrypto``.
///
/// Errors carry a machine-readable ``Code`` and a sentence for people. Reasons
/// never contain secret material: they name *which* input was wrong, not its
/// value. Two errors are equal when their codes are equal, so tests and callers
/// match on the code and show the reason.
public struct ShardCryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. Extensible: new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable, machine-readable name such as `invalid-point-encoding`.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// A scalar encoding had the wrong length.
        public static let invalidScalarEncoding = Code("invalid-scalar-encoding")
        /// A scalar encoding was not below the group order.
        public static let scalarOutOfRange = Code("scalar-out-of-range")
        /// A scalar that must be non-zero was zero.
        public static let zeroScalar = Code("zero-scalar")
        /// A point encoding was malformed (length or prefix).
        public static let invalidPointEncoding = Code("invalid-point-encoding")
        /// A point encoding did not describe a point on P-256.
        public static let pointNotOnCurve = Code("point-not-on-curve")
        /// The identity element appeared where it is not allowed.
        public static let identityPoint = Code("identity-point")
        /// Threshold, participant count or identifiers are unusable.
        public static let invalidParameters = Code("invalid-parameters")
        /// The same participant appears twice.
        public static let duplicateParticipant = Code("duplicate-participant")
        /// A share does not match the public commitments.
        public static let invalidShare = Code("invalid-share")
        /// A zero-knowledge proof did not verify.
        public static let invalidProof = Code("invalid-proof")
        /// A ciphertext is malformed.
        public static let invalidCiphertext = Code("invalid-ciphertext")
        /// Authenticated decryption failed (wrong key, wrong info, or tampering).
        public static let decryptionFailed = Code("decryption-failed")
        /// A FROST signature share did not verify.
        public static let invalidSignatureShare = Code("invalid-signature-share")
        /// A FROST commitment list is missing, duplicated or does not match the signers.
        public static let invalidCommitments = Code("invalid-commitments")
        /// A signature is malformed or does not verify.
        public static let invalidSignature = Code("invalid-signature")
        /// A key encoding (PEM, DER or hex) could not be read.
        public static let invalidKeyEncoding = Code("invalid-key-encoding")
        /// A one-time value (such as a FROST nonce) was used twice.
        public static let nonceReuse = Code("nonce-reuse")
        /// Participants of one protocol run saw different broadcasts: the relay (or a
        /// participant) equivocated, and the run must be abandoned.
        public static let transcriptMismatch = Code("transcript-mismatch")
        /// A DKG complaint is not signed by its accuser under C_{j,0}, or is bound to another
        /// round-1 broadcast or run: the relay (or someone) forged or replayed it.
        public static let forgedComplaint = Code("forged-complaint")
        /// A DKG complaint list cannot be settled: a self complaint, an accuser or accused
        /// outside round 1's qualified set, two complaints from one accuser about one dealer,
        /// or fewer than t dealers left qualified.
        public static let invalidComplaint = Code("invalid-complaint")
        /// The DKG confirmations are incomplete: one from a non-member of QUAL, two from one
        /// member, or none from a member.
        public static let invalidConfirmation = Code("invalid-confirmation")
        /// This participant was excluded from a protocol's qualified set and has no result.
        public static let disqualified = Code("disqualified")
        /// Public-key encryption failed (a key that libcrypto refuses, or a message too long for it).
        public static let encryptionFailed = Code("encryption-failed")
        /// libcrypto reported a failure that no input explains.
        public static let libcryptoFailure = Code("libcrypto-failure")

        public var description: String { name }
    }

    /// What went wrong, machine-readable.
    public let code: Code
    /// What went wrong, for a person. Never contains secret values.
    public let reason: String
    /// The file that raised the error.
    public let file: String
    /// The line that raised the error.
    public let line: Int

    /// Creates an error.
    /// - Parameters:
    ///   - code: the machine-readable kind.
    ///   - reason: a sentence for people, free of secrets.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: ShardCryptoError, rhs: ShardCryptoError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "\(code): \(reason)" }
}
