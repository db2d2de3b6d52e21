#!/usr/bin/python3
"""Standalone RFC 9591 FROST(P-256, SHA-256) signature verifier.

An independent check of keyshard's Swift implementation: it shares no code
with it and uses only Debian's python3-ecdsa (curve arithmetic and SEC1
decoding) and hashlib (SHA-256, for RFC 9380 expand_message_xmd).

Usage: frost_verify.py --public-key HEX --signature HEX < message
  --public-key  the group public key, 33-byte compressed SEC1, hex
  --signature   the signature, compressed R (33 bytes) || z (32 bytes), hex
Prints "valid" and exits 0, or prints "invalid" (with the reason on stderr)
and exits 1. Exits 2 on a usage error.
"""

import argparse
import hashlib
import sys

from ecdsa import NIST256p
from ecdsa.ellipticcurve import INFINITY
from ecdsa.keys import MalformedPointError, VerifyingKey

CONTEXT_STRING = b"FROST-P256-SHA256-v1"
ORDER = NIST256p.order
GENERATOR = NIST256p.generator


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-256 (b_in_bytes = 32, s_in_bytes = 64)."""
    ell = (length + 31) // 32
    if ell > 255 or length > 65535 or len(dst) > 255:
        raise ValueError("expand_message_xmd parameters out of range")
    dst_prime = dst + bytes([len(dst)])
    z_pad = bytes(64)
    l_i_b_str = length.to_bytes(2, "big")
    b_0 = hashlib.sha256(z_pad + msg + l_i_b_str + b"\x00" + dst_prime).digest()
    b_i = hashlib.sha256(b_0 + b"\x01" + dst_prime).digest()
    uniform = b_i
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, b_i))
        b_i = hashlib.sha256(mixed + bytes([i]) + dst_prime).digest()
        uniform += b_i
    return uniform[:length]


def h2(msg: bytes) -> int:
    """RFC 9591 section 6.4 H2: hash_to_field with L = 48, DST = contextString || "chal"."""
    uniform = expand_message_xmd(msg, CONTEXT_STRING + b"chal", 48)
    return int.from_bytes(uniform, "big") % ORDER


def decode_element(encoding: bytes, what: str):
    """RFC 9591 DeserializeElement: a 33-byte compressed, on-curve, non-identity point."""
    if len(encoding) != 33 or encoding[0] not in (2, 3):
        raise ValueError(f"{what} is not a 33-byte compressed point")
    try:
        key = VerifyingKey.from_string(encoding, curve=NIST256p)
    except (MalformedPointError, ValueError, AssertionError) as error:
        raise ValueError(f"{what} is not a point on P-256: {error}") from None
    # Reject non-canonical encodings (x not reduced mod p): re-encoding must give the input back.
    if key.to_string("compressed") != encoding:
        raise ValueError(f"{what} is not canonically encoded")
    return key.pubkey.point


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raises ValueError with a reason unless the signature is valid."""
    if len(signature) != 65:
        raise ValueError(f"a signature is 65 bytes, got {len(signature)}")
    pk = decode_element(public_key, "the public key")
    r_encoding, z_encoding = signature[:33], signature[33:]
    r = decode_element(r_encoding, "the signature's R")
    z = int.from_bytes(z_encoding, "big")
    if z >= ORDER:
        raise ValueError("the signature's z is not below the group order")
    c = h2(r_encoding + public_key + message)
    left = GENERATOR * z if z else INFINITY
    right = r + pk * c if c else r
    if left != right:
        raise ValueError("z*G != R + c*PK")


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify a FROST(P-256, SHA-256) signature (RFC 9591).")
    parser.add_argument("--public-key", required=True, help="group public key, compressed SEC1, hex")
    parser.add_argument("--signature", required=True, help="signature R || z, 65 bytes, hex")
    arguments = parser.parse_args()
    try:
        public_key = bytes.fromhex(arguments.public_key)
        signature = bytes.fromhex(arguments.signature)
    except ValueError:
        print("invalid")
        print("frost_verify: an argument is not hexadecimal", file=sys.stderr)
        return 1
    message = sys.stdin.buffer.read()
    try:
        verify(public_key, signature, message)
    except ValueError as error:
        print("invalid")
        print(f"frost_verify: {error}", file=sys.stderr)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
