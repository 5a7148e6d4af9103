# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The fault scenarios of the two-guest tests, shared by 20-faults.sh
# (iSCSI over TCP), 55-iser-faults.sh (iSER on soft-RoCE) and
# iser-siw-faults.sh (iSER on soft-iWARP, FAULTS_RDMA=siw): sourced after
# selftests/lib.sh, lib-primary.bash and lib-pair.bash. Each fault runs
# while fio writes with verification (4 KiB inline and 64 KiB split writes
# mixed, QD8) through a mirror with peer_timeout 10 s; after it: fio saw
# no error; the peer's copy of the fault's area verifies on the peer with
# fio's own checksums (no acknowledged write lost); the two copies are
# byte-identical. Each prints one "fault:" line for
# Documentation/testing.rst.
#
#   faults_setup TRANSPORT NAME PLAN   tcp|iser; the dm device NAME; the
#                                      test's number of points
#   faults_netem                       the netem faults (29 points)
#   faults_partitions                  3 s and 15 s partitions (11 points:
#                                      faults_partition_short 4, _long 7)
#   faults_finish                      dmsetup remove, kernel logs (3 points)
#
# Between them a test adds faults of its own with fault_degrade_recover
# (a fault that must degrade the mirror) or fault_connected (one that must
# not). faults_setup makes 2 points (3 on iSER).

FAULTS_MB=64
# The RDMA provider of the iSER faults: rxe (soft-RoCE, 55-iser-faults.sh)
# or siw (soft-iWARP, iser-siw-faults.sh).
FAULTS_RDMA=${FAULTS_RDMA:-rxe}
FAULTS_SECTORS=$((FAULTS_MB * 2048))

