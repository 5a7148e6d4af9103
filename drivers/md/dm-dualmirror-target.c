// SPDX-License-Identifier: GPL-2.0
/*
 * dm-dualmirror: synchronous write mirroring to a peer over SCSI.
 *
 * Reads go to the local disk.  Each write goes to the local disk and, at
 * the same time, to the peer as the wire format's commands (see
 * dm-dualmirror-peer.c); the bio completes when both legs have.  When the
 * peer fails, the target goes degraded: writes land locally, the
 * out-of-sync regions are tracked in memory until "reconnect" re-claims
 * the peer and copies them over.
 *
 * Documentation/dm-dualmirror.rst describes the table and status lines.
 */
#include <linux/blkdev.h>
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
	atomic64_inc(&dmc->st.peer_errors);
	WRITE_ONCE(dmc->last_error, error);
	DMERR_LIMIT("peer error: %s", dmw_error_name(error));
}

/* Stop writing to the peer; raise a dm event the first time. */
static void dmw_degrade(struct dmw_c *dmc, u64 gen)
{
	unsigned long flags;
	bool first = false;

	spin_lock_irqsave(&dmc->lock, flags);
	/* A leg of an older generation says nothing about the current one. */
	if (gen == dmc->generation)
		first = !test_and_set_bit(DMW_DEGRADED, &dmc->flags);
	spin_unlock_irqrestore(&dmc->lock, flags);

	if (first) {
		DMWARN("peer failed: degraded, writes go to the local disk only");
		queue_work(dmc->wq, &dmc->event_work);
	}
}

static void dmw_event_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(ws, struct dmw_c, event_work);

	dm_table_event(dmc->ti->table);
}

/* ---- Write ordering: an interval list of the writes in flight ---- */

static bool dmw_overlap(struct dmw_io *a, struct dmw_io *b)
{
	return a->nr_sectors && b->nr_sectors &&
	       a->sector < b->sector + b->nr_sectors &&
	       b->sector < a->sector + a->nr_sectors;
}

/* Does @io overlap an entry of @head before @stop (NULL: any entry)? */
static bool __dmw_overlaps(struct list_head *head, struct dmw_io *io,
			   struct dmw_io *stop)
{
	struct dmw_io *o;

	list_for_each_entry(o, head, list) {
		if (o == stop)
			break;
		if (dmw_overlap(o, io))
			return true;
	}
	return false;
}

/*
 * Enter @io into the interval list, or defer it behind an overlapping
 * write (in flight or itself deferred).
 *
 * Return: true if @io must wait.
 */
static bool dmw_io_enter(struct dmw_c *dmc, struct dmw_io *io)
{
	unsigned long flags;
	bool wait;

	spin_lock_irqsave(&dmc->lock, flags);
	wait = __dmw_overlaps(&dmc->inflight, io, NULL) ||
	       __dmw_overlaps(&dmc->deferred, io, NULL);
	list_add_tail(&io->list, wait ? &dmc->deferred : &dmc->inflight);
	spin_unlock_irqrestore(&dmc->lock, flags);

	if (wait)
		atomic64_inc(&dmc->st.overlap_waits);
	return wait;
}

