// SPDX-License-Identifier: GPL-2.0
/*
 * dualmirror_peer: the generation on a metadata device ("meta=" on add).
 *
 * A node has one metadata device per mirror, whatever its role: as the
 * primary, dm-dualmirror keeps its superblock and write-intent bitmap
 * there; as the peer, this module keeps the generation of the last CLAIM
 * in the same superblock (struct dmw_meta_sb, DMW_SB_PEER set), written
 * before the CLAIM is answered.  So a peer that reboots, or whose disk is
 * added again, still fences the primaries it fenced, and a node that
 * changes role keeps the mirror's identity and generation
 * (Documentation/dm-dualmirror.rst, "Switchover and failover").
 *
 * What the superblock says about this copy goes to the claimant in the
 * state flags: FRESH until the first CLAIM after the add (a volatile
 * cache may have been lost); SUSPECT and DIVERGED when the node was last
 * a primary with regions marked, or that wrote alone.  The first CLAIM
 * makes the superblock a peer's and clears them: the claimant took them
 * over.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/crc32c.h>
#include <linux/highmem.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>

#include "dualmirror_peer.h"

#define DMP_META_FMODE	(FMODE_READ | FMODE_WRITE | FMODE_EXCL)
#define DMP_META_IO	DMW_META_SB_SIZE	/* bytes per metadata I/O */

static_assert(DMP_META_IO <= PAGE_SIZE);
static_assert(sizeof(struct dmw_meta_sb) <= DMW_META_SB_SIZE);

static int dmp_meta_io(struct dmp_peer *peer, struct page *page,
		       blk_opf_t opf, sector_t sector)
{
	struct bio bio;
	struct bio_vec bvec;
	int r;

	bio_init(&bio, peer->meta_bdev, &bvec, 1, opf);
	bio.bi_iter.bi_sector = sector;
	__bio_add_page(&bio, page, DMP_META_IO, 0);
	r = submit_bio_wait(&bio);
	bio_uninit(&bio);
	return r;
}

static u32 dmp_meta_crc(struct dmw_meta_sb *sb)
{
	__le32 saved = sb->crc;
	u32 crc;

	sb->crc = 0;
	crc = crc32c(~0U, sb, DMW_META_SB_SIZE);
	sb->crc = saved;
	return crc;
}

/*
 * Read the first @nr_regions bits of the bitmap on disk; keep them in
 * peer->bm if any is set (the suspect regions BITMAP serves).  The
 * superblock's buffer is reused: the caller reads it again.
 */
static int dmp_meta_bitmap_load(struct dmp_peer *peer, u64 nr_regions,
				unsigned int shift)
{
	u64 bytes = DIV_ROUND_UP(nr_regions, 8), off;
	bool set = false;
	u8 *bm;
	int r;

	if (!nr_regions)
		return 0;
	if (shift < DMW_BM_SHIFT_MIN || shift > DMW_BM_SHIFT_MAX ||
	    nr_regions > (u64)DMW_BITMAP_CHUNK * 8 * 65536 ||
	    bytes > bdev_nr_bytes(peer->meta_bdev) - DMW_META_SB_SIZE)
		return -EINVAL;
	bm = vzalloc(round_up(bytes, DMP_META_IO));
	if (!bm)
		return -ENOMEM;
	for (off = 0; off < bytes; off += DMP_META_IO) {
		r = dmp_meta_io(peer, peer->meta_page, REQ_OP_READ,
				(DMW_META_SB_SIZE + off) >> SECTOR_SHIFT);
		if (r) {
			vfree(bm);
			return r;
		}
		memcpy(bm + off, page_address(peer->meta_page), DMP_META_IO);
	}
	/* bits past nr_regions in the last byte are never set */
	memset(bm + bytes, 0, round_up(bytes, DMP_META_IO) - bytes);
	set = memchr_inv(bm, 0, bytes);
	if (!set) {
		vfree(bm);
		return 0;
	}
	peer->bm = bm;
	peer->bm_regions = nr_regions;
	peer->bm_shift = shift;
	return 0;
}

/*
 * Read and check the superblock; set the generation, the fence and the
 * state flags from it.  A zeroed device is a new one.
 */
static int dmp_meta_load(struct dmp_peer *peer)
{
	struct dmw_meta_sb *sb = peer->meta_sb;
	u8 flags = DMW_SF_PERSISTENT | DMW_SF_FRESH;
	u32 sbf;
	int r;

	r = dmp_meta_io(peer, peer->meta_page, REQ_OP_READ, 0);
	if (r) {
		pr_err("%s: %s: cannot read the metadata superblock: %d\n",
		       DMP_NAME, peer->meta_path, r);
		return r;
	}
	if (le64_to_cpu(sb->magic) != DMW_META_MAGIC) {
		if (memchr_inv(sb, 0, DMW_META_SB_SIZE)) {
			pr_err("%s: %s holds something else than dualmirror metadata: zero its first 4 KiB\n",
			       DMP_NAME, peer->meta_path);
			return -EINVAL;
		}
		peer->meta_valid = false;
		peer->meta_flags = flags;
		return 0;
	}
	if (dmp_meta_crc(sb) != le32_to_cpu(sb->crc) ||
	    le32_to_cpu(sb->version) != DMW_META_VERSION) {
		pr_err("%s: %s: metadata superblock checksum or version wrong\n",
		       DMP_NAME, peer->meta_path);
		return -EINVAL;
	}
	sbf = le32_to_cpu(sb->flags);
	peer->meta_valid = true;
	peer->generation = le64_to_cpu(sb->peer_generation);
	if (sbf & DMW_SB_PEER) {
		/* claimed before it went away: still fenced */
		if (peer->generation)
			peer->fence = DMP_FENCE_CLAIMED;
	} else {
		/* last a primary: the regions it marked may differ */
		if (sbf & DMW_SB_DIVERGED)
			flags |= DMW_SF_DIVERGED;
		r = dmp_meta_bitmap_load(peer, le64_to_cpu(sb->nr_regions),
					 le32_to_cpu(sb->region_shift));
		if (!r)
			r = dmp_meta_io(peer, peer->meta_page, REQ_OP_READ, 0);
		if (r) {
			pr_err("%s: %s: cannot read the write-intent bitmap: %d\n",
			       DMP_NAME, peer->meta_path, r);
			return r;
		}
		if (peer->bm)
			flags |= DMW_SF_SUSPECT;
	}
	peer->meta_flags = flags;
	return 0;
}

