import AgentProtocol
import Foundation
import KeyStore
import KeyshardAPI
import ShardCrypto

/// ``KeyshardAPI/KeyshardService``: what the server calls.
extension Engine {
    public func createKey(_ name: String, type: KeyType, ring: String?, threshold: Int?, shares: Int?)
        async throws(KeyshardError) -> KeyInfo
    {
        try await api {
            try ShareNames.validateKeyName(name)
            guard try await store.key(named: name) == nil else { throw KeyshardError(.exists, "a key named \(name) exists") }
            let ringName = try ringName(ring, threshold: threshold, shares: shares)
            let runtime = try await ensureRing(ringName, threshold: threshold, shares: shares)
            try await structurally(runtime) {
                guard try await store.key(named: name) == nil else { throw KeyshardError(.exists, "a key named \(name) exists") }
                try await audited("key.create", ["key": name, "type": type.rawValue, "ring": ringName, "origin": "dkg"])
                let members = try await allFreshMembers(runtime)
                let commitment = try await runDKG(runtime, key: name, version: 1, members: members)
                try await record(newKey: name, type: type, ring: runtime, commitment: commitment, origin: "dkg")
            }
            return try await keyInfo(name)
        }
    }

    public func importKey(
        _ name: String, type: KeyType, scalar: SecretBytes, ring: String?, threshold: Int?, shares: Int?
    ) async throws(KeyshardError) -> KeyInfo {
        try await api {
            try ShareNames.validateKeyName(name)
            guard try await store.key(named: name) == nil else { throw KeyshardError(.exists, "a key named \(name) exists") }
            let ringName = try ringName(ring, threshold: threshold, shares: shares)
            let runtime = try await ensureRing(ringName, threshold: threshold, shares: shares)
            try await structurally(runtime) {
                guard try await store.key(named: name) == nil else { throw KeyshardError(.exists, "a key named \(name) exists") }
                try await audited("key.import", ["key": name, "type": type.rawValue, "ring": ringName])
                let members = try await allFreshMembers(runtime)
                let commitment = try await dealImport(runtime, key: name, version: 1, scalar: scalar, members: members)
                try await record(newKey: name, type: type, ring: runtime, commitment: commitment, origin: "import")
            }
            return try await keyInfo(name)
        }
    }

    /// Stores a new key's first version and seats its commitment at the ring's epoch.
    private func record(newKey name: String, type: KeyType, ring: RingRuntime, commitment: FeldmanCommitment, origin: String)
        async throws
    {
        let now = Date()
        let publicKey = try commitment.publicKey.compressed()
        do {
            try await store.insertKey(
                KeyRecord(
                    name: name, type: type.rawValue, ring: ring.name, createdAt: now, latestVersion: 1,
                    minDecryptionVersion: 1, minEncryptionVersion: 0, minAvailableVersion: 1, deletionAllowed: false),
                version: KeyVersionRecord(key: name, version: 1, publicKey: publicKey, origin: origin, createdAt: now),
                commitment: ShareCommitmentRecord(
                    key: name, version: 1, epoch: ring.epoch, commitment: try commitment.serialized()))
        } catch {
            let reference = try ShareNames.reference(key: name, version: 1, epoch: ring.epoch)
            for custodian in ring.members.values { await forget([reference], on: custodian) }
            throw error
        }
        ring.setCommitment(commitment, for: RingRuntime.VersionID(key: name, version: 1))
        try? await FaultInjection.reached("key.recorded")
        await note(
            "key.created",
            ["key": name, "type": type.rawValue, "ring": ring.name, "origin": origin, "version": "1",
                "public_key": publicKey.map { String(format: "%02x", $0) }.joined()])
    }

    public func key(_ name: String) async throws(KeyshardError) -> KeyInfo {
        try await api { try await keyInfo(name) }
    }

    public func keyNames() async throws(KeyshardError) -> [String] {
        try await api { try await store.keys().map(\.name).sorted() }
    }

