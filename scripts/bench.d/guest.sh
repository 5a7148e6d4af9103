#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of scripts/bench: runs inside one scripts/vm-run guest, or
# (--pair) on the primary guest of a scripts/vm-pair run, where it sets up
# the peer's half on the peer guest through the peer's agent
# (selftests/pair/agent.py) with the functions of scripts/bench.d/lib.sh.
#
# Builds every configuration on memory-backed disks (null_blk), one after the
# other in the same boot, runs the same fio workloads against each and
# saves the raw figures (fio JSON, /proc/stat, dmsetup status and open-iscsi
# PDU counters before and after each workload; with --pair also the peer
# guest's /proc/stat) under OUT/raw/. The host half
# (scripts/bench.d/report.py) turns them into the table, JSON and plot.
#
# A configuration that cannot be built (the dualmirror modules are not
# ready, a tool is missing) gets OUT/raw/CONFIG/unavailable.txt with the
# reason and the run goes on.
#
#   guest.sh --out DIR [--runtime SECS] [--rounds N] [--size-mb MB] [--configs LIST]
#            [--workloads LIST] [--profile | --switches | --events]
#            [--wakeup-granularity NS]
#            [--dataless] [--disk KIND] [--pair [--netem-delay DELAY]]
set -euo pipefail

prog=bench-guest
repo=${DM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
# shellcheck source=scripts/bench.d/lib.sh
. "$repo/scripts/bench.d/lib.sh"
DRBDSETUP=/lib/drbd/drbdsetup-84

ALL_CONFIGS="local iscsi pscsi iser dm-inline dm-inline-iser dm-split dm-split-iser dm-meta dm-mirror md-raid1 drbd"
ALL_WORKLOADS="randwrite-4k-qd1 randwrite-4k-qd32 seqwrite-64k seqwrite-1m randrw-4k-70-30"

out=
runtime=4
rounds=3
size_mb=256
configs=
workloads=$ALL_WORKLOADS
profile=0
switches=0
events=0
wakeup_gran=
pair=0
netem_delay=

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--runtime) runtime=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--size-mb) size_mb=$2; shift 2 ;;
	--configs) configs=${2//,/ }; shift 2 ;;
	--workloads) workloads=${2//,/ }; shift 2 ;;
	--profile) profile=1; shift ;;
	--switches) switches=1; shift ;;
	--events) events=1; shift ;;
	--wakeup-granularity) wakeup_gran=$2; shift 2 ;;
	--dataless) export BENCH_NULLB_MEMORY=0; shift ;;
	--disk) export BENCH_DISK=$2; shift 2 ;;
	--pair) pair=1; shift ;;
	--netem-delay) netem_delay=$2; shift 2 ;;
	*) die "unknown argument '$1'" ;;
	esac
done
[ -n "$out" ] || die "--out DIR is required"
[ "$profile" = 0 ] || [ "$switches" = 0 ] || die "--profile and --switches: one at a time"
[ "$events" = 0 ] || [ "$profile$switches" = 00 ] || die "--events: not with --profile or --switches"
[ "$events" = 0 ] || command -v perf >/dev/null || die "--events needs perf (Debian's linux-perf)"
# Disks that keep no data are null_blk's; scsi_debug's keep theirs.
if [ -z "${BENCH_DISK:-}" ]; then
	[ "${BENCH_NULLB_MEMORY:-1}" = 0 ] && BENCH_DISK=nullb || BENCH_DISK=scsi_debug
fi
export BENCH_DISK
# iSER runs between two guests only: one guest's default leaves it out.
if [ -z "$configs" ]; then
	configs=$ALL_CONFIGS
	[ "$pair" = 1 ] || configs=$(tr ' ' '\n' <<<"$configs" | grep -v iser | paste -sd ' ')
fi
[ "$pair" = 1 ] || [ -z "$netem_delay" ] || die "--netem-delay needs --pair"
if [ "$pair" = 1 ]; then
	[ -n "${DM_PEER_CTL:-}" ] && [ -n "${DM_PEER_ADDR:-}" ] && [ -n "${DM_LINK_DEV:-}" ] ||
		die "--pair: not on the primary of a scripts/vm-pair run (no DM_PEER_CTL)"
fi
raw=$out/raw
mkdir -p "$raw"

# on_peer FUNCTION ARG...: run a function of lib.sh on the peer's side:
# here in one guest, on the peer guest through its agent with --pair
# (its output and status come back; stderr is merged into the output).
# The agent's shell does not inherit this one's environment: the peer's
# functions get BENCH_DISK (--disk) and BENCH_NULLB_MEMORY (--dataless)
# with the command, so that
# the peer guest's disks are made as the primary's are.
on_peer() {
	if [ "$pair" = 0 ]; then
		"$@"
		return
	fi
	"$PY" "$repo/selftests/pair/agent.py" run --host "$DM_PEER_CTL" --timeout 600 \
		"BENCH_DISK=$(printf '%q' "${BENCH_DISK:-scsi_debug}") BENCH_NULLB_MEMORY=$(printf '%q' "${BENCH_NULLB_MEMORY:-1}"); . scripts/bench.d/lib.sh; $(printf '%q ' "$@")"
}

