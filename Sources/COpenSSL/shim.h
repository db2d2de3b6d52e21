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

/* NID_X9_62_prime256v1 is a macro Swift imports, but naming the curve in one
 * place keeps the wrapper free of magic numbers. */
static inline int COpenSSL_NID_P256(void) { return NID_X9_62_prime256v1; }

#endif
