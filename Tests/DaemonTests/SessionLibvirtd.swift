import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A second libvirt host on this machine: a `qemu:///session` libvirtd of user `nobody`, every
/// file in a scratch directory, reached with `qemu+unix:///session?socket=…`. Its QEMU and swtpm
/// run as `nobody`; its swtpm signs EK certificates with a CA of its own (made here, under the
/// daemon's XDG config directory), so a ring across it and `qemu:///system` has two EK roots. Its
/// `host_uuid` is set in its libvirtd.conf: placement must count it as another machine, which on
/// one test machine it only pretends to be.
final class SessionLibvirtd {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let directory: URL
    let hostUUID: String
    private var launcher: Process?

    var home: String { directory.appendingPathComponent("home").path }
    var runtime: String { directory.appendingPathComponent("run").path }
    var socketPath: String { runtime + "/libvirt/libvirt-sock" }
    var pidFilePath: String { runtime + "/libvirt/libvirtd.pid" }
    var uri: String { "qemu+unix:///session?socket=\(socketPath)" }
    /// Where the backend puts this host's custodian directories (owned by `nobody`).
    var custodianDirectory: String { directory.appendingPathComponent("custodians").path }
    /// The root and issuing CA of this host's swtpm.
    var endorsementRoots: [String] {
        let ca = home + "/.config/var/lib/swtpm-localca"
        return [ca + "/swtpm-localca-rootca-cert.pem", ca + "/issuercert.pem"]
    }

    private var environment: [String] {
        [
            "HOME=\(home)", "XDG_RUNTIME_DIR=\(runtime)", "XDG_CONFIG_HOME=\(home)/.config",
            "XDG_CACHE_HOME=\(home)/.cache", "XDG_DATA_HOME=\(home)/.local/share",
        ]
    }

    /// Makes the directories, the swtpm configuration and CA (a throwaway TPM manufactured once).
    init(name: String) throws {
        directory = URL(fileURLWithPath: "/tmp/ks-session-\(name)-\(UUID().uuidString.prefix(6))")
        hostUUID = UUID().uuidString.lowercased()
        for sub in ["", "home", "home/.config", "home/.config/libvirt", "run", "custodians", "tpm"] {
            let path = directory.appendingPathComponent(sub).path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, 0o755)
            if !sub.isEmpty { chown(path, 65534, 65534) }
        }
        try Data("host_uuid = \"\(hostUUID)\"\n".utf8).write(
            to: URL(fileURLWithPath: home + "/.config/libvirt/libvirtd.conf"))
        chown(home + "/.config/libvirt/libvirtd.conf", 65534, 65534)
        for arguments in [
            ["swtpm_setup", "--create-config-files", "skip-if-exist"],
            ["swtpm_setup", "--tpm2", "--tpmstate", directory.appendingPathComponent("tpm").path, "--create-ek-cert", "--overwrite"],
        ] {
            let result = try ProcessRunner.run(
                "/usr/sbin/runuser", ["-u", "nobody", "--", "/usr/bin/env"] + environment + arguments, timeout: 120)
            guard result.status == 0 else {
                throw Failure(description: "\(arguments.joined(separator: " ")) as nobody failed: \(result.combinedOutput)")
            }
        }
        for root in endorsementRoots where !FileManager.default.fileExists(atPath: root) {
            throw Failure(description: "the session host's swtpm CA has no \(root)")
        }
    }

    /// Starts the daemon (it exits by itself after ten idle minutes if a test dies) and waits for it.
    func start() throws {
        try? FileManager.default.removeItem(atPath: socketPath)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        process.arguments = ["-u", "nobody", "--", "/usr/bin/env"] + environment + ["/usr/sbin/libvirtd", "--timeout", "600"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        launcher = process
        for _ in 0..<300 {
            if (try? ProcessRunner.run("/usr/bin/virsh", ["-q", "-c", uri, "uri"], timeout: 10))?.status == 0 { return }
            usleep(100_000)
        }
        throw Failure(description: "the session libvirtd in \(directory.path) did not answer")
    }

    /// Kills the daemon and every QEMU and swtpm it started: the whole host is lost.
    func loseHost() {
        for pid in processes() { kill(pid, SIGKILL) }
        if let launcher {
            let deadline = Date().addingTimeInterval(10)
            while launcher.isRunning, Date() < deadline { usleep(50_000) }
        }
        launcher = nil
        try? FileManager.default.removeItem(atPath: pidFilePath)
    }

    /// Processes of this host: its libvirtd (by its pid file's directory in the environment) and
    /// the QEMU and swtpm processes whose command lines name its directories.
    func processes() -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != getpid() else { return false }
            let command = (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data())
            let environ = (FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data())
            let text = String(decoding: (command + environ).map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return text.contains(directory.path)
        }
    }

    /// Stops everything and removes the directory.
    func destroy() {
        loseHost()
        try? FileManager.default.removeItem(at: directory)
    }
}
