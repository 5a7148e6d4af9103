// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the dualmirror wire codec (include/linux/dualmirror_wire.h).
 *
 * Prints TAP 13; exits 0 when every test point passed, 1 otherwise.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/dualmirror_wire.h>

#include "sense_oracle.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static unsigned int tests, failures;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	if (!cond)
		failures++;
	printf("%s %u - ", cond ? "ok" : "not ok", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

#define CAP_SECTORS	(1ULL << 30)	/* 512 GiB test device */
#define GEN		0x1122334455667788ULL
#define GEN_TAG		(GEN & DMW_GEN_TAG_MASK)

static int cmd_eq(const struct dmw_cmd *a, const struct dmw_cmd *b)
{
	return a->type == b->type && a->flags == b->flags &&
	       a->gen_tag == b->gen_tag &&
	       a->seq_tag == (b->seq_tag & DMW_SEQ_TAG_MASK) &&
	       a->lba == b->lba && a->nr_sectors == b->nr_sectors &&
	       a->param_len == b->param_len;
}

static struct dmw_cmd inline_cmd(__u64 lba, __u32 nr, __u8 flags, __u32 seq)
{
	struct dmw_cmd c = {
		.type = DMW_T_INLINE, .flags = flags, .gen_tag = GEN_TAG,
		.seq_tag = seq, .lba = lba, .nr_sectors = nr,
	};
	return c;
}

static struct dmw_cmd split_cmd(__u32 nr, __u32 seq)
{
	struct dmw_cmd c = {
		.type = DMW_T_SPLIT_DATA, .gen_tag = GEN_TAG, .seq_tag = seq,
		.nr_sectors = nr,
	};
	return c;
}

static struct dmw_cmd desc_cmd(__u32 nr, __u32 seq)
{
	struct dmw_cmd c = {
		.type = DMW_T_SPLIT_DESC, .gen_tag = GEN_TAG, .seq_tag = seq,
		.param_len = dmw_desc_len(nr),
	};
	return c;
}

/* Encode, decode and check a command; 1 if it survives unchanged. */
static int round_trip(const struct dmw_cmd *in)
{
	__u8 cdb[DMW_CDB_LEN];
	struct dmw_cmd out;
	struct dmw_status st;

	if (dmw_encode_cdb(cdb, in))
		return 0;
	if (cdb[0] != 0x7f || cdb[7] != 8 || cdb[8] != 0xf9)
		return 0;
	if (dmw_decode_cdb(cdb, sizeof(cdb), &out, &st) || st.reason)
		return 0;
	if (dmw_check_cmd(&out, dmw_data_len(&out), CAP_SECTORS, 9, GEN, &st))
		return 0;
	return cmd_eq(&out, in);
}

/* The sense a status turns into (the oracle's), checked field by field. */
static int sense_is(const struct dmw_status *st, unsigned int reason,
		    __u8 key, __u8 asc, __u8 ascq, int in_cdb, int field,
		    int bit)
{
	__u8 s[18];

	if (st->reason != reason)
		return 0;
	if (oracle_sense(s, st) != 18 || s[0] != 0x70 || s[7] != 10)
		return 0;
	if (s[2] != key || s[12] != asc || s[13] != ascq)
		return 0;
	if (field < 0)
		return s[15] == 0 && s[16] == 0 && s[17] == 0;
	if (!(s[15] & 0x80) || !!(s[15] & 0x40) != in_cdb)
		return 0;
	if (bit < 0 ? (s[15] & 0x08) : ((s[15] & 0x0f) != (0x08 | bit)))
		return 0;
	return get_unaligned_be16(&s[16]) == (__u64)field;
}

/* Decode (and check) a raw CDB; return the status. */
static struct dmw_status refuse(const __u8 *cdb, unsigned int len,
				__u32 xfer, __u64 cap, unsigned int lbs_shift)
{
	struct dmw_cmd c;
	struct dmw_status st;

	if (!dmw_decode_cdb(cdb, len, &c, &st))
		dmw_check_cmd(&c, xfer, cap, lbs_shift, GEN, &st);
	return st;
}

/*
 * What a status must be: its reason and, when key is not 0, the sense the
 * oracle makes of it (sense_is()'s arguments); key 0 checks the reason only.
 */
struct want {
	unsigned int reason;
	__u8 key, asc, ascq;
	int in_cdb, field, bit;
};

#define SENSE(r, k, a, q, c, f, b) \
	{ .reason = (r), .key = (k), .asc = (a), .ascq = (q), \
	  .in_cdb = (c), .field = (f), .bit = (b) }
#define REASON(r)	{ .reason = (r) }

static int status_is(const struct dmw_status *st, const struct want *w)
{
	if (!w->key)
		return st->reason == w->reason;
	return sense_is(st, w->reason, w->key, w->asc, w->ascq, w->in_cdb,
			w->field, w->bit);
}

/*
 * One refusal case: encode cmd, change the CDB at byte "at" (len bytes set
 * to val big-endian, or with "or" the byte ORed with val; len 0: no
 * change), decode and check cdb_len bytes of it (0: all 16) with xfer
 * bytes of data on a device of cap sectors (0: CAP_SECTORS) and logical
 * blocks of 1 << lbs_shift bytes (0: 512), and compare the status.
 */
struct refusal {
	const char *name;
	struct dmw_cmd cmd;
	__u8 at, len, or;
	__u32 val;
	unsigned int cdb_len;
	__u32 xfer;
	__u64 cap;
	unsigned int lbs_shift;
	struct want want;
};

#define SET(off, v)	.at = (off), .len = 1, .val = (v)
#define OR(off, v)	.at = (off), .len = 1, .or = 1, .val = (v)
#define BE24(off, v)	.at = (off), .len = 3, .val = (v)
#define BE32(off, v)	.at = (off), .len = 4, .val = (v)

static void encode(__u8 *cdb, struct dmw_cmd c)
{
	if (dmw_encode_cdb(cdb, &c))
		abort();
}

static void check_refusals(const struct refusal *v, unsigned int n)
{
	struct dmw_status st;
	__u8 cdb[DMW_CDB_LEN];
	unsigned int i, b;

	for (i = 0; i < n; i++, v++) {
		encode(cdb, v->cmd);
		if (v->or)
			cdb[v->at] |= v->val;
		else
			for (b = 0; b < v->len; b++)
				cdb[v->at + b] = v->val >> (8 * (v->len - 1 - b));
		st = refuse(cdb, v->cdb_len ?: DMW_CDB_LEN, v->xfer,
			    v->cap ?: CAP_SECTORS, v->lbs_shift ?: 9);
		ok(status_is(&st, &v->want), "%s", v->name);
	}
}

/* A command the encoder must refuse (-EINVAL). */
struct bad_cmd {
	const char *name;
	struct dmw_cmd cmd;
};

static void check_encode_refusals(const struct bad_cmd *v, unsigned int n)
{
	__u8 cdb[DMW_CDB_LEN];
	unsigned int i;

	for (i = 0; i < n; i++)
		ok(dmw_encode_cdb(cdb, &v[i].cmd) == -EINVAL, "%s", v[i].name);
}

static void test_crc(void)
{
	ok(dmw_crc32c("123456789", 9) == 0xe3069283,
	   "crc32c check value of \"123456789\" is e3069283");
	ok(dmw_crc32c("", 0) == 0, "crc32c of nothing is 0");
}

/* What a dmw_crc_run reported: each chunk's CRC in order. */
struct crc_log {
	__u32 crc[8];
	__u32 n;
	__u32 stop_at;		/* return 1 at this chunk (~0: never) */
	int in_order;
};

static int log_chunk(void *arg, __u32 chunk, __u32 crc)
{
	struct crc_log *l = arg;

	if (chunk != l->n || l->n >= ARRAY_SIZE(l->crc))
		l->in_order = 0;
	else
		l->crc[l->n] = crc;
	l->n++;
	return chunk == l->stop_at;
}

/*
 * The streaming CRC run (sender and peer) against CRCs of whole chunks
 * taken one by one, whatever the pieces the data comes in.
 */
static void test_crc_run(void)
{
	static const struct {
		const char *name;
		__u32 bytes;
		__u32 piece[4];	/* lengths, used in turn */
	} t[] = {
		{ "one piece per chunk", 3 * 4096, { 4096 } },
		{ "pages at odd offsets", 3 * 4096 + 512, { 1000, 3096, 4096, 7 } },
		{ "one byte then the rest", 2 * 4096 + 1536, { 1, 16384 } },
		{ "all in one piece", 5 * 4096 - 512, { 32768 } },
		{ "one sector", 512, { 512 } },
	};
	static __u8 buf[5 * 4096];
	__u32 seed = 12345, i, k;

	for (i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = seed >> 16;
	}
	for (k = 0; k < ARRAY_SIZE(t); k++) {
		struct crc_log l = { .stop_at = ~0U, .in_order = 1 };
		__u32 off = 0, p = 0, np = 0, want = (t[k].bytes + 4095) / 4096;
		struct dmw_crc_run run;
		int same = 1;

		while (np < 4 && t[k].piece[np])
			np++;
		dmw_crc_run_init(&run);
		while (off < t[k].bytes) {
			__u32 len = t[k].piece[p++ % np];

			if (len > t[k].bytes - off)
				len = t[k].bytes - off;
			dmw_crc_run_feed(&run, buf + off, len, log_chunk, &l);
			off += len;
		}
		dmw_crc_run_end(&run, log_chunk, &l);
		for (i = 0; i < want && i < l.n; i++) {
			__u32 len = t[k].bytes - i * 4096 < 4096 ?
				    t[k].bytes - i * 4096 : 4096;

			same &= l.crc[i] == dmw_crc32c(buf + i * 4096, len);
		}
		ok(l.in_order && l.n == want && run.chunk == want && same,
		   "crc run, %s: %u chunks, each CRC as of the whole chunk",
		   t[k].name, want);
	}

	/* a non-zero answer stops the run and is passed back */
	{
		struct crc_log l = { .stop_at = 1, .in_order = 1 };
		struct dmw_crc_run run;
		int ret;

		dmw_crc_run_init(&run);
		ret = dmw_crc_run_feed(&run, buf, sizeof(buf), log_chunk, &l);
		ok(ret == 1 && l.n == 2 && run.chunk == 2,
		   "crc run stops at the chunk whose check failed");
	}
}

static void test_inline_round_trips(void)
{
	static const __u32 lens[] = { 1, 8, 63, 64, 65, 255, 256 };
	const struct bad_cmd bad[] = {
		{ "inline encode refuses an LBA of 2^40 (41 bits)",
		  inline_cmd(DMW_INLINE_LBA_LIMIT, 1, 0, 1) },
		{ "inline encode refuses zero length", inline_cmd(100, 0, 0, 1) },
		{ "inline encode refuses 257 sectors", inline_cmd(100, 257, 0, 1) },
		{ "inline encode refuses an unknown flag",
		  inline_cmd(100, 8, 0x04, 1) },
	};
	__u32 max = DMW_INLINE_DEFAULT >> 9;
	struct dmw_cmd c, out;
	struct dmw_status st;
	__u8 cdb[DMW_CDB_LEN];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		c = inline_cmd(2048, lens[i], 0, 7);
		ok(round_trip(&c), "inline round trip, %u bytes", lens[i] << 9);
	}
	c = inline_cmd(0, max, 0, 1);
	ok(round_trip(&c), "inline round trip at LBA 0");
	c = inline_cmd(DMW_INLINE_LBA_LIMIT - 8, 8, 0, 1);
	ok(!dmw_encode_cdb(cdb, &c) &&
	   !dmw_decode_cdb(cdb, 16, &out, &st) &&
	   out.lba == DMW_INLINE_LBA_LIMIT - 8 &&
	   dmw_get_be40(&cdb[11]) == DMW_INLINE_LBA_LIMIT - 8,
	   "inline round trip at the largest inline LBA (2^40 - 8)");
	c = inline_cmd(DMW_INLINE_LBA_LIMIT - 1, 7, 0, 1);
	ok(!dmw_encode_cdb(cdb, &c) &&
	   !dmw_decode_cdb(cdb, 16, &out, &st) &&
	   out.lba == DMW_INLINE_LBA_LIMIT - 1 && out.nr_sectors == 7,
	   "inline write starting at 2^40 - 1 and ending past 2^40 survives");
	check_encode_refusals(bad, ARRAY_SIZE(bad));
	for (i = 0; i < 4; i++) {
		c = inline_cmd(4096, 8, i, 5);
		ok(round_trip(&c), "inline round trip, flags %#x%s%s", i,
		   i & DMW_F_FUA ? " FUA" : "", i & DMW_F_PREFLUSH ? " PREFLUSH" : "");
	}
}

