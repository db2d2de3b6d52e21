import Crypto
import ShardCrypto
import SwiftASN1
import TPM2
import X509
import _CryptoExtras

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What one custodian proves about itself to another before it is sent anything derived from a
/// share (a DKG round-2 share, a redistribution sub-share): a quote by a restricted AK over the
/// PCRs that fix kernel, initrd and command line, bound to its transport key and to this run,
/// and an EK certificate chain. All public; relayed by the coordinator, checked by the dealer.
public struct RecipientAttestation: Sendable, Hashable {
    /// The recipient's transport public key (SEC1 uncompressed, 65 bytes).
    public let transportKey: [UInt8]
    /// The EK certificate, DER.
    public let endorsementCertificate: [UInt8]
    /// Intermediate certificates and roots, DER, in any order; only those whose SHA-256 the
    /// dealer's boot pins are trusted as roots.
    public let endorsementChain: [[UInt8]]
    /// The AK's TPM2B_PUBLIC.
    public let attestationKeyPublic: [UInt8]
    /// TPMS_ATTEST of the quote.
    public let quote: [UInt8]
    /// TPMT_SIGNATURE of the quote.
    public let quoteSignature: [UInt8]

    /// Collects a recipient's attestation.
    public init(
        transportKey: [UInt8], endorsementCertificate: [UInt8], endorsementChain: [[UInt8]],
        attestationKeyPublic: [UInt8], quote: [UInt8], quoteSignature: [UInt8]
    ) {
        self.transportKey = transportKey
        self.endorsementCertificate = endorsementCertificate
        self.endorsementChain = endorsementChain
        self.attestationKeyPublic = attestationKeyPublic
        self.quote = quote
        self.quoteSignature = quoteSignature
    }
}

/// A recipient that passed ``RecipientRule/check(_:binding:)``: what the dealer seals to.
public struct TrustedRecipient: Sendable {
    /// The recipient's endorsement key, rebuilt from its certificate (for MakeCredential).
    public let endorsementKey: TPMPublic
    /// The AK's TPM name, bound into the MakeCredential wrapping.
    public let attestationKeyName: [UInt8]
    /// The attested transport key.
    public let transportKey: Point
    /// SHA-256 of the EK certificate's public key, for refusing two recipients on one TPM.
    public let endorsementKeyDigest: [UInt8]
}

/// Why a recipient was refused. The reason names the check, never a secret.
public struct RecipientRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which check failed.
    public enum Code: String, Sendable, Hashable {
        /// The EK certificate does not parse, does not chain to the chain given, or the chain's
        /// root is not one this custodian's boot pins.
        case endorsement = "recipient.endorsement"
        /// The AK is not a restricted, fixed, TPM-generated ECDSA P-256 key with a SHA-256 name.
        case attestationKey = "recipient.attestation-key"
        /// The quote does not parse, is not a quote, is signed by another key, or its signature fails.
        case quote = "recipient.quote"
        /// The quote is not bound to this recipient's transport key and this run.
        case binding = "recipient.binding"
        /// The quoted PCRs differ from the dealer's own boot (another kernel, initrd or command line).
        case measurements = "recipient.measurements"
        /// Two recipients share a TPM, an AK or a transport key.
        case duplicate = "recipient.duplicate"
        /// The threshold or the recipient set is below what this custodian's boot or the key's
        /// creation pinned.
        case threshold = "recipient.threshold"
    }

    /// Which check failed.
    public let code: Code
    /// A sentence for the operator.
    public let reason: String

    /// Creates a refusal.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}

/// The rule a dealing custodian applies to every recipient, from its *own* measured boot and not
/// from the request: the recipient's quote shows the same values of the peer PCRs (4: kernel, 9:
/// initrd and command line — which carries the coordinator key, the EK roots and the minimum
/// threshold, so the recipient obeys the same pins), its EK certificate chains to a root whose
/// SHA-256 this custodian's boot pins, its AK is a restricted key of that TPM's kind, and the
/// quote commits to its transport key and to this run. Sealing then goes through MakeCredential
/// to that EK and AK name (``CredentialWrap``), so only that TPM's ActivateCredential opens it.
public struct RecipientRule: Sendable {
    /// The PCRs a recipient must share with the dealer: kernel (4) and initrd + command line (9).
    public static let peerSelection = TPMPCRSelection(bank: .sha256, indexes: [4, 9])
    /// Domain separation of the recipient quote's qualifyingData.
    static let bindingLabel = Array("keyshard/v1/recipient".utf8)

