import CustodianBackend
import Foundation
import Logging

/// The one EK certificate authority all of this backend's TPMs are manufactured under, as a
/// libvirt host's vTPMs all chain to its `/var/lib/swtpm-localca`.
///
/// It is `swtpm_localca` state in `<state>/process/ca/`: a self-signed root
/// (`swtpm-localca-rootca-cert.pem`) and the issuing CA below it (`issuercert.pem`, key
/// `signkey.pem`) that signs every EK certificate. Custodians pin the root's SHA-256 for their
/// whole life, so the CA is made once and kept: every later launch and every restarted daemon
/// reuses it. `swtpm_localca` creates its CA the first time it certifies an EK, so the CA is made
/// by manufacturing a throwaway TPM; it serialises concurrent use with a lock file in its directory.
struct LocalEndorsementCA: Sendable {
    /// The self-signed root swtpm_localca makes beside the issuing CA.
    static let rootFile = "swtpm-localca-rootca-cert.pem"
    /// The issuing CA that signs EK certificates.
    static let issuerFile = "issuercert.pem"

    /// The CA's directory.
    let directory: String
    /// `swtpm_setup`, which manufactures a TPM state and has swtpm_localca certify its EKs.
    let setupProgram: String
    /// The root certificate, PEM.
    let rootPEM: String
    /// The issuing certificate, PEM.
    let issuerPEM: String

    var rootPath: String { directory + "/" + Self.rootFile }
    var issuerPath: String { directory + "/" + Self.issuerFile }
    private var setupConfiguration: String { directory + "/swtpm_setup.conf" }

    /// Opens the CA in `directory`, creating it (which takes seconds: RSA keys) when it is not there.
    /// - Parameters:
    ///   - directory: the CA's directory (`<state>/process/ca`).
    ///   - scratch: a directory for the throwaway TPM that makes a new CA.
    ///   - setupProgram: the path of `swtpm_setup`.
    ///   - localCAProgram: the path of `swtpm_localca`.
    /// - Throws: ``BackendError/Code/unavailable`` when the CA cannot be made or read.
    static func open(
        directory: String, scratch: String, setupProgram: String, localCAProgram: String, logger: Logger
    ) throws(BackendError) -> LocalEndorsementCA {
        let made = Files.makePrivateDirectory(directory)
        guard made == 0 || made == EEXIST else {
            throw BackendError(.unavailable, "cannot create the EK CA directory \(directory): \(String(cString: strerror(made)))")
        }
        try writeConfiguration(directory: directory, localCAProgram: localCAProgram)
        let paths = (root: directory + "/" + rootFile, issuer: directory + "/" + issuerFile)
        let complete = [paths.root, paths.issuer, directory + "/signkey.pem"].allSatisfy {
            FileManager.default.fileExists(atPath: $0)
        }
        if !complete {
            logger.info("creating the process backend's EK CA (once; later launches reuse it)", metadata: ["directory": "\(directory)"])
            try create(directory: directory, scratch: scratch, setupProgram: setupProgram)
        }
        guard let root = try? String(contentsOfFile: paths.root, encoding: .utf8),
            let issuer = try? String(contentsOfFile: paths.issuer, encoding: .utf8)
        else {
            throw BackendError(
                .unavailable, "the EK CA in \(directory) lacks \(rootFile) or \(issuerFile); remove the directory to make a new CA")
        }
        return LocalEndorsementCA(directory: directory, setupProgram: setupProgram, rootPEM: root, issuerPEM: issuer)
    }

