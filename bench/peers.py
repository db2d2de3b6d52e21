#!/usr/bin/env python3
"""The peers `make bench` puts next to keyshard, measured on this machine in the same run:
Python cryptography's HPKE (base mode, DHKEM(P-256), HKDF-SHA256, AES-256-GCM: keyshard's suite)
opening with a whole key, and the Zcash Foundation's frost-p256 (through its Python bindings,
frost_rs) making one t-of-n signature in one process: t nonce pairs, t signature shares and the
aggregate, as a coordinator with all t signers local would.

Prints a JSON list of {"name", "value", "unit"} on stdout. Run by scripts/bench-peers, which makes
the private venv these packages come from.
    peers.py SECONDS
"""
import json
import sys
import time

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ec
import frost_rs

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
rows = []


def rate(body):
    """Calls body back to back for `seconds`; calls per second."""
    count = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        body()
        count += 1
    return count / (time.perf_counter() - start)


suite = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
key = ec.generate_private_key(ec.SECP256R1())
sealed = suite.encrypt(b"\x42" * 32, key.public_key(), info=b"bench")
assert suite.decrypt(sealed, key, info=b"bench") == b"\x42" * 32
rows.append({"name": "Python cryptography HPKE open (same suite, whole key, one core)",
             "value": rate(lambda: suite.decrypt(sealed, key, info=b"bench")), "unit": "ops/s"})

frost = frost_rs.utility_p256
message = b"a 32-byte message to be signed.."
for threshold, shares in [(2, 3), (3, 5), (4, 7), (5, 9)]:
    ids = [frost.get_id() for _ in range(shares)]
    round1_secret, round1_public = {}, {}
    for i in ids:
        round1_secret[i], round1_public[i] = frost.round1(i, threshold, shares)
    round2_secret, round2_public = {}, {}
    for i in ids:
        received = {k: v for k, v in round1_public.items() if k != i}
        round2_secret[i], round2_public[i] = frost.round2(round1_secret[i], received)
    key_packages, public_packages = {}, {}
    for i in ids:
        received1 = {k: v for k, v in round1_public.items() if k != i}
        received2 = {k: v[i] for k, v in round2_public.items() if i in v}
        key_packages[i], public_packages[i] = frost.round3(round2_secret[i], received1, received2)
    signers = ids[:threshold]
    public = public_packages[signers[0]]

    def sign_once():
        nonces, commitments = {}, {}
        for i in signers:
            nonces[i], commitments[i] = frost.preprocess(key_packages[i])
        signature_shares = {i: frost.sign(message, commitments, nonces[i], key_packages[i]) for i in signers}
        return frost.aggregate(message, commitments, signature_shares, public)

    assert frost.verify(message, public, sign_once())
    rows.append({"name": f"ZF frost-p256 (frost_rs) sign and aggregate, {threshold}-of-{shares}, one process",
                 "value": rate(sign_once), "unit": "ops/s"})

json.dump(rows, sys.stdout, indent=1)
print()
