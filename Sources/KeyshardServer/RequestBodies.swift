import Foundation
import Hummingbird
import KeyshardAPI
import NIOCore
import ShardCrypto

/// Reading request bodies: size-limited, strict JSON with errors that say where, strict base64.
///
/// `package` so that api-fuzz decodes bodies exactly as the handlers do.
package enum RequestBodies {
    /// Decodes the JSON body as `T`; an empty body reads as `{}` (Vault's POSTs without a body).
    /// - Throws: ``HTTPRefusal`` 413 over `limit`; ``KeyshardError/Code/badRequest`` naming the
    ///   position of a syntax error or the field of a type error.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge(limit)
        }
        return try decodeJSON(T.self, from: Data(buffer.readableBytesView))
    }

    /// Decodes a body already read (and within the size limit) as `T`, with the decoder settings
    /// and error sentences of ``decode(_:from:limit:)`` (the fuzz target's way in).
    /// - Parameters:
    ///   - type: the body's type (one of ``VaultWire``'s requests).
    ///   - body: the body's bytes; empty or white space reads as `{}`.
    /// - Throws: ``KeyshardError/Code/badRequest`` naming the position of a syntax error or the
    ///   field of a type error.
    package static func decode<T: Decodable>(_ type: T.Type, fromBody body: Data) throws -> T {
        try decodeJSON(T.self, from: body)
    }

    /// ``decode(_:from:limit:)`` for a body that carries key material (`key import`), leaving no
    /// unwiped copy of it behind: the received fragments (slices of the connection's read buffers)
    /// are copied once into ``SecretBytes`` and overwritten where they are, and the JSON is decoded
    /// from that wiped copy without another. Strings in the decoded value are the caller's to wipe
    /// (``SecretText/wipe(_:)``). A body that is not valid JSON may leave copies that
    /// JSONSerialization made while looking for the error's position.
    static func decodeSecret<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        var fragments: [ByteBuffer] = []
        defer { for fragment in fragments { overwrite(fragment) } }
        var total = 0
        for try await fragment in request.body {
            fragments.append(fragment)
            total += fragment.readableBytes
            guard total <= limit else { throw tooLarge(limit) }
        }
        let body = SecretBytes(count: total) { buffer in
            var offset = 0
            for fragment in fragments {
                fragment.withUnsafeReadableBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + bytes.count)]).copyMemory(from: bytes)
                    offset += bytes.count
                }
            }
        }
        return try body.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return try decodeJSON(T.self, from: Data()) }
            return try decodeJSON(
                T.self, from: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none))
        }
    }

    /// Overwrites a received fragment where it is. It shares its storage with the connection's read
    /// buffer, so it is written through that storage: a copy-on-write wipe would clean a copy and
    /// leave the original.
    private static func overwrite(_ fragment: ByteBuffer) {
        fragment.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            memset(UnsafeMutableRawPointer(mutating: base), 0, bytes.count)
        }
    }

    /// JSON of `bytes` as `T`; white space only reads as `{}`.
    private static func decodeJSON<T: Decodable>(_ type: T.Type, from bytes: Data) throws -> T {
        let document = bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) ? Data("{}".utf8) : bytes
        do {
            return try JSONDecoder().decode(T.self, from: document)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
                throw KeyshardError(.badRequest, "the body is not valid JSON: " + syntaxError(in: document))
            }
            throw KeyshardError(.badRequest, describe(error))
        }
    }

    /// Where the JSON is broken. JSONDecoder does not say; JSONSerialization names the byte
    /// offset ("around character 16"), which becomes a line and column.
    static func syntaxError(in bytes: Data) -> String {
        do {
            _ = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
            return "the document is not a JSON object"
        } catch {
            let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            guard let range = detail.range(of: "character "),
                let offset = Int(detail[range.upperBound...].prefix(while: \.isNumber)), offset <= bytes.count
            else { return detail }
            let before = bytes.prefix(offset)
            let line = before.count(where: { $0 == 0x0A }) + 1
            let column = offset - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
            let reason = detail[..<range.lowerBound].replacingOccurrences(of: " around ", with: "")
            return "\(reason.isEmpty ? "unexpected input" : reason.lowercased()) at line \(line), column \(column)"
        }
    }

    private static func tooLarge(_ limit: Int) -> HTTPRefusal {
        // The rest of the body is never read, so the connection cannot carry another request:
        // close it with the answer instead of at the read deadline.
        HTTPRefusal(
            status: .contentTooLarge,
            error: KeyshardError(.badRequest, "the request body is larger than \(limit) bytes"),
            headers: [.connection: "close"])
    }

    /// A sentence for a decoding error: where in the document, and what was expected. Values are
    /// never quoted (they may be secrets).
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(name(of: type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(name(of: type)), found null"
        @unknown default:
            return "the body does not decode"
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "the body" }
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}

/// Decoding the base64 fields of a request (`package` for api-fuzz).
package enum Base64Field {
    /// Bytes of a base64 field; absent or empty reads as no bytes.
    /// - Throws: ``KeyshardError/Code/badRequest`` naming `field` when it is not strict base64.
    package static func bytes(_ text: String?, field: String) throws(KeyshardError) -> [UInt8] {
        guard let text, !text.isEmpty else { return [] }
        return try VaultWire.decodeBase64(text, field: field)
    }

    /// A secret base64 field (a plaintext) straight into ``SecretBytes``; the decoded scratch
    /// copy is overwritten before it is released.
    /// - Throws: ``KeyshardError/Code/badRequest`` naming `field` when it is not strict base64.
    package static func secret(_ text: String, field: String) throws(KeyshardError) -> SecretBytes {
        var bytes = try VaultWire.decodeBase64(text, field: field)
        defer { wipe(&bytes) }
        return SecretBytes(bytes)
    }

    /// Overwrites a scratch copy of secret bytes.
    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            memset(base, 0, buffer.count)
        }
    }
}

/// Key material that arrived as text.
enum SecretText {
    /// Overwrites a decoded string's UTF-8 bytes with '0' where they are stored, so the freed
    /// storage holds no key: Swift has no wiped string, and JSONDecoder can only produce `String`.
    /// Every copy of the string shares that storage, so all of them read as zeros afterwards.
    /// Only for strings decoded at run time (heap or inline storage), never for literals, whose
    /// bytes are read-only.
    static func wipe(_ text: inout String) {
        text.withUTF8 { utf8 in
            guard let base = utf8.baseAddress else { return }
            memset(UnsafeMutableRawPointer(mutating: base), 0x30, utf8.count)
        }
    }

    /// Overwrites a `Data` scratch copy in place.
    static func wipe(_ data: inout Data) {
        data.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            memset(base, 0, buffer.count)
        }
    }
}

extension SecretBytes {
    /// Standard base64 of the secret, for the one place it leaves: the response body.
    var base64: String { withUnsafeBytes { Data($0).base64EncodedString() } }
}
