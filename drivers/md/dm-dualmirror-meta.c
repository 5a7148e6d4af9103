// SPDX-License-Identifier: GPL-2.0
/*
 * dm-dualmirror: the on-disk sync state, a superblock and a write-intent
 * bitmap on a metadata device (Documentation/dm-dualmirror.rst,
 * "Metadata").
 *
 * A region's bit is set on disk before a write to it reaches either leg,
 * and cleared lazily: a daemon pass every DMW_META_PERIOD clears the bits
 * of regions that were not written for a whole period, have no write in
 * flight and are in sync, once both legs confirmed a flush that covers
 * them (md's write-intent bitmap does the same; DRBD's activity log is
 * the same idea with extents).  A write to a region whose bit is already
 * on disk costs no metadata I/O: the steady state of a hot working set is
 * free.  After a crash every region whose bit is set may differ and is
 * resynced.
 *
 * Without a metadata device the same code keeps nothing on disk and the
 * out-of-sync bitmap lives in memory only, as before.
 */
#include <linux/blkdev.h>
#include <linux/crc32c.h>
#include <linux/dm-io.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>

#include "dm-dualmirror.h"

#define DMW_META_BLOCK		4096
#define DMW_META_BLOCK_BITS	(DMW_META_BLOCK * 8)
#define DMW_META_PERIOD		(5 * HZ)

/* The superblock and its flags are in the UAPI header: the peer reads it. */
static_assert(sizeof(struct dmw_meta_sb) <= DMW_META_SB_SIZE);

static int dmw_meta_rw(struct dmw_c *dmc, blk_opf_t opf, void *buf,
		       sector_t sector, unsigned int bytes)
{
	struct dmw_meta *m = &dmc->meta;
	struct dm_io_region where = {
		.bdev = m->dev->bdev,
		.sector = sector,
		.count = bytes >> SECTOR_SHIFT,
	};
	struct dm_io_request req = {
		.bi_opf = opf,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = buf,
		.client = m->io,
	};

	return dm_io(&req, 1, &where, NULL, IOPRIO_DEFAULT);
}

static void dmw_meta_sb_encode(struct dmw_c *dmc, u32 flags)
{
	struct dmw_meta *m = &dmc->meta;
	struct dmw_meta_sb *sb = m->sb;

	memset(m->sb, 0, DMW_META_SB_SIZE);
	sb->magic = cpu_to_le64(DMW_META_MAGIC);
	sb->version = cpu_to_le32(DMW_META_VERSION);
	memcpy(sb->uuid, m->uuid, sizeof(sb->uuid));
	sb->region_shift = cpu_to_le32(dmc->region_shift);
	if (m->diverged)
		flags |= DMW_SB_DIVERGED;
	sb->flags = cpu_to_le32(flags);
	sb->nr_regions = cpu_to_le64(dmc->nr_regions);
	sb->sectors = cpu_to_le64(dmc->ti->len);
	sb->peer_generation = cpu_to_le64(m->peer_generation);
	sb->events = cpu_to_le64(m->events);
	sb->claim_pending = cpu_to_le64(m->claim_pending);
	sb->crc = cpu_to_le32(crc32c(~0U, m->sb, DMW_META_SB_SIZE));
}

/**
 * dmw_meta_write_sb - write the superblock (FUA)
 * @dmc: the target
 * @clean: the bitmap on disk is exactly the out-of-sync regions
 *
 * Return: 0 or a negative errno.
 */
int dmw_meta_write_sb(struct dmw_c *dmc, bool clean)
{
	struct dmw_meta *m = &dmc->meta;
	bool diverged;
	int r;

	if (!m->dev)
		return 0;
	mutex_lock(&m->sb_mutex);
	diverged = READ_ONCE(m->diverged);
	dmw_meta_sb_encode(dmc, clean ? DMW_SB_CLEAN : 0);
	r = dmw_meta_rw(dmc, REQ_OP_WRITE | REQ_SYNC | REQ_FUA, m->sb, 0,
			DMW_META_SB_SIZE);
	if (!r)
		m->diverged_on_disk = diverged;
	mutex_unlock(&m->sb_mutex);
	if (r)
		DMERR("metadata superblock write failed: %d", r);
	return r;
}

