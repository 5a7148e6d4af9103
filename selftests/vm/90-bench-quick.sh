#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 1200
#
# The benchmark keeps working: one short round of scripts/bench's guest
# half (every configuration, two workloads of 1 s each) produces every
# figure of every configuration that can be built here, and its report
# (scripts/bench.d/report.py --check) finds none missing. It never judges
# a figure: speed is for `make bench` and Documentation/benchmarks.rst.
# The two workloads are the 4 KiB QD1 write (inline framing) and the
# 1 MiB write (split framing, the largest); the other three differ from
# them only in fio's parameters, and each cost 4-15 s of emulated fio
# per configuration (about 120 s of this test's 200 s).  Then the guest
# half again with --events on two rows, for counts per I/O that need no
# timing.
. "$(dirname "$0")/../lib.sh"

dm_require_vm
dm_require_cmd fio iscsiadm iscsid dmsetup
ktap_print_header
ktap_set_plan 11

out=$DM_RESULTS/bench-quick
rm -rf "$out"
mkdir -p "$out"

assert_true "bench guest run completes" \
	"$DM_REPO/scripts/bench.d/guest.sh" --out "$out" --runtime 1 --rounds 1 --size-mb 32 \
	--workloads randwrite-4k-qd1,seqwrite-1m
ktap_print_msg "$(cat "$out"/raw/*/unavailable.txt 2>/dev/null | sed 's/^/unavailable: /')"

report=$("$DM_PYTHON" "$DM_REPO/scripts/bench.d/report.py" --raw "$out/raw" \
	--out "$out" --check 2>&1)
rc=$?
ktap_print_msg "$report"
assert_eq "report finds every figure (report.py --check)" 0 "$rc"

# The disks are scsi_debug's by default (scripts/bench --disk): disks that
# keep data and do not block, so that the peer's direct path runs.
kinds=$(sed -n 's/.* kind=\([^ ]*\) memory_backed=\([^ ]*\) blocking=\([^ ]*\)$/\1 \2 \3/p' \
	"$out/raw/disks.txt" | sort -u)
ktap_print_msg "disks: $(tr '\n' ' ' <"$out/raw/disks.txt")"
assert_eq "every bench disk is a scsi_debug disk that keeps data and does not block" \
	"scsi_debug 1 0" "$kinds"
# A bad disk kind, or --dataless (null_blk's) with scsi_debug, is a usage
# error (exit 2) before anything is booted.
rc_kind=0 rc_mix=0
"$DM_REPO/scripts/bench" --disk floppy --no-plot -o "$out/bad" >/dev/null 2>&1 || rc_kind=$?
"$DM_REPO/scripts/bench" --disk scsi_debug --dataless --no-plot -o "$out/bad" >/dev/null 2>&1 || rc_mix=$?
assert_eq "scripts/bench --disk floppy, --disk scsi_debug --dataless: exit 2" "2 2" "$rc_kind $rc_mix"
# Two perf recordings of one round (--profile and --switches), perf
# counting beside one (--events and --switches), a granularity that is
# not a number of nanoseconds, or an instruction-counting shift QEMU does
# not take: usage errors too.
rc_perf=0 rc_gran=0 rc_ev=0 rc_ic=0 err_ic=
"$DM_REPO/scripts/bench" --profile --switches --no-plot -o "$out/bad" >/dev/null 2>&1 || rc_perf=$?
"$DM_REPO/scripts/bench" --wakeup-granularity 4ms --no-plot -o "$out/bad" >/dev/null 2>&1 || rc_gran=$?
"$DM_REPO/scripts/bench" --events --switches --no-plot -o "$out/bad" >/dev/null 2>&1 || rc_ev=$?
err_ic=$("$DM_REPO/scripts/bench" --icount 11 --no-plot -o "$out/bad" 2>&1 >/dev/null) || rc_ic=$?
assert_eq "scripts/bench --profile --switches, --wakeup-granularity 4ms, --events --switches, --icount 11: exit 2" \
	"2 2 2 2" "$rc_perf $rc_gran $rc_ev $rc_ic"
