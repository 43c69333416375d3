/* SPDX-License-Identifier: MIT */
/*
 * daxfs-stress: truncates, punches and unlinks racing DMA-style pins.
 *
 * K device threads (dma_engine.c) pin random ranges of random files, WRITE
 * or READ|STABLE, and move tagged data in and out of the pinned blocks by
 * address for a while; M mutator threads truncate, punch holes, extend,
 * rewrite, unlink and re-create the files (in a nearly full pool, so freed
 * blocks are handed out again at once); R readers read the files through
 * the filesystem.  Oracles, continuously and at the end:
 *
 *   - no block is freed or reallocated while pinned: no file ever shows
 *     another file's tags (readers, devices at pin and unpin time), what a
 *     device wrote is still in its pinned blocks when it completes, newly
 *     allocated or extended ranges read as zeros, and the filesystem's own
 *     count of illegal pfn transitions stays 0;
 *   - a stable pin's content at unpin time is what it was at pin time;
 *   - with layout_wait=sync, a truncate or punch never returns before the
 *     pins that held blocks of its range were released, unless the break
 *     timeout passed (pin release times against removal return times);
 *   - no deadlock: a watchdog fails the run when nothing completes for 20 s;
 *   - no leak: once every file is gone and every pin dropped, the free
 *     block count is back to where it started and nothing is deferred.
 *
 * Every change the mutators make is block-aligned, so no block is ever
 * zeroed in place (a truncate or punch removes whole blocks): a zero word
 * in a block a device wrote under its pin is a block taken from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mixed_pins.h"
#include "stress.h"

#define BS		       ((uint64_t)DMA_BLOCK)
#define WATCHDOG_MIN_NS	       (20 * 1000000000ull)
#define MAX_PRINTED_VIOLATIONS 20
#define SYNC_MARGIN_NS	       10000000ull /* clock granularity around the break timeout */

enum thread_kind { MUTATOR, READER };

struct worker {
	struct stress *s;
	enum thread_kind kind;
	unsigned id;
	pthread_t thread;
	uint64_t rng;
	_Atomic(const char *) state;
	uint64_t *buf; /* max_file_blocks blocks, aligned for O_DIRECT */
};

/* Counters of the mutators and readers. */
static _Atomic uint64_t n_truncates, n_punches, n_extends, n_rewrites, n_recreates, n_reads,
    n_enospc;
static _Atomic uint64_t n_torn_read_words;

/* Truncate durations, for the distribution. */
static pthread_mutex_t waits_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *trunc_ns;
static size_t ntrunc, trunc_cap;

static struct stress S;
static struct worker workers[STRESS_MAX_THREADS];
static unsigned nworkers;

/* ---- Reporting ------------------------------------------------------------------ */

void stress_violation(struct stress *s, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&s->violations, 1) >= MAX_PRINTED_VIOLATIONS)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "daxfs-stress: VIOLATION: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

