import AgentProtocol
import Dispatch
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import Logging
import TPM2

#if canImport(Glibc)
    import Glibc
#endif

/// The `keyshard-agent` program: parse options, harden the process, open the TPM, serve.
public enum AgentMain {
    /// Runs the agent until Destroy, SIGTERM or a fatal error.
    /// - Parameter arguments: the command line without the program name.
    /// - Returns: the exit status (0 after Destroy or SIGTERM, 64 for bad usage, 71 when memory cannot be
    ///   locked or the process made non-dumpable, 1 for other failures).
    public static func run(arguments: [String]) async -> Int32 {
        let logger = {
            var logger = Logger(label: "keyshard-agent") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .info
            return logger
        }()
        if arguments.contains("--help") || arguments.contains("-h") {
            FileHandleOutput.standardOutput(AgentOptions.help + "\n")
            return 0
        }
        let options: AgentOptions
        do {
            options = try AgentOptions(arguments: arguments)
        } catch {
            FileHandleOutput.standardError("keyshard-agent: \(error)\n\(AgentOptions.usage)\n")
            return 64
        }
        do {
            try ProcessHardening.apply(lockMemory: options.lockMemory, logger: logger)
        } catch {
            FileHandleOutput.standardError("keyshard-agent: \(error)\n")
            return 71  // EX_OSERR: the system refused a protection the agent needs
        }

        // tpm2-tss's own stderr logging is switched off by TPMDevice (TSS2_LOG set by the operator wins).
        let custodian: Custodian
        do {
            let tpm = try TPMDevice(tcti: options.tcti)
            custodian = try Custodian(
                tpm: tpm, selection: options.pcrs, eventLogPath: options.eventLogPath, logger: logger,
                endorsementKey: options.endorsementKey, pins: options.pins, onDestroy: { exitSoon(after: .milliseconds(200)) })
        } catch {
            logger.critical("cannot start: \(error)")
            return 1
        }

        // SIGTERM and SIGINT: zeroise, then exit. The handler only writes a byte to a pipe
        // (async-signal-safe); a Dispatch thread blocked on the pipe does the work (a plain
        // thread, not the cooperative pool, which must stay free for the server).
        guard let readEnd = installTerminationHandler() else {
            logger.critical("cannot install the SIGTERM handler")
            return 1
        }
        DispatchQueue(label: "keyshard-agent.termination").async {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) < 0, errno == EINTR {}
            Task {
                let count = await custodian.zeroise()
                logger.notice(
                    "terminated by a signal: zeroised and exiting",
                    metadata: ["signal": "\(byte)", "shares": "\(count)"])
                exit(0)
            }
        }

        do {
            try await options.transport.transport.serve(
                options: AgentConnectionOptions(logger: logger), handler: custodian,
                onReady: { logger.info("listening", metadata: ["transport": "\(options.transport)"]) })
        } catch {
            logger.critical("the transport failed: \(error)")
            await custodian.zeroise()
            return 1
        }
        await custodian.zeroise()
        return 0
    }

    /// Routes SIGTERM and SIGINT to a pipe and unblocks them in this thread (a parent may have
    /// started the agent with them blocked). Returns the pipe's read end, or nil on failure.
    private static func installTerminationHandler() -> Int32? {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        terminationPipe = ends[1]
        for number in [SIGTERM, SIGINT] {
            signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(terminationPipe, &byte, 1)
            }
        }
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        return ends[0]
    }

    /// Exits after the Destroyed answer had time to leave.
    private static func exitSoon(after delay: DispatchTimeInterval) {
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { exit(0) }
    }
}

/// The write end of the termination pipe; set once before the handler is installed, read by
/// the signal handler only.
nonisolated(unsafe) private var terminationPipe: Int32 = -1

/// Unbuffered writes to standard error, for messages before logging is set up.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func standardOutput(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
    }
}
