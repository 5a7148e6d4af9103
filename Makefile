# SPDX-License-Identifier: GPL-2.0
#
# dualmirror: two out-of-tree Linux modules (dm-dualmirror.ko, the primary's
# device-mapper target, and dualmirror_peer.ko, the peer's virtual SCSI host)
# built against Debian's kernel headers, and their tests.
#
#   make              install missing Debian packages, build both modules
#   make demo         the main job in a VM (scripts/demo)
#   make check        build + host unit tests + VM selftests (one guest, and a
#                     primary and a peer guest); ends "N passed, N failed"
#   make check-pair   only the two-guest selftests (PAIR_T=selftests/pair/NAME.sh)
#   make bench        fio comparisons in a VM (scripts/bench)
#   make lint         W=1 + sparse (C=2) build without a warning, checkpatch --strict
#   make deps         install the Debian packages the project needs
#   make vm-shell     interactive shell in the test VM, modules loaded
#   make vm-test T=selftests/vm/NAME.sh   run VM selftests (default: all)
#   make clean        remove build output, build/ and results/
#
# Variables: KDIR (kernel build dir; default: the newest /boot/vmlinuz-* with
# matching headers, never the host's uname -r), VM_FLAGS (extra scripts/vm-run
# options, e.g. VM_FLAGS='-m 4G -t 900'), NODEPS=1 (skip the package check).
# See README.md and Documentation/testing.rst.

SHELL := /bin/bash
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

KDIR ?= $(shell $(TOP)/scripts/find-kernel --field kdir 2>/dev/null)
KVER = $(shell $(TOP)/scripts/find-kernel --kdir $(KDIR) --field kver)

MODULES := drivers/md/dm-dualmirror.ko drivers/scsi/dualmirror_peer.ko
RESULTS ?= $(TOP)/results
CHECK_DIR := $(RESULTS)/check
BUILD_DIR := $(TOP)/build

VM_RUN := $(TOP)/scripts/vm-run
VM_PAIR := $(TOP)/scripts/vm-pair
VM_FLAGS ?=
VM_KDIR_FLAG = $(if $(filter command line environment,$(origin KDIR)),--kdir $(KDIR))
# Bound of the whole VM selftest run (boot + all tests + power-off), seconds:
# a guard against a hung guest, not a speed check.  Under TCG a busy host
# slows the guests down several times (the one-guest stage took 2200 s
# with load 10 on 2 cores, 95-packages.sh alone 1500 s), so the bounds
# leave room for that; each test has its own, smaller timeout.
VM_CHECK_TIMEOUT ?= 4800
T ?=
# Two-guest selftests (scripts/vm-pair): every mirroring behaviour.
PAIR_T ?= $(sort $(wildcard selftests/pair/[0-9]*.sh))
# make check runs these two-guest tests in the first lane, after the
# one-guest stage, and the others in the second lane from the start: a
# split of the stages' CPU time (scripts/check prints it) that ends both
# lanes about together (Documentation/testing.rst).
PAIR_LATE ?= $(addprefix selftests/pair/,30-session.sh 60-resource.sh \
	70-switchover.sh 75-active-active.sh)
VM_PAIR_TIMEOUT ?= 4800
# make check's crash tests: one kill of the primary, one of the peer, an
# orderly reboot of each (the primary boots 3 times, as with 2 kills before).
CHECK_CRASH_FLAGS ?= -n 1

HOST_TESTS := $(TOP)/selftests/host

# checkpatch.pl comes from Debian's linux-source tarball (scripts/checkpatch-all).
LINUX_SOURCE ?= $(lastword $(sort $(wildcard /usr/src/linux-source-*.tar.xz)))
LINT_SOURCES = $(shell cd $(TOP) && find drivers include -name '*.[ch]' ! -name '*.mod.c' | sort)

# Hooks for later issues: `make demo` runs $(DEMO_SCRIPT), `make bench` runs
# $(BENCH_SCRIPT), each after the build, when that script exists.
DEMO_SCRIPT ?= $(TOP)/scripts/demo
BENCH_SCRIPT ?= $(TOP)/scripts/bench

KBUILD = $(MAKE) -C $(KDIR) M=$(TOP)

.PHONY: all modules clean deps lint lint-build lint-checkpatch check \
	host-test vm-test check-pair vm-shell demo bench help need-kdir siw

all: deps
	@$(MAKE) --no-print-directory modules

help:
	@sed -n '3,21s/^# \{0,1\}//p' $(TOP)/Makefile

need-kdir:
	@if [ -z "$(KDIR)" ]; then \
		echo "error: no kernel headers matching a /boot/vmlinuz-* (run: make deps, or give KDIR=...)" >&2; \
		exit 1; \
	fi

modules: need-kdir
	$(KBUILD) modules

# soft-iWARP (siw.ko, which Debian's kernel does not build) for
# selftests/pair/iser-siw-faults.sh (not in make check; it skips without
# it), from Debian's linux-source tarball into build/siw.
siw: need-kdir
	@$(TOP)/scripts/build-siw --kdir $(KDIR) || \
		echo "siw: not built: selftests/pair/iser-siw-faults.sh will skip" >&2

