#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults on the link between the two guests, over iSCSI/TCP: the scenarios
# of lib-faults.bash (55-iser-faults.sh runs them over iSER).
# timeout: 900
#
# Each fault runs while fio writes with verification (4 KiB inline and
# 64 KiB split writes mixed) through a mirror with peer_timeout 10 s:
# netem delay of 0.1, 1 and 5 ms each way, 1% loss, reordering,
# duplication, a partition of 3 s (the peer's NIC down), then one of 15 s
# (the primary's NIC down). After each: fio saw no error; the peer's copy
# of the fault's area verifies on the peer with fio's own checksums (no
# acknowledged write lost); the two copies are byte-identical. Faults
# shorter than peer_timeout leave the mirror connected without a peer
# error; after the long partition it is degraded, and reconnect + resync
# make the copies identical again. Prints one "fault:" line per fault for
# Documentation/testing.rst.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_SELFTESTS/pair/lib-faults.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
# 2 + 29 + 11 + 3 points.
faults_setup tcp f20 45
faults_netem
faults_partitions
faults_finish
