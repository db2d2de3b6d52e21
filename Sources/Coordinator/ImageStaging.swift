import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whether other users can reach a path: QEMU under `qemu:///system` runs as `libvirt-qemu`, not
/// as the daemon's user, so the image and every per-custodian file must be reachable by "others"
/// (search permission on every ancestor directory, read permission on the file).
public enum HostPathAccess {
    /// Why a user who is neither owner nor group cannot reach `path`, or nil when it can.
    /// - Parameters:
    ///   - path: an absolute path.
    ///   - readable: also require read permission on `path` itself (a file QEMU opens).
    public static func problemForOthers(_ path: String, readable: Bool = false) -> String? {
        guard path.hasPrefix("/") else { return "\(path) is not an absolute path" }
        var components = path.split(separator: "/").map(String.init)
        var info = stat()
        if readable {
            guard stat(path, &info) == 0 else { return "\(path) cannot be read: \(String(cString: strerror(errno)))" }
            if info.st_mode & S_IROTH == 0 {
                return "\(path) is mode \(Self.octal(info.st_mode)): other users (QEMU's) cannot read it"
            }
            components.removeLast()
        }
        var current = ""
        for component in [""] + components {
            current = component.isEmpty ? "/" : (current == "/" ? "/" : current + "/") + component
            guard stat(current, &info) == 0 else {
                return "\(current) cannot be examined: \(String(cString: strerror(errno)))"
            }
            if info.st_mode & S_IXOTH == 0 {
                return "\(current) is mode \(Self.octal(info.st_mode)): other users (QEMU's) cannot search it, so "
                    + "they cannot reach \(path)"
            }
        }
        return nil
    }

    static func octal(_ mode: mode_t) -> String { "0" + String(mode & 0o7777, radix: 8) }
}

extension CustodianImage {
    /// The files an image consists of, as `vm-images/build-image` writes them.
    public static let files = ["vmlinuz", "initrd.img", "measurements.json"]

    /// Copies the image in `source` into `directory` (created 0755; files 0644, each replaced by
    /// rename so a running domain keeps its open file) and reads the copy: a checkout or build
    /// directory under a private parent (a clone in `mktemp -d`, a home directory) is not readable
    /// by QEMU, the staged copy is.
    /// - Returns: the staged image, whose paths point into `directory`.
    /// - Throws: ``CoordinatorError/Code/invalidImage`` when the source lacks a file or cannot be
    ///   copied; ``CoordinatorError/Code/invalidConfiguration`` when other users still cannot reach
    ///   the copy (the reason names the directory in the way).
    public static func stage(from source: String, into directory: String) throws(CoordinatorError) -> CustodianImage {
        _ = try CustodianImage(directory: source)  // refuses a source that is not an image, naming what is missing
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CoordinatorError(.invalidImage, "cannot create \(directory): \(error)")
        }
        guard chmod(directory, 0o755) == 0 else {
            throw CoordinatorError(.invalidImage, "cannot make \(directory) 0755: \(String(cString: strerror(errno)))")
        }
        for file in files {
            let target = directory + "/" + file
            let temporary = directory + "/." + file + ".staging"
            try? FileManager.default.removeItem(atPath: temporary)
            do {
                try FileManager.default.copyItem(atPath: source + "/" + file, toPath: temporary)
            } catch {
                throw CoordinatorError(.invalidImage, "cannot copy \(source)/\(file) to \(directory): \(error)")
            }
            guard chmod(temporary, 0o644) == 0, rename(temporary, target) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: temporary)
                throw CoordinatorError(.invalidImage, "cannot install \(target): \(reason)")
            }
        }
        for file in files where file != "measurements.json" {
            if let problem = HostPathAccess.problemForOthers(directory + "/" + file, readable: true) {
                throw CoordinatorError(.invalidConfiguration, "the staged image is out of QEMU's reach: \(problem)")
            }
        }
        return try CustodianImage(directory: directory)
    }

    /// Whether the initrd on disk still has the SHA-256 `measurements.json` recorded: a custodian
    /// booted from a different one is refused at its first quote (PCR 9), so a mismatch is worth
    /// saying before any VM boots.
    public func initrdMatchesMeasurements() -> Bool {
        guard let handle = FileHandle(forReadingAtPath: initrdPath) else { return false }
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
        return Array(hash.finalize()) == initrdSHA256
    }
}
