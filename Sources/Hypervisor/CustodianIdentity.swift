/// Which share of which ring a custodian holds, in which epoch. Stored in the domain's
/// `<metadata>` (keyshard's own namespace) so a restarted daemon rediscovers its custodians.
public struct CustodianIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The ring (t-of-n group of custodians) this custodian belongs to.
    public let ring: String
    /// The custodian's share index (Shamir x-coordinate, ≥ 1).
    public let shareIndex: UInt16
    /// The resharing epoch the custodian's shares belong to.
    public let epoch: UInt64

    /// Longest ring identifier accepted (libvirt domain names carry it).
    public static let maximumRingLength = 64

    /// An identity.
    ///
    /// - Throws: `HypervisorError.Code.invalidSpec` when `ring` is empty, longer than
    ///   `maximumRingLength`, contains `/` or a control character, or `shareIndex` is 0.
    public init(ring: String, shareIndex: UInt16, epoch: UInt64) throws(HypervisorError) {
        guard !ring.isEmpty, ring.count <= Self.maximumRingLength else {
            throw HypervisorError(.invalidSpec, "ring identifier must have 1…\(Self.maximumRingLength) characters")
        }
        guard !ring.contains("/"), !ring.unicodeScalars.contains(where: Self.isControl) else {
            throw HypervisorError(.invalidSpec, "ring identifier must not contain '/' or control characters")
        }
        guard shareIndex >= 1 else {
            throw HypervisorError(.invalidSpec, "share index must be at least 1 (0 is the secret's own x-coordinate)")
        }
        self.ring = ring
        self.shareIndex = shareIndex
        self.epoch = epoch
    }

    /// The domain name keyshard gives this custodian: `keyshard-<ring>-s<index>-e<epoch>`.
    public var suggestedDomainName: String {
        "\(CustodianDomainSpec.domainNamePrefix)\(ring)-s\(shareIndex)-e\(epoch)"
    }

    public var description: String { "ring \(ring) share \(shareIndex) epoch \(epoch)" }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
