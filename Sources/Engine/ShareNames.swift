import AgentProtocol
import KeyshardAPI

/// How the engine names a key version's shares to custodians: identifier `<key>/v<version>`, and
/// the ring epoch in the reference's version field (re-sharing keeps the identifier and changes
/// that number, as the agent protocol requires). Each epoch's shares so have their own name: a
/// custodian that keeps its slot across an epoch change holds the old and the new share side by
/// side until the change commits, and the old one can be forgotten by name.
enum ShareNames {
    /// The agent's reference for `key`'s `version` at ring `epoch`.
    static func reference(key: String, version: Int, epoch: Int) throws(KeyshardError) -> KeyReference {
        do {
            guard epoch >= 1, epoch <= Int(UInt32.max) else { throw KeyshardError(.internalError, "epoch \(epoch) is out of range") }
            return try KeyReference(keyID: "\(key)/v\(version)", version: UInt32(epoch))
        } catch {
            throw KeyshardError(.internalError, "no share name for \(key) v\(version) at epoch \(epoch): \(error)")
        }
    }

    /// The key name and epoch a reference was made from, or nil for a name this engine did not make.
    static func parse(_ reference: KeyReference) -> (key: String, version: Int, epoch: Int)? {
        guard let slash = reference.keyID.lastIndex(of: "/") else { return nil }
        let suffix = reference.keyID[reference.keyID.index(after: slash)...]
        guard suffix.first == "v", let version = Int(suffix.dropFirst()) else { return nil }
        return (String(reference.keyID[..<slash]), version, Int(reference.version))
    }

    /// Key names: 1…100 characters of letters, digits, `.`, `_` and `-`, starting with a letter or
    /// digit (they appear in URLs, share names and file names).
    static func validateKeyName(_ name: String) throws(KeyshardError) {
        guard (1...100).contains(name.utf8.count), let first = name.unicodeScalars.first,
            isAlphanumeric(first),
            name.unicodeScalars.allSatisfy({ isAlphanumeric($0) || $0 == "." || $0 == "_" || $0 == "-" })
        else {
            throw KeyshardError(
                .badRequest,
                "a key name is 1…100 letters, digits, '.', '_' or '-', starting with a letter or digit; got \"\(name.prefix(120))\"")
        }
    }

    /// Ring names follow the same rule, at most 40 characters (libvirt domain names carry them).
    static func validateRingName(_ name: String) throws(KeyshardError) {
        guard (1...40).contains(name.utf8.count), let first = name.unicodeScalars.first, isAlphanumeric(first),
            name.unicodeScalars.allSatisfy({ isAlphanumeric($0) || $0 == "_" || $0 == "-" })
        else {
            throw KeyshardError(
                .badRequest,
                "a ring name is 1…40 letters, digits, '_' or '-', starting with a letter or digit; got \"\(name.prefix(60))\"")
        }
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
