#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# Discard and write zeroes across the link: the local disk is a scsi_debug
# disk with logical block provisioning (UNMAP, WRITE SAME with UNMAP;
# unmapped blocks read as zeroes), the peer's backing device a null_blk
# disk with discard (discarded sectors read as zeroes) and no write zeroes
# offload, so the peer zeroes by writing.  blkdiscard, blkdiscard -z
# (write zeroes, NOUNMAP) and fallocate --punch-hole (write zeroes that may
# unmap) of ranges: each is one DISCARD or WRITE ZEROES command with no
# data (two interrupts, one command and one response PDU, no Data-Out),
# counted alike by the target, the peer and open-iscsi, and the ranges
# read back as zeroes on both copies; fstrim on ext4 over the mirror;
# discards racing writes to the same blocks leave both copies equal; a
# discard and a write zeroes while degraded are resynced after reconnect;
# hostile DISCARD / WRITE ZEROES CDBs sent to the peer disk are refused
# with the right sense.  The two copies are byte-identical after every step.
# Over a second peer disk whose backing device cannot discard, a discard
# is not sent (counted) and leaves the peer's copy as it was, and write
# zeroes still are.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid blkdiscard fallocate fstrim mkfs.ext4 sg_raw
ktap_print_header
ktap_set_plan 68

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=48
SECTORS=$((MB * 2048))
MiB=1048576
OUT=$DM_RESULTS/pair-15-discard
MNT=/tmp/m15-mnt
mkdir -p "$OUT" "$MNT"

read -r PB PD < <(pair_peer_disk d15 $MB discard=1) || ktap_skip_all "no peer disk on the peer guest"
ktap_print_msg "peer guest: $PD over $PB, exported at $PAIR_PORTAL"
dm_on_exit pair_peer_disk_remove d15 "$PD"
L=$(dm_scsi_debug_load dev_size_mb=$MB lbpu=1 lbpws=1 lbprz=1) ||
	ktap_skip_all "no scsi_debug disk"