/*
 * Check a superblock read from disk; *fresh if there is no bitmap yet:
 * none at all, or one a peer wrote (its node was a peer: *adopt, the
 * mirror's identity and the generation are kept).
 */
static int dmw_meta_sb_check(struct dmw_c *dmc, bool *fresh, bool *adopt,
			     char **error)
{
	struct dmw_meta *m = &dmc->meta;
	struct dmw_meta_sb *sb = m->sb;
	u32 crc, flags;

	*fresh = false;
	*adopt = false;
	if (le64_to_cpu(sb->magic) != DMW_META_MAGIC) {
		if (memchr_inv(m->sb, 0, DMW_META_SB_SIZE)) {
			*error = "Metadata device holds something else: zero its first 4 KiB";
			return -EINVAL;
		}
		*fresh = true;
		return 0;
	}
	crc = le32_to_cpu(sb->crc);
	sb->crc = 0;
	if (crc32c(~0U, m->sb, DMW_META_SB_SIZE) != crc) {
		*error = "Metadata superblock checksum mismatch";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->version) != DMW_META_VERSION) {
		*error = "Unsupported metadata version";
		return -EINVAL;
	}
	flags = le32_to_cpu(sb->flags);
	if (flags & DMW_SB_PEER) {
		/*
		 * This node was the peer, at that generation: its copy is
		 * the one the primary last claimed, and the bitmap (if one
		 * is left from an earlier life as a primary) means nothing.
		 */
		memcpy(m->uuid, sb->uuid, sizeof(m->uuid));
		m->peer_generation = le64_to_cpu(sb->peer_generation);
		m->events = le64_to_cpu(sb->events);
		m->claim_pending = 0;
		m->diverged = false;
		*fresh = true;
		*adopt = true;
		return 0;
	}
	if (le32_to_cpu(sb->region_shift) != dmc->region_shift) {
		*error = "region_size differs from the metadata's";
		return -EINVAL;
	}
	if (le64_to_cpu(sb->sectors) != dmc->ti->len ||
	    le64_to_cpu(sb->nr_regions) != dmc->nr_regions) {
		*error = "Target length differs from the metadata's";
		return -EINVAL;
	}
	memcpy(m->uuid, sb->uuid, sizeof(m->uuid));
	m->peer_generation = le64_to_cpu(sb->peer_generation);
	m->events = le64_to_cpu(sb->events);
	m->claim_pending = le64_to_cpu(sb->claim_pending);
	m->diverged = flags & DMW_SB_DIVERGED;
	m->diverged_on_disk = m->diverged;
	return 0;
}

/* Every bit set on disk may differ: a crash, or a degraded write. */
static void dmw_meta_apply(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r;

	spin_lock_irq(&dmc->lock);
	for (r = 0; r < dmc->nr_regions; r++)
		if (test_bit_le(r, m->bm)) {
			__set_bit(r, dmc->oos);
			m->hot[r] = 2;
		}
	spin_unlock_irq(&dmc->lock);
}

/**
 * dmw_meta_init - allocate the sync state and load it from the metadata
 *	device, or create it there
 * @dmc: the target, with region_shift, nr_regions and meta.dev set
 * @nosync: new metadata starts with the copies in sync (else everything is
 *	out of sync: the initial sync copies the whole device)
 * @error: constructor error
 *
 * Sets dmc->oos: the regions that may differ.
 *
 * Return: 0 or a negative errno.
 */
