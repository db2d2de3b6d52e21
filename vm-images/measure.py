#!/usr/bin/python3
"""Predicts what OVMF and the Linux EFI stub measure for a custodian image, and replays event logs.

  measure.py predict --kernel K --initrd I --cmdline C [pins] [metadata]  -> measurements.json on stdout
  measure.py replay LOG                                                    -> events + replayed PCRs (JSON)
  measure.py check MEASUREMENTS LOG                                        -> exit 0 iff predictions match
  measure.py policy MEASUREMENTS --name N                                  -> keyshard/v1 policy YAML

Standard library only, so the image builder needs nothing beyond Debian's python3.

The pins. A custodian boots with the image's base command line (C) plus the pins its agent
reads from /proc/cmdline: "keyshard.coordinator=K keyshard.ekroot=R[,R] keyshard.minthreshold=N"
(--coordinator-key K --ek-root-sha256 R [--min-threshold N]). The pins are a deployment's, not
the image's, so `make image` predicts PCR 9 for the base command line only and marks it so
("pinned": false); the coordinator derives PCR 9 for the exact command line it boots each
custodian with (Sources/Coordinator/CustodianBootPolicy.swift, the same arithmetic as here), and
a policy author who wants the deployment's full PCR 9 passes the pins to `predict`.

What is predicted (QEMU direct kernel boot, OVMF, Linux >= 6.1 EFI stub):
  PCR 9  EV_EVENT_TAG "LOADED_IMAGE::LoadOptions": sha256 of the load options OVMF hands the stub,
         i.e. the command line + " initrd=initrd" (OVMF appends it when an initrd is given), as
         UTF-16LE with its terminating NUL.
         EV_EVENT_TAG "Linux initrd": sha256 of the initrd file.
         PCR 9 = extend(extend(0^32, d1), d2), extend(p, d) = sha256(p || d).
  PCR 4  EV_EFI_BOOT_SERVICES_APPLICATION: Authenticode hash of the kernel *after* QEMU's
         x86_load_linux() patched its setup header (cmd_line_ptr, type_of_loader, CAN_USE_HEAP,
         heap_end_ptr, ramdisk_image, ramdisk_size) -- it depends on the VM's memory size and the
         initrd size, so both are inputs, but not on the command line: QEMU copies the command
         line to a fixed address (cmd_line_ptr 0x20000) and writes neither its length nor a
         setup_data pointer behind it into the header, so pins of any length leave PCR 4 as it
         is (checked by test/boot-test, which boots with pins; only vga= would change it); then EV_EFI_ACTION "Calling EFI Application from Boot
         Option" and EV_SEPARATOR (4 zero bytes), in that order as OVMF logs them under QEMU
         direct kernel boot. Modelled for QEMU 7.2 q35 without SEV, memory below 2 GiB, no vga=.
         Checked against real boots by test/boot-test. `keyshard policy learn` remains the way to
         pin PCR 4 for any other QEMU/OVMF combination.
"""

import argparse
import hashlib
import json
import struct
import sys

SHA256 = 0x000B
EV_EVENT_TAG = 0x00000006
EV_NO_ACTION = 0x00000003
EV_SEPARATOR = 0x00000004
EV_EFI_ACTION = 0x80000007
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
BOOT_OPTION_ACTION = "Calling EFI Application from Boot Option"
OVMF_INITRD_SUFFIX = " initrd=initrd"
LOAD_OPTIONS_TAG = "LOADED_IMAGE::LoadOptions"
INITRD_TAG = "Linux initrd"
DIGEST_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}
# Linux's x86 COMMAND_LINE_SIZE, the terminating NUL included: the EFI stub hands the kernel the
# load options (command line + " initrd=initrd"), so those must fit in it.
COMMAND_LINE_SIZE = 2048
PIN_PARAMETERS = ("keyshard.coordinator", "keyshard.ekroot", "keyshard.minthreshold")
DEFAULT_MIN_THRESHOLD = 2


