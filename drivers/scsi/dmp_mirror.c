// SPDX-License-Identifier: GPL-2.0
/*
 * dualmirror_peer: the mirror commands (include/uapi/linux/dualmirror.h).
 *
 * INLINE writes go straight to the backing device from the command's own
 * pages.  A split write arrives as SPLIT DATA (the data) and SPLIT DESC
 * (the metadata with one CRC32C per 4 KiB), in either order:
 *
 * - DATA first: the data is staged (its own pages referenced, or copied)
 *   in bounded staging memory, keyed by its sequence tag and tagged with
 *   the generation, and DATA completes GOOD.  Unclaimed staged data is
 *   freed after split_timeout.
 * - DESC first: the validated descriptor is parked; the DATA that arrives
 *   later completes the pair.  A parked DESC whose data does not come
 *   within split_timeout fails with DMW_R_DATA_MISSING.
 *
 * The pair is written only after the length and every CRC matched, and
 * only if the generation did not change; DESC completes after the write.
 * Both commands run in queuecommand on the direct path (dmp_direct_ready())
 * as INLINE does, the write then submitted with REQ_NOWAIT by whichever of
 * the two came second.
 * CLAIM (with the current generation's tag, or FORCE) advances the
 * generation, fences standard writes, drops staged data, fails parked
 * DESCs and waits for writes of the old generation still in flight.
 *
 * DISCARD and WRITE ZEROES carry their range in the CDB and no data; they
 * are checked like INLINE writes, hold their generation like them, and
 * become a chain of discard or write zeroes bios on the backing device
 * (write zeroes by writing the zero page when the device has no offload).
 */
#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/moduleparam.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_common.h>

#include "dualmirror_peer.h"

static bool stage_by_reference = true;
module_param(stage_by_reference, bool, 0644);
MODULE_PARM_DESC(stage_by_reference,
		 "Stage SPLIT DATA by taking a reference on its pages where they allow it (default Y); N copies every time");

static unsigned int fault_staging_alloc;
module_param(fault_staging_alloc, uint, 0644);
MODULE_PARM_DESC(fault_staging_alloc,
		 "Test hook: fail the staging of the next N SPLIT DATA commands");

/* Fixed-format sense data is 18 bytes: ADDITIONAL SENSE LENGTH 10 */
#define DMP_SENSE_LEN	18

/*
 * The sense of a refusal: response code 70h, the sense key, ASC and ASCQ
 * of @st->reason (dmw_reason_sense()) and, where the reason has one, the
 * sense-key specific field pointer (SKSV, C/D, BPV, bit and field
 * pointer) at bytes 15-17.  scsi_set_sense_field_pointer() of Linux 6.1
 * raises the ADDITIONAL SENSE LENGTH of fixed-format sense to 18 (it takes
 * the field for the whole length); it is 10 for these 18 bytes, as the
 * wire format documents.
 */
static void dmp_refusal_sense(u8 *buf, const struct dmw_status *st)
{
	u32 s = dmw_reason_sense(st->reason);

	memset(buf, 0, SCSI_SENSE_BUFFERSIZE);
	scsi_build_sense_buffer(0, buf, (s >> 16) & 0x0f, (s >> 8) & 0xff,
				s & 0xff);
	if (dmw_reason_has_field(st->reason)) {
		scsi_set_sense_field_pointer(buf, SCSI_SENSE_BUFFERSIZE,
					     st->field, st->bit, st->in_cdb);
		buf[7] = DMP_SENSE_LEN - 8;
	}
}

static int dmp_refuse(struct dmp_cmd *dc, const struct dmw_status *st)
{
	struct scsi_cmnd *scmd = dc->scmd;
	struct dmp_peer *peer = dc->peer;

	dmp_refusal_sense(scmd->sense_buffer, st);
	scmd->result = SAM_STAT_CHECK_CONDITION;
	if (st->reason < DMW_R_NR)
		atomic64_inc(&peer->stats.reason[st->reason]);
	dmp_count(peer, dc->framing, DMP_EV_REJECTED, 1);
	return DMP_DONE;
}

static int dmp_refuse_reason(struct dmp_cmd *dc, unsigned int reason,
			     int in_cdb, unsigned int field)
{
	struct dmw_status st;

	dmw_fail(&st, reason, in_cdb, field, DMW_NO_BIT);
	return dmp_refuse(dc, &st);
}

static blk_opf_t dmp_write_opf(u8 flags)
{
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC;

	if (flags & DMW_F_FUA)
		opf |= REQ_FUA;
	if (flags & DMW_F_PREFLUSH)
		opf |= REQ_PREFLUSH;
	return opf;
}

/* Data-out bytes the transport delivered; 0 for any other direction. */
static u32 dmp_xfer_out(struct scsi_cmnd *scmd)
{
	return scmd->sc_data_direction == DMA_TO_DEVICE ? scsi_bufflen(scmd) : 0;
}

/* Staging memory a split write of @nr_sectors pins: whole pages. */
static u64 dmp_staged_charge(u32 nr_sectors)
{
	return (u64)DIV_ROUND_UP(nr_sectors << DMW_SECTOR_SHIFT, PAGE_SIZE)
	       << PAGE_SHIFT;
}

/* Drop the pages and free the structure; the charge is the caller's. */
static void dmp_staged_put_pages(struct dmp_staged *stg)
{
	unsigned int i;

	for (i = 0; i < stg->nr_vecs; i++)
		put_page(stg->vecs[i].bv_page);
	kvfree(stg);
}

