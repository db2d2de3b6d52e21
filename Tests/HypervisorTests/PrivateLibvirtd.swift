import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A libvirtd of the tests' own: session mode as user `nobody`, every file in a temporary
/// directory, reached over its Unix socket with libvirt's remote driver (`test+unix://`), so
/// keepalive, remote events and daemon restarts are real. It exits on its own after two idle
/// minutes if a test dies before stopping it.
final class PrivateLibvirtd {
    static let daemonPath = "/usr/sbin/libvirtd"
    static let runuserPath = "/usr/sbin/runuser"

    /// Root (to run the daemon as `nobody`) and the binaries are needed; CI runs as root.
    static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: daemonPath)
            && FileManager.default.isExecutableFile(atPath: runuserPath)
    }

    let directory: URL
    private var launcher: Process?

    var runtimeDirectory: URL { directory.appendingPathComponent("run") }
    var socketPath: String { runtimeDirectory.appendingPathComponent("libvirt/libvirt-sock").path }
    var pidFilePath: String { runtimeDirectory.appendingPathComponent("libvirt/libvirtd.pid").path }
    /// The test driver inside this daemon, through the remote driver.
    var uri: String { "test+unix:///default?socket=\(socketPath)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keyshard-libvirtd-\(UUID().uuidString)")
        for sub in ["", "home", "run"] {
            let path = directory.appendingPathComponent(sub).path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, 0o755)
            if !sub.isEmpty { chown(path, 65534, 65534) }
        }
    }

    /// Starts the daemon and waits (bounded) for its socket.
    func start() async throws {
        try? FileManager.default.removeItem(atPath: socketPath)
        let home = directory.appendingPathComponent("home").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.runuserPath)
        process.arguments = [
            "-u", "nobody", "--", "/usr/bin/env", "HOME=\(home)", "XDG_RUNTIME_DIR=\(runtimeDirectory.path)",
            "XDG_CONFIG_HOME=\(home)/.config", "XDG_CACHE_HOME=\(home)/.cache", Self.daemonPath, "--timeout", "120",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        launcher = process
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) {
            try await Task.sleep(for: .milliseconds(100))
        }
        try #require(FileManager.default.fileExists(atPath: socketPath), "private libvirtd did not start")
    }

    /// Kills the daemon this object started (SIGKILL to the pid in its own pid file: a crash,
    /// the harshest way libvirtd goes away; with a client attached it ignores SIGTERM for a
    /// long while) and waits (bounded) until it is gone.
    func stop() async throws {
        guard let launcher else { return }
        self.launcher = nil
        let text = try String(contentsOfFile: pidFilePath, encoding: .utf8)
        let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
        for _ in 0..<100 where launcher.isRunning {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!launcher.isRunning, "private libvirtd \(pid) did not exit")
        try? FileManager.default.removeItem(atPath: pidFilePath)
    }

    /// Last-resort cleanup for a failed test: kills the daemon this object started, if any.
    func killIfRunning() {
        guard launcher?.isRunning == true,
            let text = try? String(contentsOfFile: pidFilePath, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return }
        kill(pid, SIGKILL)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}