/* @io left the interval list: move deferred writes that may now go. */
static bool __dmw_promote(struct dmw_c *dmc)
{
	struct dmw_io *d, *tmp;
	bool any = false;

	list_for_each_entry_safe(d, tmp, &dmc->deferred, list) {
		if (__dmw_overlaps(&dmc->inflight, d, NULL) ||
		    __dmw_overlaps(&dmc->deferred, d, d))
			continue;
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

	spin_lock_irqsave(&dmc->lock, flags);
	list_del(&io->list);
	kick = __dmw_promote(dmc);
	spin_unlock_irqrestore(&dmc->lock, flags);
	if (kick)
		queue_work(dmc->wq, &dmc->issue_work);

	if (io->bio) {
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
 * dmw_peer_leg_done - the peer leg of @io ended, or was given up
 * @io: the write
 * @failed: the peer does not have the data
 */
void dmw_peer_leg_done(struct dmw_io *io, bool failed)
{
	if (failed) {
		dmw_mark_oos(io->dmc, io->sector, io->nr_sectors);
		dmw_degrade(io->dmc, io->gen);
	}
	dmw_io_put(io);
}

/* Is the peer written?  Sets the generation the leg is sent under. */
static bool dmw_peer_usable(struct dmw_c *dmc, struct dmw_io *io)
{
	unsigned long flags;
	bool usable;

	spin_lock_irqsave(&dmc->lock, flags);
	usable = !test_bit(DMW_DEGRADED, &dmc->flags);
	io->gen = dmc->generation;
	spin_unlock_irqrestore(&dmc->lock, flags);
	return usable;
}

/*
 * Send the peer leg of @io: a flush for an empty write, else the data.
 * Return: 0, or -EIO if it could not be started (the error is noted).
 */
static int dmw_peer_send(struct dmw_io *io)
{
	if (!io->nr_sectors)
		return dmw_peer_flush(io);
	return dmw_peer_write(io, io->src, io->wflags);
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
	unsigned long flags;
	bool first;

	if (error == DMW_E_NONE) {
		dmw_io_put(io);
		return;
	}
	if (!transient || !time_before(jiffies, io->deadline)) {
		dmw_note_error(dmc, error);
		dmw_peer_leg_done(io, true);
		return;
	}
	atomic64_inc(&dmc->st.retries);
	spin_lock_irqsave(&dmc->lock, flags);
	first = list_empty(&dmc->retry);
	list_add_tail(&io->ready, &dmc->retry);
	spin_unlock_irqrestore(&dmc->lock, flags);
	if (first)
		queue_delayed_work(dmc->send_wq, &dmc->retry_work,
				   msecs_to_jiffies(DMW_RETRY_DELAY_MS));
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
		} else if (dmw_peer_send(io)) {
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

static u8 dmw_write_flags(struct bio *bio)
{
	return (bio->bi_opf & REQ_FUA ? DMW_F_FUA : 0) |
	       (bio->bi_opf & REQ_PREFLUSH ? DMW_F_PREFLUSH : 0);
}

static void dmw_io_issue(struct dmw_io *io)
{
	struct dmw_c *dmc = io->dmc;
	struct bio *bio = io->bio;
	struct bio *clone;
	int r;

	atomic_set(&io->pending, 2);

	clone = bio_alloc_clone(dmc->local->bdev, bio, GFP_NOIO, &dmc->bs);
	clone->bi_iter.bi_sector = io->sector;
	clone->bi_end_io = dmw_local_end_io;
	clone->bi_private = io;
	dm_submit_bio_remap(bio, clone);

	if (dmw_peer_usable(dmc, io)) {
		atomic_inc(&io->pending);
		io->src = bio;
		io->wflags = dmw_write_flags(bio);
		io->deadline = jiffies + dmc->peer_timeout;
		r = dmw_peer_send(io);
		if (r)
			dmw_peer_leg_done(io, true);
		else if (bio->bi_opf & REQ_FUA)
			atomic64_inc(&dmc->st.fua);
	} else {
		dmw_mark_oos(dmc, io->sector, io->nr_sectors);
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
		break;
	default:
		/* Discard, write zeroes: never on one leg only. */
		return DM_MAPIO_KILL;
	}

	if (bio_sectors(bio))
		dmw_limit_segments(dmc, bio);
	io = dm_per_bio_data(bio, sizeof(*io));
	io->dmc = dmc;
	io->bio = bio;
	io->sector = bio_sectors(bio) ?
		     dm_target_offset(ti, bio->bi_iter.bi_sector) : 0;
	io->nr_sectors = bio_sectors(bio);
	io->status = BLK_STS_OK;
	io->pio = NULL;
	INIT_LIST_HEAD(&io->ready);

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
		if (dmw_peer_send(&io))
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

static int dmw_resync_region(struct dmw_c *dmc, unsigned long region)
{
	sector_t sector = (sector_t)region << dmc->region_shift;
	sector_t end = min_t(sector_t, dmc->ti->len,
			     sector + (1ULL << dmc->region_shift));
	int r = 0;

	clear_bit(region, dmc->oos);
	while (sector < end && !r) {
		unsigned int nr = min_t(sector_t, end - sector, dmc->max_io);

		r = dmw_resync_piece(dmc, sector, nr);
		sector += nr;
	}
	return r;
}

static void dmw_resync_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(ws, struct dmw_c, resync_work);
	unsigned long region;

	set_bit(DMW_RESYNCING, &dmc->flags);
	while (!test_bit(DMW_STOPPING, &dmc->flags) &&
	       !test_bit(DMW_DEGRADED, &dmc->flags)) {
		region = find_first_bit(dmc->oos, dmc->nr_regions);
		if (region >= dmc->nr_regions)
			break;
		if (dmw_resync_region(dmc, region))
			break;
		cond_resched();
	}
	clear_bit(DMW_RESYNCING, &dmc->flags);
	dm_table_event(dmc->ti->table);
}

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
		{0, 6, "Invalid number of feature arguments"},
		{0, DMW_INLINE_MAX_BYTES,
		 "Invalid inline_max: bytes from 0 to 131072"},
		{DMW_TIMEOUT_MIN, DMW_TIMEOUT_MAX,
		 "Invalid peer_timeout: milliseconds from 100 to 60000"},
		{DMW_REGION_MIN, DMW_REGION_MAX,
		 "Invalid region_size: sectors from 8 to 16777216"},
	};
	bool seen_inline = false, seen_timeout = false, seen_region = false;
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

/* CLAIM the peer and check that it can hold the target. */
static int dmw_claim(struct dmw_c *dmc, char **error)
{
	struct block_device *peer = dmc->peer->bdev;
	struct dmw_state state;
	int r;

	r = dmw_peer_claim(dmc, &state);
	switch (r) {
	case 0:
		break;
	case -ENOTTY:
	case -EPROTO:
		*error = "Peer does not speak dualmirror";
		return -EINVAL;
	case -ENOMEM:
		*error = "Cannot allocate CLAIM request";
		return r;
	default:
		*error = "Peer did not answer CLAIM";
		return -EIO;
	}
	if (state.capacity < dmc->ti->len) {
		*error = "Peer capacity is smaller than the target";
		return -EINVAL;
	}
	if ((1U << state.lbs_shift) != bdev_logical_block_size(peer)) {
		*error = "Peer logical block size differs from its disk's";
		return -EINVAL;
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
	dmc->generation = state.generation;
	return 0;
}

static int dmw_alloc(struct dmw_c *dmc, char **error)
{
	struct dm_target *ti = dmc->ti;
	int r;

	dmc->nr_regions = DIV_ROUND_UP_SECTOR_T(ti->len,
						1ULL << dmc->region_shift);
	dmc->oos = kvcalloc(BITS_TO_LONGS(dmc->nr_regions),
			    sizeof(unsigned long), GFP_KERNEL);
	if (!dmc->oos) {
		*error = "Cannot allocate out-of-sync bitmap";
		return -ENOMEM;
	}
	r = bioset_init(&dmc->bs, BIO_POOL_SIZE, 0, 0);
	if (r) {
		*error = "Cannot allocate bioset";
		goto bad_bioset;
	}
	dmc->pio_size = dmw_pio_size(dmc->max_segs);
	dmc->pio_pool = mempool_create_kmalloc_pool(DMW_MIN_PIOS,
						    dmc->pio_size);
	if (!dmc->pio_pool) {
		*error = "Cannot allocate peer I/O pool";
		r = -ENOMEM;
		goto bad_pool;
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
	return 0;

bad_send_wq:
	destroy_workqueue(dmc->wq);
bad_wq:
	mempool_destroy(dmc->desc_pool);
bad_desc_pool:
	mempool_destroy(dmc->pio_pool);
bad_pool:
	bioset_exit(&dmc->bs);
bad_bioset:
	kvfree(dmc->oos);
	return r;
}

static void dmw_free(struct dmw_c *dmc)
{
	destroy_workqueue(dmc->send_wq);
	destroy_workqueue(dmc->wq);
	mempool_destroy(dmc->desc_pool);
	mempool_destroy(dmc->pio_pool);
	bioset_exit(&dmc->bs);
	kvfree(dmc->oos);
}

/* Largest write and segment count one passthrough request can carry. */
static void dmw_set_limits(struct dmw_c *dmc)
{
	struct request_queue *q = dmc->peer_q;

	dmc->lbs = max(bdev_logical_block_size(dmc->local->bdev),
		       bdev_logical_block_size(dmc->peer->bdev));
	dmc->max_io = min(DMW_SPLIT_MAX_SECTORS, queue_max_hw_sectors(q));
	dmc->max_segs = min_t(unsigned int, queue_max_segments(q),
			      (dmc->max_io >> (PAGE_SHIFT - SECTOR_SHIFT)) + 1);
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
	INIT_LIST_HEAD(&dmc->inflight);
	INIT_LIST_HEAD(&dmc->deferred);
	INIT_LIST_HEAD(&dmc->ready);
	INIT_LIST_HEAD(&dmc->retry);
	init_waitqueue_head(&dmc->pio_wait);
	INIT_WORK(&dmc->issue_work, dmw_issue_work);
	INIT_WORK(&dmc->event_work, dmw_event_work);
	INIT_WORK(&dmc->resync_work, dmw_resync_work);
	INIT_DELAYED_WORK(&dmc->timeout_work, dmw_timeout_work);
	INIT_DELAYED_WORK(&dmc->retry_work, dmw_retry_work);

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
	dmw_set_limits(dmc);
	r = dmw_claim(dmc, &ti->error);
	if (r)
		goto bad_claim;
	r = dm_set_target_max_io_len(ti, dmc->max_io);
	if (r)
		goto bad_claim;
	r = dmw_alloc(dmc, &ti->error);
	if (r)
		goto bad_claim;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 0;
	ti->num_write_zeroes_bios = 0;
	ti->per_io_data_size = sizeof(struct dmw_io);
	ti->private = dmc;
	queue_delayed_work(dmc->wq, &dmc->timeout_work, dmc->peer_timeout);
	return 0;

bad_claim:
	dmw_put_devices(dmc);
bad_args:
	dmw_free_args(dmc);
	kfree(dmc);
	return r;
}

static void dmw_dtr(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;

	set_bit(DMW_STOPPING, &dmc->flags);
	cancel_work_sync(&dmc->resync_work);
	cancel_delayed_work_sync(&dmc->timeout_work);
	cancel_delayed_work_sync(&dmc->retry_work);
	flush_workqueue(dmc->wq);

	/* Abandoned peer requests still reference our pool and bios. */
	wait_event(dmc->pio_wait, !atomic_read(&dmc->nr_pios));
	spin_lock_irq(&dmc->lock);
	spin_unlock_irq(&dmc->lock);

	dmw_free(dmc);
	dmw_put_devices(dmc);
	dmw_free_args(dmc);
	kfree(dmc);
}

/* ---- Suspend, resume, status, messages ---- */

static void dmw_presuspend(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;

	set_bit(DMW_STOPPING, &dmc->flags);
	flush_work(&dmc->resync_work);
}

static void dmw_resume(struct dm_target *ti)
{
	struct dmw_c *dmc = ti->private;

	clear_bit(DMW_STOPPING, &dmc->flags);
	if (!test_bit(DMW_DEGRADED, &dmc->flags) &&
	    find_first_bit(dmc->oos, dmc->nr_regions) < dmc->nr_regions)
		queue_work(dmc->wq, &dmc->resync_work);
}

static void dmw_presuspend_undo(struct dm_target *ti)
{
	dmw_resume(ti);
}

static const char *dmw_state_word(struct dmw_c *dmc)
{
	if (test_bit(DMW_DEGRADED, &dmc->flags))
		return "degraded";
	if (test_bit(DMW_RESYNCING, &dmc->flags))
		return "resyncing";
	if (find_first_bit(dmc->oos, dmc->nr_regions) < dmc->nr_regions)
		return "outofsync";
	return "connected";
}

static u64 dmw_mean_us(struct dmw_c *dmc, int fr)
{
	u64 ops = atomic64_read(&dmc->st.ops[fr]);

	return ops ? div64_u64(atomic64_read(&dmc->st.lat_us[fr]), ops) : 0;
}

/*
 * Status line (STATUSTYPE_INFO), positional; new fields are only appended:
 *
 * <state> <out-of-sync sectors>/<total sectors>
 * <inline ops> <inline irqs> <split ops> <split irqs> <peer errors>
 * <inline mean us> <split mean us> <generation> <peer flushes>
 * <fua writes> <overlap waits> <last peer error> <retries>
 */
static void dmw_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct dmw_c *dmc = ti->private;
	struct dmw_stats *st = &dmc->st;
	unsigned int sz = 0, i;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%s %llu/%llu %lld %lld %lld %lld %lld %llu %llu %llu %lld %lld %lld %s %lld",
		       dmw_state_word(dmc),
		       (unsigned long long)dmw_oos_sectors(dmc),
		       (unsigned long long)ti->len,
		       atomic64_read(&st->ops[DMW_FR_INLINE]),
		       atomic64_read(&st->irqs[DMW_FR_INLINE]),
		       atomic64_read(&st->ops[DMW_FR_SPLIT]),
		       atomic64_read(&st->irqs[DMW_FR_SPLIT]),
		       atomic64_read(&st->peer_errors),
		       dmw_mean_us(dmc, DMW_FR_INLINE),
		       dmw_mean_us(dmc, DMW_FR_SPLIT),
		       READ_ONCE(dmc->generation),
		       atomic64_read(&st->ops[DMW_FR_FLUSH]),
		       atomic64_read(&st->fua),
		       atomic64_read(&st->overlap_waits),
		       dmw_error_name(READ_ONCE(dmc->last_error)),
		       atomic64_read(&st->retries));
		break;
	case STATUSTYPE_TABLE:
		for (i = 0; i < dmc->nr_args; i++)
			DMEMIT("%s%s", i ? " " : "", dmc->args[i]);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",local_dev=%s,peer_dev=%s", dmc->local->name,
		       dmc->peer->name);
		DMEMIT(",inline_max=%u,peer_timeout=%u,region_size=%llu",
		       dmc->inline_max, dmc->peer_timeout_ms,
		       1ULL << dmc->region_shift);
		DMEMIT(",peer_state=%s,out_of_sync_sectors=%llu,generation=%llu;",
		       dmw_state_word(dmc),
		       (unsigned long long)dmw_oos_sectors(dmc),
		       READ_ONCE(dmc->generation));
		break;
	}
}

static void dmw_reset_counters(struct dmw_c *dmc)
{
	struct dmw_stats *st = &dmc->st;
	int fr, i;

	for (fr = 0; fr < DMW_FR_NR; fr++) {
		atomic64_set(&st->ops[fr], 0);
		atomic64_set(&st->irqs[fr], 0);
		atomic64_set(&st->lat_us[fr], 0);
		for (i = 0; i < DMW_LAT_BUCKETS; i++)
			atomic64_set(&st->lat_hist[fr][i], 0);
	}
	atomic64_set(&st->peer_errors, 0);
	atomic64_set(&st->retries, 0);
	atomic64_set(&st->fua, 0);
	atomic64_set(&st->overlap_waits, 0);
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
	};
	unsigned int sz = 0;
	int fr, i;

	for (fr = 0; fr < DMW_FR_NR; fr++) {
		DMEMIT("%s", names[fr]);
		for (i = 0; i < DMW_LAT_BUCKETS; i++) {
			s64 n = atomic64_read(&dmc->st.lat_hist[fr][i]);

			if (n)
				DMEMIT(" %llu:%lld", i ? 1ULL << i : 0ULL, n);
		}
		DMEMIT("\n");
	}
}

