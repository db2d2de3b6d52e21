internal import COpenSSL

/// The P-256 group as libcrypto sees it, created once.
///
/// An `EC_GROUP` is read-only after creation and libcrypto documents concurrent
/// read access as safe, so one shared instance serves every thread.
enum P256Group {
    nonisolated(unsafe) static let group: OpaquePointer = {
        guard let group = EC_GROUP_new_by_curve_name(COpenSSL_NID_P256()) else {
            fatalError("libcrypto has no P-256 group")
        }
        return group
    }()

    /// The group order n, borrowed from the group (never freed).
    nonisolated(unsafe) static let order: OpaquePointer = EC_GROUP_get0_order(group)

    /// n − 2, the Fermat inversion exponent of the BIGNUM reference (`LibcryptoReferenceScalar`);
    /// ``Scalar`` inverts in ``ScalarField``.
    static let orderMinusTwo: BigNum = {
        let value = BigNum()
        precondition(BN_copy(value.pointer, order) != nil)
        precondition(BN_sub_word(value.pointer, 2) == 1)
        return value
    }()
}

/// libcrypto's secure heap: a locked (`mlock`), core-dump-excluded arena from which
/// the limbs of `BN_secure_new` numbers and of `BN_CTX_secure_new` contexts' numbers are
/// allocated. Without it those calls fall back to the ordinary heap, so ShardCrypto sets
/// it up before its first `BIGNUM`.
enum SecureHeap {
    /// 256 KiB in blocks of at least 32 bytes (both powers of two, as libcrypto requires).
    /// Each operation holds only a few limb buffers of 32–64 bytes, but once the arena
    /// is full an allocation fails (and ShardCrypto traps) instead of falling back, so
    /// the arena is sized for many concurrent operations rather than for one.
    static let size = 256 * 1024
    static let minimumAllocation = 32

    /// Whether libcrypto's secure heap is in use. Set up on first access (Swift runs a
    /// static initializer exactly once, which `CRYPTO_secure_malloc_init`, itself not
    /// thread-safe, needs). `CRYPTO_secure_malloc_init` returns 2 when the arena works
    /// but could not be locked; that still keeps the memory out of core dumps.
    private static let ready: Bool = {
        if CRYPTO_secure_malloc_initialized() == 1 { return true }
        let result = CRYPTO_secure_malloc_init(size, minimumAllocation)
        ERR_clear_error()
        return result != 0
    }()

    /// Sets the secure heap up if that has not happened yet.
    @inline(__always)
    static func ensureInitialized() { _ = ready }

    /// What libcrypto reports: 1 once the secure heap is initialized.
    static var isInitialized: Bool { CRYPTO_secure_malloc_initialized() == 1 }

    /// Bytes currently allocated from the secure heap (`CRYPTO_secure_used`).
    static var bytesInUse: Int { CRYPTO_secure_used() }
}

/// The owner of one `BIGNUM` whose limbs libcrypto allocates from its secure heap
/// (`BN_secure_new` sets `BN_FLG_SECURE`; the small header struct with the width is
/// ordinary memory), cleared and freed in `deinit`.
final class BigNum: @unchecked Sendable {
    // Mutated only while the owner builds the value; published values are never mutated.
    let pointer: OpaquePointer

    init() {
        SecureHeap.ensureInitialized()
        guard let pointer = BN_secure_new() else { fatalError("BN_secure_new: out of memory") }
        // Every scalar is treated as potentially secret: libcrypto then takes
        // its constant-time paths (exponentiation, inversion, scalar multiplication).
        BN_set_flags(pointer, BN_FLG_CONSTTIME)
        self.pointer = pointer
    }

    deinit { BN_clear_free(pointer) }
}

/// Runs `body` with a fresh `BN_CTX` from the secure heap and frees it afterwards.
@inline(__always)
func withBNContext<R, E: Error>(_ body: (OpaquePointer) throws(E) -> R) throws(E) -> R {
    SecureHeap.ensureInitialized()
    guard let context = BN_CTX_secure_new() else { fatalError("BN_CTX_secure_new: out of memory") }
    defer { BN_CTX_free(context) }
    return try body(context)
}

/// Traps when a libcrypto call that cannot fail on valid inputs reports failure:
/// that means memory exhaustion or a broken library, not bad input.
@inline(__always)
func checkLibcrypto(_ result: Int32, _ function: StaticString) {
    if result != 1 {
        ERR_clear_error()
        fatalError("\(function) failed")
    }
}

/// Read-only views of a `BIGNUM` for the tests of ``Scalar/withBigNum(_:)``: what the
/// boundary hands to libcrypto, without exposing a C type outside the module.
enum BigNumInspection {
    /// Whether `BN_FLG_CONSTTIME` is set, so libcrypto takes its constant-time paths.
    static func hasConstantTimeFlag(_ pointer: OpaquePointer) -> Bool {
        BN_get_flags(pointer, BN_FLG_CONSTTIME) != 0
    }

    /// Whether `BN_FLG_SECURE` is set, so libcrypto keeps the limbs on its secure heap.
    static func hasSecureFlag(_ pointer: OpaquePointer) -> Bool {
        BN_get_flags(pointer, BN_FLG_SECURE) != 0
    }

    /// The value as 32 big-endian bytes (`BN_bn2binpad`), or nil when it does not fit.
    static func bytes(_ pointer: OpaquePointer) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let written = bytes.withUnsafeMutableBufferPointer { BN_bn2binpad(pointer, $0.baseAddress, 32) }
        return written == 32 ? bytes : nil
    }
}
