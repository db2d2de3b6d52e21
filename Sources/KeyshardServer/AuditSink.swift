/// Where the server writes its two audit records per API call: `api.call` before the operation
/// runs and `api.result` after it. The daemon adapts its hash-chained `AuditLog` to this.
///
/// Fields are plain strings: caller ids, method, path, key name, operation, status, error code.
/// The server never passes plaintexts, ciphertexts, signatures, messages or key material.
public protocol AuditSink: Sendable {
    /// Appends one record durably.
    /// - Throws: when the record could not be written; the server then refuses the operation
    ///   with 503 `audit-unavailable` (for `api.call`) or logs the failure (for `api.result`).
    func record(_ event: String, _ fields: [String: String]) async throws
}
