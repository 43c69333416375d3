/* SPDX-License-Identifier: MIT */
#include "block_alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WORDS_PER_GROUP 512 /* 32768 blocks, 128 MiB */

static uint64_t nwords_of(const struct block_alloc *ba)
{
	return (ba->nblocks + 63) / 64;
}

/* Bits past the last data block are zero on media; the scan treats them as
 * set so that it never returns them. */
static uint64_t tail_mask(const struct block_alloc *ba)
{
	unsigned used = ba->nblocks % 64;

	return used ? ~0ULL << used : 0;
}

static uint64_t count_free(const struct block_alloc *ba)
{
	uint64_t n = 0, nw = nwords_of(ba);

	for (uint64_t w = 0; w < nw; w++) {
		uint64_t v = ba->bitmap[w];
		if (w == nw - 1)
			v |= tail_mask(ba);
		n += 64 - (uint64_t)__builtin_popcountll(v);
	}
	return n;
}

int block_alloc_init(struct block_alloc *ba, struct pool *pool)
{
	const struct daxfs_super *sb = pool_super(pool);
	uint64_t nw;

	ba->pool = pool;
	ba->bitmap = pool_block(pool, sb->bitmap_start);
	ba->data_start = sb->data_start;
	ba->nblocks = sb->data_blocks;
	nw = nwords_of(ba);
	ba->ngroups = (unsigned)((nw + WORDS_PER_GROUP - 1) / WORDS_PER_GROUP);
	ba->groups = calloc(ba->ngroups, sizeof(*ba->groups));
	ba->reserved = calloc(nw, sizeof(*ba->reserved));
	if (!ba->groups || !ba->reserved) {
		free(ba->groups);
		free(ba->reserved);
		ba->groups = NULL;
		ba->reserved = NULL;
		return -ENOMEM;
	}
	for (unsigned g = 0; g < ba->ngroups; g++) {
		struct alloc_group *grp = &ba->groups[g];
		pthread_mutex_init(&grp->lock, NULL);
		grp->first_word = (uint64_t)g * WORDS_PER_GROUP;
		grp->nwords = nw - grp->first_word < WORDS_PER_GROUP ? nw - grp->first_word
								       : WORDS_PER_GROUP;
	}
	atomic_store(&ba->nfree, count_free(ba));
	return 0;
}

void block_alloc_destroy(struct block_alloc *ba)
{
	for (unsigned g = 0; g < ba->ngroups; g++)
		pthread_mutex_destroy(&ba->groups[g].lock);
	free(ba->groups);
	ba->groups = NULL;
	free(ba->reserved);
	ba->reserved = NULL;
}

/* Takes up to want free bits of the group, a bitmap word at a time; each
 * word touched is flushed once, the caller drains. */
static unsigned group_get_many(struct block_alloc *ba, struct alloc_group *grp, uint64_t *out,
			       unsigned want)
{
	uint64_t last = nwords_of(ba) - 1;
	unsigned got = 0;

	pthread_mutex_lock(&grp->lock);
	uint64_t start = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
	for (uint64_t i = 0; i < grp->nwords && got < want; i++) {
		uint64_t w = grp->first_word + (start + i) % grp->nwords;
		/* Acquire: a bit seen cleared by block_alloc_put_reserved is
		 * seen reserved too. */
		uint64_t v = __atomic_load_n(&ba->bitmap[w], __ATOMIC_ACQUIRE) |
			     __atomic_load_n(&ba->reserved[w], __ATOMIC_ACQUIRE);
		if (w == last)
			v |= tail_mask(ba);
		if (v == ~0ULL)
			continue;
		uint64_t mask = 0;
		while (v != ~0ULL && got < want) {
			unsigned bit = (unsigned)__builtin_ctzll(~v);
			v |= 1ULL << bit;
			mask |= 1ULL << bit;
			out[got++] = ba->data_start + w * 64 + bit;
		}
		__atomic_fetch_or(&ba->bitmap[w], mask, __ATOMIC_RELAXED);
		pool_flush(ba->pool, &ba->bitmap[w], 8);
		atomic_store_explicit(&grp->cursor, w - grp->first_word, memory_order_relaxed);
	}
	pthread_mutex_unlock(&grp->lock);
	return got;
}

/* A free in word w moves its group's cursor back to w if w is lower. */
static void cursor_back(struct block_alloc *ba, uint64_t w)
{
	struct alloc_group *grp = &ba->groups[w / WORDS_PER_GROUP];
	uint64_t rel = w - grp->first_word;
	uint64_t cur = atomic_load_explicit(&grp->cursor, memory_order_relaxed);

	while (rel < cur && !atomic_compare_exchange_weak_explicit(&grp->cursor, &cur, rel,
								    memory_order_relaxed,
								    memory_order_relaxed))
		;
}

