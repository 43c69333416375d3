/* SPDX-License-Identifier: MIT */
/*
 * Block allocator over the pool's allocation bitmap.  The data area is cut
 * into groups, each with its own lock and cursor, and a thread starts in the
 * group its id hashes to: concurrent writers rarely meet on a lock.
 *
 * Ordering that keeps the bitmap safe without logging it: a bit is set and
 * persisted before the block is published in a block map, and cleared only
 * after the block has left every map.  A crash can leave a block marked used
 * that nothing references (recovered at mount), never the reverse.
 *
 * A block can also be free on media but reserved in DRAM: an index block
 * that has left its map durably but that lock-free readers may still walk
 * until a grace period has passed.  The scan treats it as used until it is
 * unreserved, so a crash leaves nothing to recover and a reader never finds
 * it reused.
 */
#ifndef DAXFS_BLOCK_ALLOC_H
#define DAXFS_BLOCK_ALLOC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "pool.h"

struct alloc_group {
	pthread_mutex_t lock;
	uint64_t first_word, nwords;
	/* Where the next scan starts: the last word allocated from, moved
	 * back by frees to a lower word, so that freed blocks are reused
	 * first (their pages are mapped and their lines likely cached). */
	_Atomic uint64_t cursor;
	char pad[64];
};

struct block_alloc {
	struct pool *pool;
	uint64_t *bitmap; /* in the pool */
	uint64_t *reserved; /* DRAM: free on media, not to be handed out yet */
	uint64_t data_start, nblocks;
	unsigned ngroups;
	struct alloc_group *groups;
	_Atomic uint64_t nfree;
};

int block_alloc_init(struct block_alloc *ba, struct pool *pool);
void block_alloc_destroy(struct block_alloc *ba);
/* Returns 0 and an absolute block number, or -ENOSPC. */
int block_alloc_get(struct block_alloc *ba, uint64_t *blk);
/* Takes between 1 and n blocks with one fence; returns how many, or
 * -ENOSPC. */
int block_alloc_get_many(struct block_alloc *ba, uint64_t *out, unsigned n);
/* The same with the bits flushed, not fenced: for a caller whose own next
 * fence comes before the blocks are published anywhere (their data or
 * zeros are fenced first), so that the bits share that fence. */
int block_alloc_get_many_nodrain(struct block_alloc *ba, uint64_t *out, unsigned n);
void block_alloc_put(struct block_alloc *ba, uint64_t blk);
/* Frees n blocks with one fence (and one flush per run of blocks in the
 * same bitmap word). */
void block_alloc_put_many(struct block_alloc *ba, const uint64_t *blks, size_t n);
/* Frees n blocks on media (flushed, one fence) but keeps them from being
 * handed out until block_alloc_unreserve; nfree counts them only then. */
void block_alloc_put_reserved(struct block_alloc *ba, const uint64_t *blks, size_t n);
void block_alloc_unreserve(struct block_alloc *ba, uint64_t blk);
bool block_alloc_test(const struct block_alloc *ba, uint64_t blk);
/* Replaces the bitmap with a rebuilt one (recovery); returns how many bits
 * changed. */
uint64_t block_alloc_replace(struct block_alloc *ba, const uint64_t *bits);

static inline bool block_is_data(const struct block_alloc *ba, uint64_t blk)
{
	return blk >= ba->data_start && blk - ba->data_start < ba->nblocks;
}

#endif
