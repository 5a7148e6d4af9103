/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dualmirror_peer: a virtual SCSI host that presents a backing block device
 * as a SCSI disk and applies the mirror commands of a dualmirror primary.
 *
 * Documentation/dualmirror-peer.rst describes the design.
 */
#ifndef _DUALMIRROR_PEER_H
#define _DUALMIRROR_PEER_H

#include <linux/atomic.h>
#include <linux/blkdev.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_host.h>
#include <linux/dualmirror_wire.h>

#define DMP_NAME		"dualmirror_peer"

/* Largest transfer of one command, in 512-byte sectors (2 MiB). */
#define DMP_MAX_SECTORS		4096U
#define DMP_SG_TABLESIZE	512U
#define DMP_CAN_QUEUE		128

/*
 * Counters.  Each mirror framing (inline, split, control, discard, write
 * zeroes) and the total count commands (command interrupts), data
 * transfers (data interrupts), writes applied and bytes written (for
 * discard and write zeroes: ranges applied and their bytes); refusals are
 * counted per framing and per reason.  Standard SCSI commands are counted
 * apart.
 */
enum dmp_framing {
	DMP_FR_INLINE,
	DMP_FR_SPLIT,
	DMP_FR_CONTROL,
	DMP_FR_DISCARD,
	DMP_FR_ZEROES,
	DMP_FR_TOTAL,
	DMP_FR_NR
};

enum dmp_event {
	DMP_EV_COMMANDS,
	DMP_EV_DATA,
	DMP_EV_WRITES,
	DMP_EV_BYTES,
	DMP_EV_REJECTED,
	DMP_EV_NR
};

enum dmp_misc_counter {
	DMP_C_STAGED,		/* split data staged */
	DMP_C_STAGED_EXPIRED,	/* staged data freed without a descriptor */
	DMP_C_STAGED_DROPPED,	/* staged data dropped by CLAIM or reset */
	DMP_C_PARKED,		/* descriptors parked waiting for data */
	DMP_C_CLAIMS,		/* generation changes */
	DMP_C_CLAIMS_FORCED,	/* of which with DMW_F_FORCE */
	DMP_C_RELEASES,		/* claimed disks released for plain writes */
	DMP_C_SCSI_FENCED,	/* standard writes refused: disk claimed */
	DMP_C_SCSI_CMDS,	/* standard SCSI commands */
	DMP_C_SCSI_REJECTED,	/* standard SCSI commands refused */
	DMP_C_SCSI_READ_BYTES,
	DMP_C_SCSI_WRITE_BYTES,
	DMP_C_IO_ERRORS,	/* backing device I/O errors */
	DMP_C_DIRECT,		/* commands run by queuecommand itself */
	DMP_C_DIRECT_RETRIES,	/* of which given back to the worker */
	DMP_C_STAGED_COPIED,	/* split data copied, not referenced */
	DMP_C_NR
};

/**
 * struct dmp_stats - event counters of one peer disk
 * @ev: per framing and event
 * @reason: refusals per enum dmw_reason (index 0 unused)
 * @misc: enum dmp_misc_counter
 */
struct dmp_stats {
	atomic64_t ev[DMP_FR_NR][DMP_EV_NR];
	atomic64_t reason[DMW_R_NR];
	atomic64_t misc[DMP_C_NR];
};

/**
 * struct dmp_staged - split data waiting for its descriptor
 * @node: in dmp_peer.staged
 * @seq_tag: sequence tag of the SPLIT DATA command
 * @generation: generation it was received in
 * @nr_sectors: length of the data
 * @deadline: jiffies after which it is freed
 * @charge: bytes charged to dmp_peer.staged_bytes: whole pages
 * @copied: the data was copied, not referenced (split_staged_copied)
 * @nr_vecs: segments in @vecs
 * @vecs: the data, in order; one reference held on each page
 *
 * The segments are the SPLIT DATA command's own pages, referenced, when
 * they can be (dmp_staged_alloc()); else pages of our own the data was
 * copied to.  Owned by whoever took it off dmp_peer.staged (under
 * dmp_peer.lock); nothing in it changes after it was put there.
 */
