#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# The peer exported by 'dualmirrorctl peer export' through LIO pscsi and
# logged in to over loopback iSCSI: the standard commands and dd work, all
# 16 CDB bytes of a mirror message arrive (an inline write whose LBA fills
# CDB bytes 11-15 lands exactly there; split writes whose sequence tag
# fills bytes 4-6 match their descriptors; a generation tag in bytes 2-3
# is honoured), a 32 KiB inline write costs no R2T and no Data-Out PDU,
# refusals keep their sense through LIO, and with --allow an initiator
# not on the ACL, or with a wrong CHAP secret, cannot log in.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/peer-lib.bash"

dm_require_vm
dm_require_cmd sg_raw sg_inq sg_vpd sg_readcap sg_turs iscsiadm iscsid
[ -x "$DM_PYTHON" ] && "$DM_PYTHON" -c 'import rtslib_fb' 2>/dev/null ||
	ktap_skip_all "python3-rtslib-fb is not installed"
ktap_print_header
ktap_set_plan 43

IQN_A=$DM_IQN_PREFIX:dmp21a
IQN_B=$DM_IQN_PREFIX:dmp21b
ALLOWED=$DM_IQN_PREFIX:dmp21-allowed
PORTAL=127.0.0.1:3260
dm_dmesg_mark
dm_load_module dualmirror_peer || ktap_skip_all "cannot load dualmirror_peer"
dm_on_exit peer_cleanup_tmp

back=$(dm_nullb_create dmp21a 32) || ktap_skip_all "cannot create a null_blk disk"
dm_on_exit dm_nullb_remove dmp21a
# 4 TiB, memory backed: pages are allocated only where written
big=$(dm_nullb_create dmp21b 4194304) || ktap_skip_all "cannot create a 4 TiB null_blk disk"
dm_on_exit dm_nullb_remove dmp21b
disk=$("$DMCTL" peer add "$back") || ktap_skip_all "peer add failed"
dm_on_exit "\"$DMCTL\" peer remove $disk"
bigdisk=$("$DMCTL" peer add "$big") || ktap_skip_all "peer add failed"
dm_on_exit "\"$DMCTL\" peer remove $bigdisk"
host=$(peer_host_of "$disk")
bighost=$(peer_host_of "$bigdisk")

ktap_print_msg "at ${SECONDS}s: export"
# ---- export --------------------------------------------------------------
dm_on_exit "\"$DMCTL\" peer unexport $IQN_A"
out=$("$DMCTL" peer export "$disk" "$IQN_A" --portal "$PORTAL" 2>&1)
assert_match "peer export without --allow says the target is open" 'OPEN \(demo mode\)' "$out" ||
	ktap_skip_all "export failed: $out"
dm_on_exit "\"$DMCTL\" peer unexport $IQN_B"
out=$("$DMCTL" peer export "$bigdisk" "$IQN_B" --portal "$PORTAL" 2>&1)
assert_match "a second peer disk exported at once" "exported $bigdisk as $IQN_B" "$out"
tpg=/sys/kernel/config/target/iscsi/$IQN_A/tpgt_1
assert_eq "iSCSI parameters for one-trip writes" \
	"ImmediateData=Yes InitialR2T=No MaxRecvDataSegmentLength=65536 FirstBurstLength=65536" \
	"$(for p in ImmediateData InitialR2T MaxRecvDataSegmentLength FirstBurstLength; do
		printf '%s=%s ' "$p" "$(cat "$tpg/param/$p")"; done | sed 's/ $//')"
out=$("$DMCTL" peer export "$disk" "$IQN_A" --portal "$PORTAL" 2>&1)
rc=$?
assert_match "exporting the same target twice is refused" '^1 .*already exists' "$rc $out"
out=$("$DMCTL" peer remove "$disk" 2>&1)
rc=$?
assert_match "peer remove of an exported disk is refused" "^1 .*exported as $IQN_A" "$rc $out"
assert_match "peer status shows the exports" "exported as: $IQN_A.*exported as: $IQN_B" \
	"$("$DMCTL" peer status | tr '\n' ' ')"

