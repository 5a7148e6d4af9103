#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# A resource from a config file (dualmirror.conf(5)), the same file on both
# guests: "dualmirrorctl up r0" on the peer, then on the primary; fio
# verify on /dev/mapper/r0; "status" and "status --json" against dmsetup
# status; disconnect / connect (resync); down on both while regions are
# out of sync and up again (the metadata keeps them, the peer disk keeps
# its serial number; up --wait on the primary with the peer down waits,
# fails and leaves nothing); adjust (a new table, the bitmap kept); bad
# config files refused with FILE:LINE and nothing changed. (Usage errors,
# --help and the systemd unit are checked on the host:
# selftests/host/ctl_test.sh.)
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_SELFTESTS/pair/lib-resource.bash"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid
ktap_print_header
ktap_set_plan 53

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

OUT=$DM_RESULTS/pair-60-resource
mkdir -p "$OUT"
MB=32
SECTORS=$((MB * 2048))

res_nodes
ktap_print_msg "primary $ME ($MYADDR, $INI), peer $PEERH ($DM_PEER_ADDR)"

L=$(dm_nullb_create r60l $MB)
dm_on_exit dm_nullb_remove r60l
M=$(dm_nullb_create r60m 4)
dm_on_exit dm_nullb_remove r60m
read -r PB PM < <(peer "set -e
echo \$(dm_nullb_create r60p $MB) \$(dm_nullb_create r60pm 4)") ||
	ktap_skip_all "no disks on the peer guest"
dm_on_exit peer "'dm_nullb_remove r60p; dm_nullb_remove r60pm'"

CONF="# resource r0: written by selftests/pair/60-resource.sh
[resource]
target_iqn = $DM_IQN_PREFIX:r60
primary = $ME
chap_user = primary0
chap_secret_file = $CONFDIR/r0.secret

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
port = 3260
"
res_install_conf r0.conf "$CONF"
( umask 077; echo s3cret-s3cret-60 >"$CONFDIR/r0.secret" )
peer "(umask 077; echo s3cret-s3cret-60 >$CONFDIR/r0.secret)"
dm_on_exit "rm -rf $CONFDIR /var/lib/dualmirror; peer 'rm -rf $CONFDIR /var/lib/dualmirror'"
res_on_exit_down peer "'scripts/dualmirrorctl down r0 --force'"
res_on_exit_down "$CTL" down r0

ktap_print_msg "at ${SECONDS}s: a bad config file"
# ---- bad config files -----------------------------------------------------------
BAD="[resource]
target_iqn = iqn.bad
primary = $ME
[options]
region_size = 1000
nosync = maybe
colour = blue
[node $ME]
disk = $L
meta = $M
address = $MYADDR
[node $PEERH]
disk = relative/path
address = 169.254.10.2
"
res_install_conf bad.conf "$BAD"
before=$(dmsetup ls; iscsiadm -m session 2>&1; ls /etc/iscsi/nodes 2>/dev/null)
out=$("$CTL" up bad 2>&1)
rc=$?
ktap_print_msg "$(echo "$out" | head -n 8)"
assert_eq "up with a bad file fails (exit 1)" 1 "$rc"
assert_match "every error with FILE:LINE" \
	"bad.conf:2: target_iqn: .*bad.conf:5: region_size: 1000 is not a power of 2.*bad.conf:6: nosync: .*bad.conf:7: unknown key 'colour'.*bad.conf:12: \[node $PEERH\]: missing 'meta'.*bad.conf:13: disk: 'relative/path' is not an absolute path" \
	"$(echo "$out" | tr '\n' ' ')"
assert_eq "... and nothing changed on the primary" "$before" \
	"$(dmsetup ls; iscsiadm -m session 2>&1; ls /etc/iscsi/nodes 2>/dev/null)"
out=$(peer "scripts/dualmirrorctl up bad 2>&1; echo rc=\$?; ls /sys/kernel/config/target/iscsi 2>/dev/null | grep -c iqn; cat /sys/devices/dualmirror_peer/peers 2>/dev/null | wc -l")
assert_match "... nor on the peer (no target, no peer disk)" 'bad.conf:2: .*rc=1 0 0$' "$(echo "$out" | tr '\n' ' ' | sed 's/ $//')"
out=$("$CTL" check "$CONFDIR/bad.conf" 2>&1)
assert_match "check reports the same" 'bad.conf:5: region_size' "$out"
rm -f "$CONFDIR/bad.conf"
assert_match "check r0: ok" 'r0.conf: ok' "$("$CTL" check r0 2>&1)"
out=$("$CTL" --node nosuchhost up r0 2>&1)
assert_match "a node that is not in the file is refused" 'this node \(nosuchhost\) is none' "$out"

ktap_print_msg "at ${SECONDS}s: up"
# ---- up ------------------------------------------------------------------------
out=$(peer "scripts/dualmirrorctl up r0 2>&1")
rc=$?
ktap_print_msg "peer: $out"
assert_match "up r0 on the peer exports its disk" "^0 r0: up \(peer: $PB is /dev/sd" "$rc $out"
assert_match "up r0 on the peer again: already up" 'already up' "$(peer "scripts/dualmirrorctl up r0 2>&1")"
PSTAT=$(peer "scripts/dualmirrorctl status r0 --json")
SERIAL=$(json serial <<<"$PSTAT")
assert_match "the peer's status --json gives the disk's serial" '^DMP[0-9a-f]{16}$' "$SERIAL"
out=$("$CTL" up r0 2>&1)
rc=$?
ktap_print_msg "primary: $out"
assert_match "up r0 on the primary creates /dev/mapper/r0" "^0 r0: up \(primary: $L mirrored to /dev/sd.*serial $SERIAL" "$rc $out"
assert_true "/dev/mapper/r0 is a block device" test -b /dev/mapper/r0
assert_match "up r0 on the primary again: already up" 'already up' "$("$CTL" up r0 2>&1)"
T=$(dmsetup table r0)
assert_match "the table: meta_dev and nosync (new metadata), major:minor" \
	"^0 $SECTORS dualmirror $(devnum "$L") [0-9]+:[0-9]+ 5 peer_timeout 5000 meta_dev $(devnum "$M") nosync$" "$T" ||
	ktap_print_msg "table: $T"
assert_true "no secret on any command line (the CHAP secret went into the node record)" \
	bash -c "! grep -rq 's3cret-s3cret-6[0]' /proc/[0-9]*/cmdline 2>/dev/null && grep -rqs 'node.session.auth.password = s3cret-s3cret-6[0]' /etc/iscsi/nodes"
dmw_wait_state r0 connected 30

ktap_print_msg "at ${SECONDS}s: fio, status"
# ---- fio, status -------------------------------------------------------------------
dmw_fio r0 "$OUT/fio1.json" --rw=randwrite --bs=4k --iodepth=8 --size=8M \
	>"$OUT/fio1.log" 2>&1
rc=$?
assert_eq "fio verify on /dev/mapper/r0" "0 0" "$rc $(dmw_fio_errors "$OUT/fio1.json")"
# The status line changes by itself until the bitmap's daemon has cleared
# the regions fio wrote (field 16; each pass also flushes the peer, field
# 11): compare it with the tool's once it is still.
dm_wait_for 60 dmw_field_is r0 16 0
J=$("$CTL" status r0 --json)
echo "$J" >"$OUT/status1.json"
assert_eq "status --json: role, peer node, state, out of sync, generation, writes" \
	"primary $PEERH $(dmw_field r0 1) $(dmw_oos r0) $(dmw_field r0 10) $(dmw_field r0 3)" \
	"$(jsonl role peer_node state out_of_sync_sectors generation inline_ops <<<"$J")"
# Both fields from one python3 start (JV: status_line, peer_identity.serial).
mapfile -t JV < <(json status_line peer_identity.serial <<<"$J")
assert_eq "status --json: every field of the status line" "$(dmsetup status r0 | cut -d' ' -f4-)" \
	"${JV[0]:-}"
assert_eq "status --json: the peer disk's serial as seen from the primary" "$SERIAL" \
	"${JV[1]:-}"
S=$("$CTL" status r0)
ktap_print_msg "$S"
assert_match "status: role, peer, connection, replication" \
	"^r0 role:Primary .*$PEERH role:Peer connection:Connected session:LOGGED_IN.*replication:Established peer-disk:UpToDate" \
	"$(echo "$S" | tr '\n' ' ')"
assert_match "status with no NAME lists r0" '^r0 role:Primary' "$("$CTL" status)"
PJ=$(peer "scripts/dualmirrorctl status r0 --json")
assert_eq "peer: status --json: role, connection, the primary's session" "peer Connected $INI" \
	"$(jsonl role connection sessions.0 <<<"$PJ")"
assert_match "peer: status" "^r0 role:Peer .*$ME role:Primary connection:Connected" \
	"$(peer "scripts/dualmirrorctl status r0" | tr '\n' ' ')"
out=$(peer "scripts/dualmirrorctl down r0 2>&1")
assert_match "down on the peer while the primary is logged in: refused" 'is logged in.*first' "$out"

ktap_print_msg "at ${SECONDS}s: disconnect, connect"
# ---- disconnect / connect --------------------------------------------------------
assert_match "disconnect r0" 'disconnected \(degraded\)' "$("$CTL" disconnect r0 2>&1)"
dd if=/dev/urandom of=/dev/mapper/r0 bs=1M count=2 seek=12 oflag=direct status=none
assert_match "status while disconnected: Disconnected, out of sync" \
	'connection:Disconnected .*peer-disk:Inconsistent done:9[0-9]' "$("$CTL" status r0 | tr '\n' ' ')"
assert_true "out-of-sync sectors after writes while disconnected" test "$(dmw_oos r0)" -gt 0
assert_match "connect r0" 'connected' "$("$CTL" connect r0 2>&1)"
dm_wait_for 60 dmw_field_is r0 2 "0/$SECTORS"
assert_eq "connect: resynced, in sync" "connected 0/$SECTORS" "$(dmw_field r0 1) $(dmw_field r0 2)"
assert_true "the copies are identical" pair_same "$L" "$PB" "$SECTORS"

ktap_print_msg "at ${SECONDS}s: down while out of sync, up"
# ---- down and up: the metadata keeps what is out of sync ------------------------------
"$CTL" disconnect r0 >/dev/null
dd if=/dev/urandom of=/dev/mapper/r0 bs=1M count=3 seek=20 oflag=direct status=none
OOS=$(dmw_oos r0)
assert_true "out of sync before down ($OOS sectors)" test "$OOS" -gt 0
assert_match "down r0 on the primary" '^r0: down \(primary\)' "$("$CTL" down r0 2>&1)"
assert_false "no dm device, no session left" bash -c "dmsetup info r0 >/dev/null 2>&1 || iscsiadm -m session 2>/dev/null | grep -q r60"
assert_match "down r0 on the primary again: nothing to do" '^r0: down' "$("$CTL" down r0 2>&1)"
assert_match "down r0 on the peer" '^r0: down \(peer\)' "$(peer "scripts/dualmirrorctl down r0 2>&1")"
assert_eq "the peer has no peer disk and no target left" "no peer disks 0" \
	"$(peer "scripts/dualmirrorctl peer status; ls /sys/kernel/config/target/iscsi | grep -c r60" | tr '\n' ' ' | sed 's/ $//')"
assert_true "the bitmap on the metadata device names regions out of sync" \
	"$DM_PYTHON" -c 'import sys; f = open(sys.argv[1], "rb"); f.seek(4096); sys.exit(not any(f.read(4096)))' "$M"
t0=$SECONDS
out=$("$CTL" up r0 --wait 4 2>&1)
rc=$?
waited=$((SECONDS - t0 >= 4))
left=$(dmsetup info r0 >/dev/null 2>&1 && echo dm; iscsiadm -m session 2>/dev/null | grep r60)
assert_match "up --wait 4 on the primary, the peer down: waits 4 s, fails, leaves nothing" \
	"^1 waited:1 left:none .*waiting up to 4 s.*cannot reach .*\(waited 4 s\)" \
	"$rc waited:$waited left:${left:-none} $(echo "$out" | tr '\n' ' ')"
peer "scripts/dualmirrorctl up r0" >/dev/null 2>&1
assert_eq "up again on the peer: the same serial number" "$SERIAL" \
	"$(peer "scripts/dualmirrorctl status r0 --json" | json serial)"
out=$("$CTL" up r0 2>&1)
assert_match "up again on the primary" "^r0: up \(primary: .*serial $SERIAL" "$out"
assert_no_match "the table has no nosync (existing metadata)" 'nosync' "$(dmsetup table r0)"
dm_wait_for 60 dmw_field_is r0 2 "0/$SECTORS"
assert_eq "resynced from the metadata" "connected 0/$SECTORS" "$(dmw_field r0 1) $(dmw_field r0 2)"
assert_true "the copies are identical" pair_same "$L" "$PB" "$SECTORS"

ktap_print_msg "at ${SECONDS}s: adjust"
# ---- adjust ---------------------------------------------------------------------------
dmw_fio r0 "$OUT/fio2.json" --rw=randwrite --bs=16k --iodepth=4 --size=8M --offset=16M \
	>"$OUT/fio2.log" 2>&1 &
fio_pid=$!
res_install_conf r0.conf "${CONF/peer_timeout = 5000/peer_timeout = 4000
inline_max = 8192
resync_rate = 20000}"
out=$("$CTL" adjust r0 2>&1)
assert_match "adjust r0 under fio: a new table" 'adjusted \(primary\)' "$out" || ktap_print_msg "$out"
assert_match "the table has the new options" ' inline_max 8192 peer_timeout 4000 resync_rate 20000 meta_dev ' "$(dmsetup table r0)"
wait $fio_pid
rc=$?
assert_eq "fio verified across the reload" "0 0" "$rc $(dmw_fio_errors "$OUT/fio2.json")"
assert_match "adjust again: nothing to adjust" 'nothing to adjust' "$("$CTL" adjust r0 2>&1)"
assert_match "adjust on the peer: nothing to adjust" 'nothing to adjust' "$(peer "scripts/dualmirrorctl adjust r0 2>&1")"
T=$(dmsetup table r0)
res_install_conf r0.conf "${CONF/nosync = yes/nosync = yes
region_size = 1000}"
out=$("$CTL" adjust r0 2>&1)
rc=$?
assert_match "adjust with a bad file: refused with FILE:LINE, the table unchanged" \
	"^1 .*r0.conf:10: region_size: 1000 is not a power of 2 $T\$" "$rc $(echo "$out" | tr '\n' ' ')$(dmsetup table r0)"
res_install_conf r0.conf "$CONF"
dm_wait_for 60 dmw_field_is r0 2 "0/$SECTORS"

ktap_print_msg "at ${SECONDS}s: down"
"$CTL" down r0 >/dev/null 2>&1
a=$?
peer "scripts/dualmirrorctl down r0" >/dev/null 2>&1
# shellcheck disable=SC2034 # RES_DOWN: read by the res_on_exit_down handlers
assert_eq "down on the primary, then on the peer" "0 0" "$a $?" && RES_DOWN=1
assert_true "the copies are identical" pair_same "$L" "$PB" "$SECTORS"
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
