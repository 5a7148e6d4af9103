#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw figures of one scripts/bench run into its report.

  report.py --raw DIR --out DIR [--vm KEY=VALUE]... [--check]

Reads what scripts/bench.d/guest.sh saved under --raw (per configuration
and workload: fio JSON, /proc/stat, dmsetup status and open-iscsi PDU
counters before and after; in a two-guest run also the peer guest's
/proc/stat) and writes into --out:

  bench.json   every figure, with fio version, kernel and VM settings
  table.txt    the side-by-side table (also printed): each figure and its
               ratio to the plain iSCSI floor and to the local disk
  plot.dat     the figures gnuplot draws (scripts/bench.d/plot.gp)
  events.txt   only after --events: what perf stat counted per I/O,
               configuration by configuration (medians of the rounds,
               with their range; a round whose counting window opened
               before fio's first I/O is left out)

--check exits non-zero unless every available configuration produced every
figure of every workload (used by the selftest; it never judges speed).
Standard library only.
"""
import argparse
import json
import os
import re
import sys

CONFIGS = [
    ("local", "local disk alone"),
    ("iscsi", "plain iSCSI write (LIO block)"),
    ("pscsi", "plain iSCSI write (LIO pscsi, dualmirror_peer)"),
    ("iser", "plain iSER write (LIO block, soft-RoCE)"),
    ("dm-inline", "dualmirror, inline (default)"),
    ("dm-inline-iser", "dualmirror, inline, over iSER"),
    ("dm-split", "dualmirror, split only (inline_max 0)"),
    ("dm-inline-64k", "dualmirror, inline up to 64 KiB (inline_max 65536)"),
    ("dm-split-iser", "dualmirror, split only, over iSER"),
    ("dm-meta", "dualmirror, inline, bitmap on meta_dev"),
    ("dm-mirror", "dm-raid1 (mirror, core log)"),
    ("md-raid1", "md raid1 + internal bitmap"),
    ("md-raid1-nowbt", "md raid1, writeback throttling off on its members"),
    ("drbd", "DRBD 8.4 protocol C"),
]
WORKLOADS = [
    ("randwrite-4k-qd1", "4 KiB random write, QD1"),
    ("randwrite-4k-qd32", "4 KiB random write, QD32"),
    ("seqwrite-64k", "64 KiB sequential write, QD8"),
    ("seqwrite-1m", "1 MiB sequential write, QD4"),
    ("randrw-4k-70-30", "4 KiB random 70% read / 30% write, QD8"),
]
# The headline figure of each workload: (key, unit, higher is better).
HEADLINE = {
    "randwrite-4k-qd1": ("lat_mean_us", "us", False),
    "randwrite-4k-qd32": ("iops", "IOPS", True),
    "seqwrite-64k": ("mb_s", "MB/s", True),
    "seqwrite-1m": ("mb_s", "MB/s", True),
    "randrw-4k-70-30": ("iops", "IOPS", True),
}
# Every figure each workload must produce (for --check).
REQUIRED = ["iops", "mb_s", "lat_mean_us", "lat_p50_us", "lat_p99_us",
            "ios", "cpu_us_per_io", "intr_per_io"]
REQUIRED_ISCSI = ["pdus_per_io"]
REQUIRED_DM = ["dm_inline_irq_per_op", "dm_split_irq_per_op",
               "dm_irq_per_write"]

PDU_KEYS = ["scsicmd_pdus", "dataout_pdus", "r2t_pdus", "scsirsp_pdus",
            "datain_pdus", "noptx_pdus", "noprx_pdus", "tmfcmd_pdus",
            "tmfrsp_pdus", "login_pdus", "text_pdus", "logout_pdus",
            "snack_pdus", "textrsp_pdus", "logoutrsp_pdus", "async_pdus",
            "rjt_pdus"]


def read(path):
    """Return a file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def parse_events(text):
    """guest.sh's .events file ("label|count" lines, lib.sh's
    events_label): each count per I/O of fio's in the window (its bios
    queued on its device), and that number of I/Os; None if the window
    holds no I/O or the file has no count of fio's bios.  The count of
    fio's bios by the counter perf enabled last is no figure per I/O:
    it is kept as "ios_last_enabled" (the bios queued with every counter
    on)."""
    counts = {}
    for line in (text or "").splitlines():
        label, _, count = line.partition("|")
        try:
            counts[label] = int(count)
        except ValueError:
            continue
    ios = counts.pop("fio bios queued", 0)
    last = counts.pop("fio bios queued, last enabled", None)
    if ios <= 0:
        return None
    ev = {"ios": ios, "per_io": {k: round(v / ios, 3) for k, v in counts.items()}}
    if last is not None:
        ev["ios_last_enabled"] = last
    return ev


def parse_stat(text):
    """CPU ticks, interrupts and context switches from /proc/stat."""
    res = {}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "cpu":
            names = ["user", "nice", "system", "idle", "iowait", "irq",
                     "softirq", "steal"]
            res.update({n: int(v) for n, v in zip(names, f[1:])})
        elif f[0] == "intr":
            res["intr"] = int(f[1])
        elif f[0] == "ctxt":
            res["ctxt"] = int(f[1])
    return res


def parse_iscsi(text):
    """Per-session PDU counters from `iscsiadm -m session -r SID -s`."""
    sessions, cur = {}, None
    for line in (text or "").splitlines():
        m = re.match(r"session (\d+)$", line)
        if m:
            cur = sessions.setdefault(m.group(1), {})
            continue
        m = re.match(r"\s+(\w+): (\d+)$", line)
        if m and cur is not None:
            cur[m.group(1)] = int(m.group(2))
    return sessions


def parse_dm(text):
    """The dualmirror status line: the target's fields after its name.

    Documented order (Documentation/dm-dualmirror.rst): peer state,
    out-of-sync/total sectors, inline ops, inline interrupts, split ops,
    split interrupts, peer errors; more fields may follow.
    """
    if not text:
        return None
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 10 and f[2] == "dualmirror":
            f = f[3:]
            try:
                oos, total = f[1].split("/")
                res = {"state": f[0], "oos": int(oos), "total": int(total),
                       "inline_ops": int(f[2]), "inline_irqs": int(f[3]),
                       "split_ops": int(f[4]), "split_irqs": int(f[5]),
                       "peer_errors": int(f[6]), "raw": line}
                # Appended fields of this version (optional).
                for i, k in ((9, "generation"), (10, "peer_flushes"),
                             (11, "fua_writes"), (12, "overlap_waits")):
                    if len(f) > i and f[i].isdigit():
                        res[k] = int(f[i])
                return res
            except (ValueError, IndexError):
                return {"unparsed": line}
    return {"unparsed": text.strip()}


def parse_peer(text):
    """The peer's counters: `grep -H . dualmirror_stats/*` lines."""
    res = {}
    for line in (text or "").splitlines():
        path, _, value = line.rpartition(":")
        if value.strip().isdigit():
            res[os.path.basename(path)] = int(value)
    return res


def stat_delta(before, after):
    """/proc/stat counters after minus before, or None."""
    b = parse_stat(read(before) or "")
    a = parse_stat(read(after) or "")
    if not (a and b):
        return None
    return {k: a[k] - b[k] for k in a if k in b}


def busy_ticks(d):
    """CPU ticks not idle, of a stat_delta."""
    return sum(d.get(k, 0) for k in ("user", "nice", "system", "irq",
                                     "softirq", "steal"))


def ratio(a, b):
    """a / b rounded, or None."""
    if a is None or not b:
        return None
    return round(a / b, 3)


def one_run(base, cfg):
    """Every figure of one workload on one configuration."""
    fio_text = read(base + ".fio.json")
    failed = read(base + ".failed")
    if fio_text is None or failed:
        return {"error": (failed or "no fio output").strip()}
    try:
        # fio may print warnings before the JSON document.
        fio = json.loads(fio_text[fio_text.index("{"):])
    except ValueError as err:
        return {"error": f"unreadable fio JSON: {err}"}
    job = fio["jobs"][0]
    r, w = job["read"], job["write"]
    ios = r["total_ios"] + w["total_ios"]
    runtime_s = job["job_runtime"] / 1000.0
    res = {
        "ios": ios,
        "runtime_s": runtime_s,
        "iops": round(r["iops"] + w["iops"], 1),
        "mb_s": round((r["bw_bytes"] + w["bw_bytes"]) / 1e6, 2),
        "write_iops": round(w["iops"], 1),
        "read_iops": round(r["iops"], 1),
        "write_ios": w["total_ios"],
        "read_ios": r["total_ios"],
    }
    # Latency: of the writes (the mirrored direction), and of the reads of
    # the mixed workload.
    for tag, d in (("", w), ("read_", r)):
        if d["total_ios"] == 0:
            continue
        lat = d["lat_ns"]
        pct = lat.get("percentile", {})
        res[tag + "lat_mean_us"] = round(lat["mean"] / 1000, 1)
        res[tag + "lat_p50_us"] = round(pct.get("50.000000", 0) / 1000, 1)
        res[tag + "lat_p99_us"] = round(pct.get("99.000000", 0) / 1000, 1)
        res[tag + "lat_p999_us"] = round(pct.get("99.900000", 0) / 1000, 1)
    # CPU time and interrupts per I/O, from /proc/stat around the fio run:
    # of the guest, or of both guests of a two-guest run (the peer guest's
    # share apart too).
    d = stat_delta(base + ".before.stat", base + ".after.stat")
    dp = stat_delta(base + ".before.peer-stat", base + ".after.peer-stat")
    if d and ios:
        hz = 100.0
        if dp:
            res["cpu_primary_us_per_io"] = round(busy_ticks(d) / hz * 1e6 / ios, 2)
            res["cpu_peer_us_per_io"] = round(busy_ticks(dp) / hz * 1e6 / ios, 2)
            res["intr_peer_per_io"] = round(dp.get("intr", 0) / ios, 3)
            d = {k: v + dp.get(k, 0) for k, v in d.items()}
        busy = busy_ticks(d)
        total = busy + d.get("idle", 0) + d.get("iowait", 0)
        res["cpu_us_per_io"] = round(busy / hz * 1e6 / ios, 2)
        res["cpu_user_us_per_io"] = round((d["user"] + d["nice"]) / hz * 1e6 / ios, 2)
        res["cpu_sys_us_per_io"] = round(d["system"] / hz * 1e6 / ios, 2)
        res["cpu_irq_us_per_io"] = round((d["irq"] + d["softirq"]) / hz * 1e6 / ios, 2)
        res["cpu_busy_pct"] = round(100.0 * busy / total, 1) if total else None
        res["intr_per_io"] = round(d.get("intr", 0) / ios, 3)
        res["ctxt_per_io"] = round(d.get("ctxt", 0) / ios, 3)
    # iSCSI PDUs per I/O (every session the configuration uses).
    sb = parse_iscsi(read(base + ".before.iscsi"))
    sa = parse_iscsi(read(base + ".after.iscsi"))
    if sa and ios:
        pdus = {}
        for sid, counters in sa.items():
            for k in PDU_KEYS:
                pdus[k] = pdus.get(k, 0) + counters.get(k, 0) - sb.get(sid, {}).get(k, 0)
        res["pdus"] = pdus
        res["pdus_per_io"] = round(sum(pdus.values()) / ios, 3)
        for k in ("scsicmd_pdus", "dataout_pdus", "r2t_pdus", "scsirsp_pdus",
                  "datain_pdus"):
            res[k.replace("_pdus", "") + "_per_io"] = round(pdus[k] / ios, 3)
        res["iscsi_tx_mb"] = round(sum(c.get("txdata_octets", 0) - sb.get(s, {}).get("txdata_octets", 0)
                                       for s, c in sa.items()) / 1e6, 2)
    # dualmirror's own counters.
    db = parse_dm(read(base + ".before.dm"))
    da = parse_dm(read(base + ".after.dm"))
    if cfg.startswith("dm-") and cfg != "dm-mirror":
        if db and da and "unparsed" not in db and "unparsed" not in da:
            dd = {k: da[k] - db[k] for k in ("inline_ops", "inline_irqs",
                                              "split_ops", "split_irqs",
                                              "peer_errors", "peer_flushes",
                                              "fua_writes", "overlap_waits")
                  if k in da and k in db}
            res["dm"] = dd
            res["dm_state"] = da["state"]
            res["dm_oos"] = da["oos"]
            res["dm_inline_irq_per_op"] = (round(dd["inline_irqs"] / dd["inline_ops"], 3)
                                           if dd["inline_ops"] else 0.0)
            res["dm_split_irq_per_op"] = (round(dd["split_irqs"] / dd["split_ops"], 3)
                                          if dd["split_ops"] else 0.0)
            ops = dd["inline_ops"] + dd["split_ops"]
            res["dm_irq_per_write"] = (round((dd["inline_irqs"] + dd["split_irqs"]) / ops, 3)
                                       if ops else 0.0)
            res["dm_ops_per_write"] = ratio(ops, res["write_ios"])
        else:
            res["dm_status_unparsed"] = (da or {}).get("unparsed", "no status")
        pb = parse_peer(read(base + ".before.peer"))
        pa = parse_peer(read(base + ".after.peer"))
        if pa:
            res["peer"] = {k: pa[k] - pb.get(k, 0) for k in sorted(pa)}
            ops = res.get("dm", {})
            n = ops.get("inline_ops", 0) + ops.get("split_ops", 0)
            if n:
                # Peer-side interrupts (commands + data-outs) per
                # operation; the primary adds one status interrupt per
                # command.
                res["peer_irq_per_op"] = round(res["peer"].get("total_interrupts", 0) / n, 3)
    ev = parse_events(read(base + ".events"))
    # A window that counted every I/O fio did opened before fio's first:
    # it holds fio's start-up (its page faults and allocations, the
    # disk's first requests) too, and is left out.
    if ev and ev["ios"] < ios:
        res["events"] = ev
    elif ev:
        res["events_window_early"] = True
    return res


def median(values):
    """The median of a list of numbers."""
    v = sorted(values)
    n = len(v)
    mid = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return round(mid, 3) if isinstance(mid, float) else mid


def merge_rounds(d, w, cfg):
    """One workload on one configuration over every round: each figure is
    the median of the rounds (counts are summed); the rounds are kept."""
    rounds = sorted({int(m.group(1)) for f in os.listdir(d)
                     for m in [re.match(re.escape(w) + r"\.r(\d+)\.", f)] if m})
    runs = [one_run(os.path.join(d, f"{w}.r{r}"), cfg) for r in rounds]
    if not runs:
        return {"error": "not run"}
    bad = [r["error"] for r in runs if "error" in r]
    if bad:
        return {"error": "; ".join(bad), "rounds": runs}
    res = {"n_rounds": len(runs), "round_ids": rounds}
    # A round whose guest stopped during it lacks the counters after fio:
    # its figures are those it has, the medians of the rounds that have
    # each.
    keys = []
    for r in runs:
        keys += [k for k in r if k not in keys]
    for k in keys:
        vals = [r.get(k) for r in runs]
        v = next((x for x in vals if x is not None), None)
        nums = [x for x in vals
                if isinstance(x, (int, float)) and not isinstance(x, bool)]
        if k in ("ios", "write_ios", "read_ios"):
            res[k] = sum(nums)
        elif nums and len(nums) == sum(x is not None for x in vals):
            res[k] = median(nums)
        elif v is None:
            res[k] = None
        elif k in ("pdus", "dm", "peer"):
            res[k] = {kk: sum((r.get(k) or {}).get(kk, 0) for r in runs) for kk in v}
        elif k == "events":
            # The median of each count per I/O, over the rounds that have
            # it (each label's own rounds); the rounds keep their own.
            have = [r[k] for r in runs if k in r]
            labels = []
            for e in have:
                labels += [kk for kk in e["per_io"] if kk not in labels]
            res[k] = {"ios": sum(e["ios"] for e in have), "rounds": len(have),
                      "per_io": {kk: median([e["per_io"][kk] for e in have
                                             if kk in e["per_io"]])
                                 for kk in labels}}
        else:
            res[k] = [x for x in vals if x is not None][-1]
    res["rounds"] = runs
    return res


def env_file(raw):
    """key=value lines of raw/env.txt."""
    env = {}
    for line in (read(os.path.join(raw, "env.txt")) or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def collect(raw, vm):
    """The whole result document."""
    env = env_file(raw)
    doc = {"guest": env, "vm": vm, "workloads": dict(WORKLOADS),
           "configs": {}, "headline": {k: {"figure": v[0], "unit": v[1],
                                           "higher_is_better": v[2]}
                                       for k, v in HEADLINE.items()}}
    wanted = env.get("configs", " ".join(c for c, _ in CONFIGS)).split()
    workloads = env.get("workloads", " ".join(w for w, _ in WORKLOADS)).split()
    for cfg, title in CONFIGS:
        if cfg not in wanted:
            continue
        d = os.path.join(raw, cfg)
        c = {"title": title}
        unavailable = read(os.path.join(d, "unavailable.txt"))
        if unavailable is not None or not os.path.isdir(d):
            c["available"] = False
            c["reason"] = (unavailable or "not run (the guest stopped before it)").strip()
        else:
            c["available"] = True
            c["setup"] = (read(os.path.join(d, "info.txt")) or "").strip()
            c["results"] = {w: merge_rounds(d, w, cfg) for w in workloads}
            for w in workloads:
                prof = read(os.path.join(d, w + ".perf.txt"))
                if prof:
                    c["results"][w]["perf_top"] = [l.strip() for l in prof.splitlines()[:40]]
                prof = read(os.path.join(d, w + ".perf-dso.txt"))
                if prof:
                    c["results"][w]["perf_dso"] = [l.strip() for l in prof.splitlines()[:12]]
        doc["configs"][cfg] = c
    # Ratios of every figure to the floor (iscsi) and to the local disk.
    for cfg, c in doc["configs"].items():
        for w, res in c.get("results", {}).items():
            for ref in ("iscsi", "local"):
                rc = doc["configs"].get(ref, {}).get("results", {}).get(w)
                if not rc or "error" in rc or "error" in res:
                    continue
                res["vs_" + ref] = {k: ratio(res[k], rc.get(k))
                                    for k in ("lat_mean_us", "lat_p50_us", "lat_p99_us",
                                              "iops", "mb_s", "cpu_us_per_io")
                                    if k in res and rc.get(k)}
    return doc


def fmt(v, width=10, digits=None):
    """A number in a fixed-width column."""
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float):
        if digits is None:
            digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2
        return f"{v:,.{digits}f}".rjust(width)
    return f"{v:,}".rjust(width)


def nullb_kind(value):
    """What the memory_backed values of a guest's null_blk disks say."""
    return {"0": "dataless", "1": "memory-backed"}.get(value, f"memory_backed={value or '?'}")


def disk_kind(g, prefix=""):
    """A guest's disks in words (prefix "peer_": the peer guest's)."""
    kind = g.get(prefix + "disk", "nullb")
    if kind == "scsi_debug":
        return "memory-backed scsi_debug SCSI disks"
    if kind in ("nullb", ""):
        return nullb_kind(g.get(prefix + "nullb_memory_backed", "1")) + " null_blk disks"
    return f"{kind or '?'} disks"


def table(doc):
    """The side-by-side table, as text."""
    out = []
    g, vm = doc["guest"], doc["vm"]
    out.append("dualmirror benchmark: each figure, and its ratio to the plain "
               "iSCSI floor (xISCSI) and to the local disk (xLOCAL)")
    out.append(f"guest: kernel {g.get('kernel')}, {g.get('cpus')} vCPU "
               f"({g.get('cpu_model')}), {int(g.get('mem_kb', 0)) // 1024} MiB; "
               f"{g.get('fio')}; median of {g.get('rounds', 1)} rounds of {g.get('runtime')} s; "
               + f"{disk_kind(g)} of {g.get('size_mb')} MiB")
    if vm:
        out.append("vm: " + ", ".join(f"{k} {v}" for k, v in vm.items()
                                      if k in ("qemu", "accel", "cpus", "memory", "host_cpu")))
    shift = str(vm.get("icount", "off")) if vm else "off"
    if shift.isdigit():
        out.append(f"clock: QEMU instruction counting (icount shift {shift}): every time "
                   f"figure counts the guest's instructions, {2 ** int(shift)} ns each, "
                   "not the host's time"
                   + ("; but a guest waiting for the link or the other guest waits "
                      "in the host's time" if g.get("mode") == "pair" else ""))
    if g.get("sched_wakeup_granularity_ns"):
        out.append(f"scheduler: {g.get('sched_preempt') or '?'} preemption, wakeup "
                   f"granularity {g.get('sched_wakeup_granularity_ns')} ns"
                   + (f" (peer {g.get('peer_sched_wakeup_granularity_ns')} ns)"
                      if g.get("peer_sched_wakeup_granularity_ns") else ""))
    pair = g.get("mode") == "pair"
    if pair:
        netem = g.get("netem_delay")
        out.append(f"two guests: primary {g.get('host')}, peer {g.get('peer_host')} "
                   f"({g.get('peer_cpus')} vCPU, kernel {g.get('peer_kernel')}) over a "
                   f"virtio-net link ({g.get('link')}); "
                   + (f"netem delay {netem} on both sides; " if netem else "no netem; ")
                   + f"ping RTT min/avg/max {g.get('link_rtt_ms') or '?'} ms"
                   + (f"; the peer's: {disk_kind(g, 'peer_')}"
                      if "peer_nullb_memory_backed" in g else ""))
    out.append("")
    cfgs = doc["configs"]
    for w, title in WORKLOADS:
        if not any(w in c.get("results", {}) for c in cfgs.values()):
            continue
        key, unit, _ = HEADLINE[w]
        out.append(f"== {w}: {title}")
        if key == "lat_mean_us":
            hdr = (f"{'config':<15}{'mean us':>10}{'p50 us':>10}{'p99 us':>10}{'IOPS':>10}"
                   f"{'xISCSI':>8}{'xLOCAL':>8}")
        else:
            hdr = (f"{'config':<15}{'IOPS':>10}{'MB/s':>10}{'mean us':>10}{'p99 us':>10}"
                   f"{'xISCSI':>8}{'xLOCAL':>8}")
        hdr += f"{'CPU us/IO':>10}{'intr/IO':>8}{'ctxsw/IO':>9}{'PDU/IO':>8}{'dm irq/op':>10}"
        out.append(hdr)
        out.append("-" * len(hdr))
        for cfg, _ in CONFIGS:
            c = cfgs.get(cfg)
            if c is None:
                continue
            if not c["available"]:
                out.append(f"{cfg:<15}not available: {c['reason']}")
                continue
            r = c["results"].get(w)
            if r is None:
                continue
            if "error" in r:
                out.append(f"{cfg:<15}failed: {r['error']}")
                continue
            if key == "lat_mean_us":
                line = (f"{cfg:<15}{fmt(r.get('lat_mean_us'))}{fmt(r.get('lat_p50_us'))}"
                        f"{fmt(r.get('lat_p99_us'))}{fmt(r.get('iops'))}")
            else:
                line = (f"{cfg:<15}{fmt(r.get('iops'))}{fmt(r.get('mb_s'))}"
                        f"{fmt(r.get('lat_mean_us'))}{fmt(r.get('lat_p99_us'))}")
            line += fmt(r.get("vs_iscsi", {}).get(key), 8, 2)
            line += fmt(r.get("vs_local", {}).get(key), 8, 2)
            line += fmt(r.get("cpu_us_per_io"), 10)
            line += fmt(r.get("intr_per_io"), 8, 2)
            line += fmt(r.get("ctxt_per_io"), 9, 2)
            line += fmt(r.get("pdus_per_io"), 8, 2)
            if "dm_irq_per_write" in r:
                line += fmt(r["dm_irq_per_write"], 10, 2)
            elif "dm_status_unparsed" in r:
                line += "  status?"
            out.append(line)
        out.append("")
    out.extend(aims(doc))
    out.append("xISCSI/xLOCAL: ratio of the workload's headline figure (QD1: mean "
               "latency, lower is better; others: IOPS or MB/s, higher is better).")
    both = " of both guests" if pair else ""
    out.append(f"CPU us/IO: guest CPU time (all CPUs, /proc/stat){both} per I/O; intr/IO: "
               f"guest interrupts{both} per I/O; ctxsw/IO: context switches per I/O;")
    out.append("PDU/IO: iSCSI PDUs (both directions, every session the "
               "configuration uses) per I/O;")
    out.append("dm irq/op: dualmirror's own interrupt count per mirrored write "
               "(inline and split together; see bench.json for each).")
    return "\n".join(out) + "\n"


def events_table(doc):
    """events.txt: each count per I/O of --events, configurations side by
    side; None if no run counted any."""
    cfgs = [(cfg, doc["configs"][cfg]) for cfg, _ in CONFIGS
            if cfg in doc["configs"] and doc["configs"][cfg].get("available")]
    out = []
    for w, title in WORKLOADS:
        have = [(cfg, c["results"][w]) for cfg, c in cfgs
                if "events" in c["results"].get(w, {})]
        if not have:
            continue
        labels = []
        for _, r in have:
            labels += [k for k in r["events"]["per_io"] if k not in labels]
        out.append(f"== {w}: {title}")
        hdr = f"{'per I/O':<24}" + "".join(f"{cfg:>22}" for cfg, _ in have)
        out.append(hdr)
        out.append("-" * len(hdr))
        out.append(f"{'I/Os counted':<24}"
                   + "".join(f"{r['events']['ios']:>22}" for _, r in have))
        out.append(f"{'rounds counted':<24}"
                   + "".join(f"{str(r['events'].get('rounds', 1)) + ' of ' + str(r.get('n_rounds', 1)):>22}"
                             for _, r in have))
        for label in labels:
            line = f"{label:<24}"
            for _, r in have:
                v = r["events"]["per_io"].get(label)
                rounds = [x["events"]["per_io"][label] for x in r.get("rounds", [])
                          if label in x.get("events", {}).get("per_io", {})]
                cell = "-" if v is None else f"{v:.2f}"
                if len(rounds) > 1:
                    cell += f" ({min(rounds):.2f}-{max(rounds):.2f})"
                line += f"{cell:>22}"
            out.append(line)
        out.append("")
    if not out:
        return None
    head = ["dualmirror benchmark, --events: system-wide counts in the primary "
            "guest per I/O of fio's,",
            "from 2 s into fio's life to its end (a round whose window opened before "
            "fio's first I/O is left out);",
            "median of the rounds counted (lowest-highest round)", ""]
    return "\n".join(head + out) + "\n"


def aims(doc):
    """Where dualmirror stands against the aims of its benchmark issue
    (issue 11; measured, never asserted): lines for the table."""
    cfgs = doc["configs"]

    def fig(cfg, w, k):
        r = cfgs.get(cfg, {}).get("results", {}).get(w, {})
        return None if "error" in r else r.get(k)

    def per_round(cfg, ref, w, k):
        """The ratio of cfg to ref in each round that ran both: a round
        runs every configuration within minutes, so its two figures
        share the host's and the link's state of that moment."""
        def by_round(c):
            r = cfgs.get(c, {}).get("results", {}).get(w, {})
            if "error" in r or "round_ids" not in r:
                return {}
            return {i: run.get(k) for i, run in zip(r["round_ids"], r["rounds"])}
        a, b = by_round(cfg), by_round(ref)
        return [v for v in (ratio(a[i], b.get(i)) for i in sorted(a)) if v is not None]

    # Issue 11's aims: the plain-write floor at every size, ahead of DRBD
    # at depth (with --pair, where DRBD runs as two nodes), and the split
    # framing clearly slower than the inline one.  Each row: what, the
    # aim, the configuration, the one it is measured against, the
    # workload, the figure, and the test of a ratio (None: reported only).
    def at_most(x):
        return lambda v: v <= x

    def at_least(x):
        return lambda v: v >= x

    qd1, qd32 = "randwrite-4k-qd1", "randwrite-4k-qd32"
    spec = [
        ("4 KiB QD1 mean latency, inline / plain iSCSI", "<= 1.10",
         "dm-inline", "iscsi", qd1, "lat_mean_us", at_most(1.10)),
        ("4 KiB QD1 p50 latency, inline / plain iSCSI", "(<= 1.10)",
         "dm-inline", "iscsi", qd1, "lat_p50_us", at_most(1.10)),
        ("4 KiB QD32 IOPS, inline / plain iSCSI", ">= 1.00",
         "dm-inline", "iscsi", qd32, "iops", at_least(1.0)),
        ("4 KiB QD32 IOPS, inline / DRBD", ">= 1.00",
         "dm-inline", "drbd", qd32, "iops", at_least(1.0)),
        ("64 KiB sequential MB/s, inline / plain iSCSI", ">= 0.90",
         "dm-inline", "iscsi", "seqwrite-64k", "mb_s", at_least(0.9)),
        ("1 MiB sequential MB/s, inline / plain iSCSI", ">= 0.90",
         "dm-inline", "iscsi", "seqwrite-1m", "mb_s", at_least(0.9)),
        ("4 KiB QD1 mean latency, split / inline", "> 1.10",
         "dm-split", "dm-inline", qd1, "lat_mean_us", lambda v: v > 1.1),
        ("4 KiB QD1 p50 latency, bitmap on / off", "(report)",
         "dm-meta", "dm-inline", qd1, "lat_p50_us", None),
        # The same aims over iSER, against the plain iSER floor.
        ("iSER: 4 KiB QD1 mean latency, inline / plain", "<= 1.10",
         "dm-inline-iser", "iser", qd1, "lat_mean_us", at_most(1.10)),
        ("iSER: 4 KiB QD32 IOPS, inline / plain", ">= 1.00",
         "dm-inline-iser", "iser", qd32, "iops", at_least(1.0)),
        ("iSER: 1 MiB sequential MB/s, inline / plain", ">= 0.90",
         "dm-inline-iser", "iser", "seqwrite-1m", "mb_s", at_least(0.9)),
        ("4 KiB QD1 mean latency, plain iSER / iSCSI", "(report)",
         "iser", "iscsi", qd1, "lat_mean_us", None),
        # Where the inline write's extra cost lies: the plain write
        # through the peer's layer (pscsi and dualmirror_peer's host)
        # against the floor, and the mirror against that plain write.
        ("4 KiB QD1 mean latency, plain pscsi / iSCSI", "(report)",
         "pscsi", "iscsi", qd1, "lat_mean_us", None),
        ("4 KiB QD1 mean latency, inline / plain pscsi", "(report)",
         "dm-inline", "pscsi", qd1, "lat_mean_us", None),
        ("4 KiB QD32 IOPS, plain pscsi / iSCSI", "(report)",
         "pscsi", "iscsi", qd32, "iops", None),
        ("4 KiB QD32 IOPS, inline / plain pscsi", "(report)",
         "dm-inline", "pscsi", qd32, "iops", None),
    ]
    rows = [(name, aim, ratio(fig(cfg, w, k), fig(ref, w, k)), ok,
             per_round(cfg, ref, w, k))
            for name, aim, cfg, ref, w, k, ok in spec]
    if not any(v is not None for _, _, v, _, _ in rows):
        return []
    out = ["== against the aims (measured in this run; never a test)"]
    for name, aim, v, ok, rr in rows:
        met = None if v is None or ok is None else ok(v)
        verdict = "-" if met is None else ("met" if met else "missed")
        line = f"{name:<48}{aim:>10}{fmt(v, 8, 2)}  {verdict:<8}"
        if v is not None and len(rr) > 1:
            line += f"rounds {min(rr):.2f}-{max(rr):.2f}"
            if ok is not None:
                line += f", {sum(1 for x in rr if ok(x))} of {len(rr)} meet"
        out.append(line.rstrip())
    out.append("")
    out.append("verdict: the ratio of the medians of the rounds.  rounds: the lowest and")
    out.append("highest ratio within one round, and how many rounds meet the aim on their")
    out.append("own; a verdict that some rounds contradict is not settled by this run.")
    out.append("")
    return out


def plot_data(doc):
    """Rows for gnuplot: one configuration per line."""
    lines = ["# config qd1_mean_us qd1_p99_us qd32_iops randrw_iops "
             "seq64k_mb_s seq1m_mb_s cpu_us_qd1 cpu_us_qd32 qd1_p50_us"]
    for cfg, _ in CONFIGS:
        c = doc["configs"].get(cfg)
        # The local disk is 10-100x faster than anything that crosses
        # iSCSI: drawn on the same axis it flattens every other bar.
        if cfg == "local" or not c or not c["available"]:
            continue
        res = c["results"]

        def g(w, k):
            v = res.get(w, {}).get(k)
            return "NaN" if v is None else str(v)
        lines.append(" ".join([cfg, g("randwrite-4k-qd1", "lat_mean_us"),
                               g("randwrite-4k-qd1", "lat_p99_us"),
                               g("randwrite-4k-qd32", "iops"),
                               g("randrw-4k-70-30", "iops"),
                               g("seqwrite-64k", "mb_s"), g("seqwrite-1m", "mb_s"),
                               g("randwrite-4k-qd1", "cpu_us_per_io"),
                               g("randwrite-4k-qd32", "cpu_us_per_io"),
                               g("randwrite-4k-qd1", "lat_p50_us")]))
    return "\n".join(lines) + "\n"


def check(doc):
    """Problems that mean the benchmark did not produce every figure."""
    problems = []
    g = doc["guest"]
    # Two guests: the peer's disks must be what the primary's are (both
    # dataless with --dataless), or the figures compare unlike disks.
    if "peer_disk" in g and g["peer_disk"] != g.get("disk", "nullb"):
        problems.append(f"the peer guest's disks are {g['peer_disk'] or '?'}, "
                        f"the primary's {g.get('disk', 'nullb')}")
    elif "peer_nullb_memory_backed" in g and g.get("peer_disk", "nullb") == "nullb" and \
            g["peer_nullb_memory_backed"] != g.get("nullb_memory_backed", "1"):
        problems.append("the peer guest's null_blk disks have memory_backed="
                        f"{g['peer_nullb_memory_backed'] or '?'}, the primary's "
                        f"{g.get('nullb_memory_backed', '1')}")
    for cfg, c in doc["configs"].items():
        if not c["available"]:
            # Only what the kernel alone provides must always be there:
            # md raid1 and DRBD need packages (mdadm, drbd-utils), and
            # dualmirror its modules; their rows say why they are missing.
            if cfg in ("local", "iscsi", "dm-mirror"):
                problems.append(f"{cfg}: not available: {c['reason']}")
            continue
        for w, r in c["results"].items():
            if "error" in r:
                problems.append(f"{cfg} {w}: {r['error']}")
                continue
            need = list(REQUIRED)
            if cfg in ("iscsi", "pscsi", "iser", "dm-inline", "dm-inline-iser", "dm-split",
                       "dm-split-iser", "dm-inline-64k", "dm-meta", "dm-mirror", "md-raid1",
                       "md-raid1-nowbt"):
                need += REQUIRED_ISCSI
            if cfg in ("dm-inline", "dm-inline-iser", "dm-split", "dm-split-iser",
                       "dm-inline-64k", "dm-meta"):
                need += REQUIRED_DM
            for k in need:
                if r.get(k) is None:
                    problems.append(f"{cfg} {w}: no {k}")
                # (a median over the rounds that have a figure hides a
                # round that lacks it)
                lacking = [str(rid) for rid, x in zip(r.get("round_ids", []), r.get("rounds", []))
                           if x.get(k) is None]
                if lacking and r.get(k) is not None:
                    problems.append(f"{cfg} {w}: no {k} in round {', '.join(lacking)}")
            if not r.get("ios"):
                problems.append(f"{cfg} {w}: fio completed no I/O")
            if r.get("dm_state") not in (None, "connected"):
                problems.append(f"{cfg} {w}: the mirror was {r['dm_state']} "
                                "(not connected and in sync) during the run")
    return problems


def main():
    """Parse the arguments, write the report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--vm", action="append", default=[],
                   help="KEY=VALUE describing the VM and host (repeatable)")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    vm = dict(kv.split("=", 1) for kv in a.vm)
    doc = collect(a.raw, vm)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "bench.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    text = table(doc)
    with open(os.path.join(a.out, "table.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(a.out, "plot.dat"), "w", encoding="utf-8") as f:
        f.write(plot_data(doc))
    sys.stdout.write(text)
    events = events_table(doc)
    if events:
        with open(os.path.join(a.out, "events.txt"), "w", encoding="utf-8") as f:
            f.write(events)
    if a.check:
        problems = check(doc)
        for prob in problems:
            print(f"bench: missing figure: {prob}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
