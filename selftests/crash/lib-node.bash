# SPDX-License-Identifier: GPL-2.0
#
# Sourced by selftests/crash/primary-job and peer-job: a guest booted by
# selftests/crash/run as one of two servers, each boot of it a boot of
# that server.
#
# A guest's root file system is a tmpfs overlay that vanishes at power-off;
# a server keeps its /etc and /var/lib. crash_node_root DIR bind-mounts
# what a server would keep and the mirror uses, prepared by the host in
# DIR (a directory per guest on the results share, written through: it
# survives a kill of the guest): etc/dualmirror (the resource's file and
# its CHAP secret), var/lib/dualmirror (what dualmirrorctl records there)
# and etc/iscsi (the initiator name, open-iscsi's node records).
crash_node_root() {
	local d
	for d in etc/dualmirror var/lib/dualmirror etc/iscsi; do
		mkdir -p "/$d" && mount --bind "$1/$d" "/$d" || return 1
	done
}

# unit_cmd Start|Stop NAME: the command dualmirror@NAME.service runs at
# start or stop (its ExecStart= or ExecStop=), this tree's dualmirrorctl
# for /usr/sbin's.
unit_cmd() {
	sed -n "s/^Exec$1=//p" "$DM_REPO/scripts/systemd/dualmirror@.service" |
		sed -e "s|^/usr/sbin/dualmirrorctl |$DM_REPO/scripts/dualmirrorctl |" \
			-e "s/%i/$2/g"
}

# unit Start|Stop NAME: run that command (as systemd would: split at white
# space, no shell).
unit() {
	local -a argv
	read -r -a argv <<<"$(unit_cmd "$1" "$2")"
	[ ${#argv[@]} -gt 0 ] || { echo "no Exec$1= in the unit" >&2; return 1; }
	echo "unit: ${argv[*]}" >&2
	"${argv[@]}"
}
