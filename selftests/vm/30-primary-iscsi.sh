#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The dualmirror target over iSCSI, both servers in one guest: a
# dualmirror_peer disk exported by LIO (pscsi) and reached over loopback
# iSCSI with "dualmirrorctl primary attach". fio writes with verification;
# the copies are byte-identical; operations, interrupts, the peer's
# counters and open-iscsi's per-PDU counters agree; logging the session
# out in the middle of fio degrades the target without an error for fio.
# timeout: 420
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-primary.bash"
. "$DM_REPO/scripts/dualmirrorctl.d/primary.sh"

dm_require_vm
dm_require_cmd dmsetup fio iscsiadm iscsid
dm_require_kmod target_core_pscsi iscsi_target_mod iscsi_tcp
ktap_print_header
ktap_set_plan 41

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

MB=32
SECTORS=$((MB * 2048))
OUT=$DM_RESULTS/30-primary-iscsi
IQN=$DM_IQN_PREFIX:dmw-peer
mkdir -p "$OUT"

# The peer server: backing disk, dualmirror_peer disk, LIO export with
# one-trip writes up to 256 KiB (no R2T, data in the command PDU).
L=$(dm_nullb_create dmwl $MB)
dm_on_exit dm_nullb_remove dmwl
PB=$(dm_nullb_create dmwpb $MB)
dm_on_exit dm_nullb_remove dmwpb
read -r PH PLOCAL < <(dmw_peer_add "$PB") || ktap_skip_all "no dualmirror peer disk"
dm_on_exit dmw_peer_remove "$PH"
dm_on_exit dm_lio_clear
assert_true "LIO exports the peer disk (pscsi)" dm_lio_export "$IQN" "$PLOCAL" pscsi \
	--param InitialR2T=No --param ImmediateData=Yes \
	--param FirstBurstLength=262144 --param MaxRecvDataSegmentLength=262144