/* Free staged data and give back its charge, once. */
static void dmp_staged_free(struct dmp_peer *peer, struct dmp_staged *stg)
{
	atomic64_sub(stg->charge, &peer->staged_bytes);
	dmp_staged_put_pages(stg);
}

static bool dmp_fault_staging(void)
{
	unsigned int n = READ_ONCE(fault_staging_alloc);

	if (!n)
		return false;
	WRITE_ONCE(fault_staging_alloc, n - 1);
	return true;
}

/*
 * Call @fn for each page-sized piece of the first @bytes of @scmd's
 * scatterlist: a segment of physically contiguous pages (the block layer
 * merges them into one) is taken page by page.  Stops at the first piece
 * @fn refuses.
 *
 * Return: the pieces @fn took, or 0 if it refused one or @bytes were not
 * there.
 */
static unsigned int dmp_sg_pieces(struct scsi_cmnd *scmd, u32 bytes,
				  bool (*fn)(struct page *page, u32 len,
					     u32 off, void *arg),
				  void *arg)
{
	struct scatterlist *sg;
	unsigned int i, n = 0;

	scsi_for_each_sg(scmd, sg, scsi_sg_count(scmd), i) {
		u32 len = min(sg->length, bytes);
		struct page *page = nth_page(sg_page(sg),
					     sg->offset >> PAGE_SHIFT);
		u32 off = offset_in_page(sg->offset);

		bytes -= len;
		while (len) {
			u32 piece = min_t(u32, len, PAGE_SIZE - off);

			if (!fn(page, piece, off, arg))
				return 0;
			n++;
			len -= piece;
			page = nth_page(page, 1);
			off = 0;
		}
		if (!bytes)
			break;
	}
	return bytes ? 0 : n;
}

/*
 * May a piece be staged by reference?  Only if the command alone owns its
 * page, so that nobody writes it once the command ended: an order-0 page
 * that is not compound (a large kmalloc() buffer or a huge page), not
 * slab memory, not in the page cache or a process's memory (LRU,
 * mapping), not device memory, and whose only reference is the owner's
 * (a tail page of a non-compound allocation has none).  A pool that hands
 * out pages it keeps and reuses would still pass: no fabric that reaches
 * pscsi with mirror commands does in 6.1 (module parameter
 * stage_by_reference).  LIO's data buffers (iSCSI, iSER with RDMA READ:
 * target_alloc_sgl()'s order-0 pages, released when the command ends)
 * qualify; isert's receive buffer, which it points the command at for
 * immediate data and reuses, does not (compound).  The piece must also
 * be whole sectors, as the bios that write it later need.
 */
static bool dmp_piece_referable(struct page *page, u32 len, u32 off,
				void *arg)
{
	return !PageCompound(page) && !PageSlab(page) && !PageLRU(page) &&
	       !page_mapping(page) && !is_zone_device_page(page) &&
	       page_count(page) == 1 && !((off | len) & (SECTOR_SIZE - 1));
}

static bool dmp_piece_take(struct page *page, u32 len, u32 off, void *arg)
{
	struct dmp_staged *stg = arg;

	get_page(page);
	bvec_set_page(&stg->vecs[stg->nr_vecs++], page, len, off);
	return true;
}

/* Stage by reference: the command's own pages, one reference each. */
static struct dmp_staged *dmp_staged_ref(struct scsi_cmnd *scmd, u32 bytes,
					 gfp_t gfp)
{
	unsigned int nr = dmp_sg_pieces(scmd, bytes, dmp_piece_referable, NULL);
	struct dmp_staged *stg;

	if (!nr)
		return ERR_PTR(-EINVAL);
	stg = kvmalloc(struct_size(stg, vecs, nr), gfp);
	if (!stg)
		return NULL;
	stg->nr_vecs = 0;
	dmp_sg_pieces(scmd, bytes, dmp_piece_take, stg);
	return stg;
}

/* Stage by copy: pages of our own, each from offset 0. */
static struct dmp_staged *dmp_staged_copy(struct scsi_cmnd *scmd, u32 bytes,
					  gfp_t gfp)
{
	unsigned int nr = DIV_ROUND_UP(bytes, PAGE_SIZE);
	struct dmp_staged *stg;
	unsigned int i;

	stg = kvmalloc(struct_size(stg, vecs, nr), gfp);
	if (!stg)
		return NULL;
	for (i = 0; i < nr; i++) {
		unsigned int len = min_t(u32, PAGE_SIZE, bytes - i * PAGE_SIZE);
		struct page *page = alloc_page(gfp);
		void *addr;

		if (!page) {
			stg->nr_vecs = i;
			dmp_staged_put_pages(stg);
			return NULL;
		}
		addr = kmap_local_page(page);
		sg_pcopy_to_buffer(scsi_sglist(scmd), scsi_sg_count(scmd), addr,
				   len, (size_t)i * PAGE_SIZE);
		kunmap_local(addr);
		bvec_set_page(&stg->vecs[i], page, len, 0);
	}
	stg->nr_vecs = nr;
	return stg;
}

