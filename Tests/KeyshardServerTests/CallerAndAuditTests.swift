import Foundation
import KeyshardAPI
import KeyshardClient
import ServerTestSupport
import ShardCrypto
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A resolver that remembers who asked about what, and answers with a fixed role.
final class CapturingResolver: RoleResolver {
    let answer: Role?
    private let seen = Mutex<[(Caller, String?)]>([])

    init(answer: Role?) { self.answer = answer }

    var questions: [(Caller, String?)] { seen.withLock { $0 } }

    func role(of caller: Caller, forKey key: String?) -> Role? {
        seen.withLock { $0.append((caller, key)) }
        return answer
    }
}

@Suite struct CallerIdentityTests {
    @Test func theKernelsPeerCredentialsReachTheResolver() async throws {
        let resolver = CapturingResolver(answer: .client)
        try await TestServer.with(roles: resolver) { server in
            try await KeyshardClient.withClient(socketPath: server.socketPath) { client in
                _ = try await client.keyNames()
            }
            let (caller, key) = try #require(resolver.questions.last)
            #expect(caller.uid == getuid())
            #expect(caller.gid == getgid())
            // KeyshardClient runs in this process: SO_PEERCRED names it.
            #expect(caller.pid == getpid())
            #expect(caller.certificateSubject == nil)
            #expect(key == nil)

            _ = try await Curl.request("GET", "/v1/transit/keys/some-key", socket: server.socketPath)
            let (curlCaller, curlKey) = try #require(resolver.questions.last)
            #expect(curlCaller.uid == getuid())
            #expect(curlCaller.pid != getpid())
            #expect(curlKey == "some-key")
        }
    }

    @Test func aCallerWithoutARoleIsRefusedWithItsUIDAndTheNeededRole() async throws {
        try await TestServer.with(roles: TableRoleResolver()) { server in
            let refused = try await Curl.request(
                "POST", "/v1/transit/encrypt/payments", socket: server.socketPath, body: #"{"plaintext":"aGk="}"#)
            #expect(refused.status == 403)
            #expect(refused.json["code"] as? String == "forbidden")
            let message = (refused.json["errors"] as? [String])?.first ?? ""
            #expect(message.contains("uid \(getuid())"), "\(message)")
            #expect(message.contains("key \"payments\""), "\(message)")
            #expect(message.contains("needs role client"), "\(message)")
            #expect(await server.service.calls.isEmpty)
        }
    }

    @Test func aRoleBelowTheOperationsIsRefused() async throws {
        try await TestServer.with(roles: TableRoleResolver(uids: [getuid(): .client])) { server in
            let create = try await Curl.request("POST", "/v1/transit/keys/new", socket: server.socketPath)
            #expect(create.status == 403)
            #expect((create.json["errors"] as? [String])?.first?.contains("has role client") == true)
            #expect((create.json["errors"] as? [String])?.first?.contains("key.create needs role operator") == true)
            let custodians = try await Curl.request("GET", "/v1/keyshard/custodians", socket: server.socketPath)
            #expect(custodians.status == 403)
            // What a client may do, it may.
            let list = try await Curl.request("LIST", "/v1/transit/keys", socket: server.socketPath)
            #expect(list.status == 200)
            #expect(await server.service.calls == ["keyNames"])
        }
    }

    @Test func operatorsCannotImportTrimOrDelete() async throws {
        try await TestServer.with(roles: TableRoleResolver(uids: [getuid(): .operator])) { server in
            let created = try await Curl.request("POST", "/v1/transit/keys/k", socket: server.socketPath)
            #expect(created.status == 200)
            for (method, path, body) in [
                ("POST", "/v1/transit/keys/k2/import", #"{"key":"\#(String(repeating: "01", count: 32))"}"#),
                ("POST", "/v1/transit/keys/k/trim", #"{"min_available_version":1}"#),
                ("DELETE", "/v1/transit/keys/k", nil),
            ] {
                let refused = try await Curl.request(method, path, socket: server.socketPath, body: body)
                #expect(refused.status == 403, "\(path)")
                #expect((refused.json["errors"] as? [String])?.first?.contains("needs role admin") == true, "\(path)")
            }
        }
    }
}

@Suite struct AuditTests {
    @Test func everyCallIsRecordedBeforeAndAfterWithoutSecrets() async throws {
        try await TestServer.with { server in
            let plaintext = Data("very secret plaintext".utf8).base64EncodedString()
            _ = try await Curl.request("POST", "/v1/transit/keys/audited", socket: server.socketPath)
            let encrypted = try await Curl.request(
                "POST", "/v1/transit/encrypt/audited?note=x", socket: server.socketPath,
                body: #"{"plaintext":"\#(plaintext)"}"#)
            let ciphertext = try #require((encrypted.json["data"] as? [String: Any])?["ciphertext"] as? String)
            _ = try await Curl.request("GET", "/v1/transit/keys/absent", socket: server.socketPath)

            let records = await server.audit.records
            #expect(
                records.map(\.event) == ["api.call", "api.result", "api.call", "api.result", "api.call", "api.result"])
            let call = records[2].fields
            #expect(call["operation"] == "encrypt")
            #expect(call["method"] == "POST")
            #expect(call["path"] == "/v1/transit/encrypt/audited")
            #expect(call["key"] == "audited")
            #expect(call["caller_uid"] == String(getuid()))
            #expect(call["caller_gid"] == String(getgid()))
            #expect(call["caller_pid"] != nil)
            #expect(records[3].fields["request_id"] == call["request_id"])
            #expect(encrypted.json["request_id"] as? String == call["request_id"])
            #expect(records[3].fields["status"] == "200")
            #expect(records[5].fields["status"] == "404")
            #expect(records[5].fields["code"] == "not-found")
            for record in records {
                for value in record.fields.values {
                    #expect(!value.contains(plaintext) && !value.contains("very secret") && !value.contains(ciphertext))
                    #expect(!value.contains("note"))
                }
            }
        }
    }

    @Test func anOperationWhoseRecordCannotBeWrittenDoesNotRun() async throws {
        try await TestServer.with { server in
            await server.audit.startFailing()
            let refused = try await Curl.request("POST", "/v1/transit/keys/never", socket: server.socketPath)
            #expect(refused.status == 503)
            #expect(refused.json["code"] as? String == "audit-unavailable")
            #expect((refused.json["errors"] as? [String])?.first?.contains("no space left on device") == true)
            #expect(await server.service.calls.isEmpty)
            // Health is not audited and still answers.
            let health = try await Curl.request("GET", "/v1/sys/health", socket: server.socketPath)
            #expect(health.status == 200)
        }
    }

    @Test func refusedCallsAreAuditedToo() async throws {
        try await TestServer.with(roles: TableRoleResolver()) { server in
            _ = try await Curl.request("POST", "/v1/transit/keys/k/rotate", socket: server.socketPath)
            let records = await server.audit.records
            #expect(records.map(\.event) == ["api.call", "api.result"])
            #expect(records[1].fields["status"] == "403" && records[1].fields["code"] == "forbidden")
        }
    }
}
