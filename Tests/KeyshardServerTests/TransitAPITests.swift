import Foundation
import KeyshardAPI
import KeyshardClient
import ServerTestSupport
import ShardCrypto
import Testing

/// The transit endpoints over a real socket: Vault's envelopes and bodies, results checked with
/// ShardCrypto's HPKE and FROST against the public keys the API publishes.
@Suite struct TransitAPITests {
    static func client(_ server: TestServer) -> KeyshardClient { KeyshardClient(socketPath: server.socketPath) }

    /// Runs `body` with a client on a fresh server, shutting the client down afterwards.
    static func withClient<T: Sendable>(
        roles: (any RoleResolver)? = nil, service: RecordingService = RecordingService(),
        _ body: @Sendable (TestServer, KeyshardClient) async throws -> T
    ) async throws -> T {
        try await TestServer.with(roles: roles, service: service) { server in
            try await KeyshardClient.withClient(socketPath: server.socketPath) { client in
                try await body(server, client)
            }
        }
    }

    @Test func readBodyIsVaultsEnvelopeWithAPEMPublicKey() async throws {
        try await Self.withClient { server, client in
            let created = try await client.createKey("payments", threshold: 2, shares: 3)
            #expect(created.name == "payments" && created.type == .hpkeP256 && created.latestVersion == 1)

            let read = try await Curl.request("GET", "/v1/transit/keys/payments", socket: server.socketPath)
            #expect(read.status == 200)
            #expect(read.headers["content-type"] == "application/json")
            let envelope = read.json
            #expect((envelope["request_id"] as? String)?.isEmpty == false)
            #expect(envelope["lease_id"] as? String == "")
            #expect(envelope["renewable"] as? Bool == false)
            #expect(envelope["lease_duration"] as? Int == 0)
            for field in ["wrap_info", "warnings", "auth"] { #expect(envelope[field] is NSNull, "\(field)") }
            let data = try #require(envelope["data"] as? [String: Any])
            #expect(data["type"] as? String == "hpke-p256")
            #expect(data["latest_version"] as? Int == 1)
            #expect(data["supports_encryption"] as? Bool == true)
            #expect(data["supports_signing"] as? Bool == false)
            #expect(data["supports_derivation"] as? Bool == false)
            #expect(data["exportable"] as? Bool == false)
            #expect(data["threshold"] as? Int == 2 && data["shares"] as? Int == 3)
            let version = try #require((data["keys"] as? [String: Any])?["1"] as? [String: Any])
            let pem = try #require(version["public_key"] as? String)
            #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----"))
            let expected = try #require(await server.service.publicKey("payments", version: 1))
            #expect(try Point(publicKeyText: pem) == expected)
        }
    }

    @Test func ciphertextsSealedToThePublishedKeyDecrypt() async throws {
        try await Self.withClient { server, client in
            let key = try await client.createKey("db")
            let publicKey = try Point(sec1: key.versions[0].publicKey)
            let message = Array("the database password".utf8)
            // Sealed here, by ShardCrypto's HPKE, not by the service: decrypt must take any RFC 9180 ciphertext.
            let sealed = try ThresholdHPKE.seal(plaintext: message, to: publicKey, info: Array("db/prod".utf8))
            let ciphertext = KeyshardCiphertext(version: 1, bytes: sealed)
            let opened = try await client.decrypt("db", ciphertext: ciphertext, context: Array("db/prod".utf8))
            opened.withUnsafeBytes { #expect(Array($0) == message) }
            // Another context is another HPKE info: refused.
            await #expect(throws: KeyshardError.self) {
                _ = try await client.decrypt("db", ciphertext: ciphertext, context: Array("db/test".utf8))
            }

            let viaAPI = try await client.encrypt("db", plaintext: SecretBytes(message), context: [7])
            #expect(viaAPI.version == 1)
            let roundTrip = try await client.decrypt("db", ciphertext: viaAPI, context: [7])
            roundTrip.withUnsafeBytes { #expect(Array($0) == message) }
        }
    }

    @Test func vaultShapedEncryptAndDecryptBodies() async throws {
        try await TestServer.with { server in
            _ = try await Curl.request("POST", "/v1/transit/keys/app", socket: server.socketPath, body: "{}")
            let plaintext = Data("hello vault".utf8).base64EncodedString()
            let encrypted = try await Curl.request(
                "POST", "/v1/transit/encrypt/app", socket: server.socketPath,
                body: #"{"plaintext":"\#(plaintext)","context":"YWJj"}"#, headers: ["X-Vault-Token: ignored"])
            #expect(encrypted.status == 200, "\(encrypted.body)")
            let data = try #require(encrypted.json["data"] as? [String: Any])
            let ciphertext = try #require(data["ciphertext"] as? String)
            #expect(ciphertext.hasPrefix("keyshard:v1:"))
            #expect(data["key_version"] as? Int == 1)

            let decrypted = try await Curl.request(
                "POST", "/v1/transit/decrypt/app", socket: server.socketPath,
                body: #"{"ciphertext":"\#(ciphertext)","context":"YWJj"}"#)
            #expect((decrypted.json["data"] as? [String: Any])?["plaintext"] as? String == plaintext)

            // PUT is POST, as `vault write` sends it.
            let put = try await Curl.request(
                "PUT", "/v1/transit/encrypt/app", socket: server.socketPath, body: #"{"plaintext":"\#(plaintext)"}"#)
            #expect(put.status == 200)
        }
    }

    @Test func batchResultsKeepOrderAndAFailedItemDoesNotFailTheOthers() async throws {
        try await TestServer.with { server in
            _ = try await Curl.request("POST", "/v1/transit/keys/batch", socket: server.socketPath)
            let items = [
                #"{"plaintext":"b25l","reference":"first"}"#,
                #"{"plaintext":"not base64!","reference":"second"}"#,
                #"{"plaintext":"dGhyZWU=","reference":"third"}"#,
            ]
            let mixed = try await Curl.request(
                "POST", "/v1/transit/encrypt/batch", socket: server.socketPath,
                body: #"{"batch_input":[\#(items.joined(separator: ","))]}"#)
            // Vault: 400 when an item failed by the caller's fault, every result still returned.
            #expect(mixed.status == 400)
            let results = try #require((mixed.json["data"] as? [String: Any])?["batch_results"] as? [[String: Any]])
            #expect(results.map { $0["reference"] as? String } == ["first", "second", "third"])
            #expect(results[0]["ciphertext"] is String && results[2]["ciphertext"] is String)
            #expect(results[1]["ciphertext"] == nil)
            #expect((results[1]["error"] as? String)?.contains("plaintext is not standard padded base64") == true)
            #expect(results[1]["code"] as? String == "bad-request")

            let partial = try await Curl.request(
                "POST", "/v1/transit/encrypt/batch", socket: server.socketPath,
                body: #"{"batch_input":[\#(items.joined(separator: ","))],"partial_failure_response_code":200}"#)
            #expect(partial.status == 200)

            let good = results.compactMap { $0["ciphertext"] as? String }
            let decrypt = try await Curl.request(
                "POST", "/v1/transit/decrypt/batch", socket: server.socketPath,
                body: #"{"batch_input":[{"ciphertext":"\#(good[0])"},{"ciphertext":"\#(good[1])"}]}"#)
            #expect(decrypt.status == 200)
            let plaintexts = (decrypt.json["data"] as? [String: Any])?["batch_results"] as? [[String: Any]]
            #expect(plaintexts?.map { $0["plaintext"] as? String } == ["b25l", "dGhyZWU="])

            let empty = try await Curl.request(
                "POST", "/v1/transit/encrypt/batch", socket: server.socketPath, body: #"{"batch_input":[]}"#)
            #expect(empty.status == 400)
        }
    }

    @Test func signaturesVerifyUnderThePublishedKeyAndVaultOnlyOptionsAreRefused() async throws {
        try await Self.withClient { server, client in
            let key = try await client.createKey("release", type: .frostP256)
            let message = Array("release 1.0".utf8)
            let signature = try await client.sign("release", message: message)
            #expect(signature.version == 1 && signature.bytes.count == 65)
            let decoded = try FROST.Signature(serialized: signature.bytes)
            #expect(
                FROST.verify(
                    signature: decoded, message: message, publicKey: try Point(sec1: key.versions[0].publicKey)))
            #expect(try await client.verify("release", message: message, signature: signature))
            #expect(try await client.verify("release", message: message + [0], signature: signature) == false)

            let input = Data(message).base64EncodedString()
            for options in [
                #""hash_algorithm":"sha2-512""#, #""prehashed":true"#, #""marshaling_algorithm":"jws""#,
                #""signature_algorithm":"pkcs1v15""#,
            ] {
                let refused = try await Curl.request(
                    "POST", "/v1/transit/sign/release", socket: server.socketPath,
                    body: #"{"input":"\#(input)",\#(options)}"#)
                #expect(refused.status == 400, "\(options)")
                #expect(refused.json["code"] as? String == "unsupported", "\(options)")
                #expect((refused.json["errors"] as? [String])?.first?.contains("not supported") == true, "\(options)")
            }
            // Vault's defaults, spelled out, are accepted (older hvac sends them).
            let defaults = try await Curl.request(
                "POST", "/v1/transit/sign/release/sha2-256", socket: server.socketPath,
                body: #"{"input":"\#(input)","hash_algorithm":"sha2-256","#
                    + #""marshaling_algorithm":"asn1","prehashed":false}"#)
            #expect(defaults.status == 200, "\(defaults.body)")

            let batch = try await Curl.request(
                "POST", "/v1/transit/verify/release", socket: server.socketPath,
                body: #"{"batch_input":[{"input":"\#(input)","signature":"\#(signature)"},"#
                    + #"{"input":"eA==","signature":"\#(signature)"},{"input":"eA==","signature":"garbage"}]}"#)
            let results = (batch.json["data"] as? [String: Any])?["batch_results"] as? [[String: Any]]
            #expect(results?[0]["valid"] as? Bool == true)
            #expect(results?[1]["valid"] as? Bool == false)
            #expect(results?[2]["error"] is String)
            #expect(batch.status == 400)
        }
    }

    @Test func rotateRewrapDatakeyConfigTrimAndDelete() async throws {
        try await Self.withClient { server, client in
            _ = try await client.createKey("cycle")
            let old = try await client.encrypt("cycle", plaintext: SecretBytes([1, 2, 3]))
            let rotated = try await client.rotateKey("cycle")
            #expect(rotated.latestVersion == 2 && rotated.versions.map(\.version) == [1, 2])
            let rewrapped = try await client.rewrap("cycle", ciphertext: old)
            #expect(rewrapped.version == 2)
            try await client.decrypt("cycle", ciphertext: rewrapped).withUnsafeBytes {
                #expect(Array($0) == [1, 2, 3])
            }

            let (plaintext, ciphertext) = try await client.dataKey("cycle", bits: 512)
            #expect(plaintext.count == 64)
            #expect(try await client.decrypt("cycle", ciphertext: ciphertext).constantTimeEquals(plaintext))
            let wrapped = try await Curl.request("POST", "/v1/transit/datakey/wrapped/cycle", socket: server.socketPath)
            let wrappedData = try #require(wrapped.json["data"] as? [String: Any])
            #expect(wrappedData["plaintext"] == nil && wrappedData["ciphertext"] is String)
            let badBits = try await Curl.request(
                "POST", "/v1/transit/datakey/plaintext/cycle", socket: server.socketPath, body: #"{"bits":100}"#)
            #expect(badBits.status == 400)

            let configured = try await client.configureKey("cycle", KeyConfigChange(minDecryptionVersion: 2))
            #expect(configured.minDecryptionVersion == 2)
            let trimmed = try await client.trimKey("cycle", minimumVersion: 2)
            #expect(trimmed.versions.map(\.version) == [2] && trimmed.minAvailableVersion == 2)

            await expectRefusal(.unsupported) { try await client.deleteKey("cycle") }
            // `vault write` sends booleans as strings.
            let allow = try await Curl.request(
                "POST", "/v1/transit/keys/cycle/config", socket: server.socketPath,
                body: #"{"deletion_allowed":"true"}"#)
            #expect(allow.status == 200)
            let deleted = try await Curl.request("DELETE", "/v1/transit/keys/cycle", socket: server.socketPath)
            #expect(deleted.status == 204 && deleted.body.isEmpty)
            #expect(try await client.keyNames().isEmpty)
        }
    }

    @Test func listAnswersTheListVerbAndGetWithListTrue() async throws {
        try await Self.withClient { server, client in
            _ = try await client.createKey("b")
            _ = try await client.createKey("a")
            #expect(try await client.keyNames() == ["a", "b"])
            // Twice on one connection: the LIST rewrite applies to every request, not only the first.
            #expect(try await client.keyNames() == ["a", "b"])
            for (method, path) in [("LIST", "/v1/transit/keys"), ("GET", "/v1/transit/keys?list=true")] {
                let listed = try await Curl.request(method, path, socket: server.socketPath)
                #expect(listed.status == 200, "\(method)")
                #expect((listed.json["data"] as? [String: Any])?["keys"] as? [String] == ["a", "b"], "\(method)")
            }
            let listKey = try await Curl.request("LIST", "/v1/transit/keys/a", socket: server.socketPath)
            #expect(listKey.status == 405)
            #expect((listKey.json["errors"] as? [String])?.first?.hasPrefix("LIST is not allowed") == true)
            let listEncrypt = try await Curl.request("LIST", "/v1/transit/encrypt/a", socket: server.socketPath)
            #expect(listEncrypt.status == 405)
            let post = try await Curl.request("POST", "/v1/transit/keys", socket: server.socketPath)
            #expect(post.status == 405 && post.headers["allow"] == "GET, LIST")
            let records = await server.audit.records.filter {
                $0.fields["operation"] == "key.list" && $0.event == "api.call"
            }
            #expect(records.map { $0.fields["method"] } == ["LIST", "LIST", "LIST", "GET"])
        }
    }

    @Test func refusalsUseVaultsErrorBodyWithKeyshardsCode() async throws {
        try await Self.withClient { server, client in
            let missing = try await Curl.request("GET", "/v1/transit/keys/absent", socket: server.socketPath)
            #expect(missing.status == 404)
            #expect(missing.json["code"] as? String == "not-found")
            #expect((missing.json["errors"] as? [String])?.first?.contains("absent") == true)
            await expectRefusal(.notFound) { _ = try await client.key("absent") }

            _ = try await client.createKey("twice")
            let again = try await Curl.request("POST", "/v1/transit/keys/twice", socket: server.socketPath)
            #expect(again.status == 400 && again.json["code"] as? String == "exists")

            let wrongType = try await Curl.request(
                "POST", "/v1/transit/keys/odd", socket: server.socketPath, body: #"{"type":"aes256-gcm96"}"#)
            #expect(wrongType.status == 400 && wrongType.json["code"] as? String == "unsupported")

            let badName = try await Curl.request("GET", "/v1/transit/keys/..hidden", socket: server.socketPath)
            #expect(badName.status == 400)

            let unknown = try await Curl.request("GET", "/v1/transit/nothing-here", socket: server.socketPath)
            #expect(unknown.status == 404 && unknown.json["code"] as? String == "not-found")

            let wrongMethod = try await Curl.request("DELETE", "/v1/transit/encrypt/twice", socket: server.socketPath)
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["allow"] == "POST, PUT")
            #expect(wrongMethod.json["errors"] is [String])
        }
    }

    /// schemathesis found TRACE (and OPTIONS) on known paths answered 404 "no such path": a
    /// resource that exists answers 405 with its methods for any method it lacks (RFC 9110 15.5.6).
    @Test func traceAndOptionsOnAKnownPathAre405WithAllow() async throws {
        try await Self.withClient { server, _ in
            let cases: [(String, String, String)] = [
                ("TRACE", "/v1/sys/health", "GET"), ("OPTIONS", "/v1/sys/health", "GET"),
                ("TRACE", "/v1/transit/encrypt/k", "POST, PUT"), ("OPTIONS", "/v1/transit/keys/k", "GET, DELETE, POST, PUT"),
                ("TRACE", "/v1/transit/keys", "GET, LIST"),
            ]
            for (method, path, allow) in cases {
                let answer = try await Curl.request(method, path, socket: server.socketPath)
                #expect(answer.status == 405, "\(method) \(path): \(answer.status) \(answer.body)")
                #expect(answer.headers["allow"] == allow, "\(method) \(path): \(answer.headers["allow"] ?? "no Allow")")
                #expect(answer.json["code"] as? String == "bad-request", "\(method) \(path)")
            }
        }
    }

    @Test func malformedJSONSaysWhere() async throws {
        try await TestServer.with { server in
            _ = try await Curl.request("POST", "/v1/transit/keys/k", socket: server.socketPath)
            let broken = try await Curl.request(
                "POST", "/v1/transit/encrypt/k", socket: server.socketPath,
                body: "{\n  \"plaintext\": \"aGk=\",\n  oops\n}")
            #expect(broken.status == 400)
            let message = (broken.json["errors"] as? [String])?.first ?? ""
            #expect(message.contains("not valid JSON"), "\(message)")
            #expect(message.contains("line 3"), "\(message)")

            let wrongType = try await Curl.request(
                "POST", "/v1/transit/encrypt/k", socket: server.socketPath, body: #"{"batch_input":[{"plaintext":5}]}"#)
            #expect(wrongType.status == 400)
            #expect((wrongType.json["errors"] as? [String])?.first == "batch_input[0].plaintext: expected a string")

            let unpadded = try await Curl.request(
                "POST", "/v1/transit/encrypt/k", socket: server.socketPath, body: #"{"plaintext":"aGk"}"#)
            #expect(unpadded.status == 400)
            #expect(await server.service.calls.filter { $0 == "encrypt" }.isEmpty)
        }
    }

    @Test func oversizedBodiesAndHeadsAreRefused() async throws {
        try await TestServer.with(configure: {
            $0.maximumBodySize = 1024; $0.maximumHeaderSize = 2048
        }) { server in
            _ = try await Curl.request("POST", "/v1/transit/keys/k", socket: server.socketPath)
            let big = Data(repeating: 0x41, count: 4096).base64EncodedString()
            let tooLarge = try await Curl.request(
                "POST", "/v1/transit/encrypt/k", socket: server.socketPath, body: #"{"plaintext":"\#(big)"}"#)
            #expect(tooLarge.status == 413)
            #expect(tooLarge.json["code"] as? String == "bad-request")

            let header = "X-Padding: " + String(repeating: "p", count: 4096)
            let tooLong = try await Curl.request(
                "GET", "/v1/transit/keys/k", socket: server.socketPath, headers: [header])
            #expect(tooLong.status == 431)
            #expect(await server.service.calls.filter { $0 == "encrypt" }.isEmpty)
        }
    }

    @Test func healthIsOpenToEveryoneAnd503BelowThreshold() async throws {
        // A resolver that gives nobody a role: health still answers.
        try await TestServer.with(roles: TableRoleResolver()) { server in
            let serving = try await Curl.request("GET", "/v1/sys/health", socket: server.socketPath)
            #expect(serving.status == 200)
            #expect(serving.json["initialized"] as? Bool == true && serving.json["sealed"] as? Bool == false)
            #expect(serving.json["serving"] as? Bool == true)
            #expect((serving.json["rings"] as? [[String: Any]])?.first?["name"] as? String == "default")

            await server.service.setBelowThreshold("default")
            let below = try await Curl.request("GET", "/v1/sys/health", socket: server.socketPath)
            #expect(below.status == 503)
            #expect(below.json["sealed"] as? Bool == true && below.json["serving"] as? Bool == false)
            let health = try await KeyshardClient.withClient(socketPath: server.socketPath) { try await $0.health() }
            #expect(health.serving == false && health.rings.first?.state == "below-threshold")

            let metrics = try await Curl.request("GET", "/metrics", socket: server.socketPath)
            #expect(metrics.status == 403)
        }
    }

    @Test func belowThresholdAndBusyMapToTheirStatuses() async throws {
        let service = RecordingService()
        try await Self.withClient(service: service) { server, client in
            _ = try await client.createKey("k")
            await service.setBusy("default")
            let busy = try await Curl.request("POST", "/v1/keyshard/rings/default/rotate", socket: server.socketPath)
            #expect(busy.status == 409)
            #expect(busy.headers["retry-after"] == "5")
            #expect(busy.json["code"] as? String == "busy")
            await expectRefusal(.busy) { _ = try await client.rotateRing("default") }

            await service.setBelowThreshold("default")
            let below = try await Curl.request(
                "POST", "/v1/transit/encrypt/k", socket: server.socketPath, body: #"{"plaintext":"aGk="}"#)
            #expect(below.status == 503 && below.json["code"] as? String == "below-threshold")
        }
    }

    @Test func keyshardEndpoints() async throws {
        try await Self.withClient { server, client in
            let custodians = try await client.custodians(ring: "default")
            #expect(custodians.map(\.index) == [1, 2, 3])
            #expect(custodians[2].lastAttested == nil)
            let rawCustodians = try await Curl.request("GET", "/v1/keyshard/custodians", socket: server.socketPath)
            let first = ((rawCustodians.json["data"] as? [String: Any])?["custodians"] as? [[String: Any]])?.first
            #expect(first?["backend_id"] as? String == "process-1")
            await expectRefusal(.notFound) { _ = try await client.custodians(ring: "other") }

            #expect(try await client.rings().map(\.name) == ["default"])
            #expect(try await client.rotateRing("default").epoch == 2)
            let reload = try await client.reloadPolicy()
            #expect(reload.accepted == 2 && reload.replaced["default/3"]?.contains("PCR 9") == true)
        }
    }

    @Test func metricsCountByOperationAndStatusWithoutKeyNames() async throws {
        try await Self.withClient { server, client in
            _ = try await client.createKey("secret-project-name")
            _ = try await client.encrypt("secret-project-name", plaintext: SecretBytes([1]))
            _ = try? await client.key("absent-key-name")
            let metrics = try await Curl.request("GET", "/metrics", socket: server.socketPath)
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
            #expect(metrics.body.contains(#"keyshard_api_requests_total{operation="encrypt",status="200"} 1"#))
            #expect(metrics.body.contains(#"keyshard_api_requests_total{operation="key.read",status="404"} 1"#))
            #expect(metrics.body.contains("keyshard_api_request_duration_seconds_bucket"))
            #expect(!metrics.body.contains("secret-project-name") && !metrics.body.contains("absent-key-name"))
        }
    }

    @Test func anUnreachableSocketFailsAtOnceWithTheSocketNamed() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("absent-\(UUID()).sock").path
        let started = ContinuousClock.now
        do {
            _ = try await KeyshardClient.withClient(socketPath: path) { try await $0.keyNames() }
            Issue.record("no error")
        } catch let error as KeyshardClientError {
            #expect(error.code == .unreachable)
            #expect(error.message.contains("cannot reach keyshardd at \(path)"))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}

/// Expects `body` to throw a `KeyshardError` with `code` (any message).
func expectRefusal(
    _ code: KeyshardError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected a \(code.rawValue) refusal, got success", sourceLocation: sourceLocation)
    } catch let error as KeyshardError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a \(code.rawValue) refusal, got \(error)", sourceLocation: sourceLocation)
    }
}
