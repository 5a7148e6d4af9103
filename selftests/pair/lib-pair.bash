# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers of the two-guest tests (selftests/pair/*.sh), sourced after
# selftests/lib.sh and selftests/vm/lib-primary.bash. The tests run on the
# primary guest of a scripts/vm-pair run; "peer" runs a script on the peer
# guest through its agent (selftests/pair/agent.py) over the control link,
# which faults on the mirror's link do not touch.

PAIR_AGENT_PORT=7790
PAIR_PORTAL=${DM_PEER_ADDR:-}:3260
PAIR_IQN=$DM_IQN_PREFIX:pair-peer

# pair_require: skip the whole test outside a vm-pair run.
pair_require() {
	[ -n "${DM_PEER_CTL:-}" ] && [ -n "${DM_LINK_DEV:-}" ] ||
		ktap_skip_all "not in a two-guest run (scripts/vm-pair)"
}

# peer SCRIPT: run SCRIPT with bash on the peer guest, in the repo, with
# selftests/lib.sh and lib-primary.bash sourced; print its output, return
# its status (255: the agent did not answer). PEER_TIMEOUT bounds it (300).
# The client is bash itself over /dev/tcp (the agent's "RUN" framing): a
# python3 client cost about 4 s of emulated CPU per call, more than most
# scripts it ran.
peer() {
	local LC_ALL=C fd rc script secs=${PEER_TIMEOUT:-300}
	script=". selftests/lib.sh; . selftests/vm/lib-primary.bash; $1"
	if ! exec {fd}<>"/dev/tcp/$DM_PEER_CTL/$PAIR_AGENT_PORT"; then
		echo "agent: $DM_PEER_CTL:$PAIR_AGENT_PORT: cannot connect" >&2
		return 255
	fi
	# In the C locale ${#script} counts bytes, as the framing does.
	printf 'RUN %d %d\n%s' "$secs" "${#script}" "$script" >&"$fd"
	# The answer's first line comes when the script has ended.
	if ! read -r -t $((secs + 30)) rc <&"$fd" || ! [[ $rc =~ ^[0-9]+$ ]]; then
		exec {fd}>&-
		echo "agent: $DM_PEER_CTL:$PAIR_AGENT_PORT: no answer within $((secs + 30)) s" >&2
		return 255
	fi
	cat <&"$fd"
	exec {fd}>&-
	return "$rc"
}

# pair_peer_disk NAME MB [ATTR=VALUE...]: on the peer, a null_blk disk
# NAME of MB MiB (dm_nullb_create attributes, e.g. cache_size=16 for a
# volatile write cache) made a dualmirror peer disk and exported with
# dualmirrorctl on the link's portal as $PAIR_IQN-NAME. Prints
# "BACKING SCSI-DISK".
pair_peer_disk() {
	local name=$1 mb=$2
	shift 2
	peer "set -e
b=\$(dm_nullb_create $name $mb $*)
d=\$(scripts/dualmirrorctl peer add \$b)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $PAIR_IQN-$name --portal $PAIR_PORTAL >/dev/null 2>&1
echo \$b \$d"
}

# pair_peer_disk_sd NAME MB: as pair_peer_disk, over a scsi_debug disk of
# MB MiB (delay=0: it answers in the submitter's context) instead of a
# null_blk one.  Linux 6.1 registers a memory-backed null_blk
# BLK_MQ_F_BLOCKING, on which the peer runs every command on its
# workqueue; a SCSI disk takes REQ_NOWAIT bios, so the peer runs mirror
# writes on its direct path (Documentation/dualmirror-peer.rst), as it
# does on a server's disks.  One per guest (one scsi_debug module).
pair_peer_disk_sd() {
	local name=$1 mb=$2
	peer "set -e
b=\$(dm_scsi_debug_load dev_size_mb=$mb delay=0)
d=\$(scripts/dualmirrorctl peer add \$b)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $PAIR_IQN-$name --portal $PAIR_PORTAL >/dev/null 2>&1
echo \$b \$d"
}

# pair_peer_disk_sd_remove NAME SCSI-DISK: undo pair_peer_disk_sd.
pair_peer_disk_sd_remove() {
	peer "scripts/dualmirrorctl peer unexport $PAIR_IQN-$1 >/dev/null 2>&1
scripts/dualmirrorctl peer remove $2 >/dev/null 2>&1
dm_unload_module scsi_debug"
}

