#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install-deps.sh: install every Debian 12 package dualmirror needs to
# build, lint and test (as root). Idempotent: prints nothing and changes
# nothing when all is there. Runs "apt-get update" only when a package is
# missing and apt cannot find it without one. Also makes sure the kernel
# headers matching the newest installed /boot/vmlinuz-* are installed.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<USAGE
usage: $prog [-n] [-g GROUP] [-h]

Install the Debian packages the project needs (see the list in this script).
  -n, --dry-run  only print the missing packages (exit 1 if any)
  -g, --group deb  the packaging tools of "make deb" instead (debhelper,
                 dh-dkms, lintian)
  -h, --help     show this help
USAGE
}

dry=0
group=main
while [ $# -gt 0 ]; do
	case "$1" in
	-n | --dry-run) dry=1; shift ;;
	-g | --group)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		group=$2
		shift 2
		;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

# What each group is for:
#   build:   the modules (Kbuild against Debian's headers), lint, checkpatch
#   vm:      the QEMU TCG guest booting Debian's own kernel (scripts/vm-run)
#   tests:   device-mapper, LIO target, open-iscsi initiator, I/O, SCSI tools
#   host:    wire-format unit tests and the libFuzzer run (selftests/host)
#   bench:   plots, DRBD and md raid1 for side-by-side comparisons, and
#            perf for its --profile, --switches and --events
#   dkms:    the packaged modules, built by DKMS (host test, and the VM test
#            installing the .debs in a guest that shares this root)
packages=(
	make gcc libc6-dev linux-headers-amd64 sparse perl linux-source-6.1 xz-utils
	qemu-system-x86 linux-image-amd64 busybox-static kmod cpio gzip
	dmsetup fio targetcli-fb python3 python3-rtslib-fb open-iscsi dbus
	sg3-utils iproute2 e2fsprogs util-linux procps coreutils
	clang libclang-rt-14-dev
	gnuplot-nox drbd-utils mdadm linux-perf
	dkms
)
# Group "deb" (-g deb, make deb): dpkg-buildpackage with debhelper and
# dh-dkms, and lintian. Kept apart: they are many packages.
deb_packages=(
	debhelper dh-dkms dkms dpkg-dev fakeroot lintian
)
case "$group" in
main) ;;
deb) packages=("${deb_packages[@]}") ;;
*) usage >&2; exit 2 ;;
esac

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

missing_of() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) || status=
		[ "${status:0:2}" = ii ] || echo "$p"
	done
}

log=$(mktemp /tmp/install-deps.XXXXXX)
trap 'rm -f "$log"' EXIT

apt_install() {
	[ "$(id -u)" = 0 ] || die "missing packages: $* (run as root: $0)"
	echo "$prog: installing: $*"
	export DEBIAN_FRONTEND=noninteractive
	# Lists never fetched, or a package apt does not know: update first.
	local need_update=0 p
	if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
		need_update=1
	else
		for p in "$@"; do
			if ! apt-cache show "$p" >/dev/null 2>&1; then
				need_update=1
				break
			fi
		done
	fi
	if [ "$need_update" = 1 ]; then
		apt-get update -q >"$log" 2>&1 || { cat "$log" >&2; die "apt-get update failed"; }
	fi
	if ! apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
		# Stale lists (a package version gone from the mirror): retry once.
		apt-get update -q >>"$log" 2>&1 || true
		apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 ||
			{ tail -n 40 "$log" >&2; die "apt-get install failed"; }
	fi
}

mapfile -t missing < <(missing_of "${packages[@]}")
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$dry" = 1 ]; then
		printf '%s\n' "${missing[@]}"
		exit 1
	fi
	apt_install "${missing[@]}"
	mapfile -t missing < <(missing_of "${packages[@]}")
	[ ${#missing[@]} -eq 0 ] || die "still missing after install: ${missing[*]}"
fi
[ "$group" = main ] || exit 0

# The metapackages move in lockstep, but make sure: the newest kernel image
# must have its own headers, or the modules would not load in the VM.
newest=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -rV | head -n 1)
[ -n "$newest" ] || die "no /boot/vmlinuz-* after installing linux-image-amd64"
if [ ! -f "/usr/src/linux-headers-$newest/Makefile" ] &&
	[ ! -f "/lib/modules/$newest/build/Makefile" ]; then
	if [ "$dry" = 1 ]; then
		echo "linux-headers-$newest"
		exit 1
	fi
	apt_install "linux-headers-$newest"
fi
[ -d "/lib/modules/$newest/kernel" ] || die "/lib/modules/$newest is missing (reinstall linux-image-$newest)"
exit 0
