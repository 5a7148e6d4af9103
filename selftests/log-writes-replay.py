#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""log-writes-replay.py: list and replay a dm-log-writes log.

The on-disk format is the one of drivers/md/dm-log-writes.c (Linux 6.1):

* the superblock at byte 0: le64 magic 0x6a736677736872, le64 version 1,
  le64 nr_entries, le32 sectorsize (the logical block size of the logged
  device), the rest of the sector zero;
* then, from byte sectorsize on, nr_entries entries, each one sector
  (sectorsize bytes) of header: le64 sector, le64 nr_sectors, le64 flags,
  le64 data_len (both counts in units of sectorsize), followed by
  nr_sectors sectors of the data written, except for a DISCARD (no data);
  a MARK carries its name (data_len bytes) in the header sector, right
  after the 32 bytes of the header, and has no data sectors.

Flags: FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16 (REQ_META).
dm-log-writes logs a write once a flush after its completion was sent (at
once for FUA), so the log up to a FLUSH entry is what the device holds
for sure once that flush completed. nr_entries is updated with each FUA
write and MARK (and when the target is removed: its "dm-log-writes-end"
mark); entries logged after the last update are not counted, and this
tool does not read them.

Usage:
  log-writes-replay.py LOG --list           marks: index name
  log-writes-replay.py LOG --dump           every entry
  log-writes-replay.py LOG --replay DEV [--end-mark NAME | --limit N |
                                         --end-flush K] [--discard-zero]

