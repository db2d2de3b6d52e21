import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile input against a real keyshardd: each case is refused with the expected status and a
/// reason, costs bounded time and memory, and the daemon goes on serving the next caller.
@Suite("bad input against keyshardd", .serialized)
struct BadInputTests {
    /// A raw connection to the API socket, for requests curl would refuse to send.
    final class RawConnection {
        let descriptor: Int32

        init(socket path: String) throws {
            descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard connected == 0 else {
                close(descriptor)
                throw DaemonHarness.Failure(description: "cannot connect to \(path): errno \(errno)")
            }
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(descriptor) }

        @discardableResult
        func send(_ bytes: [UInt8]) -> Bool {
            var sent = 0
            while sent < bytes.count {
                let written = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { return false }
                sent += written
            }
            return true
        }

        /// Seconds until the first byte of an answer arrives (nil: none within the receive timeout),
        /// and everything until the peer closes.
        func receiveTimed(limit: Int = 1 << 20) -> (firstByte: Double?, bytes: [UInt8]) {
            let started = ContinuousClock.now
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return (nil, []) }
            let first = (ContinuousClock.now - started) / .seconds(1)
            return (first, Array(buffer[..<count]) + receiveAll(limit: limit))
        }

        /// Everything until the peer closes or the receive timeout passes.
        func receiveAll(limit: Int = 1 << 20) -> [UInt8] {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while received.count < limit {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { break }
                received += buffer[..<count]
            }
            return received
        }

