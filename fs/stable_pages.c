/* SPDX-License-Identifier: MIT */
#include "stable_pages.h"

#include <errno.h>

#include "block_map.h"
#include "layout_break.h"

static int bounce(struct daxfs *fs, struct inode_mem *im, uint64_t index, uint64_t *blk)
{
	struct pfn_table *t = fs_pfns(fs);
	uint64_t old = *blk, copy;
	int rc = fs_block_alloc(fs, &copy);

	if (rc)
		return rc;
	pool_memcpy_persist(&fs->pool, pool_block(&fs->pool, copy), pool_block(&fs->pool, old),
			    DAXFS_BLOCK_SIZE);
	/* Tracked (and referenced) before a reader can find it in the map. */
	uint64_t cpfn = copy - fs->alloc.data_start;
	pfn_transition(t, cpfn, PFN_ALLOCATED, PFN_TRACKED, pfn_owner(im->ino, index),
		       im->di->generation);
	pfn_tryget(t, cpfn); /* tracked and ours under the inode lock: cannot fail */
	/* The leaf slot exists already: replacing it allocates nothing. */
	bmap_set(fs, im->di, index, copy);
	/* The map must point at the copy durably before the old block can be
	 * freed and reused. */
	pool_drain(&fs->pool);
	pfn_put(t, old - fs->alloc.data_start);
	layout_retire(fs, old);
	atomic_fetch_add(&fs->pinreg.bounces, 1);
	*blk = copy;
	return 0;
}

int stable_before_change(struct daxfs *fs, struct inode_mem *im, uint64_t index, uint64_t *blk,
			 bool *waited)
{
	struct pfn_table *t = fs_pfns(fs);
	uint64_t pfn = *blk - fs->alloc.data_start;

	if (pfn_word_pins(atomic_load(&t->entries[pfn].word)) == 0 ||
	    !pins_block_stable(&fs->pinreg, pfn))
		return 0;
	/* Waiting is bounded: once it timed out or was interrupted, the
	 * change goes copy-on-write, as in the default mode, so that a holder
	 * that never unpins cannot hold the request (and the worker thread
	 * serving it) forever. */
	if (!fs->opts.stable_writes_wait || *waited)
		return bounce(fs, im, index, blk);
	pfn_put(t, pfn);
	pthread_rwlock_unlock(&im->lock);
	if (pins_wait_unstable(fs, im->ino, index, pfn))
		*waited = true;
	pthread_rwlock_wrlock(&im->lock);
	return -EAGAIN;
}