# pair_peer_disk_remove NAME SCSI-DISK: undo pair_peer_disk.
pair_peer_disk_remove() {
	peer "scripts/dualmirrorctl peer unexport $PAIR_IQN-$1 >/dev/null 2>&1
scripts/dualmirrorctl peer remove $2 >/dev/null 2>&1
dm_nullb_remove $1"
}

# pair_attach NAME: log in to the peer disk NAME; print the /dev/sdX.
# open-iscsi gives a lost session 10 s (not 120) before it fails its
# commands, and pings the target every 2 s.
pair_attach() {
	local iqn=$PAIR_IQN-$1 disk
	disk=$("$DM_REPO/scripts/dualmirrorctl" primary attach "$PAIR_PORTAL" "$iqn") || return 1
	echo "$disk"
}

# pair_detach NAME
pair_detach() {
	dm_iscsi_logout "$PAIR_IQN-$1"
}

# pair_peer_md5 DEV SECTORS: md5 of the first SECTORS of DEV on the peer.
pair_peer_md5() {
	peer "dd if=$1 iflag=direct,count_bytes bs=1M count=$(($2 * 512)) 2>/dev/null | md5sum"
}

# pair_local_md5 DEV SECTORS: the same here.
pair_local_md5() {
	dd if="$1" iflag=direct,count_bytes bs=1M count=$(($2 * 512)) 2>/dev/null | md5sum
}

# pair_same LOCAL PEER-BACKING SECTORS: the local copy and the peer's
# copy (read on the peer from its backing device) are byte-identical.
pair_same() {
	local a b
	a=$(pair_local_md5 "$1" "$3")
	b=$(pair_peer_md5 "$2" "$3")
	[ -n "$a" ] && [ "$a" = "$b" ]
}

# pair_same_at LOCAL PEER-BACKING OFFSET SECTORS: the same for SECTORS
# from OFFSET (sectors; both multiples of 2048).
pair_same_at() {
	local a b skip=$(($3 / 2048)) count=$(($4 / 2048))
	a=$(dd if="$1" iflag=direct bs=1M skip=$skip count=$count 2>/dev/null | md5sum)
	b=$(peer "dd if=$2 iflag=direct bs=1M skip=$skip count=$count 2>/dev/null | md5sum")
	[ -n "$a" ] && [ "$a" = "$b" ]
}

# pair_peer_stat SCSI-DISK NAME: a counter of the peer disk (sysfs).
pair_peer_stat() {
	peer "h=\$(readlink -f /sys/block/${1#/dev/}/device); h=\${h%/target*}; h=\${h##*/}
cat /sys/class/scsi_host/\$h/dualmirror_stats/$2"
}

# pair_peer_reset_stats SCSI-DISK
pair_peer_reset_stats() {
	peer "h=\$(readlink -f /sys/block/${1#/dev/}/device); h=\${h%/target*}; h=\${h##*/}
echo 1 >/sys/class/scsi_host/\$h/dualmirror_stats/reset"
}

# ---- faults on the link (this guest's side) ---------------------------------

