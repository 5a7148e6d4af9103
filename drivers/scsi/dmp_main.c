// SPDX-License-Identifier: GPL-2.0
/*
 * dualmirror_peer: host setup and teardown, command dispatch, bio
 * submission and error handling.
 *
 * Each attached backing device gets its own Scsi_Host with one LUN.
 * queuecommand runs inside blk-mq's dispatch (an RCU read-side section:
 * SCSI hosts of Linux 6.1 cannot ask for BLK_MQ_F_BLOCKING) and must not
 * sleep.
 *
 * The direct path: a mirror write (INLINE, SPLIT DATA, SPLIT DESC) or a
 * READ/WRITE (10/16) whose backing device is blk-mq, takes REQ_NOWAIT,
 * has no integrity profile and no SRCU dispatch (dmp_may_nowait()) is run
 * by queuecommand itself (@dc->nowait): decoded, checked (peer->lock, a
 * spinlock taken only in task context), split data staged and split
 * descriptors read with GFP_NOWAIT, and the data-out or data-in pages
 * submitted as one bio with REQ_NOWAIT (a split write's staged pages: in
 * as many bios as the device takes unsplit), allocated with GFP_NOWAIT,
 * charged to the root cgroup;
 * writes carry REQ_SYNC | REQ_IDLE like O_DIRECT writes, which writeback
 * throttling lets through (it would sleep in rq_qos_wait() otherwise,
 * REQ_NOWAIT or not).  Its end_io completes the command.  Whatever cannot
 * be done that way goes to the worker:
 *
 * - before the command started (any other command, a submitter's plug):
 *   the handler returns DMP_DEFER having done nothing, and the command is
 *   queued (QUEUED) as every command was before;
 * - after it started (counted, generation taken): the bio cannot be
 *   built without sleeping (no memory, too many segments), or it came
 *   back BLK_STS_AGAIN (or BLK_STS_NOTSUPP, REQ_NOWAIT refused), possibly
 *   before submit_bio() returned: the command goes to RETRY and the worker
 *   submits the same range again without REQ_NOWAIT.  Nothing of it was
 *   written or read before (one bio, failed before it was issued), except
 *   for a split write sent in several bios, which the worker writes again
 *   whole (dmp_submit_staged_nowait()).
 *
 * Everything that may sleep (staging or a descriptor buffer that needs
 * more than GFP_NOWAIT gives, CLAIM and its metadata write, QUERY,
 * BITMAP, DISCARD, WRITE ZEROES, SYNCHRONIZE CACHE, the standard commands
 * without data) stays on the WQ_MEM_RECLAIM
 * workqueue, which answers it at once or submits bios built from the
 * command's scatterlist, the last bio's end_io completing it.  Either
 * way the command holds @peer->busy from queuecommand to its completion,
 * and a queued command (QUEUED or RETRY) is taken back by the abort
 * handler with cancel_work_sync(); an in-flight bio is waited for.
 */
#include <linux/bio.h>
#include <linux/blk-cgroup.h>
#include <linux/blk-integrity.h>
#include <linux/jhash.h>
#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <scsi/scsi.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_eh.h>

#include "dualmirror_peer.h"

#define DMP_FMODE	(FMODE_READ | FMODE_WRITE | FMODE_EXCL)
#define DMP_EH_WAIT	(30 * HZ)

static unsigned int staging_kib = 65536;
module_param(staging_kib, uint, 0644);
MODULE_PARM_DESC(staging_kib,
		 "Staging memory per peer disk for split data, KiB (read when a disk is added)");

static unsigned int split_timeout_ms = 5000;
module_param(split_timeout_ms, uint, 0644);
MODULE_PARM_DESC(split_timeout_ms,
		 "How long one half of a split write waits for the other, ms (read when a disk is added)");

static bool nowait = true;
module_param(nowait, bool, 0644);
MODULE_PARM_DESC(nowait,
		 "Run mirror writes (INLINE, SPLIT DATA, SPLIT DESC) and READ/WRITE (10/16) in queuecommand, submitted with REQ_NOWAIT, when the backing device allows it");

struct workqueue_struct *dmp_wq;
static struct device *dmp_root;
static LIST_HEAD(dmp_peers);
static DEFINE_MUTEX(dmp_peers_mutex);	/* protects dmp_peers */

/**
 * dmp_gen_put - drop a write's reference on its generation
 * @dc: the command; nothing happens if it holds none
 *
 * A CLAIM waits for the writes of the old generation to drop theirs.
 */
void dmp_gen_put(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	int slot = dc->gen_slot;

	if (slot < 0)
		return;
	dc->gen_slot = -1;
	if (atomic_dec_and_test(&peer->inflight_gen[slot]))
		wake_up_var(&peer->inflight_gen[slot]);
}

/* Free what a finished command holds and mark it DONE, exactly once. */
static void dmp_finish(struct dmp_cmd *dc)
{
	dmp_mirror_finish(dc);
	dmp_gen_put(dc);
	/* pairs with the acquire in dmp_cmd_done(): all of the above is done */
	WARN_ON_ONCE(xchg_release(&dc->state, DMP_ST_DONE) == DMP_ST_DONE);
}

