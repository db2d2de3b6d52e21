#!/usr/bin/python3
"""Predicts what OVMF and the Linux EFI stub measure for a custodian image, and replays event logs.

  measure.py predict --kernel K --initrd I --cmdline C [metadata options]  -> measurements.json on stdout
  measure.py replay LOG                                                    -> events + replayed PCRs (JSON)
  measure.py check MEASUREMENTS LOG                                        -> exit 0 iff PCR 9 matches

Standard library only, so the image builder needs nothing beyond Debian's python3.

What is predicted (QEMU direct kernel boot, OVMF, Linux >= 6.1 EFI stub):
  PCR 9  EV_EVENT_TAG "LOADED_IMAGE::LoadOptions": sha256 of the load options OVMF hands the stub,
         i.e. the command line + " initrd=initrd" (OVMF appends it when an initrd is given), as
         UTF-16LE with its terminating NUL.
         EV_EVENT_TAG "Linux initrd": sha256 of the initrd file.
         PCR 9 = extend(extend(0^32, d1), d2), extend(p, d) = sha256(p || d).
  PCR 4  EV_EFI_BOOT_SERVICES_APPLICATION carries the Authenticode hash of the kernel *after* QEMU
         patched its setup header (initrd address/size, command line pointer, loader type), which
         depends on VM memory and initrd size. It is not predicted: "learned" from one reference
         boot (`keyshard policy learn`).
"""

import argparse
import hashlib
import json
import struct
import sys

SHA256 = 0x000B
EV_EVENT_TAG = 0x00000006
EV_NO_ACTION = 0x00000003
OVMF_INITRD_SUFFIX = " initrd=initrd"
LOAD_OPTIONS_TAG = "LOADED_IMAGE::LoadOptions"
INITRD_TAG = "Linux initrd"
DIGEST_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}


def load_options(cmdline: str, has_initrd: bool = True) -> bytes:
    """The LoadOptions bytes OVMF passes to the kernel: UTF-16LE, NUL-terminated."""
    text = cmdline + (OVMF_INITRD_SUFFIX if has_initrd else "")
    return (text + "\0").encode("utf-16-le")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def extend(pcr: bytes, digest: bytes) -> bytes:
    """TPM2_PCR_Extend for SHA-256: new = sha256(old || digest)."""
    if len(pcr) != 32 or len(digest) != 32:
        raise ValueError("SHA-256 PCR and digest must be 32 bytes")
    return sha256(pcr + digest)


def replay(digests) -> bytes:
    pcr = bytes(32)
    for digest in digests:
        pcr = extend(pcr, digest)
    return pcr


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def predict(args) -> dict:
    if not args.cmdline.isascii():
        raise SystemExit("measure.py: the command line must be ASCII (QEMU's fw_cfg passes bytes)")
    options = load_options(args.cmdline)
    d_options = sha256(options)
    d_initrd = bytes.fromhex(file_sha256(args.initrd))
    pcr9 = replay([d_options, d_initrd])
    result = {
        "format": "keyshard-image-measurements/v1",
        "bank": "sha256",
        "boot": "QEMU direct kernel boot, OVMF, Linux EFI stub (q35, tpm-crb)",
        "image": {
            "vmlinuz": {"sha256": file_sha256(args.kernel)},
            "initrd": {"sha256": d_initrd.hex()},
            "cmdline": args.cmdline,
            "kernelPackage": args.kernel_package,
            "kernelRelease": args.kernel_release,
            "modules": args.modules.split() if args.modules else [],
            "sourceDateEpoch": args.source_date_epoch,
            "agent": {
                "kind": args.agent_kind,
                "sha256": file_sha256(args.agent) if args.agent else None,
            },
        },
        "pcrs": {
            "9": {
                "status": "predicted",
                "value": pcr9.hex(),
                "events": [
                    {"type": "EV_EVENT_TAG", "tag": LOAD_OPTIONS_TAG, "digest": d_options.hex(),
                     "loadOptions": args.cmdline + OVMF_INITRD_SUFFIX},
                    {"type": "EV_EVENT_TAG", "tag": INITRD_TAG, "digest": d_initrd.hex()},
                ],
            },
            "4": {
                "status": "learned",
                "reason": "the EV_EFI_BOOT_SERVICES_APPLICATION digest is the Authenticode hash of the "
                          "kernel after QEMU patched its setup header (initrd address and size, command "
                          "line pointer, loader type); it depends on VM memory and initrd size and is "
                          "not reproduced here. Run `keyshard policy learn` against one reference boot "
                          "of this exact image and domain memory size.",
            },
        },
    }
    if args.agent_kind == "test-fixture":
        result["warning"] = "test fixture image: the agent is a test program, never deploy it"
    return result