static void test_tags(void)
{
	struct dmw_cmd c = inline_cmd(8, 8, 0, 0xffffff);
	struct dmw_cmd out;
	struct dmw_status st;
	__u8 cdb[16];

	ok(round_trip(&c), "sequence tag 0xffffff survives");
	c.seq_tag = 0x1000000;	/* wraps to 0 */
	dmw_encode_cdb(cdb, &c);
	dmw_decode_cdb(cdb, 16, &out, &st);
	ok(out.seq_tag == 0, "sequence 2^24 wraps to tag 0");
	c.seq_tag = 0x12345678;
	dmw_encode_cdb(cdb, &c);
	dmw_decode_cdb(cdb, 16, &out, &st);
	ok(out.seq_tag == 0x345678 && cdb[4] == 0x34 && cdb[5] == 0x56 &&
	   cdb[6] == 0x78, "sequence tag is the low 24 bits, big-endian in bytes 4-6");
	ok(cdb[2] == 0x77 && cdb[3] == 0x88,
	   "generation tag is the low 16 bits, big-endian in bytes 2-3");
}

static void test_split_round_trips(void)
{
	static const __u32 lens[] = { 1, 63, 64, 65, 2048, DMW_SPLIT_MAX_SECTORS };
	struct dmw_cmd c;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		c = split_cmd(lens[i], 0xabcdef);
		ok(round_trip(&c), "split data round trip, %u sectors", lens[i]);
		c = desc_cmd(lens[i], 0xabcdef);
		ok(round_trip(&c), "split descriptor command round trip, %u sectors",
		   lens[i]);
	}
	c = split_cmd(DMW_SPLIT_MAX_SECTORS + 1, 1);
	{
		__u8 cdb[16];

		ok(dmw_encode_cdb(cdb, &c) == -EINVAL,
		   "split encode refuses more than DMW_SPLIT_MAX_SECTORS");
	}
}