/**
 * dmp_complete - hand a finished command back to the midlayer
 * @dc: the command, with scmd->result (and sense) set
 *
 * Frees what the command still holds, marks it DONE and calls scsi_done(),
 * both inside one RCU read-side section: the abort handler that sees DONE
 * waits for that section to end (synchronize_rcu()) before it returns, so
 * the midlayer cannot reuse the tag while this scsi_done() is still to
 * come.  After scsi_done() @dc may be reused at once, so only the peer is
 * touched afterwards; the peer outlives @peer->busy reaching zero.
 */
void dmp_complete(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	struct scsi_cmnd *scmd = dc->scmd;

	rcu_read_lock();
	dmp_finish(dc);
	scsi_done(scmd);
	rcu_read_unlock();
	wake_up_var(&dc->state);
	if (atomic_dec_and_test(&peer->busy))
		wake_up_var(&peer->busy);
}

/* Drop a command the error handler took back: no scsi_done(). */
static void dmp_release(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;

	dmp_finish(dc);
	if (atomic_dec_and_test(&peer->busy))
		wake_up_var(&peer->busy);
}

void dmp_check_condition(struct dmp_cmd *dc, u8 key, u8 asc, u8 ascq)
{
	scsi_build_sense(dc->scmd, 0, key, asc, ascq);
}

static void dmp_work_queue(struct dmp_cmd *dc, int state)
{
	WRITE_ONCE(dc->state, state);
	queue_work(dmp_wq, &dc->work);
}

/*
 * A REQ_NOWAIT submission of the direct path could not go out: the worker
 * submits it again without REQ_NOWAIT.  Any context.
 */
static void dmp_retry(struct dmp_cmd *dc)
{
	dmp_count_misc(dc->peer, DMP_C_DIRECT_RETRIES, 1);
	dmp_work_queue(dc, DMP_ST_RETRY);
}

/* What a REQ_NOWAIT bio ends with when it would have had to wait. */
static bool dmp_nowait_refused(blk_status_t status)
{
	return status == BLK_STS_AGAIN || status == BLK_STS_NOTSUPP;
}

static void dmp_put(struct dmp_cmd *dc)
{
	if (!atomic_dec_and_test(&dc->pending))
		return;
	if ((dc->io_opf & REQ_NOWAIT) &&
	    dmp_nowait_refused(READ_ONCE(dc->bio_status)))
		dmp_retry(dc);
	else
		dc->end(dc);
}

/**
 * dmp_bio_status_set - record how one of a command's bios ended
 * @dc: the command
 * @status: that bio's status, not BLK_STS_OK
 *
 * The first error stays, except that a real error replaces a refusal of
 * a REQ_NOWAIT bio: a command with both ends with the error and is not
 * written again by the worker, which would hide it if the second write
 * succeeded.  Bios of one command end in any context, concurrently.
 */
static void dmp_bio_status_set(struct dmp_cmd *dc, blk_status_t status)
{
	blk_status_t old = READ_ONCE(dc->bio_status);

	while (old == BLK_STS_OK ||
	       (dmp_nowait_refused(old) && !dmp_nowait_refused(status))) {
		blk_status_t seen = cmpxchg(&dc->bio_status, old, status);

		if (seen == old)
			return;
		old = seen;
	}
}

static void dmp_bio_end_io(struct bio *bio)
{
	struct dmp_cmd *dc = bio->bi_private;

	if (bio->bi_status)
		dmp_bio_status_set(dc, bio->bi_status);
	bio_put(bio);
	dmp_put(dc);
}

static void dmp_bio_setup(struct dmp_cmd *dc, struct bio *bio, sector_t sector)
{
	bio->bi_iter.bi_sector = sector;
	bio->bi_end_io = dmp_bio_end_io;
	bio->bi_private = dc;
}

static struct bio *dmp_bio_alloc(struct dmp_cmd *dc, blk_opf_t opf,
				 sector_t sector, unsigned int nr_vecs)
{
	struct bio *bio;

	bio = bio_alloc(dc->peer->bdev, min_t(unsigned int, nr_vecs, BIO_MAX_VECS),
			opf, GFP_NOIO);
	dmp_bio_setup(dc, bio, sector);
	return bio;
}

static void dmp_bio_submit(struct dmp_cmd *dc, struct bio *bio)
{
	atomic_inc(&dc->pending);
	submit_bio(bio);
}

static void dmp_io_start(struct dmp_cmd *dc, blk_opf_t opf,
			 void (*end)(struct dmp_cmd *dc))
{
	dc->io_opf = opf;
	dc->end = end;
	dc->bio_status = BLK_STS_OK;
	atomic_set(&dc->pending, 1);
}

/*
 * Would submit_bio() of a REQ_NOWAIT bio to the backing device run
 * without sleeping here?  Linux 6.1 (blk_mq_submit_bio()): a blk-mq queue
 * with QUEUE_FLAG_NOWAIT fails with BLK_STS_AGAIN instead of waiting for
 * queue entry, a tag or a split; without SRCU (no BLK_MQ_F_BLOCKING) a
 * direct issue stays under RCU; an integrity profile would allocate with
 * GFP_NOIO (bio_integrity_prep()).  A bio-based backing device (dm, md)
 * may allocate and wait in its own submit_bio.  A submitter's plug (a
 * local submitter flushing it) would collect the bio and possibly flush
 * other queues' requests from here.  queuecommand from softirq would
 * deadlock on peer->lock, taken in task context only.
 */
