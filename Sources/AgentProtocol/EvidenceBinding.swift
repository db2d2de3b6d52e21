import Crypto

/// What a quote's qualifyingData commits to, so a quote answers one challenge and vouches for
/// one transport key: a relay cannot swap in its own key, and an old quote cannot be replayed.
public enum EvidenceBinding {
    /// SHA-256("keyshard/v1/evidence" ‖ nonce ‖ transport public key (65 bytes)), the
    /// qualifyingData of the quote in ``AgentProtocol/Evidence``.
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
