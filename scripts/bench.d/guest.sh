#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of scripts/bench: runs inside one scripts/vm-run guest.
#
# Builds every configuration on memory-backed disks (null_blk), one after the
# other in the same boot, runs the same fio workloads against each and
# saves the raw figures (fio JSON, /proc/stat, dmsetup status and open-iscsi
# PDU counters before and after each workload) under OUT/raw/. The host half
# (scripts/bench.d/report.py) turns them into the table, JSON and plot.
#
# A configuration that cannot be built (the dualmirror modules are not
# ready, a tool is missing) gets OUT/raw/CONFIG/unavailable.txt with the
# reason and the run goes on.
#
#   guest.sh --out DIR [--runtime SECS] [--rounds N] [--size-mb MB] [--configs LIST]
#            [--workloads LIST] [--profile]
set -euo pipefail

prog=bench-guest
repo=${DM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
PY=/usr/bin/python3
DRBDSETUP=/lib/drbd/drbdsetup-84

ALL_CONFIGS="local iscsi dm-inline dm-split dm-mirror md-raid1 drbd"
ALL_WORKLOADS="randwrite-4k-qd1 randwrite-4k-qd32 seqwrite-64k seqwrite-1m randrw-4k-70-30"

out=
runtime=4
rounds=3
size_mb=256
configs=$ALL_CONFIGS
workloads=$ALL_WORKLOADS
profile=0

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

log() {
	printf '%s %s: %s\n' "$(date +%T)" "$prog" "$*"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--runtime) runtime=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--size-mb) size_mb=$2; shift 2 ;;
	--configs) configs=${2//,/ }; shift 2 ;;
	--workloads) workloads=${2//,/ }; shift 2 ;;
	--profile) profile=1; shift ;;
	*) die "unknown argument '$1'" ;;
	esac
done
[ -n "$out" ] || die "--out DIR is required"
raw=$out/raw
mkdir -p "$raw"

# ---- disks -----------------------------------------------------------------
#
# Four memory-backed null_blk devices, made through configfs (so that they
# do not collide with disks other tests of the same guest made):
# LOCAL          the local leg of every configuration (and the "local" row)
# FLOOR_BACKING  the peer disk exported through LIO's block backstore: the
#                plain iSCSI floor, and the remote leg of dm-mirror and md
# DM_BACKING     the backing disk of dualmirror_peer (exported through pscsi)
# DRBD_BACKING   DRBD's peer disk
LOCAL= FLOOR_BACKING= DM_BACKING= DRBD_BACKING=
NULLB_NAMES="bench-local bench-floor bench-dm bench-drbd"
NULLB_CFS=/sys/kernel/config/nullb

PORTAL=127.0.0.1:3260
IQN_FLOOR=iqn.2026-11.org.example:bench-floor
IQN_DM=iqn.2026-11.org.example:bench-dualmirror
# The iSCSI login parameters of every session, on both sides.
ISCSI_PARAMS="ImmediateData=Yes InitialR2T=No MaxRecvDataSegmentLength=65536 FirstBurstLength=65536"

FLOOR_SD=
FLOOR_SID=
DM_SD=
DM_SID=
DM_PEER_SD=
DM_PEER_STATS=

sectors() {
	blockdev --getsz "$1"
}

