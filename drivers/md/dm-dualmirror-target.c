// SPDX-License-Identifier: GPL-2.0
/*
 * dm-dualmirror: synchronous write mirroring to a peer over SCSI.
 *
 * Reads go to the local disk.  Each write goes to the local disk and, at
 * the same time, to the peer as the wire format's commands (see
 * dm-dualmirror-sender.c); the bio completes when both legs have.  When the
 * peer fails, the target goes degraded: writes land locally, the
 * out-of-sync regions are tracked in memory until "reconnect" re-claims
 * the peer and copies them over.
 *
 * Documentation/dm-dualmirror.rst describes the table and status lines.
 */
#include <linux/blkdev.h>
#include <linux/delay.h>
#include <linux/interval_tree_generic.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <scsi/scsi_device.h>

#include "dm-dualmirror.h"

#define DMW_TIMEOUT_DEFAULT	5000	/* ms; open-iscsi gives up at 120 s */
#define DMW_TIMEOUT_MIN		100
#define DMW_TIMEOUT_MAX		60000
#define DMW_REGION_DEFAULT	1024	/* sectors: 512 KiB */
#define DMW_REGION_MIN		8
#define DMW_REGION_MAX		BIT(24)
#define DMW_MIN_PIOS		16
#define DMW_RETRY_DELAY_MS	10	/* before a peer leg is sent again */
#define DMW_RECONNECT_PERIOD	(5 * HZ)	/* automatic reconnect attempts */
#define DMW_RESYNC_YIELD_MS	2	/* resync pauses while writes run */

/* ---- Out-of-sync tracking and peer failure ---- */

static void dmw_mark_oos(struct dmw_c *dmc, sector_t sector, unsigned int nr)
{
	unsigned long r, last;

	if (!nr)
		return;
	r = sector >> dmc->region_shift;
	last = (sector + nr - 1) >> dmc->region_shift;
	for (; r <= last; r++)
		set_bit(r, dmc->oos);
}

static sector_t dmw_oos_sectors(struct dmw_c *dmc)
{
	sector_t len = dmc->ti->len;
	sector_t n = (sector_t)bitmap_weight(dmc->oos, dmc->nr_regions) <<
		     dmc->region_shift;

	/* The last region may be short. */
	if (test_bit(dmc->nr_regions - 1, dmc->oos))
		n -= ((sector_t)dmc->nr_regions << dmc->region_shift) - len;
	return n;
}

void dmw_note_error(struct dmw_c *dmc, int error)
{
	this_cpu_add(dmc->stats->peer_errors, 1);
	WRITE_ONCE(dmc->last_error, error);
	DMERR_LIMIT("peer error: %s", dmw_error_name(error));
}

static const char * const dmw_state_names[DMW_S_NR] = {
	[DMW_S_CONNECTED] = "connected",
	[DMW_S_DEGRADED] = "degraded",
	[DMW_S_FENCED] = "fenced",
};

/*
 * The transitions of enum dmw_state: a peer failure degrades, a reconnect
 * connects again, a GENERATION refusal (another primary claimed the peer)
 * fences; only a forced reconnect leaves fenced.
 */
static const u8 dmw_transitions[DMW_S_NR] = {
	[DMW_S_CONNECTED] = BIT(DMW_S_DEGRADED) | BIT(DMW_S_FENCED),
	[DMW_S_DEGRADED] = BIT(DMW_S_CONNECTED) | BIT(DMW_S_FENCED),
	[DMW_S_FENCED] = BIT(DMW_S_CONNECTED),
};

/**
 * __dmw_set_state - change the mirror's state; the only place that does
 * @dmc: the target; caller holds dmc->lock
 * @to: the new state
 *
 * Return: true if the state changed; false if it was @to already or the
 * transition is not allowed (a degraded mirror is not degraded again, a
 * fenced one does not degrade).
 */
static bool __dmw_set_state(struct dmw_c *dmc, int to)
{
	int from = dmc->state;

	lockdep_assert_held(&dmc->lock);
	if (from == to || !(dmw_transitions[from] & BIT(to)))
		return false;
	WRITE_ONCE(dmc->state, to);
	DMINFO("%s: %s -> %s", dm_device_name(dm_table_get_md(dmc->ti->table)),
	       dmw_state_names[from], dmw_state_names[to]);
	return true;
}

static bool dmw_set_state(struct dmw_c *dmc, int to)
{
	unsigned long flags;
	bool changed;

	spin_lock_irqsave(&dmc->lock, flags);
	changed = __dmw_set_state(dmc, to);
	spin_unlock_irqrestore(&dmc->lock, flags);
	if (changed)
		queue_work(dmc->wq, &dmc->event_work);
	return changed;
}

/* Stop writing to the peer; raise a dm event the first time. */
static void dmw_degrade(struct dmw_c *dmc, u64 gen)
{
	unsigned long flags;
	bool first = false;

	spin_lock_irqsave(&dmc->lock, flags);
	/* A leg of an older generation says nothing about the current one. */
	if (gen == dmc->generation)
		first = __dmw_set_state(dmc, DMW_S_DEGRADED);
	spin_unlock_irqrestore(&dmc->lock, flags);

	if (first) {
		DMWARN("peer failed: degraded, writes go to the local disk only");
		queue_work(dmc->wq, &dmc->event_work);
		if (!test_bit(DMW_NO_RECONNECT, &dmc->flags))
			queue_delayed_work(dmc->wq, &dmc->reconnect_work,
					   DMW_RECONNECT_PERIOD);
	}
}

/*
 * Resync runs on the system's long-work queue, not on dmc->wq: it waits
 * for writes that dmc->wq's issue work must let go, and under memory
 * pressure a WQ_MEM_RECLAIM queue runs one item at a time.
 */
static void dmw_resync_kick(struct dmw_c *dmc)
{
	queue_work(system_long_wq, &dmc->resync_work);
}

static void dmw_event_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(ws, struct dmw_c, event_work);

	dm_table_event(dmc->ti->table);
}

/*
 * ---- Write ordering: interval trees of the writes in flight ----
 *
 * A write that overlaps one in flight, or one deferred before it, waits
 * (deferred) until it overlaps neither: both legs then see overlapping
 * writes in the same order.  Two interval trees (in flight, deferred)
 * answer "does anything overlap" in O(log n); empty writes (flushes) are
 * in neither.
 */
static sector_t dmw_io_first(struct dmw_io *io)
{
	return io->sector;
}

static sector_t dmw_io_last(struct dmw_io *io)
{
	return io->sector + io->nr_sectors - 1;
}

INTERVAL_TREE_DEFINE(struct dmw_io, rb, sector_t, rb_last, dmw_io_first,
		     dmw_io_last, static, dmw_itree)

/* Does a deferred write that arrived before @io overlap it? */
static bool __dmw_deferred_before(struct dmw_c *dmc, struct dmw_io *io)
{
	struct dmw_io *o;

	for (o = dmw_itree_iter_first(&dmc->deferred_tree, io->sector,
				      dmw_io_last(io));
	     o; o = dmw_itree_iter_next(o, io->sector, dmw_io_last(io)))
		if (o->arrival < io->arrival)
			return true;
	return false;
}

/*
 * Enter @io among the writes in flight, or defer it behind an
 * overlapping write (in flight, or itself deferred).
 *
 * Return: true if @io must wait.
 */
static bool dmw_io_enter(struct dmw_c *dmc, struct dmw_io *io)
{
	unsigned long flags;
	bool wait = false;

	spin_lock_irqsave(&dmc->lock, flags);
	io->arrival = ++dmc->arrivals;
	if (io->nr_sectors) {
		wait = dmw_itree_iter_first(&dmc->inflight_tree, io->sector,
					    dmw_io_last(io)) ||
		       dmw_itree_iter_first(&dmc->deferred_tree, io->sector,
					    dmw_io_last(io));
		dmw_itree_insert(io, wait ? &dmc->deferred_tree :
				 &dmc->inflight_tree);
	}
	list_add_tail(&io->list, wait ? &dmc->deferred : &dmc->inflight);
	spin_unlock_irqrestore(&dmc->lock, flags);

	if (wait)
		this_cpu_add(dmc->stats->overlap_waits, 1);
	return wait;
}

/*
 * @done left the writes in flight: the deferred writes it overlapped may
 * go now, if nothing in flight and no earlier deferred write overlaps
 * them.  (Only those: no other write's obstacles changed.)
 */
static bool __dmw_promote(struct dmw_c *dmc, struct dmw_io *done)
{
	struct dmw_io *d, *tmp;
	LIST_HEAD(cand);
	bool any = false;

	if (!done->nr_sectors || RB_EMPTY_ROOT(&dmc->deferred_tree.rb_root))
		return false;
	for (d = dmw_itree_iter_first(&dmc->deferred_tree, done->sector,
				      dmw_io_last(done));
	     d; d = dmw_itree_iter_next(d, done->sector, dmw_io_last(done)))
		list_add_tail(&d->ready, &cand);
	list_for_each_entry_safe(d, tmp, &cand, ready) {
		list_del_init(&d->ready);
		if (dmw_itree_iter_first(&dmc->inflight_tree, d->sector,
					 dmw_io_last(d)) ||
		    __dmw_deferred_before(dmc, d))
			continue;
		dmw_itree_remove(d, &dmc->deferred_tree);
		dmw_itree_insert(d, &dmc->inflight_tree);
		list_move_tail(&d->list, &dmc->inflight);
		list_add_tail(&d->ready, &dmc->ready);
		any = true;
	}
	return any;
}

