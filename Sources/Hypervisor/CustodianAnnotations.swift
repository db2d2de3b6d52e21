/// What a daemon writes into a custodian's metadata beside its identity: which daemon owns the
/// domain and when it was launched. Several daemons (a production one and a test one, two state
/// directories) may share a host; each rediscovers and destroys only the domains it owns.
public struct CustodianAnnotations: Sendable, Hashable {
    /// The owning daemon's instance name (letters, digits, `-`, `_`, `.`; at most 64).
    public let owner: String
    /// When it was launched, in seconds since 1970.
    public let launchedAtSeconds: Int64
    /// The launch generation the owner gave it (never reused by that owner).
    public let generation: UInt64

    /// Annotations.
    /// - Throws: `HypervisorError.Code.invalidSpec` for an owner that is empty, longer than 64 or
    ///   has other characters.
    public init(owner: String, launchedAtSeconds: Int64, generation: UInt64) throws(HypervisorError) {
        guard (1...64).contains(owner.utf8.count),
            owner.utf8.allSatisfy({ byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2E
            })
        else {
            throw HypervisorError(.invalidSpec, "an owner is 1…64 letters, digits, '-', '_' or '.'")
        }
        self.owner = owner
        self.launchedAtSeconds = launchedAtSeconds
        self.generation = generation
    }

    init?(metadataElement element: ParsedElement) {
        guard let owner = element.child("owner")?.text,
            let launched = (element.child("launched")?.text).flatMap({ Int64($0) }),
            let generation = (element.child("generation")?.text).flatMap({ UInt64($0) })
        else { return nil }
        do { try self.init(owner: owner, launchedAtSeconds: launched, generation: generation) } catch { return nil }
    }
}
