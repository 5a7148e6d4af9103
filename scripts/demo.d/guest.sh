#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo's guest half; run by scripts/demo inside the VM (as root, in the
# repo directory).  Both nodes live in this one guest: the peer's disk is
# reached over iSCSI on 127.0.0.1, exactly as a remote one would be.
set -euo pipefail

size=${DEMO_SIZE_MIB:-128}
runtime=${DEMO_RUNTIME:-20}
iqn=iqn.2026-11.org.example:dualmirror-demo
ctl=scripts/dualmirrorctl
name=demo

step() { printf '\n==> %s\n' "$*"; }

step "Two memory-backed disks of $size MiB: /dev/ram0 (local), /dev/ram1 (peer's backing)"
modprobe brd rd_nr=2 rd_size=$((size * 1024))
modprobe sd_mod
modprobe sg

step "Peer: present /dev/ram1 as a SCSI disk (dualmirror_peer)"
peer_sd=$($ctl peer add /dev/ram1)
echo "peer SCSI disk: $peer_sd"

step "Peer: export it over iSCSI with LIO (pscsi backstore) on 127.0.0.1:3260"
initiator=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi 2>/dev/null || true)
if [ -z "$initiator" ]; then
	initiator=iqn.2026-11.org.example:demo-primary
	mkdir -p /etc/iscsi
	echo "InitiatorName=$initiator" >/etc/iscsi/initiatorname.iscsi
fi
$ctl peer export "$peer_sd" "$iqn" --portal 127.0.0.1:3260 --allow "$initiator"

step "Primary: log in to the peer with open-iscsi"
remote_sd=$($ctl primary attach 127.0.0.1 "$iqn")
echo "peer disk as the primary sees it: $remote_sd"

step "Primary: dmsetup create $name"
sectors=$(blockdev --getsz /dev/ram0)
table="0 $sectors dualmirror /dev/ram0 $remote_sd"
echo "table: $table"
dmsetup create "$name" --table "$table"
dev=/dev/mapper/$name
[ -b "$dev" ] || { echo "demo: $dev is not a block device" >&2; exit 1; }

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

step "Tear down and compare the two copies"
dmsetup remove "$name"
$ctl primary detach "$iqn" >/dev/null
local_sum=$(sha256sum </dev/ram0 | cut -d' ' -f1)
peer_sum=$(sha256sum </dev/ram1 | cut -d' ' -f1)
echo "local copy (/dev/ram0): $local_sum"
echo "peer copy  (/dev/ram1): $peer_sum"
$ctl peer unexport "$iqn" >/dev/null
$ctl peer remove "$peer_sd" >/dev/null
if [ "$local_sum" = "$peer_sum" ]; then
	echo "RESULT: the two copies are byte-identical"
else
	echo "RESULT: the copies DIFFER" >&2
	exit 1
fi
