import AgentProtocol
import Attestation
import Crypto
import Foundation
import ShardCrypto
import TPM2
import X509

/// What a custodian trusts for its whole life, as the launcher writes it onto the custodian's
/// kernel command line: `keyshard.coordinator=` (the coordinator key its sessions must be signed
/// by), `keyshard.ekroot=` (SHA-256 of the DER EK root certificates recipients must chain to) and
/// `keyshard.minthreshold=`. The agent reads them from `/proc/cmdline`; OVMF measures the command
/// line into PCR 9, so the attestation covers them.
public struct CustodianPins: Sendable, Hashable {
    /// The command-line parameters the agent reads its pins from.
    public static let parameterNames = ["keyshard.coordinator", "keyshard.ekroot", "keyshard.minthreshold"]
    /// The lowest minimum threshold (a threshold of one puts a whole key in one custodian).
    public static let lowestThreshold = 2
    /// The highest minimum threshold the agent accepts.
    public static let highestThreshold = 1024

    /// The coordinator key.
    public let coordinatorKey: CoordinatorKey
    /// SHA-256 digests of the DER root certificates, in the order written, without repeats.
    public let endorsementRootDigests: [[UInt8]]
    /// The lowest threshold a key may be created with or re-shared to.
    public let minimumThreshold: Int

    /// Creates pins.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` for no root digest, one that is not
    ///   32 bytes, or a threshold outside 2…1024.
    public init(
        coordinatorKey: CoordinatorKey, endorsementRootDigests: [[UInt8]], minimumThreshold: Int = lowestThreshold
    ) throws(CoordinatorError) {
        var roots: [[UInt8]] = []
        for digest in endorsementRootDigests where !roots.contains(digest) {
            guard digest.count == 32 else {
                throw CoordinatorError(
                    .invalidConfiguration, "an EK root digest is SHA-256 (32 bytes), not \(digest.count)")
            }
            roots.append(digest)
        }
        guard !roots.isEmpty else {
            throw CoordinatorError(.invalidConfiguration, "no EK root digest: the agent refuses to start without one")
        }
        guard (Self.lowestThreshold...Self.highestThreshold).contains(minimumThreshold) else {
            throw CoordinatorError(
                .invalidConfiguration,
                "the minimum threshold is \(Self.lowestThreshold)…\(Self.highestThreshold), not \(minimumThreshold)")
        }
        self.coordinatorKey = coordinatorKey
        self.endorsementRootDigests = roots
        self.minimumThreshold = minimumThreshold
    }

    /// The pins as kernel command-line words, in the order `vm-images/measure.py` writes them.
    public var commandLineWords: String {
        "keyshard.coordinator=\(coordinatorKey.hex) "
            + "keyshard.ekroot=\(endorsementRootDigests.map(\.hexString).joined(separator: ",")) "
            + "keyshard.minthreshold=\(minimumThreshold)"
    }

    /// The command line a custodian boots with: the image's base command line, then the pins.
    /// - Parameter base: the image's base command line (``CustodianImage/commandLine``).
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` when the base already has a pin or
    ///   the result is not a command line OVMF and the kernel pass on whole
    ///   (``CustodianBootPolicy/validate(commandLine:)``).
    public func commandLine(base: String) throws(CoordinatorError) -> String {
        for word in base.split(separator: " ") {
            if let name = Self.parameterNames.first(where: { word.hasPrefix($0 + "=") }) {
                throw CoordinatorError(
                    .invalidConfiguration, "the image's base command line already sets \(name)=: it carries no pins")
            }
        }
        let line = base.isEmpty ? commandLineWords : base + " " + commandLineWords
        try CustodianBootPolicy.validate(commandLine: line)
        return line
    }

    /// The EK roots among PEM certificates: the SHA-256 of the DER of each *self-signed* one (an
    /// issuing CA below a root is not a root: the agent pins the root a chain ends at).
    /// - Parameter pemTexts: PEM texts, several certificates each allowed (a policy's `ekRoots`).
    /// - Returns: the roots' digests, in order.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` when a text holds no certificate or
    ///   none is self-signed.
    public static func endorsementRootDigests(pemTexts: [String]) throws(CoordinatorError) -> [[UInt8]] {
        let anchors = try EndorsementAnchors(pemTexts: pemTexts)
        guard !anchors.roots.isEmpty else {
            throw CoordinatorError(
                .invalidConfiguration,
                "none of the EK root certificates is self-signed (a root): name the root CA in the policy's ekRoots, "
                    + "e.g. /var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem for libvirt's swtpm")
        }
        return anchors.roots.map(\.digest)
    }
}

/// EK certificates' trust anchors as a policy's `ekRoots` files give them: the self-signed root
/// certificates, and the issuing CAs below them that the chain from an EK certificate passes through.
struct EndorsementAnchors {
    struct Entry {
        let pem: String
        let der: [UInt8]
        let digest: [UInt8]
    }

