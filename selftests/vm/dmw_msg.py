#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Build dualmirror wire messages for the peer selftests.

An independent encoder written from Documentation/dualmirror-protocol.rst
(it does not reuse the kernel codec, so the tests check the codec against
the documented format):

  dmw_msg.py cdb inline GEN SEQ LBA SECTORS [FLAGS]
  dmw_msg.py cdb data GEN SEQ SECTORS
  dmw_msg.py cdb desc GEN SEQ PARAM_LEN
  dmw_msg.py cdb query ALLOC_LEN
  dmw_msg.py cdb claim ALLOC_LEN [GEN [FLAGS]]
      print the 16-byte CDB as hex bytes for sg_raw; a CLAIM carries the
      low 16 bits of GEN, the generation its sender last knew (default 0),
      in bytes 2-3 and FLAGS (1: FORCE) in bits 3-0 of byte 9
  dmw_msg.py desc OUT DATA_FILE LBA SEQ GEN [FLAGS]
      write the SPLIT DESC parameter data for DATA_FILE to OUT and print
      its length
  dmw_msg.py descs OUT DATA_FILE LBA SEQ GEN FLAGS [OUT DATA_FILE ...]
      several descriptors in one start (python3 starts slowly in the VM)
  dmw_msg.py state HEX...
      decode QUERY/CLAIM data-in: "generation=G capacity=C ..."
"""
import struct
import sys

OPCODE = 0x7F
SA_MSB = 0xF8 | 1  # vendor service action, version 1
TYPES = {"inline": 1, "data": 2, "desc": 3, "query": 4, "claim": 5}
CLAIM_FORCE = 0x01
DESC_MAGIC = 0x444D5744


def crc32c(data):
    """CRC-32C (Castagnoli), init ~0, final xor ~0."""
    table = crc32c.table
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
            table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c.table = []


def num(text):
    return int(text, 0)


def cdb(args):
    kind = args[0]
    cmd = bytearray(16)
    cmd[0] = OPCODE
    cmd[7] = 8
    cmd[8] = SA_MSB
    cmd[9] = TYPES[kind] << 4
    if kind in ("query", "claim"):
        struct.pack_into(">I", cmd, 12, num(args[1]))
        if kind == "claim":
            gen = num(args[2]) if len(args) > 2 else 0
            flags = num(args[3]) if len(args) > 3 else 0
            if flags & ~CLAIM_FORCE:
                sys.exit("dmw_msg.py: CLAIM flags: only 1 (FORCE)")
            struct.pack_into(">H", cmd, 2, gen & 0xFFFF)
            cmd[9] |= flags
        return cmd
    gen, seq = num(args[1]), num(args[2])
    struct.pack_into(">H", cmd, 2, gen & 0xFFFF)
    cmd[4:7] = (seq & 0xFFFFFF).to_bytes(3, "big")
    if kind == "inline":
        lba, sectors = num(args[3]), num(args[4])
        flags = num(args[5]) if len(args) > 5 else 0
        cmd[9] |= flags
        cmd[10] = sectors - 1
        cmd[11:16] = lba.to_bytes(5, "big")
    else:
        struct.pack_into(">I", cmd, 12, num(args[3]))
    return cmd


def desc(args):
    out, data_file = args[0], args[1]
    lba, seq, gen = num(args[2]), num(args[3]), num(args[4])
    flags = num(args[5]) if len(args) > 5 else 0
    with open(data_file, "rb") as f:
        data = f.read()
    sectors = len(data) // 512
    crcs = [crc32c(data[i:i + 4096]) for i in range(0, len(data), 4096)]
    buf = struct.pack(">IBBHQIIQQ", DESC_MAGIC, 1, flags, 0, lba, sectors,
                      len(crcs), seq, gen)
    buf += b"".join(struct.pack(">I", c) for c in crcs)
    with open(out, "wb") as f:
        f.write(buf)
    return len(buf)


def state(args):
    raw = bytes(int(x, 16) for x in args)
    magic, ver, lbs, gen, cap, max_split, staging = struct.unpack(
        ">IBB2xQQII", raw[:32])
    return (f"magic={magic:#x} version={ver} lbs_shift={lbs} generation={gen}"
            f" capacity={cap} max_split={max_split} staging_kib={staging}")


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "cdb":
        print(" ".join(f"{b:02x}" for b in cdb(args)))
    elif what == "desc":
        print(desc(args))
    elif what == "descs":
        for i in range(0, len(args), 6):
            print(desc(args[i:i + 6]))
    elif what == "state":
        print(state(args))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
