import AgentProtocol
import FuzzDriver

/// libFuzzer's entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func agentProtocolFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// See ``FuzzDriver``: seeds, libFuzzer, or a replay of the files named.
@main
struct AgentProtocolFuzz {
    static func main() {
        FuzzDriver.main(name: "AgentProtocolFuzz", entry: agentProtocolFuzzOneInput, seeds: seeds)
    }

    /// Valid inputs in both modes, so the fuzzer starts from real frames.
    static func seeds() throws -> [(String, [UInt8])] {
        let nonce = try Nonce([UInt8](repeating: 7, count: 32))
        let key = try KeyReference(keyID: "seed-key", version: 1)
        let messages: [AgentMessage] = [
            .challenge(Challenge(nonce: nonce)),
            .heartbeatRequest(HeartbeatRequest(nonce: nonce)),
            .signRound1Request(SignRound1Request(key: key, session: try SessionID([UInt8](repeating: 1, count: 16)))),
            .error(ErrorMessage(code: .refused, text: "seed")),
            .destroy(try DestroyRequest(reason: "seed")),
            .destroyed(Destroyed(zeroisedShares: 1)),
        ]
        var seeds: [(String, [UInt8])] = []
        for (index, message) in messages.enumerated() {
            let payload = try message.encode()
            let type = message.type.rawValue
            seeds.append(("\(index)-message", [0, UInt8(type >> 8), UInt8(type & 0xFF)] + payload))
            seeds.append(("\(index)-stream", [7] + (try FrameCodec.encode(try message.frame(requestID: UInt64(index + 1))))))
        }
        return seeds
    }
}