/*
 * Stage the command's @nr_sectors of data: by reference where the pages
 * allow it (no copy, nothing zeroed), else by copy, allocating with @gfp
 * (GFP_KERNEL in the worker, where the allocation is made GFP_NOIO;
 * GFP_NOWAIT in queuecommand).  Either way the data is checked against
 * the descriptor's CRCs before it is written.  Pages are held only where
 * nobody else writes them once the command ended (dmp_piece_referable()):
 * the CRC check catches a change before it, not one between the check
 * and the write.  Nothing is charged yet (dmp_staged_charge_take()).
 */
static struct dmp_staged *dmp_staged_alloc(struct dmp_cmd *dc, u32 nr_sectors,
					   gfp_t gfp)
{
	u32 bytes = nr_sectors << DMW_SECTOR_SHIFT;
	struct scsi_cmnd *scmd = dc->scmd;
	struct dmp_staged *stg;
	unsigned int noio;
	bool copied;

	noio = memalloc_noio_save();
	stg = READ_ONCE(stage_by_reference) ? dmp_staged_ref(scmd, bytes, gfp) :
					       ERR_PTR(-EINVAL);
	copied = IS_ERR(stg);
	if (copied)
		stg = dmp_staged_copy(scmd, bytes, gfp);
	memalloc_noio_restore(noio);
	if (!stg)
		return NULL;
	stg->copied = copied;
	INIT_LIST_HEAD(&stg->node);
	stg->nr_sectors = nr_sectors;
	stg->charge = 0;
	return stg;
}

/*
 * Charge staged data to the peer's staging bound: @charge, which the
 * caller added to staged_bytes and checked against the bound, or more if
 * pieces at odd offsets pin more pages than the data fills (added without
 * a second check).  dmp_staged_free() gives the charge back.
 */
static void dmp_staged_charge_take(struct dmp_peer *peer,
				   struct dmp_staged *stg, u64 charge)
{
	stg->charge = charge;
	if ((u64)stg->nr_vecs << PAGE_SHIFT > charge) {
		stg->charge = (u64)stg->nr_vecs << PAGE_SHIFT;
		atomic64_add(stg->charge - charge, &peer->staged_bytes);
	}
}

/* What dmp_staged_check() compares each chunk's CRC with. */
struct dmp_crc_check {
	const struct dmw_desc *d;
	struct dmw_status *st;
};

static int dmp_chunk_check(void *arg, u32 chunk, u32 crc)
{
	struct dmp_crc_check *c = arg;

	/* the lengths were checked equal: never more chunks than CRCs */
	if (WARN_ON_ONCE(chunk >= c->d->nr_crcs))
		return dmw_fail(c->st, DMW_R_DESC_LEN, 0, 0, DMW_NO_BIT);
	return dmw_check_crc(c->d, chunk, crc, c->st);
}

/* Check every 4 KiB chunk of the staged data against its CRC in @d. */
static int dmp_staged_check(struct dmp_staged *stg, const struct dmw_desc *d,
			    struct dmw_status *st)
{
	struct dmp_crc_check c = { .d = d, .st = st };
	struct dmw_crc_run run;
	unsigned int i;
	int ret = 0;

	dmw_crc_run_init(&run);
	for (i = 0; i < stg->nr_vecs && !ret; i++) {
		struct bio_vec *bv = &stg->vecs[i];
		u8 *addr = bvec_kmap_local(bv);

		ret = dmw_crc_run_feed(&run, addr, bv->bv_len, dmp_chunk_check,
				       &c);
		kunmap_local(addr);
	}
	if (!ret)
		ret = dmw_crc_run_end(&run, dmp_chunk_check, &c);
	if (ret)
		return -EILSEQ;
	/* the lengths were checked equal: every chunk was checked */
	WARN_ON_ONCE(run.chunk != d->nr_crcs);
	return 0;
}

static struct dmp_staged *__dmp_find_staged(struct dmp_peer *peer, u32 tag)
{
	struct dmp_staged *stg;

	list_for_each_entry(stg, &peer->staged, node)
		if (stg->seq_tag == tag)
			return stg;
	return NULL;
}

static struct dmp_cmd *__dmp_find_parked(struct dmp_peer *peer, u32 tag)
{
	struct dmp_cmd *dc;

	list_for_each_entry(dc, &peer->parked, node)
		if (dc->mc.seq_tag == tag)
			return dc;
	return NULL;
}

static void __dmp_arm_reaper(struct dmp_peer *peer)
{
	queue_delayed_work(dmp_wq, &peer->reaper, peer->split_timeout);
}

/* Completion of a mirror write (INLINE, or the pair of a split write). */
static void dmp_write_end(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	struct scsi_cmnd *scmd = dc->scmd;

	if (dc->bio_status) {
		dmp_count_misc(peer, DMP_C_IO_ERRORS, 1);
		dmp_check_condition(dc, MEDIUM_ERROR, 0x0c, 0);
	} else {
		dmp_count(peer, dc->framing, DMP_EV_WRITES, 1);
		dmp_count(peer, dc->framing, DMP_EV_BYTES, dc->bytes);
		scmd->result = SAM_STAT_GOOD;
	}
	if (dc->staged) {
		dmp_staged_free(peer, dc->staged);
		dc->staged = NULL;
	}
	dmp_complete(dc);	/* drops the generation reference */
}

/*
 * Take a reference on the current generation for a write that was checked
 * against @gen; fails if a CLAIM came in between.
 */