# faults_setup TRANSPORT NAME PLAN
faults_setup() {
	FT=$1 FN=$2
	local plan=$3
	dm_require_cmd dmsetup fio iscsiadm iscsid tc
	if [ "$FT" = iser ] && [ "$FAULTS_RDMA" = siw ]; then
		dm_require_cmd rdma unshare
		pair_siw_up || ktap_skip_all "no soft-iWARP (siw0, $PAIR_SIW_KO: scripts/build-siw) on the link of both guests"
		dm_on_exit pair_siw_down
	elif [ "$FT" = iser ]; then
		dm_require_cmd rdma
		pair_rxe_up || ktap_skip_all "no soft-RoCE (rdma_rxe) on the link of both guests"
		dm_on_exit pair_rxe_down
	fi
	ktap_print_header
	ktap_set_plan "$plan"

	dm_dmesg_mark
	dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

	FOUT=$DM_RESULTS/pair-faults-$FT
	mkdir -p "$FOUT"
	if [ "$FT" = iser ] && [ "$FAULTS_RDMA" = siw ]; then
		read -r PB PD < <(pair_peer_disk_siw "$FN" $FAULTS_MB "$(pair_initiator)") ||
			ktap_skip_all "no peer disk on the peer guest"
	elif [ "$FT" = iser ]; then
		read -r PB PD < <(faults_iser_peer_disk) ||
			ktap_skip_all "no peer disk on the peer guest"
	else
		read -r PB PD < <(pair_peer_disk_on "$FT" "$FN" $FAULTS_MB) ||
			ktap_skip_all "no peer disk on the peer guest"
	fi
	L=$(dm_nullb_create "${FN}l" $FAULTS_MB)
	dm_on_exit dm_nullb_remove "${FN}l"
	dm_on_exit pair_peer_disk_remove "$FN" "$PD"
	dm_on_exit pair_detach "$FN"
	dm_on_exit pair_netem
	dm_on_exit peer_netem
	[ "$FT" != iser ] || [ "$FAULTS_RDMA" = siw ] || pair_iser_nops_off "$PAIR_IQN-$FN"
	P=$(pair_attach_on "$FT" "$FN")
	assert_true "attached the peer disk over the link ($P, $FT)" test -b "$P"
	if [ "$FT" = iser ] && [ "$FAULTS_RDMA" != siw ]; then
		echo 1 >"/sys/block/${P#/dev/}/device/queue_depth"
		assert_eq "the session is iSER, the peer disk at queue depth 1, no NOP-Out, no NOP-In" \
			"iser 1 0 0" "$(pair_session_transport "$FN") $(cat "/sys/block/${P#/dev/}/device/queue_depth") $(pair_iser_nops "$PAIR_IQN-$FN")"
	elif [ "$FT" = iser ]; then
		assert_eq "the session is iSER, on soft-iWARP (the only RDMA device: siw0), queue depth $(cat "/sys/block/${P#/dev/}/device/queue_depth")" \
			"iser siw0" "$(pair_session_transport "$FN") $(ls /sys/class/infiniband)"
	fi
	assert_true "dmsetup create, peer_timeout 10 s, blank disks: nosync" \
		dmsetup create "$FN" --table "0 $FAULTS_SECTORS dualmirror $L $P 3 peer_timeout 10000 nosync"
	AREA=0
}

# ---- soft-RoCE: the configuration that keeps rxe's retry bug away ----------
#
# Debian 6.1's rdma_rxe runs a work request again when it retransmits
# (Documentation/testing.rst, "Faults over iSER"): a retransmission on the
# primary's queue pair while a later command's memory registration
# (IB_WR_REG_MR) has already run registers it a second time, which fails
# ("rxe_reg_fast_mr: mr->lkey ... not free") and breaks the queue pair.
# The primary's send queue never holds a registration behind an
# unacknowledged message when it holds one message at a time: the peer
# disk at queue depth 1, and no NOP-Out from the initiator (neither its
# own pings nor answers to the target's NOP-In, both turned off).

# faults_iser_peer_disk: pair_peer_disk_on iser, exported to this
# initiator only (an explicit ACL, whose NOP-In pair_iser_nops_off turns
# off).
faults_iser_peer_disk() {
	local init iqn=$PAIR_IQN-$FN
	init=$(pair_initiator)
	[ -n "$init" ] || return 1
	peer "set -e
b=\$(dm_nullb_create $FN $FAULTS_MB)
d=\$(scripts/dualmirrorctl peer add \$b)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $iqn --portal $PAIR_PORTAL --transport iser --allow $init >/dev/null 2>&1
echo \$b \$d"
}

# The fio job of a fault: its own 4 MiB area, the same offsets and data
# when it is replayed with --verify_only on the peer.
fio_args() {
	echo --rw=randwrite --bssplit=4k/70:64k/30 --offset=$((AREA * 4))M \
		--size=4M --randseed=$((AREA + 7)) --iodepth=8 "$@"
}

# run_fio NAME [FIO-ARGS...]: the current area's fio job.
run_fio() {
	local name=$1 json=$FOUT/$1.json
	shift
	# shellcheck disable=SC2046
	dmw_fio "$FN" "$json" $(fio_args "$@") >"$FOUT/$name.log" 2>&1
}

# peer_verifies: the peer's backing device holds every write fio made to
# the current area (fio re-reads and checks its own headers and CRCs).
peer_verifies() {
	peer "fio --name=dmw --filename=$PB --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_only --verify_fatal=1 --verify_state_save=0 \
		$(fio_args) >/tmp/verify-$AREA.log 2>&1 || { tail -5 /tmp/verify-$AREA.log; false; }"
}

# fault_rdma_mark / fault_rdma: on iSER, the retransmissions during a
# fault, for the "fault:" line: on soft-RoCE the RDMA ones (rxe
# hw_counters, both sides), on soft-iWARP the TCP segments both sides
# retransmitted (siw's are TCP's).
fault_rdma_mark() {
	[ "$FT" = iser ] || return 0
	if [ "$FAULTS_RDMA" = siw ]; then
		FR0=$(pair_tcp_retrans) FRP0=$(peer_tcp_retrans)
	else
		FR0=$(pair_rxe_retries) FRP0=$(peer_rxe_retries)
	fi
}
fault_rdma() {
	[ "$FT" = iser ] || return 0
	if [ "$FAULTS_RDMA" = siw ]; then
		echo " | TCP retransmitted segments primary $(($(pair_tcp_retrans) - FR0)) / peer $(($(peer_tcp_retrans) - FRP0))"
	else
		echo " | RDMA primary: $(pair_rxe_delta "$FR0" "$(pair_rxe_retries)"); peer: $(pair_rxe_delta "$FRP0" "$(peer_rxe_retries)")"
	fi
}

# check NAME STATE RC: the checks after a fault that left the mirror
# connected; print its table row.
check() {
	local name=$1 state=$2 json=$FOUT/$1.json rc=$3 writes lost=yes same=no ferr
	read -r ferr writes _ < <(dmw_fio_counts "$json")
	assert_eq "$name: fio verified without an error" "0 0" "$rc ${ferr:-}"
	ktap_print_msg "$name: $(dmsetup status "$FN")"
	if [ "$state" = connected ]; then
		assert_eq "$name: still connected, no peer error" "connected 0" \
			"$(dmw_field "$FN" 1) $(dmw_field "$FN" 7)"
		if peer_verifies; then lost=0; fi
		assert_eq "$name: every acknowledged write is on the peer (fio verify there)" 0 "$lost"
	fi
	pair_same "$L" "$PB" $FAULTS_SECTORS && same=yes
	assert_eq "$name: copies byte-identical" yes "$same"
	ktap_print_msg "fault: $FT $name | writes acknowledged $writes | lost $lost | identical $same | retries $(dmw_field "$FN" 15) | state $(dmw_field "$FN" 1)$(fault_rdma)"
}

# Netem faults, on both sides of the link (delay each way).
netem_fault() {
	local name=$1 rc
	shift
	AREA=$((AREA + 1))
	dmsetup message "$FN" 0 reset_counters
	fault_rdma_mark
	pair_netem "$@" && peer_netem "$@"
	run_fio "$name" --io_size=8M
	rc=$?
	pair_netem
	peer_netem
	check "$name" connected $rc
}

# netem_args NAME: the netem arguments of the netem fault NAME.
netem_args() {
	case "$1" in
	delay-0.1ms) echo delay 100us ;;
	delay-1ms) echo delay 1ms ;;
	delay-5ms) echo delay 5ms 1ms ;;
	loss-1pct) echo delay 1ms loss 1% ;;
	reorder) echo delay 2ms reorder 25% 50% ;;
	duplicate) echo delay 1ms duplicate 2% ;;
	busy-host) echo delay 5ms 2ms loss 1% ;;
	esac
}
FAULTS_NETEM="delay-0.1ms delay-1ms delay-5ms loss-1pct reorder duplicate busy-host"