def parse_event_log(data: bytes):
    """Parses a TCG2 crypto-agile event log (binary_bios_measurements) into a list of events."""
    events = []
    # First event: TCG_PCR_EVENT (SHA-1 format) carrying the Spec ID event.
    pcr, etype = struct.unpack_from("<II", data, 0)
    (size,) = struct.unpack_from("<I", data, 28)
    header = data[32:32 + size]
    offset = 32 + size
    sizes = dict(DIGEST_SIZES)
    if header[:16].rstrip(b"\0") == b"Spec ID Event03":
        (count,) = struct.unpack_from("<I", header, 24)
        for i in range(count):
            alg, dsize = struct.unpack_from("<HH", header, 28 + 4 * i)
            sizes[alg] = dsize
    events.append({"pcr": pcr, "type": etype, "digests": {}, "event": header})
    while offset + 12 <= len(data):
        pcr, etype, count = struct.unpack_from("<III", data, offset)
        offset += 12
        digests = {}
        for _ in range(count):
            (alg,) = struct.unpack_from("<H", data, offset)
            if alg not in sizes:
                raise ValueError(f"unknown digest algorithm 0x{alg:04x} at offset {offset}")
            digests[alg] = data[offset + 2:offset + 2 + sizes[alg]]
            offset += 2 + sizes[alg]
        (size,) = struct.unpack_from("<I", data, offset)
        offset += 4
        events.append({"pcr": pcr, "type": etype, "digests": digests, "event": data[offset:offset + size]})
        offset += size
    return events


def event_tag_text(event: bytes) -> str:
    """EV_EVENT_TAG data is TCG_PCClientTaggedEvent: u32 id, u32 size, data (the stub's description)."""
    if len(event) < 8:
        return ""
    (size,) = struct.unpack_from("<I", event, 4)
    return event[8:8 + size].rstrip(b"\0").decode("ascii", "replace")


def replay_log(path: str) -> dict:
    with open(path, "rb") as f:
        events = parse_event_log(f.read())
    pcrs = {}
    listed = []
    for e in events[1:]:
        if e["type"] == EV_NO_ACTION or SHA256 not in e["digests"]:
            continue
        pcrs[e["pcr"]] = extend(pcrs.get(e["pcr"], bytes(32)), e["digests"][SHA256])
        item = {"pcr": e["pcr"], "type": e["type"], "digest": e["digests"][SHA256].hex()}
        if e["type"] == EV_EVENT_TAG:
            item["tag"] = event_tag_text(e["event"])
        listed.append(item)
    return {"events": listed, "pcrs": {str(k): v.hex() for k, v in sorted(pcrs.items())}}


def check(measurements_path: str, log_path: str) -> int:
    with open(measurements_path) as f:
        expected = json.load(f)["pcrs"]["9"]
    actual = replay_log(log_path)
    got = [e for e in actual["events"] if e["pcr"] == 9]
    want = [{"tag": e["tag"], "digest": e["digest"]} for e in expected["events"]]
    have = [{"tag": e.get("tag"), "digest": e["digest"]} for e in got]
    ok = have == want and actual["pcrs"].get("9") == expected["value"]
    print(json.dumps({"pcr9": {"expected": expected["value"], "replayed": actual["pcrs"].get("9"),
                               "expectedEvents": want, "loggedEvents": have, "match": ok}}, indent=2))
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--cmdline", required=True)
    p.add_argument("--kernel-package")
    p.add_argument("--kernel-release")
    p.add_argument("--agent")
    p.add_argument("--agent-kind", default="keyshard-agent", choices=["keyshard-agent", "test-fixture"])
    p.add_argument("--modules")
    p.add_argument("--source-date-epoch", type=int)
    r = sub.add_parser("replay")
    r.add_argument("log")
    c = sub.add_parser("check")
    c.add_argument("measurements")
    c.add_argument("log")
    args = parser.parse_args(argv)
    if args.command == "predict":
        json.dump(predict(args), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if args.command == "replay":
        json.dump(replay_log(args.log), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    return check(args.measurements, args.log)


if __name__ == "__main__":
    sys.exit(main())
