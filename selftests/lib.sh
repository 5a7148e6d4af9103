# SPDX-License-Identifier: GPL-2.0
#
# selftests/lib.sh: helpers for the dualmirror VM selftests (bash).
#
# A test is an executable bash script in selftests/vm/ that starts with
#
#	#!/bin/bash
#	# SPDX-License-Identifier: GPL-2.0
#	. "$(dirname "$0")/../lib.sh"
#	dm_require_vm
#	ktap_print_header
#	ktap_set_plan 3
#	...
#	ktap_finished
#
# and prints KTAP / TAP 13: "ok N - name", "not ok N - name",
# "ok N - name # SKIP reason", comments as "# text". It exits 0 (pass),
# 1 (fail) or 4 (skip), which ktap_finished / ktap_skip_all take care of.
# See Documentation/testing.rst for the whole API and conventions.
#
# The lib does not use "set -e": a failed check must print "not ok" and go
# on, not end the script. Use the assertions below for every check.

# ---- environment -----------------------------------------------------------

# In a guest DM_REPO is set (the physical path of the repo): no subshell
# and no dirname then. The peer guest's agent sources this file for each
# of the hundreds of "peer" calls of the two-guest tests, and a fork and
# an exec cost tens of milliseconds each under emulation.
if [ -n "${DM_REPO:-}" ] && [ "${BASH_SOURCE[0]}" -ef "$DM_REPO/selftests/lib.sh" ]; then
	DM_SELFTESTS=$DM_REPO/selftests
else
	DM_SELFTESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
fi
: "${DM_REPO:=$(cd "$DM_SELFTESTS/.." && pwd -P)}"
: "${DM_RESULTS:=$DM_REPO/results/manual}"
export DM_REPO DM_RESULTS DM_SELFTESTS
export DM_DISABLE_UDEV=1
# Debian's python3 (with rtslib_fb), never a python3 from another PATH entry.
DM_PYTHON=/usr/bin/python3

# Exit codes of kselftest (tools/testing/selftests/kselftest.h).
KSFT_PASS=0
KSFT_FAIL=1
KSFT_XFAIL=2
KSFT_XPASS=3
KSFT_SKIP=4

# ---- KTAP output -----------------------------------------------------------

KTAP_TESTNO=0
KTAP_PLAN=
KTAP_CNT_PASS=0
KTAP_CNT_FAIL=0
KTAP_CNT_SKIP=0

# ktap_print_header: first line of the test's output.
ktap_print_header() {
	echo "TAP version 13"
}

# ktap_set_plan N: announce N test points.
ktap_set_plan() {
	KTAP_PLAN=$1
	echo "1..$1"
}

# ktap_skip_all REASON: the whole test cannot run here; exits 4.
ktap_skip_all() {
	echo "1..0 # SKIP $*"
	exit "$KSFT_SKIP"
}

# ktap_print_msg TEXT...: a diagnostic line ("# TEXT").
ktap_print_msg() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		echo "# $line"
	done
}

# ktap_test_pass NAME / ktap_test_fail NAME / ktap_test_skip NAME [REASON]
ktap_test_pass() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_PASS=$((KTAP_CNT_PASS + 1))
	echo "ok $KTAP_TESTNO - $1"
}

ktap_test_fail() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_FAIL=$((KTAP_CNT_FAIL + 1))
	echo "not ok $KTAP_TESTNO - $1"
}

ktap_test_skip() {
	KTAP_TESTNO=$((KTAP_TESTNO + 1))
	KTAP_CNT_SKIP=$((KTAP_CNT_SKIP + 1))
	echo "ok $KTAP_TESTNO - $1 # SKIP ${2:-}"
}

# ktap_test_result NAME CMD [ARG...]: run CMD; pass when it exits 0. Its
# output is shown as diagnostics when it fails.
ktap_test_result() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = 0 ]; then
		ktap_test_pass "$name"
	else
		[ -z "$out" ] || ktap_print_msg "$out"
		ktap_print_msg "'$*' exited with $rc"
		ktap_test_fail "$name"
	fi
	return "$rc"
}

