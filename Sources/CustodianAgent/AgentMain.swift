import AgentProtocol
import Dispatch
import Logging
import TPM2

#if canImport(Glibc)
    import Glibc
#endif

/// The `keyshard-agent` program: parse options, harden the process, open the TPM, serve.
public enum AgentMain {
    /// Runs the agent until Destroy, SIGTERM or a fatal error.
    /// - Parameter arguments: the command line without the program name.
    /// - Returns: the exit status (0 after Destroy or SIGTERM, 64 for bad usage, 1 for failure).
    public static func run(arguments: [String]) async -> Int32 {
        let logger = {
            var logger = Logger(label: "keyshard-agent") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .info
            return logger
        }()
        let options: AgentOptions
        do {
            options = try AgentOptions(arguments: arguments)
        } catch {
            FileHandleOutput.standardError("keyshard-agent: \(error)\n\(AgentOptions.usage)\n")
            return 64
        }
        ProcessHardening.apply(lockMemory: options.lockMemory, logger: logger)

        let custodian: Custodian
        do {
            let tpm = try TPMDevice(tcti: options.tcti)
            custodian = try Custodian(
                tpm: tpm, selection: options.pcrs, eventLogPath: options.eventLogPath, logger: logger,
                endorsementKey: options.endorsementKey, onDestroy: { exitSoon(after: .milliseconds(200)) })
        } catch {
            logger.critical("cannot start: \(error)")
            return 1
        }

        // SIGTERM: zeroise, then exit. The signal is ignored first so only the source sees it.
        signal(SIGTERM, SIG_IGN)
        let termination = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        termination.setEventHandler {
            Task {
                let count = await custodian.zeroise()
                logger.notice("SIGTERM: zeroised and exiting", metadata: ["shares": "\(count)"])
                exit(0)
            }
        }
        termination.resume()

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

    /// Exits after the Destroyed answer had time to leave.
    private static func exitSoon(after delay: DispatchTimeInterval) {
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { exit(0) }
    }
}

/// Unbuffered writes to standard error, for messages before logging is set up.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