/**
 * dmp_meta_open - open the metadata device of a peer disk being added
 * @peer: the peer, not visible yet
 * @path: block device path, opened exclusively
 *
 * Return: 0 or a negative errno.
 */
int dmp_meta_open(struct dmp_peer *peer, const char *path)
{
	int r;

	strscpy(peer->meta_path, path, sizeof(peer->meta_path));
	peer->meta_bdev = blkdev_get_by_path(path, DMP_META_FMODE, peer);
	if (IS_ERR(peer->meta_bdev)) {
		r = PTR_ERR(peer->meta_bdev);
		peer->meta_bdev = NULL;
		pr_err("%s: cannot open metadata device %s: error %d%s\n",
		       DMP_NAME, path, r,
		       r == -EBUSY ? " (in use: a dm table or a peer disk holds it)" : "");
		return r;
	}
	if (bdev_nr_bytes(peer->meta_bdev) < DMW_META_SB_SIZE ||
	    bdev_logical_block_size(peer->meta_bdev) > DMP_META_IO) {
		pr_err("%s: %s: too small or unsupported block size for metadata\n",
		       DMP_NAME, path);
		r = -EINVAL;
		goto err;
	}
	peer->meta_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!peer->meta_page) {
		r = -ENOMEM;
		goto err;
	}
	peer->meta_sb = page_address(peer->meta_page);
	r = dmp_meta_load(peer);
	if (r)
		goto err;
	return 0;
err:
	dmp_meta_close(peer);
	return r;
}

/**
 * dmp_meta_drop_bitmap - forget the suspect regions (a CLAIM took them)
 * @peer: the peer, with claim_mutex held (or not visible)
 */
void dmp_meta_drop_bitmap(struct dmp_peer *peer)
{
	vfree(peer->bm);
	peer->bm = NULL;
}

/**
 * dmp_meta_bitmap_chunk - copy a chunk of the suspect bitmap (BITMAP)
 * @peer: the peer
 * @chunk: chunk index (of DMW_BITMAP_CHUNK bytes)
 * @buf: where to copy
 * @len: bytes wanted, at most DMW_BITMAP_CHUNK; zeroes past the end
 */
void dmp_meta_bitmap_chunk(struct dmp_peer *peer, u32 chunk, u8 *buf,
			   u32 len)
{
	u64 off = (u64)chunk * DMW_BITMAP_CHUNK, bytes;

	memset(buf, 0, len);
	mutex_lock(&peer->claim_mutex);
	bytes = DIV_ROUND_UP(peer->bm_regions, 8);
	if (peer->bm && off < bytes)
		memcpy(buf, peer->bm + off, min_t(u64, len, bytes - off));
	mutex_unlock(&peer->claim_mutex);
}

/**
 * dmp_meta_close - release the metadata device (removal, failed add)
 * @peer: the peer
 */
void dmp_meta_close(struct dmp_peer *peer)
{
	dmp_meta_drop_bitmap(peer);
	if (peer->meta_page)
		__free_page(peer->meta_page);
	peer->meta_page = NULL;
	peer->meta_sb = NULL;
	if (peer->meta_bdev)
		blkdev_put(peer->meta_bdev, DMP_META_FMODE);
	peer->meta_bdev = NULL;
}

/**
 * dmp_meta_persist - write the generation a CLAIM is about to give
 * @peer: the peer, with claim_mutex held
 * @generation: the new generation
 *
 * The superblock becomes a peer's (DMW_SB_PEER; a bitmap left from a
 * primary's life and its DIVERGED flag are the claimant's now).  FUA: on
 * stable media before the CLAIM is answered.
 *
 * Return: 0 or a negative errno (the CLAIM then fails; nothing changed in
 * memory).
 */
int dmp_meta_persist(struct dmp_peer *peer, u64 generation)
{
	struct dmw_meta_sb *sb = peer->meta_sb;
	u32 flags;
	int r;

	lockdep_assert_held(&peer->claim_mutex);
	if (!peer->meta_valid) {
		memset(sb, 0, DMW_META_SB_SIZE);
		sb->magic = cpu_to_le64(DMW_META_MAGIC);
		sb->version = cpu_to_le32(DMW_META_VERSION);
		uuid_gen((uuid_t *)sb->uuid);
	}
	flags = le32_to_cpu(sb->flags);
	flags &= ~(DMW_SB_DIVERGED | DMW_SB_CLEAN);
	sb->flags = cpu_to_le32(flags | DMW_SB_PEER);
	sb->peer_generation = cpu_to_le64(generation);
	sb->claim_pending = 0;
	sb->crc = cpu_to_le32(dmp_meta_crc(sb));
	r = dmp_meta_io(peer, peer->meta_page,
			REQ_OP_WRITE | REQ_SYNC | REQ_FUA, 0);
	if (r) {
		shost_printk(KERN_ERR, peer->shost,
			     "cannot write generation %llu to %s: %d\n",
			     generation, peer->meta_path, r);
		/* what is on disk is unknown now: rewrite it all next time */
		return r;
	}
	peer->meta_valid = true;
	return 0;
}
