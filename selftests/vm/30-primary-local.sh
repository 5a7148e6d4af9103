#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 420
#
# The dualmirror target straight against a local dualmirror_peer disk (no
# iSCSI): fio writes with verification at 4 KiB and 64 KiB, mixed sizes,
# queue depths 1 and 32, an overlapping job; the two copies are then
# byte-identical; each inline operation costs exactly 3 interrupts and each
# split one 6, and the peer's own counters agree; a flush and FUA writes
# reach the peer; a failing peer (I/O errors) and a hung peer (no answer)
# in the middle of fio degrade the target without an error for fio;
# "reconnect" resyncs the copies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-primary.bash"

dm_require_vm
dm_require_cmd dmsetup fio
ktap_print_header
ktap_set_plan 55

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=64
SECTORS=$((MB * 2048))
OUT=$DM_RESULTS/30-primary-local
mkdir -p "$OUT"

# Local disk and peer backing: memory-backed null_blk with a write cache
# (so that the mirror takes flushes and FUA); the peer backing sits under a
# dm-linear that the test turns into "error" or suspends.
L=$(dm_nullb_create dmwl $MB cache_size=16)
dm_on_exit dm_nullb_remove dmwl
PN=$(dm_nullb_create dmwpn $MB cache_size=16)
dm_on_exit dm_nullb_remove dmwpn
dmsetup create dmwpb --table "0 $SECTORS linear $PN 0"
dm_on_exit dmsetup remove -f dmwpb
PB=/dev/mapper/dmwpb
read -r PH P < <(dmw_peer_add "$PB") || ktap_skip_all "no dualmirror peer disk"
dm_on_exit dmw_peer_remove "$PH"
ktap_print_msg "local $L, peer $P (host $PH) over $PB over $PN"

TABLE="0 $SECTORS dualmirror $L $P 5 peer_timeout 5000 region_size 256 nosync"
assert_true "dmsetup create" dmsetup create dmw --table "$TABLE"
dm_on_exit dmsetup remove -f dmw
D=/dev/mapper/dmw
assert_true "/dev/mapper/dmw is a block device" test -b "$D"
assert_true "reconnect while connected: nothing to do, no error" dmsetup message dmw 0 reconnect
assert_false "unknown message refused" dmsetup message dmw 0 bogus

ps() { dmw_peer_stat "$PH" "$1"; }

# job NAME FIO-ARGS...: reset the counters, run fio, check that it
# finished without an error; leaves the JSON in $OUT/NAME.json and fio's
# writes in $OUT/NAME.writes (for counts: job runs in assert_true's
# subshell; one python3 start for both figures).
job() {
	local name=$1 json=$OUT/$1.json
	shift
	dmsetup message dmw 0 reset_counters
	echo 1 >"/sys/class/scsi_host/$PH/dualmirror_stats/reset"
	dmw_fio dmw "$json" "$@" >"$OUT/$name.log" 2>&1
	local rc=$? err writes
	read -r err writes _ < <(dmw_fio_counts "$json" 2>/dev/null)
	echo "${writes:-}" >"$OUT/$name.writes"
	ktap_print_msg "$name: $(dmsetup status dmw)"
	[ "$rc" = 0 ] && [ "$err" = 0 ]
}

# counts NAME FRAMING: ops of FRAMING equal fio's writes, 3 or 6
# interrupts each, and the peer counted the same writes and interrupts
# (it counts commands and data; the statuses are the primary's).
counts() {
	local fr=$2 writes ops irqs per f_ops f_irqs
	writes=$(<"$OUT/$1.writes")
	if [ "$fr" = inline ]; then f_ops=3 f_irqs=4 per=3; else f_ops=5 f_irqs=6 per=6; fi
	ops=$(dmw_field dmw $f_ops)
	irqs=$(dmw_field dmw $f_irqs)
	assert_eq "$1: $fr operations = fio writes ($writes)" "$writes" "$ops"
	assert_eq "$1: $per interrupts per $fr operation" $((per * ops)) "$irqs"
	# one status per command: 1 per inline operation, 2 per split one
	assert_eq "$1: $fr latency histogram holds every operation" "$ops" \
		"$(dmw_latency_count dmw "$fr")"
	assert_eq "$1: peer counted the same writes and interrupts" \
		"$ops $irqs" "$(ps "${fr}_writes") $(($(ps "${fr}_interrupts") + per * ops / 3))"
}

