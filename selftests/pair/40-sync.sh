#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# The sync state across the link, with the write-intent bitmap on a
# metadata device: the initial sync copies a whole device whose copies
# differ; a reload while degraded resyncs only what was written
# meanwhile; a session logout and a login that gives the peer disk a new
# name, then a table reloaded with it, converge without a full copy; the
# bitmap on disk empties by itself once writes stop; region_size at its
# minimum and maximum; two primaries over one peer disk: the last one to
# claim it wins, the other is fenced (its writes fail) until "reconnect
# force" makes its copy win. Every step ends with the copies compared
# byte for byte.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid
ktap_print_header
ktap_set_plan 47

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=32
SECTORS=$((MB * 2048))
OUT=$DM_RESULTS/pair-40-sync
mkdir -p "$OUT"

read -r PB PD < <(pair_peer_disk s40 $MB) || ktap_skip_all "no peer disk on the peer guest"
L=$(dm_nullb_create s40l $MB)
dm_on_exit dm_nullb_remove s40l
M=$(dm_nullb_create s40m 4)
dm_on_exit dm_nullb_remove s40m
dm_on_exit pair_peer_disk_remove s40 "$PD"
dm_on_exit pair_detach s40
dm_on_exit dmsetup remove -f s40
P=$(pair_attach s40)
assert_true "attached the peer disk over the link ($P)" test -b "$P"

# regions DEV: bits set in the on-disk bitmap (status field 16).
regions() { dmw_field "$1" 16; }
# table DEV-PEER [FEATURES...]: the table line with metadata.
table() {
	local p=$1
	shift
	echo "0 $SECTORS dualmirror $L $p $(($# + 2)) meta_dev $M${*:+ $*}"
}
same() { pair_same "$L" "$PB" $SECTORS; }

# 1. Initial sync: the local disk holds data, the peer's is blank.
dd if=/dev/urandom of="$L" bs=1M count=$MB oflag=direct status=none
assert_false "the copies differ before the mirror exists" same
pair_peer_reset_stats "$PD"
assert_true "create with new metadata" dmsetup create s40 --table "$(table "$P")"
ktap_print_msg "initial: $(dmsetup status s40)"
assert_true "initial sync: connected" dmw_wait_state s40 connected 300
assert_true "initial sync: copies byte-identical" same
writes=$(pair_peer_stat "$PD" total_bytes_written)
assert_true "initial sync copied the whole device ($writes bytes)" \
	test "$writes" -ge $((MB * 1048576))

# 2. The bitmap empties by itself: two daemon periods after the last write.
dmw_fio s40 "$OUT/hot.json" --rw=randwrite --size=4M --bs=4k --iodepth=8 \
	--io_size=2M >"$OUT/hot.log" 2>&1
assert_eq "writes: fio verified without an error" "0 0" \
	"$? $(dmw_fio_errors "$OUT/hot.json")"
n=$(regions s40)
assert_true "writes set bits on disk ($n regions)" test "$n" -gt 0
assert_true "the bitmap on disk empties once writes stop" \
	dm_wait_for 40 dmw_field_is s40 16 0

# 3. Reload while degraded: only what was written meanwhile is resynced.
assert_true "disconnect" dmsetup message s40 0 disconnect
assert_eq "degraded after disconnect" degraded "$(dmw_field s40 1)"
dmw_fio s40 "$OUT/degraded.json" --rw=randwrite --offset=8M --size=2M --bs=4k \
	--iodepth=8 --io_size=1M >"$OUT/degraded.log" 2>&1
assert_eq "degraded writes: fio verified without an error" "0 0" \
	"$? $(dmw_fio_errors "$OUT/degraded.json")"
oos=$(dmw_oos s40)
assert_true "degraded: out of sync ($oos sectors), not everything" \
	test "$oos" -gt 0 -a "$oos" -lt $SECTORS
assert_true "remove while degraded" dmsetup remove s40
pair_peer_reset_stats "$PD"
assert_true "create again from the metadata" dmsetup create s40 --table "$(table "$P")"
ktap_print_msg "reloaded: $(dmsetup status s40)"
assert_true "reloaded: resync finishes: connected" dmw_wait_state s40 connected 180
writes=$(pair_peer_stat "$PD" total_bytes_written)
assert_true "resynced only the out-of-sync regions ($writes bytes)" \
	test "$writes" -ge $((oos * 512)) -a "$writes" -lt $((MB * 1048576))
assert_true "reloaded: copies byte-identical" same

