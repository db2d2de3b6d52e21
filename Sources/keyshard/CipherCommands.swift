import ArgumentParser
import Foundation
import KeyshardAPI
import ShardCrypto

/// Reads one ciphertext (`keyshard:vN:<base64>`) from standard input; malformed is exit 65.
private func readCiphertext() throws -> KeyshardCiphertext {
    let text = try readStandardInputText(limit: KeyshardArmor.maximumLength + 2, what: "a keyshard ciphertext")
    do {
        return try KeyshardCiphertext(parsing: text)
    } catch {
        throw fail("standard input is not a keyshard ciphertext: \(error.message)", exit: KeyshardExit.badInput)
    }
}

/// `keyshard decrypt NAME`: threshold decryption by the key's custodians.
struct DecryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a ciphertext from standard input with a threshold of custodians.",
        discussion: """
            Reads one ciphertext, keyshard:vN:<base64(enc || ct)>, from standard input and
            writes the plaintext, byte for byte, to standard output. The ciphertext may
            come from 'keyshard encrypt', the API, or any RFC 9180 HPKE library sealing
            to the version's public key (base mode, DHKEM(P-256, HKDF-SHA256),
            HKDF-SHA256, AES-256-GCM). --info must be the info it was sealed with.

            keyshardd refuses versions below the key's min_decryption_version, keys that
            are not hpke-p256, and callers without the client role.

            Example:
              keyshard decrypt payments --info payments/db < db-password.ct > db-password
            """
    )

    @Argument(help: "The key.") var name: String
    @OptionGroup var info: InfoOption
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let ciphertext = try readCiphertext()
        let plaintext = try await daemon.withClient { client in
            try await client.decrypt(name, ciphertext: ciphertext, context: info.bytes)
        }
        try writeStandardOutput(plaintext)
    }
}

/// `keyshard datakey NAME`: a fresh data key and its ciphertext.
struct DataKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datakey",
        abstract: "Make a random data key and its ciphertext under a key.",
        discussion: """
            Prints one JSON object: {"ciphertext": "keyshard:vN:…", "plaintext": "<base64>"}.
            Encrypt bulk data locally with the plaintext key, keep only the ciphertext next
            to the data, and forget the plaintext; 'keyshard decrypt NAME' recovers it.

            Example:
              keyshard datakey backups --bits 256 --info backups/2026-11 > datakey.json
            """
    )

    @Argument(help: "The key.") var name: String
    @Option(help: ArgumentHelp("The data key's size: 128, 256 or 512.", valueName: "bits")) var bits: Int = 256
    @OptionGroup var info: InfoOption
    @OptionGroup var daemon: DaemonOptions

    func validate() throws {
        guard [128, 256, 512].contains(bits) else { throw ValidationError("--bits must be 128, 256 or 512") }
    }

    func run() async throws {
        let (plaintext, ciphertext) = try await daemon.withClient { client in
            try await client.dataKey(name, bits: bits, context: info.bytes)
        }
        let encoded = plaintext.withUnsafeBytes { VaultWire.base64($0) }
        print(#"{"ciphertext": "\#(ciphertext)", "plaintext": "\#(encoded)"}"#)
    }
}

/// `keyshard rewrap NAME`: move a ciphertext to the key's newest version.
struct RewrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrap",
        abstract: "Re-seal a ciphertext from standard input under the key's newest version.",
        discussion: """
            keyshardd decrypts and seals again without the plaintext leaving it, so a
            caller may rewrap what it could not read. Run it over stored ciphertexts after
            'keyshard key rotate', then raise min_decryption_version.

            Example:
              keyshard rewrap payments --info payments/db < old.ct > new.ct
            """
    )

    @Argument(help: "The key.") var name: String
    @OptionGroup var info: InfoOption
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let ciphertext = try readCiphertext()
        let rewrapped = try await daemon.withClient { client in
            try await client.rewrap(name, ciphertext: ciphertext, context: info.bytes)
        }
        print(rewrapped)
    }
}

/// `keyshard sign NAME`: a FROST signature by the key's custodians.
struct SignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign standard input with a threshold of custodians (RFC 9591 FROST(P-256, SHA-256)).",
        discussion: """
            Reads the message (at most 1 MiB) and prints the 65-byte signature in hex:
            the compressed commitment R (33 bytes) followed by z (32 bytes). Any RFC 9591
            verifier checks it against the key's public key; so does 'keyshard verify'.

            Example:
              keyshard sign release < release.tar > release.sig
              keyshard verify --key release --signature "$(cat release.sig)" < release.tar
            """
    )

    @Argument(help: "The key (type frost-p256).") var name: String
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let message = try readStandardInput(
            limit: EncryptCommand.daemonInputLimit,
            hint: "keyshardd signs messages of at most 1 MiB (sign a digest file)")
        let signature = try await daemon.withClient { client in try await client.sign(name, message: message) }
        print(signature.bytes.hexString)
    }
}
