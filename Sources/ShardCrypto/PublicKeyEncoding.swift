import Crypto

extension Point {
    /// Reads a P-256 public key the way admins hand them around: a PEM
    /// `PUBLIC KEY` block (SubjectPublicKeyInfo, as `openssl ec -pubout` writes it)
    /// or SEC1 hex, compressed or uncompressed. Surrounding white space is ignored.
    /// - Throws: ``ShardCryptoError/Code/invalidKeyEncoding`` with a reason that says which
    ///   form was recognised and what was wrong with it; point errors for hex that is
    ///   not a valid P-256 point.
    public init(publicKeyText text: String) throws(ShardCryptoError) {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else {
            throw ShardCryptoError(.invalidKeyEncoding, "the public key is empty")
        }
        if trimmed.hasPrefix("-----BEGIN") {
            guard trimmed.hasPrefix("-----BEGIN PUBLIC KEY-----") else {
                let label = trimmed.prefix(while: { $0 != "\n" })
                throw ShardCryptoError(.invalidKeyEncoding, "expected a PEM 'PUBLIC KEY' block (SubjectPublicKeyInfo), found '\(label)'")
            }
            let key: P256.Signing.PublicKey
            do {
                key = try P256.Signing.PublicKey(pemRepresentation: trimmed)
            } catch {
                throw ShardCryptoError(.invalidKeyEncoding, "the PEM block is not a P-256 SubjectPublicKeyInfo")
            }
            try self.init(sec1: Array(key.x963Representation))
            return
        }
        guard let bytes = [UInt8](hexString: trimmed) else {
            throw ShardCryptoError(.invalidKeyEncoding, "expected a PEM 'PUBLIC KEY' block or SEC1 hex (66 or 130 hex digits)")
        }
        try self.init(sec1: bytes)
    }

    /// The PEM `PUBLIC KEY` (SubjectPublicKeyInfo) form, readable by OpenSSL and every X.509 tool.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for the identity.
    public func pemRepresentation() throws(ShardCryptoError) -> String {
        let encoded = try uncompressed()
        do {
            return try P256.Signing.PublicKey(x963Representation: encoded).pemRepresentation
        } catch {
            // A non-identity Point is on the curve by construction, so swift-crypto has no reason to refuse it.
            throw ShardCryptoError(.libcryptoFailure, "swift-crypto refused a valid P-256 point: \(error)")
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[start...end]))
    }
}
