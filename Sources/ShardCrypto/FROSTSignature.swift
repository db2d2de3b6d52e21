extension FROST {
    /// A FROST(P-256, SHA-256) signature (R, z): a plain Schnorr signature under
    /// the group public key, checked by z·G = R + c·PK.
    public struct Signature: Sendable, Equatable, CustomStringConvertible {
        /// The group commitment R.
        public let r: Point
        /// The response z.
        public let z: Scalar

        /// The length of the encoding: compressed R (33) ‖ z (32).
        public static let byteCount = Point.compressedByteCount + Scalar.byteCount

        /// Pairs a commitment and a response.
        public init(r: Point, z: Scalar) {
            self.r = r
            self.z = z
        }

        /// Decodes RFC 9591 `SerializeElement(R) ‖ SerializeScalar(z)`.
        /// - Throws: ``ShardCryptoError/Code/invalidSignature`` when the length is not 65,
        ///   R is not a compressed non-identity P-256 point, or z is not below the group order.
        public init(serialized bytes: [UInt8]) throws(ShardCryptoError) {
            guard bytes.count == Self.byteCount else {
                throw ShardCryptoError(
                    .invalidSignature, "a FROST signature is \(Self.byteCount) bytes, got \(bytes.count)")
            }
            let split = Point.compressedByteCount
            do {
                r = try FROST.decodeElement(bytes[0..<split])
            } catch {
                throw ShardCryptoError(.invalidSignature, "the signature's R is not a valid point: \(error.reason)")
            }
            do {
                z = try Scalar(bigEndian: bytes[split...])
            } catch {
                throw ShardCryptoError(.invalidSignature, "the signature's z is not a valid scalar: \(error.reason)")
            }
        }

        /// The 65-byte encoding, compressed R ‖ z.
        /// - Throws: ``ShardCryptoError/Code/identityPoint`` when R is the identity.
        public func serialized() throws(ShardCryptoError) -> [UInt8] { try r.compressed() + z.serialized() }

        /// Signatures are public: shows the encoding.
        public var description: String {
            guard let bytes = try? serialized() else { return "FROST.Signature(invalid: R is the identity)" }
            return "FROST.Signature(\(bytes.hexString))"
        }
    }

    /// RFC 9591 §6.4 / appendix B `verify_signature_component` for P-256 (cofactor 1):
    /// c = H2(SerializeElement(R) ‖ SerializeElement(PK) ‖ msg), then z·G = R + c·PK.
    /// - Parameters:
    ///   - signature: the signature (R, z).
    ///   - message: the signed message.
    ///   - publicKey: the group public key PK.
    /// - Returns: whether the signature is valid; false when R or PK is the identity.
    public static func verify(signature: Signature, message: [UInt8], publicKey: Point) -> Bool {
        guard !signature.r.isIdentity, !publicKey.isIdentity,
            let c = try? challenge(groupCommitment: signature.r, groupPublicKey: publicKey, message: message)
        else { return false }
        // z·G − c·Y = R, in one multi-scalar multiplication.
        return Point.sumOfMultiples([(Scalar.zero - c, publicKey)], generator: signature.z) == signature.r
    }
}
