import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Replacing a file so that readers see the old or the new content, never a mixture.
enum AtomicFile {
    /// Writes `text` to a temporary file next to `path` with the original's permissions, flushes it to
    /// disk, then renames it over `path` (following a symbolic link to the file it names).
    /// - Throws: ``CLIInput/Failure`` naming the step that failed; `path` is then unchanged.
    static func replace(_ path: String, with text: String) throws {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        let attributes = try? FileManager.default.attributesOfItem(atPath: target.path)
        let mode = (attributes?[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o644
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Writes `bytes` to `path` the same way, with exactly the permissions `mode` (the file is never
    /// readable more widely, not even for a moment).
    /// - Throws: ``CLIInput/Failure`` naming the step that failed; `path` is then unchanged.
    static func write(_ bytes: [UInt8], to path: String, mode: UInt16) throws {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        let suffix = "keyshard-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(suffix)")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard descriptor >= 0 else {
            throw CLIInput.Failure(description: "cannot create a temporary file next to \(path): "
                + String(cString: strerror(errno)))
        }
        var written = 0
        var failure: String?
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = "cannot write \(temporary.path): " + String(cString: strerror(errno))
                break
            }
            written += count
        }
        if failure == nil && fsync(descriptor) != 0 {
            failure = "cannot flush \(temporary.path): " + String(cString: strerror(errno))
        }
        close(descriptor)
        // open() applied the umask; give the new file exactly the old one's permissions.
        if failure == nil && chmod(temporary.path, mode_t(mode)) != 0 {
            failure = "cannot set permissions on \(temporary.path): " + String(cString: strerror(errno))
        }
        if failure == nil && rename(temporary.path, target.path) != 0 {
            failure = "cannot replace \(path): " + String(cString: strerror(errno))
        }
        if let failure {
            unlink(temporary.path)
            throw CLIInput.Failure(description: failure)
        }
    }
}
