/* SPDX-License-Identifier: MIT */
/*
 * Per-file block map: a radix tree of 8-byte block pointers rooted in the
 * inode's map word.  Lookups are lock-free (atomic loads; index blocks are
 * freed only after an RCU grace period); changes hold the inode lock
 * exclusive.  Every pointer is published with one atomic store after what
 * it points to is persistent.
 */
#ifndef DAXFS_BLOCK_MAP_H
#define DAXFS_BLOCK_MAP_H

#include "super.h"

/* Returns the data block of file block index, 0 for a hole. */
uint64_t bmap_lookup(struct daxfs *fs, const struct daxfs_dinode *di, uint64_t index);
/* Publishes blk (durable already) as file block index, creating index
 * blocks on the way; -ENOSPC if an index block cannot be had.  The new
 * pointers are flushed but not fenced: the caller drains before anything
 * that depends on them being durable (a size, a reply, freeing a block
 * they replace). */
int bmap_set(struct daxfs *fs, struct daxfs_dinode *di, uint64_t index, uint64_t blk);
/* Links the index blocks that bmap_set would create for [first, last]
 * (the map's growth and the missing leaves), many at a time: one
 * allocation fence and one fence for their zeros per batch, instead of two
 * fences per index block.  The links are flushed and fenced by the
 * caller's next drain, as bmap_set's are.  What it cannot get (no space,
 * a missing node above a leaf) it leaves to bmap_set, which reports it. */
void bmap_reserve(struct daxfs *fs, struct daxfs_dinode *di, uint64_t first, uint64_t last);

/* The most index blocks that giving a file n more data blocks in one range
 * can take, wherever the range starts and whatever the map held before:
 * what statfs sets aside so that what it reports as available is. */
uint64_t bmap_index_blocks_worst(uint64_t n);

/* Blocks removed from a map, to be retired by the caller. */
struct block_list {
	uint64_t *blk;
	size_t n, cap;
};
void block_list_free(struct block_list *l);

/* Clears every pointer for file blocks [first, last] (last may be UINT64_MAX)
 * and collects the data blocks into data and the index blocks left empty
 * into index.  Returns -ENOMEM only if the lists cannot grow (the map is then
 * partly cleared, and every cleared block is in the lists). */
int bmap_remove(struct daxfs *fs, struct daxfs_dinode *di, uint64_t first, uint64_t last,
		struct block_list *data, struct block_list *index);

/* Calls fn for every data block of the map in index order; fn returns
 * non-zero to stop.  Validates pointers against the pool: returns -EUCLEAN
 * on one out of range. */
int bmap_walk(struct daxfs *fs, const struct daxfs_dinode *di,
	      int (*fn)(void *ctx, uint64_t index, uint64_t blk, bool is_index), void *ctx);

/* First index >= from that has a block (data = true) or is a hole, capped at
 * limit. */
uint64_t bmap_seek(struct daxfs *fs, const struct daxfs_dinode *di, uint64_t from, uint64_t limit,
		   bool data);

#endif