base=(--rw=randwrite --size=8M)
assert_true "fio 4 KiB QD1 verify" job w4k-qd1 "${base[@]}" --bs=4k --iodepth=1 --io_size=2M
counts w4k-qd1 inline
assert_true "fio 4 KiB QD32 verify" job w4k-qd32 "${base[@]}" --bs=4k --iodepth=32 --io_size=4M
counts w4k-qd32 inline
assert_true "fio 64 KiB QD1 verify" job w64k-qd1 "${base[@]}" --bs=64k --iodepth=1 --io_size=2M
counts w64k-qd1 split
assert_true "fio 64 KiB QD32 verify" job w64k-qd32 "${base[@]}" --bs=64k --iodepth=32
counts w64k-qd32 split
assert_true "fio mixed sizes QD32 verify" job mixed --rw=randwrite --size=8M \
	--offset=8M --bssplit=4k/30:16k/20:32k/20:64k/20:128k/10 --iodepth=32
assert_eq "mixed: 3 per inline op, 6 per split op" \
	"$((3 * $(dmw_field dmw 3))) $((6 * $(dmw_field dmw 5)))" \
	"$(dmw_field dmw 4) $(dmw_field dmw 6)"

# Overlapping writes: a small region, no random map, deep queue. fio's own
# verification cannot follow overwrites; the copies must still agree.
# Each batch of 32 writes goes down in one io_submit(), under one block
# plug: no leg can complete a write before the whole batch went through
# the target's map(), so the writes of a batch are in flight together and
# overlap whatever the timing of the guest.  (Submitted one at a time, a
# busy host once let every write complete before fio queued the next one:
# no write ever waited, and this test failed.)
dmsetup message dmw 0 reset_counters
fio --name=overlap --filename="$D" --direct=1 --ioengine=libaio --rw=randwrite \
	--offset=32M --size=256k --bsrange=4k-64k --norandommap --iodepth=32 \
	--iodepth_batch_submit=32 --iodepth_batch_complete_min=32 \
	--io_size=8M >"$OUT/overlap.log" 2>&1
assert_eq "overlapping job finished" 0 $?
waits=$(dmw_field dmw 13)
assert_true "overlapping writes waited for each other ($waits)" test "$waits" -gt 0
assert_eq "no peer error so far" 0 "$(dmw_field dmw 7)"
assert_true "local and peer copies byte-identical" dmw_same "$L" "$PN" $SECTORS

# A flush and FUA writes reach the peer's backing disk: the peer's
# counters see the SYNCHRONIZE CACHE, the block_bio_queue tracepoint on the
# backing device shows a preflush ("FW...") and FUA writes ("WF...").
TR=/sys/kernel/tracing
[ -d $TR/events ] || mount -t tracefs nodev $TR
pbdev=$(printf '%d,%d' "0x$(stat -L -c %t "$PB")" "0x$(stat -L -c %T "$PB")")
echo 0 >$TR/tracing_on
echo >$TR/trace
echo 1 >$TR/events/block/block_bio_queue/enable
echo 1 >$TR/tracing_on
flushes=$(dmw_field dmw 11)
cmds=$(ps scsi_commands)
"$DM_PYTHON" -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.fsync(fd)' "$D"
fua=$(dmw_field dmw 12)
dd if=/dev/urandom of="$D" bs=4k count=16 seek=100 oflag=direct,dsync 2>/dev/null
echo 0 >$TR/tracing_on
echo 0 >$TR/events/block/block_bio_queue/enable
trace=$(grep -F "block_bio_queue: $pbdev " $TR/trace)
assert_true "a flush reached the peer (SYNCHRONIZE CACHE)" \
	test "$(dmw_field dmw 11)" -gt "$flushes" -a "$(ps scsi_commands)" -gt "$cmds"
assert_match "the peer's backing disk saw a preflush" "block_bio_queue: $pbdev FW" "$trace"
assert_eq "FUA writes sent to the peer with DMW_F_FUA" $((fua + 16)) "$(dmw_field dmw 12)"
assert_eq "the peer's backing disk saw 16 FUA writes at the sector" 16 \
	"$(printf '%s\n' "$trace" | grep -Ec "block_bio_queue: $pbdev WF[A-Z]* (8[0-9][0-9]|9[0-2][0-9]) \+ 8 ")"

# The peer fails (its backing returns I/O errors) in the middle of fio
# (rate-limited to last a few seconds whatever the host's load).
dmsetup message dmw 0 reset_counters
dmw_fio dmw "$OUT/fail.json" --rw=randwrite --size=8M --offset=40M --bs=4k \
	--iodepth=8 --io_size=16M --rate_iops=400 >"$OUT/fail.log" 2>&1 &