static bool dmp_write_begin(struct dmp_cmd *dc, u64 gen)
{
	struct dmp_peer *peer = dc->peer;
	bool ok;

	spin_lock(&peer->lock);
	ok = peer->generation == gen;
	if (ok) {
		dc->gen_slot = gen & 1;
		atomic_inc(&peer->inflight_gen[dc->gen_slot]);
	}
	spin_unlock(&peer->lock);
	return ok;
}

static int dmp_check_cmd(struct dmp_cmd *dc, u64 *gen, struct dmw_status *st)
{
	struct dmp_peer *peer = dc->peer;
	int ret;

	spin_lock(&peer->lock);
	*gen = peer->generation;
	spin_unlock(&peer->lock);
	ret = dmw_check_cmd(&dc->mc, dmp_xfer_out(dc->scmd), peer->capacity,
			    peer->lbs_shift, *gen, st);
	return ret;
}

/*
 * INLINE: never sleeps (peer->lock is a spinlock, dmp_submit_sg() of a
 * command in queuecommand submits with REQ_NOWAIT or defers), so it may
 * run in queuecommand.
 */
static int dmp_inline(struct dmp_cmd *dc)
{
	struct dmw_cmd *mc = &dc->mc;
	struct dmw_status st;
	u64 gen;

	if (dmp_check_cmd(dc, &gen, &st))
		return dmp_refuse(dc, &st);
	if (!dmp_write_begin(dc, gen))
		return dmp_refuse_reason(dc, DMW_R_GENERATION, 1, DMW_OFF_GEN);
	dc->bytes = mc->nr_sectors << DMW_SECTOR_SHIFT;
	return dmp_submit_sg(dc, dmp_write_opf(mc->flags), mc->lba, dc->bytes,
			     dmp_write_end);
}

/* The mirror commands without data this peer takes (QUERY, CLAIM). */
u8 dmp_caps(struct dmp_peer *peer)
{
	u8 caps = DMW_CAP_WRITE_ZEROES;

	if (bdev_max_discard_sectors(peer->bdev))
		caps |= DMW_CAP_DISCARD;
	if (bdev_write_zeroes_sectors(peer->bdev))
		caps |= DMW_CAP_ZEROES_OFFLOAD;
	return caps;
}

/*
 * DISCARD or WRITE ZEROES: checked as an INLINE write is (no data in
 * either direction), then applied under a reference on the generation.
 * A DISCARD to a backing device that cannot discard (it did not announce
 * DMW_CAP_DISCARD) is refused as the unknown type of an older peer is.
 */
static int dmp_zero(struct dmp_cmd *dc)
{
	struct dmw_cmd *mc = &dc->mc;
	bool discard = mc->type == DMW_T_DISCARD;
	struct dmw_status st;
	u64 gen;

	if (scsi_bufflen(dc->scmd))
		return dmp_refuse_reason(dc, DMW_R_XFER_LEN, 1, DMW_OFF_ZERO_LEN);
	if (dmp_check_cmd(dc, &gen, &st))
		return dmp_refuse(dc, &st);
	if (discard && !(dmp_caps(dc->peer) & DMW_CAP_DISCARD)) {
		dmw_fail(&st, DMW_R_SERVICE_ACTION, 1, DMW_OFF_TYPE, 7);
		return dmp_refuse(dc, &st);
	}
	if (!dmp_write_begin(dc, gen))
		return dmp_refuse_reason(dc, DMW_R_GENERATION, 1, DMW_OFF_GEN);
	dc->bytes = mc->nr_sectors << DMW_SECTOR_SHIFT;
	return dmp_submit_zero(dc, discard, mc->lba, mc->nr_sectors,
			       mc->flags & DMW_F_NOUNMAP, dmp_write_end);
}

/*
 * Check a staged write against its descriptor (length, every chunk's CRC,
 * generation) and write it.  @dc owns @stg.
 */
static int dmp_split_apply(struct dmp_cmd *dc, struct dmp_staged *stg)
{
	const struct dmw_desc *d = &dc->desc;
	struct dmw_status st;

	dc->staged = stg;
	if (stg->nr_sectors != d->nr_sectors) {
		dmw_fail(&st, DMW_R_DESC_FIELD, 0, DMW_DOFF_SECTORS, DMW_NO_BIT);
		goto refuse;
	}
	if (dmp_staged_check(stg, d, &st))
		goto refuse;
	if (stg->generation != d->generation || !dmp_write_begin(dc, d->generation)) {
		dmw_fail(&st, DMW_R_GENERATION, 0, DMW_DOFF_GEN, DMW_NO_BIT);
		goto refuse;
	}
	dc->bytes = d->nr_sectors << DMW_SECTOR_SHIFT;
	return dmp_submit_staged(dc, dmp_write_opf(d->flags), d->lba,
				 dmp_write_end);
refuse:
	dc->staged = NULL;
	dmp_staged_free(dc->peer, stg);
	return dmp_refuse(dc, &st);
}

/*
 * SPLIT DATA: stage the data (in queuecommand that was done already,
 * dmp_direct_ready(): @dc->staged, uncharged, which a refusal leaves to
 * dmp_mirror_finish()), then hand it to its parked descriptor or park it.
 */
