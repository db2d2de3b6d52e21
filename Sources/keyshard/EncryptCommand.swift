import ArgumentParser
import Foundation
import KeyshardAPI
import ShardCrypto

/// `keyshard encrypt`: seal standard input to a key, on the daemon or offline.
struct EncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Seal data from standard input to a key (RFC 9180 HPKE).",
        discussion: """
            Reads the plaintext from standard input and prints one line:

              keyshard:v1:<base64(enc || ciphertext)>

            (v1 is the key version sealed to). The ciphertext is plain RFC 9180 HPKE,
            base mode, single shot, suite DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 /
            AES-256-GCM (0x0010/0x0001/0x0002): any HPKE library can produce the same
            format. Decryption needs a threshold of custodians ('keyshard decrypt').

            --key NAME asks keyshardd to seal (POST /v1/transit/encrypt/NAME). The daemon
            picks the version (the latest, or min_encryption_version), refuses keys of
            the wrong type or callers without the client role, and audits the call, so
            policy holds for every ciphertext; it seals at most 1 MiB.
            --public-key FILE seals offline to a public key you already have (from
            'keyshard key show NAME --public-key'): no daemon, no audit record, up to
            64 MiB; --key-version names the version the file belongs to.

            The info string binds the ciphertext to a purpose: decryption must name the
            same info, so use it to keep ciphertexts of one application from being
            replayed to another.

            Examples:
              echo -n 'db password' | keyshard encrypt --key payments --info payments/db
              echo -n 'db password' | keyshard encrypt --public-key payments.pem --info payments/db
            """
    )

    @Option(help: ArgumentHelp("Seal on keyshardd with this key.", valueName: "name"))
    var key: String?

    @Option(
        name: .customLong("public-key"),
        help: ArgumentHelp(
            "Seal offline to this public key: a PEM 'PUBLIC KEY' file or SEC1 hex.",
            discussion: "For example the output of 'openssl ec -pubout', or 66/130 hex digits of a SEC1 point.",
            valueName: "file"))
    var publicKey: String?

    @Option(help: ArgumentHelp("With --public-key: the key version the file belongs to.", valueName: "version"))
    var keyVersion: Int = 1

    @OptionGroup var info: InfoOption
    @OptionGroup var daemon: DaemonOptions

    /// The daemon's limit: a ciphertext of 1 MiB is the longest ``KeyshardArmor`` accepts.
    static let daemonInputLimit = 1 << 20

    func validate() throws {
        guard (key == nil) != (publicKey == nil) else {
            throw ValidationError(
                "give --key NAME (keyshardd seals) or --public-key FILE (offline), not both or neither")
        }
        guard keyVersion >= 1 else { throw ValidationError("--key-version must be at least 1") }
    }

    func run() async throws {
        if let publicKey {
            let point = try PublicKeyFile.load(publicKey)
            let plaintext = try readStandardInput()
            let sealed: [UInt8]
            do {
                sealed = try ThresholdHPKE.seal(plaintext: plaintext, to: point, info: info.bytes)
            } catch {
                throw fail("encryption failed: \(error.reason)", exit: KeyshardExit.failed)
            }
            print(KeyshardCiphertext(version: keyVersion, bytes: sealed))
            return
        }
        guard let key else { return }
        var bytes = try readStandardInput(
            limit: Self.daemonInputLimit,
            hint:
                "keyshardd seals at most 1 MiB (seal a data key with 'keyshard datakey' and encrypt bulk data with it)")
        let plaintext = SecretBytes(bytes)
        bytes.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { memset(base, 0, buffer.count) }
        }
        let ciphertext = try await daemon.withClient { client in
            try await client.encrypt(key, plaintext: plaintext, context: info.bytes)
        }
        print(ciphertext)
    }
}
