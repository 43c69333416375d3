/* SPDX-License-Identifier: MIT */
/*
 * The per-pfn state table: one DRAM entry per data block of the pool, for
 * the block → pfn → page lifecycle
 *
 *   FREE → ALLOCATED → TRACKED (busy ⇄ idle) → UNTRACKED → FREE
 *
 * State, long-term pins and short-term references share one atomic word, so
 * that "try-get only while TRACKED" and "untrack only while idle" are single
 * compare-and-swaps (the kernel's page_ref_freeze idea).  An UNTRACKED entry
 * keeps its counts until the block is free: the table never loses track of a
 * busy block.  The table is reached through an RCU-protected pointer so it
 * can be replaced (pool growth) while lock-free readers run.
 */
#ifndef DAXFS_PFN_TABLE_H
#define DAXFS_PFN_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum pfn_state {
	PFN_FREE = 0,
	PFN_ALLOCATED = 1,
	PFN_TRACKED = 2,
	PFN_UNTRACKED = 3,
};

/* word layout: state 60..62 | deferred 63 | pins 48..59 | gen 32..47 | refs 0..31 */
#define PFN_STATE_SHIFT 60
#define PFN_DEFERRED (1ULL << 63)
#define PFN_PINS_SHIFT 48
#define PFN_PINS_MAX 0xfffULL
#define PFN_GEN_SHIFT 32
#define PFN_REFS_MASK 0xffffffffULL

struct pfn_entry {
	_Atomic uint64_t word;
	_Atomic uint64_t owner; /* ino << 32 | file block index, while tracked */
};

struct pfn_stats {
	_Atomic uint64_t illegal_transitions;
	_Atomic uint64_t gets, get_failures;
	_Atomic uint64_t waits, wait_ns_total, wait_ns_max;
	_Atomic uint64_t wait_hist[8]; /* <1us <10us <100us <1ms <10ms <100ms <1s >=1s */
	_Atomic uint64_t deferred, deferred_freed;
};

/* The wait queue the last put wakes.  Puts only touch it for UNTRACKED
 * entries, so the busy ⇄ idle hot path never takes its lock. */
struct pfn_waitq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct pfn_table;

/* What outlives any one table: the counters, the wait queue, and how a
 * deferred block is given back to the allocator. */
struct pfn_domain {
	struct pfn_table *table; /* RCU-protected: rcu_dereference it */
	struct pfn_stats stats;
	struct pfn_waitq wq;
	void (*free_block)(void *ctx, uint64_t pfn);
	void *free_ctx;
};

struct pfn_table {
	struct pfn_domain *dom;
	uint64_t nentries;
	uint64_t first_block; /* pool block number of pfn 0 */
	struct pfn_entry entries[];
};

static inline enum pfn_state pfn_word_state(uint64_t w)
{
	return (enum pfn_state)((w >> PFN_STATE_SHIFT) & 7);
}
static inline uint32_t pfn_word_refs(uint64_t w)
{
	return (uint32_t)(w & PFN_REFS_MASK);
}
static inline uint32_t pfn_word_pins(uint64_t w)
{
	return (uint32_t)((w >> PFN_PINS_SHIFT) & PFN_PINS_MAX);
}
static inline bool pfn_word_idle(uint64_t w)
{
	return pfn_word_refs(w) == 0 && pfn_word_pins(w) == 0;
}

void pfn_domain_init(struct pfn_domain *dom, void (*free_block)(void *, uint64_t), void *ctx);
void pfn_domain_destroy(struct pfn_domain *dom);
struct pfn_table *pfn_table_new(struct pfn_domain *dom, uint64_t nentries, uint64_t first_block);
const char *pfn_state_name(enum pfn_state s);
bool pfn_transition_legal(enum pfn_state from, enum pfn_state to);

/* The one function every state change goes through.  It checks that the
 * transition is legal and that the entry is in state `from` (and, for the
 * transitions that end tracking, idle unless allow_busy); an illegal change
 * is counted, logged, refused (-EINVAL), and aborts in debug builds.
 * owner (pfn_owner()) and the low 16 bits of the inode generation are
 * recorded when entering TRACKED. */
int pfn_transition(struct pfn_table *t, uint64_t pfn, enum pfn_state from, enum pfn_state to,
		   uint64_t owner, uint32_t gen);
static inline uint64_t pfn_owner(uint64_t ino, uint64_t index)
{
	return ino << 32 | (index & 0xffffffffULL);
}

/* Untrack: TRACKED → UNTRACKED whatever the counts.  Returns the word after
 * the change, so the caller knows whether the block was idle at that
 * instant (then no new reference can ever appear: try-get needs TRACKED). */
uint64_t pfn_untrack(struct pfn_table *t, uint64_t pfn);

/* Sleeps until the UNTRACKED entry is idle, the deadline passes (NULL: no
 * deadline) or *cancel is set (NULL: never).  Returns 0, -ETIMEDOUT or
 * -EINTR. */
int pfn_wait_idle(struct pfn_table *t, uint64_t pfn, const struct timespec *deadline,
		  const _Atomic bool *cancel);
/* Wakes every waiter, to look at its cancel flag. */
void pfn_wake_all(struct pfn_domain *dom);

/* Hands a busy UNTRACKED entry to its last put, which frees it.  Returns
 * false if it was already idle: then the caller frees it. */
bool pfn_defer(struct pfn_table *t, uint64_t pfn);

/* Short-term reference: succeeds only while TRACKED. */
static inline bool pfn_tryget(struct pfn_table *t, uint64_t pfn)
{
	struct pfn_entry *e = &t->entries[pfn];
	uint64_t w = atomic_load_explicit(&e->word, memory_order_relaxed);

	do {
		if (pfn_word_state(w) != PFN_TRACKED || pfn_word_refs(w) == PFN_REFS_MASK)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&e->word, &w, w + 1, memory_order_acquire,
							memory_order_relaxed));
	return true;
}

/* Called when a put or unpin leaves an UNTRACKED entry idle. */
void pfn_became_idle(struct pfn_table *t, uint64_t pfn, uint64_t word);

static inline void pfn_put(struct pfn_table *t, uint64_t pfn)
{
	uint64_t w = atomic_fetch_sub_explicit(&t->entries[pfn].word, 1, memory_order_release) - 1;

	if (__builtin_expect(pfn_word_state(w) == PFN_UNTRACKED, 0) && pfn_word_idle(w))
		pfn_became_idle(t, pfn, w);
}

/* Long-term pins (DMA-style users).  pin fails with -EAGAIN unless TRACKED
 * and -EMLINK when the per-block pin count is exhausted. */
int pfn_pin(struct pfn_table *t, uint64_t pfn);
void pfn_unpin(struct pfn_table *t, uint64_t pfn);

#endif
