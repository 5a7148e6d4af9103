#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults on the link between the two guests, each while fio writes with
# verification (4 KiB inline and 64 KiB split writes mixed) through a
# mirror with peer_timeout 10 s: netem delay of 0.1, 1 and 5 ms each way,
# 1% loss, reordering, duplication, a partition of 3 s (the peer's NIC
# down), then one of 15 s (the primary's NIC down). After each: fio saw
# no error; the peer's copy of the fault's area verifies on the peer with
# fio's own checksums (no acknowledged write lost); the two copies are
# byte-identical. Faults shorter than peer_timeout leave the mirror
# connected without a peer error; after the long partition it is
# degraded, and reconnect + resync make the copies identical again.
# Prints one "fault:" line per fault for Documentation/testing.rst.
# timeout: 900
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid tc
ktap_print_header
ktap_set_plan 45

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=64
SECTORS=$((MB * 2048))
OUT=$DM_RESULTS/pair-20-faults
mkdir -p "$OUT"

read -r PB PD < <(pair_peer_disk f20 $MB) || ktap_skip_all "no peer disk on the peer guest"
L=$(dm_nullb_create f20l $MB)
dm_on_exit dm_nullb_remove f20l
dm_on_exit pair_peer_disk_remove f20 "$PD"
dm_on_exit pair_detach f20
dm_on_exit pair_netem
dm_on_exit peer_netem
P=$(pair_attach f20)
assert_true "attached the peer disk over the link ($P)" test -b "$P"
assert_true "dmsetup create, peer_timeout 10 s, blank disks: nosync" \
	dmsetup create f20 --table "0 $SECTORS dualmirror $L $P 3 peer_timeout 10000 nosync"

# The fio job of a fault: its own 4 MiB area, the same offsets and data
# when it is replayed with --verify_only on the peer.
AREA=0
fio_args() {
	echo --rw=randwrite --bssplit=4k/70:64k/30 --offset=$((AREA * 4))M \
		--size=4M --randseed=$((AREA + 7)) --iodepth=8 "$@"
}

# run_fio NAME [FIO-ARGS...]: the current area's fio job.
run_fio() {
	local name=$1 json=$OUT/$1.json
	shift
	# shellcheck disable=SC2046
	dmw_fio f20 "$json" $(fio_args "$@") >"$OUT/$name.log" 2>&1
}

# peer_verifies: the peer's backing device holds every write fio made to
# the current area (fio re-reads and checks its own headers and CRCs).
peer_verifies() {
	peer "fio --name=dmw --filename=$PB --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_only --verify_fatal=1 --verify_state_save=0 \
		$(fio_args) >/tmp/verify-$AREA.log 2>&1 || { tail -5 /tmp/verify-$AREA.log; false; }"
}

# check NAME STATE: the checks after a fault; print its table row.
check() {
	local name=$1 state=$2 json=$OUT/$1.json rc=$3 writes lost=yes same=no
	assert_eq "$name: fio verified without an error" "0 0" \
		"$rc $(dmw_fio_errors "$json")"
	writes=$(dmw_fio_writes "$json")
	ktap_print_msg "$name: $(dmsetup status f20)"
	if [ "$state" = connected ]; then
		assert_eq "$name: still connected, no peer error" "connected 0" \
			"$(dmw_field f20 1) $(dmw_field f20 7)"
		if peer_verifies; then lost=0; fi
		assert_eq "$name: every acknowledged write is on the peer (fio verify there)" 0 "$lost"
	fi
	pair_same "$L" "$PB" $SECTORS && same=yes
	assert_eq "$name: copies byte-identical" yes "$same"
	ktap_print_msg "fault: $name | writes acknowledged $writes | lost $lost | identical $same | retries $(dmw_field f20 15) | state $(dmw_field f20 1)"
}

# Netem faults, on both sides of the link (delay each way).
netem_fault() {
	local name=$1 rc
	shift
	AREA=$((AREA + 1))
	dmsetup message f20 0 reset_counters
	pair_netem "$@" && peer_netem "$@"
	run_fio "$name" --io_size=8M
	rc=$?
	pair_netem
	peer_netem
	check "$name" connected $rc
}

netem_fault delay-0.1ms delay 100us
# The check above can fail: an area never written does not verify.
AREA=15
assert_false "fio verify on the peer fails for an area never written" peer_verifies
AREA=1
netem_fault delay-1ms delay 1ms
netem_fault delay-5ms delay 5ms 1ms
netem_fault loss-1pct delay 1ms loss 1%
netem_fault reorder delay 2ms reorder 25% 50%
netem_fault duplicate delay 1ms duplicate 2%
netem_fault busy-host delay 5ms 2ms loss 1%

# partition NAME WHERE SECS: the link down for SECS in the middle of a
# rate-limited fio (WHERE: peer or primary); prints fio's exit status.
# Runs in a subshell: the caller moves AREA on.
partition() {
	local name=$1 where=$2 secs=$3 fio_pid rc
	dmsetup message f20 0 reset_counters
	run_fio "$name" --rate_iops=100 --io_size=6M &
	fio_pid=$!
	dm_wait_for 60 dmw_field_gt f20 3 100
	if [ "$where" = peer ]; then
		peer "ip link set \$DM_LINK_DEV down; sleep $secs; ip link set \$DM_LINK_DEV up"
	else
		ip link set "$DM_LINK_DEV" down
		sleep "$secs"
		ip link set "$DM_LINK_DEV" up
	fi
	wait $fio_pid
	rc=$?
	echo "$rc"
}

AREA=$((AREA + 1))
rc=$(partition partition-3s peer 3)
check partition-3s connected "$rc"

AREA=$((AREA + 1))
dm_dmesg_mark
rc=$(partition partition-15s primary 15)
assert_eq "partition-15s: fio verified without an error" "0 0" \
	"$rc $(dmw_fio_errors "$OUT/partition-15s.json")"
ktap_print_msg "partition-15s: $(dmsetup status f20)"
# The last error: the target's own timeout, or the transport's error if
# the session gave the command up first (after peer_timeout: no retry).
assert_match "partition-15s: the mirror gave the peer up (timeout or transport error)" \
	'^(timeout|transport)$' "$(dmw_field f20 14)"
assert_true "partition-15s: it went degraded" \
	grep -q "connected -> degraded" <<<"$(dm_dmesg_since_mark)"
# No message: the target CLAIMs the peer again by itself once the
# session is back, then resyncs.
assert_true "partition-15s: reconnected and resynced by itself: connected" \
	dmw_wait_state f20 connected 240
assert_true "partition-15s: the reconnect was automatic" \
	grep -q "degraded -> connected" <<<"$(dm_dmesg_since_mark)"
if peer_verifies; then lost=0; else lost=yes; fi
assert_eq "partition-15s: every acknowledged write is on the peer after resync" 0 "$lost"
same=no
pair_same "$L" "$PB" $SECTORS && same=yes
assert_eq "partition-15s: copies byte-identical after resync" yes "$same"
ktap_print_msg "fault: partition-15s | writes acknowledged $(dmw_fio_writes "$OUT/partition-15s.json") | lost $lost | identical $same (after the automatic reconnect and resync) | retries $(dmw_field f20 15) | state degraded, then connected"

assert_true "dmsetup remove" dmsetup remove f20
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
