# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Functions of scripts/bench that run on either end of a mirror.
#
# guest.sh sources this file. In one guest it calls every function itself;
# in a two-guest run (scripts/bench --pair, on scripts/vm-pair) the primary
# calls the peer's half through the peer guest's agent
# (selftests/pair/agent.py), one request per call:
#
#   BENCH_DISK=KIND BENCH_NULLB_MEMORY=N; . scripts/bench.d/lib.sh; FUNCTION ARG...
#
# (the primary's own settings of the two variables the peer's functions
# read from the environment, so that --disk and --dataless apply to both
# guests), so a
# function the peer runs keeps no shell state between calls: it prints
# what the primary needs (and, when it fails, why) and leaves the rest to
# the kernel's objects, which it names after its arguments.

PY=/usr/bin/python3
NULLB_CFS=/sys/kernel/config/nullb
SDEBUG_DRV=/sys/bus/pseudo/drivers/scsi_debug
# bench --disk scsi_debug: the scsi_debug host of each disk, by name.
SDEBUG_MAP=/run/bench-scsi-debug
IQN_FLOOR=iqn.2026-11.org.example:bench-floor
IQN_DM=iqn.2026-11.org.example:bench-dualmirror
IQN_PSCSI=iqn.2026-11.org.example:bench-pscsi
# The same two over iSER (soft-RoCE on the link; two guests only).
IQN_FLOOR_ISER=iqn.2026-11.org.example:bench-floor-iser
IQN_DM_ISER=iqn.2026-11.org.example:bench-dualmirror-iser
# The iSCSI login parameters of every session, on both sides.
ISCSI_PARAMS="ImmediateData=Yes InitialR2T=No MaxRecvDataSegmentLength=65536 FirstBurstLength=65536"
# Over iSER: no immediate data, the target fetches every write's data with
# an RDMA READ (as "dualmirrorctl peer export --transport iser" does; see
# "iSER" in Documentation/dualmirror-peer.rst).
ISER_PARAMS="ImmediateData=No InitialR2T=Yes"
# DRBD between two guests: the resource, its configuration file on each
# node, and its TCP port on the link.
DRBD_RES=bench
DRBD_CONF=/run/bench-drbd.conf
DRBD_PORT=7788

: "${prog:=bench-peer}"
: "${repo:=${DM_REPO:-$PWD}}"

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

log() {
	printf '%s %s: %s\n' "$(date +%T)" "$prog" "$*"
}

sectors() {
	blockdev --getsz "$1"
}

set_noop_scheduler() {
	local q=/sys/block/${1#/dev/}/queue/scheduler
	[ ! -w "$q" ] || echo none >"$q" 2>/dev/null || true
}

# ---- disks -----------------------------------------------------------------

# make_nullb NAME MB: a memory-backed null_blk disk of MB MiB, made through
# configfs (so that it does not collide with disks other tests of the same
# guest made), that completes each request in the submitter's context
# (irqmode 0, like brd); prints its /dev node.  BENCH_NULLB_MEMORY=0
# (bench --dataless): a disk that keeps no data.
make_nullb() {
	local d=$NULLB_CFS/$1 dev
	if [ ! -d $NULLB_CFS ]; then
		# nr_devices=0: only the configfs devices below.
		modprobe null_blk nr_devices=0
	fi
	[ -d $NULLB_CFS ] || die "null_blk has no configfs interface"
	mkdir "$d"
	echo "$2" >"$d/size"
	echo "${BENCH_NULLB_MEMORY:-1}" >"$d/memory_backed"
	echo 512 >"$d/blocksize"
	echo 0 >"$d/irqmode"
	echo 2 >"$d/queue_mode"
	# 1 MiB per request, as a real disk takes: without it null_blk keeps
	# the block layer's safe default of 255 sectors, and every device
	# stacked on it (the mirrors) cuts a 1 MiB write into five.
	echo 2048 >"$d/max_sectors"
	echo 1 >"$d/power"
	# Kernels since 5.19 name the disk after the configfs directory.
	dev=/dev/$1
	[ -b "$dev" ] || dev=/dev/nullb$(cat "$d/index")
	[ -b "$dev" ] || die "no /dev/$1 or $dev appeared for null_blk $1"
	echo "$dev"
}

# sdebug_hosts: the scsi_debug hosts (hostN), one per line.
sdebug_hosts() {
	local h
	for h in /sys/class/scsi_host/host*; do
		[ "$(cat "$h/proc_name" 2>/dev/null)" = scsi_debug ] && echo "${h##*/}"
	done
	return 0
}

# sdebug_disk HOST: the /dev node of hostN's one disk.
sdebug_disk() {
	local b
	for b in /sys/class/scsi_host/"$1"/device/target*/*:*/block/*; do
		[ -e "$b" ] && echo "/dev/${b##*/}" && return 0
	done
	return 1
}