static bool dmp_may_nowait(const struct dmp_peer *peer)
{
	struct block_device *bdev = peer->bdev;
	struct request_queue *q = bdev_get_queue(bdev);

	return READ_ONCE(nowait) && in_task() && !current->plug &&
	       queue_is_mq(q) && bdev_nowait(bdev) && !blk_queue_has_srcu(q) &&
	       !blk_get_integrity(bdev->bd_disk);
}

/*
 * The flags of a direct-path submission: REQ_NOWAIT, and for a write
 * REQ_SYNC | REQ_IDLE, which writeback throttling lets through.
 */
static blk_opf_t dmp_nowait_opf(blk_opf_t opf)
{
	opf |= REQ_NOWAIT;
	if (op_is_write(opf))
		opf |= REQ_SYNC | REQ_IDLE;	/* not throttled by wbt */
	return opf;
}

/*
 * A bio for the direct path, allocated without sleeping and charged to
 * the root cgroup as the worker's bios are (no cgroup throttling); NULL
 * when there is no memory for it.
 */
static struct bio *dmp_bio_alloc_nowait(struct dmp_cmd *dc, blk_opf_t opf,
					unsigned int nr_vecs)
{
	struct bio *bio;

	bio = bio_alloc(dc->peer->bdev, nr_vecs, opf, GFP_NOWAIT | __GFP_NOWARN);
	if (bio)
		bio_associate_blkg_from_css(bio, blkcg_root_css);
	return bio;
}

/*
 * The direct path's submission: the whole transfer as one bio with
 * REQ_NOWAIT, built without sleeping, or the command goes to the worker.
 */
static void dmp_submit_sg_nowait(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;
	unsigned int nents = scsi_sg_count(scmd);
	unsigned int bytes = dc->io_bytes;
	blk_opf_t opf = dmp_nowait_opf(dc->io_opf);
	struct scatterlist *sg;
	struct bio *bio;
	unsigned int i;

	dc->io_opf = opf;
	if (!bytes || nents > BIO_MAX_VECS)
		goto retry;
	bio = dmp_bio_alloc_nowait(dc, opf, nents);
	if (!bio)
		goto retry;
	scsi_for_each_sg(scmd, sg, nents, i) {
		unsigned int len = min(sg->length, bytes);

		if (!len)
			break;
		if (bio_add_page(bio, sg_page(sg), len, sg->offset) != len)
			break;
		bytes -= len;
	}
	if (bytes) {
		bio_put(bio);
		goto retry;
	}
	dmp_bio_setup(dc, bio, dc->io_sector);
	dmp_io_start(dc, opf, dc->end);
	dmp_bio_submit(dc, bio);	/* may end at once, BLK_STS_AGAIN */
	dmp_put(dc);
	return;
retry:
	dmp_retry(dc);
}

/* The worker's submission: as many bios as the scatterlist needs. */
static void __dmp_submit_sg(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;
	unsigned int nents = scsi_sg_count(scmd);
	blk_opf_t opf = dc->io_opf & ~REQ_NOWAIT;
	unsigned int bytes = dc->io_bytes;
	sector_t sector = dc->io_sector;
	struct scatterlist *sg;
	struct bio *bio = NULL;
	unsigned int i;

	dmp_io_start(dc, opf, dc->end);
	if (!bytes) {
		dmp_bio_submit(dc, dmp_bio_alloc(dc, opf, sector, 0));
		goto out;
	}
	scsi_for_each_sg(scmd, sg, nents, i) {
		unsigned int len = min(sg->length, bytes);

		if (!len)
			break;
		if (bio && bio_add_page(bio, sg_page(sg), len, sg->offset) == len)
			goto added;
		if (bio)
			dmp_bio_submit(dc, bio);
		bio = dmp_bio_alloc(dc, opf, sector, nents - i);
		if (WARN_ON_ONCE(bio_add_page(bio, sg_page(sg), len,
					      sg->offset) != len)) {
			atomic_inc(&dc->pending);
			bio_io_error(bio);	/* ends the command in error */
			bio = NULL;
			break;
		}
added:
		sector += len >> SECTOR_SHIFT;
		bytes -= len;
	}
	if (bio)
		dmp_bio_submit(dc, bio);
out:
	dmp_put(dc);
}

/**
 * dmp_submit_sg - read or write the command's own pages (zero copy)
 * @dc: the command
 * @opf: operation and flags
 * @sector: first 512-byte sector on the backing device
 * @bytes: bytes to transfer from the start of the scatterlist; 0 submits
 *	one empty bio (a cache flush with REQ_PREFLUSH)
 * @end: called once every bio completed; it completes the command
 *
 * In the worker (may sleep) the transfer goes out in as many bios as it
 * needs.  In queuecommand (@dc->nowait, must not sleep) it goes out as one
 * bio with REQ_NOWAIT, or, if that cannot be done without sleeping, it is
 * handed to the worker (state RETRY), which submits it as above; the
 * same happens when the bio ends with BLK_STS_AGAIN, which may be before
 * submit_bio() returns.  A reference held across submission keeps @end
 * from running before the last bio went out.  Either way @end runs once.
 *
 * Return: DMP_ASYNC.
 */