    public func deleteKey(_ name: String) async throws(KeyshardError) {
        try await api {
            let (record, runtime) = try await keyAndRing(name)
            guard record.deletionAllowed else {
                throw KeyshardError(
                    .unsupported, "key \(name) does not allow deletion; set deletion_allowed first (keyshard key config)")
            }
            try await structurally(runtime) {
                try await audited("key.delete", ["key": name, "ring": runtime.name])
                let versions = try await store.versions(of: name).map(\.version)
                let epoch = runtime.epoch
                try await store.deleteKey(name)
                runtime.removeCommitments { $0.key == name }
                let references = try versions.map { try ShareNames.reference(key: name, version: $0, epoch: epoch) }
                for custodian in runtime.members.values { await forget(references, on: custodian) }
                await note("key.deleted", ["key": name, "versions": "\(versions.count)"])
            }
        }
    }

    public func rotateKey(_ name: String) async throws(KeyshardError) -> KeyInfo {
        try await api {
            let (_, runtime) = try await keyAndRing(name)
            try await structurally(runtime) {
                guard let record = try await store.key(named: name) else { throw KeyshardError(.notFound, "no key named \(name)") }
                let version = record.latestVersion + 1
                try await audited("key.rotate", ["key": name, "version": "\(version)"])
                let members = try await allFreshMembers(runtime)
                let commitment = try await runDKG(runtime, key: name, version: version, members: members)
                let publicKey = try commitment.publicKey.compressed()
                do {
                    try await store.addVersion(
                        name,
                        version: KeyVersionRecord(key: name, version: version, publicKey: publicKey, origin: "dkg", createdAt: Date()),
                        commitment: ShareCommitmentRecord(
                            key: name, version: version, epoch: runtime.epoch, commitment: try commitment.serialized()))
                } catch {
                    let reference = try ShareNames.reference(key: name, version: version, epoch: runtime.epoch)
                    for custodian in runtime.members.values { await forget([reference], on: custodian) }
                    throw error
                }
                runtime.setCommitment(commitment, for: RingRuntime.VersionID(key: name, version: version))
                try? await FaultInjection.reached("version.recorded")
                await note("key.rotated", ["key": name, "version": "\(version)"])
            }
            return try await keyInfo(name)
        }
    }

    public func configureKey(_ name: String, _ change: KeyConfigChange) async throws(KeyshardError) -> KeyInfo {
        try await api {
            guard let record = try await store.key(named: name) else { throw KeyshardError(.notFound, "no key named \(name)") }
            if let minimum = change.minDecryptionVersion {
                guard minimum >= 1, minimum <= record.latestVersion else {
                    throw KeyshardError(.badRequest, "min_decryption_version must be 1…\(record.latestVersion), got \(minimum)")
                }
                guard minimum >= record.minAvailableVersion else {
                    throw KeyshardError(.badRequest, "versions below \(record.minAvailableVersion) were trimmed")
                }
            }
            if let minimum = change.minEncryptionVersion {
                guard minimum >= 0, minimum <= record.latestVersion else {
                    throw KeyshardError(.badRequest, "min_encryption_version must be 0…\(record.latestVersion), got \(minimum)")
                }
            }
            let decryption = change.minDecryptionVersion ?? record.minDecryptionVersion
            let encryption = change.minEncryptionVersion ?? record.minEncryptionVersion
            if encryption != 0, encryption < decryption {
                throw KeyshardError(.badRequest, "min_encryption_version (\(encryption)) must not be below min_decryption_version (\(decryption))")
            }
            try await audited(
                "key.config",
                ["key": name, "min_decryption_version": "\(decryption)", "min_encryption_version": "\(encryption)",
                    "deletion_allowed": "\(change.deletionAllowed ?? record.deletionAllowed)"])
            _ = try await store.updateKeyConfig(
                name, minDecryptionVersion: change.minDecryptionVersion,
                minEncryptionVersion: change.minEncryptionVersion, deletionAllowed: change.deletionAllowed)
            return try await keyInfo(name)
        }
    }

