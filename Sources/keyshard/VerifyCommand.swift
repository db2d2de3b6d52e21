import ArgumentParser
import Foundation
import ShardCrypto

/// `keyshard verify`: check a FROST(P-256, SHA-256) signature.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a threshold signature (RFC 9591 FROST(P-256, SHA-256)) over standard input.",
        discussion: """
            Reads the signed message from standard input (at most 64 MiB). Prints 'valid'
            and exits 0 when the signature verifies under the public key; prints 'invalid'
            and exits 1 when it does not. A malformed key or signature is not 'invalid':
            it is reported on standard error with exit code 2.

            The signature is 65 bytes in hex: the compressed commitment R (33 bytes)
            followed by the response z (32 bytes), as RFC 9591 serializes it.

            Example:
              keyshard verify --public-key release.pem --signature 02ae…45 < release.tar
            """
    )

    @OptionGroup var key: PublicKeyOptions

    @Option(help: ArgumentHelp("The signature: 130 hex digits (compressed R || z).", valueName: "hex"))
    var signature: String

    func run() throws {
        let trimmed = signature.filter { !$0.isWhitespace }
        guard let bytes = [UInt8](hexString: trimmed) else {
            throw fail("the signature is not hex", exit: KeyshardExit.badInput)
        }
        let decoded: FROST.Signature
        do {
            decoded = try FROST.Signature(serialized: bytes)
        } catch let error as ShardCryptoError {
            throw fail("malformed signature: \(error.reason)", exit: KeyshardExit.badInput)
        }
        let publicKey = try key.load()
        let message = try readStandardInput()
        if FROST.verify(signature: decoded, message: message, publicKey: publicKey) {
            print("valid")
        } else {
            print("invalid")
            throw KeyshardExit.negative
        }
    }
}
