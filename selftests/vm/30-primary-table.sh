#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The dualmirror table line: every malformed line is refused with its own
# message and leaves nothing behind (no device, no module reference); a
# good line loads, re-emits itself exactly and reports "connected"; rmmod
# is refused while a device exists and is clean after dmsetup remove.
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-primary.bash"

dm_require_vm
dm_require_cmd dmsetup
ktap_print_header
ktap_set_plan 40

dm_dmesg_mark
dm_load_module dm_dualmirror || ktap_print_msg "cannot load dm-dualmirror"

# Local disks: 64 MiB and 16 MiB; peer backing 32 MiB; a plain SCSI disk
# (scsi_debug) that does not speak the wire format; a brd RAM disk.
L=$(dm_nullb_create dmwl 64)
dm_on_exit dm_nullb_remove dmwl
S=$(dm_nullb_create dmws 16)
dm_on_exit dm_nullb_remove dmws
PB=$(dm_nullb_create dmwpb 32)
dm_on_exit dm_nullb_remove dmwpb
dm_brd_load 1 8
dm_on_exit dm_unload_module brd
SD=$(dm_scsi_debug_load dev_size_mb=16)
dm_on_exit dm_unload_module scsi_debug
# Metadata devices: a 1 MiB disk, and 4 KiB (room for a superblock only).
META=$(dm_nullb_create dmwmeta 1)
dm_on_exit dm_nullb_remove dmwmeta
dmsetup create dmwtiny --table "0 8 linear $S 0"
dm_on_exit dmsetup remove dmwtiny
TINY=/dev/mapper/dmwtiny

P=
if read -r PH P < <(dmw_peer_add "$PB"); then
	dm_on_exit dmw_peer_remove "$PH"
else
	ktap_print_msg "no dualmirror peer disk: peer module missing or not ready"
fi
ktap_print_msg "local $L small $S peer $P (host $PH, backing $PB) scsi_debug $SD"

SECTORS=$((32 * 2048))

# refuse NAME TABLE MESSAGE: dmsetup create fails and the kernel log names
# MESSAGE as the dualmirror error.
refuse() {
	local name=$1 table=$2 msg=$3 log
	dm_dmesg_mark
	if dmsetup create dmwbad --table "$table" >/dev/null 2>&1; then
		dmsetup remove dmwbad
		ktap_print_msg "table accepted: $table"
		ktap_test_fail "$name"
		return
	fi
	dmsetup remove dmwbad >/dev/null 2>&1
	log=$(dm_dmesg_since_mark)
	assert_match "$name" "dualmirror: $msg" "$log"
}

need_peer() {
	[ -n "$P" ] && return 0
	ktap_test_skip "$1" "no peer disk"
	return 1
}

T="0 $SECTORS dualmirror"
refuse "no peer device" "$T $L" "Invalid argument count"
refuse "feature count larger than the arguments" "$T $L ${P:-$SD} 2 inline_max" \
	"Invalid number of feature arguments"
refuse "feature count not a number" "$T $L ${P:-$SD} x" \
	"Invalid number of feature arguments"
refuse "feature without a value" "$T $L ${P:-$SD} 1 inline_max" \
	"Feature argument without a value"
refuse "unknown feature" "$T $L ${P:-$SD} 2 bogus 1" "Unknown feature argument"
refuse "inline_max not a multiple of 512" "$T $L ${P:-$SD} 2 inline_max 1000" \
	"Invalid inline_max: not a multiple of 512"
refuse "inline_max above 128 KiB" "$T $L ${P:-$SD} 2 inline_max 131584" \
	"Invalid inline_max: bytes from 0 to 131072"
refuse "inline_max not a number" "$T $L ${P:-$SD} 2 inline_max 32k" \
	"Invalid inline_max: bytes from 0 to 131072"
refuse "duplicate inline_max" "$T $L ${P:-$SD} 4 inline_max 512 inline_max 1024" \
	"Duplicate feature inline_max"
refuse "peer_timeout too small" "$T $L ${P:-$SD} 2 peer_timeout 50" \
	"Invalid peer_timeout: milliseconds from 100 to 60000"
refuse "peer_timeout too large" "$T $L ${P:-$SD} 2 peer_timeout 120000" \
	"Invalid peer_timeout: milliseconds from 100 to 60000"
refuse "duplicate peer_timeout" "$T $L ${P:-$SD} 4 peer_timeout 500 peer_timeout 500" \
	"Duplicate feature peer_timeout"
refuse "region_size not a power of 2" "$T $L ${P:-$SD} 2 region_size 1000" \
	"Invalid region_size: not a power of 2"
