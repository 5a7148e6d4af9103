#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Mirroring over iSER (iSCSI Extensions for RDMA) on soft-RoCE (rdma_rxe on
# the link's NIC of both guests), its interrupt accounting cross-checked
# against rxe's own counters.
# timeout: 900
#
# The peer guest exports its disk with "dualmirrorctl peer export
# --transport iser", the primary logs in with "dualmirrorctl primary attach
# --transport iser". Checks that the session is iSER with the parameters
# the mirror needs (no immediate data: see "iSER" in
# Documentation/dualmirror-peer.rst); then, for both framings (the default
# table and split only), fio with verification at 4 KiB QD1 and QD32 and
# 64 KiB QD1: operation and interrupt counts, the peer's counters, one
# command and one response PDU per command and no Data-Out PDU, one RDMA
# SEND each way per command, one RDMA READ per command by the target with
# one response packet per RoCE MTU of data (rxe's hw_counters: sent_pkts
# less SENDs and acknowledgements), copies byte-identical. It reports what
# a mirrored write costs on RDMA (rxe's hw_counters, per write). Last, a
# write whose segments the iSER queue's 4 KiB virt boundary refuses as
# they are (two 512-byte buffers from different pages) is mirrored
# (dm-dualmirror copies it).
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid rdma
ktap_print_header

RXE=/sys/class/infiniband/rxe0/ports/1/hw_counters
# rxe_up: a soft-RoCE device rxe0 on the link's NIC (this guest).
rxe_up() {
	modprobe rdma_rxe 2>/dev/null || return 1
	[ -d /sys/class/infiniband/rxe0 ] ||
		rdma link add rxe0 type rxe netdev "$DM_LINK_DEV" || return 1
	dm_wait_for 10 grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state
}
rxe_up || ktap_skip_all "no soft-RoCE (rdma_rxe) on $DM_LINK_DEV"
peer "modprobe rdma_rxe && { [ -d /sys/class/infiniband/rxe0 ] ||
	rdma link add rxe0 type rxe netdev \$DM_LINK_DEV; } &&
	dm_wait_for 10 grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state" ||
	ktap_skip_all "no soft-RoCE (rdma_rxe) on the peer guest"
dm_on_exit "rdma link delete rxe0"
dm_on_exit "peer 'rdma link delete rxe0'"

ktap_set_plan 64

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=32
SECTORS=$((MB * 2048))
OUT=$DM_RESULTS/pair-50-iser
mkdir -p "$OUT"
IQN=$PAIR_IQN-i50

