/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dualmirror: synchronous write mirroring to a peer over SCSI.
 *
 * Internal interface between the target (dm-dualmirror-target.c) and the
 * peer I/O path (dm-dualmirror-peer.c).
 */
#ifndef DM_DUALMIRROR_H
#define DM_DUALMIRROR_H

#include <linux/atomic.h>
#include <linux/bio.h>
#include <linux/completion.h>
#include <linux/device-mapper.h>
#include <linux/list.h>
#include <linux/mempool.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <uapi/linux/dualmirror.h>

#define DM_MSG_PREFIX "dualmirror"

/* dmc->flags */
#define DMW_DEGRADED		0	/* the peer is not written */
#define DMW_RESYNCING		1	/* out-of-sync regions being copied */
#define DMW_STOPPING		2	/* suspend or destroy: stop resync */

/* Framings, the index of the per-framing counters */
enum dmw_framing {
	DMW_FR_INLINE,
	DMW_FR_SPLIT,
	DMW_FR_FLUSH,
	DMW_FR_NR
};

/* Last peer error: a dmw_reason, or one of these */
enum dmw_error {
	DMW_E_SENSE = 32,	/* check condition not from the wire format */
	DMW_E_TRANSPORT,	/* no status from the peer */
	DMW_E_TIMEOUT,		/* no completion within peer_timeout */
	DMW_E_MAPPING,		/* data could not be mapped for the peer */
	DMW_E_NOMEM,		/* no request for the peer */
	DMW_E_NONE = 0xff,
};

/* In dmw_pio.error: the failure may go away if the leg is sent again */
#define DMW_E_TRANSIENT		0x100

#define DMW_LAT_BUCKETS		24	/* the last one: 8 s and more */

/**
 * struct dmw_stats - counters shown by the status line
 * @ops: successful peer operations per framing
 * @irqs: interrupts those operations cost (include/uapi/linux/dualmirror.h)
 * @lat_us: summed peer latency of those operations, in microseconds
 * @lat_hist: their latencies, bucket i counting [2^i, 2^(i+1)) us
 *	(bucket 0 also 0 us, the last one everything above)
 * @peer_errors: failed or timed out peer operations
 * @retries: peer legs sent again after a transient failure
 * @fua: writes sent to the peer with DMW_F_FUA
 * @overlap_waits: writes that waited for an overlapping one
 */
struct dmw_stats {
	atomic64_t ops[DMW_FR_NR];
	atomic64_t irqs[DMW_FR_NR];
	atomic64_t lat_us[DMW_FR_NR];
	atomic64_t lat_hist[DMW_FR_NR][DMW_LAT_BUCKETS];
	atomic64_t peer_errors;
	atomic64_t retries;
	atomic64_t fua;
	atomic64_t overlap_waits;
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
 * @flags: DMW_DEGRADED, DMW_RESYNCING, DMW_STOPPING
 * @generation: the peer generation learnt by the last CLAIM
 * @seq: last sequence number used
 * @max_io: largest write in sectors (ti->max_io_len)
 * @max_segs: most data segments of one passthrough request
 * @lbs: logical block size of the target in bytes
 * @lock: protects @inflight, @deferred, @ready, @retry, @generation, @flags
 *	changes of DMW_DEGRADED and every dmw_io's and dmw_pio's link
 * @inflight: writes being written, ordered by arrival
 * @deferred: writes waiting for an overlapping earlier one
 * @ready: deferred writes that may go now, for @issue_work
 * @bs: bioset of the local leg's clones
 * @pio_pool: peer I/O objects
 * @pio_size: size of one peer I/O object
 * @desc_pool: split descriptors, dmw_desc_len(@max_io) bytes each; kept
 *	apart from @pio_pool so that an inline write does not allocate (and
 *	have the kernel zero) a descriptor it never sends
 * @nr_pios: peer I/O objects in use
 * @pio_wait: woken when @nr_pios drops to zero
 * @wq: issue, event and resync work
 * @send_wq: sends split descriptors and retries peer legs; apart from @wq,
 *	whose resync work waits for what runs here
 * @issue_work: issues @ready
 * @event_work: raises a dm event
 * @resync_work: copies out-of-sync regions to the peer
 * @timeout_work: abandons peer legs older than @peer_timeout
 * @retry: writes whose peer leg is to be sent again, under @lock
 * @retry_work: sends them
 * @last_error: enum dmw_reason or enum dmw_error of the last peer error
 * @st: counters
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

