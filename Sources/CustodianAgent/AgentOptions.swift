import AgentProtocol
import TPM2

/// The agent's command line: `--transport SPEC --tcti STRING [--pcrs sha256:0,4,9] [--event-log PATH]`.
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

    /// The usage line.
    public static let usage = """
        usage: keyshard-agent --transport unix:PATH|vsock-listen:PORT|virtio-serial:NAME --tcti STRING \
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
        endorsementKey: TPMEndorsementKeyType? = nil
    ) {
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
            default: throw AgentOptionsError("unknown option \(option)")
            }
        }
        guard let transport else { throw AgentOptionsError("--transport is required") }
        guard let tcti else { throw AgentOptionsError("--tcti is required") }
        self.init(
            transport: transport, tcti: tcti, pcrs: pcrs, eventLogPath: eventLog, lockMemory: lockMemory,
            endorsementKey: endorsementKey)
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