# No NOP-Out/NOP-In on this session (pair_iser_nops_off): each ping is
# one more RDMA SEND each way, which the counts below would take for the
# mirror's (seen on a host with load 17: three more SENDs than commands on
# the peer).
INI=$(pair_initiator)
read -r PB PD < <(peer "set -e
b=\$(dm_nullb_create i50 $MB cache_size=16)
d=\$(scripts/dualmirrorctl peer add \$b)
scripts/dualmirrorctl peer export \$d $IQN --portal $PAIR_PORTAL --transport iser --allow $INI >/dev/null
echo \$b \$d") || ktap_skip_all "no iSER export on the peer guest"
pair_iser_nops_off "$IQN"
ktap_print_msg "peer guest: $PD over $PB, exported over iSER at $PAIR_PORTAL"
L=$(dm_nullb_create i50l $MB cache_size=16)
dm_on_exit dm_nullb_remove i50l
dm_on_exit pair_peer_disk_remove i50 "$PD"
dm_on_exit pair_detach i50
P=$("$DM_REPO/scripts/dualmirrorctl" primary attach "$PAIR_PORTAL" "$IQN" --transport iser)
assert_true "dualmirrorctl primary attach --transport iser prints the peer disk ($P)" test -b "$P"
SID=$(basename "$(_primary_session "$IQN")")
SID=${SID#session}
iscsiadm -m session -r "$SID" -P 2 >"$OUT/session.txt" 2>&1
sess() { awk -v k="$1:" '$1 == k { print $2; exit }' "$OUT/session.txt"; }
assert_eq "the session is iSER" "iser" "$(awk '/Iface Transport:/ { print $3; exit }' "$OUT/session.txt")"
assert_eq "no NOP-Out, no NOP-In on it (noop_out_interval, nopin_timeout)" "0 0" \
	"$(pair_iser_nops "$IQN")"
assert_eq "negotiated: ImmediateData=No InitialR2T=Yes" "No Yes" \
	"$(sess ImmediateData) $(sess InitialR2T)"
ktap_print_msg "$P: virt_boundary_mask $(cat "/sys/block/${P#/dev/}/queue/virt_boundary_mask"), max_hw_sectors_kb $(cat "/sys/block/${P#/dev/}/queue/max_hw_sectors_kb"), max_segments $(cat "/sys/block/${P#/dev/}/queue/max_segments"), $DM_LINK_DEV MTU $(cat "/sys/class/net/$DM_LINK_DEV/mtu") (RoCE MTU $ROCE_MTU)"

pdu() { iscsiadm -m session -r "$SID" -s | awk -v k="$1:" '$1 == k { print $2 }'; }
ps() { pair_peer_stat "$PD" "$1"; }
# rxe: "sent_pkts rcvd_pkts rdma_sends rdma_recvs" here / on the peer,
# then what a retransmission moves: completer_retry_err (the send queue
# rewound), duplicate_request and out_of_seq_request (the responder saw a
# packet again, or one too early).
RXE_F="sent_pkts rcvd_pkts rdma_sends rdma_recvs completer_retry_err duplicate_request out_of_seq_request"
rxe() { (cd "$RXE" && echo $(cat $RXE_F)); }
prxe() { peer "cd $RXE && echo \$(cat $RXE_F)"; }
# rxe_delta BEFORE AFTER: the differences, field by field.
rxe_delta() {
	local -a a b d
	local i
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for i in "${!b[@]}"; do d[i]=$((b[i] - a[i])); done
	echo "${d[@]}"
}
# The RoCE path MTU rxe derives from the link's MTU (rxe_param.h:
# eth_mtu_int_to_enum(): the largest of 256..4096 within MTU - 80).
ROCE_MTU=256
for m in 512 1024 2048 4096; do
	[ $(($(cat "/sys/class/net/$DM_LINK_DEV/mtu") - 80)) -lt $m ] || ROCE_MTU=$m
done
# per N DELTA: each figure of DELTA divided by N (two decimals).
per() { echo "$2" | awk -v n="$1" '{ for (i = 1; i <= NF; i++) printf("%s%.2f", (i > 1 ? " " : ""), $i / n) }'; }

# job NAME FRAMING FIO-ARGS...: fio with verification on /dev/mapper/i50;
# check fio, the operation and interrupt counts, the peer's counters, the
# PDU counts, the RDMA SENDs and the RDMA READs (the data delivery); report
# the RDMA packets per write.
job() {
	local name=$1 fr=$2 json=$OUT/$1.json cmd0 rsp0 dout0 rc writes ops irqs n
	local r0 p0 rd pd bs a ferr
	shift 2
	for a in "$@"; do
		case "$a" in --bs=*k) a=${a#--bs=} bs=$((${a%k} * 1024)) ;; esac
	done
	dmsetup message i50 0 reset_counters
	pair_peer_reset_stats "$PD"
	cmd0=$(pdu scsicmd_pdus) rsp0=$(pdu scsirsp_pdus) dout0=$(pdu dataout_pdus)
	p0=$(prxe) r0=$(rxe)
	dmw_fio i50 "$json" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	rd=$(rxe_delta "$r0" "$(rxe)") pd=$(rxe_delta "$p0" "$(prxe)")
	ktap_print_msg "$name: $(dmsetup status i50)"
	read -r ferr writes _ < <(dmw_fio_counts "$json")
	assert_eq "$name: fio verified without an error" "0 0" "$rc ${ferr:-}"
	if [ "$fr" = inline ]; then ops=$(dmw_field i50 3) irqs=$(dmw_field i50 4) n=1
	else ops=$(dmw_field i50 5) irqs=$(dmw_field i50 6) n=2; fi
	assert_eq "$name: $writes $fr operations = fio writes, $((3 * n)) interrupts each" \
		"$writes $((3 * n * writes))" "$ops $irqs"
	assert_eq "$name: the peer guest counted the same writes and interrupts" \
		"$ops $irqs" "$(ps "${fr}_writes") $(($(ps "${fr}_interrupts") + n * ops))"
	assert_eq "$name: one command and one response PDU per command, no Data-Out PDU" \
		"$((n * ops)) $((n * ops)) 0" \
		"$(($(pdu scsicmd_pdus) - cmd0)) $(($(pdu scsirsp_pdus) - rsp0)) $(($(pdu dataout_pdus) - dout0))"
	# One RDMA SEND each way per command (the command, the response),
	# and nothing else on this connection (no NOPs, above): exact on
	# both sides, although the peer's counters are read around this
	# guest's (a wider window).
	ktap_print_msg "$name: RDMA per write, primary sent_pkts rcvd_pkts sends recvs: $(per "$writes" "$(cut -d' ' -f1-4 <<<"$rd")"); peer: $(per "$writes" "$(cut -d' ' -f1-4 <<<"$pd")"); retransmissions (retries, duplicates, out of sequence) primary $(cut -d' ' -f5-7 <<<"$rd") peer $(cut -d' ' -f5-7 <<<"$pd")"
	echo "$name $fr writes=$writes primary=$rd peer=$pd" >>"$OUT/rdma.txt"
	assert_true "$name: one RDMA SEND and one receive per command on each side" \
		awk -v c="$((n * ops))" -v a="$rd" -v b="$pd" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			exit !(x[3] == c && x[4] == c && y[3] == c && y[4] == c) }'
	# The data delivery, counted by rxe: every packet a side sends is one
	# of its SENDs, an acknowledgement of a SEND it received (one per
	# message), or RDMA READ traffic. So the peer's READ requests are
	# sent_pkts - rdma_sends - rdma_recvs (one per command: the target
	# fetched each command's data with one RDMA READ), and the primary's
	# READ response packets the same difference on its side (one per
	# RoCE MTU of data: the write's, and a split write's descriptor in
	# one more). Exact without retransmissions; a retransmission only
	# adds packets.
	local reads resp want_resp exact=">="
	reads=$(awk '{ print $1 - $3 - $4 }' <<<"$pd")
	resp=$(awk '{ print $1 - $3 - $4 }' <<<"$rd")
	want_resp=$((writes * ((bs + ROCE_MTU - 1) / ROCE_MTU) + (n - 1) * writes))
	[ "$(awk '{ print $5 + $6 + $7 }' <<<"$rd") $(awk '{ print $5 + $6 + $7 }' <<<"$pd")" != "0 0" ] || exact="="
	ktap_print_msg "$name: RDMA READ requests from the peer $reads, READ response packets from the primary $resp (expected $exact $((n * ops)) and $want_resp)"
	echo "$name reads=$reads read_resp=$resp want=$((n * ops))/$want_resp" >>"$OUT/rdma.txt"
	if [ "$exact" = "=" ]; then
		assert_eq "$name: one RDMA READ per command, data/MTU response packets (rxe counters, no retransmission)" \
			"$((n * ops)) $want_resp" "$reads $resp"
	else
		assert_true "$name: at least one RDMA READ per command, data/MTU response packets (rxe counters, with retransmissions)" \
			test "$reads" -ge "$((n * ops))" -a "$resp" -ge "$want_resp"
	fi
	assert_eq "$name: connected, no peer error" "connected 0" \
		"$(dmw_field i50 1) $(dmw_field i50 7)"
}

for fr in inline split; do
	# Both disks are blank: nosync.
	if [ $fr = inline ]; then t=" 1 nosync"; else t=" 3 inline_max 0 nosync"; fi
	assert_true "$fr: dmsetup create over iSER" \
		dmsetup create i50 --table "0 $SECTORS dualmirror $L $P$t"
	job "$fr-4k-qd1" $fr --rw=randwrite --size=4M --bs=4k --iodepth=1 --io_size=512k
	job "$fr-4k-qd32" $fr --rw=randwrite --size=4M --offset=4M --bs=4k --iodepth=32 --io_size=2M
	# 64 KiB at QD1: with several multi-page writes in flight the link
	# loses packets, and Debian 6.1's rxe (soft-RoCE) then runs a queued
	# memory registration a second time when it retransmits ("rxe_reg_fast_mr:
	# mr->lkey ... not free", the queue pair fails; seen at QD32, then at
	# QD8 in make check): an rxe bug, not ours, explained in "Faults over
	# iSER" in Documentation/testing.rst; RDMA NICs do not run rxe. Depth
	# is tested at 4 KiB, where the link loses nothing so far.
	job "$fr-64k-qd1" split --rw=randwrite --size=8M --offset=8M --bs=64k --iodepth=1 --io_size=4M
	assert_true "$fr: copies byte-identical" pair_same "$L" "$PB" $SECTORS
	assert_true "$fr: dmsetup remove" dmsetup remove i50
done

# Writes of 512-byte buffers from different pages: a segment that does
# not end on the iSER queue's 4 KiB virt boundary makes bio_add_pc_page()
# refuse the next, and dm-dualmirror must still mirror the write (it
# copies it into pages of its own).  "few": 16 writes of two 512-byte
# buffers, 16 of two 1 KiB pieces.  "many": more segments than a peer
# I/O object holds itself (17), whose data bio then comes from the
# target's bioset, sized to the write: 40 buffers (20 KiB, inline) and
# 192 (96 KiB: split, and shortened to what one request maps if the iSER
# queue takes fewer segments).
GAPS_PY=$(cat <<'EOF'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
m = mmap.mmap(-1, 8 * 4096)
for i in range(8):
    m[i * 4096:(i + 1) * 4096] = os.urandom(4096)
v = memoryview(m)
writes = []
if sys.argv[2] == "few":
    for k in range(16):
        # 512 bytes at offset 0 of page 2k, 512 at offset 0 of page 2k+1 ...
        writes.append(([v[(j % 8) * 4096:(j % 8) * 4096 + 512]
                        for j in range(2 * k, 2 * k + 2)], (20 << 20) + k * 4096))
        # ... and a 1 KiB piece at the end of one page, 1 KiB of another.
        writes.append(([v[3072:4096], v[4096 * 5 + 1024:4096 * 5 + 2048]],
                       (21 << 20) + k * 4096))
else:
    for n, off in ((40, 22 << 20), (192, 23 << 20)):
        writes.append(([v[(j % 8) * 4096 + (j // 8 % 8) * 512:][:512]
                        for j in range(n)], off))
for bufs, off in writes:
    if os.pwritev(fd, bufs, off) != sum(len(b) for b in bufs):
        sys.exit("short write")
os.close(fd)
EOF
)

assert_true "gaps: dmsetup create over iSER" \
	dmsetup create i50 --table "0 $SECTORS dualmirror $L $P 1 nosync"
dmsetup message i50 0 reset_counters
"$DM_PYTHON" -c "$GAPS_PY" /dev/mapper/i50 few >"$OUT/gaps.log" 2>&1
assert_eq "gaps: 32 writes with gaps written" "0" "$?"
ktap_print_msg "gaps: $(dmsetup status i50)"
assert_eq "gaps: mirrored inline, each copied, connected, no peer error (last: none)" \
	"32 32 connected 0 none" \
	"$(dmw_field i50 3) $(dmw_field i50 25) $(dmw_field i50 1) $(dmw_field i50 7) $(dmw_field i50 14)"
assert_true "gaps: copies byte-identical" pair_same "$L" "$PB" $SECTORS
assert_true "gaps: dmsetup remove" dmsetup remove i50

assert_true "many gaps: dmsetup create over iSER" \
	dmsetup create i50 --table "0 $SECTORS dualmirror $L $P 1 nosync"
dmsetup message i50 0 reset_counters
"$DM_PYTHON" -c "$GAPS_PY" /dev/mapper/i50 many >"$OUT/many-gaps.log" 2>&1
assert_eq "many gaps: 2 writes of 40 and 192 segments written" "0" "$?"
ktap_print_msg "many gaps: $(dmsetup status i50)"
ops=$(($(dmw_field i50 3) + $(dmw_field i50 5)))
assert_eq "many gaps: 2 or more operations mirrored, each copied, connected, no peer error (last: none)" \
	"yes $ops connected 0 none" \
	"$([ "$ops" -ge 2 ] && echo yes || echo no) $(dmw_field i50 25) $(dmw_field i50 1) $(dmw_field i50 7) $(dmw_field i50 14)"
assert_true "many gaps: copies byte-identical" pair_same "$L" "$PB" $SECTORS
assert_true "many gaps: dmsetup remove" dmsetup remove i50

# The peer guest's own kernel log.
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
