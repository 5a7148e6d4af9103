#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 2700
#
# (When DKMS compiles both modules in this emulated guest: minutes on an
# idle host, 1238 s on a 2-core host with load 10 from other guests, which
# the earlier bound of 1500 s did not leave room for.)
#
# The Debian packages, installed as an administrator would: dpkg -i of
# build/deb/dualmirror-dkms_*.deb and dualmirror-utils_*.deb (make deb)
# makes DKMS install both modules for the guest's kernel into
# /lib/modules/KVER/updates/dkms.
#
# Where DKMS gets the modules: selftests/deb/dkms-test (make check runs it
# first) builds them with DKMS on the host, natively, for this same kernel
# and from this same package, and keeps them as a DKMS tarball in
# build/dkms/. When that tarball was made from the very .deb installed
# here (its sha256 is recorded next to it), this test puts it where the
# package's postinst looks for one (/usr/share/dualmirror-dkms/, DKMS's
# own way of shipping pre-built modules): the postinst loads it and DKMS
# installs the modules without compiling them again, which saves about
# 460 s of emulated compiling. Otherwise, or with DM_PKG_BUILD=guest, DKMS
# compiles them here as it would on a fresh machine. modprobe loads them
# from updates/dkms (the
# repo's modules, which vm-run loaded, are unloaded first, and loaded again
# at the end). Then a short end-to-end with the installed command only
# (/usr/sbin/dualmirrorctl, run from /): a peer disk on null_blk exported
# on 127.0.0.1, attached over loopback iSCSI, a dualmirror table (nosync)
# over a local null_blk and that disk, fio with verification through it,
# the two copies compared, and everything taken down; dpkg --purge then
# removes the modules again. Skips when the packages are not built.
. "$(dirname "$0")/../lib.sh"

