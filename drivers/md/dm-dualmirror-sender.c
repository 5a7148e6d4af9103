// SPDX-License-Identifier: GPL-2.0
/*
 * dm-dualmirror: the sender, which puts the primary's commands on the wire
 * to the peer disk.  Every mirrored write becomes one INLINE command or a
 * SPLIT DATA + SPLIT DESC pair (include/uapi/linux/dualmirror.h) sent as
 * SCSI passthrough requests; a flush becomes SYNCHRONIZE CACHE; QUERY,
 * CLAIM and BITMAP are sent synchronously.  The data is mapped
 * from the write's own pages; it is copied only when the peer queue
 * refuses those pages as they are (a virt boundary, as iSER sets).
 *
 * The SPLIT DESCRIPTOR of a split write is sent only once its SPLIT DATA
 * completed, never at the same time: the peer then always finds the data
 * staged when the descriptor arrives, whatever the network, the iSCSI
 * command window, the block layer's plug (which in Linux 6.1 dispatches
 * requests in the reverse order of their submission) or a slow peer do
 * to the order of the two commands.  See "Split writes across a link" in
 * Documentation/dualmirror-peer.rst.  The descriptor's CRCs are computed
 * after the SPLIT DATA was issued, while its data is on the wire
 * (dmw_pio_desc_gate()).
 */
#include <linux/blk-mq.h>
#include <linux/highmem.h>
#include <linux/ktime.h>
#include <linux/slab.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_common.h>
#include <scsi/scsi_proto.h>

#include "dm-dualmirror.h"

const char *dmw_error_name(unsigned int error)
{
	switch (error) {
	case DMW_E_SENSE:
		return "sense";
	case DMW_E_TRANSPORT:
		return "transport";
	case DMW_E_TIMEOUT:
		return "timeout";
	case DMW_E_MAPPING:
		return "mapping";
	case DMW_E_NOMEM:
		return "no_request";
	case DMW_E_AGAIN:
		return "again";
	case DMW_E_SPLIT_BRAIN:
		return "split_brain";
	case DMW_E_NONE:
		return "none";
	default:
		return dmw_reason_name(error);
	}
}

static struct request *dmw_rq_alloc(struct dmw_pio *pio, const u8 *cdb,
				    unsigned int cdb_len, struct bio *bio,
				    bool nowait);
static void dmw_pio_end(struct dmw_pio *pio);

/*
 * Send the descriptor of a split write whose data completed.  Its request
 * is allocated only now: a write never holds one request while waiting
 * for another, which could starve the queue of requests.
 */
static void dmw_pio_send_desc(struct work_struct *work)
{
	struct dmw_pio *pio = container_of(work, struct dmw_pio, desc_work);
	struct request *rq;

	rq = dmw_rq_alloc(pio, pio->desc_cdb, DMW_CDB_LEN, &pio->desc_bio,
			  false);
	if (IS_ERR(rq)) {
		atomic_cmpxchg(&pio->error, DMW_E_NONE,
			       DMW_E_NOMEM | DMW_E_TRANSIENT);
		if (atomic_dec_and_test(&pio->pending))
			dmw_pio_end(pio);
		return;
	}
	blk_execute_rq_nowait(rq, false);
}

/*
 * A peer I/O object for data of @nr_segs segments (at most dmc->max_segs);
 * NULL only if @nowait.  A write of few segments maps them into the
 * object's own vectors; a larger one takes a data bio from dmc->data_bs,
 * whose vectors come from the slab of the next size up (64, 128 or 256
 * of them, or the bioset's reserve of 256) rather than a buffer sized
 * for the largest write.
 */