int dmw_meta_init(struct dmw_c *dmc, bool nosync, char **error)
{
	struct dmw_meta *m = &dmc->meta;
	bool fresh = true, adopt = false;
	unsigned long r;
	int ret;

	m->bm_bytes = round_up(DIV_ROUND_UP(dmc->nr_regions, 8), DMW_META_BLOCK);
	m->nr_blocks = m->bm_bytes / DMW_META_BLOCK;
	INIT_LIST_HEAD(&m->waiting);
	mutex_init(&m->sb_mutex);
	if (!m->dev) {
		if (!nosync)
			bitmap_fill(dmc->oos, dmc->nr_regions);
		return 0;
	}
	if (bdev_nr_bytes(m->dev->bdev) < DMW_META_SB_SIZE + m->bm_bytes) {
		*error = "Metadata device too small for the bitmap";
		return -EINVAL;
	}
	m->bm = vzalloc(m->bm_bytes);
	m->sb = vzalloc(DMW_META_SB_SIZE);
	m->hot = kvcalloc(dmc->nr_regions, sizeof(*m->hot), GFP_KERNEL);
	m->inflight = kvcalloc(dmc->nr_regions, sizeof(*m->inflight),
			       GFP_KERNEL);
	m->clearing = bitmap_zalloc(dmc->nr_regions, GFP_KERNEL);
	m->dirty = bitmap_zalloc(m->nr_blocks, GFP_KERNEL);
	if (!m->bm || !m->sb || !m->hot || !m->inflight || !m->clearing ||
	    !m->dirty) {
		*error = "Cannot allocate the write-intent bitmap";
		return -ENOMEM;
	}
	m->io = dm_io_client_create();
	if (IS_ERR(m->io)) {
		ret = PTR_ERR(m->io);
		m->io = NULL;
		*error = "Cannot create dm-io client";
		return ret;
	}
	ret = dmw_meta_rw(dmc, REQ_OP_READ, m->sb, 0, DMW_META_SB_SIZE);
	if (ret) {
		*error = "Cannot read the metadata superblock";
		return ret;
	}
	ret = dmw_meta_sb_check(dmc, &fresh, &adopt, error);
	if (ret)
		return ret;
	if (adopt) {
		bitmap_fill(m->dirty, m->nr_blocks);
		DMINFO("metadata of a peer at generation %llu: its copy is taken as in sync",
		       m->peer_generation);
	} else if (fresh) {
		uuid_gen((uuid_t *)m->uuid);
		if (!nosync)
			for (r = 0; r < dmc->nr_regions; r++)
				__set_bit_le(r, m->bm);
		bitmap_fill(m->dirty, m->nr_blocks);
		DMINFO("new metadata: %s", nosync ? "copies taken as in sync" :
		       "initial sync of the whole device");
	} else {
		ret = dmw_meta_rw(dmc, REQ_OP_READ, m->bm,
				  DMW_META_SB_SIZE >> SECTOR_SHIFT, m->bm_bytes);
		if (ret) {
			*error = "Cannot read the write-intent bitmap";
			return ret;
		}
	}
	dmw_meta_apply(dmc);
	m->events++;
	if (fresh) {
		ret = dmw_meta_rw(dmc, REQ_OP_WRITE | REQ_SYNC | REQ_FUA, m->bm,
				  DMW_META_SB_SIZE >> SECTOR_SHIFT,
				  m->bm_bytes);
		if (ret) {
			*error = "Cannot write the write-intent bitmap";
			return ret;
		}
		bitmap_zero(m->dirty, m->nr_blocks);
	}
	if (dmw_meta_write_sb(dmc, false)) {
		*error = "Cannot write the metadata superblock";
		return -EIO;
	}
	return 0;
}

/**
 * dmw_meta_reload - read the superblock and bitmap again (first resume)
 * @dmc: the target, not live yet
 *
 * The constructor read them while the table this one replaces was still
 * writing; that table is suspended now and its last state is on disk.
 *
 * Return: 0 or a negative errno (the metadata changed under us).
 */