def pinned_cmdline(base: str, coordinator_key: str, ek_roots, min_threshold: int = DEFAULT_MIN_THRESHOLD) -> str:
    """The command line a custodian boots with: the image's base command line and the agent's pins,
    in this order (the coordinator's launcher writes them the same way)."""
    key = coordinator_key.lower()
    if len(key) != 66 or key[:2] not in ("02", "03") or not all(c in "0123456789abcdef" for c in key):
        raise SystemExit("measure.py: --coordinator-key is a compressed P-256 key: 66 hex digits, 02 or 03 first")
    roots = [r.lower() for item in ek_roots for r in item.split(",") if r]
    if not roots or any(len(r) != 64 or not all(c in "0123456789abcdef" for c in r) for r in roots):
        raise SystemExit("measure.py: --ek-root-sha256 is the SHA-256 of a DER root certificate: 64 hex digits")
    if not 2 <= min_threshold <= 1024:
        raise SystemExit("measure.py: --min-threshold is a number from 2 to 1024")
    for word in base.split():
        if word.split("=", 1)[0] in PIN_PARAMETERS:
            raise SystemExit(f"measure.py: the base command line already has {word.split('=', 1)[0]}=")
    cmdline = (f"{base} keyshard.coordinator={key} keyshard.ekroot={','.join(roots)} "
               f"keyshard.minthreshold={min_threshold}")
    check_cmdline(cmdline)
    return cmdline


def check_cmdline(cmdline: str) -> None:
    """Refuses a command line QEMU, OVMF or the kernel would not pass on whole."""
    if not cmdline.isascii() or any(not 0x20 <= ord(c) < 0x7F for c in cmdline):
        raise SystemExit("measure.py: the command line must be printable ASCII (QEMU's fw_cfg passes bytes)")
    size = len(cmdline) + len(OVMF_INITRD_SUFFIX) + 1
    if size > COMMAND_LINE_SIZE:
        raise SystemExit(f"measure.py: the command line and OVMF's '{OVMF_INITRD_SUFFIX.strip()}' take {size} "
                         f"bytes with the NUL; the kernel keeps {COMMAND_LINE_SIZE}")


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


def authenticode_sha256(image: bytes) -> bytes:
    """Authenticode (PE/COFF image) hash as the UEFI firmware computes it when it measures an
    EFI application: headers without CheckSum and the certificate-table entry, sections in file
    order, then any data after the sections except the certificate table."""
    (pe,) = struct.unpack_from("<I", image, 0x3C)
    if image[pe:pe + 4] != b"PE\0\0":
        raise ValueError("not a PE image")
    coff = pe + 4
    sections_count, = struct.unpack_from("<H", image, coff + 2)
    optional_size, = struct.unpack_from("<H", image, coff + 16)
    opt = coff + 20
    magic, = struct.unpack_from("<H", image, opt)
    if magic == 0x20B:
        dirs = opt + 112
    elif magic == 0x10B:
        dirs = opt + 96
    else:
        raise ValueError("unknown optional header magic")
    checksum = opt + 64
    cert_entry = dirs + 8 * 4
    size_of_headers, = struct.unpack_from("<I", image, opt + 60)
    cert_offset, cert_size = struct.unpack_from("<II", image, cert_entry)
    h = hashlib.sha256()
    h.update(image[:checksum])
    h.update(image[checksum + 4:cert_entry])
    h.update(image[cert_entry + 8:size_of_headers])
    table = opt + optional_size
    sections = []
    for i in range(sections_count):
        raw_size, raw_ptr = struct.unpack_from("<II", image, table + 40 * i + 16)
        if raw_size:
            sections.append((raw_ptr, raw_size))
    hashed = size_of_headers
    for raw_ptr, raw_size in sorted(sections):
        h.update(image[raw_ptr:raw_ptr + raw_size])
        hashed += raw_size
    end = len(image) - (cert_size if cert_offset else 0)
    if end > hashed:
        h.update(image[hashed:end])
    return h.digest()


