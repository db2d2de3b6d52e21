"""The quote verifiers a user would pick instead of keyshard's, timed on the same quote.

    quote_peers.py DIR [SECONDS]     (DIR from `attestation-benchmark --export DIR`)

Prints JSON rows (name, value, unit) for Benchmarks/EndToEnd to merge:
- Keylime's own verifier, keylime.tpm.tpm_util.checkquote (keylime from PyPI, in this venv),
  called in this process, one core: signature, nonce and PCR digest, as Keylime's verifier does
  before it compares PCR values with a policy.
- tpm2-tools' tpm2_checkquote (the Debian package), one process per quote, the way scripts use it:
  its rate includes starting the process, so it says what a shell-driven verifier costs, not what
  the library inside could do.

Both first check the quote once and must accept it, then must refuse it with a wrong nonce, so a
row never times a verifier that is failing fast.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def rate(body, seconds):
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        body()
        count += 1
    return count / (time.perf_counter() - start)


def pem_from_tpm2b_public(blob):
    """x and y of an ECC P-256 TPM2B_PUBLIC: its unique field ends it, as (size 32, x, size 32, y)."""
    if len(blob) < 70 or blob[-34:-32] != b"\x00\x20" or blob[-68:-66] != b"\x00\x20":
        raise ValueError("not an ECC P-256 TPM2B_PUBLIC")
    x, y = int.from_bytes(blob[-66:-34], "big"), int.from_bytes(blob[-32:], "big")
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def tpm2_tools_pcr_file(values):
    """tpm2-tools' PCR output (tpm2_quote -o), which both peers read: TPML_PCR_SELECTION and then
    TPML_DIGESTs of 8 as laid out in memory (little-endian, padded), for one SHA-256 bank."""
    indices = sorted(int(index) for index in values)
    values = {int(index): value for index, value in values.items()}
    select = 0
    for index in indices:
        select |= 1 << index
    out = struct.pack("<I", 1)
    out += struct.pack("<HB", 0x000B, 3) + select.to_bytes(3, "little") + b"\x00\x00"
    out += b"\x00" * 8 * 15
    digests = [bytes.fromhex(values[index]) for index in indices]
    lists = [digests[i:i + 8] for i in range(0, len(digests), 8)]
    out += struct.pack("<I", len(lists))
    for chunk in lists:
        out += struct.pack("<I", len(chunk))
        for slot in range(8):
            digest = chunk[slot] if slot < len(chunk) else b""
            out += struct.pack("<H", len(digest)) + digest.ljust(64, b"\x00")
    return out


def main():
    directory = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    read = lambda name: open(os.path.join(directory, name), "rb").read()
    pem = pem_from_tpm2b_public(read("ak.tpm2b"))
    message, signature = read("quote.msg"), read("quote.sig")
    nonce = bytes.fromhex(read("nonce.hex").decode())
    pcrs = tpm2_tools_pcr_file(json.loads(read("pcrs.json"))["sha256"])
    rows = []

    # Keylime reads its configuration at import and says so on stderr; that is not our output.
    import logging
    logging.disable(logging.WARNING)
    from keylime.tpm import tpm_util

    def keylime_once(with_nonce=nonce):
        return tpm_util.checkquote(pem, with_nonce, signature, message, pcrs, "sha256")

    assert set(keylime_once()) == {0, 4, 9}, "Keylime must accept the quote"
    try:
        keylime_once(b"another nonce")
        accepted_wrong_nonce = True
    except Exception:  # Keylime raises a bare Exception for a wrong nonce
        accepted_wrong_nonce = False
    assert not accepted_wrong_nonce, "Keylime accepted a quote with the wrong nonce"
    rows.append({"name": "Keylime checkquote (keylime 7.14.3, Python, in process), one core",
                 "value": rate(keylime_once, seconds), "unit": "quotes/s"})

    with tempfile.TemporaryDirectory() as scratch:
        paths = {}
        for name, data in [("ak.pem", pem), ("quote.msg", message), ("quote.sig", signature), ("pcrs.bin", pcrs)]:
            paths[name] = os.path.join(scratch, name)
            with open(paths[name], "wb") as handle:
                handle.write(data)

        def checkquote(with_nonce=nonce):
            return subprocess.run(
                ["tpm2_checkquote", "-u", paths["ak.pem"], "-m", paths["quote.msg"], "-s", paths["quote.sig"],
                 "-f", paths["pcrs.bin"], "-g", "sha256", "-q", with_nonce.hex()],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode

        assert checkquote() == 0, "tpm2_checkquote must accept the quote"
        assert checkquote(b"another nonce") != 0, "tpm2_checkquote accepted the wrong nonce"
        rows.append({"name": "tpm2_checkquote (tpm2-tools, one process per quote), one core",
                     "value": rate(checkquote, seconds), "unit": "quotes/s"})

    json.dump(rows, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
