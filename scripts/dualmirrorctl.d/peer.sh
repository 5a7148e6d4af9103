# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# dualmirrorctl peer: the peer half of dualmirrorctl, sourced by the
# dispatcher (scripts/dualmirrorctl), which provides dmctl_* helpers.
# Documentation/dualmirror-peer.rst describes the kernel interface used
# here (/sys/devices/dualmirror_peer/ and /sys/class/scsi_host/hostN/).

PEER_SYSFS=/sys/devices/dualmirror_peer
PEER_MOD=dualmirror_peer
PEER_CONFIGFS=/sys/kernel/config/target

peer_usage() {
	cat <<EOF
usage: $DMCTL_PROG peer COMMAND [ARGS...]

Commands:
  add BACKING-DEV
      Attach a block device (opened exclusively) and create a SCSI disk of
      the same capacity and logical block size on a new SCSI host; print
      the disk (/dev/sdX).
  remove SCSI-DISK
      Detach a peer disk (/dev/sdX, sdX, or hostN).  Refused while the disk
      is exported.
  export SCSI-DISK TARGET-IQN [--portal ADDR:PORT] [--transport tcp|iser]
         [--allow INITIATOR-IQN [--chap USER:SECRET]]
      Export the peer disk over iSCSI with LIO: a pscsi backstore, target
      TARGET-IQN, TPG 1, LUN 0 and a portal (default 0.0.0.0:3260).
      --transport tcp (the default): ImmediateData=Yes, InitialR2T=No,
      MaxRecvDataSegmentLength=65536 and FirstBurstLength=65536 so a write
      of up to 64 KiB travels in one trip.  --transport iser: the portal
      also accepts iSER (ib_isert; needs an RDMA device, e.g. soft-RoCE:
      "rdma link add rxe0 type rxe netdev ETH"), with ImmediateData=No and
      InitialR2T=Yes: the target fetches every write's data with an RDMA
      READ.  (isert hands immediate data to pscsi as one scatterlist entry
      inside its receive buffer, which pscsi refuses when it crosses a
      page: see Documentation/dualmirror-peer.rst, "iSER".)  --allow
      admits only INITIATOR-IQN (an ACL), optionally with CHAP; without
      --allow the target is open to any initiator (demo mode) and this
      command says so.
  unexport TARGET-IQN|SCSI-DISK
      Remove the iSCSI target (or every target exporting SCSI-DISK) and
      its pscsi backstore.
  status
      Peer disks, their backing devices, generation, staged data, exports
      and counters.

Environment: DUALMIRROR_PEER_KO, the module to insmod when modprobe does
not find $PEER_MOD (default: drivers/scsi/$PEER_MOD.ko of this tree).
EOF
}

# ---- helpers -----------------------------------------------------------------

# Load the peer module (modprobe, or the .ko of the source tree) and sd_mod.
peer_load_module() {
	local ko=${DUALMIRROR_PEER_KO:-$DMCTL_DIR/../drivers/scsi/$PEER_MOD.ko}

	dmctl_modprobe sd_mod
	[ -d "$PEER_SYSFS" ] && return 0
	if ! modprobe "$PEER_MOD" 2>/dev/null; then
		[ -f "$ko" ] || dmctl_die "cannot load $PEER_MOD: not installed and $ko not found"
		insmod "$ko" || dmctl_die "insmod $ko failed"
	fi
	[ -d "$PEER_SYSFS" ] || dmctl_die "$PEER_MOD loaded but $PEER_SYSFS is missing"
}

# peer_devnum PATH: MAJ:MIN of a block device.
peer_devnum() {
	local major minor
	read -r major minor < <(stat -L -c '%t %T' "$1") || return 1
	printf '%d:%d\n' "0x$major" "0x$minor"
}

# peer_hosts: "hostN MAJ:MIN path" lines of the attached peer disks.
peer_hosts() {
	[ -r "$PEER_SYSFS/peers" ] || return 0
	cat "$PEER_SYSFS/peers"
}

# peer_disk_of_host hostN: the sdX of a peer host (empty if none yet).
peer_disk_of_host() {
	local n=${1#host} b
	for b in /sys/bus/scsi/devices/"$n":0:0:0/block/*; do
		[ -e "$b" ] && { echo "${b##*/}"; return 0; }
	done
	return 1
}