static unsigned home_group(const struct block_alloc *ba)
{
	static _Atomic unsigned next;
	static __thread unsigned home = ~0u;

	if (home == ~0u)
		home = atomic_fetch_add(&next, 1);
	return home % ba->ngroups;
}

int block_alloc_get_many_nodrain(struct block_alloc *ba, uint64_t *out, unsigned n)
{
	uint64_t avail = atomic_load(&ba->nfree), take;

	do {
		if (avail == 0)
			return -ENOSPC;
		take = avail < n ? avail : n;
	} while (!atomic_compare_exchange_weak(&ba->nfree, &avail, avail - take));

	/* The count taken guarantees the bits exist somewhere, but another
	 * thread may take them first in the group we look at: keep scanning. */
	unsigned g0 = home_group(ba), got = 0;
	for (;;) {
		for (unsigned i = 0; i < ba->ngroups && got < take; i++)
			got += group_get_many(ba, &ba->groups[(g0 + i) % ba->ngroups], out + got,
					      (unsigned)take - got);
		if (got == take)
			break;
	}
	return (int)got;
}

int block_alloc_get_many(struct block_alloc *ba, uint64_t *out, unsigned n)
{
	int got = block_alloc_get_many_nodrain(ba, out, n);

	if (got > 0)
		pool_drain(ba->pool);
	return got;
}

int block_alloc_get(struct block_alloc *ba, uint64_t *blk)
{
	int rc = block_alloc_get_many(ba, blk, 1);

	return rc < 0 ? rc : 0;
}

void block_alloc_put(struct block_alloc *ba, uint64_t blk)
{
	uint64_t i = blk - ba->data_start;

	__atomic_fetch_and(&ba->bitmap[i / 64], ~(1ULL << (i % 64)), __ATOMIC_RELEASE);
	pool_persist(ba->pool, &ba->bitmap[i / 64], 8);
	atomic_fetch_add(&ba->nfree, 1);
	cursor_back(ba, i / 64);
}

void block_alloc_put_many(struct block_alloc *ba, const uint64_t *blks, size_t n)
{
	uint64_t *last = NULL;

	for (size_t k = 0; k < n; k++) {
		uint64_t i = blks[k] - ba->data_start;
		uint64_t *w = &ba->bitmap[i / 64];
		__atomic_fetch_and(w, ~(1ULL << (i % 64)), __ATOMIC_RELEASE);
		/* Blocks of one file often share a bitmap word: flush it once. */
		if (w != last && last)
			pool_flush(ba->pool, last, 8);
		if (w != last)
			cursor_back(ba, i / 64);
		last = w;
	}
	if (last) {
		pool_flush(ba->pool, last, 8);
		pool_drain(ba->pool);
	}
	atomic_fetch_add(&ba->nfree, n);
}

void block_alloc_put_reserved(struct block_alloc *ba, const uint64_t *blks, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t i = blks[k] - ba->data_start;
		/* Reserved first, so that no scan ever sees the block free. */
		__atomic_fetch_or(&ba->reserved[i / 64], 1ULL << (i % 64), __ATOMIC_RELAXED);
		__atomic_fetch_and(&ba->bitmap[i / 64], ~(1ULL << (i % 64)), __ATOMIC_RELEASE);
		pool_flush(ba->pool, &ba->bitmap[i / 64], 8);
	}
	if (n)
		pool_drain(ba->pool);
}

void block_alloc_unreserve(struct block_alloc *ba, uint64_t blk)
{
	uint64_t i = blk - ba->data_start;

	__atomic_fetch_and(&ba->reserved[i / 64], ~(1ULL << (i % 64)), __ATOMIC_RELEASE);
	atomic_fetch_add(&ba->nfree, 1);
	cursor_back(ba, i / 64);
}

bool block_alloc_test(const struct block_alloc *ba, uint64_t blk)
{
	uint64_t i = blk - ba->data_start;

	return __atomic_load_n(&ba->bitmap[i / 64], __ATOMIC_RELAXED) & (1ULL << (i % 64));
}

uint64_t block_alloc_replace(struct block_alloc *ba, const uint64_t *bits)
{
	uint64_t changed = 0, nw = nwords_of(ba);

	for (uint64_t w = 0; w < nw; w++) {
		uint64_t want = bits[w];
		if (w == nw - 1)
			want &= ~tail_mask(ba);
		if (ba->bitmap[w] == want)
			continue;
		changed += (uint64_t)__builtin_popcountll(ba->bitmap[w] ^ want);
		ba->bitmap[w] = want;
		pool_flush(ba->pool, &ba->bitmap[w], 8);
	}
	pool_drain(ba->pool);
	atomic_store(&ba->nfree, count_free(ba));
	return changed;
}
