import TestSupport
import Attestation
import Crypto
import Foundation
import TPM2

/// Evidence produced once by a real swtpm with tpm2-tools, shared by the verifier tests.
///
/// One swtpm serves the whole suite: it is started, used and stopped (its directory removed)
/// inside ``SwtpmEvidence/shared``'s initialiser.
struct SwtpmEvidence: Sendable {
    /// The nonce every quote here answers.
    static let nonce: [UInt8] = Array(SHA256.hash(data: Array("keyshard test challenge".utf8)))
    /// What PCR 9 is extended with, standing in for an initrd digest.
    static let initrdDigest: [UInt8] = Array(SHA256.hash(data: Array("initrd".utf8)))

    /// A good quote by an ECC (P-256, ECDSA-SHA256) AK over sha256:0,4,9.
    let ecc: Evidence
    /// A good quote by an RSA-2048 RSASSA-SHA256 AK over sha256:0,4,9.
    let rsassa: Evidence
    /// A good quote by an RSA-2048 RSA-PSS-SHA256 AK over sha256:0,4,9.
    let rsapss: Evidence
    /// A genuine quote by the ECC AK over sha256:0,4 only.
    let narrowSelection: Evidence
    /// A genuine quote by the ECC AK over sha256:0,4,9,10.
    let wideSelection: Evidence
    /// A quote over sha256:0,4,9 signed by a non-restricted signing key made with tpm2_create.
    let unrestrictedKey: Evidence
    /// The public area of a second ECC AK in the same TPM.
    let otherAKPublic: [UInt8]
    /// The AK name tpm2_createak wrote for the ECC AK.
    let eccAKName: [UInt8]
    /// The EK (`TPM2B_PUBLIC`, ECC P-256 default template) every AK here was created under.
    let ekPublic: [UInt8]
    /// Whether swtpm had exited and its directory was gone after the fixture was made.
    let swtpmCleanedUp: Bool

    /// The shared fixture, or the reason it could not be made.
    static let shared: Result<SwtpmEvidence, FixtureError> = {
        do {
            return .success(try SwtpmEvidence())
        } catch {
            return .failure(FixtureError(description: "\(error)"))
        }
    }()

    /// Why the fixture could not be made.
    struct FixtureError: Error, Sendable, CustomStringConvertible {
        let description: String
    }

    private init() throws {
        var tpmForCheck: SoftwareTPM?
        let nonceHex = Self.nonce.map { String(format: "%02x", $0) }.joined()
        let made = try SoftwareTPM.with { tpm in
            tpmForCheck = tpm
            let initrdHex = Self.initrdDigest.map { String(format: "%02x", $0) }.joined()
            try tpm.tool("tpm2_pcrextend", ["9:sha256=\(initrdHex)"])
            try tpm.tool("tpm2_createek", ["-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub"])

            func createAK(_ name: String, _ type: [String]) throws {
                try tpm.tool("tpm2_createak", ["-C", "ek.ctx", "-c", "\(name).ctx", "-u", "\(name).pub",
                                              "-n", "\(name).name", "-r", "\(name).priv", "-g", "sha256"] + type)
            }
            func quote(_ key: String, _ selection: String, _ out: String, scheme: [String] = []) throws -> Evidence {
                try tpm.tool("tpm2_quote", ["-c", "\(key).ctx", "-l", selection, "-q", nonceHex, "-g", "sha256",
                                           "-m", "\(out).msg", "-s", "\(out).sig", "-o", "\(out).pcrs", "-F", "values"]
                                 + scheme)
                let indexes = selection.split(separator: ":")[1].split(separator: ",").compactMap { Int($0) }
                let values = try tpm.file("\(out).pcrs")
                var pcrs: [Int: [UInt8]] = [:]
                for (position, index) in indexes.sorted().enumerated() {
                    pcrs[index] = Array(values[(position * 32)..<(position * 32 + 32)])
                }
                return Evidence(
                    nonce: Self.nonce, akPublic: try tpm.file("\(key).pub"),
                    quoteMessage: try tpm.file("\(out).msg"), quoteSignature: try tpm.file("\(out).sig"),
                    pcrs: [.sha256: pcrs])
            }

            try createAK("ecc", ["-G", "ecc", "-s", "ecdsa"])
            try createAK("other", ["-G", "ecc", "-s", "ecdsa"])
            try createAK("rsassa", ["-G", "rsa", "-s", "rsassa"])
            try createAK("rsapss", ["-G", "rsa", "-s", "rsapss"])

            // A plain signing key: signs quotes, but is not restricted, so it could sign anything.
            try tpm.tool("tpm2_createprimary", ["-C", "o", "-g", "sha256", "-G", "ecc", "-c", "primary.ctx"])
            try tpm.tool("tpm2_create", ["-C", "primary.ctx", "-G", "ecc:ecdsa-sha256", "-u", "plain.pub",
                                        "-r", "plain.priv", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign"])
            try tpm.tool("tpm2_load", ["-C", "primary.ctx", "-u", "plain.pub", "-r", "plain.priv", "-c", "plain.ctx"])

            return (
                ecc: try quote("ecc", "sha256:0,4,9", "ecc"),
                rsassa: try quote("rsassa", "sha256:0,4,9", "rsassa"),
                rsapss: try quote("rsapss", "sha256:0,4,9", "rsapss", scheme: ["--scheme", "rsapss"]),
                narrow: try quote("ecc", "sha256:0,4", "narrow"),
                wide: try quote("ecc", "sha256:0,4,9,10", "wide"),
                plain: try quote("plain", "sha256:0,4,9", "plain"),
                other: try tpm.file("other.pub"),
                name: try tpm.file("ecc.name"),
                ek: try tpm.file("ek.pub"))
        }
        ecc = made.ecc
        rsassa = made.rsassa
        rsapss = made.rsapss
        narrowSelection = made.narrow
        wideSelection = made.wide
        unrestrictedKey = made.plain
        otherAKPublic = made.other
        eccAKName = made.name
        ekPublic = made.ek
        swtpmCleanedUp = tpmForCheck?.isStopped ?? false
    }

    /// The values PCRs 0, 4 and 9 hold in a fresh swtpm after the test's extend: 0 and 4 are
    /// zero (no firmware measured), 9 is SHA-256(zero ‖ initrd digest), computed here independently.
    static var expectedPCRs: [Int: [UInt8]] {
        let zero = [UInt8](repeating: 0, count: 32)
        return [0: zero, 4: zero, 9: Array(SHA256.hash(data: zero + initrdDigest))]
    }

    /// A policy YAML that pins the expected values, so good evidence satisfies it.
    static func policyYAML(pcr9: [UInt8] = expectedPCRs[9]!) -> String {
        let zero = String(repeating: "0", count: 64)
        let nine = pcr9.map { String(format: "%02x", $0) }.joined()
        return """
            apiVersion: keyshard/v1
            kind: AttestationPolicy
            name: swtpm-test
            pcrBank: sha256
            pcrs:
              0: ["\(zero)"]
              4: ["\(zero)"]
              9: ["\(nine)", "\(String(repeating: "ab", count: 32))"]

            """
    }

    /// The fixture, or a thrown error that fails the calling test with swtpm's reason.
    static func get() throws -> SwtpmEvidence { try shared.get() }
}
