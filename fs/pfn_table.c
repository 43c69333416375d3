/* SPDX-License-Identifier: MIT */
#include "pfn_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void pfn_domain_init(struct pfn_domain *dom, void (*free_block)(void *, uint64_t), void *ctx)
{
	dom->table = NULL;
	pthread_mutex_init(&dom->wq.lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&dom->wq.cond, &ca);
	pthread_condattr_destroy(&ca);
	dom->free_block = free_block;
	dom->free_ctx = ctx;
}

void pfn_domain_destroy(struct pfn_domain *dom)
{
	pthread_mutex_destroy(&dom->wq.lock);
	pthread_cond_destroy(&dom->wq.cond);
}

struct pfn_table *pfn_table_new(struct pfn_domain *dom, uint64_t nentries, uint64_t first_block)
{
	struct pfn_table *t = calloc(1, sizeof(*t) + nentries * sizeof(struct pfn_entry));

	if (!t)
		return NULL;
	t->dom = dom;
	t->nentries = nentries;
	t->first_block = first_block;
	return t;
}

const char *pfn_state_name(enum pfn_state s)
{
	static const char *const names[] = { "free", "allocated", "tracked", "untracked" };

	return (unsigned)s < 4 ? names[s] : "invalid";
}

bool pfn_transition_legal(enum pfn_state from, enum pfn_state to)
{
	switch (from) {
	case PFN_FREE:
		return to == PFN_ALLOCATED;
	case PFN_ALLOCATED:
		/* back to FREE: a block allocated for a write that then failed,
		 * or an index block of a block map */
		return to == PFN_TRACKED || to == PFN_FREE;
	case PFN_TRACKED:
		return to == PFN_UNTRACKED;
	case PFN_UNTRACKED:
		return to == PFN_FREE;
	}
	return false;
}

static int illegal(struct pfn_table *t, uint64_t pfn, uint64_t w, enum pfn_state from,
		   enum pfn_state to)
{
	atomic_fetch_add(&t->dom->stats.illegal_transitions, 1);
	fprintf(stderr,
		"daxfs: illegal pfn transition %s -> %s on pfn %llu (now %s, refs %u, pins %u)\n",
		pfn_state_name(from), pfn_state_name(to), (unsigned long long)pfn,
		pfn_state_name(pfn_word_state(w)), pfn_word_refs(w), pfn_word_pins(w));
#ifdef DAXFS_DEBUG
	abort();
#endif
	return -EINVAL;
}

static uint64_t with_state(uint64_t w, enum pfn_state s)
{
	return (w & ~(7ULL << PFN_STATE_SHIFT)) | ((uint64_t)s << PFN_STATE_SHIFT);
}

int pfn_transition(struct pfn_table *t, uint64_t pfn, enum pfn_state from, enum pfn_state to,
		   uint64_t owner, uint32_t gen)
{
	if (pfn >= t->nentries)
		return illegal(t, pfn, 0, from, to);

	struct pfn_entry *e = &t->entries[pfn];
	uint64_t w = atomic_load(&e->word), nw;

	if (!pfn_transition_legal(from, to))
		return illegal(t, pfn, w, from, to);
	do {
		if (pfn_word_state(w) != from)
			return illegal(t, pfn, w, from, to);
		/* Only UNTRACKED → FREE and ALLOCATED → * may require idleness;
		 * a free block with references would be a use after free. */
		if (to == PFN_FREE && !pfn_word_idle(w))
			return illegal(t, pfn, w, from, to);
		nw = to == PFN_FREE ? 0 : with_state(w, to);
		if (to == PFN_TRACKED) {
			nw &= ~(0xffffULL << PFN_GEN_SHIFT);
			nw |= (uint64_t)(gen & 0xffff) << PFN_GEN_SHIFT;
			atomic_store_explicit(&e->owner, owner, memory_order_relaxed);
		}
	} while (!atomic_compare_exchange_weak(&e->word, &w, nw));
	return 0;
}

uint64_t pfn_untrack(struct pfn_table *t, uint64_t pfn)
{
	struct pfn_entry *e = &t->entries[pfn];
	uint64_t w = atomic_load(&e->word), nw;

	do {
		if (pfn_word_state(w) != PFN_TRACKED) {
			illegal(t, pfn, w, PFN_TRACKED, PFN_UNTRACKED);
			return w;
		}
		nw = with_state(w, PFN_UNTRACKED);
	} while (!atomic_compare_exchange_weak(&e->word, &w, nw));
	return nw;
}