ktap_print_msg "--icount 11: $err_ic"
assert_true "--icount 11 is refused as a shift out of range, not as an unknown option" \
	grep -q "a shift from 0 to 10" <<<"$err_ic"
# The run records the scheduler it had: the one-guest QD32 figures
# depend on it (Documentation/benchmarks.rst).
sched=$(sed -n 's/^sched_preempt=\(.*\)/\1/p;s/^sched_wakeup_granularity_ns=\(.*\)/\1/p' "$out/raw/env.txt" | paste -sd ' ')
ktap_print_msg "scheduler: $sched"
assert_true "env.txt names the preemption model and the wakeup granularity ($sched)" \
	grep -Eq '^(none|voluntary|full) [0-9]+$' <<<"$sched"

# The stock alternatives must always be measurable here.
for cfg in local iscsi; do
	assert_true "$cfg produced its figures" \
		test -s "$out/raw/$cfg/randwrite-4k-qd1.r1.fio.json" -a ! -e "$out/raw/$cfg/unavailable.txt"
done
# The pscsi row needs only dualmirror_peer, which every guest here loads:
# the decomposition of the inline write's cost rests on it.
assert_true "pscsi (plain write through dualmirror_peer) produced its figures" \
	test -s "$out/raw/pscsi/randwrite-4k-qd1.r1.fio.json" -a ! -e "$out/raw/pscsi/unavailable.txt"

# --events: perf stat's counts per I/O of fio's, in a window of the
# run.  What must come out is known without any timing: a plain iSCSI
# write issues two block requests (the initiator's SCSI disk's, and the
# backing disk's that LIO writes), a dualmirror write four (the local
# disk's, the mirror command's, and on the peer dualmirror_peer's and its
# backing disk's).  The window ends after fio's last write completed; it
# opens counter by counter (lib.sh's bench_events), fio's bios counted
# first (n) and again last (nl), the requests in between (m).  On one
# CPU, perf enables them in that order, so:
# - every bio nl counts was queued after the requests' counter was on:
#   m >= k * nl;
# - a request counted belongs to a bio n counts or, at QD1, to the one
#   write in flight when n's counter came on: m <= k * n + k.
# A write queued while the counters came on is in n, not in nl, and some
# of its k requests may be missing from m.
ev=$out/events
if [ "$(nproc)" -gt 1 ]; then
	ktap_test_skip "--events: counts per I/O" \
		"$(nproc) CPUs: perf enables the counters CPU by CPU, so the window's edges differ per CPU"
elif command -v perf >/dev/null; then
	rm -rf "$ev"
	"$DM_REPO/scripts/bench.d/guest.sh" --out "$ev" --runtime 4 --rounds 1 --size-mb 32 \
		--configs iscsi,dm-inline --workloads randwrite-4k-qd1 --events >"$ev.log" 2>&1 || true
	"$DM_PYTHON" "$DM_REPO/scripts/bench.d/report.py" --raw "$ev/raw" --out "$ev" >/dev/null 2>&1 || true
	ktap_print_msg "$(cat "$ev/events.txt" 2>/dev/null || tail -n 5 "$ev.log")"
	counts=$(for cfg in iscsi:2 dm-inline:4; do
		awk -F '|' -v k="${cfg#*:}" -v c="${cfg%%:*}" '
		$1 == "fio bios queued" { n = $2 }
		$1 == "fio bios queued, last enabled" { nl = $2 }
		$1 == "block requests issued" { m = $2 }
		END { printf "%s %s %s\n", c, (n >= 100 ? "ok" : "few I/Os (" n ")"),
			(nl != "" && m >= k * nl && m <= k * n + k ? k : m "/" n "/" nl) }
		' "$ev/raw/${cfg%%:*}/randwrite-4k-qd1.r1.events" 2>/dev/null || echo "${cfg%%:*} no counts"
	done | paste -sd ' ')
	assert_eq "--events: at least 100 I/Os counted per row; 2 block requests per plain write, 4 per mirrored write" \
		"iscsi ok 2 dm-inline ok 4" "$counts"
else
	ktap_test_skip "--events: counts per I/O" "perf is not installed (make deps installs linux-perf)"
fi

ktap_finished
