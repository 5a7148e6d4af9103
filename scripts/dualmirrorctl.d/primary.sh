# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# dualmirrorctl, primary half: reach the peer disk over iSCSI (open-iscsi)
# and read the mirror's status. Sourced by scripts/dualmirrorctl, which calls
# primary_main and primary_usage; the commands are primary_attach,
# primary_detach and primary_status.

primary_usage() {
	cat <<'USAGE'
dualmirrorctl primary attach <portal> <target-iqn> [--chap USER:SECRET]
                             [--transport tcp|iser]
    Discover <target-iqn> at <portal> (IP[:PORT], default port 3260) with
    open-iscsi, log in (with CHAP if given), wait for the peer's disk and
    print it (/dev/sdX). --transport iser logs in over iSER (open-iscsi's
    "iser" iface, ib_iser; needs an RDMA device and a peer exported with
    "dualmirrorctl peer export ... --transport iser"); the default is
    iSCSI over TCP. Then create the mirror, e.g.:
      dmsetup create mirror --table \
        "0 $(blockdev --getsz /dev/LOCAL) dualmirror /dev/LOCAL /dev/sdX"

dualmirrorctl primary detach <target-iqn>
    Log out of <target-iqn> and forget its node record. Refused while a
    device-mapper device still uses the disk (dmsetup remove it first).

dualmirrorctl primary status <dm-name>
    The mirror's status line, one field per line with its name, and the
    interrupts per operation of each framing.
USAGE
}

# Print an error; the caller returns.  (The dispatcher runs under
# "set -euo pipefail": every expected failure here is tested.)
_primary_err() {
	echo "dualmirrorctl primary: $*" >&2
}

# The iSCSI session of a target: /sys/class/iscsi_session/sessionN.
_primary_session() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s/targetname" ] || continue
		[ "$(cat "$s/targetname")" = "$1" ] && { echo "$s"; return 0; }
	done
	return 1
}

# The disks (/dev/sdX) of a target's session.
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

_primary_iscsid() {
	modprobe -q "${1:-iscsi_tcp}" 2>/dev/null || true
	if pgrep -x iscsid >/dev/null; then
		return 0
	fi
	if command -v systemctl >/dev/null && systemctl start iscsid 2>/dev/null; then
		return 0
	fi
	if [ ! -s /etc/iscsi/initiatorname.iscsi ]; then
		_primary_err "no /etc/iscsi/initiatorname.iscsi (install open-iscsi)"
		return 1
	fi
	if ! iscsid; then
		_primary_err "cannot start iscsid"
		return 1
	fi
}

# _primary_disc PORTAL KEY VALUE: one setting of the discovery record.
_primary_disc() {
	iscsiadm -m discoverydb -t st -p "$1" -o update -n "$2" -v "$3" >/dev/null || true
}

# _primary_rdma_dev: an RDMA device exists (iSER needs one).
_primary_rdma_dev() {
	local d
	for d in /sys/class/infiniband/*; do
		[ -e "$d" ] && return 0
	done
	_primary_err "no RDMA device for iSER (for soft-RoCE: modprobe rdma_rxe; rdma link add rxe0 type rxe netdev ETH)"
	return 1
}

# _primary_node IQN PORTAL KEY VALUE: one setting of the node record.
_primary_node() {
	iscsiadm -m node -T "$1" -p "$2" -o update -n "$3" -v "$4" >/dev/null
}

# _primary_pm_on IQN: runtime PM off ("on") for the SCSI target of IQN's
# session. Debian's 6.1 kernel (since 6.1.167, upstream 29ab76827761
# "PM: runtime: Fix a race condition related to device removal") can warn
# at logout: the session's WQ_MEM_RECLAIM unbind work flushes the target's
# runtime-PM work on pm_wq (check_flush_dependency), a race that needs
# that work to be running; with control=on it is never queued. See
# Documentation/testing.rst, "A kernel warning at iSCSI logout".
_primary_pm_on() {
	local s f
	s=$(_primary_session "$1") || return 0
	for f in "$s"/device/target*/power/control; do
		[ -w "$f" ] && echo on >"$f"
	done
	return 0
}

