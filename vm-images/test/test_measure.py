#!/usr/bin/python3
"""Unit tests of vm-images/measure.py: UTF-16LE load options, PCR extend, event-log replay against a
log captured from a real boot, the QEMU header patch and the Authenticode hash. Standard library only:
  /usr/bin/python3 -m unittest discover -s vm-images/test -p 'test_*.py'
"""
import hashlib
import json
import os
import struct
import sys
import tempfile
import unittest
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import measure  # noqa: E402

# Captured by test/boot-test from a fixture image (QEMU 7.2, OVMF 2022.11, Linux 6.1.0-56-cloud-amd64,
# 512 MiB); the guest itself reported these PCR values from /sys/class/tpm/tpm0/pcr-sha256/.
REAL_LOG = os.path.join(HERE, "data", "eventlog-qemu7.2-ovmf2022.11-fixture.bin")
REAL_CMDLINE = ("console=ttyS0 panic=-1 keyshard.transport=virtio-serial:org.keyshard.agent.0 "
                "keyshard.tcti=device:/dev/tpmrm0")
REAL_LOAD_OPTIONS_DIGEST = "5745189b66fa6a36bdadc72d3b9ac961b2367ba47ddb990c67e231db2a1764b7"
REAL_INITRD_DIGEST = "1b6be5f308f2d3825f21829b33aa0e2e0f41c4a60c9a714bd681aeae300f65ac"
REAL_PCR9 = "c9984a026687eaad3b569e1c560c2a931c1e5f5ae982fadfad661f7d982d5ef1"
REAL_PCR4 = "07f0569b95736a02b05de486e8d2ccce5a2167d1a57f70a8e8d6dbacd9fbd0cf"
REAL_APP_DIGEST = "3e7fe66b74a3ada8ec1490eea4b78a687cd3e0d74f2ac75585977f11e666ae59"


class LoadOptionsTests(unittest.TestCase):
    def test_utf16le_with_ovmf_suffix_and_nul(self):
        self.assertEqual(measure.load_options("a=1"),
                         "a=1 initrd=initrd\0".encode("utf-16-le"))
        self.assertEqual(measure.load_options("a=1")[:4], b"a\x00=\x00")
        self.assertEqual(measure.load_options("a=1")[-2:], b"\x00\x00")
        self.assertEqual(len(measure.load_options("a=1")), 2 * (3 + 14 + 1))

    def test_without_initrd_no_suffix(self):
        self.assertEqual(measure.load_options("x", has_initrd=False), b"x\x00\x00\x00")

    def test_digest_matches_real_boot(self):
        self.assertEqual(measure.sha256(measure.load_options(REAL_CMDLINE)).hex(), REAL_LOAD_OPTIONS_DIGEST)

    def test_other_command_line_other_digest(self):
        self.assertNotEqual(measure.sha256(measure.load_options(REAL_CMDLINE + " ")).hex(),
                            REAL_LOAD_OPTIONS_DIGEST)


class PinnedCmdlineTests(unittest.TestCase):
    KEY = "02" + "ab" * 32
    ROOT = "cd" * 32

    def test_pins_appended_in_the_launchers_order(self):
        line = measure.pinned_cmdline(REAL_CMDLINE, self.KEY, [self.ROOT, "ef" * 32], 3)
        self.assertEqual(line, f"{REAL_CMDLINE} keyshard.coordinator={self.KEY} "
                               f"keyshard.ekroot={self.ROOT},{'ef' * 32} keyshard.minthreshold=3")

    def test_another_key_another_load_options_digest(self):
        ours = measure.load_options(measure.pinned_cmdline(REAL_CMDLINE, self.KEY, [self.ROOT]))
        theirs = measure.load_options(measure.pinned_cmdline(REAL_CMDLINE, "03" + "ab" * 32, [self.ROOT]))
        self.assertEqual(len(ours), len(theirs))
        self.assertNotEqual(measure.sha256(ours), measure.sha256(theirs))

    def test_refusals(self):
        for key, roots, threshold in [("02" + "ab" * 31, [self.ROOT], 2), ("04" + "ab" * 32, [self.ROOT], 2),
                                      (self.KEY, [], 2), (self.KEY, ["cd" * 31], 2), (self.KEY, [self.ROOT], 1)]:
            with self.assertRaises(SystemExit):
                measure.pinned_cmdline(REAL_CMDLINE, key, roots, threshold)
        with self.assertRaises(SystemExit) as raised:
            measure.pinned_cmdline(REAL_CMDLINE + " keyshard.coordinator=02", self.KEY, [self.ROOT])
        self.assertIn("already has keyshard.coordinator", str(raised.exception))

    def test_kernel_command_line_size(self):
        measure.check_cmdline("a" * (2048 - 15))  # + " initrd=initrd" + NUL = 2048
        with self.assertRaises(SystemExit):
            measure.check_cmdline("a" * (2048 - 14))
        with self.assertRaises(SystemExit):
            measure.pinned_cmdline(REAL_CMDLINE, self.KEY, [self.ROOT] * 1 + ["%064x" % i for i in range(30)])
        with self.assertRaises(SystemExit):
            measure.check_cmdline("console=ttyS0\tquiet")


