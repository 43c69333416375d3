/* SPDX-License-Identifier: MIT */
/*
 * The one protocol every path that removes blocks from a file goes through
 * (truncate, punch hole, zero range, eviction, unmount):
 *
 *   1. break layouts: recall pins on the range (their holders are told)
 *      and drop what caches it (kernel page cache);
 *   2. untrack: clear the range from the block map (persistently) and move
 *      its pfns to UNTRACKED, so no new reference can be taken;
 *   3. grace period, only for what readers use without a reference: the
 *      index blocks the removal emptied, which bmap_lookup walks lock-free,
 *      are freed on media at once but stay reserved in the allocator until
 *      call_rcu's callback, after a grace period; nobody waits for it;
 *   4. wait until references and pins of the data blocks are zero
 *      (sleeping, woken by the last put), dropping the inode lock while
 *      asleep; a block idle when it was untracked needs no wait;
 *   5. free the blocks.
 *
 * Untracking comes before the wait because references are taken without
 * any lock: waiting for idle while still tracked would let a new reference
 * slip in between the wait and the free.  State and counts share one atomic
 * word (pfn_table.h), so an untrack that finds the block idle freezes it
 * there: try-get needs TRACKED, and a reader that found the pointer before
 * the untrack either fails its try-get or, if the block has been freed and
 * tracked again for another file meanwhile, fails the re-check of the map
 * and puts.  That is why data blocks need no grace period (see
 * tests/model/).  Directory and symlink blocks are read under the inode
 * lock, which the remover holds, not under RCU alone.
 */
#ifndef DAXFS_LAYOUT_BREAK_H
#define DAXFS_LAYOUT_BREAK_H

#include "super.h"

/* No no-wait variant is needed: the one operation that holds two inode
 * locks while it removes a file's blocks, rename over a file, evicts the
 * replaced inode only after it has dropped every lock. */
#define LAYOUT_FINAL 0x2u /* eviction/unmount: wait without timeout */
#define LAYOUT_INVAL 0x4u /* the kernel still caches the range: invalidate it */

/* Removes file blocks [first, last] (last = UINT64_MAX: to the end).
 * Locking: the caller holds im->lock exclusive; it is dropped and retaken
 * while waiting, so the caller must revalidate anything it read before. */
int layout_remove(struct daxfs *fs, struct inode_mem *im, uint64_t first, uint64_t last,
		  unsigned flags);

/* Retires one block that a copy-on-write has already replaced in its map:
 * untrack, then free it or, busy, leave it to its last user.  Never sleeps
 * on the block. */
void layout_retire(struct daxfs *fs, uint64_t blk);

/* The interrupt flag of the calling thread's request (NULL: none), as
 * daxfs_set_cancel_flag set it. */
const _Atomic bool *daxfs_cancel_flag(void);

/* Deferred queue: busy blocks whose remover did not wait for them. */
int deferred_init(struct daxfs *fs);
void deferred_destroy(struct daxfs *fs);
uint64_t deferred_length(struct daxfs *fs);
/* Frees entries whose last put was missed; the retry timer calls this. */
void deferred_retry(struct daxfs *fs);
/* Waits for every deferred block (unmount); returns how many it waited on. */
uint64_t deferred_drain(struct daxfs *fs, double *seconds);

#endif
