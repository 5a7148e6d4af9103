#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The iSCSI session between the two guests: the peer's export with an ACL
# and CHAP (a wrong secret is refused; a right one attaches); the session
# logged out in the middle of fio: fio sees no error, the mirror goes
# degraded with the regions written meanwhile out of sync, the local copy
# verifies, and reconnect is refused while the peer disk is gone.
# timeout: 420
. "$(dirname "$0")/../lib.sh"
. "$DM_SELFTESTS/vm/lib-primary.bash"
. "$DM_SELFTESTS/pair/lib-pair.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
pair_require
dm_require_cmd dmsetup fio iscsiadm iscsid
ktap_print_header
ktap_set_plan 14

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

CTL=$DM_REPO/scripts/dualmirrorctl
OUT=$DM_RESULTS/pair-30-session
mkdir -p "$OUT"
MB=32
SECTORS=$((MB * 2048))
L=$(dm_nullb_create s30l $MB)
dm_on_exit dm_nullb_remove s30l

# CHAP: a peer disk exported for this initiator only, with CHAP. The
# secret travels to the peer in a file, never on a command line.
dm_iscsid_start
INI=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)
IQN=$PAIR_IQN-s30
read -r PB PD < <(peer "set -e
b=\$(dm_nullb_create s30 $MB)
d=\$(scripts/dualmirrorctl peer add \$b)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $IQN --portal $PAIR_PORTAL --allow $INI \
	--chap primary0:s3cret-s3cret >/dev/null
echo \$b \$d") || ktap_skip_all "no peer disk on the peer guest"
dm_on_exit pair_peer_disk_remove s30 "$PD"
dm_on_exit dm_iscsi_logout "$IQN"
assert_false "attach with a wrong CHAP secret fails" \
	"$CTL" primary attach "$PAIR_PORTAL" "$IQN" --chap primary0:wrong-secret
P=$("$CTL" primary attach "$PAIR_PORTAL" "$IQN" --chap primary0:s3cret-s3cret)
assert_true "attach with CHAP prints the peer disk ($P)" test -b "$P"
assert_true "dmsetup create over the CHAP session" \
	dmsetup create s30 --table "0 $SECTORS dualmirror $L $P 1 nosync"
dm_on_exit dmsetup remove -f s30
assert_false "detach refused while the mirror uses the disk" "$CTL" primary detach "$IQN"

# The session goes away in the middle of fio.
dmw_fio s30 "$OUT/logout.json" --rw=randwrite --size=4M --offset=16M --bs=4k \
	--iodepth=8 --io_size=6M --rate_iops=200 >"$OUT/logout.log" 2>&1 &
fio_pid=$!
dm_wait_for 60 dmw_field_gt s30 3 150
# shellcheck disable=SC2016 # expanded by dmw_fio_across's eval
dmw_fio_across $fio_pid 'iscsiadm -m node -T "$IQN" --logout >/dev/null 2>&1'
wait $fio_pid
rc=$?
ktap_print_msg "after logout: $(dmsetup status s30)"
assert_eq "session logout: fio finished without an error" "0 0" \
	"$rc $(dmw_fio_errors "$OUT/logout.json")"
assert_eq "status: degraded" degraded "$(dmw_field s30 1)"
assert_true "out-of-sync sectors non-zero" test "$(dmw_oos s30)" -gt 0
assert_true "local copy verifies" \
	fio --name=dmw --filename="$L" --direct=1 --rw=randwrite --size=4M \
	--offset=16M --bs=4k --io_size=6M --verify=crc32c --verify_only \
	--verify_fatal=1 --verify_state_save=0
assert_false "reconnect fails while the peer disk is gone" \
	dmsetup message s30 0 reconnect
assert_true "dmsetup remove" dmsetup remove s30
assert_false "the session is gone" _primary_session "$IQN"
assert_true "the peer disk is still exported on the peer" \
	peer "scripts/dualmirrorctl peer status | grep -q 'exported as: $IQN'"
assert_true "peer guest: no kernel warning, oops or hang" pair_peer_dmesg_clean
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