static void test_framing_choice(void)
{
	static const struct {
		__u64 lba;
		__u32 nr, inline_max;
		int inl;
		const char *name;
	} v[] = {
		{ 0, 1, DMW_INLINE_DEFAULT, 1, "512 bytes: inline" },
		{ 0, (DMW_INLINE_DEFAULT >> 9) - 1, DMW_INLINE_DEFAULT, 1,
		  "inline_max - 512: inline" },
		{ 0, DMW_INLINE_DEFAULT >> 9, DMW_INLINE_DEFAULT, 1,
		  "inline_max (32 KiB): inline" },
		{ 0, (DMW_INLINE_DEFAULT >> 9) + 1, DMW_INLINE_DEFAULT, 0,
		  "inline_max + 512: split" },
		{ 0, DMW_SPLIT_MAX_SECTORS, DMW_INLINE_DEFAULT, 0, "8 MiB: split" },
		{ 0, 1, 0, 0, "inline_max 0: always split" },
		{ 0, 256, DMW_INLINE_MAX_BYTES, 1,
		  "128 KiB with inline_max 128 KiB: inline" },
		{ 0, 257, 0xffffffff, 0, "257 sectors never inline" },
		{ DMW_INLINE_LBA_LIMIT - 4, 8, DMW_INLINE_DEFAULT, 1,
		  "write starting below 2^40 sectors and crossing it: inline" },
		{ DMW_INLINE_LBA_LIMIT, 8, DMW_INLINE_DEFAULT, 0,
		  "write starting at 2^40 sectors: split" },
		{ 0, 0, DMW_INLINE_DEFAULT, 0, "empty write: not inline" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(v); i++)
		ok(!dmw_use_inline(v[i].lba, v[i].nr, v[i].inline_max) == !v[i].inl,
		   "%s", v[i].name);
}

static void test_desc_round_trip(void)
{
	static const __u32 lens[] = { 1, 8, 9, 65, 2048, DMW_SPLIT_MAX_SECTORS };
	static __u8 buf[DMW_DESC_MAX_LEN];
	unsigned int i, k;

	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		struct dmw_desc d = {
			.flags = DMW_F_FUA, .nr_sectors = lens[i],
			.lba = CAP_SECTORS - lens[i], .seq = 0x1000000abcdefULL,
			.generation = GEN,
		}, out;
		struct dmw_cmd c = desc_cmd(lens[i], 0xabcdef);
		struct dmw_status st;
		__u32 len = dmw_desc_len(lens[i]);
		int good;

		dmw_encode_desc_hdr(buf, &d);
		for (k = 0; k < dmw_desc_nr_crcs(lens[i]); k++)
			dmw_put_desc_crc(buf, k, 0x10000 + k);
		good = !dmw_decode_desc(buf, len, &c, CAP_SECTORS, 9, GEN, &out, &st) &&
		       out.flags == d.flags && out.lba == d.lba &&
		       out.nr_sectors == d.nr_sectors && out.seq == d.seq &&
		       out.generation == d.generation &&
		       out.nr_crcs == (lens[i] * 512 + 4095) / 4096 &&
		       len == 40 + 4 * out.nr_crcs;
		for (k = 0; good && k < out.nr_crcs; k++)
			good = dmw_desc_crc(&out, k) == 0x10000 + k &&
			       !dmw_check_crc(&out, k, 0x10000 + k, &st);
		ok(good, "descriptor round trip, %u sectors at the last LBA",
		   lens[i]);
	}
	ok(dmw_chunk_len(9, 0) == 4096 && dmw_chunk_len(9, 1) == 512 &&
	   dmw_chunk_len(8, 0) == 4096, "chunk lengths: 4 KiB, last one partial");
}

static void test_state(void)
{
	struct dmw_state s = {
		.version = DMW_VERSION, .lbs_shift = 12, .generation = GEN,
		.capacity = CAP_SECTORS, .max_split = 2048, .staging_kib = 65536,
		.flags = DMW_SF_PERSISTENT | DMW_SF_SUSPECT,
	}, out;
	__u8 buf[DMW_STATE_LEN];

	dmw_encode_state(buf, &s);
	ok(!dmw_decode_state(buf, sizeof(buf), &out) &&
	   out.generation == GEN && out.capacity == CAP_SECTORS &&
	   out.lbs_shift == 12 && out.max_split == 2048 &&
	   out.staging_kib == 65536 &&
	   out.flags == (DMW_SF_PERSISTENT | DMW_SF_SUSPECT),
	   "state round trip");
	ok(buf[6] == (DMW_SF_PERSISTENT | DMW_SF_SUSPECT) && buf[7] == 0,
	   "state flags in byte 6, byte 7 reserved");
	buf[DMW_SOFF_FLAGS] = 0x10;
	ok(dmw_decode_state(buf, sizeof(buf), &out) == -EPROTO,
	   "state with an unknown flag is refused");
	buf[DMW_SOFF_FLAGS] = 0;
	s.bm_regions = 1000;
	s.bm_shift = 10;
	dmw_encode_state(buf, &s);
	ok(!dmw_decode_state(buf, sizeof(buf), &out) && out.bm_regions == 1000 &&
	   out.bm_shift == 10 && buf[32] == 0 && buf[39] == 0xe8 &&
	   buf[40] == 10, "suspect bitmap: regions at byte 32, shift at 40");
	buf[DMW_SOFF_BM_SHIFT] = 2;
	ok(dmw_decode_state(buf, sizeof(buf), &out) == -EPROTO,
	   "suspect bitmap with a region shift below 3 is refused");
	s.bm_regions = 0;
	s.bm_shift = 0;
	dmw_encode_state(buf, &s);
	ok(dmw_decode_state(buf, DMW_STATE_LEN - 1, &out) == -EPROTO,
	   "truncated state is refused");
	buf[DMW_SOFF_VERSION] = 2;
	ok(dmw_decode_state(buf, sizeof(buf), &out) == -EPROTO,
	   "state of another version is refused");
}

static struct dmw_cmd gen_tagged(struct dmw_cmd c, __u16 gen_tag)
{
	c.gen_tag = gen_tag;
	return c;
}