--replay writes the entries to DEV in log order, from the first one up to
and including entry N-1 (--limit N), the first MARK named NAME
(--end-mark), or the K-th FLUSH entry, counting from 1 (--end-flush);
without a bound, the whole log. DEV should hold what the logged device
held when logging started (e.g. a blank disk for a blank one). A DISCARD
is replayed as zeroes with --discard-zero, else skipped. DEV is written
through the page cache and fsync'ed at each FLUSH or FUA entry and at the
end. Prints one summary line: "replayed N entries (W writes, F flushes,
D discards, B bytes) up to ...". Exit status 0, 1 on an error (bad log,
mark not found or too few flushes: DEV left untouched; an entry beyond
DEV), 2 on bad usage.
"""

import argparse
import os
import struct
import sys

MAGIC = 0x6A736677736872
VERSION = 1
SUPER = struct.Struct("<QQQI")
ENTRY = struct.Struct("<QQQQ")

FLUSH, FUA, DISCARD, MARK, METADATA = 1, 2, 4, 8, 16
FLAG_NAMES = ((FLUSH, "FLUSH"), (FUA, "FUA"), (DISCARD, "DISCARD"),
              (MARK, "MARK"), (METADATA, "META"))


class LogError(Exception):
    pass


def flag_str(flags):
    names = [n for bit, n in FLAG_NAMES if flags & bit]
    rest = flags & ~sum(bit for bit, _ in FLAG_NAMES)
    if rest:
        names.append("0x%x" % rest)
    return "|".join(names) or "-"


class Log:
    """A dm-log-writes log on a file or block device."""

    def __init__(self, path):
        self.f = open(path, "rb")
        hdr = self.f.read(SUPER.size)
        if len(hdr) < SUPER.size:
            raise LogError("%s: too short for a superblock" % path)
        magic, version, self.nr_entries, self.sectorsize = SUPER.unpack(hdr)
        if magic != MAGIC:
            raise LogError("%s: bad magic 0x%x (not a dm-log-writes log)"
                           % (path, magic))
        if version != VERSION:
            raise LogError("%s: version %d, only %d is known"
                           % (path, version, VERSION))
        if self.sectorsize < 512 or self.sectorsize & (self.sectorsize - 1):
            raise LogError("%s: bad sector size %d" % (path, self.sectorsize))

    def entries(self):
        """Yield (index, sector, nr_sectors, flags, mark, data_offset)."""
        ss = self.sectorsize
        pos = ss
        for i in range(self.nr_entries):
            self.f.seek(pos)
            raw = self.f.read(ss)
            if len(raw) < ss:
                raise LogError("entry %d at byte %d: log ends" % (i, pos))
            sector, nr, flags, data_len = ENTRY.unpack_from(raw)
            mark = None
            if flags & MARK:
                if data_len > ss - ENTRY.size:
                    raise LogError("entry %d: mark of %d bytes" % (i, data_len))
                mark = raw[ENTRY.size:ENTRY.size + data_len].decode(
                    "utf-8", "replace")
            pos += ss
            yield i, sector, nr, flags, mark, pos
            if not flags & DISCARD:
                pos += nr * ss

    def read_data(self, offset, length):
        self.f.seek(offset)
        data = self.f.read(length)
        if len(data) < length:
            raise LogError("data at byte %d: log ends" % offset)
        return data


def cmd_list(log, dump):
    nflush = 0
    for i, sector, nr, flags, mark, _ in log.entries():
        if flags & FLUSH:
            nflush += 1
        if dump:
            print("%d %s sector %d nr %d%s" % (i, flag_str(flags), sector, nr,
                                                " mark %s" % mark if mark is not None else ""))
        elif mark is not None:
            print("%d %s" % (i, mark))
    if dump:
        print("# %d entries, %d flushes, sectorsize %d"
              % (log.nr_entries, nflush, log.sectorsize))


def cmd_replay(log, args):
    ss = log.sectorsize
    # Find the end before writing anything: a missing mark changes nothing.
    if args.end_mark is not None and not any(
            m == args.end_mark for _, _, _, _, m, _ in log.entries()):
        raise LogError("mark %r not found" % args.end_mark)
    if args.end_flush is not None:
        nf = sum(1 for e in log.entries() if e[3] & FLUSH)
        if nf < args.end_flush:
            raise LogError("only %d flushes in the log, not %d"
                           % (nf, args.end_flush))
    fd = os.open(args.replay, os.O_WRONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        n = writes = flushes = discards = nbytes = 0
        reached = None
        for i, sector, nr, flags, mark, data_off in log.entries():
            if args.limit is not None and i >= args.limit:
                reached = "entry %d (limit)" % i
                break
            n += 1
            length = nr * ss
            if not flags & MARK and (sector + nr) * ss > size:
                raise LogError("entry %d: sectors %d+%d beyond %s (%d bytes)"
                               % (i, sector, nr, args.replay, size))
            if flags & DISCARD:
                discards += 1
                if args.discard_zero:
                    os.pwrite(fd, bytes(length), sector * ss)
            elif nr:
                writes += 1
                nbytes += length
                os.pwrite(fd, log.read_data(data_off, length), sector * ss)
            if flags & (FLUSH | FUA):
                os.fsync(fd)
            if flags & FLUSH:
                flushes += 1
                if args.end_flush is not None and flushes == args.end_flush:
                    reached = "flush %d (entry %d)" % (flushes, i)
                    break
            if mark is not None and mark == args.end_mark:
                reached = "mark %s (entry %d)" % (mark, i)
                break
        else:
            reached = "the end (%d entries)" % log.nr_entries
        os.fsync(fd)
    finally:
        os.close(fd)
    print("replayed %d entries (%d writes, %d flushes, %d discards, %d bytes)"
          " up to %s" % (n, writes, flushes, discards, nbytes, reached))


def main():
    p = argparse.ArgumentParser(
        description="List and replay a dm-log-writes log.",
        epilog="See the header of this file for the format.")
    p.add_argument("log", help="the log device or file")
    act = p.add_mutually_exclusive_group(required=True)
    act.add_argument("--list", action="store_true", help="list the marks")
    act.add_argument("--dump", action="store_true", help="list every entry")
    act.add_argument("--replay", metavar="DEV", help="replay onto DEV")
    end = p.add_mutually_exclusive_group()
    end.add_argument("--end-mark", metavar="NAME",
                     help="stop after the first mark NAME")
    end.add_argument("--limit", metavar="N", type=int,
                     help="replay the first N entries")
    end.add_argument("--end-flush", metavar="K", type=int,
                     help="stop after the K-th FLUSH entry (from 1)")
    p.add_argument("--discard-zero", action="store_true",
                   help="replay a DISCARD as zeroes (default: skip it)")
    args = p.parse_args()
    if not args.replay and (args.end_mark is not None or args.limit is not None
                            or args.end_flush is not None or args.discard_zero):
        p.error("--end-mark, --limit, --end-flush, --discard-zero need --replay")
    if (args.limit is not None and args.limit < 0) or \
            (args.end_flush is not None and args.end_flush < 1):
        p.error("--limit must be >= 0, --end-flush >= 1")
    try:
        log = Log(args.log)
        if args.replay:
            cmd_replay(log, args)
        else:
            cmd_list(log, args.dump)
    except (LogError, OSError) as e:
        print("log-writes-replay.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