int dmp_submit_sg(struct dmp_cmd *dc, blk_opf_t opf, sector_t sector,
		  unsigned int bytes, void (*end)(struct dmp_cmd *dc))
{
	dc->io_opf = opf;
	dc->io_sector = sector;
	dc->io_bytes = bytes;
	dc->end = end;
	if (dc->nowait)
		dmp_submit_sg_nowait(dc);
	else
		__dmp_submit_sg(dc);
	return DMP_ASYNC;
}

/*
 * The most a bio starting at @sector may carry without a split, in
 * sectors: Linux 6.1's get_max_io_size() (block/blk-merge.c), which
 * bio_split_rw() applies: max_sectors, cut at the next chunk_sectors
 * boundary, and ending on a physical block boundary where it can.
 */
static unsigned int dmp_max_io_sectors(const struct queue_limits *lim,
				       sector_t sector)
{
	unsigned int pbs = lim->physical_block_size >> SECTOR_SHIFT;
	unsigned int lbs = lim->logical_block_size >> SECTOR_SHIFT;
	unsigned int max_sectors = lim->max_sectors, start, end;

	if (lim->chunk_sectors)
		max_sectors = min(max_sectors,
				  blk_chunk_sectors_left(sector,
							 lim->chunk_sectors));
	start = sector & (pbs - 1);
	end = (start + max_sectors) & ~(pbs - 1);
	if (end > start)
		return end - start;
	return max_sectors & ~(lbs - 1);
}

/* Would @next follow @prev in one bio across a virt boundary gap? */
static bool dmp_gap(const struct queue_limits *lim, const struct bio_vec *prev,
		    const struct bio_vec *next)
{
	return lim->virt_boundary_mask &&
	       ((next->bv_offset | (prev->bv_offset + prev->bv_len)) &
		lim->virt_boundary_mask);
}

/*
 * The direct path's submission of staged data: REQ_NOWAIT bios, each cut
 * where the block layer would split it (dmp_max_io_sectors(), at most
 * max_segments pieces of at most a page, which are one segment each,
 * and before a virt boundary gap), which then need no split: Linux 6.1
 * refuses to split a REQ_NOWAIT bio.  Unlike dmp_submit_sg_nowait(),
 * data larger than one bio goes out in several (a 1 MiB split write is
 * 256 pieces; a disk takes 128 segments or so).  If one of them cannot
 * go out (no memory for it, or BLK_STS_AGAIN), no more are submitted and
 * the worker writes the whole range again once all have ended (RETRY).
 * Writing some blocks twice with the same data is safe: the command has
 * not completed, and the primary never has another write in flight to
 * blocks it has a write in flight to.
 */
static void dmp_submit_staged_nowait(struct dmp_cmd *dc)
{
	const struct dmp_staged *stg = dc->staged;
	struct block_device *bdev = dc->peer->bdev;
	const struct queue_limits *lim = &bdev_get_queue(bdev)->limits;
	unsigned int max_segs = min_t(unsigned int, lim->max_segments,
				      BIO_MAX_VECS);
	blk_opf_t opf = dmp_nowait_opf(dc->io_opf);
	const struct bio_vec *v = stg->vecs;
	sector_t sector = dc->io_sector;
	unsigned int i = 0, j, n;
	struct bio *bio;
	u64 bytes, max_bytes;

	dmp_io_start(dc, opf, dc->end);
	while (i < stg->nr_vecs) {
		max_bytes = (u64)dmp_max_io_sectors(lim, sector) << SECTOR_SHIFT;
		for (n = 0, bytes = 0; i + n < stg->nr_vecs && n < max_segs &&
		     bytes + v[i + n].bv_len <= max_bytes &&
		     !(n && dmp_gap(lim, &v[i + n - 1], &v[i + n])); n++)
			bytes += v[i + n].bv_len;
		bio = n ? dmp_bio_alloc_nowait(dc, opf, n) : NULL;
		if (!bio) {
			dmp_bio_status_set(dc, BLK_STS_AGAIN);
			break;
		}
		for (j = 0; j < n; j++)
			__bio_add_page(bio, v[i + j].bv_page, v[i + j].bv_len,
				       v[i + j].bv_offset);
		dmp_bio_setup(dc, bio, sector);
		dmp_bio_submit(dc, bio);	/* may end at once, BLK_STS_AGAIN */
		if (dmp_nowait_refused(READ_ONCE(dc->bio_status)))
			break;	/* the worker writes it all again */
		sector += bytes >> SECTOR_SHIFT;
		i += n;
	}
	dmp_put(dc);	/* the last bio's end, or RETRY */
}

