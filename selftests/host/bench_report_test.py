#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""bench_report_test.py: scripts/bench.d/report.py on made-up raw results,
on the host.  It checks the aims' verdicts against figures computed here
by hand: the ratio of the medians of the rounds, and the per-round ratios
paired by round number (not by rank, not by the order of the files), with
how many rounds meet the aim; and that make bench and make bench-pair
hand BENCH_FLAGS to scripts/bench.  TAP on standard output; exit 0, or 1
when a point failed."""

import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "..", "..", "scripts", "bench.d", "report.py")

N = 0
FAILED = False


def ok(cond, what, detail=""):
    """One TAP point."""
    global N, FAILED
    N += 1
    print(f"{'ok' if cond else 'not ok'} {N} - {what}")
    if not cond:
        FAILED = True
        for line in str(detail).splitlines():
            print(f"# {line}")


def fio_json(lat_us, iops):
    """The part of fio's JSON that report.py reads: one write job."""
    write = {"total_ios": int(iops * 4), "iops": iops, "bw_bytes": iops * 4096,
             "lat_ns": {"mean": lat_us * 1000.0,
                        "percentile": {"50.000000": lat_us * 900,
                                       "99.000000": lat_us * 3000,
                                       "99.900000": lat_us * 5000}}}
    read = {"total_ios": 0, "iops": 0, "bw_bytes": 0, "lat_ns": {"mean": 0}}
    return {"fio version": "fio-test",
            "jobs": [{"job_runtime": 4000, "read": read, "write": write}]}


def make_raw(raw, figures, env=""):
    """figures: {config: {round: mean latency in us}} of randwrite-4k-qd1;
    env: more lines of env.txt."""
    os.makedirs(raw)
    with open(os.path.join(raw, "env.txt"), "w", encoding="utf-8") as f:
        f.write("configs=" + " ".join(figures) + "\n")
        f.write("workloads=randwrite-4k-qd1\nrounds=3\nruntime=4\n" + env)
    for cfg, rounds in figures.items():
        d = os.path.join(raw, cfg)
        os.makedirs(d)
        for r, lat in rounds.items():
            with open(os.path.join(d, f"randwrite-4k-qd1.r{r}.fio.json"), "w",
                      encoding="utf-8") as f:
                # a warning before the JSON, as fio prints some
                f.write("fio: note: a warning\n")
                json.dump(fio_json(lat, 1e6 / lat), f)


def aim_line(text, name):
    """The line of the aims table that starts with name."""
    for line in text.splitlines():
        if line.startswith(name):
            return line
    return ""


def run(raw, out, extra=()):
    """report.py over raw, with more arguments extra: (exit status,
    table.txt, bench.json)."""
    p = subprocess.run([sys.executable, REPORT, "--raw", raw, "--out", out, *extra],
                       capture_output=True, text=True, check=False)
    table, doc = "", {}
    if p.returncode == 0:
        with open(os.path.join(out, "table.txt"), encoding="utf-8") as f:
            table = f.read()
        with open(os.path.join(out, "bench.json"), encoding="utf-8") as f:
            doc = json.load(f)
    return p.returncode, table, doc, p.stderr


