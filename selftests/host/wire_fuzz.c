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
 * device, only INLINE and CLAIM carry flags, a CLAIM is accepted exactly
 * when it carries FORCE or the generation's low 16 bits, and every refusal
 * must build a sense with its sense key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/dualmirror.h>

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void check_sense(const struct dmw_status *st)
{
	__u8 s[18];

	CHECK(st->reason != DMW_R_OK && st->reason < DMW_R_NR);
	CHECK(dmw_build_sense(s, st) == 18);
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
		CHECK(!memcmp(sbuf, data, 7) &&
		      !memcmp(sbuf + 8, data + 8, DMW_SOFF_BM_SHIFT + 1 - 8));
		CHECK(!state.bm_regions ||
		      (state.bm_shift >= DMW_BM_SHIFT_MIN &&
		       state.bm_shift <= DMW_BM_SHIFT_MAX));
	}
	if (dmw_decode_cdb(cdb, delivered, &c, &st)) {
		check_sense(&st);
		return 0;
	}
	CHECK(!dmw_encode_cdb(again, &c));
	CHECK(!memcmp(again, cdb, DMW_CDB_LEN));
	if (c.type == DMW_T_INLINE)
		CHECK(!(c.flags & ~DMW_F_WRITE_MASK));
	else if (c.type == DMW_T_CLAIM)
		CHECK(!(c.flags & ~DMW_F_CLAIM_MASK) && !c.seq_tag);
	else
		CHECK(!c.flags);
	if (c.type == DMW_T_QUERY || c.type == DMW_T_BITMAP)
		CHECK(!c.gen_tag && !c.seq_tag);
	if (c.type == DMW_T_BITMAP)
		CHECK(c.lba <= 0xffff && c.param_len <= DMW_BITMAP_CHUNK);
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
	if (c.type == DMW_T_SPLIT_DESC)
		fuzz_desc(&c, data, size, cap, lbs, gen);
	return 0;
}
