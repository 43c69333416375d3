/* SPDX-License-Identifier: MIT */
#include "layout_break.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "block_map.h"

static void break_layouts(struct daxfs *fs, struct inode_mem *im, uint64_t first, uint64_t last,
			  unsigned flags)
{
	pins_recall_range(fs, im->ino, first, last);
	if (!(flags & LAYOUT_INVAL) || !fs->opts.inval_range)
		return;
	uint64_t off = first * DAXFS_BLOCK_SIZE;
	uint64_t len = last == UINT64_MAX ? 0 : (last - first + 1) * DAXFS_BLOCK_SIZE;
	fs->opts.inval_range(fs->opts.inval_ctx, im->ino, off, len);
}

/* Step 2.  Once pfn_untrack has returned, no new reference can be taken
 * on these blocks in their present life: try-get needs TRACKED, and a reader
 * that found a pointer before the untrack either fails its try-get or, if
 * the block has meanwhile been freed and tracked again for another file,
 * fails its re-check of the map and puts.  So a block that is idle now can
 * be freed at once, without a grace period. */
static int untrack(struct daxfs *fs, struct inode_mem *im, uint64_t first, uint64_t last,
		   struct block_list *data, struct block_list *index)
{
	struct pfn_table *t = fs_pfns(fs);
	int rc = bmap_remove(fs, im->di, first, last, data, index);

	for (size_t i = 0; i < data->n; i++)
		pfn_untrack(t, data->blk[i] - fs->alloc.data_start);
	uint64_t gone = data->n + index->n;
	if (gone)
		pool_store8(&fs->pool, &im->di->blocks,
			    im->di->blocks > gone ? im->di->blocks - gone : 0);
	return rc;
}

/* Index blocks are walked lock-free by bmap_lookup (and bmap_walk) under
 * rcu_read_lock, without references: they go back to the allocator only
 * after a grace period, from liburcu's call_rcu thread, so that no remover
 * ever waits for one.  On media they are freed at once (the removal is
 * complete and durable when it replies); the allocator keeps them reserved
 * until the callback.  They were never TRACKED: ALLOCATED → FREE. */
struct index_retire {
	struct rcu_head rcu;
	struct daxfs *fs;
	size_t n;
	uint64_t *blk;
};

static void free_index_blocks(struct daxfs *fs, const uint64_t *blk, size_t n)
{
	rcu_read_lock(); /* for fs_pfns */
	for (size_t i = 0; i < n; i++) {
		/* An illegal transition leaves the block reserved: lost until
		 * the next mount, never handed out twice. */
		if (pfn_transition(fs_pfns(fs), blk[i] - fs->alloc.data_start, PFN_ALLOCATED,
				   PFN_FREE, 0, 0) == 0)
			block_alloc_unreserve(&fs->alloc, blk[i]);
		atomic_fetch_sub(&fs->index_pending, 1);
	}
	rcu_read_unlock();
}

static void index_retire_cb(struct rcu_head *head)
{
	struct index_retire *r = caa_container_of(head, struct index_retire, rcu);

	free_index_blocks(r->fs, r->blk, r->n);
	free(r->blk);
	free(r);
}

/* Takes over index->blk. */
static void retire_index(struct daxfs *fs, struct block_list *index)
{
	struct index_retire *r;

	if (!index->n)
		return;
	atomic_fetch_add(&fs->index_pending, index->n);
	block_alloc_put_reserved(&fs->alloc, index->blk, index->n);
	r = malloc(sizeof(*r));
	if (!r) {
		synchronize_rcu();
		free_index_blocks(fs, index->blk, index->n);
		return;
	}
	r->fs = fs;
	r->n = index->n;
	r->blk = index->blk;
	index->blk = NULL;
	index->n = index->cap = 0;
	call_rcu(&r->rcu, index_retire_cb);
}

static void free_untracked(struct daxfs *fs, uint64_t blk)
{
	if (pfn_transition(fs_pfns(fs), blk - fs->alloc.data_start, PFN_UNTRACKED, PFN_FREE, 0,
			   0) == 0)
		block_alloc_put(&fs->alloc, blk);
}

/* Idle UNTRACKED blocks made FREE in the table, to be given back to the
 * allocator together. */
struct free_batch {
	uint64_t blk[64];
	size_t n;
};

static void free_batch_flush(struct daxfs *fs, struct free_batch *b)
{
	block_alloc_put_many(&fs->alloc, b->blk, b->n);
	b->n = 0;
}

static void free_untracked_batched(struct daxfs *fs, struct free_batch *b, uint64_t blk)
{
	if (pfn_transition(fs_pfns(fs), blk - fs->alloc.data_start, PFN_UNTRACKED, PFN_FREE, 0,
			   0))
		return;
	b->blk[b->n++] = blk;
	if (b->n == sizeof(b->blk) / sizeof(b->blk[0]))
		free_batch_flush(fs, b);
}

static void defer(struct daxfs *fs, uint64_t blk)
{
	uint64_t pfn = blk - fs->alloc.data_start;

	pthread_mutex_lock(&fs->deferred_lock);
	if (fs->ndeferred == fs->deferred_cap) {
		size_t cap = fs->deferred_cap ? fs->deferred_cap * 2 : 64;
		uint64_t *n = realloc(fs->deferred, cap * sizeof(*n));
		if (n) {
			fs->deferred = n;
			fs->deferred_cap = cap;
		}
	}
	/* If the list cannot grow, the block is still handed to its last put;
	 * only the retry backstop loses sight of it. */
	if (fs->ndeferred < fs->deferred_cap)
		fs->deferred[fs->ndeferred++] = pfn;
	pthread_mutex_unlock(&fs->deferred_lock);
	if (!pfn_defer(fs_pfns(fs), pfn))
		free_untracked(fs, blk);
}

