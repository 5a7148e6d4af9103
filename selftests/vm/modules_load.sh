#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Both modules load and unload cleanly: dm-dualmirror registers the
# "dualmirror" device-mapper target, dualmirror_peer registers a SCSI host,
# both disappear again on rmmod, across repeated cycles, without a kernel
# warning.
# timeout: 120
. "$(dirname "$0")/../lib.sh"

dm_require_vm
ktap_print_header
ktap_set_plan 12

# Leave the modules as we found them (vm-run loads them before the job).
was_loaded=()
for m in dm_dualmirror dualmirror_peer; do
	dm_module_loaded "$m" && was_loaded+=("$m")
done
[ ${#was_loaded[@]} -eq 0 ] || dm_on_exit "dm_load_module ${was_loaded[*]}"

dm_dmesg_mark
taint_before=$(dm_taint)
if ! dm_unload_modules; then
	ktap_print_msg "could not unload the modules before the test"
fi

assert_true "load dm-dualmirror.ko" dm_load_module dm_dualmirror &&
	assert_true "dm_dualmirror is live" dm_module_loaded dm_dualmirror ||
	ktap_test_fail "dm_dualmirror is live"
assert_match "dmsetup targets lists dualmirror" '^dualmirror +v[0-9]+\.[0-9]+\.[0-9]+' \
	"$(dmsetup targets 2>&1)"

assert_true "load dualmirror_peer.ko" dm_load_module dualmirror_peer
hosts=$(dm_scsi_hosts dualmirror_peer)
assert_eq "peer registers one SCSI host (proc_name dualmirror_peer)" 1 \
	"$(printf '%s' "$hosts" | grep -c '^host')"

assert_true "rmmod dm_dualmirror" dm_unload_module dm_dualmirror
assert_no_match "dualmirror gone from dmsetup targets" '^dualmirror ' \
	"$(dmsetup targets 2>&1)"
assert_true "rmmod dualmirror_peer" dm_unload_module dualmirror_peer
assert_eq "peer's SCSI host is gone" "" "$(dm_scsi_hosts dualmirror_peer)"

cycle() {
	local i
	for i in 1 2 3; do
		dm_load_modules || return 1
		[ -n "$(dm_scsi_hosts dualmirror_peer)" ] || return 1
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
