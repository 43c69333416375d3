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
	uint64_t refs, pins; /* held now, summed over all pfns */
	uint64_t waits, wait_ns_total, wait_ns_max;
	uint64_t wait_hist[DAXFS_WAIT_BUCKETS];
	uint64_t deferred_total, deferred_freed, deferred_queue;
	uint64_t illegal_transitions;
	uint64_t reserved[7];
};

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

#define DAXFS_IOC_STATS _IOR(DAXFS_IOC_MAGIC, 1, struct daxfs_ioc_stats)
#define DAXFS_IOC_MAP _IOWR(DAXFS_IOC_MAGIC, 2, struct daxfs_ioc_map)

_Static_assert(sizeof(struct daxfs_ioc_map) < 16384, "restricted ioctl size limit");

#endif
