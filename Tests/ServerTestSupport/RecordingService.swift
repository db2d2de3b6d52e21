import Foundation
import KeyshardAPI
import ShardCrypto

/// A `KeyshardService` for testing the HTTP layer: each key version is one whole P-256 scalar
/// held in memory (no custodians, no threshold), used with ShardCrypto's real HPKE and FROST so
/// results can be checked with any HPKE or RFC 9591 implementation. It records which
/// operations ran, so tests can show that a refused request never reached the service.
public actor RecordingService: KeyshardService {
    private struct Key {
        var info: KeyInfo
        var scalars: [Int: Scalar]
    }

    private var keys: [String: Key] = [:]
    private var busyRings: Set<String> = []
    private var belowThresholdRings: Set<String> = []
    private var rotationDelay: Duration = .zero

    /// The operations that ran, in order (`createKey`, `encrypt`, …).
    public private(set) var calls: [String] = []

    /// The default ring every key lives in.
    public static let ring = "default"

    /// An empty service.
    public init() {}

    /// Makes ``rotateRing(_:)`` answer `busy` for `ring`.
    public func setBusy(_ ring: String) { busyRings.insert(ring) }
    /// Makes the ring below its threshold: health stops serving and operations fail.
    public func setBelowThreshold(_ ring: String) { belowThresholdRings.insert(ring) }
    /// How long ``rotateRing(_:)`` takes.
    public func setRotationDelay(_ delay: Duration) { rotationDelay = delay }

    /// The public key of a version, for checking results independently.
    public func publicKey(_ name: String, version: Int) -> Point? {
        keys[name]?.scalars[version].map(Point.generatorMultiple)
    }

    // MARK: keys

    public func createKey(
        _ name: String, type: KeyType, ring: String?, threshold: Int?, shares: Int?
    )
        async throws(KeyshardError) -> KeyInfo
    {
        try await addKey(name, type: type, scalar: .random(), origin: "dkg", threshold: threshold, shares: shares)
    }

    public func importKey(
        _ name: String, type: KeyType, scalar: SecretBytes, ring: String?, threshold: Int?, shares: Int?
    ) async throws(KeyshardError) -> KeyInfo {
        let value: Scalar
        do {
            value = try scalar.withUnsafeBytes { try Scalar(bigEndian: Array($0)) }
        } catch {
            throw KeyshardError(.badRequest, "the scalar is not below the group order")
        }
        return try await addKey(name, type: type, scalar: value, origin: "import", threshold: threshold, shares: shares)
    }

    private func addKey(
        _ name: String, type: KeyType, scalar: Scalar, origin: String, threshold: Int?, shares: Int?
    ) async throws(KeyshardError) -> KeyInfo {
        calls.append(origin == "dkg" ? "createKey" : "importKey")
        guard keys[name] == nil else { throw KeyshardError(.exists, "key \"\(name)\" exists") }
        let info = KeyInfo(
            name: name, type: type, ring: Self.ring, threshold: threshold ?? 2, shares: shares ?? 3, latestVersion: 1,
            minDecryptionVersion: 1, minEncryptionVersion: 0, minAvailableVersion: 1, deletionAllowed: false,
            versions: [try Self.version(1, scalar, origin: origin)])
        keys[name] = Key(info: info, scalars: [1: scalar])
        return info
    }

    public func key(_ name: String) async throws(KeyshardError) -> KeyInfo {
        calls.append("key")
        return try stored(name).info
    }

    public func keyNames() async throws(KeyshardError) -> [String] {
        calls.append("keyNames")
        return keys.keys.sorted()
    }

    public func deleteKey(_ name: String) async throws(KeyshardError) {
        calls.append("deleteKey")
        guard try stored(name).info.deletionAllowed else {
            throw KeyshardError(.unsupported, "deletion of key \"\(name)\" is not allowed")
        }
        keys[name] = nil
    }

    public func rotateKey(_ name: String) async throws(KeyshardError) -> KeyInfo {
        calls.append("rotateKey")
        var key = try stored(name)
        let version = key.info.latestVersion + 1
        let scalar = Scalar.random()
        key.scalars[version] = scalar
        key.info = Self.updating(
            key.info, latestVersion: version,
            versions: key.info.versions + [try Self.version(version, scalar, origin: "dkg")])
        keys[name] = key
        return key.info
    }

    public func configureKey(_ name: String, _ change: KeyConfigChange) async throws(KeyshardError) -> KeyInfo {
        calls.append("configureKey")
        var key = try stored(name)
        key.info = Self.updating(
            key.info, minDecryptionVersion: change.minDecryptionVersion,
            minEncryptionVersion: change.minEncryptionVersion, deletionAllowed: change.deletionAllowed)
        keys[name] = key
        return key.info
    }

    public func trimKey(_ name: String, minimumVersion: Int) async throws(KeyshardError) -> KeyInfo {
        calls.append("trimKey")
        var key = try stored(name)
        guard minimumVersion <= key.info.minDecryptionVersion else {
            throw KeyshardError(.badRequest, "cannot trim above min_decryption_version")
        }
        key.scalars = key.scalars.filter { $0.key >= minimumVersion }
        key.info = Self.updating(
            key.info, minAvailableVersion: minimumVersion,
            versions: key.info.versions.filter { $0.version >= minimumVersion })
        keys[name] = key
        return key.info
    }

    // MARK: crypto

    public func encrypt(
        _ name: String, plaintext: SecretBytes, context: [UInt8], version: Int?
    )
        async throws(KeyshardError) -> KeyshardCiphertext
    {
        calls.append("encrypt")
        let (number, scalar) = try usable(name, version: version, type: .hpkeP256)
        do {
            let sealed = try ThresholdHPKE.seal(plaintext: plaintext, to: .generatorMultiple(scalar), info: context)
            return KeyshardCiphertext(version: number, bytes: sealed)
        } catch {
            throw KeyshardError(.internalError, "sealing failed")
        }
    }

    public func decrypt(
        _ name: String, ciphertext: KeyshardCiphertext, context: [UInt8]
    )
        async throws(KeyshardError) -> SecretBytes
    {
        calls.append("decrypt")
        let scalar = try decryptionScalar(name, version: ciphertext.version)
        do {
            return try ThresholdHPKE.open(ciphertext: ciphertext.bytes, privateKey: scalar, info: context)
        } catch {
            throw KeyshardError(.badRequest, "the ciphertext does not decrypt (wrong key, version or context)")
        }
    }

    public func rewrap(
        _ name: String, ciphertext: KeyshardCiphertext, context: [UInt8], version: Int?
    )
        async throws(KeyshardError) -> KeyshardCiphertext
    {
        let plaintext = try await decrypt(name, ciphertext: ciphertext, context: context)
        let sealed = try await encrypt(name, plaintext: plaintext, context: context, version: version)
        calls.append("rewrap")
        return sealed
    }

    public func dataKey(
        _ name: String, bits: Int, context: [UInt8]
    ) async throws(KeyshardError)
        -> (plaintext: SecretBytes, ciphertext: KeyshardCiphertext)
    {
        let plaintext = SecretBytes.random(count: bits / 8)
        let ciphertext = try await encrypt(name, plaintext: plaintext, context: context, version: nil)
        calls.append("dataKey")
        return (plaintext, ciphertext)
    }

    public func sign(_ name: String, message: [UInt8], version: Int?) async throws(KeyshardError) -> KeyshardSignature {
        calls.append("sign")
        let (number, scalar) = try usable(name, version: version, type: .frostP256)
        do {
            // One signer holding the whole key: its Lagrange coefficient is 1, so this is a valid
            // RFC 9591 signature under the key's public key.
            let share = SecretShare(id: try ParticipantID(1), value: scalar)
            let publicKey = Point.generatorMultiple(scalar)
            let (nonces, commitment) = FROST.commit(share: share)
            let signatureShare = try FROST.sign(
                share: share, nonces: nonces, message: message, commitments: [commitment], groupPublicKey: publicKey)
            let signature = try FROST.aggregate(
                shares: [signatureShare], message: message, commitments: [commitment], groupPublicKey: publicKey,
                publicShares: [share.id: publicKey])
            return KeyshardSignature(version: number, bytes: try signature.serialized())
        } catch {
            throw KeyshardError(.internalError, "signing failed: \(error)")
        }
    }

    public func verify(
        _ name: String, message: [UInt8], signature: KeyshardSignature
    ) async throws(KeyshardError)
        -> Bool
    {
        calls.append("verify")
        let scalar = try decryptionScalar(name, version: signature.version)
        guard let decoded = try? FROST.Signature(serialized: signature.bytes) else {
            throw KeyshardError(.badRequest, "the signature is not 65 bytes of R ‖ z")
        }
        return FROST.verify(signature: decoded, message: message, publicKey: .generatorMultiple(scalar))
    }

    // MARK: fleet

    public func custodians(ring: String?) async throws(KeyshardError) -> [CustodianInfo] {
        calls.append("custodians")
        if let ring, ring != Self.ring { throw KeyshardError(.notFound, "no ring \"\(ring)\"") }
        let launched = Date(timeIntervalSince1970: 1_800_000_000)
        return (1...3).map {
            CustodianInfo(
                ring: Self.ring, index: $0, backendID: "process-\($0)", host: "localhost", state: "healthy",
                lastAttested: $0 == 3 ? nil : launched.addingTimeInterval(60), epoch: 1, launchedAt: launched)
        }
    }

    public func rings() async throws(KeyshardError) -> [RingInfo] {
        calls.append("rings")
        return [ringInfo()]
    }

    public func rotateRing(_ ring: String) async throws(KeyshardError) -> RingInfo {
        calls.append("rotateRing")
        guard ring == Self.ring else { throw KeyshardError(.notFound, "no ring \"\(ring)\"") }
        guard !busyRings.contains(ring) else {
            throw KeyshardError(.busy, "a rotation of ring \"\(ring)\" is under way")
        }
        if rotationDelay > .zero { try? await Task.sleep(for: rotationDelay) }
        return ringInfo(epoch: 2)
    }

    public func reloadPolicy() async throws(KeyshardError) -> PolicyReloadResult {
        calls.append("reloadPolicy")
        return PolicyReloadResult(accepted: 2, replaced: ["default/3": "pcr.value: PCR 9 changed"])
    }

    public func health() async -> HealthInfo {
        HealthInfo(serving: belowThresholdRings.isEmpty, rings: [ringInfo()], backend: "process", version: "test")
    }

    // MARK: helpers

    private func ringInfo(epoch: Int = 1) -> RingInfo {
        let below = belowThresholdRings.contains(Self.ring)
        return RingInfo(
            name: Self.ring, threshold: 2, shares: 3, epoch: epoch, healthy: below ? 1 : 3,
            state: below ? "below-threshold" : "ok", changing: nil, keys: keys.keys.sorted())
    }

    private func stored(_ name: String) throws(KeyshardError) -> Key {
        guard let key = keys[name] else { throw KeyshardError(.notFound, "no key \"\(name)\"") }
        return key
    }

    private func usable(_ name: String, version: Int?, type: KeyType) throws(KeyshardError) -> (Int, Scalar) {
        guard !belowThresholdRings.contains(Self.ring) else {
            throw KeyshardError(.belowThreshold, "ring \"\(Self.ring)\" has 1 healthy custodian; 2 are needed")
        }
        let key = try stored(name)
        guard key.info.type == type else {
            throw KeyshardError(.unsupported, "key \"\(name)\" is \(key.info.type.rawValue), not \(type.rawValue)")
        }
        let number = version ?? key.info.latestVersion
        guard let scalar = key.scalars[number] else {
            throw KeyshardError(.notFound, "no version \(number) of \"\(name)\"")
        }
        return (number, scalar)
    }

    private func decryptionScalar(_ name: String, version: Int) throws(KeyshardError) -> Scalar {
        let key = try stored(name)
        guard version >= key.info.minDecryptionVersion else {
            throw KeyshardError(.unsupported, "version \(version) of \"\(name)\" is retired")
        }
        guard let scalar = key.scalars[version] else {
            throw KeyshardError(.notFound, "no version \(version) of \"\(name)\"")
        }
        return scalar
    }

    private static func version(_ number: Int, _ scalar: Scalar, origin: String) throws(KeyshardError) -> KeyVersionInfo
    {
        do {
            return KeyVersionInfo(
                version: number, publicKey: try Point.generatorMultiple(scalar).compressed(),
                createdAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(number)), origin: origin)
        } catch {
            throw KeyshardError(.internalError, "the public key is the identity")
        }
    }

    private static func updating(
        _ info: KeyInfo, latestVersion: Int? = nil, minDecryptionVersion: Int? = nil, minEncryptionVersion: Int? = nil,
        minAvailableVersion: Int? = nil, deletionAllowed: Bool? = nil, versions: [KeyVersionInfo]? = nil
    ) -> KeyInfo {
        KeyInfo(
            name: info.name, type: info.type, ring: info.ring, threshold: info.threshold, shares: info.shares,
            latestVersion: latestVersion ?? info.latestVersion,
            minDecryptionVersion: minDecryptionVersion ?? info.minDecryptionVersion,
            minEncryptionVersion: minEncryptionVersion ?? info.minEncryptionVersion,
            minAvailableVersion: minAvailableVersion ?? info.minAvailableVersion,
            deletionAllowed: deletionAllowed ?? info.deletionAllowed, versions: versions ?? info.versions)
    }
}