int dmw_meta_reload(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;
	char *error = NULL;
	bool fresh, adopt;
	int r;

	if (!m->dev)
		return 0;
	r = dmw_meta_rw(dmc, REQ_OP_READ, m->sb, 0, DMW_META_SB_SIZE);
	if (!r)
		r = dmw_meta_sb_check(dmc, &fresh, &adopt, &error);
	if (!r && fresh)
		return 0;	/* ours, written by the constructor: not yet */
	if (!r)
		r = dmw_meta_rw(dmc, REQ_OP_READ, m->bm,
				DMW_META_SB_SIZE >> SECTOR_SHIFT, m->bm_bytes);
	if (r) {
		DMERR("cannot read the metadata again: %s",
		      error ? error : "I/O error");
		return r ? r : -EIO;
	}
	m->events++;
	dmw_meta_apply(dmc);
	return dmw_meta_write_sb(dmc, false);
}

void dmw_meta_free(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;

	if (m->io)
		dm_io_client_destroy(m->io);
	bitmap_free(m->dirty);
	bitmap_free(m->clearing);
	kvfree(m->inflight);
	kvfree(m->hot);
	vfree(m->sb);
	vfree(m->bm);
}

static void dmw_regions(struct dmw_c *dmc, struct dmw_io *io,
			unsigned long *first, unsigned long *last)
{
	*first = io->sector >> dmc->region_shift;
	*last = (io->sector + io->nr_sectors - 1) >> dmc->region_shift;
}

/**
 * dmw_meta_mark - a write enters: set its regions' bits on disk first
 * @dmc: the target
 * @io: the write (not empty)
 *
 * Return: true if @io waits for a bitmap write (it is queued on
 * meta.waiting and goes to dmc->ready when its bits are on disk); false
 * if it may go now.
 */
bool dmw_meta_mark(struct dmw_c *dmc, struct dmw_io *io)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r, first, last, flags;
	bool wait = false;

	if (!m->dev) {
		if (READ_ONCE(dmc->state) != DMW_S_CONNECTED &&
		    !READ_ONCE(m->diverged)) {
			spin_lock_irqsave(&dmc->lock, flags);
			m->diverged = true;
			spin_unlock_irqrestore(&dmc->lock, flags);
		}
		return false;
	}
	dmw_regions(dmc, io, &first, &last);
	spin_lock_irqsave(&dmc->lock, flags);
	/*
	 * The first write without the peer: the superblock says so before
	 * it is acknowledged (a peer that wrote alone too is a split brain).
	 * A write already in flight when the peer failed is not counted.
	 */
	if (dmc->state != DMW_S_CONNECTED && !m->diverged) {
		m->diverged = true;
		wait = true;
	}
	for (r = first; r <= last; r++) {
		m->inflight[r]++;
		m->hot[r] = 2;
		if (!test_bit_le(r, m->bm)) {
			__set_bit_le(r, m->bm);
			__set_bit(r / DMW_META_BLOCK_BITS, m->dirty);
			wait = true;
		}
	}
	if (wait) {
		io->meta_seq = ++m->seq;
		list_add_tail(&io->ready, &m->waiting);
	}
	spin_unlock_irqrestore(&dmc->lock, flags);
	if (wait)
		queue_work(m->wq, &m->work);
	return wait;
}

/* A marked write completed. */
void dmw_meta_done(struct dmw_c *dmc, struct dmw_io *io)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r, first, last, flags;

	if (!m->dev)
		return;
	dmw_regions(dmc, io, &first, &last);
	spin_lock_irqsave(&dmc->lock, flags);
	for (r = first; r <= last; r++)
		m->inflight[r]--;
	spin_unlock_irqrestore(&dmc->lock, flags);
}

/*
 * Write the dirty blocks of the bitmap (FUA), then let the writes that
 * waited for them go.  Runs on meta.wq only (ordered), so bits are cleared
 * nowhere else while it writes.
 */