static void dmw_io_complete(struct dmw_io *io)
{
	struct dmw_c *dmc = io->dmc;
	unsigned long flags;
	bool kick;

	if (io->marked)
		dmw_meta_done(dmc, io);
	spin_lock_irqsave(&dmc->lock, flags);
	list_del(&io->list);
	if (io->nr_sectors)
		dmw_itree_remove(io, &dmc->inflight_tree);
	kick = __dmw_promote(dmc, io);
	spin_unlock_irqrestore(&dmc->lock, flags);
	if (kick)
		queue_work(dmc->wq, &dmc->issue_work);

	if (io->bio) {
		atomic_dec(&dmc->nr_app_writes);
		io->bio->bi_status = io->status;
		bio_endio(io->bio);
	} else {
		complete(io->event);
	}
}

static void dmw_io_put(struct dmw_io *io)
{
	if (atomic_dec_and_test(&io->pending))
		dmw_io_complete(io);
}

/**
 * dmw_io_fail - complete a write that was not issued, with @status
 * @io: the write, in the interval list, no leg started
 * @status: its status
 */
void dmw_io_fail(struct dmw_io *io, blk_status_t status)
{
	io->status = status;
	atomic_set(&io->pending, 1);
	dmw_io_put(io);
}

/**
 * dmw_peer_leg_done - the peer leg of @io ended, or was given up
 * @io: the write
 * @failed: the peer does not have the data
 */
void dmw_peer_leg_done(struct dmw_io *io, bool failed)
{
	struct dmw_c *dmc = io->dmc;

	if (failed) {
		io->peer_failed = true;
		dmw_mark_oos(dmc, io->sector, io->nr_sectors);
		/*
		 * A failed flush: what the peer acknowledged from its cache
		 * since its last confirmed flush may be lost, and the
		 * regions still set on disk hold all of it.
		 */
		if (!io->nr_sectors)
			dmw_meta_mark_oos_dirty(dmc);
		dmw_degrade(dmc, io->gen);
		/*
		 * A leg of an older generation failed late: the mirror is
		 * connected again and must copy what the leg did not.
		 */
		if (READ_ONCE(dmc->state) == DMW_S_CONNECTED && io->nr_sectors &&
		    !test_bit(DMW_STOPPING, &dmc->flags))
			dmw_resync_kick(dmc);
	}
	dmw_io_put(io);
}

/* Is the peer written?  Sets the generation the leg is sent under. */
static bool dmw_peer_usable(struct dmw_c *dmc, struct dmw_io *io)
{
	unsigned long flags;
	bool usable;

	spin_lock_irqsave(&dmc->lock, flags);
	usable = dmc->state == DMW_S_CONNECTED;
	io->gen = dmc->generation;
	spin_unlock_irqrestore(&dmc->lock, flags);
	return usable;
}

/*
 * Send the peer leg of @io: a DISCARD or WRITE ZEROES for a bio of that
 * kind, a flush for an empty write, else the data.
 * @nowait: map context: sleep for nothing (dm's SRCU read lock is held).
 * Return: 0; -EAGAIN if @nowait and a request or pool element was not
 * there (nothing sent); -EIO if it could not be started (error noted).
 */
static int dmw_send_leg(struct dmw_io *io, bool nowait)
{
	if (io->type)
		return dmw_send_zero(io, nowait);
	if (!io->nr_sectors)
		return dmw_send_flush(io, nowait);
	return dmw_send_write(io, io->src, io->wflags, nowait);
}

/* Send @io's peer leg from the send worker, where it may sleep. */
static void dmw_send_leg_later(struct dmw_io *io, unsigned long delay)
{
	struct dmw_c *dmc = io->dmc;
	unsigned long flags;
	bool first;

	spin_lock_irqsave(&dmc->lock, flags);
	first = list_empty(&dmc->retry);
	list_add_tail(&io->ready, &dmc->retry);
	spin_unlock_irqrestore(&dmc->lock, flags);
	if (first)
		mod_delayed_work(dmc->send_wq, &dmc->retry_work, delay);
}

/**
 * dmw_peer_leg_end - the peer leg of @io ended
 * @io: the write
 * @error: DMW_E_NONE, or why the leg failed
 * @transient: the failure may go away: send the leg again, for as long as
 *	peer_timeout allows since it was first sent
 *
 * A link that loses packets, a session in recovery, a peer short of
 * staging memory: none of these lose the peer, and none degrades the
 * target unless it outlasts peer_timeout.
 */
void dmw_peer_leg_end(struct dmw_io *io, int error, bool transient)
{
	struct dmw_c *dmc = io->dmc;

	if (error == DMW_E_NONE) {
		dmw_io_put(io);
		return;
	}
	if (error == DMW_R_GENERATION) {
		dmw_note_error(dmc, error);
		if (io->gen == READ_ONCE(dmc->generation)) {
			/* Another primary claimed the peer: stop here. */
			if (dmw_set_state(dmc, DMW_S_FENCED))
				DMERR("fenced: another primary claimed the peer; writes fail");
			io->status = BLK_STS_IOERR;
		}
		/*
		 * Else a leg of this primary's own older generation (sent
		 * again after its reconnect CLAIMed a new one): the local
		 * write stands, the region is resynced.
		 */
		dmw_peer_leg_done(io, true);
		return;
	}
	if (!transient || !time_before(jiffies, io->deadline)) {
		dmw_note_error(dmc, error);
		dmw_peer_leg_done(io, true);
		return;
	}
	this_cpu_add(dmc->stats->retries, 1);
	dmw_send_leg_later(io, msecs_to_jiffies(DMW_RETRY_DELAY_MS));
}

static void dmw_retry_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(to_delayed_work(ws), struct dmw_c,
					 retry_work);
	struct dmw_io *io, *tmp;
	LIST_HEAD(retry);

	spin_lock_irq(&dmc->lock);
	list_splice_init(&dmc->retry, &retry);
	spin_unlock_irq(&dmc->lock);

	list_for_each_entry_safe(io, tmp, &retry, ready) {
		list_del_init(&io->ready);
		if (!time_before(jiffies, io->deadline)) {
			dmw_note_error(dmc, DMW_E_TIMEOUT);
			dmw_peer_leg_done(io, true);
		} else if (!dmw_peer_usable(dmc, io)) {
			/* another leg failed meanwhile: this one is not sent */
			dmw_peer_leg_done(io, true);
		} else if (dmw_send_leg(io, false)) {
			dmw_peer_leg_done(io, true);
		}
	}
}

/* ---- Issuing a write ---- */

static void dmw_local_end_io(struct bio *clone)
{
	struct dmw_io *io = clone->bi_private;

	if (clone->bi_status)
		io->status = clone->bi_status;
	bio_put(clone);
	dmw_io_put(io);
}

static u8 dmw_write_flags(struct dmw_io *io, struct bio *bio)
{
	if (io->type == DMW_T_WRITE_ZEROES)
		return bio->bi_opf & REQ_NOUNMAP ? DMW_F_NOUNMAP : 0;
	if (io->type)
		return 0;
	return (bio->bi_opf & REQ_FUA ? DMW_F_FUA : 0) |
	       (bio->bi_opf & REQ_PREFLUSH ? DMW_F_PREFLUSH : 0);
}

/* What the peer leg of a usable peer becomes (dmw_peer_leg_of()). */
enum dmw_leg {
	DMW_LEG_SEND,		/* sent */
	DMW_LEG_SKIP,		/* not needed: a discard the peer cannot do */
	DMW_LEG_RESYNC,		/* the range goes out of sync, resync copies it */
};

/*
 * A discard is a hint: a peer whose backing device cannot discard (no
 * DMW_CAP_DISCARD) keeps what the range held, and the leg is skipped.  A
 * write zeroes defines the range's content: a peer that does not take
 * WRITE ZEROES (one that predates it) gets the zeroes by resync.
 */
static int dmw_peer_leg_of(struct dmw_c *dmc, struct dmw_io *io)
{
	u8 caps = READ_ONCE(dmc->peer_caps);

	if (io->type == DMW_T_DISCARD && !(caps & DMW_CAP_DISCARD))
		return DMW_LEG_SKIP;
	if (io->type == DMW_T_WRITE_ZEROES && !(caps & DMW_CAP_WRITE_ZEROES))
		return DMW_LEG_RESYNC;
	return DMW_LEG_SEND;
}