deps:
	@if [ "$(NODEPS)" != 1 ]; then $(TOP)/scripts/install-deps.sh; fi

clean:
	@if [ -n "$(KDIR)" ]; then $(KBUILD) clean; fi
	rm -rf $(BUILD_DIR) $(RESULTS) $(TOP)/scripts/dualmirrorctl.d/dualmirror/__pycache__

# ---- lint: W=1 + sparse, then checkpatch --strict ---------------------------

lint: deps
	@$(MAKE) --no-print-directory lint-build lint-checkpatch

lint-build: need-kdir
	@mkdir -p $(BUILD_DIR)
	@set -o pipefail; $(KBUILD) W=1 C=2 CHECK=sparse modules 2>&1 | tee $(BUILD_DIR)/lint.log
	@if grep -E ': (warning|error):|^(WARNING|ERROR):' $(BUILD_DIR)/lint.log >/dev/null; then \
		echo "lint: the W=1 / sparse build printed warnings (see above)" >&2; exit 1; \
	fi
	@echo "lint: W=1 and sparse (C=2) build clean"

lint-checkpatch: need-kdir
	@if [ -z "$(LINUX_SOURCE)" ]; then \
		echo "lint: checkpatch skipped (no /usr/src/linux-source-*.tar.xz; apt-get install linux-source-6.1)"; \
	else \
		cd $(TOP) && scripts/checkpatch-all --kdir $(KDIR) --source $(LINUX_SOURCE) $(LINT_SOURCES); \
	fi

# ---- tests ------------------------------------------------------------------

# make check: every step runs; each writes TAP into $(CHECK_DIR) and
# scripts/tap-totals prints the closing "N passed, N failed[, N skipped]".
# After the build, scripts/check runs two lanes at once (each guest stage
# keeps about one of the two cores busy): lane 1 the packages, host tests,
# the one-guest stage, then the two-guest tests of PAIR_LATE; lane 2 the
# other two-guest tests, then the crash tests.
check: deps
	@$(TOP)/scripts/check --dir $(CHECK_DIR) $(VM_KDIR_FLAG) \
		--vm-tests "$(T)" --vm-flags "$(VM_FLAGS)" \
		--vm-timeout $(VM_CHECK_TIMEOUT) --pair-timeout $(VM_PAIR_TIMEOUT) \
		--pair-tests "$(PAIR_T)" --pair-late "$(PAIR_LATE)" \
		--crash-flags "$(CHECK_CRASH_FLAGS)"

host-test:
	$(MAKE) -C $(HOST_TESTS) run

# make deb: the Debian packages dualmirror-dkms and dualmirror-utils, built
# with dpkg-buildpackage -us -uc -b on a copy of the tree and checked by
# lintian, in build/deb/ (scripts/build-deb). Needs the "deb" package group.
.PHONY: deb
deb:
	@if [ "$(NODEPS)" != 1 ]; then $(TOP)/scripts/install-deps.sh --group deb; fi
	@$(TOP)/scripts/build-deb

check-pair: deps need-kdir
	@$(MAKE) --no-print-directory modules
	@$(MAKE) --no-print-directory siw
	$(VM_PAIR) --id check-pair -t $(VM_PAIR_TIMEOUT) $(VM_KDIR_FLAG) -- \
		selftests/run_vm_tests $(PAIR_T)

# make check-crash: crash tests on two guests with file-backed disks, QEMU
# killed under writes (selftests/crash/run; CRASH_FLAGS adds options, e.g.
# CRASH_FLAGS='--kills 5 --seed 42'). Results in results/crash.
.PHONY: check-crash
check-crash: deps need-kdir
	@$(MAKE) --no-print-directory modules
	$(TOP)/selftests/crash/run $(VM_KDIR_FLAG) $(CRASH_FLAGS)

vm-test: need-kdir
	$(VM_RUN) $(VM_KDIR_FLAG) $(VM_FLAGS) -- selftests/run_vm_tests $(T)

vm-shell: need-kdir
	$(VM_RUN) $(VM_KDIR_FLAG) $(VM_FLAGS) --shell

demo bench: deps
	@script=$(if $(filter demo,$@),$(DEMO_SCRIPT),$(BENCH_SCRIPT)); \
	if [ ! -x "$$script" ]; then \
		echo "make $@: not there yet ($$script comes with a later issue)" >&2; exit 1; \
	fi; \
	$(MAKE) --no-print-directory modules && \
	"$$script" $(if $(filter bench,$@),$(BENCH_FLAGS))

# make bench-pair: the same benchmark with the primary and the peer in two
# guests (scripts/bench --pair).  BENCH_FLAGS adds options to both, e.g.
# BENCH_FLAGS='--netem-delay 1ms' or BENCH_FLAGS='-o DIR'.
.PHONY: bench-pair
bench-pair: deps
	@if [ ! -x "$(BENCH_SCRIPT)" ]; then \
		echo "make $@: not there yet ($(BENCH_SCRIPT) comes with a later issue)" >&2; exit 1; \
	fi; \
	$(MAKE) --no-print-directory modules && "$(BENCH_SCRIPT)" --pair $(BENCH_FLAGS)