# peer_ensure_node sdX: /dev/sdX exists (no udev in minimal systems).
peer_ensure_node() {
	local name=$1 dev
	[ -b "/dev/$name" ] && return 0
	dev=$(cat "/sys/block/$name/dev") || return 1
	mknod "/dev/$name" b "${dev%%:*}" "${dev##*:}"
}

# peer_host_of_disk DISK: hostN of a peer disk given as /dev/sdX, sdX or
# hostN; dies if it is not a dualmirror peer disk.
peer_host_of_disk() {
	local arg=$1 name path host
	case "$arg" in
	host[0-9]*)
		host=$arg
		;;
	*)
		name=${arg#/dev/}
		if [ -z "$name" ] || [ ! -e "/sys/block/$name/device" ]; then
			dmctl_die "$arg: no such SCSI disk"
		fi
		path=$(readlink -f "/sys/block/$name/device")
		host=$(printf '%s\n' "$path" | tr / '\n' | grep -m1 -E '^host[0-9]+$') ||
			dmctl_die "$arg: not a SCSI disk"
		;;
	esac
	[ "$(cat "/sys/class/scsi_host/$host/proc_name" 2>/dev/null)" = "$PEER_MOD" ] ||
		dmctl_die "$arg: not a $PEER_MOD disk"
	echo "$host"
}

peer_check_iqn() {
	[[ $1 =~ ^iqn\.[0-9]{4}-[0-9]{2}\.[A-Za-z0-9][A-Za-z0-9.-]*(:[^[:space:]]+)?$ ]] ||
		dmctl_usage_error "'$1' is not a valid IQN (e.g. iqn.2026-11.org.example:peer0)"
}

