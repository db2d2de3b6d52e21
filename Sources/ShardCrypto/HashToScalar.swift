import Crypto

/// RFC 9380 `expand_message_xmd` with SHA-256 and `hash_to_field` into the P-256
/// scalar field (L = 48), the primitive behind FROST's H1, H2, H3 and every
/// Fiat–Shamir challenge in keyshard.
public enum HashToScalar {
    /// RFC 9380 §5.3.1 `expand_message_xmd(msg, DST, len_in_bytes)` with SHA-256.
    /// - Precondition: `outputLength` ≤ 255·32 and the DST is at most 255 bytes.
    public static func expandMessageXMD(message: [UInt8], dst: [UInt8], outputLength: Int) -> [UInt8] {
        expandMessageXMD(dst: dst, outputLength: outputLength) { $0.update(data: message) }
            .withUnsafeBytes { Array($0) }
    }

    /// `expand_message_xmd` whose message is fed straight into the hash by `feedMessage`,
    /// so inputs that contain secrets are read in place from wiped storage instead of
    /// being concatenated into an ordinary array first.
    ///
    /// Everything derived from the message — b_0, each b_i, each b_0 ⊕ b_(i−1) and the
    /// output — is written straight into wiped storage: for a nonce these bytes *are*
    /// the secret before reduction. The SHA-256 states and digests are swift-crypto
    /// value types, which this code cannot wipe.
    static func expandMessageXMD(
        dst: [UInt8], outputLength: Int, feedMessage: (inout SHA256) -> Void
    ) -> SecretBytes {
        let hashLength = SHA256.byteCount
        let blockLength = 64
        let ell = (outputLength + hashLength - 1) / hashLength
        precondition(
            ell <= 255 && outputLength <= 65535 && dst.count <= 255, "expand_message_xmd: parameters out of range")
        let dstPrime = dst + [UInt8(dst.count)]
        let zPad = [UInt8](repeating: 0, count: blockLength)
        let lengthBytes = [UInt8(outputLength >> 8), UInt8(outputLength & 0xff)]
        // Scratch layout: b_0 (32) ‖ b_0 ⊕ b_(i−1) (32) ‖ b_1 ‖ … ‖ b_ell.
        let scratch = SecretBytes(count: 2 * hashLength + ell * hashLength) { buffer in
            let b0 = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<hashLength])
            let mixed = UnsafeMutableRawBufferPointer(rebasing: buffer[hashLength..<(2 * hashLength)])
            func block(_ i: Int) -> UnsafeMutableRawBufferPointer {
                UnsafeMutableRawBufferPointer(rebasing: buffer[((i + 1) * hashLength)..<((i + 2) * hashLength)])
            }
            var hasher = SHA256()
            hasher.update(data: zPad)
            feedMessage(&hasher)
            hasher.update(data: lengthBytes)
            hasher.update(data: [0])
            hasher.update(data: dstPrime)
            hasher.finalize().withUnsafeBytes { b0.copyMemory(from: $0) }
            var i = 1
            while i <= ell {
                var next = SHA256()
                if i == 1 {
                    next.update(bufferPointer: UnsafeRawBufferPointer(b0))
                } else {
                    let previous = block(i - 1)
                    for j in 0..<hashLength { mixed[j] = b0[j] ^ previous[j] }
                    next.update(bufferPointer: UnsafeRawBufferPointer(mixed))
                }
                next.update(data: [UInt8(i)])
                next.update(data: dstPrime)
                let target = block(i)
                next.finalize().withUnsafeBytes { target.copyMemory(from: $0) }
                i += 1
            }
        }
        return SecretBytes(count: outputLength) { output in
            scratch.withUnsafeBytes { all in
                let uniform = all[(2 * hashLength)..<(2 * hashLength + outputLength)]
                output.copyMemory(from: UnsafeRawBufferPointer(rebasing: uniform))
            }
        }
    }

    /// RFC 9380 `hash_to_field(msg, 1)` over the P-256 scalar field: 48 uniform
    /// bytes reduced modulo n.
    public static func hash(_ message: [UInt8], dst: [UInt8]) -> Scalar {
        Scalar(reducing: expandMessageXMD(dst: dst, outputLength: 48) { $0.update(data: message) })
    }

    /// `hash_to_field` over the concatenation of `parts`, each read in place from wiped
    /// storage (for nonce derivation, whose input contains a secret share).
    /// The 48 uniform bytes stay in wiped storage and are reduced in place.
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
