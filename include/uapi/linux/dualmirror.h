/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dualmirror wire format: the SCSI commands a dualmirror primary sends to
 * its peer, their parameter data, and the on-disk metadata superblock.
 *
 * This header holds the layout and the constants only.  The one codec
 * that encodes, decodes and validates the messages, shared by
 * dm-dualmirror.ko (the primary), dualmirror_peer.ko (the peer) and the
 * host tests, is include/linux/dualmirror_wire.h.
 * Documentation/dualmirror-protocol.rst describes the format byte by byte
 * and explains each choice.
 *
 * Every message is a 16-byte variable-length CDB (operation code 7Fh,
 * ADDITIONAL CDB LENGTH 8) with a vendor-specific service action
 * (F800h-FFFFh, SPC-4).  Linux sizes a 7Fh CDB from its ADDITIONAL CDB
 * LENGTH, so LIO's pscsi backstore forwards all 16 bytes; vendor opcodes
 * C0h-FFh would lose bytes 10-15.
 *
 *   byte  0     OPERATION CODE (7Fh)
 *   byte  1     CONTROL (00h)
 *   bytes 2-3   GENERATION TAG: low 16 bits of the peer generation (the
 *               one the claimant last knew, for CLAIM; zero for QUERY)
 *   bytes 4-6   SEQUENCE TAG: low 24 bits of the operation's sequence number
 *               (DISCARD, WRITE ZEROES: NUMBER OF SECTORS instead)
 *   byte  7     ADDITIONAL CDB LENGTH (08h)
 *   byte  8     SERVICE ACTION (MSB): F8h | VERSION (bits 2-0)
 *   byte  9     SERVICE ACTION (LSB): TYPE (bits 7-4) | FLAGS (bits 3-0)
 *   bytes 10-15 type specific:
 *     INLINE WRITE  10: NUMBER OF SECTORS - 1; 11-15: LBA (40 bits)
 *     SPLIT DATA    10-11: reserved; 12-15: NUMBER OF SECTORS
 *     SPLIT DESC    10-11: reserved; 12-15: PARAMETER LIST LENGTH
 *     QUERY, CLAIM  10-11: reserved; 12-15: ALLOCATION LENGTH
 *     BITMAP        10-11: CHUNK; 12-15: ALLOCATION LENGTH
 *     DISCARD, WRITE ZEROES  10-15: LBA (48 bits); no data
 *
 * QUERY, CLAIM and BITMAP have no SEQUENCE TAG (bytes 4-6 are zero); QUERY
 * and BITMAP have no GENERATION TAG either.  DISCARD and WRITE ZEROES carry
 * their NUMBER OF SECTORS in bytes 4-6.  FLAGS are defined for INLINE
 * (DMW_F_FUA, DMW_F_PREFLUSH), CLAIM (DMW_F_FORCE) and WRITE ZEROES
 * (DMW_F_NOUNMAP) only, and zero otherwise.
 *
 * All multi-byte fields are big-endian.  A sector is 512 bytes, whatever
 * the logical block size of the disks.
 */
#ifndef _UAPI_LINUX_DUALMIRROR_H
#define _UAPI_LINUX_DUALMIRROR_H

#include <linux/types.h>

#define DMW_OPCODE		0x7f	/* VARIABLE LENGTH CDB */
#define DMW_CDB_LEN		16
#define DMW_ADDL_CDB_LEN	(DMW_CDB_LEN - 8)
#define DMW_SA_VENDOR		0xf8	/* service actions F800h-FFFFh */
#define DMW_SA_VENDOR_MASK	0xf8
#define DMW_VERSION		1
#define DMW_VERSION_MASK	0x07
#define DMW_SECTOR_SHIFT	9
#define DMW_SECTOR_SIZE		(1U << DMW_SECTOR_SHIFT)

/* CDB byte offsets */
#define DMW_OFF_CONTROL		1
#define DMW_OFF_GEN		2
#define DMW_OFF_SEQ		4
#define DMW_OFF_ADDL_LEN	7
#define DMW_OFF_SA		8
#define DMW_OFF_TYPE		9
#define DMW_OFF_INL_LEN		10
#define DMW_OFF_INL_LBA		11
#define DMW_OFF_RSVD		10	/* 2 reserved bytes of non-inline types */
#define DMW_OFF_LEN32		12
#define DMW_OFF_ZERO_LEN	4	/* DISCARD, WRITE ZEROES: 24 bits */
#define DMW_OFF_ZERO_LBA	10	/* DISCARD, WRITE ZEROES: 48 bits */