dm_on_exit dm_iscsi_logout "$IQN_A"
rdisk=$(dm_iscsi_login "$IQN_A" "$PORTAL" node.session.timeo.replacement_timeout=5)
assert_match "login to the open target gives a disk" '^/dev/sd[a-z]+$' "$rdisk" ||
	ktap_skip_all "iSCSI login failed"
dm_on_exit dm_iscsi_logout "$IQN_B"
rbig=$(dm_iscsi_login "$IQN_B" "$PORTAL")

ktap_print_msg "at ${SECONDS}s: standard commands"
# ---- standard commands through iSCSI ----------------------------------------
assert_match "sg_inq through iSCSI" 'LINUX.*DualMirror Peer' "$(sg_inq "$rdisk" 2>&1 | tr '\n' ' ')"
assert_match "sg_vpd block limits through iSCSI" 'Maximum transfer length: 4096 blocks' \
	"$(sg_vpd -p bl "$rdisk" 2>&1 | tr '\n' ' ')"
assert_match "sg_vpd device identification through iSCSI" 'designator type: NAA' \
	"$(sg_vpd -p di "$rdisk" 2>&1 | tr '\n' ' ')"
assert_match "sg_readcap through iSCSI" 'Last LBA=65535 .*Logical block length=512' \
	"$(sg_readcap -l "$rdisk" 2>&1 | tr '\n' ' ')"
assert_match "sg_readcap of the 4 TiB disk through iSCSI" 'Last LBA=8589934591 ' \
	"$(sg_readcap -l "$rbig" 2>&1 | tr '\n' ' ')"
assert_true "sg_turs through iSCSI" sg_turs "$rdisk"
peer_random "$PEER_TMP/dd" 65536
dd if="$PEER_TMP/dd" of="$rdisk" bs=4k seek=8 oflag=direct status=none
assert_true "dd write through iSCSI reaches the backing device" \
	cmp -s "$PEER_TMP/dd" <(peer_read "$back" 64 128)
assert_true "dd read through iSCSI" \
	cmp -s "$PEER_TMP/dd" <(dd if="$rdisk" bs=4k skip=8 count=16 iflag=direct status=none)

ktap_print_msg "at ${SECONDS}s: all 16 bytes"
# ---- all 16 bytes through LIO -------------------------------------------------
peer_reset_stats "$bighost"
lba=$((0x0123456789))
peer_random "$PEER_TMP/w1" 4096
cdb=$(dmw inline 0 0x0a0b0c "$lba" 8 1)
assert_eq "the CDB fills bytes 9-15" "7f 00 00 00 0a 0b 0c 08 f9 11 07 01 23 45 67 89" "$cdb"
peer_send_expect "INLINE write at LBA 0x0123456789 through iSCSI: GOOD" good "$rbig" \
	"$cdb" -s 4096 -i "$PEER_TMP/w1"
assert_true "it landed at exactly LBA 0x0123456789 (CDB bytes 11-15 arrived)" \
	cmp -s "$PEER_TMP/w1" <(peer_read "$big" "$lba" 8)
assert_eq "the sectors around it are untouched" \
	"$(head -c 4096 /dev/zero | md5sum)" \
	"$( { peer_read "$big" $((lba - 4)) 4; peer_read "$big" $((lba + 8)) 4; } | md5sum)"
assert_eq "the peer counted one inline write of 4096 bytes" \
	"inline_commands=1 inline_data_transfers=1 inline_writes=1 inline_bytes_written=4096" \
	"$(peer_stats "$bighost" inline_commands inline_data_transfers inline_writes inline_bytes_written)"
peer_random "$PEER_TMP/s1" 65536
peer_split "$rbig" "$bighost" data-first "$PEER_TMP/s1" $((lba + 64)) 0x0d0e0f 0
assert_eq "split write through iSCSI, DATA first, sequence tag in bytes 4-6" \
	"good good" "$DATA_SENSE $DESC_SENSE"