void stress_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "daxfs-stress: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void engine_violation(void *ctx, const char *msg)
{
	stress_violation(ctx, "%s", msg);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* ---- Pin records: what the truncate-wait oracle knows ---------------------------- */

static bool overlaps(uint64_t first, uint64_t n, uint64_t lo, uint64_t hi)
{
	return first <= hi && first + n - 1 >= lo;
}

static void rec_put(struct pin_rec *r)
{
	if (--r->refs == 0)
		free(r);
}

static void rec_unlink(struct slot *sl, struct pin_rec *r)
{
	for (struct pin_rec **pp = &sl->pins; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			r->linked = false;
			return;
		}
}

struct removal_watch {
	struct pin_rec **recs;
	unsigned n;
	uint64_t t0;
};

/* Locking: sl->lock.  The pins whose blocks a removal of file blocks
 * [lo, hi] must wait for: on the current file, in place before it starts,
 * not already let go by an earlier removal or a copy-on-write. */
static void watch_removal(struct slot *sl, uint64_t lo, uint64_t hi, struct removal_watch *w)
{
	unsigned cap = 0;

	w->n = 0;
	w->recs = NULL;
	w->t0 = dma_now_ns();
	for (struct pin_rec *r = sl->pins; r; r = r->next)
		cap++;
	if (!cap || !(w->recs = calloc(cap, sizeof(*w->recs))))
		return;
	for (struct pin_rec *r = sl->pins; r; r = r->next)
		if (r->uid == sl->uid && !r->stale && r->t_pinned < w->t0 &&
		    overlaps(r->first, r->nblocks, lo, hi)) {
			r->refs++;
			w->recs[w->n++] = r;
		}
}

/* Locking: sl->lock.  Pins on [lo, hi] made up to now no longer hold blocks
 * of the file, or may not: later removals do not wait for them. */
static void mark_stale(struct slot *sl, uint64_t lo, uint64_t hi)
{
	for (struct pin_rec *r = sl->pins; r; r = r->next)
		if (r->uid == sl->uid && overlaps(r->first, r->nblocks, lo, hi))
			r->stale = true;
}

/* Locking: sl->lock.  With layout_wait=sync, a removal that returned before
 * the break timeout must have waited for every pin it watched. */
static void check_removal(struct stress *s, struct slot *sl, struct removal_watch *w, uint64_t t1,
			  const char *what, bool succeeded)
{
	uint64_t timeout = (uint64_t)s->o.break_timeout * 1000000000ull;
	bool timed_out = t1 - w->t0 + SYNC_MARGIN_NS >= timeout;
	bool check = succeeded && s->o.layout_wait == DAXFS_LAYOUT_WAIT_SYNC && !timed_out;

	for (unsigned i = 0; i < w->n; i++) {
		struct pin_rec *r = w->recs[i];
		bool held = r->t_unpin == 0 || r->t_unpin > t1;
		if (check && held)
			stress_violation(s,
					 "%s of %s (file %u) returned after %.3f ms while %s pin "
					 "%llu on blocks [%llu, %llu], pinned %.3f ms before it "
					 "started, was still held",
					 what, sl->name, sl->uid, ms(t1 - w->t0),
					 dma_dir_name(r->dir), (unsigned long long)r->pin_id,
					 (unsigned long long)r->first,
					 (unsigned long long)(r->first + r->nblocks - 1),
					 ms(w->t0 - r->t_pinned));
		rec_put(r);
	}
	free(w->recs);
	w->recs = NULL;
}

static void record_truncate_wait(uint64_t ns)
{
	pthread_mutex_lock(&waits_lock);
	if (ntrunc == trunc_cap) {
		size_t cap = trunc_cap ? trunc_cap * 2 : 4096;
		uint64_t *n = realloc(trunc_ns, cap * sizeof(*n));
		if (n) {
			trunc_ns = n;
			trunc_cap = cap;
		}
	}
	if (ntrunc < trunc_cap)
		trunc_ns[ntrunc++] = ns;
	pthread_mutex_unlock(&waits_lock);
}

/* ---- Checking content -------------------------------------------------------------- */

/* Readers' check of n blocks read from file block first: zeros or this
 * file's tags only. */
static void check_read(struct stress *s, const char *who, const char *name, uint32_t uid,
		       const uint64_t *buf, uint64_t first, uint64_t n)
{
	struct dma_scan sc;

	for (uint64_t b = 0; b < n; b++) {
		dma_scan_block(buf + b * DMA_WORDS, uid, (uint32_t)(first + b), &sc);
		atomic_fetch_add(&n_torn_read_words, sc.torn);
		if (sc.foreign || sc.garbage)
			stress_violation(s,
					 "%s read %s (file %u) block %llu: %u foreign and %u "
					 "garbage words, first %#llx at word %u",
					 who, name, uid, (unsigned long long)(first + b),
					 sc.foreign, sc.garbage, (unsigned long long)sc.first_bad,
					 sc.first_bad_word);
	}
}

/* New blocks must read as zeros: [first, first+n) of a file just extended
 * or created; only the blocks in eligible (none of them could have been
 * written by a device since) are checked. */
static void check_zeros(struct stress *s, struct worker *w, struct slot *sl, uint32_t uid,
			uint64_t first, uint64_t n, const bool *eligible)
{
	ssize_t got = s->be->read(s, sl, w->buf, n * BS, first * BS);

	if (got < 0) {
		stress_violation(s, "reading back %s (file %u) after extending it: %s", sl->name,
				 uid, strerror((int)-got));
		return;
	}
	if ((uint64_t)got != n * BS) {
		stress_violation(s,
				 "reading back %s (file %u) after extending it to %llu blocks: "
				 "short read of %zd bytes",
				 sl->name, uid, (unsigned long long)(first + n), got);
		return;
	}
	for (uint64_t b = 0; b < n; b++) {
		if (eligible && !eligible[b])
			continue;
		const uint64_t *words = w->buf + b * DMA_WORDS;
		for (unsigned i = 0; i < DMA_WORDS; i++)
			if (words[i]) {
				stress_violation(
				    s,
				    "%s (file %u) block %llu, new, reads %#llx at word "
				    "%u instead of zeros",
				    sl->name, uid, (unsigned long long)(first + b),
				    (unsigned long long)words[i], i);
				break;
			}
	}
}

/* ---- Mutators ------------------------------------------------------------------------ */

static uint64_t rnd(struct worker *w, uint64_t n)
{
	return n ? dma_rand(&w->rng) % n : 0;
}

static void count_fs_error(struct stress *s, const char *what, struct slot *sl, int rc)
{
	if (rc == -ENOSPC) {
		atomic_fetch_add(&n_enospc, 1);
		return;
	}
	stress_violation(s, "%s of %s (file %u) failed: %s", what, sl->name, sl->uid,
			 strerror(-rc));
}

/* Removes file blocks [lo, hi] with a truncate (hi UINT64_MAX) or a
 * punch, and checks that it waited for the pins it had to. */
static void removal(struct stress *s, struct slot *sl, uint64_t lo, uint64_t hi)
{
	bool truncate = hi == UINT64_MAX;
	struct removal_watch w;
	int rc;

	pthread_mutex_lock(&sl->lock);
	if (truncate)
		sl->size_blocks = lo;
	watch_removal(sl, lo, hi, &w);
	pthread_mutex_unlock(&sl->lock);

	if (truncate)
		rc = s->be->truncate(s, sl, lo * BS);
	else
		rc = s->be->fallocate(s, sl, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, lo * BS,
				      (hi - lo + 1) * BS);
	uint64_t t1 = dma_now_ns();
	if (rc)
		count_fs_error(s, truncate ? "truncate" : "punch", sl, rc);
	if (truncate) {
		record_truncate_wait(t1 - w.t0);
		atomic_fetch_add(&n_truncates, 1);
	} else {
		atomic_fetch_add(&n_punches, 1);
	}
	pthread_mutex_lock(&sl->lock);
	check_removal(s, sl, &w, t1, truncate ? "truncate" : "punch", rc == 0);
	mark_stale(sl, lo, hi);
	pthread_mutex_unlock(&sl->lock);
}

static void op_truncate(struct stress *s, struct worker *w, struct slot *sl, uint64_t size)
{
	removal(s, sl, rnd(w, 4) == 0 ? 0 : rnd(w, size), UINT64_MAX);
}

static void op_punch(struct stress *s, struct worker *w, struct slot *sl, uint64_t size)
{
	uint64_t lo = rnd(w, size);
	uint64_t n =
	    1 + rnd(w, size - lo < STRESS_MAX_PUNCH_BLOCKS ? size - lo : STRESS_MAX_PUNCH_BLOCKS);

	removal(s, sl, lo, lo + n - 1);
}

/* Grows the file to new_size blocks (holes, or allocated zero blocks), checks
 * the new range reads as zeros, and only then lets devices at it. */
static void grow(struct stress *s, struct worker *w, struct slot *sl, uint64_t size,
		 uint64_t new_size, bool preallocate, bool all_eligible)
{
	uint64_t n = new_size - size;
	bool *eligible = calloc(n, sizeof(*eligible));
	int rc;

	if (!eligible)
		return;
	/* A device that chose blocks here before an earlier shrink may still
	 * pin and write them (its range was checked against a larger size);
	 * no new choice can land here until size_blocks grows. */
	pthread_mutex_lock(&sl->lock);
	for (uint64_t b = 0; b < n; b++)
		eligible[b] = all_eligible || sl->wr[size + b] == 0;
	pthread_mutex_unlock(&sl->lock);
	if (preallocate)
		rc = s->be->fallocate(s, sl, 0, size * BS, n * BS);
	else
		rc = s->be->truncate(s, sl, new_size * BS);
	if (rc) {
		/* A failed fallocate leaves the size alone (blocks it allocated
		 * stay past EOF, zeros, out of the devices' reach). */
		count_fs_error(s, preallocate ? "fallocate" : "extending truncate", sl, rc);
		new_size = size;
	} else {
		check_zeros(s, w, sl, sl->uid, size, n, eligible);
	}
	free(eligible);
	atomic_fetch_add(&n_extends, 1);
	pthread_mutex_lock(&sl->lock);
	sl->size_blocks = new_size;
	pthread_mutex_unlock(&sl->lock);
}

static void op_extend(struct stress *s, struct worker *w, struct slot *sl, uint64_t size)
{
	uint64_t max = s->o.max_file_blocks;

	if (size >= max)
		return op_truncate(s, w, sl, size);
	grow(s, w, sl, size, size + 1 + rnd(w, max - size), rnd(w, 2), false);
}

/* Which blocks of [lo, lo+n) are, or may become during a write, under a
 * STABLE pin: the write moves those blocks' data to copies. */
struct stable_snapshot {
	bool held[STRESS_MAX_REWRITE_BLOCKS];
	uint32_t epoch[STRESS_MAX_REWRITE_BLOCKS];
};

static void stable_before_write(struct slot *sl, uint64_t lo, uint64_t n,
				struct stable_snapshot *ss)
{
	pthread_mutex_lock(&sl->lock);
	for (uint64_t b = 0; b < n; b++) {
		ss->held[b] = sl->st[lo + b] > 0;
		ss->epoch[b] = sl->st_epoch[lo + b];
	}
	pthread_mutex_unlock(&sl->lock);
}

/* Locking: sl->lock.  A block that was under a STABLE pin at any time
 * during the write may have been bounced to a copy: every pin on it (the
 * STABLE one and any other) now holds a block that is no longer the
 * file's, which later removals do not wait for. */
static void stable_after_write(struct slot *sl, uint64_t lo, uint64_t n,
			       const struct stable_snapshot *ss)
{
	for (uint64_t b = 0; b < n; b++)
		if (ss->held[b] || sl->st[lo + b] || sl->st_epoch[lo + b] != ss->epoch[b])
			mark_stale(sl, lo + b, lo + b);
}

static void op_rewrite(struct stress *s, struct worker *w, struct slot *sl)
{
	uint64_t max = s->o.max_file_blocks;
	uint64_t lo = rnd(w, max);
	uint64_t n =
	    1 + rnd(w, max - lo < STRESS_MAX_REWRITE_BLOCKS ? max - lo : STRESS_MAX_REWRITE_BLOCKS);
	struct stable_snapshot ss;

	dma_fill_tags(w->buf, (unsigned)n, sl->uid, (uint32_t)lo, (uint8_t)dma_rand(&w->rng));
	stable_before_write(sl, lo, n, &ss);
	bool in_process = s->be == &stress_pool_backend;
	if (in_process)
		pthread_rwlock_wrlock(&sl->content);
	ssize_t got = s->be->write(s, sl, w->buf, n * BS, lo * BS);
	if (in_process)
		pthread_rwlock_unlock(&sl->content);
	if (got < 0)
		count_fs_error(s, "rewrite", sl, (int)got);
	atomic_fetch_add(&n_rewrites, 1);
	uint64_t written = got > 0 ? (uint64_t)got / BS : 0;
	pthread_mutex_lock(&sl->lock);
	if (written && lo + written > sl->size_blocks)
		sl->size_blocks = lo + written;
	stable_after_write(sl, lo, n, &ss);
	pthread_mutex_unlock(&sl->lock);
}

/* A fresh file under the same name, reusing freed blocks: it must read as
 * zeros where it was never written. */
static void op_recreate(struct stress *s, struct worker *w, struct slot *sl)
{
	pthread_mutex_lock(&sl->lock);
	bool existed = sl->exists;
	sl->exists = false;
	sl->size_blocks = 0;
	pthread_mutex_unlock(&sl->lock);
	if (existed) {
		int rc = s->be->remove(s, sl);
		if (rc)
			count_fs_error(s, "unlink", sl, rc);
	}
	int rc = s->be->create(s, sl);
	if (rc) {
		count_fs_error(s, "create", sl, rc);
		return;
	}
	uint32_t uid = atomic_fetch_add(&s->next_uid, 1) & DMA_UID_MASK;
	pthread_mutex_lock(&sl->lock);
	sl->uid = uid ? uid : atomic_fetch_add(&s->next_uid, 1) & DMA_UID_MASK;
	pthread_mutex_unlock(&sl->lock);
	atomic_fetch_add(&n_recreates, 1);
	/* No device can reach the new file before exists is set. */
	grow(s, w, sl, 0, 1 + rnd(w, s->o.max_file_blocks), true, true);
	if (rnd(w, 2))
		op_rewrite(s, w, sl);
	pthread_mutex_lock(&sl->lock);
	sl->exists = true;
	pthread_mutex_unlock(&sl->lock);
}

static void mutate_one(struct stress *s, struct worker *w)
{
	struct slot *sl = &s->slots[rnd(w, s->o.files)];

	pthread_mutex_lock(&sl->op_lock);
	pthread_mutex_lock(&sl->lock);
	bool exists = sl->exists;
	uint64_t size = sl->size_blocks;
	pthread_mutex_unlock(&sl->lock);
	unsigned op = (unsigned)rnd(w, 100);
	if (!exists || op < 8) {
		atomic_store(&w->state, "re-creating a file");
		op_recreate(s, w, sl);
	} else if (op < 40 && size) {
		atomic_store(&w->state, "truncating");
		op_truncate(s, w, sl, size);
	} else if (op < 55 && size) {
		atomic_store(&w->state, "punching a hole");
		op_punch(s, w, sl, size);
	} else if (op < 75) {
		atomic_store(&w->state, "extending");
		op_extend(s, w, sl, size);
	} else {
		atomic_store(&w->state, "rewriting");
		op_rewrite(s, w, sl);
	}
	pthread_mutex_unlock(&sl->op_lock);
}

static void *mutator_main(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&w->s->stop)) {
		mutate_one(w->s, w);
		atomic_fetch_add(&w->s->progress, 1);
	}
	atomic_store(&w->state, "stopped");
	return NULL;
}