    /// Self-signed certificates.
    let roots: [Entry]
    /// Every other certificate.
    let intermediates: [Entry]

    init(pemTexts: [String]) throws(CoordinatorError) {
        var roots: [Entry] = []
        var intermediates: [Entry] = []
        for text in pemTexts {
            let blocks = Self.certificateBlocks(text)
            guard !blocks.isEmpty else {
                throw CoordinatorError(.invalidConfiguration, "an EK root file holds no PEM certificate")
            }
            for block in blocks {
                let certificate: Certificate
                let der: [UInt8]
                do {
                    certificate = try Certificate(pemEncoded: block)
                    der = try certificate.serializeAsPEM().derBytes
                } catch {
                    throw CoordinatorError(.invalidConfiguration, "an EK root certificate does not parse: \(error)")
                }
                let entry = Entry(pem: block, der: der, digest: Array(SHA256.hash(data: der)))
                let selfSigned = certificate.issuer == certificate.subject
                    && certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
                if selfSigned {
                    if !roots.contains(where: { $0.digest == entry.digest }) { roots.append(entry) }
                } else if !intermediates.contains(where: { $0.digest == entry.digest }) {
                    intermediates.append(entry)
                }
            }
        }
        self.roots = roots
        self.intermediates = intermediates
    }

    private static func certificateBlocks(_ text: String) -> [String] {
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        var blocks: [String] = []
        var rest = text[...]
        while let start = rest.range(of: begin),
              let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) {
            blocks.append(String(rest[start.lowerBound..<stop.upperBound]) + "\n")
            rest = rest[stop.upperBound...]
        }
        return blocks
    }
}

/// The attestation policy for one custodian boot, derived without a reference boot from the
/// image's `measurements.json` and the exact command line the launcher boots it with, with the
/// arithmetic `vm-images/measure.py predict` uses:
///
/// - PCR 9 = extend(extend(0³², d₁), d₂) with d₁ the `LOADED_IMAGE::LoadOptions` event =
///   SHA-256(UTF-16LE(command line + `" initrd=initrd"`) + UTF-16 NUL), as OVMF hands the load
///   options to the EFI stub, and d₂ the `Linux initrd` event = SHA-256 of the initrd file;
/// - PCR 4 = the image's prediction: QEMU copies the command line to a fixed address and writes
///   neither its length nor anything behind it into the kernel header it patches, so the command
///   line does not reach PCR 4 (`vga=`, which would, is refused).
///
/// The image policy (`policies/custodian-image.yaml`, `vm-images/out/policy.yaml`) supplies the
/// rest (EK roots, freshness, any further PCRs); its PCR 4 and initrd digest must be this image's.
public enum CustodianBootPolicy {
    /// The EFI stub's tag for the command line event.
    public static let loadOptionsTag = "LOADED_IMAGE::LoadOptions"
    /// The EFI stub's tag for the initrd event.
    public static let initrdTag = "Linux initrd"
    /// What OVMF appends to the command line when QEMU gives it an initrd.
    public static let ovmfInitrdSuffix = " initrd=initrd"
    /// Linux's x86 `COMMAND_LINE_SIZE`, the NUL included: the load options must fit in it.
    public static let kernelCommandLineSize = 2048

    /// Refuses a command line OVMF, QEMU or the kernel would not pass on whole, or whose
    /// measurement this derivation does not model.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` for a character outside printable
    ///   ASCII, more than 2048 bytes with OVMF's suffix and the NUL, or `vga=`.
    public static func validate(commandLine: String) throws(CoordinatorError) {
        guard commandLine.utf8.allSatisfy({ (0x20..<0x7f).contains($0) }) else {
            throw CoordinatorError(.invalidConfiguration, "the kernel command line must be printable ASCII")
        }
        let size = commandLine.utf8.count + ovmfInitrdSuffix.utf8.count + 1
        guard size <= kernelCommandLineSize else {
            throw CoordinatorError(
                .invalidConfiguration,
                "the kernel command line with OVMF's '\(ovmfInitrdSuffix.dropFirst())' and the NUL takes "
                    + "\(size) bytes; "
                    + "the kernel keeps \(kernelCommandLineSize)")
        }
        guard !commandLine.split(separator: " ").contains(where: { $0.hasPrefix("vga=") }) else {
            throw CoordinatorError(
                .invalidConfiguration, "vga= changes QEMU's kernel header patch (PCR 4), which is not modelled")
        }
    }