primary_attach() {
	local portal='' iqn='' chap='' user secret disk _ transport=tcp
	local iface=()

	while [ $# -gt 0 ]; do
		case "$1" in
		--chap) [ $# -ge 2 ] || { _primary_err "--chap needs USER:SECRET"; return 2; }
			chap=$2; shift 2 ;;
		--chap=*) chap=${1#--chap=}; shift ;;
		--transport) [ $# -ge 2 ] || { _primary_err "--transport needs tcp or iser"; return 2; }
			transport=$2; shift 2 ;;
		--transport=*) transport=${1#--transport=}; shift ;;
		-h | --help) primary_usage; return 0 ;;
		-*) _primary_err "unknown option '$1'"; return 2 ;;
		*) if [ -z "$portal" ]; then portal=$1
		   elif [ -z "$iqn" ]; then iqn=$1
		   else _primary_err "too many arguments"; return 2; fi
		   shift ;;
		esac
	done
	if [ -z "$portal" ] || [ -z "$iqn" ]; then
		primary_usage >&2
		return 2
	fi
	case "$transport" in
	tcp) ;;
	iser) iface=(-I iser) ;;	# open-iscsi's built-in iSER iface
	*) _primary_err "--transport takes tcp or iser"; return 2 ;;
	esac
	case "$portal" in *:*) ;; *) portal=$portal:3260 ;; esac
	case "$iqn" in
	iqn.[0-9][0-9][0-9][0-9]-[0-9][0-9].*) ;;
	*) _primary_err "'$iqn' is not an iqn.YYYY-MM.reversed.domain[:name] name"; return 2 ;;
	esac
	if [ -n "$chap" ]; then
		user=${chap%%:*}
		secret=${chap#*:}
		if [ "$user" = "$chap" ] || [ -z "$user" ] || [ -z "$secret" ]; then
			_primary_err "--chap wants USER:SECRET"
			return 2
		fi
	fi
	command -v iscsiadm >/dev/null || { _primary_err "iscsiadm not found (apt-get install open-iscsi)"; return 1; }
	if [ "$transport" = iser ]; then
		_primary_rdma_dev || return 1
		_primary_iscsid ib_iser || return 1
		[ -d /sys/module/ib_iser ] || { _primary_err "cannot load ib_iser"; return 1; }
	else
		_primary_iscsid || return 1
	fi

	if _primary_session "$iqn" >/dev/null; then
		_primary_disks "$iqn" | head -n 1
		return 0
	fi
	# Discovery without authentication first (a target that does not ask
	# for it makes open-iscsi fail a CHAP discovery); with CHAP if refused.
	iscsiadm -m discoverydb -t st -p "$portal" -o delete >/dev/null 2>&1 || true
	iscsiadm -m node -T "$iqn" -p "$portal" -o delete >/dev/null 2>&1 || true
	if ! iscsiadm -m discovery -t st -p "$portal" "${iface[@]}" >/dev/null 2>&1; then
		if [ -z "$chap" ]; then
			_primary_err "discovery at $portal failed"
			return 1
		fi
		iscsiadm -m discoverydb -t st -p "$portal" -o new >/dev/null 2>&1 || true
		_primary_disc "$portal" discovery.sendtargets.auth.authmethod CHAP
		_primary_disc "$portal" discovery.sendtargets.auth.username "$user"
		_primary_disc "$portal" discovery.sendtargets.auth.password "$secret"
		if ! iscsiadm -m discoverydb -t st -p "$portal" "${iface[@]}" --discover >/dev/null; then
			_primary_err "discovery at $portal failed"
			return 1
		fi
	fi
	iscsiadm -m node -T "$iqn" -p "$portal" "${iface[@]}" >/dev/null 2>&1 ||
		{ _primary_err "$portal does not offer $iqn"; return 1; }
	if [ -n "$chap" ]; then
		if ! _primary_node "$iqn" "$portal" node.session.auth.authmethod CHAP ||
		   ! _primary_node "$iqn" "$portal" node.session.auth.username "$user" ||
		   ! _primary_node "$iqn" "$portal" node.session.auth.password "$secret"; then
			_primary_err "cannot store the CHAP settings"
			return 1
		fi
	fi
	if [ "$transport" = iser ]; then
		# iSER: the target reads every write's data with an RDMA READ; no
		# immediate data (LIO's isert hands it to pscsi in a way pscsi
		# refuses, Documentation/dualmirror-peer.rst "iSER"), no
		# unsolicited Data-Out. The export says so too (ImmediateData is
		# AND-ed, InitialR2T OR-ed at login).
		_primary_node "$iqn" "$portal" node.session.iscsi.InitialR2T Yes || true
		_primary_node "$iqn" "$portal" node.session.iscsi.ImmediateData No || true
	else
		# One round trip for inline writes: data in the command PDU, no
		# R2T (the target must agree: InitialR2T=No there too).
		_primary_node "$iqn" "$portal" node.session.iscsi.InitialR2T No || true
		_primary_node "$iqn" "$portal" node.session.iscsi.ImmediateData Yes || true
		_primary_node "$iqn" "$portal" node.session.iscsi.FirstBurstLength 262144 || true
		_primary_node "$iqn" "$portal" 'node.conn[0].iscsi.MaxRecvDataSegmentLength' \
			262144 || true
	fi
	iscsiadm -m node -T "$iqn" -p "$portal" "${iface[@]}" --login >/dev/null ||
		{ _primary_err "login to $iqn at $portal failed"; return 1; }

	modprobe -q sd_mod 2>/dev/null || true
	_primary_pm_on "$iqn"
	for _ in $(seq 100); do
		disk=$(_primary_disks "$iqn" | head -n 1)
		if [ -n "$disk" ] && [ -b "$disk" ]; then
			echo "$disk"
			return 0
		fi
		sleep 0.1
	done
	_primary_err "logged in to $iqn but no disk appeared"
	return 1
}