/* ---- Readers --------------------------------------------------------------------------- */

static void read_one(struct stress *s, struct worker *w, struct slot *sl, const char *who)
{
	struct reader_file rf;

	pthread_mutex_lock(&sl->lock);
	bool exists = sl->exists;
	uint32_t uid = sl->uid;
	int rc = exists ? s->be->reader_open(s, sl, &rf) : 0;
	pthread_mutex_unlock(&sl->lock);
	if (!exists)
		return;
	if (rc) {
		stress_violation(s, "%s: opening %s (file %u): %s", who, sl->name, uid,
				 strerror(-rc));
		return;
	}
	bool in_process = s->be == &stress_pool_backend;
	if (in_process)
		pthread_rwlock_rdlock(&sl->content);
	ssize_t got = s->be->reader_read(s, &rf, w->buf, s->o.max_file_blocks * BS, 0);
	if (in_process)
		pthread_rwlock_unlock(&sl->content);
	s->be->reader_close(s, &rf);
	if (got < 0) {
		stress_violation(s, "%s: reading %s (file %u): %s", who, sl->name, uid,
				 strerror((int)-got));
		return;
	}
	check_read(s, who, sl->name, uid, w->buf, 0, (uint64_t)got / BS);
	atomic_fetch_add(&n_reads, 1);
}

static void *reader_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;

	while (!atomic_load(&s->stop)) {
		atomic_store(&w->state, "reading");
		read_one(s, w, &s->slots[rnd(w, s->o.files)], "reader");
		atomic_fetch_add(&s->progress, 1);
		/* In process a read is a memcpy: let the other threads run. */
		sched_yield();
	}
	atomic_store(&w->state, "stopped");
	return NULL;
}

/* ---- Devices: the engine's callbacks ------------------------------------------------------ */

static void handle_free(struct stress *s, struct dev_handle *h)
{
	s->be->handle_close(s, h);
	free(h);
}

/* The name now leads to another file: this handle is closed as soon as
 * its last transfer is done (its pins go with it). */
