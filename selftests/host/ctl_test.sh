#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ctl_test.sh: dualmirrorctl's command line and config-file checks, on the
# host: what needs no kernel module, no disk and no network. Usage errors
# exit 2; every command has --help; --version; "check" reports every
# error of a bad file as FILE:LINE and passes a good one; the systemd unit
# passes systemd-analyze verify and runs "up %i" / "down %i". (What a bad
# file must not change on a node, and every verb on a real resource, is
# tested on two guests: selftests/pair/60-resource.sh, 70-switchover.sh.)
# TAP on standard output; exit 0, or 1 when a point failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
CTL=$repo/scripts/dualmirrorctl
UNIT=$repo/scripts/systemd/dualmirror@.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
	fi
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
# match TEXT RE OUT: a point, ok when OUT matches the extended RE.
match() {
	if [[ "$3" =~ $2 ]]; then
		ok 0 "$1"
	else
		ok 1 "$1"
		printf '# got: %s\n' "${3:0:600}"
	fi
}
# rc CMD...: the exit status of CMD, its output discarded.
rc() {
	"$@" >/dev/null 2>&1
	echo $?
}

echo "TAP version 13"
echo "1..12"

# ---- usage ----------------------------------------------------------------
codes=
for args in "up" "primary status" "status --bogus" "frobnicate" "verify" \
	"verify r0 --bogus" "secondary" "primary r0 --frob" "peer add" \
	"connect" "adjust" "--node"; do
	# shellcheck disable=SC2086 # the words of one invocation
	codes+="$(rc "$CTL" $args) "
done
match "usage errors exit 2 (12 invocations: missing NAME, bad option, bad command)" \
	'^(2 ){12}$' "$codes"
err=$("$CTL" primary status 2>&1)
match "... with a usage line, not a traceback" '^usage: dualmirrorctl primary status' "$err"
match "--version" '^dualmirrorctl [0-9]+\.[0-9]+' "$("$CTL" --version)"
bad=
for c in up down status connect disconnect adjust check secondary verify \
	"primary r0" "peer add" "peer export" "peer remove" "primary attach" \
	"primary status"; do
	# shellcheck disable=SC2086
	"$CTL" $c --help >/dev/null 2>&1 || bad+="'$c' "
done
ok "$([ -z "$bad" ] && echo 0 || echo 1)" "--help of every command exits 0${bad:+ (not: $bad)}"
match "primary attach --help says --chap exposes the secret" \
	'exposes SECRET in the process listing' \
	"$("$CTL" primary attach --help | tr '\n' ' ' | tr -s ' ')"
match "primary NAME --help has --force, verify --help has --resync" '--force.*--resync' \
	"$("$CTL" primary r0 --help | tr '\n' ' ') $("$CTL" verify --help | tr '\n' ' ')"

# ---- config files -----------------------------------------------------------
mkdir -p "$tmp/conf"
cat >"$tmp/conf/bad.conf" <<'EOF'
[resource]
target_iqn = iqn.bad
primary = alpha
[options]
region_size = 1000
nosync = maybe
colour = blue
[node alpha]
disk = /dev/ram0
meta = /dev/ram1
address = 169.254.10.1
[node beta]
disk = relative/path
address = 169.254.10.2
EOF
out=$("$CTL" -C "$tmp/conf" --node alpha check bad 2>&1)
code=$?
match "check of a bad file: exit 1, every error as FILE:LINE" \
	"^1 .*bad.conf:2: target_iqn: .*bad.conf:5: region_size: 1000 is not a power of 2.*bad.conf:6: nosync: .*bad.conf:7: unknown key 'colour'.*bad.conf:12: \[node beta\]: missing 'meta'.*bad.conf:13: disk: 'relative/path' is not an absolute path" \
	"$code $(echo "$out" | tr '\n' ' ')"
cat >"$tmp/conf/r0.conf" <<'EOF'
[resource]
target_iqn = iqn.2026-11.org.example:r0
primary = alpha

[options]
peer_timeout = 5000

[node alpha]
disk = /dev/ram0
meta = /dev/ram1
address = 169.254.10.1
initiator = iqn.1993-08.org.debian:01:alpha

[node beta]
disk = /dev/ram0
meta = /dev/ram1
address = 169.254.10.2
EOF
out=$("$CTL" -C "$tmp/conf" --node alpha check r0 2>&1)
match "check of a good file: exit 0, ok" '^0 .*r0.conf: ok' "$? $out"
out=$("$CTL" -C "$tmp/conf" check "$tmp/conf/missing.conf" 2>&1)
match "check of a file that does not exist: exit 1, its name" '^1 .*missing.conf' "$? $out"

# ---- the systemd unit ---------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$tmp/unit"
	sed "s|/usr/sbin/dualmirrorctl|$CTL|" "$UNIT" >"$tmp/unit/dualmirror@r0.service"
	out=$(systemd-analyze verify --man=no "$tmp/unit/dualmirror@r0.service" 2>&1)
	ok $? "systemd-analyze verify dualmirror@r0.service"
	[ -z "$out" ] || printf '# %s\n' "$out"
else
	skip "systemd-analyze verify dualmirror@r0.service" "systemd-analyze is not installed"
fi
match "the unit is ordered after the network, iscsid and the target" \
	'^After=.*network-online.target.*iscsid.service.*target.service.*rtslib-fb-targetctl.service' \
	"$(grep '^After=' "$UNIT")"
match "the unit runs up %i --wait 150 / down %i --force" \
	'^ExecStart=/usr/sbin/dualmirrorctl up %i --wait 150 ExecStop=/usr/sbin/dualmirrorctl down %i --force$' \
	"$(grep -E '^Exec(Start|Stop)=' "$UNIT" | tr '\n' ' ' | sed 's/ $//')"
exit "$failed"
