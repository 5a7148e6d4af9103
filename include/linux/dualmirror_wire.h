/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dualmirror wire codec: the one implementation that encodes, decodes and
 * validates the messages of the wire format (include/uapi/linux/dualmirror.h,
 * Documentation/dualmirror-protocol.rst), and maps refusals to SCSI sense.
 *
 * Shared by dm-dualmirror.ko (the primary: it encodes commands and decodes
 * the peer's state and sense), by dualmirror_peer.ko (the peer: it decodes
 * and checks commands, encodes its state) and by the host tests, which
 * compile it in userspace against the stand-ins of selftests/host/include/.
 * Every function here is the only copy of its logic.
 */
#ifndef _LINUX_DUALMIRROR_WIRE_H
#define _LINUX_DUALMIRROR_WIRE_H

#include <linux/crc32c.h>
#include <linux/errno.h>
#include <linux/types.h>
#include <asm/unaligned.h>
#include <uapi/linux/dualmirror.h>

#define DMW_NO_BIT		0xff

/**
 * struct dmw_status - outcome of a check, enough to build the sense
 * @reason: enum dmw_reason, DMW_R_OK on success
 * @in_cdb: the field pointer refers to the CDB (1) or to the parameter
 *	data (0)
 * @bit: bit pointer within @field, or DMW_NO_BIT
 * @field: byte offset of the offending field
 */
struct dmw_status {
	u8 reason;
	u8 in_cdb;
	u8 bit;
	u16 field;
};

/**
 * struct dmw_cmd - a decoded mirror CDB, in host byte order
 * @type: enum dmw_type
 * @flags: DMW_F_FUA, DMW_F_PREFLUSH (INLINE), DMW_F_FORCE (CLAIM) or
 *	DMW_F_NOUNMAP (WRITE ZEROES); zero otherwise
 * @gen_tag: low 16 bits of the generation (for CLAIM: of the generation
 *	the claimant last knew; ignored for QUERY and BITMAP)
 * @seq_tag: low 24 bits of the sequence number (ignored for QUERY, CLAIM,
 *	BITMAP, DISCARD, WRITE ZEROES)
 * @lba: first sector (INLINE, DISCARD, WRITE ZEROES); the chunk index
 *	(BITMAP: byte offset @lba * DMW_BITMAP_CHUNK of the bitmap)
 * @nr_sectors: sectors of data (INLINE, SPLIT DATA), or of the range
 *	(DISCARD, WRITE ZEROES)
 * @param_len: parameter list length (SPLIT DESC) or allocation length
 *	(QUERY, CLAIM, BITMAP)
 */
struct dmw_cmd {
	u8 type;
	u8 flags;
	u16 gen_tag;
	u32 seq_tag;
	u64 lba;
	u32 nr_sectors;
	u32 param_len;
};

/**
 * struct dmw_desc - a decoded split descriptor, in host byte order
 * @flags: DMW_F_*
 * @nr_crcs: number of CRC32C values, one per 4 KiB chunk
 * @nr_sectors: sectors of data
 * @lba: first sector
 * @seq: full 64-bit sequence number
 * @generation: full 64-bit generation
 * @crcs: the big-endian CRC array inside the buffer that was decoded
 */
struct dmw_desc {
	u8 flags;
	u32 nr_crcs;
	u32 nr_sectors;
	u64 lba;
	u64 seq;
	u64 generation;
	const u8 *crcs;
};

/**
 * struct dmw_state - the peer's state, returned by QUERY and CLAIM
 * @version: protocol version the peer speaks
 * @lbs_shift: log2 of the peer's logical block size
 * @generation: current generation
 * @capacity: capacity in sectors
 * @max_split: largest SPLIT DATA the peer accepts, in sectors
 * @staging_kib: staging memory for split data, in KiB
 * @flags: DMW_SF_*
 * @caps: DMW_CAP_*: what the peer executes besides writes; bits this code
 *	does not know are dropped on both sides (a newer peer's are ignored)
 * @bm_regions: bits in the suspect bitmap BITMAP reads (0: none)
 * @bm_shift: log2 of its region size in sectors
 */
struct dmw_state {
	u8 version;
	u8 lbs_shift;
	u8 flags;
	u8 caps;
	u64 generation;
	u64 capacity;
	u32 max_split;
	u32 staging_kib;
	u64 bm_regions;
	u8 bm_shift;
};

/*
 * The 40-bit LBA of an INLINE CDB, big-endian: its high byte, then a
 * 32-bit word.
 */
static inline u64 dmw_get_be40(const u8 *p)
{
	return (u64)p[0] << 32 | get_unaligned_be32(p + 1);
}

static inline void dmw_put_be40(u64 val, u8 *p)
{
	p[0] = val >> 32;
	put_unaligned_be32(val, p + 1);
}

/* CRC-32C (Castagnoli), as in iSCSI digests: init ~0, final xor ~0. */
static inline u32 dmw_crc32c_update(u32 crc, const void *p, size_t len)
{
	return crc32c(crc, p, len);
}