static void dmw_io_issue(struct dmw_io *io)
{
	struct dmw_c *dmc = io->dmc;
	struct bio *bio = io->bio;
	struct bio *clone;
	int r, leg = DMW_LEG_RESYNC;

	/* A fenced primary acknowledges no write: the peer may be ahead. */
	if (READ_ONCE(dmc->state) == DMW_S_FENCED) {
		dmw_io_fail(io, BLK_STS_IOERR);
		return;
	}
	/* The regions' bits are on disk before either leg starts. */
	if (io->nr_sectors && !io->marked) {
		io->marked = true;
		if (dmw_meta_mark(dmc, io))
			return;
	}
	atomic_set(&io->pending, 2);

	clone = bio_alloc_clone(dmc->local->bdev, bio, GFP_NOIO, &dmc->bs);
	clone->bi_iter.bi_sector = io->sector;
	clone->bi_end_io = dmw_local_end_io;
	clone->bi_private = io;
	dm_submit_bio_remap(bio, clone);

	if (dmw_peer_usable(dmc, io))
		leg = dmw_peer_leg_of(dmc, io);
	if (leg == DMW_LEG_SEND) {
		atomic_inc(&io->pending);
		io->src = bio;
		io->wflags = dmw_write_flags(io, bio);
		io->deadline = jiffies + dmc->peer_timeout;
		r = dmw_send_leg(io, true);
		if (r == -EAGAIN)
			dmw_send_leg_later(io, 0);
		else if (r)
			dmw_peer_leg_done(io, true);
		if (r != -EIO && bio->bi_opf & REQ_FUA)
			this_cpu_add(dmc->stats->fua, 1);
	} else if (leg == DMW_LEG_SKIP) {
		this_cpu_add(dmc->stats->discards_skipped, 1);
	} else {
		dmw_mark_oos(dmc, io->sector, io->nr_sectors);
		/* a reconnect between the check and the mark: resync it */
		if (READ_ONCE(dmc->state) == DMW_S_CONNECTED)
			dmw_resync_kick(dmc);
	}
	dmw_io_put(io);
}

static void dmw_issue_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(ws, struct dmw_c, issue_work);
	struct dmw_io *io, *tmp;
	unsigned long flags;
	LIST_HEAD(ready);

	spin_lock_irqsave(&dmc->lock, flags);
	list_splice_init(&dmc->ready, &ready);
	spin_unlock_irqrestore(&dmc->lock, flags);

	list_for_each_entry_safe(io, tmp, &ready, ready) {
		list_del(&io->ready);
		if (io->bio)
			dmw_io_issue(io);
		else
			complete(io->event);
	}
}

/*
 * Give up the peer legs older than peer_timeout: the write completes
 * without the peer, the region goes out of sync.  The request itself runs
 * on; its dmw_pio keeps what it references.
 */
static void dmw_timeout_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(to_delayed_work(ws), struct dmw_c,
					 timeout_work);
	struct dmw_io *io, *tmp;
	unsigned long flags;
	LIST_HEAD(expired);

	spin_lock_irqsave(&dmc->lock, flags);
	list_for_each_entry(io, &dmc->inflight, list) {
		if (!io->pio || time_before(jiffies, io->deadline))
			continue;
		io->pio->io = NULL;
		io->pio = NULL;
		list_add_tail(&io->ready, &expired);
	}
	spin_unlock_irqrestore(&dmc->lock, flags);

	list_for_each_entry_safe(io, tmp, &expired, ready) {
		list_del(&io->ready);
		dmw_note_error(dmc, DMW_E_TIMEOUT);
		dmw_peer_leg_done(io, true);
	}
	queue_delayed_work(dmc->wq, &dmc->timeout_work,
			   max(dmc->peer_timeout / 4, 1UL));
}

/* Shorten @bio to what one passthrough request can map. */
static void dmw_limit_segments(struct dmw_c *dmc, struct bio *bio)
{
	unsigned int segs = 0, bytes = 0;
	struct bvec_iter iter;
	struct bio_vec bv;

	bio_for_each_segment(bv, bio, iter) {
		if (++segs > dmc->max_segs) {
			dm_accept_partial_bio(bio, round_down(bytes, dmc->lbs) >>
					      SECTOR_SHIFT);
			return;
		}
		bytes += bv.bv_len;
	}
}

static int dmw_map(struct dm_target *ti, struct bio *bio)
{
	struct dmw_c *dmc = ti->private;
	struct dmw_io *io;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		bio_set_dev(bio, dmc->local->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector =
				dm_target_offset(ti, bio->bi_iter.bi_sector);
		return DM_MAPIO_REMAPPED;
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		break;
	default:
		/* Secure erase: never on one leg only. */
		return DM_MAPIO_KILL;
	}

	io = dm_per_bio_data(bio, sizeof(*io));
	io->type = bio_op(bio) == REQ_OP_DISCARD ? DMW_T_DISCARD :
		   bio_op(bio) == REQ_OP_WRITE_ZEROES ? DMW_T_WRITE_ZEROES : 0;
	/* a discard or write zeroes has no pages: nothing to map */
	if (bio_sectors(bio) && !io->type)
		dmw_limit_segments(dmc, bio);
	io->dmc = dmc;
	io->bio = bio;
	io->sector = bio_sectors(bio) ?
		     dm_target_offset(ti, bio->bi_iter.bi_sector) : 0;
	io->nr_sectors = bio_sectors(bio);
	io->status = BLK_STS_OK;
	io->pio = NULL;
	io->peer_failed = false;
	io->marked = false;
	INIT_LIST_HEAD(&io->ready);
	atomic_inc(&dmc->nr_app_writes);

	if (!dmw_io_enter(dmc, io))
		dmw_io_issue(io);
	return DM_MAPIO_SUBMITTED;
}

/* ---- Resync: copy the out-of-sync regions to the peer after a reconnect ---- */

static void dmw_resync_free(struct bio *bio)
{
	struct bvec_iter_all iter;
	struct bio_vec *bv;

	bio_for_each_segment_all(bv, bio, iter)
		__free_page(bv->bv_page);
	bio_put(bio);
}

static struct bio *dmw_resync_read(struct dmw_c *dmc, sector_t sector,
				   unsigned int nr)
{
	unsigned int nr_pages = DIV_ROUND_UP(nr << SECTOR_SHIFT, PAGE_SIZE);
	unsigned int left = nr << SECTOR_SHIFT;
	struct bvec_iter saved;
	struct bio *bio;

	bio = bio_alloc(dmc->local->bdev, nr_pages, REQ_OP_READ, GFP_NOIO);
	bio->bi_iter.bi_sector = sector;
	while (left) {
		unsigned int n = min_t(unsigned int, left, PAGE_SIZE);
		struct page *page = alloc_page(GFP_NOIO);

		if (!page || bio_add_page(bio, page, n, 0) != n) {
			if (page)
				__free_page(page);
			dmw_resync_free(bio);
			return NULL;
		}
		left -= n;
	}
	saved = bio->bi_iter;
	if (submit_bio_wait(bio)) {
		dmw_resync_free(bio);
		return NULL;
	}
	bio->bi_iter = saved;
	return bio;
}

/* Copy one piece, holding it in the interval list against writes. */
static int dmw_resync_piece(struct dmw_c *dmc, sector_t sector,
			    unsigned int nr)
{
	DECLARE_COMPLETION_ONSTACK(event);
	struct dmw_io io = {
		.dmc = dmc,
		.event = &event,
		.sector = sector,
		.nr_sectors = nr,
	};
	struct bio *src;
	int r = 0;

	INIT_LIST_HEAD(&io.ready);
	if (dmw_io_enter(dmc, &io))
		wait_for_completion(&event);
	reinit_completion(&event);
	atomic_set(&io.pending, 1);

	src = dmw_resync_read(dmc, sector, nr);
	if (!src) {
		dmw_mark_oos(dmc, sector, nr);
		r = -EIO;
	} else if (dmw_peer_usable(dmc, &io)) {
		atomic_inc(&io.pending);
		io.src = src;
		io.wflags = DMW_F_FUA;
		io.deadline = jiffies + dmc->peer_timeout;
		if (dmw_send_leg(&io, false))
			dmw_peer_leg_done(&io, true);
	} else {
		dmw_mark_oos(dmc, sector, nr);
		r = -EIO;
	}
	dmw_io_put(&io);
	wait_for_completion(&event);
	if (src)
		dmw_resync_free(src);
	return r;
}

/* Largest resync piece: one bio of single pages, one peer request. */
static unsigned int dmw_resync_piece_max(struct dmw_c *dmc)
{
	unsigned int pages = min_t(unsigned int, BIO_MAX_VECS,
				   dmc->max_segs - 1);

	return min(dmc->max_io, pages << (PAGE_SHIFT - SECTOR_SHIFT));
}

/*
 * Throttle: yield to application writes for a while, then keep to
 * resync_rate (KiB/s) since the resync started.
 */
static void dmw_resync_throttle(struct dmw_c *dmc)
{
	unsigned int i;

	for (i = 0; i < 50 && atomic_read(&dmc->nr_app_writes) &&
	     !test_bit(DMW_STOPPING, &dmc->flags); i++)
		msleep(DMW_RESYNC_YIELD_MS);
	if (dmc->resync_rate) {
		u64 kib = atomic64_read(&dmc->resync_done) >> 1;
		unsigned long due = dmc->resync_start +
				    msecs_to_jiffies(div_u64(kib * MSEC_PER_SEC,
							     dmc->resync_rate));

		if (time_before(jiffies, due) &&
		    !test_bit(DMW_STOPPING, &dmc->flags))
			schedule_timeout_interruptible(due - jiffies);
	}
}

static int dmw_resync_region(struct dmw_c *dmc, unsigned long region)
{
	sector_t sector = (sector_t)region << dmc->region_shift;
	sector_t end = min_t(sector_t, dmc->ti->len,
			     sector + (1ULL << dmc->region_shift));
	unsigned int max = dmw_resync_piece_max(dmc);
	int r = 0;

	clear_bit(region, dmc->oos);
	while (sector < end && !r) {
		unsigned int nr = min_t(sector_t, end - sector, max);

		dmw_resync_throttle(dmc);
		r = dmw_resync_piece(dmc, sector, nr);
		sector += nr;
		atomic64_add(nr, &dmc->resync_done);
	}
	return r;
}

