import Foundation
import KeyshardAPI
import KeyshardConfig
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Parses `text` expecting problems; returns them.
func problems(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigProblem] {
    do {
        _ = try KeyshardConfiguration.parse(text: text, file: "keyshard.yaml")
        Issue.record("the configuration was accepted", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.problems
    }
}

/// The one problem of `text`, which must be at `line`:`column` and about `path`.
@discardableResult
func expectProblem(
    _ text: String, line: Int, column: Int, path: String, containing words: String,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ConfigProblem? {
    let found = problems(text, sourceLocation: sourceLocation)
    #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
    guard let problem = found.first else { return nil }
    #expect(problem.line == line && problem.column == column, "\(problem)", sourceLocation: sourceLocation)
    #expect(problem.path == path, "\(problem)", sourceLocation: sourceLocation)
    #expect(problem.message.contains(words), "\(problem)", sourceLocation: sourceLocation)
    return problem
}

@Suite("KeyshardConfig: parsing")
struct ConfigParsingTests {
    @Test("a full configuration sets every value")
    func fullConfig() throws {
        let text = """
            state_dir: /srv/keyshard
            socket: { path: /run/ks/ks.sock, mode: "0640", group: root }
            tcp:
              listen: "[::1]:8443"
              certificate: /etc/ks/server.pem
              key: /etc/ks/server.key
              client_ca: /etc/ks/ca.pem
            backend:
              kind: process
              libvirt:
                hosts:
                  - "qemu:///system"
                  - { uri: "qemu+ssh://host2/system", max_custodians: 4, ek_roots: [/etc/ks/host2-ca.pem], directory: /srv/h2 }
                image_dir: /srv/image
                policy: /etc/ks/policy.yaml
                directory: /srv/keyshard-vms
                vcpus: 2
                virtualization: qemu
                transport: virtio-serial
                boot_timeout: 90s
              process: { agent: /usr/libexec/keyshard-agent, policy: /etc/ks/process-policy.yaml }
            heartbeat: { interval: 500ms, freshness_window: 5s }
            custodians: { max_age: 30m }
            rings: { default: { name: main, threshold: 3, shares: 5 } }
            audit: { path: /srv/audit/audit.log }
            security_events: { new_key_version_on: [quarantine, policy-change] }
            log_level: debug
            roles:
              - { uid: 0, role: admin }
              - { user: daemon, role: client, keys: ["payments-*", "k?"] }
              - { group: root, role: operator }
              - { certificate_subject: "CN=app1,O=Example", role: client }
            """
        let config = try KeyshardConfiguration.parse(text: text)
        #expect(config.stateDirectory == "/srv/keyshard")
        #expect(config.storePath == "/srv/keyshard/keyshard.sqlite")
        #expect(config.socket == .init(path: "/run/ks/ks.sock", mode: 0o640, group: .init(name: "root", gid: 0)))
        #expect(
            config.tcp
                == .init(
                    host: "::1", port: 8443, certificate: "/etc/ks/server.pem", key: "/etc/ks/server.key",
                    clientCA: "/etc/ks/ca.pem"))
        #expect(config.backend.kind == .process)
        #expect(
            config.backend.libvirt
                == .init(
                    hosts: [
                        .init(uri: "qemu:///system"),
                        .init(
                            uri: "qemu+ssh://host2/system", maxCustodians: 4, endorsementRoots: ["/etc/ks/host2-ca.pem"],
                            directory: "/srv/h2"),
                    ],
                    imageDirectory: "/srv/image", policy: "/etc/ks/policy.yaml", directory: "/srv/keyshard-vms", vcpus: 2,
                    virtualization: .qemu, transport: .virtioSerial, bootTimeout: .seconds(90)))
        #expect(
            config.backend.process == .init(agent: "/usr/libexec/keyshard-agent", policy: "/etc/ks/process-policy.yaml")
        )
        #expect(
            config.heartbeat
                == .init(
                    interval: .milliseconds(500), freshnessWindow: .seconds(5)))
        #expect(config.custodianMaximumAge == .seconds(1800))
        #expect(config.defaultRing == .init(name: "main", threshold: 3, shares: 5))
        #expect(config.auditPath == "/srv/audit/audit.log")
        #expect(config.newKeyVersionOn == [.quarantine, .policyChange])
        #expect(config.logLevel == .debug)
        #expect(config.roles.entries.count == 4)
        #expect(
            config.roles.entries[1]
                == .init(
                    identity: .user(name: "daemon", uid: 1), role: .client, keys: ["payments-*", "k?"]))
        #expect(config.roles.entries[3].identity == .certificateSubject("CN=app1,O=Example"))
    }

    @Test("an empty file, and absent or empty sections, give the defaults")
    func defaults() throws {
        for text in ["", "# nothing\n", "tcp:\nheartbeat:\nsocket: {}\n"] {
            let config = try KeyshardConfiguration.parse(text: text)
            #expect(config == KeyshardConfiguration.defaults)
        }
        let config = KeyshardConfiguration.defaults
        #expect(config.stateDirectory == "/var/lib/keyshard")
        #expect(config.socket == .init(path: "/run/keyshard/keyshard.sock", mode: 0o660, group: nil))
        #expect(config.tcp == nil)
        #expect(config.backend.kind == .libvirt)
        #expect(config.backend.libvirt.hosts == [.init(uri: "qemu:///system", maxCustodians: 16)])
        #expect(config.backend.libvirt.imageDirectory == "/var/lib/keyshard/image")
        #expect(config.backend.libvirt.policy == "/etc/keyshard/policies/custodian-image.yaml")
        #expect(config.backend.libvirt.directory == nil && config.backend.libvirt.vcpus == 1)
        #expect(config.backend.libvirt.virtualization == .auto && config.backend.libvirt.transport == .auto)
        #expect(config.backend.process == .init(agent: nil, policy: nil))
        #expect(
            config.heartbeat == .init(interval: .seconds(2), freshnessWindow: .seconds(10)))
        #expect(config.custodianMaximumAge == .seconds(3600))
        #expect(config.defaultRing == .init(name: "default", threshold: 2, shares: 3))
        #expect(config.auditPath == "/var/log/keyshard/audit.log")
        #expect(config.newKeyVersionOn == [])
        #expect(config.logLevel == .info)
        #expect(config.roles.entries == [.init(identity: .uid(0), role: .admin)])
    }

    @Test("max_age 0 disables replacement by age")
    func maxAgeZero() throws {
        #expect(try KeyshardConfiguration.parse(text: "custodians: { max_age: 0 }").custodianMaximumAge == nil)
    }

    @Test("load reads a file; an unreadable one names the path")
    func load() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ks-\(UUID().uuidString).yaml").path
        defer { unlink(path) }
        try Data("log_level: warning\nheartbeat:\n  interval: 2x\n".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try KeyshardConfiguration.load(path: path)
            Issue.record("accepted a bad duration")
        } catch {
            #expect(
                error.description
                    == "\(path):3:13: heartbeat.interval: \"2x\" is not a duration (use e.g. 500ms, 2s, 5m, 1h)")
        }
        try Data("log_level: warning\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try KeyshardConfiguration.load(path: path).logLevel == .warning)
        unlink(path)
        do {
            _ = try KeyshardConfiguration.load(path: path)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].line == nil && error.problems[0].file == path)
            #expect(error.description.hasPrefix("\(path): cannot read the file"))
        }
    }
}

