import Foundation
import Hummingbird
import KeyshardAPI
import ShardCrypto

/// `/v1/transit/{encrypt,decrypt,rewrap,datakey,sign,verify}/:name`, single requests and
/// `batch_input`.
///
/// Batches follow Vault: results in input order, one failed item does not stop the others, and
/// the status is 200 when every item succeeded, 400 when an item failed by the caller's fault,
/// otherwise the first failure's status; `partial_failure_response_code` replaces it when some
/// items succeeded.
///
/// `package` for api-fuzz, which runs the per-item checks below on fuzzed bodies.
package struct CryptoHandlers: Sendable {
    let service: any KeyshardService
    let limits: ServerConfiguration

    // MARK: encrypt, decrypt, rewrap, datakey

    func encrypt(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.EncryptRequest.self, from: request, limit: limits.maximumBodySize)
        guard let batch = body.batchInput else {
            let result = try await encryptItem(name, body.single)
            return try APIResponses.envelope(VaultWire.CiphertextResponse(single: result), context: context)
        }
        let outcome = try await runBatch(batch) { item throws(KeyshardError) in
            var result = try await encryptItem(name, item)
            result.reference = item.reference
            return result
        } failed: { item, error in
            VaultWire.CiphertextResult(reference: item.reference, error: error.message, code: error.code.rawValue)
        }
        return try APIResponses.envelope(
            VaultWire.CiphertextResponse(batchResults: outcome.results), context: context,
            status: outcome.status(partialFailureCode: body.partialFailureResponseCode))
    }

    private func encryptItem(
        _ name: String, _ item: VaultWire.EncryptItem
    ) async throws(KeyshardError)
        -> VaultWire.CiphertextResult
    {
        try Self.refuseVaultOnly(associatedData: item.associatedData, nonce: item.nonce)
        guard let plaintext = item.plaintext else { throw KeyshardError(.badRequest, "missing plaintext to encrypt") }
        let secret = try Base64Field.secret(plaintext, field: "plaintext")
        let info = try Base64Field.bytes(item.context, field: "context")
        let ciphertext = try await service.encrypt(
            name, plaintext: secret, context: info, version: try Self.version(item.keyVersion))
        return VaultWire.CiphertextResult(ciphertext: ciphertext.description, keyVersion: ciphertext.version)
    }

    func decrypt(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.CiphertextRequest.self, from: request, limit: limits.maximumBodySize)
        guard let batch = body.batchInput else {
            let result = try await decryptItem(name, body.single)
            return try APIResponses.envelope(VaultWire.PlaintextResponse(single: result), context: context)
        }
        let outcome = try await runBatch(batch) { item throws(KeyshardError) in
            var result = try await decryptItem(name, item)
            result.reference = item.reference
            return result
        } failed: { item, error in
            VaultWire.PlaintextResult(reference: item.reference, error: error.message, code: error.code.rawValue)
        }
        return try APIResponses.envelope(
            VaultWire.PlaintextResponse(batchResults: outcome.results), context: context,
            status: outcome.status(partialFailureCode: body.partialFailureResponseCode))
    }

    private func decryptItem(
        _ name: String, _ item: VaultWire.CiphertextItem
    ) async throws(KeyshardError)
        -> VaultWire.PlaintextResult
    {
        try Self.refuseVaultOnly(associatedData: item.associatedData, nonce: item.nonce)
        guard let text = item.ciphertext else { throw KeyshardError(.badRequest, "missing ciphertext to decrypt") }
        let ciphertext = try KeyshardCiphertext(parsing: text)
        let info = try Base64Field.bytes(item.context, field: "context")
        let plaintext = try await service.decrypt(name, ciphertext: ciphertext, context: info)
        return VaultWire.PlaintextResult(plaintext: plaintext.base64)
    }

    func rewrap(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.CiphertextRequest.self, from: request, limit: limits.maximumBodySize)
        guard let batch = body.batchInput else {
            let result = try await rewrapItem(name, body.single)
            return try APIResponses.envelope(VaultWire.CiphertextResponse(single: result), context: context)
        }
        let outcome = try await runBatch(batch) { item throws(KeyshardError) in
            var result = try await rewrapItem(name, item)
            result.reference = item.reference
            return result
        } failed: { item, error in
            VaultWire.CiphertextResult(reference: item.reference, error: error.message, code: error.code.rawValue)
        }
        return try APIResponses.envelope(
            VaultWire.CiphertextResponse(batchResults: outcome.results), context: context,
            status: outcome.status(partialFailureCode: body.partialFailureResponseCode))
    }

    private func rewrapItem(
        _ name: String, _ item: VaultWire.CiphertextItem
    ) async throws(KeyshardError)
        -> VaultWire.CiphertextResult
    {
        try Self.refuseVaultOnly(associatedData: item.associatedData, nonce: item.nonce)
        guard let text = item.ciphertext else { throw KeyshardError(.badRequest, "missing ciphertext to rewrap") }
        let ciphertext = try KeyshardCiphertext(parsing: text)
        let info = try Base64Field.bytes(item.context, field: "context")
        let rewrapped = try await service.rewrap(
            name, ciphertext: ciphertext, context: info, version: try Self.version(item.keyVersion))
        return VaultWire.CiphertextResult(ciphertext: rewrapped.description, keyVersion: rewrapped.version)
    }

    /// `datakey/plaintext` returns the key and its ciphertext, `datakey/wrapped` the ciphertext only.
    func dataKey(includingPlaintext: Bool) -> @Sendable (Request, KeyshardRequestContext) async throws -> Response {
        { request, context in
            let name = try Names.key(context)
            let body = try await RequestBodies.decode(
                VaultWire.DataKeyRequest.self, from: request, limit: limits.maximumBodySize)
            try Self.refuseVaultOnly(associatedData: body.associatedData, nonce: body.nonce)
            let bits = body.bits ?? 256
            guard [128, 256, 512].contains(bits) else {
                throw KeyshardError(.badRequest, "bits must be 128, 256 or 512")
            }
            let info = try Base64Field.bytes(body.context, field: "context")
            let (plaintext, ciphertext) = try await service.dataKey(name, bits: bits, context: info)
            let data = VaultWire.DataKeyResponse(
                plaintext: includingPlaintext ? plaintext.base64 : nil, ciphertext: ciphertext.description,
                keyVersion: ciphertext.version)
            return try APIResponses.envelope(data, context: context)
        }
    }

    // MARK: sign, verify

    func sign(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.SignatureRequest.self, from: request, limit: limits.maximumBodySize)
        try Self.checkSigningOptions(body.options, pathAlgorithm: context.parameters.get("hash_algorithm"))
        guard let batch = body.batchInput else {
            let result = try await signItem(name, body.single)
            return try APIResponses.envelope(VaultWire.SignatureResponse(single: result), context: context)
        }
        let outcome = try await runBatch(batch) { item throws(KeyshardError) in
            var result = try await signItem(name, item)
            result.reference = item.reference
            return result
        } failed: { item, error in
            VaultWire.SignatureResult(reference: item.reference, error: error.message, code: error.code.rawValue)
        }
        return try APIResponses.envelope(
            VaultWire.SignatureResponse(batchResults: outcome.results), context: context,
            status: outcome.status(partialFailureCode: body.partialFailureResponseCode))
    }

    private func signItem(
        _ name: String, _ item: VaultWire.SignatureItem
    ) async throws(KeyshardError)
        -> VaultWire.SignatureResult
    {
        try Self.refuseDerivation(item.context)
        guard let input = item.input else { throw KeyshardError(.badRequest, "missing input to sign") }
        let message = try Base64Field.bytes(input, field: "input")
        let signature = try await service.sign(name, message: message, version: try Self.version(item.keyVersion))
        return VaultWire.SignatureResult(signature: signature.description, keyVersion: signature.version)
    }

    func verify(_ request: Request, _ context: KeyshardRequestContext) async throws -> Response {
        let name = try Names.key(context)
        let body = try await RequestBodies.decode(
            VaultWire.SignatureRequest.self, from: request, limit: limits.maximumBodySize)
        try Self.checkSigningOptions(body.options, pathAlgorithm: context.parameters.get("hash_algorithm"))
        guard let batch = body.batchInput else {
            let result = try await verifyItem(name, body.single)
            return try APIResponses.envelope(VaultWire.SignatureResponse(single: result), context: context)
        }
        let outcome = try await runBatch(batch) { item throws(KeyshardError) in
            var result = try await verifyItem(name, item)
            result.reference = item.reference
            return result
        } failed: { item, error in
            VaultWire.SignatureResult(reference: item.reference, error: error.message, code: error.code.rawValue)
        }
        return try APIResponses.envelope(
            VaultWire.SignatureResponse(batchResults: outcome.results), context: context,
            status: outcome.status(partialFailureCode: body.partialFailureResponseCode))
    }

    private func verifyItem(
        _ name: String, _ item: VaultWire.SignatureItem
    ) async throws(KeyshardError)
        -> VaultWire.SignatureResult
    {
        try Self.refuseDerivation(item.context)
        if let hmac = item.hmac, !hmac.isEmpty {
            throw KeyshardError(.unsupported, "hmac is not supported: keyshard has no HMAC keys")
        }
        guard let input = item.input else { throw KeyshardError(.badRequest, "missing input to verify") }
        guard let text = item.signature else { throw KeyshardError(.badRequest, "missing signature to verify") }
        let signature = try KeyshardSignature(parsing: text)
        let message = try Base64Field.bytes(input, field: "input")
        let valid = try await service.verify(name, message: message, signature: signature)
        return VaultWire.SignatureResult(valid: valid)
    }

    // MARK: shared checks

    /// `key_version`: absent or 0 means the latest.
    /// - Throws: ``KeyshardError/Code/badRequest`` for a negative version.
    package static func version(_ value: Int?) throws(KeyshardError) -> Int? {
        guard let value, value != 0 else { return nil }
        guard value > 0 else { throw KeyshardError(.badRequest, "key_version must not be negative") }
        return value
    }

    /// Vault's AEAD associated data and convergent nonces have no HPKE counterpart here.
    /// - Throws: ``KeyshardError/Code/unsupported`` when either is not empty.
    package static func refuseVaultOnly(associatedData: String?, nonce: String?) throws(KeyshardError) {
        if let associatedData, !associatedData.isEmpty {
            throw KeyshardError(
                .unsupported, "associated_data is not supported: bind data with context (the HPKE info) instead")
        }
        if let nonce, !nonce.isEmpty {
            throw KeyshardError(.unsupported, "nonce is not supported: keyshard has no convergent encryption")
        }
    }

    /// Signing keys are not derived, so a signing `context` is refused.
    /// - Throws: ``KeyshardError/Code/unsupported`` when `context` is not empty.
    package static func refuseDerivation(_ context: String?) throws(KeyshardError) {
        if let context, !context.isEmpty {
            throw KeyshardError(.unsupported, "context is not supported for signing: keyshard keys are not derived")
        }
    }

    /// FROST(P-256, SHA-256) has exactly one way to sign: options other than Vault's defaults
    /// (or absent) would silently mean something else, so they are refused.
    /// - Parameters:
    ///   - options: the body's signing options.
    ///   - pathAlgorithm: the `:hash_algorithm` path parameter, if any.
    /// - Throws: ``KeyshardError/Code/unsupported`` naming the first option that is not Vault's default.
    package static func checkSigningOptions(
        _ options: VaultWire.SigningOptions, pathAlgorithm: String?
    ) throws(KeyshardError) {
        let checks: [(String, String?, String)] = [
            ("hash_algorithm", pathAlgorithm, "sha2-256"),
            ("hash_algorithm", options.hashAlgorithm, "sha2-256"),
            ("signature_algorithm", options.signatureAlgorithm, "pss"),
            ("marshaling_algorithm", options.marshalingAlgorithm, "asn1"),
            ("salt_length", options.saltLength, "auto"),
        ]
        for (field, value, accepted) in checks {
            guard let value, !value.isEmpty, value != accepted else { continue }
            throw KeyshardError(
                .unsupported,
                "\(field) \"\(value.prefix(40))\" is not supported: keyshard signs with FROST(P-256, SHA-256) "
                    + "(RFC 9591) only; leave \(field) out")
        }
        if options.prehashed == true {
            throw KeyshardError(
                .unsupported, "prehashed is not supported: FROST signs the message itself; send the message")
        }
    }

    // MARK: batches

    /// Results in input order, and what it takes to choose the batch's status.
    struct BatchOutcome<Result> {
        var results: [Result] = []
        var failures: [KeyshardError] = []

        /// Vault's rule: 200 when all succeeded; 400 when a failure is the caller's; otherwise the
        /// first failure's status. A valid `partialFailureCode` replaces a failure status when at
        /// least one item succeeded.
        func status(partialFailureCode: Int?) -> HTTPResponse.Status {
            guard let first = failures.first else { return .ok }
            var status: HTTPResponse.Status =
                failures.contains { $0.code.isCallerError } ? .badRequest : first.code.httpStatus
            if failures.count < results.count, let partialFailureCode, (200...599).contains(partialFailureCode) {
                status = HTTPResponse.Status(code: partialFailureCode)
            }
            return status
        }
    }

    private func runBatch<Item, Result>(
        _ items: [Item], _ body: (Item) async throws(KeyshardError) -> Result,
        failed: (Item, KeyshardError) -> Result
    ) async throws(KeyshardError) -> BatchOutcome<Result> {
        guard !items.isEmpty else { throw KeyshardError(.badRequest, "missing batch input to process") }
        guard items.count <= limits.maximumBatchItems else {
            throw KeyshardError(
                .badRequest, "batch_input has \(items.count) items; at most \(limits.maximumBatchItems) are accepted")
        }
        var outcome = BatchOutcome<Result>()
        for item in items {
            do {
                outcome.results.append(try await body(item))
            } catch {
                outcome.results.append(failed(item, error))
                outcome.failures.append(error)
            }
        }
        return outcome
    }
}
