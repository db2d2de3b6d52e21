import Crypto

/// RFC 9380 `expand_message_xmd` with SHA-256 and `hash_to_field` into the P-256
/// scalar field (L = 48), the primitive behind FROST's H1, H2, H3 and every
/// Fiat–Shamir challenge in keyshard.
public enum HashToScalar {
    /// RFC 9380 §5.3.1 `expand_message_xmd(msg, DST, len_in_bytes)` with SHA-256.
    /// - Precondition: `outputLength` ≤ 255·32 and the DST is at most 255 bytes.
    public static func expandMessageXMD(message: [UInt8], dst: [UInt8], outputLength: Int) -> [UInt8] {
        expandMessageXMD(dst: dst, outputLength: outputLength) { $0.update(data: message) }
    }

    /// `expand_message_xmd` whose message is fed straight into the hash by `feedMessage`,
    /// so inputs that contain secrets are read in place from wiped storage instead of
    /// being concatenated into an ordinary array first.
    static func expandMessageXMD(dst: [UInt8], outputLength: Int, feedMessage: (inout SHA256) -> Void) -> [UInt8] {
        let hashLength = SHA256.byteCount
        let blockLength = 64
        let ell = (outputLength + hashLength - 1) / hashLength
        precondition(ell <= 255 && outputLength <= 65535 && dst.count <= 255, "expand_message_xmd: parameters out of range")
        let dstPrime = dst + [UInt8(dst.count)]
        let zPad = [UInt8](repeating: 0, count: blockLength)
        let lengthBytes = [UInt8(outputLength >> 8), UInt8(outputLength & 0xff)]
        var hasher = SHA256()
        hasher.update(data: zPad)
        feedMessage(&hasher)
        hasher.update(data: lengthBytes)
        hasher.update(data: [0])
        hasher.update(data: dstPrime)
        let b0 = Array(hasher.finalize())
        var b = Array(SHA256.hash(data: b0 + [1] + dstPrime))
        var uniform = b
        var i = 2
        while i <= ell {
            let mixed = zip(b0, b).map { $0 ^ $1 }
            b = Array(SHA256.hash(data: mixed + [UInt8(i)] + dstPrime))
            uniform += b
            i += 1
        }
        return Array(uniform.prefix(outputLength))
    }

    /// RFC 9380 `hash_to_field(msg, 1)` over the P-256 scalar field: 48 uniform
    /// bytes reduced modulo n.
    public static func hash(_ message: [UInt8], dst: [UInt8]) -> Scalar {
        Scalar(reducing: expandMessageXMD(message: message, dst: dst, outputLength: 48))
    }

    /// `hash_to_field` over the concatenation of `parts`, each read in place from wiped
    /// storage (for nonce derivation, whose input contains a secret share).
    public static func hash(concatenating parts: [SecretBytes], dst: [UInt8]) -> Scalar {
        Scalar(reducing: expandMessageXMD(dst: dst, outputLength: 48) { hasher in
            for part in parts { part.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        })
    }

    /// Hashes several length-prefixed parts, so that no two different part lists
    /// give the same input (used by keyshard's own transcripts, not by FROST,
    /// whose inputs are fixed by RFC 9591).
    public static func hash(parts: [[UInt8]], dst: String) -> Scalar {
        var message: [UInt8] = []
        for part in parts {
            let length = UInt32(part.count)
            message += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            message += part
        }
        return hash(message, dst: Array(dst.utf8))
    }
}