# ktap_finished: print the totals and exit 0 (pass), 1 (a point failed, or
# fewer/more points than planned) or 4 (every point skipped).
ktap_finished() {
	local total=$((KTAP_CNT_PASS + KTAP_CNT_FAIL + KTAP_CNT_SKIP))

	if [ -n "$KTAP_PLAN" ] && [ "$total" != "$KTAP_PLAN" ]; then
		echo "# planned $KTAP_PLAN test points but ran $total"
		KTAP_CNT_FAIL=$((KTAP_CNT_FAIL + 1))
	fi
	echo "# Totals: pass:$KTAP_CNT_PASS fail:$KTAP_CNT_FAIL xfail:0 xpass:0 skip:$KTAP_CNT_SKIP error:0"
	if [ "$KTAP_CNT_FAIL" -gt 0 ]; then
		exit "$KSFT_FAIL"
	elif [ "$KTAP_CNT_SKIP" -gt 0 ] && [ "$KTAP_CNT_PASS" = 0 ]; then
		exit "$KSFT_SKIP"
	fi
	exit "$KSFT_PASS"
}

# ---- assertions (each prints one test point; returns 0 on pass) -----------

# assert_true NAME CMD [ARG...]: CMD exits 0.
assert_true() {
	ktap_test_result "$@"
}

# assert_false NAME CMD [ARG...]: CMD exits non-zero.
assert_false() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		[ -z "$out" ] || ktap_print_msg "$out"
		ktap_print_msg "'$*' succeeded but should have failed"
		ktap_test_fail "$name"
		return 1
	fi
	ktap_test_pass "$name"
}

# assert_eq NAME EXPECTED ACTUAL
assert_eq() {
	if [ "$2" = "$3" ]; then
		ktap_test_pass "$1"
		return 0
	fi
	ktap_print_msg "expected: '$2'"
	ktap_print_msg "actual:   '$3'"
	ktap_test_fail "$1"
	return 1
}

# assert_match NAME REGEX TEXT: TEXT matches the extended regular expression.
assert_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		ktap_test_pass "$1"
		return 0
	fi
	ktap_print_msg "no match for /$2/ in:"
	ktap_print_msg "$3"
	ktap_test_fail "$1"
	return 1
}

# assert_no_match NAME REGEX TEXT
assert_no_match() {
	local hit
	if hit=$(printf '%s\n' "$3" | grep -E -- "$2"); then
		ktap_print_msg "unexpected match for /$2/:"
		ktap_print_msg "$hit"
		ktap_test_fail "$1"
		return 1
	fi
	ktap_test_pass "$1"
}

# ---- requirements ----------------------------------------------------------

# dm_in_vm: true inside a scripts/vm-run guest.
dm_in_vm() {
	[ -n "${DM_VM_ID:-}" ] && [ -e /proc/modules ]
}

# dm_require_vm: skip the whole test unless it runs in the VM (these tests
# load modules and change the kernel: never run them on a real host).
dm_require_vm() {
	dm_in_vm || ktap_skip_all "runs only in the test VM (scripts/vm-run)"
}

# dm_require_cmd CMD...: skip the whole test when a command is missing.
dm_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || ktap_skip_all "$c is not installed"
	done
}

# dm_require_kmod NAME...: skip the whole test when the booted kernel lacks
# a module (built-in counts as present).
dm_require_kmod() {
	local m
	for m in "$@"; do
		modinfo "$m" >/dev/null 2>&1 || ktap_skip_all "kernel module $m not available"
	done
}

# ---- cleanup stack ---------------------------------------------------------

DM_CLEANUPS=()

# dm_on_exit CMD...: run CMD (one string, evaluated) when the test exits,
# the last registered first.
dm_on_exit() {
	DM_CLEANUPS+=("$*")
	trap dm_run_cleanups EXIT
}