static void test_cdb_rejections(void)
{
	const struct dmw_cmd query = { .type = DMW_T_QUERY, .param_len = 32 };
	const struct refusal framing[] = {
		{ "opcode C1h: INVALID COMMAND OPERATION CODE",
		  inline_cmd(8, 8, 0, 1), SET(0, 0xc1), .xfer = 4096,
		  .want = SENSE(DMW_R_OPCODE, 5, 0x20, 0, 1, -1, -1) },
		{ "10 of 16 CDB bytes delivered: INVALID FIELD IN CDB at byte 7",
		  inline_cmd(8, 8, 0, 1), .cdb_len = 10, .xfer = 4096,
		  .want = SENSE(DMW_R_CDB_LEN, 5, 0x24, 0, 1, 7, -1) },
		{ "ADDITIONAL CDB LENGTH 18h: pointer at byte 7",
		  inline_cmd(8, 8, 0, 1), SET(7, 0x18), .xfer = 4096,
		  .want = SENSE(DMW_R_CDB_LEN, 5, 0x24, 0, 1, 7, -1) },
		/* SA 0901h: SBC's range, not ours */
		{ "service action outside F800h-FFFFh: pointer at byte 8",
		  inline_cmd(8, 8, 0, 1), SET(8, 0x09), .xfer = 4096,
		  .want = SENSE(DMW_R_SERVICE_ACTION, 5, 0x24, 0, 1, 8, -1) },
		{ "unknown message type: pointer at byte 9 bit 7",
		  inline_cmd(8, 8, 0, 1), SET(9, 0xf0), .xfer = 4096,
		  .want = SENSE(DMW_R_SERVICE_ACTION, 5, 0x24, 0, 1, 9, 7) },
		{ "message type 0 is refused",
		  inline_cmd(8, 8, 0, 1), SET(9, 0x00), .xfer = 4096,
		  .want = REASON(DMW_R_SERVICE_ACTION) },
		{ "version 2: pointer at byte 8 bit 2",
		  inline_cmd(8, 8, 0, 1), SET(8, 0xfa), .xfer = 4096,
		  .want = SENSE(DMW_R_VERSION, 5, 0x24, 0, 1, 8, 2) },
		/* NACA */
		{ "CONTROL byte set: pointer at byte 1 bit 2",
		  inline_cmd(8, 8, 0, 1), SET(1, 0x04), .xfer = 4096,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 1, 2) },
		{ "reserved inline flag: pointer at byte 9 bit 3",
		  inline_cmd(8, 8, 0, 1), OR(9, 0x08), .xfer = 4096,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 3) },
		{ "split data reserved byte 11: pointer at byte 11 bit 0",
		  split_cmd(64, 1), SET(11, 0x01), .xfer = 32768,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 11, 0) },
		{ "flags on split data (they belong in the descriptor): refused",
		  split_cmd(64, 1), OR(9, DMW_F_FUA), .xfer = 32768,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 0) },
		{ "QUERY with a tag byte set: pointer at byte 5 bit 7",
		  query, SET(5, 0x80), .xfer = 32,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 5, 7) },
	};
	const struct refusal limits[] = {
		{ "split data of 0 sectors: pointer at byte 12",
		  split_cmd(64, 1), BE32(12, 0),
		  .want = SENSE(DMW_R_LENGTH, 5, 0x24, 0, 1, 12, -1) },
		{ "split data over 8 MiB: pointer at byte 12",
		  split_cmd(64, 1), BE32(12, DMW_SPLIT_MAX_SECTORS + 1),
		  .want = SENSE(DMW_R_LENGTH, 5, 0x24, 0, 1, 12, -1) },
		{ "descriptor shorter than its header: pointer at byte 12",
		  desc_cmd(64, 1), BE32(12, DMW_DESC_HDR_LEN - 1),
		  .xfer = DMW_DESC_HDR_LEN - 1,
		  .want = SENSE(DMW_R_LENGTH, 5, 0x24, 0, 1, 12, -1) },
		{ "descriptor longer than the largest: pointer at byte 12",
		  desc_cmd(64, 1), BE32(12, DMW_DESC_MAX_LEN + 4),
		  .xfer = DMW_DESC_MAX_LEN + 4,
		  .want = SENSE(DMW_R_LENGTH, 5, 0x24, 0, 1, 12, -1) },
		{ "inline write ending at the last sector is accepted",
		  inline_cmd(CAP_SECTORS - 8, 8, 0, 1), .xfer = 4096,
		  .want = REASON(DMW_R_OK) },
		{ "inline write one sector past the end: LBA OUT OF RANGE",
		  inline_cmd(CAP_SECTORS - 7, 8, 0, 1), .xfer = 4096,
		  .want = SENSE(DMW_R_LBA_RANGE, 5, 0x21, 0, 1, -1, -1) },
		{ "inline write beyond capacity: LBA OUT OF RANGE",
		  inline_cmd(CAP_SECTORS + 100, 1, 0, 1), .xfer = 512,
		  .want = SENSE(DMW_R_LBA_RANGE, 5, 0x21, 0, 1, -1, -1) },
		{ "LBA not on a 4 KiB block: pointer at the LBA (byte 11)",
		  inline_cmd(9, 8, 0, 1), .xfer = 4096, .lbs_shift = 12,
		  .want = SENSE(DMW_R_ALIGNMENT, 5, 0x24, 0, 1, 11, -1) },
		{ "length not whole 4 KiB blocks: pointer at the length (byte 10)",
		  inline_cmd(8, 9, 0, 1), .xfer = 4608, .lbs_shift = 12,
		  .want = SENSE(DMW_R_ALIGNMENT, 5, 0x24, 0, 1, 10, -1) },
		{ "inline data-out shorter than the length: pointer at byte 10",
		  inline_cmd(8, 8, 0, 1), .xfer = 2048,
		  .want = SENSE(DMW_R_XFER_LEN, 5, 0x24, 0, 1, 10, -1) },
		{ "split data-out longer than the length: pointer at byte 12",
		  split_cmd(64, 1), .xfer = 32768 + 512,
		  .want = SENSE(DMW_R_XFER_LEN, 5, 0x24, 0, 1, 12, -1) },
		{ "stale generation tag: DATA PROTECT / WRITE PROTECTED",
		  gen_tagged(inline_cmd(8, 8, 0, 1), GEN_TAG - 1), .xfer = 4096,
		  .want = SENSE(DMW_R_GENERATION, 7, 0x27, 0, 1, -1, -1) },
	};
	struct dmw_cmd b = { .type = DMW_T_BITMAP, .lba = 0x1234,
			     .param_len = DMW_BITMAP_CHUNK }, out;
	struct dmw_status st;
	__u8 cdb[16];

	check_refusals(framing, ARRAY_SIZE(framing));

	encode(cdb, b);
	ok(cdb[9] == 0x80 && cdb[10] == 0x12 && cdb[11] == 0x34 &&
	   !dmw_decode_cdb(cdb, 16, &out, &st) && out.lba == 0x1234 &&
	   out.param_len == DMW_BITMAP_CHUNK &&
	   !dmw_check_cmd(&out, 0, CAP_SECTORS, 9, GEN, &st),
	   "BITMAP: chunk in bytes 10-11, accepted at any generation");
	b.lba = 0x10000;
	ok(dmw_encode_cdb(cdb, &b) == -EINVAL,
	   "BITMAP: a chunk index over 16 bits is not encoded");
	b.lba = 0;
	encode(cdb, b);
	put_unaligned_be32(DMW_BITMAP_CHUNK + 1, &cdb[12]);
	st = refuse(cdb, 16, 0, CAP_SECTORS, 9);
	ok(sense_is(&st, DMW_R_LENGTH, 5, 0x24, 0, 1, 12, -1),
	   "BITMAP of more than 64 KiB: pointer at byte 12");
	encode(cdb, b);
	cdb[3] = 1;
	st = refuse(cdb, 16, 0, CAP_SECTORS, 9);
	ok(sense_is(&st, DMW_R_RESERVED, 5, 0x24, 0, 1, 3, 0),
	   "BITMAP with a generation tag: pointer at byte 3 bit 0");

	check_refusals(limits, ARRAY_SIZE(limits));
}

