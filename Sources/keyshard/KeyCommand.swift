import ArgumentParser
import Foundation
import KeyshardAPI
import ShardCrypto

/// `keyshard key …`: the key lifecycle.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create, import, inspect, rotate, configure, trim and delete keys.",
        discussion: """
            Roles: list and show need client; create, rotate and config need operator;
            import, trim and delete need admin.
            """,
        subcommands: [Create.self, Import.self, List.self, Show.self, Rotate.self, Config.self, Trim.self, Delete.self]
    )

    /// Prints a key as `key show` does (a summary and its versions, or the API's JSON).
    static func show(_ key: KeyInfo, json: Bool) throws {
        if json {
            try JSONOutput.print(VaultWire.KeyBody(key))
            return
        }
        Swift.print("key \(key.name): \(key.type.rawValue), ring \(key.ring), \(key.threshold)-of-\(key.shares)")
        Swift.print(
            "latest version \(key.latestVersion); min decryption \(key.minDecryptionVersion), "
                + "min encryption \(key.minEncryptionVersion == 0 ? "latest" : String(key.minEncryptionVersion)), "
                + "min available \(key.minAvailableVersion); "
                + "deletion \(key.deletionAllowed ? "allowed" : "not allowed")"
        )
        var table = Table("VERSION", "ORIGIN", "CREATED", "PUBLIC KEY (SEC1)")
        for version in key.versions {
            table.add(
                String(version.version), version.origin, VaultWire.timestamp(version.createdAt),
                version.publicKey.hexString)
        }
        Swift.print(table.render())
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key by distributed key generation among the ring's custodians.",
            discussion: """
                The key never exists whole: the ring's attested custodians run a DKG and each
                keeps one share. hpke-p256 keys encrypt and decrypt; frost-p256 keys sign.
                Without --ring the configured default ring is used (made on first use with
                --threshold/--shares or the configured defaults).

                Example:
                  keyshard key create payments --type hpke-p256 --threshold 3 --shares 5
                """)

        @Argument(help: "The key's name: letters, digits, '.', '_', '-'.") var name: String
        @Option(help: ArgumentHelp("hpke-p256 (encryption) or frost-p256 (signing).", valueName: "type"))
        var type: String = KeyType.hpkeP256.rawValue
        @Option(help: ArgumentHelp("Custodians needed for an operation.", valueName: "t")) var threshold: Int?
        @Option(help: ArgumentHelp("Custodians holding a share.", valueName: "n")) var shares: Int?
        @Option(help: ArgumentHelp("The ring to create it in.", valueName: "ring")) var ring: String?
        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func validate() throws {
            guard KeyType(rawValue: type) != nil else {
                throw ValidationError("--type must be hpke-p256 or frost-p256")
            }
            try KeyCommand.validateThreshold(threshold, shares)
        }

        func run() async throws {
            let key = try await daemon.withClient { client in
                try await client.createKey(
                    name, type: KeyType(rawValue: type)!, ring: ring, threshold: threshold, shares: shares)
            }
            try KeyCommand.show(key, json: output.json)
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a 32-byte scalar (hex on standard input) as a key, split among the custodians.",
            discussion: """
                keyshardd splits the scalar with a dealer, hands one share to each attested
                custodian of the ring and forgets it. Read it from a file or a pipe, never from
                the command line; shred the source afterwards.

                Example:
                  keyshard key import legacy --threshold 3 --shares 5 < legacy-key.hex
                """)

        @Argument(help: "The key's name.") var name: String
        @Option(help: ArgumentHelp("hpke-p256 or frost-p256.", valueName: "type"))
        var type: String = KeyType.hpkeP256.rawValue
        @Option(help: ArgumentHelp("Custodians needed for an operation.", valueName: "t")) var threshold: Int
        @Option(help: ArgumentHelp("Custodians holding a share.", valueName: "n")) var shares: Int
        @Option(help: ArgumentHelp("The ring to import it into.", valueName: "ring")) var ring: String?
        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func validate() throws {
            guard KeyType(rawValue: type) != nil else {
                throw ValidationError("--type must be hpke-p256 or frost-p256")
            }
            try KeyCommand.validateThreshold(threshold, shares)
        }

        func run() async throws {
            var input = try readStandardInput(limit: 1024, hint: "a key is 64 hex digits")
            defer { input.withUnsafeMutableBytes { if let base = $0.baseAddress { memset(base, 0, $0.count) } } }
            let digits = input.filter { !(0x09...0x0D).contains($0) && $0 != 0x20 }
            guard digits.count == 2 * Scalar.byteCount,
                var bytes = [UInt8](hexString: String(decoding: digits, as: UTF8.self))
            else {
                throw fail("standard input must be the 32-byte scalar as 64 hex digits", exit: KeyshardExit.badInput)
            }
            let scalar = SecretBytes(bytes)
            bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { memset(base, 0, $0.count) } }
            let key = try await daemon.withClient { client in
                try await client.importKey(
                    name, type: KeyType(rawValue: type)!, scalar: scalar, ring: ring, threshold: threshold,
                    shares: shares)
            }
            try KeyCommand.show(key, json: output.json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every key's name.", discussion: "Example:\n  keyshard key list --json")

        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func run() async throws {
            let names = try await daemon.withClient { client in try await client.keyNames() }
            if output.json {
                try JSONOutput.print(VaultWire.KeyListBody(keys: names))
            } else {
                for name in names { print(name) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a key: type, ring, versions and their public keys.",
            discussion: """
                --public-key prints only the newest version's public key (or --key-version's)
                as PEM SubjectPublicKeyInfo, for 'keyshard encrypt --public-key', openssl and
                any HPKE or RFC 9591 library.

                Examples:
                  keyshard key show payments
                  keyshard key show payments --public-key > payments.pem
                """)

        @Argument(help: "The key.") var name: String
        @Flag(help: "Print the public key as PEM only.") var publicKey = false
        @Option(help: ArgumentHelp("With --public-key: the version (default: the newest).", valueName: "version"))
        var keyVersion: Int?
        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func run() async throws {
            let key = try await daemon.withClient { client in try await client.key(name) }
            guard publicKey else {
                try KeyCommand.show(key, json: output.json)
                return
            }
            let wanted = keyVersion ?? key.latestVersion
            guard let version = key.versions.first(where: { $0.version == wanted }) else {
                throw fail(
                    "key \(name) has no version \(wanted) (available: "
                        + key.versions.map { String($0.version) }.joined(separator: ", ") + ")",
                    exit: KeyshardExit.failed)
            }
            do {
                print(try Point(sec1: version.publicKey).pemRepresentation(), terminator: "")
            } catch {
                throw fail("version \(wanted)'s public key is unusable: \(error)", exit: KeyshardExit.failed)
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new version of a key (a new DKG in the same ring).",
            discussion: """
                New encryptions and signatures use the new version; older versions still
                decrypt and verify until min_decryption_version passes them. Rewrap stored
                ciphertexts, then raise it with 'keyshard key config'.

                Example:
                  keyshard key rotate payments
                """)

        @Argument(help: "The key.") var name: String
        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func run() async throws {
            let key = try await daemon.withClient { client in try await client.rotateKey(name) }
            try KeyCommand.show(key, json: output.json)
        }
    }

    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a key's version limits or whether it may be deleted.",
            discussion: """
                Versions below min-decryption-version no longer decrypt or verify; versions
                below min-encryption-version (0: always the newest) no longer encrypt or sign.

                Examples:
                  keyshard key config payments --min-decryption-version 2
                  keyshard key config payments --deletion-allowed true
                """)

        @Argument(help: "The key.") var name: String
        @Option(help: ArgumentHelp("The lowest version that decrypts or verifies.", valueName: "version"))
        var minDecryptionVersion: Int?
        @Option(help: ArgumentHelp("The lowest version that encrypts or signs (0: the newest).", valueName: "version"))
        var minEncryptionVersion: Int?
        @Option(help: ArgumentHelp("Whether 'keyshard key delete' may delete the key.", valueName: "true|false"))
        var deletionAllowed: Bool?
        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func validate() throws {
            guard minDecryptionVersion != nil || minEncryptionVersion != nil || deletionAllowed != nil else {
                throw ValidationError(
                    "give at least one of --min-decryption-version, --min-encryption-version, --deletion-allowed")
            }
            if let minDecryptionVersion, minDecryptionVersion < 1 {
                throw ValidationError("--min-decryption-version must be at least 1")
            }
            if let minEncryptionVersion, minEncryptionVersion < 0 {
                throw ValidationError("--min-encryption-version must not be negative")
            }
        }

        func run() async throws {
            let change = KeyConfigChange(
                minDecryptionVersion: minDecryptionVersion, minEncryptionVersion: minEncryptionVersion,
                deletionAllowed: deletionAllowed)
            let key = try await daemon.withClient { client in try await client.configureKey(name, change) }
            try KeyCommand.show(key, json: output.json)
        }
    }

    struct Trim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Destroy every version below --min-version on every custodian.",
            discussion: """
                Irreversible: ciphertexts of trimmed versions can never be decrypted again.
                The version must not be above min_decryption_version or min_encryption_version.

                Example:
                  keyshard key trim payments --min-version 3
                """)

        @Argument(help: "The key.") var name: String
        @Option(help: ArgumentHelp("The lowest version to keep.", valueName: "version")) var minVersion: Int
        @OptionGroup var output: JSONOption
        @OptionGroup var daemon: DaemonOptions

        func validate() throws {
            guard minVersion >= 1 else { throw ValidationError("--min-version must be at least 1") }
        }

        func run() async throws {
            let key = try await daemon.withClient { client in try await client.trimKey(name, minimumVersion: minVersion)
            }
            try KeyCommand.show(key, json: output.json)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a key: every custodian forgets every share of it.",
            discussion: """
                Refused unless 'keyshard key config NAME --deletion-allowed true' was run first.
                Irreversible.

                Example:
                  keyshard key delete scratch
                """)

        @Argument(help: "The key.") var name: String
        @OptionGroup var daemon: DaemonOptions

        func run() async throws {
            try await daemon.withClient { client in try await client.deleteKey(name) }
        }
    }

    static func validateThreshold(_ threshold: Int?, _ shares: Int?) throws {
        if let threshold, threshold < 1 { throw ValidationError("--threshold must be at least 1") }
        if let shares, shares < 1 { throw ValidationError("--shares must be at least 1") }
        if let threshold, let shares, threshold > shares {
            throw ValidationError("--threshold (\(threshold)) cannot exceed --shares (\(shares))")
        }
    }
}