/**
 * enum dmw_type - message type, bits 7-4 of CDB byte 9
 * @DMW_T_INLINE: inline write; the CDB holds all the metadata and the data
 *	follows as the command's data-out
 * @DMW_T_SPLIT_DATA: first message of a split write: data-out is the data,
 *	the CDB holds only the tags and the length
 * @DMW_T_SPLIT_DESC: second message of a split write: data-out is the
 *	descriptor (struct dmw_desc_hdr + one CRC32C per 4 KiB of data)
 * @DMW_T_QUERY: data-in: the peer's state (struct dmw_state), no change
 * @DMW_T_CLAIM: data-in: the peer advances its generation, drops staged
 *	split data and returns its new state; fences older primaries.  Its
 *	generation tag must equal the peer's current one unless DMW_F_FORCE
 *	is set: a stale primary cannot fence a newer one by reconnecting
 * @DMW_T_DISCARD: no data: the peer discards the range on its backing
 *	device (a peer that advertises DMW_CAP_DISCARD)
 * @DMW_T_WRITE_ZEROES: no data: the peer zeroes the range, offloaded to
 *	its backing device or by writing zeroes (DMW_CAP_WRITE_ZEROES)
 * @DMW_T_BITMAP: data-in: one chunk of the write-intent bitmap the peer's
 *	metadata kept from when its node was a primary (DMW_SF_SUSPECT), for
 *	the claimant to resync only those regions; no change
 */
enum dmw_type {
	DMW_T_INLINE = 1,
	DMW_T_SPLIT_DATA = 2,
	DMW_T_SPLIT_DESC = 3,
	DMW_T_QUERY = 4,
	DMW_T_CLAIM = 5,
	DMW_T_DISCARD = 6,
	DMW_T_WRITE_ZEROES = 7,
	DMW_T_BITMAP = 8,
};

/* Write flags: bits 3-0 of CDB byte 9 (INLINE) and of the descriptor */
#define DMW_F_FUA		0x01	/* write through to stable media */
#define DMW_F_PREFLUSH		0x02	/* flush the peer's cache first */
#define DMW_F_WRITE_MASK	(DMW_F_FUA | DMW_F_PREFLUSH)

/* CLAIM flags: bits 3-0 of CDB byte 9 */
#define DMW_F_FORCE		0x01	/* claim whatever the generation tag */
#define DMW_F_CLAIM_MASK	DMW_F_FORCE

/* WRITE ZEROES flags: bits 3-0 of CDB byte 9; DISCARD has none */
#define DMW_F_NOUNMAP		0x01	/* keep the range allocated (REQ_NOUNMAP) */
#define DMW_F_ZEROES_MASK	DMW_F_NOUNMAP

#define DMW_GEN_TAG_MASK	0xffffULL
#define DMW_SEQ_TAG_MASK	0xffffffULL

/* Inline framing limits: an 8-bit length (sectors - 1) and a 40-bit LBA */
#define DMW_INLINE_MAX_SECTORS	256U
#define DMW_INLINE_MAX_BYTES	(DMW_INLINE_MAX_SECTORS << DMW_SECTOR_SHIFT)
#define DMW_INLINE_LBA_BITS	40
#define DMW_INLINE_LBA_LIMIT	(1ULL << DMW_INLINE_LBA_BITS)
#define DMW_INLINE_DEFAULT	32768U	/* claim 3: 32 KiB */

/*
 * DISCARD and WRITE ZEROES framing: a 24-bit NUMBER OF SECTORS (at most
 * 2 GiB, so that the byte count fits 32 bits) and a 48-bit LBA
 */
#define DMW_ZERO_MAX_SECTORS	(1U << 22)
#define DMW_ZERO_LBA_BITS	48
#define DMW_ZERO_LBA_LIMIT	(1ULL << DMW_ZERO_LBA_BITS)

/* Split framing: one CRC32C per 4 KiB chunk of data, at most 8 MiB */
#define DMW_CHUNK_SHIFT		12
#define DMW_CHUNK_SIZE		(1U << DMW_CHUNK_SHIFT)
#define DMW_SPLIT_MAX_SECTORS	16384U
#define DMW_DESC_MAGIC		0x444d5744U	/* "DMWD" */
#define DMW_DESC_HDR_LEN	40
#define DMW_DESC_MAX_LEN	(DMW_DESC_HDR_LEN + 4 * \
	((DMW_SPLIT_MAX_SECTORS << DMW_SECTOR_SHIFT) >> DMW_CHUNK_SHIFT))

