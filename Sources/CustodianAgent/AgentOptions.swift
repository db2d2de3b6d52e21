import AgentProtocol
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import ShardCrypto
import TPM2

/// What a custodian trusts, fixed for its whole life by its measured boot: the coordinator whose
/// sessions it obeys, the EK roots a recipient's TPM must chain to before anything derived from a
/// share is sealed to it, and the lowest threshold any key it holds may be re-shared to.
///
/// In a VM these come from the kernel command line (`keyshard.coordinator=`, `keyshard.ekroot=`,
/// `keyshard.minthreshold=`), which OVMF measures into PCR 9, so the attestation policy pins them;
/// agents run as host processes (tests, the process backend) take the same values as options.
public struct AgentPins: Sendable, Equatable {
    /// The coordinator key sessions must be signed by.
    public var coordinatorKey: CoordinatorKey
    /// SHA-256 digests of the DER root certificates a recipient's EK certificate may chain to.
    public var endorsementRootDigests: Set<[UInt8]>
    /// The lowest threshold a key may be created with or re-shared to (at least 2: a threshold
    /// of one would put a whole key in one custodian).
    public var minimumThreshold: Int

    /// The default lowest threshold.
    public static let defaultMinimumThreshold = 2

    /// Creates pins.
    /// - Throws: ``AgentOptionsError`` for no EK root or a threshold below 2.
    public init(
        coordinatorKey: CoordinatorKey, endorsementRootDigests: Set<[UInt8]>,
        minimumThreshold: Int = AgentPins.defaultMinimumThreshold
    ) throws(AgentOptionsError) {
        guard !endorsementRootDigests.isEmpty else {
            throw AgentOptionsError("at least one EK root digest is required (--ek-root-sha256 or keyshard.ekroot=)")
        }
        guard minimumThreshold >= 2 else {
            throw AgentOptionsError("the minimum threshold is at least 2, got \(minimumThreshold)")
        }
        self.coordinatorKey = coordinatorKey
        self.endorsementRootDigests = endorsementRootDigests
        self.minimumThreshold = minimumThreshold
    }

    /// Reads the pins from a kernel command line: `keyshard.coordinator=HEX`,
    /// `keyshard.ekroot=HEX[,HEX…]` (may repeat) and optionally `keyshard.minthreshold=N`.
    /// - Throws: ``AgentOptionsError`` naming the missing or bad parameter.
    public init(kernelCommandLine: String) throws(AgentOptionsError) {
        var coordinator: CoordinatorKey?
        var roots = Set<[UInt8]>()
        var threshold = Self.defaultMinimumThreshold
        for word in kernelCommandLine.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "keyshard.coordinator":
                guard coordinator == nil else { throw AgentOptionsError("keyshard.coordinator= appears twice") }
                coordinator = try Self.coordinatorKey(parts[1], option: "keyshard.coordinator=")
            case "keyshard.ekroot": roots.formUnion(try Self.rootDigests(parts[1], option: "keyshard.ekroot="))
            case "keyshard.minthreshold": threshold = try Self.threshold(parts[1], option: "keyshard.minthreshold=")
            default: continue
            }
        }
        guard let coordinator else { throw AgentOptionsError("the kernel command line has no keyshard.coordinator=") }
        try self.init(coordinatorKey: coordinator, endorsementRootDigests: roots, minimumThreshold: threshold)
    }

    static func coordinatorKey(_ text: String, option: String) throws(AgentOptionsError) -> CoordinatorKey {
        do { return try CoordinatorKey(hex: text) } catch {
            throw AgentOptionsError("\(option) \(text.prefix(80)): expected 66 hex digits of a compressed P-256 key")
        }
    }

    static func rootDigests(_ text: String, option: String) throws(AgentOptionsError) -> Set<[UInt8]> {
        var digests = Set<[UInt8]>()
        for item in text.split(separator: ",") {
            guard let digest = [UInt8](hexString: item), digest.count == 32 else {
                throw AgentOptionsError("\(option) \(item.prefix(80)): expected 64 hex digits (SHA-256 of a DER root)")
            }
            digests.insert(digest)
        }
        guard !digests.isEmpty else { throw AgentOptionsError("\(option) names no digest") }
        return digests
    }

    static func threshold(_ text: String, option: String) throws(AgentOptionsError) -> Int {
        guard let value = Int(text), value >= 2, value <= 1024 else {
            throw AgentOptionsError("\(option) \(text.prefix(20)): expected a number from 2 to 1024")
        }
        return value
    }
}