    /// The dealer's own values of ``peerSelection``, read from its TPM.
    public let ownPeerPCRs: [Int: [UInt8]]
    /// SHA-256 digests of DER root certificates the dealer's boot pins.
    public let endorsementRootDigests: Set<[UInt8]>

    /// Creates the rule.
    /// - Parameters:
    ///   - ownPeerPCRs: the dealer's PCR 4 and 9 (sha256 bank).
    ///   - endorsementRootDigests: the pinned root digests.
    public init(ownPeerPCRs: [Int: [UInt8]], endorsementRootDigests: Set<[UInt8]>) {
        self.ownPeerPCRs = ownPeerPCRs
        self.endorsementRootDigests = endorsementRootDigests
    }

    /// What a recipient's quote must carry as qualifyingData:
    /// SHA-256("keyshard/v1/recipient" ‖ binding ‖ transport key).
    /// - Parameters:
    ///   - binding: the run's binding (which run, which key, which recipients), 32 bytes.
    ///   - transportKey: the recipient's transport key, uncompressed.
    public static func qualifyingData(binding: [UInt8], transportKey: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bindingLabel + binding + transportKey))
    }

    /// Checks one recipient.
    /// - Parameters:
    ///   - recipient: what the coordinator relayed.
    ///   - binding: the binding the dealer computed for this run itself.
    ///   - time: the certificate validation time.
    /// - Returns: what to seal to.
    /// - Throws: ``RecipientRefusal`` naming the first check that failed.
    public func check(
        _ recipient: RecipientAttestation, binding: [UInt8], at time: Date = Date()
    ) async throws(RecipientRefusal) -> TrustedRecipient {
        let (endorsementKey, endorsementDigest) = try await checkEndorsement(recipient, at: time)
        let ak: TPMPublic
        do { ak = try TPMPublic(parsing: recipient.attestationKeyPublic) } catch {
            throw RecipientRefusal(.attestationKey, "the AK public area does not parse")
        }
        let required: TPMObjectAttributes = [.fixedTPM, .fixedParent, .sensitiveDataOrigin, .restricted, .sign]
        guard ak.nameAlgorithm == .sha256, ak.attributes.isSuperset(of: required), !ak.attributes.contains(.decrypt),
            case .ecc(let akKey) = ak.key, akKey.curve == .nistP256, akKey.scheme == .ecdsa, akKey.schemeHash == .sha256
        else {
            throw RecipientRefusal(
                .attestationKey,
                "the AK is not a restricted fixedTPM/fixedParent ECDSA P-256 signing key with a SHA-256 name "
                    + "(attributes \(ak.attributes))")
        }
        let akName: [UInt8]
        do { akName = try ak.name() } catch { throw RecipientRefusal(.attestationKey, "the AK has no name") }

        let attestation: TPMAttestation
        do { attestation = try TPMAttestation(parsing: recipient.quote) } catch {
            throw RecipientRefusal(.quote, "the quote does not parse")
        }
        guard attestation.magic == TPMAttestation.generatedValue, attestation.type == TPMAttestation.quoteType,
            let quote = attestation.quote
        else {
            throw RecipientRefusal(.quote, "the attestation is not a TPM-generated quote")
        }
        guard let qualified = Self.qualifiedName(endorsementKey: endorsementKey, attestationKeyName: akName),
            attestation.qualifiedSigner == qualified
        else {
            throw RecipientRefusal(
                .quote, "the quote's signer is not the recipient's AK as a child of its certified EK")
        }
        try Self.verifySignature(recipient.quoteSignature, over: recipient.quote, by: akKey)

        let expected = Self.qualifyingData(binding: binding, transportKey: recipient.transportKey)
        guard attestation.extraData == expected else {
            throw RecipientRefusal(
                .binding, "the quote is bound to another transport key or another run (a substituted key, or a replay)")
        }
        guard quote.selections == [Self.peerSelection] else {
            throw RecipientRefusal(.measurements, "the quote does not cover exactly \(Self.peerSelection)")
        }
        guard let own4 = ownPeerPCRs[4], let own9 = ownPeerPCRs[9],
            quote.pcrDigest == Array(SHA256.hash(data: own4 + own9))
        else {
            throw RecipientRefusal(
                .measurements,
                "the recipient booted another kernel, initrd or command line than this custodian (PCR 4/9 differ)")
        }
        let transportKey: Point
        do { transportKey = try Point(sec1: recipient.transportKey) } catch {
            throw RecipientRefusal(.binding, "the transport key is not a P-256 point")
        }
        return TrustedRecipient(
            endorsementKey: endorsementKey, attestationKeyName: akName, transportKey: transportKey,
            endorsementKeyDigest: endorsementDigest)
    }

    /// Checks a whole recipient set: every member passes ``check(_:binding:at:)``, and no TPM, AK
    /// or transport key appears twice (one VM must never hold two shares of one sharing).
    /// - Throws: ``RecipientRefusal`` naming the recipient and the check.
    public func checkAll<ID: Hashable & CustomStringConvertible>(
        _ recipients: [(ID, RecipientAttestation)], binding: [UInt8], at time: Date = Date()
    ) async throws(RecipientRefusal) -> [ID: TrustedRecipient] {
        var trusted: [ID: TrustedRecipient] = [:]
        var endorsements = Set<[UInt8]>()
        var names = Set<[UInt8]>()
        var transports = Set<[UInt8]>()
        for (id, recipient) in recipients {
            let checked: TrustedRecipient
            do { checked = try await check(recipient, binding: binding, at: time) } catch {
                throw RecipientRefusal(error.code, "recipient \(id): \(error.reason)")
            }
            guard endorsements.insert(checked.endorsementKeyDigest).inserted,
                names.insert(checked.attestationKeyName).inserted,
                transports.insert(recipient.transportKey).inserted,
                trusted.updateValue(checked, forKey: id) == nil
            else {
                throw RecipientRefusal(
                    .duplicate, "recipient \(id) shares a TPM, AK or transport key with another recipient")
            }
        }
        return trusted
    }

    private func checkEndorsement(
        _ recipient: RecipientAttestation, at time: Date
    ) async throws(RecipientRefusal) -> (TPMPublic, [UInt8]) {
        // The chain may come in any order: the certificates whose digest this boot pins are the
        // roots, the others only intermediates (a relay can add certificates, never trust).
        let pinned = recipient.endorsementChain.filter { endorsementRootDigests.contains(Array(SHA256.hash(data: $0))) }
        guard !pinned.isEmpty else {
            throw RecipientRefusal(.endorsement, "the EK chain holds no root this custodian's boot pins")
        }
        let leaf: Certificate
        let roots: [Certificate]
        let intermediates: [Certificate]
        do {
            leaf = try Certificate(derEncoded: recipient.endorsementCertificate)
            roots = try pinned.map { try Certificate(derEncoded: $0) }
            intermediates = try recipient.endorsementChain
                .filter { !endorsementRootDigests.contains(Array(SHA256.hash(data: $0))) }
                .map { try Certificate(derEncoded: $0) }
        } catch {
            throw RecipientRefusal(.endorsement, "an EK certificate does not parse")
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(validationTime: time)
            EndorsementCertificatePolicy()
        }
        guard case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates))
        else {
            throw RecipientRefusal(.endorsement, "the EK certificate does not chain to the pinned root, or has expired")
        }
        let endorsementKey: TPMPublic
        do { endorsementKey = try EndorsementKey.fromCertificate(leaf) } catch {
            throw RecipientRefusal(.endorsement, error.reason)
        }
        return (endorsementKey, Array(SHA256.hash(data: leaf.publicKey.subjectPublicKeyInfoBytes)))
    }

    /// The qualified name a quote names its signer by (TPM 2.0 Part 1 §16.6): for an AK whose
    /// parent is the EK, a primary of the endorsement hierarchy,
    /// QN(AK) = nameAlg ‖ H(QN(EK) ‖ Name(AK)), QN(EK) = nameAlg ‖ H(TPM_RH_ENDORSEMENT ‖ Name(EK)).
    /// Matching it ties the quoting AK to that EK's hierarchy, not just to some key of that name.
    /// - Returns: nil when the EK has no SHA-256 name.
    public static func qualifiedName(endorsementKey: TPMPublic, attestationKeyName: [UInt8]) -> [UInt8]? {
        guard endorsementKey.nameAlgorithm == .sha256, let ekName = try? endorsementKey.name() else { return nil }
        let sha256: [UInt8] = [0x00, 0x0B]
        let endorsementHierarchy: [UInt8] = [0x40, 0x00, 0x00, 0x0B]
        let ekQualified = sha256 + Array(SHA256.hash(data: endorsementHierarchy + ekName))
        return sha256 + Array(SHA256.hash(data: ekQualified + attestationKeyName))
    }

    private static func verifySignature(
        _ encoded: [UInt8], over message: [UInt8], by key: TPMPublic.ECCKey
    ) throws(RecipientRefusal) {
        guard case .ecdsa(let hash, let r, let s)? = try? TPMSignature(parsing: encoded), hash == .sha256,
            r.count <= 32, s.count <= 32, key.x.count <= 32, key.y.count <= 32
        else {
            throw RecipientRefusal(.quote, "the quote signature is not ECDSA with SHA-256")
        }
        func padded(_ bytes: [UInt8]) -> [UInt8] { [UInt8](repeating: 0, count: 32 - bytes.count) + bytes }
        guard let publicKey = try? P256.Signing.PublicKey(rawRepresentation: padded(key.x) + padded(key.y)),
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: padded(r) + padded(s)),
            publicKey.isValidSignature(signature, for: SHA256.hash(data: message))
        else {
            throw RecipientRefusal(.quote, "the quote signature does not verify under the AK")
        }
    }
}