refuse "region_size too small" "$T $L ${P:-$SD} 2 region_size 4" \
	"Invalid region_size: sectors from 8 to 16777216"
refuse "arguments after the features" "$T $L ${P:-$SD} 2 inline_max 512 extra" \
	"Unexpected arguments after the features"
refuse "missing local device" "$T /dev/nonexistent ${P:-$SD}" \
	"Error opening local device"
refuse "local device too small" "$T $S ${P:-$SD}" "Local device is too small"
refuse "missing peer device" "$T $L /dev/nonexistent" "Error opening peer device"
refuse "peer and local the same" "$T $L $L" "Local and peer device are the same"
refuse "peer not a SCSI disk (brd)" "$T $L /dev/ram0" "Peer device is not a SCSI disk"
refuse "plain SCSI disk refused (scsi_debug)" "0 16384 dualmirror $L $SD" \
	"Peer does not speak dualmirror"
refuse "duplicate nosync" "$T $L ${P:-$SD} 2 nosync nosync" "Duplicate feature nosync"
refuse "resync_rate not a number" "$T $L ${P:-$SD} 2 resync_rate fast" \
	"Invalid resync_rate: KiB/s from 0 to 4194304"
refuse "missing metadata device" "$T $L ${P:-$SD} 2 meta_dev /dev/nonexistent" \
	"Error opening metadata device"
if need_peer "metadata device is the local device"; then
	refuse "metadata device is the local device" "$T $L $P 2 meta_dev $L" \
		"Metadata device is the local or the peer device"
fi
if need_peer "metadata device too small"; then
	refuse "metadata device too small" "$T $L $P 2 meta_dev $TINY" \
		"Metadata device too small for the bitmap"
fi
if need_peer "metadata device holding something else"; then
	dd if=/dev/urandom of="$META" bs=4k count=1 oflag=direct 2>/dev/null
	refuse "metadata device holding something else" "$T $L $P 2 meta_dev $META" \
		"Metadata device holds something else"
	dd if=/dev/zero of="$META" bs=4k count=1 oflag=direct 2>/dev/null
fi
if need_peer "peer smaller than the target"; then
	refuse "peer smaller than the target" "0 $((48 * 2048)) dualmirror $L $P" \
		"Peer device is too small"
fi

assert_eq "no device left behind" "dmwtiny" "$(dmsetup ls 2>&1 | awk '{ print $1 }')"
assert_eq "no module reference left behind" 0 \
	"$(cat /sys/module/dm_dualmirror/refcnt 2>/dev/null)"

good="$L $P 7 inline_max 16384 peer_timeout 2000 region_size 256 nosync"
if need_peer "good table loads"; then
	assert_true "good table loads" dmsetup create dmwt --table "$T $good"
fi
if need_peer "table re-emitted (devices as major:minor)"; then
	assert_eq "table re-emitted (devices as major:minor)" \
		"$T $(dm_majmin "$L") $(dm_majmin "$P") ${good#"$L $P "}" \
		"$(dmsetup table dmwt)"
fi
if need_peer "status: connected, in sync, counters zero"; then
	assert_match "status: connected, in sync, counters zero" \
		"^0 $SECTORS dualmirror connected 0/$SECTORS 0 0 0 0 0 " \
		"$(dmsetup status dmwt)"
fi
# write DEV BYTES: one direct write of BYTES at offset 0.
write() {
	dd if=/dev/urandom of="/dev/mapper/$1" bs="$2" count=1 oflag=direct 2>/dev/null
}
if need_peer "inline_max 16384: 16 KiB inline, 20 KiB split"; then
	write dmwt 16384
	write dmwt 20480
	assert_eq "inline_max 16384: 16 KiB inline, 20 KiB split" "1 3 1 6" \
		"$(dmw_field dmwt 3) $(dmw_field dmwt 4) $(dmw_field dmwt 5) $(dmw_field dmwt 6)"
fi
if need_peer "rmmod refused while a device exists"; then
	assert_false "rmmod refused while a device exists" rmmod dm_dualmirror
fi
if need_peer "dmsetup remove"; then
	assert_true "dmsetup remove" dmsetup remove dmwt
fi
if need_peer "inline_max 0: a 4 KiB write goes split"; then
	dmsetup create dmwt --table "$T $L $P 3 inline_max 0 nosync" &&
		write dmwt 4096
	assert_eq "inline_max 0: a 4 KiB write goes split" "0 1 6" \
		"$(dmw_field dmwt 3) $(dmw_field dmwt 5) $(dmw_field dmwt 6)"
	dmsetup remove dmwt
fi
assert_true "rmmod after remove" dm_unload_module dm_dualmirror
assert_true "load again" dm_load_module dm_dualmirror

assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
ktap_finished