class ExtendTests(unittest.TestCase):
    def test_extend_is_sha256_of_concatenation(self):
        d = hashlib.sha256(b"event").digest()
        self.assertEqual(measure.extend(bytes(32), d), hashlib.sha256(bytes(32) + d).digest())

    def test_replay_real_pcr9(self):
        digests = [bytes.fromhex(REAL_LOAD_OPTIONS_DIGEST), bytes.fromhex(REAL_INITRD_DIGEST)]
        self.assertEqual(measure.replay(digests).hex(), REAL_PCR9)
        self.assertNotEqual(measure.replay(list(reversed(digests))).hex(), REAL_PCR9)

    def test_extend_refuses_wrong_sizes(self):
        with self.assertRaises(ValueError):
            measure.extend(bytes(20), bytes(32))
        with self.assertRaises(ValueError):
            measure.extend(bytes(32), bytes(31))


class EventLogTests(unittest.TestCase):
    def test_real_log_replays_to_guest_pcrs(self):
        result = measure.replay_log(REAL_LOG)
        self.assertEqual(result["pcrs"]["9"], REAL_PCR9)
        self.assertEqual(result["pcrs"]["4"], REAL_PCR4)
        tags = [e.get("tag") for e in result["events"] if e["pcr"] == 9]
        self.assertEqual(tags, [measure.LOAD_OPTIONS_TAG, measure.INITRD_TAG])
        pcr4 = [e for e in result["events"] if e["pcr"] == 4]
        self.assertEqual([e["type"] for e in pcr4],
                         [measure.EV_EFI_BOOT_SERVICES_APPLICATION, measure.EV_EFI_ACTION, measure.EV_SEPARATOR])
        self.assertEqual(pcr4[0]["digest"], REAL_APP_DIGEST)

    def _measurements(self, pcr9_events, pcr9_value):
        pcr4 = {"status": "predicted", "value": REAL_PCR4, "events": [
            {"type": "EV_EFI_BOOT_SERVICES_APPLICATION", "digest": REAL_APP_DIGEST},
            {"type": "EV_EFI_ACTION", "digest": measure.sha256(measure.BOOT_OPTION_ACTION.encode()).hex()},
            {"type": "EV_SEPARATOR", "digest": measure.sha256(bytes(4)).hex()}]}
        pcr9 = {"status": "predicted", "value": pcr9_value, "events": pcr9_events}
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"pcrs": {"4": pcr4, "9": pcr9}}, f)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def _pcr9_events(self, initrd_digest):
        return [{"type": "EV_EVENT_TAG", "tag": measure.LOAD_OPTIONS_TAG, "digest": REAL_LOAD_OPTIONS_DIGEST},
                {"type": "EV_EVENT_TAG", "tag": measure.INITRD_TAG, "digest": initrd_digest}]

    def test_check_accepts_matching_prediction(self):
        path = self._measurements(self._pcr9_events(REAL_INITRD_DIGEST), REAL_PCR9)
        with open(os.devnull, "w") as null:
            stdout, sys.stdout = sys.stdout, null
            try:
                self.assertEqual(measure.check(path, REAL_LOG), 0)
            finally:
                sys.stdout = stdout

    def test_check_refuses_tampered_initrd(self):
        tampered = hashlib.sha256(b"another initrd").hexdigest()
        value = measure.replay([bytes.fromhex(REAL_LOAD_OPTIONS_DIGEST), bytes.fromhex(tampered)]).hex()
        path = self._measurements(self._pcr9_events(tampered), value)
        with open(os.devnull, "w") as null:
            stdout, sys.stdout = sys.stdout, null
            try:
                self.assertEqual(measure.check(path, REAL_LOG), 1)
            finally:
                sys.stdout = stdout


