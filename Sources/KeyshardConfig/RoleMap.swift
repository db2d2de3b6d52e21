import KeyshardAPI

#if canImport(Glibc)
    import Glibc
#endif

/// The `roles:` list: who gets which role, for which keys. The highest role of every entry that
/// matches the caller and covers the key wins; no match is no access.
///
/// Users and groups are looked up once, when the configuration is loaded, so a change to
/// `/etc/passwd` or `/etc/group` takes effect on the next reload. A socket peer's credentials
/// (SO_PEERCRED) carry its uid and primary gid only, not its supplementary groups: a `group`
/// entry matches a caller whose primary gid is the group's, or who is listed as a member in the
/// group database at load time.
public struct RoleMap: RoleResolver, Sendable, Hashable {
    /// One entry of the list.
    public struct Entry: Sendable, Hashable {
        /// Whom the entry is for.
        public enum Identity: Sendable, Hashable {
            /// A numeric uid.
            case uid(UInt32)
            /// A user name and the uid it had at load time.
            case user(name: String, uid: UInt32)
            /// A group, its gid and the uids of its listed members at load time.
            case group(name: String, gid: UInt32, memberUIDs: Set<UInt32>)
            /// A TLS client certificate subject, as RFC 4514 text, compared exactly.
            case certificateSubject(String)
        }

        /// Whom it is for.
        public var identity: Identity
        /// The role it grants.
        public var role: Role
        /// Key-name globs (`*`, `?`) it is limited to; nil: every key.
        public var keys: [String]?

        /// Creates an entry.
        public init(identity: Identity, role: Role, keys: [String]? = nil) {
            self.identity = identity
            self.role = role
            self.keys = keys
        }

        /// Whether the entry is for this caller.
        public func matches(_ caller: Caller) -> Bool {
            switch identity {
            case .uid(let uid), .user(_, let uid):
                return caller.uid == uid
            case .group(_, let gid, let members):
                if let callerGID = caller.gid, callerGID == gid { return true }
                if let uid = caller.uid, members.contains(uid) { return true }
                return false
            case .certificateSubject(let subject):
                return caller.certificateSubject == subject
            }
        }

        /// Whether the entry covers `key`. An operation on no particular key (nil: listing,
        /// ring rotation, policy reload) reaches beyond any one key, so only unlimited entries
        /// cover it.
        public func covers(key: String?) -> Bool {
            guard let keys else { return true }
            guard let key else { return false }
            return keys.contains { KeyGlob.matches($0, key) }
        }
    }

    /// The entries, in file order.
    public var entries: [Entry]

    /// Creates a map.
    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// The highest role `caller` has for `key`, or nil.
    public func role(of caller: Caller, forKey key: String?) -> Role? {
        entries.filter { $0.matches(caller) && $0.covers(key: key) }.map(\.role).max()
    }
}

/// Shell-style globs on key names: `*` is any run of characters (also none), `?` is one.
public enum KeyGlob {
    /// Whether `name` matches `pattern`.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let pattern = Array(pattern.unicodeScalars)
        let name = Array(name.unicodeScalars)
        var p = 0
        var n = 0
        // Where the last `*` was and how much of the name it has taken: backtrack to there.
        var star: Int?
        var starMatch = 0
        while n < name.count {
            if p < pattern.count, pattern[p] == "?" || (pattern[p] != "*" && pattern[p] == name[n]) {
                p += 1
                n += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                starMatch = n
                p += 1
            } else if let star {
                p = star + 1
                starMatch += 1
                n = starMatch
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// The user and group databases (getpwnam, getgrnam).
enum Accounts {
    static func uid(ofUser name: String) -> UInt32? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    static func group(named name: String) -> (gid: UInt32, members: [String])? {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        var members: [String] = []
        if var member = entry.gr_mem {
            while let name = member.pointee {
                members.append(String(cString: name))
                member += 1
            }
        }
        return (entry.gr_gid, members)
    }
}