/* The worker's submission of staged data: as many bios as it needs. */
static void __dmp_submit_staged(struct dmp_cmd *dc)
{
	const struct dmp_staged *stg = dc->staged;
	blk_opf_t opf = dc->io_opf & ~REQ_NOWAIT;
	sector_t sector = dc->io_sector;
	struct bio *bio = NULL;
	unsigned int i;

	dmp_io_start(dc, opf, dc->end);
	for (i = 0; i < stg->nr_vecs; i++) {
		const struct bio_vec *bv = &stg->vecs[i];

		if (!bio || bio_add_page(bio, bv->bv_page, bv->bv_len,
					 bv->bv_offset) != bv->bv_len) {
			if (bio)
				dmp_bio_submit(dc, bio);
			bio = dmp_bio_alloc(dc, opf, sector, stg->nr_vecs - i);
			__bio_add_page(bio, bv->bv_page, bv->bv_len,
				       bv->bv_offset);
		}
		sector += bv->bv_len >> SECTOR_SHIFT;
	}
	if (bio)
		dmp_bio_submit(dc, bio);
	dmp_put(dc);
}

/**
 * dmp_submit_staged - write the command's staged data (@dc->staged)
 * @dc: the command that completes when the write did
 * @opf: operation and flags
 * @sector: first sector
 * @end: completion, as for dmp_submit_sg()
 *
 * Every segment of the staged data is a whole number of sectors.  In
 * queuecommand (@dc->nowait) the data goes out in REQ_NOWAIT bios the
 * backing device takes without a split, or is handed to the worker
 * (RETRY) as dmp_submit_sg() does; in the worker, in as many bios as it
 * needs.
 *
 * Return: DMP_ASYNC.
 */
int dmp_submit_staged(struct dmp_cmd *dc, blk_opf_t opf, sector_t sector,
		      void (*end)(struct dmp_cmd *dc))
{
	dc->io_opf = opf;
	dc->io_sector = sector;
	dc->end = end;
	if (dc->nowait)
		dmp_submit_staged_nowait(dc);
	else
		__dmp_submit_staged(dc);
	return DMP_ASYNC;
}

/**
 * dmp_submit_zero - discard or zero a range of the backing device
 * @dc: the command that completes when the range is done
 * @discard: discard (else write zeroes)
 * @sector: first sector
 * @nr_sects: length in sectors
 * @nounmap: write zeroes: keep the range allocated (BLKDEV_ZERO_NOUNMAP)
 * @end: completion, as for dmp_submit_sg()
 *
 * The block layer builds a chain of bios (as many as the backing device's
 * limits need; for write zeroes without offload, bios of the zero page)
 * and submits all but the last; the last one ends only when every bio of
 * the chain has, so its end_io completes the command exactly once.
 * Nothing waits here: the worker goes on to the next command.
 *
 * Return: DMP_ASYNC.
 */
int dmp_submit_zero(struct dmp_cmd *dc, bool discard, sector_t sector,
		    sector_t nr_sects, bool nounmap,
		    void (*end)(struct dmp_cmd *dc))
{
	struct block_device *bdev = dc->peer->bdev;
	struct bio *bio = NULL;
	int ret;

	dmp_io_start(dc, discard ? REQ_OP_DISCARD : REQ_OP_WRITE_ZEROES, end);
	if (discard)
		ret = __blkdev_issue_discard(bdev, sector, nr_sects, GFP_NOIO,
					     &bio);
	else
		ret = __blkdev_issue_zeroout(bdev, sector, nr_sects, GFP_NOIO,
					     &bio,
					     nounmap ? BLKDEV_ZERO_NOUNMAP : 0);
	if (ret)
		dmp_bio_status_set(dc, errno_to_blk_status(ret));
	if (bio) {
		bio->bi_end_io = dmp_bio_end_io;
		bio->bi_private = dc;
		dmp_bio_submit(dc, bio);
	}
	dmp_put(dc);
	return DMP_ASYNC;
}

/* Completion of a plain read, write or flush. */
void dmp_bio_end_default(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;

	if (dc->bio_status) {
		dmp_count_misc(dc->peer, DMP_C_IO_ERRORS, 1);
		if (scmd->sc_data_direction == DMA_FROM_DEVICE)
			dmp_check_condition(dc, MEDIUM_ERROR, 0x11, 0);
		else
			dmp_check_condition(dc, MEDIUM_ERROR, 0x0c, 0);
	} else {
		scmd->result = SAM_STAT_GOOD;
	}
	dmp_complete(dc);
}

/**
 * dmp_copy_to_sg - return data-in
 * @dc: the command
 * @buf: the data
 * @len: its length
 * @alloc_len: the CDB's allocation length
 *
 * Copies at most @alloc_len and the buffer length, sets the residual.
 *
 * Return: DMP_DONE with GOOD status.
 */
int dmp_copy_to_sg(struct dmp_cmd *dc, const void *buf, unsigned int len,
		   unsigned int alloc_len)
{
	struct scsi_cmnd *scmd = dc->scmd;
	unsigned int n = min3(len, alloc_len, scsi_bufflen(scmd));
	int copied = 0;

	if (n && scmd->sc_data_direction == DMA_FROM_DEVICE)
		copied = scsi_sg_copy_from_buffer(scmd, buf, n);
	scsi_set_resid(scmd, scsi_bufflen(scmd) - copied);
	scmd->result = SAM_STAT_GOOD;
	return DMP_DONE;
}