dm_run_cleanups() {
	local i
	for ((i = ${#DM_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${DM_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
	DM_CLEANUPS=()
}

# dm_nap SECS: sleep SECS without starting a program: read with a
# timeout from a pipe that this shell holds both ends of, which never has
# data (sleep(1) costs about 0.15 s of emulated CPU per start). Falls back
# to sleep when the pipe cannot be made or read.
DM_NAP_FD=
dm_nap() {
	if [ -z "$DM_NAP_FD" ]; then
		exec {DM_NAP_FD}<> <(:) 2>/dev/null || DM_NAP_FD=none
	fi
	if [ "$DM_NAP_FD" != none ]; then
		local _
		# A timeout returns more than 128; anything else (data, an error:
		# a subshell that closed the descriptor) falls back to sleep.
		read -r -t "$1" -u "$DM_NAP_FD" _ 2>/dev/null
		[ $? -le 128 ] || return 0
	fi
	sleep "$1"
}

# dm_wait_for SECS CMD [ARG...]: poll CMD until it succeeds or SECS have
# passed (then return 1, and say so on standard error: a wait that always
# runs out is a test that wastes its SECS). It polls every 0.1 s for the
# first 2 s, every 0.25 s until 5 s, every 0.5 s until 30 s, then every
# second: a wait that lasts longer is one for a resync, a timeout or a
# reconnect, which a fraction of a second more does not change, while each
# poll (typically a dmsetup status) costs about 0.15 s of the guest's one
# emulated CPU: ten polls a second took three quarters of it, from the
# resync being waited for.
dm_wait_for() {
	local secs=$1 t0=$SECONDS end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "# dm_wait_for: $* did not succeed within $secs s" >&2
			return 1
		fi
		case $((SECONDS - t0)) in
		0 | 1) dm_nap 0.1 ;;
		2 | 3 | 4) dm_nap 0.25 ;;
		[5-9] | [12][0-9]) dm_nap 0.5 ;;
		*) dm_nap 1 ;;
		esac
	done
}

# ---- the project's modules -------------------------------------------------

# The modules the build produces: module name -> .ko path in the repo.
declare -A DM_KO=(
	[dm_dualmirror]=drivers/md/dm-dualmirror.ko
	[dualmirror_peer]=drivers/scsi/dualmirror_peer.ko
)

# dm_modname NAME: kernel module name for NAME ('-' -> '_').
dm_modname() {
	local n=${1##*/}
	n=${n%.ko}
	echo "${n//-/_}"
}

# dm_module_path NAME: the built .ko of a project module.
dm_module_path() {
	local n
	n=$(dm_modname "$1")
	[ -n "${DM_KO[$n]:-}" ] || { echo "dm_module_path: unknown module $1" >&2; return 1; }
	echo "$DM_REPO/${DM_KO[$n]}"
}

# dm_module_loaded NAME: the module is loaded (live).
dm_module_loaded() {
	local n
	n=$(dm_modname "$1")
	[ -e "/sys/module/$n/initstate" ] && [ "$(cat "/sys/module/$n/initstate")" = live ]
}

# dm_load_module NAME|KO...: load project modules (by name) or any .ko,
# after the kernel modules they depend on. Loaded ones are left alone.
dm_load_module() {
	local m ko
	for m in "$@"; do
		case "$m" in
		*.ko) ko=$m ;;
		*) ko=$(dm_module_path "$m") || return 1 ;;
		esac
		bash "$DM_REPO/scripts/vm/load-module" "$ko" || return 1
	done
}

# dm_unload_module NAME...: rmmod the modules that are loaded.
dm_unload_module() {
	local m n
	for m in "$@"; do
		n=$(dm_modname "$m")
		[ -d "/sys/module/$n" ] || continue
		rmmod "$n" || return 1
	done
}

# dm_load_modules / dm_unload_modules: both project modules.
dm_load_modules() {
	dm_load_module dm_dualmirror dualmirror_peer
}

dm_unload_modules() {
	dm_unload_module dm_dualmirror dualmirror_peer
}

# ---- kernel log ------------------------------------------------------------

DM_KMSG_MARK=

# dm_dmesg_mark: remember this point of the kernel log.
dm_dmesg_mark() {
	DM_KMSG_MARK="selftest-mark-$$-$RANDOM$RANDOM"
	echo "$DM_KMSG_MARK" >/dev/kmsg
}

# dm_dmesg_since_mark: kernel log lines after the last dm_dmesg_mark.
dm_dmesg_since_mark() {
	dmesg | awk -v m="$DM_KMSG_MARK" 'found { print } index($0, m) { found = 1 }'
}