# The primary: open-iscsi over loopback.
dm_iscsid_start
dm_on_exit dm_iscsi_logout "$IQN"
CTL=$DM_REPO/scripts/dualmirrorctl
P=$("$CTL" primary attach 127.0.0.1 "$IQN")
assert_true "dualmirrorctl primary attach prints the peer disk ($P)" test -b "$P"
ktap_print_msg "local $L, peer $P over iSCSI -> LIO -> $PLOCAL (host $PH) -> $PB"
SID=$(basename "$(_primary_session "$IQN")")
SID=${SID#session}

assert_true "dmsetup create over iSCSI" \
	dmsetup create dmw --table "0 $SECTORS dualmirror $L $P 2 peer_timeout 5000"
dm_on_exit dmsetup remove -f dmw
assert_true "/dev/mapper/dmw is a block device" test -b /dev/mapper/dmw
assert_false "detach refused while the mirror uses the disk" "$CTL" primary detach "$IQN"

ps() { dmw_peer_stat "$PH" "$1"; }
pdu() { iscsiadm -m session -r "$SID" -s | awk -v k="$1:" '$1 == k { print $2 }'; }

# job NAME FRAMING FIO-ARGS...: run fio with verification; check fio, the
# operation and interrupt counts, the peer's counters and the PDU counts.
job() {
	local name=$1 fr=$2 json=$OUT/$1.json cmd0 rsp0 r2t0 rc writes ops irqs per
	shift 2
	dmsetup message dmw 0 reset_counters
	echo 1 >"/sys/class/scsi_host/$PH/dualmirror_stats/reset"
	cmd0=$(pdu scsicmd_pdus) rsp0=$(pdu scsirsp_pdus) r2t0=$(pdu r2t_pdus)
	dmw_fio dmw "$json" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	ktap_print_msg "$name: $(dmsetup status dmw)"
	ktap_print_msg "$name: PDUs cmd +$(($(pdu scsicmd_pdus) - cmd0)) rsp +$(($(pdu scsirsp_pdus) - rsp0)) r2t +$(($(pdu r2t_pdus) - r2t0)) dataout $(pdu dataout_pdus)"
	assert_eq "$name: fio verified without an error" "0 0" "$rc $(dmw_fio_errors "$json")"
	writes=$(dmw_fio_writes "$json")
	if [ "$fr" = inline ]; then ops=$(dmw_field dmw 3) irqs=$(dmw_field dmw 4) per=3
	else ops=$(dmw_field dmw 5) irqs=$(dmw_field dmw 6) per=6; fi
	assert_eq "$name: $fr operations = fio writes, $per interrupts each" \
		"$writes $((per * writes))" "$ops $irqs"
	assert_eq "$name: the peer counted the same writes and interrupts" \
		"$ops $irqs" "$(ps "${fr}_writes") $(($(ps "${fr}_interrupts") + per * ops / 3))"
	assert_eq "$name: one iSCSI command and one response PDU per command" \
		"$((per * ops / 3)) $((per * ops / 3))" \
		"$(($(pdu scsicmd_pdus) - cmd0)) $(($(pdu scsirsp_pdus) - rsp0))"
	assert_eq "$name: no R2T round trip" 0 $(($(pdu r2t_pdus) - r2t0))
}

job w4k-qd1 inline --rw=randwrite --size=4M --bs=4k --iodepth=1 --io_size=1M
job w4k-qd32 inline --rw=randwrite --size=4M --bs=4k --iodepth=32
job w64k-qd32 split --rw=randwrite --size=8M --offset=8M --bs=64k --iodepth=32
assert_true "local and peer copies byte-identical" dmw_same "$L" "$PB" $SECTORS
assert_match "dualmirrorctl primary status: 6 interrupts per split operation" \
	'^irqs_per_split_op +6\.00$' "$("$CTL" primary status dmw)"

# The link drops in the middle of fio (the LIO TPG disabled: the session
# goes into recovery, its requests stay queued in the initiator): the
# target gives them up after peer_timeout and goes on locally. When the
# TPG is back, reconnect and resync over iSCSI.
TPG=/sys/kernel/config/target/iscsi/$IQN/tpgt_1
logged_in() {
	iscsiadm -m session -r "$SID" -P 1 | grep -q "iSCSI Session State: LOGGED_IN"
}
dmsetup message dmw 0 reset_counters
dmw_fio dmw "$OUT/blip.json" --rw=randwrite --size=4M --offset=12M --bs=4k \
	--iodepth=8 --io_size=8M --rate_iops=300 >"$OUT/blip.log" 2>&1 &
fio_pid=$!
dm_wait_for 60 dmw_field_gt dmw 3 150
echo 0 >"$TPG/enable"
wait $fio_pid
rc=$?
ktap_print_msg "link down: $(dmsetup status dmw)"
assert_eq "link down: fio finished without an error" "0 0" \
	"$rc $(dmw_fio_errors "$OUT/blip.json")"
# In-flight passthrough requests are not retried: they fail at once with a
# transport error; requests queued during recovery are timed out.
assert_match "link down: degraded (transport error or timeout)" \
	'^degraded (transport|timeout)$' "$(dmw_field dmw 1) $(dmw_field dmw 14)"
echo 1 >"$TPG/enable"
assert_true "session logged in again" dm_wait_for 90 logged_in
assert_true "reconnect over iSCSI" dmsetup message dmw 0 reconnect
assert_true "resync over iSCSI finishes: connected" dmw_wait_state dmw connected 120
assert_true "copies byte-identical after the link came back" dmw_same "$L" "$PB" $SECTORS

# The session goes away in the middle of fio.
dmsetup message dmw 0 reset_counters
dmw_fio dmw "$OUT/logout.json" --rw=randwrite --size=4M --offset=16M --bs=4k \
	--iodepth=8 --io_size=8M --rate_iops=300 >"$OUT/logout.log" 2>&1 &
fio_pid=$!
dm_wait_for 60 dmw_field_gt dmw 3 150
iscsiadm -m node -T "$IQN" --logout >/dev/null 2>&1
wait $fio_pid
rc=$?
ktap_print_msg "after logout: $(dmsetup status dmw)"
assert_eq "session logout: fio finished without an error" "0 0" \
	"$rc $(dmw_fio_errors "$OUT/logout.json")"
assert_eq "status: degraded" degraded "$(dmw_field dmw 1)"
assert_true "out-of-sync sectors non-zero" test "$(dmw_oos dmw)" -gt 0
assert_true "local copy verifies" \
	fio --name=dmw --filename="$L" --direct=1 --rw=randwrite --size=4M \
	--offset=16M --bs=4k --io_size=8M --verify=crc32c --verify_only \
	--verify_fatal=1 --verify_state_save=0
assert_false "reconnect fails while the peer disk is gone" \
	dmsetup message dmw 0 reconnect
assert_true "dmsetup remove" dmsetup remove dmw

# CHAP: a second peer disk exported for this initiator only, with CHAP.
IQN2=$DM_IQN_PREFIX:dmw-peer-chap
INI=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)
PB2=$(dm_nullb_create dmwpb2 8)
dm_on_exit dm_nullb_remove dmwpb2
read -r PH2 PLOCAL2 < <(dmw_peer_add "$PB2")
dm_on_exit dmw_peer_remove "$PH2"
dm_on_exit dm_iscsi_logout "$IQN2"
"$CTL" peer export "$PLOCAL2" "$IQN2" --portal 127.0.0.1:3261 --allow "$INI" \
	--chap primary0:s3cret-s3cret >/dev/null
assert_false "attach with a wrong CHAP secret fails" \
	"$CTL" primary attach 127.0.0.1:3261 "$IQN2" --chap primary0:wrong-secret
P2=$("$CTL" primary attach 127.0.0.1:3261 "$IQN2" --chap primary0:s3cret-s3cret)
assert_true "attach with CHAP prints the peer disk ($P2)" test -b "$P2"
assert_true "dmsetup create over the CHAP session" \
	dmsetup create dmw2 --table "0 16384 dualmirror $L $P2"
assert_true "dmsetup remove" dmsetup remove dmw2
assert_true "dualmirrorctl primary detach" "$CTL" primary detach "$IQN2"
assert_false "the session is gone" _primary_session "$IQN2"
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