primary_detach() {
	local iqn=$1 disk h
	case "$iqn" in
	-h | --help) primary_usage; return 0 ;;
	'') primary_usage >&2; return 2 ;;
	esac
	for disk in $(_primary_disks "$iqn"); do
		for h in /sys/class/block/"${disk#/dev/}"/holders/*; do
			[ -e "$h" ] || continue
			_primary_err "$disk is in use by ${h##*/} ($(cat "$h/dm/name" 2>/dev/null)): dmsetup remove it first"
			return 1
		done
	done
	_primary_session "$iqn" >/dev/null || { _primary_err "not logged in to $iqn"; return 1; }
	iscsiadm -m node -T "$iqn" --logout >/dev/null ||
		{ _primary_err "logout from $iqn failed"; return 1; }
	iscsiadm -m node -T "$iqn" -o delete >/dev/null 2>&1
	return 0
}

primary_status() {
	local name=$1 line
	case "$name" in
	-h | --help) primary_usage; return 0 ;;
	'') primary_usage >&2; return 2 ;;
	esac
	line=$(dmsetup status "$name") || return 1
	# shellcheck disable=SC2086
	set -- $line
	[ "$3" = dualmirror ] || { _primary_err "$name is not a dualmirror device"; return 1; }
	shift 3
	printf '%-22s %s\n' state "$1" out_of_sync/total "$2" \
		inline_ops "$3" inline_irqs "$4" split_ops "$5" split_irqs "$6" \
		peer_errors "$7" inline_mean_us "$8" split_mean_us "$9" \
		generation "${10:-}" peer_flushes "${11:-}" fua_writes "${12:-}" \
		overlap_waits "${13:-}" last_peer_error "${14:-}"
	awk -v io="$3" -v ii="$4" -v so="$5" -v si="$6" 'BEGIN {
		printf "%-22s %s\n", "irqs_per_inline_op", io ? sprintf("%.2f", ii / io) : "-"
		printf "%-22s %s\n", "irqs_per_split_op", so ? sprintf("%.2f", si / so) : "-"
	}'
}

# Entry point for scripts/dualmirrorctl: primary_main COMMAND [ARG...].
primary_main() {
	local cmd=${1:-}

	if [ $# -gt 0 ]; then
		shift
	fi
	case "$cmd" in
	attach) primary_attach "$@" ;;
	detach) primary_detach "$@" ;;
	status) primary_status "$@" ;;
	-h | --help | help) primary_usage ;;
	'') primary_usage >&2; return 2 ;;
	*)
		_primary_err "unknown command '$cmd'"
		primary_usage >&2
		return 2
		;;
	esac
}
