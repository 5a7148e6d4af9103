# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shell helpers for scripts and tests on the primary node, sourced (the
# selftests source this file). dualmirrorctl itself is the Python program
# (dualmirrorctl.d/dualmirror/primary.py does the same in Python).

# _primary_session IQN: /sys/class/iscsi_session/sessionN of a target.
_primary_session() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s/targetname" ] || continue
		[ "$(cat "$s/targetname")" = "$1" ] && { echo "$s"; return 0; }
	done
	return 1
}

# _primary_disks IQN: the disks (/dev/sdX) of a target's session.
_primary_disks() {
	local s host b
	s=$(_primary_session "$1") || return 1
	host=$(basename "$(dirname "$(readlink -f "$s/device")")")
	for b in /sys/bus/scsi/devices/"${host#host}":*:*:*/block/*; do
		if [ -e "$b" ]; then
			echo "/dev/${b##*/}"
		fi
	done
	return 0
}
