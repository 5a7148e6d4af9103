#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 1200
#
# Active-active: two resources in opposite directions, from config files
# only. aa0's primary is this guest (A), aa1's is the peer guest (B): each
# node is the primary of one and the peer of the other at the same time.
#  1. up on both nodes; fio verify on A's /dev/mapper/aa0 and on B's
#     /dev/mapper/aa1 at once; both pairs of copies identical;
#  2. failover of node A under fio on B's aa1: A's mirror aa0 and its export
#     of aa1 disappear at once; B's aa1 goes on (degraded) without an error;
#     "primary aa0 --force" on B: B is the primary of both; A's data is on
#     B (fio --verify_only); fio on B's aa0 and aa1 at once;
#  3. A returns as the peer of both ("secondary aa0", "up aa1"): B's aa0
#     "connect", B's aa1 reconnects by itself; both resync, both pairs of
#     copies identical.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_SELFTESTS/pair/lib-resource.bash"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid
ktap_print_header
ktap_set_plan 27

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

OUT=$DM_RESULTS/pair-75-active-active
mkdir -p "$OUT"
MB=32
SECTORS=$((MB * 2048))
FIOARGS="--rw=randwrite --bs=4k --iodepth=8"

# fio_a RES TAG OFFSET_MB SIZE_MB [FIO-ARGS]: fio verify on
# /dev/mapper/RES here; fio_b the same on the peer guest.
fio_a() {
	local r=$1 tag=$2 off=$3 size=$4
	shift 4
	dmw_fio "$r" "$OUT/$tag.json" $FIOARGS --offset=${off}M --size=${size}M "$@" \
		>"$OUT/$tag.log" 2>&1 && [ "$(dmw_fio_errors "$OUT/$tag.json")" = 0 ]
}
fio_b() {
	local r=$1 tag=$2 off=$3 size=$4
	shift 4
	peer "dmw_fio $r /tmp/$tag.json $FIOARGS --offset=${off}M --size=${size}M $* \
>/tmp/$tag.log 2>&1 && [ \"\$(dmw_fio_errors /tmp/$tag.json)\" = 0 ] || { tail -n 20 /tmp/$tag.log; false; }"
}

# st_a RES / st_b RES: "STATE OOS/TOTAL"; insync_a / insync_b RES.
st_a() { echo "$(dmw_field "$1" 1) $(dmw_field "$1" 2)"; }
st_b() { peer "echo \$(dmw_field $1 1) \$(dmw_field $1 2)"; }
insync_a() { [ "$(st_a "$1")" = "connected 0/$SECTORS" ]; }
insync_b() { [ "$(st_b "$1")" = "connected 0/$SECTORS" ]; }

res_nodes
ktap_print_msg "A: $ME ($MYADDR), B: $PEERH ($DM_PEER_ADDR)"

for d in a0 am0 a1 am1; do
	dm_on_exit dm_nullb_remove r75$d