peer_random "$PEER_TMP/s2" 40960
peer_split "$rbig" "$bighost" desc-first "$PEER_TMP/s2" $((lba + 256)) 0xf1f2f3 0 2
assert_eq "split write through iSCSI, DESC first (parked), then DATA" \
	"good good" "$DATA_SENSE $DESC_SENSE"
assert_true "both split writes landed exactly" \
	cmp -s <(cat "$PEER_TMP/s1" "$PEER_TMP/s2") \
	<(peer_read "$big" $((lba + 64)) 128; peer_read "$big" $((lba + 256)) 80)
# LIO's buffers are staged by reference (no copy); stage_by_reference=N
# takes the copying path, which must land the same bytes.
echo N >/sys/module/dualmirror_peer/parameters/stage_by_reference
peer_random "$PEER_TMP/s3" 12288
peer_split "$rbig" "$bighost" data-first "$PEER_TMP/s3" $((lba + 512)) 0x0a0b0d 0
echo Y >/sys/module/dualmirror_peer/parameters/stage_by_reference
assert_eq "split write staged by copy (stage_by_reference=N): GOOD, landed exactly" \
	"good good landed" \
	"$DATA_SENSE $DESC_SENSE $(cmp -s "$PEER_TMP/s3" <(peer_read "$big" $((lba + 512)) 24) && echo landed)"
peer_sg "$rbig" "$(dmw claim 32)" -r 32
assert_eq "CLAIM through iSCSI" good "$(peer_sense)"
peer_send_expect "generation tag 0101h in bytes 2-3 (generation 1): refused" "07/27/00" "$rbig" \
	"$(dmw inline 0x0101 1 "$lba" 1)" -s 512 -i "$PEER_TMP/w1"
peer_send_expect "generation tag 0001h (generation 1): GOOD" good "$rbig" \
	"$(dmw inline 1 1 "$lba" 1)" -s 512 -i "$PEER_TMP/w1"
peer_send_expect "plain WRITE(10) through iSCSI to the claimed disk: DATA PROTECT / WRITE PROTECTED" \
	"07/27/00" "$rbig" "2a 00 00 00 00 08 00 00 01 00" -s 512 -i "$PEER_TMP/w1"
assert_eq "counters through iSCSI: every event, exactly" \
	"inline_commands=3 inline_writes=2 split_commands=6 split_data_transfers=6 split_writes=3 split_bytes_written=118784 split_desc_parked=1 split_staged=3 split_staged_copied=1 control_commands=1 claims=1 rejected_generation=1 total_interrupts=19" \
	"$(peer_stats "$bighost" inline_commands inline_writes split_commands split_data_transfers split_writes split_bytes_written split_desc_parked split_staged split_staged_copied control_commands claims rejected_generation total_interrupts)"

ktap_print_msg "at ${SECONDS}s: sense through"
# ---- sense through LIO, one trip per inline write -----------------------------
peer_send_expect "version refused through iSCSI, same sense" "05/24/00 sks=ca field=8" "$rdisk" \
	"7f 00 00 00 00 00 01 08 fa 10 00 00 00 00 00 10" -s 512 -i "$PEER_TMP/w1"
peer_send_expect "lba_range refused through iSCSI" "05/21/00" "$rdisk" \
	"$(dmw inline 0 1 65536 1)" -s 512 -i "$PEER_TMP/w1"
sid=$(iscsiadm -m session 2>/dev/null | awk -v t="$IQN_A" '$4 == t { gsub(/[][]/, "", $2); print $2 }')
pdus() { # "scsicmd dataout r2t" PDU counters of the session
	iscsiadm -m session -r "$sid" -s 2>/dev/null | awk '
		$1 == "scsicmd_pdus:" { c = $2 } $1 == "dataout_pdus:" { d = $2 }
		$1 == "r2t_pdus:" { r = $2 } END { print c + 0, d + 0, r + 0 }'
}
read -r c0 d0 r0 < <(pdus)
peer_random "$PEER_TMP/w32" 32768
peer_send_expect "32 KiB INLINE write through iSCSI" good "$rdisk" \
	"$(dmw inline 0 2 4096 64)" -s 32768 -i "$PEER_TMP/w32"
