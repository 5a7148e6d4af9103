// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the dualmirror wire decoder.
 *
 * Input layout: byte 0 selects the device geometry (bits 1-0: logical block
 * size 512 << n, bit 2: tiny capacity) and the peer's generation (bit 3:
 * 0, a disk never claimed; else 1234h), bytes 1-16 are a CDB, byte 17 the
 * number of CDB bytes "delivered", the rest is the data-out.  Every input
 * goes through the same calls the peer makes.  Besides memory errors, the
 * target aborts when a property breaks: a CDB or descriptor that decodes
 * must re-encode to the same bytes, an accepted write must lie inside the
 * device, only INLINE, CLAIM and WRITE ZEROES carry flags, a CLAIM is
 * accepted exactly when it carries FORCE or the generation's low 16 bits,
 * and every refusal must build a sense with its sense key.  DISCARD and
 * WRITE ZEROES CDBs are also judged by zero_oracle(), written from
 * Documentation/dualmirror-protocol.rst without the codec: the verdict,
 * the first reason and the decoded range must agree with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/dualmirror_wire.h>

#include "sense_oracle.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void check_sense(const struct dmw_status *st)
{
	__u8 s[18];

	CHECK(st->reason != DMW_R_OK && st->reason < DMW_R_NR);
	CHECK(oracle_sense(s, st) == 18);
	CHECK(s[2] == (dmw_reason_sense(st->reason) >> 16));
	CHECK(!!(s[15] & 0x80) == dmw_reason_has_field(st->reason));
}

static void fuzz_desc(const struct dmw_cmd *c, const __u8 *data, size_t len,
		      __u64 cap, unsigned int lbs, __u64 gen)
{
	static __u8 again[DMW_DESC_MAX_LEN];
	struct dmw_desc d;
	struct dmw_status st;
	__u32 i;

	if (dmw_decode_desc(data, len, c, cap, lbs, gen, &d, &st)) {
		check_sense(&st);
		return;
	}
	CHECK(len == dmw_desc_len(d.nr_sectors) && len <= DMW_DESC_MAX_LEN);
	CHECK(d.lba <= cap && d.nr_sectors <= cap - d.lba);
	dmw_encode_desc_hdr(again, &d);
	for (i = 0; i < d.nr_crcs; i++) {
		dmw_put_desc_crc(again, i, dmw_desc_crc(&d, i));
		if (dmw_check_crc(&d, i, i, &st))
			check_sense(&st);
		CHECK(dmw_chunk_len(d.nr_sectors, i) > 0);
	}
	CHECK(!memcmp(again, data, len));
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v * 256 + p[i];
	return v;
}

/*
 * The protocol document's rules for a CDB whose byte 9 says DISCARD (6)
 * or WRITE ZEROES (7), in the order the peer applies them.  Returns the
 * reason it must be refused for, DMW_R_OK if it must be accepted.
 */