static void retire(struct stress *s, struct device_ctx *dc, struct dev_handle *h)
{
	h->retired = true;
	if (!h->inflight) {
		handle_free(s, h);
		return;
	}
	h->next = dc->retired;
	dc->retired = h;
}

static void close_idle_retired(struct stress *s, struct device_ctx *dc)
{
	for (struct dev_handle **pp = &dc->retired; *pp;) {
		struct dev_handle *h = *pp;
		if (h->inflight) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		handle_free(s, h);
	}
}

/* Locking: sl->lock.  The device's handle on the file the name leads to
 * now, opened if needed. */
static struct dev_handle *current_handle(struct stress *s, unsigned dev, struct slot *sl)
{
	struct device_ctx *dc = &s->devs[dev];
	struct dev_handle *h = dc->cur[sl->idx];

	if (h && h->uid == sl->uid)
		return h;
	if (h)
		retire(s, dc, h);
	dc->cur[sl->idx] = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->slot = sl;
	h->uid = sl->uid;
	int rc = s->be->handle_open(s, sl, h);
	if (rc) {
		stress_violation(s, "device %u: opening %s (file %u): %s", dev, sl->name, sl->uid,
				 strerror(-rc));
		free(h);
		return NULL;
	}
	dc->cur[sl->idx] = h;
	return h;
}

static enum dma_dir choose_dir(uint64_t *rng)
{
	unsigned r = (unsigned)(dma_rand(rng) % 10);

	return r < 5 ? DMA_DEV_WRITE : r < 9 ? DMA_DEV_READ_STABLE : DMA_DEV_READ;
}

/* A device never writes a block another device is reading stable, nor
 * reads stable a block one is writing: that would be the device breaking
 * its own contract, not the filesystem. */
static bool reserve(struct slot *sl, enum dma_dir dir, uint64_t lo, uint64_t n)
{
	for (uint64_t b = lo; b < lo + n; b++)
		if ((dir == DMA_DEV_WRITE && sl->st[b]) ||
		    (dir == DMA_DEV_READ_STABLE && sl->wr[b]))
			return false;
	for (uint64_t b = lo; b < lo + n; b++) {
		if (dir == DMA_DEV_WRITE) {
			sl->wr[b]++;
		} else if (dir == DMA_DEV_READ_STABLE) {
			sl->st[b]++;
			sl->st_epoch[b]++;
		}
	}
	return true;
}

static void unreserve(struct slot *sl, enum dma_dir dir, uint64_t lo, uint64_t n)
{
	for (uint64_t b = lo; b < lo + n; b++) {
		if (dir == DMA_DEV_WRITE)
			sl->wr[b]--;
		else if (dir == DMA_DEV_READ_STABLE)
			sl->st[b]--;
	}
}

static bool dev_next(void *ctx, unsigned dev, struct dma_transfer *t, uint64_t *rng)
{
	struct stress *s = ctx;

	close_idle_retired(s, &s->devs[dev]);
	for (int attempt = 0; attempt < 4; attempt++) {
		struct slot *sl = &s->slots[dma_rand(rng) % s->o.files];
		pthread_mutex_lock(&sl->lock);
		uint64_t size = sl->size_blocks;
		struct dev_handle *h = sl->exists && size ? current_handle(s, dev, sl) : NULL;
		if (!h) {
			pthread_mutex_unlock(&sl->lock);
			continue;
		}
		uint64_t max = size < STRESS_MAX_PIN_BLOCKS ? size : STRESS_MAX_PIN_BLOCKS;
		uint64_t n = 1 + dma_rand(rng) % max;
		uint64_t lo = dma_rand(rng) % (size - n + 1);
		enum dma_dir dir = choose_dir(rng);
		bool ok = reserve(sl, dir, lo, n);
		if (ok)
			h->inflight++;
		pthread_mutex_unlock(&sl->lock);
		if (!ok)
			continue;
		t->dir = dir;
		t->target = h;
		t->file_uid = h->uid;
		t->offset = lo * BS;
		t->length = n * BS;
		return true;
	}
	return false;
}

static unsigned pin_flags(enum dma_dir dir)
{
	return dir == DMA_DEV_WRITE	    ? DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM
	       : dir == DMA_DEV_READ_STABLE ? DAXFS_PIN_READ | DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE
					    : DAXFS_PIN_READ | DAXFS_PIN_LONGTERM;
}

/* The record is linked before the pin is asked for: a removal that ends
 * while the pin is in flight marks it stale, as it may have pinned blocks
 * that removal took out.  It is watched only once it is known to have
 * been in place (t_pinned). */
static int dev_pin(void *ctx, struct dma_transfer *t)
{
	struct stress *s = ctx;
	struct dev_handle *h = t->target;
	struct slot *sl = h->slot;
	struct pin_rec *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->uid = h->uid;
	r->first = t->offset / BS;
	r->nblocks = t->length / BS;
	r->dir = t->dir;
	r->t_pinned = UINT64_MAX;
	r->refs = 1;
	r->linked = true;
	pthread_mutex_lock(&sl->lock);
	r->next = sl->pins;
	sl->pins = r;
	pthread_mutex_unlock(&sl->lock);
	int rc = s->be->pin(s, h, pin_flags(t->dir), t);
	pthread_mutex_lock(&sl->lock);
	if (rc) {
		rec_unlink(sl, r);
		rec_put(r);
	} else {
		r->pin_id = t->pin_id;
		r->t_pinned = dma_now_ns();
		t->cookie = r;
	}
	pthread_mutex_unlock(&sl->lock);
	return rc;
}

static int dev_unpin(void *ctx, struct dma_transfer *t)
{
	struct stress *s = ctx;
	struct dev_handle *h = t->target;
	struct pin_rec *r = t->cookie;

	pthread_mutex_lock(&h->slot->lock);
	r->t_unpin = dma_now_ns();
	rec_unlink(h->slot, r);
	rec_put(r);
	pthread_mutex_unlock(&h->slot->lock);
	t->cookie = NULL;
	return s->be->unpin(s, h, t->pin_id);
}

static void dev_finish(void *ctx, struct dma_transfer *t, int rc)
{
	struct stress *s = ctx;
	struct dev_handle *h = t->target;
	struct device_ctx *dc = &s->devs[t->dev];

	(void)rc;
	pthread_mutex_lock(&h->slot->lock);
	unreserve(h->slot, t->dir, t->offset / BS, t->length / BS);
	pthread_mutex_unlock(&h->slot->lock);
	if (--h->inflight == 0 && h->retired)
		close_idle_retired(s, dc);
}

static void dev_persist(void *ctx, struct dma_transfer *t, void *addr, size_t len)
{
	struct stress *s = ctx;

	s->be->persist(s, t->target, addr, len);
}

static int dev_wait(void *ctx, unsigned dev, uint64_t timeout_ns, uint64_t *ids, int max)
{
	struct stress *s = ctx;

	return s->be->wait(s, dev, timeout_ns, ids, max);
}