/* The CDB as a hex string, for exact byte comparisons. */
static const char *hex(const __u8 *cdb)
{
	static char buf[3 * DMW_CDB_LEN];
	unsigned int i;

	for (i = 0; i < DMW_CDB_LEN; i++)
		sprintf(&buf[3 * i], "%02x ", cdb[i]);
	buf[3 * DMW_CDB_LEN - 1] = '\0';
	return buf;
}

static struct dmw_status claim_check(const __u8 *cdb, __u64 gen)
{
	struct dmw_cmd c;
	struct dmw_status st;

	if (!dmw_decode_cdb(cdb, DMW_CDB_LEN, &c, &st))
		dmw_check_cmd(&c, 0, CAP_SECTORS, 9, gen, &st);
	return st;
}

static void test_claim(void)
{
	struct dmw_cmd legacy = { .type = DMW_T_CLAIM, .param_len = DMW_STATE_LEN };
	struct dmw_cmd c = {
		.type = DMW_T_CLAIM, .gen_tag = 0x7788, .param_len = 32,
	}, out;
	struct dmw_cmd q = { .type = DMW_T_QUERY, .param_len = 32 };
	/* FORCE is CLAIM's only flag, the tags are not QUERY's */
	const struct refusal not_claim[] = {
		{ "QUERY with FORCE (a CLAIM flag): pointer at byte 9 bit 0",
		  q, OR(9, DMW_F_FORCE), .xfer = 32,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 0) },
		{ "QUERY with a generation tag: pointer at byte 2 bit 0",
		  q, SET(2, 0x01), .xfer = 32,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 2, 0) },
		{ "SPLIT DATA with flag bit 0 (FORCE is CLAIM's only): refused",
		  split_cmd(8, 1), OR(9, DMW_F_FORCE), .xfer = 4096,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 0) },
	};
	struct dmw_status st;
	__u8 cdb[16];

	ok(!dmw_encode_cdb(cdb, &legacy) &&
	   !strcmp(hex(cdb), "7f 00 00 00 00 00 00 08 f9 50 00 00 00 00 00 30"),
	   "CLAIM without tag or flags (the primary's initializer): tag 0, 48 bytes");
	st = claim_check(cdb, 0);
	ok(st.reason == DMW_R_OK,
	   "CLAIM tag 0 without FORCE on a never-claimed disk (generation 0): accepted");
	st = claim_check(cdb, 1);
	ok(sense_is(&st, DMW_R_GENERATION, 7, 0x27, 0, 1, -1, -1),
	   "CLAIM tag 0 without FORCE at generation 1: DATA PROTECT / WRITE PROTECTED");

	ok(round_trip(&c), "CLAIM with the current generation's tag: round trip, accepted");
	dmw_encode_cdb(cdb, &c);
	ok(!strcmp(hex(cdb), "7f 00 77 88 00 00 00 08 f9 50 00 00 00 00 00 20"),
	   "CLAIM tag 7788h in bytes 2-3, no flags: %s", hex(cdb));
	c.flags = DMW_F_FORCE;
	c.gen_tag = 0x1234;
	ok(!dmw_encode_cdb(cdb, &c) &&
	   !strcmp(hex(cdb), "7f 00 12 34 00 00 00 08 f9 51 00 00 00 00 00 20"),
	   "CLAIM FORCE: byte 9 = 51h (type 5, FORCE bit 0): %s", hex(cdb));
	ok(!dmw_decode_cdb(cdb, 16, &out, &st) && out.flags == DMW_F_FORCE &&
	   out.gen_tag == 0x1234 && out.seq_tag == 0 && out.param_len == 32,
	   "CLAIM FORCE decodes: flags, tag, allocation length");
	st = claim_check(cdb, GEN);
	ok(st.reason == DMW_R_OK, "CLAIM with a wrong tag and FORCE: accepted");
	c.flags = 0;
	dmw_encode_cdb(cdb, &c);
	st = claim_check(cdb, GEN);
	ok(sense_is(&st, DMW_R_GENERATION, 7, 0x27, 0, 1, -1, -1),
	   "CLAIM with a wrong tag without FORCE: DATA PROTECT / WRITE PROTECTED");
	c.gen_tag = GEN_TAG;
	dmw_encode_cdb(cdb, &c);
	st = claim_check(cdb, GEN + 0x10000);
	ok(st.reason == DMW_R_OK,
	   "CLAIM compares the low 16 bits only: 65536 claims behind slips through");
	st = claim_check(cdb, GEN + 1);
	ok(st.reason == DMW_R_GENERATION, "CLAIM one generation behind: refused");

	c.flags = 0x02;
	ok(dmw_encode_cdb(cdb, &c) == -EINVAL, "CLAIM encode refuses flags other than FORCE");
	c.flags = 0;
	dmw_encode_cdb(cdb, &c);
	cdb[9] |= 0x02;
	st = claim_check(cdb, GEN);
	ok(sense_is(&st, DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 1),
	   "CLAIM with reserved flag bit 1: pointer at byte 9 bit 1");
	dmw_encode_cdb(cdb, &c);
	cdb[6] = 0x01;
	st = claim_check(cdb, GEN);
	ok(sense_is(&st, DMW_R_RESERVED, 5, 0x24, 0, 1, 6, 0),
	   "CLAIM with a sequence tag: pointer at byte 6 bit 0");
	c.seq_tag = 0x123456;
	ok(!dmw_encode_cdb(cdb, &c) && !cdb[4] && !cdb[5] && !cdb[6],
	   "CLAIM encode leaves bytes 4-6 zero");
	check_refusals(not_claim, 2);
	q.gen_tag = 0x5555;
	q.flags = DMW_F_FORCE;
	ok(!dmw_encode_cdb(cdb, &q) && !cdb[2] && !cdb[3] && cdb[9] == 0x40,
	   "QUERY encode carries neither tag nor flags");
	check_refusals(&not_claim[2], ARRAY_SIZE(not_claim) - 2);
}