# make_sdebug NAME MB: a SCSI disk of MB MiB that keeps its data: a
# scsi_debug host of its own with a store of its own (per_host_store),
# answering every command from its queuecommand (delay=0), a blk-mq queue
# that takes REQ_NOWAIT like a real disk's.  Prints its /dev node.  All
# scsi_debug disks of one module load have one size.
make_sdebug() {
	local before h host='' dev end=$((SECONDS + 60))
	if [ ! -d $SDEBUG_DRV ]; then
		# The first host comes with the module, which makes a store for
		# it; the others are added through sysfs, each with its own.
		modprobe scsi_debug dev_size_mb="$2" add_host=1 per_host_store=1 \
			delay=0 num_tgts=1 max_luns=1 clustering=1 ||
			die "scsi_debug cannot be loaded"
		host=$(sdebug_hosts)
	else
		[ "$(cat /sys/module/scsi_debug/parameters/dev_size_mb)" = "$2" ] ||
			die "scsi_debug is loaded with disks of $(cat /sys/module/scsi_debug/parameters/dev_size_mb) MiB, not $2"
		before=$(sdebug_hosts)
		echo 1 >$SDEBUG_DRV/add_host
		for h in $(sdebug_hosts); do
			grep -qx "$h" <<<"$before" || host="$host $h"
		done
	fi
	host=${host# }
	if [ -z "$host" ] || [ "$(wc -w <<<"$host")" != 1 ]; then
		die "not one new scsi_debug host for $1: '$host'"
	fi
	until dev=$(sdebug_disk "$host") && [ -b "$dev" ]; do
		[ "$SECONDS" -lt "$end" ] || die "no disk appeared on scsi_debug's $host for $1"
		sleep 0.1
	done
	mkdir -p $SDEBUG_MAP
	echo "$host" >"$SDEBUG_MAP/$1"
	echo "$dev"
}

# bench_disks MB NAME...: a disk of MB MiB per NAME (one left over from an
# earlier run is made again), each written once in full; prints their /dev
# nodes on one line, in the order of the names.  BENCH_DISK (bench
# --disk): scsi_debug (the default, make_sdebug) or nullb (make_nullb).
bench_disks() {
	local mb=$1 n d devs=()
	shift
	remove_disks "$@"
	for n in "$@"; do
		case ${BENCH_DISK:-scsi_debug} in
		nullb) d=$(make_nullb "$n" "$mb") || exit 1 ;;
		scsi_debug) d=$(make_sdebug "$n" "$mb") || exit 1 ;;
		*) die "unknown disk kind '${BENCH_DISK}'" ;;
		esac
		set_noop_scheduler "$d"
		# A memory-backed null_blk allocates a page on its first write:
		# allocate them all now so that no configuration pays for it
		# (scsi_debug allocated its whole store when it made the disk).
		dd if=/dev/zero of="$d" bs=1M count="$mb" oflag=direct status=none
		devs+=("$d")
	done
	echo "${devs[*]}"
}

# disk_kind: what bench_disks makes, in words.
disk_kind() {
	case ${BENCH_DISK:-scsi_debug} in
	scsi_debug) echo "scsi_debug SCSI disk (memory-backed)" ;;
	*) [ "${BENCH_NULLB_MEMORY:-1}" = 0 ] && echo "null_blk (dataless)" ||
		echo "null_blk (memory-backed)" ;;
	esac
}