	unsigned long flags;
	u64 generation;
	atomic64_t seq;
	unsigned int max_io;
	unsigned int max_segs;
	unsigned int lbs;

	spinlock_t lock;	/* see above */
	struct list_head inflight;
	struct list_head deferred;
	struct list_head ready;

	struct bio_set bs;
	mempool_t *pio_pool;
	size_t pio_size;
	mempool_t *desc_pool;
	atomic_t nr_pios;
	wait_queue_head_t pio_wait;

	struct workqueue_struct *wq;
	struct workqueue_struct *send_wq;
	struct work_struct issue_work;
	struct work_struct event_work;
	struct work_struct resync_work;
	struct delayed_work timeout_work;
	struct list_head retry;
	struct delayed_work retry_work;

	u8 last_error;
	struct dmw_stats st;
};

/**
 * struct dmw_io - one write (per-bio data), or one resync copy
 * @dmc: the target
 * @bio: the write; NULL for a resync copy
 * @event: resync copies: completed when the copy may start, then when done
 * @list: on dmc->inflight or dmc->deferred
 * @ready: on dmc->ready, or on dmc->retry
 * @sector: first sector, relative to the target (= LBA on both disks)
 * @nr_sectors: length
 * @pending: legs not yet complete, plus one for the submitter
 * @status: the local leg's status
 * @pio: the peer leg while it runs, under dmc->lock
 * @peer_start: jiffies when the peer leg started
 * @deadline: jiffies after which the peer leg is given up, however often
 *	it was sent again
 * @gen: the generation the peer leg was sent under
 * @src: the data sent to the peer (the write itself, or a resync copy)
 * @wflags: DMW_F_* of the peer leg
 */
struct dmw_io {
	struct dmw_c *dmc;
	struct bio *bio;
	struct completion *event;
	struct list_head list;
	struct list_head ready;
	sector_t sector;
	unsigned int nr_sectors;
	atomic_t pending;
	blk_status_t status;
	struct dmw_pio *pio;
	unsigned long peer_start;
	unsigned long deadline;
	u64 gen;
	struct bio *src;
	u8 wflags;
};

/* Bio vectors of a descriptor: DMW_DESC_MAX_LEN spans at most 4 pages */
#define DMW_DESC_VECS		4

/**
 * struct dmw_pio - the peer leg of one operation, from dmc->pio_pool
 *
 * Lives until every passthrough request it issued has ended, even when the
 * write it belongs to stopped waiting for it (peer timeout): the requests
 * reference its bios, its descriptor and, through page references, the
 * write's data pages.
 *
 * @dmc: the target
 * @io: the write waiting for this leg; NULL once it stopped waiting
 * @start_ns: when the leg started
 * @pending: requests not yet ended
 * @irqs: interrupts counted from the requests' completions
 * @error: DMW_E_NONE, or the first error (enum dmw_reason or dmw_error),
 *	with DMW_E_TRANSIENT set if it may go away when sent again
 * @framing: enum dmw_framing
 * @pages_held: the data pages carry a reference of ours
 * @data_bio: the data, mapped from the write's pages
 * @desc_bio: the split descriptor
 * @desc_vecs: @desc_bio's vectors
 * @desc: the split descriptor's buffer, from dmc->desc_pool (split only)
 * @desc_rq: the SPLIT DESCRIPTOR request, held until SPLIT DATA completed
 * @desc_work: sends @desc_rq (end_io cannot: it may run in interrupt
 *	context)
 * @data_vecs: @data_bio's vectors, dmc->max_segs of them
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
	struct bio data_bio;
	struct bio desc_bio;
	struct bio_vec desc_vecs[DMW_DESC_VECS];
	u8 *desc;
	struct request *desc_rq;
	struct work_struct desc_work;
	struct bio_vec data_vecs[];
};

/* dm-dualmirror-target.c */
void dmw_peer_leg_done(struct dmw_io *io, bool failed);
void dmw_peer_leg_end(struct dmw_io *io, int error, bool transient);
void dmw_note_error(struct dmw_c *dmc, int error);

/* dm-dualmirror-peer.c */
size_t dmw_pio_size(unsigned int max_segs);
int dmw_peer_claim(struct dmw_c *dmc, struct dmw_state *state);
int dmw_peer_write(struct dmw_io *io, struct bio *src, u8 flags);
int dmw_peer_flush(struct dmw_io *io);
const char *dmw_error_name(unsigned int error);

#endif /* DM_DUALMIRROR_H */