# ---- disks -----------------------------------------------------------------
#
# Four memory-backed disks (lib.sh's bench_disks: scsi_debug, or null_blk
# with --disk nullb or --dataless):
# LOCAL          the local leg of every configuration (and the "local" row)
# FLOOR_BACKING  the peer disk exported through LIO's block backstore: the
#                plain iSCSI floor, and the remote leg of dm-mirror and md
# DM_BACKING     the backing disk of dualmirror_peer (exported through pscsi)
# DRBD_BACKING   DRBD's peer disk
# PSCSI_BACKING  the backing disk of a second dualmirror_peer disk, never
#                claimed, written with plain WRITEs (the "pscsi" row)
# and, with --pair and an iSER configuration, two more for iSER:
# FLOOR_ISER_BACKING (the plain iSER floor) and DM_ISER_BACKING
# (dualmirror_peer over iSER).
# LOCAL is the primary's, the others the peer's (on the peer guest
# with --pair).
LOCAL= FLOOR_BACKING= DM_BACKING= DRBD_BACKING= PSCSI_BACKING=
FLOOR_ISER_BACKING= DM_ISER_BACKING=
LOCAL_NAMES="bench-local"
PEER_NAMES="bench-floor bench-dm bench-drbd bench-pscsi"
ISER=0
case " $configs " in *"iser "*) ISER=1 ;; esac
[ "$ISER" = 0 ] || PEER_NAMES="$PEER_NAMES bench-floor-iser bench-dm-iser"

if [ "$pair" = 1 ]; then
	PORTAL=$DM_PEER_ADDR:3260
else
	PORTAL=127.0.0.1:3260
fi

FLOOR_SD=
FLOOR_SID=
DM_SD=
DM_SID=
DM_PEER_SD=
DM_PEER_STATS=

setup_disks() {
	# shellcheck disable=SC2086 # lists of names
	read -r LOCAL <<<"$(bench_disks "$size_mb" $LOCAL_NAMES)"
	# shellcheck disable=SC2086 # (the agent merges stderr: the last line)
	read -r FLOOR_BACKING DM_BACKING DRBD_BACKING PSCSI_BACKING FLOOR_ISER_BACKING DM_ISER_BACKING \
		<<<"$(on_peer bench_disks "$size_mb" $PEER_NAMES | tail -n 1)"
	[ -b "$LOCAL" ] || die "no local disk"
	[ -n "$DRBD_BACKING" ] || die "the peer's disks could not be made"
}

# ---- LIO and open-iscsi ----------------------------------------------------