/// TCG EK certificates carry a critical subjectAltName naming the TPM's manufacturer, model and
/// version (TCG EK Credential Profile §3.2.9); the RFC 5280 policy checks the rest of the chain.
public struct EndorsementCertificatePolicy: VerifierPolicy {
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.subjectAlternativeName]

    /// Creates the policy.
    public init() {}

    public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        .meetsPolicy
    }
}

/// The EK public area an EK certificate certifies.
public enum EndorsementKey {
    /// The EK rebuilt with the TCG default EK template of its key type: the template fixes every
    /// attribute and the policy digest, so the EK's name, which MakeCredential needs, follows from
    /// the key alone.
    /// - Throws: ``AttestationError`` `.invalidArgument` for a key that is neither P-256 nor RSA.
    public static func fromCertificate(_ certificate: Certificate) throws(AttestationError) -> TPMPublic {
        do {
            if let key = P256.Signing.PublicKey(certificate.publicKey) {
                let point = [UInt8](key.x963Representation)
                return try TPMPublic.defaultECCEndorsementKey(x: Array(point[1..<33]), y: Array(point[33..<65]))
            }
            if let key = _RSA.Signing.PublicKey(certificate.publicKey) {
                return try TPMPublic.defaultRSAEndorsementKey(modulus: [UInt8](try key.getKeyPrimitives().modulus))
            }
        } catch {
            throw AttestationError(.invalidArgument, "the EK certificate's key does not fit a TCG EK template")
        }
        throw AttestationError(.invalidArgument, "the EK certificate certifies neither a P-256 nor an RSA key")
    }

    /// ``fromCertificate(_:)`` for a DER certificate.
    /// - Throws: ``AttestationError`` `.invalidArgument` for a certificate that does not parse.
    public static func fromCertificate(derEncoded der: [UInt8]) throws(AttestationError) -> TPMPublic {
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: der) } catch {
            throw AttestationError(.invalidArgument, "the EK certificate does not parse")
        }
        return try fromCertificate(certificate)
    }
}

extension Certificate.PublicKey {
    /// The DER SubjectPublicKeyInfo.
    var subjectPublicKeyInfoBytes: [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(self)
        return serializer.serializedBytes
    }
}
