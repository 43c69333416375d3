/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer and liburcu, for daxfs-stress --pool.
 *
 * liburcu is not built with TSan, so the ordering its grace periods give is
 * invisible to it, and every reuse of memory retired through RCU (an index
 * block freed after synchronize_rcu and reallocated, a node freed by
 * call_rcu) would be reported as a race.  The core calls liburcu's
 * out-of-line entry points, so they are interposed here and the edges RCU
 * guarantees are declared to TSan:
 *
 *   - what a reader did up to rcu_read_unlock happens before whatever
 *     follows a synchronize_rcu that returns after that unlock;
 *   - what the caller of call_rcu did happens before the callback, and
 *     callbacks happen before rcu_barrier returns.
 *
 * No edge is added for references held outside read-side sections, which
 * is what the removal protocol's wait must order: a block freed while a
 * reader still holds it is still reported.  DAXFS_TSAN_RCU_MODEL=0 turns
 * the model off, to see the raw reports.  Without TSan this file is empty.
 */
#if defined(__SANITIZE_THREAD__)
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
const char *__tsan_default_suppressions(void);

static char gp_sync, barrier_sync;
static bool model_on;
static void (*real_read_unlock)(void);
static void (*real_synchronize_rcu)(void);
static void (*real_barrier)(void);
static void (*real_call_rcu)(struct rcu_head *, void (*)(struct rcu_head *));

/* TSan asks for its suppressions before it is initialised: this must
 * neither be instrumented nor call an intercepted libc function. */
__attribute__((no_sanitize_thread)) static bool model_wanted(void)
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

/* What liburcu allocates and frees in its own worker threads is its own
 * business. */
__attribute__((no_sanitize_thread)) const char *__tsan_default_suppressions(void)
{
	return model_wanted() ? "called_from_lib:liburcu.so\n"
				"called_from_lib:liburcu-cds.so\n"
			      : "";
}

static void *real_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		fprintf(stderr, "daxfs-stress: cannot find liburcu's %s\n", name);
		abort();
	}
	return p;
}

/* Before main and any thread, so the pointers are read-only afterwards. */
__attribute__((constructor)) static void model_init(void)
{
	model_on = model_wanted();
	real_read_unlock = (void (*)(void))real_symbol("urcu_memb_read_unlock");
	real_synchronize_rcu = (void (*)(void))real_symbol("urcu_memb_synchronize_rcu");
	real_barrier = (void (*)(void))real_symbol("urcu_memb_barrier");
	real_call_rcu = (void (*)(struct rcu_head *, void (*)(struct rcu_head *)))real_symbol(
	    "urcu_memb_call_rcu");
}

void urcu_memb_read_unlock(void)
{
	if (model_on)
		__tsan_release(&gp_sync);
	real_read_unlock();
}

void urcu_memb_synchronize_rcu(void)
{
	real_synchronize_rcu();
	if (model_on)
		__tsan_acquire(&gp_sync);
}

void urcu_memb_barrier(void)
{
	real_barrier();
	if (model_on)
		__tsan_acquire(&barrier_sync);
}

/* Callbacks in flight, so that the trampoline finds the real one; the
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
	for (struct pending_cb **pp = &pending; *pp; pp = &(*pp)->next)
		if ((*pp)->head == head) {
			struct pending_cb *c = *pp;
			*pp = c->next;
			func = c->func;
			free(c);
			break;
		}
	pthread_mutex_unlock(&pending_lock);
	if (!func)
		abort();
	__tsan_acquire(&gp_sync);
	func(head);
	__tsan_release(&barrier_sync);
}

void urcu_memb_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	if (!model_on) {
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
