import AgentProtocol
import Coordinator
import Crypto
import Foundation
import ShardCrypto
import TestSupport

/// Everything a coordinator saw from the agents: every answer, decrypted (the session hides
/// nothing from the coordinator itself, which is the attacker these tests play).
final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var payloads: [[UInt8]] = []

    func record(_ bytes: [UInt8]) { lock.withLock { payloads.append(bytes) } }

    var all: [[UInt8]] { lock.withLock { payloads } }

    /// Every 32-byte window of every payload that is a scalar s with s·G in `points`: a share,
    /// an f_i(j) or a key in the clear. Empty when nothing leaked.
    func scalarsMatching(_ points: [Point]) -> [Point] {
        let targets = Set(points.compactMap { try? $0.compressed() })
        var found: [Point] = []
        for payload in all where payload.count >= 32 {
            for offset in 0...(payload.count - 32) {
                guard let scalar = try? Scalar(bigEndian: payload[offset..<(offset + 32)]), !scalar.isZero else {
                    continue
                }
                let point = Point.generatorMultiple(scalar)
                if let encoded = try? point.compressed(), targets.contains(encoded) { found.append(point) }
            }
        }
        return found
    }

    /// Whether any payload contains `secret` raw, as lower/upper hex or as base64.
    func contains(secret: [UInt8]) -> Bool {
        let hex = secret.map { String(format: "%02x", $0) }.joined()
        let needles = [secret, Array(hex.utf8), Array(hex.uppercased().utf8), Array(Data(secret).base64EncodedString().utf8)]
        return all.contains { payload in
            needles.contains { needle in
                payload.count >= needle.count
                    && (0...(payload.count - needle.count)).contains { Array(payload[$0..<($0 + needle.count)]) == needle }
            }
        }
    }
}

/// A ring of real custodians: `keyshard-agent` processes on swtpms whose EK certificates chain
/// to one CA (as a libvirt host's vTPMs chain to its swtpm-localca), each attested and with an open
/// session, driven by the test as the coordinator.
final class Ring: @unchecked Sendable {
    let certificateAuthority: URL
    let agents: [AgentProcess]
    let clients: [AgentClient]
    let custodians: [AttestedCustodian]
    let attestor: CustodianAttestor
    let transcript = Transcript()

    private init(
        certificateAuthority: URL, agents: [AgentProcess], clients: [AgentClient], custodians: [AttestedCustodian],
        attestor: CustodianAttestor
    ) {
        self.certificateAuthority = certificateAuthority
        self.agents = agents
        self.clients = clients
        self.custodians = custodians
        self.attestor = attestor
    }

    /// The self-signed root swtpm_localca makes beside the issuing CA (`issuercert.pem`).
    static let rootFile = "swtpm-localca-rootca-cert.pem"

    /// The CA's self-signed root certificate (PEM): what agents pin.
    static func rootPEM(_ ca: URL) throws -> String {
        String(decoding: try Data(contentsOf: ca.appendingPathComponent(rootFile)), as: UTF8.self)
    }

    /// The root and the issuing CA, root first, as the shipped policy's `ekRoots` lists them: the
    /// coordinator relays both, and dealers must find the pinned root wherever it stands.
    static func chainPEM(_ ca: URL) throws -> [String] {
        [try rootPEM(ca), String(decoding: try Data(contentsOf: ca.appendingPathComponent("issuercert.pem")), as: UTF8.self)]
    }

    /// Starts `count` agents on one CA, attests each and opens its session.
    static func start(_ count: Int) async throws -> Ring {
        let ca = FileManager.default.temporaryDirectory.appendingPathComponent("keyshard-ring-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: ca, withIntermediateDirectories: true)
        var agents: [AgentProcess] = []
        do {
            for _ in 0..<count { agents.append(try AgentProcess.start(certificateAuthority: ca)) }
            let attestor = CustodianAttestor(
                policy: Coordinator.policy, identity: Coordinator.identity, endorsementRootsPEM: try chainPEM(ca))
            var clients: [AgentClient] = []
            var custodians: [AttestedCustodian] = []
            for agent in agents {
                let client = try await agent.connect()
                clients.append(client)
                custodians.append(try await attestor.attest(client))
            }
            return Ring(
                certificateAuthority: ca, agents: agents, clients: clients, custodians: custodians, attestor: attestor)
        } catch {
            for agent in agents { agent.stop() }
            try? FileManager.default.removeItem(at: ca)
            throw error
        }
    }

    /// Sends a request to custodian `index` and records the answer in the transcript.
    @discardableResult
    func request(_ index: Int, _ message: AgentMessage) async throws -> AgentMessage {
        do {
            let answer = try await clients[index].request(message)
            transcript.record(try answer.encode())
            return answer
        } catch {
            if let remote = error.remote { transcript.record(Array(remote.text.utf8)) }
            throw error
        }
    }

    /// The refusal code of a request custodian `index` refuses, or nil when it answers.
    func refusal(_ index: Int, _ message: AgentMessage) async -> AgentErrorCode? {
        do {
            _ = try await request(index, message)
            return nil
        } catch let error as AgentProtocolError {
            return error.remote?.code
        } catch {
            return nil
        }
    }

    /// Custodian `index` as recipient `participant` of the run with `binding`.
    func recipient(_ index: Int, as participant: ParticipantID, binding: [UInt8]) async throws -> RecipientKey {
        try await attestor.recipient(
            clients[index], participant: participant, custodian: custodians[index], binding: binding)
    }

    /// Kills every agent and its swtpm and removes the CA; synchronous, so a `defer` runs it even
    /// when the test throws (the agents' connections die with them).
    func stop() {
        for agent in agents { agent.stop() }
        try? FileManager.default.removeItem(at: certificateAuthority)
    }
}