@Suite("KeyshardConfig: problems with their line and column")
struct ConfigProblemTests {
    @Test("a value that is not a duration")
    func badDuration() {
        let problem = expectProblem(
            "log_level: info\nheartbeat:\n  freshness_window: 10s\n  interval: 2x\n", line: 4, column: 13,
            path: "heartbeat.interval", containing: "is not a duration")
        #expect(
            problem?.description
                == "keyshard.yaml:4:13: heartbeat.interval: \"2x\" is not a duration (use e.g. 500ms, 2s, 5m, 1h)")
        expectProblem(
            "heartbeat: { interval: 0s }", line: 1, column: 24, path: "heartbeat.interval", containing: "longer than 0")
        expectProblem(
            "heartbeat: { interval: 2 }", line: 1, column: 24, path: "heartbeat.interval", containing: "not a duration")
    }

    @Test("unknown keys, with a suggestion for near misses")
    func unknownKeys() {
        let problem = expectProblem(
            "heartbeat:\n  intervall: 2s\n", line: 2, column: 3, path: "heartbeat.intervall",
            containing: "did you mean \"interval\"?")
        #expect(
            problem?.message.contains("heartbeat keys are interval, freshness_window") == true
        )
        // A count of misses before quarantine was read once and never used; a config that sets it is
        // told so rather than believed.
        expectProblem(
            "heartbeat: { missed_before_quarantine: 3 }", line: 1, column: 14, path: "heartbeat.missed_before_quarantine",
            containing: "heartbeat keys are interval, freshness_window")
        expectProblem("log_levl: info", line: 1, column: 1, path: "log_levl", containing: "did you mean \"log_level\"?")
        expectProblem(
            "heartbeat: { freshnessWindow: 5s }", line: 1, column: 14, path: "heartbeat.freshnessWindow",
            containing: "did you mean \"freshness_window\"?")
        let far = expectProblem("colour: blue", line: 1, column: 1, path: "colour", containing: "unknown key")
        #expect(far?.message.contains("did you mean") == false)
        expectProblem(
            "log_level: verbose", line: 1, column: 12, path: "log_level", containing: "is not one of trace, debug")
        expectProblem(
            "backend: { kind: libvrt }", line: 1, column: 18, path: "backend.kind",
            containing: "did you mean \"libvirt\"?")
        expectProblem(
            "socket: { path: /a, path: /b }", line: 1, column: 21, path: "socket.path", containing: "appears twice")
    }

    @Test("ring sizes: threshold 2…n, n ≤ 64")
    func ringSizes() {
        expectProblem(
            "rings:\n  default: { threshold: 1 }\n", line: 2, column: 25, path: "rings.default.threshold",
            containing: "not between 2 and 64")
        expectProblem(
            "rings:\n  default: { threshold: 4, shares: 3 }\n", line: 2, column: 25, path: "rings.default.threshold",
            containing: "between 2 and the number of shares (3)")
        expectProblem(
            "rings: { default: { shares: 65 } }", line: 1, column: 29, path: "rings.default.shares",
            containing: "not between 2 and 64")
        expectProblem(
            "rings: { default: { name: \"bad name\" } }", line: 1, column: 27, path: "rings.default.name",
            containing: "is not a ring name")
        expectProblem(
            "rings: { default: { shares: three } }", line: 1, column: 29, path: "rings.default.shares",
            containing: "not a whole number")
    }

    @Test("modes, paths, intervals and ages")
    func values() {
        expectProblem(
            "socket: { mode: \"0999\" }", line: 1, column: 17, path: "socket.mode", containing: "not a file mode")
        expectProblem(
            "socket: { mode: \"01777\" }", line: 1, column: 17, path: "socket.mode", containing: "not a file mode")
        expectProblem(
            "state_dir: var/lib/ks", line: 1, column: 12, path: "state_dir", containing: "not an absolute path")
        expectProblem(
            "heartbeat:\n  interval: 10s\n", line: 2, column: 13, path: "heartbeat.interval",
            containing: "must be shorter than the freshness window (10s)")
        expectProblem(
            "heartbeat: { freshness_window: 1s }", line: 1, column: 32, path: "heartbeat.freshness_window",
            containing: "interval (2s) must be shorter")
        expectProblem(
            "custodians: { max_age: 5s }", line: 1, column: 24, path: "custodians.max_age",
            containing: "not longer than the freshness window")
        expectProblem(
            "backend: { libvirt: { hosts: [localhost] } }", line: 1, column: 31, path: "backend.libvirt.hosts[0]",
            containing: "not a libvirt URI")
        expectProblem(
            "backend: { libvirt: { hosts: [{ max_custodians: 2 }] } }", line: 1, column: 31,
            path: "backend.libvirt.hosts[0]", containing: "needs a uri")
        expectProblem(
            "backend: { libvirt: { hosts: [\"qemu+ssh://h2/system\"] } }", line: 1, column: 31,
            path: "backend.libvirt.hosts[0]", containing: "needs ek_roots")
        expectProblem(
            "backend: { libvirt: { memory_mib: 512 } }", line: 1, column: 23, path: "backend.libvirt.memory_mib",
            containing: "PCR 4 measures it")
        expectProblem(
            "backend: { libvirt: { transport: serial } }", line: 1, column: 34, path: "backend.libvirt.transport",
            containing: "not one of auto, vsock, virtio-serial")
        expectProblem(
            "backend: { libvirt: { vcpus: 0 } }", line: 1, column: 30, path: "backend.libvirt.vcpus",
            containing: "not between 1 and 64")
        expectProblem(
            "security_events: { new_key_version_on: [reboot] }", line: 1, column: 41,
            path: "security_events.new_key_version_on[0]", containing: "not one of quarantine, policy-change")
        expectProblem("socket: /run/ks.sock", line: 1, column: 9, path: "socket", containing: "must be a mapping")
        expectProblem("roles: { uid: 0 }", line: 1, column: 8, path: "roles", containing: "must be a list")
    }

    @Test("TCP without mutual TLS is refused")
    func tcpNeedsMutualTLS() {
        let text = "log_level: info\ntcp:\n  listen: 127.0.0.1:8200\n  certificate: /c.pem\n  key: /k.pem\n"
        expectProblem(text, line: 2, column: 1, path: "tcp.client_ca", containing: "only with mutual TLS")
        expectProblem(
            "tcp: { listen: 8200, certificate: /c, key: /k, client_ca: /ca }", line: 1, column: 16, path: "tcp.listen",
            containing: "is not host:port")
        expectProblem(
            "tcp: { listen: \"::1:8200\", certificate: /c, key: /k, client_ca: /ca }", line: 1, column: 16,
            path: "tcp.listen", containing: "is not host:port")
    }

    @Test("roles: unknown users and groups, bad roles, ambiguous entries")
    func roleProblems() {
        expectProblem(
            "roles:\n  - { uid: 0, role: admin }\n  - { user: no-such-user-ks, role: client }\n", line: 3, column: 13,
            path: "roles[1].user", containing: "no user named \"no-such-user-ks\"")
        expectProblem(
            "roles:\n  - { group: no-such-group-ks, role: client }\n", line: 2, column: 14, path: "roles[0].group",
            containing: "no group named")
        expectProblem(
            "socket: { group: no-such-group-ks }", line: 1, column: 18, path: "socket.group",
            containing: "no group named")
        expectProblem(
            "roles:\n  - { uid: 0, role: superuser }\n", line: 2, column: 21, path: "roles[0].role",
            containing: "not one of client, operator, admin")
        expectProblem(
            "roles:\n  - { uid: 0, user: root, role: admin }\n", line: 2, column: 5, path: "roles[0]",
            containing: "gives uid and user")
        expectProblem("roles:\n  - { role: admin }\n", line: 2, column: 5, path: "roles[0]", containing: "names nobody")
        expectProblem("roles:\n  - { uid: 0 }\n", line: 2, column: 5, path: "roles[0].role", containing: "is required")
        expectProblem(
            "roles:\n  - { uid: 0, role: client, keys: [] }\n", line: 2, column: 35, path: "roles[0].keys",
            containing: "grants nothing")
        expectProblem("roles: []", line: 1, column: 8, path: "roles", containing: "is empty")
    }

    @Test("YAML syntax errors have a position")
    func syntax() {
        let found = problems("heartbeat:\n  interval: [2s\n")
        #expect(found.count == 1)
        #expect(found.first?.line != nil)
        #expect(found.first?.message.hasPrefix("YAML syntax") == true)
    }

    @Test("every problem is reported, not only the first")
    func allProblems() {
        let found = problems("log_level: loud\nheartbeat: { interval: x }\nrings: { default: { shares: 100 } }\n")
        #expect(found.map(\.path) == ["log_level", "heartbeat.interval", "rings.default.shares"])
        #expect(found.map(\.line) == [1, 2, 3])
    }
}

