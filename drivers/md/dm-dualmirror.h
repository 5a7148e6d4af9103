/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dualmirror: synchronous write mirroring to a peer over SCSI.
 *
 * Internal interface between the target (dm-dualmirror-target.c), its
 * sender (dm-dualmirror-sender.c: the commands the primary sends to the
 * peer disk) and its metadata (dm-dualmirror-meta.c).
 */
#ifndef DM_DUALMIRROR_H
#define DM_DUALMIRROR_H

#include <linux/atomic.h>
#include <linux/bio.h>
#include <linux/completion.h>
#include <linux/device-mapper.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/mempool.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/dualmirror_wire.h>

#define DM_MSG_PREFIX "dualmirror"

/* dmc->flags */
#define DMW_RESYNCING		1	/* out-of-sync regions being copied */
#define DMW_STOPPING		2	/* suspend or destroy: stop resync */
#define DMW_NO_RECONNECT	3	/* "disconnect": no automatic reconnect */

/**
 * enum dmw_mirror_state - the mirror's state, changed only by dmw_set_state()
 * @DMW_S_CONNECTED: writes go to both legs (regions out of sync are
 *	resynced; the status says resyncing or outofsync then)
 * @DMW_S_DEGRADED: the peer is not written; every write marks its regions
 *	out of sync; reconnect (automatic, or by message) CLAIMs the peer
 * @DMW_S_FENCED: another primary claimed the peer: no write is
 *	acknowledged (they fail), reads go on; only "reconnect force" leaves
 * @DMW_S_NR: the number of states
 */
enum dmw_mirror_state {
	DMW_S_CONNECTED,
	DMW_S_DEGRADED,
	DMW_S_FENCED,
	DMW_S_NR
};

/* Framings, the index of the per-framing counters */
enum dmw_framing {
	DMW_FR_INLINE,
	DMW_FR_SPLIT,
	DMW_FR_FLUSH,
	DMW_FR_DISCARD,
	DMW_FR_ZEROES,
	DMW_FR_NR
};

/* Do commands of framing @fr move data (a data interrupt each)? */
static inline bool dmw_framing_has_data(int fr)
{
	return fr == DMW_FR_INLINE || fr == DMW_FR_SPLIT;
}

/* Last peer error: a dmw_reason, or one of these */
enum dmw_error {
	DMW_E_SENSE = 32,	/* check condition not from the wire format */
	DMW_E_TRANSPORT,	/* no status from the peer */
	DMW_E_TIMEOUT,		/* no completion within peer_timeout */
	DMW_E_MAPPING,		/* data could not be mapped for the peer */
	DMW_E_NOMEM,		/* no request for the peer */
	DMW_E_AGAIN,		/* none right now, in map: send from a worker */
	DMW_E_SPLIT_BRAIN,	/* both copies took writes the other lacks */
	DMW_E_NONE = 0xff,
};

/* In dmw_pio.error: the failure may go away if the leg is sent again */
#define DMW_E_TRANSIENT		0x100

#define DMW_LAT_BUCKETS		24	/* the last one: 8 s and more */

/**
 * struct dmw_stats - counters shown by the status line, one per CPU
 *	(dmc->stats): updated with this_cpu ops from any context, summed by
 *	dmw_stat(); reset_counters zeroes every CPU's
 * @ops: successful peer operations per framing
 * @irqs: interrupts those operations cost (include/uapi/linux/dualmirror.h)
 * @lat_us: summed peer latency of those operations, in microseconds
 * @lat_hist: their latencies, bucket i counting [2^i, 2^(i+1)) us
 *	(bucket 0 also 0 us, the last one everything above)
 * @peer_errors: failed or timed out peer operations
 * @meta_errors: failed writes of the write-intent bitmap
 * @retries: peer legs sent again after a transient failure
 * @fua: writes sent to the peer with DMW_F_FUA
 * @overlap_waits: writes that waited for an overlapping one
 * @discards_skipped: discards not sent to a peer whose backing device
 *	cannot discard (it did not announce DMW_CAP_DISCARD)
 * @copied: successful peer writes whose data was copied into pages of
 *	the target's own, the peer queue refusing the write's own pages
 *	(dmw_pio_bounce_data())
 */
