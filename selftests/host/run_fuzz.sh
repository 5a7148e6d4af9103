#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build and run the wire decoder fuzzer for a bounded time; print TAP.
# usage: run_fuzz.sh OUT_DIR SECONDS [MAKE]
set -euo pipefail

usage() {
	echo "usage: $0 OUT_DIR SECONDS [MAKE]" >&2
	exit 2
}

[ $# -ge 2 ] || usage
out=$1
secs=$2
mk=${3:-make}
case "$secs" in
''|*[!0-9]*) echo "run_fuzz.sh: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)

echo "TAP version 13"
echo "1..1"
mkdir -p "$out"
if ! "$mk" -s -C "$here" "$out/wire_fuzz" >"$out/fuzz-build.log" 2>&1; then
	if ! command -v clang >/dev/null; then
		echo "ok 1 - wire decoder fuzz # SKIP clang with libFuzzer not installed"
		exit 0
	fi
	sed 's/^/# /' "$out/fuzz-build.log"
	echo "not ok 1 - wire decoder fuzz: build failed"
	exit 1
fi

work=$out/fuzz-corpus
mkdir -p "$work" "$out/fuzz-artifacts"
python3 "$here/mkcorpus.py" "$work"
cp "$here"/corpus/regress-* "$work"/ 2>/dev/null || true
log=$out/fuzz.log
if "$out/wire_fuzz" -max_total_time="$secs" -max_len=12000 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/fuzz-artifacts/" "$work" >"$log" 2>&1; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	echo "# ${runs:-?} inputs in ${secs}s, ${cov:-cov: ?}, corpus in $work"
	echo "ok 1 - wire decoder fuzz, ${secs}s, no crash, leak or sanitizer report"
else
	tail -n 40 "$log" | sed 's/^/# /'
	echo "# reproducer: $out/fuzz-artifacts/ (run: $out/wire_fuzz FILE)"
	echo "not ok 1 - wire decoder fuzz found a failure"
	exit 1
fi
