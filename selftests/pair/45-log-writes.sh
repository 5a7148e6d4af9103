#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# Crash states from dm-log-writes: the mirror's local leg and its metadata
# device are two dm-linear slices of one dm-log-writes device (over a
# dm-linear concatenation of a data and a metadata null_blk), so that one
# log records both in the order they reached the disk; on the peer guest
# the peer disk's backing device is under its own dm-log-writes. An ext4
# file system on the mirror gets files written with fsync in four steps
# (one of them while the mirror is disconnected); after each step the
# file system is frozen and the same mark is logged on both sides: a
# point where a crash of both servers leaves the local disk, the bitmap
# and the peer's copy exactly as the two logs say. For each mark, both
# logs are replayed onto blank disks (selftests/log-writes-replay.py), a
# mirror is loaded on the replayed local disk and metadata and a peer
# disk over the replayed peer copy, and once it has resynced (what the
# replayed bitmap names) the two copies must be byte-identical, fsck.ext4
# clean, and the files those of the step.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"

dm_require_vm
pair_require
dm_require_cmd dmsetup iscsiadm iscsid mkfs.ext4 fsck.ext4 fsfreeze
dm_require_kmod dm-log-writes null_blk
ktap_print_header
POINTS="p1 p2 p3 p4"
ktap_set_plan $((9 + 9 * 4 + 2))

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"
modprobe dm-log-writes

MB=32
LS=$((MB * 2048))	# data sectors
MS=2048			# metadata sectors (1 MiB: 4 KiB superblock + bitmap)
REPLAY=$DM_SELFTESTS/log-writes-replay.py
OUT=$DM_RESULTS/pair-45-log-writes
MNT=/tmp/mnt45
mkdir -p "$OUT" "$MNT"

# ---- the run that is logged --------------------------------------------------