# peer_exports hostN: the iSCSI target IQNs whose LUNs use the host's disk
# through a pscsi backstore.
peer_exports() {
	local n=${1#host} so lun iqn
	[ -d "$PEER_CONFIGFS/core" ] || return 0
	for so in "$PEER_CONFIGFS"/core/pscsi_*/*; do
		[ -f "$so/info" ] || continue
		grep -Eq "Host ID: $n( |$)" "$so/info" || continue
		for lun in "$PEER_CONFIGFS"/iscsi/iqn.*/tpgt_*/lun/lun_*/*; do
			[ -L "$lun" ] || continue
			[ "$(readlink -f "$lun")" = "$(readlink -f "$so")" ] || continue
			iqn=${lun#"$PEER_CONFIGFS"/iscsi/}
			echo "${iqn%%/*}"
		done
	done | sort -u
}

peer_lio_prepare() {
	dmctl_modprobe target_core_mod target_core_pscsi iscsi_target_mod
	if [ ! -d "$PEER_CONFIGFS" ]; then
		mountpoint -q /sys/kernel/config ||
			mount -t configfs configfs /sys/kernel/config ||
			dmctl_die "cannot mount configfs"
	fi
	[ -d "$PEER_CONFIGFS/core" ] || dmctl_die "LIO configfs ($PEER_CONFIGFS) is missing"
	[ -x "$DMCTL_PYTHON" ] || dmctl_die "$DMCTL_PYTHON is missing"
}

# peer_iser_prepare: ib_isert loaded and an RDMA device to listen on.
peer_iser_prepare() {
	local d

	for d in /sys/class/infiniband/*; do
		[ -e "$d" ] && break
	done
	[ -e "$d" ] ||
		dmctl_die "no RDMA device for iSER (for soft-RoCE: modprobe rdma_rxe; rdma link add rxe0 type rxe netdev ETH)"
	dmctl_modprobe ib_isert
}

# ---- commands ----------------------------------------------------------------

peer_cmd_add() {
	local dev host devnum name err i

	[ $# -eq 1 ] || dmctl_usage_error "usage: peer add BACKING-DEV"
	dev=$1
	[ -b "$dev" ] || dmctl_die "$dev is not a block device"
	dmctl_need_root
	peer_load_module
	devnum=$(peer_devnum "$dev") || dmctl_die "cannot stat $dev"
	if peer_hosts | awk -v d="$devnum" '$2 == d { f = 1 } END { exit !f }'; then
		dmctl_die "$dev is already a peer disk's backing device"
	fi
	if ! err=$( { printf '%s\n' "$dev" >"$PEER_SYSFS/add"; } 2>&1); then
		case "$err" in
		*busy*) dmctl_die "$dev is in use (mounted, or held exclusively by another user such as LVM, md, dm or LIO)" ;;
		*) dmctl_die "cannot attach $dev: ${err##*: }" ;;
		esac
	fi
	host=$(peer_hosts | awk -v d="$devnum" '$2 == d { print $1; exit }')
	[ -n "$host" ] || dmctl_die "attached $dev but cannot find its SCSI host"
	name=
	for ((i = 0; i < 100; i++)); do
		name=$(peer_disk_of_host "$host") && break
		sleep 0.1
	done
	[ -n "$name" ] || dmctl_die "$host created but no SCSI disk appeared (is sd_mod loaded?)"
	peer_ensure_node "$name" || dmctl_die "cannot create /dev/$name"
	echo "/dev/$name"
}

peer_cmd_remove() {
	local host exports err

	[ $# -eq 1 ] || dmctl_usage_error "usage: peer remove SCSI-DISK"
	dmctl_need_root
	[ -d "$PEER_SYSFS" ] || dmctl_die "$PEER_MOD is not loaded"
	host=$(peer_host_of_disk "$1")
	exports=$(peer_exports "$host")
	[ -z "$exports" ] ||
		dmctl_die "$1 is exported as ${exports//$'\n'/ }; run '$DMCTL_PROG peer unexport' first"
	if ! err=$( { printf '%s\n' "$host" >"$PEER_SYSFS/remove"; } 2>&1); then
		dmctl_die "cannot remove $1: ${err##*: }"
	fi
}

# The LIO configuration runs in one python3 process (rtslib_fb): about 3 s
# under emulation, against about 5 s for each targetcli call.
PEER_EXPORT_PY='
import sys
try:
    from rtslib_fb import (FabricModule, LUN, MappedLUN, NetworkPortal,
                           NodeACL, PSCSIStorageObject, RTSRoot, RTSLibError,
                           TPG, Target)
except ImportError:
    sys.exit("python3-rtslib-fb is not installed (apt-get install python3-rtslib-fb)")

dev, so_name, iqn, ip, port, allow, chap_user, chap_secret, transport = \
    sys.argv[1:10]
if transport == "iser":
    # iSER: no immediate data (isert would pass it to pscsi in place, in its
    # receive buffer, as one scatterlist entry that pscsi_map_sg() refuses
    # when it crosses a page) and no unsolicited Data-Out (8 KiB SENDs,
    # copied): the target reads the data of each write with one RDMA READ.
    # MaxRecvDataSegmentLength is not negotiated on iSER; isert receives
    # at most 8 KiB per PDU (TargetRecvDataSegmentLength, left as is).
    params = {"ImmediateData": "No", "InitialR2T": "Yes"}
else:
    params = {"ImmediateData": "Yes", "InitialR2T": "No",
              "MaxRecvDataSegmentLength": "65536", "FirstBurstLength": "65536"}
root = RTSRoot()
if any(t.wwn == iqn for t in root.targets):
    sys.exit(f"target {iqn} already exists")
target = so = None
try:
    so = PSCSIStorageObject(so_name, dev=dev)
    target = Target(FabricModule("iscsi"), iqn)
    tpg = TPG(target, 1)
    portal = NetworkPortal(tpg, ip, int(port))
    if transport == "iser":
        portal.iser = True
        if not portal.iser:
            raise RTSLibError("cannot enable iSER on the portal (ib_isert)")
    lun = LUN(tpg, 0, so)
    for key, value in params.items():
        tpg.set_parameter(key, value)
    if allow:
        tpg.set_attribute("generate_node_acls", "0")
        tpg.set_attribute("demo_mode_write_protect", "1")
        acl = NodeACL(tpg, allow)
        MappedLUN(acl, 0, lun, write_protect=False)
        if chap_user:
            acl.chap_userid = chap_user
            acl.chap_password = chap_secret
        tpg.set_attribute("authentication", "1" if chap_user else "0")
    else:
        for key, value in (("generate_node_acls", "1"),
                           ("cache_dynamic_acls", "1"),
                           ("demo_mode_write_protect", "0"),
                           ("authentication", "0")):
            tpg.set_attribute(key, value)
    tpg.enable = True
except (RTSLibError, OSError, ValueError) as e:
    if target is not None:
        target.delete()
    if so is not None:
        so.delete()
    sys.exit(f"LIO: {e}")
'

peer_cmd_export() {
	local disk iqn portal=0.0.0.0:3260 allow='' chap='' host name ip port
	local user='' secret='' transport=tcp

	[ $# -ge 2 ] || dmctl_usage_error "usage: peer export SCSI-DISK TARGET-IQN [--portal ADDR:PORT] [--transport tcp|iser] [--allow INITIATOR-IQN [--chap USER:SECRET]]"
	disk=$1 iqn=$2
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--portal | --allow | --chap | --transport)
			[ $# -ge 2 ] || dmctl_usage_error "$1 needs a value"
			case "$1" in
			--portal) portal=$2 ;;
			--allow) allow=$2 ;;
			--chap) chap=$2 ;;
			--transport) transport=$2 ;;
			esac
			shift 2
			;;
		*) dmctl_usage_error "peer export: unexpected argument '$1'" ;;
		esac
	done
	case "$transport" in
	tcp | iser) ;;
	*) dmctl_usage_error "--transport takes tcp or iser" ;;
	esac
	peer_check_iqn "$iqn"
	[ -z "$allow" ] || peer_check_iqn "$allow"
	if [ -n "$chap" ]; then
		[ -n "$allow" ] || dmctl_usage_error "--chap needs --allow INITIATOR-IQN"
		[[ $chap == ?*:?* ]] || dmctl_usage_error "--chap takes USER:SECRET"
		user=${chap%%:*} secret=${chap#*:}
	fi
	[[ $portal =~ ^(\[[0-9a-fA-F:]+\]|[0-9.]+):([0-9]{1,5})$ ]] ||
		dmctl_usage_error "--portal takes ADDR:PORT (e.g. 192.0.2.10:3260)"
	ip=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
	ip=${ip#[} ip=${ip%]}
	if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
		dmctl_usage_error "bad port $port"
	fi
	dmctl_need_root
	[ -d "$PEER_SYSFS" ] || dmctl_die "$PEER_MOD is not loaded"
	host=$(peer_host_of_disk "$disk")
	name=$(peer_disk_of_host "$host") || dmctl_die "$disk: no SCSI disk on $host"
	peer_ensure_node "$name" || dmctl_die "cannot create /dev/$name"
	peer_lio_prepare
	[ "$transport" = tcp ] || peer_iser_prepare
	"$DMCTL_PYTHON" -c "$PEER_EXPORT_PY" "/dev/$name" "dmpeer_$host" "$iqn" \
		"$ip" "$port" "$allow" "$user" "$secret" "$transport" ||
		dmctl_die "cannot export /dev/$name as $iqn"
	if [ "$transport" = iser ]; then
		echo "exported /dev/$name as $iqn on $ip:$port (LUN 0), iSER and iSCSI/TCP"
	else
		echo "exported /dev/$name as $iqn on $ip:$port (LUN 0)"
	fi
	if [ -z "$allow" ]; then
		echo "WARNING: no --allow given: the target is OPEN (demo mode): any initiator can log in and write"
	elif [ -n "$user" ]; then
		echo "only $allow may log in, with CHAP user $user"
	else
		echo "only $allow may log in (no CHAP)"
	fi
}

PEER_UNEXPORT_PY='
import sys
try:
    from rtslib_fb import RTSRoot, RTSLibError
except ImportError:
    sys.exit("python3-rtslib-fb is not installed (apt-get install python3-rtslib-fb)")

root = RTSRoot()
wanted = set(sys.argv[1:])
sos = set()
try:
    for t in list(root.targets):
        if t.wwn not in wanted:
            continue
        for tpg in t.tpgs:
            for lun in tpg.luns:
                sos.add(lun.storage_object.name)
        t.delete()
    for so in list(root.storage_objects):
        if so.name in sos and so.plugin == "pscsi" and \
                so.name.startswith("dmpeer_") and not list(so.attached_luns):
            so.delete()
except RTSLibError as e:
    sys.exit(f"LIO: {e}")
'

peer_cmd_unexport() {
	local iqns host

	[ $# -eq 1 ] || dmctl_usage_error "usage: peer unexport TARGET-IQN|SCSI-DISK"
	dmctl_need_root
	[ -d "$PEER_CONFIGFS/iscsi" ] || dmctl_die "no iSCSI target is configured"
	if [[ $1 == iqn.* ]]; then
		[ -d "$PEER_CONFIGFS/iscsi/$1" ] || dmctl_die "no iSCSI target $1"
		iqns=$1
	else
		[ -d "$PEER_SYSFS" ] || dmctl_die "$PEER_MOD is not loaded"
		host=$(peer_host_of_disk "$1")
		iqns=$(peer_exports "$host")
		[ -n "$iqns" ] || dmctl_die "$1 is not exported"
	fi
	# shellcheck disable=SC2086
	"$DMCTL_PYTHON" -c "$PEER_UNEXPORT_PY" $iqns || dmctl_die "cannot unexport $1"
	echo "removed iSCSI target(s): ${iqns//$'\n'/ }"
}

# peer_val FILE: a sysfs value, without forking (status reads ~60 files).
peer_val() {
	local v=
	read -r v <"$1" || true
	printf '%s' "$v"
}

peer_print_counters() {
	local s=$1 fr f line name v

	for fr in inline split control total; do
		line="  $fr:"
		for f in commands data_transfers interrupts writes bytes_written rejected; do
			read -r v <"$s/${fr}_$f"
			line+=" $f=$v"
		done
		echo "$line"
	done
	line=
	for f in "$s"/rejected_*; do
		read -r v <"$f"
		[ "$v" = 0 ] || line+=" ${f##*/rejected_}=$v"
	done
	echo "  rejected by reason:${line:- none}"
	line=
	for name in split_staged split_staged_expired split_staged_dropped \
		split_desc_parked claims io_errors scsi_commands scsi_rejected \
		scsi_bytes_read scsi_bytes_written; do
		read -r v <"$s/$name"
		line+=" $name=$v"
	done
	echo "  other:$line"
}

