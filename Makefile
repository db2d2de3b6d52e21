# keyshard — build, test, benchmark and demo entry points.
#
#   make test    install what is missing, build, run every test (what CI runs)
#   make demo    the main job against keyshardd: a 3-of-5 key by DKG, decrypt, sign, a custodian killed and
#                replaced, the ring rotated, the audit chain verified (five real VMs as root, else processes)
#   make bench   threshold costs next to OpenSSL's single-key operations; quotes verified next to Keylime and
#                tpm2_checkquote; one engine heart-beating 1,000 software custodians; custodian VM start against
#                the boot floor and ring rotation (as root); decrypt and sign end to end through keyshardd next
#                to single-key baselines and peers (bench/results.json)
#   make reliability  the reliability suite alone (faults, load, custody), then its summary table
#   make soak    the same with the long load run (60 s of 64 clients) and the custodian-VM faults
#   make fuzz    libFuzzer over the decoders of untrusted input (FUZZ_SECONDS each)
#   make image   the custodian VM image (kernel, initramfs with keyshard-agent, predicted PCRs)
#
# Everything below runs on a fresh Debian 12 machine: scripts/bootstrap installs the
# Debian packages, SwiftPM fetches the Swift packages.

SHELL        := /bin/bash
SWIFT        ?= swift
SWIFT_FLAGS  ?=
CONFIG       ?= debug

.PHONY: all deps build test reliability soak demo demo-protocols bench fuzz image clean help

all: build

help:
	@sed -n '2,13p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/bootstrap

build: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS)

# The test runner's summary line is the last line of output (CI reads it). Tests run one at a
# time: many start real processes (swtpm, libvirtd, QEMU, the agent) and wait for them, and on a
# 2-core machine parallel waiters starve Swift's cooperative thread pool that the servers under
# test need; serial runs take about as long here and never time out spuriously.
#
# Before the tests: a short fuzz pass (FUZZ_SMOKE_SECONDS per target, 0 to skip) over the parsers
# of untrusted input (its sanitizer build lives in .build-fuzz and is incremental); libvirtd and
# virtlogd started when they are not running (scripts/start-libvirt); and the custodian image
# (`make image`) that the VM tests boot. The tests get /dev/null as standard input and a line-
# buffered standard output, and the whole run a time limit (TEST_TIMEOUT seconds), so a hang
# shows where it happened instead of running into CI's own limit.
FUZZ_SMOKE_SECONDS ?= 10
TEST_TIMEOUT       ?= 3600
test: deps image
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	@if [ "$(FUZZ_SMOKE_SECONDS)" != 0 ]; then scripts/fuzz $(FUZZ_SMOKE_SECONDS); fi
	@scripts/start-libvirt
	timeout --kill-after=30 $(TEST_TIMEOUT) stdbuf -oL -eL $(SWIFT) test --skip-build --no-parallel $(SWIFT_FLAGS) </dev/null

# The reliability suite (also part of `make test`) with its summary: every test appends a line
# to the report (Tests/TestSupport/ReliabilityReport.swift) and scripts/reliability-summary prints
# the table the README shows; it fails when any line did not hold.
RELIABILITY_SUITES ?= FaultTests|CustodianFaultTests|DiskFullTests|TornWriteTests|LoadTests|CustodyInvariantTests|BadInputTests|AccessTests|SchemaFuzzTests|misbehavingCustodian|replayAndDelay|checkConfig|everyProblemIsReportedInLineOrder|yamlSyntaxErrorsCarryTheirLine
reliability: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	@rm -f .build/reliability.tsv
	@status=0; KEYSHARD_RELIABILITY_REPORT=$(CURDIR)/.build/reliability.tsv timeout --kill-after=30 $(TEST_TIMEOUT) \
		$(SWIFT) test --skip-build --no-parallel --filter '$(RELIABILITY_SUITES)' $(SWIFT_FLAGS) </dev/null || status=$$?; \
		scripts/reliability-summary .build/reliability.tsv || status=1; exit $$status

soak:
	@KEYSHARD_LOAD_SECONDS=60 KEYSHARD_LOAD_CLIENTS=64 $(MAKE) --no-print-directory reliability \
		RELIABILITY_SUITES='$(RELIABILITY_SUITES)|LibvirtDaemonTests'