#define DMW_CRC_INIT		0xffffffffU

static inline u32 dmw_crc32c_final(u32 crc)
{
	return ~crc;
}

/* CRC-32C of one buffer. */
static inline u32 dmw_crc32c(const void *p, size_t len)
{
	return dmw_crc32c_final(dmw_crc32c_update(DMW_CRC_INIT, p, len));
}

static inline const char *dmw_reason_name(unsigned int reason)
{
	static const char * const names[DMW_R_NR] = {
		[DMW_R_OK] = "ok",
		[DMW_R_OPCODE] = "opcode",
		[DMW_R_CDB_LEN] = "cdb_length",
		[DMW_R_SERVICE_ACTION] = "service_action",
		[DMW_R_VERSION] = "version",
		[DMW_R_RESERVED] = "reserved",
		[DMW_R_LENGTH] = "length",
		[DMW_R_LBA_RANGE] = "lba_range",
		[DMW_R_ALIGNMENT] = "alignment",
		[DMW_R_XFER_LEN] = "transfer_length",
		[DMW_R_DESC_LEN] = "descriptor_length",
		[DMW_R_DESC_FIELD] = "descriptor_field",
		[DMW_R_CRC] = "crc",
		[DMW_R_GENERATION] = "generation",
		[DMW_R_SEQUENCE] = "sequence",
		[DMW_R_RESOURCES] = "resources",
		[DMW_R_DATA_MISSING] = "data_missing",
	};

	return reason < DMW_R_NR ? names[reason] : "unknown";
}

/**
 * dmw_reason_sense - the sense key, ASC and ASCQ of a refusal
 * @reason: enum dmw_reason
 *
 * Return: key << 16 | asc << 8 | ascq; 0 for DMW_R_OK.
 */
static inline u32 dmw_reason_sense(unsigned int reason)
{
	static const u32 sense[DMW_R_NR] = {
		[DMW_R_OPCODE] = 0x052000,
		[DMW_R_CDB_LEN] = 0x052400,
		[DMW_R_SERVICE_ACTION] = 0x052400,
		[DMW_R_VERSION] = 0x052400,
		[DMW_R_RESERVED] = 0x052400,
		[DMW_R_LENGTH] = 0x052400,
		[DMW_R_LBA_RANGE] = 0x052100,
		[DMW_R_ALIGNMENT] = 0x052400,
		[DMW_R_XFER_LEN] = 0x052400,
		[DMW_R_DESC_LEN] = 0x051a00,
		[DMW_R_DESC_FIELD] = 0x052600,
		[DMW_R_CRC] = 0x0b1001,
		[DMW_R_GENERATION] = 0x072700,
		[DMW_R_SEQUENCE] = 0x052c00,
		[DMW_R_RESOURCES] = 0x055503,
		[DMW_R_DATA_MISSING] = 0x0b0c00,
	};

	return reason < DMW_R_NR ? sense[reason] : 0x0b0000;
}

/* Reasons whose sense carries a field pointer (sense-key specific). */
static inline int dmw_reason_has_field(unsigned int reason)
{
	switch (reason) {
	case DMW_R_CDB_LEN:
	case DMW_R_SERVICE_ACTION:
	case DMW_R_VERSION:
	case DMW_R_RESERVED:
	case DMW_R_LENGTH:
	case DMW_R_ALIGNMENT:
	case DMW_R_XFER_LEN:
	case DMW_R_DESC_FIELD:
	case DMW_R_CRC:
		return 1;
	default:
		return 0;
	}
}

/**
 * dmw_sense_reason - map a sense key/ASC/ASCQ back to a reason
 * @key: sense key
 * @asc: additional sense code
 * @ascq: additional sense code qualifier
 *
 * Several reasons share INVALID FIELD IN CDB; they map to DMW_R_RESERVED
 * unless told apart by the caller from the field pointer.
 *
 * Return: the reason, or DMW_R_NR if the sense is not one of ours.
 */
static inline unsigned int dmw_sense_reason(u8 key, u8 asc, u8 ascq)
{
	u32 s = (u32)key << 16 | (u32)asc << 8 | ascq;
	unsigned int r;

	if (s == 0x052400)
		return DMW_R_RESERVED;
	for (r = DMW_R_OPCODE; r < DMW_R_NR; r++)
		if (dmw_reason_sense(r) == s)
			return r;
	return DMW_R_NR;
}

static inline int dmw_fail(struct dmw_status *st, unsigned int reason,
			   int in_cdb, unsigned int field, unsigned int bit)
{
	st->reason = reason;
	st->in_cdb = in_cdb;
	st->field = field;
	st->bit = bit;
	return -EINVAL;
}

static inline int dmw_ok(struct dmw_status *st)
{
	dmw_fail(st, DMW_R_OK, 0, 0, DMW_NO_BIT);
	return 0;
}