/// The agent's command line: `--transport SPEC --tcti STRING` and the pins (`--coordinator-key`,
/// `--ek-root-sha256`, or `--kernel-cmdline /proc/cmdline`), see ``usage``.
public struct AgentOptions: Sendable, Equatable {
    /// Where the agent listens (`unix:PATH`, `vsock-listen:PORT` or `virtio-serial:NAME`).
    public var transport: TransportSpecification
    /// The tctildr configuration, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`.
    public var tcti: String
    /// The PCRs quoted in evidence and heartbeats.
    public var pcrs: TPMPCRSelection
    /// The UEFI event log; absent files give an empty log.
    public var eventLogPath: String
    /// Whether to lock all memory (mlockall); on by default.
    public var lockMemory: Bool
    /// The EK template; nil (`--ek auto`) picks the one whose certificate is in NV.
    public var endorsementKey: TPMEndorsementKeyType?
    /// Whom and what this custodian trusts.
    public var pins: AgentPins

    /// The usage line.
    public static let usage = """
        usage: keyshard-agent --transport unix:PATH|vsock-listen:PORT|virtio-serial:NAME --tcti STRING \
        (--kernel-cmdline PATH | --coordinator-key HEX --ek-root-sha256 HEX[,HEX] [--min-threshold N]) \
        [--pcrs sha256:0,4,9] [--event-log PATH] [--ek auto|ecc|rsa] [--no-mlock]
        """

    /// What `keyshard-agent --help` prints.
    public static let help = usage + """


        keyshard-agent runs inside a custodian microVM (started by the image's /init) or, for
        tests and the process backend, as a host process. It proves what booted with a TPM quote,
        receives one key share per key version only after the coordinator accepted its evidence
        and its TPM activated a credential, keeps shares in locked memory, and answers threshold
        requests. Shares are never written anywhere; SIGTERM and 'destroy' zeroise them.

        options:
          --transport SPEC   where to listen for the coordinator:
                               unix:/run/keyshard/agent.sock   a Unix socket (process backend, tests)
                               vsock-listen:5000                vsock port (in a VM; the host dials the CID)
                               virtio-serial:org.keyshard.agent.0   the virtio-serial port of that name
          --tcti STRING      how to reach the TPM: device:/dev/tpmrm0 in a VM,
                             swtpm:host=127.0.0.1,port=2321 for a software TPM
          --pcrs BANK:LIST   PCRs to quote (default sha256:0,4,9)
          --event-log PATH   the firmware event log, sent with the evidence when readable
                             (default /sys/kernel/security/tpm0/binary_bios_measurements)
          --ek auto|ecc|rsa  endorsement key template (auto: the one with a certificate in NV)

        pins (what this custodian trusts for its whole life; in a VM they are on the measured
        kernel command line, so the attestation policy covers them):
          --kernel-cmdline PATH     read keyshard.coordinator=, keyshard.ekroot= and
                                    keyshard.minthreshold= from PATH (/proc/cmdline in a VM)
          --coordinator-key HEX     the coordinator's public key (compressed P-256, 66 hex
                                    digits): only sessions it signs can use shares
          --ek-root-sha256 HEX      SHA-256 of a DER EK root certificate (repeatable, or
                                    comma-separated): recipients of anything derived from a
                                    share must have an EK certificate chaining to one of them
          --min-threshold N         lowest threshold a key may be made or re-shared with
                                    (default 2, at least 2)
          --no-mlock         do not lock memory (only where mlockall is impossible, e.g. tests);
                             without it, a failing mlockall stops the agent
          -h, --help         this text

        exit codes: 0 destroyed or stopped by a signal; 64 bad options; 71 memory could not be
        locked (without --no-mlock) or the process could not be made non-dumpable; other values
        a failure that was logged on stderr.
        """

    /// Options with explicit values.
    /// - Parameters:
    ///   - transport: where to listen.
    ///   - tcti: how to reach the TPM.
    ///   - pcrs: the PCRs to quote.
    ///   - eventLogPath: the event log's path.
    ///   - lockMemory: whether to mlockall.
    ///   - endorsementKey: the EK template, nil for automatic.
    public init(
        transport: TransportSpecification, tcti: String,
        pcrs: TPMPCRSelection = TPMPCRSelection(bank: .sha256, indexes: [0, 4, 9]),
        eventLogPath: String = "/sys/kernel/security/tpm0/binary_bios_measurements", lockMemory: Bool = true,
        endorsementKey: TPMEndorsementKeyType? = nil, pins: AgentPins
    ) {
        self.pins = pins
        self.endorsementKey = endorsementKey
        self.transport = transport
        self.tcti = tcti
        self.pcrs = pcrs
        self.eventLogPath = eventLogPath
        self.lockMemory = lockMemory
    }

