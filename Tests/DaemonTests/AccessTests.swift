import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Who may do what, against a configured keyshardd: the socket's mode and group are the
/// configuration's, a client may use keys but not change them, and a uid without an entry gets
/// nothing but a refusal naming it.
@Suite("access: socket and roles", .serialized)
struct AccessTests {
    /// Runs the CLI as `uid` (with no supplementary groups).
    static func run(as uid: Int, _ arguments: [String], daemon: DaemonHarness, input: [UInt8] = []) throws -> ProcessResult {
        try ProcessRunner.run(
            "/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", DaemonHarness.keyshard] + arguments
                + ["--socket", daemon.socket], input: input, timeout: 60)
    }

    @Test("the socket has the configured mode and group; a client uses keys but cannot change them; an unknown uid gets nothing")
    func rolesAndSocket() async throws {
        let daemon = DaemonHarness()
        defer {
            daemon.stop(signal: SIGTERM)
            daemon.destroy()
        }
        try FileManager.default.createDirectory(at: daemon.directory, withIntermediateDirectories: true)
        chmod(daemon.directory.path, 0o755)
        let configuration = daemon.directory.appendingPathComponent("keyshard.yaml").path
        try Data("""
            state_dir: \(daemon.stateDirectory)
            socket: { path: \(daemon.socket), mode: "0666", group: nogroup }
            backend: { kind: process }
            custodians: { max_age: 0 }
            roles:
              - { uid: 0, role: admin }
              - { uid: 65534, role: client, keys: ["app-*"] }

            """.utf8).write(to: URL(fileURLWithPath: configuration))
        try daemon.start(configuration: configuration)
        var status = stat()
        #expect(stat(daemon.socket, &status) == 0)
        let modeRight = status.st_mode & 0o777 == 0o666
        let groupRight = getgrgid(status.st_gid).map { String(cString: $0.pointee.gr_name) } == "nogroup"
        // Owned by the daemon's user (the one that can replace or remove it), whoever connects.
        let ownerRight = status.st_uid == getuid()
        #expect(modeRight && groupRight && ownerRight,
            "mode \(String(status.st_mode & 0o777, radix: 8)), uid \(status.st_uid), gid \(status.st_gid)")
        ReliabilityReport.record(.access, "the API socket's owner, mode and group are the configuration's",
            held: modeRight && groupRight && ownerRight, detail: "owner uid \(status.st_uid), mode \(String(status.st_mode & 0o777, radix: 8)), group nogroup")

        _ = try daemon.ok(["key", "create", "app-payments"])
        _ = try daemon.ok(["key", "create", "other"])
        let ciphertext = try daemon.ok(["encrypt", "--key", "app-payments"], input: Array("old".utf8))

        // The client role on its keys: operations work.
        let sealed = try Self.run(as: 65534, ["encrypt", "--key", "app-payments"], daemon: daemon, input: Array("x".utf8))
        let decrypted = try Self.run(as: 65534, ["decrypt", "app-payments"], daemon: daemon, input: Array(ciphertext.utf8))
        let uses = sealed.status == 0 && decrypted.standardOutput == "old"
        #expect(uses, "\(sealed.combinedOutput) \(decrypted.combinedOutput)")
        ReliabilityReport.record(.access, "a client encrypts and decrypts with the keys its entry names", held: uses)

        // …and nothing that changes a key, a ring or the policy, nor keys its entry does not name.
        let forbidden: [(String, [String], [UInt8])] = [
            ("rotate a key", ["key", "rotate", "app-payments"], []),
            ("rotate a ring", ["rotate", "--ring", "default"], []),
            ("import a key", ["key", "import", "app-new", "--threshold", "2", "--shares", "3"], Array(String(repeating: "11", count: 32).utf8)),
            ("trim a key", ["key", "trim", "app-payments", "--min-version", "1"], []),
            ("delete a key", ["key", "delete", "app-payments"], []),
            ("reload the policy", ["policy", "reload"], []),
            ("decrypt with a key its entry does not name", ["decrypt", "other"], Array(ciphertext.utf8)),
        ]
        for (what, arguments, input) in forbidden {
            let result = try Self.run(as: 65534, arguments, daemon: daemon, input: input)
            let refused = result.status == 77
            #expect(refused, "a client could \(what): \(result.status) \(result.combinedOutput)")
            ReliabilityReport.record(.access, "a client cannot \(what)", held: refused, detail: "exit \(result.status)")
        }

        // A uid with no entry: refused everything, and the refusal names the uid.
        for (what, arguments, input) in [("list keys", ["key", "list"], [UInt8]()), ("decrypt", ["decrypt", "app-payments"], Array(ciphertext.utf8))] {
            let result = try Self.run(as: 65533, arguments, daemon: daemon, input: input)
            let refused = result.status == 77 && result.standardError.contains("65533")
            #expect(refused, "uid 65533 could \(what): \(result.status) \(result.combinedOutput)")
            ReliabilityReport.record(.access, "an unknown uid cannot \(what)", held: refused, detail: "exit \(result.status), names uid 65533")
        }
        // Nothing changed: the key is still at version 1 and still decrypts.
        #expect(try daemon.ok(["decrypt", "app-payments"], input: Array(ciphertext.utf8)) == "old")
    }
}
