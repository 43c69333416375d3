/* SPDX-License-Identifier: MIT */
/*
 * Why deferring the msync to the fence keeps the crash argument of
 * docs/format.md §13 intact: the crash model (and the pmem it stands for)
 * promises only that what a thread flushed before its fence is durable once
 * the fence returns, and that anything flushed since the last fence, or
 * stored and not flushed at all, may or may not be durable at a crash.  A
 * flush here makes nothing durable, which is within "may or may not" (the
 * kernel may still write the page back early, as a CPU may evict a line);
 * the fence returns only after msync(MS_SYNC) of every range the thread
 * flushed since its previous fence has returned, so everything before the
 * fence is durable before any store after it is even issued.  The undo
 * log's ordering is a chain of such fences, each in the thread that made the
 * stores, so it is unchanged.  Joining ranges, or one thread's msync
 * covering another's pages, only makes more durable earlier.
 */
#include "msync_group.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flush_ranges.h"

struct msync_group {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct flush_ranges queued; /* fenced by waiting threads, not yet synced */
	uint64_t queued_seq;	    /* tickets handed to fencing threads */
	uint64_t done_seq;	    /* every ticket up to this one is durable */
	int busy;		    /* a leader is in msync */
	int fd;			    /* the pool file, or -1 */
	_Atomic bool no_zero_range; /* the filesystem said it cannot */
};

/* What this thread flushed since its last fence, and into which group.  The
 * set holds plain addresses, so ranges of a group that is gone are written
 * back without touching it (msync of an unmapped range fails harmlessly). */
static __thread struct {
	const struct msync_group *owner;
	struct flush_ranges set;
} pending;

static void sync_ranges(const struct flush_ranges *s)
{
	for (unsigned i = 0; i < s->n; i++)
		msync((void *)s->r[i].lo, s->r[i].hi - s->r[i].lo, MS_SYNC);
}

/* A fence of one run of pages is one msync of it.  Each msync(MS_SYNC) of
 * a range ends with a flush of the disk's write cache, so a fence of
 * several runs (an operation's data, inode, map and bitmap are apart) is
 * instead one fdatasync of the pool file: it writes back every dirty page
 * of the file, the runs and any page another thread stored to and has not
 * fenced yet (which may be durable early, see above), and flushes the
 * cache once.  Without the file, every run is its own msync. */
static void sync_group_ranges(const struct msync_group *g, const struct flush_ranges *s)
{
	if (s->n > 1 && g->fd >= 0 && fdatasync(g->fd) == 0)
		return;
	sync_ranges(s);
}

struct msync_group *msync_group_new(int fd)
{
	struct msync_group *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0 && g->fd < 0) {
		free(g);
		return NULL;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->done, NULL);
	flush_ranges_init(&g->queued, (uintptr_t)sysconf(_SC_PAGESIZE));
	return g;
}

void msync_group_free(struct msync_group *g)
{
	if (!g)
		return;
	if (g->fd >= 0)
		close(g->fd);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void msync_group_flush(struct msync_group *g, const void *addr, size_t len)
{
	if (pending.owner != g) {
		if (!pending.set.granule)
			flush_ranges_init(&pending.set, (uintptr_t)sysconf(_SC_PAGESIZE));
		sync_ranges(&pending.set);
		flush_ranges_clear(&pending.set);
		pending.owner = g;
	}
	flush_ranges_add(&pending.set, (uintptr_t)addr, len);
}

/* Takes everything queued so far and writes it back, the lock dropped
 * meanwhile so that the next fences can queue behind it.
 * Locking: g->lock held on entry and on return. */
static void lead_sync(struct msync_group *g)
{
	struct flush_ranges batch = g->queued;
	uint64_t upto = g->queued_seq;

	flush_ranges_clear(&g->queued);
	g->busy = 1;
	pthread_mutex_unlock(&g->lock);
	sync_group_ranges(g, &batch);
	pthread_mutex_lock(&g->lock);
	g->busy = 0;
	g->done_seq = upto;
	pthread_cond_broadcast(&g->done);
}

void msync_group_drain(struct msync_group *g)
{
	if (pending.owner != g || !pending.set.n)
		return;
	pthread_mutex_lock(&g->lock);
	flush_ranges_merge(&g->queued, &pending.set);
	flush_ranges_clear(&pending.set);
	uint64_t ticket = ++g->queued_seq;
	while (g->done_seq < ticket) {
		if (g->busy)
			pthread_cond_wait(&g->done, &g->lock);
		else
			lead_sync(g);
	}
	pthread_mutex_unlock(&g->lock);
}

bool msync_group_zero(struct msync_group *g, uint64_t off, uint64_t len)
{
	if (g->fd < 0 || g->no_zero_range)
		return false;
	if (fallocate(g->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
	    0)
		return true;
	/* The filesystem cannot (tmpfs): never again on this pool. */
	if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
		g->no_zero_range = true;
	return false;
}