static int dmw_meta_flush_bitmap(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;
	struct dmw_io *io, *tmp;
	unsigned long *dirty;
	unsigned int b;
	bool kick = false;
	LIST_HEAD(go);
	u64 seq;
	int r = 0;

	dirty = bitmap_zalloc(m->nr_blocks, GFP_NOIO);
	if (!dirty)
		return -ENOMEM;
	spin_lock_irq(&dmc->lock);
	seq = m->seq;
	bitmap_copy(dirty, m->dirty, m->nr_blocks);
	bitmap_zero(m->dirty, m->nr_blocks);
	spin_unlock_irq(&dmc->lock);

	for_each_set_bit(b, dirty, m->nr_blocks) {
		r = dmw_meta_rw(dmc, REQ_OP_WRITE | REQ_SYNC | REQ_FUA,
				m->bm + (size_t)b * DMW_META_BLOCK,
				(DMW_META_SB_SIZE + (sector_t)b * DMW_META_BLOCK) >>
				SECTOR_SHIFT, DMW_META_BLOCK);
		if (r)
			break;
	}
	bitmap_free(dirty);
	if (!r && READ_ONCE(m->diverged) && !READ_ONCE(m->diverged_on_disk))
		r = dmw_meta_write_sb(dmc, false);
	if (r) {
		DMERR_LIMIT("write-intent bitmap write failed: %d", r);
		this_cpu_add(dmc->stats->meta_errors, 1);
	}

	spin_lock_irq(&dmc->lock);
	m->written = seq;
	list_for_each_entry_safe(io, tmp, &m->waiting, ready) {
		if (io->meta_seq > seq)
			break;
		list_move_tail(&io->ready, r ? &go : &dmc->ready);
		kick = true;
	}
	spin_unlock_irq(&dmc->lock);
	/* A write whose intent is not on disk is never acknowledged. */
	list_for_each_entry_safe(io, tmp, &go, ready) {
		list_del_init(&io->ready);
		dmw_io_fail(io, BLK_STS_IOERR);
	}
	if (kick && !r)
		queue_work(dmc->wq, &dmc->issue_work);
	return r;
}

static void dmw_meta_work(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(ws, struct dmw_c, meta.work);

	dmw_meta_flush_bitmap(dmc);
}

/*
 * One daemon pass: regions not written for a whole period, idle and in
 * sync are cleared on disk once both legs flushed.  @all: clear every
 * idle region in sync now (suspend: no write is in flight).
 */
static void dmw_meta_pass(struct dmw_c *dmc, bool all)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r, cand = 0;

	spin_lock_irq(&dmc->lock);
	for (r = 0; r < dmc->nr_regions; r++) {
		if (!m->hot[r] || m->inflight[r] || test_bit(r, dmc->oos))
			continue;
		if (m->hot[r] == 2 && !all) {
			m->hot[r] = 1;
			continue;
		}
		__set_bit(r, m->clearing);
		cand++;
	}
	spin_unlock_irq(&dmc->lock);
	if (!cand)
		return;

	/* The data of those regions must be durable on both legs. */
	if (blkdev_issue_flush(dmc->local->bdev) || dmw_flush_peer(dmc)) {
		bitmap_zero(m->clearing, dmc->nr_regions);
		return;
	}
	spin_lock_irq(&dmc->lock);
	for_each_set_bit(r, m->clearing, dmc->nr_regions) {
		__clear_bit(r, m->clearing);
		if ((m->hot[r] != 1 && !all) || m->inflight[r] ||
		    test_bit(r, dmc->oos))
			continue;
		m->hot[r] = 0;
		__clear_bit_le(r, m->bm);
		__set_bit(r / DMW_META_BLOCK_BITS, m->dirty);
	}
	spin_unlock_irq(&dmc->lock);
	dmw_meta_flush_bitmap(dmc);
}

static void dmw_meta_daemon(struct work_struct *ws)
{
	struct dmw_c *dmc = container_of(to_delayed_work(ws), struct dmw_c,
					 meta.daemon);

	dmw_meta_pass(dmc, false);
	queue_delayed_work(dmc->meta.wq, &dmc->meta.daemon, DMW_META_PERIOD);
}