# pair_netem ARGS...: replace the link's root qdisc with netem ARGS
# (e.g. "delay 5ms 2ms loss 1%"); no ARGS: remove it.
pair_netem() {
	tc qdisc del dev "$DM_LINK_DEV" root 2>/dev/null
	[ $# -eq 0 ] && return 0
	tc qdisc add dev "$DM_LINK_DEV" root netem "$@"
}

# peer_netem ARGS...: the same on the peer's side of the link.
peer_netem() {
	peer "tc qdisc del dev \$DM_LINK_DEV root 2>/dev/null; [ -z '$*' ] || tc qdisc add dev \$DM_LINK_DEV root netem $*"
}

# pair_peer_dmesg_clean: the peer guest's kernel log has no warning, oops
# or hang report (the patterns scripts/vm-run fails a guest on).
pair_peer_dmesg_clean() {
	peer "dmesg >/tmp/pair-dmesg.txt
! grep -v -e '^#' -e '^\$' scripts/vm/dmesg-bad-patterns | grep -E -f - /tmp/pair-dmesg.txt"
}

# ---- iSER on soft-RoCE or soft-iWARP, and either transport -----------------
#
# Soft-RoCE (rdma_rxe) breaks an iSER connection on a retransmission
# (Documentation/testing.rst, "Faults over iSER"). Soft-iWARP (siw: RDMA
# over the kernel's TCP, which retransmits and reorders for it) does not,
# but Debian's kernel does not build it (CONFIG_RDMA_SIW unset):
# scripts/build-siw builds it out of tree from Debian's linux-source
# tarball into build/siw/siw.ko.

PAIR_RXE=/sys/class/infiniband/rxe0/ports/1

# pair_rxe_add: a soft-RoCE device rxe0 on the link's NIC of this guest,
# ACTIVE (waits 10 s). Works here and, through "peer", on the peer.
pair_rxe_add() {
	modprobe rdma_rxe 2>/dev/null || return 1
	[ -d /sys/class/infiniband/rxe0 ] ||
		rdma link add rxe0 type rxe netdev "$DM_LINK_DEV" || return 1
	dm_wait_for 10 grep -q ACTIVE $PAIR_RXE/state
}

# pair_rxe_up: rxe0 on both guests.
pair_rxe_up() {
	pair_rxe_add || return 1
	peer "$(declare -f pair_rxe_add); PAIR_RXE=$PAIR_RXE; pair_rxe_add"
}

# pair_rxe_down: remove rxe0 from both guests.
pair_rxe_down() {
	rdma link delete rxe0 2>/dev/null
	peer "rdma link delete rxe0 2>/dev/null; true"
}


PAIR_SIW_KO=$DM_REPO/build/siw/siw.ko

# pair_siw_add: a soft-iWARP device siw0 on the link's NIC of this guest,
# ACTIVE (waits 10 s). Works here and, through "peer", on the peer.
pair_siw_add() {
	[ -d /sys/module/siw ] || {
		[ -f "$PAIR_SIW_KO" ] && modprobe ib_core && modprobe libcrc32c &&
			insmod "$PAIR_SIW_KO"
	} || return 1
	[ -d /sys/class/infiniband/siw0 ] ||
		rdma link add siw0 type siw netdev "$DM_LINK_DEV" || return 1
	dm_wait_for 10 grep -q ACTIVE /sys/class/infiniband/siw0/ports/1/state
}

# pair_siw_up: siw0 on both guests.
pair_siw_up() {
	pair_siw_add || return 1
	peer "$(declare -f pair_siw_add); PAIR_SIW_KO=$PAIR_SIW_KO; pair_siw_add"
}

# pair_siw_down: remove siw0 from both guests.
pair_siw_down() {
	rdma link delete siw0 2>/dev/null
	peer "rdma link delete siw0 2>/dev/null; true"
}

# pair_peer_disk_siw NAME MB INITIATOR: pair_peer_disk_on iser for
# soft-iWARP, exported to INITIATOR only. siw listens with a TCP socket of
# the kernel's own on the portal's address and port (siw_create_listen(),
# no port mapping: siw sets IW_F_NO_PORT_MAP), and LIO's portal always
# holds an iSCSI/TCP listener on that same address and port (made by the
# portal's mkdir, before its "iser" attribute adds the iSER listener):
# enabling iSER on it fails with EADDRINUSE ("isert_setup_id:
# rdma_listen() failed: -98"). Both listeners are made in the network
# namespace of the process that writes configfs (sock_create()), so the
# export is made from a namespace of its own where the TCP listener binds
# (non-local) and stays unreachable, and iSER is enabled from this one.
# The result is an iSER-only portal with dualmirrorctl's iSER parameters.
pair_peer_disk_siw() {
	local name=$1 mb=$2 init=$3 iqn=$PAIR_IQN-$1
	peer "set -e
b=\$(dm_nullb_create $name $mb)
d=\$(scripts/dualmirrorctl peer add \$b)
dm_start_dbus
unshare -n sh -c 'sysctl -qw net.ipv4.ip_nonlocal_bind=1 &&
	exec scripts/dualmirrorctl peer export '\$d' $iqn --portal $PAIR_PORTAL --allow $init' >/dev/null 2>&1
tpg=/sys/kernel/config/target/iscsi/$iqn/tpgt_1
echo No >\$tpg/param/ImmediateData
echo Yes >\$tpg/param/InitialR2T
echo 1 >\$tpg/np/$PAIR_PORTAL/iser
echo \$b \$d"
}

# pair_tcp_retrans / peer_tcp_retrans: the TCP segments this guest / the
# peer retransmitted so far (all connections: siw's and the control
# link's, which carries little).
pair_tcp_retrans() {
	awk '$1 == "Tcp:" && n++ { for (i = 1; i <= NF; i++) if (h[i] == "RetransSegs") print $i; next }
		$1 == "Tcp:" { for (i = 1; i <= NF; i++) h[i] = $i }' /proc/net/snmp
}
peer_tcp_retrans() {
	peer "$(declare -f pair_tcp_retrans); pair_tcp_retrans"
}

# pair_initiator: this guest's initiator name.
pair_initiator() {
	sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi
}

# pair_iser_nops_off IQN: no NOP-Out and no NOP-In on the iSER session to
# the peer's IQN, for a test that counts what crosses it: the node record
# here (noop_out_interval 0; log in afterwards: dualmirrorctl primary
# attach keeps an existing record's settings) and, on the peer, the
# nopin_timeout of this initiator's ACL (export with --allow). LIO pings
# every nopin_timeout whatever the traffic, open-iscsi after
# noop_out_interval without receiving anything: each ping is one more
# RDMA SEND each way, and one more packet to lose under a fault.
pair_iser_nops_off() {
	local n=(iscsiadm -m node -T "$1" -p "$PAIR_PORTAL" -I iser)
	"${n[@]}" -o new >/dev/null 2>&1
	"${n[@]}" -o update -n "node.conn[0].timeo.noop_out_interval" -v 0 &&
		"${n[@]}" -o update -n "node.conn[0].timeo.noop_out_timeout" -v 0 &&
		peer "echo 0 >/sys/kernel/config/target/iscsi/$1/tpgt_1/acls/$(pair_initiator)/attrib/nopin_timeout"
}

# pair_iser_nops IQN: "NOP-Out-interval NOP-In-timeout" of that session.
pair_iser_nops() {
	echo "$(iscsiadm -m node -T "$1" -p "$PAIR_PORTAL" -I iser 2>/dev/null |
		awk '$1 == "node.conn[0].timeo.noop_out_interval" { print $3 }')" \
		"$(peer "cat /sys/kernel/config/target/iscsi/$1/tpgt_1/acls/$(pair_initiator)/attrib/nopin_timeout")"
}

