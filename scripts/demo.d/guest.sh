#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo's guest half, run by scripts/demo on the primary guest of a
# scripts/vm-pair run (as root, in the repo directory). The peer server is
# the other guest, across a network link; "on_peer" runs a command there
# (selftests/pair/agent.py over the control link).
set -euo pipefail

size=${DEMO_SIZE_MIB:-128}
runtime=${DEMO_RUNTIME:-20}
iqn=iqn.2026-11.org.example:dualmirror-demo
ctl=scripts/dualmirrorctl
name=demo

step() { printf '\n==> %s\n' "$*"; }
on_peer() {
	/usr/bin/python3 selftests/pair/agent.py run --host "$DM_PEER_CTL" "$*"
}

step "Peer server ($DM_PEER_ADDR): a memory-backed disk of $size MiB, /dev/ram0"
on_peer "modprobe brd rd_nr=1 rd_size=$((size * 1024))"

step "Peer: present /dev/ram0 as a SCSI disk (dualmirror_peer)"
peer_sd=$(on_peer "$ctl peer add /dev/ram0")
echo "peer SCSI disk: $peer_sd"

step "Peer: export it over iSCSI with LIO (pscsi backstore) on $DM_PEER_ADDR:3260, for this primary only"
mkdir -p /etc/iscsi
initiator=iqn.2026-11.org.example:demo-primary
echo "InitiatorName=$initiator" >/etc/iscsi/initiatorname.iscsi
on_peer "mkdir -p /run/dbus; [ -S /run/dbus/system_bus_socket ] || dbus-daemon --system --fork
$ctl peer export $peer_sd $iqn --portal $DM_PEER_ADDR:3260 --allow $initiator"

step "Primary server ($DM_PRIMARY_ADDR): a local disk of $size MiB with data on it, /dev/ram0, and a 4 MiB metadata disk, /dev/ram1"
modprobe brd rd_nr=2 rd_size=$((size * 1024))
dd if=/dev/urandom of=/dev/ram0 bs=1M count=$((size / 4)) status=none
echo "the first $((size / 4)) MiB of the local disk hold random data; the peer's disk is blank"

step "Primary: log in to the peer with open-iscsi"
remote_sd=$($ctl primary attach "$DM_PEER_ADDR" "$iqn")
echo "peer disk as the primary sees it: $remote_sd"

step "Primary: dmsetup create $name (new metadata: the initial sync copies the whole device)"
sectors=$(blockdev --getsz /dev/ram0)
table="0 $sectors dualmirror /dev/ram0 $remote_sd 2 meta_dev /dev/ram1"
echo "table: $table"
dmsetup create "$name" --table "$table"
dev=/dev/mapper/$name
[ -b "$dev" ] || { echo "demo: $dev is not a block device" >&2; exit 1; }
for _ in $(seq 600); do
	set -- $(dmsetup status "$name")
	echo "  $4, out of sync $5 sectors, resync ${20:-0} KiB/s, ${21:-0} s left"
	[ "$4" = connected ] && break
	sleep 1
done

step "fio: verified random writes over half the volume, 4 KiB to 128 KiB, queue depth 8"
fio --name=demo --filename="$dev" --direct=1 --ioengine=libaio --iodepth=8 \
	--rw=randwrite --bssplit=4k/50:16k/20:32k/10:64k/10:128k/10 \
	--size=$((size / 2))M --runtime="$runtime" \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 \
	--group_reporting --output-format=normal | grep -E 'write:|lat \(usec\): min|IOPS|err='

step "dmsetup status $name"
dmsetup status "$name"
echo
$ctl primary status "$name"

step "Tear down and compare the two copies, one on each server"
dmsetup remove "$name"
$ctl primary detach "$iqn" >/dev/null
local_sum=$(sha256sum </dev/ram0 | cut -d' ' -f1)
peer_sum=$(on_peer "sha256sum </dev/ram0 | cut -d' ' -f1")
echo "local copy (primary's /dev/ram0): $local_sum"
echo "peer copy  (peer's /dev/ram0):    $peer_sum"
on_peer "$ctl peer unexport $iqn >/dev/null; $ctl peer remove $peer_sd >/dev/null"
if [ "$local_sum" = "$peer_sum" ]; then
	echo "RESULT: the two copies are byte-identical"
else
	echo "RESULT: the copies DIFFER" >&2
	exit 1
fi