static __u32 desc_prep(__u8 *buf, __u32 nr, __u64 lba)
{
	struct dmw_desc d = {
		.nr_sectors = nr, .lba = lba, .seq = 0x42, .generation = GEN,
	};
	__u32 k;

	dmw_encode_desc_hdr(buf, &d);
	for (k = 0; k < dmw_desc_nr_crcs(nr); k++)
		dmw_put_desc_crc(buf, k, k);
	return dmw_desc_len(nr);
}

static struct dmw_status desc_refuse(const __u8 *buf, __u32 len,
				     struct dmw_cmd c)
{
	struct dmw_desc d;
	struct dmw_status st;

	dmw_decode_desc(buf, len, &c, CAP_SECTORS, 9, GEN, &d, &st);
	return st;
}

/*
 * One descriptor case: a well-formed descriptor of 128 sectors at LBA 0,
 * sequence 42h, changed at byte "at" (size bytes set to val big-endian,
 * or with "xor" the byte XORed with val), handed over as len bytes (0:
 * its own length plus len_delta) after a DESC whose sequence tag is
 * seq_tag (0: 42h).
 */
struct desc_case {
	const char *name;
	unsigned int at, size, xor;
	__u64 val;
	__u32 len;
	int len_delta;
	__u32 seq_tag;
	struct want want;
};

static void test_desc_rejections(void)
{
	static const struct desc_case v[] = {
		{ "well-formed descriptor is accepted", .want = REASON(DMW_R_OK) },
		{ "truncated descriptor header: PARAMETER LIST LENGTH ERROR",
		  .len = DMW_DESC_HDR_LEN - 1,
		  .want = SENSE(DMW_R_DESC_LEN, 5, 0x1a, 0, 0, -1, -1) },
		{ "descriptor missing its last CRC: PARAMETER LIST LENGTH ERROR",
		  .len_delta = -4,
		  .want = SENSE(DMW_R_DESC_LEN, 5, 0x1a, 0, 0, -1, -1) },
		{ "over-long descriptor: PARAMETER LIST LENGTH ERROR",
		  .len_delta = 4,
		  .want = SENSE(DMW_R_DESC_LEN, 5, 0x1a, 0, 0, -1, -1) },
		{ "bad magic: INVALID FIELD IN PARAMETER LIST at byte 0",
		  .at = 0, .xor = 1, .val = 1,
		  .want = SENSE(DMW_R_DESC_FIELD, 5, 0x26, 0, 0, 0, -1) },
		{ "descriptor version 2: pointer at byte 4",
		  .at = DMW_DOFF_VERSION, .size = 1, .val = 2,
		  .want = SENSE(DMW_R_DESC_FIELD, 5, 0x26, 0, 0, 4, -1) },
		{ "reserved descriptor flag: pointer at byte 5 bit 4, C/D 0",
		  .at = DMW_DOFF_FLAGS, .size = 1, .val = 0x10,
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 0, 5, 4) },
		{ "descriptor of 0 sectors: pointer at byte 16",
		  .at = DMW_DOFF_SECTORS, .size = 4, .val = 0,
		  .want = SENSE(DMW_R_DESC_FIELD, 5, 0x26, 0, 0, 16, -1) },
		{ "CRC count disagrees with the length: pointer at byte 20",
		  .at = DMW_DOFF_NR_CRCS, .size = 4, .val = 15,
		  .want = SENSE(DMW_R_DESC_FIELD, 5, 0x26, 0, 0, 20, -1) },
		{ "sequence disagrees with the CDB's tag: pointer at byte 24",
		  .seq_tag = 0x43,
		  .want = SENSE(DMW_R_DESC_FIELD, 5, 0x26, 0, 0, 24, -1) },
		/* the same 16-bit tag */
		{ "full 64-bit generation checked, not only its tag",
		  .at = DMW_DOFF_GEN, .size = 8, .val = GEN + 0x10000,
		  .want = SENSE(DMW_R_GENERATION, 7, 0x27, 0, 0, -1, -1) },
	};
	static __u8 buf[DMW_DESC_MAX_LEN + 64];
	struct dmw_cmd c = desc_cmd(128, 0x42);
	struct dmw_status st;
	struct dmw_desc d;
	unsigned int i, b;
	__u32 len;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		len = desc_prep(buf, 128, 0);
		if (v[i].xor)
			buf[v[i].at] ^= v[i].val;
		else
			for (b = 0; b < v[i].size; b++)
				buf[v[i].at + b] = v[i].val >> (8 * (v[i].size - 1 - b));
		c.seq_tag = v[i].seq_tag ?: 0x42;
		st = desc_refuse(buf, v[i].len ?: len + v[i].len_delta, c);
		ok(status_is(&st, &v[i].want), "%s", v[i].name);
	}
	c.seq_tag = 0x42;
	len = desc_prep(buf, 128, 0);
	buf[7] = 1;
	st = desc_refuse(buf, len, c);
	ok(st.reason == DMW_R_RESERVED && st.field == 7 && !st.in_cdb,
	   "reserved descriptor byte 7 set: pointer at byte 7");

	len = desc_prep(buf, 128, CAP_SECTORS - 127);
	st = desc_refuse(buf, len, c);
	ok(sense_is(&st, DMW_R_LBA_RANGE, 5, 0x21, 0, 0, -1, -1),
	   "descriptor write past the end: LBA OUT OF RANGE");
	len = desc_prep(buf, 128, ~0ULL - 10);
	st = desc_refuse(buf, len, c);
	ok(st.reason == DMW_R_LBA_RANGE,
	   "descriptor LBA + length overflowing 64 bits: LBA OUT OF RANGE");

	len = desc_prep(buf, 128, 0);
	dmw_decode_desc(buf, len, &c, CAP_SECTORS, 9, GEN, &d, &st);
	ok(!dmw_check_crc(&d, 3, 3, &st) && dmw_check_crc(&d, 3, 4, &st) &&
	   sense_is(&st, DMW_R_CRC, 0x0b, 0x10, 0x01, 0, 40 + 12, -1),
	   "CRC mismatch in chunk 3: LOGICAL BLOCK GUARD CHECK FAILED at its slot");
}

static struct dmw_cmd zero_cmd(__u8 type, __u64 lba, __u32 nr, __u8 flags)
{
	struct dmw_cmd c = {
		.type = type, .flags = flags, .gen_tag = GEN_TAG,
		.lba = lba, .nr_sectors = nr,
	};
	return c;
}