fio_pid=$!
dm_wait_for 60 dmw_field_gt dmw 3 200
# shellcheck disable=SC2016 # expanded by dmw_fio_across's eval
dmw_fio_across $fio_pid 'dmsetup suspend dmwpb && dmsetup load dmwpb --table "0 $SECTORS error" &&
	dmsetup resume dmwpb'
wait $fio_pid
rc=$?
assert_eq "peer I/O errors: fio finished without an error" "0 0" \
	"$rc $(dmw_fio_errors "$OUT/fail.json")"
st=$(dmsetup status dmw)
ktap_print_msg "after failure: $st"
# Degraded since the first failed write; but the automatic reconnect
# (every 5 s while degraded) CLAIMs the peer, which answers, and the
# target is "resyncing" until the next peer write fails, about 20 ms
# later.  A read of the status can fall in that window (it did once,
# 5.02 s after the degrade): the state the failure leaves is the one
# the target is back in after such an attempt.
assert_true "status: degraded (after any automatic reconnect attempt)" \
	dmw_wait_state dmw degraded 30
assert_true "out-of-sync sectors non-zero" test "$(dmw_oos dmw)" -gt 0
assert_true "peer errors counted" test "$(dmw_field dmw 7)" -gt 0
assert_true "local copy verifies (fio verify_only on the local disk)" \
	fio --name=dmw --filename="$L" --direct=1 --rw=randwrite --size=8M \
	--offset=40M --bs=4k --io_size=16M --verify=crc32c --verify_only \
	--verify_fatal=1 --verify_state_save=0
dmsetup message dmw 0 reconnect
assert_true "reconnect while the peer still fails: degraded again" \
	dmw_wait_state dmw degraded 30

# Repair the peer, reconnect, resync.
dmsetup suspend dmwpb && dmsetup load dmwpb --table "0 $SECTORS linear $PN 0" &&
	dmsetup resume dmwpb
dmsetup message dmw 0 degrade
assert_true "reconnect" dmsetup message dmw 0 reconnect
assert_true "resync finishes: connected" dmw_wait_state dmw connected 60
assert_eq "no out-of-sync sectors left" 0 "$(dmw_oos dmw)"
assert_true "copies byte-identical after resync" dmw_same "$L" "$PN" $SECTORS

# The peer hangs (its backing suspended): no write may hang.
gen=$(dmw_field dmw 10)
dmsetup suspend --noflush --nolockfs dmwpb
dmw_fio dmw "$OUT/hang.json" --rw=randwrite --size=1M --offset=48M --bs=4k \
	--iodepth=4 --io_size=1M >"$OUT/hang.log" 2>&1
rc=$?
assert_eq "hung peer: fio finished without an error" "0 0" \
	"$rc $(dmw_fio_errors "$OUT/hang.json")"
# The longest write, from fio's submission to its completion (not fio's
# start-up or its verification, which a starved guest slows too): the
# peer timeout (5 s) and the timeout work's period (a quarter of it)
# bound it at 6.25 s, plus the time a starved guest takes to run the
# work and fio to reap; a write that hung would take for ever.
took=$("$DM_PYTHON" -c 'import json,sys
print(max(j["write"]["clat_ns"]["max"] for j in json.load(open(sys.argv[1]))["jobs"]) // 1000000)' \
	"$OUT/hang.json")
assert_true "hung peer: the longest write took less than 3 peer timeouts (${took} ms)" \
	test "${took:-99999}" -lt 15000
assert_eq "status: degraded by a timeout" "degraded timeout" \
	"$(dmw_field dmw 1) $(dmw_field dmw 14)"
dmsetup resume dmwpb
assert_true "reconnect after the hang" dmsetup message dmw 0 reconnect
assert_true "resync finishes again" dmw_wait_state dmw connected 60
assert_true "generation advanced by the re-CLAIM" test "$(dmw_field dmw 10)" -gt "$gen"
assert_true "copies byte-identical after the hang" dmw_same "$L" "$PN" $SECTORS

dmsetup message dmw 0 reset_counters
assert_eq "reset_counters empties the latency histograms" "0 0" \
	"$(dmw_latency_count dmw inline) $(dmw_latency_count dmw split)"
assert_match "reset_counters zeroes the counters" \
	"^connected 0/$SECTORS 0 0 0 0 0 0 0 [0-9]+ 0 0 0 none 0 - 0 0 0 0 0 0 0 0 0$" \
	"$(dmsetup status dmw | cut -d' ' -f4-)"
assert_true "dmsetup remove" dmsetup remove dmw
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