struct dmw_stats {
	u64 ops[DMW_FR_NR];
	u64 irqs[DMW_FR_NR];
	u64 lat_us[DMW_FR_NR];
	u64 lat_hist[DMW_FR_NR][DMW_LAT_BUCKETS];
	u64 peer_errors;
	u64 meta_errors;
	u64 retries;
	u64 fua;
	u64 overlap_waits;
	u64 discards_skipped;
	u64 copied;
};

/* A counter summed over all CPUs (this_cpu_add() updates them). */
#define dmw_stat(dmc, field) \
	__dmw_stat_sum(dmc, offsetof(struct dmw_stats, field))

struct dmw_c;
u64 __dmw_stat_sum(struct dmw_c *dmc, size_t offset);

/**
 * struct dmw_meta - the on-disk sync state (dm-dualmirror-meta.c)
 * @dev: the metadata device; NULL: no metadata, the sync state is in
 *	memory only
 * @io: dm-io client for it
 * @wq: ordered: bitmap writes and daemon passes, never at the same time
 * @work: writes the dirty blocks of @bm
 * @daemon: clears idle regions' bits, every period
 * @sb_mutex: serialises superblock writes (@sb)
 * @sb: superblock buffer
 * @uuid: the mirror's identity
 * @peer_generation: generation of the last successful CLAIM
 * @events: times a table loaded the metadata
 * @claim_pending: the generation a CLAIM under way gives the peer, or 0
 * @diverged: this primary wrote, or may have written, without its peer
 *	since its last CLAIM (DMW_SB_DIVERGED); meets a diverged peer: split
 *	brain
 * @diverged_on_disk: @diverged is in the superblock on disk
 * @bm: the bitmap as on disk (little-endian bit order); bit set: the
 *	region may differ between the copies
 * @bm_bytes: its size, whole 4 KiB blocks
 * @nr_blocks: its 4 KiB blocks
 * @dirty: blocks of @bm changed since they were written
 * @hot: per region: 0 clear on disk, 2 written this period, 1 not
 * @inflight: per region, marked writes not yet complete
 * @clearing: regions a daemon pass is clearing
 * @waiting: writes waiting for their bits to be on disk (dmw_io.ready)
 * @seq: bumped when a write needs a bit written
 * @written: the @seq the disk has
 *
 * @bm, @dirty, @hot, @inflight, @waiting, @seq, @written and @diverged
 * are under dmc->lock; @clearing belongs to the daemon; @diverged_on_disk
 * to whoever holds @sb_mutex.
 */
struct dmw_meta {
	struct dm_dev *dev;
	struct dm_io_client *io;
	struct workqueue_struct *wq;
	struct work_struct work;
	struct delayed_work daemon;
	struct mutex sb_mutex;		/* see @sb_mutex above */
	void *sb;
	u8 uuid[16];
	u64 peer_generation;
	u64 events;
	u64 claim_pending;
	bool diverged;
	bool diverged_on_disk;
	void *bm;
	size_t bm_bytes;
	unsigned int nr_blocks;
	unsigned long *dirty;
	u8 *hot;
	u32 *inflight;
	unsigned long *clearing;
	struct list_head waiting;
	u64 seq;
	u64 written;
};

