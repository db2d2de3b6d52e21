import AgentProtocol
import Crypto
import Foundation
import Hypervisor

/// Who an admitted custodian is, as its attestation established: its TPM (the EK), the key that
/// quotes for it (the AK) and the key shares are sealed to (the transport key). Public values only.
public struct CustodianFingerprint: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The EK's TPM name (`nameAlg ‖ H(TPMT_PUBLIC)`), from the certified key and the default template.
    public let endorsementKeyName: [UInt8]
    /// SHA-256 of the EK certificate (DER) the custodian presented.
    public let endorsementCertificateDigest: [UInt8]
    /// The AK's TPM name, the one the activated credential was bound to.
    public let attestationKeyName: [UInt8]
    /// The transport public key (SEC1 uncompressed), bound into the accepted quote.
    public let transportKey: [UInt8]

    /// Creates a fingerprint.
    /// - Parameters:
    ///   - endorsementKeyName: the EK's TPM name.
    ///   - endorsementCertificateDigest: SHA-256 of the EK certificate's DER.
    ///   - attestationKeyName: the AK's TPM name.
    ///   - transportKey: the transport key.
    public init(
        endorsementKeyName: [UInt8], endorsementCertificateDigest: [UInt8], attestationKeyName: [UInt8],
        transportKey: TransportPublicKey
    ) {
        self.endorsementKeyName = endorsementKeyName
        self.endorsementCertificateDigest = endorsementCertificateDigest
        self.attestationKeyName = attestationKeyName
        self.transportKey = transportKey.uncompressed
    }

    /// SHA-256 of a certificate's DER, as ``endorsementCertificateDigest`` holds it.
    public static func certificateDigest(_ der: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: der)) }

    public var description: String {
        "EK \(Self.short(endorsementKeyName)), AK \(Self.short(attestationKeyName)), "
            + "transport \(Self.short(transportKey))"
    }

    static func short(_ bytes: [UInt8]) -> String {
        bytes.prefix(8).map { String(format: "%02x", $0) }.joined() + "…"
    }
}