/**
 * dmw_use_inline - choose the framing of a write (claims 2, 3 and 10)
 * @lba: first sector
 * @nr_sectors: length in sectors
 * @inline_max: inline threshold in bytes; 0 means "always split"
 *
 * The 40-bit LBA field holds the first sector; the write may end beyond
 * 2^40 sectors on a device that large.
 *
 * Return: 1 if the write fits one inline CDB, 0 if it must be split.
 */
static inline int dmw_use_inline(u64 lba, u32 nr_sectors,
				 u32 inline_max)
{
	return nr_sectors &&
	       nr_sectors <= DMW_INLINE_MAX_SECTORS &&
	       ((u64)nr_sectors << DMW_SECTOR_SHIFT) <= inline_max &&
	       lba < DMW_INLINE_LBA_LIMIT;
}

/* Is @type a command without data that changes a range (DISCARD, WRITE ZEROES)? */
static inline int dmw_type_is_zero(unsigned int type)
{
	return type == DMW_T_DISCARD || type == DMW_T_WRITE_ZEROES;
}

/* The flags a DISCARD or WRITE ZEROES may carry. */
static inline u8 dmw_zero_flags(unsigned int type)
{
	return type == DMW_T_WRITE_ZEROES ? DMW_F_ZEROES_MASK : 0;
}

static inline void dmw_encode_common(u8 *cdb, const struct dmw_cmd *c,
				     u8 low_nibble)
{
	unsigned int i;

	for (i = 0; i < DMW_CDB_LEN; i++)
		cdb[i] = 0;
	cdb[0] = DMW_OPCODE;
	cdb[DMW_OFF_ADDL_LEN] = DMW_ADDL_CDB_LEN;
	cdb[DMW_OFF_SA] = DMW_SA_VENDOR | DMW_VERSION;
	cdb[DMW_OFF_TYPE] = (c->type << 4) | low_nibble;
}

/**
 * dmw_encode_cdb - encode one mirror command
 * @cdb: 16-byte buffer
 * @c: the command; tags are truncated to their field width
 *
 * Return: 0, or -EINVAL if a field does not fit its type's format.
 */
static inline int dmw_encode_cdb(u8 *cdb, const struct dmw_cmd *c)
{
	switch (c->type) {
	case DMW_T_INLINE:
		if (!dmw_use_inline(c->lba, c->nr_sectors, DMW_INLINE_MAX_BYTES) ||
		    (c->flags & ~DMW_F_WRITE_MASK))
			return -EINVAL;
		dmw_encode_common(cdb, c, c->flags);
		cdb[DMW_OFF_INL_LEN] = c->nr_sectors - 1;
		dmw_put_be40(c->lba, &cdb[DMW_OFF_INL_LBA]);
		break;
	case DMW_T_SPLIT_DATA:
		if (!c->nr_sectors || c->nr_sectors > DMW_SPLIT_MAX_SECTORS)
			return -EINVAL;
		dmw_encode_common(cdb, c, 0);
		put_unaligned_be32(c->nr_sectors, &cdb[DMW_OFF_LEN32]);
		break;
	case DMW_T_SPLIT_DESC:
		if (c->param_len < DMW_DESC_HDR_LEN ||
		    c->param_len > DMW_DESC_MAX_LEN)
			return -EINVAL;
		dmw_encode_common(cdb, c, 0);
		put_unaligned_be32(c->param_len, &cdb[DMW_OFF_LEN32]);
		break;
	case DMW_T_QUERY:
		dmw_encode_common(cdb, c, 0);
		put_unaligned_be32(c->param_len, &cdb[DMW_OFF_LEN32]);
		return 0;	/* no tags */
	case DMW_T_BITMAP:
		if (c->lba > 0xffff || c->param_len > DMW_BITMAP_CHUNK)
			return -EINVAL;
		dmw_encode_common(cdb, c, 0);
		put_unaligned_be16(c->lba, &cdb[DMW_OFF_CHUNK]);
		put_unaligned_be32(c->param_len, &cdb[DMW_OFF_LEN32]);
		return 0;	/* no tags */
	case DMW_T_CLAIM:
		if (c->flags & ~DMW_F_CLAIM_MASK)
			return -EINVAL;
		dmw_encode_common(cdb, c, c->flags);
		put_unaligned_be32(c->param_len, &cdb[DMW_OFF_LEN32]);
		put_unaligned_be16(c->gen_tag, &cdb[DMW_OFF_GEN]);
		return 0;	/* no sequence tag */
	case DMW_T_DISCARD:
	case DMW_T_WRITE_ZEROES:
		if (!c->nr_sectors || c->nr_sectors > DMW_ZERO_MAX_SECTORS ||
		    c->lba >= DMW_ZERO_LBA_LIMIT ||
		    (c->flags & ~dmw_zero_flags(c->type)))
			return -EINVAL;
		dmw_encode_common(cdb, c, c->flags);
		put_unaligned_be16(c->gen_tag, &cdb[DMW_OFF_GEN]);
		put_unaligned_be24(c->nr_sectors, &cdb[DMW_OFF_ZERO_LEN]);
		put_unaligned_be48(c->lba, &cdb[DMW_OFF_ZERO_LBA]);
		return 0;	/* the length takes the sequence tag's place */
	default:
		return -EINVAL;
	}
	put_unaligned_be16(c->gen_tag, &cdb[DMW_OFF_GEN]);
	put_unaligned_be24(c->seq_tag & DMW_SEQ_TAG_MASK, &cdb[DMW_OFF_SEQ]);
	return 0;
}

