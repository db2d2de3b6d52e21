internal import CFuzzerDriver

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The `main` every keyshard libFuzzer target shares (`AgentProtocolFuzz`, `attestation-fuzz`,
/// `api-fuzz`; scripts/fuzz builds them).
///
/// - `--write-seeds DIR` writes the target's seed corpus, in either build, before libFuzzer sees
///   the arguments (so the fuzzing build can seed its own corpus).
/// - Built with `-sanitize=fuzzer`: hands control to libFuzzer; all its flags work.
/// - Built without: replays the files named on the command line through the same target, a crash
///   reproducer or corpus check, and exits 2 for a file it cannot read.
public enum FuzzDriver {
    /// libFuzzer's callback: the target's `LLVMFuzzerTestOneInput`.
    public typealias Entry = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Runs the target and exits.
    /// - Parameters:
    ///   - name: the program's name, for its usage line.
    ///   - entry: the `@_cdecl("LLVMFuzzerTestOneInput")` function.
    ///   - seeds: the seed corpus as (file name, bytes), or nil for a target without one.
    public static func main(name: String, entry: Entry, seeds: (() throws -> [(String, [UInt8])])? = nil) -> Never {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let seeds, arguments.first == "--write-seeds", arguments.count == 2 {
            do {
                mkdir(arguments[1], 0o755)  // or it exists; a failure shows at the first file
                for (file, bytes) in try seeds() { try writeFile(bytes, to: arguments[1] + "/seed-" + file) }
            } catch {
                fail("\(name): \(error)")
            }
            exit(0)
        }
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = cfuzzerdriver_run(&argc, &argv, entry)
        if status >= 0 { exit(status) }

        guard !arguments.isEmpty else {
            let seedUsage = seeds == nil ? "" : " | --write-seeds DIR"
            print("usage: \(name) FILE…\(seedUsage)  (build with -sanitize=fuzzer to fuzz)")
            exit(2)
        }
        for path in arguments {
            guard let bytes = read(path) else { fail("\(name): cannot read \(path)") }
            _ = bytes.withUnsafeBufferPointer { entry($0.baseAddress, $0.count) }
        }
        print("replayed \(arguments.count) inputs without a failure")
        exit(0)
    }

    /// A file's bytes, or nil when it cannot be opened.
    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
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

    struct WriteFailure: Error, CustomStringConvertible {
        let description: String
    }

    static func writeFile(_ bytes: [UInt8], to path: String) throws {
        guard let file = fopen(path, "wb") else {
            throw WriteFailure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        guard fwrite(bytes, 1, bytes.count, file) == bytes.count else {
            throw WriteFailure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func fail(_ message: String) -> Never {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
}