def events_of(out):
    """events.txt of a report in out, or why it could not be read."""
    try:
        with open(os.path.join(out, "events.txt"), encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        return str(e)


def main():
    """Each case: raw figures, and what the aims table must say of them."""
    print("TAP version 13")
    with tempfile.TemporaryDirectory() as tmp:
        # Rounds 1, 2 and 10 (10 sorts before 2 as a string).  Round by
        # round the inline write is 0.50, 2.20 and 1.00 times the floor;
        # the medians (1,500 us both) give 1.00: met, but one round of
        # three contradicts it.  Pairing the rounds by rank would give
        # 0.67-1.47, by file name order something else again.
        raw = os.path.join(tmp, "a", "raw")
        make_raw(raw, {"iscsi": {1: 2000.0, 2: 1000.0, 10: 1500.0},
                       "dm-inline": {1: 1000.0, 2: 2200.0, 10: 1500.0}})
        rc, table, doc, err = run(raw, os.path.join(tmp, "a", "out"))
        ok(rc == 0, "report.py reads three rounds of two configurations", err)
        res = doc.get("configs", {}).get("dm-inline", {}).get("results", {}) \
                 .get("randwrite-4k-qd1", {})
        ok(res.get("round_ids") == [1, 2, 10],
           "bench.json keeps the rounds' numbers, in numeric order", res.get("round_ids"))
        ok(res.get("lat_mean_us") == 1500.0, "the figure is the median of the rounds",
           res.get("lat_mean_us"))
        line = aim_line(table, "4 KiB QD1 mean latency, inline / plain iSCSI")
        m = re.search(r"<= 1\.10\s+(\S+)\s+(\S+)\s+rounds (\S+)-(\S+), (\d+) of (\d+) meet$",
                      line)
        ok(m is not None, "the QD1 aim's line has a verdict and the rounds' ratios", table)
        if m:
            ok(m.group(1) == "1.00" and m.group(2) == "met",
               "verdict: the ratio of the medians (1,500 / 1,500 us)", line)
            ok((m.group(3), m.group(4)) == ("0.50", "2.20"),
               "rounds: paired by round number (0.50 and 2.20, not by rank)", line)
            ok((m.group(5), m.group(6)) == ("2", "3"),
               "two rounds of three meet <= 1.10 on their own", line)
        # A round that only one configuration ran is left out of the
        # pairs, not paired with another round.
        raw = os.path.join(tmp, "b", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0, 2: 1000.0, 3: 1000.0},
                       "dm-inline": {1: 1050.0, 2: 1300.0}})
        rc, table, doc, err = run(raw, os.path.join(tmp, "b", "out"))
        line = aim_line(table, "4 KiB QD1 mean latency, inline / plain iSCSI")
        ok(rc == 0 and line.endswith("rounds 1.05-1.30, 1 of 2 meet"),
           "a round one configuration lacks is not paired", line or err)
        # One round: no spread to print.
        raw = os.path.join(tmp, "c", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0}, "dm-inline": {1: 1500.0}})
        rc, table, doc, err = run(raw, os.path.join(tmp, "c", "out"))
        line = aim_line(table, "4 KiB QD1 mean latency, inline / plain iSCSI")
        ok(rc == 0 and line.split()[-2:] == ["1.50", "missed"],
           "one round: the verdict alone, no rounds column", line or err)
        # A row that is only reported (no aim) gets the spread, no count.
        raw = os.path.join(tmp, "d", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0, 2: 1000.0},
                       "pscsi": {1: 900.0, 2: 1200.0}})
        rc, table, doc, err = run(raw, os.path.join(tmp, "d", "out"))
        line = aim_line(table, "4 KiB QD1 mean latency, plain pscsi / iSCSI")
        ok(rc == 0 and line.endswith("-       rounds 0.90-1.20"),
           "a reported-only row: the rounds' spread, no verdict or count", line or err)
        # The header names the scheduler a run had (guest.sh's env.txt),
        # and says nothing of one that older runs did not record.
        sched = "scheduler: voluntary preemption, wakeup granularity 4000000 ns"
        raw = os.path.join(tmp, "e", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0}, "dm-inline": {1: 1500.0}},
                 "sched_preempt=voluntary\nsched_wakeup_granularity_ns=4000000\n")
        rc, table, doc, err = run(raw, os.path.join(tmp, "e", "out"))
        has = sched in table.splitlines()
        ok(rc == 0 and has and "scheduler:" not in
           run(os.path.join(tmp, "d", "raw"), os.path.join(tmp, "d", "out2"))[1],
           "the header names the run's scheduler, and only when env.txt has it",
           table or err)
        # --events: each count per I/O of fio's in the window (its bios
        # queued on its device), the median of the
        # rounds with their range; a count perf did not make is left
        # out, a window without I/O counts nothing.
        raw = os.path.join(tmp, "f", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0, 2: 1000.0, 3: 1000.0},
                       "dm-inline": {1: 1500.0, 2: 1500.0}})
        for r, sent in ((1, 1800), (2, 3500), (3, 2000)):
            with open(os.path.join(raw, "iscsi", f"randwrite-4k-qd1.r{r}.events"),
                      "w", encoding="utf-8") as f:
                f.write(f"fio bios queued|1000\npackets sent|{sent}\n"
                        "wakeups|<not counted>\nfio bios queued, last enabled|999\n")
        for r, queued in ((1, 500), (2, 0)):
            with open(os.path.join(raw, "dm-inline", f"randwrite-4k-qd1.r{r}.events"),
                      "w", encoding="utf-8") as f:
                f.write(f"fio bios queued|{queued}\npackets sent|1750\n")
        rc, table, doc, err = run(raw, os.path.join(tmp, "f", "out"))
        events = events_of(os.path.join(tmp, "f", "out"))
        sent = aim_line(events, "packets sent").split()
        ios = aim_line(events, "I/Os counted").split()
        ok(rc == 0 and sent[2:] == ["2.00", "(1.80-3.50)", "3.50"]
           and ios[2:] == ["3000", "500"] and "wakeups" not in events
           and "last enabled" not in events
           and doc["configs"]["iscsi"]["results"]["randwrite-4k-qd1"]["rounds"][0]
           ["events"].get("ios_last_enabled") == 999,
           "events.txt: counts per I/O in the window, median and range of the rounds; "
           "fio's bios counted last are kept apart",
           events or err)
        ok(not os.path.exists(os.path.join(tmp, "d", "out", "events.txt")),
           "no events.txt from a run without --events")
        # A round whose guest stopped before the counters after fio were
        # taken: the report is still written, each figure the median of
        # the rounds that have it (PDUs: 0.5 and 1 per I/O, median 0.75).
        raw = os.path.join(tmp, "g", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0, 2: 1000.0, 3: 1000.0},
                       "dm-inline": {1: 1500.0, 2: 1500.0, 3: 1500.0}})
        for r, cmds in ((1, 2000), (2, 4000)):
            base = os.path.join(raw, "iscsi", f"randwrite-4k-qd1.r{r}")
            for tag, n in ((".before.iscsi", 0), (".after.iscsi", cmds)):
                with open(base + tag, "w", encoding="utf-8") as f:
                    f.write(f"session 1\nStats:\n\tscsicmd_pdus: {n}\n")
        rc, table, doc, err = run(raw, os.path.join(tmp, "g", "out"))
        res = doc.get("configs", {}).get("iscsi", {}).get("results", {}) \
                 .get("randwrite-4k-qd1", {})
        ok(rc == 0 and res.get("pdus_per_io") == 0.75
           and res.get("pdus", {}).get("scsicmd_pdus") == 6000,
           "a round without its counters after fio: the other rounds' figures",
           err or json.dumps(res)[:2000])
        # The same, with --check: a round that lacks a figure the others
        # have is reported, though the median hides it.
        p = subprocess.run([sys.executable, REPORT, "--raw", raw, "--out",
                            os.path.join(tmp, "g", "out2"), "--check"],
                           capture_output=True, text=True, check=False)
        ok(p.returncode != 0 and "iscsi randwrite-4k-qd1: no pdus_per_io in round 3" in p.stderr,
           "--check names the round that lacks a figure", p.stderr)
        # --events: a round whose window counted every I/O of fio's (it
        # opened before fio's first) is left out; a count that only a
        # later round has is kept; a figure no round has (CPU busy share
        # of a window without ticks) is no figure, not a crash.
        raw = os.path.join(tmp, "h", "raw")
        make_raw(raw, {"iscsi": {1: 1000.0, 2: 1000.0, 3: 1000.0}})
        for r, text in ((1, "fio bios queued|4000\npackets sent|9999\n"),
                        (2, "fio bios queued|1000\npackets sent|2000\n"),
                        (3, "fio bios queued|1000\npackets sent|3000\nwakeups|500\n")):
            base = os.path.join(raw, "iscsi", f"randwrite-4k-qd1.r{r}")
            with open(base + ".events", "w", encoding="utf-8") as f:
                f.write(text)
            for tag in (".before.stat", ".after.stat"):
                with open(base + tag, "w", encoding="utf-8") as f:
                    f.write("cpu  5 0 5 5 0 0 0 0\nintr 7\nctxt 7\n")
        rc, table, doc, err = run(raw, os.path.join(tmp, "h", "out"))
        events = events_of(os.path.join(tmp, "h", "out"))
        res = doc.get("configs", {}).get("iscsi", {}).get("results", {}) \
                 .get("randwrite-4k-qd1", {})
        ok(rc == 0 and aim_line(events, "packets sent").split()[2:] == ["2.50", "(2.00-3.00)"]
           and aim_line(events, "rounds counted").split()[2:] == ["2", "of", "3"]
           and aim_line(events, "wakeups").split()[1:] == ["0.50"]
           and "cpu_busy_pct" in res and res["cpu_busy_pct"] is None,
           "events.txt leaves out an early window, keeps a later round's count; "
           "a figure no round has is none", err or events)
        # A run under instruction counting (scripts/bench --icount) says
        # so, with the time one instruction counts for; one without says
        # nothing of it.
        raw = os.path.join(tmp, "e", "raw")
        clock = [line for line in run(raw, os.path.join(tmp, "i", "out"),
                                      ("--vm", "icount=2", "--vm", "cpus=1"))[1].splitlines()
                 if line.startswith("clock:")]
        plain = run(raw, os.path.join(tmp, "i", "out2"), ("--vm", "icount=off"))[1]
        odd = run(raw, os.path.join(tmp, "i", "out3"), ("--vm", "icount=auto"))
        ok(len(clock) == 1 and "icount shift 2" in clock[0] and "4 ns each" in clock[0]
           and plain and "clock:" not in plain and odd[0] == 0 and "clock:" not in odd[1],
           "the header names instruction counting and its shift, only when it was on, "
           "and a value that is not a shift does not break the report",
           (clock, plain, odd[0], odd[3]))
        # make bench and make bench-pair hand BENCH_FLAGS to
        # scripts/bench; make demo does not take them.  The script and
        # the build are stand-ins (BENCH_SCRIPT, KBUILD=true).
        top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        stub = os.path.join(tmp, "stub")
        with open(stub, "w") as f:
            f.write('#!/bin/sh\necho "$*" >> "$STUB_LOG"\n')
        os.chmod(stub, 0o755)
        log = os.path.join(tmp, "stub.log")
        for target in ("bench", "bench-pair", "demo"):
            subprocess.run(["make", "-s", "-C", top, target, "NODEPS=1",
                            "KDIR=/nonexistent", "KBUILD=true",
                            "BENCH_SCRIPT=" + stub, "DEMO_SCRIPT=" + stub,
                            "BENCH_FLAGS=-r 5 -o /tmp/x y"],
                           env=dict(os.environ, STUB_LOG=log),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
        got = open(log).read().splitlines() if os.path.exists(log) else []
        ok(got == ["-r 5 -o /tmp/x y", "--pair -r 5 -o /tmp/x y", ""],
           "make bench and bench-pair pass BENCH_FLAGS to scripts/bench, "
           "make demo does not", got)
    print(f"1..{N}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