dm_on_exit "modprobe -r scsi_debug"
dm_on_exit pair_detach d15
P=$(pair_attach d15)
assert_true "dualmirrorctl primary attach over the link prints the peer disk ($P)" test -b "$P"
SID=$(basename "$(_primary_session "$PAIR_IQN-d15")")
SID=${SID#session}
dm_on_exit "umount $MNT 2>/dev/null; dmsetup remove -f m15 2>/dev/null"

pdu() { iscsiadm -m session -r "$SID" -s | awk -v k="$1:" '$1 == k { print $2 }'; }
ps() { pair_peer_stat "$PD" "$1"; }
same() { pair_same "$L" "$PB" $SECTORS; }
zeroes_md5() { head -c "$1" /dev/zero | md5sum; }
# local_md5 DEV OFFSET LEN / peer_md5 DEV OFFSET LEN: md5 of LEN bytes at
# OFFSET (bytes, multiples of 64 KiB).
local_md5() { dd if="$1" iflag=direct bs=64k skip=$(($2 / 65536)) count=$(($3 / 65536)) 2>/dev/null | md5sum; }
peer_md5() { peer "dd if=$1 iflag=direct bs=64k skip=$(($2 / 65536)) count=$(($3 / 65536)) 2>/dev/null | md5sum"; }
# zeroed OFFSET LEN [PEER-BACKING]: the range reads as zeroes on both
# copies.
zeroed() {
	local z
	z=$(zeroes_md5 "$2")
	[ "$(local_md5 "$L" "$1" "$2")" = "$z" ] &&
		[ "$(peer_md5 "${3:-$PB}" "$1" "$2")" = "$z" ]
}
# fill OFFSET LEN [DM-NAME]: random data through the mirror.
fill() {
	dd if=/dev/urandom of=/dev/mapper/"${3:-m15}" bs=64k seek=$(($1 / 65536)) \
		count=$(($2 / 65536)) oflag=direct status=none
}
# counted NAME FIRST-FIELD FRAMING CMD...: run CMD with the counters
# reset; the target's operations of the framing (status fields FIRST and
# FIRST + 1) are the peer's, two interrupts each, one command and one
# response PDU each and no Data-Out PDU (besides the peer flushes, status
# field 11, that fallocate's sync of the device sends).
counted() {
	local name=$1 f=$2 fr=$3 cmd0 rsp0 out0 ops irqs n
	shift 3
	dmsetup message m15 0 reset_counters
	pair_peer_reset_stats "$PD"
	cmd0=$(pdu scsicmd_pdus) rsp0=$(pdu scsirsp_pdus) out0=$(pdu dataout_pdus)
	"$@" >"$OUT/$name.log" 2>&1
	assert_eq "$name: done" 0 $?
	ops=$(dmw_field m15 "$f") irqs=$(dmw_field m15 $((f + 1)))
	ktap_print_msg "$name: $(dmsetup status m15)"
	assert_true "$name: $ops commands, 2 interrupts each" \
		test "$ops" -gt 0 -a "$irqs" -eq $((2 * ops))
	assert_eq "$name: the peer applied as many, 1 interrupt each its side" \
		"$ops $ops" "$(ps "${fr}_writes") $(ps "${fr}_interrupts")"
	n=$((ops + $(dmw_field m15 11)))
	assert_eq "$name: one command and one response PDU each, no Data-Out" \
		"$n $n 0" \
		"$(($(pdu scsicmd_pdus) - cmd0)) $(($(pdu scsirsp_pdus) - rsp0)) $(($(pdu dataout_pdus) - out0))"
}

# 1. The mirror takes discard and write zeroes (both disks are blank).
assert_true "dmsetup create over the link" \
	dmsetup create m15 --table "0 $SECTORS dualmirror $L $P 1 nosync"
DM=$(dmsetup info -c --noheadings -o blkdevname m15)
assert_eq "the peer announces discard and write zeroes (no offload)" \
	"discard write_zeroes" \
	"$(peer "h=\$(readlink -f /sys/block/${PD#/dev/}/device); h=\${h%/target*}; h=\${h##*/}
cat /sys/class/scsi_host/\$h/dualmirror/capabilities")"
ktap_print_msg "queue: discard_max_bytes $(cat /sys/block/$DM/queue/discard_max_bytes)" \
	"write_zeroes_max_bytes $(cat /sys/block/$DM/queue/write_zeroes_max_bytes)" \
	"discard_granularity $(cat /sys/block/$DM/queue/discard_granularity)"
assert_true "the mirror takes discards" \
	test "$(cat /sys/block/$DM/queue/discard_max_bytes)" -gt 0
assert_true "the mirror takes write zeroes, at most a write's size (no offload on the peer)" \
	test "$(cat /sys/block/$DM/queue/write_zeroes_max_bytes)" -gt 0 -a \
	"$(cat /sys/block/$DM/queue/write_zeroes_max_bytes)" -le $((8 * MiB))
fill 0 $((MB * MiB))
assert_true "random data: copies byte-identical" same
assert_false "random data: not zeroes" zeroed $MiB $((4 * MiB))

# 2. blkdiscard of ranges: zeroes on both copies.
counted discard 20 discard blkdiscard -o $MiB -l $((4 * MiB)) /dev/mapper/m15
assert_true "discard: the range reads as zeroes on both copies" zeroed $MiB $((4 * MiB))
assert_true "discard: the rest did not change (copies byte-identical)" same
counted discard-small 20 discard blkdiscard -o $((6 * MiB + 4096)) -l 8192 /dev/mapper/m15
assert_true "discard of 8 KiB: zeroes there, copies byte-identical" same
assert_eq "discard of 8 KiB: one command" 1 "$(dmw_field m15 20)"

# 3. Write zeroes: blkdiscard -z (NOUNMAP) and fallocate --punch-hole.
counted write-zeroes 22 write_zeroes blkdiscard -z -o $((8 * MiB)) -l $((4 * MiB)) /dev/mapper/m15
assert_true "write zeroes: the range reads as zeroes on both copies" zeroed $((8 * MiB)) $((4 * MiB))
assert_true "write zeroes: copies byte-identical" same
counted punch-hole 22 write_zeroes fallocate -p -o $((12 * MiB)) -l $((2 * MiB)) /dev/mapper/m15
assert_true "punch hole: the range reads as zeroes on both copies" zeroed $((12 * MiB)) $((2 * MiB))
assert_eq "no discard skipped, no peer error, connected" "0 0 connected" \
	"$(dmw_field m15 24) $(dmw_field m15 7) $(dmw_field m15 1)"

# 4. Discards and writes to the same blocks at once: two streams at QD1
# over 256 KiB (every pair of their I/Os has a good chance to overlap),
# different data; the two copies must end the same.  One fio with two
# jobs, which it starts together once both are set up: two fio processes
# started one after the other overlap only as much as a starved guest
# lets their start-ups (a second each) overlap.
dmsetup message m15 0 reset_counters
fio --filename=/dev/mapper/m15 --direct=1 --bssplit=4k/50:64k/50 \
	--offset=40M --size=256k --io_size=4M \
	--name=ovw --ioengine=libaio --rw=randwrite --iodepth=1 --randseed=1 \
	--name=ovt --ioengine=psync --rw=randtrim --randseed=2 \
	>"$OUT/overlap.log" 2>&1
rc=$?
ktap_print_msg "overlap: $(dmsetup status m15)"
assert_eq "overlap: both fio jobs done" 0 $rc
assert_true "overlap: discards were mirrored" test "$(dmw_field m15 20)" -gt 0
assert_true "overlap: I/Os waited for overlapping ones" test "$(dmw_field m15 13)" -gt 0
assert_true "overlap: copies byte-identical" same

# 5. fstrim on ext4 over the mirror: the blocks of deleted files are
# discarded on both copies.
assert_true "mkfs.ext4 (no discard at mkfs)" mkfs.ext4 -q -F -E nodiscard /dev/mapper/m15
assert_true "mount" mount -o nodiscard /dev/mapper/m15 $MNT
for i in 1 2 3 4; do
	dd if=/dev/urandom of=$MNT/f$i bs=1M count=4 status=none
done
sync
rm -f $MNT/f2 $MNT/f3
sync
dmsetup message m15 0 reset_counters
pair_peer_reset_stats "$PD"
trimmed=$(fstrim -v $MNT | awk '{ print $(NF - 2) }' | tr -d '()')
ktap_print_msg "fstrim: $trimmed bytes trimmed; $(dmsetup status m15)"
assert_true "fstrim trimmed at least the 8 MiB of the deleted files" \
	test "${trimmed:-0}" -ge $((8 * MiB))
assert_true "fstrim: discards mirrored, as many on the peer" \
	test "$(dmw_field m15 20)" -gt 0 -a "$(dmw_field m15 20)" = "$(ps discard_writes)"
assert_true "fstrim: the peer discarded at least 8 MiB" \
	test "$(ps discard_bytes_written)" -ge $((8 * MiB))
assert_true "umount" umount $MNT
assert_true "fstrim: copies byte-identical" same

# 6. Degraded: a discard and a write zeroes land locally only, and are
# resynced after reconnect.
fill $((32 * MiB)) $((4 * MiB))
assert_true "degraded: data written, copies byte-identical" same
assert_true "disconnect" dmsetup message m15 0 disconnect
assert_eq "degraded" degraded "$(dmw_field m15 1)"
assert_true "degraded: blkdiscard" blkdiscard -o $((32 * MiB)) -l $((2 * MiB)) /dev/mapper/m15
assert_true "degraded: blkdiscard -z" blkdiscard -z -o $((34 * MiB)) -l $((2 * MiB)) /dev/mapper/m15
oos=$(dmw_oos m15)
assert_true "degraded: the ranges are out of sync ($oos sectors)" test "$oos" -ge 8192
assert_false "degraded: the peer still has the old data" same
assert_true "reconnect" dmsetup message m15 0 reconnect
assert_true "resync finishes: connected" dmw_wait_state m15 connected 180
assert_true "resynced: the ranges read as zeroes on both copies" zeroed $((32 * MiB)) $((4 * MiB))
assert_true "resynced: copies byte-identical" same

# 7. Hostile CDBs to the peer disk (not through the mirror): refused with
# their sense, counted by the peer, nothing changed.
gen=$(($(dmw_field m15 10) & 65535))
tag=$(printf '%02x %02x' $((gen >> 8)) $((gen & 255)))
pair_peer_reset_stats "$PD"
# DISCARD of 8 sectors at LBA 2^40: beyond the disk.
sg_raw -R "$P" 7f 00 $tag 00 00 08 08 f9 60 00 01 00 00 00 00 >"$OUT/sg-range.log" 2>&1
assert_match "DISCARD beyond the disk: LBA OUT OF RANGE" \
	"[Ll]ogical block address out of range" "$(cat "$OUT/sg-range.log")"
# WRITE ZEROES with reserved flag bit 1.
sg_raw -R "$P" 7f 00 $tag 00 00 08 08 f9 72 00 00 00 00 00 08 >"$OUT/sg-flag.log" 2>&1
assert_match "WRITE ZEROES with a reserved flag: INVALID FIELD IN CDB" \
	"[Ii]nvalid field in cdb" "$(cat "$OUT/sg-flag.log")"
# DISCARD with data-out.
head -c 512 /dev/zero >"$OUT/sg-data.bin"
sg_raw -s 512 -i "$OUT/sg-data.bin" "$P" 7f 00 $tag 00 00 01 08 f9 60 00 00 00 00 00 08 \
	>"$OUT/sg-data.log" 2>&1
assert_eq "the peer counted the refusals: range, reserved, transfer length" "1 1 1" \
	"$(ps rejected_lba_range) $(ps rejected_reserved) $(ps rejected_transfer_length)"
assert_eq "nothing applied by the refused commands" "0 0" \
	"$(ps discard_writes) $(ps write_zeroes_writes)"
assert_true "copies still byte-identical" same

assert_true "dmsetup remove" dmsetup remove m15

# 8. A peer disk whose backing device cannot discard (null_blk without
# discard): the mirror takes discards (its local disk does), does not send
# them to that peer (counted), whose copy of the range stays; write zeroes
# are sent.
read -r PB2 PD2 < <(pair_peer_disk d15b $MB)
dm_on_exit pair_peer_disk_remove d15b "$PD2"
dm_on_exit pair_detach d15b
P2=$(pair_attach d15b)
dm_on_exit "dmsetup remove -f m15b 2>/dev/null"
assert_true "second peer disk: dmsetup create over it" \
	dmsetup create m15b --table "0 $SECTORS dualmirror $L $P2 1 nosync"
assert_eq "the second peer announces write zeroes only" write_zeroes \
	"$(peer "h=\$(readlink -f /sys/block/${PD2#/dev/}/device); h=\${h%/target*}; h=\${h##*/}
cat /sys/class/scsi_host/\$h/dualmirror/capabilities")"
fill $((4 * MiB)) $((2 * MiB)) m15b
before=$(peer_md5 "$PB2" $((4 * MiB)) $((2 * MiB)))
blkdiscard -o $((4 * MiB)) -l $((2 * MiB)) /dev/mapper/m15b
ktap_print_msg "no discard on the peer: $(dmsetup status m15b)"
assert_true "discard not sent to that peer: counted, no DISCARD" \
	test "$(dmw_field m15b 24)" -ge 1 -a "$(dmw_field m15b 20)" -eq 0
assert_true "discard: zeroes on the local copy, the peer's copy as it was" \
	test "$(local_md5 "$L" $((4 * MiB)) $((2 * MiB)))" = "$(zeroes_md5 $((2 * MiB)))" \
	-a "$(peer_md5 "$PB2" $((4 * MiB)) $((2 * MiB)))" = "$before"
blkdiscard -z -o $((4 * MiB)) -l $((2 * MiB)) /dev/mapper/m15b
assert_true "write zeroes sent to that peer, no peer error" \
	test "$(dmw_field m15b 22)" -ge 1 -a "$(dmw_field m15b 7)" -eq 0
assert_true "write zeroes: zeroes on both copies" zeroed $((4 * MiB)) $((2 * MiB)) "$PB2"
assert_true "dmsetup remove of the second mirror" dmsetup remove m15b
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