    /// The load options OVMF passes the kernel: UTF-16LE of the command line and the initrd
    /// suffix, with its terminating NUL.
    /// - Parameter commandLine: the domain's `<cmdline>`.
    public static func loadOptions(commandLine: String) -> [UInt8] {
        (commandLine + ovmfInitrdSuffix).utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } + [0, 0]
    }

    /// TPM2_PCR_Extend in the SHA-256 bank: SHA-256(old ‖ digest).
    public static func extend(_ pcr: [UInt8], _ digest: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: pcr + digest))
    }

    /// PCR 9 after the EFI stub's two events.
    /// - Parameters:
    ///   - commandLine: the domain's `<cmdline>`.
    ///   - initrdSHA256: SHA-256 of the initrd file.
    /// - Returns: the `LOADED_IMAGE::LoadOptions` event digest and the PCR value.
    public static func pcr9(commandLine: String, initrdSHA256: [UInt8])
        -> (loadOptionsDigest: [UInt8], value: [UInt8])
    {
        let options = Array(SHA256.hash(data: loadOptions(commandLine: commandLine)))
        return (options, extend(extend([UInt8](repeating: 0, count: 32), options), initrdSHA256))
    }

    /// The policy for one boot of `image` with `commandLine`.
    /// - Parameters:
    ///   - imagePolicy: the image's policy (its PCR 9 and `LoadOptions` rule, which cannot know the
    ///     pins, are replaced; PCR 4 and the initrd rule are narrowed to this image's values).
    ///   - image: the image.
    ///   - commandLine: the exact command line of the boot, pins included.
    /// - Returns: a policy allowing exactly this boot's PCR 4 and 9 and event digests.
    /// - Throws: ``CoordinatorError/Code/invalidConfiguration`` when the command line fails
    ///   ``validate(commandLine:)``, the image policy is not sha256, does not pin PCR 4 to the
    ///   image's prediction, or allows other initrd or kernel digests than the image's only.
    public static func derive(
        imagePolicy: AttestationPolicy, image: CustodianImage, commandLine: String
    ) throws(CoordinatorError) -> AttestationPolicy {
        try validate(commandLine: commandLine)
        let name = imagePolicy.name
        guard imagePolicy.pcrBank == .sha256 else {
            throw CoordinatorError(.invalidConfiguration, "policy \(name) uses the \(imagePolicy.pcrBank) bank; "
                + "custodian images are predicted in sha256")
        }
        guard let pcr4 = imagePolicy.allowedPCRValues[4], pcr4.contains(image.pcr4.value) else {
            throw CoordinatorError(
                .invalidConfiguration,
                "policy \(name) does not allow PCR 4 = \(image.pcr4.value.hexString), which the image predicts: "
                    + "it is not this image's policy (rebuild it with `make image`)")
        }
        let (optionsDigest, pcr9) = pcr9(commandLine: commandLine, initrdSHA256: image.initrdSHA256)
        let kernelDigest = image.pcr4.events.first { $0.type == "EV_EFI_BOOT_SERVICES_APPLICATION" }?.digest
        var rules: [EventRule] = []
        var hasOptions = false
        var hasInitrd = false
        for rule in imagePolicy.eventRules {
            func narrowed(to digest: [UInt8], _ what: String) throws(CoordinatorError) -> EventRule {
                guard rule.allowedDigests.contains(digest) else {
                    throw CoordinatorError(
                        .invalidConfiguration,
                        "policy \(name)'s rule \(rule.summary) does not allow the image's \(what) \(digest.hexString)")
                }
                return EventRule(pcr: rule.pcr, eventType: rule.eventType, label: rule.label,
                                 allowedDigests: [digest], note: rule.note)
            }
            switch (rule.pcr, rule.eventType, rule.label) {
            case (9, EventType.eventTag, loadOptionsTag?):
                hasOptions = true
                rules.append(EventRule(
                    pcr: 9, eventType: EventType.eventTag, label: loadOptionsTag, allowedDigests: [optionsDigest],
                    note: "this boot's kernel command line (with its pins), as OVMF passes it"))
            case (9, EventType.eventTag, initrdTag?):
                hasInitrd = true
                rules.append(try narrowed(to: image.initrdSHA256, "initrd"))
            case (4, EventType.efiBootServicesApplication, nil) where kernelDigest != nil:
                rules.append(try narrowed(to: kernelDigest!, "kernel application digest"))
            default:
                rules.append(rule)
            }
        }
        if !hasOptions {
            rules.append(EventRule(pcr: 9, eventType: EventType.eventTag, label: loadOptionsTag,
                                   allowedDigests: [optionsDigest], note: "this boot's kernel command line"))
        }
        if !hasInitrd {
            rules.append(EventRule(pcr: 9, eventType: EventType.eventTag, label: initrdTag,
                                   allowedDigests: [image.initrdSHA256], note: "the image's initrd"))
        }
        var pcrs = imagePolicy.allowedPCRValues
        pcrs[4] = [image.pcr4.value]
        pcrs[9] = [pcr9]
        let summary = (imagePolicy.summary.map { $0 + " " } ?? "")
            + "PCR 9 derived for this boot's command line (load options sha256 \(optionsDigest.hexString))."
        return AttestationPolicy(
            name: name, summary: summary, pcrBank: .sha256, allowedPCRValues: pcrs, ekRoots: imagePolicy.ekRoots,
            eventRules: rules, freshness: imagePolicy.freshness)
    }
}