static void dmw_resync_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(ws, struct dmw_c, resync_work);
	unsigned long region = 0;
	bool failed = false;

	set_bit(DMW_RESYNCING, &dmc->flags);
	dmc->resync_start = jiffies;
	atomic64_set(&dmc->resync_done, 0);
	while (!test_bit(DMW_STOPPING, &dmc->flags) &&
	       READ_ONCE(dmc->state) == DMW_S_CONNECTED) {
		region = find_next_bit(dmc->oos, dmc->nr_regions, region);
		if (region >= dmc->nr_regions) {
			/* a region marked behind us (a racing write): again */
			if (failed || find_first_bit(dmc->oos, dmc->nr_regions) >=
			    dmc->nr_regions)
				break;
			region = 0;
			continue;
		}
		/* a region that cannot be read locally stays out of sync */
		if (dmw_resync_region(dmc, region))
			failed = true;
		region++;
		cond_resched();
	}
	clear_bit(DMW_RESYNCING, &dmc->flags);
	if (failed)
		DMERR("resync: some regions could not be copied; they stay out of sync");
	dm_table_event(dmc->ti->table);
}

/**
 * dmw_flush_peer - flush the peer's cache and wait
 * @dmc: the target
 *
 * Return: 0 if the peer confirmed the flush; -EIO if the mirror is not
 * connected or the flush failed (which degrades it).
 */
int dmw_flush_peer(struct dmw_c *dmc)
{
	DECLARE_COMPLETION_ONSTACK(event);
	struct dmw_io io = {
		.dmc = dmc,
		.event = &event,
	};

	INIT_LIST_HEAD(&io.ready);
	dmw_io_enter(dmc, &io);
	atomic_set(&io.pending, 1);
	if (dmw_peer_usable(dmc, &io)) {
		atomic_inc(&io.pending);
		io.deadline = jiffies + dmc->peer_timeout;
		if (dmw_send_leg(&io, false))
			dmw_peer_leg_done(&io, true);
	} else {
		io.peer_failed = true;
	}
	dmw_io_put(&io);
	wait_for_completion(&event);
	return io.peer_failed ? -EIO : 0;
}

static void dmw_reconnect_work(struct work_struct *ws);

/* ---- Constructor and destructor ---- */

static int dmw_copy_args(struct dmw_c *dmc, unsigned int argc, char **argv)
{
	unsigned int i;

	dmc->args = kcalloc(argc, sizeof(*dmc->args), GFP_KERNEL);
	if (!dmc->args)
		return -ENOMEM;
	for (i = 0; i < argc; i++) {
		dmc->args[i] = kstrdup(argv[i], GFP_KERNEL);
		if (!dmc->args[i])
			return -ENOMEM;
	}
	dmc->nr_args = argc;
	return 0;
}

static void dmw_free_args(struct dmw_c *dmc)
{
	unsigned int i;

	if (dmc->args)
		for (i = 0; i < dmc->nr_args; i++)
			kfree(dmc->args[i]);
	kfree(dmc->args);
}

static int dmw_parse_features(struct dm_arg_set *as, struct dmw_c *dmc,
			      char **error)
{
	static const struct dm_arg _args[] = {
		{0, 11, "Invalid number of feature arguments"},
		{0, DMW_INLINE_MAX_BYTES,
		 "Invalid inline_max: bytes from 0 to 131072"},
		{DMW_TIMEOUT_MIN, DMW_TIMEOUT_MAX,
		 "Invalid peer_timeout: milliseconds from 100 to 60000"},
		{DMW_REGION_MIN, DMW_REGION_MAX,
		 "Invalid region_size: sectors from 8 to 16777216"},
		{0, 4194304, "Invalid resync_rate: KiB/s from 0 to 4194304"},
	};
	bool seen_inline = false, seen_timeout = false, seen_region = false;
	bool seen_meta = false, seen_rate = false;
	unsigned int argc, val;
	const char *name;
	int r;

	if (!as->argc)
		return 0;
	r = dm_read_arg_group(_args, as, &argc, error);
	if (r)
		return r;

	while (argc) {
		name = dm_shift_arg(as);
		argc--;
		if (!strcasecmp(name, "nosync")) {
			if (dmc->nosync) {
				*error = "Duplicate feature nosync";
				return -EINVAL;
			}
			dmc->nosync = true;
			continue;
		}
		if (!argc) {
			*error = "Feature argument without a value";
			return -EINVAL;
		}
		if (!strcasecmp(name, "inline_max")) {
			if (seen_inline) {
				*error = "Duplicate feature inline_max";
				return -EINVAL;
			}
			seen_inline = true;
			r = dm_read_arg(&_args[1], as, &val, error);
			if (r)
				return r;
			if (val % DMW_SECTOR_SIZE) {
				*error = "Invalid inline_max: not a multiple of 512";
				return -EINVAL;
			}
			dmc->inline_max = val;
		} else if (!strcasecmp(name, "peer_timeout")) {
			if (seen_timeout) {
				*error = "Duplicate feature peer_timeout";
				return -EINVAL;
			}
			seen_timeout = true;
			r = dm_read_arg(&_args[2], as, &val, error);
			if (r)
				return r;
			dmc->peer_timeout_ms = val;
		} else if (!strcasecmp(name, "region_size")) {
			if (seen_region) {
				*error = "Duplicate feature region_size";
				return -EINVAL;
			}
			seen_region = true;
			r = dm_read_arg(&_args[3], as, &val, error);
			if (r)
				return r;
			if (!is_power_of_2(val)) {
				*error = "Invalid region_size: not a power of 2";
				return -EINVAL;
			}
			dmc->region_shift = ilog2(val);
		} else if (!strcasecmp(name, "meta_dev")) {
			if (seen_meta) {
				*error = "Duplicate feature meta_dev";
				return -EINVAL;
			}
			seen_meta = true;
			r = dm_get_device(dmc->ti, dm_shift_arg(as),
					  dm_table_get_mode(dmc->ti->table),
					  &dmc->meta.dev);
			if (r) {
				*error = "Error opening metadata device";
				return r;
			}
			argc--;
			continue;
		} else if (!strcasecmp(name, "resync_rate")) {
			if (seen_rate) {
				*error = "Duplicate feature resync_rate";
				return -EINVAL;
			}
			seen_rate = true;
			r = dm_read_arg(&_args[4], as, &val, error);
			if (r)
				return r;
			dmc->resync_rate = val;
		} else {
			*error = "Unknown feature argument";
			return -EINVAL;
		}
		argc--;
	}
	if (as->argc) {
		*error = "Unexpected arguments after the features";
		return -EINVAL;
	}
	return 0;
}

/* <peer_dev> must be a whole SCSI disk: we talk to it in SCSI commands. */
static int dmw_check_peer_dev(struct dmw_c *dmc, char **error)
{
	struct block_device *bdev = dmc->peer->bdev;
	struct device *parent = disk_to_dev(bdev->bd_disk)->parent;

	if (bdev == dmc->local->bdev) {
		*error = "Local and peer device are the same";
		return -EINVAL;
	}
	if (bdev_is_partition(bdev)) {
		*error = "Peer device is a partition: give the whole SCSI disk";
		return -EINVAL;
	}
	if (!parent || !scsi_is_sdev_device(parent) ||
	    to_scsi_device(parent)->type != TYPE_DISK) {
		*error = "Peer device is not a SCSI disk";
		return -EINVAL;
	}
	if (bdev_nr_sectors(bdev) < dmc->ti->len) {
		*error = "Peer device is too small";
		return -EINVAL;
	}
	dmc->peer_q = bdev_get_queue(bdev);
	return 0;
}

static int dmw_get_devices(struct dmw_c *dmc, char **argv, char **error)
{
	struct dm_target *ti = dmc->ti;
	fmode_t mode = dm_table_get_mode(ti->table);
	int r;

	r = dm_get_device(ti, argv[0], mode, &dmc->local);
	if (r) {
		*error = "Error opening local device";
		return r;
	}
	if (bdev_nr_sectors(dmc->local->bdev) < ti->len) {
		*error = "Local device is too small";
		r = -EINVAL;
		goto bad_peer;
	}
	r = dm_get_device(ti, argv[1], mode, &dmc->peer);
	if (r) {
		*error = "Error opening peer device";
		goto bad_peer;
	}
	r = dmw_check_peer_dev(dmc, error);
	if (r)
		goto bad_check;
	return 0;

bad_check:
	dm_put_device(ti, dmc->peer);
bad_peer:
	dm_put_device(ti, dmc->local);
	return r;
}

static void dmw_put_devices(struct dmw_c *dmc)
{
	dm_put_device(dmc->ti, dmc->peer);
	dm_put_device(dmc->ti, dmc->local);
}

/*
 * The peer's node was a primary and its bitmap says which regions it may
 * have written without this copy (DMW_SF_SUSPECT): read it (BITMAP) and
 * mark those regions here, on disk, before the CLAIM makes the peer
 * forget them.  Its regions may be of another size than ours.
 */