# disk_describe: one line per bench disk of this guest: "NAME DEV
# kind=nullb|scsi_debug memory_backed=0|1 blocking=0|1", as the kernel
# took them (null_blk makes every memory-backed disk blocking when it
# powers it on, and dualmirror_peer never submits to a blocking disk from
# queuecommand), for the record of a run: which disks kept data and which
# the peer's direct path can use, on either guest.
disk_describe() {
	local d n dev
	for d in "$NULLB_CFS"/*/; do
		[ -f "$d/memory_backed" ] || continue
		d=${d%/}
		n=${d##*/}
		dev=/dev/$n
		[ -b "$dev" ] || dev=/dev/nullb$(cat "$d/index")
		echo "$n $dev kind=nullb memory_backed=$(cat "$d/memory_backed") blocking=$(cat "$d/blocking")"
	done
	for d in "$SDEBUG_MAP"/*; do
		[ -f "$d" ] || continue
		dev=$(sdebug_disk "$(cat "$d")") || continue
		echo "${d##*/} $dev kind=scsi_debug memory_backed=1 blocking=0"
	done
}

# remove_disks NAME...: a scsi_debug disk is deleted, and the module
# unloaded (which frees the stores) once no bench disk is left on it.
remove_disks() {
	local n dev
	for n in "$@"; do
		if [ -f "$SDEBUG_MAP/$n" ]; then
			dev=$(sdebug_disk "$(cat "$SDEBUG_MAP/$n")") &&
				echo 1 >"/sys/block/${dev#/dev/}/device/delete" 2>/dev/null
			rm -f "$SDEBUG_MAP/$n"
			[ -n "$(ls -A $SDEBUG_MAP 2>/dev/null)" ] ||
				modprobe -r scsi_debug 2>/dev/null || true
		fi
		[ -d "$NULLB_CFS/$n" ] || continue
		echo 0 >"$NULLB_CFS/$n/power" 2>/dev/null || true
		rmdir "$NULLB_CFS/$n" 2>/dev/null || true
	done
}

# ---- LIO (the peer's iSCSI target) -----------------------------------------

lio_start() {
	modprobe -a target_core_mod target_core_iblock target_core_pscsi iscsi_target_mod
	mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
}

# lio_export IQN BACKSTORE DEV PORTAL: one iSCSI target, LUN 0, any
# initiator, on PORTAL (ADDR:PORT), with ISCSI_PARAMS; with LIO_ISER=1 in
# the environment the portal also listens for iSER.
lio_export() {
	"$PY" - "$1" "$2" "$3" "$4" $ISCSI_PARAMS <<'PYEOF'
import os
import sys
from rtslib_fb import (BlockStorageObject, FabricModule, LUN, NetworkPortal,
                       PSCSIStorageObject, TPG, Target)
iqn, kind, dev, portal = sys.argv[1:5]
params = dict(p.split("=", 1) for p in sys.argv[5:])
name = iqn.rsplit(":", 1)[1]
so = (PSCSIStorageObject(name, dev=dev) if kind == "pscsi"
      else BlockStorageObject(name, dev=dev))
tpg = TPG(Target(FabricModule("iscsi"), iqn), 1)
ip, _, port = portal.rpartition(":")
np = NetworkPortal(tpg, ip, int(port))
if os.environ.get("LIO_ISER") == "1":
    np.iser = True
LUN(tpg, 0, so)
for key, value in {"authentication": "0", "generate_node_acls": "1",
                   "demo_mode_write_protect": "0",
                   "cache_dynamic_acls": "1"}.items():
    tpg.set_attribute(key, value)
for key, value in params.items():
    tpg.set_parameter(key, value)
tpg.enable = True
PYEOF
}

