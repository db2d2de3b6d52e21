import ShardCrypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// Between the wire bodies and the API's domain types, in one place so that server and client
// cannot drift apart.

extension VaultWire.KeyBody {
    /// The read body of a key.
    /// - Throws: ``KeyshardError/Code/internalError`` when a version's public key cannot be
    ///   encoded (the identity point: a corrupt record).
    public init(_ key: KeyInfo) throws(KeyshardError) {
        var keys: [String: VaultWire.KeyVersionBody] = [:]
        for version in key.versions {
            let pem: String
            do {
                pem = try Point(sec1: version.publicKey).pemRepresentation()
            } catch {
                throw KeyshardError(
                    .internalError, "version \(version.version) of key \"\(key.name)\" has an unusable public key")
            }
            keys[String(version.version)] = VaultWire.KeyVersionBody(
                publicKey: pem, creationTime: VaultWire.timestamp(version.createdAt), origin: version.origin)
        }
        self.init(
            name: key.name, type: key.type.rawValue, keys: keys, latestVersion: key.latestVersion,
            minDecryptionVersion: key.minDecryptionVersion, minEncryptionVersion: key.minEncryptionVersion,
            minAvailableVersion: key.minAvailableVersion, deletionAllowed: key.deletionAllowed, derived: false,
            exportable: false, allowPlaintextBackup: false, supportsEncryption: key.type.supportsEncryption,
            supportsDecryption: key.type.supportsEncryption, supportsDerivation: false,
            supportsSigning: key.type.supportsSigning, importedKey: key.versions.contains { $0.origin == "import" },
            autoRotatePeriod: 0, threshold: key.threshold, shares: key.shares, ring: key.ring)
    }

    /// The key the body describes, public keys as SEC1 compressed points.
    /// - Throws: ``KeyshardError/Code/internalError`` naming the field that does not parse.
    public func keyInfo() throws(KeyshardError) -> KeyInfo {
        guard let keyType = KeyType(rawValue: type) else {
            throw KeyshardError(.internalError, "keyshardd answered with an unknown key type \"\(type)\"")
        }
        var versions: [KeyVersionInfo] = []
        for (label, body) in keys {
            guard let number = Int(label), number >= 1 else {
                throw KeyshardError(.internalError, "keyshardd answered with a key version named \"\(label)\"")
            }
            let point: [UInt8]
            do {
                point = try Point(publicKeyText: body.publicKey).compressed()
            } catch {
                throw KeyshardError(.internalError, "the public key of version \(number) does not parse: \(error)")
            }
            guard let created = VaultWire.date(body.creationTime) else {
                throw KeyshardError(
                    .internalError, "the creation time of version \(number) is not RFC 3339: \(body.creationTime)")
            }
            versions.append(KeyVersionInfo(version: number, publicKey: point, createdAt: created, origin: body.origin))
        }
        versions.sort { $0.version < $1.version }
        return KeyInfo(
            name: name, type: keyType, ring: ring, threshold: threshold, shares: shares, latestVersion: latestVersion,
            minDecryptionVersion: minDecryptionVersion, minEncryptionVersion: minEncryptionVersion,
            minAvailableVersion: minAvailableVersion, deletionAllowed: deletionAllowed, versions: versions)
    }
}

extension VaultWire.CustodianBody {
    /// The body for a custodian.
    public init(_ custodian: CustodianInfo) {
        self.init(
            ring: custodian.ring, index: custodian.index, backendID: custodian.backendID, host: custodian.host,
            state: custodian.state, lastAttested: custodian.lastAttested.map(VaultWire.timestamp),
            epoch: custodian.epoch, launchedAt: VaultWire.timestamp(custodian.launchedAt))
    }

    /// The custodian it describes.
    /// - Throws: ``KeyshardError/Code/internalError`` when a time is not RFC 3339.
    public func custodian() throws(KeyshardError) -> CustodianInfo {
        guard let launched = VaultWire.date(launchedAt) else {
            throw KeyshardError(.internalError, "custodian \(index)'s launch time is not RFC 3339: \(launchedAt)")
        }
        var attested: Date?
        if let lastAttested {
            guard let date = VaultWire.date(lastAttested) else {
                throw KeyshardError(.internalError, "custodian \(index)'s attestation time is not RFC 3339")
            }
            attested = date
        }
        return CustodianInfo(
            ring: ring, index: index, backendID: backendID, host: host, state: state, lastAttested: attested,
            epoch: epoch, launchedAt: launched)
    }
}

extension VaultWire {
    /// A time as RFC 3339 in UTC, with fractional seconds as Vault writes them.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Parses RFC 3339, with or without fractional seconds.
    public static func date(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// Standard base64 of `bytes`.
    public static func base64(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Decodes standard base64 strictly: padded, no white space, no other alphabet, canonical
    /// (the bits after the last character must be zero), so one value has one encoding.
    /// - Parameter field: the JSON field's name, for the error.
    /// - Throws: ``KeyshardError/Code/badRequest`` naming the field.
    public static func decodeBase64(_ text: String, field: String) throws(KeyshardError) -> [UInt8] {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else {
            throw KeyshardError(.badRequest, "\(field) is not standard padded base64")
        }
        return Array(data)
    }
}
