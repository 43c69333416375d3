/* SPDX-License-Identifier: MIT */
/*
 * ioctls of a mounted daxfs.  FUSE forwards only "restricted" ioctls, whose
 * argument size and direction are encoded in the command, so every payload
 * here has a fixed size below 16 KiB.
 *
 *   DAXFS_IOC_STATS  on any file or directory of the mount: counters of the
 *                    pfn table and the removal protocol.
 *   DAXFS_IOC_MAP    on a regular file: its blocks from start_block on, with
 *                    their pool offsets and pfn states.
 *   DAXFS_IOC_PFNS   on any file or directory: the view of every block from
 *                    start on, for a picture of the pool.
 *
 * Direct access, on a regular file opened for it (pins belong to the open
 * file: closing it, or the death of the process, drops them all):
 *
 *   DAXFS_IOC_PIN      long-term pin of a range, with its layout: extents of
 *                      (file offset, pool offset, length).  READ needs every
 *                      block to exist (ENXIO on a hole); WRITE allocates
 *                      blocks for holes.  STABLE: the pinned blocks' content
 *                      never changes under the pin (writes go copy-on-write
 *                      to fresh blocks, or wait with -o stable_writes=wait).
 *   DAXFS_IOC_UNPIN    drops one pin.
 *   DAXFS_IOC_LAYOUT   the layout of a range without pinning (like FIEMAP).
 *   DAXFS_IOC_POOLINFO the pool's path, size, block size, and whether it is
 *                      real pmem, for mapping it.
 *   DAXFS_IOC_RECALLS  ids of this file's pins that a truncate, punch or
 *                      unlink needs back; poll() reports POLLPRI while any
 *                      are pending.
 */
#ifndef DAXFS_IOCTL_H
#define DAXFS_IOCTL_H

#include <linux/ioctl.h>
#include <stdint.h>

#define DAXFS_IOC_MAGIC 0xDA

/* Pfn states as reported (the table's lifecycle). */
enum daxfs_pfn_state {
	DAXFS_PFN_FREE = 0,
	DAXFS_PFN_ALLOCATED = 1,
	DAXFS_PFN_TRACKED = 2,
	DAXFS_PFN_UNTRACKED = 3,
};

#define DAXFS_WAIT_BUCKETS 8 /* <1us <10us <100us <1ms <10ms <100ms <1s >=1s */

struct daxfs_ioc_stats {
	uint64_t block_size;
	uint64_t total_blocks, free_blocks; /* data blocks */
	uint64_t total_inodes, free_inodes;
	/* pfns by state; busy and pinned are tracked or untracked pfns with
	 * references or pins; deferred are untracked pfns left to their last
	 * user */
	uint64_t pfn_free, pfn_allocated, pfn_tracked, pfn_untracked;
	uint64_t pfn_busy, pfn_pinned, pfn_deferred;
	uint64_t pfn_tracked_idle; /* tracked, no references, no pins */
	uint64_t pins_active, recalls, bounces; /* pin registry; copy-on-write bounces */
	uint64_t refs, pins; /* held now, summed over all pfns */
	uint64_t waits, wait_ns_total, wait_ns_max;
	uint64_t wait_hist[DAXFS_WAIT_BUCKETS];
	uint64_t deferred_total, deferred_freed, deferred_queue;
	uint64_t illegal_transitions;
	/* blocks under pins now and the mount's limit (-o max_pinned); the
	 * share of each uid but root (-o pins_per_uid, -o pinned_per_uid) */
	uint64_t pinned_blocks, max_pinned;
	uint64_t pins_per_uid, pinned_per_uid;
	/* How requests reach the daemon (DAXFS_TRANSPORT_*). */
	uint64_t transport;
	/* Zero; room for counters to come without changing the size, which
	 * is part of DAXFS_IOC_STATS's number. */
	uint64_t reserved[3];
};

#define DAXFS_TRANSPORT_DEV_FUSE 1
#define DAXFS_TRANSPORT_IO_URING 2

struct daxfs_ioc_map_entry {
	uint64_t file_block;
	uint64_t pool_offset; /* bytes from the start of the pool */
	uint32_t state; /* enum daxfs_pfn_state */
	uint32_t refs;
	uint32_t pins;
	uint32_t flags; /* DAXFS_MAP_DEFERRED */
};
#define DAXFS_MAP_DEFERRED 0x1u
#define DAXFS_IOC_MAP_MAX 500

struct daxfs_ioc_map {
	uint64_t start_block; /* in */
	uint64_t next_block; /* out: where the next call starts, UINT64_MAX at the end */
	uint32_t count; /* out */
	uint32_t pad;
	struct daxfs_ioc_map_entry entries[DAXFS_IOC_MAP_MAX];
};

