import Foundation
import ShardCrypto
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The attacker with root on keyshardd's host, against a real `keyshardd --dev` (process backend:
/// real `keyshard-agent` and swtpm processes) driven by the real `keyshard` CLI and curl.
///
/// What is scanned, and how:
/// - **Memory** of keyshardd, of every agent and of every swtpm: every readable mapping, read
///   through `/proc/PID/mem` as root (``ProcessMemory``; the agents are non-dumpable, which stops
///   core files and other users, not root).
/// - **Files**: every regular file under the daemon's scratch directory: the SQLite database with
///   its WAL and shared-memory files, the audit log, `coordinator.key`, keyshardd's log, and per
///   custodian `record.json`, the agent's and swtpm's logs and swtpm's TPM state. Also a
///   `sqlite3 .dump` of the database (blobs come out as hex there) and the `/metrics` text.
/// - **Patterns** (``SecretForms``): raw big- and little-endian, the Montgomery limbs a live
///   ``Scalar`` is stored as, lower/upper-case hex (UTF-8 and UTF-16) and base64/base64url at all
///   three alignments, at every byte offset.
///
/// The shares are found without trusting keyshardd: ``ShareLocator`` scans each agent's writable
/// memory for a window w with w·G = X_slot (X_slot from the Feldman commitment, whose constant term
/// the test checks is x·G), and the shares found must interpolate to x. Each agent is then searched
/// for the *other* agents' shares by exact value, and keyshardd, the swtpms and every file for all
/// of them.
///
/// The window scan that locates the shares is bounded (8-byte-aligned windows that look random,
/// see ``ShareLocator``) and stops at the agent's own share; what decides the assertions is the
/// exact-value search that follows, at every offset. keyshardd's memory is read once, right after
/// the imports answered.
///
/// What is not checked: partial copies (say, 16 bytes of a share in one buffer), encodings other
/// than those listed (decimal, a BIGNUM's limbs on libcrypto's secure heap are its little-endian
/// bytes and are covered, other bases are not), values masked or split by the program (a secret XORed
/// with something is invisible to any pattern search), the memory of the keyshard CLI process (it
/// reads the key by design), pages swapped out (the host has no swap) and what keyshardd held while
/// the import ran and then wiped — only what is left once it answered.
@Suite("custody invariant: no key or share outside its custodian", .serialized)
struct CustodyInvariantTests {
    /// Claim 1, the custody invariant: after `key import` of known scalars (one through the CLI as
    /// hex, one through the API as base64), keyshardd's memory and every file of its state hold
    /// neither scalar, nor a share, nor the dealing polynomial's coefficient; each agent holds its
    /// own share and no other; the swtpms hold none; and the imported key decrypts.
    @Test(
        "after key import, keyshardd's memory and state hold neither the scalar nor a share; each agent holds only its own"
    )
    func importLeavesKeyAndSharesOnlyWithTheirCustodians() async throws {
        try await DaemonHarness.with { daemon in
            // One key through the CLI (hex), one through the API as base64: the two decodings.
            let scalar = Scalar.random()
            _ = try daemon.ok(
                ["key", "import", "custody", "--threshold", "2", "--shares", "3"],
                input: Array(SecretForms.hex(scalar.serialized()).utf8)
            )
            let base64Scalar = Scalar.random()
            let base64Import = try daemon.http(
                "POST",
                "/v1/transit/keys/custody-base64/import",
                body:
                    #"{"key": "\#(Data(base64Scalar.serialized()).base64EncodedString())", "threshold": 2, "shares": 3}"#
            )
            #expect(base64Import.status == 200, "\(base64Import.body)")
            // keyshardd first, right after it answered: the longer the wait, the likelier freed
            // memory has been reused, and the attacker picks the best moment.
            let daemonPID = try #require(daemon.process?.processIdentifier)
            let daemonMemory = try ProcessMemory.regions(of: daemonPID)

            let commitment = try Self.commitment(of: "custody", in: daemon)
            #expect(
                commitment.publicKey == .generatorMultiple(scalar),
                "the stored commitment is not to the imported key"
            )
            let custodians = try Self.custodianProcesses(daemon)
            #expect(custodians.map(\.slot) == [1, 2, 3], "\(custodians)")

            // Each agent's own share, found in its memory by w·G = X_slot. Finding it is also the
            // proof that the memory reader and the window scan see a real process's secrets.
            var shares: [UInt16: Scalar] = [:]
            for custodian in custodians {
                let memory = try ProcessMemory.regions(of: custodian.agent)
                let (found, multiplications) = ShareLocator.locate(
                    [commitment.publicShare(for: try ParticipantID(custodian.slot))],
                    in: memory
                )
                let share = try #require(
                    found,
                    "agent of slot \(custodian.slot) (pid \(custodian.agent)): no w with w·G = X_\(custodian.slot) in \(multiplications) tries"
                )
                shares[custodian.slot] = share.scalar
            }
            // Every pair of them reconstructs x: they are the shares of this key, by mathematics.
            for pair in [(1, 2), (1, 3), (2, 3)] as [(UInt16, UInt16)] {
                let reconstructed = try Shamir.interpolate([
                    SecretShare(id: try ParticipantID(pair.0), value: try #require(shares[pair.0])),
                    SecretShare(id: try ParticipantID(pair.1), value: try #require(shares[pair.1])),
                ])
                #expect(reconstructed == scalar, "shares \(pair) do not interpolate to the imported scalar")
            }

            let shareForms = shares.sorted { $0.key < $1.key }.map { SecretForms("share \($0.key)", scalar: $0.value) }
            // The dealer's other coefficient: f(z) = x + a₁·z, so a₁ = f(2) − f(1); with any one share
            // it gives the key, so it must be gone as well.
            let coefficient = try #require(shares[2]) - (try #require(shares[1]))
            let keyMaterial = [
                SecretForms("the imported scalar", scalar: scalar),
                SecretForms("the scalar imported as base64", scalar: base64Scalar),
                SecretForms("the polynomial's coefficient a₁", scalar: coefficient),
            ]
            // keyshardd: neither a scalar nor a share nor a₁, in any form, anywhere in its memory.
            let inDaemon = sightings(of: keyMaterial + shareForms, in: daemonMemory)
            var sightingsOutside = inDaemon.count
            #expect(
                inDaemon.isEmpty,
                "keyshardd's memory:\n\(inDaemon.prefix(20).map(\.description).joined(separator: "\n"))"
            )

            for custodian in custodians {
                let memory = try ProcessMemory.regions(of: custodian.agent)
                let own = shareForms.first { $0.label == "share \(custodian.slot)" }!
                // The pattern search sees the share the window scan found (the positive control).
                #expect(!sightings(of: [own], in: memory).isEmpty, "the agent of slot \(custodian.slot) lost its share")
                let others = keyMaterial + shareForms.filter { $0.label != own.label }
                let found = sightings(of: others, in: memory)
                sightingsOutside += found.count
                #expect(
                    found.isEmpty,
                    "agent of slot \(custodian.slot):\n\(found.prefix(20).map(\.description).joined(separator: "\n"))"
                )
                let swtpm = sightings(of: keyMaterial + shareForms, in: try ProcessMemory.regions(of: custodian.swtpm))
                sightingsOutside += swtpm.count
                #expect(
                    swtpm.isEmpty,
                    "swtpm of slot \(custodian.slot):\n\(swtpm.prefix(20).map(\.description).joined(separator: "\n"))"
                )
            }

            let files = filesUnder(daemon.directory.path)
            #expect(
                files.contains { $0.origin.hasSuffix("/keyshard.sqlite") }
                    && files.contains { $0.origin.hasSuffix("/audit.log") }
            )
            #expect(
                files.contains { $0.origin.hasSuffix("/record.json") }
                    && files.contains { $0.origin.hasSuffix("/agent.log") }
            )
            let onDisk = sightings(of: keyMaterial + shareForms, in: files)
            sightingsOutside += onDisk.count
            #expect(onDisk.isEmpty, "state files:\n\(onDisk.prefix(20).map(\.description).joined(separator: "\n"))")

            // And the key is real: what is sealed to x·G decrypts by threshold.
            let message = Array("sealed to the imported key".utf8)
            let sealed = try ThresholdHPKE.seal(plaintext: message, to: .generatorMultiple(scalar), info: [])
            let opened = try daemon.ok(
                ["decrypt", "custody"],
                input: Array(("keyshard:v1:" + Data(sealed).base64EncodedString()).utf8)
            )
            #expect(Array(opened.utf8) == message)
            ReliabilityReport.record(
                .custody, "after key import: keyshardd's memory and state files, each swtpm, and each agent beyond its own share",
                held: sightingsOutside == 0 && Array(opened.utf8) == message,
                detail: "\(sightingsOutside) sightings of the scalar, a share or a₁ (raw, Montgomery, hex, base64) outside their custodian")
        }
    }

    /// The custody invariant for a key nobody ever knew: after `key create` (a DKG among the
    /// agents), each agent's share is found in its memory by w·G = X_slot, two of them give the
    /// key x by interpolation (checked against the stored public key), and then keyshardd's
    /// memory and files hold neither x nor a share, and no agent holds x or another's share. The
    /// dealers' polynomials and the sub-shares f_i(j) are not searched: nobody outside the dealer
    /// can know them to search for.
    @Test("after key create by DKG, keyshardd holds neither the key nor a share, and each agent only its own share")
    func dkgLeavesKeyAndSharesOnlyWithTheirCustodians() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "made-by-dkg"])
            let daemonPID = try #require(daemon.process?.processIdentifier)
            let daemonMemory = try ProcessMemory.regions(of: daemonPID)
            let commitment = try Self.commitment(of: "made-by-dkg", in: daemon)
            let custodians = try Self.custodianProcesses(daemon)
            #expect(custodians.map(\.slot) == [1, 2, 3], "\(custodians)")
            let shares = try Self.locateShares(of: commitment, in: custodians)
            let key = try Shamir.interpolate([
                SecretShare(id: try ParticipantID(1), value: try #require(shares[1])),
                SecretShare(id: try ParticipantID(2), value: try #require(shares[2])),
            ])
            #expect(commitment.publicKey == .generatorMultiple(key), "the found shares are not this key's")
            let keyForms = [SecretForms("the DKG key x", scalar: key)]
            let shareForms = shares.sorted { $0.key < $1.key }.map { SecretForms("share \($0.key)", scalar: $0.value) }

            var outside = sightings(of: keyForms + shareForms, in: daemonMemory)
            #expect(outside.isEmpty, "keyshardd's memory:\n\(outside.prefix(20).map(\.description).joined(separator: "\n"))")
            for custodian in custodians {
                let own = shareForms.first { $0.label == "share \(custodian.slot)" }!
                let found = sightings(
                    of: keyForms + shareForms.filter { $0.label != own.label }, in: try ProcessMemory.regions(of: custodian.agent))
                #expect(found.isEmpty, "agent of slot \(custodian.slot):\n\(found.prefix(20).map(\.description).joined(separator: "\n"))")
                outside += found
            }
            let onDisk = sightings(of: keyForms + shareForms, in: filesUnder(daemon.directory.path))
            #expect(onDisk.isEmpty, "state files:\n\(onDisk.prefix(20).map(\.description).joined(separator: "\n"))")
            outside += onDisk
            ReliabilityReport.record(
                .custody, "after key create by DKG: keyshardd's memory and files, and each agent beyond its own share",
                held: outside.isEmpty && commitment.publicKey == .generatorMultiple(key),
                detail: "\(outside.count) sightings of x or a share outside their custodian (x found by interpolating the agents' shares)")
        }
    }

    /// The custody invariant across a ring rotation, where shares move: after `key import` of a
    /// known scalar, `keyshard rotate` replaces every custodian, and the old holders re-share their
    /// shares to the new ones through keyshardd (redistribution: each old holder deals sub-shares of
    /// its share, sealed to one new holder each). Then the new shares are found in the new agents by
    /// w·G = X'_slot (from the new epoch's commitment) and must interpolate to the same x; keyshardd's
    /// memory and files hold neither x nor any old or new share; each new agent holds its own new
    /// share and nothing else of the key; and the old agents are gone. The sub-shares themselves
    /// are only ever known to their dealer and recipient, so they are not searched for.
    @Test("after a rotation re-shares an imported key, keyshardd holds neither the key nor an old or a new share")
    func rotationLeavesReSharedSharesOnlyWithTheirCustodians() async throws {
        try await DaemonHarness.with { daemon in
            let scalar = Scalar.random()
            _ = try daemon.ok(
                ["key", "import", "reshared", "--threshold", "2", "--shares", "3"],
                input: Array(SecretForms.hex(scalar.serialized()).utf8))
            let before = try Self.commitment(of: "reshared", in: daemon)
            let oldCustodians = try Self.custodianProcesses(daemon)
            let oldShares = try Self.locateShares(of: before, in: oldCustodians)

            _ = try daemon.ok(["rotate"])
            let daemonPID = try #require(daemon.process?.processIdentifier)
            let daemonMemory = try ProcessMemory.regions(of: daemonPID)

            let after = try Self.commitment(of: "reshared", in: daemon)
            #expect(after.publicKey == .generatorMultiple(scalar), "the rotation changed the public key")
            #expect(after != before, "the rotation did not re-share (the commitment is the old one)")
            let newCustodians = try Self.custodianProcesses(daemon)
            #expect(newCustodians.count == 3, "\(newCustodians)")
            #expect(
                Set(newCustodians.map(\.agent)).isDisjoint(with: oldCustodians.map(\.agent)),
                "a custodian survived the rotation: old \(oldCustodians), new \(newCustodians)")
            for old in oldCustodians {
                #expect(kill(old.agent, 0) != 0, "the old agent \(old.agent) still runs after the rotation")
            }
            let newShares = try Self.locateShares(of: after, in: newCustodians)
            let reconstructed = try Shamir.interpolate([
                SecretShare(id: try ParticipantID(1), value: try #require(newShares[1])),
                SecretShare(id: try ParticipantID(3), value: try #require(newShares[3])),
            ])
            #expect(reconstructed == scalar, "the new shares do not interpolate to the imported scalar")
            #expect(newShares[1] != oldShares[1], "slot 1's share is unchanged by the rotation")

            let keyForms = [SecretForms("the imported scalar", scalar: scalar)]
            let oldForms = oldShares.sorted { $0.key < $1.key }.map { SecretForms("old share \($0.key)", scalar: $0.value) }
            let newForms = newShares.sorted { $0.key < $1.key }.map { SecretForms("new share \($0.key)", scalar: $0.value) }
            var outside = sightings(of: keyForms + oldForms + newForms, in: daemonMemory)
            #expect(outside.isEmpty, "keyshardd's memory:\n\(outside.prefix(20).map(\.description).joined(separator: "\n"))")
            for custodian in newCustodians {
                let own = newForms.first { $0.label == "new share \(custodian.slot)" }!
                let memory = try ProcessMemory.regions(of: custodian.agent)
                #expect(!sightings(of: [own], in: memory).isEmpty, "the new agent of slot \(custodian.slot) lost its share")
                let found = sightings(of: keyForms + oldForms + newForms.filter { $0.label != own.label }, in: memory)
                #expect(found.isEmpty, "new agent of slot \(custodian.slot):\n\(found.prefix(20).map(\.description).joined(separator: "\n"))")
                outside += found
            }
            let onDisk = sightings(of: keyForms + oldForms + newForms, in: filesUnder(daemon.directory.path))
            #expect(onDisk.isEmpty, "state files:\n\(onDisk.prefix(20).map(\.description).joined(separator: "\n"))")
            outside += onDisk

            // The re-shared key still decrypts what was sealed to it.
            let message = Array("sealed before the rotation".utf8)
            let sealed = try ThresholdHPKE.seal(plaintext: message, to: .generatorMultiple(scalar), info: [])
            let opened = try daemon.ok(
                ["decrypt", "reshared"], input: Array(("keyshard:v1:" + Data(sealed).base64EncodedString()).utf8))
            #expect(Array(opened.utf8) == message)
            ReliabilityReport.record(
                .custody, "after a rotation re-shares an imported key: keyshardd's memory and files, each new agent beyond its own share",
                held: outside.isEmpty && reconstructed == scalar && Array(opened.utf8) == message,
                detail: "\(outside.count) sightings of x, an old share or a new share outside their custodian")
        }
    }

    /// Claim 2: after imports, a decryption, a FROST signature and a data key, and after refused
    /// requests that carry the key, no log (keyshardd's, every agent's and swtpm's), audit entry,
    /// SQLite file or row, metric or error message holds either imported scalar, the data key or
    /// the encrypted plaintext; a planted copy is found by the same scan.
    @Test("no key, data key or plaintext in any log line, audit entry, SQLite row, metric or error message")
    func noSecretInLogsRowsMetricsOrErrors() async throws {
        try await DaemonHarness.with { daemon in
            let encryptionKey = Scalar.random()
            let signingKey = Scalar.random()
            _ = try daemon.ok(
                ["key", "import", "ledger", "--threshold", "2", "--shares", "3"],
                input: Array(SecretForms.hex(encryptionKey.serialized()).utf8)
            )
            _ = try daemon.ok(
                ["key", "import", "releases", "--type", "frost-p256", "--threshold", "2", "--shares", "3"],
                input: Array(SecretForms.hex(signingKey.serialized()).utf8)
            )

            // Use them: encrypt and decrypt through the daemon, sign and verify, a data key.
            let plaintext = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let ciphertext = try daemon.ok(["encrypt", "--key", "ledger"], input: plaintext).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            // Decrypted through the API, whose base64 compares exactly (the CLI prints raw bytes).
            let decrypted = try daemon.http(
                "POST",
                "/v1/transit/decrypt/ledger",
                body: #"{"ciphertext": "\#(ciphertext)"}"#
            )
            let decryptedData = try DaemonCLITests.json(decrypted.body)["data"] as? [String: Any]
            #expect(
                decryptedData?["plaintext"] as? String == Data(plaintext).base64EncodedString(),
                "\(decrypted.body)"
            )
            let message = Array("release 2.0".utf8)
            let signature = try daemon.ok(["sign", "releases"], input: message).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            _ = try daemon.ok(["verify", "--key", "releases", "--signature", signature], input: message)
            let datakey = try DaemonCLITests.json(try daemon.ok(["datakey", "ledger"]))
            let dataKeyText = try #require(datakey["plaintext"] as? String)
            let dataKey = try #require(Data(base64Encoded: dataKeyText).map(Array.init))
            #expect(dataKey.count == 32)

            let secrets = [
                SecretForms("the imported encryption key", scalar: encryptionKey),
                SecretForms("the imported signing key", scalar: signingKey),
                SecretForms("the data key", secret: dataKey, isScalar: false),
                SecretForms("the encrypted plaintext", secret: plaintext, isScalar: false),
            ]

            // Unusable scalars are refused with their reason (the dealer's checks, through the daemon).
            let zero = try daemon.http(
                "POST",
                "/v1/transit/keys/zero/import",
                body: #"{"key": "\#(String(repeating: "0", count: 64))"}"#
            )
            #expect(zero.status == 400 && zero.body.contains("the imported key is zero"), "\(zero.body)")
            let order = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
            let tooLarge = try daemon.http("POST", "/v1/transit/keys/order/import", body: #"{"key": "\#(order)"}"#)
            #expect(tooLarge.status == 400 && tooLarge.body.contains("not a valid P-256 scalar"), "\(tooLarge.body)")

            // Bad requests that carry the key, where an error message would be the leak.
            let refusals = try Self.refusedImports(of: encryptionKey, daemon: daemon)
            let fragments = Set(secrets[0].textFragments(length: 16))
            for (request, answer) in refusals {
                let echoed = fragments.filter { answer.contains($0) }
                #expect(echoed.isEmpty, "\(request) echoed key material: \(answer)")
                #expect(
                    sightings(of: secrets, in: [ScannedFile(origin: request, bytes: Array(answer.utf8))]).isEmpty,
                    "\(request): \(answer)"
                )
            }

            let metrics = try daemon.http("GET", "/metrics")
            #expect(metrics.status == 200 && metrics.body.contains("keyshard_api_requests_total"))
            let dump = try ProcessRunner.run(
                "/usr/bin/sqlite3",
                ["-readonly", Self.databasePath(daemon), ".dump"],
                timeout: 60
            )
            #expect(
                dump.status == 0 && dump.standardOutput.contains("CREATE TABLE shareCommitments"),
                "\(dump.combinedOutput)"
            )
            let files = filesUnder(daemon.directory.path)
            #expect(files.contains { $0.origin == daemon.log.path } && files.contains { $0.origin == daemon.auditPath })
            #expect(files.filter { $0.origin.hasSuffix("/agent.log") }.count == 3)
            let sources: [any ScannedBytes] =
                files + [
                    ScannedFile(origin: "GET /metrics", bytes: Array(metrics.body.utf8)),
                    ScannedFile(origin: "sqlite3 .dump", bytes: Array(dump.standardOutput.utf8)),
                ]
            let found = sightings(of: secrets, in: sources)
            #expect(found.isEmpty, "\(found.prefix(20).map(\.description).joined(separator: "\n"))")
            ReliabilityReport.record(
                .access, "no key, data key or plaintext in logs, audit entries, SQLite rows, metrics or error messages",
                held: found.isEmpty, detail: "\(sources.count) sources scanned, \(found.count) sightings")

            // The same scan does fail when the secret is there: the log with the data key appended.
            let planted = ScannedFile(
                origin: "log + planted",
                bytes: Array(daemon.logText.utf8) + Array(Data(dataKey).base64EncodedString().utf8)
            )
            #expect(sightings(of: secrets, in: [planted]).contains { $0.label == "the data key" })
        }
    }

    /// The scanners can fail: base64 middles at every alignment, hex and base64url in files, the
    /// Montgomery limbs, hex and base64url in another process's memory, a 16-character fragment
    /// in a message.
    @Test("positive controls: the scanners find a secret in process memory, in files, at every base64 alignment")
    func scannersFindPlantedSecrets() throws {
        let secret = Scalar.random()
        let forms = SecretForms("planted", scalar: secret)

        // Every stable middle is inside the encoding of any surrounding bytes.
        for prefix in 0..<6 {
            for suffix in 0..<4 {
                let surrounded =
                    (0..<prefix).map { _ in UInt8.random(in: 0...255) } + secret.serialized()
                    + (0..<suffix).map { _ in UInt8.random(in: 0...255) }
                let encoded = Data(surrounded).base64EncodedString()
                let middle = SecretForms.stableBase64(of: secret.serialized(), alignment: prefix % 3)
                #expect(middle.count >= 41 && encoded.contains(middle), "prefix \(prefix), suffix \(suffix)")
                #expect(SecretForms.urlSafe(encoded).contains(SecretForms.urlSafe(middle)))
            }
        }

        // Files: upper-case hex in one, base64url at alignment 2 in another, nothing in a third.
        let directory = "/tmp/custody-control-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/nested", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(("line 1\nkey=" + SecretForms.hex(secret.serialized()).uppercased() + "\n").utf8)
            .write(to: URL(fileURLWithPath: directory + "/upper.txt"))
        let aligned = SecretForms.urlSafe(Data([7, 7] + secret.serialized() + [9]).base64EncodedString())
        try Data("{\"blob\": \"\(aligned)\"}".utf8).write(to: URL(fileURLWithPath: directory + "/nested/b64.json"))
        try Data(Scalar.random().serialized()).write(to: URL(fileURLWithPath: directory + "/other.bin"))
        let inFiles = sightings(of: [forms], in: filesUnder(directory))
        #expect(Set(inFiles.map(\.origin)) == [directory + "/upper.txt", directory + "/nested/b64.json"], "\(inFiles)")
        #expect(
            inFiles.contains { $0.form == "upper-case hex" }
                && inFiles.contains { $0.form == "base64url at alignment 2" }
        )

        // Memory: another process (Python, so nothing of this test's own needles is in it) holds
        // the scalar's Montgomery limbs as bytes, its upper-case hex and a base64url string with
        // it at alignment 1, and is read through /proc/PID/mem like the daemon.
        let montgomery = Array((secret * Montgomery.r).serialized().reversed())
        let inString = SecretForms.urlSafe(Data([1] + secret.serialized() + [2, 3]).base64EncodedString())
        let holder = try SecretHolder(
            [SecretForms.hex(montgomery), SecretForms.hex(secret.serialized()).uppercased(), inString])
        defer { holder.stop() }
        let memory = try ProcessMemory.regions(of: holder.pid)
        let inMemory = sightings(of: [forms], in: memory)
        for form in ["Montgomery limbs (Scalar in memory)", "upper-case hex", "base64url at alignment 1"] {
            #expect(
                inMemory.contains { $0.form == form },
                "\(form) not found in pid \(holder.pid): \(inMemory.prefix(10))"
            )
        }
        // The window scan finds it by its point alone.
        let (found, multiplications) = ShareLocator.locate([.generatorMultiple(secret)], in: memory)
        #expect(
            found?.scalar == secret && found?.form == "Montgomery limbs",
            "after \(multiplications) multiplications"
        )

        // Error messages: a 16-character piece of the hex is caught.
        let hex = SecretForms.hex(secret.serialized())
        let message = "bad key \"" + hex.dropFirst(20).prefix(16) + "…\""
        #expect(forms.textFragments(length: 16).contains { message.contains($0) })
    }

    // MARK: - The attacker's helpers

    /// A Python process that keeps the given hex lines in memory (the first as bytes, the others as
    /// strings) until stopped: a target for the scanners that holds only what the test planted.
    final class SecretHolder {
        private let process = Process()
        var pid: pid_t { process.processIdentifier }

        init(_ lines: [String]) throws {
            let input = Pipe()
            let output = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [
                "-c",
                "import sys, time\nlines = sys.stdin.readline().split()\nheld = [bytes.fromhex(lines[0])] + lines[1:]\n"
                    + "print('ready', flush=True)\ntime.sleep(60)\n",
            ]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data((lines.joined(separator: " ") + "\n").utf8))
            try input.fileHandleForWriting.close()
            let ready = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            guard ready.hasPrefix("ready") else {
                stop()
                throw DaemonHarness.Failure(description: "the holder process did not start: \(ready)")
            }
        }

        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// One custodian's processes, from its `record.json` (checked against `/proc`).
    struct CustodianProcesses: CustomStringConvertible {
        let slot: UInt16
        let agent: pid_t
        let swtpm: pid_t
        var description: String { "slot \(slot): agent \(agent), swtpm \(swtpm)" }
    }

    /// Each custodian's share, found in its agent's memory by w·G = X_slot (``ShareLocator``), by slot.
    /// - Throws: naming the agent whose memory holds no such w.
    static func locateShares(of commitment: FeldmanCommitment, in custodians: [CustodianProcesses]) throws
        -> [UInt16: Scalar]
    {
        var shares: [UInt16: Scalar] = [:]
        for custodian in custodians {
            let (found, multiplications) = ShareLocator.locate(
                [commitment.publicShare(for: try ParticipantID(custodian.slot))],
                in: try ProcessMemory.regions(of: custodian.agent))
            guard let found else {
                throw DaemonHarness.Failure(
                    description: "agent of slot \(custodian.slot) (pid \(custodian.agent)): no w with w·G = "
                        + "X_\(custodian.slot) in \(multiplications) tries")
            }
            shares[custodian.slot] = found.scalar
        }
        return shares
    }

    static func databasePath(_ daemon: DaemonHarness) -> String { daemon.stateDirectory + "/keyshard.sqlite" }

    /// The custodians of the default ring, by slot, with the processes their record files name.
    static func custodianProcesses(_ daemon: DaemonHarness) throws -> [CustodianProcesses] {
        let directory = daemon.stateDirectory + "/process/custodians"
        var found: [CustodianProcesses] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)/record.json"),
                let file = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                let record = file["record"] as? [String: Any], let slot = record["slot"] as? Int,
                let agent = (file["agent"] as? [String: Any])?["pid"] as? Int,
                let swtpm = (file["swtpm"] as? [String: Any])?["pid"] as? Int
            else { continue }
            guard DaemonCLITests.commandLine(pid_t(agent)).contains("keyshard-agent"),
                DaemonCLITests.commandLine(pid_t(swtpm)).contains("swtpm")
            else {
                throw DaemonHarness.Failure(
                    description: "\(name)/record.json names processes that are not its agent and swtpm"
                )
            }
            found.append(CustodianProcesses(slot: UInt16(slot), agent: pid_t(agent), swtpm: pid_t(swtpm)))
        }
        return found.sorted { $0.slot < $1.slot }
    }

    /// The newest Feldman commitment of `key`'s first version, read from SQLite with the sqlite3
    /// tool (public data; the test checks it rather than trusting it).
    static func commitment(of key: String, in daemon: DaemonHarness) throws -> FeldmanCommitment {
        let query =
            "SELECT hex(commitment) FROM shareCommitments WHERE key = '\(key)' AND version = 1 ORDER BY epoch DESC LIMIT 1"
        let result = try ProcessRunner.run("/usr/bin/sqlite3", ["-readonly", databasePath(daemon), query], timeout: 60)
        let hex = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, let bytes = [UInt8](hexString: hex.lowercased()) else {
            throw DaemonHarness.Failure(description: "no commitment for \(key): \(result.combinedOutput)")
        }
        return try FeldmanCommitment(serialized: bytes)
    }

    /// Import requests that are refused and carry the real key: each request's name and the text
    /// a caller gets back (CLI output, or the HTTP body).
    static func refusedImports(of scalar: Scalar, daemon: DaemonHarness) throws -> [(String, String)] {
        let hex = SecretForms.hex(scalar.serialized())
        let base64 = Data(scalar.serialized()).base64EncodedString()
        var answers: [(String, String)] = []
        // The CLI: a stray character after the hex, and the hex cut short.
        for (name, input) in [("CLI import, hex + 'g'", hex + "g"), ("CLI import, 63 digits", String(hex.dropLast()))] {
            let result = try daemon.cli(
                ["key", "import", "refused", "--threshold", "2", "--shares", "3"],
                input: Array(input.utf8)
            )
            #expect(result.status == 65, "\(name): \(result.combinedOutput)")
            answers.append((name, result.combinedOutput))
        }
        // The API: bad hex, bad base64, the wrong length, broken JSON around the key, a wrong type,
        // a name that exists, and a bad plaintext.
        let bodies: [(String, String, String)] = [
            ("import, hex with 'z'", "/v1/transit/keys/refused/import", #"{"key": "\#(hex.dropLast())z"}"#),
            ("import, hex + '!'", "/v1/transit/keys/refused/import", #"{"key": "\#(hex)!"}"#),
            ("import, base64 + '!'", "/v1/transit/keys/refused/import", #"{"key": "\#(base64)!"}"#),
            ("import, hex twice", "/v1/transit/keys/refused/import", #"{"key": "\#(hex)\#(hex)"}"#),
            ("import, key not quoted", "/v1/transit/keys/refused/import", #"{"key": \#(hex)}"#),
            ("import, string not closed", "/v1/transit/keys/refused/import", #"{"key": "\#(hex)"#),
            (
                "import, bad escape in key", "/v1/transit/keys/refused/import",
                #"{"key": "\#(hex.prefix(32))\q\#(hex.dropFirst(32))"}"#
            ),
            ("import, key in an array", "/v1/transit/keys/refused/import", #"{"key": ["\#(hex)"]}"#),
            ("import, bad threshold", "/v1/transit/keys/refused/import", #"{"key": "\#(hex)", "threshold": "two"}"#),
            ("import, existing name", "/v1/transit/keys/ledger/import", #"{"key": "\#(hex)"}"#),
            ("encrypt, plaintext not base64", "/v1/transit/encrypt/ledger", #"{"plaintext": "\#(hex)!"}"#),
        ]
        for (name, path, body) in bodies {
            let answer = try daemon.http("POST", path, body: body)
            #expect((400..<500).contains(answer.status), "\(name): \(answer.status) \(answer.body)")
            answers.append((name, answer.body))
        }
        return answers
    }
}
