#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults over iSER on soft-iWARP (siw on the link's NIC of both guests,
# built by scripts/build-siw): the faults of lib-faults.bash that the
# mirror must ride out, and a queue pair error.
# timeout: 1200
#
# Not part of make check (no number: run it with make check-pair
# PAIR_T=selftests/pair/iser-siw-faults.sh): once a command times out
# (peer_timeout) over iSER on siw, the peer's LIO target hangs in the old
# connection's teardown and the mirror never reconnects
# (Documentation/testing.rst, "Faults over iSER"); a busy host makes that
# happen under any fault, so the test is not reliable until that is fixed.
#
# Under fio with verification, with the checks of 20-faults.sh (no fio
# error, every acknowledged write on the peer by fio verify there, copies
# byte-identical): the netem faults (delay, jitter, loss, reordering,
# duplication) and a 3 s partition: the mirror stays connected without a
# peer error. Then qp-reset, under a rate-limited fio: the TCP connection
# under the iSER queue pair reset ("ss -K" on the primary; the primary's
# siw queue pair goes to error, the peer's on the RST): the session
# reconnects within peer_timeout and the mirror stays connected.
# Soft-RoCE (rdma_rxe, 55-iser-faults.sh) cannot run these.
# Not run: the faults that must degrade the mirror (a 15 s partition, the
# RDMA device removed): the hang above, every time. The "fault:" lines
# carry the TCP segments both sides retransmitted.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
FAULTS_RDMA=siw
. "$DM_SELFTESTS/pair/lib-faults.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd ss
# 3 + 29 + 4 + 5 + 3 points.
faults_setup iser f55 44
faults_netem
faults_partition_short

# qp_reset: reset the TCP connection of the iSER queue pair (the
# primary's end; the peer's gets the RST); the sockets it closed, one a
# line, in $FOUT/qp-reset.ss.
qp_reset() {
	modprobe -q tcp_diag
	ss -H -K -t dst "${DM_PEER_ADDR}" dport = :3260 >"$FOUT/qp-reset.ss"
}
dm_dmesg_mark
fault_connected qp-reset qp_reset
# siw moves a queue pair whose socket closed to error without an event
# (siw_qp_llp_close()); iSER logs one only if a send was under way
# ("QP request error") or the send queue drained ("send queue drained"):
# which, if any, depends on where fio's writes were, so it is printed,
# not checked.  What is certain: ss closed the connection, and the
# session saw it fail.
log=$(dm_dmesg_since_mark)
ktap_print_msg "qp-reset: iSER's queue pair events: $(grep -o "qp event .*" <<<"$log" | paste -sd ';' | grep . || echo none)"
assert_eq "qp-reset: ss closed the queue pair's TCP connection (1 socket), and the session saw it fail (conn error)" \
	"1 yes" \
	"$(grep -c . "$FOUT/qp-reset.ss") $(grep -q "detected conn error" <<<"$log" && echo yes || echo no)"

faults_finish