static int dmp_split_data(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	struct dmw_cmd *mc = &dc->mc;
	struct dmp_staged *stg;
	struct dmp_cmd *desc;
	struct dmw_status st;
	u64 charge, gen;
	bool copied;

	if (dmp_check_cmd(dc, &gen, &st))
		return dmp_refuse(dc, &st);
	if (mc->nr_sectors > peer->max_split)
		return dmp_refuse_reason(dc, DMW_R_LENGTH, 1, DMW_OFF_LEN32);
	charge = dmp_staged_charge(mc->nr_sectors);
	if (atomic64_add_return(charge, &peer->staged_bytes) > peer->staging_bytes) {
		atomic64_sub(charge, &peer->staged_bytes);
		return dmp_refuse_reason(dc, DMW_R_RESOURCES, 1, 0);
	}
	stg = dc->staged;
	if (!stg && !dmp_fault_staging())
		stg = dmp_staged_alloc(dc, mc->nr_sectors, GFP_KERNEL);
	if (!stg) {
		atomic64_sub(charge, &peer->staged_bytes);
		return dmp_refuse_reason(dc, DMW_R_RESOURCES, 1, 0);
	}
	dc->staged = NULL;	/* from here on freed with its charge */
	dmp_staged_charge_take(peer, stg, charge);
	stg->seq_tag = mc->seq_tag;
	stg->generation = gen;
	stg->deadline = jiffies + peer->split_timeout;
	copied = stg->copied;	/* @stg is not ours once it is listed */

	spin_lock(&peer->lock);
	if (peer->dying || peer->generation != gen || __dmp_find_staged(peer, mc->seq_tag)) {
		unsigned int reason = peer->dying ? DMW_R_RESOURCES :
				      peer->generation != gen ? DMW_R_GENERATION :
				      DMW_R_SEQUENCE;

		spin_unlock(&peer->lock);
		dmp_staged_free(peer, stg);
		return dmp_refuse_reason(dc, reason, 1,
					 reason == DMW_R_GENERATION ? DMW_OFF_GEN :
					 DMW_OFF_SEQ);
	}
	desc = __dmp_find_parked(peer, mc->seq_tag);
	if (desc) {
		list_del_init(&desc->node);
		WRITE_ONCE(desc->state, DMP_ST_RUNNING);
	} else {
		list_add_tail(&stg->node, &peer->staged);
		__dmp_arm_reaper(peer);
	}
	spin_unlock(&peer->lock);
	dmp_count_misc(peer, DMP_C_STAGED, 1);
	if (copied)
		dmp_count_misc(peer, DMP_C_STAGED_COPIED, 1);

	/*
	 * The parked descriptor completes when its write did; the write is
	 * submitted from here, so as this command may (queuecommand or not).
	 */
	if (desc) {
		desc->nowait = dc->nowait;
		if (dmp_split_apply(desc, stg) == DMP_DONE)
			dmp_complete(desc);
	}
	dc->scmd->result = SAM_STAT_GOOD;
	return DMP_DONE;
}

/*
 * The SPLIT DESC's parameter data (dmp_check_cmd() or the caller checked
 * that the command carries exactly mc.param_len bytes): read in place
 * when it lies in one segment of directly mapped memory, as LIO's
 * buffers do (the command's buffer lives until it completes), else
 * copied into a buffer allocated with @gfp.
 */
static bool dmp_desc_buf_get(struct dmp_cmd *dc, gfp_t gfp)
{
	struct scsi_cmnd *scmd = dc->scmd;
	struct scatterlist *sg = scsi_sglist(scmd);
	u32 len = dc->mc.param_len;

	if (dc->desc_buf)
		return true;
	if (scsi_sg_count(scmd) && sg->length >= len &&
	    !PageHighMem(nth_page(sg_page(sg),
				  (sg->offset + len - 1) >> PAGE_SHIFT))) {
		dc->desc_buf = sg_virt(sg);
		return true;
	}
	dc->desc_buf = kmalloc(len, gfp);
	if (!dc->desc_buf)
		return false;
	dc->desc_copied = true;
	scsi_sg_copy_to_buffer(scmd, dc->desc_buf, len);
	return true;
}

/*
 * Free what a mirror command holds when it finishes (dmp_finish()): a
 * copied descriptor, and staged data with its charge (none for data a
 * SPLIT DATA staged in queuecommand and then refused).
 */
void dmp_mirror_finish(struct dmp_cmd *dc)
{
	if (dc->desc_copied)
		kfree(dc->desc_buf);
	dc->desc_buf = NULL;
	dc->desc_copied = false;
	if (dc->staged) {
		dmp_staged_free(dc->peer, dc->staged);
		dc->staged = NULL;
	}
}

static int dmp_split_desc(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	struct dmw_cmd *mc = &dc->mc;
	struct dmp_staged *stg;
	struct dmw_status st;
	u64 gen;

	if (dmp_check_cmd(dc, &gen, &st))
		return dmp_refuse(dc, &st);
	if (!dmp_desc_buf_get(dc, GFP_NOIO))
		return dmp_refuse_reason(dc, DMW_R_RESOURCES, 1, 0);

	spin_lock(&peer->lock);
	if (dmw_decode_desc(dc->desc_buf, mc->param_len, mc, peer->capacity,
			    peer->lbs_shift, peer->generation, &dc->desc, &st)) {
		spin_unlock(&peer->lock);
		return dmp_refuse(dc, &st);
	}
	stg = __dmp_find_staged(peer, mc->seq_tag);
	if (stg) {
		list_del_init(&stg->node);
		spin_unlock(&peer->lock);
		return dmp_split_apply(dc, stg);
	}
	if (peer->dying) {
		spin_unlock(&peer->lock);
		set_host_byte(dc->scmd, DID_NO_CONNECT);
		return DMP_DONE;
	}
	if (__dmp_find_parked(peer, mc->seq_tag)) {
		spin_unlock(&peer->lock);
		return dmp_refuse_reason(dc, DMW_R_SEQUENCE, 1, DMW_OFF_SEQ);
	}
	dc->deadline = jiffies + peer->split_timeout;
	WRITE_ONCE(dc->state, DMP_ST_PARKED);
	list_add_tail(&dc->node, &peer->parked);
	__dmp_arm_reaper(peer);
	spin_unlock(&peer->lock);
	dmp_count_misc(peer, DMP_C_PARKED, 1);
	return DMP_ASYNC;
}

