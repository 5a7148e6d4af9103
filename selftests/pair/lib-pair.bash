# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers of the two-guest tests (selftests/pair/*.sh), sourced after
# selftests/lib.sh and selftests/vm/lib-primary.bash. The tests run on the
# primary guest of a scripts/vm-pair run; "peer" runs a script on the peer
# guest through its agent (selftests/pair/agent.py) over the control link,
# which faults on the mirror's link do not touch.

PAIR_AGENT=$DM_SELFTESTS/pair/agent.py
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
peer() {
	/usr/bin/python3 "$PAIR_AGENT" run --host "$DM_PEER_CTL" \
		--timeout "${PEER_TIMEOUT:-300}" \
		". selftests/lib.sh; . selftests/vm/lib-primary.bash; $1"
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