/* Run a command: DMP_DONE, DMP_ASYNC, or (@dc->nowait) DMP_DEFER. */
static int dmp_execute(struct dmp_cmd *dc)
{
	if (dc->scmd->cmnd[0] == DMW_OPCODE)
		return dmp_execute_mirror(dc);
	return dmp_execute_scsi(dc);
}

/*
 * The worker: runs a QUEUED command, or submits again, without REQ_NOWAIT,
 * the bios of a RETRY one (which queuecommand already ran: counted,
 * checked, generation taken).
 */
static void dmp_work_fn(struct work_struct *work)
{
	struct dmp_cmd *dc = container_of(work, struct dmp_cmd, work);
	int state = READ_ONCE(dc->state);

	dc->nowait = false;
	WRITE_ONCE(dc->state, DMP_ST_RUNNING);
	if (state == DMP_ST_RETRY && dc->staged)
		__dmp_submit_staged(dc);
	else if (state == DMP_ST_RETRY)
		__dmp_submit_sg(dc);
	else if (dmp_execute(dc) == DMP_DONE)
		dmp_complete(dc);
}

/**
 * dmp_queuecommand - accept a command from the midlayer
 * @shost: the host
 * @scmd: the command
 *
 * Runs under RCU from blk-mq's dispatch, in the submitter's task (for
 * LIO pscsi its receive thread) or in kblockd: must not sleep.  When
 * dmp_may_nowait() allows it, the command runs here (the direct path,
 * see the top of this file); a handler that cannot run it without
 * sleeping returns DMP_DEFER before doing anything, and the command goes
 * to the worker.  Once the handler returned anything else @dc may already
 * be completed and reused: it is not touched again.
 *
 * Return: 0.
 */
static int dmp_queuecommand(struct Scsi_Host *shost, struct scsi_cmnd *scmd)
{
	struct dmp_peer *peer = shost_priv(shost);
	struct dmp_cmd *dc = scsi_cmd_priv(scmd);
	int ret;

	dc->peer = peer;
	dc->scmd = scmd;
	dc->desc_buf = NULL;
	dc->desc_copied = false;
	dc->staged = NULL;
	dc->gen_slot = -1;
	dc->bytes = 0;
	dc->io_opf = 0;
	INIT_LIST_HEAD(&dc->node);
	INIT_WORK(&dc->work, dmp_work_fn);
	scsi_set_resid(scmd, 0);
	atomic_inc(&peer->busy);
	if (dmp_may_nowait(peer)) {
		dc->nowait = true;
		dc->state = DMP_ST_RUNNING;
		ret = dmp_execute(dc);
		if (ret != DMP_DEFER) {
			if (ret == DMP_DONE)
				dmp_complete(dc);
			return 0;
		}
	}
	dc->nowait = false;
	dc->state = DMP_ST_QUEUED;
	queue_work(dmp_wq, &dc->work);
	return 0;
}

static bool dmp_cmd_done(struct dmp_cmd *dc)
{
	/* pairs with the release in dmp_finish() */
	return smp_load_acquire(&dc->state) == DMP_ST_DONE;
}

/*
 * Abort: a command still queued or parked is taken back; one whose bio is
 * in flight is waited for (its pages are the command's own), and if it does
 * not finish, the abort fails and escalates to a device reset.
 *
 * A command that completed on its own has called, or is about to call,
 * scsi_done(); the midlayer ignores that call for a timed-out command, but
 * once this handler returns SUCCESS the tag may be reused, and a
 * scsi_done() still to come would then complete the new command.  So the
 * handler waits until every completion that had marked its command DONE
 * has left scsi_done() (see dmp_complete()).
 */
static int dmp_eh_abort(struct scsi_cmnd *scmd)
{
	struct dmp_cmd *dc = scsi_cmd_priv(scmd);

	if (!dmp_cmd_done(dc) &&
	    (dmp_mirror_abort(dc) || cancel_work_sync(&dc->work) ||
	     dmp_mirror_abort(dc))) {
		dmp_release(dc);
		return SUCCESS;
	}
	if (!wait_var_event_timeout(&dc->state, dmp_cmd_done(dc), DMP_EH_WAIT)) {
		scmd_printk(KERN_WARNING, scmd,
			    "abort: backing I/O still in flight\n");
		return FAILED;
	}
	synchronize_rcu();
	return SUCCESS;
}

/*
 * Device and host reset: fail parked descriptors, drop staged data and
 * wait, without a bound, until every command has come back: a command's
 * pages may be under I/O, so it must not be handed back earlier.
 */
static int dmp_eh_reset(struct scsi_cmnd *scmd)
{
	struct dmp_peer *peer = shost_priv(scmd->device->host);

	dmp_mirror_shutdown(peer, DID_RESET);
	wait_var_event(&peer->busy, !atomic_read(&peer->busy));
	spin_lock(&peer->lock);
	peer->dying = peer->removing;
	spin_unlock(&peer->lock);
	return SUCCESS;
}

static int dmp_slave_configure(struct scsi_device *sdev)
{
	struct dmp_peer *peer = shost_priv(sdev->host);

	/* every segment a whole number of logical blocks */
	blk_queue_dma_alignment(sdev->request_queue, dmp_lbs(peer) - 1);
	return 0;
}