static int dmw_take_peer_bitmap(struct dmw_c *dmc,
				const struct dmw_state *state)
{
	u64 bytes = DIV_ROUND_UP(state->bm_regions, 8), off, n = 0;
	sector_t len = dmc->ti->len;
	unsigned long bit, nbits;
	u32 chunk, want;
	int r = 0;
	u8 *buf;

	buf = kmalloc(DMW_BITMAP_CHUNK, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (chunk = 0, off = 0; off < bytes && !r;
	     chunk++, off += DMW_BITMAP_CHUNK) {
		want = min_t(u64, bytes - off, DMW_BITMAP_CHUNK);
		r = dmw_send_bitmap_cmd(dmc, chunk, buf, want);
		if (r)
			break;
		nbits = min_t(u64, (u64)want * 8, state->bm_regions - off * 8);
		for (bit = find_next_bit_le(buf, nbits, 0); bit < nbits;
		     bit = find_next_bit_le(buf, nbits, bit + 1)) {
			u64 start = (off * 8 + bit) << state->bm_shift;
			u64 end = start + (1ULL << state->bm_shift) - 1;

			if (start >= len)
				break;
			end = min_t(u64, end, len - 1);
			dmw_meta_set_range(dmc, start >> dmc->region_shift,
					   end >> dmc->region_shift);
			n++;
		}
	}
	kfree(buf);
	dmw_meta_sync(dmc);
	if (!r)
		DMINFO("the peer's node marked %llu regions as a primary: resyncing them",
		       n);
	return r;
}

/*
 * CLAIM the peer with the generation this primary last knew (@force:
 * whatever it is).  A QUERY first reads what the peer's metadata says of
 * its copy (DMW_SF_*), because the CLAIM clears it:
 *  - FRESH (attached again since its last CLAIM: rebooted, re-added) or a
 *    generation that went back (no metadata on the peer: 0 again): it may
 *    have lost writes it acknowledged from a volatile cache; every region
 *    whose bit is on disk here (not cleared since a flush the peer
 *    confirmed) is resynced;
 *  - SUSPECT or DIVERGED: its node was a primary since (a failover) and
 *    its copy may hold writes this one lacks: all of it is resynced;
 *  - DIVERGED while this primary wrote alone too: a split brain, refused
 *    (-EXDEV) unless @force, which makes this copy win.
 * A forced CLAIM over another primary's also makes this copy win: all of
 * it is resynced.  Every region to resync is marked on disk first.
 *
 * Return: 0 (dmc->generation is the new one); -EPERM: fenced; -EXDEV:
 * split brain; else as dmw_send_state_cmd().
 */
static int dmw_claim_peer(struct dmw_c *dmc, bool force,
			  struct dmw_state *state)
{
	struct dmw_meta *m = &dmc->meta;
	u64 expected = m->dev ? m->peer_generation : READ_ONCE(dmc->generation);
	u64 pending = m->claim_pending;
	bool lost = false, full = false;
	u8 flags;
	int ret;

	ret = dmw_send_state_cmd(dmc, DMW_T_QUERY, 0, false, state);
	if (ret)
		return ret;
	flags = state->flags;
	if ((flags & DMW_SF_DIVERGED) && READ_ONCE(m->diverged) && !force)
		return -EXDEV;
	/* only the regions it marked, if it says which */
	if ((flags & DMW_SF_SUSPECT) && state->bm_regions &&
	    !dmw_take_peer_bitmap(dmc, state))
		flags &= ~(DMW_SF_SUSPECT | DMW_SF_DIVERGED);

	/*
	 * A CLAIM the peer applies without our knowing (it timed out here
	 * while the peer was hung, or we crashed before the superblock
	 * write) must not make us fenced by ourselves: the generation it
	 * gives is kept, in memory and on disk, and tried below.
	 */
	if (expected && !force) {
		m->claim_pending = expected + 1;
		dmw_meta_write_sb(dmc, false);
	}
	ret = dmw_send_state_cmd(dmc, DMW_T_CLAIM, expected, force || !expected,
				 state);
	if (ret == -EPERM && pending && pending != expected) {
		/* our own CLAIM went through before a crash: it is ours */
		ret = dmw_send_state_cmd(dmc, DMW_T_CLAIM, pending, false, state);
		if (!ret)
			expected = pending;
	}
	if (ret == -EPERM) {
		ret = dmw_send_state_cmd(dmc, DMW_T_QUERY, 0, false, state);
		if (ret)
			return ret;
		if (state->generation) {
			/*
			 * Another primary's: our CLAIM did not go through,
			 * and its tag must not be tried on the next load.
			 */
			if (m->claim_pending) {
				m->claim_pending = 0;
				dmw_meta_write_sb(dmc, false);
			}
			return -EPERM;
		}
		ret = dmw_send_state_cmd(dmc, DMW_T_CLAIM, 0, true, state);
	}
	if (ret)
		return ret;
	if (expected && state->generation != expected + 1) {
		full = force && state->generation > expected + 1;
		lost = !full;
	}
	if ((flags & DMW_SF_FRESH) && expected)
		lost = true;
	if (flags & (DMW_SF_SUSPECT | DMW_SF_DIVERGED))
		full = true;
	if (full)
		dmw_meta_mark_range(dmc, 0, dmc->nr_regions - 1);
	else if (lost && m->dev)
		dmw_meta_mark_oos_dirty(dmc);
	else if (lost)
		dmw_meta_mark_range(dmc, 0, dmc->nr_regions - 1);
	spin_lock_irq(&dmc->lock);
	dmc->generation = state->generation;
	m->peer_generation = state->generation;
	m->claim_pending = 0;
	m->diverged = false;
	spin_unlock_irq(&dmc->lock);
	if (flags & (DMW_SF_SUSPECT | DMW_SF_DIVERGED))
		DMWARN("the peer's copy was written by its node as a primary: full resync");
	else if (full)
		DMWARN("claimed over another primary: this copy wins, full resync");
	else if (lost)
		DMWARN("the peer may have lost its volatile cache: resyncing what it held");
	dmw_meta_write_sb(dmc, false);
	return 0;
}

/* Does the peer of @state fit the target as constructed? */
static int dmw_check_peer_state(struct dmw_c *dmc, struct dmw_state *state,
				char **error)
{
	if (state->capacity < dmc->ti->len) {
		*error = "Peer capacity is smaller than the target";
		return -EINVAL;
	}
	if ((1U << state->lbs_shift) !=
	    bdev_logical_block_size(dmc->peer->bdev)) {
		*error = "Peer logical block size differs from its disk's";
		return -EINVAL;
	}
	if ((state->max_split && state->max_split < dmc->max_io) ||
	    (state->staging_kib && state->staging_kib * 2 < dmc->max_io)) {
		*error = "Peer accepts smaller writes than the target sends";
		return -EINVAL;
	}
	return 0;
}

/*
 * Segments of the largest write: its pages, plus one if unaligned, as
 * many as the peer queue takes and one data bio holds (dmw_pio_alloc()).
 * A write with more is shortened (dmw_limit_segments()).
 */
static void dmw_set_max_segs(struct dmw_c *dmc)
{
	dmc->max_segs = min3(queue_max_segments(dmc->peer_q),
			     (dmc->max_io >> (PAGE_SHIFT - SECTOR_SHIFT)) + 1,
			     (unsigned int)BIO_MAX_VECS);
}

/*
 * The constructor only QUERYs the peer, for its limits: a table being
 * loaded must not fence the live table it is to replace.  The first
 * resume CLAIMs it (dmw_preresume()).  With metadata, a peer that does
 * not answer leaves the target degraded (it reconnects by itself);
 * without, that is an error.
 */
static int dmw_query(struct dmw_c *dmc, char **error)
{
	struct dmw_state state;
	int r;

	r = dmw_send_state_cmd(dmc, DMW_T_QUERY, 0, false, &state);
	switch (r) {
	case 0:
		break;
	case -ENOTTY:
	case -EPROTO:
	case -EINVAL:
		*error = "Peer does not speak dualmirror";
		return -EINVAL;
	case -ENOMEM:
		*error = "Cannot allocate QUERY request";
		return r;
	default:
		if (!dmc->meta.dev) {
			*error = "Peer did not answer QUERY";
			return -EIO;
		}
		DMWARN("the peer does not answer: it will be claimed when it does");
		return 0;
	}
	if (state.max_split && state.max_split < dmc->max_io)
		dmc->max_io = state.max_split;
	if (state.staging_kib && state.staging_kib * 2 < dmc->max_io)
		dmc->max_io = state.staging_kib * 2;
	dmc->max_io = round_down(dmc->max_io, dmc->lbs >> SECTOR_SHIFT);
	if (dmc->max_io < PAGE_SECTORS) {
		*error = "Peer accepts less than a page per write";
		return -EINVAL;
	}
	dmw_set_max_segs(dmc);
	return dmw_check_peer_state(dmc, &state, error);
}

/*
 * Both copies took writes the other lacks.  Nothing is resolved silently:
 * the mirror stays degraded and does not reconnect by itself until the
 * administrator chooses the copy that wins ("reconnect force" here, or
 * this node made the peer).
 */
static void dmw_split_brain(struct dmw_c *dmc)
{
	set_bit(DMW_NO_RECONNECT, &dmc->flags);
	WRITE_ONCE(dmc->last_error, DMW_E_SPLIT_BRAIN);
	DMERR("split brain: the peer's node and this one both wrote alone");
	DMERR("split brain: 'reconnect force' makes this copy win, or make this node the peer");
}

/* The first CLAIM, when the table goes live; never fails the resume. */
static void dmw_first_claim(struct dmw_c *dmc)
{
	struct dmw_state state;
	char *error = NULL;
	int r;

	r = dmw_claim_peer(dmc, false, &state);
	if (!r)
		r = dmw_check_peer_state(dmc, &state, &error);
	spin_lock_irq(&dmc->lock);
	if (r == -EPERM)
		dmc->state = DMW_S_FENCED;
	else if (r)
		dmc->state = DMW_S_DEGRADED;
	spin_unlock_irq(&dmc->lock);
	if (r == -EPERM)
		DMERR("fenced: the peer was claimed by another primary");
	else if (r == -EXDEV)
		dmw_split_brain(dmc);
	else if (r)
		DMERR("cannot claim the peer (%s): degraded",
		      error ? error : "no answer");
}

static int dmw_alloc(struct dmw_c *dmc, char **error)
{
	struct dm_target *ti = dmc->ti;
	int r;

	dmc->nr_regions = DIV_ROUND_UP_SECTOR_T(ti->len,
						1ULL << dmc->region_shift);
	dmc->oos = kvcalloc(BITS_TO_LONGS(dmc->nr_regions),
			    sizeof(unsigned long), GFP_KERNEL);
	dmc->stats = alloc_percpu(struct dmw_stats);
	if (!dmc->oos || !dmc->stats) {
		*error = "Cannot allocate out-of-sync bitmap";
		r = -ENOMEM;
		goto bad_bioset;
	}
	r = bioset_init(&dmc->bs, BIO_POOL_SIZE, 0, 0);
	if (r) {
		*error = "Cannot allocate bioset";
		goto bad_bioset;
	}
	dmc->pio_pool = mempool_create_kmalloc_pool(DMW_MIN_PIOS,
						    sizeof(struct dmw_pio));
	if (!dmc->pio_pool) {
		*error = "Cannot allocate peer I/O pool";
		r = -ENOMEM;
		goto bad_pool;
	}
	r = bioset_init(&dmc->data_bs, DMW_MIN_PIOS, 0, BIOSET_NEED_BVECS);
	if (r) {
		*error = "Cannot allocate peer data bioset";
		goto bad_data_bs;
	}
	dmc->desc_pool = mempool_create_kmalloc_pool(DMW_MIN_PIOS,
						     dmw_desc_len(dmc->max_io));
	if (!dmc->desc_pool) {
		*error = "Cannot allocate descriptor pool";
		r = -ENOMEM;
		goto bad_desc_pool;
	}
	dmc->wq = alloc_workqueue("dmw-%s", WQ_MEM_RECLAIM, 0,
				  dm_device_name(dm_table_get_md(ti->table)));
	if (!dmc->wq) {
		*error = "Cannot allocate workqueue";
		r = -ENOMEM;
		goto bad_wq;
	}
	dmc->send_wq = alloc_workqueue("dmw-send-%s",
				       WQ_MEM_RECLAIM | WQ_HIGHPRI, 0,
				       dm_device_name(dm_table_get_md(ti->table)));
	if (!dmc->send_wq) {
		*error = "Cannot allocate send workqueue";
		r = -ENOMEM;
		goto bad_send_wq;
	}
	dmc->meta.wq = alloc_ordered_workqueue("dmw-meta-%s", WQ_MEM_RECLAIM,
					       dm_device_name(dm_table_get_md(ti->table)));
	if (!dmc->meta.wq) {
		*error = "Cannot allocate metadata workqueue";
		r = -ENOMEM;
		goto bad_meta_wq;
	}
	return 0;

bad_meta_wq:
	destroy_workqueue(dmc->send_wq);
bad_send_wq:
	destroy_workqueue(dmc->wq);
bad_wq:
	mempool_destroy(dmc->desc_pool);
bad_desc_pool:
	bioset_exit(&dmc->data_bs);
bad_data_bs:
	mempool_destroy(dmc->pio_pool);
bad_pool:
	bioset_exit(&dmc->bs);
bad_bioset:
	free_percpu(dmc->stats);
	kvfree(dmc->oos);
	return r;
}

static void dmw_free(struct dmw_c *dmc)
{
	destroy_workqueue(dmc->meta.wq);
	destroy_workqueue(dmc->send_wq);
	destroy_workqueue(dmc->wq);
	mempool_destroy(dmc->desc_pool);
	bioset_exit(&dmc->data_bs);
	mempool_destroy(dmc->pio_pool);
	bioset_exit(&dmc->bs);
	free_percpu(dmc->stats);
	kvfree(dmc->oos);
}

/*
 * Largest write and segment count one passthrough request can carry and
 * one data bio holds (BIO_MAX_VECS pages: dmw_pio_alloc()).
 */
static void dmw_set_limits(struct dmw_c *dmc)
{
	struct request_queue *q = dmc->peer_q;

	dmc->lbs = max(bdev_logical_block_size(dmc->local->bdev),
		       bdev_logical_block_size(dmc->peer->bdev));
	dmc->max_io = min3(DMW_SPLIT_MAX_SECTORS, queue_max_hw_sectors(q),
			   (unsigned int)BIO_MAX_VECS << (PAGE_SHIFT - SECTOR_SHIFT));
	dmw_set_max_segs(dmc);
}

/*
 * Construct a dualmirror mapping:
 *
 * <local_dev> <peer_dev> [<#feature args> [<feature arg>]*]
 *
 * local_dev: the local disk; reads come from it.
 * peer_dev: the peer disk, a whole SCSI disk whose LU speaks the
 *	dualmirror wire format (a dualmirror_peer LU, e.g. over iSCSI).
 *
 * Optional feature arguments, each at most once:
 *   inline_max <bytes>: writes up to this size are sent inline (0 to
 *	131072, a multiple of 512; default 32768; 0 = always split)
 *   peer_timeout <ms>: a peer leg not done by then is given up and the
 *	target goes degraded (100 to 60000; default 5000)
 *   region_size <sectors>: granularity of the out-of-sync bitmap (a power
 *	of 2 from 8 to 16777216; default 1024)
 *   meta_dev <dev>: keep the sync state on <dev>: a superblock and a
 *	write-intent bitmap (dm-dualmirror-meta.c); without it the sync state
 *	lives in memory and every table starts as a new mirror
 *   nosync: a new mirror's copies are taken as identical (e.g. both blank)
 *	instead of copying the whole device first
 *   resync_rate <KiB/s>: throttle of resync (0, the default: unlimited;
 *	resync always yields to application writes)
 */
static int dmw_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as;
	struct dmw_c *dmc;
	int r;

	if (argc < 2) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	dmc = kzalloc(sizeof(*dmc), GFP_KERNEL);
	if (!dmc) {
		ti->error = "Cannot allocate dualmirror context";
		return -ENOMEM;
	}
	dmc->ti = ti;
	dmc->inline_max = DMW_INLINE_DEFAULT;
	dmc->peer_timeout_ms = DMW_TIMEOUT_DEFAULT;
	dmc->region_shift = ilog2(DMW_REGION_DEFAULT);
	dmc->last_error = DMW_E_NONE;
	spin_lock_init(&dmc->lock);
	mutex_init(&dmc->reconnect_mutex);
	INIT_LIST_HEAD(&dmc->inflight);
	INIT_LIST_HEAD(&dmc->deferred);
	dmc->inflight_tree = RB_ROOT_CACHED;
	dmc->deferred_tree = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&dmc->ready);
	INIT_LIST_HEAD(&dmc->retry);
	init_waitqueue_head(&dmc->pio_wait);
	INIT_WORK(&dmc->issue_work, dmw_issue_work);
	INIT_WORK(&dmc->event_work, dmw_event_work);
	INIT_WORK(&dmc->resync_work, dmw_resync_work);
	INIT_DELAYED_WORK(&dmc->timeout_work, dmw_timeout_work);
	INIT_DELAYED_WORK(&dmc->retry_work, dmw_retry_work);
	INIT_DELAYED_WORK(&dmc->reconnect_work, dmw_reconnect_work);
	dmw_meta_init_work(dmc);

	r = dmw_copy_args(dmc, argc, argv);
	if (r) {
		ti->error = "Cannot copy the arguments";
		goto bad_args;
	}
	as.argc = argc - 2;
	as.argv = argv + 2;
	r = dmw_parse_features(&as, dmc, &ti->error);
	if (r)
		goto bad_args;
	dmc->peer_timeout = msecs_to_jiffies(dmc->peer_timeout_ms);

	r = dmw_get_devices(dmc, argv, &ti->error);
	if (r)
		goto bad_args;
	if (dmc->meta.dev && (dmc->meta.dev->bdev == dmc->local->bdev ||
			      dmc->meta.dev->bdev == dmc->peer->bdev)) {
		ti->error = "Metadata device is the local or the peer device";
		r = -EINVAL;
		goto bad_alloc;
	}
	dmw_set_limits(dmc);
	r = dmw_query(dmc, &ti->error);
	if (r)
		goto bad_alloc;
	r = dmw_alloc(dmc, &ti->error);
	if (r)
		goto bad_alloc;
	r = dmw_meta_init(dmc, dmc->nosync, &ti->error);
	if (r)
		goto bad_meta;
	r = dm_set_target_max_io_len(ti, dmc->max_io);
	if (r)
		goto bad_meta;

	ti->num_flush_bios = 1;
	/*
	 * The limits of both (dmw_io_hints()) are the local disk's: the peer
	 * disk is an sd device whose own discard limits say nothing of the
	 * peer's backing device, which QUERY announced.
	 */
	ti->num_discard_bios = 1;
	ti->discards_supported = true;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct dmw_io);
	ti->private = dmc;
	queue_delayed_work(dmc->wq, &dmc->timeout_work, dmc->peer_timeout);
	return 0;