# pair_peer_disk_on TRANSPORT NAME MB [ATTR=VALUE...]: pair_peer_disk,
# exported for TRANSPORT (tcp or iser: the portal also listens for iSER).
pair_peer_disk_on() {
	local t=$1 name=$2 mb=$3
	shift 3
	peer "set -e
b=\$(dm_nullb_create $name $mb $*)
d=\$(scripts/dualmirrorctl peer add \$b)
dm_start_dbus
scripts/dualmirrorctl peer export \$d $PAIR_IQN-$name --portal $PAIR_PORTAL --transport $t >/dev/null 2>&1
echo \$b \$d"
}

# pair_attach_on TRANSPORT NAME: pair_attach over TRANSPORT.
pair_attach_on() {
	"$DM_REPO/scripts/dualmirrorctl" primary attach "$PAIR_PORTAL" "$PAIR_IQN-$2" \
		--transport "$1"
}

# pair_session_transport NAME: the transport of the session to the peer
# disk NAME as open-iscsi names it (tcp, iser).
pair_session_transport() {
	iscsiadm -m session -P 1 2>/dev/null | awk -v t="$PAIR_IQN-$1" '
		$1 == "Target:" { on = ($2 == t) }
		on && /Iface Transport:/ { print $3; exit }'
}

# pair_rxe_retries / peer_rxe_retries: the RDMA requester's retries of
# this guest's / the peer's rxe0: "RETRIES NAKS EXCEEDED" (rxe's
# completer_retry_err: send queue rewinds, after a timeout or a NAK;
# rcvd_seq_err: sequence NAKs received; retry_exceeded_err: queue pairs
# that gave up); "- - -" without rxe0.
pair_rxe_retries() {
	(cd $PAIR_RXE/hw_counters 2>/dev/null &&
		cat completer_retry_err rcvd_seq_err retry_exceeded_err | paste -sd " ") ||
		echo - - -
}
peer_rxe_retries() {
	peer "$(declare -f pair_rxe_retries); PAIR_RXE=$PAIR_RXE; pair_rxe_retries"
}

# pair_rxe_delta BEFORE AFTER: "retries R naks N exceeded E", the differences
# of two pair_rxe_retries (a counter that restarted, rxe0 added again,
# counts from 0; one that is missing is "-").
pair_rxe_delta() {
	local -a a b d
	local i
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for i in 0 1 2; do
		if [[ "${a[i]}" =~ ^[0-9]+$ && "${b[i]}" =~ ^[0-9]+$ ]]; then
			d[i]=$((b[i] >= a[i] ? b[i] - a[i] : b[i]))
		else
			d[i]=-
		fi
	done
	echo "retries ${d[0]} naks ${d[1]} exceeded ${d[2]}"
}
