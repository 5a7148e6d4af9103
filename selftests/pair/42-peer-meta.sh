#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# The peer keeps its generation on a metadata device ("meta=" on add), so
# that what the primary relies on survives a peer reboot (its disk removed
# and added again):
#  - the generation is kept, the disk stays fenced against plain writes,
#    and the primary resyncs what the peer may have lost from its volatile
#    cache (the regions still marked in its bitmap);
#  - a stale primary stays fenced: before, the re-added peer was at
#    generation 0 and the stale primary's reconnect claimed it by force;
#  - a peer disk whose node was last a primary with regions marked
#    (a failover, the old primary rejoining as the peer): the claimant
#    reads that bitmap (BITMAP) and resyncs those regions only;
#  - a split brain (that node wrote alone as a primary, and so did this
#    primary) is refused until "reconnect force", which makes this copy
#    win.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"

dm_require_vm
pair_require
dm_require_cmd dmsetup iscsiadm iscsid
ktap_print_header
ktap_set_plan 44

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=32
SECTORS=$((MB * 2048))
IQN=$PAIR_IQN-s42

read -r PB PM PX < <(peer "echo \$(dm_nullb_create s42p $MB) \$(dm_nullb_create s42pm 4) \$(dm_nullb_create s42px $MB)") ||
	ktap_skip_all "no disks on the peer guest"
ktap_print_msg "peer backing $PB, peer metadata $PM"