static void test_zero_round_trips(void)
{
	static const __u32 lens[] = { 1, 8, 256, 257, 65536, DMW_ZERO_MAX_SECTORS };
	static const __u8 types[] = { DMW_T_DISCARD, DMW_T_WRITE_ZEROES };
	static const char * const names[] = { "discard", "write zeroes" };
	struct dmw_cmd c, out;
	struct dmw_status st;
	unsigned int i, t;
	__u8 cdb[16];

	for (t = 0; t < 2; t++) {
		for (i = 0; i < ARRAY_SIZE(lens); i++) {
			c = zero_cmd(types[t], 2048, lens[i], 0);
			ok(round_trip(&c), "%s round trip, %u sectors", names[t],
			   lens[i]);
		}
		c = zero_cmd(types[t], CAP_SECTORS - 8, 8, 0);
		ok(round_trip(&c), "%s round trip ending at the last sector",
		   names[t]);
		c = zero_cmd(types[t], DMW_ZERO_LBA_LIMIT - 1, 1, 0);
		ok(!dmw_encode_cdb(cdb, &c) && !dmw_decode_cdb(cdb, 16, &out, &st) &&
		   out.lba == DMW_ZERO_LBA_LIMIT - 1 && out.nr_sectors == 1 &&
		   out.type == types[t], "%s at the largest LBA (2^48 - 1) survives",
		   names[t]);
		ok(dmw_data_len(&out) == 0 && !dmw_data_is_out(&out),
		   "%s moves no data", names[t]);
		c = zero_cmd(types[t], DMW_ZERO_LBA_LIMIT, 1, 0);
		ok(dmw_encode_cdb(cdb, &c) == -EINVAL,
		   "%s encode refuses an LBA of 2^48", names[t]);
		c = zero_cmd(types[t], 8, 0, 0);
		ok(dmw_encode_cdb(cdb, &c) == -EINVAL,
		   "%s encode refuses zero length", names[t]);
		c = zero_cmd(types[t], 8, DMW_ZERO_MAX_SECTORS + 1, 0);
		ok(dmw_encode_cdb(cdb, &c) == -EINVAL,
		   "%s encode refuses more than DMW_ZERO_MAX_SECTORS", names[t]);
		c = zero_cmd(types[t], 8, 8, 0x02);
		ok(dmw_encode_cdb(cdb, &c) == -EINVAL,
		   "%s encode refuses flag bit 1", names[t]);
	}
	c = zero_cmd(DMW_T_WRITE_ZEROES, 4096, 64, DMW_F_NOUNMAP);
	ok(round_trip(&c), "write zeroes round trip with NOUNMAP");
	c = zero_cmd(DMW_T_DISCARD, 4096, 64, DMW_F_NOUNMAP);
	ok(dmw_encode_cdb(cdb, &c) == -EINVAL, "discard encode refuses NOUNMAP");

	c = zero_cmd(DMW_T_DISCARD, 0x123456789aULL, 0x1000, 0);
	c.gen_tag = 0x7788;
	c.seq_tag = 0xabcdef;	/* not carried */
	dmw_encode_cdb(cdb, &c);
	ok(!strcmp(hex(cdb), "7f 00 77 88 00 10 00 08 f9 60 00 12 34 56 78 9a"),
	   "DISCARD: tag in 2-3, sectors in 4-6, type 6 in byte 9, LBA in 10-15: %s",
	   hex(cdb));
	c = zero_cmd(DMW_T_WRITE_ZEROES, 8, DMW_ZERO_MAX_SECTORS, DMW_F_NOUNMAP);
	c.gen_tag = 0x0001;
	dmw_encode_cdb(cdb, &c);
	ok(!strcmp(hex(cdb), "7f 00 00 01 40 00 00 08 f9 71 00 00 00 00 00 08"),
	   "WRITE ZEROES NOUNMAP of 2 GiB: byte 9 = 71h: %s", hex(cdb));
	ok(!dmw_decode_cdb(cdb, 16, &out, &st) && out.seq_tag == 0 &&
	   out.flags == DMW_F_NOUNMAP && out.nr_sectors == DMW_ZERO_MAX_SECTORS,
	   "WRITE ZEROES decodes: no sequence tag, NOUNMAP, length");
}

static void test_zero_rejections(void)
{
	const struct refusal v[] = {
		{ "DISCARD with flag bit 0 (NOUNMAP is WRITE ZEROES' only): byte 9 bit 0",
		  zero_cmd(DMW_T_DISCARD, 8, 8, 0), OR(9, 0x01),
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 0) },
		{ "WRITE ZEROES with reserved flag bit 2: byte 9 bit 2",
		  zero_cmd(DMW_T_WRITE_ZEROES, 8, 8, 0), OR(9, 0x04),
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 9, 2) },
		{ "WRITE ZEROES with CONTROL set: byte 1 bit 0",
		  zero_cmd(DMW_T_WRITE_ZEROES, 8, 8, 0), SET(1, 0x01),
		  .want = SENSE(DMW_R_RESERVED, 5, 0x24, 0, 1, 1, 0) },
		{ "DISCARD of 0 sectors: pointer at byte 4",
		  zero_cmd(DMW_T_DISCARD, 8, 8, 0), BE24(4, 0),
		  .want = SENSE(DMW_R_LENGTH, 5, 0x24, 0, 1, 4, -1) },
		{ "DISCARD over 2 GiB: pointer at byte 4",
		  zero_cmd(DMW_T_DISCARD, 8, 8, 0), BE24(4, DMW_ZERO_MAX_SECTORS + 1),
		  .want = SENSE(DMW_R_LENGTH, 5, 0x24, 0, 1, 4, -1) },
		{ "DISCARD of ffffffh sectors: refused",
		  zero_cmd(DMW_T_DISCARD, 8, 8, 0), BE24(4, 0xffffff),
		  .want = REASON(DMW_R_LENGTH) },
		{ "DISCARD ending at the last sector is accepted",
		  zero_cmd(DMW_T_DISCARD, CAP_SECTORS - 8, 8, 0),
		  .want = REASON(DMW_R_OK) },
		{ "DISCARD one sector past the end: LBA OUT OF RANGE",
		  zero_cmd(DMW_T_DISCARD, CAP_SECTORS - 7, 8, 0),
		  .want = SENSE(DMW_R_LBA_RANGE, 5, 0x21, 0, 1, -1, -1) },
		{ "WRITE ZEROES at LBA 2^48 - 1: LBA OUT OF RANGE",
		  zero_cmd(DMW_T_WRITE_ZEROES, DMW_ZERO_LBA_LIMIT - 1,
			   DMW_ZERO_MAX_SECTORS, 0),
		  .want = SENSE(DMW_R_LBA_RANGE, 5, 0x21, 0, 1, -1, -1) },
		{ "WRITE ZEROES of 2 GiB from 2^48 - 1 on a device of 2^64 sectors: accepted",
		  zero_cmd(DMW_T_WRITE_ZEROES, DMW_ZERO_LBA_LIMIT - 1,
			   DMW_ZERO_MAX_SECTORS, 0), .cap = ~0ULL,
		  .want = REASON(DMW_R_OK) },
		{ "DISCARD LBA not on a 4 KiB block: pointer at the LBA (byte 10)",
		  zero_cmd(DMW_T_DISCARD, 9, 8, 0), .lbs_shift = 12,
		  .want = SENSE(DMW_R_ALIGNMENT, 5, 0x24, 0, 1, 10, -1) },
		{ "WRITE ZEROES length not whole 4 KiB blocks: pointer at byte 4",
		  zero_cmd(DMW_T_WRITE_ZEROES, 8, 9, 0), .lbs_shift = 12,
		  .want = SENSE(DMW_R_ALIGNMENT, 5, 0x24, 0, 1, 4, -1) },
		{ "WRITE ZEROES with data-out: pointer at byte 4",
		  zero_cmd(DMW_T_WRITE_ZEROES, 8, 8, 0), .xfer = 512,
		  .want = SENSE(DMW_R_XFER_LEN, 5, 0x24, 0, 1, 4, -1) },
		{ "DISCARD with a stale generation tag: DATA PROTECT / WRITE PROTECTED",
		  gen_tagged(zero_cmd(DMW_T_DISCARD, 8, 8, 0), GEN_TAG ^ 1),
		  .want = SENSE(DMW_R_GENERATION, 7, 0x27, 0, 1, -1, -1) },
	};

	check_refusals(v, ARRAY_SIZE(v));
}