def tiny_pe(section: bytes, cert: bytes, checksum: int) -> bytes:
    """A minimal PE32+ image: headers (0x200), one section, then a certificate table."""
    image = bytearray(0x200)
    image[0:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x40)
    image[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", image, 0x44, 0x8664, 1, 0, 0, 0, 240, 0x22)
    opt = 0x58
    struct.pack_into("<H", image, opt, 0x20B)
    struct.pack_into("<I", image, opt + 60, 0x200)          # SizeOfHeaders
    struct.pack_into("<I", image, opt + 64, checksum)       # CheckSum
    struct.pack_into("<I", image, opt + 108, 16)            # NumberOfRvaAndSizes
    struct.pack_into("<II", image, opt + 112 + 32, 0x200 + len(section), len(cert))
    table = opt + 240
    image[table:table + 8] = b".text\0\0\0"
    struct.pack_into("<II", image, table + 16, len(section), 0x200)
    return bytes(image) + section + cert


class AuthenticodeTests(unittest.TestCase):
    def test_excludes_checksum_and_certificates(self):
        a = tiny_pe(b"\x90" * 0x200, b"C" * 16, 1)
        b = tiny_pe(b"\x90" * 0x200, b"D" * 16, 2)
        self.assertEqual(measure.authenticode_sha256(a), measure.authenticode_sha256(b))
        opt = 0x58
        expected = hashlib.sha256(a[:opt + 64] + a[opt + 68:opt + 144] + a[opt + 152:0x200] + a[0x200:0x400])
        self.assertEqual(measure.authenticode_sha256(a), expected.digest())

    def test_section_bytes_change_the_hash(self):
        a = tiny_pe(b"\x90" * 0x200, b"C" * 16, 1)
        b = tiny_pe(b"\x90" * 0x1FF + b"\x91", b"C" * 16, 1)
        self.assertNotEqual(measure.authenticode_sha256(a), measure.authenticode_sha256(b))

    def test_refuses_non_pe(self):
        with self.assertRaises(ValueError):
            measure.authenticode_sha256(bytes(0x400))


def fake_bzimage(size: int = 0x3000) -> bytes:
    image = bytearray(size)
    image[0x1F1] = 3                                       # setup_sects: setup is 4 * 512 bytes
    struct.pack_into("<I", image, 0x202, 0x53726448)       # "HdrS"
    struct.pack_into("<H", image, 0x206, 0x20F)            # boot protocol 2.15
    image[0x211] = 0x01                                    # LOADED_HIGH
    struct.pack_into("<I", image, 0x22C, 0x7FFFFFFF)       # initrd_addr_max
    image[0x900] = 0xAA                                    # inside setup, not a header field
    image[0x2000] = 0xBB                                   # protected-mode kernel
    return bytes(image)


class QemuPatchTests(unittest.TestCase):
    def test_header_fields(self):
        kernel = fake_bzimage()
        patched = measure.qemu_patched_kernel(kernel, "console=ttyS0", 4_683_236, 512)
        self.assertEqual(len(patched), len(kernel))
        self.assertEqual(struct.unpack_from("<I", patched, 0x228)[0], 0x20000)     # cmd_line_ptr
        self.assertEqual(patched[0x210], 0xB0)                                     # type_of_loader
        self.assertEqual(patched[0x211], 0x81)                                     # CAN_USE_HEAP
        self.assertEqual(struct.unpack_from("<H", patched, 0x224)[0], 0xFE00)      # heap_end_ptr
        initrd_max = (512 << 20) - 0x28000 - 1
        self.assertEqual(struct.unpack_from("<I", patched, 0x218)[0], (initrd_max - 4_683_236) & ~4095)
        self.assertEqual(struct.unpack_from("<I", patched, 0x21C)[0], 4_683_236)
        self.assertEqual(patched[0x900], 0xAA)
        self.assertEqual(patched[0x1000:], kernel[0x1000:])

    def test_memory_and_initrd_size_move_the_initrd(self):
        kernel = fake_bzimage()
        a = measure.qemu_patched_kernel(kernel, "", 1 << 20, 512)
        self.assertNotEqual(a, measure.qemu_patched_kernel(kernel, "", 1 << 20, 768))
        self.assertNotEqual(a, measure.qemu_patched_kernel(kernel, "", 2 << 20, 512))

    def test_refusals(self):
        with self.assertRaises(ValueError):
            measure.qemu_patched_kernel(bytes(0x3000), "", 1, 512)
        with self.assertRaises(ValueError):
            measure.qemu_patched_kernel(fake_bzimage(), "vga=791", 1, 512)
        with self.assertRaises(ValueError):
            measure.qemu_patched_kernel(fake_bzimage(), "", 1, 2048)


class PolicyTests(unittest.TestCase):
    def measurements(self, kind):
        return {"image": {"agent": {"kind": kind, "sha256": "00"}, "kernelPackage": "k=1", "memoryMiB": 512,
                          "initrd": {"sha256": REAL_INITRD_DIGEST}, "cmdline": REAL_CMDLINE},
                "pcrs": {"4": {"status": "predicted", "value": REAL_PCR4},
                         "9": {"status": "predicted", "value": REAL_PCR9}}}

    def test_policy_pins_predicted_pcrs(self):
        text = measure.policy_yaml(self.measurements("keyshard-agent"), "custodian")
        self.assertIn("apiVersion: keyshard/v1\nkind: AttestationPolicy\nname: custodian\n", text)
        self.assertIn(f'  4: ["{REAL_PCR4}"]', text)
        self.assertIn(f'  9: ["{REAL_PCR9}"]', text)

    def test_policy_has_event_rules_and_ek_roots(self):
        m = self.measurements("keyshard-agent")
        m["pcrs"]["9"]["events"] = [
            {"type": "EV_EVENT_TAG", "tag": "LOADED_IMAGE::LoadOptions", "digest": "aa" * 32},
            {"type": "EV_EVENT_TAG", "tag": "Linux initrd", "digest": REAL_INITRD_DIGEST}]
        m["pcrs"]["4"]["events"] = [{"type": "EV_EFI_BOOT_SERVICES_APPLICATION", "digest": "bb" * 32},
                                    {"type": "EV_SEPARATOR", "digest": "cc" * 32}]
        text = measure.policy_yaml(m, "custodian", ek_roots=["/etc/roots.pem"])
        self.assertIn(f'    label: Linux initrd\n    digests: ["{REAL_INITRD_DIGEST}"]', text)
        self.assertIn('    label: LOADED_IMAGE::LoadOptions\n    digests: ["' + "aa" * 32 + '"]', text)
        self.assertIn("  - pcr: 4\n    type: EV_EFI_BOOT_SERVICES_APPLICATION\n    digests: [\"" + "bb" * 32, text)
        self.assertNotIn("cc" * 32, text)  # the separator is fixed; the PCR value already pins it
        self.assertIn("ekRoots: [/etc/roots.pem]", text)
        self.assertNotIn("derives PCR 9", text)  # measurements without "pinned": false

    def test_policy_of_an_unpinned_image_says_pcr9_is_derived_per_boot(self):
        m = self.measurements("keyshard-agent")
        m["pcrs"]["9"]["pinned"] = False
        text = measure.policy_yaml(m, "custodian")
        self.assertIn("the coordinator derives PCR 9", text)
        self.assertIn("ekRoots: [/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem, "
                      "/var/lib/swtpm-localca/issuercert.pem]", text)
        self.assertIn("freshness:\n  maxAge: 60s", text)
        self.assertIn("  monotonic: true", text)

    def test_policy_refuses_test_fixture_image(self):
        with self.assertRaises(SystemExit) as raised:
            measure.policy_yaml(self.measurements("test-fixture"), "custodian")
        self.assertIn("test-fixture", str(raised.exception))

    def test_policy_refuses_when_nothing_predicted(self):
        m = self.measurements("keyshard-agent")
        m["pcrs"] = {"4": {"status": "learned"}}
        with self.assertRaises(SystemExit):
            measure.policy_yaml(m, "custodian")


if __name__ == "__main__":
    unittest.main()