# lio_export_iser IQN DEV PORTAL: lio_export of DEV (block backstore)
# over iSER, with ISER_PARAMS.
lio_export_iser() {
	modprobe ib_isert || return 1
	ISCSI_PARAMS=$ISER_PARAMS LIO_ISER=1 lio_export "$1" block "$2" "$3"
}

# rxe_up: soft-RoCE, rxe0 on the link's NIC (DM_LINK_DEV), ACTIVE; prints
# why when it fails.
rxe_up() {
	local i
	modprobe rdma_rxe || { echo "modprobe rdma_rxe failed"; return 1; }
	[ -d /sys/class/infiniband/rxe0 ] ||
		rdma link add rxe0 type rxe netdev "$DM_LINK_DEV" ||
		{ echo "rdma link add rxe0 type rxe netdev $DM_LINK_DEV failed"; return 1; }
	for i in $(seq 100); do
		grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state && return 0
		sleep 0.1
	done
	echo "rxe0 is not ACTIVE"
	return 1
}

rxe_down() {
	[ ! -d /sys/class/infiniband/rxe0 ] || rdma link delete rxe0 2>/dev/null || true
}

lio_delete() {
	"$PY" - "$1" <<'PYEOF'
import sys
from rtslib_fb import RTSRoot
for target in RTSRoot().targets:
    if target.wwn == sys.argv[1]:
        objs = [l.storage_object for t in target.tpgs for l in t.luns]
        target.delete()
        for so in objs:
            so.delete()
PYEOF
}

# ---- dualmirror's peer -----------------------------------------------------

# dm_peer_export BACKING IQN PORTAL [TRANSPORT]: make BACKING a
# dualmirror_peer SCSI disk (dualmirrorctl peer add) and export it through
# LIO's pscsi backstore (peer export --transport TRANSPORT, tcp or iser;
# tcp by default); print "SCSI-DISK STATS-DIR" (the peer's counters, "-" when
# it has none). On failure print why on the last line and return 1.
dm_peer_export() {
	local ctl=$repo/scripts/dualmirrorctl err=/tmp/bench-dm-peer.err sd h stats=-
	if [ ! -x "$ctl" ]; then
		echo "scripts/dualmirrorctl (peer add/export) is not in the tree yet"
		return 1
	fi
	if ! sd=$("$ctl" peer add "$1" 2>"$err"); then
		echo "dualmirrorctl peer add $1: $(tail -n 3 "$err" | tr '\n' ' ')"
		return 1
	fi
	sd=$(grep -o '/dev/sd[a-z]*' <<<"$sd" | tail -n 1)
	[ -b "$sd" ] || { echo "dualmirrorctl peer add printed no /dev/sdX"; return 1; }
	# The peer's own counters: hostN of its SCSI disk.
	h=$(readlink -f "/sys/block/${sd#/dev/}/device" | grep -o '/host[0-9]*/' | tr -d /)
	[ ! -d "/sys/class/scsi_host/$h/dualmirror_stats" ] ||
		stats=/sys/class/scsi_host/$h/dualmirror_stats
	if ! "$ctl" peer export "$sd" "$2" --portal "$3" --transport "${4:-tcp}" >"$err" 2>&1; then
		echo "dualmirrorctl peer export $sd: $(tail -n 3 "$err" | tr '\n' ' ')"
		return 1
	fi
	echo "$sd $stats"
}

# dm_peer_remove IQN SCSI-DISK: undo dm_peer_export.
dm_peer_remove() {
	"$repo/scripts/dualmirrorctl" peer unexport "$1" >/dev/null 2>&1 || true
	"$repo/scripts/dualmirrorctl" peer remove "$2" >/dev/null 2>&1 || true
}