static const struct dma_ops dev_ops = {
    .next = dev_next,
    .pin = dev_pin,
    .unpin = dev_unpin,
    .finish = dev_finish,
    .persist = dev_persist,
    .wait = dev_wait,
    .violation = engine_violation,
};

static void close_device_handles(struct stress *s)
{
	for (unsigned d = 0; d < s->o.devices; d++) {
		struct device_ctx *dc = &s->devs[d];
		for (unsigned f = 0; f < s->o.files; f++)
			if (dc->cur[f]) {
				handle_free(s, dc->cur[f]);
				dc->cur[f] = NULL;
			}
		close_idle_retired(s, dc);
	}
}

/* ---- Watchdog and progress ---------------------------------------------------------------- */

struct monitor {
	struct stress *s;
	pthread_t thread;
	atomic_bool done;
	struct daxfs_ioc_stats start;
	uint64_t illegal_seen;
};

static uint64_t total_progress(struct stress *s)
{
	return atomic_load(&s->progress) + (s->engine ? dma_engine_progress(s->engine) : 0);
}

/* 20 s, or twice the longest hold when the holds are longer: a transfer
 * stuck that long on purpose is not a deadlock. */
static uint64_t watchdog_ns(const struct stress_opts *o)
{
	uint64_t longest_ms = (uint64_t)o->tail_ms * 5 / 4 + (uint64_t)o->hold_ms * 3 / 2 + 1;
	uint64_t ns = 2 * longest_ms * 1000000ull;

	return ns > WATCHDOG_MIN_NS ? ns : WATCHDOG_MIN_NS;
}

static void watchdog_fire(struct stress *s)
{
	fprintf(stderr, "daxfs-stress: no operation completed for %llu s: deadlock?\n",
		(unsigned long long)(watchdog_ns(&s->o) / 1000000000ull));
	for (unsigned i = 0; i < nworkers; i++)
		fprintf(stderr, "  %s %u: %s\n", workers[i].kind == MUTATOR ? "mutator" : "reader",
			workers[i].id, atomic_load(&workers[i].state));
	for (unsigned d = 0; s->engine && d < s->o.devices; d++)
		fprintf(stderr, "  device %u: %s\n", d, dma_engine_device_state(s->engine, d));
	fflush(stderr);
	_exit(3);
}

static void check_illegal(struct monitor *m)
{
	struct daxfs_ioc_stats st;

	if (m->s->be->stats(m->s, &st))
		return;
	if (st.illegal_transitions > m->illegal_seen) {
		stress_violation(m->s, "the filesystem counted %llu illegal pfn transitions",
				 (unsigned long long)(st.illegal_transitions - m->illegal_seen));
		m->illegal_seen = st.illegal_transitions;
	}
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	uint64_t last = total_progress(m->s), last_change = dma_now_ns();

	for (unsigned tick = 0; !atomic_load(&m->done); tick++) {
		sleep_ms(100);
		uint64_t p = total_progress(m->s), now = dma_now_ns();
		if (p != last) {
			last = p;
			last_change = now;
		} else if (now - last_change > watchdog_ns(&m->s->o)) {
			watchdog_fire(m->s);
		}
		if (tick % 5 == 0 && m->s->bdata)
			check_illegal(m);
	}
	return NULL;
}

static void print_progress(struct stress *s, unsigned elapsed)
{
	struct dma_stats ds;

	dma_engine_stats(s->engine, &ds);
	fprintf(stderr, "\r  %u/%u s  ops %llu  pins %llu  recalls seen %llu  violations %llu   ",
		elapsed, s->o.seconds,
		(unsigned long long)(atomic_load(&n_truncates) + atomic_load(&n_punches) +
				     atomic_load(&n_extends) + atomic_load(&n_rewrites) +
				     atomic_load(&n_recreates) + atomic_load(&n_reads)),
		(unsigned long long)ds.pins, (unsigned long long)ds.recalled,
		(unsigned long long)atomic_load(&s->violations));
}

/* ---- Setup and the end -------------------------------------------------------------------- */

static int init_slots(struct stress *s)
{
	s->slots = calloc(s->o.files, sizeof(*s->slots));
	s->devs = calloc(s->o.devices, sizeof(*s->devs));
	if (!s->slots || !s->devs)
		return -ENOMEM;
	for (unsigned f = 0; f < s->o.files; f++) {
		struct slot *sl = &s->slots[f];
		sl->idx = f;
		snprintf(sl->name, sizeof(sl->name), "f%03u", f);
		pthread_mutex_init(&sl->op_lock, NULL);
		pthread_mutex_init(&sl->lock, NULL);
		pthread_rwlock_init(&sl->content, NULL);
		sl->fd = -1;
		sl->wr = calloc(s->o.max_file_blocks, sizeof(*sl->wr));
		sl->st = calloc(s->o.max_file_blocks, sizeof(*sl->st));
		sl->st_epoch = calloc(s->o.max_file_blocks, sizeof(*sl->st_epoch));
		if (!sl->wr || !sl->st || !sl->st_epoch)
			return -ENOMEM;
	}
	for (unsigned d = 0; d < s->o.devices; d++) {
		s->devs[d].cur = calloc(s->o.files, sizeof(*s->devs[d].cur));
		if (!s->devs[d].cur)
			return -ENOMEM;
	}
	return 0;
}

static int worker_init(struct stress *s, struct worker *w, enum thread_kind kind, unsigned id)
{
	w->s = s;
	w->kind = kind;
	w->id = id;
	w->rng = (s->o.seed + 7) * 0x9E3779B97F4A7C15ull ^
		 ((uint64_t)kind << 32 | id) * 0xff51afd7ed558ccdull;
	if (!w->rng)
		w->rng = 1;
	atomic_store(&w->state, "starting");
	return posix_memalign((void **)&w->buf, 4096, s->o.max_file_blocks * BS) ? -ENOMEM : 0;
}

/* Automatic spare: room for every file at its largest, twice, and for the
 * blocks pinned transfers keep deferred. */
static uint64_t spare_blocks(const struct stress_opts *o)
{
	if (o->spare_blocks != UINT64_MAX)
		return o->spare_blocks;
	return (uint64_t)o->files * o->max_file_blocks * 2 +
	       (uint64_t)o->devices * o->depth * STRESS_MAX_PIN_BLOCKS * 2 + 256;
}

/* The automatic ballast is at most this many blocks (1 GiB): every block
 * of it is zeroed and made durable, which on a disk-backed pool is a disk
 * write, so a larger one would spend the run filling the pool.  A larger
 * pool runs with more free room than the spare; --spare-blocks asks for an
 * exact free room, whatever the ballast costs. */
#define BALLAST_MAX_AUTO (1ull << 18)