set_noop_scheduler() {
	local q=/sys/block/${1#/dev/}/queue/scheduler
	[ ! -w "$q" ] || echo none >"$q" 2>/dev/null || true
}

# make_nullb NAME: a memory-backed null_blk disk of size_mb MiB that
# completes each request in the submitter's context (irqmode 0, like brd);
# prints its /dev node.
make_nullb() {
	local d=$NULLB_CFS/$1 dev
	mkdir "$d"
	echo "$size_mb" >"$d/size"
	echo 1 >"$d/memory_backed"
	echo 512 >"$d/blocksize"
	echo 0 >"$d/irqmode"
	echo 2 >"$d/queue_mode"
	echo 1 >"$d/power"
	# Kernels since 5.19 name the disk after the configfs directory.
	dev=/dev/$1
	[ -b "$dev" ] || dev=/dev/nullb$(cat "$d/index")
	[ -b "$dev" ] || die "no /dev/$1 or $dev appeared for null_blk $1"
	echo "$dev"
}

setup_disks() {
	if [ ! -d $NULLB_CFS ]; then
		# nr_devices=0: only the configfs devices below.
		modprobe null_blk nr_devices=0
	fi
	[ -d $NULLB_CFS ] || die "null_blk has no configfs interface"
	local n d
	remove_disks
	LOCAL=$(make_nullb bench-local)
	FLOOR_BACKING=$(make_nullb bench-floor)
	DM_BACKING=$(make_nullb bench-dm)
	DRBD_BACKING=$(make_nullb bench-drbd)
	for d in $LOCAL $FLOOR_BACKING $DM_BACKING $DRBD_BACKING; do
		set_noop_scheduler "$d"
		# A memory-backed null_blk allocates a page on its first write:
		# allocate them all now so that no configuration pays for it.
		dd if=/dev/zero of="$d" bs=1M count="$size_mb" oflag=direct status=none
	done
}

remove_disks() {
	local n
	for n in $NULLB_NAMES; do
		[ -d "$NULLB_CFS/$n" ] || continue
		echo 0 >"$NULLB_CFS/$n/power" 2>/dev/null || true
		rmdir "$NULLB_CFS/$n" 2>/dev/null || true
	done
}

# ---- LIO and open-iscsi ----------------------------------------------------

setup_lio() {
	modprobe -a target_core_mod target_core_iblock target_core_pscsi iscsi_target_mod
	mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
	modprobe iscsi_tcp
	mkdir -p /run/lock/iscsi /var/lib/iscsi /etc/iscsi
	pgrep -x iscsid >/dev/null || iscsid
	local i
	for i in $(seq 50); do
		iscsiadm -m session >/dev/null 2>&1 && break
		[ $? = 21 ] && break # "no active sessions": iscsid answered
		sleep 0.1
	done
}

# lio_export IQN BACKSTORE DEV: one iSCSI target, LUN 0, any initiator.
lio_export() {
	"$PY" - "$1" "$2" "$3" "$PORTAL" $ISCSI_PARAMS <<'PYEOF'
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
NetworkPortal(tpg, ip, int(port))
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

# iscsi_login IQN: discover, set the node's login parameters to match the
# target's, log in; print "SID SDNAME".
iscsi_login() {
	local iqn=$1 sid= sd= i
	iscsiadm -m discovery -t st -p "$PORTAL" >/dev/null
	local n=(iscsiadm -m node -T "$iqn" -p "$PORTAL" -o update)
	"${n[@]}" -n node.session.iscsi.InitialR2T -v No
	"${n[@]}" -n node.session.iscsi.ImmediateData -v Yes
	"${n[@]}" -n node.session.iscsi.FirstBurstLength -v 65536
	"${n[@]}" -n node.conn[0].iscsi.MaxRecvDataSegmentLength -v 65536
	"${n[@]}" -n node.session.queue_depth -v 32
	iscsiadm -m node -T "$iqn" -p "$PORTAL" --login >/dev/null
	sid=$(iscsiadm -m session | awk -v t="$iqn" '$4 == t { gsub(/[][]/, "", $2); print $2 }')
	[ -n "$sid" ] || die "no iSCSI session to $iqn after login"
	for i in $(seq 100); do
		sd=$(ls /sys/class/iscsi_session/session"$sid"/device/target*/*/block/ 2>/dev/null | head -n 1)
		[ -z "$sd" ] || [ ! -b "/dev/$sd" ] || break
		sleep 0.1
	done
	[ -n "$sd" ] && [ -b "/dev/$sd" ] || die "no disk appeared for session $sid ($iqn)"
	set_noop_scheduler "/dev/$sd"
	echo "$sid $sd"
}

iscsi_logout() {
	iscsiadm -m node -T "$1" -p "$PORTAL" --logout >/dev/null 2>&1 || true
	iscsiadm -m node -T "$1" -p "$PORTAL" -o delete >/dev/null 2>&1 || true
}

# The negotiated parameters of a session, for the record.
iscsi_negotiated() {
	iscsiadm -m session -r "$1" -P 3 2>/dev/null |
		sed -n '/Negotiated iSCSI params/,/^$/p;/Attached scsi disk/p'
}

setup_floor() {
	lio_export "$IQN_FLOOR" block "$FLOOR_BACKING"
	local r
	r=$(iscsi_login "$IQN_FLOOR") || return 1
	read -r FLOOR_SID FLOOR_SD <<<"$r"
	FLOOR_SD=/dev/$FLOOR_SD
	iscsi_negotiated "$FLOOR_SID" >"$raw/iscsi-floor-session.txt"
	log "plain iSCSI floor: $FLOOR_BACKING -> LIO block -> session $FLOOR_SID -> $FLOOR_SD"
}

# ---- configurations --------------------------------------------------------
#
# setup_CONFIG sets DEV (what fio writes to), SIDS (iSCSI sessions to count
# PDUs on), DMNAME (a dualmirror device to read counters from) and INFO;
# it returns non-zero with a reason in REASON when it cannot be built.

DEV= SIDS= DMNAME= INFO= REASON=

setup_local() {
	DEV=$LOCAL
	INFO="null_blk (memory-backed) $LOCAL, no mirror"
}
teardown_local() { :; }

setup_iscsi() {
	[ -n "$FLOOR_SD" ] || { REASON="the plain iSCSI LUN could not be set up"; return 1; }
	DEV=$FLOOR_SD SIDS=$FLOOR_SID
	INFO="$FLOOR_BACKING via LIO block backstore, loopback iSCSI session $FLOOR_SID ($FLOOR_SD)"
}
teardown_iscsi() { :; }

dm_dev() {
	local n
	n=$(dmsetup info -c --noheadings -o blkdevname "$1" 2>/dev/null) || return 1
	[ -b "/dev/mapper/$1" ] && { echo "/dev/mapper/$1"; return; }
	echo "/dev/$n"
}

setup_dm_mirror() {
	[ -n "$FLOOR_SD" ] || { REASON="the iSCSI LUN could not be set up"; return 1; }
	local len a b
	a=$(sectors $LOCAL) b=$(sectors "$FLOOR_SD")
	len=$((a < b ? a : b))
	# core log (in memory), 512 KiB regions, nosync: both legs start
	# identical (zeroed), as md's --assume-clean and DRBD's
	# --clear-bitmap, so no resync runs during the measurements.
	local table="0 $len mirror core 2 1024 nosync 2 $LOCAL 0 $FLOOR_SD 0 1 handle_errors"
	if ! dmsetup create bench-mirror --table "$table" 2>"$raw/err.txt"; then
		REASON="dmsetup create mirror: $(tr '\n' ' ' <"$raw/err.txt")"
		return 1
	fi
	DEV=$(dm_dev bench-mirror) SIDS=$FLOOR_SID
	INFO="dm mirror: $table"
}
teardown_dm_mirror() {
	dmsetup remove bench-mirror
}

setup_md_raid1() {
	[ -n "$FLOOR_SD" ] || { REASON="the iSCSI LUN could not be set up"; return 1; }
	command -v mdadm >/dev/null || { REASON="mdadm is not installed (apt-get install mdadm)"; return 1; }
	modprobe raid1
	if ! mdadm --create /dev/md100 --run --quiet --level=1 --raid-devices=2 \
		--metadata=1.2 --bitmap=internal --assume-clean \
		$LOCAL "$FLOOR_SD" >"$raw/err.txt" 2>&1; then
		REASON="mdadm --create: $(tr '\n' ' ' <"$raw/err.txt")"
		return 1
	fi
	DEV=/dev/md100 SIDS=$FLOOR_SID
	INFO="md raid1, metadata 1.2, internal bitmap ($(sed -n 's/^bitmap: //p;/bitmap:/{s/.*bitmap: *//p}' /proc/mdstat | head -n 1)), --assume-clean; $LOCAL + $FLOOR_SD"
	mdadm --detail /dev/md100 >"$raw/md-raid1-detail.txt" 2>&1 || true
	cat /proc/mdstat >>"$raw/md-raid1-detail.txt"
}
teardown_md_raid1() {
	mdadm --stop /dev/md100 >/dev/null 2>&1
	mdadm --zero-superblock $LOCAL "$FLOOR_SD" >/dev/null 2>&1 || true
}

# DRBD 8.4 (Debian's drbd.ko) between two resources of the same kernel:
# r0 (primary, on the local disk) and r1 (secondary, on DRBD_BACKING),
# joined by DRBD's own TCP connection over 127.0.0.1.  drbdsetup is driven
# directly: drbdadm insists that a resource's two "on HOST" sections name
# two different hosts, one of them this one.
setup_drbd() {
	modprobe drbd 2>"$raw/err.txt" || { REASON="modprobe drbd: $(cat "$raw/err.txt")"; return 1; }
	[ -x "$DRBDSETUP" ] || { REASON="$DRBDSETUP missing (apt-get install drbd-utils)"; return 1; }
	local m dev
	for m in "0 $LOCAL" "1 $DRBD_BACKING"; do
		set -- $m
		wipefs -a -q "$2" || true
		printf 'yes\nyes\nyes\n' | drbdmeta --force "$1" v08 "$2" internal create-md >"$raw/err.txt" 2>&1 ||
			{ REASON="drbdmeta create-md on $2: $(tail -n 3 "$raw/err.txt" | tr '\n' ' ')"; return 1; }
	done
	$DRBDSETUP new-resource r0 && $DRBDSETUP new-minor r0 0 0 &&
		$DRBDSETUP attach 0 $LOCAL $LOCAL internal &&
		$DRBDSETUP new-resource r1 && $DRBDSETUP new-minor r1 1 0 &&
		$DRBDSETUP attach 1 $DRBD_BACKING $DRBD_BACKING internal &&
		$DRBDSETUP connect r0 ipv4:127.0.0.1:7788 ipv4:127.0.0.1:7789 --protocol=C &&
		$DRBDSETUP connect r1 ipv4:127.0.0.1:7789 ipv4:127.0.0.1:7788 --protocol=C ||
		{ REASON="drbdsetup failed"; return 1; }
	for _ in $(seq 100); do
		[ "$(grep -c 'cs:Connected' /proc/drbd)" = 2 ] && break
		sleep 0.1
	done
	[ "$(grep -c 'cs:Connected' /proc/drbd)" = 2 ] ||
		{ REASON="the two DRBD resources did not connect: $(tr '\n' ' ' </proc/drbd)"; return 1; }
	$DRBDSETUP new-current-uuid --clear-bitmap 0
	$DRBDSETUP primary 0
	DEV=/dev/drbd0
	[ -b $DEV ] || { REASON="no $DEV"; return 1; }
	INFO="DRBD $(sed -n 's/^version: \([^ ]*\).*/\1/p' /proc/drbd) protocol C, internal metadata; r0 on $LOCAL (primary) <-TCP 127.0.0.1-> r1 on $DRBD_BACKING (secondary)"
	cat /proc/drbd >"$raw/drbd-state.txt"
}
teardown_drbd() {
	cat /proc/drbd >>"$raw/drbd-state.txt" 2>/dev/null || true
	$DRBDSETUP secondary 0 || true
	$DRBDSETUP down r0 || true
	$DRBDSETUP down r1 || true
}

# dualmirror: the peer module makes a virtual disk over DM_BACKING, LIO
# exports it through pscsi, the primary logs in and dmsetup creates the
# mirrored volume over LOCAL and that disk.
DM_READY=
DM_REASON=

dualmirror_prepare() {
	local ctl=$repo/scripts/dualmirrorctl
	if ! dmsetup targets | grep -q '^dualmirror '; then
		DM_REASON="the dualmirror target is not registered (dm-dualmirror.ko not built or not loaded)"
		return 1
	fi
	if [ ! -x "$ctl" ]; then
		DM_REASON="scripts/dualmirrorctl (peer add/export) is not in the tree yet"
		return 1
	fi
	local log=$raw/dualmirror-prepare.txt peer_sd
	if ! peer_sd=$("$ctl" peer add "$DM_BACKING" 2>>"$log"); then
		DM_REASON="dualmirrorctl peer add $DM_BACKING: $(tail -n 3 "$log" | tr '\n' ' ')"
		return 1
	fi
	peer_sd=$(grep -o '/dev/sd[a-z]*' <<<"$peer_sd" | tail -n 1)
	[ -b "$peer_sd" ] || { DM_REASON="dualmirrorctl peer add printed no /dev/sdX"; return 1; }
	DM_PEER_SD=$peer_sd
	# The peer's own counters: hostN of its SCSI disk.
	local h
	h=$(readlink -f "/sys/block/${peer_sd#/dev/}/device" | grep -o '/host[0-9]*/' | tr -d /)
	[ ! -d "/sys/class/scsi_host/$h/dualmirror_stats" ] ||
		DM_PEER_STATS=/sys/class/scsi_host/$h/dualmirror_stats
	echo "peer disk: $peer_sd over $DM_BACKING" >>"$log"
	if ! "$ctl" peer export "$peer_sd" "$IQN_DM" --portal "$PORTAL" >>"$log" 2>&1; then
		DM_REASON="dualmirrorctl peer export $peer_sd: $(tail -n 3 "$log" | tr '\n' ' ')"
		return 1
	fi
	local att
	if att=$("$ctl" primary attach "$PORTAL" "$IQN_DM" 2>>"$log"); then
		echo "attached with: dualmirrorctl primary attach $PORTAL $IQN_DM" >>"$log"
		DM_SD=$(grep -o '/dev/sd[a-z]*' <<<"$att" | tail -n 1)
		DM_SID=$(iscsiadm -m session | awk -v t="$IQN_DM" '$4 == t { gsub(/[][]/, "", $2); print $2 }')
	else
		# The primary half of dualmirrorctl is not there (or not
		# working) yet: log in with the same parameters ourselves.
		echo "dualmirrorctl primary attach failed; logging in with iscsiadm" >>"$log"
		iscsi_logout "$IQN_DM"
		local r
		r=$(iscsi_login "$IQN_DM" 2>>"$log") ||
			{ DM_REASON="iSCSI login to $IQN_DM: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
		read -r DM_SID DM_SD <<<"$r"
		DM_SD=/dev/$DM_SD
	fi
	[ -b "$DM_SD" ] || { DM_REASON="no peer disk on the primary side after login"; return 1; }
	set_noop_scheduler "$DM_SD"
	echo "primary side: session $DM_SID, $DM_SD" >>"$log"
	iscsi_negotiated "$DM_SID" >"$raw/iscsi-dualmirror-session.txt"
	log "dualmirror peer: $DM_BACKING -> dualmirror_peer $peer_sd -> LIO pscsi -> session $DM_SID -> $DM_SD"
	DM_READY=1
}

# setup_dualmirror [FEATURE-WORD...]: the mirror over LOCAL and the peer
# disk, with "nosync" (both legs start identical, as dm-mirror's nosync,
# md's --assume-clean and DRBD's --clear-bitmap: no initial sync runs
# during the measurements) and FEATURE-WORDs.
setup_dualmirror() {
	local features=${*:+$* }nosync
	[ -n "$DM_READY" ] || { REASON=$DM_REASON; return 1; }
	local len a b table
	a=$(sectors $LOCAL) b=$(sectors "$DM_SD")
	len=$((a < b ? a : b))
	# shellcheck disable=SC2086 # a list of words
	set -- $features
	table="0 $len dualmirror $LOCAL $DM_SD $# $features"
	if ! dmsetup create bench-dualmirror --table "$table" 2>"$raw/err.txt"; then
		REASON="dmsetup create: $(tr '\n' ' ' <"$raw/err.txt")"
		return 1
	fi
	DEV=$(dm_dev bench-dualmirror) SIDS=$DM_SID DMNAME=bench-dualmirror
	INFO="dualmirror: $table"
}
setup_dm_inline() { setup_dualmirror; }
setup_dm_split() { setup_dualmirror inline_max 0; }
teardown_dm_inline() { dmsetup remove bench-dualmirror; }
teardown_dm_split() { dmsetup remove bench-dualmirror; }

# ---- workloads -------------------------------------------------------------

fio_args() {
	case "$1" in
	randwrite-4k-qd1) echo "--rw=randwrite --bs=4k --iodepth=1" ;;
	randwrite-4k-qd32) echo "--rw=randwrite --bs=4k --iodepth=32" ;;
	seqwrite-64k) echo "--rw=write --bs=64k --iodepth=8" ;;
	seqwrite-1m) echo "--rw=write --bs=1m --iodepth=4" ;;
	randrw-4k-70-30) echo "--rw=randrw --rwmixread=70 --bs=4k --iodepth=8" ;;
	*) die "unknown workload $1" ;;
	esac
}