done
LA0=$(dm_nullb_create r75a0 $MB)
MA0=$(dm_nullb_create r75am0 4)
LA1=$(dm_nullb_create r75a1 $MB)
MA1=$(dm_nullb_create r75am1 4)
read -r PB0 PM0 PB1 PM1 < <(peer "set -e
echo \$(dm_nullb_create r75b0 $MB) \$(dm_nullb_create r75bm0 4) \$(dm_nullb_create r75b1 $MB) \$(dm_nullb_create r75bm1 4)") ||
	ktap_skip_all "no disks on the peer guest"
dm_on_exit peer "'for d in b0 bm0 b1 bm1; do dm_nullb_remove r75\$d; done'"

# conf NAME PRIMARY IQN A-DISK A-META B-DISK B-META [RESOURCE-LINES]
conf() {
	cat <<EOF
# resource $1: written by selftests/pair/75-active-active.sh
[resource]
target_iqn = $3
primary = $2
$8
[options]
nosync = yes
peer_timeout = 5000

[node $ME]
disk = $4
meta = $5
address = $MYADDR
initiator = $INI

[node $PEERH]
disk = $6
meta = $7
address = $DM_PEER_ADDR
initiator = $PINI
EOF
}
res_install_conf aa0.conf "$(conf aa0 "$ME" "$DM_IQN_PREFIX:r75a" "$LA0" "$MA0" "$PB0" "$PM0" \
	"chap_user = mirror0
chap_secret_file = $CONFDIR/aa0.secret")"
res_install_conf aa1.conf "$(conf aa1 "$PEERH" "$DM_IQN_PREFIX:r75b" "$LA1" "$MA1" "$PB1" "$PM1")"
(umask 077; echo s3cret-s3cret-75 >"$CONFDIR/aa0.secret")
peer "(umask 077; echo s3cret-s3cret-75 >$CONFDIR/aa0.secret)"
rm -rf /var/lib/dualmirror
peer "rm -rf /var/lib/dualmirror"
dm_on_exit "rm -rf $CONFDIR /var/lib/dualmirror; peer 'rm -rf $CONFDIR /var/lib/dualmirror'"
res_on_exit_down "$CTL" down aa0 --force
res_on_exit_down "$CTL" down aa1 --force
res_on_exit_down peer "'scripts/dualmirrorctl down aa0 --force; scripts/dualmirrorctl down aa1 --force'"
res_on_exit_down "$CTL" down aa0
res_on_exit_down "$CTL" down aa1
res_on_exit_down peer "'scripts/dualmirrorctl down aa0; scripts/dualmirrorctl down aa1'"

ktap_print_msg "at ${SECONDS}s: up"
# ---- 1. up on both, fio on both at once ---------------------------------------------
a=$(pctl up aa0)
b=$("$CTL" up aa1 2>&1)
assert_match "the peers first: aa0 on B, aa1 on A" "^aa0: up \(peer: $PB0 .* aa1: up \(peer: $LA1 " \
	"$(echo "$a $b" | tr '\n' ' ')"
a=$("$CTL" up aa0 2>&1)
b=$(pctl up aa1)
assert_match "then the primaries: aa0 on A, aa1 on B" "^aa0: up \(primary: $LA0 .* aa1: up \(primary: $PB1 " \
	"$(echo "$a $b" | tr '\n' ' ')"
dm_wait_for 30 insync_a aa0
peer "dmw_wait_state aa1 connected 30"
assert_eq "A: aa0 primary, aa1 peer; B: aa0 peer, aa1 primary (status --json)" "primary peer peer primary" \
	"$("$CTL" status aa0 --json | json role) $("$CTL" status aa1 --json | json role) $(pctl status aa0 --json | json role) $(pctl status aa1 --json | json role)"
assert_eq "both connected and in sync" "connected 0/$SECTORS connected 0/$SECTORS" "$(st_a aa0) $(st_b aa1)"
fio_b aa1 b1 0 8 >"$OUT/b1.out" 2>&1 &
pid_b=$!
fio_a aa0 a1 0 8
rc_a=$?
wait $pid_b
rc_b=$?
assert_eq "fio verify on A's aa0 and B's aa1 at once" "0 0" "$rc_a $rc_b" || cat "$OUT/b1.out"
assert_true "aa0: the copies are identical" pair_same "$LA0" "$PB0" $SECTORS
assert_true "aa1: the copies are identical" pair_same "$LA1" "$PB1" $SECTORS

ktap_print_msg "at ${SECONDS}s: failover of A"
# ---- 2. node A fails under fio on B's aa1 -------------------------------------------
before=$(peer "dmw_field aa1 3")
fio_b aa1 b2 8 4 --rate_iops=100 >"$OUT/b2.out" 2>&1 &
pid_b=$!
peer "dm_wait_for 60 dmw_field_gt aa1 3 $((before + 50))"
dmsetup suspend --nolockfs --noflush aa0
dmsetup remove -f aa0 >/dev/null 2>&1
dm_wait_for 30 bash -c '! dmsetup info aa0 >/dev/null 2>&1 || dmsetup remove aa0'
"$CTL" down aa1 --force >"$OUT/down-aa1.log" 2>&1
assert_eq "A: aa0's mirror and aa1's export are gone" "no no" \
	"$(dmsetup info aa0 >/dev/null 2>&1 && echo yes || echo no) $(test -d /sys/kernel/config/target/iscsi/$DM_IQN_PREFIX:r75b && echo yes || echo no)"
wait $pid_b
assert_eq "B's aa1: fio verify ran through A's failure without an error" 0 "$?" ||
	cat "$OUT/b2.out"
# The target sees the peer gone at its next write: one more, after A died.
assert_true "fio verify on B's aa1 after A's failure (20-21 MiB)" fio_b aa1 b2b 20 1
assert_eq "B's aa1 is degraded" degraded "$(peer 'dmw_field aa1 1')"
out=$(pctl primary aa0 --force)
rc=$?
ktap_print_msg "B: $out"
assert_match "primary aa0 --force on B: A absent" "^0 .*aa0: primary, peer $ME absent" "$rc $(echo "$out" | tr '\n' ' ')"
assert_eq "B is the primary of both" "primary primary" \
	"$(pctl status aa0 --json | json role) $(pctl status aa1 --json | json role)"
assert_true "B's aa0 holds A's writes (fio --verify_only 0-8 MiB)" fio_b aa0 b3v 0 8 --verify_only
fio_b aa1 b4 12 4 >"$OUT/b4.out" 2>&1 &
pid_b=$!
fio_b aa0 b3 8 4
rc_a=$?
wait $pid_b
rc_b=$?
assert_eq "fio verify on B's aa0 and aa1 at once, both degraded" "0 0" "$rc_a $rc_b" || cat "$OUT/b4.out"
OOS0=$(peer "dmw_oos aa0")
assert_eq "B's aa0: the regions written alone are out of sync (4 MiB)" 8192 "$OOS0"

ktap_print_msg "at ${SECONDS}s: A returns"
# ---- 3. A returns as the peer of both ---------------------------------------------
# aa1 first: B's session to A's aa1 export retries its login; a portal that
# answers without the target would end that session for good.
out=$("$CTL" up aa1 2>&1)
assert_match "A: up aa1 (the peer, as before)" "^aa1: up \(peer: $LA1 " "$out"
out=$("$CTL" secondary aa0 2>&1)
assert_match "A: secondary aa0 (the old primary becomes the peer)" "aa0: secondary" "$out"
out=$(pctl connect aa0)
assert_match "B: connect aa0 (logs in to A's export)" "^aa0: connected to $ME" "$out"
# A function, not bash -c: a new bash would not know dmw_field_is, and the
# wait would always run out (it did, 180 s per run, unnoticed because the
# assertion below comes after it).
peer "resynced() { dmw_field_is aa0 2 0/$SECTORS && dmw_field_is aa1 2 0/$SECTORS &&
	dmw_field_is aa0 1 connected && dmw_field_is aa1 1 connected; }
	dm_wait_for 180 resynced"