/**
 * dmw_meta_start - start the daemon (resume)
 * @dmc: the target
 */
void dmw_meta_start(struct dmw_c *dmc)
{
	if (!dmc->meta.dev)
		return;
	dmw_meta_write_sb(dmc, false);
	queue_delayed_work(dmc->meta.wq, &dmc->meta.daemon, DMW_META_PERIOD);
}

/**
 * dmw_meta_stop - stop the daemon and leave a clean bitmap (postsuspend:
 *	no write is in flight)
 * @dmc: the target
 *
 * Clears every in-sync region's bit (after a flush of both legs) and marks
 * the superblock clean: the bitmap on disk is then exactly the regions
 * out of sync.
 */
void dmw_meta_stop(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;

	if (!m->dev)
		return;
	cancel_delayed_work_sync(&m->daemon);
	flush_workqueue(m->wq);
	dmw_meta_pass(dmc, true);
	dmw_meta_flush_bitmap(dmc);
	dmw_meta_write_sb(dmc, true);
}

void dmw_meta_init_work(struct dmw_c *dmc)
{
	INIT_WORK(&dmc->meta.work, dmw_meta_work);
	INIT_DELAYED_WORK(&dmc->meta.daemon, dmw_meta_daemon);
}

/**
 * dmw_meta_mark_oos_dirty - every region set on disk is out of sync
 * @dmc: the target
 *
 * For a peer that may have lost what it had not flushed: its generation
 * went back, or a flush failed.  Without metadata nothing is known.
 */
void dmw_meta_mark_oos_dirty(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r, flags;

	if (!m->dev)
		return;
	spin_lock_irqsave(&dmc->lock, flags);
	for (r = 0; r < dmc->nr_regions; r++)
		if (test_bit_le(r, m->bm))
			__set_bit(r, dmc->oos);
	spin_unlock_irqrestore(&dmc->lock, flags);
}

/**
 * dmw_meta_mark_range - regions @first to @last may differ: resync them
 * @dmc: the target
 * @first: first region
 * @last: last region
 *
 * Their bits are on disk when this returns (or a write error is counted),
 * so that a crash before the resync copied them does not forget them.
 */
void dmw_meta_mark_range(struct dmw_c *dmc, unsigned long first,
			 unsigned long last)
{
	dmw_meta_set_range(dmc, first, last);
	dmw_meta_sync(dmc);
}

/**
 * dmw_meta_sync - write the bits set by dmw_meta_set_range() now
 * @dmc: the target
 */
void dmw_meta_sync(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;

	if (!m->dev)
		return;
	queue_work(m->wq, &m->work);
	flush_work(&m->work);
}

/**
 * dmw_meta_set_range - as dmw_meta_mark_range(), but the bits reach the
 *	disk only with the next bitmap write (dmw_meta_sync())
 * @dmc: the target
 * @first: first region
 * @last: last region
 */
void dmw_meta_set_range(struct dmw_c *dmc, unsigned long first,
			unsigned long last)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r;

	spin_lock_irq(&dmc->lock);
	bitmap_set(dmc->oos, first, last - first + 1);
	if (m->dev) {
		for (r = first; r <= last; r++) {
			m->hot[r] = 2;
			if (!test_bit_le(r, m->bm)) {
				__set_bit_le(r, m->bm);
				__set_bit(r / DMW_META_BLOCK_BITS, m->dirty);
			}
		}
	}
	spin_unlock_irq(&dmc->lock);
}

/* Regions whose bit is set on disk (status). */
unsigned long dmw_meta_dirty_regions(struct dmw_c *dmc)
{
	struct dmw_meta *m = &dmc->meta;
	unsigned long r, n = 0;

	if (!m->dev)
		return bitmap_weight(dmc->oos, dmc->nr_regions);
	for (r = 0; r < dmc->nr_regions; r++)
		n += test_bit_le(r, m->bm);
	return n;
}