/* Descriptor byte offsets (data-out of SPLIT DESC) */
#define DMW_DOFF_MAGIC		0
#define DMW_DOFF_VERSION	4
#define DMW_DOFF_FLAGS		5
#define DMW_DOFF_RSVD		6
#define DMW_DOFF_LBA		8
#define DMW_DOFF_SECTORS	16
#define DMW_DOFF_NR_CRCS	20
#define DMW_DOFF_SEQ		24
#define DMW_DOFF_GEN		32
#define DMW_DOFF_CRC		40

/* State (data-in of QUERY and CLAIM) */
#define DMW_STATE_MAGIC		0x444d5753U	/* "DMWS" */
#define DMW_STATE_LEN		48
#define DMW_SOFF_MAGIC		0
#define DMW_SOFF_VERSION	4
#define DMW_SOFF_LBS_SHIFT	5	/* log2(logical block size) */
#define DMW_SOFF_GEN		8
#define DMW_SOFF_CAPACITY	16	/* in sectors */
#define DMW_SOFF_MAX_SPLIT	24	/* in sectors */
#define DMW_SOFF_STAGING	28	/* staging memory, in KiB */
#define DMW_SOFF_FLAGS		6	/* DMW_SF_* */
#define DMW_SOFF_BM_REGIONS	32	/* regions in the suspect bitmap, or 0 */
#define DMW_SOFF_BM_SHIFT	40	/* log2 of its region size in sectors */
#define DMW_SOFF_CAPS		7	/* DMW_CAP_* */

/*
 * Capabilities, byte 7 of the state: which commands without data the peer
 * takes.  A peer that predates them leaves the byte zero.
 */
#define DMW_CAP_DISCARD		0x01	/* DISCARD: its backing device discards */
#define DMW_CAP_WRITE_ZEROES	0x02	/* WRITE ZEROES, offloaded or written */
#define DMW_CAP_ZEROES_OFFLOAD	0x04	/* zeroed by its backing device */
#define DMW_CAP_MASK		0x07

/* BITMAP: the suspect bitmap is read in chunks of at most 64 KiB */
#define DMW_OFF_CHUNK		10
#define DMW_BITMAP_CHUNK	65536U
#define DMW_BM_SHIFT_MIN	3	/* region sizes of 8 ... */
#define DMW_BM_SHIFT_MAX	24	/* ... to 16777216 sectors */

/*
 * State flags: what the peer's metadata device (if it has one) says about
 * its copy.  A claimant acts on them before it writes (see
 * Documentation/dm-dualmirror.rst, "Fencing and split brain").
 */
/*
 * PERSISTENT: the generation is kept on a metadata device.
 * FRESH: not claimed since it was attached: what its volatile cache held
 *	may be lost.
 * SUSPECT: its copy has regions its metadata marks from when its node was
 *	a primary.
 * DIVERGED: as a primary, it acknowledged writes its peer never got.
 */
#define DMW_SF_PERSISTENT	0x01
#define DMW_SF_FRESH		0x02
#define DMW_SF_SUSPECT		0x04
#define DMW_SF_DIVERGED		0x08
#define DMW_SF_MASK		0x0f

/*
 * On-disk metadata: one device per node, whatever its role.  A 4 KiB
 * superblock (struct dmw_meta_sb, little-endian) at byte 0, then the
 * write-intent bitmap: bit N (little-endian bit order, as set_bit_le())
 * set means region N may differ between the copies.  The primary
 * (dm-dualmirror) keeps the bitmap; a peer (dualmirror_peer, "meta=")
 * only keeps the generation, and reports a bitmap left from when its node
 * was a primary as DMW_SF_SUSPECT.
 */
#define DMW_META_MAGIC		0x31415441454d5744ULL	/* "DWMETA11" */
#define DMW_META_VERSION	1
#define DMW_META_SB_SIZE	4096

/*
 * CLEAN: shut down cleanly, the bitmap is exactly the regions out of sync.
 * PEER: last written by a peer; the bitmap is unused.
 * DIVERGED: a primary acknowledged writes alone since its last CLAIM.
 */
#define DMW_SB_CLEAN		0x01
#define DMW_SB_PEER		0x02
#define DMW_SB_DIVERGED		0x04