/**
 * struct dmw_c - one dualmirror target
 * @ti: the target
 * @local: the local disk
 * @peer: the peer disk, a SCSI disk
 * @peer_q: its request queue, for passthrough requests
 * @nr_args: number of constructor arguments, for STATUSTYPE_TABLE
 * @args: copies of them
 * @inline_max: inline threshold in bytes
 * @peer_timeout_ms: peer timeout as given
 * @peer_timeout: the same in jiffies
 * @region_shift: log2 of the region size in sectors
 * @nr_regions: regions in the out-of-sync bitmap
 * @oos: out-of-sync bitmap, one bit per region
 * @meta: the on-disk sync state
 * @nosync: "nosync": new metadata takes the copies as in sync
 * @resync_rate: resync throttle in KiB/s, 0 unlimited
 * @resync_done: sectors copied by the running resync
 * @resync_start: jiffies when it started
 * @live: resumed once: the first CLAIM was made
 * @state: enum dmw_mirror_state, changed by dmw_set_state() under @lock
 * @flags: DMW_RESYNCING, DMW_STOPPING, DMW_NO_RECONNECT
 * @generation: the peer generation learnt by the last CLAIM
 * @peer_caps: DMW_CAP_* of the peer's last QUERY or CLAIM answer; written
 *	by dmw_send_state_cmd() (process context, under no lock: one byte,
 *	WRITE_ONCE/READ_ONCE), read when a discard or write zeroes is issued
 * @seq: last sequence number used
 * @max_io: largest write in sectors (ti->max_io_len)
 * @max_segs: most data segments of one passthrough request
 * @lbs: logical block size of the target in bytes
 * @lock: protects @inflight, @deferred, their trees, @arrivals, @ready,
 *	@retry, @generation, @state, every dmw_io's and dmw_pio's link and
 *	the bitmaps of @meta
 * @inflight: writes being written, ordered by arrival
 * @deferred: writes waiting for an overlapping earlier one
 * @inflight_tree: the non-empty writes of @inflight, by sector range
 * @deferred_tree: those of @deferred
 * @arrivals: writes entered so far (dmw_io.arrival)
 * @ready: deferred writes that may go now, for @issue_work
 * @bs: bioset of the local leg's clones
 * @pio_pool: peer I/O objects, each with the vectors of a write of
 *	DMW_PIO_INLINE_VECS segments (64 KiB of pages)
 * @data_bs: data bios of the writes with more segments, their vectors
 *	sized to the write (at most BIO_MAX_VECS; @max_segs is no more)
 * @desc_pool: split descriptors, dmw_desc_len(@max_io) bytes each; kept
 *	apart from @pio_pool so that an inline write does not allocate (and
 *	have the kernel zero) a descriptor it never sends
 * @nr_pios: peer I/O objects in use
 * @pio_wait: woken when @nr_pios drops to zero
 * @wq: issue, event, reconnect and timeout work
 * @send_wq: sends split descriptors and retries peer legs; apart from @wq,
 *	whose resync work waits for what runs here
 * @issue_work: issues @ready
 * @event_work: raises a dm event
 * @resync_work: copies out-of-sync regions to the peer (system_long_wq)
 * @timeout_work: abandons peer legs older than @peer_timeout
 * @reconnect_work: CLAIMs the peer again while degraded, every
 *	DMW_RECONNECT_PERIOD (unless DMW_NO_RECONNECT)
 * @nr_app_writes: application writes in flight (resync yields to them)
 * @reconnect_mutex: serialises reconnects (message and automatic)
 * @retry: writes whose peer leg is to be sent again, under @lock
 * @retry_work: sends them
 * @last_error: enum dmw_reason or enum dmw_error of the last peer error
 * @stats: counters, per CPU
 */
struct dmw_c {
	struct dm_target *ti;
	struct dm_dev *local;
	struct dm_dev *peer;
	struct request_queue *peer_q;
	unsigned int nr_args;
	const char **args;

	u32 inline_max;
	u32 peer_timeout_ms;
	unsigned long peer_timeout;
	unsigned int region_shift;
	unsigned long nr_regions;
	unsigned long *oos;
	struct dmw_meta meta;
	bool nosync;
	u32 resync_rate;
	atomic64_t resync_done;
	unsigned long resync_start;

	bool live;
	int state;
	unsigned long flags;
	u64 generation;
	u8 peer_caps;
	atomic64_t seq;
	unsigned int max_io;
	unsigned int max_segs;
	unsigned int lbs;