struct dmp_staged {
	struct list_head node;
	u32 seq_tag;
	u64 generation;
	u32 nr_sectors;
	unsigned long deadline;
	u64 charge;
	bool copied;
	unsigned int nr_vecs;
	struct bio_vec vecs[];
};

/**
 * enum dmp_fence - may standard SCSI commands modify the medium?
 * @DMP_FENCE_OPEN: not claimed since it was added, and not claimed
 *	before either (by its metadata): yes
 * @DMP_FENCE_CLAIMED: a primary claimed it: no, only its mirror commands
 *	write; DATA PROTECT / WRITE PROTECTED for the others
 * @DMP_FENCE_RELEASED: claimed, then released by the administrator (sysfs
 *	``release``): yes, until the next CLAIM
 *
 * Changed only by __dmp_fence_set(), under dmp_peer.lock.
 */
enum dmp_fence {
	DMP_FENCE_OPEN,
	DMP_FENCE_CLAIMED,
	DMP_FENCE_RELEASED,
};

/**
 * struct dmp_peer - one peer disk: a Scsi_Host with one LUN over a backing
 *	block device; lives in shost_priv()
 * @shost: the host
 * @node: in the global list of peers
 * @bdev: backing device, opened exclusively
 * @path: the path it was attached by
 * @capacity: capacity in 512-byte sectors
 * @lbs_shift: log2 of the logical block size
 * @max_split: largest SPLIT DATA accepted, in sectors
 * @staging_bytes: staging memory bound
 * @split_timeout: jiffies a half of a split write waits for the other
 * @naa: NAA identifier (VPD 83h) and serial number source
 * @meta_bdev: metadata device ("meta=" on add), opened exclusively, or
 *	NULL: the generation is kept in memory only
 * @meta_path: its path
 * @meta_page: one page holding @meta_sb
 * @meta_sb: the superblock as last read or written; under @claim_mutex
 *	(and only the adder's before the host is visible)
 * @meta_valid: @meta_sb is a valid superblock (else the device is new);
 *	under @claim_mutex
 * @bm: the suspect regions: the bitmap the metadata kept from the node's
 *	life as a primary, or NULL (none, or a CLAIM took it over); under
 *	@claim_mutex
 * @bm_regions: bits in @bm; set when the disk is added, then constant
 * @bm_shift: log2 of its region size in sectors; the same
 * @lock: protects @generation, @fence, @meta_flags, @staged, @parked,
 *	@dying; never taken from bio completion
 * @generation: current generation (persistent with @meta_bdev)
 * @meta_flags: DMW_SF_* reported by QUERY and CLAIM
 * @fence: enum dmp_fence
 * @staged: list of struct dmp_staged
 * @parked: list of struct dmp_cmd (SPLIT DESC waiting for data)
 * @dying: nothing new is staged or parked (removal, reset)
 * @removing: being removed: @dying stays set
 * @claim_mutex: serialises CLAIM
 * @inflight_gen: writes in flight per generation parity: mirror writes,
 *	and standard writes admitted while the disk was open or released
 * @staged_bytes: staging memory in use (staged and being staged), in
 *	whole pages
 * @busy: commands accepted by queuecommand and not yet completed
 * @reaper: expires staged data and parked descriptors
 * @stats: counters
 */
struct dmp_peer {
	struct Scsi_Host *shost;
	struct list_head node;
	struct block_device *bdev;
	char path[128];
	u64 capacity;
	unsigned int lbs_shift;
	u32 max_split;
	u64 staging_bytes;
	unsigned long split_timeout;
	u64 naa;
	struct block_device *meta_bdev;
	char meta_path[128];
	struct page *meta_page;
	struct dmw_meta_sb *meta_sb;
	bool meta_valid;
	u8 *bm;
	u64 bm_regions;
	unsigned int bm_shift;