# dm_dmesg_problems [TEXT]: print the lines of TEXT (default: the log since
# the mark) that report a kernel warning, oops, hang, ...
dm_dmesg_problems() {
	local text
	if [ $# -gt 0 ]; then text=$1; else text=$(dm_dmesg_since_mark); fi
	printf '%s\n' "$text" |
		grep -E -f <(grep -v -e '^#' -e '^$' "$DM_REPO/scripts/vm/dmesg-bad-patterns")
}

# assert_dmesg_clean NAME: no warning/oops/... since dm_dmesg_mark.
assert_dmesg_clean() {
	local bad
	if bad=$(dm_dmesg_problems); then
		ktap_print_msg "$bad"
		ktap_test_fail "$1"
		return 1
	fi
	ktap_test_pass "$1"
}

# dm_majmin DEV: MAJOR:MINOR of a block device (as dmsetup table shows it).
dm_majmin() {
	local major minor
	read -r major minor < <(stat -L -c '%t %T' "$1") || return 1
	printf '%d:%d\n' "0x$major" "0x$minor"
}

# dm_taint: /proc/sys/kernel/tainted.
dm_taint() {
	cat /proc/sys/kernel/tainted
}

# ---- SCSI ------------------------------------------------------------------

# dm_scsi_hosts PROC_NAME: the hostN names whose driver is PROC_NAME.
dm_scsi_hosts() {
	local h
	for h in /sys/class/scsi_host/host*; do
		[ -e "$h/proc_name" ] || continue
		[ "$(cat "$h/proc_name")" = "$1" ] && echo "${h##*/}"
	done
}

# dm_scsi_disks HOST: the /dev/sdX disks of hostN (by H:C:T:L order).
dm_scsi_disks() {
	local h=${1#host} d b
	for d in /sys/bus/scsi/devices/"$h":*:*:*; do
		for b in "$d"/block/*; do
			[ -e "$b" ] && echo "/dev/${b##*/}"
		done
	done
}

# dm_scsi_disk_of HOST: wait (60 s: a scan takes seconds in a guest on a
# loaded host) for the first disk of hostN; print it.
dm_scsi_disk_of() {
	local disk
	dm_wait_for 60 test -n "$(dm_scsi_disks "$1")" || return 1
	disk=$(dm_scsi_disks "$1" | head -n 1)
	dm_wait_for 30 test -b "$disk" || return 1
	echo "$disk"
}

# dm_scsi_debug_load [PARAM=VALUE...]: load scsi_debug (default one 64 MiB
# disk) and print its /dev/sdX.
dm_scsi_debug_load() {
	local host
	modprobe scsi_debug dev_size_mb=64 "$@" || return 1
	host=$(dm_scsi_hosts scsi_debug | head -n 1)
	[ -n "$host" ] || return 1
	dm_scsi_disk_of "$host"
}

# dm_disk_by_serial NAME: the /dev/vdX whose serial is NAME (a scripts/vm-run
# --disk FILE,serial=NAME; waits 10 s for it).
dm_disk_by_serial() {
	local end=$((SECONDS + 10)) d
	while :; do
		for d in /sys/block/vd*; do
			[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] || continue
			[ -b "/dev/${d##*/}" ] || continue
			echo "/dev/${d##*/}"
			return 0
		done
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# ---- memory-backed disks ---------------------------------------------------

# dm_nullb_create NAME SIZE_MB [ATTR=VALUE...]: a memory-backed null_blk
# disk /dev/NAME (configfs; blocksize 512 unless given). Prints the path.
dm_nullb_create() {
	local name=$1 size=$2 d kv
	shift 2
	modprobe null_blk nr_devices=0 || return 1
	d=/sys/kernel/config/nullb/$name
	mkdir "$d" || return 1
	echo "$size" >"$d/size"
	echo 1 >"$d/memory_backed"
	echo 512 >"$d/blocksize"
	for kv in "$@"; do
		echo "${kv#*=}" >"$d/${kv%%=*}" || return 1
	done
	echo 1 >"$d/power" || return 1
	dm_wait_for 5 test -b "/dev/$name" || return 1
	echo "/dev/$name"
}

# dm_nullb_remove NAME
dm_nullb_remove() {
	local d=/sys/kernel/config/nullb/$1
	[ -d "$d" ] || return 0
	echo 0 >"$d/power"
	rmdir "$d"
}

# dm_brd_load COUNT SIZE_MB: /dev/ram0../dev/ram(COUNT-1) (one shot per
# module load: dm_unload_module brd first to change them).
dm_brd_load() {
	modprobe brd rd_nr="$1" rd_size=$(($2 * 1024)) || return 1
	dm_wait_for 5 test -b /dev/ram0
}

# ---- LIO target and open-iscsi initiator (loopback or two guests) ---------

DM_IQN_PREFIX=iqn.2026-11.org.example

# dm_start_dbus: a system D-Bus (targetcli needs it; rtslib does not).
dm_start_dbus() {
	[ -S /run/dbus/system_bus_socket ] && return 0
	mkdir -p /run/dbus
	dbus-daemon --system --fork
}

# dm_lio_prepare: load the LIO modules (configfs is mounted by guest-init).
dm_lio_prepare() {
	modprobe -a target_core_mod target_core_pscsi target_core_iblock \
		iscsi_target_mod || return 1
	[ -d /sys/kernel/config/target ] || mount -t configfs configfs /sys/kernel/config
	[ -d /sys/kernel/config/target/core ]
}

# dm_lio_export IQN DEV [pscsi|block] [lio.py export options...]: export
# DEV as LUN 0 of iSCSI target IQN on 127.0.0.1:3260 (see selftests/lio.py
# for --portal, --param KEY=VALUE, --attr KEY=VALUE).
dm_lio_export() {
	local iqn=$1 dev=$2 bs=${3:-pscsi}
	shift 2
	[ $# -eq 0 ] || shift
	dm_lio_prepare || return 1
	"$DM_PYTHON" "$DM_SELFTESTS/lio.py" export --iqn "$iqn" --dev "$dev" \
		--backstore "$bs" "$@"
}

# dm_lio_delete IQN / dm_lio_clear
dm_lio_delete() {
	"$DM_PYTHON" "$DM_SELFTESTS/lio.py" delete --iqn "$1"
}

dm_lio_clear() {
	[ -d /sys/kernel/config/target/iscsi ] || [ -d /sys/kernel/config/target/core ] || return 0
	"$DM_PYTHON" "$DM_SELFTESTS/lio.py" clear
}

# dm_iscsid_start: iscsid with this guest's own initiator name.
dm_iscsid_start() {
	modprobe iscsi_tcp || return 1
	pgrep -x iscsid >/dev/null && return 0
	mkdir -p /etc/iscsi /run/lock/iscsi
	echo "InitiatorName=$DM_IQN_PREFIX:initiator-${DM_VM_ID:-host}" \
		>/etc/iscsi/initiatorname.iscsi
	iscsid || return 1
	# Ready once it listens on its control socket (iscsiadm's abstract
	# one). "iscsiadm -m session", the wait here before, reads sysfs
	# only and fails while there is no session, so it waited its full
	# 5 s at every start.
	dm_wait_for 5 grep -q '@ISCSIADM_ABSTRACT_NAMESPACE' /proc/net/unix
	return 0
}

# dm_iscsi_login IQN [PORTAL] [NODE.KEY=VALUE...]: discover and log in to
# IQN (default portal 127.0.0.1:3260); print the new /dev/sdX. The extra
# settings go to the node record before login (e.g.
# node.session.timeo.replacement_timeout=5).
dm_iscsi_login() {
	local iqn=$1 portal=${2:-127.0.0.1:3260} kv
	[ $# -lt 2 ] || shift
	shift
	dm_iscsid_start || return 1
	iscsiadm -m discovery -t st -p "$portal" >/dev/null || return 1
	for kv in "$@"; do
		iscsiadm -m node -T "$iqn" -p "$portal" -o update \
			-n "${kv%%=*}" -v "${kv#*=}" || return 1
	done
	iscsiadm -m node -T "$iqn" -p "$portal" --login >/dev/null || return 1
	dm_iscsi_pm_on
	dm_iscsi_disk "$iqn"
}

# dm_iscsi_pm_on: runtime PM "on" for every iSCSI session's SCSI target, so
# that a logout cannot race the target's runtime-PM work (a kernel WARNING
# of Debian's 6.1 kernel; Documentation/testing.rst, "A kernel warning at
# iSCSI logout").
dm_iscsi_pm_on() {
	local f
	for f in /sys/class/iscsi_session/session*/device/target*/power/control; do
		[ -w "$f" ] && echo on >"$f"
	done
	return 0
}

# dm_iscsi_disk IQN: the /dev/sdX of IQN's logged-in session (waits 10 s).
dm_iscsi_disk() {
	local s host
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s/targetname" ] || continue
		[ "$(cat "$s/targetname")" = "$1" ] || continue
		host=$(basename "$(dirname "$(readlink -f "$s/device")")")
		dm_scsi_disk_of "$host"
		return
	done
	return 1
}

# dm_iscsi_logout IQN
dm_iscsi_logout() {
	iscsiadm -m node -T "$1" --logout >/dev/null 2>&1
	iscsiadm -m node -T "$1" -o delete >/dev/null 2>&1
	return 0
}