        /// The status code of the first response in `bytes`.
        static func status(_ bytes: [UInt8]) -> Int? {
            let text = String(decoding: bytes.prefix(64), as: UTF8.self)
            guard text.hasPrefix("HTTP/1.1 ") else { return nil }
            return Int(text.dropFirst(9).prefix(3))
        }
    }

    static func rssKiB(_ pid: pid_t) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? 0
    }

    /// The daemon still answers an ordinary caller.
    static func stillServes(_ daemon: DaemonHarness, _ ciphertext: String) throws -> Bool {
        try daemon.cli(["decrypt", "k"], input: Array(ciphertext.utf8), timeout: 60).standardOutput == "old"
    }

    static func record(_ what: String, held: Bool, _ detail: String) {
        ReliabilityReport.record(.badInput, what, held: held, detail: detail)
    }

    @Test("malformed HTTP, oversized bodies and heads: refused, the connection closed, the daemon serves on")
    func malformedAndOversizedHTTP() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
            let cases: [(String, [UInt8], Set<Int>)] = [
                ("a request line that is not HTTP", Array("GARBAGE \u{1} nonsense\r\n\r\n".utf8), [400]),
                ("binary noise instead of a request", (0..<4096).map { _ in UInt8.random(in: 0...255) }, [400]),
                ("a request head of 64 KiB (limit 16 KiB)",
                 Array("GET /v1/sys/health HTTP/1.1\r\nHost: k\r\nX-Big: \(String(repeating: "a", count: 65536))\r\n\r\n".utf8), [431]),
                ("a body announced as 5 MiB (limit 4 MiB)",
                 Array("POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\nContent-Length: 5242880\r\n\r\n".utf8)
                    + [UInt8](repeating: 0x20, count: 65536), [413]),
                ("a body shorter than its Content-Length, then silence", Array(
                    "POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: k\r\nContent-Length: 100\r\n\r\n{\"plain".utf8), [400, 408]),
                ("chunked encoding with a malformed chunk size", Array(
                    "POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".utf8), [400]),
            ]
            for (what, request, expected) in cases {
                let connection = try RawConnection(socket: daemon.socket)
                connection.send(request)
                let started = ContinuousClock.now
                let (firstByte, answer) = connection.receiveTimed()
                let status = RawConnection.status(answer)
                // Until the daemon closed the connection (after its answer, or at the read deadline).
                let seconds = (ContinuousClock.now - started) / .seconds(1)
                // A short body waits for the rest until the read deadline (30 s), then the connection is closed.
                let refused = status.map(expected.contains) ?? (what.contains("silence") && answer.isEmpty)
                #expect(refused, "\(what): \(status.map(String.init) ?? "no answer") after \(seconds) s")
                let serves = try Self.stillServes(daemon, ciphertext)
                #expect(serves, "keyshardd stopped serving after \(what)")
                Self.record(
                    what, held: refused && serves,
                    (status.map { "answered \($0) in \(String(format: "%.2f", firstByte ?? 0)) s, " } ?? "")
                        + "connection closed after \(String(format: "%.1f", seconds)) s")
            }
        }
    }

    @Test("200 slowloris clients are cut at the read deadline; others are served meanwhile; memory stays bounded")
    func slowloris() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
            let pid = try #require(daemon.pid)
            let before = Self.rssKiB(pid)
            let slow = try (0..<200).map { _ in try RawConnection(socket: daemon.socket) }
            let started = ContinuousClock.now
            var served = true
            var open = slow.count
            // One byte of a request head per connection every second, until every one is cut off.
            var step = 0
            let head = Array("POST /v1/transit/decrypt/k HTTP/1.1\r\nHost: keyshard\r\nX-Slow: ".utf8)
            while open > 0, ContinuousClock.now - started < .seconds(60) {
                open = 0
                for connection in slow where connection.send([head[min(step, head.count - 1)]]) { open += 1 }
                step += 1
                if step % 10 == 0 { served = try Self.stillServes(daemon, ciphertext) && served }
                try await Task.sleep(for: .seconds(1))
            }
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let grown = (Self.rssKiB(pid) - before) / 1024
            #expect(open == 0, "\(open) slow clients were still connected after 60 s")
            #expect(served, "ordinary callers were not served while slow clients trickled")
            #expect(grown < 64, "keyshardd grew by \(grown) MiB")
            Self.record(
                "200 slowloris clients (one byte a second)", held: open == 0 && served && grown < 64,
                "all cut after \(Int(seconds)) s (30 s read deadline); others served; RSS +\(grown) MiB")
        }
    }

    @Test("ciphertexts and signatures that are not what they claim: refused before any custodian is asked")
    func hostileCiphertextsAndSignatures() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            _ = try daemon.ok(["key", "create", "s", "--type", "frost-p256"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            func b64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
            // x = 5 is not the x of any P-256 point with this y: an invalid point (an invalid-curve attack's first step).
            let offCurve = [0x04] + [UInt8](repeating: 0, count: 31) + [5] + [UInt8](repeating: 7, count: 32)
            // Each with the status and a word its reason must contain.
            let decrypts: [(String, String, Set<Int>, String)] = [
                ("a ciphertext that is not keyshard's armour", "vault:v1:abcd", [400], "keyshard:v"),
                ("a ciphertext of random bytes (no HPKE encapsulation)",
                 "keyshard:v1:" + b64((0..<48).map { _ in .random(in: 0...255) }), [400], "ciphertext"),
                ("a ciphertext whose encapsulation is a point off the curve",
                 "keyshard:v1:" + b64(offCurve + [UInt8](repeating: 1, count: 40)), [400], "ciphertext"),
                ("a ciphertext whose encapsulation is the point at infinity",
                 "keyshard:v1:" + b64([0x00] + [UInt8](repeating: 1, count: 60)), [400], "ciphertext"),
                ("a ciphertext for a version that does not exist",
                 ciphertext.replacingOccurrences(of: "keyshard:v1:", with: "keyshard:v9:"), [404], "version 9"),
                ("a ciphertext with a flipped byte (the AEAD refuses)", Self.flipLastByte(ciphertext), [400], "under k v1 with"),
            ]
            for (what, text, expected, reason) in decrypts {
                let answer = try daemon.http("POST", "/v1/transit/decrypt/k", body: "{\"ciphertext\": \"\(text)\"}")
                let refused = expected.contains(answer.status) && answer.body.contains(reason)
                #expect(refused, "\(what): \(answer.status) \(answer.body.prefix(300))")
                Self.record(what, held: refused, "HTTP \(answer.status): \(Self.reason(answer.body))")
            }
            let message = b64(Array("release".utf8))
            let badSignatures: [(String, [UInt8])] = [
                ("a signature whose R is off the curve", [0x02] + [UInt8](repeating: 0, count: 31) + [5] + [UInt8](repeating: 1, count: 32)),
                ("a signature whose z is the group order (out of range)",
                 [0x03] + [UInt8](repeating: 0x11, count: 32) + Self.groupOrder),
                ("a signature of the wrong length", [UInt8](repeating: 2, count: 40)),
            ]
            for (what, bytes) in badSignatures {
                let answer = try daemon.http(
                    "POST", "/v1/transit/verify/s", body: "{\"input\": \"\(message)\", \"signature\": \"keyshard:v1:\(b64(bytes))\"}")
                let refused = answer.status == 400 || (answer.status == 200 && answer.body.contains("\"valid\":false"))
                #expect(refused, "\(what): \(answer.status) \(answer.body.prefix(300))")
                Self.record(what, held: refused, answer.status == 200 ? "valid: false" : "HTTP \(answer.status)")
            }
            #expect(try Self.stillServes(daemon, ciphertext))
        }
    }

    @Test("a retired key version: its ciphertexts are refused after trim, and say which version is the oldest")
    func retiredVersion() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let old = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try daemon.ok(["key", "rotate", "k"])
            let config = try daemon.http("POST", "/v1/transit/keys/k/config", body: "{\"min_decryption_version\": 2}")
            #expect(config.status == 200 || config.status == 204, "\(config.body)")
            let trim = try daemon.http("POST", "/v1/transit/keys/k/trim", body: "{\"min_available_version\": 2}")
            #expect(trim.status == 200 || trim.status == 204, "\(trim.body)")
            let answer = try daemon.http("POST", "/v1/transit/decrypt/k", body: "{\"ciphertext\": \"\(old)\"}")
            let refused = answer.status == 400 && answer.body.contains("version 1 of k was trimmed")
            #expect(refused, "\(answer.status) \(answer.body.prefix(300))")
            let current = try daemon.ok(["encrypt", "--key", "k"], input: Array("new".utf8))
            #expect(try daemon.ok(["decrypt", "k"], input: Array(current.utf8)) == "new")
            Self.record("a ciphertext of a trimmed key version", held: refused, "HTTP \(answer.status): \(Self.reason(answer.body))")
        }
    }

    @Test("garbage and oversized frames on an agent's socket: the agent serves the coordinator on")
    func garbageOnTheAgentSocket() async throws {
        try await DaemonHarness.with { daemon in
            _ = try daemon.ok(["key", "create", "k"])
            let ciphertext = try daemon.ok(["encrypt", "--key", "k"], input: Array("old".utf8))
            let sockets = (FileManager.default.enumerator(atPath: daemon.stateDirectory)?.allObjects as? [String] ?? [])
                .filter { $0.hasSuffix("agent.sock") }.map { daemon.stateDirectory + "/" + $0 }
            try #require(!sockets.isEmpty, "no agent socket under \(daemon.stateDirectory)")
            for path in sockets {
                for payload in [(0..<8192).map { _ in UInt8.random(in: 0...255) },
                                Array("KSAP".utf8) + [1, 0, 0, 1] + [UInt8](repeating: 0, count: 8) + [0xff, 0xff, 0xff, 0xff]] {
                    if let connection = try? RawConnection(socket: path) {
                        connection.send(payload)
                        _ = connection.receiveAll(limit: 4096)
                    }
                }
            }
            let serves = try Self.stillServes(daemon, ciphertext)
            #expect(serves)
            #expect(try DaemonCLITests.custodianIDs(daemon).count == 3)
            Self.record("garbage and a 4 GiB frame header on every agent socket", held: serves, "agents served on; none replaced")
        }
    }

    /// n, the order of P-256's group, big-endian: no valid scalar equals it.
    static let groupOrder: [UInt8] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ]

    /// The first reason of an error body, for the report.
    static func reason(_ body: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let first = (object["errors"] as? [String])?.first
        else { return String(body.prefix(80)) }
        return String(first.prefix(100))
    }

    static func flipLastByte(_ ciphertext: String) -> String {
        let prefix = "keyshard:v1:"
        guard ciphertext.hasPrefix(prefix), var bytes = Data(base64Encoded: String(ciphertext.dropFirst(prefix.count))) else {
            return ciphertext
        }
        bytes[bytes.count - 1] ^= 1
        return prefix + bytes.base64EncodedString()
    }
}