/// A group with a listed member whose primary group is another one, if this system has one.
let groupWithMember: (group: String, member: String, memberUID: UInt32, gid: UInt32)? = {
    setgrent()
    defer { endgrent() }
    while let entry = getgrent() {
        guard var member = entry.pointee.gr_mem else { continue }
        while let name = member.pointee {
            let user = String(cString: name)
            if let account = getpwnam(name), account.pointee.pw_gid != entry.pointee.gr_gid {
                return (String(cString: entry.pointee.gr_name), user, account.pointee.pw_uid, entry.pointee.gr_gid)
            }
            member += 1
        }
    }
    return nil
}()

@Suite("KeyshardConfig: roles")
struct RoleResolutionTests {
    let roles: RoleMap

    init() throws {
        roles = try KeyshardConfiguration.parse(
            text: """
                roles:
                  - { uid: 1234, role: operator }
                  - { user: daemon, role: client, keys: ["payments-*", "k?"] }
                  - { user: daemon, role: admin, keys: ["payments-eu"] }
                  - { group: root, role: operator }
                  - { certificate_subject: "CN=app1,O=Example", role: client }
                """
        ).roles
    }

    @Test("a uid entry matches that uid for every key and for no particular key")
    func uid() {
        #expect(roles.role(of: Caller(uid: 1234, gid: 5000), forKey: "anything") == .operator)
        #expect(roles.role(of: Caller(uid: 1234, gid: 5000), forKey: nil) == .operator)
    }