#define DAXFS_PIN_READ 0x1u
#define DAXFS_PIN_WRITE 0x2u
#define DAXFS_PIN_LONGTERM 0x4u
#define DAXFS_PIN_STABLE 0x8u
#define DAXFS_PIN_MAX_EXTENTS 64
#define DAXFS_PIN_MAX_LENGTH (64ULL << 20)
#define DAXFS_PINS_PER_HANDLE 256 /* EMFILE past it */
#define DAXFS_PINS_PER_MOUNT 4096 /* ENFILE past it (users but root: past 7/8) */

struct daxfs_extent {
	uint64_t file_offset;
	uint64_t pool_offset;
	uint64_t length;
};

struct daxfs_ioc_pin {
	uint64_t offset; /* in: block aligned */
	uint64_t length; /* in: > 0, block aligned, at most DAXFS_PIN_MAX_LENGTH */
	uint32_t flags; /* in: DAXFS_PIN_* */
	uint32_t nextents; /* out */
	uint64_t pin_id; /* out */
	struct daxfs_extent extents[DAXFS_PIN_MAX_EXTENTS]; /* out */
};

struct daxfs_ioc_unpin {
	uint64_t pin_id;
};

struct daxfs_ioc_layout {
	uint64_t offset; /* in */
	uint64_t length; /* in: > 0 */
	uint64_t next_offset; /* out: where the next call starts, or offset+length */
	uint32_t nextents; /* out: holes are left out */
	uint32_t pad;
	struct daxfs_extent extents[DAXFS_PIN_MAX_EXTENTS]; /* out */
};

struct daxfs_ioc_poolinfo {
	char path[4096 - 64];
	uint64_t size;
	uint64_t block_size;
	uint32_t is_pmem;
	uint32_t pad;
	uint8_t uuid[16];
	uint64_t reserved[3];
};

#define DAXFS_RECALLS_MAX 256
struct daxfs_ioc_recalls {
	uint32_t count; /* out */
	uint32_t pad;
	uint64_t pin_ids[DAXFS_RECALLS_MAX];
};

/* What an operator sees of each block (daxfs-ctl picture): a pfn's state
 * and counts folded into one value, the worst first when blocks are
 * grouped. */
enum daxfs_block_view {
	DAXFS_VIEW_FREE = 0,
	DAXFS_VIEW_ALLOCATED = 1, /* index and directory-less metadata blocks */
	DAXFS_VIEW_TRACKED_IDLE = 2,
	DAXFS_VIEW_BUSY = 3, /* short-term references */
	DAXFS_VIEW_UNTRACKED = 4, /* removed from its file, waiting to be idle */
	DAXFS_VIEW_DEFERRED = 5, /* left to its last user */
	DAXFS_VIEW_PINNED = 6,
	DAXFS_VIEW_COUNT
};

#define DAXFS_PFNS_MAX 16000
struct daxfs_ioc_pfns {
	uint64_t start; /* in: first pfn (data block index) */
	uint64_t total; /* out: pfns in the pool */
	uint32_t count; /* out: views filled */
	uint32_t pad;
	uint8_t view[DAXFS_PFNS_MAX]; /* out: enum daxfs_block_view */
};

#define DAXFS_IOC_STATS _IOR(DAXFS_IOC_MAGIC, 1, struct daxfs_ioc_stats)
#define DAXFS_IOC_MAP _IOWR(DAXFS_IOC_MAGIC, 2, struct daxfs_ioc_map)
#define DAXFS_IOC_PIN _IOWR(DAXFS_IOC_MAGIC, 3, struct daxfs_ioc_pin)
#define DAXFS_IOC_UNPIN _IOW(DAXFS_IOC_MAGIC, 4, struct daxfs_ioc_unpin)
#define DAXFS_IOC_LAYOUT _IOWR(DAXFS_IOC_MAGIC, 5, struct daxfs_ioc_layout)
#define DAXFS_IOC_POOLINFO _IOR(DAXFS_IOC_MAGIC, 6, struct daxfs_ioc_poolinfo)
#define DAXFS_IOC_RECALLS _IOR(DAXFS_IOC_MAGIC, 7, struct daxfs_ioc_recalls)
#define DAXFS_IOC_PFNS _IOWR(DAXFS_IOC_MAGIC, 8, struct daxfs_ioc_pfns)

_Static_assert(sizeof(struct daxfs_ioc_map) < 16384, "restricted ioctl size limit");
_Static_assert(sizeof(struct daxfs_ioc_pin) < 16384, "restricted ioctl size limit");
_Static_assert(sizeof(struct daxfs_ioc_layout) < 16384, "restricted ioctl size limit");
_Static_assert(sizeof(struct daxfs_ioc_poolinfo) == 4096, "poolinfo size");
_Static_assert(sizeof(struct daxfs_ioc_recalls) < 16384, "restricted ioctl size limit");
_Static_assert(sizeof(struct daxfs_ioc_pfns) < 16384, "restricted ioctl size limit");

#endif