# faults_netem [NAME...]: the netem faults NAME... (default: all of
# FAULTS_NETEM), 4 points each, and after the first a negative control of
# the peer's verification (1 point).
faults_netem() {
	local name first=1 list=("$@")
	[ $# -gt 0 ] || read -r -a list <<<"$FAULTS_NETEM"
	AREA=0
	for name in "${list[@]}"; do
		# shellcheck disable=SC2046 # a list of netem arguments
		netem_fault "$name" $(netem_args "$name")
		if [ "$first" = 1 ]; then
			first=0
			# The check above can fail: an area never written does
			# not verify.
			local a=$AREA
			AREA=15
			assert_false "fio verify on the peer fails for an area never written" peer_verifies
			AREA=$a
		fi
	done
}

# fio_start NAME [IO-SIZE]: the current area's fio, rate-limited, writing
# IO-SIZE (6M), in the background (FIO_PID); returns once the mirror
# counted 100 writes.
fio_start() {
	dmsetup message "$FN" 0 reset_counters
	run_fio "$1" --rate_iops=100 --io_size="${2:-6M}" &
	FIO_PID=$!
	dm_wait_for 60 dmw_field_gt "$FN" 3 100
}

# during NAME CMD: CMD in the middle of a rate-limited fio; prints fio's
# exit status. Runs in a subshell: the caller moves AREA on.
during() {
	local name=$1 rc
	fio_start "$name"
	eval "$2"
	wait "$FIO_PID"
	rc=$?
	echo "$rc"
}

# partition NAME WHERE SECS: the link down for SECS in the middle of a
# rate-limited fio (WHERE: peer or primary), fio stopped while the link
# goes down (dmw_fio_across); prints fio's exit status.  On the peer (whose
# agent is reached on a link of its own), the partition is timed here:
# SECS from the agent's answer that the link is down, plus the agent
# command that brings it up.
partition() {
	local rc
	fio_start "$1"
	if [ "$2" = peer ]; then
		dmw_fio_across "$FIO_PID" "peer 'ip link set \$DM_LINK_DEV down'"
		sleep "$3"
		# shellcheck disable=SC2016 # expanded on the peer
		peer 'ip link set $DM_LINK_DEV up'
	else
		dmw_fio_across "$FIO_PID" "ip link set $DM_LINK_DEV down"
		sleep "$3"
		ip link set "$DM_LINK_DEV" up
	fi
	wait "$FIO_PID"
	rc=$?
	echo "$rc"
}

# fault_connected NAME CMD: CMD in the middle of a rate-limited fio, a
# fault the mirror must ride out (no degrade): the checks of check (4
# points).
fault_connected() {
	local rc
	AREA=$((AREA + 1))
	fault_rdma_mark
	rc=$(during "$1" "$2")
	check "$1" connected "$rc"
}

# degraded_checks NAME RC WHAT: the checks after a fault that must have
# degraded the mirror (since the last dm_dmesg_mark): it went degraded,
# reconnected and resynced by itself, nothing acknowledged lost, copies
# identical; print its table row (WHAT: how the fault ended).
degraded_checks() {
	local name=$1 rc=$2 what=$3 lost=yes same=no ferr writes
	read -r ferr writes _ < <(dmw_fio_counts "$FOUT/$name.json")
	assert_eq "$name: fio verified without an error" "0 0" "$rc ${ferr:-}"
	ktap_print_msg "$name: $(dmsetup status "$FN")"
	# The last error: the target's own timeout, or the transport's error if
	# the session gave the command up first (after peer_timeout: no retry).
	assert_match "$name: the mirror gave the peer up (timeout or transport error)" \
		'^(timeout|transport)$' "$(dmw_field "$FN" 14)"
	assert_true "$name: it went degraded" \
		grep -q "connected -> degraded" <<<"$(dm_dmesg_since_mark)"
	# No message: the target CLAIMs the peer again by itself once the
	# session is back, then resyncs.
	assert_true "$name: reconnected and resynced by itself: connected" \
		dmw_wait_state "$FN" connected 240
	assert_true "$name: the reconnect was automatic" \
		grep -q "degraded -> connected" <<<"$(dm_dmesg_since_mark)"
	if peer_verifies; then lost=0; fi
	assert_eq "$name: every acknowledged write is on the peer after resync" 0 "$lost"
	pair_same "$L" "$PB" $FAULTS_SECTORS && same=yes
	assert_eq "$name: copies byte-identical after resync" yes "$same"
	ktap_print_msg "fault: $FT $name | writes acknowledged ${writes:-} | lost $lost | identical $same (after the automatic reconnect and resync) | retries $(dmw_field "$FN" 15) | state degraded, then connected ($what)$(fault_rdma)"
}

# fault_degrade_recover NAME CUT RESTORE [WHAT]: under a rate-limited
# fio (FAULT_IO_SIZE, 6M by default), run CUT, wait (bounded) until the
# mirror is degraded, run RESTORE; then the checks of degraded_checks (7
# points). WHAT says how the fault ended, for the "fault:" line (default:
# RESTORE).
fault_degrade_recover() {
	local name=$1 cut=$2 restore=$3 what=${4:-$3} rc
	AREA=$((AREA + 1))
	dm_dmesg_mark
	fault_rdma_mark
	fio_start "$name" "${FAULT_IO_SIZE:-6M}"
	dmw_fio_across "$FIO_PID" "$cut"
	dm_wait_for 120 dmw_field_is "$FN" 1 degraded ||
		ktap_print_msg "$name: not degraded after 120 s: $(dmsetup status "$FN")"
	eval "$restore"
	wait "$FIO_PID"
	rc=$?
	degraded_checks "$name" "$rc" "$what"
}

# faults_partition_short: the peer's NIC down for 3 s, shorter than
# peer_timeout (4 points).
faults_partition_short() {
	local rc
	AREA=$((AREA + 1))
	fault_rdma_mark
	rc=$(partition partition-3s peer 3)
	check partition-3s connected "$rc"
}

# faults_partition_long: the primary's NIC down for 15 s, longer than
# peer_timeout (7 points).
faults_partition_long() {
	local rc
	AREA=$((AREA + 1))
	dm_dmesg_mark
	fault_rdma_mark
	rc=$(partition partition-15s primary 15)
	degraded_checks partition-15s "$rc" "link up after 15 s"
}

faults_partitions() {
	faults_partition_short
	faults_partition_long
}

faults_finish() {
	assert_true "dmsetup remove" dmsetup remove "$FN"
	assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
	assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
	ktap_finished
}