# 4. The session logged out in the middle of fio; logged in again the
# peer disk gets a new name; the table reloaded with it converges.
dmw_fio s40 "$OUT/logout.json" --rw=randwrite --offset=16M --size=4M --bs=4k \
	--iodepth=8 --io_size=4M --rate_iops=200 >"$OUT/logout.log" 2>&1 &
fio_pid=$!
dm_wait_for 60 dmw_field_gt s40 3 100
# shellcheck disable=SC2016 # expanded by dmw_fio_across's eval
dmw_fio_across $fio_pid 'iscsiadm -m node -T "$PAIR_IQN-s40" --logout >/dev/null 2>&1'
wait $fio_pid
assert_eq "logout: fio verified without an error" "0 0" \
	"$? $(dmw_fio_errors "$OUT/logout.json")"
assert_eq "logout: degraded" degraded "$(dmw_field s40 1)"
# The table still holds the old disk open: the login gets a new name.
P2=$(pair_attach s40)
ktap_print_msg "peer disk was $P, is $P2 after the login"
assert_true "the peer disk has a new name ($P2)" test -b "$P2" -a "$P2" != "$P"
dmsetup reload s40 --table "$(table "$P2")" && dmsetup resume s40
assert_eq "reload with the new name: loaded" \
	"0 $SECTORS dualmirror $(dm_majmin "$L") $(dm_majmin "$P2") 2 meta_dev $(dm_majmin "$M")" \
	"$(dmsetup table s40)"
assert_true "new name: resync finishes: connected" dmw_wait_state s40 connected 180
assert_true "new name: copies byte-identical" same
P=$P2

# 5. region_size at its minimum and maximum, degrade and resync.
for rs in 8 16777216; do
	dmsetup remove s40
	dd if=/dev/zero of="$M" bs=4k count=1 oflag=direct status=none
	dmsetup create s40 --table "$(table "$P" region_size $rs nosync)"
	dmsetup message s40 0 disconnect
	dmw_fio s40 "$OUT/rs$rs.json" --rw=randwrite --offset=4M --size=4M \
		--bsrange=4k-256k --iodepth=8 --io_size=4M >"$OUT/rs$rs.log" 2>&1
	assert_eq "region_size $rs: degraded writes verified" "0 0" \
		"$? $(dmw_fio_errors "$OUT/rs$rs.json")"
	assert_true "region_size $rs: reconnect" dmsetup message s40 0 reconnect
	assert_true "region_size $rs: resync finishes: connected" \
		dmw_wait_state s40 connected 180
	assert_true "region_size $rs: copies byte-identical" same
done

# 6. Two primaries over one peer disk: B claims it after A.
L2=$(dm_nullb_create s40l2 $MB)
dm_on_exit dm_nullb_remove s40l2
M2=$(dm_nullb_create s40m2 4)
dm_on_exit dm_nullb_remove s40m2
dmsetup remove s40
dd if=/dev/zero of="$M" bs=4k count=1 oflag=direct status=none
dmsetup create s40 --table "$(table "$P" nosync)"
dd if=/dev/urandom of=/dev/mapper/s40 bs=64k count=16 oflag=direct status=none
assert_true "A: writes mirrored" test "$(dmw_field s40 1)" = connected
dm_on_exit dmsetup remove -f s40b
assert_true "B: created over the same peer disk (claims it)" \
	dmsetup create s40b --table "0 $SECTORS dualmirror $L2 $P 3 meta_dev $M2 nosync"
assert_false "A: a write fails once B claimed the peer" \
	dd if=/dev/urandom of=/dev/mapper/s40 bs=4k count=1 seek=100 oflag=direct status=none
assert_eq "A: fenced" fenced "$(dmw_field s40 1)"
assert_false "A: reconnect without force refused" dmsetup message s40 0 reconnect
assert_true "B: writes mirrored" \
	dd if=/dev/urandom of=/dev/mapper/s40b bs=64k count=16 seek=32 oflag=direct status=none
assert_eq "B: connected" connected "$(dmw_field s40b 1)"
assert_true "B's writes are on the peer" pair_same_at "$L2" "$PB" 4096 2048
assert_true "B: remove" dmsetup remove s40b
assert_true "A: reconnect force" dmsetup message s40 0 reconnect force
assert_true "A: full resync finishes: connected" dmw_wait_state s40 connected 300
assert_true "A's copy is the peer's again, byte for byte" same
assert_true "A: remove" dmsetup remove s40

assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
