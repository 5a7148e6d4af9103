#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Both modules load and unload cleanly: dm-dualmirror registers the
# "dualmirror" device-mapper target, dualmirror_peer registers a SCSI host
# (proc_name dualmirror_peer) for a backing device it is given, and all of
# it disappears again on removal and rmmod, across repeated cycles, without
# a kernel warning.
# timeout: 240
. "$(dirname "$0")/../lib.sh"

dm_require_vm
ktap_print_header
ktap_set_plan 15

peer_ctl=/sys/devices/dualmirror_peer

# Leave the modules as we found them (vm-run loads them before the job).
was_loaded=()
for m in dm_dualmirror dualmirror_peer; do
	dm_module_loaded "$m" && was_loaded+=("$m")
done
[ ${#was_loaded[@]} -eq 0 ] || dm_on_exit "dm_load_module ${was_loaded[*]}"
dm_on_exit "dm_nullb_remove dmtload"

dm_dmesg_mark
taint_before=$(dm_taint)
dm_unload_modules || ktap_print_msg "could not unload the modules before the test"

assert_true "load dm-dualmirror.ko" dm_load_module dm_dualmirror
assert_true "dm_dualmirror is live" dm_module_loaded dm_dualmirror
assert_match "dmsetup targets lists dualmirror" '^dualmirror +v[0-9]+\.[0-9]+\.[0-9]+' \
	"$(dmsetup targets 2>&1)"

assert_true "load dualmirror_peer.ko" dm_load_module dualmirror_peer
assert_true "peer control directory $peer_ctl" test -w "$peer_ctl/add"

# The peer makes one SCSI host per backing device it is given.
disk=$(dm_nullb_create dmtload 64)
echo "$disk" >"$peer_ctl/add" 2>/dev/null
hosts=$(dm_scsi_hosts dualmirror_peer)
assert_eq "adding $disk registers one SCSI host with proc_name dualmirror_peer" 1 \
	"$(printf '%s' "$hosts" | grep -c '^host')"
host=$(printf '%s\n' "$hosts" | head -n 1)
sd=$(dm_scsi_disk_of "$host" 2>/dev/null)
assert_true "the peer's host has a SCSI disk (${sd:-none})" test -b "${sd:-/nonexistent}"
echo "$host" >"$peer_ctl/remove" 2>/dev/null
assert_eq "removing it removes the host" "" "$(dm_scsi_hosts dualmirror_peer)"
dm_nullb_remove dmtload

assert_true "rmmod dm_dualmirror" dm_unload_module dm_dualmirror
assert_no_match "dualmirror gone from dmsetup targets" '^dualmirror ' \
	"$(dmsetup targets 2>&1)"
assert_true "rmmod dualmirror_peer" dm_unload_module dualmirror_peer
assert_false "no dualmirror_peer module or control directory left" \
	test -e "$peer_ctl" -o -e /sys/module/dualmirror_peer

cycle() {
	local i
	for i in 1 2 3; do
		dm_load_modules || return 1
		[ -e "$peer_ctl/add" ] || return 1
		dmsetup targets | grep -q '^dualmirror ' || return 1
		dm_unload_modules || return 1
		! dm_module_loaded dm_dualmirror && ! dm_module_loaded dualmirror_peer || return 1
	done
}
assert_true "three load/unload cycles" cycle

assert_dmesg_clean "no kernel warning, oops or hang in dmesg"
new=$(($(dm_taint) & ~(taint_before | 4096 | 8192)))
assert_eq "no new taint beyond O/E (out-of-tree, unsigned)" 0 "$new"

ktap_finished
