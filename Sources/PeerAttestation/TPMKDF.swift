import Crypto
import TPM2

/// The TPM's key derivation functions (TPM 2.0 Part 1 §11.4.10).
package enum TPMKDF {
    /// KDFa: NIST SP 800-108 counter-mode KDF with HMAC, as the TPM uses it.
    ///
    /// Each block is `HMAC(key, i ‖ label ‖ 0x00 ‖ contextU ‖ contextV ‖ bits)` with 32-bit big-endian
    /// `i` (from 1) and `bits`; the label's terminating NUL is part of the input.
    /// - Parameters:
    ///   - hash: the HMAC's hash (SHA-256, SHA-384 or SHA-512).
    ///   - key: the HMAC key.
    ///   - label: the label, without its NUL.
    ///   - contextU: the first context value.
    ///   - contextV: the second context value.
    ///   - bits: the output length in bits (a multiple of 8).
    package static func kdfa(
        hash: TPMAlgorithmID, key: [UInt8], label: String, contextU: [UInt8], contextV: [UInt8], bits: Int
    ) -> [UInt8]? {
        let byteCount = (bits + 7) / 8
        var output: [UInt8] = []
        var counter: UInt32 = 1
        while output.count < byteCount {
            let input = bigEndian(counter) + Array(label.utf8) + [0] + contextU + contextV + bigEndian(UInt32(bits))
            guard let block = hmac(hash, key: key, data: input) else { return nil }
            output += block
            counter += 1
        }
        return Array(output.prefix(byteCount))
    }

    /// KDFe: NIST SP 800-56A concatenation KDF, as the TPM uses it for ECC-derived seeds.
    ///
    /// Each block is `H(i ‖ Z ‖ label ‖ 0x00 ‖ partyUInfo ‖ partyVInfo)` with 32-bit big-endian `i` from 1.
    package static func kdfe(
        hash: TPMAlgorithmID, z: [UInt8], label: String, partyU: [UInt8], partyV: [UInt8], bits: Int
    ) -> [UInt8]? {
        let byteCount = (bits + 7) / 8
        var output: [UInt8] = []
        var counter: UInt32 = 1
        while output.count < byteCount {
            let input = bigEndian(counter) + z + Array(label.utf8) + [0] + partyU + partyV
            guard let block = Digests.hash(input, with: hash) else { return nil }
            output += block
            counter += 1
        }
        return Array(output.prefix(byteCount))
    }

    /// HMAC with a TPM hash algorithm, or `nil` for an unsupported one.
    package static func hmac(_ hash: TPMAlgorithmID, key: [UInt8], data: [UInt8]) -> [UInt8]? {
        let symmetricKey = SymmetricKey(data: key)
        switch hash {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetricKey))
        case .sha384: return Array(HMAC<SHA384>.authenticationCode(for: data, using: symmetricKey))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetricKey))
        default: return nil
        }
    }

    package static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    package static func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    /// A `TPM2B`: two size bytes, then the bytes.
    package static func sized(_ bytes: [UInt8]) -> [UInt8] { bigEndian(UInt16(bytes.count)) + bytes }
}