bad_meta:
	dmw_meta_free(dmc);
	dmw_free(dmc);
bad_alloc:
	dmw_put_devices(dmc);
bad_args:
	if (dmc->meta.dev)
		dm_put_device(ti, dmc->meta.dev);
	dmw_free_args(dmc);
	kfree(dmc);
	return r;
}

static void dmw_dtr(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;

	set_bit(DMW_STOPPING, &dmc->flags);
	cancel_delayed_work_sync(&dmc->reconnect_work);
	cancel_work_sync(&dmc->resync_work);
	cancel_delayed_work_sync(&dmc->timeout_work);
	cancel_delayed_work_sync(&dmc->retry_work);
	cancel_delayed_work_sync(&dmc->meta.daemon);
	flush_workqueue(dmc->wq);

	/* Abandoned peer requests still reference our pool and bios. */
	wait_event(dmc->pio_wait, !atomic_read(&dmc->nr_pios));
	spin_lock_irq(&dmc->lock);
	spin_unlock_irq(&dmc->lock);

	dmw_meta_free(dmc);
	dmw_free(dmc);
	dmw_put_devices(dmc);
	if (dmc->meta.dev)
		dm_put_device(ti, dmc->meta.dev);
	dmw_free_args(dmc);
	kfree(dmc);
}