# As root the demo's custodians are VMs (the image is built first); otherwise local processes.
demo: deps
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory image; fi
	$(SWIFT) build -c $(CONFIG) --product keyshardd $(SWIFT_FLAGS)
	$(SWIFT) build -c $(CONFIG) --product keyshard $(SWIFT_FLAGS)
	$(SWIFT) build -c $(CONFIG) --product keyshard-agent $(SWIFT_FLAGS)
	@scripts/demo "$$($(SWIFT) build -c $(CONFIG) --show-bin-path)"

# The threshold protocols alone, in one process with simulated custodians (no daemon).
demo-protocols: deps
	$(SWIFT) build -c $(CONFIG) --product keyshard $(SWIFT_FLAGS)
	$(SWIFT) build -c $(CONFIG) --product keyshard-demo $(SWIFT_FLAGS)
	"$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/keyshard-demo" "$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/keyshard"

bench: deps
	cd Benchmarks && set -o pipefail && $(SWIFT) package --disable-sandbox benchmark --target ThresholdCosts --format markdown --no-progress \
		| /usr/bin/python3 ../scripts/bench-summary
	$(SWIFT) build -c release --product keyshardd $(SWIFT_FLAGS)
	$(SWIFT) build -c release --product keyshard-agent $(SWIFT_FLAGS)
	$(SWIFT) run -c release $(PREFIX_MAP) attestation-benchmark --json bench/attestation.json --export .build/bench-quote
	scripts/bench-peers bench/peers.json "$${BENCH_SECONDS:-5}" .build/bench-quote
	$(SWIFT) run -c release $(PREFIX_MAP) fleet-benchmark --custodians "$${FLEET_CUSTODIANS:-1000}" \
		--seconds "$${FLEET_SECONDS:-60}" --json bench/fleet.json
	@if [ "$$(id -u)" = 0 ]; then scripts/start-libvirt && $(MAKE) --no-print-directory image \
		&& $(SWIFT) run -c release $(PREFIX_MAP) custodian-benchmark vm-images/out $(VM_BENCH_RUNS) --json bench/custodians.json; \
	else echo "make bench: custodian VMs need root (qemu:///system); their rows are skipped"; rm -f bench/custodians.json; fi
	cd Benchmarks && BENCH_LIBVIRT_IMAGE="$$(if [ "$$(id -u)" = 0 ]; then echo "$(CURDIR)/vm-images/out"; fi)" \
		$(SWIFT) run -c release EndToEnd "$$(cd .. && $(SWIFT) build -c release --show-bin-path)" ../bench/results.json

# The custodian image: Debian cloud kernel + initramfs with keyshard-agent (static Swift
# stdlib), and the PCR 4/9 values OVMF will measure (vm-images/out/measurements.json, policy.yaml).
# The prefix maps keep the checkout's path out of the agent binary (Swift #file strings, and
# __FILE__ in the C and C++ of the packages, BoringSSL's among them); build-image zeroes the two
# sections that still hash build paths (.swift_modhash, the GNU build ID). With both, two clones
# of one commit at different paths build byte-identical initrds (checked by hand with
# two clones at different paths); the image then differs only when the agent, the kernel package or
# the inputs do, and `make image` says when it no longer matches the shipped policy.
PREFIX_MAP  := -Xswiftc -file-prefix-map -Xswiftc $(CURDIR)=/keyshard \
               -Xcc -ffile-prefix-map=$(CURDIR)=/keyshard -Xcxx -ffile-prefix-map=$(CURDIR)=/keyshard
AGENT_FLAGS := -c release --product keyshard-agent --static-swift-stdlib $(PREFIX_MAP)
image: deps
	$(SWIFT) build $(AGENT_FLAGS) $(SWIFT_FLAGS)
	AGENT="$$($(SWIFT) build -c release --show-bin-path)/keyshard-agent" vm-images/build-image
	@if ! diff -q policies/custodian-image.yaml vm-images/out/policy.yaml >/dev/null 2>&1; then \
		echo "make image: vm-images/out/policy.yaml differs from policies/custodian-image.yaml (the image changed):"; \
		echo "            review with: diff policies/custodian-image.yaml vm-images/out/policy.yaml"; fi

# libFuzzer with AddressSanitizer over the decoders that read untrusted bytes (scripts/fuzz):
# AgentProtocolFuzz (agent frames and messages), attestation-fuzz (TPM structures, event log),
# api-fuzz (ciphertexts, signatures, Vault-wire bodies, HPKE encapsulations, and keyshardd's
# HTTP/1 request pipeline). Crashes land in .build-fuzz/crashes/.
FUZZ_SECONDS ?= 60
VM_BENCH_RUNS ?= 3
fuzz: deps
	scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf .build Benchmarks/.build