def qemu_patched_kernel(kernel: bytes, cmdline: str, initrd_size: int, memory_mib: int,
                        acpi_data_size: int = 0x20000 + 0x8000) -> bytes:
    """The kernel as OVMF receives it over fw_cfg after QEMU 7.2's x86_load_linux() patched the
    setup header (boot protocol >= 2.02, no SEV, initrd given, RAM below the 4 GiB split)."""
    header = bytearray(kernel[:8192])
    if struct.unpack_from("<I", header, 0x202)[0] != 0x53726448:
        raise ValueError("not a Linux bzImage")
    protocol, = struct.unpack_from("<H", header, 0x206)
    if protocol < 0x203:
        raise ValueError("boot protocol older than 2.03 is not modelled")
    if not 0 < memory_mib < 2048:
        raise ValueError("memory of 2 GiB or more is not modelled (q35 splits RAM around 4 GiB)")
    real_addr, cmdline_addr = 0x10000, 0x20000
    below_4g = memory_mib << 20
    initrd_max, = struct.unpack_from("<I", header, 0x22C)
    if initrd_max >= below_4g - acpi_data_size:
        initrd_max = below_4g - acpi_data_size - 1
    struct.pack_into("<I", header, 0x228, cmdline_addr)
    header[0x210] = 0xB0
    header[0x211] |= 0x80
    struct.pack_into("<H", header, 0x224, cmdline_addr - real_addr - 0x200)
    if "vga=" in cmdline:
        raise ValueError("vga= on the command line is not modelled")
    initrd_addr = (initrd_max - initrd_size) & ~4095
    struct.pack_into("<I", header, 0x218, initrd_addr)
    struct.pack_into("<I", header, 0x21C, initrd_size)
    setup_sects = header[0x1F1] or 4
    setup_size = (setup_sects + 1) * 512
    patched = bytearray(kernel)
    patched[:min(len(header), setup_size)] = header[:min(len(header), setup_size)]
    return bytes(patched)


def len_of(path: str) -> int:
    with open(path, "rb") as f:
        return f.seek(0, 2)


def predict_pcr4(kernel_path: str, cmdline: str, initrd_size: int, memory_mib: int) -> dict:
    with open(kernel_path, "rb") as f:
        kernel = f.read()
    app = authenticode_sha256(qemu_patched_kernel(kernel, cmdline, initrd_size, memory_mib))
    action = sha256(BOOT_OPTION_ACTION.encode("ascii"))
    separator = sha256(bytes(4))
    return {
        "status": "predicted",
        "value": replay([app, action, separator]).hex(),
        "conditions": "QEMU 7.2 q35 direct kernel boot with OVMF, no SEV, "
                      f"{memory_mib} MiB of memory; any other memory size or initrd changes the "
                      "application digest. Otherwise: keyshard policy learn from one reference boot.",
        "events": [
            {"type": "EV_EFI_BOOT_SERVICES_APPLICATION", "digest": app.hex(),
             "note": "Authenticode hash of vmlinuz after QEMU patched its setup header"},
            {"type": "EV_EFI_ACTION", "digest": action.hex(), "data": BOOT_OPTION_ACTION},
            {"type": "EV_SEPARATOR", "digest": separator.hex()},
        ],
    }


