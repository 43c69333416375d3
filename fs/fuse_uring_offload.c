/* SPDX-License-Identifier: MIT */
/* Worker threads for the ring requests that may sleep: see
 * fuse_uring_offload.h. */
#include "fuse_uring_offload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

/* As many as the classic loop may run (daxfs_main.c): a sleeping request
 * holds one, and the request that wakes it may need another. */
#define OFFLOAD_MAX_WORKERS 64u

struct job {
	struct job *next;
	void *arg;
};

struct offload {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *head, *tail;
	void (*run)(void *job);
	pthread_t threads[OFFLOAD_MAX_WORKERS];
	/* queued: jobs not taken yet.  Each needs a worker of its own, for
	 * the one that takes it may sleep for as long as break_timeout. */
	unsigned nthreads, idle, queued;
	bool stopping;
};

static struct offload pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

/*
 * The opcodes whose handlers can sleep on another request:
 * - SETATTR with a size and FALLOCATE (punching) remove blocks, waiting for
 *   pinned ones (up to break_timeout) until their holders unpin or close;
 * - WRITE and COPY_FILE_RANGE sleep on STABLE pins with stable_writes=wait;
 * - IOCTL: an UNPIN waits until the page-cache invalidations of the pin
 *   reached the kernel, and one may wait there on a page lock held by a
 *   read whose request is queued behind the UNPIN.
 * UNLINK, RMDIR, RENAME and RELEASE stay on the ring: the final removal of
 * an inode they may trigger happens only once no handle is open, so no pin
 * is left on its blocks, and it waits only for the references of reads in
 * flight, which end without waiting on anything.  Everything else only
 * takes locks that no sleeper holds while it sleeps (a removal drops the
 * inode's lock around every wait).
 */
bool uring_offload_wanted(const struct fuse_in_header *in, const void *op_in,
			  bool stable_writes_wait)
{
	switch (in->opcode) {
	case FUSE_SETATTR:
		return ((const struct fuse_setattr_in *)op_in)->valid & FATTR_SIZE;
	case FUSE_FALLOCATE:
	case FUSE_IOCTL:
		return true;
	case FUSE_WRITE:
	case FUSE_COPY_FILE_RANGE:
		return stable_writes_wait;
	default:
		return false;
	}
}

/* Locking: pool.lock held. */
static struct job *take_job(void)
{
	struct job *j = pool.head;

	if (j) {
		pool.queued--;
		pool.head = j->next;
		if (!pool.head)
			pool.tail = NULL;
	}
	return j;
}

static void *worker(void *unused)
{
	(void)unused;
	pthread_setname_np(pthread_self(), "daxfs-offload");
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct job *j = take_job();
		if (!j) {
			if (pool.stopping)
				break;
			pool.idle++;
			pthread_cond_wait(&pool.wake, &pool.lock);
			pool.idle--;
			continue;
		}
		pthread_mutex_unlock(&pool.lock);
		void *arg = j->arg;
		free(j);
		pool.run(arg);
		pthread_mutex_lock(&pool.lock);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* Locking: pool.lock held.  The stop signals stay with the session loop's
 * thread, as for every other thread of the daemon. */
static void add_worker(void)
{
	sigset_t all, old;

	if (pool.nthreads == OFFLOAD_MAX_WORKERS)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&pool.threads[pool.nthreads], NULL, worker, NULL) == 0)
		pool.nthreads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int uring_offload_start(void (*run)(void *job))
{
	pthread_mutex_lock(&pool.lock);
	pool.run = run;
	pool.stopping = false;
	add_worker();
	int rc = pool.nthreads ? 0 : -EAGAIN;
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

/* A job that finds no idle worker of its own starts one: the busy ones may
 * all be asleep on the request this job is.  An idle worker that was
 * signalled but has not woken yet still counts as idle, so the jobs queued
 * meanwhile are counted against the idle workers, not one per signal. */
void uring_offload_queue(void *arg)
{
	struct job *j = malloc(sizeof(*j));

	pthread_mutex_lock(&pool.lock);
	if (!j) {
		/* Out of memory: run it here rather than lose a request. */
		pthread_mutex_unlock(&pool.lock);
		pool.run(arg);
		return;
	}
	j->arg = arg;
	j->next = NULL;
	if (pool.tail)
		pool.tail->next = j;
	else
		pool.head = j;
	pool.tail = j;
	if (++pool.queued > pool.idle)
		add_worker();
	pthread_cond_signal(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
}

void uring_offload_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.wake);
	unsigned n = pool.nthreads;
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(pool.threads[i], NULL);
	pthread_mutex_lock(&pool.lock);
	pool.nthreads = 0;
	pthread_mutex_unlock(&pool.lock);
}