	spinlock_t lock;	/* see above */
	struct list_head inflight;
	struct list_head deferred;
	struct rb_root_cached inflight_tree;
	struct rb_root_cached deferred_tree;
	u64 arrivals;
	struct list_head ready;

	struct bio_set bs;
	mempool_t *pio_pool;
	struct bio_set data_bs;
	mempool_t *desc_pool;
	atomic_t nr_pios;
	wait_queue_head_t pio_wait;

	struct workqueue_struct *wq;
	struct workqueue_struct *send_wq;
	struct work_struct issue_work;
	struct work_struct event_work;
	struct work_struct resync_work;
	struct delayed_work timeout_work;
	struct delayed_work reconnect_work;
	atomic_t nr_app_writes;
	struct mutex reconnect_mutex;	/* see @reconnect_mutex above */
	struct list_head retry;
	struct delayed_work retry_work;

	u8 last_error;
	struct dmw_stats __percpu *stats;
};

/**
 * struct dmw_io - one write (per-bio data), or one resync copy
 * @dmc: the target
 * @bio: the write; NULL for a resync copy
 * @event: resync copies: completed when the copy may start, then when done
 * @list: on dmc->inflight or dmc->deferred
 * @rb: in dmc->inflight_tree or dmc->deferred_tree (non-empty writes)
 * @rb_last: interval tree: last sector of the subtree
 * @arrival: order of arrival, under dmc->lock
 * @ready: on dmc->ready, or on dmc->retry
 * @sector: first sector, relative to the target (= LBA on both disks)
 * @nr_sectors: length
 * @pending: legs not yet complete, plus one for the submitter
 * @status: the local leg's status
 * @pio: the peer leg while it runs, under dmc->lock
 * @deadline: jiffies after which the peer leg is given up, however often
 *	it was sent again
 * @gen: the generation the peer leg was sent under
 * @peer_failed: the peer leg failed (the peer does not have the data)
 * @marked: its regions were entered in the write-intent bitmap
 * @meta_seq: the bitmap write it waits for (dmw_meta.seq)
 * @src: the data sent to the peer (the write itself, or a resync copy)
 * @wflags: DMW_F_* of the peer leg
 * @type: 0 for a write or a flush; DMW_T_DISCARD or DMW_T_WRITE_ZEROES for
 *	a bio that changes a range without data (set in map, then constant)
 */
struct dmw_io {
	struct dmw_c *dmc;
	struct bio *bio;
	struct completion *event;
	struct list_head list;
	struct rb_node rb;
	sector_t rb_last;
	u64 arrival;
	struct list_head ready;
	sector_t sector;
	unsigned int nr_sectors;
	atomic_t pending;
	blk_status_t status;
	struct dmw_pio *pio;
	unsigned long deadline;
	u64 gen;
	bool peer_failed;
	bool marked;
	u64 meta_seq;
	struct bio *src;
	u8 wflags;
	u8 type;
};

/* Bio vectors in a peer I/O object: a write of 64 KiB, unaligned */
#define DMW_PIO_INLINE_VECS	17

/* Bio vectors of a descriptor: DMW_DESC_MAX_LEN spans at most 4 pages */
#define DMW_DESC_VECS		4