def predict(args) -> dict:
    base = args.cmdline
    check_cmdline(base)
    pins = None
    if args.coordinator_key or args.ek_roots:
        if not (args.coordinator_key and args.ek_roots):
            raise SystemExit("measure.py: the pins are --coordinator-key and --ek-root-sha256 together")
        args.cmdline = pinned_cmdline(base, args.coordinator_key, args.ek_roots, args.min_threshold)
        pins = {"coordinatorKey": args.coordinator_key.lower(),
                "ekRootSHA256": [r.lower() for item in args.ek_roots for r in item.split(",") if r],
                "minThreshold": args.min_threshold}
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
            "baseCmdline": base,
            "pins": pins,
            "kernelPackage": args.kernel_package,
            "kernelRelease": args.kernel_release,
            "modules": args.modules.split() if args.modules else [],
            "memoryMiB": args.memory_mib,
            "sourceDateEpoch": args.source_date_epoch,
            "agent": {
                "kind": args.agent_kind,
                "sha256": file_sha256(args.agent) if args.agent else None,
            },
        },
        "pcrs": {
            "9": {
                "status": "predicted",
                "pinned": pins is not None,
                "value": pcr9.hex(),
                "events": [
                    {"type": "EV_EVENT_TAG", "tag": LOAD_OPTIONS_TAG, "digest": d_options.hex(),
                     "loadOptions": args.cmdline + OVMF_INITRD_SUFFIX},
                    {"type": "EV_EVENT_TAG", "tag": INITRD_TAG, "digest": d_initrd.hex()},
                ],
            },
            "4": predict_pcr4(args.kernel, args.cmdline, len_of(args.initrd), args.memory_mib),
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


EVENT_TYPE_NAMES = {EV_EVENT_TAG: "EV_EVENT_TAG", EV_SEPARATOR: "EV_SEPARATOR", EV_EFI_ACTION: "EV_EFI_ACTION",
                    EV_EFI_BOOT_SERVICES_APPLICATION: "EV_EFI_BOOT_SERVICES_APPLICATION"}


def compare(expected: dict, actual: dict, pcr: int) -> dict:
    """Compares one predicted PCR (events in order and value) with a replayed event log."""
    logged = [dict({"type": EVENT_TYPE_NAMES.get(e["type"], hex(e["type"])), "digest": e["digest"]},
                   **({"tag": e["tag"]} if "tag" in e else {}))
              for e in actual["events"] if e["pcr"] == pcr]
    want = [dict({"type": e["type"], "digest": e["digest"]}, **({"tag": e["tag"]} if "tag" in e else {}))
            for e in expected["events"]]
    ok = logged == want and actual["pcrs"].get(str(pcr)) == expected["value"]
    return {"expected": expected["value"], "replayed": actual["pcrs"].get(str(pcr)),
            "expectedEvents": want, "loggedEvents": logged, "match": ok}


def check(measurements_path: str, log_path: str) -> int:
    """Exit status 0 iff every predicted PCR equals the event log's replay, event by event."""
    with open(measurements_path) as f:
        pcrs = json.load(f)["pcrs"]
    actual = replay_log(log_path)
    report = {f"pcr{n}": compare(p, actual, int(n)) for n, p in sorted(pcrs.items()) if p["status"] == "predicted"}
    print(json.dumps(report, indent=2))
    return 0 if report and all(r["match"] for r in report.values()) else 1


# libvirt's swtpm_setup certifies each vTPM's EK with swtpm-localca: a self-signed root
# (swtpm-localca-rootca-cert.pem) and the issuing CA it signed (issuercert.pem), which signs the EK
# certificates. The root's SHA-256 (DER) is what custodians pin (keyshard.ekroot=); the coordinator
# uses the issuing CA as the intermediate between the EK certificate and that root.
DEFAULT_EK_ROOTS = ("/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem", "/var/lib/swtpm-localca/issuercert.pem")


def policy_yaml(measurements: dict, name: str, allow_test_fixture: bool = False,
                ek_roots=DEFAULT_EK_ROOTS) -> str:
    """A keyshard/v1 AttestationPolicy pinning every predicted PCR of an image (no reference boot).

    Besides the PCR values it writes one event rule per predicted measurement, so a refusal names
    the part that changed (the initrd, the command line, the kernel) instead of only "PCR 9", and
    the EK roots libvirt's swtpm certifies its vTPMs with, so the AK can be tied to a real EK.
    """
    image = measurements["image"]
    if image["agent"]["kind"] == "test-fixture" and not allow_test_fixture:
        raise SystemExit("measure.py: refusing to write a policy for a test-fixture image "
                         "(--allow-test-fixture for tests)")
    predicted = {int(n): p for n, p in measurements["pcrs"].items() if p["status"] == "predicted"}
    if not predicted:
        raise SystemExit("measure.py: no PCR is predicted; use keyshard policy learn")
    lines = [
        f"# Predicted by vm-images/measure.py from measurements.json, without booting the image:",
        f"#   kernel {image['kernelPackage']}, initrd sha256 {image['initrd']['sha256']},",
        f"#   {image['memoryMiB']} MiB, agent {image['agent']['kind']} sha256 {image['agent']['sha256']}.",
        f"# Command line: {image['cmdline']}",
    ]
    if not measurements["pcrs"].get("9", {}).get("pinned", True):
        lines += [
            "# PCR 9 and the LoadOptions rule are for that base command line, which no custodian boots with:",
            "# each boots with keyshard.coordinator=, keyshard.ekroot= and keyshard.minthreshold= appended,",
            "# and the coordinator derives PCR 9 and the LoadOptions digest for that exact command line per",
            "# boot (PCR 4 and the initrd rule stay as here). For a deployment's fixed PCR 9:",
            "#   measure.py predict ... --coordinator-key HEX --ek-root-sha256 HEX [--min-threshold N].",
        ]
    lines += [
        "# PCR 0 (firmware) is not predicted: add it from one reference boot with keyshard policy learn.",
        "apiVersion: keyshard/v1",
        "kind: AttestationPolicy",
        f"name: {name}",
        "description: Custodian image measured boot (OVMF + Linux EFI stub), PCR 4 kernel, PCR 9 command line"
        " and initrd.",
        "pcrBank: sha256",
        "pcrs:",
    ]
    comments = {4: "kernel (Authenticode of QEMU-patched vmlinuz), boot action, separator",
                9: "EFI stub: load options (command line) and initrd"}
    for n in sorted(predicted):
        lines.append(f'  {n}: ["{predicted[n]["value"]}"]   # {comments.get(n, "")}')
    rules = []
    for n in sorted(predicted):
        for event in predicted[n].get("events", []):
            if event["type"] == "EV_EVENT_TAG" and event.get("tag") == INITRD_TAG:
                rules.append((n, event, f"label: {INITRD_TAG}", "the initrd (sha256 of initrd.img)"))
            elif event["type"] == "EV_EVENT_TAG" and event.get("tag") == LOAD_OPTIONS_TAG:
                rules.append((n, event, f"label: {LOAD_OPTIONS_TAG}",
                              "the kernel command line as OVMF passes it (UTF-16LE, ' initrd=initrd' appended)"))
            elif event["type"] == "EV_EFI_BOOT_SERVICES_APPLICATION":
                rules.append((n, event, None, "the kernel as OVMF loaded it (Authenticode, QEMU-patched header)"))
    if rules:
        lines.append("events:")
        for n, event, label, description in rules:
            lines.append(f"  - pcr: {n}")
            lines.append(f"    type: {event['type']}")
            if label:
                lines.append(f"    {label}")
            lines.append(f'    digests: ["{event["digest"]}"]')
            lines.append(f"    description: {description}")
    lines += [
        "freshness:",
        "  maxAge: 60s            # the coordinator issues the nonce once the agent serves, not at boot",
        "  requireSafeClock: true # refuse a vTPM whose clock may have gone back",
        "  monotonic: true        # heartbeats of one custodian must stay in one TPM boot",
    ]
    if ek_roots:
        lines.append("# libvirt's swtpm certifies each vTPM's EK with this host's swtpm local CA: its self-signed root")
        lines.append("# (whose SHA-256 custodians pin as keyshard.ekroot=) and the issuing CA below it.")
        lines.append("ekRoots: [" + ", ".join(ek_roots) + "]")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--cmdline", required=True)
    p.add_argument("--kernel-package")
    p.add_argument("--kernel-release")
    p.add_argument("--agent", help="the agent binary as it is in the initramfs (stripped)")
    p.add_argument("--agent-kind", default="keyshard-agent", choices=["keyshard-agent", "test-fixture"])
    p.add_argument("--modules")
    p.add_argument("--memory-mib", type=int, default=512)
    p.add_argument("--source-date-epoch", type=int)
    p.add_argument("--coordinator-key", help="pin: the coordinator's compressed P-256 key (66 hex digits)")
    p.add_argument("--ek-root-sha256", action="append", dest="ek_roots", default=[],
                   help="pin: SHA-256 of a DER EK root certificate (repeatable or comma-separated)")
    p.add_argument("--min-threshold", type=int, default=DEFAULT_MIN_THRESHOLD, help="pin: lowest threshold")
    r = sub.add_parser("replay")
    r.add_argument("log")
    c = sub.add_parser("check")
    c.add_argument("measurements")
    c.add_argument("log")
    y = sub.add_parser("policy")
    y.add_argument("measurements")
    y.add_argument("--name", required=True)
    y.add_argument("--allow-test-fixture", action="store_true")
    y.add_argument("--ek-root", action="append", dest="ek_roots",
                   help="PEM file of the vTPM EK root or issuing CA (repeatable; default "
                        + " and ".join(DEFAULT_EK_ROOTS) + ")")
    args = parser.parse_args(argv)
    if args.command == "predict":
        json.dump(predict(args), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if args.command == "replay":
        json.dump(replay_log(args.log), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.command == "policy":
        with open(args.measurements) as f:
            sys.stdout.write(policy_yaml(json.load(f), args.name, args.allow_test_fixture,
                                         args.ek_roots or DEFAULT_EK_ROOTS))
        return 0
    return check(args.measurements, args.log)


if __name__ == "__main__":
    sys.exit(main())
