#!/usr/bin/python3
"""Independent reference for keyshard's GF(2^8) Shamir (ByteShamir.swift).

Deliberately a different algorithm from the Swift code: log/exp tables over the
generator {03} (fine here, nothing secret), checked against FIPS-197 section 4.2.
Prints the JSON fixed vectors in Tests/ShardCryptoTests/Resources/gf256-shamir-vectors.json.
"""
import hashlib, json

EXP, LOG, x = [0] * 510, [0] * 256, 1
for i in range(255):                      # {03}^i; {03}*v = v ^ xtime(v)
    EXP[i] = EXP[i + 255] = x
    LOG[x] = i
    x ^= ((x << 1) ^ (0x11B if x & 0x80 else 0)) & 0xFF
mul = lambda a, b: 0 if 0 in (a, b) else EXP[LOG[a] + LOG[b]]
FACTS = [(0x57, 0x83, 0xC1), (0x57, 0x13, 0xFE), (0x57, 0x02, 0xAE), (0x57, 0x04, 0x47),
         (0x57, 0x08, 0x8E), (0x57, 0x10, 0x07)]  # FIPS-197 section 4.2 and 4.2.1
assert all(mul(a, b) == p for a, b, p in FACTS)

def split(secret, threshold, count, label):
    coeffs = [hashlib.sha256(f"{label}/a{k}".encode()).digest()[:len(secret)] for k in range(1, threshold)]
    def f(pos, x):  # a_0 + a_1 x + ... by summing terms, not Horner (another route)
        terms, xp = [secret[pos]], 1
        for c in coeffs:
            xp = mul(xp, x); terms.append(mul(c[pos], xp))
        acc = 0
        for t in terms: acc ^= t
        return acc
    shares = [{"id": x, "data": bytes(f(p, x) for p in range(len(secret))).hex()} for x in range(1, count + 1)]
    return {"label": label, "secret": secret.hex(), "threshold": threshold,
            "coefficients": "".join(c.hex() for c in coeffs), "shares": shares}

KEY = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")  # FIPS-197 A.3
print(json.dumps({
    "multiplication": [{"a": f"{a:02x}", "b": f"{b:02x}", "product": f"{p:02x}"} for a, b, p in FACTS],
    "splits": [split(KEY, 3, 5, "keyshard/gf256/3-of-5"), split(KEY, 2, 3, "keyshard/gf256/2-of-3"),
               split(bytes.fromhex("00ff80017f"), 4, 6, "keyshard/gf256/4-of-6")],
}, indent=1))
