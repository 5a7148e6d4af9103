#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the fuzzer's seed corpus: valid inputs of every message type, and
DISCARD / WRITE ZEROES at their limits."""
import struct
import sys

GEN = 0x1234


def cdb(typ, low, gen, seq, tail):
    return (bytes([0x7F, 0]) + gen.to_bytes(2, "big") + seq.to_bytes(3, "big")
            + bytes([8, 0xF9, (typ << 4) | low]) + tail)


def seed(geo, c, data=b""):
    return bytes([geo]) + c + bytes([16]) + data


def main(out):
    seeds = {
        "inline": seed(0, cdb(1, 1, GEN, 7, bytes([7]) + (8).to_bytes(5, "big")),
                       bytes(4096)),
        "split_data": seed(0, cdb(2, 0, GEN, 9, bytes(2) + (9).to_bytes(4, "big")),
                           bytes(9 * 512)),
        "query": seed(0, cdb(4, 0, 0, 0, bytes(2) + (32).to_bytes(4, "big"))),
        "claim": seed(1, cdb(5, 0, GEN, 0, bytes(2) + (32).to_bytes(4, "big"))),
        # geometry bit 3: a disk never claimed (generation 0), tag 0
        "claim_first": seed(8, cdb(5, 0, 0, 0, bytes(2) + (32).to_bytes(4, "big"))),
        "claim_stale": seed(0, cdb(5, 0, GEN - 1, 0, bytes(2) + (32).to_bytes(4, "big"))),
        "claim_force": seed(0, cdb(5, 1, 0xBEEF, 0, bytes(2) + (32).to_bytes(4, "big"))),
        "bitmap": seed(0, cdb(8, 0, 0, 0, (3).to_bytes(2, "big") + (65536).to_bytes(4, "big"))),
        # DISCARD / WRITE ZEROES: NUMBER OF SECTORS in bytes 4-6, LBA in 10-15
        "discard": seed(0, cdb(6, 0, GEN, 4096, (2048).to_bytes(6, "big"))),
        "discard_4k": seed(1, cdb(6, 0, GEN, 64, (8192).to_bytes(6, "big"))),
        "discard_past_end": seed(4, cdb(6, 0, GEN, 8, (60).to_bytes(6, "big"))),
        "write_zeroes": seed(0, cdb(7, 0, GEN, 256, (8).to_bytes(6, "big"))),
        "write_zeroes_nounmap": seed(0, cdb(7, 1, GEN, 1 << 22, (1 << 30).to_bytes(6, "big"))),
        "write_zeroes_data": seed(0, cdb(7, 0, GEN, 1, (8).to_bytes(6, "big")), bytes(512)),
    }
    nr = 9
    ncrc = (nr * 512 + 4095) // 4096
    desc = (struct.pack(">IBBHQIIQQ", 0x444D5744, 1, 0, 0, 64, nr, ncrc, 9, GEN)
            + bytes(4 * ncrc))
    seeds["split_desc"] = seed(0, cdb(3, 0, GEN, 9, bytes(2) + len(desc).to_bytes(4, "big")),
                               desc)
    for name, blob in seeds.items():
        with open(f"{out}/{name}", "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus")
