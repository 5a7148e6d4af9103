#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Crash-test writer and checker (selftests/crash/run).

write: several threads write 4 KiB records with O_DIRECT to a block device,
each thread its own blocks (block % threads == thread), so that writes to
one block never overlap and the last completed one is well defined.  A
record is

    offset  size
    0       8     magic "DMCRASH1"
    8       8     block number (little-endian)
    16      8     sequence number: round << 40 | a counter global to the
                  round, so records of a later round are always newer
    24      4     round
    28      4     CRC32 of bytes 0..27 and 32..4095
    32      4064  random payload

After a pwrite() returned (the write is acknowledged), "block seq" is
appended to the log, flushed and fsync'ed, so the log survives a kill of
the guest.  SIGTERM (or --duration) stops the threads after their current
write; the summary line "writer: writes N errors E" ends the output.

check: for every block named in one or more logs, the record on the image
(a block device or an image file) must be intact (magic, block number,
CRC) with a sequence number at least the last logged one of that block;
every other intact record in the area must sit at its own block.  Prints
"check: ..." and the first failures; exit 0 when all hold, 1 otherwise.
"""

import argparse
import itertools
import mmap
import os
import random
import signal
import struct
import sys
import threading
import time
import zlib

BS = 4096
MAGIC = b"DMCRASH1"
HDR = struct.Struct("<8sQQII")      # magic, block, seq, round, crc


def make_record(rng, block, seq, rnd):
    payload = rng.randbytes(BS - HDR.size)
    head = HDR.pack(MAGIC, block, seq, rnd, 0)[:28]
    crc = zlib.crc32(payload, zlib.crc32(head))
    return HDR.pack(MAGIC, block, seq, rnd, crc) + payload


def parse_record(buf):
    """(block, seq, round) of an intact record, or None."""
    magic, block, seq, rnd, crc = HDR.unpack_from(buf)
    if magic != MAGIC:
        return None
    if zlib.crc32(buf[HDR.size:], zlib.crc32(buf[:28])) != crc:
        return "crc"
    return block, seq, rnd


def write(args):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fd = os.open(args.dev, os.O_RDWR | os.O_DIRECT)
    log = open(args.log, "a")
    log_lock = threading.Lock()
    counter = itertools.count(1)
    base = args.round << 40
    stats = {"writes": 0, "errors": 0}
    deadline = time.monotonic() + args.duration

    def worker(tid):
        rng = random.Random(os.urandom(16))
        buf = mmap.mmap(-1, BS)
        mine = range(tid, args.blocks, args.threads)
        while not stop.is_set() and time.monotonic() < deadline:
            block = rng.choice(mine)
            seq = base | next(counter)
            buf.seek(0)
            buf.write(make_record(rng, block, seq, args.round))
            try:
                n = os.pwrite(fd, buf, (args.first + block) * BS)
            except OSError as e:
                n = -e.errno
            with log_lock:
                if n != BS:
                    stats["errors"] += 1
                    print("writer: block %d seq %d: pwrite returned %d" %
                          (block, seq, n), file=sys.stderr, flush=True)
                    continue
                stats["writes"] += 1
                log.write("%d %d\n" % (block, seq))
                log.flush()
                os.fsync(log.fileno())

    threads = [threading.Thread(target=worker, args=(t,))
               for t in range(args.threads)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    log.close()
    os.close(fd)
    print("writer: writes %d errors %d" % (stats["writes"], stats["errors"]),
          flush=True)
    return 1 if stats["errors"] else 0


def check(args):
    last = {}
    logged = 0
    for path in args.log:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2:
                    continue        # a line cut by the kill
                block, seq = int(parts[0]), int(parts[1])
                logged += 1
                if seq > last.get(block, -1):
                    last[block] = seq
    fails = []
    stale = corrupt = misplaced = ok = 0
    with open(args.image, "rb", buffering=0) as f:
        for block in range(args.blocks):
            f.seek((args.first + block) * BS)
            buf = f.read(BS)
            rec = parse_record(buf) if len(buf) == BS else None
            want = last.get(block)
            if isinstance(rec, tuple) and rec[0] != block:
                misplaced += 1
                fails.append("block %d holds the record of block %d seq %d" %
                             (block, rec[0], rec[1]))
                continue
            if want is None:
                continue
            if rec is None or rec == "crc":
                corrupt += 1
                fails.append("block %d: logged seq %d, on disk %s" %
                             (block, want, "a bad CRC" if rec else
                              "no record (magic %r)" % buf[:8]))
            elif rec[1] < want:
                stale += 1
                fails.append("block %d: logged seq %d, on disk older seq %d "
                              "(round %d)" % (block, want, rec[1], rec[2]))
            else:
                ok += 1
    print("check: %s: %d logged writes, %d blocks: %d ok, %d stale, "
          "%d corrupt, %d misplaced" % (args.image, logged, len(last), ok,
                                         stale, corrupt, misplaced))
    for line in fails[:20]:
        print("check:   " + line)
    return 1 if fails or not last else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("write")
    p.add_argument("--dev", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--duration", type=float, default=300)
    p.set_defaults(fn=write)
    p = sub.add_parser("check")
    p.add_argument("--image", required=True)
    p.add_argument("--log", action="append", required=True)
    p.set_defaults(fn=check)
    for p in sub.choices.values():
        p.add_argument("--first", type=int, default=0,
                       help="first block of the area (4 KiB blocks)")
        p.add_argument("--blocks", type=int, required=True,
                       help="blocks in the area")
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