/// The coordinator's record of which TPM each custodian is, across re-admissions and daemon restarts.
///
/// The EK a custodian presents at its first admission is recorded (libvirt's swtpm_setup creates the
/// vTPM when the domain starts, and the coordinator cannot read its EK out of the vTPM state, so first
/// admission is the earliest point; see docs/COORDINATOR.md). Every later admission of the same
/// custodian must present the same EK. No two members may share an EK, an AK or a transport key: one
/// TPM posing as two custodians would hold two shares, and the threshold would count it twice. A
/// retired custodian's identities are never admitted again, so a destroyed custodian's vTPM state,
/// copied before destruction, cannot come back as a new member.
public actor RingRoster {
    /// One member, as stored.
    public struct Member: Hashable, Sendable, Codable {
        /// The custodian's ring.
        public let ring: String
        /// Its share index.
        public let shareIndex: UInt16
        /// Its epoch.
        public let epoch: UInt64
        /// What its latest admission established (the EK is the first admission's).
        public let fingerprint: CustodianFingerprint

        /// The custodian identity.
        public var identity: CustodianIdentity? {
            try? CustodianIdentity(ring: ring, shareIndex: shareIndex, epoch: epoch)
        }
    }

    private struct Document: Codable {
        var format = "keyshard-ring-roster/v1"
        var members: [Member]
        var retired: [CustodianFingerprint]
    }

    private var members: [CustodianIdentity: CustodianFingerprint] = [:]
    private var retired: [CustodianFingerprint] = []
    private let path: String?

    /// An empty roster kept in memory only (tests, one-shot tools).
    public init() { path = nil }

    /// A roster persisted in a JSON file, so a restarted coordinator still knows every member's EK.
    /// - Parameter path: the file; created on the first change when absent.
    /// - Throws: ``CoordinatorError/Code/identityRefused`` when the file exists but is unreadable, not a
    ///   roster, or holds an invalid member (starting with an empty roster would forget every EK).
    public init(path: String) throws(CoordinatorError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { return }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 16 << 20 else {
            throw CoordinatorError(.identityRefused, "the ring roster \(path) cannot be read")
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw CoordinatorError(.identityRefused, "the ring roster \(path) is not a keyshard-ring-roster/v1 file")
        }
        guard document.format == "keyshard-ring-roster/v1" else {
            throw CoordinatorError(.identityRefused, "the ring roster \(path) has format \(document.format)")
        }
        for member in document.members {
            guard let identity = member.identity else {
                throw CoordinatorError(
                    .identityRefused, "the ring roster \(path) holds an invalid member of ring \(member.ring)")
            }
            members[identity] = member.fingerprint
        }
        retired = document.retired
    }

    /// Every member and what its admission established.
    public var snapshot: [CustodianIdentity: CustodianFingerprint] { members }

    /// Admits a custodian: records its fingerprint when it is new, or checks its EK against the first
    /// admission's, and refuses identities another member or a retired custodian has.
    /// - Parameters:
    ///   - fingerprint: what this attestation established.
    ///   - identity: the custodian.
    /// - Throws: ``CoordinatorError/Code/identityRefused`` naming the conflict (nothing is recorded then);
    ///   `.hypervisorFailed` when the roster file cannot be written (the admission is not recorded, and
    ///   must be refused, or a restart would forget it).
    public func admit(_ fingerprint: CustodianFingerprint, as identity: CustodianIdentity) throws(CoordinatorError) {
        if let first = members[identity] {
            guard first.endorsementKeyName == fingerprint.endorsementKeyName,
                first.endorsementCertificateDigest == fingerprint.endorsementCertificateDigest
            else {
                throw CoordinatorError(
                    .identityRefused,
                    "custodian \(identity) presents EK \(CustodianFingerprint.short(fingerprint.endorsementKeyName)) "
                        + "but was first admitted with EK \(CustodianFingerprint.short(first.endorsementKeyName)): "
                        + "another TPM answers for it")
            }
        }
        for (other, known) in members where other != identity {
            if let conflict = Self.conflict(fingerprint, known) {
                throw CoordinatorError(
                    .identityRefused, "custodian \(identity) presents the \(conflict) of ring member \(other)")
            }
        }
        for known in retired {
            if let conflict = Self.conflict(fingerprint, known) {
                throw CoordinatorError(
                    .identityRefused, "custodian \(identity) presents the \(conflict) of a retired custodian")
            }
        }
        let previous = members[identity]
        members[identity] = previous.map {
            // The first admission's EK stays the record; the AK and transport key are the agent's
            // current ones (a restarted agent makes new ones).
            CustodianFingerprint(
                endorsementKeyName: $0.endorsementKeyName,
                endorsementCertificateDigest: $0.endorsementCertificateDigest,
                attestationKeyName: fingerprint.attestationKeyName, transportKeyBytes: fingerprint.transportKey)
        } ?? fingerprint
        do throws(CoordinatorError) {
            try save()
        } catch {
            members[identity] = previous
            throw error
        }
    }

    /// Removes a member whose domain was destroyed; its EK, AK and transport key are refused from now on.
    /// - Parameter identity: the custodian.
    /// - Throws: `.hypervisorFailed` when the roster file cannot be written.
    public func retire(_ identity: CustodianIdentity) throws(CoordinatorError) {
        guard let fingerprint = members.removeValue(forKey: identity) else { return }
        retired.append(fingerprint)
        try save()
    }

    /// Which identity two fingerprints share, if any.
    private static func conflict(_ new: CustodianFingerprint, _ known: CustodianFingerprint) -> String? {
        if new.endorsementKeyName == known.endorsementKeyName { return "EK" }
        if new.endorsementCertificateDigest == known.endorsementCertificateDigest { return "EK certificate" }
        if new.attestationKeyName == known.attestationKeyName { return "AK" }
        if new.transportKey == known.transportKey { return "transport key" }
        return nil
    }

    private func save() throws(CoordinatorError) {
        guard let path else { return }
        let document = Document(
            members: members.sorted { $0.key.description < $1.key.description }.map {
                Member(ring: $0.key.ring, shareIndex: $0.key.shareIndex, epoch: $0.key.epoch, fingerprint: $0.value)
            },
            retired: retired)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(document).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CoordinatorError(.hypervisorFailed, "cannot write the ring roster \(path): \(error)")
        }
    }
}

extension CustodianFingerprint {
    fileprivate init(
        endorsementKeyName: [UInt8], endorsementCertificateDigest: [UInt8], attestationKeyName: [UInt8],
        transportKeyBytes: [UInt8]
    ) {
        self.endorsementKeyName = endorsementKeyName
        self.endorsementCertificateDigest = endorsementCertificateDigest
        self.attestationKeyName = attestationKeyName
        self.transportKey = transportKeyBytes
    }
}