/**
 * struct dmw_meta_sb - the metadata superblock, little-endian, at byte 0
 * @magic: DMW_META_MAGIC
 * @version: DMW_META_VERSION
 * @crc: CRC-32C (seed ~0, not inverted) of the 4 KiB block with this
 *	field zero
 * @uuid: the mirror's identity, made when the metadata is created
 * @region_shift: log2 of the region size in sectors (0: no bitmap yet)
 * @flags: DMW_SB_*
 * @nr_regions: bits in the bitmap (0: no bitmap yet)
 * @sectors: the target's length when the bitmap was created
 * @peer_generation: the generation of the last successful CLAIM, made
 *	(primary) or taken (peer) by this node
 * @events: bumped each time the metadata is loaded
 * @claim_pending: the generation a CLAIM under way will give the peer
 *	(written before it is sent, cleared after): a crash in between does
 *	not leave this primary one generation behind its own CLAIM
 */
struct dmw_meta_sb {
	__le64 magic;
	__le32 version;
	__le32 crc;
	__u8 uuid[16];
	__le32 region_shift;
	__le32 flags;
	__le64 nr_regions;
	__le64 sectors;
	__le64 peer_generation;
	__le64 events;
	__le64 claim_pending;
};

/*
 * Interrupt accounting.  An interrupt is one delivery that wakes its
 * receiver: a command reaching the peer, a data transfer reaching the peer,
 * a status reaching the primary.  An inline write is one command with data:
 * three.  A split write is two commands with data: six.
 */
#define DMW_IRQ_CMD		1
#define DMW_IRQ_DATA		1
#define DMW_IRQ_STATUS		1
#define DMW_IRQS_PER_CMD	(DMW_IRQ_CMD + DMW_IRQ_DATA + DMW_IRQ_STATUS)
#define DMW_IRQS_INLINE		(1 * DMW_IRQS_PER_CMD)
#define DMW_IRQS_SPLIT		(2 * DMW_IRQS_PER_CMD)
/* DISCARD, WRITE ZEROES: a command without data: two */
#define DMW_IRQS_NODATA		(DMW_IRQ_CMD + DMW_IRQ_STATUS)

/**
 * enum dmw_reason - why a message was refused
 * @DMW_R_OK: not refused
 * @DMW_R_OPCODE: 05/20/00 INVALID COMMAND OPERATION CODE
 * @DMW_R_CDB_LEN: 05/24/00 INVALID FIELD IN CDB, byte 7
 * @DMW_R_SERVICE_ACTION: 05/24/00 byte 8 or 9
 * @DMW_R_VERSION: 05/24/00 byte 8 bits 2-0
 * @DMW_R_RESERVED: 05/24/00 at the reserved bit
 * @DMW_R_LENGTH: 05/24/00 at the length field
 * @DMW_R_LBA_RANGE: 05/21/00 LBA OUT OF RANGE
 * @DMW_R_ALIGNMENT: 05/24/00 at the LBA or length field
 * @DMW_R_XFER_LEN: 05/24/00 length disagrees with data-out
 * @DMW_R_DESC_LEN: 05/1A/00 PARAMETER LIST LENGTH ERROR
 * @DMW_R_DESC_FIELD: 05/26/00 INVALID FIELD IN PARAMETER LIST
 * @DMW_R_CRC: 0B/10/01 LOGICAL BLOCK GUARD CHECK FAILED
 * @DMW_R_GENERATION: 07/27/00 WRITE PROTECTED: stale primary
 * @DMW_R_SEQUENCE: 05/2C/00 COMMAND SEQUENCE ERROR
 * @DMW_R_RESOURCES: 05/55/03 INSUFFICIENT RESOURCES
 * @DMW_R_DATA_MISSING: 0B/0C/00 WRITE ERROR: split data never came
 * @DMW_R_NR: the number of reasons
 *
 * Each reason maps to one SCSI sense (see dmw_reason_sense() in
 * include/linux/dualmirror_wire.h): sense key / ASC / ASCQ above.
 */
enum dmw_reason {
	DMW_R_OK = 0,
	DMW_R_OPCODE,
	DMW_R_CDB_LEN,
	DMW_R_SERVICE_ACTION,
	DMW_R_VERSION,
	DMW_R_RESERVED,
	DMW_R_LENGTH,
	DMW_R_LBA_RANGE,
	DMW_R_ALIGNMENT,
	DMW_R_XFER_LEN,
	DMW_R_DESC_LEN,
	DMW_R_DESC_FIELD,
	DMW_R_CRC,
	DMW_R_GENERATION,
	DMW_R_SEQUENCE,
	DMW_R_RESOURCES,
	DMW_R_DATA_MISSING,
	DMW_R_NR
};

#endif /* _UAPI_LINUX_DUALMIRROR_H */
