import ArgumentParser
import Foundation
import KeyshardAPI
import ShardCrypto

/// `keyshard verify`: check a FROST(P-256, SHA-256) signature.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a threshold signature (RFC 9591 FROST(P-256, SHA-256)) over standard input.",
        discussion: """
            Reads the signed message from standard input (at most 64 MiB). Prints 'valid'
            and exits 0 when the signature verifies under the public key; prints 'invalid'
            and exits 1 when it does not. A malformed key or signature is not 'invalid':
            it is reported on standard error with exit code 65.

            The signature is 65 bytes in hex: the compressed commitment R (33 bytes)
            followed by the response z (32 bytes), as RFC 9591 serializes it and
            'keyshard sign' prints it; keyshard's text form keyshard:vN:<base64> is
            accepted too.

            --key NAME fetches the key's public keys from keyshardd and verifies here,
            against every version still available, and says which one verified
            ('valid (version 2)'); a signature by a version below the key's
            min_decryption_version is invalid. --public-key FILE needs no daemon.

            Examples:
              keyshard verify --key release --signature 02ae…45 < release.tar
              keyshard verify --public-key release.pem --signature 02ae…45 < release.tar
            """
    )

    @Option(help: ArgumentHelp("Verify against this key's public keys, fetched from keyshardd.", valueName: "name"))
    var key: String?

    @Option(
        name: .customLong("public-key"),
        help: ArgumentHelp(
            "Verify offline against this public key: a PEM 'PUBLIC KEY' file or SEC1 hex.",
            discussion: "For example the output of 'openssl ec -pubout', or 66/130 hex digits of a SEC1 point.",
            valueName: "file"))
    var publicKey: String?

    @Option(help: ArgumentHelp("The signature: 130 hex digits (compressed R || z).", valueName: "hex"))
    var signature: String

    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        guard (key == nil) != (publicKey == nil) else {
            throw ValidationError(
                "give --key NAME (public keys from keyshardd) or --public-key FILE, not both or neither")
        }
    }

    func run() async throws {
        let (decoded, armoredVersion) = try Self.parse(signature)
        if let publicKey {
            let point = try PublicKeyFile.load(publicKey)
            let message = try readStandardInput()
            guard FROST.verify(signature: decoded, message: message, publicKey: point) else {
                print("invalid")
                throw KeyshardExit.failed
            }
            print("valid")
            return
        }
        guard let key else { return }
        let info = try await daemon.withClient { client in try await client.key(key) }
        let message = try readStandardInput()
        let candidates = info.versions.filter { armoredVersion == nil || $0.version == armoredVersion }
        for version in candidates.reversed() {
            guard let point = try? Point(sec1: version.publicKey),
                FROST.verify(signature: decoded, message: message, publicKey: point)
            else { continue }
            guard version.version >= info.minDecryptionVersion else {
                print("invalid")
                throw fail(
                    "the signature is by version \(version.version) of \(key), below its min_decryption_version "
                        + "\(info.minDecryptionVersion)", exit: KeyshardExit.failed)
            }
            print("valid (version \(version.version))")
            return
        }
        print("invalid")
        throw KeyshardExit.failed
    }

    /// Hex (`keyshard sign`'s output) or `keyshard:vN:<base64>` (the API's); malformed is exit 65.
    static func parse(_ text: String) throws -> (FROST.Signature, Int?) {
        let trimmed = text.filter { !$0.isWhitespace }
        let bytes: [UInt8]
        var version: Int?
        if trimmed.hasPrefix(KeyshardArmor.prefix) {
            do {
                let armored = try KeyshardSignature(parsing: trimmed)
                (bytes, version) = (armored.bytes, armored.version)
            } catch {
                throw fail("malformed signature: \(error.message)", exit: KeyshardExit.badInput)
            }
        } else {
            guard let hex = [UInt8](hexString: trimmed) else {
                throw fail("the signature is not hex", exit: KeyshardExit.badInput)
            }
            bytes = hex
        }
        do {
            return (try FROST.Signature(serialized: bytes), version)
        } catch {
            throw fail("malformed signature: \(error.reason)", exit: KeyshardExit.badInput)
        }
    }
}