/* First non-zero bit of a reserved area, as a field/bit pointer. */
static inline int dmw_check_zero(const u8 *p, unsigned int off,
				 unsigned int n, u8 mask, int in_cdb,
				 struct dmw_status *st)
{
	unsigned int i;
	int b;

	for (i = off; i < off + n; i++) {
		u8 v = p[i] & mask;

		if (!v)
			continue;
		for (b = 7; b > 0 && !(v & (1U << b)); b--)
			;
		return dmw_fail(st, DMW_R_RESERVED, in_cdb, i, b);
	}
	return 0;
}

/**
 * dmw_decode_cdb - decode and structurally validate one mirror command
 * @cdb: the CDB
 * @len: how many CDB bytes were delivered
 * @c: decoded command, valid when 0 is returned
 * @st: why the CDB was refused
 *
 * Checks everything the CDB alone can tell: operation code, length,
 * service action, version, type, reserved bits and flags, length ranges.
 * Checks that need the device or the data are in dmw_check_cmd().
 *
 * Return: 0 or -EINVAL with @st filled in.
 */
static inline int dmw_decode_cdb(const u8 *cdb, unsigned int len,
				 struct dmw_cmd *c, struct dmw_status *st)
{
	u8 low;

	if (len < 1 || cdb[0] != DMW_OPCODE)
		return dmw_fail(st, DMW_R_OPCODE, 1, 0, DMW_NO_BIT);
	if (len < DMW_CDB_LEN || cdb[DMW_OFF_ADDL_LEN] != DMW_ADDL_CDB_LEN)
		return dmw_fail(st, DMW_R_CDB_LEN, 1, DMW_OFF_ADDL_LEN, DMW_NO_BIT);
	if ((cdb[DMW_OFF_SA] & DMW_SA_VENDOR_MASK) != DMW_SA_VENDOR)
		return dmw_fail(st, DMW_R_SERVICE_ACTION, 1, DMW_OFF_SA, DMW_NO_BIT);
	if ((cdb[DMW_OFF_SA] & DMW_VERSION_MASK) != DMW_VERSION)
		return dmw_fail(st, DMW_R_VERSION, 1, DMW_OFF_SA, 2);
	if (dmw_check_zero(cdb, DMW_OFF_CONTROL, 1, 0xff, 1, st))
		return -EINVAL;

	c->type = cdb[DMW_OFF_TYPE] >> 4;
	low = cdb[DMW_OFF_TYPE] & 0x0f;
	c->flags = 0;
	c->gen_tag = get_unaligned_be16(&cdb[DMW_OFF_GEN]);
	c->seq_tag = get_unaligned_be24(&cdb[DMW_OFF_SEQ]);
	c->lba = 0;
	c->nr_sectors = 0;
	c->param_len = 0;

	switch (c->type) {
	case DMW_T_INLINE:
		if (dmw_check_zero(cdb, DMW_OFF_TYPE, 1, 0x0f & ~DMW_F_WRITE_MASK,
				   1, st))
			return -EINVAL;
		c->flags = low;
		c->nr_sectors = cdb[DMW_OFF_INL_LEN] + 1;
		c->lba = dmw_get_be40(&cdb[DMW_OFF_INL_LBA]);
		return dmw_ok(st);
	case DMW_T_DISCARD:
	case DMW_T_WRITE_ZEROES:
		if (dmw_check_zero(cdb, DMW_OFF_TYPE, 1,
				   0x0f & ~dmw_zero_flags(c->type), 1, st))
			return -EINVAL;
		c->flags = low;
		c->seq_tag = 0;
		c->nr_sectors = get_unaligned_be24(&cdb[DMW_OFF_ZERO_LEN]);
		c->lba = get_unaligned_be48(&cdb[DMW_OFF_ZERO_LBA]);
		if (!c->nr_sectors || c->nr_sectors > DMW_ZERO_MAX_SECTORS)
			return dmw_fail(st, DMW_R_LENGTH, 1, DMW_OFF_ZERO_LEN,
					DMW_NO_BIT);
		return dmw_ok(st);
	case DMW_T_SPLIT_DATA:
	case DMW_T_SPLIT_DESC:
	case DMW_T_QUERY:
	case DMW_T_CLAIM:
	case DMW_T_BITMAP:
		break;
	default:
		return dmw_fail(st, DMW_R_SERVICE_ACTION, 1, DMW_OFF_TYPE, 7);
	}

	if (dmw_check_zero(cdb, DMW_OFF_TYPE, 1,
			   c->type == DMW_T_CLAIM ? 0x0f & ~DMW_F_CLAIM_MASK : 0x0f,
			   1, st) ||
	    (c->type != DMW_T_BITMAP &&
	     dmw_check_zero(cdb, DMW_OFF_RSVD, 2, 0xff, 1, st)))
		return -EINVAL;
	if ((c->type == DMW_T_QUERY || c->type == DMW_T_BITMAP) &&
	    dmw_check_zero(cdb, DMW_OFF_GEN, 5, 0xff, 1, st))
		return -EINVAL;
	if (c->type == DMW_T_CLAIM) {
		if (dmw_check_zero(cdb, DMW_OFF_SEQ, 3, 0xff, 1, st))
			return -EINVAL;
		c->flags = low;
	}

	switch (c->type) {
	case DMW_T_SPLIT_DATA:
		c->nr_sectors = get_unaligned_be32(&cdb[DMW_OFF_LEN32]);
		if (!c->nr_sectors || c->nr_sectors > DMW_SPLIT_MAX_SECTORS)
			return dmw_fail(st, DMW_R_LENGTH, 1, DMW_OFF_LEN32,
					DMW_NO_BIT);
		break;
	case DMW_T_SPLIT_DESC:
		c->param_len = get_unaligned_be32(&cdb[DMW_OFF_LEN32]);
		if (c->param_len < DMW_DESC_HDR_LEN ||
		    c->param_len > DMW_DESC_MAX_LEN)
			return dmw_fail(st, DMW_R_LENGTH, 1, DMW_OFF_LEN32,
					DMW_NO_BIT);
		break;
	case DMW_T_BITMAP:
		c->lba = get_unaligned_be16(&cdb[DMW_OFF_CHUNK]);
		c->param_len = get_unaligned_be32(&cdb[DMW_OFF_LEN32]);
		if (c->param_len > DMW_BITMAP_CHUNK)
			return dmw_fail(st, DMW_R_LENGTH, 1, DMW_OFF_LEN32,
					DMW_NO_BIT);
		break;
	default:
		c->param_len = get_unaligned_be32(&cdb[DMW_OFF_LEN32]);
		break;
	}
	return dmw_ok(st);
}

/**
 * dmw_data_len - bytes of data the command transfers
 * @c: decoded command
 *
 * Data-out for INLINE, SPLIT DATA and SPLIT DESC; data-in (at most this
 * much) for QUERY and CLAIM; none for DISCARD and WRITE ZEROES.
 *
 * Return: the length in bytes, 0 for none.
 */
static inline u32 dmw_data_len(const struct dmw_cmd *c)
{
	switch (c->type) {
	case DMW_T_INLINE:
	case DMW_T_SPLIT_DATA:
		return c->nr_sectors << DMW_SECTOR_SHIFT;
	case DMW_T_DISCARD:
	case DMW_T_WRITE_ZEROES:
		return 0;
	default:
		return c->param_len;
	}
}

static inline int dmw_data_is_out(const struct dmw_cmd *c)
{
	return c->type <= DMW_T_SPLIT_DESC;
}

/*
 * Range and alignment of a write of @nr sectors at @lba on a device of
 * @capacity sectors with logical blocks of 1 << @lbs_shift bytes.  The
 * field pointers are those of @lba_off and @len_off in the CDB or the
 * descriptor.
 */
static inline int dmw_check_range(u64 lba, u32 nr, u64 capacity,
				  unsigned int lbs_shift, int in_cdb,
				  unsigned int lba_off, unsigned int len_off,
				  struct dmw_status *st)
{
	u64 lbs_mask = (1ULL << (lbs_shift - DMW_SECTOR_SHIFT)) - 1;

	if (lba > capacity || nr > capacity - lba)
		return dmw_fail(st, DMW_R_LBA_RANGE, in_cdb, lba_off, DMW_NO_BIT);
	if (lba & lbs_mask)
		return dmw_fail(st, DMW_R_ALIGNMENT, in_cdb, lba_off, DMW_NO_BIT);
	if (nr & lbs_mask)
		return dmw_fail(st, DMW_R_ALIGNMENT, in_cdb, len_off, DMW_NO_BIT);
	return 0;
}

/**
 * dmw_check_cmd - validate a decoded command against the device
 * @c: decoded command
 * @xfer_len: bytes of data the transport announced for the command
 * @capacity: device capacity in sectors
 * @lbs_shift: log2 of the logical block size (9 to 12)
 * @generation: the peer's current generation
 * @st: why the command was refused
 *
 * A write whose generation tag is not the peer's is refused with
 * DMW_R_GENERATION, and so is a CLAIM without DMW_F_FORCE: a CLAIM's tag
 * is the generation its sender last knew, so only the primary that holds
 * the current generation (or, on a disk never claimed, generation 0) takes
 * it over without force.  QUERY is always accepted.  DISCARD and WRITE
 * ZEROES move no data (@xfer_len must be 0) and are checked like an
 * INLINE write: generation tag, range and alignment.
 *
 * Return: 0 or -EINVAL with @st filled in.
 */
static inline int dmw_check_cmd(const struct dmw_cmd *c, u32 xfer_len,
				u64 capacity, unsigned int lbs_shift,
				u64 generation, struct dmw_status *st)
{
	unsigned int len_off = c->type == DMW_T_INLINE ? DMW_OFF_INL_LEN :
			       dmw_type_is_zero(c->type) ? DMW_OFF_ZERO_LEN :
			       DMW_OFF_LEN32;

	if (c->type == DMW_T_CLAIM && !(c->flags & DMW_F_FORCE) &&
	    c->gen_tag != (generation & DMW_GEN_TAG_MASK))
		return dmw_fail(st, DMW_R_GENERATION, 1, DMW_OFF_GEN, DMW_NO_BIT);
	if (c->type == DMW_T_QUERY || c->type == DMW_T_CLAIM ||
	    c->type == DMW_T_BITMAP)
		return dmw_ok(st);
	if (xfer_len != dmw_data_len(c))
		return dmw_fail(st, DMW_R_XFER_LEN, 1, len_off, DMW_NO_BIT);
	if (c->gen_tag != (generation & DMW_GEN_TAG_MASK))
		return dmw_fail(st, DMW_R_GENERATION, 1, DMW_OFF_GEN, DMW_NO_BIT);
	if (c->type == DMW_T_INLINE &&
	    dmw_check_range(c->lba, c->nr_sectors, capacity, lbs_shift, 1,
			    DMW_OFF_INL_LBA, DMW_OFF_INL_LEN, st))
		return -EINVAL;
	if (dmw_type_is_zero(c->type) &&
	    dmw_check_range(c->lba, c->nr_sectors, capacity, lbs_shift, 1,
			    DMW_OFF_ZERO_LBA, DMW_OFF_ZERO_LEN, st))
		return -EINVAL;
	return dmw_ok(st);
}

/* Descriptor length for @nr_sectors of data. */
static inline u32 dmw_desc_nr_crcs(u32 nr_sectors)
{
	return (((u64)nr_sectors << DMW_SECTOR_SHIFT) + DMW_CHUNK_SIZE - 1) >>
	       DMW_CHUNK_SHIFT;
}

static inline u32 dmw_desc_len(u32 nr_sectors)
{
	return DMW_DESC_HDR_LEN + 4 * dmw_desc_nr_crcs(nr_sectors);
}

/**
 * dmw_encode_desc_hdr - write a split descriptor's header
 * @buf: at least dmw_desc_len(@d->nr_sectors) bytes
 * @d: the descriptor; @d->nr_crcs and @d->crcs are ignored
 *
 * The caller then stores the CRCs with dmw_put_desc_crc().
 */
static inline void dmw_encode_desc_hdr(u8 *buf, const struct dmw_desc *d)
{
	put_unaligned_be32(DMW_DESC_MAGIC, &buf[DMW_DOFF_MAGIC]);
	buf[DMW_DOFF_VERSION] = DMW_VERSION;
	buf[DMW_DOFF_FLAGS] = d->flags;
	put_unaligned_be16(0, &buf[DMW_DOFF_RSVD]);
	put_unaligned_be64(d->lba, &buf[DMW_DOFF_LBA]);
	put_unaligned_be32(d->nr_sectors, &buf[DMW_DOFF_SECTORS]);
	put_unaligned_be32(dmw_desc_nr_crcs(d->nr_sectors),
			   &buf[DMW_DOFF_NR_CRCS]);
	put_unaligned_be64(d->seq, &buf[DMW_DOFF_SEQ]);
	put_unaligned_be64(d->generation, &buf[DMW_DOFF_GEN]);
}

static inline void dmw_put_desc_crc(u8 *buf, u32 i, u32 crc)
{
	put_unaligned_be32(crc, &buf[DMW_DOFF_CRC + 4 * i]);
}

static inline u32 dmw_desc_crc(const struct dmw_desc *d, u32 i)
{
	return get_unaligned_be32(&d->crcs[4 * i]);
}

/**
 * dmw_decode_desc - decode and validate a split descriptor
 * @buf: the parameter data
 * @len: its length
 * @c: the SPLIT DESC command that carried it
 * @capacity: device capacity in sectors
 * @lbs_shift: log2 of the logical block size
 * @generation: the peer's current generation
 * @d: decoded descriptor, valid when 0 is returned
 * @st: why the descriptor was refused (field pointers into @buf)
 *
 * Return: 0 or -EINVAL with @st filled in.
 */
