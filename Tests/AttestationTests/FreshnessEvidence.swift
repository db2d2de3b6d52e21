import Attestation
import Crypto
import Foundation
import TestSupport
import TPM2

/// Successive quotes by one persistent AK of a real swtpm, across a TPM reset, a restart and a power loss,
/// for the freshness tests.
///
/// The AK is made by tpm2_createak under the EK and persisted (0x81010002), so it survives every power
/// cycle; the cycles go through swtpm's control channel (`swtpm_ioctl -i`, a power cycle) and
/// tpm2_shutdown / tpm2_startup, as firmware and the OS would.
struct FreshnessEvidence: Sendable {
    /// The nonce of the `index`th quote (each quote answers its own challenge).
    static func nonce(_ index: Int) -> [UInt8] {
        Array(SHA256.hash(data: Array("keyshard freshness challenge \(index)".utf8)))
    }

    /// The first quote of the boot.
    let first: Evidence
    /// A later quote of the same boot (nonce 2).
    let second: Evidence
    /// After `tpm2_shutdown -c`, a power cycle and `tpm2_startup -c`: an orderly TPM reset, a reboot (nonce 3).
    let afterReset: Evidence
    /// After `tpm2_shutdown` (STATE), a power cycle and `tpm2_startup` (STATE): a TPM restart, a resume
    /// (nonce 4).
    let afterRestart: Evidence
    /// After a power cycle with no shutdown and `tpm2_startup -c`: the clock is no longer safe (nonce 5).
    let afterPowerLoss: Evidence

    /// The shared fixture, or why it could not be made.
    static let shared: Result<FreshnessEvidence, SwtpmEvidence.FixtureError> = {
        do {
            return .success(try FreshnessEvidence())
        } catch {
            return .failure(SwtpmEvidence.FixtureError(description: "\(error)"))
        }
    }()

    /// The fixture, or a thrown error that fails the calling test with swtpm's reason.
    static func get() throws -> FreshnessEvidence { try shared.get() }

    /// The values of PCRs 0, 4 and 9 in every quote here: nothing is extended, and a reset zeroes them again.
    static let policyYAMLPCRs = """
        pcrs:
          0: ["\(String(repeating: "0", count: 64))"]
          4: ["\(String(repeating: "0", count: 64))"]
          9: ["\(String(repeating: "0", count: 64))"]
        """

    /// A policy for these quotes with the given `freshness:` block (indented two spaces per level).
    static func policyYAML(freshness: String) -> String {
        """
        apiVersion: keyshard/v1
        kind: AttestationPolicy
        name: freshness-test
        pcrBank: sha256
        \(policyYAMLPCRs)
        \(freshness)

        """
    }

    private init() throws {
        let quotes = try SoftwareTPM.with { tpm in
            let control = ["--tcp", "127.0.0.1:\(tpm.port + 1)"]
            try tpm.tool("tpm2_createek", ["-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub"])
            try tpm.tool("tpm2_createak", ["-C", "ek.ctx", "-c", "ak.ctx", "-u", "ak.pub", "-r", "ak.priv",
                                          "-G", "ecc", "-s", "ecdsa", "-g", "sha256"])
            try tpm.tool("tpm2_evictcontrol", ["-C", "o", "-c", "ak.ctx", "0x81010002"])
            var count = 0
            func quote() throws -> Evidence {
                count += 1
                let nonce = Self.nonce(count)
                try tpm.tool("tpm2_quote", ["-c", "0x81010002", "-l", "sha256:0,4,9",
                                           "-q", nonce.map { String(format: "%02x", $0) }.joined(),
                                           "-g", "sha256", "-m", "q.msg", "-s", "q.sig", "-o", "q.pcrs",
                                           "-F", "values"])
                let values = try tpm.file("q.pcrs")
                var pcrs: [Int: [UInt8]] = [:]
                for (position, index) in [0, 4, 9].enumerated() {
                    pcrs[index] = Array(values[(position * 32)..<(position * 32 + 32)])
                }
                return Evidence(nonce: nonce, akPublic: try tpm.file("ak.pub"), quoteMessage: try tpm.file("q.msg"),
                                quoteSignature: try tpm.file("q.sig"), pcrs: [.sha256: pcrs])
            }
            let first = try quote()
            let second = try quote()
            try tpm.tool("tpm2_shutdown", ["-c"], flush: false)
            try tpm.tool("swtpm_ioctl", control + ["-i"], flush: false)
            try tpm.tool("tpm2_startup", ["-c"])
            let afterReset = try quote()
            try tpm.tool("tpm2_shutdown", [], flush: false)
            try tpm.tool("swtpm_ioctl", control + ["-i"], flush: false)
            try tpm.tool("tpm2_startup", [])
            let afterRestart = try quote()
            try tpm.tool("swtpm_ioctl", control + ["-i"], flush: false)
            try tpm.tool("tpm2_startup", ["-c"])
            let afterPowerLoss = try quote()
            return (first, second, afterReset, afterRestart, afterPowerLoss)
        }
        (first, second, afterReset, afterRestart, afterPowerLoss) = quotes
    }
}