# Peer: backing p45 (a volatile write cache, so that the peer's flushes
# reach dm-log-writes and are logged) under log-writes plw45, log p45log.
pd=$(peer "set -e
modprobe dm-log-writes
b=\$(dm_nullb_create p45 $MB cache_size=8)
lg=\$(dm_nullb_create p45log 128)
dmsetup create plw45 --table \"0 $LS log-writes \$b \$lg\"
d=\$(scripts/dualmirrorctl peer add /dev/mapper/plw45)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $PAIR_IQN-p45 --portal $PAIR_PORTAL >/dev/null 2>&1
echo \$d") || ktap_skip_all "no logged peer disk on the peer guest: $pd"
PD=${pd##*$'\n'}
peer_logged_cleanup() {
	peer "scripts/dualmirrorctl peer unexport $PAIR_IQN-p45 >/dev/null 2>&1
scripts/dualmirrorctl peer remove $PD >/dev/null 2>&1
dmsetup remove plw45 2>/dev/null
dm_nullb_remove p45; dm_nullb_remove p45log"
}
dm_on_exit peer_logged_cleanup

# Primary: data L and metadata M (write caches: flushes reach the log),
# concatenated (lw45b), logged (lw45, log on LOG), sliced again (lw45d,
# lw45m).
L=$(dm_nullb_create lw45l $MB cache_size=8)
dm_on_exit dm_nullb_remove lw45l
M=$(dm_nullb_create lw45m 1 cache_size=1)
dm_on_exit dm_nullb_remove lw45m
LOG=$(dm_nullb_create lw45log 128)
dm_on_exit dm_nullb_remove lw45log
dm_on_exit dmsetup remove lw45b
dm_on_exit dmsetup remove lw45
dm_on_exit dmsetup remove lw45d
dm_on_exit dmsetup remove lw45md
dm_on_exit pair_detach p45
dm_on_exit dmsetup remove -f m45
dm_on_exit umount "$MNT"
dmsetup create lw45b --table "0 $LS linear $L 0
$LS $MS linear $M 0" &&
	dmsetup create lw45 --table "0 $((LS + MS)) log-writes /dev/mapper/lw45b $LOG" &&
	dmsetup create lw45d --table "0 $LS linear /dev/mapper/lw45 0" &&
	dmsetup create lw45md --table "0 $MS linear /dev/mapper/lw45 $LS"
assert_true "local disk and metadata: two slices of one log-writes device" \
	test -b /dev/mapper/lw45d -a -b /dev/mapper/lw45md
P=$(pair_attach p45)
# Flushed: dm-log-writes logs a write without FUA at the next flush, after
# the FUA writes that completed meanwhile, even to the same sectors; this
# one would land over the mirror's first superblock writes in the replay.
dd if=/dev/zero of=/dev/mapper/lw45md bs=4k count=1 oflag=direct conv=fsync status=none
assert_true "mirror over the logged devices (peer disk $P)" dmsetup create m45 \
	--table "0 $LS dualmirror /dev/mapper/lw45d $P 3 meta_dev /dev/mapper/lw45md nosync"
D=/dev/mapper/m45

# files N SIZE-KIB...: write $MNT/N.I with SIZE-KIB of random data, fsync.
files() {
	local n=$1 i=0 s
	shift
	for s in "$@"; do
		dd if=/dev/urandom of="$MNT/$n.$i" bs=1k count="$s" conv=fsync status=none || return 1
		i=$((i + 1))
	done
}
# manifest: md5 of every file under $MNT, sorted.
manifest() {
	(cd "$MNT" && find . -type f | sort | xargs -r md5sum)
}
# point NAME: a crash point: everything synced, the file system frozen,
# the same mark logged on both sides.
point() {
	sync
	manifest >"$OUT/$1.md5"
	ktap_print_msg "$1: $(dmsetup status m45 | cut -d' ' -f4-6,19)"
	fsfreeze -f "$MNT" || return 1
	# a flush of the mirror: whatever the freeze wrote without FUA is
	# logged on both sides before the marks
	sync "$D"
	dmsetup message lw45 0 mark "$1" &&
		peer "dmsetup message plw45 0 mark $1"
	local rc=$?
	fsfreeze -u "$MNT"
	return $rc
}

steps_ok=0
mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$D" &&
	mount -o noatime "$D" "$MNT" &&
	files a 64 256 1024 3072 && point p1 &&
	# 2: overwrite inside a file, delete one, many small files, an append
	dd if=/dev/urandom of="$MNT/a.2" bs=4k count=16 seek=40 conv=notrunc,fsync status=none &&
	rm "$MNT/a.0" && mkdir "$MNT/d" && files d/b 4 8 12 16 20 24 28 32 &&
	dd if=/dev/urandom bs=4k count=8 status=none >>"$MNT/a.1" && sync "$MNT/a.1" &&
	point p2 &&
	# 3: disconnected: writes the peer does not get, regions out of sync
	dmsetup message m45 0 disconnect &&
	files c 2048 40 && dd if=/dev/urandom of="$MNT/a.3" bs=4k count=64 seek=100 \
		conv=notrunc,fsync status=none && point p3 &&
	# 4: reconnected and resynced, more writes, a rename
	dmsetup message m45 0 reconnect && dmw_wait_state m45 connected 180 &&
	files e 4096 1 && mv "$MNT/d/b.3" "$MNT/e.moved" && point p4 &&
	steps_ok=1
assert_eq "workload: ext4, files with fsync, four marks (last: 'p4')" 1 $steps_ok
assert_true "the mirror's copies identical at the end" pair_same /dev/mapper/lw45d /dev/p45 $LS
umount "$MNT"
dmsetup remove m45
pair_detach p45
# Removing log-writes logs what was not flushed yet and the final count.
dmsetup remove lw45d lw45md lw45 && dmsetup remove lw45b
peer "scripts/dualmirrorctl peer unexport $PAIR_IQN-p45 >/dev/null 2>&1
scripts/dualmirrorctl peer remove $PD >/dev/null 2>&1
dmsetup remove plw45" >/dev/null

"$DM_PYTHON" "$REPLAY" "$LOG" --dump >"$OUT/primary-log.txt" 2>&1
peer "$DM_PYTHON $REPLAY /dev/p45log --dump" >"$OUT/peer-log.txt" 2>&1
ktap_print_msg "primary log: $(tail -1 "$OUT/primary-log.txt"); peer log: $(tail -1 "$OUT/peer-log.txt")"
marks() { "$DM_PYTHON" "$REPLAY" "$1" --list | awk '{ print $2 }' | xargs; }
assert_eq "primary log: the four marks, then the end" "$POINTS dm-log-writes-end" "$(marks "$LOG")"
assert_eq "peer log: the four marks, then the end" "$POINTS dm-log-writes-end" \
	"$(peer "$DM_PYTHON $REPLAY /dev/p45log --list | awk '{ print \$2 }' | xargs")"
has_flush_fua() { grep -q FLUSH "$1" && grep -q FUA "$1"; }
assert_true "primary log: FLUSH and FUA entries (the leg's flushes, the bitmap's writes)" \
	has_flush_fua "$OUT/primary-log.txt"
assert_true "peer log: FLUSH entries (the peer's flushes)" grep -q FLUSH "$OUT/peer-log.txt"
log_space_ok() { ! { dmesg; peer dmesg; } | grep -q 'Ran out of space on the logdev'; }
assert_true "dm-log-writes did not run out of log space" log_space_ok

# ---- each mark: replay both logs, load, resync, check -----------------------

# replay_point NAME I: the crash state at mark NAME (I: its number).
replay_point() {
	local pt=$1 i=$2 r rd=/dev/mapper/r45d out pb pd pp p differ fresh

	r=$(dm_nullb_create r45 $((MB + 1))) &&
		out=$("$DM_PYTHON" "$REPLAY" "$LOG" --replay "$r" --end-mark "$pt") &&
		dmsetup create r45d --table "0 $LS linear $r 0" &&
		dmsetup create r45m --table "0 $MS linear $r $LS"
	assert_true "$pt: primary log replayed ($out)" test -b $rd -a -b /dev/mapper/r45m
	pp=$(peer "set -e
b=\$(dm_nullb_create p45r$i $MB)
$DM_PYTHON $REPLAY /dev/p45log --replay \$b --end-mark $pt >&2
d=\$(scripts/dualmirrorctl peer add \$b)
scripts/dualmirrorctl peer export \$d $PAIR_IQN-p45r$i --portal $PAIR_PORTAL >/dev/null 2>&1
echo \$b \$d" 2>&1)
	ktap_print_msg "$pt: peer: ${pp//$'\n'/; }"
	read -r pb pd < <(echo "${pp##*$'\n'}")
	p=$(pair_attach "p45r$i")
	assert_true "$pt: peer log replayed, a peer disk over it, attached ($p)" test -b "$p"
	differ=same
	pair_same $rd "$pb" $LS || differ=different
	ktap_print_msg "$pt: before the mirror is loaded the copies are $differ"
	if [ "$pt" = p3 ]; then
		# negative control: the disconnected writes are on the local copy only
		assert_eq "$pt: the replayed copies differ before the resync" different $differ
	else
		ktap_test_pass "$pt: replayed copies compared before the resync ($differ)"
	fi
	fresh=$(dmesg | grep -c 'dualmirror: new metadata')
	assert_true "$pt: mirror loaded on the replayed local disk and metadata" \
		dmsetup create m45r --table "0 $LS dualmirror $rd $p 2 meta_dev /dev/mapper/r45m"
	ktap_print_msg "$pt: loaded: $(dmsetup status m45r)"
	assert_eq "$pt: the replayed metadata is the mirror's (not new), its bitmap resynced" \
		"$fresh" "$(dmesg | grep -c 'dualmirror: new metadata')"
	assert_true "$pt: resync finishes: connected" dmw_wait_state m45r connected 180
	ktap_print_msg "$pt: synced: $(dmsetup status m45r)"
	assert_true "$pt: copies byte-identical" pair_same $rd "$pb" $LS
	fsck.ext4 -fn /dev/mapper/m45r >"$OUT/$pt-fsck.txt" 2>&1
	assert_eq "$pt: fsck.ext4 -fn clean" 0 $?
	sed 's/^/#   /' "$OUT/$pt-fsck.txt" | tail -3
	mount -o ro,noload /dev/mapper/m45r "$MNT" && manifest >"$OUT/$pt-replayed.md5"
	umount "$MNT"
	assert_true "$pt: the files are those of the step" \
		cmp "$OUT/$pt.md5" "$OUT/$pt-replayed.md5"

	dmsetup remove m45r
	pair_detach "p45r$i"
	peer "scripts/dualmirrorctl peer unexport $PAIR_IQN-p45r$i >/dev/null 2>&1
scripts/dualmirrorctl peer remove $pd >/dev/null 2>&1
dm_nullb_remove p45r$i" >/dev/null
	dmsetup remove r45d r45m
	dm_nullb_remove r45
}

dm_on_exit dm_nullb_remove r45
dm_on_exit dmsetup remove r45m
dm_on_exit dmsetup remove r45d
dm_on_exit dmsetup remove -f m45r
i=0
for pt in $POINTS; do
	i=$((i + 1))
	replay_point "$pt" $i
done

assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