static void test_state_caps(void)
{
	struct dmw_state s = {
		.version = DMW_VERSION, .lbs_shift = 9, .generation = 1,
		.capacity = CAP_SECTORS,
	}, out;
	__u8 buf[DMW_STATE_LEN];

	dmw_encode_state(buf, &s);
	ok(!dmw_decode_state(buf, sizeof(buf), &out) && out.caps == 0 && buf[7] == 0,
	   "a state without capabilities announces none (byte 7 zero)");
	s.caps = DMW_CAP_DISCARD | DMW_CAP_WRITE_ZEROES | 0x80;
	dmw_encode_state(buf, &s);
	ok(buf[7] == 0x03 && !dmw_decode_state(buf, sizeof(buf), &out) &&
	   out.caps == (DMW_CAP_DISCARD | DMW_CAP_WRITE_ZEROES),
	   "capabilities in byte 7: discard, write zeroes; unknown bits dropped");
	buf[7] = 0xff;
	ok(!dmw_decode_state(buf, sizeof(buf), &out) && out.caps == DMW_CAP_MASK,
	   "a newer peer's unknown capability bits are ignored");
	ok(dmw_decode_state(buf, 7, &out) == -EPROTO,
	   "a state of 7 bytes is refused");
	ok(DMW_IRQS_NODATA == 2 && DMW_IRQS_INLINE == 3 && DMW_IRQS_SPLIT == 6,
	   "interrupts: 2 per DISCARD or WRITE ZEROES, 3 per inline, 6 per split write");
}

static void test_peer_state_senses(void)
{
	static const struct {
		struct want want;
		const char *name;
	} v[] = {
		{ SENSE(DMW_R_SEQUENCE, 5, 0x2c, 0, 0, -1, -1),
		  "duplicate tag: COMMAND SEQUENCE ERROR" },
		{ SENSE(DMW_R_RESOURCES, 5, 0x55, 3, 0, -1, -1),
		  "staging full: INSUFFICIENT RESOURCES" },
		{ SENSE(DMW_R_DATA_MISSING, 0x0b, 0x0c, 0, 0, -1, -1),
		  "split data never came: ABORTED COMMAND / WRITE ERROR" },
	};
	struct dmw_status st = { .bit = DMW_NO_BIT };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		st.reason = v[i].want.reason;
		ok(status_is(&st, &v[i].want), "%s", v[i].name);
	}
	ok(dmw_sense_reason(7, 0x27, 0) == DMW_R_GENERATION &&
	   dmw_sense_reason(0x0b, 0x10, 1) == DMW_R_CRC &&
	   dmw_sense_reason(5, 0x21, 0) == DMW_R_LBA_RANGE &&
	   dmw_sense_reason(3, 0x11, 0) == DMW_R_NR,
	   "sense maps back to its reason; foreign sense is not ours");
	{
		unsigned int r, distinct = 1;

		for (r = 1; r < DMW_R_NR; r++)
			if (!strcmp(dmw_reason_name(r), "unknown") ||
			    !dmw_reason_sense(r))
				distinct = 0;
		ok(distinct, "every reason has a name and a sense");
	}
}

/* The oracle's 18 bytes, literally: what the peer must return. */
static void test_sense_bytes(void)
{
	static const struct {
		struct dmw_status st;
		__u8 sense[ORACLE_SENSE_LEN];
		const char *what;
	} v[] = {
		{ { DMW_R_VERSION, 1, 2, DMW_OFF_SA },
		  { 0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0,
		    0x24, 0x00, 0, 0xca, 0x00, 0x08 },
		  "version: ILLEGAL REQUEST, field pointer CDB byte 8 bit 2" },
		{ { DMW_R_LENGTH, 1, DMW_NO_BIT, DMW_OFF_LEN32 },
		  { 0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0,
		    0x24, 0x00, 0, 0xc0, 0x00, 0x0c },
		  "length: field pointer CDB byte 12, no bit" },
		{ { DMW_R_LBA_RANGE, 1, DMW_NO_BIT, DMW_OFF_INL_LBA },
		  { 0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0,
		    0x21, 0x00, 0, 0, 0, 0 },
		  "lba_range: LBA OUT OF RANGE, no field pointer" },
		{ { DMW_R_CRC, 0, DMW_NO_BIT, DMW_DOFF_CRC + 12 },
		  { 0x70, 0, 0x0b, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0,
		    0x10, 0x01, 0, 0x80, 0x00, 0x34 },
		  "crc: field pointer in the parameter data, byte 52" },
		{ { DMW_R_GENERATION, 1, DMW_NO_BIT, DMW_OFF_GEN },
		  { 0x70, 0, 0x07, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0,
		    0x27, 0x00, 0, 0, 0, 0 },
		  "generation: DATA PROTECT / WRITE PROTECTED" },
	};
	__u8 s[ORACLE_SENSE_LEN];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		memset(s, 0xee, sizeof(s));
		ok(oracle_sense(s, &v[i].st) == ORACLE_SENSE_LEN &&
		   !memcmp(s, v[i].sense, sizeof(s)),
		   "sense bytes of %s", v[i].what);
	}
}

int main(void)
{
	printf("TAP version 13\n");
	test_crc();
	test_crc_run();
	test_inline_round_trips();
	test_tags();
	test_split_round_trips();
	test_framing_choice();
	test_desc_round_trip();
	test_state();
	test_cdb_rejections();
	test_claim();
	test_zero_round_trips();
	test_zero_rejections();
	test_state_caps();
	test_desc_rejections();
	test_peer_state_senses();
	test_sense_bytes();
	printf("1..%u\n", tests);
	printf("# %u passed, %u failed\n", tests - failures, failures);
	return failures ? 1 : 0;
}
