import Foundation
import TestSupport
import Testing
@testable import ShardCrypto

/// Threshold signatures from this implementation, checked by an independent
/// verifier: Tests/interop/frost_verify.py (Debian python3-ecdsa + hashlib only).
///
/// A missing /usr/bin/python3 or python3-ecdsa is a failure, not a skip:
/// `scripts/bootstrap` (run by `make test`) installs both.
@Suite("FROST interop with an independent Python verifier", .serialized) struct FROSTInteropTests {
    static let python = "/usr/bin/python3"

    /// Tests/interop/frost_verify.py, found from this file's location.
    static var script: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // ShardCryptoTests
            .deletingLastPathComponent()  // Tests
            .appendingPathComponent("interop/frost_verify.py")
    }

    struct Run {
        let status: Int32
        let output: String
        let errors: String
    }

    static func run(arguments: [String], input: [UInt8]) throws -> Run {
        let result = try ProcessRunner.run(python, arguments, input: input, timeout: 120)
        return Run(status: result.status, output: result.standardOutput, errors: result.standardError)
    }

    /// Fails, with what to install, unless the verifier can run at all.
    static func requireVerifier() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: python),
            "\(python) is missing: install Debian's python3 (scripts/bootstrap does; `make test` runs it)")
        try #require(
            FileManager.default.fileExists(atPath: script.path), "the verifier script is missing at \(script.path)")
        let probe = try run(arguments: ["-c", "import ecdsa; from ecdsa import NIST256p"], input: [])
        try #require(
            probe.status == 0,
            "\(python) cannot import ecdsa: install Debian's python3-ecdsa (scripts/bootstrap does). \(probe.errors)")
    }

    /// Runs the verifier; returns its verdict line and exit status.
    static func verify(publicKey: Point, signature: [UInt8], message: [UInt8]) throws -> Run {
        try run(
            arguments: [script.path, "--public-key", try publicKey.compressed().hexString, "--signature",
                signature.hexString],
            input: message)
    }

    @Test func pythonVerifierAcceptsTheRFCVector() throws {
        try Self.requireVerifier()
        let vector = try FROSTVector.load()
        let result = try Self.verify(
            publicKey: try point(vector.inputs.groupPublicKey), signature: try bytes(vector.finalOutput.sig),
            message: try bytes(vector.inputs.message))
        #expect(result.output == "valid\n", "\(result.errors)")
        #expect(result.status == 0)
    }

    @Test(arguments: [
        (1, 1, [1] as [UInt16], 0), (2, 3, [1, 3], 1), (3, 5, [2, 4, 5], 10 * 1024), (4, 7, [7, 1, 3, 5], 200),
        (5, 5, [1, 2, 3, 4, 5], 33),
    ])
    func pythonVerifierAcceptsOurSignatures(threshold: Int, participants: Int, signers: [UInt16], length: Int)
        throws
    {
        try Self.requireVerifier()
        let key = try FROSTTestKey.deal(threshold: threshold, participants: participants)
        let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let signature = try frostSign(key: key, signers: try signers.map { try key.share($0) }, message: message)
        let result = try Self.verify(
            publicKey: key.groupPublicKey, signature: try signature.serialized(), message: message)
        #expect(result.output == "valid\n", "t=\(threshold) n=\(participants) \(message.count) bytes: \(result.errors)")
        #expect(result.status == 0)
    }

    @Test func pythonVerifierRejectsTampering() throws {
        try Self.requireVerifier()
        let key = try FROSTTestKey.deal(threshold: 2, participants: 3)
        let message = Array("rotate key version 7".utf8)
        let signature = try frostSign(key: key, signers: [try key.share(2), try key.share(3)], message: message)
        var tampered = try signature.serialized()
        tampered[64] ^= 0x01
        let result = try Self.verify(publicKey: key.groupPublicKey, signature: tampered, message: message)
        #expect(result.output == "invalid\n")
        #expect(result.status == 1)
        let otherMessage = try Self.verify(
            publicKey: key.groupPublicKey, signature: try signature.serialized(), message: message + [0])
        #expect(otherMessage.output == "invalid\n")
        #expect(otherMessage.status == 1)
    }
}
