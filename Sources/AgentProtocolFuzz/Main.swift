import AgentProtocol
import CFuzzerDriver

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// libFuzzer's entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func agentProtocolFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// `--write-seeds DIR` writes a small seed corpus of valid inputs, in either build.
/// Built with `-sanitize=fuzzer`: otherwise hands control to libFuzzer (all its flags
/// work). Built without: replays the files named on the command line through the same
/// target (a crash reproducer or corpus check).
@main
struct AgentProtocolFuzz {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Before libFuzzer sees the arguments, so the fuzzing build can seed its own corpus.
        if arguments.first == "--write-seeds", arguments.count == 2 {
            try writeSeeds(to: arguments[1])
            return
        }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = cfuzzerdriver_run(&argc, &argv) { data, size in agentProtocolFuzzOneInput(data, size) }
        if status >= 0 { exit(status) }

        guard !arguments.isEmpty else {
            print("usage: AgentProtocolFuzz FILE… | --write-seeds DIR  (build with -sanitize=fuzzer to fuzz)")
            exit(2)
        }
        for path in arguments {
            FuzzTarget.run(try readFile(path))
        }
        print("replayed \(arguments.count) inputs without a failure")
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw AgentProtocolError(.transportUnavailable, "cannot open \(path)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    /// Valid inputs in both modes, so the fuzzer starts from real frames.
    static func writeSeeds(to directory: String) throws {
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
        for (index, message) in messages.enumerated() {
            let payload = try message.encode()
            let type = message.type.rawValue
            let direct: [UInt8] = [0, UInt8(type >> 8), UInt8(type & 0xFF)] + payload
            let stream: [UInt8] = [7] + (try FrameCodec.encode(try message.frame(requestID: UInt64(index + 1))))
            for (name, bytes) in [("message", direct), ("stream", stream)] {
                let path = "\(directory)/seed-\(index)-\(name)"
                guard let file = fopen(path, "wb") else {
                    throw AgentProtocolError(.transportUnavailable, "cannot write \(path)")
                }
                _ = fwrite(bytes, 1, bytes.count, file)
                fclose(file)
            }
        }
    }
}
