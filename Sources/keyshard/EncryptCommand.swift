import ArgumentParser
import Foundation
import ShardCrypto

/// `keyshard encrypt`: seal standard input to a key's public half.
struct EncryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Seal data from standard input to a key's public half (RFC 9180 HPKE).",
        discussion: """
            Reads the plaintext from standard input and prints one line:

              keyshard:v1:<base64(enc || ciphertext)>

            The ciphertext is plain RFC 9180 HPKE, base mode, single shot, suite
            DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM (0x0010/0x0001/0x0002):
            any HPKE library can produce the same format. Encryption needs only the
            public key and no daemon; decryption needs a threshold of custodians.

            The info string binds the ciphertext to a purpose: decryption must name the
            same info, so use it to keep ciphertexts of one application from being
            replayed to another. Input is limited to 64 MiB.

            Example:
              echo -n 'db password' | keyshard encrypt --public-key payments.pem --info payments/db
            """
    )

    @OptionGroup var key: PublicKeyOptions

    @Option(help: ArgumentHelp("HPKE info string bound into the ciphertext.", valueName: "string"))
    var info: String = ""

    func run() throws {
        let publicKey = try key.load()
        let plaintext = try readStandardInput()
        let sealed: [UInt8]
        do {
            sealed = try ThresholdHPKE.seal(plaintext: plaintext, to: publicKey, info: Array(info.utf8))
        } catch let error as ShardCryptoError {
            throw fail("encryption failed: \(error.reason)", exit: KeyshardExit.refused)
        }
        print(CiphertextArmor.armor(sealed))
    }
}

/// The text form of a keyshard ciphertext: `keyshard:v1:` and standard base64.
enum CiphertextArmor {
    static let prefix = "keyshard:v1:"

    static func armor(_ bytes: [UInt8]) -> String { prefix + Data(bytes).base64EncodedString() }
}