# peer_counters STATS-DIR: the peer disk's counters, "FILE:VALUE" lines
# (direct_retries too: with direct_commands, whether the direct path ran
# each command once).
peer_counters() {
	[ -d "$1" ] || return 0
	grep -H . "$1"/*_interrupts "$1"/*_commands "$1"/*_writes "$1"/*_rejected \
		"$1"/*_retries 2>/dev/null || true
}

# peer_snapshot [STATS-DIR]: what a two-guest run records of the peer
# guest around each fio run: its /proc/stat, then after a line
# "## dualmirror_stats" the peer disk's counters.
peer_snapshot() {
	cat /proc/stat
	[ -z "${1:-}" ] || { echo "## dualmirror_stats"; peer_counters "$1"; }
}

# perf_summary DATA PREFIX: what a profile says: PREFIX.perf.txt the
# hottest symbols, PREFIX.perf-comm.txt the hottest by command and
# symbol, PREFIX.perf-callers.txt the call chains into each of the five
# hottest kernel symbols (idle aside), every chain of at least 0.05 % of
# the samples, PREFIX.perf-dso.txt the share of each object.
perf_summary() {
	local sym
	perf report -i "$1" --no-children --sort symbol -g none --stdio 2>/dev/null |
		grep -v -e '^$' -e '^#' | head -n 60 >"$2.perf.txt" || true
	perf report -i "$1" --no-children --sort comm,symbol -g none --stdio 2>/dev/null |
		grep -v -e '^$' -e '^#' | head -n 300 >"$2.perf-comm.txt" || true
	for sym in $(awk '$2 == "[k]" && $3 != "native_safe_halt" { print $3 }' \
		"$2.perf.txt" | head -n 5); do
		echo "==== $sym"
		perf report -i "$1" --no-children -S "$sym" \
			-g caller,0.05,callee,function,percent --stdio 2>/dev/null |
			grep -v -e '^$' -e '^#' | head -n 200
	done >"$2.perf-callers.txt" || true
	perf report -i "$1" --no-children --sort dso --stdio 2>/dev/null |
		grep -v -e '^$' -e '^#' | head -n 20 >"$2.perf-dso.txt" || true
}

# sched_setup [NS]: mount debugfs if it is not, and with NS set the
# scheduler's wakeup granularity (--wakeup-granularity); print the
# preemption model and the granularity in effect, "MODEL NS".
sched_setup() {
	local d=/sys/kernel/debug/sched
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
	if [ -n "${1:-}" ]; then
		echo "$1" >"$d/wakeup_granularity_ns" ||
			{ echo "cannot set $d/wakeup_granularity_ns" >&2; return 1; }
	fi
	echo "$(sed -n 's/.*(\([a-z]*\)).*/\1/p' "$d/preempt" 2>/dev/null) $(cat "$d/wakeup_granularity_ns" 2>/dev/null)"
}

# bench_events: what --events counts around each fio run, one
# "label|tracepoint|filter" line each, in perf stat's order (report.py
# reads them back by label).  DEV in a filter is the kernel's dev_t of
# the device fio writes to.  The first counts fio's own I/Os: each bio it
# submits is traced once on that device (submit_bio_noacct_nocheck()
# traces a bio once; the rest of a split bio, submitted again, is not
# traced again), and device-mapper's, md's and the SCSI disks' bios below
# it are traced on their own devices.  The last counts fio's bios again:
# perf stat enables its counters one after the other (on each CPU, in
# this order), so a bio queued while they are being enabled is counted
# by the first and not the last, and some of its requests, say, may be
# issued before "block requests issued" counts.  Every bio the last
# counts was queued with all the counters on; the two counts differ by
# the bios queued during the enabling.
bench_events() {
	cat <<'EVENTS'
fio bios queued|block:block_bio_queue|dev == DEV
context switches|sched:sched_switch|
wakeups|sched:sched_wakeup|
hard interrupts|irq:irq_handler_entry|
softirqs|irq:softirq_entry|
NET_RX softirqs|irq:softirq_entry|vec == 3
workqueue items run|workqueue:workqueue_execute_start|
kmalloc|kmem:kmalloc|
slab cache allocations|kmem:kmem_cache_alloc|
page allocations|kmem:mm_page_alloc|
block requests issued|block:block_rq_issue|
packets sent|net:net_dev_xmit|
packets under 100 bytes|net:net_dev_xmit|len < 100
timers started|timer:timer_start|
system calls|raw_syscalls:sys_enter|
fio bios queued, last enabled|block:block_bio_queue|dev == DEV
EVENTS
}

