import Attestation
import Crypto
import Foundation
import TPM2

// Quotes verified per second on one core, next to raw ECDSA P-256 verifications per second in the
// same run (alternating rounds, medians), so the verifier's overhead over the signature check is
// visible on any machine.
// Run with: swift run -c release attestation-benchmark [SECONDS] [--json FILE] [--export DIR]
//   --json FILE   also write both rates as rows (name, value, unit) for Benchmarks/EndToEnd to merge
//   --export DIR  write the quote as files for the peers (bench/quote_peers.py: Keylime's
//                 checkquote and tpm2_checkquote check the very same quote): ak.tpm2b (TPM2B_PUBLIC),
//                 quote.msg (TPMS_ATTEST), quote.sig (TPMT_SIGNATURE), nonce.hex, pcrs.json

/// A quote captured from swtpm 0.7.1 with tpm2-tools 5.4 (ECC P-256 AK, ECDSA-SHA256, sha256:0,4,9,
/// nonce 0011223344556677, PCR 9 extended once with 32 bytes of 0x11).
enum Captured {
    static let akPublic = bytes(
        "00580023000b00050072000000100018000b000300100020591bf2a932d494a0b020f4a41ce579f73404b3133f1c15f8"
            + "ffe8a84fceaa83510020b45623a5574d8d3c899a44cea49f9f496fea235abf0ee4f188ae85ab55e2fd56")
    static let signature = bytes(
        "0018000b0020d284017cb77905ddd598636e1992617ef3c23b26f2ea4481d7a43d095309d2090020aee4dbf854c0caa9"
            + "f2c69a7ec400b6c24409dc49f277ed2b00b4a0d8f10e934d")
    static let message = bytes(
        "ff54434780180022000b6b3d4647a63a39ae1e81097ec53888c51d5fd0bb49b493fb9c4da027444e74f60008001122"
            + "33445566770000000000001629000000010000000001201910230016363600000001000b031102000020da84a32b"
            + "9caf4d5626e80cc0a696991fc96112611a7101c37dbe7755a582a1fe")
    static let nonce = bytes("0011223344556677")

    static func bytes(_ text: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            result.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return result
    }
}

/// Runs `body` repeatedly for about `seconds` and returns operations per second.
func rate(seconds: Double, _ body: () -> Bool) -> Double {
    var count = 0
    var failures = 0
    let start = DispatchTime.now().uptimeNanoseconds
    var elapsed = 0.0
    while elapsed < seconds {
        for _ in 0..<50 where !body() { failures += 1 }
        count += 50
        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    precondition(failures == 0, "a verification failed during the benchmark")
    return Double(count) / elapsed
}

let zero = [UInt8](repeating: 0, count: 32)
let pcr9 = Array(SHA256.hash(data: zero + [UInt8](repeating: 0x11, count: 32)))
let evidence = Evidence(
    nonce: Captured.nonce, akPublic: Captured.akPublic, quoteMessage: Captured.message,
    quoteSignature: Captured.signature, pcrs: [.sha256: [0: zero, 4: zero, 9: pcr9]])
let verifier = QuoteVerifier(policy: AttestationPolicy(
    name: "benchmark", pcrBank: .sha256, allowedPCRValues: [0: [zero], 4: [zero], 9: [pcr9]]))
precondition(verifier.verify(evidence, nonce: Captured.nonce) == .accepted, "the captured quote must verify")

guard case .ecc(let key) = try TPMPublic(parsing: Captured.akPublic).key,
      case .ecdsa(_, let r, let s) = try TPMSignature(parsing: Captured.signature)
else { fatalError("the captured AK is ECC and the signature ECDSA") }
let rawKey = try P256.Signing.PublicKey(rawRepresentation: key.x + key.y)
let rawSignature = try P256.Signing.ECDSASignature(rawRepresentation: r + s)

/// The value after `--name`, and the arguments without both.
func option(_ name: String, in arguments: [String]) -> (value: String?, rest: [String]) {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return (nil, arguments) }
    var rest = arguments
    rest.removeSubrange(index...(index + 1))
    return (arguments[index + 1], rest)
}
let (jsonPath, afterJSON) = option("--json", in: Array(CommandLine.arguments.dropFirst()))
let (exportDirectory, positional) = option("--export", in: afterJSON)
let seconds = Double(positional.first ?? "") ?? 2

if let exportDirectory {
    try FileManager.default.createDirectory(atPath: exportDirectory, withIntermediateDirectories: true)
    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: exportDirectory + "/" + name))
    }
    // A TPM2B_PUBLIC is the TPMT_PUBLIC with its 2-byte size in front.
    try write("ak.tpm2b", [UInt8(Captured.akPublic.count >> 8), UInt8(Captured.akPublic.count & 0xff)] + Captured.akPublic)
    try write("quote.msg", Captured.message)
    try write("quote.sig", Captured.signature)
    try write("nonce.hex", Array(Captured.nonce.map { String(format: "%02x", $0) }.joined().utf8))
    let hex: ([UInt8]) -> String = { $0.map { String(format: "%02x", $0) }.joined() }
    try write("pcrs.json", Array(#"{"sha256": {"0": "\#(hex(zero))", "4": "\#(hex(zero))", "9": "\#(hex(pcr9))"}}"#.utf8))
}
// Alternating rounds, the median of each: a shared machine's speed drifts within a run, and a
// ratio of two rates measured one after the other would carry that drift.
let rounds = 5
var ecdsaRates: [Double] = []
var quoteRates: [Double] = []
for _ in 0..<rounds {
    ecdsaRates.append(rate(seconds: seconds / Double(rounds)) {
        rawKey.isValidSignature(rawSignature, for: SHA256.hash(data: Captured.message))
    })
    quoteRates.append(rate(seconds: seconds / Double(rounds)) { verifier.verify(evidence, nonce: Captured.nonce).isAccepted })
}
let ecdsaRate = ecdsaRates.sorted()[rounds / 2]
let quoteRate = quoteRates.sorted()[rounds / 2]
print(String(format: "raw ECDSA P-256 verifications: %8.0f /s (one core)", ecdsaRate))
print(String(format: "quotes verified (full policy):  %8.0f /s (one core), %.0f%% of raw ECDSA",
             quoteRate, 100 * quoteRate / ecdsaRate))

if let jsonPath {
    let rows: [[String: Any]] = [
        ["name": "bare ECDSA P-256 verify (swift-crypto), one core", "value": ecdsaRate, "unit": "verifications/s"],
        ["name": "keyshard quote verification (full policy), one core", "value": quoteRate, "unit": "quotes/s"],
    ]
    try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
        .write(to: URL(fileURLWithPath: jsonPath))
    print("wrote \(jsonPath)")
}