static int fill_pool(struct stress *s, uint64_t *ballast)
{
	struct daxfs_ioc_stats st;
	int rc = s->be->stats(s, &st);

	*ballast = 0;
	if (rc)
		return rc;
	uint64_t spare = spare_blocks(&s->o);
	if (st.free_blocks <= spare + 64)
		return 0;
	/* Index blocks of the ballast come out of the same free count. */
	*ballast = st.free_blocks - spare - st.free_blocks / 400 - 8;
	if (s->o.spare_blocks == UINT64_MAX && *ballast > BALLAST_MAX_AUTO) {
		fprintf(stderr,
			"daxfs-stress: ballast limited to %llu of %llu blocks, so that the run "
			"starts at once; --spare-blocks N fills the pool exactly\n",
			BALLAST_MAX_AUTO, (unsigned long long)*ballast);
		*ballast = BALLAST_MAX_AUTO;
	}
	rc = s->be->ballast(s, *ballast);
	if (rc)
		stress_error("cannot create the ballast file of %llu blocks: %s",
			     (unsigned long long)*ballast, strerror(-rc));
	return rc;
}

static void create_files(struct stress *s, struct worker *w)
{
	for (unsigned f = 0; f < s->o.files; f++) {
		pthread_mutex_lock(&s->slots[f].op_lock);
		op_recreate(s, w, &s->slots[f]);
		pthread_mutex_unlock(&s->slots[f].op_lock);
	}
}

/* After the run: every file still shows only its own data. */
static void final_read(struct stress *s, struct worker *w)
{
	for (unsigned f = 0; f < s->o.files; f++)
		read_one(s, w, &s->slots[f], "final check");
}

static void remove_files(struct stress *s)
{
	for (unsigned f = 0; f < s->o.files; f++) {
		struct slot *sl = &s->slots[f];
		if (!sl->exists)
			continue;
		int rc = s->be->remove(s, sl);
		if (rc)
			stress_violation(s, "unlink of %s at the end: %s", sl->name, strerror(-rc));
		sl->exists = false;
	}
}

/* The kernel releases files and forgets inodes asynchronously: counters
 * settle within moments. */
static bool wait_settled(struct stress *s, const struct daxfs_ioc_stats *start, bool gone,
			 struct daxfs_ioc_stats *st)
{
	for (int i = 0; i < 200; i++) {
		atomic_fetch_add(&s->progress, 1); /* bounded: not for the watchdog */
		if (s->be->stats(s, st) == 0 && st->pins_active == 0 && st->pins == 0 &&
		    (!gone || (st->free_blocks == start->free_blocks && st->deferred_queue == 0)))
			return true;
		sleep_ms(100);
	}
	return false;
}

static void final_checks(struct stress *s, const struct daxfs_ioc_stats *start,
			 struct daxfs_ioc_stats *end)
{
	struct daxfs_ioc_stats st;

