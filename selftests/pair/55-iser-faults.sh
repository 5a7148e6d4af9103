#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults over iSER on soft-RoCE (rdma_rxe on the link's NIC of both
# guests): the faults of lib-faults.bash that soft-RoCE survives, and two
# of RDMA's own.
# timeout: 900
#
# Under fio with verification, with the checks of 20-faults.sh (no fio
# error, every acknowledged write on the peer by fio verify there, copies
# byte-identical): netem delay 0.1 ms and 1 ms each way and duplication
# (the mirror stays connected without a peer error); then, under a
# rate-limited fio, rxe-relink: "rdma link delete rxe0" on the primary
# (the RDMA device under the iSER connection goes away, its queue pair
# with it), "rdma link add" once the mirror is degraded: it must recover
# by itself like a lost iSCSI connection (automatic reconnect, resync).
# The faults that make soft-RoCE retransmit (delay with jitter, loss,
# reordering, partitions) are not run here, nor a queue pair left in
# error by its retry count (iSER asks for 7, which rxe takes as
# "forever"): Debian 6.1's rxe breaks or stalls the connection on a
# retransmission (Documentation/testing.rst, "Faults over iSER"). The
# "fault:" lines carry both sides' RDMA retries.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_SELFTESTS/pair/lib-faults.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
# 3 + 3 x 4 + 1 + 7 + 3 points.
faults_setup iser f55 26
faults_netem delay-0.1ms delay-1ms duplicate

fault_degrade_recover rxe-relink "rdma link delete rxe0" pair_rxe_add \
	"rxe0 added again once degraded"

faults_finish
