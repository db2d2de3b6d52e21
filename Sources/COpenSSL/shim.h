#ifndef KEYSHARD_COPENSSL_SHIM_H
#define KEYSHARD_COPENSSL_SHIM_H

/* Only libcrypto: keyshard never uses OpenSSL's TLS. */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdint.h>

/* NID_X9_62_prime256v1 is a macro Swift imports, but naming the curve in one
 * place keeps the wrapper free of magic numbers. */
static inline int COpenSSL_NID_P256(void) { return NID_X9_62_prime256v1; }

/* An optimisation barrier for the scalar field's masks (as BoringSSL's
 * value_barrier_w): the empty asm hides that a mask is 0 or all ones, so the
 * compiler cannot turn a masked select back into a branch or a cmov it may
 * later convert to a branch. Swift has no inline assembly of its own. */
static inline uint64_t COpenSSL_value_barrier_u64(uint64_t value) {
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(value) : /* no inputs */);
#endif
    return value;
}


/* Σ scalars[i]·points[i] (+ g_scalar·G) in one multi-scalar multiplication. OpenSSL 3
 * deprecates EC_POINTs_mul (its replacement, EC_POINT_mul, takes one point), but keeps
 * it, and its P-256 implementation (ecp_nistz256_points_mul) shares the doublings of
 * all terms: n terms cost about 1 + n/4 single multiplications instead of n. Only the
 * coordinator's checks of public values (proofs, interpolation in the exponent) use it. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
static inline int COpenSSL_EC_POINTs_mul(const EC_GROUP *group, EC_POINT *result, const BIGNUM *g_scalar,
                                         size_t count, const EC_POINT *points[], const BIGNUM *scalars[],
                                         BN_CTX *context) {
    return EC_POINTs_mul(group, result, g_scalar, count, points, scalars, context);
}
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif
