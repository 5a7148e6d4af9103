// SPDX-License-Identifier: GPL-2.0
/*
 * dualmirror_peer: the standard SPC/SBC commands the SCSI scan, sd, LIO
 * pscsi and sg3_utils need.  One handler per operation code in a table;
 * anything not in it is INVALID COMMAND OPERATION CODE.  Commands that
 * modify the medium are refused with DATA PROTECT / WRITE PROTECTED while
 * a primary holds the disk (claimed, not released), handled or not.
 */
#include <linux/blkdev.h>
#include <asm/unaligned.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_common.h>
#include <scsi/scsi_proto.h>

#include "dualmirror_peer.h"

#define DMP_VENDOR	"LINUX   "
#define DMP_PRODUCT	"DualMirror Peer "
#define DMP_REVISION	"0001"
#define DMP_NO_BIT	0xff

static int dmp_invalid_field(struct dmp_cmd *dc, unsigned int byte,
			     unsigned int bit)
{
	dmp_check_condition(dc, ILLEGAL_REQUEST, 0x24, 0);
	scsi_set_sense_field_pointer(dc->scmd->sense_buffer,
				     SCSI_SENSE_BUFFERSIZE, byte, bit, true);
	dmp_count_misc(dc->peer, DMP_C_SCSI_REJECTED, 1);
	return DMP_DONE;
}

static int dmp_sense(struct dmp_cmd *dc, u8 key, u8 asc, u8 ascq)
{
	dmp_check_condition(dc, key, asc, ascq);
	dmp_count_misc(dc->peer, DMP_C_SCSI_REJECTED, 1);
	return DMP_DONE;
}

static u64 dmp_nr_blocks(const struct dmp_peer *peer)
{
	return peer->capacity >> (peer->lbs_shift - SECTOR_SHIFT);
}

static int dmp_tur(struct dmp_cmd *dc)
{
	dc->scmd->result = SAM_STAT_GOOD;
	return DMP_DONE;
}

static int dmp_request_sense(struct dmp_cmd *dc)
{
	const u8 *cdb = dc->scmd->cmnd;
	u8 buf[18] = { 0 };

	if (cdb[1] & 1) {	/* DESC: descriptor format, NO SENSE */
		buf[0] = 0x72;
		return dmp_copy_to_sg(dc, buf, 8, cdb[4]);
	}
	buf[0] = 0x70;
	buf[7] = 10;
	return dmp_copy_to_sg(dc, buf, sizeof(buf), cdb[4]);
}

static unsigned int dmp_serial(const struct dmp_peer *peer, u8 *buf)
{
	return sprintf(buf, "DMP%016llx", peer->naa);
}

static int dmp_inquiry_std(struct dmp_cmd *dc, u8 *buf, unsigned int alloc)
{
	buf[0] = TYPE_DISK;
	buf[2] = 0x06;			/* SPC-4 */
	buf[3] = 0x02;			/* response data format 2 */
	buf[4] = 74 - 5;
	buf[7] = 0x02;			/* CMDQUE */
	memcpy(&buf[8], DMP_VENDOR, 8);
	memcpy(&buf[16], DMP_PRODUCT, 16);
	memcpy(&buf[32], DMP_REVISION, 4);
	put_unaligned_be16(0x0460, &buf[58]);	/* SPC-4 */
	put_unaligned_be16(0x04c0, &buf[60]);	/* SBC-3 */
	return dmp_copy_to_sg(dc, buf, 74, alloc);
}

static unsigned int dmp_vpd_devid(const struct dmp_peer *peer, u8 *buf)
{
	unsigned int n = 4, len;

	/* NAA designator, logical unit */
	buf[n++] = 0x01;		/* binary */
	buf[n++] = 0x03;		/* NAA */
	buf[n++] = 0;
	buf[n++] = 8;
	put_unaligned_be64(peer->naa, &buf[n]);
	n += 8;
	/* T10 vendor ID designator */
	buf[n++] = 0x02;		/* ASCII */
	buf[n++] = 0x01;		/* T10 vendor ID */
	buf[n++] = 0;
	memcpy(&buf[n + 1], DMP_VENDOR, 8);
	len = 8 + dmp_serial(peer, &buf[n + 9]);
	buf[n] = len;
	n += 1 + len;
	return n;
}

static unsigned int dmp_vpd_block_limits(const struct dmp_peer *peer, u8 *buf)
{
	struct block_device *bdev = peer->bdev;
	u32 gran = bdev_physical_block_size(bdev) >> peer->lbs_shift;
	u32 max = (DMP_MAX_SECTORS << SECTOR_SHIFT) >> peer->lbs_shift;

	put_unaligned_be16(gran ? gran : 1, &buf[6]);
	put_unaligned_be32(max, &buf[8]);	/* MAXIMUM TRANSFER LENGTH */
	put_unaligned_be32(max, &buf[12]);	/* OPTIMAL TRANSFER LENGTH */
	return 64;
}

static int dmp_inquiry(struct dmp_cmd *dc)
{
	const u8 *cdb = dc->scmd->cmnd;
	unsigned int alloc = get_unaligned_be16(&cdb[3]);
	struct dmp_peer *peer = dc->peer;
	u8 buf[128] = { 0 };
	unsigned int n;

	if (cdb[1] & 0xfe)
		return dmp_invalid_field(dc, 1, 1);
	if (!(cdb[1] & 1)) {
		if (cdb[2])
			return dmp_invalid_field(dc, 2, DMP_NO_BIT);
		return dmp_inquiry_std(dc, buf, alloc);
	}
	buf[0] = TYPE_DISK;
	buf[1] = cdb[2];
	switch (cdb[2]) {
	case 0x00:		/* supported VPD pages */
		buf[4] = 0x00;
		buf[5] = 0x80;
		buf[6] = 0x83;
		buf[7] = 0xb0;
		n = 8;
		break;
	case 0x80:		/* unit serial number */
		n = 4 + dmp_serial(peer, &buf[4]);
		break;
	case 0x83:		/* device identification */
		n = dmp_vpd_devid(peer, buf);
		break;
	case 0xb0:		/* block limits */
		n = dmp_vpd_block_limits(peer, buf);
		break;
	default:
		return dmp_invalid_field(dc, 2, DMP_NO_BIT);
	}
	put_unaligned_be16(n - 4, &buf[2]);
	return dmp_copy_to_sg(dc, buf, n, alloc);
}

static int dmp_read_capacity10(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	u64 last = dmp_nr_blocks(peer) - 1;
	u8 buf[8];

	put_unaligned_be32(min_t(u64, last, 0xffffffff), &buf[0]);
	put_unaligned_be32(dmp_lbs(peer), &buf[4]);
	return dmp_copy_to_sg(dc, buf, sizeof(buf), sizeof(buf));
}

static int dmp_service_action_in16(struct dmp_cmd *dc)
{
	const u8 *cdb = dc->scmd->cmnd;
	struct dmp_peer *peer = dc->peer;
	u32 pbs = bdev_physical_block_size(peer->bdev);
	u8 buf[32] = { 0 };

	if ((cdb[1] & 0x1f) != SAI_READ_CAPACITY_16)
		return dmp_invalid_field(dc, 1, 4);
	put_unaligned_be64(dmp_nr_blocks(peer) - 1, &buf[0]);
	put_unaligned_be32(dmp_lbs(peer), &buf[8]);
	if (pbs > dmp_lbs(peer))
		buf[13] = ilog2(pbs) - peer->lbs_shift;
	return dmp_copy_to_sg(dc, buf, sizeof(buf), get_unaligned_be32(&cdb[10]));
}

static int dmp_report_luns(struct dmp_cmd *dc)
{
	const u8 *cdb = dc->scmd->cmnd;
	u32 alloc = get_unaligned_be32(&cdb[6]);
	u8 buf[16] = { 0 };

	if (alloc < 16)
		return dmp_invalid_field(dc, 6, DMP_NO_BIT);
	put_unaligned_be32(8, &buf[0]);		/* one LUN: 0 */
	return dmp_copy_to_sg(dc, buf, sizeof(buf), alloc);
}