static __thread const _Atomic bool *cancel_flag;

void daxfs_set_cancel_flag(const _Atomic bool *flag)
{
	cancel_flag = flag;
}

const _Atomic bool *daxfs_cancel_flag(void)
{
	return cancel_flag;
}

void daxfs_cancel_wakeup(struct daxfs *fs)
{
	pfn_wake_all(&fs->pfns);
}

static void deadline_after(struct timespec *ts, unsigned sec)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += sec;
}

/* Step 4.  Locking: im->lock is held exclusive on entry and on return; it is
 * dropped around every sleep, because the blocks are no longer reachable
 * through the inode and other operations on it may proceed meanwhile. */
static void wait_and_free(struct daxfs *fs, struct inode_mem *im, struct block_list *data,
			  unsigned flags)
{
	struct pfn_table *t = fs_pfns(fs);
	unsigned timeout = fs->opts.break_timeout_sec ? fs->opts.break_timeout_sec : 30;
	bool deferred_mode = fs->opts.layout_wait == DAXFS_LAYOUT_WAIT_DEFERRED;
	struct timespec deadline;
	struct free_batch fb;
	bool timed_out = false;

	fb.n = 0;
	deadline_after(&deadline, timeout);
	for (size_t i = 0; i < data->n; i++) {
		uint64_t blk = data->blk[i], pfn = blk - fs->alloc.data_start;
		if (!pfn_word_idle(atomic_load(&t->entries[pfn].word))) {
			if (!(flags & LAYOUT_FINAL) && (deferred_mode || timed_out)) {
				defer(fs, blk);
				continue;
			}
			free_batch_flush(fs, &fb); /* before sleeping */
			pthread_rwlock_unlock(&im->lock);
			int rc = (flags & LAYOUT_FINAL)
					 ? pfn_wait_idle(t, pfn, NULL, NULL)
					 : pfn_wait_idle(t, pfn, &deadline, cancel_flag);
			pthread_rwlock_wrlock(&im->lock);
			if (rc) {
				/* Timed out or interrupted: the rest is deferred
				 * without waiting. */
				timed_out = true;
				defer(fs, blk);
				continue;
			}
		}
		free_untracked_batched(fs, &fb, blk);
	}
	free_batch_flush(fs, &fb);
}

int layout_remove(struct daxfs *fs, struct inode_mem *im, uint64_t first, uint64_t last,
		  unsigned flags)
{
	struct block_list data = { 0 }, index = { 0 };
	int rc;

	break_layouts(fs, im, first, last, flags);
	rc = untrack(fs, im, first, last, &data, &index);
	retire_index(fs, &index);
	wait_and_free(fs, im, &data, flags);
	block_list_free(&data);
	block_list_free(&index);
	return rc;
}

void layout_retire(struct daxfs *fs, uint64_t blk)
{
	if (pfn_word_idle(pfn_untrack(fs_pfns(fs), blk - fs->alloc.data_start)))
		free_untracked(fs, blk);
	else
		defer(fs, blk);
}

int deferred_init(struct daxfs *fs)
{
	pthread_mutex_init(&fs->deferred_lock, NULL);
	fs->deferred = NULL;
	fs->ndeferred = fs->deferred_cap = 0;
	return 0;
}

void deferred_destroy(struct daxfs *fs)
{
	pthread_mutex_destroy(&fs->deferred_lock);
	free(fs->deferred);
	fs->deferred = NULL;
}

uint64_t deferred_length(struct daxfs *fs)
{
	pthread_mutex_lock(&fs->deferred_lock);
	uint64_t n = fs->ndeferred;
	pthread_mutex_unlock(&fs->deferred_lock);
	return n;
}

/* Drops entries that are free now; frees idle ones whose put was missed. */
void deferred_retry(struct daxfs *fs)
{
	struct pfn_table *t = fs_pfns(fs);

	pthread_mutex_lock(&fs->deferred_lock);
	for (size_t i = 0; i < fs->ndeferred;) {
		uint64_t pfn = fs->deferred[i];
		uint64_t w = atomic_load(&t->entries[pfn].word);
		if (pfn_word_state(w) == PFN_UNTRACKED && pfn_word_idle(w))
			pfn_became_idle(t, pfn, w);
		w = atomic_load(&t->entries[pfn].word);
		if (pfn_word_state(w) != PFN_UNTRACKED)
			fs->deferred[i] = fs->deferred[--fs->ndeferred];
		else
			i++;
	}
	pthread_mutex_unlock(&fs->deferred_lock);
}

uint64_t deferred_drain(struct daxfs *fs, double *seconds)
{
	struct pfn_table *t = fs_pfns(fs);
	struct timespec a, b;
	uint64_t waited = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (;;) {
		deferred_retry(fs);
		pthread_mutex_lock(&fs->deferred_lock);
		uint64_t pfn = fs->ndeferred ? fs->deferred[0] : UINT64_MAX;
		pthread_mutex_unlock(&fs->deferred_lock);
		if (pfn == UINT64_MAX)
			break;
		waited++;
		pfn_wait_idle(t, pfn, NULL, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	*seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	return waited;
}