assert_eq "B: aa0 and aa1 resynced (aa1 reconnected by itself)" \
	"connected 0/$SECTORS connected 0/$SECTORS" "$(st_b aa0) $(st_b aa1)"
J=$("$CTL" status aa0 --json)
assert_eq "A's aa0 peer disk received only the regions written alone" \
	$((OOS0 * 512)) "$(json stats.total_bytes_written <<<"$J")"
assert_true "aa0: the copies are identical" pair_same "$LA0" "$PB0" $SECTORS
assert_true "aa1: the copies are identical" pair_same "$LA1" "$PB1" $SECTORS
both_b() { fio_b aa0 b5 16 4 && fio_b aa1 b6 16 4; }
assert_true "fio verify on B's aa0 and aa1, mirrored again" both_b

ktap_print_msg "at ${SECONDS}s: down"
a=$(pctl down aa0; pctl down aa1)
b=$("$CTL" down aa0 2>&1; "$CTL" down aa1 2>&1)
# shellcheck disable=SC2034 # RES_DOWN: read by the res_on_exit_down handlers
assert_eq "down: B (primary of both), then A (peer of both)" \
	"aa0: down (primary) aa1: down (primary) aa0: down (peer) aa1: down (peer)" \
	"$(echo "$a $b" | tr '\n' ' ' | sed 's/ $//')" && RES_DOWN=1
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