/* Caching (08h) and control (0Ah) mode pages; @pc 1 = changeable. */
static unsigned int dmp_mode_page(struct dmp_peer *peer, u8 page, u8 pc,
				  u8 *buf)
{
	switch (page) {
	case 0x08:
		buf[0] = 0x08;
		buf[1] = 0x12;
		if (pc != 1 && bdev_write_cache(peer->bdev))
			buf[2] = 0x04;	/* WCE */
		return 20;
	case 0x0a:
		buf[0] = 0x0a;
		buf[1] = 0x0a;
		return 12;
	}
	return 0;
}

static int dmp_mode_sense(struct dmp_cmd *dc)
{
	const u8 *cdb = dc->scmd->cmnd;
	bool ten = cdb[0] == MODE_SENSE_10;
	unsigned int hdr = ten ? 8 : 4, n = hdr;
	u8 pc = cdb[2] >> 6, page = cdb[2] & 0x3f;
	struct dmp_peer *peer = dc->peer;
	u8 buf[64] = { 0 };

	if (pc == 3)
		return dmp_sense(dc, ILLEGAL_REQUEST, 0x39, 0);
	if (cdb[3] && cdb[3] != 0xff)
		return dmp_invalid_field(dc, 3, DMP_NO_BIT);
	if (page == 0x3f) {
		n += dmp_mode_page(peer, 0x08, pc, &buf[n]);
		n += dmp_mode_page(peer, 0x0a, pc, &buf[n]);
	} else {
		n += dmp_mode_page(peer, page, pc, &buf[n]);
		if (n == hdr)
			return dmp_invalid_field(dc, 2, 5);
	}
	/* no block descriptors; DPOFUA: FUA is honoured */
	if (ten) {
		put_unaligned_be16(n - 2, &buf[0]);
		buf[3] = 0x10;
		return dmp_copy_to_sg(dc, buf, n, get_unaligned_be16(&cdb[7]));
	}
	buf[0] = n - 1;
	buf[2] = 0x10;
	return dmp_copy_to_sg(dc, buf, n, cdb[4]);
}

static void dmp_rw_end(struct dmp_cmd *dc)
{
	if (!dc->bio_status)
		dmp_count_misc(dc->peer,
			       dc->scmd->sc_data_direction == DMA_TO_DEVICE ?
			       DMP_C_SCSI_WRITE_BYTES : DMP_C_SCSI_READ_BYTES,
			       dc->bytes);
	dmp_bio_end_default(dc);
}

static int dmp_read_write(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;
	const u8 *cdb = scmd->cmnd;
	struct dmp_peer *peer = dc->peer;
	bool write = cdb[0] == WRITE_10 || cdb[0] == WRITE_16;
	bool sixteen = cdb[0] == READ_16 || cdb[0] == WRITE_16;
	enum dma_data_direction dir = write ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
	u64 lba, nr_blocks = dmp_nr_blocks(peer), bytes;
	blk_opf_t opf = write ? REQ_OP_WRITE : REQ_OP_READ;
	u32 len;

	if (sixteen) {
		lba = get_unaligned_be64(&cdb[2]);
		len = get_unaligned_be32(&cdb[10]);
	} else {
		lba = get_unaligned_be32(&cdb[2]);
		len = get_unaligned_be16(&cdb[7]);
	}
	if (cdb[1] & 0xe0)		/* RDPROTECT/WRPROTECT: no PI */
		return dmp_invalid_field(dc, 1, 7);
	if (lba > nr_blocks || len > nr_blocks - lba)
		return dmp_sense(dc, ILLEGAL_REQUEST, 0x21, 0);
	bytes = (u64)len << peer->lbs_shift;
	if (bytes > scsi_bufflen(scmd) ||
	    (bytes && scmd->sc_data_direction != dir))
		return dmp_invalid_field(dc, sixteen ? 10 : 7, DMP_NO_BIT);
	scsi_set_resid(scmd, scsi_bufflen(scmd) - bytes);
	if (!len) {
		scmd->result = SAM_STAT_GOOD;
		return DMP_DONE;
	}
	if (write && (cdb[1] & 0x08))
		opf |= REQ_FUA;
	dc->bytes = bytes;
	return dmp_submit_sg(dc, opf, lba << (peer->lbs_shift - SECTOR_SHIFT),
			     bytes, dmp_rw_end);
}

