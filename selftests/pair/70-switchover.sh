#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 1200
#
# Switchover, failover and online verify of a resource from its config
# file only (dualmirrorctl(8), "Switchover and failover" in
# Documentation/dm-dualmirror.rst). This guest (A) starts as the primary,
# the peer guest (B) as the peer:
#  1. up on both, fio verify on A;
#  2. switchover: "primary" on B is refused while A is the primary;
#     "secondary" on A, "primary" on B: B's /dev/mapper/sw0 holds A's data
#     (fio --verify_only), no resync, fio verify on B, copies identical;
#  3. switch back the same way;
#  4. verify: identical copies exit 0; a region changed behind the mirror
#     on B (fence released, dd to its backing device) is found (exit 1,
#     human and JSON), --resync repairs it; bad usage exits 2;
#  5. failover: A's mirror killed under fio (suspend --noflush, remove
#     -f); "primary --force" on B starts degraded with A absent; A's data
#     verified on B, fio writes 4 MiB on B alone; "secondary" on A makes it
#     the peer, "connect" on B resyncs exactly the regions written alone
#     (the bytes A's peer disk received), copies identical.
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_SELFTESTS/pair/lib-resource.bash"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid
ktap_print_header
ktap_set_plan 47

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

OUT=$DM_RESULTS/pair-70-switchover
mkdir -p "$OUT"
MB=32
SECTORS=$((MB * 2048))
FIOARGS="--rw=randwrite --bs=4k --iodepth=8"

# fio_a TAG OFFSET_MB SIZE_MB [FIO-ARGS]: fio verify on /dev/mapper/sw0
# here; fio_b the same on the peer guest. True when fio passed without an
# error.
fio_a() {
	local tag=$1 off=$2 size=$3
	shift 3
	dmw_fio sw0 "$OUT/$tag.json" $FIOARGS --offset=${off}M --size=${size}M "$@" \
		>"$OUT/$tag.log" 2>&1 && [ "$(dmw_fio_errors "$OUT/$tag.json")" = 0 ]
}
fio_b() {
	local tag=$1 off=$2 size=$3
	shift 3
	peer "dmw_fio sw0 /tmp/$tag.json $FIOARGS --offset=${off}M --size=${size}M $* \
>/tmp/$tag.log 2>&1 && [ \"\$(dmw_fio_errors /tmp/$tag.json)\" = 0 ] || { tail -n 20 /tmp/$tag.log; false; }"
}

# b_holds_0_16: B's /dev/mapper/sw0 holds what fio a1 (A, 0-8 MiB) and b1
# (B, 8-16 MiB) wrote.
b_holds_0_16() {
	fio_b b2v 0 8 --verify_only && fio_b b2w 8 8 --verify_only
}

# state_a / state_b: "STATE OOS/TOTAL" of sw0 on each guest.
state_a() { echo "$(dmw_field sw0 1) $(dmw_field sw0 2)"; }
state_b() { peer "echo \$(dmw_field sw0 1) \$(dmw_field sw0 2)"; }
insync_a() { [ "$(state_a)" = "connected 0/$SECTORS" ]; }
insync_b() { [ "$(state_b)" = "connected 0/$SECTORS" ]; }

res_nodes
ktap_print_msg "A: $ME ($MYADDR, $INI); B: $PEERH ($DM_PEER_ADDR, $PINI)"