    /// Parses the command line (without the program name).
    /// - Parameter arguments: the arguments.
    /// - Throws: ``AgentOptionsError`` naming the bad or missing option.
    public init(arguments: [String]) throws(AgentOptionsError) {
        var transport: TransportSpecification?
        var tcti: String?
        var pcrs = TPMPCRSelection(bank: .sha256, indexes: [0, 4, 9])
        var eventLog = "/sys/kernel/security/tpm0/binary_bios_measurements"
        var lockMemory = true
        var endorsementKey: TPMEndorsementKeyType?
        var coordinatorKey: CoordinatorKey?
        var rootDigests = Set<[UInt8]>()
        var minimumThreshold: Int?
        var kernelCommandLine: String?
        var remaining = arguments[...]
        func value(_ option: String) throws(AgentOptionsError) -> String {
            guard let next = remaining.popFirst() else { throw AgentOptionsError("\(option) needs a value") }
            return next
        }
        while let option = remaining.popFirst() {
            switch option {
            case "--transport":
                let text = try value(option)
                do { transport = try TransportSpecification(parsing: text) } catch {
                    throw AgentOptionsError("--transport \(text): \(error)")
                }
            case "--tcti": tcti = try value(option)
            case "--pcrs": pcrs = try Self.parseSelection(try value(option))
            case "--event-log": eventLog = try value(option)
            case "--no-mlock": lockMemory = false
            case "--ek":
                let text = try value(option)
                guard text == "auto" || TPMEndorsementKeyType(rawValue: text) != nil else {
                    throw AgentOptionsError("--ek \(text): expected auto, ecc or rsa")
                }
                endorsementKey = TPMEndorsementKeyType(rawValue: text)
            case "--coordinator-key":
                coordinatorKey = try AgentPins.coordinatorKey(try value(option), option: option)
            case "--ek-root-sha256": rootDigests.formUnion(try AgentPins.rootDigests(try value(option), option: option))
            case "--min-threshold": minimumThreshold = try AgentPins.threshold(try value(option), option: option)
            case "--kernel-cmdline": kernelCommandLine = try value(option)
            default: throw AgentOptionsError("unknown option \(option)")
            }
        }
        guard let transport else { throw AgentOptionsError("--transport is required") }
        guard let tcti else { throw AgentOptionsError("--tcti is required") }
        let pins: AgentPins
        if let path = kernelCommandLine {
            guard coordinatorKey == nil, rootDigests.isEmpty, minimumThreshold == nil else {
                throw AgentOptionsError(
                    "--kernel-cmdline takes every pin from the command line: drop --coordinator-key, "
                        + "--ek-root-sha256 and --min-threshold")
            }
            guard let data = FileManager.default.contents(atPath: path), data.count <= 64 * 1024 else {
                throw AgentOptionsError("--kernel-cmdline \(path): cannot be read")
            }
            pins = try AgentPins(kernelCommandLine: String(decoding: data, as: UTF8.self))
        } else {
            guard let coordinatorKey else {
                throw AgentOptionsError("--coordinator-key (or --kernel-cmdline) is required")
            }
            pins = try AgentPins(
                coordinatorKey: coordinatorKey, endorsementRootDigests: rootDigests,
                minimumThreshold: minimumThreshold ?? AgentPins.defaultMinimumThreshold)
        }
        self.init(
            transport: transport, tcti: tcti, pcrs: pcrs, eventLogPath: eventLog, lockMemory: lockMemory,
            endorsementKey: endorsementKey, pins: pins)
    }

    /// Parses `sha256:0,4,9`.
    /// - Throws: ``AgentOptionsError`` for an unknown bank or an index outside 0…23.
    public static func parseSelection(_ text: String) throws(AgentOptionsError) -> TPMPCRSelection {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let banks: [String: TPMAlgorithmID] = [
            "sha1": .sha1, "sha256": .sha256, "sha384": .sha384, "sha512": .sha512,
        ]
        guard parts.count == 2, let bank = banks[parts[0].lowercased()] else {
            throw AgentOptionsError(
                "--pcrs \(text): expected BANK:I,J,… with BANK one of sha1, sha256, sha384, sha512")
        }
        var indexes: [Int] = []
        for item in parts[1].split(separator: ",") {
            guard let index = Int(item), (0..<TPMPCRSelection.maximumIndexCount).contains(index) else {
                throw AgentOptionsError("--pcrs \(text): '\(item)' is not a PCR index 0…23")
            }
            indexes.append(index)
        }
        guard !indexes.isEmpty else { throw AgentOptionsError("--pcrs \(text): select at least one PCR") }
        return TPMPCRSelection(bank: bank, indexes: indexes)
    }
}

/// A bad command line.
public struct AgentOptionsError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, for the operator.
    public let description: String

    /// Creates an error.
    /// - Parameter description: what is wrong.
    public init(_ description: String) { self.description = description }
}