	spinlock_t lock;		/* see @lock above */
	u64 generation;
	int fence;
	u8 meta_flags;
	struct list_head staged;
	struct list_head parked;
	bool dying;
	bool removing;

	struct mutex claim_mutex;	/* serialises CLAIM */
	atomic_t inflight_gen[2];
	atomic64_t staged_bytes;
	atomic_t busy;
	struct delayed_work reaper;
	struct dmp_stats stats;
};

/*
 * A command's life: QUEUED (queuecommand) -> RUNNING (worker, bio, or
 * whoever took it off a list) -> [PARKED -> RUNNING]* -> DONE.  A command
 * queuecommand runs itself (the direct path, see dmp_main.c) starts in
 * RUNNING, owned by queuecommand and then by its bio; if its REQ_NOWAIT
 * submission cannot go out without sleeping it goes RUNNING -> RETRY ->
 * RUNNING (the worker submits it again without REQ_NOWAIT).  DONE is set
 * once, by dmp_complete() or dmp_release(), inside an RCU read-side
 * section that also covers scsi_done(): the abort handler, once it sees
 * DONE, waits for that section (synchronize_rcu()) before it lets the
 * midlayer reuse the tag.
 */
enum dmp_cmd_state {
	DMP_ST_QUEUED,		/* work queued: the worker runs the command */
	DMP_ST_RUNNING,		/* queuecommand, worker or bio owns it */
	DMP_ST_PARKED,		/* on dmp_peer.parked */
	DMP_ST_RETRY,		/* work queued: the worker submits its bios */
	DMP_ST_DONE,		/* completion decided: scsi_done() done or under way */
};

/**
 * struct dmp_cmd - per-command private data (cmd_size); not zeroed by the
 *	midlayer, every field is set in queuecommand or before use
 * @work: runs the command (QUEUED) or submits its bios (RETRY) off the
 *	queuecommand path
 * @peer: the peer
 * @scmd: the command
 * @state: enum dmp_cmd_state
 * @nowait: the command runs in queuecommand: its handler must not sleep,
 *	and returns DMP_DEFER for anything it cannot do without sleeping
 * @pending: bios in flight plus one for the submitter
 * @bio_status: first error of those bios, a real error before a refusal
 *	of REQ_NOWAIT (dmp_bio_status_set())
 * @io_opf: operation and flags of the last submission (REQ_NOWAIT: from
 *	queuecommand)
 * @io_sector: its first sector (dmp_submit_sg(): kept for a resubmission)
 * @io_bytes: its length (the same)
 * @end: called once the last bio completed
 * @node: in dmp_peer.parked
 * @deadline: jiffies when a parked descriptor fails with DMW_R_DATA_MISSING
 * @gen_slot: inflight_gen slot of a write holding one, or -1; dropped when
 *	the command completes
 * @framing: enum dmp_framing of a mirror command
 * @bytes: bytes a successful write applies
 * @mc: the decoded mirror CDB
 * @desc: the decoded split descriptor
 * @desc_buf: the descriptor's parameter data (SPLIT DESC): in the
 *	command's own data-out buffer, or a copy (@desc_copied)
 * @desc_copied: @desc_buf was allocated: freed when the command finishes
 * @staged: split data being written (SPLIT DESC), or staged in
 *	queuecommand and not yet taken by dmp_split_data() (SPLIT DATA);
 *	freed when the command finishes
 */
struct dmp_cmd {
	struct work_struct work;
	struct dmp_peer *peer;
	struct scsi_cmnd *scmd;
	int state;
	bool nowait;
	atomic_t pending;
	blk_status_t bio_status;
	blk_opf_t io_opf;
	sector_t io_sector;
	unsigned int io_bytes;
	void (*end)(struct dmp_cmd *dc);
	struct list_head node;
	unsigned long deadline;
	int gen_slot;
	u8 framing;
	u32 bytes;
	struct dmw_cmd mc;
	struct dmw_desc desc;
	u8 *desc_buf;
	bool desc_copied;
	struct dmp_staged *staged;
};

