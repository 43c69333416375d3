/* SPDX-License-Identifier: MIT */
#include "undo_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slot_base(struct pool *pool, unsigned slot)
{
	const struct daxfs_super *sb = pool_super(pool);

	return pool_block(pool, sb->log_start + (uint64_t)slot * sb->log_slot_blocks);
}

void undo_log_init(struct undo_log *log, struct pool *pool)
{
	const struct daxfs_super *sb = pool_super(pool);

	log->pool = pool;
	log->nslots = sb->log_slots;
	log->slot_bytes = sb->log_slot_blocks * DAXFS_BLOCK_SIZE;
	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->cond, NULL);
	log->free_mask = log->nslots == 64 ? ~0ULL : (1ULL << log->nslots) - 1;
}

void undo_log_destroy(struct undo_log *log)
{
	pthread_mutex_destroy(&log->lock);
	pthread_cond_destroy(&log->cond);
}

static uint64_t entry_bytes(uint32_t len)
{
	return sizeof(struct daxfs_log_entry) + (((uint64_t)len + 7) & ~7ULL);
}

/* Entries are applied newest first so that a range logged twice ends with
 * its oldest contents. */
static int rollback_slot(struct pool *pool, char *base, uint64_t slot_bytes)
{
	struct daxfs_log_header *h = (void *)base;
	uint64_t n = h->nentries, off = sizeof(*h);

	/* The count is read from the pool: no more entries fit in a slot than
	 * bare headers. */
	if (n > (slot_bytes - sizeof(*h)) / sizeof(struct daxfs_log_entry))
		return -EUCLEAN;
	struct daxfs_log_entry **ents = calloc(n, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		struct daxfs_log_entry *e = (void *)(base + off);
		/* Written so that a damaged offset cannot wrap the bound. */
		if (off + sizeof(*e) > slot_bytes || off + entry_bytes(e->len) > slot_bytes ||
		    e->offset > pool->size || e->len > pool->size - e->offset ||
		    e->offset < DAXFS_STATE_BLOCK * (uint64_t)DAXFS_BLOCK_SIZE) {
			free(ents);
			return -EUCLEAN;
		}
		ents[i] = e;
		off += entry_bytes(e->len);
	}
	for (uint64_t i = n; i-- > 0;) {
		memcpy(pool->base + ents[i]->offset, ents[i] + 1, ents[i]->len);
		pool_flush(pool, pool->base + ents[i]->offset, ents[i]->len);
	}
	pool_drain(pool);
	free(ents);
	pool_store8(pool, &h->nentries, 0);
	return 1;
}

int undo_log_recover(struct pool *pool)
{
	const struct daxfs_super *sb = pool_super(pool);
	int rolled = 0;

	for (unsigned s = 0; s < sb->log_slots; s++) {
		char *base = slot_base(pool, s);
		struct daxfs_log_header *h = (void *)base;

		if (h->magic != DAXFS_LOG_MAGIC) {
			/* A slot never used since mkfs, or damaged: start it afresh. */
			if (h->magic != 0 && h->nentries != 0)
				return -EUCLEAN;
			continue;
		}
		if (h->nentries == 0)
			continue;
		if (pool->read_only)
			return -EROFS;
		int rc = rollback_slot(pool, base, sb->log_slot_blocks * DAXFS_BLOCK_SIZE);
		if (rc < 0)
			return rc;
		rolled += rc;
	}
	return rolled;
}

void tx_begin(struct undo_log *log, struct tx *tx)
{
	pthread_mutex_lock(&log->lock);
	while (!log->free_mask)
		pthread_cond_wait(&log->cond, &log->lock);
	tx->slot = (unsigned)__builtin_ctzll(log->free_mask);
	log->free_mask &= ~(1ULL << tx->slot);
	pthread_mutex_unlock(&log->lock);

	tx->log = log;
	tx->base = slot_base(log->pool, tx->slot);
	tx->used = 0;
	tx->nentries = 0;
	tx->nranges = 0;
	tx->held = NULL;
	struct daxfs_log_header *h = (void *)tx->base;
	if (h->magic != DAXFS_LOG_MAGIC) {
		h->nentries = 0;
		pool_persist(log->pool, &h->nentries, 8);
		pool_store8(log->pool, &h->magic, DAXFS_LOG_MAGIC);
	}
}

static int already_logged(const struct tx *tx, const char *addr, uint32_t len)
{
	for (int i = 0; i < tx->nranges; i++)
		if (addr >= tx->ranges[i].addr &&
		    addr + len <= tx->ranges[i].addr + tx->ranges[i].len)
			return 1;
	return 0;
}

void tx_add(struct tx *tx, void *addr, uint32_t len)
{
	struct pool *pool = tx->log->pool;
	struct daxfs_log_header *h = (void *)tx->base;

	if (already_logged(tx, addr, len))
		return;
	/* Running out of log space or ranges is a bug in the caller's sizing
	 * of an operation, never a consequence of client input. */
	if (tx->nranges == TX_MAX_RANGES ||
	    sizeof(*h) + tx->used + entry_bytes(len) > tx->log->slot_bytes) {
		fprintf(stderr, "daxfs: undo log slot overflow (%d ranges)\n", tx->nranges);
		abort();
	}
	struct daxfs_log_entry *e = (void *)(tx->base + sizeof(*h) + tx->used);
	e->offset = pool_offset(pool, addr);
	e->len = len;
	e->pad = 0;
	memcpy(e + 1, addr, len);
	pool_persist(pool, e, entry_bytes(len));
	tx->used += entry_bytes(len);
	pool_store8(pool, &h->nentries, ++tx->nentries);
	tx->ranges[tx->nranges].addr = addr;
	tx->ranges[tx->nranges].len = len;
	tx->nranges++;
}

void tx_hold(struct tx *tx, pthread_mutex_t *m)
{
	if (tx->held == m)
		return;
	pthread_mutex_lock(m);
	tx->held = m;
}

static void release_slot(struct tx *tx)
{
	if (tx->held)
		pthread_mutex_unlock(tx->held);
	pthread_mutex_lock(&tx->log->lock);
	tx->log->free_mask |= 1ULL << tx->slot;
	pthread_cond_signal(&tx->log->cond);
	pthread_mutex_unlock(&tx->log->lock);
}

void tx_abort(struct tx *tx)
{
	if (tx->nentries)
		rollback_slot(tx->log->pool, tx->base, tx->log->slot_bytes);
	release_slot(tx);
}

void tx_commit(struct tx *tx)
{
	struct pool *pool = tx->log->pool;
	struct daxfs_log_header *h = (void *)tx->base;

	if (tx->nentries) {
		for (int i = 0; i < tx->nranges; i++)
			pool_flush(pool, tx->ranges[i].addr, tx->ranges[i].len);
		pool_drain(pool);
		pool_store8(pool, &h->nentries, 0);
	}
	release_slot(tx);
}