# events_perf DEV OUT: the perf stat command line (one word a line) that
# counts bench_events system-wide into OUT (CSV) from 2 s after the
# command it runs starts, to leave fio's start-up out (report.py also
# leaves out a window that counted every I/O of fio's: it opened
# before fio's first).
events_perf() {
	local mm event filter
	mm=$(stat -L -c '%t %T' "$1") || return 1
	mm=$(((0x${mm% *} << 20) | 0x${mm#* }))
	printf '%s\n' perf stat -a -x , -D 2000 -o "$2"
	while IFS='|' read -r _ event filter; do
		printf '%s\n' -e "$event"
		[ -z "$filter" ] || printf '%s\n' --filter "${filter//DEV/$mm}"
	done < <(bench_events)
	printf '%s\n' --
}

# events_label CSV OUT: perf stat's CSV with bench_events' labels, one
# "label|count" line each (count as perf printed it: "<not counted>" if
# the event never ran).  perf prints one line per event in the order
# given; a line whose event is not the expected one (a line missing or
# added) would shift every label after it, so OUT is then not written.
events_label() {
	local got want
	got=$(grep -v -e '^#' -e '^$' "$1" | cut -d , -f 3)
	want=$(bench_events | cut -d '|' -f 2)
	if [ "$got" != "$want" ]; then
		echo "events_label: $1 does not list bench_events' tracepoints in order" >&2
		return 1
	fi
	paste -d '|' <(bench_events | cut -d '|' -f 1) \
		<(grep -v -e '^#' -e '^$' "$1" | cut -d , -f 1) >"$2"
}

# switch_summary DATA PREFIX IOS: what a record of sched:sched_switch
# says.  PREFIX.switches.txt: each "thread (state) -> next thread" pair
# per I/O, most first (state S or D: the thread slept; R: it was
# rescheduled at a syscall's or an interrupt's exit; R+: preempted in
# the kernel; I: an idle kworker).  A thread is named by its command, a
# kworker by its pool and number only (kworker/u2:1: the unbound pool,
# which every WQ_UNBOUND workqueue shares; kworker/0:2: CPU 0's), since
# which workqueue it ran cannot be told from the switch.
# PREFIX.switch-stacks.txt: where each thread switched out.
switch_summary() {
	perf script -i "$1" -F trace 2>/dev/null | awk -v ios="$3" '
	{
		p = ""; st = "?"; n = ""
		if ($0 !~ /prev_comm=.*==> next_comm=/)
			next
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^prev_comm=/) p = substr($i, 11)
			else if ($i ~ /^prev_state=/) st = substr($i, 12)
			else if ($i ~ /^next_comm=/) n = substr($i, 11)
		}
		k[p " (" st ") -> " n]++; total++
	}
	END {
		if (ios <= 0) ios = 1
		for (x in k)
			if (k[x] / ios >= 0.01)
				printf "%.3f\t%s\n", k[x] / ios, x
		printf "%.3f\t(all)\n", total / ios
	}' | sort -rn | awk -F '\t' '
	BEGIN { printf "%-50s %8s\n", "switch", "per I/O" }
	{ printf "%-50s %8s\n", $2, $1 }' >"$2.switches.txt" || true
	perf report -i "$1" --no-children --sort comm -g 0.5,callee,function,percent \
		--stdio 2>/dev/null | grep -v -e '^$' -e '^#' | head -n 600 >"$2.switch-stacks.txt" || true
}

# task_switches FILE: every thread's context switches so far, one line
# "TID COMM VOLUNTARY INVOLUNTARY" (COMM as /proc shows it, spaces as _).
task_switches() {
	awk '
	FNR == 1 { n = split(FILENAME, p, "/"); tid = p[n - 1]; name = "?" }
	/^Name:/ { sub(/^Name:[ \t]*/, ""); gsub(/ /, "_"); name = $0 }
	/^voluntary_ctxt_switches:/ { v = $2 }
	/^nonvoluntary_ctxt_switches:/ { print tid, name, v, $2 }
	' /proc/[0-9]*/task/[0-9]*/status 2>/dev/null >"$1" || true
}

# task_switch_summary BEFORE AFTER IOS: the context switches of each
# command name between two task_switches snapshots, per I/O, most first
# (threads that started in between count from zero). A kworker is named
# after the workqueue it ran last ("kworker/u2:1-iscsi_q_2" counts as
# "kworker-iscsi_q_2").
task_switch_summary() {
	awk -v ios="$3" '
	NR == FNR { v0[$1] = $3; n0[$1] = $4; next }
	{
		c = $2
		if (c ~ /^kworker\//)
			c = "kworker" (index(c, "-") ? substr(c, index(c, "-")) : "")
		dv = $3 - v0[$1]; dn = $4 - n0[$1]
		vol[c] += dv; inv[c] += dn; tv += dv; tn += dn
	}
	END {
		if (ios <= 0) ios = 1
		printf "%-18s %10s %10s %10s\n", "command", "vol/IO", "invol/IO", "all/IO"
		for (c in vol)
			if (vol[c] + inv[c] > 0)
				printf "%-18s %10.3f %10.3f %10.3f\n", c, vol[c] / ios,
					inv[c] / ios, (vol[c] + inv[c]) / ios | "sort -k4 -rn | head -n 25"
		close("sort -k4 -rn | head -n 25")
		printf "%-18s %10.3f %10.3f %10.3f\n", "(all)", tv / ios, tn / ios, (tv + tn) / ios
	}' "$1" "$2"
}

# peer_perf_start NAME: with --pair --profile, the peer guest's profile
# of one fio run (perf record -a -g, as on the primary), in the
# background; returns once perf records (it takes seconds to start under
# TCG).
peer_perf_start() {
	local data=/tmp/bench-perf-$1.data
	rm -f "$data"
	setsid perf record -a -g -F 999 -e cpu-clock -o "$data" -- sleep 3600 \
		</dev/null >"/tmp/bench-perf-$1.log" 2>&1 &
	echo $! >"/tmp/bench-perf-$1.pid"
	for _ in $(seq 1 300); do
		[ -s "$data" ] && break
		sleep 0.1
	done
	sleep 1
}

# peer_perf_stop NAME: end it and print its perf_summary, the four
# parts one after the other, each after a line "#### PART".
peer_perf_stop() {
	local data=/tmp/bench-perf-$1.data pid part
	pid=$(cat "/tmp/bench-perf-$1.pid" 2>/dev/null) || return 0
	# perf writes its data when its workload ends
	pkill -INT -P "$pid" sleep 2>/dev/null || kill -INT "$pid" 2>/dev/null
	for _ in $(seq 1 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -s "$data" ]; then
		perf_summary "$data" "/tmp/bench-perf-$1"
		for part in perf perf-comm perf-callers perf-dso; do
			echo "#### $part"
			cat "/tmp/bench-perf-$1.$part.txt"
			rm -f "/tmp/bench-perf-$1.$part.txt"
		done
	fi
	rm -f "$data" "/tmp/bench-perf-$1.pid" "/tmp/bench-perf-$1.log"
}

# ---- DRBD ------------------------------------------------------------------

# drbd_create_md MINOR DEV: fresh DRBD 8.4 internal metadata on DEV (what
# was there is overwritten); on failure print why and return 1.
drbd_create_md() {
	wipefs -a -q "$2" || true
	printf 'yes\nyes\nyes\n' | drbdmeta --force "$1" v08 "$2" internal create-md \
		>/tmp/bench-drbd.err 2>&1 ||
		{ echo "drbdmeta create-md on $2: $(tail -n 3 /tmp/bench-drbd.err | tr '\n' ' ')"; return 1; }
}

# drbd_wait_connected N SECS: wait up to SECS until N resources of this
# kernel are connected.
drbd_wait_connected() {
	for _ in $(seq $(($2 * 10))); do
		[ "$(grep -c 'cs:Connected' /proc/drbd)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# drbd_node_up HOST-A DISK-A ADDR-A HOST-B DISK-B ADDR-B: this node's end of
# resource DRBD_RES (minor 0, protocol C, internal metadata) between host
# A and host B, with drbdadm and a resource file: the file, fresh metadata
# on this node's disk, "drbdadm up". On failure print why and return 1.
drbd_node_up() {
	local me disk
	me=$(uname -n)
	case "$me" in
	"$1") disk=$2 ;;
	"$4") disk=$5 ;;
	*) echo "this host ($me) is neither $1 nor $4"; return 1 ;;
	esac
	modprobe drbd 2>/tmp/bench-drbd.err || { echo "modprobe drbd: $(cat /tmp/bench-drbd.err)"; return 1; }
	command -v drbdadm >/dev/null || { echo "drbdadm missing (apt-get install drbd-utils)"; return 1; }
	cat >"$DRBD_CONF" <<EOF
resource $DRBD_RES {
	net { protocol C; }
	on $1 {
		device /dev/drbd0 minor 0;
		disk $2;
		address ipv4 $3:$DRBD_PORT;
		meta-disk internal;
	}
	on $4 {
		device /dev/drbd0 minor 0;
		disk $5;
		address ipv4 $6:$DRBD_PORT;
		meta-disk internal;
	}
}
EOF
	mkdir -p /var/lib/drbd /var/run/drbd
	drbd_create_md 0 "$disk" || return 1
	drbdadm -c "$DRBD_CONF" up "$DRBD_RES" >/tmp/bench-drbd.err 2>&1 ||
		{ echo "drbdadm up $DRBD_RES on $me: $(tail -n 3 /tmp/bench-drbd.err | tr '\n' ' ')"; return 1; }
}

# drbd_node_down: take this node's end of DRBD_RES down.
drbd_node_down() {
	[ -f "$DRBD_CONF" ] && [ -e /proc/drbd ] || return 0
	drbdadm -c "$DRBD_CONF" secondary "$DRBD_RES" >/dev/null 2>&1 || true
	drbdadm -c "$DRBD_CONF" down "$DRBD_RES" >/dev/null 2>&1 || true
}

# ---- the link --------------------------------------------------------------

# link_netem [NETEM-ARGS...]: netem NETEM-ARGS (e.g. "delay 1ms") as the
# root qdisc of this guest's link NIC (DM_LINK_DEV, from scripts/vm-pair);
# none: remove it.
link_netem() {
	tc qdisc del dev "$DM_LINK_DEV" root 2>/dev/null || true
	[ $# -eq 0 ] || tc qdisc add dev "$DM_LINK_DEV" root netem "$@"
}

# ---- the peer guest as a whole ---------------------------------------------

# peer_cleanup DM-PEER-DISK|- DM-ISER-PEER-DISK|- PSCSI-PEER-DISK|- NAME...:
# remove what a two-guest run made on the peer (idempotent): DRBD,
# dualmirror's peer disks (over iSCSI and iSER, and the pscsi row's), the
# exports, soft-RoCE, netem, the disks NAME...
peer_cleanup() {
	drbd_node_down
	[ "$1" = - ] || dm_peer_remove "$IQN_DM" "$1"
	[ "$2" = - ] || dm_peer_remove "$IQN_DM_ISER" "$2"
	[ "$3" = - ] || dm_peer_remove "$IQN_PSCSI" "$3"
	shift 3
	if [ -d /sys/kernel/config/target/iscsi ]; then
		lio_delete "$IQN_DM" >/dev/null 2>&1 || true
		lio_delete "$IQN_FLOOR" >/dev/null 2>&1 || true
		lio_delete "$IQN_PSCSI" >/dev/null 2>&1 || true
		lio_delete "$IQN_DM_ISER" >/dev/null 2>&1 || true
		lio_delete "$IQN_FLOOR_ISER" >/dev/null 2>&1 || true
	fi
	rxe_down
	[ -z "${DM_LINK_DEV:-}" ] || link_netem
	remove_disks "$@"
}