static int dmp_sync_cache(struct dmp_cmd *dc)
{
	return dmp_submit_sg(dc, REQ_OP_WRITE | REQ_PREFLUSH, 0, 0,
			     dmp_bio_end_default);
}

/*
 * SBC/SPC operation codes that modify the medium, whether this host
 * implements them or not: fenced while the disk is claimed.
 */
static const bool dmp_op_writes[256] = {
	[FORMAT_UNIT] = true,
	[REASSIGN_BLOCKS] = true,
	[WRITE_6] = true,
	[WRITE_10] = true,
	[WRITE_12] = true,
	[WRITE_16] = true,
	[WRITE_VERIFY] = true,
	[WRITE_VERIFY_12] = true,
	[WRITE_VERIFY_16] = true,
	[WRITE_LONG] = true,
	[WRITE_LONG_2] = true,
	[WRITE_SAME] = true,
	[WRITE_SAME_16] = true,
	[UNMAP] = true,
	[XDWRITEREAD_10] = true,
	[0x48] = true,			/* SANITIZE */
	[COMPARE_AND_WRITE] = true,
	[0x8b] = true,			/* ORWRITE (16) */
	[0x9c] = true,			/* WRITE ATOMIC (16) */
	[ZBC_OUT] = true,		/* RESET WRITE POINTER, ... */
	[SERVICE_ACTION_OUT_16] = true,	/* WRITE LONG (16), WRITE SCATTERED */
};

/*
 * The operation codes queuecommand may run itself: their handlers never
 * sleep and their bios go through dmp_submit_sg() (REQ_NOWAIT there).
 */
static const bool dmp_op_nowait[256] = {
	[READ_10] = true,
	[READ_16] = true,
	[WRITE_10] = true,
	[WRITE_16] = true,
};

static int (* const dmp_ops[256])(struct dmp_cmd *dc) = {
	[TEST_UNIT_READY] = dmp_tur,
	[REQUEST_SENSE] = dmp_request_sense,
	[INQUIRY] = dmp_inquiry,
	[MODE_SENSE] = dmp_mode_sense,
	[MODE_SENSE_10] = dmp_mode_sense,
	[READ_CAPACITY] = dmp_read_capacity10,
	[SERVICE_ACTION_IN_16] = dmp_service_action_in16,
	[REPORT_LUNS] = dmp_report_luns,
	[READ_10] = dmp_read_write,
	[READ_16] = dmp_read_write,
	[WRITE_10] = dmp_read_write,
	[WRITE_16] = dmp_read_write,
	[SYNCHRONIZE_CACHE] = dmp_sync_cache,
	[SYNCHRONIZE_CACHE_16] = dmp_sync_cache,
};

/**
 * dmp_execute_scsi - run one standard command
 * @dc: the command
 *
 * In queuecommand (@dc->nowait) only READ and WRITE (10/16) run; any other
 * command is deferred before it is counted.
 *
 * Return: DMP_DONE, DMP_ASYNC or DMP_DEFER.
 */
int dmp_execute_scsi(struct dmp_cmd *dc)
{
	u8 op = dc->scmd->cmnd[0];
	int (*fn)(struct dmp_cmd *dc) = dmp_ops[op];

	if (dc->nowait) {
		if (!dmp_op_nowait[op])
			return DMP_DEFER;
		dmp_count_misc(dc->peer, DMP_C_DIRECT, 1);
	}
	dmp_count_misc(dc->peer, DMP_C_SCSI_CMDS, 1);
	/* an admitted write holds its generation until dmp_complete() */
	if (dmp_op_writes[op] && !dmp_plain_write_begin(dc)) {
		dmp_count_misc(dc->peer, DMP_C_SCSI_FENCED, 1);
		return dmp_sense(dc, DATA_PROTECT, 0x27, 0);
	}
	if (!fn)
		return dmp_sense(dc, ILLEGAL_REQUEST, 0x20, 0);
	return fn(dc);
}