read -r c1 d1 r1 < <(pdus)
assert_eq "it cost 1 SCSI command PDU, 0 R2T, 0 Data-Out (immediate data)" \
	"scsicmd=1 dataout=0 r2t=0" "scsicmd=$((c1 - c0)) dataout=$((d1 - d0)) r2t=$((r1 - r0))"
assert_true "32 KiB landed" cmp -s "$PEER_TMP/w32" <(peer_read "$back" 4096 64)

ktap_print_msg "at ${SECONDS}s: ACL"
# ---- ACL and CHAP -------------------------------------------------------------
dm_iscsi_logout "$IQN_B"
assert_true "peer unexport" "$DMCTL" peer unexport "$IQN_B"
out=$("$DMCTL" peer export "$bigdisk" "$IQN_B" --portal "$PORTAL" \
	--allow "$ALLOWED" --chap dmpeer:secret-21-chap 2>&1)
assert_match "peer export --allow --chap" "only $ALLOWED may log in, with CHAP" "$out"
out=$("$DMCTL" peer export "$bigdisk" "$IQN_B" --chap a:b 2>&1)
rc=$?
assert_eq "--chap without --allow is a usage error" 2 "$rc"
iscsiadm -m node -o new -T "$IQN_B" -p "$PORTAL" >/dev/null 2>&1
out=$(timeout 60 iscsiadm -m node -T "$IQN_B" -p "$PORTAL" --login 2>&1)
assert_match "an initiator not on the ACL cannot log in" 'authoriz|not found|failed' "$out"
iscsiadm -m node -T "$IQN_B" -o delete >/dev/null 2>&1
iscsiadm -m iface -I dmp21 -o new >/dev/null 2>&1
dm_on_exit "iscsiadm -m iface -I dmp21 -o delete"
iscsiadm -m iface -I dmp21 -o update -n iface.initiatorname -v "$ALLOWED" >/dev/null
login_as_allowed() { # SECRET
	iscsiadm -m node -o new -T "$IQN_B" -p "$PORTAL" -I dmp21 >/dev/null 2>&1
	iscsiadm -m node -T "$IQN_B" -p "$PORTAL" -I dmp21 -o update \
		-n node.session.auth.authmethod -v CHAP >/dev/null &&
	iscsiadm -m node -T "$IQN_B" -p "$PORTAL" -I dmp21 -o update \
		-n node.session.auth.username -v dmpeer >/dev/null &&
	iscsiadm -m node -T "$IQN_B" -p "$PORTAL" -I dmp21 -o update \
		-n node.session.auth.password -v "$1" >/dev/null &&
	timeout 60 iscsiadm -m node -T "$IQN_B" -p "$PORTAL" -I dmp21 --login
}
out=$(login_as_allowed wrong-secret-21 2>&1)
assert_match "the allowed initiator with a wrong CHAP secret is refused" 'authoriz|failed' "$out"
out=$(login_as_allowed secret-21-chap 2>&1)
assert_match "the allowed initiator with the right CHAP secret logs in" 'successful' "$out"
rbig=$(dm_iscsi_disk "$IQN_B")
# the disk was claimed above: release it for plain writes
echo 1 >"/sys/class/scsi_host/$bighost/dualmirror/release"
assert_true "... and can read and write" \
	dd if="$PEER_TMP/w1" of="$rbig" bs=4k seek=1 oflag=direct status=none
dm_iscsi_logout "$IQN_B"
iscsiadm -m node -T "$IQN_B" -I dmp21 -o delete >/dev/null 2>&1
assert_true "peer unexport by disk" "$DMCTL" peer unexport "$bigdisk"
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"

ktap_finished