/**
 * struct dmw_pio - the peer leg of one operation, from dmc->pio_pool
 * @dmc: the target
 * @io: the write waiting for this leg; NULL once it stopped waiting
 * @start_ns: when the leg started
 * @pending: requests not yet ended
 * @irqs: interrupts counted from the requests' completions
 * @error: DMW_E_NONE, or the first error (enum dmw_reason or dmw_error),
 *	with DMW_E_TRANSIENT set if it may go away when sent again
 * @framing: enum dmw_framing
 * @pages_held: the data pages carry a reference of ours
 * @copied: the data was copied into pages of our own
 * @data: the data bio, mapped from the write's pages: @inline_bio, or
 *	for a write of more than DMW_PIO_INLINE_VECS segments one from
 *	dmc->data_bs with vectors for as many
 * @desc_bio: the split descriptor
 * @desc_vecs: @desc_bio's vectors
 * @desc: the split descriptor's buffer, from dmc->desc_pool (split only)
 * @desc_due: a split write whose SPLIT DATA has not ended yet
 * @desc_gate: a split write's SPLIT DESCRIPTOR waits for two events: its
 *	SPLIT DATA ended and its CRCs were computed (while the data was on
 *	the wire).  The one that brings this to 0 queues @desc_work, or, if
 *	the leg failed, drops its share of @pending (dmw_pio_desc_gate())
 * @desc_cdb: that descriptor's CDB
 * @desc_work: sends it, on dmc->send_wq: it is never issued where the
 *	gate opens (dmw_pio_desc_gate() says why)
 * @inline_bio: the data bio of a write of few segments
 * @inline_vecs: its vectors
 *
 * Lives until every passthrough request it issued has ended, even when the
 * write it belongs to stopped waiting for it (peer timeout): the requests
 * reference its bios, its descriptor and, through page references, the
 * write's data pages.
 */
struct dmw_pio {
	struct dmw_c *dmc;
	struct dmw_io *io;
	u64 start_ns;
	atomic_t pending;
	atomic_t irqs;
	atomic_t error;
	u8 framing;
	bool pages_held;
	bool copied;
	struct bio *data;
	struct bio desc_bio;
	struct bio_vec desc_vecs[DMW_DESC_VECS];
	u8 *desc;
	bool desc_due;
	atomic_t desc_gate;
	u8 desc_cdb[DMW_CDB_LEN];
	struct work_struct desc_work;
	struct bio inline_bio;
	struct bio_vec inline_vecs[DMW_PIO_INLINE_VECS];
};

/* dm-dualmirror-target.c */
void dmw_peer_leg_done(struct dmw_io *io, bool failed);
void dmw_peer_leg_end(struct dmw_io *io, int error, bool transient);
void dmw_io_fail(struct dmw_io *io, blk_status_t status);
int dmw_flush_peer(struct dmw_c *dmc);

/* dm-dualmirror-meta.c */
int dmw_meta_init(struct dmw_c *dmc, bool nosync, char **error);
void dmw_meta_init_work(struct dmw_c *dmc);
void dmw_meta_free(struct dmw_c *dmc);
int dmw_meta_write_sb(struct dmw_c *dmc, bool clean);
int dmw_meta_reload(struct dmw_c *dmc);
bool dmw_meta_mark(struct dmw_c *dmc, struct dmw_io *io);
void dmw_meta_done(struct dmw_c *dmc, struct dmw_io *io);
void dmw_meta_start(struct dmw_c *dmc);
void dmw_meta_stop(struct dmw_c *dmc);
unsigned long dmw_meta_dirty_regions(struct dmw_c *dmc);
void dmw_meta_mark_oos_dirty(struct dmw_c *dmc);
void dmw_meta_mark_range(struct dmw_c *dmc, unsigned long first,
			 unsigned long last);
void dmw_meta_set_range(struct dmw_c *dmc, unsigned long first,
			unsigned long last);
void dmw_meta_sync(struct dmw_c *dmc);
void dmw_note_error(struct dmw_c *dmc, int error);

/* dm-dualmirror-sender.c */
int dmw_send_state_cmd(struct dmw_c *dmc, u8 type, u64 expected, bool force,
		       struct dmw_state *state);
int dmw_send_bitmap_cmd(struct dmw_c *dmc, u32 chunk, void *buf, u32 len);
int dmw_send_write(struct dmw_io *io, struct bio *src, u8 flags, bool nowait);
int dmw_send_flush(struct dmw_io *io, bool nowait);
int dmw_send_zero(struct dmw_io *io, bool nowait);
const char *dmw_error_name(unsigned int error);

#endif /* DM_DUALMIRROR_H */