/* ---- Suspend, resume, status, messages ---- */

static void dmw_presuspend(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;

	set_bit(DMW_STOPPING, &dmc->flags);
	cancel_delayed_work_sync(&dmc->reconnect_work);
	flush_work(&dmc->resync_work);
}

/*
 * Going live for the first time: the table this one replaces is suspended
 * now and its last bitmap is on disk: load the sync state again, then
 * CLAIM the peer.
 */
static int dmw_preresume(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;
	int r;

	if (dmc->live)
		return 0;
	r = dmw_meta_reload(dmc);
	if (r)
		return r;
	dmw_first_claim(dmc);
	dmc->live = true;
	return 0;
}

/* Suspended, nothing in flight: leave the bitmap on disk clean. */
static void dmw_postsuspend(struct dm_target *ti)
{
	dmw_meta_stop(ti->private);
}

static void dmw_resume(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;
	int state = READ_ONCE(dmc->state);

	clear_bit(DMW_STOPPING, &dmc->flags);
	dmw_meta_start(dmc);
	if (state == DMW_S_CONNECTED &&
	    find_first_bit(dmc->oos, dmc->nr_regions) < dmc->nr_regions)
		dmw_resync_kick(dmc);
	if (state == DMW_S_DEGRADED && !test_bit(DMW_NO_RECONNECT, &dmc->flags))
		queue_delayed_work(dmc->wq, &dmc->reconnect_work,
				   DMW_RECONNECT_PERIOD);
}

static void dmw_presuspend_undo(struct dm_target *ti)
{
	dmw_resume(ti);
}

static const char *dmw_state_word(struct dmw_c *dmc)
{
	int state = READ_ONCE(dmc->state);

	if (state != DMW_S_CONNECTED)
		return dmw_state_names[state];
	if (test_bit(DMW_RESYNCING, &dmc->flags))
		return "resyncing";
	if (find_first_bit(dmc->oos, dmc->nr_regions) < dmc->nr_regions)
		return "outofsync";
	return "connected";
}

/* Resync progress: KiB/s since it started, and seconds left at that rate. */
static void dmw_resync_progress(struct dmw_c *dmc, u64 *kibps, u64 *eta)
{
	u64 done = atomic64_read(&dmc->resync_done);
	unsigned long ms = jiffies_to_msecs(jiffies - dmc->resync_start);

	*kibps = 0;
	*eta = 0;
	if (!test_bit(DMW_RESYNCING, &dmc->flags) || !ms)
		return;
	*kibps = div_u64((done >> 1) * MSEC_PER_SEC, ms);
	if (*kibps)
		*eta = div_u64(dmw_oos_sectors(dmc) >> 1, *kibps);
}

static u64 dmw_mean_us(struct dmw_c *dmc, int fr)
{
	u64 ops = dmw_stat(dmc, ops[fr]);

	return ops ? div64_u64(dmw_stat(dmc, lat_us[fr]), ops) : 0;
}

/*
 * Status line (STATUSTYPE_INFO), positional; new fields are only appended:
 *
 * <state> <out-of-sync sectors>/<total sectors>
 * <inline ops> <inline irqs> <split ops> <split irqs> <peer errors>
 * <inline mean us> <split mean us> <generation> <peer flushes>
 * <fua writes> <overlap waits> <last peer error> <retries>
 * <regions set in the on-disk bitmap, or - without metadata>
 * <resync KiB/s> <resync seconds left> <bitmap write errors>
 * <discard ops> <discard irqs> <write zeroes ops> <write zeroes irqs>
 * <discards not sent to the peer> <peer writes copied>
 */
static void dmw_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct dmw_c *dmc = ti->private;
	unsigned int sz = 0, i;
	u64 kibps, eta;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%s %llu/%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %s",
		       dmw_state_word(dmc),
		       (unsigned long long)dmw_oos_sectors(dmc),
		       (unsigned long long)ti->len,
		       dmw_stat(dmc, ops[DMW_FR_INLINE]),
		       dmw_stat(dmc, irqs[DMW_FR_INLINE]),
		       dmw_stat(dmc, ops[DMW_FR_SPLIT]),
		       dmw_stat(dmc, irqs[DMW_FR_SPLIT]),
		       dmw_stat(dmc, peer_errors),
		       dmw_mean_us(dmc, DMW_FR_INLINE),
		       dmw_mean_us(dmc, DMW_FR_SPLIT),
		       READ_ONCE(dmc->generation),
		       dmw_stat(dmc, ops[DMW_FR_FLUSH]),
		       dmw_stat(dmc, fua),
		       dmw_stat(dmc, overlap_waits),
		       dmw_error_name(READ_ONCE(dmc->last_error)));
		DMEMIT(" %llu", dmw_stat(dmc, retries));
		if (dmc->meta.dev)
			DMEMIT(" %lu", dmw_meta_dirty_regions(dmc));
		else
			DMEMIT(" -");
		dmw_resync_progress(dmc, &kibps, &eta);
		DMEMIT(" %llu %llu %llu", kibps, eta, dmw_stat(dmc, meta_errors));
		DMEMIT(" %llu %llu %llu %llu %llu",
		       dmw_stat(dmc, ops[DMW_FR_DISCARD]),
		       dmw_stat(dmc, irqs[DMW_FR_DISCARD]),
		       dmw_stat(dmc, ops[DMW_FR_ZEROES]),
		       dmw_stat(dmc, irqs[DMW_FR_ZEROES]),
		       dmw_stat(dmc, discards_skipped));
		DMEMIT(" %llu", dmw_stat(dmc, copied));
		break;
	case STATUSTYPE_TABLE:
		/* devices as major:minor, like every target; the rest as given */
		DMEMIT("%s %s", dmc->local->name, dmc->peer->name);
		for (i = 2; i < dmc->nr_args; i++)
			DMEMIT(" %s", i > 2 && !strcasecmp(dmc->args[i - 1], "meta_dev") ?
			       dmc->meta.dev->name : dmc->args[i]);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",local_dev=%s,peer_dev=%s", dmc->local->name,
		       dmc->peer->name);
		DMEMIT(",inline_max=%u,peer_timeout=%u,region_size=%llu",
		       dmc->inline_max, dmc->peer_timeout_ms,
		       1ULL << dmc->region_shift);
		DMEMIT(",meta_dev=%s,resync_rate=%u,nosync=%c",
		       dmc->meta.dev ? dmc->meta.dev->name : "none",
		       dmc->resync_rate, dmc->nosync ? 'y' : 'n');
		DMEMIT(",peer_state=%s,out_of_sync_sectors=%llu,generation=%llu;",
		       dmw_state_word(dmc),
		       (unsigned long long)dmw_oos_sectors(dmc),
		       READ_ONCE(dmc->generation));
		break;
	}
}

u64 __dmw_stat_sum(struct dmw_c *dmc, size_t offset)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *(u64 *)((char *)per_cpu_ptr(dmc->stats, cpu) + offset);
	return sum;
}

/* Counters updated meanwhile on another CPU may survive: a snapshot. */
static void dmw_reset_counters(struct dmw_c *dmc)
{
	int cpu;

	for_each_possible_cpu(cpu)
		memset(per_cpu_ptr(dmc->stats, cpu), 0, sizeof(struct dmw_stats));
	WRITE_ONCE(dmc->last_error, DMW_E_NONE);
}

