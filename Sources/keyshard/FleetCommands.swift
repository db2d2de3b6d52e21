import ArgumentParser
import Foundation
import KeyshardAPI
import KeyshardClient

/// `keyshard status`: whether the daemon serves, ring by ring.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every ring's health; exit 2 when a ring is below its threshold.",
        discussion: """
            One line per ring: threshold and shares, healthy custodians (attested within
            the freshness window), epoch, state (ok, degraded, below-threshold) and any
            epoch change under way. Made for monitoring: exit 0 while every ring can
            serve, 2 when one cannot, 69 when keyshardd is unreachable. Needs no role.

            Examples:
              keyshard status
              keyshard status --json | jq '.rings[] | select(.state != "ok")'
            """
    )

    @OptionGroup var output: JSONOption
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let health = try await daemon.withClient { client in try await client.health() }
        if output.json {
            try JSONOutput.print(VaultWire.HealthBody(health, now: Date()))
        } else {
            print(
                "keyshardd \(health.version), \(health.backend) backend: \(health.serving ? "serving" : "NOT SERVING")")
            var table = Table("RING", "T/N", "HEALTHY", "EPOCH", "STATE", "CHANGING", "KEYS")
            for ring in health.rings {
                table.add(
                    ring.name, "\(ring.threshold)/\(ring.shares)", String(ring.healthy), String(ring.epoch), ring.state,
                    ring.changing ?? "-", ring.keys.isEmpty ? "-" : ring.keys.joined(separator: ","))
            }
            print(table.render())
        }
        let below = health.rings.filter { $0.healthy < $0.threshold || $0.state == "below-threshold" }
        if !health.serving || !below.isEmpty {
            let names = below.map(\.name).joined(separator: ", ")
            throw fail(
                below.isEmpty ? "keyshardd is not serving" : "ring(s) below threshold: \(names)",
                exit: KeyshardExit.belowThreshold)
        }
    }
}

/// `keyshard custodians`: the custodians and their attestation state.
struct CustodiansCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "custodians",
        abstract: "List custodians: index, backend id, host, state, last attestation, epoch.",
        discussion: """
            Needs the operator role.

            Examples:
              keyshard custodians
              keyshard custodians --ring payments --json
            """
    )

    @Option(help: ArgumentHelp("Only this ring's custodians.", valueName: "ring")) var ring: String?
    @OptionGroup var output: JSONOption
    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        let custodians = try await daemon.withClient { client in try await client.custodians(ring: ring) }
        if output.json {
            try JSONOutput.print(VaultWire.CustodiansBody(custodians: custodians.map(VaultWire.CustodianBody.init)))
            return
        }
        var table = Table("RING", "INDEX", "BACKEND ID", "HOST", "STATE", "LAST ATTESTED", "EPOCH")
        let now = Date()
        for custodian in custodians {
            table.add(
                custodian.ring, String(custodian.index), custodian.backendID, custodian.host, custodian.state,
                TimeText.describe(custodian.lastAttested, now: now), String(custodian.epoch))
        }
        print(table.render())
    }
}

/// `keyshard rotate`: replace every custodian of a ring (or of every ring).
struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace every custodian of a ring with fresh ones; public keys stay the same.",
        discussion: """
            Made for cron. Without --ring every ring is rotated, one after the other. Fresh
            custodians are launched and attested, the shares of every key version are
            redistributed to them, and the old custodians are destroyed; at no point are
            fewer than t attested custodians holding shares.

            On a terminal, progress is printed while it runs; otherwise nothing is printed
            but errors (and the result with --json). Exit 75 when another rotation or
            epoch change of the ring is under way: run it again later. Needs the operator
            role.

            Examples:
              keyshard rotate --ring payments
              17 3 * * *  keyshard rotate || logger -t keyshard "rotation failed: $?"
            """
    )

    @Option(help: ArgumentHelp("The ring (default: every ring).", valueName: "ring")) var ring: String?
    @OptionGroup var output: JSONOption
    @OptionGroup var daemon: DaemonOptions

    /// How often progress is polled on a terminal.
    static let pollInterval = Duration.seconds(1)

    func run() async throws {
        let onTerminal = isatty(STDOUT_FILENO) == 1 && !output.json
        let rotated = try await daemon.withClient { client in
            let names: [String]
            if let ring { names = [ring] } else { names = try await client.rings().map(\.name) }
            var results: [RingInfo] = []
            for name in names {
                if onTerminal { print("rotating ring \(name)…") }
                let result = try await withThrowingTaskGroup(of: RingInfo?.self) { group in
                    group.addTask { try await client.rotateRing(name) }
                    if onTerminal {
                        group.addTask {
                            await Self.showProgress(of: name, client: client)
                            return nil
                        }
                    }
                    var finished: RingInfo?
                    while let next = try await group.next() {
                        if let next {
                            finished = next
                            group.cancelAll()
                        }
                    }
                    return finished
                }
                guard let result else { continue }
                if onTerminal {
                    let health = "\(result.healthy)/\(result.shares) healthy"
                    print("ring \(name): epoch \(result.epoch), \(health), \(result.state)")
                }
                results.append(result)
            }
            return results
        }
        if output.json { try JSONOutput.print(VaultWire.RingsBody(rings: rotated.map(VaultWire.RingBody.init))) }
    }

    /// Prints the ring's state whenever it changes, until cancelled; polling errors are not
    /// fatal (the rotation's own answer decides the outcome).
    private static func showProgress(of name: String, client: KeyshardClient) async {
        var last = ""
        while true {
            do { try await Task.sleep(for: pollInterval) } catch { return }
            guard let ring = try? await client.rings().first(where: { $0.name == name }) else { continue }
            let line = "  epoch \(ring.epoch), \(ring.healthy)/\(ring.shares) healthy, \(ring.changing ?? ring.state)"
            if line != last {
                print(line)
                last = line
            }
        }
    }
}
