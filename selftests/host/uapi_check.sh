#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's own UAPI header check on include/uapi/linux/dualmirror.h;
# prints TAP. As in a kernel tree ("make headers" with
# CONFIG_UAPI_HEADER_TEST, usr/include/Makefile):
#  1. scripts/headers_install.sh installs it: an SPDX line WITH
#     Linux-syscall-note, no CONFIG_ symbol leaked, __KERNEL__ parts gone;
#  2. the header as it is in the tree, which userspace includes without
#     an install step, compiles alone, included twice (its include guard),
#     with the kernel's UAPI_CFLAGS -std=c90 -Wall, warnings made errors,
#     and usr/dummy-include (no <stdlib.h> nor <stdbool.h>);
#  3. so does the installed copy (headers_install.sh rewrites inline and
#     asm, so this alone would pass C99 code);
#  4. usr/include/headers_check.pl reports nothing on either.
# usage: uapi_check.sh OUT_DIR
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
out=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
hdr=include/uapi/linux/dualmirror.h
cc=${CC:-cc}
n=4

echo "TAP version 13"
echo "1..$n"

tarball=${LINUX_SOURCE:-$(ls -1 /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
	for i in $(seq $n); do
		echo "ok $i - UAPI header check # SKIP no linux-source tarball (apt-get install linux-source-6.1)"
	done
	exit 0
fi

# Extract and build the kernel's tools once (into a temporary directory,
# then renamed, so that two runs at once do not see half of them).
src=$(basename "$tarball" .tar.xz)
cache=/var/tmp/dualmirror-tools/$src-uapi
if [ ! -x "$cache/scripts/unifdef" ]; then
	mkdir -p /var/tmp/dualmirror-tools
	tmp=$(mktemp -d "/var/tmp/dualmirror-tools/$src-uapi.XXXXXX")
	tar -xJf "$tarball" -C "$tmp" --strip-components=1 \
		"$src/scripts/headers_install.sh" "$src/scripts/unifdef.c" \
		"$src/usr/include/headers_check.pl" "$src/usr/dummy-include"
	"$cc" -O2 -o "$tmp/scripts/unifdef" "$tmp/scripts/unifdef.c"
	rm -rf "$cache"
	mv "$tmp" "$cache"
fi

inst=$out/uapi-include
mkdir -p "$inst/linux"
log=$out/uapi-check.log

report() { # report NUMBER DESCRIPTION: ok unless $log has anything
	if [ -s "$log" ]; then
		sed 's/^/# /' "$log"
		echo "not ok $1 - $2"
		rc=1
	else
		echo "ok $1 - $2"
	fi
}
rc=0

# headers_install.sh runs scripts/unifdef relative to the kernel tree.
(cd "$cache" && sh scripts/headers_install.sh "$top/$hdr" \
	"$inst/linux/dualmirror.h") >"$log" 2>&1 ||
	echo "headers_install.sh failed" >>"$log"
report 1 "$hdr: headers_install.sh installs it (SPDX syscall note, no CONFIG_ leak)"

uapi_cc() { # uapi_cc INCLUDE_DIR HEADER: compile HEADER alone, twice
	"$cc" -std=c90 -Wall -Werror -I "$1" -I "$cache/usr/dummy-include" \
		-fsyntax-only -x c /dev/null -include "$2" -include "$2" \
		>"$log" 2>&1 || true
}
uapi_cc "$top/include/uapi" "$top/$hdr"
report 2 "$hdr: compiles alone, twice, with -std=c90 -Wall -Werror"
if [ -f "$inst/linux/dualmirror.h" ]; then
	uapi_cc "$inst" "$inst/linux/dualmirror.h"
else
	echo "not installed" >"$log"
fi
report 3 "$hdr: its installed copy compiles likewise"
# The system's kernel UAPI headers stand in for the tree's installed ones.
perl "$cache/usr/include/headers_check.pl" /usr/include x86 "$top/$hdr" \
	$([ -f "$inst/linux/dualmirror.h" ] && echo "$inst/linux/dualmirror.h") \
	>"$log" 2>&1 || echo "headers_check.pl failed" >>"$log"
report 4 "$hdr: headers_check.pl reports nothing"
exit $rc