/* Re-CLAIM the peer after a failure and copy the out-of-sync regions. */
static int dmw_reconnect(struct dmw_c *dmc)
{
	struct dmw_state state;
	int r;

	if (!test_bit(DMW_DEGRADED, &dmc->flags)) {
		DMWARN("reconnect: the peer is connected");
		return -EINVAL;
	}
	r = dmw_peer_claim(dmc, &state);
	if (r) {
		DMERR("reconnect: CLAIM failed: %d", r);
		return -EIO;
	}
	if (state.capacity < dmc->ti->len ||
	    (1U << state.lbs_shift) !=
	    bdev_logical_block_size(dmc->peer->bdev)) {
		DMERR("reconnect: the peer no longer fits the target");
		return -EINVAL;
	}
	spin_lock_irq(&dmc->lock);
	dmc->generation = state.generation;
	clear_bit(DMW_DEGRADED, &dmc->flags);
	spin_unlock_irq(&dmc->lock);
	DMINFO("reconnected, generation %llu", state.generation);

	if (!test_bit(DMW_STOPPING, &dmc->flags))
		queue_work(dmc->wq, &dmc->resync_work);
	dm_table_event(dmc->ti->table);
	return 0;
}

/*
 * Messages:
 *   reset_counters: zero the counters of the status line and the latency
 *	histograms
 *   latency: print the latency histograms (see dmw_latency())
 *   reconnect: CLAIM the peer again after a failure, then resync
 *   degrade: stop writing to the peer, as if it had failed
 */
static int dmw_message(struct dm_target *ti, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct dmw_c *dmc = ti->private;

	if (argc != 1)
		goto bad;
	if (!strcasecmp(argv[0], "reset_counters")) {
		dmw_reset_counters(dmc);
		return 0;
	}
	if (!strcasecmp(argv[0], "reconnect"))
		return dmw_reconnect(dmc);
	if (!strcasecmp(argv[0], "latency")) {
		dmw_latency(dmc, result, maxlen);
		return 1;
	}
	if (!strcasecmp(argv[0], "degrade")) {
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

static void dmw_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct dmw_c *dmc = ti->private;

	limits->max_sectors = min(limits->max_sectors, dmc->max_io);
	limits->max_discard_sectors = 0;
	limits->max_write_zeroes_sectors = 0;
}

static struct target_type dualmirror_target = {
	.name = "dualmirror",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = dmw_ctr,
	.dtr = dmw_dtr,
	.map = dmw_map,
	.presuspend = dmw_presuspend,
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