static inline int dmw_decode_desc(const u8 *buf, u32 len,
				  const struct dmw_cmd *c, u64 capacity,
				  unsigned int lbs_shift, u64 generation,
				  struct dmw_desc *d, struct dmw_status *st)
{
	if (len < DMW_DESC_HDR_LEN)
		return dmw_fail(st, DMW_R_DESC_LEN, 0, 0, DMW_NO_BIT);
	if (get_unaligned_be32(&buf[DMW_DOFF_MAGIC]) != DMW_DESC_MAGIC)
		return dmw_fail(st, DMW_R_DESC_FIELD, 0, DMW_DOFF_MAGIC, DMW_NO_BIT);
	if (buf[DMW_DOFF_VERSION] != DMW_VERSION)
		return dmw_fail(st, DMW_R_DESC_FIELD, 0, DMW_DOFF_VERSION,
				DMW_NO_BIT);
	if (dmw_check_zero(buf, DMW_DOFF_FLAGS, 1, (u8)~DMW_F_WRITE_MASK, 0, st) ||
	    dmw_check_zero(buf, DMW_DOFF_RSVD, 2, 0xff, 0, st))
		return -EINVAL;

	d->flags = buf[DMW_DOFF_FLAGS];
	d->lba = get_unaligned_be64(&buf[DMW_DOFF_LBA]);
	d->nr_sectors = get_unaligned_be32(&buf[DMW_DOFF_SECTORS]);
	d->nr_crcs = get_unaligned_be32(&buf[DMW_DOFF_NR_CRCS]);
	d->seq = get_unaligned_be64(&buf[DMW_DOFF_SEQ]);
	d->generation = get_unaligned_be64(&buf[DMW_DOFF_GEN]);
	d->crcs = &buf[DMW_DOFF_CRC];

	if (!d->nr_sectors || d->nr_sectors > DMW_SPLIT_MAX_SECTORS)
		return dmw_fail(st, DMW_R_DESC_FIELD, 0, DMW_DOFF_SECTORS,
				DMW_NO_BIT);
	if (d->nr_crcs != dmw_desc_nr_crcs(d->nr_sectors))
		return dmw_fail(st, DMW_R_DESC_FIELD, 0, DMW_DOFF_NR_CRCS,
				DMW_NO_BIT);
	if (len != dmw_desc_len(d->nr_sectors))
		return dmw_fail(st, DMW_R_DESC_LEN, 0, 0, DMW_NO_BIT);
	if ((d->seq & DMW_SEQ_TAG_MASK) != c->seq_tag)
		return dmw_fail(st, DMW_R_DESC_FIELD, 0, DMW_DOFF_SEQ, DMW_NO_BIT);
	if (d->generation != generation ||
	    (d->generation & DMW_GEN_TAG_MASK) != c->gen_tag)
		return dmw_fail(st, DMW_R_GENERATION, 0, DMW_DOFF_GEN, DMW_NO_BIT);
	if (dmw_check_range(d->lba, d->nr_sectors, capacity, lbs_shift, 0,
			    DMW_DOFF_LBA, DMW_DOFF_SECTORS, st))
		return -EINVAL;
	return dmw_ok(st);
}

/**
 * dmw_check_crc - compare one chunk's CRC with the descriptor
 * @d: decoded descriptor
 * @i: chunk index
 * @crc: CRC-32C the receiver computed over the chunk
 * @st: set to DMW_R_CRC with a pointer at the descriptor's CRC slot
 *
 * Return: 0 or -EINVAL.
 */
static inline int dmw_check_crc(const struct dmw_desc *d, u32 i, u32 crc,
				struct dmw_status *st)
{
	if (dmw_desc_crc(d, i) != crc)
		return dmw_fail(st, DMW_R_CRC, 0, DMW_DOFF_CRC + 4 * i, DMW_NO_BIT);
	return 0;
}

/* Bytes of chunk @i of a write of @nr_sectors. */
static inline u32 dmw_chunk_len(u32 nr_sectors, u32 i)
{
	u32 bytes = nr_sectors << DMW_SECTOR_SHIFT;
	u32 off = i << DMW_CHUNK_SHIFT;

	return bytes - off < DMW_CHUNK_SIZE ? bytes - off : DMW_CHUNK_SIZE;
}

/**
 * struct dmw_crc_run - the CRC-32C of each chunk of a split write's data,
 *	over bytes that come in pieces of any length (pages, bio_vecs)
 * @crc: running CRC of the current chunk
 * @done: bytes of the current chunk fed so far
 * @chunk: index of the current chunk
 *
 * The sender computes a descriptor's CRCs and the peer checks them with
 * the same run: dmw_crc_run_init(), dmw_crc_run_feed() for each piece in
 * the order of the data, then dmw_crc_run_end() for a last chunk shorter
 * than DMW_CHUNK_SIZE.  Owned by its caller; no locking.
 */
struct dmw_crc_run {
	u32 crc;
	u32 done;
	u32 chunk;
};

static inline void dmw_crc_run_init(struct dmw_crc_run *r)
{
	r->crc = DMW_CRC_INIT;
	r->done = 0;
	r->chunk = 0;
}

/**
 * dmw_crc_run_feed - the next piece of the data
 * @r: the run
 * @p: the piece's bytes
 * @len: their number
 * @fn: called with each chunk's index and CRC as the chunk completes
 * @arg: @fn's first argument
 *
 * Return: 0, or the first non-zero value @fn returned (the run stops).
 */
