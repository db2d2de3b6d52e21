internal import CTSS2

#if canImport(Glibc)
import Glibc
#endif

/// tpm2-tss writes a WARNING line to stderr for every malformed structure it is handed; a
/// verifier fed hostile evidence would flood the daemon's log. Every failure is already reported
/// as a typed error, so the library's own logging is off unless the operator set `TSS2_LOG`
/// (for example `TSS2_LOG=all+debug` to debug the TPM stack). Evaluated once, before first use.
let tss2LoggingDefault: Void = {
    setenv("TSS2_LOG", "all+NONE", 0)
}()

/// tss2-mu's layer and base codes, spelled out because Swift cannot import the casting macros.
private let muInsufficientBuffer: UInt32 = (9 << 16) | 6

/// Parses one complete structure with a tss2-mu unmarshal function.
///
/// Refuses empty and oversized input before calling C, then requires that tss2-mu consumed
/// every byte (a trailing byte means the bytes a signature covers are not the bytes parsed),
/// and finally that marshalling the result gives back the input byte for byte, so no field
/// was silently normalised.
///
/// - Parameters:
///   - bytes: the encoding.
///   - value: a zeroed C structure to fill.
///   - what: the structure's name, for error messages.
///   - maximumSize: the largest encoding accepted.
///   - unmarshal: the `Tss2_MU_*_Unmarshal` function.
///   - marshal: the matching `Tss2_MU_*_Marshal` function.
/// - Throws: ``TPMStructureError`` with `.tooLarge`, `.truncated`, `.trailingBytes` or `.malformed`.
func parseComplete<T>(
    _ bytes: [UInt8],
    into value: inout T,
    what: String,
    maximumSize: Int,
    unmarshal: (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<T>?) -> TSS2_RC,
    marshal: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?, Int, UnsafeMutablePointer<Int>?) -> TSS2_RC
) throws(TPMStructureError) {
    _ = tss2LoggingDefault
    guard !bytes.isEmpty else {
        throw TPMStructureError(.truncated, "The \(what) is empty.")
    }
    guard bytes.count <= maximumSize else {
        throw TPMStructureError(
            .tooLarge, "The \(what) is \(bytes.count) bytes; no valid one is larger than \(maximumSize).")
    }
    var offset = 0
    let rc = bytes.withUnsafeBufferPointer { buffer in
        unmarshal(buffer.baseAddress, buffer.count, &offset, &value)
    }
    guard rc == TSS2_RC_SUCCESS else {
        let code = TPMResponseCode(rawValue: rc)
        if rc == muInsufficientBuffer {
            throw TPMStructureError(
                .truncated, "The \(what) ends early (\(bytes.count) bytes).", responseCode: code)
        }
        throw TPMStructureError(.malformed, "The \(what) is malformed: \(code).", responseCode: code)
    }
    guard offset == bytes.count else {
        throw TPMStructureError(
            .trailingBytes, "The \(what) is \(offset) bytes but \(bytes.count - offset) more bytes follow it.")
    }
    var again = [UInt8](repeating: 0, count: bytes.count)
    var written = 0
    let marshalRC = withUnsafePointer(to: &value) { source in
        again.withUnsafeMutableBufferPointer { buffer in
            marshal(source, buffer.baseAddress, buffer.count, &written)
        }
    }
    guard marshalRC == TSS2_RC_SUCCESS, written == bytes.count, again == bytes else {
        throw TPMStructureError(.malformed, "The \(what) is not in canonical form (a size field disagrees).")
    }
}

/// The first `count` bytes of a fixed-size C array (imported as a tuple), clamped to its size.
func prefixBytes<Tuple>(of tuple: Tuple, count: Int) -> [UInt8] {
    withUnsafeBytes(of: tuple) { raw in Array(raw.prefix(max(0, count))) }
}

/// The contents of a `TPM2B_DIGEST`.
func bytes(of digest: TPM2B_DIGEST) -> [UInt8] { prefixBytes(of: digest.buffer, count: Int(digest.size)) }

/// The contents of a `TPM2B_ECC_PARAMETER`.
func bytes(of parameter: TPM2B_ECC_PARAMETER) -> [UInt8] {
    prefixBytes(of: parameter.buffer, count: Int(parameter.size))
}

/// Big-endian encoding of a 16-bit value, as the TPM marshals it.
func bigEndianBytes(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