    public func trimKey(_ name: String, minimumVersion: Int) async throws(KeyshardError) -> KeyInfo {
        try await api {
            let (record, runtime) = try await keyAndRing(name)
            guard minimumVersion >= record.minAvailableVersion, minimumVersion <= record.minDecryptionVersion,
                minimumVersion <= record.latestVersion
            else {
                throw KeyshardError(
                    .badRequest,
                    "trim needs min_available_version between \(record.minAvailableVersion) and min_decryption_version "
                        + "(\(record.minDecryptionVersion)); raise min_decryption_version first")
            }
            try await structurally(runtime) {
                try await audited("key.trim", ["key": name, "min_available_version": "\(minimumVersion)"])
                let epoch = runtime.epoch
                let trimmed = (record.minAvailableVersion..<minimumVersion).map { $0 }
                _ = try await store.trim(name, minAvailableVersion: minimumVersion)
                runtime.removeCommitments { $0.key == name && $0.version < minimumVersion }
                let references = try trimmed.map { try ShareNames.reference(key: name, version: $0, epoch: epoch) }
                for custodian in runtime.members.values { await forget(references, on: custodian) }
                await note("key.trimmed", ["key": name, "min_available_version": "\(minimumVersion)"])
            }
            return try await keyInfo(name)
        }
    }

    // MARK: Cryptographic operations

    public func encrypt(_ name: String, plaintext: SecretBytes, context: [UInt8], version: Int?)
        async throws(KeyshardError) -> KeyshardCiphertext
    {
        try await api {
            let (record, chosen) = try await encryptionVersion(name, requested: version, purpose: .hpkeP256)
            let publicKey = try await publicKey(of: name, version: chosen)
            let sealed = try ThresholdHPKE.seal(plaintext: plaintext, to: publicKey, info: context)
            _ = record
            return KeyshardCiphertext(version: chosen, bytes: sealed)
        }
    }

    public func decrypt(_ name: String, ciphertext: KeyshardCiphertext, context: [UInt8])
        async throws(KeyshardError) -> SecretBytes
    {
        try await api {
            let record = try await decryptionVersion(name, version: ciphertext.version, purpose: .hpkeP256)
            do {
                let plaintext = try await thresholdDecrypt(
                    key: name, ring: record.ring, version: ciphertext.version, ciphertext: ciphertext.bytes, info: context)
                EngineMetrics.operation("decrypt", "ok")
                return plaintext
            } catch {
                EngineMetrics.operation("decrypt", Self.keyshardError(error).code.rawValue)
                throw error
            }
        }
    }

    public func rewrap(_ name: String, ciphertext: KeyshardCiphertext, context: [UInt8], version: Int?)
        async throws(KeyshardError) -> KeyshardCiphertext
    {
        let plaintext = try await decrypt(name, ciphertext: ciphertext, context: context)
        return try await encrypt(name, plaintext: plaintext, context: context, version: version)
    }

    public func dataKey(_ name: String, bits: Int, context: [UInt8]) async throws(KeyshardError)
        -> (plaintext: SecretBytes, ciphertext: KeyshardCiphertext)
    {
        guard [128, 256, 512].contains(bits) else {
            throw KeyshardError(.badRequest, "a data key has 128, 256 or 512 bits, not \(bits)")
        }
        let plaintext = SecretBytes.random(count: bits / 8)
        let ciphertext = try await encrypt(name, plaintext: plaintext, context: context, version: nil)
        return (plaintext, ciphertext)
    }

    public func sign(_ name: String, message: [UInt8], version: Int?) async throws(KeyshardError) -> KeyshardSignature {
        try await api {
            let (record, chosen) = try await encryptionVersion(name, requested: version, purpose: .frostP256)
            let signature: FROST.Signature
            do {
                signature = try await thresholdSign(key: name, ring: record.ring, version: chosen, message: message)
                EngineMetrics.operation("sign", "ok")
            } catch {
                EngineMetrics.operation("sign", Self.keyshardError(error).code.rawValue)
                throw error
            }
            return KeyshardSignature(version: chosen, bytes: try signature.serialized())
        }
    }