/* Return values of command handlers */
#define DMP_DONE	0	/* scmd->result set: complete now */
#define DMP_ASYNC	1	/* completes later (bio end_io, parked) */
#define DMP_DEFER	2	/* nothing done yet: run it in the worker */

/* dmp_main.c */
extern struct workqueue_struct *dmp_wq;
void dmp_complete(struct dmp_cmd *dc);
void dmp_check_condition(struct dmp_cmd *dc, u8 key, u8 asc, u8 ascq);
int dmp_submit_sg(struct dmp_cmd *dc, blk_opf_t opf, sector_t sector,
		  unsigned int bytes, void (*end)(struct dmp_cmd *dc));
int dmp_submit_staged(struct dmp_cmd *dc, blk_opf_t opf, sector_t sector,
		      void (*end)(struct dmp_cmd *dc));
int dmp_submit_zero(struct dmp_cmd *dc, bool discard, sector_t sector,
		    sector_t nr_sects, bool nounmap,
		    void (*end)(struct dmp_cmd *dc));
void dmp_bio_end_default(struct dmp_cmd *dc);
void dmp_gen_put(struct dmp_cmd *dc);
int dmp_copy_to_sg(struct dmp_cmd *dc, const void *buf, unsigned int len,
		   unsigned int alloc_len);

static inline sector_t dmp_lbs(const struct dmp_peer *peer)
{
	return 1U << peer->lbs_shift;
}

static inline void dmp_count(struct dmp_peer *peer, unsigned int framing,
			     unsigned int ev, s64 n)
{
	atomic64_add(n, &peer->stats.ev[framing][ev]);
	if (framing != DMP_FR_TOTAL)
		atomic64_add(n, &peer->stats.ev[DMP_FR_TOTAL][ev]);
}

static inline void dmp_count_misc(struct dmp_peer *peer, unsigned int c,
				  s64 n)
{
	atomic64_add(n, &peer->stats.misc[c]);
}

/* dmp_spc.c */
int dmp_execute_scsi(struct dmp_cmd *dc);

/* dmp_mirror.c */
int dmp_execute_mirror(struct dmp_cmd *dc);
void dmp_mirror_init(struct dmp_peer *peer);
void dmp_mirror_shutdown(struct dmp_peer *peer, int host_byte);
bool dmp_mirror_abort(struct dmp_cmd *dc);
void dmp_mirror_finish(struct dmp_cmd *dc);
void dmp_reaper_fn(struct work_struct *work);
bool dmp_plain_write_begin(struct dmp_cmd *dc);
int dmp_peer_release(struct dmp_peer *peer);
const char *dmp_fence_name(int fence);
u8 dmp_caps(struct dmp_peer *peer);

/* dmp_sysfs.c */
extern const struct attribute_group *dmp_shost_groups[];
extern const struct attribute_group *dmp_root_groups[];
int dmp_sysfs_init(void);
void dmp_sysfs_exit(void);

/* dmp_main.c: control */
int dmp_peer_add(const char *path, const char *meta);

/* dmp_meta.c */
int dmp_meta_open(struct dmp_peer *peer, const char *path);
void dmp_meta_close(struct dmp_peer *peer);
int dmp_meta_persist(struct dmp_peer *peer, u64 generation);
void dmp_meta_drop_bitmap(struct dmp_peer *peer);
void dmp_meta_bitmap_chunk(struct dmp_peer *peer, u32 chunk, u8 *buf,
			   u32 len);
int dmp_peer_remove(const char *name);
ssize_t dmp_peer_list(char *buf);

#endif /* _DUALMIRROR_PEER_H */
