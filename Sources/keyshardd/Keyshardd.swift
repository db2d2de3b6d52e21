import ArgumentParser
import AuditLog
import CustodianBackend
import Engine
import Foundation
import KeyStore
import KeyshardAPI
import KeyshardConfig
import KeyshardServer
import Logging
import ProcessBackend
import ServiceLifecycle

/// keyshardd: reads keyshard.yaml, opens the state, and runs the engine and the API server in one
/// ServiceGroup until SIGTERM or SIGINT. Everything it does lives in the libraries; this file only
/// wires them.
@main
struct Keyshardd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyshardd",
        abstract: "Keeps keys alive as Shamir shares in attested custodians and serves Vault's transit API.",
        discussion: """
            keyshardd launches custodians (microVMs under libvirt, or local processes for
            development), admits each one only after its TPM quote satisfies the attestation
            policy, re-attests every one every heartbeat, replaces any that fails, and runs key
            generation, decryption and signing as threshold protocols across them. No key and
            no share ever exists in keyshardd itself.

            The configuration is /etc/keyshard/keyshard.yaml (--config, or KEYSHARD_CONFIG);
            `keyshardd --check-config` validates it and names every problem with its line.

            --dev starts a throwaway daemon without a configuration file, like `vault server -dev`:
            process backend (which isolates nothing), 2 s heartbeats, only you may call it, and
            its custodians are destroyed when it exits (--keep-custodians keeps them).
            `--dev --backend libvirt` runs real custodian VMs on qemu:///system instead (root,
            libvirtd running, `make image` built; --image-dir names the image, policy.yaml in it
            is the image's policy).

            Signals: SIGTERM/SIGINT stop gracefully (custodians keep running and the next
            keyshardd serves the same keys); SIGHUP reloads the attestation policy and reopens
            the audit log after logrotate moved it.

            Examples:
              keyshardd --dev --state-dir /tmp/ks --socket /tmp/ks.sock
              keyshardd --dev --backend libvirt --image-dir vm-images/out --state-dir /var/tmp/ks --socket /tmp/ks.sock
              keyshardd --check-config --config /etc/keyshard/keyshard.yaml
              systemctl start keyshardd        # docs/examples/keyshardd.service
            """)

    @Option(help: ArgumentHelp("The configuration file (default: $KEYSHARD_CONFIG or /etc/keyshard/keyshard.yaml).", valueName: "path"))
    var config: String?

    @Flag(help: "Validate the configuration, print every problem with its line, and exit (0: valid, 78: not).")
    var checkConfig = false

    @Flag(help: "A throwaway daemon without a configuration file (needs --state-dir and --socket).")
    var dev = false

    @Option(help: ArgumentHelp("With --dev: where state goes (made 0700 if missing).", valueName: "dir"))
    var stateDir: String?

    @Option(help: ArgumentHelp("With --dev: the API socket.", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("With --dev: where custodians run, process or libvirt.", valueName: "kind"))
    var backend: String = "process"

    @Option(help: ArgumentHelp("With --dev --backend libvirt: the image directory (default: vm-images/out).", valueName: "dir"))
    var imageDir: String?

    @Flag(help: "With --dev: leave the custodians running at exit (a later --dev daemon on the same state dir serves the same keys).")
    var keepCustodians = false

    func validate() throws {
        if dev {
            guard stateDir != nil, socket != nil else {
                throw ValidationError("--dev needs --state-dir DIR and --socket PATH")
            }
            guard KeyshardConfiguration.BackendKind(rawValue: backend) != nil else {
                throw ValidationError("--backend is process or libvirt, not \(backend)")
            }
            if imageDir != nil, backend != "libvirt" {
                throw ValidationError("--image-dir goes with --backend libvirt")
            }
        } else if stateDir != nil || socket != nil || keepCustodians || imageDir != nil {
            throw ValidationError(
                "--state-dir, --socket, --image-dir and --keep-custodians go with --dev; otherwise set them in the configuration")
        }
    }

    func run() async throws {
        let configuration = try loadConfiguration()
        if checkConfig {
            print("\(configurationPath): valid")
            return
        }
        var logger = Logger(label: "keyshardd")
        logger.logLevel = Self.level(configuration.logLevel)
        let daemon: Daemon
        do {
            daemon = try await Daemon.open(configuration, dev: dev, logger: logger)
            try await daemon.run()
        } catch {
            FileHandle.standardError.write(Data("keyshardd: \(error)\n".utf8))
            throw ExitCode.failure
        }
        if dev, !keepCustodians {
            logger.info("--dev: destroying this daemon's custodians")
            await daemon.engine.destroyAllCustodians()
        }
    }

    var configurationPath: String {
        config ?? ProcessInfo.processInfo.environment["KEYSHARD_CONFIG"] ?? KeyshardConfiguration.defaultPath
    }

    func loadConfiguration() throws -> KeyshardConfiguration {
        if dev, let stateDir, let socket {
            var configuration = KeyshardConfiguration.development(
                stateDir: stateDir, socketPath: socket,
                backend: KeyshardConfiguration.BackendKind(rawValue: backend) ?? .process)
            if configuration.backend.kind == .libvirt {
                var image = imageDir ?? "vm-images/out"
                if !image.hasPrefix("/") { image = FileManager.default.currentDirectoryPath + "/" + image }
                configuration.backend.libvirt.imageDirectory = image
                configuration.backend.libvirt.policy = image + "/policy.yaml"
                // VMs answer heartbeats from an emulated TPM under TCG: give them room.
                configuration.heartbeat.freshnessWindow = .seconds(30)
            }
            return configuration
        }
        do {
            return try KeyshardConfiguration.load(path: configurationPath)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }

    static func level(_ level: KeyshardConfiguration.LogLevel) -> Logger.Level {
        Logger.Level(rawValue: level.rawValue) ?? .info
    }
}
