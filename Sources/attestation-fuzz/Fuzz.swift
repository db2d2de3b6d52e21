import Attestation
import FuzzDriver
import TPM2

// A libFuzzer target over the parsers that read attacker-controlled bytes: TPMS_ATTEST,
// TPMT_SIGNATURE, TPM2B_PUBLIC, TPML_PCR_SELECTION and the TCG event log. The first input byte
// picks the parser. Run by FuzzDriver (see scripts/fuzz): with -sanitize=fuzzer it fuzzes;
// without, it replays the files named on the command line through the same code.

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

/// libFuzzer's entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func attestationFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    parseOne(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@main
struct AttestationFuzz {
    static func main() {
        FuzzDriver.main(name: "attestation-fuzz", entry: attestationFuzzOneInput)
    }
}
