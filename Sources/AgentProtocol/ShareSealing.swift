import ShardCrypto

/// What the sealed fields of ``ShareDelivery``, ``DKGRound2SharesResponse`` and
/// ``RedistributeDealing`` contain, and how they are sealed: RFC 9180 HPKE base mode
/// (``ThresholdHPKE/seal(plaintext:to:info:)``, P-256/HKDF-SHA256/AES-256-GCM) to the
/// recipient's attested transport key, with an `info` that names the purpose, the key
/// version, the sender and the recipient. A relay that moves a sealed payload to
/// another purpose, key, sender or recipient makes it fail to open.
///
/// Plaintexts, all in wiped storage on both sides:
/// - share delivery: participant (2) ‖ x_i (32);
/// - DKG round 2: ``DKG/Round2Share/serialized()`` (133);
/// - redistribution: ``Redistribution/SubShare/serialized()`` (36).
public enum ShareSealing {
    /// Seals share x_i of `key` to the agent's transport key.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for an unusable transport key.
    public static func seal(share: SecretShare, to recipient: TransportPublicKey, key: KeyReference) throws(ShardCryptoError) -> [UInt8] {
        let value = share.value.secretBytes()
        let plaintext = SecretBytes(count: 2 + Scalar.byteCount) { buffer in
            buffer[0] = UInt8(share.id.rawValue >> 8)
            buffer[1] = UInt8(share.id.rawValue & 0xFF)
            value.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[2...]).copyMemory(from: $0) }
        }
        return try ThresholdHPKE.seal(
            plaintext: plaintext, to: try recipient.point(),
            info: info("share-delivery", key: key, from: nil, to: share.id))
    }

    /// Opens a delivered share with the agent's transport private key. The caller must
    /// still check it against the commitment (``FeldmanCommitment/verifies(_:)``).
    /// - Throws: ``ShardCryptoError/Code/decryptionFailed`` when it was sealed to another
    ///   key, participant or key version, or altered; ``ShardCryptoError/Code/invalidShare``
    ///   when the plaintext is not a share for `participant`.
    public static func openShare(
        _ sealed: [UInt8], privateKey: Scalar, key: KeyReference, participant: ParticipantID
    ) throws(ShardCryptoError) -> SecretShare {
        let plaintext = try ThresholdHPKE.open(
            ciphertext: sealed, privateKey: privateKey,
            info: info("share-delivery", key: key, from: nil, to: participant))
        guard plaintext.count == 2 + Scalar.byteCount else {
            throw ShardCryptoError(.invalidShare, "a sealed share opens to \(plaintext.count) bytes, not 34")
        }
        let id = plaintext.withUnsafeBytes { UInt16($0[0]) << 8 | UInt16($0[1]) }
        guard id == participant.rawValue else {
            throw ShardCryptoError(.invalidShare, "the sealed share is for participant \(id), not \(participant)")
        }
        let value = try plaintext.withUnsafeBytes { bytes throws(ShardCryptoError) in try Scalar(bigEndian: bytes[2...]) }
        return SecretShare(id: participant, value: value)
    }

    /// Seals dealer i's round-2 share f_i(j) to participant j.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for an unusable transport key;
    ///   ``AgentProtocolError/Code/malformedMessage`` if the ciphertext did not fit a ``SealedPayload``.
    public static func seal(
        dkgShare share: DKG.Round2Share, to recipient: TransportPublicKey, key: KeyReference
    ) throws -> SealedPayload {
        let ciphertext = try ThresholdHPKE.seal(
            plaintext: try share.serialized(), to: try recipient.point(),
            info: info("dkg-round2", key: key, from: share.from, to: share.to))
        return try SealedPayload(from: share.from, to: share.to, ciphertext: ciphertext)
    }

    /// Opens a round-2 share addressed to this agent.
    /// - Throws: ``ShardCryptoError/Code/decryptionFailed`` when the payload was moved or
    ///   altered, ``ShardCryptoError/Code/invalidShare`` when its sender or recipient does
    ///   not match the payload's.
    public static func openDKGShare(_ payload: SealedPayload, privateKey: Scalar, key: KeyReference) throws(ShardCryptoError)
        -> DKG.Round2Share
    {
        let plaintext = try ThresholdHPKE.open(
            ciphertext: payload.ciphertext, privateKey: privateKey,
            info: info("dkg-round2", key: key, from: payload.from, to: payload.to))
        let share = try DKG.Round2Share(serialized: plaintext)
        guard share.from == payload.from, share.to == payload.to else {
            throw ShardCryptoError(.invalidShare, "the sealed DKG share's sender or recipient does not match")
        }
        return share
    }

    /// Seals old holder i's sub-share g_i(j) to new holder j.
    /// - Parameter newKey: the key version the new shares will belong to.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for an unusable transport key;
    ///   ``AgentProtocolError/Code/malformedMessage`` if the ciphertext did not fit a ``SealedPayload``.
    public static func seal(
        subShare: Redistribution.SubShare, to recipient: TransportPublicKey, newKey: KeyReference
    ) throws -> SealedPayload {
        let ciphertext = try ThresholdHPKE.seal(
            plaintext: subShare.serialized(), to: try recipient.point(),
            info: info("redistribution", key: newKey, from: subShare.from, to: subShare.to))
        return try SealedPayload(from: subShare.from, to: subShare.to, ciphertext: ciphertext)
    }

    /// Opens a sub-share addressed to this agent.
    /// - Throws: as ``openDKGShare(_:privateKey:key:)``.
    public static func openSubShare(_ payload: SealedPayload, privateKey: Scalar, newKey: KeyReference) throws(ShardCryptoError)
        -> Redistribution.SubShare
    {
        let plaintext = try ThresholdHPKE.open(
            ciphertext: payload.ciphertext, privateKey: privateKey,
            info: info("redistribution", key: newKey, from: payload.from, to: payload.to))
        let subShare = try Redistribution.SubShare(serialized: plaintext)
        guard subShare.from == payload.from, subShare.to == payload.to else {
            throw ShardCryptoError(.invalidShare, "the sealed sub-share's sender or recipient does not match")
        }
        return subShare
    }

    /// The associated data of the MakeCredential wrapping around a DKG share or a sub-share
    /// (the same naming as the HPKE `info` inside: purpose, key version, sender, recipient).
    public static func wrappingContext(dkg: Bool, key: KeyReference, from: ParticipantID, to: ParticipantID) -> [UInt8] {
        info(dkg ? "dkg-round2/wrapped" : "redistribution/wrapped", key: key, from: from, to: to)
    }

    /// `"keyshard/v1/agent/" ‖ purpose ‖ 0x00 ‖ key reference ‖ from (0 for none) ‖ to`.
    static func info(_ purpose: String, key: KeyReference, from: ParticipantID?, to: ParticipantID) -> [UInt8] {
        var writer = WireWriter()
        writer.writeFixed(Array("keyshard/v1/agent/\(purpose)".utf8) + [0])
        writer.write(key)
        writer.write(from?.rawValue ?? 0)
        writer.write(to)
        return writer.bytes
    }
}

extension TransportPublicKey {
    /// The transport public key of a private key held in RAM by the agent.
    /// - Throws: ``ShardCryptoError/Code/identityPoint`` for a zero key (its public key has no
    ///   encoding); the protocol's own check of the encoding cannot fail after that.
    public init(privateKey: Scalar) throws {
        try self.init(uncompressed: try Point.generatorMultiple(privateKey).uncompressed())
    }

    func point() throws(ShardCryptoError) -> Point { try Point(sec1: uncompressed) }
}
