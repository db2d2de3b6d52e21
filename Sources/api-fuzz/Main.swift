import Foundation
import FuzzDriver
import KeyshardAPI
import ShardCrypto

/// libFuzzer's entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func apiFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    APIFuzzTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// See ``FuzzDriver``: seeds, libFuzzer, or a replay of the files named (scripts/fuzz).
@main
struct APIFuzz {
    static func main() {
        FuzzDriver.main(name: "api-fuzz", entry: apiFuzzOneInput, seeds: seeds)
    }

    /// Valid inputs for every selector, so the fuzzer starts from real ciphertexts, bodies and
    /// requests (a ciphertext sealed to the target's fixed key decrypts all the way through).
    static func seeds() throws -> [(String, [UInt8])] {
        // Empty info, as the target combines with: this one decrypts all the way.
        let sealed = try ThresholdHPKE.seal(
            plaintext: Array("four score and seven".utf8), to: APIFuzzTarget.publicKey, info: [])
        let ciphertext = KeyshardCiphertext(version: 1, bytes: sealed).description
        let signatureBytes = try FROST.Signature(r: .generatorMultiple(Scalar(7)), z: Scalar(9)).serialized()
        let signature = KeyshardSignature(version: 2, bytes: signatureBytes).description
        let scalarHex = Scalar(5).serialized().hexString

        var seeds: [(String, [UInt8])] = [
            ("ciphertext", [0] + Array((ciphertext + "\n").utf8)),
            ("signature", [1] + Array(signature.utf8)),
            ("encapsulation", [10] + sealed),
            ("point-compressed", [11] + (try APIFuzzTarget.publicKey.compressed())),
            ("point-uncompressed", [11] + (try APIFuzzTarget.publicKey.uncompressed())),
            ("signature-bytes", [11] + signatureBytes),
        ]
        let bodies: [(APIFuzzTarget.BodyKind, String)] = [
            (.encrypt, #"{"plaintext":"aGVsbG8=","context":"Y3R4","key_version":"1"}"#),
            (
                .encrypt,
                #"{"batch_input":[{"plaintext":"aGk=","reference":"a"},{"plaintext":"","key_version":2}],"#
                    + #""partial_failure_response_code":207}"#
            ),
            (.ciphertext, #"{"ciphertext":"\#(ciphertext)","context":"Y3R4"}"#),
            (.ciphertext, #"{"batch_input":[{"ciphertext":"\#(ciphertext)","reference":"r1","key_version":0}]}"#),
            (.dataKey, #"{"bits":"256","context":"Y3R4"}"#),
            (
                .signature,
                #"{"input":"aGVsbG8=","signature":"\#(signature)","hash_algorithm":"sha2-256","#
                    + #""prehashed":"false","salt_length":"auto"}"#
            ),
            (
                .signature,
                #"{"batch_input":[{"input":"aGk=","key_version":"1"}],"marshaling_algorithm":"asn1","salt_length":32}"#
            ),
            (.createKey, #"{"type":"frost-p256","threshold":"2","shares":3,"ring":"main","exportable":false}"#),
            (.importKey, #"{"type":"hpke-p256","key":"\#(scalarHex)","threshold":2,"shares":"3"}"#),
            (.importKey, #"{"key":" \#(VaultWire.base64(Scalar(5).serialized()))\n"}"#),
            (.keyConfig, #"{"min_decryption_version":"1","min_encryption_version":0,"deletion_allowed":"true"}"#),
            (.trim, #"{"min_available_version":2}"#),
            (.encrypt, "{\"plaintext\": \"aGk=\",\n  \"context\": [1, 2}"),
            (.trim, " \n"),
        ]
        for (index, (kind, body)) in bodies.enumerated() {
            seeds.append(("body-\(index)", [kind.rawValue] + Array(body.utf8)))
        }

        func request(_ head: String, body: String = "") -> String {
            head.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n" + body
        }
        func post(_ path: String, _ body: String, method: String = "POST") -> String {
            request(
                "\(method) \(path) HTTP/1.1\nHost: localhost\nContent-Type: application/json\n"
                    + "Content-Length: \(body.utf8.count)\n",
                body: body)
        }
        let chunkedBody = #"{"ciphertext":"\#(ciphertext)"}"#
        let connections: [String] = [
            post("/v1/transit/encrypt/payments", #"{"plaintext":"aGVsbG8=","context":"Y3R4"}"#),
            request("LIST /v1/transit/keys HTTP/1.1\nHost: localhost\nX-Vault-Request: true\n")
                + request("GET /v1/transit/keys?list=true HTTP/1.1\nHost: localhost\n")
                + request("LIST /v1/transit/keys/ HTTP/1.1\nHost: localhost\n"),
            request("PUT /v1/transit/decrypt/payments HTTP/1.1\nHost: localhost\nTransfer-Encoding: chunked\n")
                + String(chunkedBody.utf8.count, radix: 16) + "\r\n" + chunkedBody + "\r\n0\r\n\r\n",
            post("/v1/transit/sign/signing/sha2-256", #"{"input":"aGk="}"#)
                + post("/v1/transit/verify/signing", #"{"input":"aGk=","signature":"\#(signature)"}"#, method: "PUT"),
            post("/v1/transit/datakey/plaintext/payments", #"{"bits":512}"#)
                + post("/v1/transit/keys/imported/import", #"{"key":"\#(scalarHex)"}"#),
            post("/v1/transit/keys/new-key", #"{"type":"hpke-p256"}"#)
                + post("/v1/transit/keys/new-key/config", #"{"min_decryption_version":1}"#)
                + post("/v1/transit/keys/new-key/trim", #"{"min_available_version":1}"#),
            request("GET /v1/sys/health HTTP/1.1\nHost: localhost\nConnection: close\n"),
            request("GET /v1/transit/keys/payments HTTP/1.0\n"),
            request(
                "POST /v1/transit/encrypt/payments HTTP/1.1\nHost: localhost\nExpect: 100-continue\n"
                    + "Content-Length: 24\n",
                body: #"{"plaintext":"aGVsbG8="}"#),
            request("GET /v1/sys/health HTTP/1.1\nHost: localhost\nX-Pad: \(String(repeating: "a", count: 17000))\n"),
            "LIST /v1/transit/keys HTTP/1.1\r\nHost: localho",
        ]
        // Whole (selector 12), in 8-byte chunks (0x7C) and byte by byte for the shorter ones (0x1C).
        for (index, connection) in connections.enumerated() {
            seeds.append(("http-\(index)", [12] + Array(connection.utf8)))
            seeds.append(("http-\(index)-chunks", [0x7C] + Array(connection.utf8)))
            if connection.utf8.count < 1024 { seeds.append(("http-\(index)-bytes", [0x1C] + Array(connection.utf8))) }
        }
        // A head just under the limit whose value is obs-text (bytes NIO decodes as U+FFFD): the
        // fuzzer once flagged it as over the limit because it counted the decoded UTF-8.
        let obsText = Array("GET /v1/sys/health HTTP/1.1\r\nHost: localhost\r\nX-Pad: ".utf8)
            + [UInt8](repeating: 0xFF, count: 300) + [UInt8](repeating: 0x61, count: 15900) + Array("\r\n\r\n".utf8)
        seeds.append(("http-obs-text", [12] + obsText))
        return seeds
    }
}
