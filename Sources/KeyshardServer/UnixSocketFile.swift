#if canImport(Glibc)
    import Glibc
#endif

/// The Unix socket's file: cleared before binding only when nobody listens on it, given its mode
/// and group after binding, removed at shutdown only while it is still the one this server bound.
enum UnixSocketFile {
    /// Why the socket file cannot be used; the daemon does not start.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The file's identity, to tell our socket from one a later daemon bound at the same path.
    struct Identity: Equatable, Sendable {
        let device: UInt64
        let inode: UInt64
    }

    /// Makes `path` free to bind: nothing there, or a stale socket (connect refused), which is
    /// removed. Refuses a live socket (another daemon) and anything that is not a socket.
    static func prepare(_ path: String) throws(Failure) {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw Failure(description: "the socket path \(path) is longer than a Unix socket address allows")
        }
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw Failure(description: "cannot inspect \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw Failure(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        switch probe(path) {
        case .listening:
            throw Failure(description: "another process (another keyshardd?) is listening on \(path); stop it first")
        case .refused:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw Failure(
                    description: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
            }
        case .failed(let reason):
            throw Failure(description: "cannot tell whether \(path) is in use: \(reason)")
        }
    }

    /// Sets the socket's permission bits and, when given, its group (a name or a number).
    static func applyPermissions(_ path: String, mode: UInt16, group: String?) throws(Failure) {
        if let group {
            let gid = try groupID(group)
            guard chown(path, uid_t.max, gid) == 0 else {
                throw Failure(
                    description: "cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw Failure(
                description: "cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))"
            )
        }
    }

    /// The identity of the file at `path`, if it is there.
    static func identity(_ path: String) -> Identity? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Removes `path` if it is still the file `identity` names.
    static func remove(_ path: String, ifStill identity: Identity?) {
        guard let identity, self.identity(path) == identity else { return }
        unlink(path)
    }

    private enum Probe {
        case listening
        case refused
        case failed(String)
    }

    /// connect(2) to the socket: accepted means a live server; ECONNREFUSED means nobody
    /// listens (the file outlived its daemon).
    private static func probe(_ path: String) -> Probe {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failed(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result == 0 { return .listening }
        switch errno {
        case ECONNREFUSED: return .refused
        // A listener with a full backlog still exists.
        case EAGAIN: return .listening
        default: return .failed(String(cString: strerror(errno)))
        }
    }

    private static func groupID(_ group: String) throws(Failure) -> gid_t {
        if let number = gid_t(group) { return number }
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getgrnam_r(group, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else {
            throw Failure(description: "no group named \(group)")
        }
        return entry.gr_gid
    }
}
