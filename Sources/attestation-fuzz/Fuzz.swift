import Attestation
import Foundation
import TPM2

// A libFuzzer target over the parsers that read attacker-controlled bytes: TPMS_ATTEST,
// TPMT_SIGNATURE, TPM2B_PUBLIC, TPML_PCR_SELECTION and the TCG event log. The first input byte
// picks the parser. Build and run with scripts/fuzz-attestation (defines FUZZING and
// -sanitize=fuzzer); a normal build makes a replayer that runs the same code on files.

/// Parses one input; any outcome but a crash, hang or unbounded allocation is fine.
func parseOne(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let body = Array(input.dropFirst())
    switch selector % 5 {
    case 0: _ = try? TPMAttestation(parsing: body)
    case 1: _ = try? TPMSignature(parsing: body)
    case 2:
        if let key = try? TPMPublic(parsing: body) { _ = try? key.name() }
    case 3: _ = try? TPMPCRSelection.parseList(body)
    default:
        if let log = try? EventLog(parsing: body) {
            for bank in log.digestSizes.keys { _ = try? log.replay(bank: bank) }
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    parseOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's entry point for programs that keep their own `main` (LLVM 11+).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links executables with `main` renamed to `<target>_main`, which hides libFuzzer's own
/// `main`; this is that symbol, handing control to libFuzzer's driver.
@_cdecl("attestation_fuzz_main")
public func fuzzMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
/// Replayer: `attestation-fuzz FILE...` runs each file (for example a crash libFuzzer saved).
@main
struct Replayer {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                exit(2)
            }
            parseOne([UInt8](data))
            print("\(path): ok")
        }
    }
}
#endif
