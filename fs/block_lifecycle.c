/* SPDX-License-Identifier: MIT */
/* The allocator's side of the pfn lifecycle: block free ⇄ block allocated. */
#include <errno.h>

#include "super.h"

int fs_block_alloc(struct daxfs *fs, uint64_t *blk)
{
	int rc = block_alloc_get(&fs->alloc, blk);

	/* Index blocks still in their grace period are free space too: wait
	 * for them rather than fail.  Never called inside rcu_read_lock. */
	if (rc == -ENOSPC && atomic_load(&fs->index_pending)) {
		rcu_barrier();
		rc = block_alloc_get(&fs->alloc, blk);
	}
	if (rc)
		return rc;
	rc = pfn_transition(fs_pfns(fs), *blk - fs->alloc.data_start, PFN_FREE, PFN_ALLOCATED, 0,
			    0);
	if (rc) {
		/* The bitmap and the table disagree: leave the block marked
		 * used (it is reclaimed at the next mount) rather than hand
		 * out a block someone may still own. */
		return -EIO;
	}
	return 0;
}

void fs_block_free_allocated(struct daxfs *fs, uint64_t blk)
{
	if (pfn_transition(fs_pfns(fs), blk - fs->alloc.data_start, PFN_ALLOCATED, PFN_FREE, 0,
			   0) == 0)
		block_alloc_put(&fs->alloc, blk);
}

int fs_block_alloc_many(struct daxfs *fs, uint64_t *out, unsigned n)
{
	int got = block_alloc_get_many_nodrain(&fs->alloc, out, n);

	if (got == -ENOSPC && atomic_load(&fs->index_pending)) {
		rcu_barrier();
		got = block_alloc_get_many_nodrain(&fs->alloc, out, n);
	}
	if (got < 0)
		return got;
	unsigned kept = 0;
	for (int i = 0; i < got; i++)
		if (pfn_transition(fs_pfns(fs), out[i] - fs->alloc.data_start, PFN_FREE,
				   PFN_ALLOCATED, 0, 0) == 0)
			out[kept++] = out[i]; /* else left marked used, as above */
	return kept ? (int)kept : -EIO;
}
