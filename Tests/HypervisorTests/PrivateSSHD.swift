import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An sshd of the tests' own on 127.0.0.1, so `qemu+ssh://` runs for real without touching the
/// machine's ssh set-up: a fresh host key and a fresh client key authorised for root, every file
/// (config, keys, authorized_keys, known_hosts, pid file, log) in one scratch directory that
/// `stop()` removes. No PAM, no passwords: only the client key gets in.
///
/// The client side never reads root's `~/.ssh` either: libvirt runs `sshWrapperPath` instead of
/// `ssh` (URI parameter `command=`), which pins the host key to this directory's `known_hosts`
/// with strict checking, so no test needs `no_verify=1` (which would also append to root's
/// `~/.ssh/known_hosts`).
final class PrivateSSHD {
    static let sshdPath = "/usr/sbin/sshd"
    static let sshPath = "/usr/bin/ssh"
    static let keygenPath = "/usr/bin/ssh-keygen"
    /// sshd refuses to start without its privilege-separation directory (compiled in).
    static let privilegeSeparationDirectory = "/run/sshd"

    /// Root (sshd must run as root to log root in) and the OpenSSH binaries (scripts/bootstrap).
    static var isAvailable: Bool {
        getuid() == 0 && [sshdPath, sshPath, keygenPath].allSatisfy(FileManager.default.isExecutableFile(atPath:))
    }

    let directory: URL
    private(set) var port: UInt16 = 0
    private var daemon: Process?

    var hostKeyPath: String { path("host_key") }
    /// The key root's authorized_keys (in the scratch directory) accepts.
    var clientKeyPath: String { path("client_key") }
    /// A key nobody authorised.
    var strangerKeyPath: String { path("stranger_key") }
    /// known_hosts holding this sshd's real host key.
    var knownHostsPath: String { path("known_hosts") }
    /// known_hosts claiming a different key for this sshd (a man in the middle, as ssh sees it).
    var wrongKnownHostsPath: String { path("wrong_known_hosts") }
    var logPath: String { path("sshd.log") }

    /// The ssh that libvirt runs, verifying the host against `knownHosts`.
    func sshWrapperPath(knownHosts: String) -> String {
        path(knownHosts == knownHostsPath ? "ssh-pinned" : "ssh-wrong-pin")
    }

    /// `qemu+ssh://` to the system libvirtd through this sshd, with BatchMode (`no_tty=1`): any
    /// question ssh would ask (password, passphrase, unknown host) becomes a failure instead.
    func qemuSSHURI(keyPath: String? = nil, knownHosts: String? = nil) -> String {
        "qemu+ssh://root@127.0.0.1:\(port)/system?keyfile=\(keyPath ?? clientKeyPath)&no_tty=1"
            + "&command=\(sshWrapperPath(knownHosts: knownHosts ?? knownHostsPath))"
    }

    /// `qemu+libssh://`: libvirt's built-in ssh client, which checks `known_hosts=` itself.
    func qemuLibSSHURI(keyPath: String? = nil, knownHosts: String? = nil) -> String {
        "qemu+libssh://root@127.0.0.1:\(port)/system?keyfile=\(keyPath ?? clientKeyPath)"
            + "&known_hosts=\(knownHosts ?? knownHostsPath)&sshauth=privkey"
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keyshard-sshd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, comment) in [("host_key", "host"), ("client_key", "client"), ("stranger_key", "stranger")] {
            let made = try ProcessRunner.run(
                Self.keygenPath, ["-q", "-t", "ed25519", "-N", "", "-C", "keyshard-test-\(comment)", "-f", path(name)],
                timeout: 30)
            try #require(made.status == 0, "ssh-keygen failed: \(made.combinedOutput)")
        }
        try FileManager.default.copyItem(atPath: path("client_key.pub"), toPath: path("authorized_keys"))
    }

    /// Starts sshd on a free loopback port and waits (bounded) until it listens.
    func start() async throws {
        if !FileManager.default.fileExists(atPath: Self.privilegeSeparationDirectory) {
            try FileManager.default.createDirectory(
                atPath: Self.privilegeSeparationDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
        }
        // Another process may take the port between probing and binding: try a few.
        for _ in 0..<3 {
            port = try Self.freeLoopbackPort()
            try writeConfiguration()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.sshdPath)
            process.arguments = ["-D", "-e", "-f", path("sshd_config"), "-p", String(port)]
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            try process.run()
            try? log.close()
            daemon = process
            for _ in 0..<100 where process.isRunning && !isListening() {
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning && isListening() { return }
            stop(keepingFiles: true)
        }
        try #require(Bool(false), "private sshd did not start: \(readLog())")
    }

    /// Stops sshd (SIGTERM, then SIGKILL if it lingers) and, unless asked not to, removes every file.
    func stop(keepingFiles: Bool = false) {
        if let daemon {
            self.daemon = nil
            if daemon.isRunning { kill(daemon.processIdentifier, SIGTERM) }
            for _ in 0..<100 where daemon.isRunning { usleep(20_000) }
            if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
            daemon.waitUntilExit()
        }
        if !keepingFiles { try? FileManager.default.removeItem(at: directory) }
    }

    var isRunning: Bool { daemon?.isRunning == true }

    func readLog() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { stop() }

    private func isListening() -> Bool {
        readLog().contains("Server listening on 127.0.0.1 port \(port)")
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func writeConfiguration() throws {
        let configuration = """
            ListenAddress 127.0.0.1
            HostKey \(hostKeyPath)
            PidFile \(path("sshd.pid"))
            AuthorizedKeysFile \(path("authorized_keys"))
            AllowUsers root
            PermitRootLogin prohibit-password
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            LoginGraceTime 20
            """
        try configuration.write(toFile: path("sshd_config"), atomically: true, encoding: .utf8)
        let hostKey = try String(contentsOfFile: path("host_key.pub"), encoding: .utf8)
        let strangerKey = try String(contentsOfFile: path("stranger_key.pub"), encoding: .utf8)
        try "[127.0.0.1]:\(port) \(hostKey)".write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
        try "[127.0.0.1]:\(port) \(strangerKey)".write(toFile: wrongKnownHostsPath, atomically: true, encoding: .utf8)
        for knownHosts in [knownHostsPath, wrongKnownHostsPath] {
            // -F /dev/null: neither root's ~/.ssh/config nor /etc/ssh/ssh_config applies.
            let wrapper = """
                #!/bin/sh
                exec \(Self.sshPath) -F /dev/null -o UserKnownHostsFile=\(knownHosts) \
                -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
                -o ConnectTimeout=10 "$@"

                """
            let wrapperPath = sshWrapperPath(knownHosts: knownHosts)
            try wrapper.write(toFile: wrapperPath, atomically: true, encoding: .utf8)
            chmod(wrapperPath, 0o700)
        }
    }

    /// A port the kernel considers free on 127.0.0.1 right now.
    private static func freeLoopbackPort() throws -> UInt16 {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socketFD >= 0, "socket() failed")
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socketFD, pointer, length) == 0 && getsockname(socketFD, pointer, &length) == 0
            }
        }
        try #require(bound, "cannot bind a loopback port")
        return UInt16(bigEndian: address.sin_port)
    }
}