    public func verify(_ name: String, message: [UInt8], signature: KeyshardSignature) async throws(KeyshardError) -> Bool {
        try await api {
            _ = try await decryptionVersion(name, version: signature.version, purpose: .frostP256)
            guard let parsed = try? FROST.Signature(serialized: signature.bytes) else { return false }
            return FROST.verify(signature: parsed, message: message, publicKey: try await publicKey(of: name, version: signature.version))
        }
    }

    // MARK: Helpers

    func keyAndRing(_ name: String) async throws -> (KeyRecord, RingRuntime) {
        guard let record = try await store.key(named: name) else { throw KeyshardError(.notFound, "no key named \(name)") }
        guard let ring = ring(named: record.ring) else {
            throw KeyshardError(.internalError, "key \(name)'s ring \(record.ring) is not loaded")
        }
        return (record, ring)
    }

    func keyRecord(_ name: String, purpose: KeyType) async throws -> KeyRecord {
        guard let record = try await store.key(named: name) else { throw KeyshardError(.notFound, "no key named \(name)") }
        guard record.type == purpose.rawValue else {
            let operation = purpose == .hpkeP256 ? "encryption and decryption" : "signing and verification"
            throw KeyshardError(.unsupported, "key \(name) is a \(record.type) key; \(operation) needs a \(purpose.rawValue) key")
        }
        return record
    }

    /// The version to encrypt or sign with: the requested one within the limits, or the latest.
    func encryptionVersion(_ name: String, requested: Int?, purpose: KeyType) async throws -> (KeyRecord, Int) {
        let record = try await keyRecord(name, purpose: purpose)
        let version = requested ?? record.latestVersion
        guard version >= 1, version <= record.latestVersion else {
            throw KeyshardError(.notFound, "key \(name) has versions 1…\(record.latestVersion), not \(version)")
        }
        let floor = max(record.minEncryptionVersion, record.minAvailableVersion, record.minDecryptionVersion)
        guard version >= floor else {
            throw KeyshardError(
                .unsupported, "version \(version) of \(name) is retired for new use (the lowest usable is \(floor))")
        }
        return (record, version)
    }

    /// Checks a ciphertext's or signature's version against the key's decryption limits.
    func decryptionVersion(_ name: String, version: Int, purpose: KeyType) async throws -> KeyRecord {
        let record = try await keyRecord(name, purpose: purpose)
        guard version <= record.latestVersion else {
            throw KeyshardError(.notFound, "key \(name) has no version \(version) (latest is \(record.latestVersion))")
        }
        guard version >= record.minAvailableVersion else {
            throw KeyshardError(.unsupported, "version \(version) of \(name) was trimmed: its shares are destroyed")
        }
        guard version >= record.minDecryptionVersion else {
            throw KeyshardError(
                .unsupported,
                "version \(version) of \(name) is retired (min_decryption_version is \(record.minDecryptionVersion)); rewrap old ciphertexts before retiring")
        }
        return record
    }

    func publicKey(of name: String, version: Int) async throws -> Point {
        guard let stored = try await store.versions(of: name).first(where: { $0.version == version }) else {
            throw KeyshardError(.notFound, "key \(name) has no version \(version)")
        }
        return try Point(sec1: stored.publicKey)
    }

    func keyInfo(_ name: String) async throws -> KeyInfo {
        guard let record = try await store.key(named: name) else { throw KeyshardError(.notFound, "no key named \(name)") }
        let ring = try await store.ring(named: record.ring)
        let versions = try await store.versions(of: name).map {
            KeyVersionInfo(version: $0.version, publicKey: $0.publicKey, createdAt: $0.createdAt, origin: $0.origin)
        }
        return KeyInfo(
            name: record.name, type: KeyType(rawValue: record.type) ?? .hpkeP256, ring: record.ring,
            threshold: ring?.threshold ?? 0, shares: ring?.shares ?? 0, latestVersion: record.latestVersion,
            minDecryptionVersion: record.minDecryptionVersion, minEncryptionVersion: record.minEncryptionVersion,
            minAvailableVersion: record.minAvailableVersion, deletionAllowed: record.deletionAllowed, versions: versions)
    }
}
