# keyshard — build, test, benchmark and demo entry points.
#
#   make test    install what is missing, build, run every test (what CI runs)
#   make demo    the main job end to end: a key made by DKG, sealed, decrypted and signed by a threshold
#   make bench   threshold costs next to OpenSSL's single-key operations; quotes verified per second
#   make fuzz    libFuzzer over the decoders of untrusted input (FUZZ_SECONDS each)
#   make image   the custodian VM image (kernel, initramfs with keyshard-agent, predicted PCRs)
#
# Everything below runs on a fresh Debian 12 machine: scripts/bootstrap installs the
# Debian packages, SwiftPM fetches the Swift packages.

SHELL        := /bin/bash
SWIFT        ?= swift
SWIFT_FLAGS  ?=
CONFIG       ?= debug

.PHONY: all deps build test demo bench fuzz image clean help

all: build

help:
	@sed -n '2,10p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/bootstrap

build: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFT_FLAGS)

# The test runner's summary line is the last line of output (CI reads it). Tests run one at a
# time: many start real processes (swtpm, libvirtd, QEMU, the agent) and wait for them, and on a
# 2-core machine parallel waiters starve Swift's cooperative thread pool that the servers under
# test need; serial runs take about as long here and never time out spuriously.
#
# Before the tests, a short fuzz pass (FUZZ_SMOKE_SECONDS per target, 0 to skip) over the
# parsers of untrusted input; its sanitizer build lives in .build-fuzz and is incremental.
FUZZ_SMOKE_SECONDS ?= 10
test: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	@if [ "$(FUZZ_SMOKE_SECONDS)" != 0 ]; then scripts/fuzz $(FUZZ_SMOKE_SECONDS); fi
	$(SWIFT) test --skip-build --no-parallel $(SWIFT_FLAGS)

demo: deps
	$(SWIFT) build -c $(CONFIG) --product keyshard $(SWIFT_FLAGS)
	$(SWIFT) build -c $(CONFIG) --product keyshard-demo $(SWIFT_FLAGS)
	@scripts/demo "$$($(SWIFT) build -c $(CONFIG) --show-bin-path)"

bench: deps
	cd Benchmarks && set -o pipefail && $(SWIFT) package --disable-sandbox benchmark --format markdown --no-progress \
		| /usr/bin/python3 ../scripts/bench-summary
	$(SWIFT) run -c release attestation-benchmark

# The custodian image: Debian cloud kernel + initramfs with keyshard-agent (static Swift
# stdlib), and the PCR 4/9 values OVMF will measure (vm-images/out/measurements.json, policy.yaml).
image: deps
	$(SWIFT) build -c release --product keyshard-agent --static-swift-stdlib $(SWIFT_FLAGS)
	AGENT="$$($(SWIFT) build -c release --show-bin-path)/keyshard-agent" vm-images/build-image

# libFuzzer with AddressSanitizer over the decoders that read untrusted bytes (scripts/fuzz).
FUZZ_SECONDS ?= 60
fuzz: deps
	scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf .build Benchmarks/.build
