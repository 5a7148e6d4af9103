#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test library's LIO / open-iscsi helpers work: a scsi_debug disk
# exported by LIO through the pscsi backstore (dm_lio_export), logged in to
# over loopback iSCSI (dm_iscsi_login) shows up as a new SCSI disk of the
# same size, and data written through it lands on the exported disk.
# timeout: 180
. "$(dirname "$0")/../lib.sh"

dm_require_vm
dm_require_cmd iscsiadm iscsid dd cmp blockdev
dm_require_kmod scsi_debug target_core_pscsi iscsi_target_mod iscsi_tcp
[ -x "$DM_PYTHON" ] && "$DM_PYTHON" -c 'import rtslib_fb' 2>/dev/null ||
	ktap_skip_all "python3-rtslib-fb is not installed"

IQN=$DM_IQN_PREFIX:lib-loopback
ktap_print_header
ktap_set_plan 7

dm_dmesg_mark
dm_on_exit "modprobe -r scsi_debug"
dm_on_exit "dm_lio_clear"
dm_on_exit "dm_iscsi_logout $IQN"

backing=$(dm_scsi_debug_load dev_size_mb=16)
assert_true "scsi_debug disk ${backing:-missing}" test -b "${backing:-/nonexistent}"
assert_true "LIO exports it through pscsi" dm_lio_export "$IQN" "${backing:-/nonexistent}" pscsi

disk=$(dm_iscsi_login "$IQN" 127.0.0.1:3260 node.session.timeo.replacement_timeout=5)
assert_true "iSCSI login over loopback gives a disk (${disk:-none})" test -b "${disk:-/nonexistent}"
assert_eq "same size as the exported disk" "$(blockdev --getsize64 "$backing" 2>&1)" \
	"$(blockdev --getsize64 "${disk:-/nonexistent}" 2>&1)"

write_and_compare() {
	local pat=/tmp/lib-loopback.pat
	head -c 1048576 /dev/urandom >"$pat"
	dd if="$pat" of="$disk" bs=64k seek=16 oflag=direct status=none || return 1
	cmp -n 1048576 "$pat" <(dd if="$backing" bs=64k skip=16 count=16 iflag=direct status=none)
}
assert_true "1 MiB written through iSCSI lands on the exported disk" write_and_compare

dm_iscsi_logout "$IQN"
assert_true "logout and LIO teardown" dm_lio_clear
assert_dmesg_clean "no kernel warning, oops or hang in dmesg"

ktap_finished