static unsigned int zero_oracle(const uint8_t *cdb, unsigned int delivered,
				size_t xfer, uint64_t cap, unsigned int lbs,
				uint64_t gen)
{
	unsigned int type = cdb[9] / 16, flags = cdb[9] % 16;
	unsigned int allowed = type == 7 ? 1 : 0;
	uint64_t nr = be(cdb + 4, 3), lba = be(cdb + 10, 6);
	uint64_t blk = (1ULL << lbs) / 512;

	if (delivered < 1 || cdb[0] != 0x7f)
		return DMW_R_OPCODE;
	if (delivered < 16 || cdb[7] != 8)
		return DMW_R_CDB_LEN;
	if ((cdb[8] & 0xf8) != 0xf8)
		return DMW_R_SERVICE_ACTION;
	if ((cdb[8] & 7) != 1)
		return DMW_R_VERSION;
	if (cdb[1] || (flags & ~allowed))
		return DMW_R_RESERVED;
	if (nr == 0 || nr > 4194304)
		return DMW_R_LENGTH;
	if (xfer)
		return DMW_R_XFER_LEN;
	if (be(cdb + 2, 2) != gen % 65536)
		return DMW_R_GENERATION;
	if (lba > cap || nr > cap - lba)
		return DMW_R_LBA_RANGE;
	if (lba % blk || nr % blk)
		return DMW_R_ALIGNMENT;
	return DMW_R_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	__u8 cdb[DMW_CDB_LEN], again[DMW_CDB_LEN];
	unsigned int lbs, delivered;
	struct dmw_status st;
	struct dmw_state state;
	struct dmw_cmd c;
	__u64 cap, gen;
	int claim_ok;

	if (size < 18)
		return 0;
	lbs = DMW_SECTOR_SHIFT + (data[0] & 3);
	cap = (data[0] & 4) ? 64 : 1ULL << 40;
	gen = (data[0] & 8) ? 0 : 0x1234;
	memcpy(cdb, data + 1, DMW_CDB_LEN);
	delivered = data[17] % (DMW_CDB_LEN + 1);
	data += 18;
	size -= 18;

	if (!dmw_decode_state(data, size, &state)) {
		__u8 sbuf[DMW_STATE_LEN];

		/* only known flags; every field survives a round trip */
		CHECK(!(state.flags & ~DMW_SF_MASK) && state.flags == data[6]);
		dmw_encode_state(sbuf, &state);
		CHECK(!memcmp(sbuf, data, DMW_SOFF_CAPS) &&
		      sbuf[DMW_SOFF_CAPS] == (data[DMW_SOFF_CAPS] & DMW_CAP_MASK) &&
		      !memcmp(sbuf + 8, data + 8, DMW_SOFF_BM_SHIFT + 1 - 8));
		CHECK(!state.bm_regions ||
		      (state.bm_shift >= DMW_BM_SHIFT_MIN &&
		       state.bm_shift <= DMW_BM_SHIFT_MAX));
		CHECK(!(state.caps & ~DMW_CAP_MASK));
	}
	if (cdb[9] >> 4 == DMW_T_DISCARD || cdb[9] >> 4 == DMW_T_WRITE_ZEROES) {
		unsigned int want = zero_oracle(cdb, delivered, size, cap, lbs, gen);

		if (!dmw_decode_cdb(cdb, delivered, &c, &st))
			dmw_check_cmd(&c, size, cap, lbs, gen, &st);
		CHECK(st.reason == want);
		if (want == DMW_R_OK)
			CHECK(c.lba == be(cdb + 10, 6) && c.nr_sectors == be(cdb + 4, 3) &&
			      c.flags == (cdb[9] & 15) && c.type == cdb[9] >> 4);
	}
	if (dmw_decode_cdb(cdb, delivered, &c, &st)) {
		check_sense(&st);
		return 0;
	}
	CHECK(!dmw_encode_cdb(again, &c));
	CHECK(!memcmp(again, cdb, DMW_CDB_LEN));
	if (c.type == DMW_T_INLINE)
		CHECK(!(c.flags & ~DMW_F_WRITE_MASK));
	else if (c.type == DMW_T_WRITE_ZEROES)
		CHECK(!(c.flags & ~DMW_F_ZEROES_MASK) && !c.seq_tag);
	else if (c.type == DMW_T_CLAIM)
		CHECK(!(c.flags & ~DMW_F_CLAIM_MASK) && !c.seq_tag);
	else
		CHECK(!c.flags);
	if (c.type == DMW_T_QUERY || c.type == DMW_T_BITMAP)
		CHECK(!c.gen_tag && !c.seq_tag);
	if (c.type == DMW_T_BITMAP)
		CHECK(c.lba <= 0xffff && c.param_len <= DMW_BITMAP_CHUNK);
	if (dmw_type_is_zero(c.type))
		CHECK(!c.seq_tag && dmw_data_len(&c) == 0 && !dmw_data_is_out(&c));
	claim_ok = (c.flags & DMW_F_FORCE) || c.gen_tag == (gen & DMW_GEN_TAG_MASK);
	if (dmw_check_cmd(&c, size, cap, lbs, gen, &st)) {
		check_sense(&st);
		if (c.type == DMW_T_CLAIM)
			CHECK(!claim_ok && st.reason == DMW_R_GENERATION);
		CHECK(c.type != DMW_T_QUERY && c.type != DMW_T_BITMAP);
		return 0;
	}
	if (c.type == DMW_T_CLAIM)
		CHECK(claim_ok);
	CHECK(c.type == DMW_T_QUERY || c.type == DMW_T_CLAIM ||
	      c.type == DMW_T_BITMAP || size == dmw_data_len(&c));
	if (c.type == DMW_T_INLINE)
		CHECK(c.lba + c.nr_sectors <= cap &&
		      dmw_use_inline(c.lba, c.nr_sectors, DMW_INLINE_MAX_BYTES));
	if (dmw_type_is_zero(c.type))
		CHECK(c.lba <= cap && c.nr_sectors <= cap - c.lba &&
		      c.nr_sectors && c.nr_sectors <= DMW_ZERO_MAX_SECTORS && !size);
	if (c.type == DMW_T_SPLIT_DESC)
		fuzz_desc(&c, data, size, cap, lbs, gen);
	return 0;
}