# peer_up: the peer disk over PB with its metadata on PM, exported;
# sets PH (hostN) and PD (its /dev/sdX on the peer guest).
peer_up() {
	PH= PD=
	read -r PH PD < <(peer "set -e
read -r h d < <(dmw_peer_add $PB meta=$PM)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $IQN --portal $PAIR_PORTAL >/dev/null 2>&1
echo \$h \$d")
	[ -n "$PD" ]
}

# peer_down: unexport it and remove it (what a reboot of the peer does).
peer_down() {
	peer "scripts/dualmirrorctl peer unexport $IQN >/dev/null 2>&1
dmw_peer_remove $PH"
}

# pinfo ATTR: the peer disk's sysfs attribute
pinfo() {
	peer "cat /sys/class/scsi_host/$PH/dualmirror/$1"
}

# reconnect DEV: once the session is back, "reconnect" (idempotent)
reconnect() {
	dm_wait_for 120 dmsetup message "$1" 0 reconnect
}

cleanup() {
	dmsetup remove -f s42 s42b 2>/dev/null
	pair_detach s42
	peer "dmsetup remove -f s42pp 2>/dev/null
scripts/dualmirrorctl peer unexport $IQN >/dev/null 2>&1
for h in \$(dm_scsi_hosts dualmirror_peer); do dmw_peer_remove \$h; done
dm_nullb_remove s42p; dm_nullb_remove s42pm; dm_nullb_remove s42px"
}
dm_on_exit cleanup

L=$(dm_nullb_create s42l $MB)
dm_on_exit dm_nullb_remove s42l
M=$(dm_nullb_create s42m 4)
dm_on_exit dm_nullb_remove s42m
L2=$(dm_nullb_create s42l2 $MB)
dm_on_exit dm_nullb_remove s42l2
M2=$(dm_nullb_create s42m2 4)
dm_on_exit dm_nullb_remove s42m2

# 1. A new metadata device: generation 0, open; the first CLAIM writes it.
peer_up
assert_true "peer disk added with meta= and exported ($PD on $PH)" test -n "$PD"
assert_eq "new metadata: generation 0, open" "0 open persistent fresh" \
	"$(pinfo generation) $(pinfo fence) $(pinfo meta_flags)"
assert_false "a second meta= is refused" \
	peer "echo '$PX meta=$PM meta=$PM' >/sys/devices/dualmirror_peer/add"
assert_false "an unknown argument is refused" \
	peer "echo '$PX foo=1' >/sys/devices/dualmirror_peer/add"
P=$(pair_attach s42)
assert_true "attached the peer disk over the link ($P)" test -b "$P"
assert_true "create with metadata" dmsetup create s42 \
	--table "0 $SECTORS dualmirror $L $P 3 meta_dev $M nosync"
dd if=/dev/urandom of=/dev/mapper/s42 bs=64k count=16 oflag=direct status=none
assert_eq "claimed: generation 1 on both, fresh no more" "1 1 claimed persistent" \
	"$(dmw_field s42 10) $(pinfo generation) $(pinfo fence) $(pinfo meta_flags)"

# 2. The peer reboots while the primary writes alone; the generation and
# the fence survive; the primary resyncs what the peer may have lost.
dmsetup message s42 0 disconnect
dd if=/dev/urandom of=/dev/mapper/s42 bs=64k count=16 seek=64 oflag=direct status=none
peer_down
peer_up
assert_true "peer added again after a 'reboot'" test -n "$PD"
assert_eq "after the reboot: generation 1, still claimed, fresh" \
	"1 claimed persistent fresh" \
	"$(pinfo generation) $(pinfo fence) $(pinfo meta_flags)"
assert_false "a plain write on the peer is still refused" \
	peer "dd if=/dev/zero of=$PD bs=4k count=1 oflag=direct status=none"
dm_dmesg_mark
assert_true "reconnect" reconnect s42
assert_true "resync finishes: connected" dmw_wait_state s42 connected 120
assert_eq "generation 2 on both" "2 2" "$(dmw_field s42 10) $(pinfo generation)"
assert_true "the primary resynced what the peer's cache may have lost" \
	grep -q "may have lost its volatile cache" <(dm_dmesg_since_mark)
assert_true "copies byte-identical" pair_same "$L" "$PB" $SECTORS

# 3. Another primary claims the peer; the peer reboots; the stale
# primary stays fenced (at generation 0 again, it would have won).
assert_true "B: created over the same peer disk (claims it)" \
	dmsetup create s42b --table "0 $SECTORS dualmirror $L2 $P 2 meta_dev $M2"
assert_false "A: a write fails once B claimed the peer" \
	dd if=/dev/urandom of=/dev/mapper/s42 bs=4k count=1 seek=100 oflag=direct status=none
# B writes 8-9 MiB mirrored, 10-11 MiB alone (its initial sync runs)
dd if=/dev/urandom of=/dev/mapper/s42b bs=64k count=16 seek=128 oflag=direct status=none
dmsetup message s42b 0 disconnect
dd if=/dev/urandom of=/dev/mapper/s42b bs=64k count=16 seek=160 oflag=direct status=none
peer_down
peer_up
assert_true "peer added again" test -n "$PD"
assert_eq "generation 3 kept over the reboot" 3 "$(pinfo generation)"
dmsetup remove s42
dmsetup create s42 --table "0 $SECTORS dualmirror $L $P 3 meta_dev $M nosync"
assert_eq "A loaded again from its metadata (generation 2): fenced" fenced \
	"$(dmw_field s42 1)"
assert_false "A: its write fails" \
	dd if=/dev/urandom of=/dev/mapper/s42 bs=4k count=1 seek=100 oflag=direct status=none
assert_eq "the peer is still at generation 3" 3 "$(pinfo generation)"
dmsetup remove s42
assert_true "B: reconnect" reconnect s42b
assert_true "B: connected" dmw_wait_state s42b connected 120
assert_true "B's copy is the peer's" pair_same "$L2" "$PB" $SECTORS

# pp_primary [WRITE]: the peer's node becomes a primary over PB and PM
# (as after a failover) whose own peer is gone before it could claim it;
# it writes alone if WRITE (regions marked, diverged), else it only has
# the first MiB marked and changed on its disk (as when it crashed with
# writes in flight); then it stops, and PB is a peer disk again.
pp_primary() {
	PD=
	peer "set -e
scripts/dualmirrorctl peer unexport $IQN >/dev/null 2>&1
dmw_peer_remove $PH
read -r xh xd < <(dmw_peer_add $PX)
dmsetup create s42pp --notable
dmsetup load s42pp --table '0 $SECTORS dualmirror $PB '\$xd' 2 meta_dev $PM'
dmw_peer_remove \$xh
dmsetup resume s42pp
test \$(dmw_field s42pp 1) = degraded
if [ -n '$1' ]; then
	dd if=/dev/urandom of=/dev/mapper/s42pp bs=64k count=8 seek=200 oflag=direct status=none
else
	dmsetup message s42pp 0 resync 0 2048
fi
dmsetup remove s42pp
[ -n '$1' ] || dd if=/dev/urandom of=$PB bs=64k count=16 oflag=direct status=none" || return 1
	peer_up
	[ -n "$PD" ]
}

# 4. Failover and back: the old peer's node was a primary and stopped
# with regions marked: B reads which and copies those only.
dmsetup message s42b 0 disconnect
pp_primary
assert_true "the peer's node was a primary with regions marked" test -n "$PD"
assert_eq "its disk: suspect, not diverged" "persistent fresh suspect" \
	"$(pinfo meta_flags)"
dm_dmesg_mark
assert_true "B: reconnect" reconnect s42b
assert_true "B: resync finishes: connected" dmw_wait_state s42b connected 180
assert_true "B: it read the 2 regions the peer's node marked" \
	grep -q "marked 2 regions as a primary: resyncing them" <(dm_dmesg_since_mark)
assert_false "B: no full resync" \
	grep -q "full resync" <(dm_dmesg_since_mark)
assert_eq "the peer no longer says suspect" "persistent" "$(pinfo meta_flags)"
assert_true "copies byte-identical" pair_same "$L2" "$PB" $SECTORS

# 5. Split brain: the peer's node wrote alone as a primary, and so did B.
dmsetup message s42b 0 disconnect
dd if=/dev/urandom of=/dev/mapper/s42b bs=64k count=8 seek=300 oflag=direct status=none
pp_primary write
assert_true "the peer's node wrote alone as a primary" test -n "$PD"
assert_eq "its disk: suspect and diverged" "persistent fresh suspect diverged" \
	"$(pinfo meta_flags)"
# Once the peer is back, a reconnect reaches it and is refused with
# split_brain (a refusal for any other reason, e.g. while the peer's disk
# is not logged in again yet, is retried).
split_brain_refusal() {
	! dmsetup message s42b 0 reconnect >/dev/null 2>&1 &&
		[ "$(dmw_field s42b 14)" = split_brain ]
}
dm_wait_for 60 split_brain_refusal
assert_false "B: reconnect refused: split brain" dmsetup message s42b 0 reconnect
assert_eq "B: degraded, last error split_brain" "degraded split_brain" \
	"$(dmw_field s42b 1) $(dmw_field s42b 14)"
assert_eq "nothing was claimed: the peer's generation is unchanged" 5 \
	"$(pinfo generation)"
assert_true "B: reconnect force" dmsetup message s42b 0 reconnect force
assert_true "B: full resync finishes: connected" dmw_wait_state s42b connected 180
assert_eq "B: generation 6 on both" "6 6" "$(dmw_field s42b 10) $(pinfo generation)"
assert_true "B's copy won, byte for byte" pair_same "$L2" "$PB" $SECTORS

assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