dm_require_vm
dm_require_cmd dpkg dkms modprobe modinfo dmsetup fio iscsiadm iscsid blockdev
shopt -s nullglob
debs=("$DM_REPO"/build/deb/dualmirror-dkms_*_all.deb)
dkms_deb=${debs[${#debs[@]} - 1]:-}
debs=("$DM_REPO"/build/deb/dualmirror-utils_*_all.deb)
utils_deb=${debs[${#debs[@]} - 1]:-}
shopt -u nullglob
[ -n "$dkms_deb" ] && [ -n "$utils_deb" ] ||
	ktap_skip_all "no build/deb/dualmirror-{dkms,utils}_*.deb: run 'make deb' first"
"$DM_PYTHON" -c 'import rtslib_fb' 2>/dev/null ||
	ktap_skip_all "python3-rtslib-fb is not installed"
[ -e "/lib/modules/$DM_KVER/build/Makefile" ] ||
	ktap_skip_all "no kernel headers for $DM_KVER in the guest"
ktap_print_header
ktap_set_plan 21

DMCTL=/usr/sbin/dualmirrorctl
# bail REASON: stop after points were printed (the missing ones fail).
bail() {
	ktap_print_msg "$*"
	ktap_finished
}
IQN=$DM_IQN_PREFIX:pkg95
NAME=pkg95
UPDATES=/lib/modules/$DM_KVER/updates/dkms
dm_dmesg_mark
ktap_print_msg "${dkms_deb#"$DM_REPO"/}, ${utils_deb#"$DM_REPO"/}"

# The repo's modules go; they come back at the end if they were there.
if dm_module_loaded dm_dualmirror || dm_module_loaded dualmirror_peer; then
	dm_on_exit dm_load_modules
fi
dm_unload_module dm_dualmirror dualmirror_peer ||
	bail "cannot unload the repo's modules"

# The man-db trigger would rebuild the whole manual index: minutes under
# emulation. This guest's root is a throw-away overlay.
rm -f /var/lib/man-db/auto-update

# ---- install ------------------------------------------------------------------
dm_on_exit "dpkg --purge dualmirror-utils dualmirror-dkms >/dev/null 2>&1"
log=$DM_RESULTS/tests/95-packages.dpkg.log
mkdir -p "${log%/*}"
# The DKMS tarball of selftests/deb/dkms-test, if it is this package's.
ver=${dkms_deb##*/dualmirror-dkms_}
ver=${ver%%-*}
tarball=$DM_REPO/build/dkms/dualmirror-$ver.dkms.tar.gz
prebuilt=
why=
if [ "${DM_PKG_BUILD:-}" = guest ]; then
	why="DM_PKG_BUILD=guest"
elif [ ! -f "$tarball" ]; then
	why="no ${tarball#"$DM_REPO"/} (selftests/deb/dkms-test makes it)"
elif [ "$(cat "$tarball.deb-sha256" 2>/dev/null)" != "$(sha256sum <"$dkms_deb" | cut -d' ' -f1)" ]; then
	why="${tarball#"$DM_REPO"/} was not made from ${dkms_deb#"$DM_REPO"/}"
elif [[ $(tar -tzf "$tarball") != *"./dkms_main_tree/$DM_KVER/"* ]]; then
	why="${tarball#"$DM_REPO"/} has no modules for $DM_KVER"
fi
if [ -z "$why" ]; then
	prebuilt=/usr/share/dualmirror-dkms/dualmirror-$ver.dkms.tar.gz
	mkdir -p "${prebuilt%/*}"
	cp "$tarball" "$prebuilt"
	dm_on_exit "rm -rf ${prebuilt%/*}"
	ktap_print_msg "at ${SECONDS}s: dpkg -i (DKMS installs the modules dkms-test built on the host: ${tarball#"$DM_REPO"/})"
else
	ktap_print_msg "at ${SECONDS}s: dpkg -i (DKMS builds the modules, $why: minutes under emulation)"
fi
if DEBIAN_FRONTEND=noninteractive dpkg -i "$dkms_deb" "$utils_deb" >"$log" 2>&1; then
	ktap_test_pass "dpkg -i both packages"
else
	ktap_test_fail "dpkg -i both packages"
	ktap_print_msg "$(tail -n 40 "$log")"
	bail "the packages did not install"
fi
ktap_print_msg "at ${SECONDS}s: installed"
if [ -n "$prebuilt" ]; then
	assert_eq "the postinst loaded the host-built modules, compiled nothing" \
		"loaded, not built" \
		"$(grep -q "^Loading tarball for dualmirror-$ver" "$log" && echo -n loaded || echo -n "not loaded"), $(
			grep -q "^Building initial module" "$log" && echo built || echo "not built")"
else
	assert_match "the postinst compiled the modules" "^Building initial module" "$(cat "$log")"
fi
assert_match "dkms status: installed for $DM_KVER" \
	"^dualmirror/[^,]*, $DM_KVER, [^:]*: installed" "$(dkms status dualmirror 2>&1)"
assert_match "modprobe finds dm-dualmirror in updates/dkms" \
	"^$UPDATES/dm-dualmirror\\.ko" "$(modinfo -k "$DM_KVER" -n dm-dualmirror 2>&1)"
assert_match "modprobe finds dualmirror_peer in updates/dkms" \
	"^$UPDATES/dualmirror_peer\\.ko" "$(modinfo -k "$DM_KVER" -n dualmirror_peer 2>&1)"
assert_eq "dualmirrorctl is /usr/sbin/dualmirrorctl -> /usr/lib/dualmirror" \
	"/usr/sbin/dualmirrorctl /usr/lib/dualmirror/dualmirrorctl" \
	"$(command -v dualmirrorctl) $(readlink -f "$DMCTL")"

# ---- load the installed modules -----------------------------------------------
assert_eq "the repo's modules are not loaded" "no no" \
	"$(for m in dm_dualmirror dualmirror_peer; do
		[ -d "/sys/module/$m" ] && echo -n "yes " || echo -n "no "; done | sed 's/ $//')"
assert_true "modprobe dualmirror_peer" modprobe dualmirror_peer
assert_true "modprobe dm-dualmirror" modprobe dm-dualmirror
dm_on_exit "modprobe -r dm-dualmirror dualmirror_peer"
# ---- end to end with the installed tool only ----------------------------------
cd / || exit 1
# No fallback to the repo's .ko files (the tool insmods them when modprobe fails).
export DUALMIRROR_PEER_KO=/nonexistent/no-repo-module.ko DUALMIRROR_KO=/nonexistent/no-repo-module.ko
dm_iscsid_start || bail "cannot start iscsid"
back=$(dm_nullb_create pkg95peer 64) || bail "cannot create a null_blk disk"
dm_on_exit dm_nullb_remove pkg95peer
local_dev=$(dm_nullb_create pkg95local 64) || bail "cannot create a null_blk disk"
dm_on_exit dm_nullb_remove pkg95local

pdisk=$("$DMCTL" peer add "$back" 2>&1)
assert_match "dualmirrorctl peer add" '^/dev/sd[a-z]+$' "$pdisk" ||
	bail "peer add failed"
dm_on_exit "\"$DMCTL\" peer remove $pdisk"
dm_on_exit "\"$DMCTL\" peer unexport $IQN"
out=$("$DMCTL" peer export "$pdisk" "$IQN" --portal 127.0.0.1:3260 2>&1)
assert_match "dualmirrorctl peer export on 127.0.0.1" "exported $pdisk as $IQN" "$out"
dm_on_exit "\"$DMCTL\" primary detach $IQN"
rdisk=$("$DMCTL" primary attach 127.0.0.1 "$IQN" 2>&1)
assert_match "dualmirrorctl primary attach" '^/dev/sd[a-z]+$' "$rdisk" ||
	bail "primary attach failed"

sectors=$(blockdev --getsz "$local_dev")
dm_on_exit "dmsetup remove $NAME"
assert_true "dmsetup create a dualmirror table (nosync)" \
	dmsetup create "$NAME" --table "0 $sectors dualmirror $local_dev $rdisk 1 nosync"
mirror=/dev/mapper/$NAME
[ -b "$mirror" ] || bail "$mirror is not a block device"
assert_match "dualmirrorctl primary status: connected" '^state +connected' \
	"$("$DMCTL" primary status "$NAME" 2>&1)"

# 4 KiB (inline) and 64 KiB (split) writes, verified as they are read back.
out=$(fio --name=pkg95 --filename="$mirror" --rw=randwrite --bssplit=4k/70:64k/30 \
	--size=16M --direct=1 --ioengine=libaio --iodepth=8 --randrepeat=1 \
	--verify=crc32c --verify_fatal=1 --do_verify=1 2>&1)
rc=$?
assert_eq "fio with verification through the mirror" 0 "$rc" ||
	ktap_print_msg "$(printf '%s\n' "$out" | tail -n 20)"
st=$("$DMCTL" primary status "$NAME" 2>&1)
assert_match "the peer leg took inline and split writes" \
	'inline_ops +[1-9].*split_ops +[1-9]' "$(printf '%s' "$st" | tr '\n' ' ')"
assert_eq "the two copies are identical (local, peer's backing device)" \
	"$(dd if="$local_dev" bs=1M iflag=direct status=none | md5sum)" \
	"$(dd if="$back" bs=1M iflag=direct status=none | md5sum)"

# ---- teardown -------------------------------------------------------------------
dmsetup remove "$NAME"
"$DMCTL" primary detach "$IQN"
"$DMCTL" peer unexport "$IQN" >/dev/null
assert_true "teardown with dualmirrorctl (detach, unexport, remove)" \
	"$DMCTL" peer remove "$pdisk"
assert_true "modprobe -r both modules" modprobe -r dm-dualmirror dualmirror_peer
ktap_print_msg "at ${SECONDS}s: dpkg --purge"
DEBIAN_FRONTEND=noninteractive dpkg --purge dualmirror-utils dualmirror-dkms >>"$log" 2>&1
assert_eq "dpkg --purge removes the modules and the command" \
	"no modules, no command" \
	"$(ls "$UPDATES"/dm-dualmirror.ko* "$UPDATES"/dualmirror_peer.ko* 2>/dev/null ||
		echo -n 'no modules'), $([ -e "$DMCTL" ] && echo "$DMCTL" || echo 'no command')"
assert_dmesg_clean "no kernel warning"

ktap_finished