static struct scsi_host_template dmp_sht = {
	.module = THIS_MODULE,
	.name = DMP_NAME,
	.proc_name = DMP_NAME,
	.queuecommand = dmp_queuecommand,
	.eh_abort_handler = dmp_eh_abort,
	.eh_device_reset_handler = dmp_eh_reset,
	.eh_host_reset_handler = dmp_eh_reset,
	.slave_configure = dmp_slave_configure,
	.can_queue = DMP_CAN_QUEUE,
	.cmd_per_lun = DMP_CAN_QUEUE,
	.this_id = -1,
	.sg_tablesize = DMP_SG_TABLESIZE,
	.max_sectors = DMP_MAX_SECTORS,
	.cmd_size = sizeof(struct dmp_cmd),
	.shost_groups = dmp_shost_groups,
};

static void dmp_peer_init(struct dmp_peer *peer, struct Scsi_Host *shost)
{
	peer->shost = shost;
	INIT_LIST_HEAD(&peer->node);
	spin_lock_init(&peer->lock);
	INIT_LIST_HEAD(&peer->staged);
	INIT_LIST_HEAD(&peer->parked);
	mutex_init(&peer->claim_mutex);
	atomic_set(&peer->inflight_gen[0], 0);
	atomic_set(&peer->inflight_gen[1], 0);
	atomic_set(&peer->busy, 0);
	INIT_DELAYED_WORK(&peer->reaper, dmp_reaper_fn);
	peer->generation = 0;
	peer->fence = DMP_FENCE_OPEN;
	atomic64_set(&peer->staged_bytes, 0);
	peer->dying = false;
	peer->removing = false;
	peer->staging_bytes = (u64)READ_ONCE(staging_kib) << 10;
	peer->split_timeout = msecs_to_jiffies(READ_ONCE(split_timeout_ms));
	peer->max_split = min_t(u32, DMP_MAX_SECTORS, DMW_SPLIT_MAX_SECTORS);
	dmp_mirror_init(peer);
}

/*
 * The disk's NAA identifier (VPD page 83h) and serial number (80h): NAA 3
 * (locally assigned) and 60 bits hashed from the backing device's path,
 * capacity and logical block size, so that the same backing device added
 * under the same path (e.g. /dev/disk/by-id/...) is the same SCSI disk
 * after every re-add and reboot: udev's by-id links and multipath rely
 * on it.
 */
static u64 dmp_naa(const struct dmp_peer *peer)
{
	u32 key[3] = { lower_32_bits(peer->capacity),
		       upper_32_bits(peer->capacity), peer->lbs_shift };
	size_t len = strnlen(peer->path, sizeof(peer->path));
	u32 hi = jhash(peer->path, len, jhash2(key, ARRAY_SIZE(key), 0x646d7020));
	u32 lo = jhash(peer->path, len, jhash2(key, ARRAY_SIZE(key), hi));

	return (3ULL << 60) | ((((u64)hi << 32) | lo) >> 4);
}

static int dmp_peer_open(struct dmp_peer *peer, const char *path)
{
	unsigned int lbs;

	strscpy(peer->path, path, sizeof(peer->path));
	peer->bdev = blkdev_get_by_path(path, DMP_FMODE, peer);
	if (IS_ERR(peer->bdev)) {
		int ret = PTR_ERR(peer->bdev);

		if (ret == -EBUSY)
			pr_err("%s: %s is in use (mounted, or opened exclusively by another holder)\n",
			       DMP_NAME, path);
		else
			pr_err("%s: cannot open %s: error %d\n", DMP_NAME, path,
			       ret);
		return ret;
	}
	lbs = bdev_logical_block_size(peer->bdev);
	peer->lbs_shift = ilog2(lbs);
	peer->capacity = bdev_nr_sectors(peer->bdev);
	if (lbs < DMW_SECTOR_SIZE || lbs > DMW_CHUNK_SIZE || !peer->capacity) {
		pr_err("%s: %s: unsupported logical block size %u or empty device\n",
		       DMP_NAME, path, lbs);
		blkdev_put(peer->bdev, DMP_FMODE);
		return -EINVAL;
	}
	peer->naa = dmp_naa(peer);
	return 0;
}

/**
 * dmp_peer_add - attach a backing device and create its SCSI disk
 * @path: block device path, opened exclusively
 * @meta: metadata device path (the generation is kept there), or NULL
 *
 * Return: the host number, or a negative errno.
 */
