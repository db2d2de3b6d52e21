internal import COpenSSL

/// Bytes that are secret: wiped when the last copy goes away, never printed.
///
/// Storage is a single heap buffer shared between copies (copies are cheap and
/// do not duplicate the secret); the buffer is overwritten with
/// `OPENSSL_cleanse` in `deinit`, which the optimizer cannot remove. Read the
/// bytes with ``withUnsafeBytes(_:)``.
public struct SecretBytes: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    final class Storage: @unchecked Sendable {
        // Written only during init; immutable afterwards, so sharing across threads is safe.
        let buffer: UnsafeMutableRawBufferPointer

        init(count: Int) {
            buffer = .allocate(byteCount: max(count, 1), alignment: 16)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            self.count = count
        }

        let count: Int

        deinit {
            OPENSSL_cleanse(buffer.baseAddress, buffer.count)
            buffer.deallocate()
        }
    }

    let storage: Storage

    /// Copies `bytes` into wiped storage. The caller remains responsible for its own copy.
    public init(_ bytes: some Collection<UInt8>) {
        storage = Storage(count: bytes.count)
        UnsafeMutableRawBufferPointer(rebasing: storage.buffer[0..<bytes.count]).copyBytes(from: bytes)
    }

    /// Creates `count` bytes and lets `body` fill them in place, so the secret never
    /// exists in an unwiped buffer.
    public init<E: Error>(count: Int, initializingWith body: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        storage = Storage(count: count)
        try body(UnsafeMutableRawBufferPointer(rebasing: storage.buffer[0..<count]))
    }

    /// `count` bytes from the operating system's CSPRNG (OpenSSL's private DRBG).
    public static func random(count: Int) -> SecretBytes {
        SecretBytes(count: count) { buffer in
            guard count > 0 else { return }
            let ok = RAND_priv_bytes(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count))
            precondition(ok == 1, "the system random number generator failed")
        }
    }

    /// The number of bytes.
    public var count: Int { storage.count }

    /// Calls `body` with the secret bytes. Do not let the pointer escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage.buffer[0..<storage.count]))
    }

    /// Constant-time equality: the time taken depends only on the lengths.
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        guard count == other.count else { return false }
        return withUnsafeBytes { a in
            other.withUnsafeBytes { b in
                CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
            }
        }
    }

    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