static void record_wait(struct pfn_stats *st, uint64_t ns)
{
	unsigned b = 0;

	for (uint64_t lim = 1000; b < 7 && ns >= lim; lim *= 10)
		b++;
	atomic_fetch_add(&st->wait_hist[b], 1);
	atomic_fetch_add(&st->waits, 1);
	atomic_fetch_add(&st->wait_ns_total, ns);
	uint64_t max = atomic_load(&st->wait_ns_max);
	while (ns > max && !atomic_compare_exchange_weak(&st->wait_ns_max, &max, ns))
		;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int pfn_wait_idle(struct pfn_table *t, uint64_t pfn, const struct timespec *deadline,
		  const _Atomic bool *cancel)
{
	struct pfn_waitq *wq = &t->dom->wq;
	struct pfn_entry *e = &t->entries[pfn];
	uint64_t start = now_ns();
	int rc = 0;

	if (pfn_word_idle(atomic_load(&e->word)))
		return 0;
	/* The last put broadcasts under wq->lock after its decrement, so a
	 * check made under the lock cannot miss it. */
	pthread_mutex_lock(&wq->lock);
	while (!pfn_word_idle(atomic_load(&e->word))) {
		if (cancel && atomic_load(cancel)) {
			rc = -EINTR;
			break;
		}
		if (!deadline) {
			pthread_cond_wait(&wq->cond, &wq->lock);
		} else if (pthread_cond_timedwait(&wq->cond, &wq->lock, deadline) == ETIMEDOUT &&
			   !pfn_word_idle(atomic_load(&e->word))) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&wq->lock);
	record_wait(&t->dom->stats, now_ns() - start);
	return rc;
}

void pfn_wake_all(struct pfn_domain *dom)
{
	pthread_mutex_lock(&dom->wq.lock);
	pthread_cond_broadcast(&dom->wq.cond);
	pthread_mutex_unlock(&dom->wq.lock);
}

bool pfn_defer(struct pfn_table *t, uint64_t pfn)
{
	struct pfn_entry *e = &t->entries[pfn];
	uint64_t w = atomic_load(&e->word);

	do {
		if (pfn_word_idle(w))
			return false;
	} while (!atomic_compare_exchange_weak(&e->word, &w, w | PFN_DEFERRED));
	atomic_fetch_add(&t->dom->stats.deferred, 1);
	return true;
}

void pfn_became_idle(struct pfn_table *t, uint64_t pfn, uint64_t w)
{
	struct pfn_domain *dom = t->dom;

	/* Only one put can see the idle word and win this exchange. */
	if ((w & PFN_DEFERRED) && atomic_compare_exchange_strong(&t->entries[pfn].word, &w, 0)) {
		atomic_fetch_add(&dom->stats.deferred_freed, 1);
		dom->free_block(dom->free_ctx, pfn);
	}
	pthread_mutex_lock(&dom->wq.lock);
	pthread_cond_broadcast(&dom->wq.cond);
	pthread_mutex_unlock(&dom->wq.lock);
}

int pfn_pin(struct pfn_table *t, uint64_t pfn)
{
	struct pfn_entry *e = &t->entries[pfn];
	uint64_t w = atomic_load(&e->word);

	do {
		if (pfn_word_state(w) != PFN_TRACKED)
			return -EAGAIN;
		if (pfn_word_pins(w) == PFN_PINS_MAX)
			return -EMLINK;
	} while (!atomic_compare_exchange_weak(&e->word, &w, w + (1ULL << PFN_PINS_SHIFT)));
	return 0;
}

void pfn_unpin(struct pfn_table *t, uint64_t pfn)
{
	uint64_t w = atomic_fetch_sub(&t->entries[pfn].word, 1ULL << PFN_PINS_SHIFT) -
		     (1ULL << PFN_PINS_SHIFT);

	if (pfn_word_state(w) == PFN_UNTRACKED && pfn_word_idle(w))
		pfn_became_idle(t, pfn, w);
}