	if (!wait_settled(s, start, false, &st))
		stress_violation(s, "%llu pins (%llu pin counts) left after every handle closed",
				 (unsigned long long)st.pins_active, (unsigned long long)st.pins);
	remove_files(s);
	s->be->ballast(s, 0);
	int rc = s->be->workdir(s, false);
	if (rc)
		stress_violation(s, "removing the work directory: %s", strerror(-rc));
	if (!wait_settled(s, start, true, &st))
		stress_violation(
		    s,
		    "leak: %llu free blocks at the end, %llu at the start; %llu "
		    "deferred, %llu pins",
		    (unsigned long long)st.free_blocks, (unsigned long long)start->free_blocks,
		    (unsigned long long)st.deferred_queue, (unsigned long long)st.pins_active);
	if (st.illegal_transitions != start->illegal_transitions)
		stress_violation(
		    s, "%llu illegal pfn transitions",
		    (unsigned long long)(st.illegal_transitions - start->illegal_transitions));
	if (st.refs)
		stress_violation(s, "%llu pfn references left", (unsigned long long)st.refs);
	*end = st;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_ms(double p)
{
	if (!ntrunc)
		return 0;
	size_t i = (size_t)(p * (double)(ntrunc - 1) + 0.5);
	return ms(trunc_ns[i]);
}

static unsigned long long ull(uint64_t v)
{
	return v;
}

/* One line, in pieces.  Recalls, waits, deferred frees and bounces are the
 * filesystem's counters over the run; torn words are words a reader or
 * device saw half-way through a rewrite of the same block (expected, not a
 * violation). */
static void print_summary(struct stress *s, double secs, const struct daxfs_ioc_stats *a,
			  const struct daxfs_ioc_stats *b)
{
	struct dma_stats ds;

	dma_engine_stats(s->engine, &ds);
	qsort(trunc_ns, ntrunc, sizeof(*trunc_ns), cmp_u64);
	uint64_t nt = atomic_load(&n_truncates), np = atomic_load(&n_punches);
	uint64_t ne = atomic_load(&n_extends), nw = atomic_load(&n_rewrites);
	uint64_t nc = atomic_load(&n_recreates), nr = atomic_load(&n_reads);
	uint64_t refused = ds.pin_enxio + ds.pin_enoent + ds.pin_enospc + ds.pin_limit +
			   ds.pin_e2big + ds.pin_other;

	printf("daxfs-stress: %s %s %.1f s seed %llu: ", s->be->name,
	       s->o.layout_wait == DAXFS_LAYOUT_WAIT_SYNC ? "sync" : "deferred", secs,
	       ull(s->o.seed));
	printf("ops %llu (truncate %llu, punch %llu, extend %llu, rewrite %llu, recreate %llu, "
	       "read %llu), ",
	       ull(nt + np + ne + nw + nc + nr), ull(nt), ull(np), ull(ne), ull(nw), ull(nc),
	       ull(nr));
	printf("pins %llu (write %llu, stable %llu, read %llu; %llu refused, %llu long), ",
	       ull(ds.pins), ull(ds.pins_write), ull(ds.pins_stable), ull(ds.pins_read),
	       ull(refused), ull(ds.tail_transfers));
	printf("recalls %llu (%llu seen by devices), waits %llu, longest wait %.3f ms, ",
	       ull(b->recalls - a->recalls), ull(ds.recalled), ull(b->waits - a->waits),
	       ms(b->wait_ns_max));
	printf("deferred frees %llu, bounces %llu, torn words %llu, ENOSPC %llu, violations %llu; ",
	       ull(b->deferred_total - a->deferred_total), ull(b->bounces - a->bounces),
	       ull(ds.torn_words + atomic_load(&n_torn_read_words)),
	       ull(atomic_load(&n_enospc) + ds.pin_enospc), ull(atomic_load(&s->violations)));
	printf("pins/s %.1f, truncates/s %.1f, truncate wait p50 %.3f ms p99 %.3f ms max %.3f ms\n",
	       (double)ds.pins / secs, (double)nt / secs, percentile_ms(0.50), percentile_ms(0.99),
	       ntrunc ? ms(trunc_ns[ntrunc - 1]) : 0.0);
	fflush(stdout);
}

/* ---- Options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: daxfs-stress (--mount DIR | --pool POOL) [OPTIONS]\n"
	    "\n"
	    "Pins (DMA-style, with a device engine moving data by address) racing\n"
	    "truncates, hole punches, unlinks and readers, with oracles for freed or\n"
	    "reused pinned blocks, stable pages, sync waits, deadlocks and leaks.\n"
	    "\n"
	    "  --mount DIR            through a daxfs mount (ioctls and libdaxfs-client)\n"
	    "  --pool POOL            in process, mounting POOL with the core library\n"
	    "  --seconds N            how long to race (default 10)\n"
	    "  --devices K            device threads (default 4)\n"
	    "  --mutators M           mutator threads (default 2)\n"
	    "  --readers R            reader threads (default 2)\n"
	    "  --files F              files (default 8)\n"
	    "  --max-file-blocks N    largest file, in 4 KiB blocks (default 64)\n"
	    "  --hold-ms A[:T:P]      pins held ~A ms; P per mille held ~T ms (default 5:250:10)\n"
	    "  --depth N              outstanding transfers per device (default 8)\n"
	    "  --rate N               transfers started per second per device (default: no limit)\n"
	    "  --layout-wait sync|deferred  the removal policy: set in process; through a mount,\n"
	    "                         what the mount was given (-o layout_wait), for the oracle\n"
	    "  --break-timeout S      the removal wait limit (default 30; through a mount, its\n"
	    "                         -o break_timeout)\n"
	    "  --stable-writes cow|wait  in process: writes into STABLE-pinned blocks\n"
	    "  --spare-blocks N       free blocks left beside the ballast (default: automatic)\n"
	    "  --seed S               random seed (default: from the clock)\n"
	    "  --mixed-pins           instead: WRITE and STABLE pins on shared blocks of a few\n"
	    "                         files, racing writes that bounce and truncates that\n"
	    "                         recall, with the oracle that no store through a WRITE\n"
	    "                         pin is lost unless the pin was recalled (--mount only)\n"
	    "  --rounds N             with --mixed-pins: transfers per device (default: until\n"
	    "                         --seconds)\n"
	    "  -h, --help             this help\n"
	    "\n"
	    "Prints one summary line; exits 1 on any violation, 2 on a usage or setup error,\n"
	    "3 when the watchdog sees nothing complete for 20 s (or twice the longest hold).\n");
}

static bool parse_uint(const char *arg, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || v > max || arg[0] == '-')
		return false;
	*out = v;
	return true;
}

static bool parse_hold(const char *arg, struct stress_opts *o)
{
	unsigned a, t = 0, p = 0;
	char extra;
	int n = sscanf(arg, "%u:%u:%u%c", &a, &t, &p, &extra);

	if (n != 1 && n != 3)
		return false;
	if (n == 1 && strchr(arg, ':'))
		return false;
	if (a > 600000 || t > 600000 || p > 1000)
		return false;
	o->hold_ms = a;
	o->tail_ms = t;
	o->tail_permille = p;
	return true;
}

enum {
	OPT_MOUNT = 256,
	OPT_POOL,
	OPT_SECONDS,
	OPT_DEVICES,
	OPT_MUTATORS,
	OPT_READERS,
	OPT_FILES,
	OPT_MAXBLOCKS,
	OPT_HOLD,
	OPT_DEPTH,
	OPT_RATE,
	OPT_LAYOUT,
	OPT_TIMEOUT,
	OPT_STABLE,
	OPT_SPARE,
	OPT_SEED,
	OPT_MIXED,
	OPT_ROUNDS,
};

static const struct option long_opts[] = {
    {"mount", required_argument, NULL, OPT_MOUNT},
    {"pool", required_argument, NULL, OPT_POOL},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"devices", required_argument, NULL, OPT_DEVICES},
    {"mutators", required_argument, NULL, OPT_MUTATORS},
    {"readers", required_argument, NULL, OPT_READERS},
    {"files", required_argument, NULL, OPT_FILES},
    {"max-file-blocks", required_argument, NULL, OPT_MAXBLOCKS},
    {"hold-ms", required_argument, NULL, OPT_HOLD},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"rate", required_argument, NULL, OPT_RATE},
    {"layout-wait", required_argument, NULL, OPT_LAYOUT},
    {"break-timeout", required_argument, NULL, OPT_TIMEOUT},
    {"stable-writes", required_argument, NULL, OPT_STABLE},
    {"spare-blocks", required_argument, NULL, OPT_SPARE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"mixed-pins", no_argument, NULL, OPT_MIXED},
    {"rounds", required_argument, NULL, OPT_ROUNDS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A numeric option into an unsigned, within [lo, hi]. */
static bool set_num(const char *name, const char *arg, uint64_t lo, uint64_t hi, unsigned *out)
{
	uint64_t v;

	if (!parse_uint(arg, hi, &v) || v < lo) {
		stress_error("--%s must be a number from %llu to %llu, not '%s'", name,
			     (unsigned long long)lo, (unsigned long long)hi, arg);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

static bool parse_one(int c, const char *arg, struct stress_opts *o)
{
	switch (c) {
	case OPT_MOUNT:
		o->mount_dir = arg;
		return true;
	case OPT_MIXED:
		o->mixed_pins = true;
		return true;
	case OPT_ROUNDS:
		return set_num("rounds", arg, 1, 100000000, &o->rounds);
	case OPT_POOL:
		o->pool = arg;
		return true;
	case OPT_SECONDS:
		return set_num("seconds", arg, 1, 86400, &o->seconds);
	case OPT_DEVICES:
		return set_num("devices", arg, 1, STRESS_MAX_DEVICES, &o->devices);
	case OPT_MUTATORS:
		return set_num("mutators", arg, 0, STRESS_MAX_THREADS / 2, &o->mutators);
	case OPT_READERS:
		return set_num("readers", arg, 0, STRESS_MAX_THREADS / 2, &o->readers);
	case OPT_FILES:
		return set_num("files", arg, 1, STRESS_MAX_FILES, &o->files);
	case OPT_MAXBLOCKS:
		return set_num("max-file-blocks", arg, 1, DMA_INDEX_MASK, &o->max_file_blocks);
	case OPT_DEPTH:
		return set_num("depth", arg, 1, DMA_MAX_DEPTH, &o->depth);
	case OPT_RATE:
		return set_num("rate", arg, 0, 1000000, &o->rate);
	case OPT_TIMEOUT:
		return set_num("break-timeout", arg, 1, 3600, &o->break_timeout);
	case OPT_HOLD:
		if (parse_hold(arg, o))
			return true;
		stress_error("--hold-ms takes A or A:TAIL_MS:TAIL_PERMILLE, not '%s'", arg);
		return false;
	case OPT_LAYOUT:
		if (!strcmp(arg, "sync") || !strcmp(arg, "deferred")) {
			o->layout_wait = !strcmp(arg, "sync") ? DAXFS_LAYOUT_WAIT_SYNC
							      : DAXFS_LAYOUT_WAIT_DEFERRED;
			return true;
		}
		stress_error("--layout-wait must be sync or deferred, not '%s'", arg);
		return false;
	case OPT_STABLE:
		if (!strcmp(arg, "cow") || !strcmp(arg, "wait")) {
			o->stable_writes_wait = !strcmp(arg, "wait");
			return true;
		}
		stress_error("--stable-writes must be cow or wait, not '%s'", arg);
		return false;
	case OPT_SPARE:
		if (parse_uint(arg, UINT64_MAX - 1, &o->spare_blocks))
			return true;
		stress_error("--spare-blocks must be a number, not '%s'", arg);
		return false;
	case OPT_SEED:
		if (parse_uint(arg, UINT64_MAX, &o->seed))
			return true;
		stress_error("--seed must be a number, not '%s'", arg);
		return false;
	}
	return false;
}

static int parse_args(int argc, char **argv, struct stress_opts *o)
{
	int c;

	*o = (struct stress_opts){
	    .seconds = 10,
	    .devices = 4,
	    .mutators = 2,
	    .readers = 2,
	    .files = 8,
	    .max_file_blocks = 64,
	    .hold_ms = 5,
	    .tail_ms = 250,
	    .tail_permille = 10,
	    .depth = 8,
	    .layout_wait = DAXFS_LAYOUT_WAIT_SYNC,
	    .break_timeout = 30,
	    .spare_blocks = UINT64_MAX,
	    .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20),
	    .progress = isatty(STDERR_FILENO),
	};
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == '?' || !parse_one(c, optarg, o))
			return -1;
	}
	if (optind != argc) {
		stress_error("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!o->mount_dir == !o->pool) {
		stress_error("give exactly one of --mount DIR and --pool POOL");
		return -1;
	}
	if (o->mixed_pins && !o->mount_dir) {
		stress_error("--mixed-pins runs through a mount: give --mount DIR");
		return -1;
	}
	if (o->mount_dir && o->stable_writes_wait) {
		stress_error("--stable-writes is a mount option (-o stable_writes=wait) through "
			     "a mount");
		return -1;
	}
	return 0;
}

/* Every device keeps a file open per file it pins, plus the ones it is
 * letting go of: allow as many descriptors as the hard limit does. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Everything is freed, so that LeakSanitizer builds can tell a leak in the
 * filesystem from the tool's own memory. */
static void free_all(struct stress *s, struct worker *main_w)
{
	for (unsigned i = 0; i < nworkers; i++)
		free(workers[i].buf);
	free(main_w->buf);
	for (unsigned f = 0; s->slots && f < s->o.files; f++) {
		struct slot *sl = &s->slots[f];
		while (sl->pins) {
			struct pin_rec *r = sl->pins;
			sl->pins = r->next;
			free(r);
		}
		free(sl->wr);
		free(sl->st);
		free(sl->st_epoch);
		pthread_mutex_destroy(&sl->op_lock);
		pthread_mutex_destroy(&sl->lock);
		pthread_rwlock_destroy(&sl->content);
	}
	for (unsigned d = 0; s->devs && d < s->o.devices; d++)
		free(s->devs[d].cur);
	free(s->slots);
	free(s->devs);
	free(trunc_ns);
	dma_engine_destroy(s->engine);
	pthread_cond_destroy(&s->recall_cond);
	pthread_mutex_destroy(&s->recall_lock);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int start_threads(struct stress *s)
{
	struct dma_config cfg = {
	    .devices = s->o.devices,
	    .depth = s->o.depth,
	    .rate = s->o.rate,
	    .hold_ms = s->o.hold_ms,
	    .tail_ms = s->o.tail_ms,
	    .tail_permille = s->o.tail_permille,
	    .seed = s->o.seed,
	};
	int rc = dma_engine_start(&cfg, &dev_ops, s, &s->engine);

	if (rc)
		return rc;
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		if (pthread_create(&w->thread, NULL,
				   w->kind == MUTATOR ? mutator_main : reader_main, w))
			return -EAGAIN;
	}
	return 0;
}

static void stop_threads(struct stress *s)
{
	atomic_store(&s->stop, true);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(workers[i].thread, NULL);
	dma_engine_stop(s->engine);
	close_device_handles(s);
}

static int setup(struct stress *s, struct worker *main_w, struct daxfs_ioc_stats *start)
{
	uint64_t ballast;
	int rc;

	pthread_mutex_init(&s->recall_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->recall_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&s->next_uid, 1);
	if ((rc = init_slots(s)) || (rc = worker_init(s, main_w, MUTATOR, 99)))
		return rc;
	if ((rc = s->be->setup(s)) || (rc = s->be->workdir(s, true)))
		return rc;
	/* After the mkdir: the parent keeps the block its entry took. */
	if ((rc = s->be->stats(s, start))) {
		stress_error("DAXFS_IOC_STATS: %s", strerror(-rc));
		return rc;
	}
	if ((rc = s->be->prepare(s)) || (rc = fill_pool(s, &ballast)))
		return rc;
	create_files(s, main_w);
	for (unsigned i = 0; i < s->o.mutators; i++)
		if ((rc = worker_init(s, &workers[nworkers++], MUTATOR, i)))
			return rc;
	for (unsigned i = 0; i < s->o.readers; i++)
		if ((rc = worker_init(s, &workers[nworkers++], READER, i)))
			return rc;
	return 0;
}

int main(int argc, char **argv)
{
	struct stress *s = &S;
	struct worker main_w = {0};
	struct daxfs_ioc_stats start, end;
	struct monitor mon = {.s = s};

	if (parse_args(argc, argv, &s->o))
		return 2;
	if (s->o.mixed_pins)
		return mixed_pins_run(&s->o);
	s->be = s->o.mount_dir ? &stress_mount_backend : &stress_pool_backend;
	raise_fd_limit();
	if (setup(s, &main_w, &start)) {
		s->be->shutdown(s);
		free_all(s, &main_w);
		return 2;
	}
	mon.illegal_seen = start.illegal_transitions;
	mon.start = start;
	/* The monitor reads s->engine: it starts after it is set. */
	if (start_threads(s) || pthread_create(&mon.thread, NULL, monitor_main, &mon)) {
		stress_error("cannot start threads");
		_exit(2);
	}
	uint64_t t0 = dma_now_ns();
	for (unsigned sec = 0; sec < s->o.seconds; sec++) {
		sleep_ms(1000);
		if (s->o.progress)
			print_progress(s, sec + 1);
	}
	if (s->o.progress)
		fprintf(stderr, "\n");
	double secs = (double)(dma_now_ns() - t0) / 1e9;
	stop_threads(s);
	final_read(s, &main_w);
	final_checks(s, &start, &end);
	atomic_store(&mon.done, true);
	pthread_join(mon.thread, NULL);
	print_summary(s, secs, &start, &end);
	int rc = s->be->shutdown(s);
	if (rc)
		stress_violation(s, "unmount: %s", strerror(-rc));
	free_all(s, &main_w);
	return atomic_load(&s->violations) ? 1 : 0;
}