/* Take parked commands and staged data off the peer; caller holds lock. */
static void __dmp_take_all(struct dmp_peer *peer, struct list_head *cmds,
			   struct list_head *stgs)
{
	struct dmp_cmd *dc;

	list_splice_init(&peer->parked, cmds);
	list_splice_init(&peer->staged, stgs);
	list_for_each_entry(dc, cmds, node)
		WRITE_ONCE(dc->state, DMP_ST_RUNNING);
}

static void dmp_drop_staged(struct dmp_peer *peer, struct list_head *stgs,
			    unsigned int counter)
{
	struct dmp_staged *stg, *tmp;

	list_for_each_entry_safe(stg, tmp, stgs, node) {
		list_del(&stg->node);
		dmp_staged_free(peer, stg);
		dmp_count_misc(peer, counter, 1);
	}
}

/* Complete taken-off parked commands with a refusal or a host byte. */
static void dmp_fail_parked(struct list_head *cmds, unsigned int reason,
			    int host_byte)
{
	struct dmp_cmd *dc, *tmp;

	list_for_each_entry_safe(dc, tmp, cmds, node) {
		list_del_init(&dc->node);
		if (host_byte) {
			dc->scmd->result = 0;
			set_host_byte(dc->scmd, host_byte);
		} else {
			dmp_refuse_reason(dc, reason, 0,
					  reason == DMW_R_GENERATION ? DMW_DOFF_GEN : 0);
		}
		dmp_complete(dc);
	}
}

static const char * const dmp_fence_names[] = {
	[DMP_FENCE_OPEN] = "open",
	[DMP_FENCE_CLAIMED] = "claimed",
	[DMP_FENCE_RELEASED] = "released",
};

const char *dmp_fence_name(int fence)
{
	return fence >= 0 && fence < ARRAY_SIZE(dmp_fence_names) ?
	       dmp_fence_names[fence] : "unknown";
}

/*
 * The one place the fence changes; caller holds peer->lock.  CLAIM moves
 * any state to CLAIMED; release moves CLAIMED to RELEASED; nothing goes
 * back to OPEN.
 */
static bool __dmp_fence_set(struct dmp_peer *peer, int to)
{
	int from = peer->fence;

	if (to == DMP_FENCE_CLAIMED ||
	    (to == DMP_FENCE_RELEASED && from == DMP_FENCE_CLAIMED)) {
		peer->fence = to;
		return true;
	}
	return false;
}

/**
 * dmp_peer_release - let standard writes modify a claimed disk again
 * @peer: the peer
 *
 * For the administrator (sysfs ``release``), until the next CLAIM.  A disk
 * that is not claimed is left as it is.
 *
 * Return: 0.
 */
int dmp_peer_release(struct dmp_peer *peer)
{
	bool released;
	u64 gen;

	spin_lock(&peer->lock);
	released = __dmp_fence_set(peer, DMP_FENCE_RELEASED);
	gen = peer->generation;
	spin_unlock(&peer->lock);
	if (released) {
		dmp_count_misc(peer, DMP_C_RELEASES, 1);
		shost_printk(KERN_INFO, peer->shost,
			     "released for standard writes at generation %llu, until the next CLAIM\n",
			     gen);
	}
	return 0;
}

/**
 * dmp_plain_write_begin - admit a standard command that modifies the medium
 * @dc: the command
 *
 * Refused while the disk is claimed.  An admitted write holds a reference
 * on the current generation until it completes, so a CLAIM returns only
 * after it landed.
 *
 * Return: true if admitted.
 */
bool dmp_plain_write_begin(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	bool ok;

	spin_lock(&peer->lock);
	ok = peer->fence != DMP_FENCE_CLAIMED;
	if (ok) {
		dc->gen_slot = peer->generation & 1;
		atomic_inc(&peer->inflight_gen[dc->gen_slot]);
	}
	spin_unlock(&peer->lock);
	return ok;
}

/*
 * CLAIM: only with the current generation's tag, or FORCE; the check and
 * the increment are one step under claim_mutex, the new generation on the
 * metadata device (if any) in between.  A refused CLAIM changes nothing.
 */