snapshot() {
	local base=$1
	cat /proc/stat >"$base.stat"
	if [ -n "$DMNAME" ]; then
		dmsetup status "$DMNAME" >"$base.dm" 2>&1 || true
	fi
	if [ -n "$DMNAME" ] && [ -n "$DM_PEER_STATS" ]; then
		grep -H . "$DM_PEER_STATS"/*_interrupts "$DM_PEER_STATS"/*_commands \
			"$DM_PEER_STATS"/*_writes "$DM_PEER_STATS"/*_rejected \
			>"$base.peer" 2>/dev/null || true
	fi
	local sid
	for sid in $SIDS; do
		echo "session $sid"
		iscsiadm -m session -r "$sid" -s 2>&1 || true
	done >"$base.iscsi"
}

run_workload() {
	local cfg=$1 wl=$2 dir=$raw/$1 round=$3
	local args base=$raw/$1/$2.r$3
	args=$(fio_args "$wl")
	snapshot "$base.before"
	local perf=()
	if [ "$profile" = 1 ] && [ "$round" = 1 ] && command -v perf >/dev/null; then
		# The window is fio's whole life: its start-up (page faults on
		# its buffers: clear_page_erms) is in the profile too. perf
		# itself takes seconds to start under TCG, so a window started
		# inside the run would miss short runs.
		perf=(perf record -a -g -F 999 -e cpu-clock -o "/tmp/perf-$cfg-$wl.data" --)
	fi
	# shellcheck disable=SC2086 # args is a list of options
	"${perf[@]}" fio --name="$wl" --filename="$DEV" --ioengine=libaio --direct=1 \
		--time_based --runtime="$runtime" --norandommap --randrepeat=0 \
		--lat_percentiles=1 --percentile_list=50:90:99:99.9 \
		--output-format=json --output="$base.fio.json" $args \
		>"$base.fio.log" 2>&1 || {
		log "$cfg $wl: fio failed: $(tail -n 3 "$base.fio.log" | tr '\n' ' ')"
		echo "fio failed: $(tail -n 3 "$base.fio.log" | tr '\n' ' ')" >"$base.failed"
	}
	snapshot "$base.after"
	if [ ${#perf[@]} -gt 0 ] && [ -f "/tmp/perf-$cfg-$wl.data" ]; then
		perf report -i "/tmp/perf-$cfg-$wl.data" --no-children --sort symbol \
			-g none --stdio 2>/dev/null | grep -v -e '^$' -e '^#' | head -n 60 >"$dir/$wl.perf.txt" || true
		# Who called the five hottest symbols (idle aside).
		local sym
		for sym in $(awk '$2 == "[k]" && $3 != "native_safe_halt" { print $3 }' \
			"$dir/$wl.perf.txt" | head -n 5); do
			echo "==== $sym"
			perf report -i "/tmp/perf-$cfg-$wl.data" --no-children -S "$sym" \
				-g caller,2 --stdio 2>/dev/null | grep -v -e '^$' -e '^#' | head -n 40
		done >"$dir/$wl.perf-callers.txt" || true
		perf report -i "/tmp/perf-$cfg-$wl.data" --no-children --sort dso \
			--stdio 2>/dev/null | grep -v -e '^$' -e '^#' | head -n 20 >"$dir/$wl.perf-dso.txt" || true
		rm -f "/tmp/perf-$cfg-$wl.data"
	fi
}

# ---- clean-up --------------------------------------------------------------

# Leave the guest as we found it (a selftest run goes on after us):
# idempotent, every step may find its object gone already.
cleanup() {
	local n
	for n in bench-mirror bench-dualmirror; do
		dmsetup remove "$n" >/dev/null 2>&1 || true
	done
	[ ! -b /dev/md100 ] || mdadm --stop /dev/md100 >/dev/null 2>&1 || true
	if [ -e /proc/drbd ]; then
		$DRBDSETUP down r0 >/dev/null 2>&1 || true
		$DRBDSETUP down r1 >/dev/null 2>&1 || true
	fi
	iscsi_logout "$IQN_DM"
	iscsi_logout "$IQN_FLOOR"
	if [ -n "$DM_PEER_SD" ]; then
		"$repo/scripts/dualmirrorctl" peer unexport "$IQN_DM" >/dev/null 2>&1 || true
		"$repo/scripts/dualmirrorctl" peer remove "$DM_PEER_SD" >/dev/null 2>&1 || true
	fi
	if [ -d /sys/kernel/config/target/iscsi ]; then
		lio_delete "$IQN_DM" >/dev/null 2>&1 || true
		lio_delete "$IQN_FLOOR" >/dev/null 2>&1 || true
	fi
	remove_disks
}
trap cleanup EXIT

# ---- main ------------------------------------------------------------------

{
	echo "kernel=$(uname -r)"
	echo "kernel_version=$(uname -v)"
	echo "fio=$(fio --version)"
	echo "cpus=$(nproc)"
	echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
	echo "runtime=$runtime"
	echo "rounds=$rounds"
	echo "size_mb=$size_mb"
	echo "configs=$configs"
	echo "workloads=$workloads"
	echo "iscsi_params=$ISCSI_PARAMS"
	echo "open_iscsi=$(iscsiadm --version 2>&1 | head -n 1)"
	echo "mdadm=$(mdadm --version 2>&1 | head -n 1)"
	echo "dm_targets=$(dmsetup targets | tr '\n' ';')"
	echo "modules=$(cut -d' ' -f1 /proc/modules | grep -i dualmirror | tr '\n' ' ')"
	echo "user_hz=$(getconf CLK_TCK)"
	echo "started=$(date -u +%FT%TZ)"
} >"$raw/env.txt"

log "disks: 4 x null_blk memory-backed $size_mb MiB, $rounds rounds of $runtime s per workload"
setup_disks
setup_lio
if ! setup_floor 2>"$raw/err.txt"; then
	log "plain iSCSI setup failed: $(cat "$raw/err.txt")"
fi
case " $configs " in
*" dm-inline "* | *" dm-split "*)
	dualmirror_prepare || log "dualmirror not available: $DM_REASON" ;;
esac

# Rounds: every configuration runs every workload once per round, rounds
# one after the other, so that a burst of load on the host hits one round
# of each configuration rather than all of one configuration; the report
# takes the median of the rounds.
# Each round also starts one step further along the list of configurations,
# so that none always runs first (or last) in a round.
read -r -a cfg_list <<<"$configs"
for round in $(seq "$rounds"); do
	n=${#cfg_list[@]}
	shift_by=$(((round - 1) * (n + rounds - 1) / rounds))
	order=()
	for i in $(seq 0 $((n - 1))); do
		order+=("${cfg_list[$(((i + shift_by) % n))]}")
	done
	for cfg in "${order[@]}"; do
		mkdir -p "$raw/$cfg"
		[ ! -f "$raw/$cfg/unavailable.txt" ] || continue
		DEV= SIDS= DMNAME= INFO= REASON=
		fn=setup_${cfg//-/_}
		if ! "$fn"; then
			log "$cfg: not available: $REASON"
			echo "$REASON" >"$raw/$cfg/unavailable.txt"
			continue
		fi
		if [ ! -b "$DEV" ]; then
			echo "$DEV is not a block device" >"$raw/$cfg/unavailable.txt"
			"teardown_${cfg//-/_}" || true
			continue
		fi
		if [ "$round" = 1 ]; then
			echo "$INFO" >"$raw/$cfg/info.txt"
			echo "dev=$DEV sids=$SIDS dm=$DMNAME" >>"$raw/$cfg/info.txt"
		fi
		log "round $round/$rounds $cfg: $INFO"
		for wl in $workloads; do
			run_workload "$cfg" "$wl" "$round"
		done
		"teardown_${cfg//-/_}" || log "$cfg: teardown failed"
	done
done

echo "finished=$(date -u +%FT%TZ)" >>"$raw/env.txt"
rm -f "$raw/err.txt"
log "done"
