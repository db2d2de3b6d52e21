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

    /// n − 2, the exponent for constant-time inversion by Fermat's little theorem.
    static let orderMinusTwo: BigNum = {
        let value = BigNum()
        precondition(BN_copy(value.pointer, order) != nil)
        precondition(BN_sub_word(value.pointer, 2) == 1)
        return value
    }()
}

/// The owner of one `BIGNUM`, allocated from libcrypto's secure heap when one
/// is configured, cleared and freed in `deinit`.
final class BigNum: @unchecked Sendable {
    // Mutated only while the owner builds the value; published values are never mutated.
    let pointer: OpaquePointer

    init() {
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
func withBNContext<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
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