static int dmp_claim(struct dmp_cmd *dc, struct dmw_status *st)
{
	struct dmp_peer *peer = dc->peer;
	LIST_HEAD(cmds);
	LIST_HEAD(stgs);
	u64 old;

	/* only CLAIM changes the generation: claim_mutex keeps it still */
	mutex_lock(&peer->claim_mutex);
	spin_lock(&peer->lock);
	old = peer->generation;
	spin_unlock(&peer->lock);
	if (dmw_check_cmd(&dc->mc, 0, peer->capacity, peer->lbs_shift, old,
			  st)) {
		mutex_unlock(&peer->claim_mutex);
		return -EINVAL;
	}
	/* on stable media before anything changes or is answered */
	if (peer->meta_bdev && dmp_meta_persist(peer, old + 1)) {
		mutex_unlock(&peer->claim_mutex);
		return dmw_fail(st, DMW_R_RESOURCES, 1, DMW_OFF_TYPE,
				DMW_NO_BIT);
	}
	dmp_meta_drop_bitmap(peer);
	spin_lock(&peer->lock);
	peer->generation = old + 1;
	peer->meta_flags &= ~(DMW_SF_FRESH | DMW_SF_SUSPECT | DMW_SF_DIVERGED);
	__dmp_fence_set(peer, DMP_FENCE_CLAIMED);
	__dmp_take_all(peer, &cmds, &stgs);
	spin_unlock(&peer->lock);
	dmp_fail_parked(&cmds, DMW_R_GENERATION, 0);
	dmp_drop_staged(peer, &stgs, DMP_C_STAGED_DROPPED);
	/* fence: no write of the old generation lands after CLAIM returns */
	wait_var_event(&peer->inflight_gen[old & 1],
		       !atomic_read(&peer->inflight_gen[old & 1]));
	mutex_unlock(&peer->claim_mutex);
	dmp_count_misc(peer, DMP_C_CLAIMS, 1);
	if (dc->mc.flags & DMW_F_FORCE)
		dmp_count_misc(peer, DMP_C_CLAIMS_FORCED, 1);
	return 0;
}

static int dmp_state_cmd(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;
	struct dmp_peer *peer = dc->peer;
	u8 buf[DMW_STATE_LEN];
	struct dmw_status st;
	struct dmw_state s;

	if (scsi_bufflen(scmd) && scmd->sc_data_direction != DMA_FROM_DEVICE)
		return dmp_refuse_reason(dc, DMW_R_XFER_LEN, 1, DMW_OFF_LEN32);
	if (dc->mc.type == DMW_T_CLAIM && dmp_claim(dc, &st))
		return dmp_refuse(dc, &st);
	s.version = DMW_VERSION;
	s.lbs_shift = peer->lbs_shift;
	spin_lock(&peer->lock);
	s.generation = peer->generation;
	s.flags = peer->meta_flags;
	spin_unlock(&peer->lock);
	/* the suspect bitmap, until a CLAIM took it over */
	s.bm_regions = s.flags & DMW_SF_SUSPECT ? peer->bm_regions : 0;
	s.bm_shift = s.flags & DMW_SF_SUSPECT ? peer->bm_shift : 0;
	s.capacity = peer->capacity;
	s.max_split = peer->max_split;
	s.staging_kib = peer->staging_bytes >> 10;
	s.caps = dmp_caps(peer);
	dmw_encode_state(buf, &s);
	return dmp_copy_to_sg(dc, buf, sizeof(buf), dc->mc.param_len);
}

/* BITMAP: a chunk of the suspect regions, zeroes past them */
static int dmp_bitmap_cmd(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;
	u32 len = dc->mc.param_len;
	int ret;
	u8 *buf;

	if (scsi_bufflen(scmd) && scmd->sc_data_direction != DMA_FROM_DEVICE)
		return dmp_refuse_reason(dc, DMW_R_XFER_LEN, 1, DMW_OFF_LEN32);
	buf = kvmalloc(max(len, 1U), GFP_NOIO);
	if (!buf)
		return dmp_refuse_reason(dc, DMW_R_RESOURCES, 1, DMW_OFF_LEN32);
	dmp_meta_bitmap_chunk(dc->peer, dc->mc.lba, buf, len);
	ret = dmp_copy_to_sg(dc, buf, len, len);
	kvfree(buf);
	return ret;
}

static const u8 dmp_type_framing[] = {
	[DMW_T_INLINE] = DMP_FR_INLINE,
	[DMW_T_SPLIT_DATA] = DMP_FR_SPLIT,
	[DMW_T_SPLIT_DESC] = DMP_FR_SPLIT,
	[DMW_T_QUERY] = DMP_FR_CONTROL,
	[DMW_T_CLAIM] = DMP_FR_CONTROL,
	[DMW_T_DISCARD] = DMP_FR_DISCARD,
	[DMW_T_WRITE_ZEROES] = DMP_FR_ZEROES,
	[DMW_T_BITMAP] = DMP_FR_CONTROL,
};

/*
 * In queuecommand: may this command run here, without sleeping?  INLINE
 * always (dmp_inline()).  SPLIT DATA once its data is staged with
 * GFP_NOWAIT, and SPLIT DESC once its parameter data is in a buffer
 * (in place, or copied with GFP_NOWAIT): from there on both only take
 * peer->lock, compute CRCs and submit through dmp_submit_staged().  What
 * the worker refuses (a length that does not match the data, a SPLIT
 * DATA longer than max_split) and the staging fault hook go to the
 * worker too.  Nothing is visible to anyone yet: what a command that is
 * deferred got here it does not keep (only a true return keeps it).
 */