static struct dmw_pio *dmw_pio_alloc(struct dmw_c *dmc, u8 framing,
				     unsigned int nr_segs, bool nowait)
{
	gfp_t gfp = nowait ? GFP_NOWAIT : GFP_NOIO;
	struct dmw_pio *pio;

	/* bvec_alloc() BUG()s above BIO_MAX_VECS: dmw_set_max_segs() */
	if (WARN_ON_ONCE(nr_segs > BIO_MAX_VECS))
		return NULL;
	pio = mempool_alloc(dmc->pio_pool, gfp);
	if (!pio)
		return NULL;
	memset(pio, 0, offsetof(struct dmw_pio, inline_bio));
	if (nr_segs > DMW_PIO_INLINE_VECS) {
		pio->data = bio_alloc_bioset(NULL, nr_segs, REQ_OP_DRV_OUT,
					     gfp, &dmc->data_bs);
		if (!pio->data) {
			mempool_free(pio, dmc->pio_pool);
			return NULL;
		}
	} else {
		bio_init(&pio->inline_bio, NULL, pio->inline_vecs,
			 DMW_PIO_INLINE_VECS, REQ_OP_DRV_OUT);
		pio->data = &pio->inline_bio;
	}
	pio->dmc = dmc;
	pio->framing = framing;
	atomic_set(&pio->error, DMW_E_NONE);
	bio_init(&pio->desc_bio, NULL, pio->desc_vecs, DMW_DESC_VECS,
		 REQ_OP_DRV_OUT);
	INIT_WORK(&pio->desc_work, dmw_pio_send_desc);
	atomic_inc(&dmc->nr_pios);
	return pio;
}

static void dmw_pio_free(struct dmw_pio *pio)
{
	struct dmw_c *dmc = pio->dmc;
	struct bvec_iter_all iter;
	struct bio_vec *bv;
	unsigned long flags;

	if (pio->pages_held)
		bio_for_each_segment_all(bv, pio->data, iter)
			put_page(bv->bv_page);
	if (pio->data == &pio->inline_bio)
		bio_uninit(pio->data);
	else
		bio_put(pio->data);
	bio_uninit(&pio->desc_bio);
	if (pio->desc)
		mempool_free(pio->desc, dmc->desc_pool);
	mempool_free(pio, dmc->pio_pool);

	/* The destructor takes the lock after the wait: dmc outlives us. */
	spin_lock_irqsave(&dmc->lock, flags);
	if (atomic_dec_and_test(&dmc->nr_pios))
		wake_up(&dmc->pio_wait);
	spin_unlock_irqrestore(&dmc->lock, flags);
}

/*
 * Copy @src into pages of our own and map those: for a write whose pages
 * the peer queue refuses as they are.  A queue with a virt boundary (iSER
 * sets 4 KiB when the RDMA device cannot register gappy lists, as with
 * soft-RoCE) takes a segment after another only if the first ends and the
 * next starts on that boundary; a write of sub-page buffers (1 KiB buffer
 * heads, a writev of 512-byte pieces) does not.  Whole pages from offset 0
 * always map.  The pages are freed with the pio (pages_held: our reference
 * is their only one).
 */
static int dmw_pio_bounce_data(struct dmw_pio *pio, struct bio *src,
			       bool nowait)
{
	struct request_queue *q = pio->dmc->peer_q;
	unsigned int left = src->bi_iter.bi_size;
	struct page *page;

	/* as many vectors as segments: enough for whole pages of the data */
	bio_reset(pio->data, NULL, REQ_OP_DRV_OUT);
	pio->pages_held = true;		/* dmw_pio_free() frees what we add */
	while (left) {
		unsigned int n = min_t(unsigned int, left, PAGE_SIZE);

		page = alloc_page(nowait ? GFP_NOWAIT : GFP_NOIO);
		if (!page)
			return DMW_E_AGAIN;
		if (bio_add_pc_page(q, pio->data, page, n, 0) != n) {
			__free_page(page);
			return DMW_E_MAPPING;
		}
		left -= n;
	}
	bio_copy_data(pio->data, src);
	pio->copied = true;
	return 0;
}

/*
 * Map @src's pages into the data bio, holding a reference on each page: a
 * request may outlive the write it came from.  If the peer queue refuses
 * them, copy them (dmw_pio_bounce_data()).
 *
 * Return: 0, or DMW_E_AGAIN (@nowait and no free page: send it again from
 * the worker; nowait false: GFP_NOIO pages, DMW_E_AGAIN never) or
 * DMW_E_MAPPING.
 */