/*
 * Output of the "latency" message: one line per framing,
 * "<framing> <us>:<count> ...", each pair a non-empty histogram bucket
 * [us, 2 * us) of successful peer operations (the last bucket is open).
 */
static void dmw_latency(struct dmw_c *dmc, char *result, unsigned int maxlen)
{
	static const char * const names[DMW_FR_NR] = {
		[DMW_FR_INLINE] = "inline",
		[DMW_FR_SPLIT] = "split",
		[DMW_FR_FLUSH] = "flush",
		[DMW_FR_DISCARD] = "discard",
		[DMW_FR_ZEROES] = "write_zeroes",
	};
	unsigned int sz = 0;
	int fr, i;

	for (fr = 0; fr < DMW_FR_NR; fr++) {
		DMEMIT("%s", names[fr]);
		for (i = 0; i < DMW_LAT_BUCKETS; i++) {
			u64 n = dmw_stat(dmc, lat_hist[fr][i]);

			if (n)
				DMEMIT(" %llu:%llu", i ? 1ULL << i : 0ULL, n);
		}
		DMEMIT("\n");
	}
}

/*
 * Re-CLAIM the peer after a failure and copy the out-of-sync regions.
 * @force: also over another primary's claim (leaves fenced; this copy
 * wins and is copied whole).
 */
static int dmw_reconnect(struct dmw_c *dmc, bool force)
{
	struct dmw_state state;
	char *error = NULL;
	int r, from;

	mutex_lock(&dmc->reconnect_mutex);
	from = READ_ONCE(dmc->state);
	if (from == DMW_S_CONNECTED) {
		/* idempotent: the automatic reconnect may have been first */
		mutex_unlock(&dmc->reconnect_mutex);
		return 0;
	}
	if (from == DMW_S_FENCED && !force) {
		mutex_unlock(&dmc->reconnect_mutex);
		DMWARN("reconnect: fenced; 'reconnect force' makes this copy win");
		return -EINVAL;
	}
	r = dmw_claim_peer(dmc, force, &state);
	if (r == -EPERM) {
		mutex_unlock(&dmc->reconnect_mutex);
		if (dmw_set_state(dmc, DMW_S_FENCED))
			DMERR("reconnect: the peer was claimed by another primary: fenced");
		return -EPERM;
	}
	if (r == -EXDEV) {
		mutex_unlock(&dmc->reconnect_mutex);
		dmw_split_brain(dmc);
		return -EXDEV;
	}
	if (!r)
		r = dmw_check_peer_state(dmc, &state, &error);
	if (r) {
		mutex_unlock(&dmc->reconnect_mutex);
		DMERR_LIMIT("reconnect failed: %s",
			    error ? error : "the peer did not answer CLAIM");
		return error ? r : -EIO;
	}
	dmw_set_state(dmc, DMW_S_CONNECTED);
	mutex_unlock(&dmc->reconnect_mutex);
	DMINFO("reconnected, generation %llu", state.generation);

	if (!test_bit(DMW_STOPPING, &dmc->flags))
		dmw_resync_kick(dmc);
	return 0;
}

/* Automatic reconnect while degraded. */
static void dmw_reconnect_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(to_delayed_work(ws), struct dmw_c,
					 reconnect_work);

	if (test_bit(DMW_STOPPING, &dmc->flags) ||
	    test_bit(DMW_NO_RECONNECT, &dmc->flags) ||
	    READ_ONCE(dmc->state) != DMW_S_DEGRADED)
		return;
	if (dmw_reconnect(dmc, false) && READ_ONCE(dmc->state) == DMW_S_DEGRADED)
		queue_delayed_work(dmc->wq, &dmc->reconnect_work,
				   DMW_RECONNECT_PERIOD);
}

/*
 * "resync SECTOR COUNT": the regions covering that range may differ (an
 * online verify found them different): mark them out of sync, on disk
 * too, and copy them now if connected, else at the next reconnect.
 */
static int dmw_resync_range(struct dmw_c *dmc, const char *a, const char *b)
{
	u64 sector, count;

	if (kstrtou64(a, 10, &sector) || kstrtou64(b, 10, &count) || !count ||
	    sector >= dmc->ti->len || count > dmc->ti->len - sector) {
		DMWARN("resync: SECTOR COUNT must lie inside the target (%llu sectors)",
		       (unsigned long long)dmc->ti->len);
		return -EINVAL;
	}
	if (READ_ONCE(dmc->state) == DMW_S_FENCED) {
		DMWARN("resync: fenced, nothing is copied to the peer");
		return -EINVAL;
	}
	dmw_meta_mark_range(dmc, sector >> dmc->region_shift,
			    (sector + count - 1) >> dmc->region_shift);
	if (READ_ONCE(dmc->state) == DMW_S_CONNECTED &&
	    !test_bit(DMW_STOPPING, &dmc->flags))
		dmw_resync_kick(dmc);
	return 0;
}

/*
 * Messages:
 *   resync SECTOR COUNT: copy the regions covering that range again (see
 *	dmw_resync_range())
 *   reset_counters: zero the counters of the status line and the latency
 *	histograms
 *   latency: print the latency histograms (see dmw_latency())
 *   reconnect [force]: CLAIM the peer again now, then resync; turns the
 *	automatic reconnect back on; "force" also over another primary's
 *	claim (after fenced: this copy wins, full resync)
 *   disconnect: stop writing to the peer and do not reconnect by itself
 *   degrade: stop writing to the peer, as if it had failed (it reconnects
 *	by itself)
 */
static int dmw_message(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct dmw_c *dmc = ti->private;

	if (argc == 3 && !strcasecmp(argv[0], "resync"))
		return dmw_resync_range(dmc, argv[1], argv[2]);
	if (argc == 2 && !strcasecmp(argv[0], "reconnect") &&
	    !strcasecmp(argv[1], "force")) {
		clear_bit(DMW_NO_RECONNECT, &dmc->flags);
		return dmw_reconnect(dmc, true);
	}
	if (argc != 1)
		goto bad;
	if (!strcasecmp(argv[0], "reset_counters")) {
		dmw_reset_counters(dmc);
		return 0;
	}
	if (!strcasecmp(argv[0], "reconnect")) {
		clear_bit(DMW_NO_RECONNECT, &dmc->flags);
		return dmw_reconnect(dmc, false);
	}
	if (!strcasecmp(argv[0], "latency")) {
		dmw_latency(dmc, result, maxlen);
		return 1;
	}
	if (!strcasecmp(argv[0], "degrade")) {
		dmw_degrade(dmc, READ_ONCE(dmc->generation));
		return 0;
	}
	if (!strcasecmp(argv[0], "disconnect")) {
		set_bit(DMW_NO_RECONNECT, &dmc->flags);
		cancel_delayed_work_sync(&dmc->reconnect_work);
		dmw_degrade(dmc, READ_ONCE(dmc->generation));
		return 0;
	}
bad:
	DMWARN("unrecognised message received");
	return -EINVAL;
}

static int dmw_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct dmw_c *dmc = ti->private;
	int r;

	r = fn(ti, dmc->local, 0, ti->len, data);
	if (!r)
		r = fn(ti, dmc->peer, 0, ti->len, data);
	return r;
}

/*
 * Discard and write zeroes go to both legs, but the local leg must do
 * them: the target takes them when, and as far as, the local disk does.
 * A WRITE ZEROES that the peer's backing device cannot offload is written
 * there as zeroes: such a command is kept to the size of a write.
 */
static void dmw_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct dmw_c *dmc = ti->private;
	struct block_device *local = dmc->local->bdev;
	unsigned int zeroes_max = READ_ONCE(dmc->peer_caps) &
				  DMW_CAP_ZEROES_OFFLOAD ?
				  DMW_ZERO_MAX_SECTORS : dmc->max_io;

	limits->max_sectors = min(limits->max_sectors, dmc->max_io);
	limits->max_hw_discard_sectors = min(bdev_max_discard_sectors(local),
					     DMW_ZERO_MAX_SECTORS);
	limits->max_discard_sectors = limits->max_hw_discard_sectors;
	limits->discard_granularity = max(bdev_discard_granularity(local),
					  dmc->lbs);
	limits->discard_alignment = bdev_discard_alignment(local);
	limits->max_write_zeroes_sectors =
		min(bdev_write_zeroes_sectors(local), zeroes_max);
}

static struct target_type dualmirror_target = {
	.name = "dualmirror",
	.version = {1, 2, 0},
	.module = THIS_MODULE,
	.ctr = dmw_ctr,
	.dtr = dmw_dtr,
	.map = dmw_map,
	.preresume = dmw_preresume,
	.presuspend = dmw_presuspend,
	.postsuspend = dmw_postsuspend,
	.presuspend_undo = dmw_presuspend_undo,
	.resume = dmw_resume,
	.status = dmw_status,
	.message = dmw_message,
	.iterate_devices = dmw_iterate_devices,
	.io_hints = dmw_io_hints,
};

static int __init dm_dualmirror_init(void)
{
	return dm_register_target(&dualmirror_target);
}

static void __exit dm_dualmirror_exit(void)
{
	dm_unregister_target(&dualmirror_target);
}

module_init(dm_dualmirror_init);
module_exit(dm_dualmirror_exit);

MODULE_DESCRIPTION(DM_NAME " synchronous write mirror to a SCSI peer");
MODULE_AUTHOR("dualmirror developers");
MODULE_LICENSE("GPL");