    @Test("a user entry matches the user's uid, for the keys its globs cover; the highest role wins")
    func userAndGlobs() {
        let daemon = Caller(uid: 1, gid: 1)
        #expect(roles.role(of: daemon, forKey: "payments-us") == .client)
        #expect(roles.role(of: daemon, forKey: "payments-eu") == .admin)
        #expect(roles.role(of: daemon, forKey: "k1") == .client)
        #expect(roles.role(of: daemon, forKey: "k12") == nil)
        #expect(roles.role(of: daemon, forKey: "billing") == nil)
        // Key-limited entries do not reach operations on no particular key.
        #expect(roles.role(of: daemon, forKey: nil) == nil)
    }

    @Test("a group entry matches the caller's primary gid")
    func groupByPrimaryGID() {
        #expect(roles.role(of: Caller(uid: 777, gid: 0), forKey: "x") == .operator)
        #expect(roles.role(of: Caller(uid: 777, gid: 778), forKey: "x") == nil)
    }

    @Test(
        "a group entry matches a listed member whose primary group is another",
        .enabled(if: groupWithMember != nil, "this system has no group with a listed member")
    )
    func groupByMembership() throws {
        let found = try #require(groupWithMember)
        let map = try KeyshardConfiguration.parse(text: "roles:\n  - { group: \(found.group), role: client }\n").roles
        #expect(map.role(of: Caller(uid: found.memberUID, gid: 999_999), forKey: "k") == .client)
        #expect(map.role(of: Caller(uid: 999_998, gid: 999_999), forKey: "k") == nil)
    }