static inline int dmw_crc_run_feed(struct dmw_crc_run *r, const u8 *p,
				   u32 len,
				   int (*fn)(void *arg, u32 chunk, u32 crc),
				   void *arg)
{
	while (len) {
		u32 n = DMW_CHUNK_SIZE - r->done;
		int ret;

		if (n > len)
			n = len;
		r->crc = dmw_crc32c_update(r->crc, p, n);
		p += n;
		len -= n;
		r->done += n;
		if (r->done < DMW_CHUNK_SIZE)
			break;
		ret = fn(arg, r->chunk++, dmw_crc32c_final(r->crc));
		r->crc = DMW_CRC_INIT;
		r->done = 0;
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * dmw_crc_run_end - the end of the data: complete a partial last chunk
 * @r: the run; @r->chunk is then the number of chunks
 * @fn: as for dmw_crc_run_feed()
 * @arg: as for dmw_crc_run_feed()
 *
 * Return: as dmw_crc_run_feed().
 */
static inline int dmw_crc_run_end(struct dmw_crc_run *r,
				  int (*fn)(void *arg, u32 chunk, u32 crc),
				  void *arg)
{
	u32 crc;

	if (!r->done)
		return 0;
	crc = dmw_crc32c_final(r->crc);
	r->crc = DMW_CRC_INIT;
	r->done = 0;
	return fn(arg, r->chunk++, crc);
}

/**
 * dmw_encode_state - the data-in of QUERY and CLAIM
 * @buf: DMW_STATE_LEN bytes
 * @s: the state
 */
static inline void dmw_encode_state(u8 *buf, const struct dmw_state *s)
{
	unsigned int i;

	for (i = 0; i < DMW_STATE_LEN; i++)
		buf[i] = 0;
	put_unaligned_be32(DMW_STATE_MAGIC, &buf[DMW_SOFF_MAGIC]);
	buf[DMW_SOFF_VERSION] = s->version;
	buf[DMW_SOFF_LBS_SHIFT] = s->lbs_shift;
	buf[DMW_SOFF_FLAGS] = s->flags;
	buf[DMW_SOFF_CAPS] = s->caps & DMW_CAP_MASK;
	put_unaligned_be64(s->generation, &buf[DMW_SOFF_GEN]);
	put_unaligned_be64(s->capacity, &buf[DMW_SOFF_CAPACITY]);
	put_unaligned_be32(s->max_split, &buf[DMW_SOFF_MAX_SPLIT]);
	put_unaligned_be32(s->staging_kib, &buf[DMW_SOFF_STAGING]);
	put_unaligned_be64(s->bm_regions, &buf[DMW_SOFF_BM_REGIONS]);
	buf[DMW_SOFF_BM_SHIFT] = s->bm_shift;
}

/**
 * dmw_decode_state - parse the data-in of QUERY and CLAIM
 * @buf: the data
 * @len: bytes received
 * @s: the state
 *
 * Return: 0, or -EPROTO if the data is not a version this code speaks.
 */
static inline int dmw_decode_state(const u8 *buf, u32 len,
				   struct dmw_state *s)
{
	if (len < DMW_STATE_LEN ||
	    get_unaligned_be32(&buf[DMW_SOFF_MAGIC]) != DMW_STATE_MAGIC ||
	    buf[DMW_SOFF_VERSION] != DMW_VERSION)
		return -EPROTO;
	s->version = buf[DMW_SOFF_VERSION];
	s->lbs_shift = buf[DMW_SOFF_LBS_SHIFT];
	s->flags = buf[DMW_SOFF_FLAGS];
	s->caps = buf[DMW_SOFF_CAPS] & DMW_CAP_MASK;
	s->generation = get_unaligned_be64(&buf[DMW_SOFF_GEN]);
	s->capacity = get_unaligned_be64(&buf[DMW_SOFF_CAPACITY]);
	s->max_split = get_unaligned_be32(&buf[DMW_SOFF_MAX_SPLIT]);
	s->staging_kib = get_unaligned_be32(&buf[DMW_SOFF_STAGING]);
	s->bm_regions = get_unaligned_be64(&buf[DMW_SOFF_BM_REGIONS]);
	s->bm_shift = buf[DMW_SOFF_BM_SHIFT];
	if (s->lbs_shift < DMW_SECTOR_SHIFT || s->lbs_shift > DMW_CHUNK_SHIFT ||
	    (s->flags & ~DMW_SF_MASK))
		return -EPROTO;
	/* the bitmap's bytes fit the 16-bit chunk index */
	if (s->bm_regions &&
	    (s->bm_shift < DMW_BM_SHIFT_MIN || s->bm_shift > DMW_BM_SHIFT_MAX ||
	     s->bm_regions > (u64)DMW_BITMAP_CHUNK * 8 * 65536))
		return -EPROTO;
	return 0;
}

#endif /* _LINUX_DUALMIRROR_WIRE_H */