peer_cmd_status() {
	local host devnum path d sdx exports

	[ $# -eq 0 ] || dmctl_usage_error "usage: peer status"
	if [ ! -d "$PEER_SYSFS" ]; then
		echo "$PEER_MOD is not loaded: no peer disks"
		return 0
	fi
	if [ -z "$(peer_hosts)" ]; then
		echo "no peer disks"
		return 0
	fi
	while read -r host devnum path; do
		d=/sys/class/scsi_host/$host/dualmirror
		sdx=$(peer_disk_of_host "$host") || sdx="(no disk)"
		exports=$(peer_exports "$host")
		echo "$host: /dev/$sdx backing $path ($devnum)"
		echo "  capacity $(peer_val "$d/capacity_sectors") sectors, logical block $(peer_val "$d/logical_block_size") bytes"
		echo "  generation $(peer_val "$d/generation") (in memory), $(peer_val "$d/waiting"), staged_bytes $(peer_val "$d/staged_bytes") of $(peer_val "$d/staging_kib") KiB"
		exports=${exports//$'\n'/ }
		echo "  exported as: ${exports:-none}"
		peer_print_counters "/sys/class/scsi_host/$host/dualmirror_stats"
	done < <(peer_hosts)
}

peer_main() {
	local cmd

	[ $# -gt 0 ] || dmctl_usage_error "peer: missing COMMAND"
	cmd=$1
	shift
	case "$cmd" in
	-h | --help | help)
		peer_usage
		return 0
		;;
	esac
	case " ${*:-} " in
	*" -h "* | *" --help "*)
		peer_usage
		return 0
		;;
	esac
	case "$cmd" in
	add) peer_cmd_add "$@" ;;
	remove) peer_cmd_remove "$@" ;;
	export) peer_cmd_export "$@" ;;
	unexport) peer_cmd_unexport "$@" ;;
	status) peer_cmd_status "$@" ;;
	*) dmctl_usage_error "peer: unknown command '$cmd'" ;;
	esac
}