    @Test("a certificate subject matches exactly, and only TLS callers")
    func certificateSubject() {
        #expect(roles.role(of: Caller(certificateSubject: "CN=app1,O=Example"), forKey: "k") == .client)
        #expect(roles.role(of: Caller(certificateSubject: "CN=app2,O=Example"), forKey: "k") == nil)
        #expect(roles.role(of: Caller(certificateSubject: "cn=app1,o=example"), forKey: "k") == nil)
    }

    @Test("no matching entry: no role")
    func noMatch() {
        #expect(roles.role(of: Caller(uid: 4321, gid: 4321), forKey: "k") == nil)
        #expect(roles.role(of: Caller(), forKey: nil) == nil)
    }

    @Test("globs: * is any run, ? one character")
    func globs() {
        #expect(KeyGlob.matches("*", ""))
        #expect(KeyGlob.matches("payments-*", "payments-"))
        #expect(KeyGlob.matches("payments-*", "payments-eu-1"))
        #expect(!KeyGlob.matches("payments-*", "payment-eu"))
        #expect(KeyGlob.matches("*-eu", "payments-eu"))
        #expect(KeyGlob.matches("a*b*c", "aXbYbZc"))
        #expect(!KeyGlob.matches("a*b*c", "aXbYbZ"))
        #expect(KeyGlob.matches("k?", "k1"))
        #expect(!KeyGlob.matches("k?", "k"))
        #expect(!KeyGlob.matches("k?", "k12"))
        #expect(KeyGlob.matches("exact", "exact"))
        #expect(!KeyGlob.matches("exact", "exactly"))
    }
}

@Suite("KeyshardConfig: development mode")
struct DevelopmentConfigTests {
    @Test("keyshardd --dev: process backend, 2 s heartbeats, state under the given directory, only the caller")
    func development() {
        let config = KeyshardConfiguration.development(stateDir: "/tmp/ks-dev", socketPath: "/tmp/ks-dev/ks.sock")
        #expect(config.backend.kind == .process)
        #expect(config.heartbeat.interval == .seconds(2))
        #expect(config.heartbeat.interval < config.heartbeat.freshnessWindow)
        #expect(config.stateDirectory == "/tmp/ks-dev")
        #expect(config.storePath == "/tmp/ks-dev/keyshard.sqlite")
        #expect(config.auditPath == "/tmp/ks-dev/audit.log")
        #expect(config.socket.path == "/tmp/ks-dev/ks.sock")
        #expect(config.tcp == nil)
        #expect(config.roles.role(of: Caller(uid: getuid(), gid: 12345), forKey: "any") == .admin)
        #expect(config.roles.role(of: Caller(uid: getuid() &+ 1, gid: 12345), forKey: "any") == nil)
        #expect(config.roles.role(of: Caller(certificateSubject: "CN=x"), forKey: "any") == nil)
    }

    @Test("relative dev paths are taken from the working directory; the libvirt backend can be chosen")
    func relativeAndLibvirt() {
        let config = KeyshardConfiguration.development(stateDir: "state", socketPath: "ks.sock", backend: .libvirt)
        let cwd = FileManager.default.currentDirectoryPath
        #expect(config.stateDirectory == cwd + "/state")
        #expect(config.socket.path == cwd + "/ks.sock")
        #expect(config.backend.kind == .libvirt)
    }
}