L=$(dm_nullb_create r70l $MB)
dm_on_exit dm_nullb_remove r70l
M=$(dm_nullb_create r70m 4)
dm_on_exit dm_nullb_remove r70m
read -r PB PM < <(peer "set -e
echo \$(dm_nullb_create r70p $MB) \$(dm_nullb_create r70pm 4)") ||
	ktap_skip_all "no disks on the peer guest"
dm_on_exit peer "'dm_nullb_remove r70p; dm_nullb_remove r70pm'"

CONF="# resource sw0: written by selftests/pair/70-switchover.sh
[resource]
target_iqn = $DM_IQN_PREFIX:r70
primary = $ME
chap_user = mirror0
chap_secret_file = $CONFDIR/sw0.secret

[options]
nosync = yes
peer_timeout = 5000

[node $ME]
disk = $L
meta = $M
address = $MYADDR
initiator = $INI

[node $PEERH]
disk = $PB
meta = $PM
address = $DM_PEER_ADDR
initiator = $PINI
"
res_install_conf sw0.conf "$CONF"
(umask 077; echo s3cret-s3cret-70 >"$CONFDIR/sw0.secret")
peer "(umask 077; echo s3cret-s3cret-70 >$CONFDIR/sw0.secret)"
rm -rf /var/lib/dualmirror
peer "rm -rf /var/lib/dualmirror"
dm_on_exit "rm -rf $CONFDIR /var/lib/dualmirror; peer 'rm -rf $CONFDIR /var/lib/dualmirror'"
# Whoever is the peer at the end goes down last.
res_on_exit_down "$CTL" down sw0 --force
res_on_exit_down peer "'scripts/dualmirrorctl down sw0 --force'"
res_on_exit_down "$CTL" down sw0
res_on_exit_down peer "'scripts/dualmirrorctl down sw0'"

ktap_print_msg "at ${SECONDS}s: up"
# ---- 1. up on both, fio on A ----------------------------------------------------
out=$(pctl up sw0)
assert_match "up sw0 on B (the config's peer)" "^sw0: up \(peer: $PB is /dev/sd" "$out"
out=$("$CTL" up sw0 2>&1)
assert_match "up sw0 on A (the config's primary)" "^sw0: up \(primary: $L mirrored to /dev/sd" "$out"
dmw_wait_state sw0 connected 30
assert_true "A: /dev/mapper/sw0 connected, in sync" insync_a
assert_true "fio verify on A (0-8 MiB)" fio_a a1 0 8

ktap_print_msg "at ${SECONDS}s: switchover"
# ---- 2. switchover ------------------------------------------------------------------
out=$(pctl primary sw0)
rc=$?
assert_match "primary on B while A is the primary: refused, A is logged in" \
	"^1 .*is logged in to this node's export: run 'secondary sw0' on $ME first" "$rc $(echo "$out" | tr '\n' ' ')"
assert_eq "... and B is still the exporting peer" "peer Connected" \
	"$(pctl status sw0 --json | jsonl role connection)"
out=$("$CTL" secondary sw0 2>&1)
rc=$?
ktap_print_msg "A: $out"
assert_match "secondary sw0 on A: removed, exported as the peer" \
	"^0 sw0: up \(peer: $L is /dev/sd.* sw0: secondary" "$rc $(echo "$out" | tr '\n' ' ')"
assert_eq "A: no /dev/mapper/sw0, no session, role peer (kept in the state dir)" "no none peer peer" \
	"$(test -e /dev/mapper/sw0 && echo yes || echo no) $(iscsiadm -m session 2>/dev/null | grep -c r70 | sed 's/^0$/none/') $(cat /var/lib/dualmirror/sw0.role) $("$CTL" status sw0 --json | json role)"
assert_match "secondary sw0 on A again: nothing to do" 'already up' "$("$CTL" secondary sw0 2>&1)"
out=$(pctl primary sw0)
rc=$?
ktap_print_msg "B: $out"
assert_match "primary sw0 on B: mirrored to A" "^0 sw0: primary \($PB mirrored to /dev/sd.* on $ME" "$rc $out"
assert_eq "B: connected and in sync at once (no resync), role primary" \
	"connected 0/$SECTORS primary" "$(state_b) $(peer 'cat /var/lib/dualmirror/sw0.role')"
assert_match "primary sw0 on B again: nothing to do" 'already primary' "$(pctl primary sw0)"
assert_true "B holds A's writes (fio --verify_only 0-8 MiB on B)" fio_b b1v 0 8 --verify_only
assert_true "fio verify on B (8-16 MiB)" fio_b b1 8 8
assert_true "the copies are identical" pair_same "$L" "$PB" $SECTORS

ktap_print_msg "at ${SECONDS}s: switch back"
# ---- 3. switch back ------------------------------------------------------------------
out=$(pctl secondary sw0)
assert_match "secondary sw0 on B" 'sw0: secondary' "$out"
out=$("$CTL" primary sw0 2>&1)
assert_match "primary sw0 on A" "^sw0: primary \($L mirrored to /dev/sd" "$out"
assert_eq "A: connected and in sync at once" "connected 0/$SECTORS" "$(state_a)"
assert_true "A holds B's writes (fio --verify_only 8-16 MiB on A)" fio_a a2v 8 8 --verify_only
assert_true "the copies are identical" pair_same "$L" "$PB" $SECTORS

ktap_print_msg "at ${SECONDS}s: verify"
# ---- 4. verify -----------------------------------------------------------------------
out=$("$CTL" verify sw0 2>&1)
rc=$?
ktap_print_msg "$out"
assert_match "verify sw0: identical, exit 0" "^0 sw0: compared 64 regions of 1024 sectors .*: identical" "$rc $out"
assert_eq "verify --json: identical, no differing region" "True []" \
	"$("$CTL" verify sw0 --json | jsonl identical differing_regions)"
# Region 40 changed on B behind the mirror's back.
peer "h=\$(scripts/dualmirrorctl status sw0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"host\"])')
echo 1 >/sys/class/scsi_host/\$h/dualmirror/release
dd if=/dev/urandom of=$PB bs=4k count=2 seek=$((40 * 128 + 3)) oflag=direct conv=notrunc status=none"
out=$("$CTL" verify sw0 2>&1)
rc=$?
ktap_print_msg "$out"
assert_match "verify finds the changed region (exit 1, sectors and region)" \
	"^1 sw0: compared 64 regions .*: 1 differ +sectors 40960-41983 \(regions 40-40\)" "$rc $(echo "$out" | tr '\n' ' ')"
J=$("$CTL" verify sw0 --json)
assert_eq "verify --json: region 40, sector 40960, 1024 sectors" "[40] 40960 1024 False" \
	"$(jsonl differing_regions differing_ranges.0.sector differing_ranges.0.count identical <<<"$J")"
out=$("$CTL" verify sw0 --resync 2>&1)
rc=$?
assert_match "verify --resync: exit 1, resync requested" "^1 .*regions 40-40\): resync requested" "$rc $(echo "$out" | tr '\n' ' ')"
dm_wait_for 60 insync_a
out=$("$CTL" verify sw0 2>&1)
assert_match "after the resync: verify says identical" "^0 .*identical" "$? $out"
assert_true "the copies are identical" pair_same "$L" "$PB" $SECTORS
out=$(pctl verify sw0)
assert_match "verify on the peer: refused (exit 1), it runs on the primary" \
	"^1 .*verify runs on the primary \($ME\)" "$? $out"

ktap_print_msg "at ${SECONDS}s: failover"
# ---- 5. failover -----------------------------------------------------------------------
before=$(dmw_field sw0 3)
dmw_fio sw0 "$OUT/a3.json" $FIOARGS --offset=24M --size=4M --time_based --runtime=120 \
	>"$OUT/a3.log" 2>&1 &
fio_pid=$!
dm_wait_for 60 dmw_field_gt sw0 3 $((before + 200))
ktap_print_msg "A killed under fio after $(($(dmw_field sw0 3) - before)) inline writes"
dmsetup suspend --nolockfs --noflush sw0
kill -9 $fio_pid 2>/dev/null
dmsetup remove -f sw0 >/dev/null 2>&1
wait $fio_pid 2>/dev/null
dm_wait_for 30 bash -c '! dmsetup info sw0 >/dev/null 2>&1 || dmsetup remove sw0'
assert_false "A's mirror is gone (its role killed)" dmsetup info sw0
out=$(pctl primary sw0)
assert_match "primary sw0 on B without --force: refused (A is still logged in)" \
	"^1 .*is logged in to this node's export" "$? $(echo "$out" | tr '\n' ' ')"
out=$(pctl primary sw0 --force)
rc=$?
ktap_print_msg "B: $out"
assert_match "primary sw0 --force on B: up with A absent" "^0 .*sw0: primary, peer $ME absent \(degraded\)" \
	"$rc $(echo "$out" | tr '\n' ' ')"
J=$(pctl status sw0 --json)
assert_eq "B: degraded, peer absent, connection Connecting" "degraded True Connecting" \
	"$(jsonl state peer_absent connection <<<"$J")"
assert_true "B holds every write acknowledged before (fio --verify_only 0-8, 8-16 MiB)" \
	b_holds_0_16
assert_true "fio verify on B alone (16-20 MiB: 8 regions)" fio_b b2 16 4
OOS=$(peer "dmw_oos sw0")
assert_eq "B: the 8 regions written alone are out of sync" 8192 "$OOS"
out=$(pctl connect sw0)
assert_match "connect sw0 on B before A is back: refused, nothing changed" \
	"^1 .*not reachable yet.*run 'secondary sw0' on $ME" "$? $(echo "$out" | tr '\n' ' ')"
out=$("$CTL" secondary sw0 2>&1)
rc=$?
ktap_print_msg "A: $out"
assert_match "secondary sw0 on A (the old primary rejoins as the peer)" "^0 sw0: up \(peer: " "$rc $out"
out=$(pctl connect sw0)
rc=$?
ktap_print_msg "B: $out"
assert_match "connect sw0 on B: logged in to A's export" "^0 sw0: connected to $ME" "$rc $out"
peer "dm_wait_for 120 dmw_field_is sw0 2 0/$SECTORS; dmw_wait_state sw0 connected 30"
assert_eq "B: resynced, connected" "connected 0/$SECTORS" "$(state_b)"
J=$("$CTL" status sw0 --json)
assert_eq "A's peer disk received exactly the regions written alone (bytes)" \
	$((OOS * 512)) "$(json stats.total_bytes_written <<<"$J")"
assert_eq "B: no peer absent any more, no stand-in left" "False 0" \
	"$(pctl status sw0 --json | json peer_absent) $(peer 'dmsetup ls | grep -c dualmirror-absent')"
assert_true "the copies are identical" pair_same "$L" "$PB" $SECTORS
assert_true "fio verify on B, mirrored again (20-24 MiB)" fio_b b3 20 4
assert_true "the copies are identical" pair_same "$L" "$PB" $SECTORS

ktap_print_msg "at ${SECONDS}s: down"
out=$(pctl down sw0)
a=$?
"$CTL" down sw0 >/dev/null 2>&1
# shellcheck disable=SC2034 # RES_DOWN: read by the res_on_exit_down handlers
assert_eq "down on B (the primary now), then on A" "0 0" "$a $?" && RES_DOWN=1
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
