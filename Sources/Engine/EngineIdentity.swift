import AgentProtocol
import AuditLog
import Foundation
import KeyshardAPI
import ShardCrypto

/// The coordinator's long-term identity key in its own file (0600, owner only): every custodian
/// pins its public half at boot, so losing the file orphans every running custodian and a copy
/// of it lets the holder open sessions with them. It is not in SQLite on purpose: a database dump
/// for debugging must not carry it.
public enum EngineIdentity {
    /// Reads the key at `path`, or creates it (exclusively, 0600) when the file does not exist.
    /// - Throws: ``KeyshardAPI/KeyshardError`` when the file cannot be made or read, is readable by
    ///   others than its owner, or does not hold a P-256 private key.
    public static func loadOrCreate(path: String) throws(KeyshardError) -> CoordinatorIdentity {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            let identity = CoordinatorIdentity()
            let written = identity.exportPrivateKey().withUnsafeBytes { bytes in write(descriptor, bytes.baseAddress, bytes.count) }
            let synced = fsync(descriptor) == 0
            close(descriptor)
            guard written == 32, synced else {
                unlink(path)
                throw KeyshardError(.internalError, "cannot write the coordinator identity \(path): \(String(cString: strerror(errno)))")
            }
            return identity
        }
        guard errno == EEXIST else {
            throw KeyshardError(.internalError, "cannot create the coordinator identity \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw KeyshardError(.internalError, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw KeyshardError(
                .internalError,
                "the coordinator identity \(path) is readable by group or others (mode \(String(status.st_mode & 0o777, radix: 8))); "
                    + "chmod 600 it, and treat the key as exposed if others could read it")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 else {
            throw KeyshardError(.internalError, "the coordinator identity \(path) is not a 32-byte P-256 private key")
        }
        do {
            return try CoordinatorIdentity(privateKey: SecretBytes(data))
        } catch {
            throw KeyshardError(.internalError, "the coordinator identity \(path) does not hold a valid P-256 private key")
        }
    }
}

/// The engine's audit records into the hash-chained ``AuditLog/AuditLog``.
public struct AuditLogRecorder: EngineAuditing {
    let log: AuditLog

    /// Records into `log`.
    public init(_ log: AuditLog) { self.log = log }

    public func record(_ event: String, _ fields: [String: String]) async throws {
        _ = try await log.append(event, fields.mapValues { AuditValue.string($0) })
    }
}