# The peer's LIO target, and the primary's open-iscsi initiator.
setup_lio() {
	on_peer lio_start
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

# iscsi_login IQN [iser]: discover, set the node's login parameters to
# match the target's, log in (over iSER: open-iscsi's iser iface); print
# "SID SDNAME".
iscsi_login() {
	local iqn=$1 sid= sd= i iface=()
	[ "${2:-}" != iser ] || iface=(-I iser)
	iscsiadm -m discovery -t st -p "$PORTAL" "${iface[@]}" >/dev/null
	local n=(iscsiadm -m node -T "$iqn" -p "$PORTAL" "${iface[@]}" -o update)
	if [ "${2:-}" = iser ]; then
		"${n[@]}" -n node.session.iscsi.InitialR2T -v Yes
		"${n[@]}" -n node.session.iscsi.ImmediateData -v No
	else
		"${n[@]}" -n node.session.iscsi.InitialR2T -v No
		"${n[@]}" -n node.session.iscsi.ImmediateData -v Yes
		"${n[@]}" -n node.session.iscsi.FirstBurstLength -v 65536
		"${n[@]}" -n node.conn[0].iscsi.MaxRecvDataSegmentLength -v 65536
	fi
	"${n[@]}" -n node.session.queue_depth -v 32
	iscsiadm -m node -T "$iqn" -p "$PORTAL" "${iface[@]}" --login >/dev/null
	sid=$(iscsiadm -m session | awk -v t="$iqn" '$4 == t { gsub(/[][]/, "", $2); print $2 }')
	[ -n "$sid" ] || die "no iSCSI session to $iqn after login"
	local end=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$end" ]; do
		sd=$(ls /sys/class/iscsi_session/session"$sid"/device/target*/*/block/ 2>/dev/null | head -n 1)
		[ -z "$sd" ] || [ ! -b "/dev/$sd" ] || break
		sleep 0.1
	done
	[ -n "$sd" ] && [ -b "/dev/$sd" ] || die "no disk appeared for session $sid ($iqn)"
	# Runtime PM "on" for the session's SCSI target, as dualmirrorctl
	# sets it after a login: else the logout may race the target's
	# runtime-PM work into a kernel WARNING ("A kernel warning at iSCSI
	# logout" in Documentation/testing.rst).
	for i in /sys/class/iscsi_session/session"$sid"/device/target*/power/control; do
		[ ! -w "$i" ] || echo on >"$i"
	done
	set_noop_scheduler "/dev/$sd"
	echo "$sid $sd"
}

iscsi_logout() {
	iscsiadm -m node -T "$1" -p "$PORTAL" --logout >/dev/null 2>&1 || true
	iscsiadm -m node -T "$1" -p "$PORTAL" -o delete >/dev/null 2>&1 || true
	iscsiadm -m node -T "$1" -p "$PORTAL" -I iser -o delete >/dev/null 2>&1 || true
}

# The negotiated parameters of a session, for the record.
iscsi_negotiated() {
	iscsiadm -m session -r "$1" -P 3 2>/dev/null |
		sed -n '/Negotiated iSCSI params/,/^$/p;/Attached scsi disk/p'
}

setup_floor() {
	# (rtslib may warn about its dbroot: kept apart.)
	on_peer lio_export "$IQN_FLOOR" block "$FLOOR_BACKING" "$PORTAL" >"$raw/lio-floor.txt" 2>&1 ||
		{ cat "$raw/lio-floor.txt" >&2; return 1; }
	local r
	r=$(iscsi_login "$IQN_FLOOR") || return 1
	read -r FLOOR_SID FLOOR_SD <<<"$r"
	FLOOR_SD=/dev/$FLOOR_SD
	iscsi_negotiated "$FLOOR_SID" >"$raw/iscsi-floor-session.txt"
	log "plain iSCSI floor: $FLOOR_BACKING -> LIO block -> session $FLOOR_SID -> $FLOOR_SD"
}

# The plain iSER floor: soft-RoCE on both guests, FLOOR_ISER_BACKING
# exported over iSER (LIO block backstore), logged in with the iser iface.
# Sets ISER_READY, or ISER_REASON.
ISER_READY= ISER_REASON= FLOOR_ISER_SD= FLOOR_ISER_SID=
setup_iser_floor() {
	local r
	if [ "$pair" = 0 ]; then
		ISER_REASON="iSER runs between the two guests only (scripts/bench --pair)"
		return 1
	fi
	r=$(rxe_up) || { ISER_REASON="soft-RoCE on the primary: $r"; return 1; }
	r=$(on_peer rxe_up) || { ISER_REASON="soft-RoCE on the peer: $(tail -n 1 <<<"$r")"; return 1; }
	on_peer lio_export_iser "$IQN_FLOOR_ISER" "$FLOOR_ISER_BACKING" "$PORTAL" >"$raw/lio-floor-iser.txt" 2>&1 ||
		{ ISER_REASON="LIO export over iSER: $(tail -n 1 "$raw/lio-floor-iser.txt")"; return 1; }
	modprobe ib_iser || { ISER_REASON="modprobe ib_iser failed"; return 1; }
	r=$(iscsi_login "$IQN_FLOOR_ISER" iser 2>"$raw/err.txt") ||
		{ ISER_REASON="iSER login: $(tail -n 1 "$raw/err.txt")"; return 1; }
	read -r FLOOR_ISER_SID FLOOR_ISER_SD <<<"$r"
	FLOOR_ISER_SD=/dev/$FLOOR_ISER_SD
	iscsi_negotiated "$FLOOR_ISER_SID" >"$raw/iser-floor-session.txt"
	log "plain iSER floor: $FLOOR_ISER_BACKING -> LIO block (iSER) -> session $FLOOR_ISER_SID -> $FLOOR_ISER_SD"
	ISER_READY=1
}

# ---- configurations --------------------------------------------------------
#
# setup_CONFIG sets DEV (what fio writes to), SIDS (iSCSI sessions to count
# PDUs on), DMNAME (a dualmirror device to read counters from) and INFO;
# it returns non-zero with a reason in REASON when it cannot be built.

DEV= SIDS= DMNAME= INFO= REASON=

setup_local() {
	DEV=$LOCAL
	INFO="$(disk_kind) $LOCAL, no mirror"
}
teardown_local() { :; }

setup_iscsi() {
	[ -n "$FLOOR_SD" ] || { REASON="the plain iSCSI LUN could not be set up"; return 1; }
	DEV=$FLOOR_SD SIDS=$FLOOR_SID
	INFO="$FLOOR_BACKING via LIO block backstore, iSCSI session $FLOOR_SID to $PORTAL ($FLOOR_SD)"
	[ "$pair" = 1 ] || INFO=${INFO/iSCSI session/loopback iSCSI session}
}
teardown_iscsi() { :; }

# pscsi: the plain write again, to a dualmirror_peer disk of its own (over
# PSCSI_BACKING, never claimed, so its plain WRITEs are not fenced)
# exported through LIO's pscsi backstore, and logged in as the floor is.
# It differs from the floor by the peer's layer alone: pscsi's passthrough
# request, dualmirror_peer's SCSI host and its dispatch to the backing
# disk. dm-inline's remote leg takes the same layer with its mirror
# commands, so "dm-inline against pscsi" is what the primary's side and
# the mirror commands cost, and "pscsi against iscsi" what the peer's
# layer costs (Documentation/benchmarks.rst).
PSCSI_SD= PSCSI_SID= PSCSI_PEER_SD= PSCSI_REASON="not prepared"
pscsi_prepare() {
	local r
	if ! r=$(on_peer dm_peer_export "$PSCSI_BACKING" "$IQN_PSCSI" "$PORTAL" tcp 2>&1); then
		PSCSI_REASON=$(tail -n 1 <<<"$r")
		return 1
	fi
	read -r PSCSI_PEER_SD _ <<<"$(tail -n 1 <<<"$r")"
	r=$(iscsi_login "$IQN_PSCSI" 2>"$raw/err.txt") ||
		{ PSCSI_REASON="iSCSI login to $IQN_PSCSI: $(tail -n 1 "$raw/err.txt")"; return 1; }
	read -r PSCSI_SID PSCSI_SD <<<"$r"
	PSCSI_SD=/dev/$PSCSI_SD
	iscsi_negotiated "$PSCSI_SID" >"$raw/iscsi-pscsi-session.txt"
	log "plain write through pscsi: $PSCSI_BACKING -> dualmirror_peer $PSCSI_PEER_SD -> LIO pscsi -> session $PSCSI_SID -> $PSCSI_SD"
	PSCSI_REASON=
}

setup_pscsi() {
	[ -n "$PSCSI_SD" ] || { REASON=$PSCSI_REASON; return 1; }
	DEV=$PSCSI_SD SIDS=$PSCSI_SID
	INFO="$PSCSI_BACKING via dualmirror_peer $PSCSI_PEER_SD (not claimed) and LIO pscsi backstore, iSCSI session $PSCSI_SID to $PORTAL ($PSCSI_SD)"
	[ "$pair" = 1 ] || INFO=${INFO/iSCSI session/loopback iSCSI session}
}
teardown_pscsi() { :; }

setup_iser() {
	[ -n "$ISER_READY" ] || { REASON=$ISER_REASON; return 1; }
	DEV=$FLOOR_ISER_SD SIDS=$FLOOR_ISER_SID
	INFO="$FLOOR_ISER_BACKING via LIO block backstore, iSER session $FLOOR_ISER_SID to $PORTAL ($FLOOR_ISER_SD, soft-RoCE rxe0 on $DM_LINK_DEV)"
}
teardown_iser() { :; }

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

# --dataless: what a mirror reads back from its own disks.  md and DRBD
# write their metadata (md's superblock, DRBD's drbdmeta) and read it back
# when they assemble or attach a disk, which a disk that keeps no data
# cannot give them (mdadm --create fails with "ADD_NEW_DISK ... Invalid
# argument", drbdsetup attach finds no metadata): their rows say so
# instead of trying.  dm-mirror (core log, nosync) and dualmirror
# (nosync; dm-meta's superblock is zeroed before each table, and a
# dataless read leaves the target's zeroed buffer as it was: a fresh
# bitmap, as with memory) read nothing back, and fio only writes, or
# reads without verifying (randrw-4k-70-30).
DATALESS_MD="md raid1 needs disks that keep data: md reads back the superblock mdadm writes (--dataless)"
DATALESS_DRBD="DRBD needs disks that keep data: it reads back the metadata drbdmeta writes (--dataless)"

setup_md_raid1() {
	[ "${BENCH_NULLB_MEMORY:-1}" != 0 ] || { REASON=$DATALESS_MD; return 1; }
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
# md-raid1-nowbt (only with -c): md raid1 with writeback throttling off
# on both members.  raid1 clones a write with REQ_SYNC but not REQ_IDLE,
# so wbt (on by default for these blk-mq disks) may throttle md's member
# writes, where it lets dualmirror's legs and every direct write
# through: this row measures what that throttling does to md raid1.
setup_md_raid1_nowbt() {
	local d
	[ -n "$FLOOR_SD" ] || { REASON="the iSCSI LUN could not be set up"; return 1; }
	for d in $LOCAL "$FLOOR_SD"; do
		if ! wbt_set "$d" 0; then
			md_wbt_restore
			REASON="cannot turn writeback throttling off on $d"
			return 1
		fi
	done
	setup_md_raid1 || { md_wbt_restore; return 1; }
	INFO="$INFO; writeback throttling off on both members (wbt_lat_usec 0)"
}
teardown_md_raid1_nowbt() {
	teardown_md_raid1
	md_wbt_restore
}
md_wbt_restore() {
	local d
	for d in $LOCAL "$FLOOR_SD"; do
		wbt_set "$d" -1 || true
	done
}
# wbt_set DEV USEC: a disk's writeback throttling latency target (0: off,
# -1: the kernel's default again).
wbt_set() {
	local f="/sys/block/${1#/dev/}/queue/wbt_lat_usec"
	[ -w "$f" ] && echo "$2" >"$f"
}

# DRBD 8.4 (Debian's drbd.ko) between two resources of the same kernel:
# r0 (primary, on the local disk) and r1 (secondary, on DRBD_BACKING),
# joined by DRBD's own TCP connection over 127.0.0.1.  drbdsetup is driven
# directly: drbdadm insists that a resource's two "on HOST" sections name
# two different hosts, one of them this one.
setup_drbd() {
	[ "${BENCH_NULLB_MEMORY:-1}" != 0 ] || { REASON=$DATALESS_DRBD; return 1; }
	[ "$pair" = 0 ] || { setup_drbd_pair; return; }
	modprobe drbd 2>"$raw/err.txt" || { REASON="modprobe drbd: $(cat "$raw/err.txt")"; return 1; }
	[ -x "$DRBDSETUP" ] || { REASON="$DRBDSETUP missing (apt-get install drbd-utils)"; return 1; }
	REASON=$(drbd_create_md 0 "$LOCAL") && REASON=$(drbd_create_md 1 "$DRBD_BACKING") || return 1
	$DRBDSETUP new-resource r0 && $DRBDSETUP new-minor r0 0 0 &&
		$DRBDSETUP attach 0 $LOCAL $LOCAL internal &&
		$DRBDSETUP new-resource r1 && $DRBDSETUP new-minor r1 1 0 &&
		$DRBDSETUP attach 1 $DRBD_BACKING $DRBD_BACKING internal &&
		$DRBDSETUP connect r0 ipv4:127.0.0.1:7788 ipv4:127.0.0.1:7789 --protocol=C &&
		$DRBDSETUP connect r1 ipv4:127.0.0.1:7789 ipv4:127.0.0.1:7788 --protocol=C ||
		{ REASON="drbdsetup failed"; return 1; }
	drbd_wait_connected 2 10 ||
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
	[ "$pair" = 0 ] || { teardown_drbd_pair; return; }
	$DRBDSETUP secondary 0 || true
	$DRBDSETUP down r0 || true
	$DRBDSETUP down r1 || true
}

# DRBD 8.4 between the two guests, configured as between two servers:
# one resource file naming both hosts (the guests' host names), drbdadm
# on each node (lib.sh's drbd_node_up), this guest primary on LOCAL, the
# peer guest secondary on DRBD_BACKING, over the link.
setup_drbd_pair() {
	local me peer_host
	me=$(uname -n)
	peer_host=$(on_peer uname -n) || { REASON="no host name from the peer"; return 1; }
	local hosts=("$me" "$LOCAL" "$DM_PRIMARY_ADDR" "$peer_host" "$DRBD_BACKING" "$DM_PEER_ADDR")
	REASON=$(drbd_node_up "${hosts[@]}") || return 1
	REASON=$(on_peer drbd_node_up "${hosts[@]}") || { REASON=$(tail -n 1 <<<"$REASON"); return 1; }
	drbd_wait_connected 1 30 ||
		{ REASON="DRBD did not connect to $peer_host: $(tr '\n' ' ' </proc/drbd)"; return 1; }
	drbdadm -c "$DRBD_CONF" -- --clear-bitmap new-current-uuid "$DRBD_RES" >"$raw/err.txt" 2>&1 &&
		drbdadm -c "$DRBD_CONF" primary "$DRBD_RES" >>"$raw/err.txt" 2>&1 ||
		{ REASON="drbdadm new-current-uuid/primary: $(tail -n 3 "$raw/err.txt" | tr '\n' ' ')"; return 1; }
	DEV=/dev/drbd0
	[ -b $DEV ] || { REASON="no $DEV"; return 1; }
	INFO="DRBD $(sed -n 's/^version: \([^ ]*\).*/\1/p' /proc/drbd) protocol C, internal metadata, drbdadm; $me on $LOCAL (primary) <-TCP $DM_PRIMARY_ADDR:$DRBD_PORT-$DM_PEER_ADDR:$DRBD_PORT-> $peer_host on $DRBD_BACKING (secondary)"
	{
		cat "$DRBD_CONF"
		cat /proc/drbd
	} >"$raw/drbd-state.txt"
}
teardown_drbd_pair() {
	drbd_node_down
	on_peer drbd_node_down
}

# dualmirror: the peer module makes a virtual disk over DM_BACKING, LIO
# exports it through pscsi, the primary logs in and dmsetup creates the
# mirrored volume over LOCAL and that disk.
DM_READY=
DM_REASON=

# dualmirror_prepare [iser]: the peer disk over iSCSI (DM_*), or with
# "iser" the second one over iSER (the same variables, saved as DMI_*:
# dm_use picks the set a configuration uses).
DMT_READY= DMT_REASON= DMT_SD= DMT_SID= DMT_PEER_SD= DMT_PEER_STATS=
DMI_READY= DMI_REASON="not prepared" DMI_SD= DMI_SID= DMI_PEER_SD= DMI_PEER_STATS=
dualmirror_prepare() {
	local ctl=$repo/scripts/dualmirrorctl t=${1:-tcp} iqn=$IQN_DM backing=$DM_BACKING
	[ "$t" = tcp ] || iqn=$IQN_DM_ISER backing=$DM_ISER_BACKING
	DM_READY= DM_SD= DM_SID= DM_PEER_SD= DM_PEER_STATS=
	if ! dmsetup targets | grep -q '^dualmirror '; then
		DM_REASON="the dualmirror target is not registered (dm-dualmirror.ko not built or not loaded)"
		return 1
	fi
	if [ "$t" = iser ] && [ -z "$ISER_READY" ]; then
		DM_REASON=$ISER_REASON
		return 1
	fi
	local log=$raw/dualmirror-prepare-$t.txt r
	# The peer's half: a dualmirror_peer disk over its backing, exported.
	if ! r=$(on_peer dm_peer_export "$backing" "$iqn" "$PORTAL" "$t" 2>&1); then
		DM_REASON=$(tail -n 1 <<<"$r")
		return 1
	fi
	read -r DM_PEER_SD DM_PEER_STATS <<<"$(tail -n 1 <<<"$r")"
	[ "$DM_PEER_STATS" != - ] || DM_PEER_STATS=
	echo "peer disk: $DM_PEER_SD over $backing (counters: ${DM_PEER_STATS:-none})" >>"$log"
	local att
	if att=$("$ctl" primary attach "$PORTAL" "$iqn" --transport "$t" 2>>"$log"); then
		echo "attached with: dualmirrorctl primary attach $PORTAL $iqn --transport $t" >>"$log"
		DM_SD=$(grep -o '/dev/sd[a-z]*' <<<"$att" | tail -n 1)
		DM_SID=$(iscsiadm -m session | awk -v t="$iqn" '$4 == t { gsub(/[][]/, "", $2); print $2 }')
	elif [ "$t" = iser ]; then
		DM_REASON="dualmirrorctl primary attach --transport iser: $(tail -n 1 "$log")"
		return 1
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
	iscsi_negotiated "$DM_SID" >"$raw/$([ "$t" = tcp ] && echo iscsi || echo iser)-dualmirror-session.txt"
	log "dualmirror peer ($t): $backing -> dualmirror_peer $DM_PEER_SD -> LIO pscsi -> session $DM_SID -> $DM_SD"
	DM_READY=1
}

# A transport's peer disk is described by the set READY REASON SD SID
# PEER_SD PEER_STATS: DM_* is the set in use, DMT_* keeps the tcp one and
# DMI_* the iser one.  dm_copy FROM TO copies FROM_* to TO_*.
dm_copy() {
	local v from
	for v in READY REASON SD SID PEER_SD PEER_STATS; do
		from=${1}_$v
		printf -v "${2}_$v" '%s' "${!from}"
	done
}
# dm_save tcp|iser: keep DM_* as that transport's set (DMT_* or DMI_*).
dm_save() { if [ "$1" = tcp ]; then dm_copy DM DMT; else dm_copy DM DMI; fi; }
# dm_use tcp|iser: take that transport's set back into DM_*.
dm_use() { if [ "$1" = tcp ]; then dm_copy DMT DM; else dm_copy DMI DM; fi; }

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
setup_dm_inline() { dm_use tcp; setup_dualmirror; }
setup_dm_split() { dm_use tcp; setup_dualmirror inline_max 0; }
# dm-inline-64k (only with -c): writes up to 64 KiB inline, the largest
# that fits one PDU with the sessions' FirstBurstLength of 64 KiB.
setup_dm_inline_64k() { dm_use tcp; setup_dualmirror inline_max 65536; }
teardown_dm_inline_64k() { dmsetup remove bench-dualmirror; }
teardown_dm_inline() { dmsetup remove bench-dualmirror; }
teardown_dm_split() { dmsetup remove bench-dualmirror; }
# The same two over iSER.
setup_dm_inline_iser() { dm_use iser; setup_dualmirror; }
setup_dm_split_iser() { dm_use iser; setup_dualmirror inline_max 0; }
teardown_dm_inline_iser() { dmsetup remove bench-dualmirror; }
teardown_dm_split_iser() { dmsetup remove bench-dualmirror; }
# dm-meta: the default table with its write-intent bitmap on a metadata
# disk of its own (new metadata each time): the cost of the bitmap.
setup_dm_meta() {
	dm_use tcp
	[ -n "$DM_READY" ] || { REASON=$DM_REASON; return 1; }
	[ -b "${DM_META:-}" ] || DM_META=$(make_nullb bench-meta 16) ||
		{ REASON="no metadata disk"; return 1; }
	dd if=/dev/zero of="$DM_META" bs=4k count=1 oflag=direct,sync status=none
	setup_dualmirror meta_dev "$DM_META"
}
teardown_dm_meta() { dmsetup remove bench-dualmirror; }

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

# snapshot BASE: the counters before (BASE ends in .before) or after a fio
# run; this guest's /proc/stat is read nearest to fio.
# With --pair the peer guest's are read through its agent (about a second,
# while this guest reads its own); between two workloads of the same
# configuration nothing but this runs on the peer, so the peer's counters
# after one workload (PEER_LAST) serve as those before the next.
PEER_LAST=
snapshot() {
	local base=$1
	case "$base" in *.after) cat /proc/stat >"$base.stat" ;; esac
	if [ -n "$DMNAME" ]; then
		dmsetup status "$DMNAME" >"$base.dm" 2>&1 || true
	fi
	local peer_stats=
	[ -z "$DMNAME" ] || peer_stats=$DM_PEER_STATS
	if [ "$pair" = 1 ] && [ -n "$PEER_LAST" ] && [ "${base%.before}" != "$base" ]; then
		cp "$PEER_LAST" "$base.peer-all"
		true &
	elif [ "$pair" = 1 ]; then
		# shellcheck disable=SC2086 # none or one directory
		on_peer peer_snapshot $peer_stats >"$base.peer-all" 2>&1 &
	elif [ -n "$peer_stats" ]; then
		peer_counters "$peer_stats" >"$base.peer"
	fi
	local sid
	for sid in $SIDS; do
		echo "session $sid"
		iscsiadm -m session -r "$sid" -s 2>&1 || true
	done >"$base.iscsi"
	if [ "$pair" = 1 ]; then
		wait $!
		sed '/^## dualmirror_stats$/,$d' "$base.peer-all" >"$base.peer-stat"
		[ -z "$peer_stats" ] || sed '1,/^## dualmirror_stats$/d' "$base.peer-all" >"$base.peer"
		PEER_LAST=/tmp/bench-peer-last
		mv "$base.peer-all" "$PEER_LAST"
	fi
	case "$base" in *.before) cat /proc/stat >"$base.stat" ;; esac
}

# fio_ios JSON: the I/Os (reads and writes) of one fio run, 0 if unknown.
fio_ios() {
	"$PY" -c 'import json, sys; print(sum(j["write"]["total_ios"] + j["read"]["total_ios"] for j in json.load(open(sys.argv[1]))["jobs"]))' \
		"$1" 2>/dev/null || echo 0
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
		# and the peer guest's, over the same window
		[ "$pair" = 0 ] || on_peer peer_perf_start "$cfg-$wl" >/dev/null
	elif [ "$switches" = 1 ] && [ "$round" = 1 ] && command -v perf >/dev/null; then
		perf=(perf record -a -g -e sched:sched_switch -o "/tmp/perf-$cfg-$wl.data" --)
	elif [ "$events" = 1 ]; then
		mapfile -t perf < <(events_perf "$DEV" "$base.events.csv")
		[ ${#perf[@]} -gt 0 ] || die "--events: no perf command line for $DEV"
		# Once: a tracepoint this kernel lacks would stop fio from
		# running at all, in every configuration.
		if [ -z "${events_checked:-}" ]; then
			"${perf[@]}" true >/tmp/bench-events-check 2>&1 ||
				die "--events: perf cannot count $(bench_events | cut -d '|' -f 2 | sort -u | paste -sd ' '): $(tail -n 3 /tmp/bench-events-check | tr '\n' ' ')"
			events_checked=1
		fi
	fi
	# With --profile, round 1: every thread's context switches around the
	# run (lib.sh's task_switches), on both guests.
	if [ "$profile" = 1 ] && [ "$round" = 1 ]; then
		task_switches "/tmp/bench-tasks-before"
		[ "$pair" = 0 ] || on_peer task_switches /tmp/bench-tasks-before >/dev/null
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
	[ "$events" = 0 ] || [ ! -s "$base.events.csv" ] ||
		events_label "$base.events.csv" "$base.events" || log "$cfg $wl: perf's counts not read"
	if [ "$profile" = 1 ] && [ "$round" = 1 ]; then
		local ios
		ios=$(fio_ios "$base.fio.json")
		task_switches /tmp/bench-tasks-after
		task_switch_summary /tmp/bench-tasks-before /tmp/bench-tasks-after "$ios" >"$dir/$wl.ctxsw.txt"
		if [ "$pair" = 1 ]; then
			on_peer task_switches /tmp/bench-tasks-after >/dev/null
			on_peer task_switch_summary /tmp/bench-tasks-before /tmp/bench-tasks-after "$ios" \
				>"$dir/$wl.peer-ctxsw.txt"
		fi
	fi
	if [ ${#perf[@]} -gt 0 ]; then
		[ "$pair" = 0 ] || [ "$profile" = 0 ] ||
			on_peer peer_perf_stop "$cfg-$wl" >"$dir/$wl.peer-perf.txt"
		if [ -f "/tmp/perf-$cfg-$wl.data" ] && [ "$switches" = 1 ]; then
			switch_summary "/tmp/perf-$cfg-$wl.data" "$dir/$wl" \
				"$(fio_ios "$base.fio.json")"
			rm -f "/tmp/perf-$cfg-$wl.data"
		elif [ -f "/tmp/perf-$cfg-$wl.data" ]; then
			perf_summary "/tmp/perf-$cfg-$wl.data" "$dir/$wl"
			rm -f "/tmp/perf-$cfg-$wl.data"
		fi
	fi
}

# ---- clean-up --------------------------------------------------------------

# Leave the guest as we found it (a selftest run goes on after us):
# idempotent, every step may find its object gone already.
cleanup() {
	local n
	if [ -n "$wakeup_gran" ]; then
		[ -z "${gran_before:-}" ] || sched_setup "$gran_before" >/dev/null 2>&1 || true
		[ -z "${peer_gran_before:-}" ] || on_peer sched_setup "$peer_gran_before" >/dev/null 2>&1 || true
	fi
	for n in bench-mirror bench-dualmirror; do
		dmsetup remove "$n" >/dev/null 2>&1 || true
	done
	[ ! -b /dev/md100 ] || mdadm --stop /dev/md100 >/dev/null 2>&1 || true
	if [ -e /proc/drbd ] && [ "$pair" = 0 ]; then
		$DRBDSETUP down r0 >/dev/null 2>&1 || true
		$DRBDSETUP down r1 >/dev/null 2>&1 || true
	fi
	drbd_node_down
	iscsi_logout "$IQN_DM"
	iscsi_logout "$IQN_FLOOR"
	iscsi_logout "$IQN_PSCSI"
	iscsi_logout "$IQN_DM_ISER"
	iscsi_logout "$IQN_FLOOR_ISER"
	[ -z "$netem_delay" ] || link_netem
	# shellcheck disable=SC2086 # a list of names
	on_peer peer_cleanup "${DMT_PEER_SD:--}" "${DMI_PEER_SD:--}" "${PSCSI_PEER_SD:--}" $PEER_NAMES >/dev/null 2>&1 || true
	rxe_down
	# shellcheck disable=SC2086
	remove_disks $LOCAL_NAMES
}
trap cleanup EXIT

# ---- main ------------------------------------------------------------------

# What each guest's scheduler is; with --wakeup-granularity, the
# granularity it had first, which cleanup gives back.
sched=$(sched_setup)
peer_sched=
[ "$pair" = 0 ] || peer_sched=$(on_peer sched_setup)
gran_before=${sched#* } peer_gran_before=${peer_sched#* }
if [ -n "$wakeup_gran" ]; then
	sched=$(sched_setup "$wakeup_gran") ||
		die "--wakeup-granularity: the guest's scheduler refused $wakeup_gran"
	[ "$pair" = 0 ] || peer_sched=$(on_peer sched_setup "$wakeup_gran") ||
		die "--wakeup-granularity: the peer guest's scheduler refused $wakeup_gran"
fi
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
	echo "disk=${BENCH_DISK:-scsi_debug}"
	echo "nullb_memory_backed=${BENCH_NULLB_MEMORY:-1}"
	echo "configs=$configs"
	echo "workloads=$workloads"
	echo "iscsi_params=$ISCSI_PARAMS"
	echo "open_iscsi=$(iscsiadm --version 2>&1 | head -n 1)"
	echo "mdadm=$(mdadm --version 2>&1 | head -n 1)"
	echo "dm_targets=$(dmsetup targets | tr '\n' ';')"
	echo "modules=$(cut -d' ' -f1 /proc/modules | grep -i dualmirror | tr '\n' ' ')"
	echo "user_hz=$(getconf CLK_TCK)"
	# The scheduler decides how many I/Os the iSCSI transmit worker
	# takes per wake-up on one vCPU: record what it was
	# (Documentation/benchmarks.rst, "One guest, QD32: the scheduler,
	# and md raid1's writeback throttling").
	echo "sched_preempt=${sched%% *}"
	echo "sched_wakeup_granularity_ns=${sched#* }"
	echo "started=$(date -u +%FT%TZ)"
	if [ "$pair" = 1 ]; then
		echo "mode=pair"
		echo "host=$(uname -n)"
		echo "peer_host=$(on_peer uname -n)"
		echo "peer_kernel=$(on_peer uname -r)"
		echo "peer_cpus=$(on_peer nproc)"
		echo "peer_modules=$(on_peer cut -d' ' -f1 /proc/modules | grep -i dualmirror | tr '\n' ' ')"
		echo "link=$DM_LINK_DEV $DM_PRIMARY_ADDR -> $DM_PEER_ADDR"
		echo "netem_delay=$netem_delay"
		echo "peer_sched_preempt=${peer_sched%% *}"
		echo "peer_sched_wakeup_granularity_ns=${peer_sched#* }"
	fi
} >"$raw/env.txt"

if [ "$pair" = 1 ]; then
	log "two guests: $(uname -n) (primary) and $(on_peer uname -n) (peer) over $DM_LINK_DEV"
	if [ -n "$netem_delay" ]; then
		# Both sides: every round trip over the link gains twice DELAY.
		link_netem delay "$netem_delay"
		on_peer link_netem delay "$netem_delay" >/dev/null ||
			die "netem on the peer's side failed"
		log "netem delay $netem_delay on both sides of the link"
	fi
	# The link's round trip as the benchmark found it (busybox ping).
	rtt=$(busybox ping -c 5 -q "$DM_PEER_ADDR" 2>&1 | sed -n 's|.*min/avg/max = \([^ ]*\).*|\1|p')
	echo "link_rtt_ms=$rtt" >>"$raw/env.txt"
	log "link round trip min/avg/max: $rtt ms"
fi
log "disks: $(wc -w <<<"$LOCAL_NAMES $PEER_NAMES") x $(disk_kind) of $size_mb MiB, $rounds rounds of $runtime s per workload"
setup_disks
# Which disks keep data, as each guest's kernel took them (lib.sh's
# disk_describe): this guest's disks in raw/disks.txt, and with --pair the
# peer guest's in raw/peer-disks.txt and, in env.txt, the values its disks
# have (peer_disk=scsi_debug with --disk scsi_debug, peer_nullb_blocking=0
# with --dataless; "0,1" if they differed).
disk_values() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | sort -u | paste -sd ,
}
disk_describe >"$raw/disks.txt"
echo "nullb_blocking=$(disk_values blocking "$raw/disks.txt")" >>"$raw/env.txt"
if [ "$pair" = 1 ]; then
	on_peer disk_describe | grep ' kind=' >"$raw/peer-disks.txt" || true
	{
		echo "peer_disk=$(disk_values kind "$raw/peer-disks.txt")"
		for key in memory_backed blocking; do
			echo "peer_nullb_$key=$(disk_values "$key" "$raw/peer-disks.txt")"
		done
	} >>"$raw/env.txt"
	log "the peer guest's disks: $(sed -n 's/^peer_\(disk\|nullb_\)//p' "$raw/env.txt" | paste -sd ' ')"
fi
setup_lio
if ! setup_floor 2>"$raw/err.txt"; then
	log "plain iSCSI setup failed: $(cat "$raw/err.txt")"
fi
case " $configs " in *" pscsi "*)
	pscsi_prepare || log "the plain write through pscsi is not available: $PSCSI_REASON" ;;
esac
case " $configs " in
*" dm-inline "* | *" dm-split "* | *" dm-meta "* | *" dm-inline-64k "*)
	dualmirror_prepare tcp || log "dualmirror not available: $DM_REASON"
	dm_save tcp ;;
esac
if [ "$ISER" = 1 ]; then
	setup_iser_floor || log "iSER not available: $ISER_REASON"
	case " $configs " in
	*" dm-inline-iser "* | *" dm-split-iser "*)
		dualmirror_prepare iser || log "dualmirror over iSER not available: $DM_REASON"
		dm_save iser ;;
	esac
fi

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
		DEV= SIDS= DMNAME= INFO= REASON= PEER_LAST=
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
