import Crypto

/// What a quote's qualifyingData commits to, so a quote answers one challenge and vouches for
/// one transport key: a relay cannot swap in its own key, and an old quote cannot be replayed.
public enum EvidenceBinding {
    /// SHA-256("keyshard/v1/evidence" ‖ nonce ‖ transport public key (65 bytes)), the
    /// qualifyingData of the quote in ``EvidenceMessage``.
    /// - Parameters:
    ///   - nonce: the challenge's nonce.
    ///   - transportKey: the agent's transport public key.
    public static func evidence(nonce: Nonce, transportKey: TransportPublicKey) -> [UInt8] {
        digest("keyshard/v1/evidence", nonce: nonce, transportKey: transportKey)
    }

    /// SHA-256("keyshard/v1/heartbeat" ‖ nonce ‖ transport public key), the qualifyingData of
    /// the quote in ``AgentProtocol/Heartbeat``.
    /// - Parameters:
    ///   - nonce: the heartbeat request's nonce.
    ///   - transportKey: the agent's transport public key.
    public static func heartbeat(nonce: Nonce, transportKey: TransportPublicKey) -> [UInt8] {
        digest("keyshard/v1/heartbeat", nonce: nonce, transportKey: transportKey)
    }

    /// SHA-256("keyshard/v1/possession" ‖ nonce ‖ transport public key ‖ key identifier length (2 bytes,
    /// big-endian) ‖ key identifier (UTF-8) ‖ key version (4 bytes, big-endian)): the `nonce` bytes of the
    /// ``ShardCrypto/PossessionProof`` for one key version in a ``AgentProtocol/Heartbeat``.
    ///
    /// It covers what the heartbeat's quote covers (the nonce and the transport key) and the key
    /// version, so a proof answers only this heartbeat of this custodian for this key: a relay can
    /// neither replay it in a later heartbeat, move it to another custodian's heartbeat, nor present
    /// it for another key version held under the same participant identifier.
    /// - Parameters:
    ///   - nonce: the heartbeat request's nonce.
    ///   - transportKey: the custodian's attested transport public key.
    ///   - key: the key version the proof is for.
    public static func possession(nonce: Nonce, transportKey: TransportPublicKey, key: KeyReference) -> [UInt8] {
        var hash = SHA256()
        hash.update(data: Array("keyshard/v1/possession".utf8))
        hash.update(data: nonce.bytes)
        hash.update(data: transportKey.uncompressed)
        let identifier = Array(key.keyID.utf8)
        // At most 128 bytes (KeyReference checks), so two bytes of length are unambiguous.
        hash.update(data: [UInt8(identifier.count >> 8), UInt8(identifier.count & 0xff)] + identifier)
        hash.update(data: (0..<4).map { UInt8(truncatingIfNeeded: key.version >> (24 - 8 * $0)) })
        return Array(hash.finalize())
    }

    private static func digest(_ label: String, nonce: Nonce, transportKey: TransportPublicKey)
        -> [UInt8]
    {
        var hash = SHA256()
        hash.update(data: Array(label.utf8))
        hash.update(data: nonce.bytes)
        hash.update(data: transportKey.uncompressed)
        return Array(hash.finalize())
    }
}
