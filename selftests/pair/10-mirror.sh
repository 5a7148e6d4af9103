#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# Mirroring across the link between two guests: the peer guest exports a
# dualmirror_peer disk with "dualmirrorctl peer export", the primary logs
# in with "dualmirrorctl primary attach" and mirrors a local disk to it.
# For both framings (inline, and split only): fio with verification at
# 4 KiB QD1 and QD32, 64 KiB QD32, mixed sizes QD32; the target's
# operation and interrupt counts equal fio's writes, the peer's counters
# and open-iscsi's per-PDU counters; flushes (fio --fsync) reach the peer
# one for one; concurrent overlapping writes leave both copies equal; the
# two copies are byte-identical after every step (the peer's read on the
# peer from its backing device).  The peer disk is a SCSI disk
# (scsi_debug), on which the peer runs every mirror write in queuecommand
# (its direct path); the other pair tests' memory-backed null_blk disks
# keep every command on its workqueue.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid
ktap_print_header
ktap_set_plan 59

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=48
SECTORS=$((MB * 2048))
OUT=$DM_RESULTS/pair-10-mirror
mkdir -p "$OUT"

read -r PB PD < <(pair_peer_disk_sd m10 $MB) || ktap_skip_all "no peer disk on the peer guest"
ktap_print_msg "peer guest: $PD over $PB, exported at $PAIR_PORTAL"
L=$(dm_nullb_create m10l $MB cache_size=16)
dm_on_exit dm_nullb_remove m10l
dm_on_exit pair_peer_disk_sd_remove m10 "$PD"
dm_on_exit pair_detach m10
P=$(pair_attach m10)
assert_true "dualmirrorctl primary attach over the link prints the peer disk ($P)" test -b "$P"
SID=$(basename "$(_primary_session "$PAIR_IQN-m10")")
SID=${SID#session}

pdu() { iscsiadm -m session -r "$SID" -s | awk -v k="$1:" '$1 == k { print $2 }'; }
ps() { pair_peer_stat "$PD" "$1"; }

# job NAME FRAMING FIO-ARGS...: fio with verification on /dev/mapper/m10;
# check fio, the operation and interrupt counts, the peer's counters and
# the PDU counts.
job() {
	local name=$1 fr=$2 json=$OUT/$1.json cmd0 rsp0 rc writes ops irqs per ferr
	shift 2
	dmsetup message m10 0 reset_counters
	pair_peer_reset_stats "$PD"
	cmd0=$(pdu scsicmd_pdus) rsp0=$(pdu scsirsp_pdus)
	dmw_fio m10 "$json" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	ktap_print_msg "$name: $(dmsetup status m10)"
	read -r ferr writes _ < <(dmw_fio_counts "$json")
	assert_eq "$name: fio verified without an error" "0 0" "$rc ${ferr:-}"
	if [ "$fr" = inline ]; then ops=$(dmw_field m10 3) irqs=$(dmw_field m10 4) per=3
	else ops=$(dmw_field m10 5) irqs=$(dmw_field m10 6) per=6; fi
	assert_eq "$name: $writes $fr operations = fio writes, $per interrupts each" \
		"$writes $((per * writes))" "$ops $irqs"
	assert_eq "$name: the peer guest counted the same writes and interrupts" \
		"$ops $irqs" "$(ps "${fr}_writes") $(($(ps "${fr}_interrupts") + per * ops / 3))"
	assert_eq "$name: one iSCSI command and one response PDU per command" \
		"$((per * ops / 3)) $((per * ops / 3))" \
		"$(($(pdu scsicmd_pdus) - cmd0)) $(($(pdu scsirsp_pdus) - rsp0))"
	assert_eq "$name: the peer ran each of its $((per * ops / 3)) mirror commands in queuecommand" \
		"$((per * ops / 3))" "$(ps direct_commands)"
	assert_eq "$name: connected, no peer error, no retry, no parked descriptor" \
		"connected 0 0 0" \
		"$(dmw_field m10 1) $(dmw_field m10 7) $(dmw_field m10 15) $(ps split_desc_parked)"
}

# Both framings over the same disks: the default table (writes up to
# 32 KiB inline) and a split-only one.
for fr in inline split; do
	# Both disks are blank: nosync (the initial sync is 40-sync.sh's).
	if [ $fr = inline ]; then t=" 1 nosync"; else t=" 3 inline_max 0 nosync"; fi
	big=split
	assert_true "$fr: dmsetup create over the link" \
		dmsetup create m10 --table "0 $SECTORS dualmirror $L $P$t"
	job "$fr-4k-qd1" $fr --rw=randwrite --size=8M --bs=4k --iodepth=1 --io_size=1M
	job "$fr-4k-qd32" $fr --rw=randwrite --size=8M --offset=8M --bs=4k --iodepth=32 --io_size=4M
	job "$fr-64k-qd32" $big --rw=randwrite --size=8M --offset=16M --bs=64k --iodepth=32 --io_size=16M
	assert_true "$fr: copies byte-identical" pair_same "$L" "$PB" $SECTORS
	# Mixed sizes (both framings in one job for the default table).
	dmsetup message m10 0 reset_counters
	dmw_fio m10 "$OUT/$fr-mixed.json" --rw=randwrite --size=8M --offset=24M \
		--bssplit=4k/30:16k/20:32k/20:128k/20:1m/10 --iodepth=32 --io_size=24M \
		>"$OUT/$fr-mixed.log" 2>&1
	assert_eq "$fr mixed sizes: fio verified without an error" "0 0" \
		"$? $(dmw_fio_errors "$OUT/$fr-mixed.json")"
	ktap_print_msg "$fr mixed: $(dmsetup status m10)"
	# 128 KiB and 1 MiB writes map more segments than a peer I/O object
	# holds itself: a data bio too small for them would be copied.
	assert_eq "$fr mixed sizes: connected, no peer error, no write copied" \
		"connected 0 0" \
		"$(dmw_field m10 1) $(dmw_field m10 7) $(dmw_field m10 25)"
	# Flushes: each fsync of the block device is one SYNCHRONIZE CACHE.
	dmsetup message m10 0 reset_counters
	dmw_fio m10 "$OUT/$fr-fsync.json" --rw=randwrite --size=4M --offset=32M \
		--bs=4k --iodepth=1 --io_size=512k --fsync=4 >"$OUT/$fr-fsync.log" 2>&1
	rc=$?
	read -r ferr _ syncs < <(dmw_fio_counts "$OUT/$fr-fsync.json")
	assert_eq "$fr fsync: fio verified without an error" "0 0" "$rc ${ferr:-}"
	assert_eq "$fr fsync: one peer flush per fsync fio counted" \
		"${syncs:-}" "$(dmw_field m10 11)"
	# FUA: O_DSYNC writes to a device with a volatile write cache (the
	# local null_blk has one, scsi_debug announces one, and the peer
	# disk's follows its backing device's) are FUA writes, and go to the
	# peer as such.
	dmsetup message m10 0 reset_counters
	dd if=/dev/urandom of=/dev/mapper/m10 bs=4k count=16 seek=9000 \
		oflag=direct,dsync status=none
	ktap_print_msg "$fr dsync: $(dmsetup status m10)"
	assert_eq "$fr dsync: 16 writes mirrored, each FUA" "16 16" \
		"$(($(dmw_field m10 3) + $(dmw_field m10 5))) $(dmw_field m10 12)"
	# Overlapping writes: two writers of the same 256 KiB at once, with
	# different data, no verification possible; the two copies must end
	# the same.  Batches of 16 in one io_submit() each (one block plug):
	# the writes of a batch are in flight together whatever the timing.
	dmsetup message m10 0 reset_counters
	for s in 1 2; do
		fio --name=ov$s --filename=/dev/mapper/m10 --direct=1 --ioengine=libaio \
			--rw=randwrite --bssplit=4k/50:8k/25:64k/25 --iodepth=16 \
			--iodepth_batch_submit=16 --iodepth_batch_complete_min=16 \
			--offset=40M --size=256k --io_size=4M --randseed=$s \
			--buffer_pattern=0x5$s >"$OUT/$fr-overlap-$s.log" 2>&1 &
	done
	wait
	ktap_print_msg "$fr overlap: $(dmsetup status m10)"
	assert_true "$fr overlap: writes waited for overlapping ones" \
		test "$(dmw_field m10 13)" -gt 0
	assert_true "$fr overlap: copies byte-identical" pair_same "$L" "$PB" $SECTORS
	assert_true "$fr: dmsetup remove" dmsetup remove m10
done

# The peer guest's own kernel log.
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