    /// Manufactures a TPM state under this CA: EKs (RSA and ECC) whose certificates it signs, in NV.
    /// - Parameters:
    ///   - state: an empty directory for the TPM state.
    ///   - work: the directory for swtpm_setup's scratch files and log.
    ///   - log: swtpm_setup's log file.
    ///   - started: receives the swtpm_setup process as soon as it runs, for the caller to kill.
    /// - Throws: ``BackendError/Code/launchFailed`` with the end of the log; `CancellationError`.
    func manufacture(state: String, work: String, log: String, started: (ChildProcess) -> Void) async throws {
        let setup = try spawnSetup(state: state, work: work, log: log)
        started(setup)
        guard let status = try await setup.waitForExit(timeout: Self.setupTimeout) else {
            setup.kill(processGroup: true)
            throw BackendError(
                .launchFailed, "swtpm_setup did not finish within \(Self.setupTimeout): " + Files.tail(log))
        }
        guard status == .exited(0) else {
            throw BackendError(.launchFailed, "swtpm_setup \(status): " + Files.tail(log))
        }
    }

    private func spawnSetup(state: String, work: String, log: String) throws(BackendError) -> ChildProcess {
        do {
            return try ChildProcess.spawn(
                name: "swtpm_setup", executable: setupProgram,
                arguments: [
                    "--tpm2", "--tpmstate", state, "--create-ek-cert", "--config", setupConfiguration, "--logfile", log,
                ],
                // Its scratch certificates go beside the TPM, not in the host's /tmp.
                environment: ["TMPDIR": work], log: log)
        } catch {
            throw BackendError(.launchFailed, "\(error)")
        }
    }

    /// swtpm_setup's and swtpm_localca's configuration, private to this CA so the host's
    /// /var/lib/swtpm-localca (libvirt's) is never touched. Rewritten on every start, so a moved state
    /// directory keeps working.
    private static func writeConfiguration(directory: String, localCAProgram: String) throws(BackendError) {
        let files = [
            "swtpm-localca.conf": """
                statedir = \(directory)
                signingkey = \(directory)/signkey.pem
                issuercert = \(directory)/issuercert.pem
                certserial = \(directory)/certserial

                """,
            "swtpm-localca.options": """
                --platform-manufacturer keyshard
                --platform-version 2.1
                --platform-model process-backend

                """,
            "swtpm_setup.conf": """
                create_certs_tool = \(localCAProgram)
                create_certs_tool_config = \(directory)/swtpm-localca.conf
                create_certs_tool_options = \(directory)/swtpm-localca.options
                active_pcr_banks = sha256

                """,
        ]
        for (name, text) in files {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name), options: .atomic)
            } catch {
                throw BackendError(.unavailable, "cannot write \(directory)/\(name): \(error)")
            }
        }
    }

    private static func create(directory: String, scratch: String, setupProgram: String) throws(BackendError) {
        guard Files.makePrivateDirectory(scratch) == 0 else {
            throw BackendError(.unavailable, "cannot create \(scratch): \(String(cString: strerror(errno)))")
        }
        defer { Files.remove(scratch) }
        let state = scratch + "/tpm"
        guard Files.makePrivateDirectory(state) == 0 else {
            throw BackendError(.unavailable, "cannot create \(state): \(String(cString: strerror(errno)))")
        }
        let log = scratch + "/swtpm_setup.log"
        let ca = LocalEndorsementCA(directory: directory, setupProgram: setupProgram, rootPEM: "", issuerPEM: "")
        let setup: ChildProcess
        do { setup = try ca.spawnSetup(state: state, work: scratch, log: log) } catch {
            throw BackendError(.unavailable, "cannot create the EK CA: \(error.reason)")
        }
        guard let status = setup.waitForExitBlocking(timeout: setupTimeout) else {
            setup.kill(processGroup: true)
            _ = setup.waitForExitBlocking(timeout: .seconds(5))
            throw BackendError(.unavailable, "swtpm_setup did not create the EK CA within \(setupTimeout): " + Files.tail(log))
        }
        guard status == .exited(0) else {
            throw BackendError(.unavailable, "swtpm_setup could not create the EK CA (\(status)): " + Files.tail(log))
        }
    }

    /// How long one manufacture may take (a new CA's keys take seconds on a loaded machine).
    static let setupTimeout: Duration = .seconds(120)
}