static int dmw_pio_map_data(struct dmw_pio *pio, struct bio *src, bool nowait)
{
	struct request_queue *q = pio->dmc->peer_q;
	struct bvec_iter_all iter_all;
	struct bvec_iter iter;
	struct bio_vec bv, *bvp;

	bio_for_each_segment(bv, src, iter)
		if (bio_add_pc_page(q, pio->data, bv.bv_page, bv.bv_len,
				    bv.bv_offset) != bv.bv_len)
			return dmw_pio_bounce_data(pio, src, nowait);
	bio_for_each_segment_all(bvp, pio->data, iter_all)
		get_page(bvp->bv_page);
	pio->pages_held = true;
	return 0;
}

static int dmw_pio_map_desc(struct dmw_pio *pio, unsigned int len)
{
	struct request_queue *q = pio->dmc->peer_q;
	u8 *p = pio->desc;

	while (len) {
		unsigned int n = min_t(unsigned int, len,
				       PAGE_SIZE - offset_in_page(p));

		if (bio_add_pc_page(q, &pio->desc_bio, virt_to_page(p), n,
				    offset_in_page(p)) != n)
			return -EINVAL;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * One CRC-32C per 4 KiB chunk of the write, into the descriptor.  Read
 * from the data bio's own vectors, which the pio keeps (with a reference
 * on each page) until its last request ended: the SPLIT DATA request may
 * have ended, and the write itself completed after a peer timeout,
 * before this is done.
 */
static int dmw_desc_put_crc(void *desc, u32 chunk, u32 crc)
{
	dmw_put_desc_crc(desc, chunk, crc);
	return 0;
}

static void dmw_desc_crcs(struct dmw_pio *pio)
{
	struct bvec_iter_all iter;
	struct dmw_crc_run run;
	struct bio_vec *bv;

	dmw_crc_run_init(&run);
	bio_for_each_segment_all(bv, pio->data, iter) {
		u8 *p = bvec_kmap_local(bv);

		dmw_crc_run_feed(&run, p, bv->bv_len, dmw_desc_put_crc,
				 pio->desc);
		kunmap_local(p);
	}
	dmw_crc_run_end(&run, dmw_desc_put_crc, pio->desc);
}

/*
 * One of the two events a split write's descriptor waits for happened
 * (struct dmw_pio, @desc_gate).  After the second, send the descriptor if
 * the SPLIT DATA succeeded; else drop the descriptor's share of @pending.
 * Any context; the descriptor always goes out from @send_wq.
 *
 * Why not from here (one kworker switch per split write saved), read in
 * Linux 6.1.  The gate opens in dmw_rq_end_io() of the SPLIT DATA, or in
 * dmw_send_write() if the DATA completed during the CRC pass:
 *
 * - iscsi_tcp reads the DATA's SCSI Response PDU in
 *   iscsi_sw_tcp_data_ready() (sk_data_ready, under read_lock_bh()), in
 *   the NET_RX softirq; or, for a segment that came while the iSCSI xmit
 *   worker owned the socket (tcp_sendpage() takes lock_sock()), in that
 *   kworker's release_sock() -> __release_sock(), BHs off; or, with the
 *   iscsi_tcp parameter recv_from_iscsi_q=Y (default N), in an iscsi_q
 *   kworker (iscsi_sw_tcp_recv_data_work()).  iSER reads it in the
 *   IB_POLL_SOFTIRQ CQ's irq_poll softirq (ib_poll_handler() ->
 *   iser_task_rsp()).  All go through iscsi_complete_pdu(), which holds
 *   session->back_lock across iscsi_free_task() -> scsi_done() ->
 *   blk_mq_complete_request().  That runs scsi_complete() ->
 *   scsi_end_request() -> __blk_mq_end_request() -> end_io right there if
 *   the hctx maps one CPU (blk_mq_complete_request_remote(), nr_ctx 1),
 *   else from BLOCK_SOFTIRQ (one hw queue) or an IPI.
 * - blk_execute_rq_nowait() is wrong in every one of these.  It queues
 *   on current->plug, in softirq the interrupted task's, which that task
 *   may be editing.  Without a plug it runs the hw queue synchronously:
 *   __blk_mq_run_hw_queue() WARNs on in_interrupt() (true with BHs off),
 *   and scsi_queue_rq() -> iscsi_queuecommand() would take frwd_lock
 *   under back_lock, against libiscsi's order (iscsi_data_xmit() takes
 *   back_lock under frwd_lock; __iscsi_complete_pdu() drops back_lock to
 *   take frwd_lock).  The SCSI midlayer never runs a queue from a
 *   completion either (scsi_end_request(): scsi_run_queue_async()).
 *   "in_task() && !current->plug" does not rule these out: it holds in
 *   both kworker cases.  A BLK_MQ_REQ_NOWAIT allocation would be safe
 *   here; the issue is not.
 * - dmw_send_write() could issue it (task context, as for the DATA just
 *   before; its plug, if any, reorders nothing once the DATA completed),
 *   but it did not open the gate once in the counts below: the DATA
 *   leaves only when the iSCSI xmit worker runs, and its status comes a
 *   round trip later, after the CRC pass.
 *
 * Counted with a probe on two guests (1 and 2 vCPUs; iscsi_tcp, also with
 * recv_from_iscsi_q=Y, and iSER on soft-RoCE; split only, 4 KiB to 1 MiB,
 * QD1 to QD32), 2,896 gates: none opened by the submitter, and
 * preemptible() was false at every end_io.
 */
static void dmw_pio_desc_gate(struct dmw_pio *pio)
{
	if (!atomic_dec_and_test(&pio->desc_gate))
		return;
	if (atomic_read(&pio->error) == DMW_E_NONE)
		queue_work(pio->dmc->send_wq, &pio->desc_work);
	else if (atomic_dec_and_test(&pio->pending))
		dmw_pio_end(pio);
}

/*
 * Why a request failed: a wire-format reason if the peer said so, with
 * DMW_E_TRANSIENT when sending it again may succeed: no status from the
 * transport (a session in recovery, a command aborted by it), BUSY or
 * TASK SET FULL, a UNIT ATTENTION or NOT READY, and the wire format's own
 * transient refusals (staging full, split data expired).
 */
static int dmw_rq_error(struct scsi_cmnd *scmd)
{
	struct scsi_sense_hdr sshdr;
	unsigned int reason;

	if (host_byte(scmd->result) != DID_OK)
		return DMW_E_TRANSPORT | DMW_E_TRANSIENT;
	switch (get_status_byte(scmd)) {
	case SAM_STAT_BUSY:
	case SAM_STAT_TASK_SET_FULL:
		return DMW_E_SENSE | DMW_E_TRANSIENT;
	case SAM_STAT_CHECK_CONDITION:
		break;
	default:
		return DMW_E_SENSE;
	}
	if (!scsi_normalize_sense(scmd->sense_buffer, SCSI_SENSE_BUFFERSIZE,
				  &sshdr))
		return DMW_E_SENSE;
	reason = dmw_sense_reason(sshdr.sense_key, sshdr.asc, sshdr.ascq);
	switch (reason) {
	case DMW_R_RESOURCES:
	case DMW_R_DATA_MISSING:
		return reason | DMW_E_TRANSIENT;
	default:
		if (reason < DMW_R_NR)
			return reason;
	}
	if (sshdr.sense_key == UNIT_ATTENTION || sshdr.sense_key == NOT_READY)
		return DMW_E_SENSE | DMW_E_TRANSIENT;
	return DMW_E_SENSE;
}

/* The last request of the leg ended: hand the outcome to the write. */
static void dmw_pio_end(struct dmw_pio *pio)
{
	struct dmw_c *dmc = pio->dmc;
	int error = atomic_read(&pio->error);
	unsigned long flags;
	struct dmw_io *io;

	spin_lock_irqsave(&dmc->lock, flags);
	io = pio->io;
	if (io) {
		io->pio = NULL;
		pio->io = NULL;
	}
	spin_unlock_irqrestore(&dmc->lock, flags);

	if (io && error == DMW_E_NONE) {
		u64 us = div_u64(ktime_get_ns() - pio->start_ns, NSEC_PER_USEC);

		this_cpu_add(dmc->stats->ops[pio->framing], 1);
		if (pio->copied)
			this_cpu_add(dmc->stats->copied, 1);
		this_cpu_add(dmc->stats->irqs[pio->framing], atomic_read(&pio->irqs));
		this_cpu_add(dmc->stats->lat_us[pio->framing], us);
		this_cpu_add(dmc->stats->lat_hist[pio->framing]
			     [min_t(u64, us ? ilog2(us) : 0,
				    DMW_LAT_BUCKETS - 1)], 1);
	}
	if (io)
		dmw_peer_leg_end(io, error & ~DMW_E_TRANSIENT,
				 error & DMW_E_TRANSIENT);
	dmw_pio_free(pio);
}

/*
 * Runs for every passthrough request, possibly in interrupt context.  A
 * command that got its status counts the interrupts that happened: the
 * command reaching the peer, its data if it had any, the status.  The
 * SPLIT DATA of a split write that succeeded sends its SPLIT DESCRIPTOR;
 * one that failed takes the descriptor's request back unsent.
 */
static enum rq_end_io_ret dmw_rq_end_io(struct request *rq, blk_status_t sts)
{
	struct scsi_cmnd *scmd = blk_mq_rq_to_pdu(rq);
	struct dmw_pio *pio = rq->end_io_data;
	bool ok = sts == BLK_STS_OK && !scmd->result;

	if (ok) {
		int irqs = DMW_IRQ_CMD + DMW_IRQ_STATUS;

		if (dmw_framing_has_data(pio->framing))
			irqs += DMW_IRQ_DATA;
		atomic_add(irqs, &pio->irqs);
	} else {
		atomic_cmpxchg(&pio->error, DMW_E_NONE, dmw_rq_error(scmd));
	}
	if (pio->desc_due) {
		/* SPLIT DATA ended: its share of @pending cannot be the last */
		pio->desc_due = false;
		atomic_dec(&pio->pending);
		dmw_pio_desc_gate(pio);
		return RQ_END_IO_FREE;
	}
	if (atomic_dec_and_test(&pio->pending))
		dmw_pio_end(pio);
	return RQ_END_IO_FREE;
}

static struct request *dmw_rq_alloc(struct dmw_pio *pio, const u8 *cdb,
				    unsigned int cdb_len, struct bio *bio,
				    bool nowait)
{
	struct dmw_c *dmc = pio->dmc;
	struct scsi_cmnd *scmd;
	struct request *rq;

	rq = scsi_alloc_request(dmc->peer_q,
				bio ? REQ_OP_DRV_OUT : REQ_OP_DRV_IN,
				nowait ? BLK_MQ_REQ_NOWAIT : 0);
	if (IS_ERR(rq))
		return rq;
	if (bio && blk_rq_append_bio(rq, bio)) {
		blk_mq_free_request(rq);
		return ERR_PTR(-EINVAL);
	}
	scmd = blk_mq_rq_to_pdu(rq);
	memcpy(scmd->cmnd, cdb, cdb_len);
	scmd->cmd_len = cdb_len;
	scmd->allowed = 0;
	/*
	 * The target gives the write up after peer_timeout on its own
	 * (dmw_timeout_work); the request keeps at least the disk's timeout
	 * so that a slow peer does not set SCSI error handling off.
	 */
	rq->timeout = max_t(unsigned long, dmc->peer_timeout,
			    dmc->peer_q->rq_timeout);
	rq->rq_flags |= RQF_QUIET;
	rq->end_io = dmw_rq_end_io;
	rq->end_io_data = pio;
	return rq;
}

/*
 * Link the leg to its write, then start its request; @nr_rq counts a
 * split write's descriptor too, sent when the data completed.
 */
static void dmw_pio_start(struct dmw_io *io, struct dmw_pio *pio,
			  struct request **rq, unsigned int nr_rq)
{
	struct dmw_c *dmc = io->dmc;
	unsigned long flags;

	atomic_set(&pio->pending, nr_rq);
	pio->start_ns = ktime_get_ns();
	spin_lock_irqsave(&dmc->lock, flags);
	pio->io = io;
	io->pio = pio;
	spin_unlock_irqrestore(&dmc->lock, flags);

	blk_execute_rq_nowait(rq[0], false);
}

/*
 * The leg could not start: -EAGAIN if a @nowait allocation failed (the
 * caller sends it again from process context), else the error is noted.
 */
static int dmw_pio_fail(struct dmw_pio *pio, struct request **rq,
			unsigned int nr_rq, int error)
{
	unsigned int i;

	for (i = 0; i < nr_rq; i++)
		if (!IS_ERR_OR_NULL(rq[i]))
			blk_mq_free_request(rq[i]);
	if (error != DMW_E_AGAIN)
		dmw_note_error(pio->dmc, error);
	dmw_pio_free(pio);
	return error == DMW_E_AGAIN ? -EAGAIN : -EIO;
}

static int dmw_rq_error_code(struct request *rq, bool nowait)
{
	return nowait && PTR_ERR(rq) != -EINVAL ? DMW_E_AGAIN : DMW_E_NOMEM;
}

/* Split framing: SPLIT DATA with the data, SPLIT DESC with the metadata. */
static int dmw_prep_split(struct dmw_pio *pio, struct dmw_io *io,
			  u8 flags, u64 seq,
			  struct request **rq, bool nowait)
{
	struct dmw_desc d = {
		.flags = flags,
		.nr_sectors = io->nr_sectors,
		.lba = io->sector,
		.seq = seq,
		.generation = io->gen,
	};
	struct dmw_cmd c = {
		.type = DMW_T_SPLIT_DATA,
		.gen_tag = io->gen & DMW_GEN_TAG_MASK,
		.seq_tag = seq & DMW_SEQ_TAG_MASK,
		.nr_sectors = io->nr_sectors,
	};
	u8 cdb[DMW_CDB_LEN];

	pio->desc = mempool_alloc(pio->dmc->desc_pool,
				  nowait ? GFP_NOWAIT : GFP_NOIO);
	if (!pio->desc)
		return DMW_E_AGAIN;
	dmw_encode_desc_hdr(pio->desc, &d);
	if (dmw_pio_map_desc(pio, dmw_desc_len(io->nr_sectors)) ||
	    dmw_encode_cdb(cdb, &c))
		return DMW_E_MAPPING;
	c.type = DMW_T_SPLIT_DESC;
	c.nr_sectors = 0;
	c.param_len = dmw_desc_len(io->nr_sectors);
	if (dmw_encode_cdb(pio->desc_cdb, &c))
		return DMW_E_MAPPING;
	rq[0] = dmw_rq_alloc(pio, cdb, DMW_CDB_LEN, pio->data, nowait);
	if (IS_ERR(rq[0]))
		return dmw_rq_error_code(rq[0], nowait);
	return 0;
}

/**
 * dmw_send_write - send a write's peer leg
 * @io: the write; io->sector, io->nr_sectors and io->gen are set
 * @src: its data, exactly io->nr_sectors of it
 * @flags: DMW_F_FUA
 * @nowait: allocate nothing that could sleep (map context)
 *
 * The framing is chosen by dmw_use_inline().  Completion is reported with
 * dmw_peer_leg_end().
 *
 * Return: 0 once the requests are issued; -EAGAIN if @nowait and a pool
 * or the peer queue's tags were empty (nothing was sent); -EIO if the leg
 * could not be started (the error is noted; the caller completes the leg
 * as failed).
 */
int dmw_send_write(struct dmw_io *io, struct bio *src, u8 flags, bool nowait)
{
	struct dmw_c *dmc = io->dmc;
	bool inl = dmw_use_inline(io->sector, io->nr_sectors, dmc->inline_max);
	u64 seq = atomic64_inc_return(&dmc->seq);
	struct request *rq[2] = { NULL, NULL };
	struct dmw_pio *pio;
	u8 cdb[DMW_CDB_LEN];
	int error;

	pio = dmw_pio_alloc(dmc, inl ? DMW_FR_INLINE : DMW_FR_SPLIT,
			    bio_segments(src), nowait);
	if (!pio)
		return -EAGAIN;
	error = dmw_pio_map_data(pio, src, nowait);
	if (error)
		return dmw_pio_fail(pio, rq, 0, error);

	if (inl) {
		struct dmw_cmd c = {
			.type = DMW_T_INLINE,
			.flags = flags,
			.gen_tag = io->gen & DMW_GEN_TAG_MASK,
			.seq_tag = seq & DMW_SEQ_TAG_MASK,
			.lba = io->sector,
			.nr_sectors = io->nr_sectors,
		};

		if (dmw_encode_cdb(cdb, &c))
			return dmw_pio_fail(pio, rq, 0, DMW_E_MAPPING);
		rq[0] = dmw_rq_alloc(pio, cdb, DMW_CDB_LEN, pio->data,
				     nowait);
		if (IS_ERR(rq[0]))
			return dmw_pio_fail(pio, rq, 1,
					    dmw_rq_error_code(rq[0], nowait));
		dmw_pio_start(io, pio, rq, 1);
		return 0;
	}

	error = dmw_prep_split(pio, io, flags, seq, rq, nowait);
	if (error)
		return dmw_pio_fail(pio, rq, 1, error);
	pio->desc_due = true;
	atomic_set(&pio->desc_gate, 2);
	dmw_pio_start(io, pio, rq, 2);
	/*
	 * The descriptor's share of @pending keeps the pio until the gate.
	 * Under the submitter's plug the DATA is dispatched only when the
	 * plug is flushed, after this: no overlap then, same result.
	 */
	if (atomic_read(&pio->error) == DMW_E_NONE)
		dmw_desc_crcs(pio);
	dmw_pio_desc_gate(pio);
	return 0;
}

/**
 * dmw_send_flush - flush the peer's cache for an empty REQ_PREFLUSH bio
 * @io: the flush
 * @nowait: as for dmw_send_write()
 *
 * The wire format has no empty write, so this is a plain SYNCHRONIZE
 * CACHE (10) of the whole peer disk.
 *
 * Return: as dmw_send_write().
 */
int dmw_send_flush(struct dmw_io *io, bool nowait)
{
	u8 cdb[10] = { SYNCHRONIZE_CACHE };
	struct request *rq[1];
	struct dmw_pio *pio;

	pio = dmw_pio_alloc(io->dmc, DMW_FR_FLUSH, 0, nowait);
	if (!pio)
		return -EAGAIN;
	rq[0] = dmw_rq_alloc(pio, cdb, sizeof(cdb), NULL, nowait);
	if (IS_ERR(rq[0]))
		return dmw_pio_fail(pio, rq, 1, dmw_rq_error_code(rq[0], nowait));
	dmw_pio_start(io, pio, rq, 1);
	return 0;
}

/*
 * Send @c, a command with data-in, synchronously; @buf gets at most @len
 * bytes, *@got says how many came.  Return as dmw_send_state_cmd(), but
 * for the decoding.
 */
static int dmw_send_in_cmd(struct dmw_c *dmc, const struct dmw_cmd *c,
			   void *buf, u32 len, u32 *got)
{
	struct scsi_sense_hdr sshdr;
	struct scsi_cmnd *scmd;
	struct request *rq;
	int result, r;

	rq = scsi_alloc_request(dmc->peer_q, REQ_OP_DRV_IN, 0);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	r = blk_rq_map_kern(dmc->peer_q, rq, buf, len, GFP_KERNEL);
	if (r)
		goto out_rq;
	scmd = blk_mq_rq_to_pdu(rq);
	r = dmw_encode_cdb(scmd->cmnd, c);
	if (r)
		goto out_rq;
	scmd->cmd_len = DMW_CDB_LEN;
	scmd->allowed = 1;
	rq->timeout = dmc->peer_timeout;
	rq->rq_flags |= RQF_QUIET;

	blk_execute_rq(rq, false);
	result = scmd->result;
	*got = len - min_t(u32, scmd->resid_len, len);
	if (host_byte(result) != DID_OK)
		r = -EIO;
	else if (get_status_byte(scmd) == SAM_STAT_CHECK_CONDITION &&
		 scsi_normalize_sense(scmd->sense_buffer,
				      SCSI_SENSE_BUFFERSIZE, &sshdr) &&
		 dmw_sense_reason(sshdr.sense_key, sshdr.asc, sshdr.ascq) ==
		 DMW_R_GENERATION)
		r = -EPERM;
	else if (result)
		r = -ENOTTY;
out_rq:
	blk_mq_free_request(rq);
	return r;
}

/**
 * dmw_send_zero - send the peer leg of a discard or write zeroes
 * @io: the bio's dmw_io; io->type, io->sector, io->nr_sectors, io->gen and
 *	io->wflags (DMW_F_NOUNMAP) are set
 * @nowait: as for dmw_send_write()
 *
 * One DISCARD or WRITE ZEROES command: the range in the CDB, no data, so
 * two interrupts (the command reaching the peer, its status reaching us)
 * and two PDUs on iSCSI.
 *
 * Return: as dmw_send_write().
 */
int dmw_send_zero(struct dmw_io *io, bool nowait)
{
	struct dmw_cmd c = {
		.type = io->type,
		.flags = io->wflags & dmw_zero_flags(io->type),
		.gen_tag = io->gen & DMW_GEN_TAG_MASK,
		.lba = io->sector,
		.nr_sectors = io->nr_sectors,
	};
	u8 cdb[DMW_CDB_LEN];
	struct request *rq[1];
	struct dmw_pio *pio;

	pio = dmw_pio_alloc(io->dmc, io->type == DMW_T_DISCARD ?
			    DMW_FR_DISCARD : DMW_FR_ZEROES, 0, nowait);
	if (!pio)
		return -EAGAIN;
	if (dmw_encode_cdb(cdb, &c))
		return dmw_pio_fail(pio, rq, 0, DMW_E_MAPPING);
	rq[0] = dmw_rq_alloc(pio, cdb, DMW_CDB_LEN, NULL, nowait);
	if (IS_ERR(rq[0]))
		return dmw_pio_fail(pio, rq, 1, dmw_rq_error_code(rq[0], nowait));
	dmw_pio_start(io, pio, rq, 1);
	return 0;
}

/**
 * dmw_send_state_cmd - QUERY or CLAIM the peer, synchronously
 * @dmc: the target
 * @type: DMW_T_QUERY or DMW_T_CLAIM
 * @expected: CLAIM: the generation this primary last knew
 * @force: CLAIM: claim even if the peer's generation is not @expected
 * @state: the peer's state after the command
 *
 * Process context.  A successful answer also sets dmc->peer_caps.
 *
 * Return: 0; -EPERM if the peer refused the CLAIM because its generation
 * is not @expected (another primary claimed it); -ENOTTY if it refused
 * the command otherwise (it does not speak dualmirror); -EPROTO if its
 * answer does not decode; -EIO if it did not answer; -ENOMEM.
 */
int dmw_send_state_cmd(struct dmw_c *dmc, u8 type, u64 expected, bool force,
		       struct dmw_state *state)
{
	struct dmw_cmd c = {
		.type = type,
		.param_len = DMW_STATE_LEN,
		.gen_tag = expected & DMW_GEN_TAG_MASK,
		.flags = type == DMW_T_CLAIM && force ? DMW_F_FORCE : 0,
	};
	u32 got;
	u8 *buf;
	int r;

	buf = kzalloc(DMW_STATE_LEN, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	r = dmw_send_in_cmd(dmc, &c, buf, DMW_STATE_LEN, &got);
	if (!r)
		r = dmw_decode_state(buf, got, state);
	if (!r)
		WRITE_ONCE(dmc->peer_caps, state->caps);
	kfree(buf);
	return r;
}

/**
 * dmw_send_bitmap_cmd - read a chunk of the peer's suspect bitmap (BITMAP)
 * @dmc: the target
 * @chunk: chunk index
 * @buf: at least @len bytes, kmalloc()ed (mapped for the request)
 * @len: bytes wanted, at most DMW_BITMAP_CHUNK
 *
 * Process context.
 *
 * Return: 0 (all @len bytes came), -EPROTO if fewer came, or as
 * dmw_send_state_cmd().
 */
int dmw_send_bitmap_cmd(struct dmw_c *dmc, u32 chunk, void *buf, u32 len)
{
	struct dmw_cmd c = {
		.type = DMW_T_BITMAP,
		.lba = chunk,
		.param_len = len,
	};
	u32 got;
	int r;

	r = dmw_send_in_cmd(dmc, &c, buf, len, &got);
	if (!r && got != len)
		r = -EPROTO;
	return r;
}