int dmp_peer_add(const char *path, const char *meta)
{
	struct Scsi_Host *shost;
	struct dmp_peer *peer;
	int ret;

	shost = scsi_host_alloc(&dmp_sht, sizeof(*peer));
	if (!shost)
		return -ENOMEM;
	peer = shost_priv(shost);
	dmp_peer_init(peer, shost);
	ret = dmp_peer_open(peer, path);
	if (ret)
		goto err_put;
	if (meta) {
		ret = dmp_meta_open(peer, meta);
		if (ret)
			goto err_bdev;
	}

	shost->max_id = 1;
	shost->max_lun = 1;
	shost->max_channel = 0;
	shost->max_cmd_len = DMW_CDB_LEN;
	ret = scsi_add_host(shost, dmp_root);
	if (ret)
		goto err_bdev;
	ret = scsi_add_device(shost, 0, 0, 0);
	if (ret)
		goto err_remove;

	mutex_lock(&dmp_peers_mutex);
	list_add_tail(&peer->node, &dmp_peers);
	mutex_unlock(&dmp_peers_mutex);
	shost_printk(KERN_INFO, shost, "peer disk on %s (%llu sectors, %u-byte blocks)\n",
		     path, peer->capacity, 1U << peer->lbs_shift);
	if (meta)
		shost_printk(KERN_INFO, shost, "metadata on %s: generation %llu, %s\n",
			     meta, peer->generation,
			     dmp_fence_name(peer->fence));
	return shost->host_no;

err_remove:
	scsi_remove_host(shost);
err_bdev:
	dmp_meta_close(peer);
	blkdev_put(peer->bdev, DMP_FMODE);
err_put:
	scsi_host_put(shost);
	return ret;
}

/* Tear one peer down; it is already off the list. */
static void dmp_peer_destroy(struct dmp_peer *peer)
{
	struct Scsi_Host *shost = peer->shost;

	spin_lock(&peer->lock);
	peer->removing = true;
	spin_unlock(&peer->lock);
	dmp_mirror_shutdown(peer, DID_NO_CONNECT);
	scsi_remove_host(shost);
	wait_var_event(&peer->busy, !atomic_read(&peer->busy));
	dmp_meta_close(peer);
	blkdev_put(peer->bdev, DMP_FMODE);
	shost_printk(KERN_INFO, shost, "peer disk on %s removed\n", peer->path);
	scsi_host_put(shost);
}

static bool dmp_peer_match(struct dmp_peer *peer, const char *name,
			   dev_t devt)
{
	unsigned int host_no;

	if (sscanf(name, "host%u", &host_no) == 1)
		return peer->shost->host_no == host_no;
	return devt && peer->bdev->bd_dev == devt;
}

/**
 * dmp_peer_remove - detach a peer disk
 * @name: "hostN" or the backing device's path
 *
 * Return: 0 or a negative errno.
 */
int dmp_peer_remove(const char *name)
{
	struct dmp_peer *peer, *found = NULL;
	dev_t devt = 0;

	if (strncmp(name, "host", 4) && lookup_bdev(name, &devt))
		return -ENODEV;
	mutex_lock(&dmp_peers_mutex);
	list_for_each_entry(peer, &dmp_peers, node) {
		if (dmp_peer_match(peer, name, devt)) {
			found = peer;
			list_del_init(&peer->node);
			break;
		}
	}
	mutex_unlock(&dmp_peers_mutex);
	if (!found)
		return -ENODEV;
	dmp_peer_destroy(found);
	return 0;
}

/* One line per peer disk: "hostN MAJ:MIN path". */
ssize_t dmp_peer_list(char *buf)
{
	struct dmp_peer *peer;
	ssize_t n = 0;

	mutex_lock(&dmp_peers_mutex);
	list_for_each_entry(peer, &dmp_peers, node)
		n += sysfs_emit_at(buf, n, "host%u %u:%u %s\n",
				   peer->shost->host_no,
				   MAJOR(peer->bdev->bd_dev),
				   MINOR(peer->bdev->bd_dev), peer->path);
	mutex_unlock(&dmp_peers_mutex);
	return n;
}

static int __init dmp_init(void)
{
	int ret;

	BUILD_BUG_ON(PAGE_SIZE < DMW_CHUNK_SIZE);
	ret = dmp_sysfs_init();
	if (ret)
		return ret;
	dmp_wq = alloc_workqueue(DMP_NAME, WQ_MEM_RECLAIM, 0);
	if (!dmp_wq) {
		ret = -ENOMEM;
		goto err_sysfs;
	}
	dmp_root = root_device_register(DMP_NAME);
	if (IS_ERR(dmp_root)) {
		ret = PTR_ERR(dmp_root);
		goto err_wq;
	}
	ret = sysfs_create_groups(&dmp_root->kobj, dmp_root_groups);
	if (ret)
		goto err_root;
	return 0;

err_root:
	root_device_unregister(dmp_root);
err_wq:
	destroy_workqueue(dmp_wq);
err_sysfs:
	dmp_sysfs_exit();
	return ret;
}

static void __exit dmp_exit(void)
{
	struct dmp_peer *peer;

	sysfs_remove_groups(&dmp_root->kobj, dmp_root_groups);
	for (;;) {
		mutex_lock(&dmp_peers_mutex);
		peer = list_first_entry_or_null(&dmp_peers, struct dmp_peer,
						node);
		if (peer)
			list_del_init(&peer->node);
		mutex_unlock(&dmp_peers_mutex);
		if (!peer)
			break;
		dmp_peer_destroy(peer);
	}
	root_device_unregister(dmp_root);
	destroy_workqueue(dmp_wq);
	dmp_sysfs_exit();
}

module_init(dmp_init);
module_exit(dmp_exit);

MODULE_DESCRIPTION("dualmirror peer: virtual SCSI host applying mirrored writes");
MODULE_AUTHOR("dualmirror developers");
MODULE_LICENSE("GPL");
