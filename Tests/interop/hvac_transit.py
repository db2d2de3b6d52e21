#!/usr/bin/env python3
"""An unmodified Vault client (hvac) against keyshardd's socket: encrypt, decrypt, rewrap, data
keys, sign, verify, read and list, exactly as an application using Vault's transit engine would.

Usage: hvac_transit.py SOCKET HPKE_KEY FROST_KEY
Prints one line per check and exits non-zero on the first failure.
"""
import base64
import sys
import urllib.parse

import hvac
import requests_unixsocket


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def main() -> int:
    socket, hpke_key, frost_key = sys.argv[1:4]
    client = hvac.Client(
        url="http+unix://" + urllib.parse.quote(socket, safe=""),
        token="ignored-by-keyshard",
        session=requests_unixsocket.Session(),
    )
    transit = client.secrets.transit

    context = b64(b"hvac-context")
    encrypted = transit.encrypt_data(name=hpke_key, plaintext=b64(b"hello from hvac"), context=context)
    ciphertext = encrypted["data"]["ciphertext"]
    assert ciphertext.startswith("keyshard:v"), ciphertext
    print("encrypt ok", ciphertext[:16])

    decrypted = transit.decrypt_data(name=hpke_key, ciphertext=ciphertext, context=context)
    assert base64.b64decode(decrypted["data"]["plaintext"]) == b"hello from hvac", decrypted
    print("decrypt ok")

    batch = transit.encrypt_data(
        name=hpke_key, plaintext="", context=context,
        batch_input=[{"plaintext": b64(b"one"), "context": context}, {"plaintext": b64(b"two"), "context": context}],
    )
    results = batch["data"]["batch_results"]
    assert len(results) == 2 and all("ciphertext" in r for r in results), batch
    print("batch encrypt ok")

    transit.rotate_key(name=hpke_key)
    rewrapped = transit.rewrap_data(name=hpke_key, ciphertext=ciphertext, context=context)
    assert rewrapped["data"]["ciphertext"].startswith("keyshard:v2:"), rewrapped
    again = transit.decrypt_data(name=hpke_key, ciphertext=rewrapped["data"]["ciphertext"], context=context)
    assert base64.b64decode(again["data"]["plaintext"]) == b"hello from hvac"
    print("rotate + rewrap ok")

    read = transit.read_key(name=hpke_key)
    assert read["data"]["latest_version"] == 2, read
    assert "1" in read["data"]["keys"] and "2" in read["data"]["keys"], read
    listed = transit.list_keys()
    assert hpke_key in listed["data"]["keys"] and frost_key in listed["data"]["keys"], listed
    print("read + list ok")

    datakey = transit.generate_data_key(name=hpke_key, key_type="plaintext", context=context)
    plaintext = datakey["data"]["plaintext"]
    opened = transit.decrypt_data(name=hpke_key, ciphertext=datakey["data"]["ciphertext"], context=context)
    assert opened["data"]["plaintext"] == plaintext and len(base64.b64decode(plaintext)) == 32
    print("datakey ok")

    message = b64(b"release 1.0")
    signed = transit.sign_data(name=frost_key, hash_input=message)
    signature = signed["data"]["signature"]
    assert signature.startswith("keyshard:v1:"), signed
    verified = transit.verify_signed_data(name=frost_key, hash_input=message, signature=signature)
    assert verified["data"]["valid"] is True, verified
    forged = transit.verify_signed_data(name=frost_key, hash_input=b64(b"release 6.6.6"), signature=signature)
    assert forged["data"]["valid"] is False, forged
    print("sign + verify ok")

    try:
        transit.decrypt_data(name=frost_key, ciphertext=ciphertext, context=context)
    except hvac.exceptions.InvalidRequest as refused:
        print("wrong key type refused:", str(refused)[:80])
    else:
        raise AssertionError("a signing key decrypted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