static bool dmp_direct_ready(struct dmp_cmd *dc)
{
	const struct dmw_cmd *mc = &dc->mc;
	u32 xfer = dmp_xfer_out(dc->scmd);

	switch (mc->type) {
	case DMW_T_INLINE:
		return true;
	case DMW_T_SPLIT_DATA:
		if (mc->nr_sectors > dc->peer->max_split ||
		    xfer != dmw_data_len(mc) || READ_ONCE(fault_staging_alloc))
			return false;
		dc->staged = dmp_staged_alloc(dc, mc->nr_sectors,
					      GFP_NOWAIT | __GFP_NOWARN);
		return !!dc->staged;
	case DMW_T_SPLIT_DESC:
		return xfer && xfer == dmw_data_len(mc) &&
		       dmp_desc_buf_get(dc, GFP_NOWAIT | __GFP_NOWARN);
	default:
		return false;
	}
}

/**
 * dmp_execute_mirror - run one mirror command (operation code 7Fh)
 * @dc: the command
 *
 * Counts the command interrupt and, if data-out came with it, the data
 * interrupt, under the framing the CDB decodes to (only in the total if it
 * does not decode), then runs it.  In queuecommand (@dc->nowait) it runs
 * INLINE, SPLIT DATA and SPLIT DESC when dmp_direct_ready() allows it, and
 * defers every other command before counting it.
 *
 * Return: DMP_DONE, DMP_ASYNC or DMP_DEFER.
 */
int dmp_execute_mirror(struct dmp_cmd *dc)
{
	struct scsi_cmnd *scmd = dc->scmd;
	struct dmp_peer *peer = dc->peer;
	struct dmw_status st;
	int bad;

	bad = dmw_decode_cdb(scmd->cmnd, scmd->cmd_len, &dc->mc, &st);
	if (dc->nowait) {
		if (bad || !dmp_direct_ready(dc))
			return DMP_DEFER;
		dmp_count_misc(peer, DMP_C_DIRECT, 1);
	}
	dc->framing = bad ? DMP_FR_TOTAL : dmp_type_framing[dc->mc.type];
	dmp_count(peer, dc->framing, DMP_EV_COMMANDS, 1);
	if (dmp_xfer_out(scmd))
		dmp_count(peer, dc->framing, DMP_EV_DATA, 1);
	if (bad)
		return dmp_refuse(dc, &st);

	switch (dc->mc.type) {
	case DMW_T_INLINE:
		return dmp_inline(dc);
	case DMW_T_SPLIT_DATA:
		return dmp_split_data(dc);
	case DMW_T_SPLIT_DESC:
		return dmp_split_desc(dc);
	case DMW_T_DISCARD:
	case DMW_T_WRITE_ZEROES:
		return dmp_zero(dc);
	case DMW_T_BITMAP:
		return dmp_bitmap_cmd(dc);
	default:
		return dmp_state_cmd(dc);
	}
}

/* Take a parked command back for the error handler. */
bool dmp_mirror_abort(struct dmp_cmd *dc)
{
	struct dmp_peer *peer = dc->peer;
	bool found = false;

	spin_lock(&peer->lock);
	if (READ_ONCE(dc->state) == DMP_ST_PARKED) {
		list_del_init(&dc->node);
		WRITE_ONCE(dc->state, DMP_ST_RUNNING);
		found = true;
	}
	spin_unlock(&peer->lock);
	return found;
}

/**
 * dmp_mirror_shutdown - stop staging and parking, fail what waits
 * @peer: the peer
 * @host_byte: host byte for the parked descriptors
 *
 * Used on removal (the peer stays dying) and by the reset handlers (which
 * clear dying afterwards).
 */
void dmp_mirror_shutdown(struct dmp_peer *peer, int host_byte)
{
	LIST_HEAD(cmds);
	LIST_HEAD(stgs);

	spin_lock(&peer->lock);
	peer->dying = true;
	__dmp_take_all(peer, &cmds, &stgs);
	spin_unlock(&peer->lock);
	cancel_delayed_work_sync(&peer->reaper);
	dmp_fail_parked(&cmds, 0, host_byte);
	dmp_drop_staged(peer, &stgs, DMP_C_STAGED_DROPPED);
}

void dmp_reaper_fn(struct work_struct *work)
{
	struct dmp_peer *peer = container_of(to_delayed_work(work),
					     struct dmp_peer, reaper);
	struct dmp_staged *stg, *stmp;
	struct dmp_cmd *dc, *tmp;
	unsigned long now = jiffies, next = now + peer->split_timeout;
	bool more = false;
	LIST_HEAD(cmds);
	LIST_HEAD(stgs);

	spin_lock(&peer->lock);
	list_for_each_entry_safe(dc, tmp, &peer->parked, node) {
		if (time_after_eq(now, dc->deadline)) {
			list_move_tail(&dc->node, &cmds);
			WRITE_ONCE(dc->state, DMP_ST_RUNNING);
		} else {
			more = true;
			if (time_before(dc->deadline, next))
				next = dc->deadline;
		}
	}
	list_for_each_entry_safe(stg, stmp, &peer->staged, node) {
		if (time_after_eq(now, stg->deadline)) {
			list_move_tail(&stg->node, &stgs);
		} else {
			more = true;
			if (time_before(stg->deadline, next))
				next = stg->deadline;
		}
	}
	if (more && !peer->dying)
		queue_delayed_work(dmp_wq, &peer->reaper, next - now);
	spin_unlock(&peer->lock);
	dmp_fail_parked(&cmds, DMW_R_DATA_MISSING, 0);
	dmp_drop_staged(peer, &stgs, DMP_C_STAGED_EXPIRED);
}

void dmp_mirror_init(struct dmp_peer *peer)
{
	memset(&peer->stats, 0, sizeof(peer->stats));
}
