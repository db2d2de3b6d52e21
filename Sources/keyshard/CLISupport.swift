import ArgumentParser
import Foundation
import ShardCrypto

/// Exit codes shared by every subcommand; the README's table mirrors this.
enum KeyshardExit {
    /// A negative answer to a yes/no question, such as an invalid signature.
    static let negative = ExitCode(1)
    /// Input that could not be read or parsed: a missing file, a malformed key or signature.
    static let badInput = ExitCode(2)
    /// A cryptographic refusal of otherwise well-formed input.
    static let refused = ExitCode(3)
}

/// The largest input read from standard input. Threshold HPKE is single-shot, so the
/// whole message is held in memory; a fixed cap keeps a stray pipe from exhausting it.
let maximumInputBytes = 64 << 20

/// Prints `message` to standard error with the command name and returns `code` to throw.
func fail(_ message: String, exit code: ExitCode) -> ExitCode {
    CLIOutput.error(message)
    return code
}

/// Reads all of standard input, refusing more than ``maximumInputBytes``.
func readStandardInput() throws -> [UInt8] {
    var bytes: [UInt8] = []
    let input = FileHandle.standardInput
    while true {
        let chunk = input.readData(ofLength: 1 << 16)
        if chunk.isEmpty { return bytes }
        bytes += chunk
        if bytes.count > maximumInputBytes {
            throw fail("standard input is larger than \(maximumInputBytes >> 20) MiB; keyshard seals whole messages only "
                + "(seal a data key instead and encrypt bulk data with it)", exit: KeyshardExit.badInput)
        }
    }
}

/// `--public-key FILE`, shared by the commands that work against a key's public half.
struct PublicKeyOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The key's public half: a PEM 'PUBLIC KEY' file or SEC1 hex.",
            discussion: "For example the output of 'openssl ec -pubout', or 66/130 hex digits of a SEC1 point.",
            valueName: "file"))
    var publicKey: String

    /// Reads and decodes the key file, turning every failure into a clear message and exit code 2.
    func load() throws -> Point {
        let text: String
        do {
            // A public key file is a few hundred bytes; anything far larger is the wrong file.
            text = try CLIInput.text(at: publicKey, limit: 64 << 10)
        } catch let error as CLIInput.Failure {
            throw fail("cannot use public key file '\(publicKey)': \(error.description)", exit: KeyshardExit.badInput)
        }
        do {
            return try Point(publicKeyText: text)
        } catch let error as ShardCryptoError {
            throw fail("'\(publicKey)' is not a usable P-256 public key: \(error.reason)", exit: KeyshardExit.badInput)
        }
    }
}
