/* SPDX-License-Identifier: MIT */
/*
 * Linked into the in-process tests and daxfs-stress, never into the
 * daemon: under ThreadSanitizer it teaches TSan the ordering that liburcu
 * provides (see below); in other builds it is empty.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu.h>

#ifdef __SANITIZE_THREAD__
/*
 * liburcu is not built with TSan, so the ordering that its grace periods
 * and callbacks provide is invisible to it, and every reuse of memory
 * retired through RCU (an index block or a directory node freed by
 * call_rcu and reallocated) is reported as a race.
 * The core calls liburcu's out-of-line entry points, so we interpose them
 * here and tell TSan about the edges RCU guarantees:
 *
 *   - what a reader did up to rcu_read_unlock happens before whatever
 *     follows a synchronize_rcu that returns after that unlock;
 *   - what the caller of call_rcu did happens before the callback, which
 *     runs after a grace period; callbacks happen before rcu_barrier
 *     returns.
 *
 * This adds no edge for what a reader does with its references after its
 * unlock, which is what the removal protocol's wait must order: a reader
 * that reads a held block after the remover's grace period (the common
 * case here: readers sleep while holding) is still raced against if the
 * protocol frees the block without waiting for it.  (A reader's later
 * unlock does order everything before it; that can only hide a race the
 * reader had already finished with.)  The allocations liburcu and
 * liburcu-cds make and free inside their own worker threads are their
 * business: they are suppressed with called_from_lib.
 * DAXFS_TSAN_RCU_MODEL=0 turns all of this off to show the raw reports.
 */
#include <dlfcn.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
const char *__tsan_default_suppressions(void);

static char rcu_gp_sync, rcu_barrier_sync;
static bool rcu_model;
static void (*real_read_unlock)(void);
static void (*real_synchronize_rcu)(void);
static void (*real_rcu_barrier)(void);
static void (*real_call_rcu)(struct rcu_head *, void (*)(struct rcu_head *));

/* Called by TSan before it is initialised: neither instrumented nor
 * calling into intercepted libc. */
__attribute__((no_sanitize_thread)) static bool rcu_model_wanted(void)
{
	extern char **environ;
	static const char off[] = "DAXFS_TSAN_RCU_MODEL=0";

	for (char **e = environ; e && *e; e++) {
		size_t i = 0;
		while (off[i] && (*e)[i] == off[i])
			i++;
		if (!off[i] && !(*e)[i])
			return false;
	}
	return true;
}

__attribute__((no_sanitize_thread)) const char *__tsan_default_suppressions(void)
{
	return rcu_model_wanted() ? "called_from_lib:liburcu.so\n"
				    "called_from_lib:liburcu-cds.so\n"
				  : "";
}

static void *real_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		fprintf(stderr, "cannot find liburcu's %s\n", name);
		abort();
	}
	return p;
}

/* Before main, so before any thread: the pointers are then read-only. */
__attribute__((constructor)) static void rcu_model_init(void)
{
	rcu_model = rcu_model_wanted();
	real_read_unlock = (void (*)(void))real_symbol("urcu_memb_read_unlock");
	real_synchronize_rcu = (void (*)(void))real_symbol("urcu_memb_synchronize_rcu");
	real_rcu_barrier = (void (*)(void))real_symbol("urcu_memb_barrier");
	real_call_rcu = (void (*)(struct rcu_head *, void (*)(struct rcu_head *)))real_symbol(
		"urcu_memb_call_rcu");
}

void urcu_memb_read_unlock(void)
{
	if (rcu_model)
		__tsan_release(&rcu_gp_sync);
	real_read_unlock();
}

void urcu_memb_synchronize_rcu(void)
{
	real_synchronize_rcu();
	if (rcu_model)
		__tsan_acquire(&rcu_gp_sync);
}

void urcu_memb_barrier(void)
{
	real_rcu_barrier();
	if (rcu_model)
		__tsan_acquire(&rcu_barrier_sync);
}

/* Pending callbacks, so that the trampoline can find the real one; the
 * mutex also orders the caller before the callback. */
struct pending_cb {
	struct rcu_head *head;
	void (*func)(struct rcu_head *);
	struct pending_cb *next;
};
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending_cb *pending;

static void call_rcu_trampoline(struct rcu_head *head)
{
	void (*func)(struct rcu_head *) = NULL;

	pthread_mutex_lock(&pending_lock);
	for (struct pending_cb **pp = &pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->head == head) {
			struct pending_cb *c = *pp;
			*pp = c->next;
			func = c->func;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&pending_lock);
	if (!func)
		abort();
	__tsan_acquire(&rcu_gp_sync);
	func(head);
	__tsan_release(&rcu_barrier_sync);
}

void urcu_memb_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	if (!rcu_model) {
		real_call_rcu(head, func);
		return;
	}
	struct pending_cb *c = malloc(sizeof(*c));
	if (!c)
		abort();
	c->head = head;
	c->func = func;
	pthread_mutex_lock(&pending_lock);
	c->next = pending;
	pending = c;
	pthread_mutex_unlock(&pending_lock);
	real_call_rcu(head, call_rcu_trampoline);
}
#endif

#ifndef __SANITIZE_THREAD__
/* Nothing to teach TSan in this build. */
typedef int tsan_rcu_model_unused;
#endif
