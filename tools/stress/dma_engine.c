/* SPDX-License-Identifier: MIT */
#include "dma_engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The device is not a CPU thread: its loads and stores race with the
 * filesystem's by design (a device writing a block that a truncate is
 * about to drop, a CPU rewriting a block a device is sending), exactly as
 * DMA does.  Its accesses are therefore volatile word accesses made
 * outside ThreadSanitizer's view, like a device's; what the filesystem
 * must guarantee about them (never a freed or reused block, stable content
 * under a STABLE pin) is checked by the oracles here, not by TSan.
 * noinline keeps the attribute from being lost by inlining into an
 * instrumented caller.
 */
#define DEVICE_ACCESS __attribute__((no_sanitize_thread, noinline))

struct dma_device {
	struct dma_engine *e;
	unsigned id;
	pthread_t thread;
	bool started;
	uint64_t rng;
	struct dma_transfer *xfer; /* cfg.depth slots */
	bool *busy;
	unsigned n; /* busy slots */
	uint64_t next_start;
	uint64_t gen;
	_Atomic(const char *) state;
	struct dma_stats st; /* updated with relaxed atomics, read by dma_engine_stats */
};

struct dma_engine {
	struct dma_config cfg;
	const struct dma_ops *ops;
	void *ctx;
	atomic_bool stop;
	_Atomic uint64_t progress;
	struct dma_device *devs;
};

#define STAT_ADD(d, f, v) __atomic_fetch_add(&(d)->st.f, (v), __ATOMIC_RELAXED)

static void stat_max(uint64_t *field, uint64_t v)
{
	uint64_t cur = __atomic_load_n(field, __ATOMIC_RELAXED);

	while (v > cur && !__atomic_compare_exchange_n(field, &cur, v, false, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

uint64_t dma_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t dma_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

/* ---- Tags ------------------------------------------------------------------ */

#define TAG_MAGIC 0xDA5ull

static uint8_t tag_check(uint64_t upper56)
{
	uint64_t x = upper56 * 0x9E3779B97F4A7C15ull;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	return (uint8_t)x;
}

uint64_t dma_tag(uint32_t uid, uint32_t index, uint8_t gen)
{
	uint64_t w = TAG_MAGIC << 52 | (uint64_t)(uid & DMA_UID_MASK) << 32 |
		     (uint64_t)(index & DMA_INDEX_MASK) << 16 | (uint64_t)gen << 8;

	return w | tag_check(w >> 8);
}

enum dma_word_kind dma_word_classify(uint64_t w, uint32_t uid, uint32_t index)
{
	if (w == 0)
		return DMA_WORD_ZERO;
	if (w >> 52 != TAG_MAGIC)
		return DMA_WORD_GARBAGE;
	bool mine = ((w >> 32) & DMA_UID_MASK) == (uid & DMA_UID_MASK) &&
		    ((w >> 16) & DMA_INDEX_MASK) == (index & DMA_INDEX_MASK);
	bool intact = tag_check(w >> 8) == (uint8_t)w;
	if (mine)
		return intact ? DMA_WORD_OWN : DMA_WORD_TORN;
	/* A torn word of another block is still another block's data. */
	return DMA_WORD_FOREIGN;
}

void dma_fill_tags(uint64_t *buf, unsigned nblocks, uint32_t uid, uint32_t index, uint8_t gen)
{
	for (unsigned b = 0; b < nblocks; b++) {
		uint64_t tag = dma_tag(uid, index + b, gen);
		for (unsigned i = 0; i < DMA_WORDS; i++)
			buf[(size_t)b * DMA_WORDS + i] = tag;
	}
}

void dma_scan_block(const uint64_t *words, uint32_t uid, uint32_t index, struct dma_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	for (unsigned i = 0; i < DMA_WORDS; i++) {
		enum dma_word_kind k = dma_word_classify(words[i], uid, index);
		switch (k) {
		case DMA_WORD_ZERO:
			sc->zero++;
			break;
		case DMA_WORD_OWN:
			sc->own++;
			break;
		case DMA_WORD_TORN:
			sc->torn++;
			break;
		case DMA_WORD_FOREIGN:
		case DMA_WORD_GARBAGE:
			if (sc->foreign + sc->garbage == 0) {
				sc->first_bad = words[i];
				sc->first_bad_word = i;
			}
			if (k == DMA_WORD_FOREIGN)
				sc->foreign++;
			else
				sc->garbage++;
			break;
		}
	}
}

/* ---- The device's memory accesses -------------------------------------------- */

DEVICE_ACCESS static void dev_load_block(uint64_t *dst, const uint8_t *src)
{
	const volatile uint64_t *s = (const volatile uint64_t *)src;

	for (unsigned i = 0; i < DMA_WORDS; i++)
		dst[i] = s[i];
}

DEVICE_ACCESS static void dev_store_block(uint8_t *dst, uint64_t tag)
{
	volatile uint64_t *d = (volatile uint64_t *)dst;

	for (unsigned i = 0; i < DMA_WORDS; i++)
		d[i] = tag;
}

static uint64_t block_sum(const uint64_t *w)
{
	uint64_t h = 0xCBF29CE484222325ull;

	for (unsigned i = 0; i < DMA_WORDS; i++)
		h = (h ^ w[i]) * 0x100000001B3ull;
	return h ^ (h >> 31);
}

/* ---- Transfers ---------------------------------------------------------------- */

static void violation(struct dma_device *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct dma_device *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	STAT_ADD(d, violations, 1);
	d->e->ops->violation(d->e->ctx, msg);
}

const char *dma_dir_name(enum dma_dir dir)
{
	return dir == DMA_DEV_WRITE ? "WRITE" : dir == DMA_DEV_READ ? "READ" : "READ|STABLE";
}

static uint64_t block_index(const struct dma_transfer *t, unsigned b)
{
	return t->offset / DMA_BLOCK + b;
}

/* Where each block of the range is in memory; false if the extents leave
 * a block out (a pin must cover its whole range). */
static bool locate_blocks(struct dma_transfer *t)
{
	for (unsigned b = 0; b < t->nblocks; b++) {
		uint64_t off = t->offset + (uint64_t)b * DMA_BLOCK;
		t->blk[b] = NULL;
		for (unsigned s = 0; s < t->nseg && !t->blk[b]; s++)
			if (off >= t->seg[s].file_offset &&
			    off - t->seg[s].file_offset < t->seg[s].length)
				t->blk[b] = t->seg[s].addr + (off - t->seg[s].file_offset);
		if (!t->blk[b])
			return false;
	}
	return true;
}

/* Reports the words of block b (as read into words) that are not this
 * file's; zero_is_bad: a block the device wrote has no business being
 * zeroed. */
static void check_owner(struct dma_device *d, struct dma_transfer *t, unsigned b,
			const uint64_t *words, const char *when, bool zero_is_bad)
{
	struct dma_scan sc;

	dma_scan_block(words, t->file_uid, (uint32_t)block_index(t, b), &sc);
	STAT_ADD(d, torn_words, sc.torn);
	if (sc.foreign || sc.garbage)
		violation(d,
			  "device %u %s pin %llu (file %u block %llu) %s: %u foreign and %u "
			  "garbage words, first %#llx at word %u",
			  d->id, dma_dir_name(t->dir), (unsigned long long)t->pin_id, t->file_uid,
			  (unsigned long long)block_index(t, b), when, sc.foreign, sc.garbage,
			  (unsigned long long)sc.first_bad, sc.first_bad_word);
	else if (zero_is_bad && sc.zero)
		violation(d,
			  "device %u WRITE pin %llu (file %u block %llu) %s: %u words zeroed "
			  "under the pin",
			  d->id, (unsigned long long)t->pin_id, t->file_uid,
			  (unsigned long long)block_index(t, b), when, sc.zero);
}

static void check_stable(struct dma_device *d, struct dma_transfer *t, unsigned b,
			 const uint64_t *words, const char *when)
{
	STAT_ADD(d, stable_checks, 1);
	if (block_sum(words) != t->sum[b])
		violation(d,
			  "device %u READ|STABLE pin %llu (file %u block %llu) %s: content "
			  "changed under the stable pin",
			  d->id, (unsigned long long)t->pin_id, t->file_uid,
			  (unsigned long long)block_index(t, b), when);
}

/* At pin time: the blocks are this file's (or zeros); a stable pin
 * remembers what it must keep seeing. */
static void verify_at_pin(struct dma_device *d, struct dma_transfer *t)
{
	uint64_t words[DMA_WORDS];

	for (unsigned b = 0; b < t->nblocks; b++) {
		dev_load_block(words, t->blk[b]);
		check_owner(d, t, b, words, "at pin time", false);
		if (t->dir == DMA_DEV_READ_STABLE)
			t->sum[b] = block_sum(words);
	}
}

static uint64_t choose_hold_ns(struct dma_engine *e, struct dma_device *d, bool *tail)
{
	const struct dma_config *c = &e->cfg;
	uint64_t ms;

	*tail = c->tail_permille && dma_rand(&d->rng) % 1000 < c->tail_permille;
	if (*tail)
		ms = c->tail_ms * 3 / 4 + dma_rand(&d->rng) % (c->tail_ms / 2 + 1);
	else
		ms = c->hold_ms / 2 + dma_rand(&d->rng) % (c->hold_ms + 1);
	/* Microsecond jitter, so that short holds still spread out. */
	return ms * 1000000ull + dma_rand(&d->rng) % 1000000ull;
}

/* Errors a racing workload gets legitimately (a range truncated under the
 * submitter's choice, a file gone, a full pool, the pin limits); false for
 * any other. */
static bool count_expected_pin_error(struct dma_device *d, int rc)
{
	switch (rc) {
	case -ENXIO:
		STAT_ADD(d, pin_enxio, 1);
		return true;
	case -ENOENT:
		STAT_ADD(d, pin_enoent, 1);
		return true;
	case -ENOSPC:
		STAT_ADD(d, pin_enospc, 1);
		return true;
	case -EMFILE:
	case -ENFILE:
		STAT_ADD(d, pin_limit, 1);
		return true;
	case -E2BIG:
		STAT_ADD(d, pin_e2big, 1);
		return true;
	default:
		return false;
	}
}

static void count_pin(struct dma_device *d, const struct dma_transfer *t)
{
	STAT_ADD(d, pins, 1);
	if (t->dir == DMA_DEV_WRITE)
		STAT_ADD(d, pins_write, 1);
	else if (t->dir == DMA_DEV_READ)
		STAT_ADD(d, pins_read, 1);
	else
		STAT_ADD(d, pins_stable, 1);
	if (t->tail)
		STAT_ADD(d, tail_transfers, 1);
}

/* Chooses, pins and checks one transfer in slot i; false when the
 * submitter has nothing to offer. */
static bool start_transfer(struct dma_device *d, unsigned i)
{
	struct dma_engine *e = d->e;
	struct dma_transfer *t = &d->xfer[i];

	memset(t, 0, sizeof(*t));
	t->dev = d->id;
	atomic_store(&d->state, "choosing a transfer");
	if (!e->ops->next(e->ctx, d->id, t, &d->rng))
		return false;
	t->nblocks = (unsigned)(t->length / DMA_BLOCK);
	if (!t->nblocks || t->nblocks > DMA_MAX_BLOCKS || (t->offset | t->length) % DMA_BLOCK) {
		fprintf(stderr, "dma_engine: the submitter chose a bad range [%llu, +%llu)\n",
			(unsigned long long)t->offset, (unsigned long long)t->length);
		abort();
	}
	atomic_store(&d->state, "pinning");
	int rc = e->ops->pin(e->ctx, t);
	if (rc < 0) {
		if (!count_expected_pin_error(d, rc)) {
			STAT_ADD(d, pin_other, 1);
			violation(d, "device %u: %s pin of file %u [%llu, +%llu) failed: %s", d->id,
				  dma_dir_name(t->dir), t->file_uid, (unsigned long long)t->offset,
				  (unsigned long long)t->length, strerror(-rc));
		}
		e->ops->finish(e->ctx, t, rc);
		atomic_fetch_add(&e->progress, 1);
		return true;
	}
	uint64_t now = dma_now_ns();
	t->t_pinned = now;
	t->t_due = now + choose_hold_ns(e, d, &t->tail);
	t->gen = (uint8_t)++d->gen;
	count_pin(d, t);
	d->busy[i] = true;
	d->n++;
	if (!locate_blocks(t)) {
		violation(d,
			  "device %u: pin %llu of file %u [%llu, +%llu): extents leave blocks out",
			  d->id, (unsigned long long)t->pin_id, t->file_uid,
			  (unsigned long long)t->offset, (unsigned long long)t->length);
		t->nblocks = 0; /* nothing to touch: complete it as it is */
		return true;
	}
	verify_at_pin(d, t);
	return true;
}

static uint64_t step_time(const struct dma_transfer *t, unsigned step)
{
	return t->t_pinned + (t->t_due - t->t_pinned) * (step + 1) / (t->nblocks + 1);
}

/* One block of progress: the device writes it, or reads (and, stable,
 * re-checks) it. */
static void do_step(struct dma_device *d, struct dma_transfer *t)
{
	unsigned b = t->steps_done++;

	if (t->dir == DMA_DEV_WRITE) {
		dev_store_block(t->blk[b],
				dma_tag(t->file_uid, (uint32_t)block_index(t, b), t->gen));
		d->e->ops->persist(d->e->ctx, t, t->blk[b], DMA_BLOCK);
		STAT_ADD(d, blocks_written, 1);
		return;
	}
	uint64_t words[DMA_WORDS];
	dev_load_block(words, t->blk[b]);
	if (t->dir == DMA_DEV_READ_STABLE)
		check_stable(d, t, b, words, "mid-transfer");
	else
		check_owner(d, t, b, words, "mid-transfer", false);
	STAT_ADD(d, blocks_read, 1);
}

/* Before the unpin: what the device wrote is still there (no one took
 * the blocks), what it read stable has not changed. */
static void verify_at_completion(struct dma_device *d, struct dma_transfer *t)
{
	uint64_t words[DMA_WORDS];

	for (unsigned b = 0; b < t->nblocks; b++) {
		dev_load_block(words, t->blk[b]);
		if (t->dir == DMA_DEV_READ_STABLE)
			check_stable(d, t, b, words, "at completion");
		else
			check_owner(d, t, b, words, "at completion", t->dir == DMA_DEV_WRITE);
	}
}

static void complete_transfer(struct dma_device *d, unsigned i)
{
	struct dma_engine *e = d->e;
	struct dma_transfer *t = &d->xfer[i];

	atomic_store(&d->state, "verifying a transfer");
	verify_at_completion(d, t);
	atomic_store(&d->state, "unpinning");
	int rc = e->ops->unpin(e->ctx, t);
	if (rc < 0)
		violation(d, "device %u: unpin of pin %llu (file %u) failed: %s", d->id,
			  (unsigned long long)t->pin_id, t->file_uid, strerror(-rc));
	uint64_t done = dma_now_ns();
	stat_max(&d->st.hold_max_ns, done - t->t_pinned);
	if (t->recalled)
		stat_max(&d->st.recall_to_unpin_max_ns, done - t->t_recalled);
	STAT_ADD(d, transfers, 1);
	e->ops->finish(e->ctx, t, 0);
	d->busy[i] = false;
	d->n--;
	atomic_fetch_add(&e->progress, 1);
}

static void advance(struct dma_device *d, uint64_t now)
{
	for (unsigned i = 0; i < d->e->cfg.depth; i++) {
		if (!d->busy[i])
			continue;
		struct dma_transfer *t = &d->xfer[i];
		atomic_store(&d->state, "transferring");
		while (t->steps_done < t->nblocks && now >= step_time(t, t->steps_done))
			do_step(d, t);
		if (t->steps_done == t->nblocks && now >= t->t_due)
			complete_transfer(d, i);
	}
}

static void start_transfers(struct dma_device *d, uint64_t now)
{
	const struct dma_config *c = &d->e->cfg;
	uint64_t interval = c->rate ? 1000000000ull / c->rate : 0;

	for (unsigned i = 0; i < c->depth && now >= d->next_start; i++) {
		if (d->busy[i])
			continue;
		if (!start_transfer(d, i)) {
			d->next_start = now + 2000000; /* nothing to pin now: look again soon */
			return;
		}
		d->next_start = d->next_start + interval < now ? now : d->next_start + interval;
	}
}

static uint64_t next_event(struct dma_device *d, bool stopping)
{
	uint64_t wake = UINT64_MAX;

	if (!stopping && d->n < d->e->cfg.depth)
		wake = d->next_start;
	for (unsigned i = 0; i < d->e->cfg.depth; i++) {
		if (!d->busy[i])
			continue;
		const struct dma_transfer *t = &d->xfer[i];
		uint64_t at = t->steps_done < t->nblocks ? step_time(t, t->steps_done) : t->t_due;
		if (at < wake)
			wake = at;
	}
	return wake;
}

static void mark_recalled(struct dma_device *d, const uint64_t *ids, int n, uint64_t now)
{
	for (int k = 0; k < n; k++)
		for (unsigned i = 0; i < d->e->cfg.depth; i++) {
			struct dma_transfer *t = &d->xfer[i];
			if (d->busy[i] && t->pin_id == ids[k] && !t->recalled) {
				t->recalled = true;
				t->t_recalled = now;
				STAT_ADD(d, recalled, 1);
			}
		}
}

static void *device_main(void *arg)
{
	struct dma_device *d = arg;
	struct dma_engine *e = d->e;
	uint64_t ids[DAXFS_RECALLS_MAX];

	d->next_start = dma_now_ns();
	for (;;) {
		bool stopping = atomic_load(&e->stop);
		uint64_t now = dma_now_ns();
		advance(d, now);
		if (!stopping)
			start_transfers(d, now);
		if (stopping && d->n == 0)
			break;
		uint64_t wake = next_event(d, stopping);
		now = dma_now_ns();
		if (wake <= now)
			continue;
		uint64_t timeout = wake - now;
		if (timeout > 50000000) /* look at the stop flag now and then */
			timeout = 50000000;
		atomic_store(&d->state, "waiting");
		int n = e->ops->wait(e->ctx, d->id, timeout, ids, DAXFS_RECALLS_MAX);
		mark_recalled(d, ids, n, dma_now_ns());
	}
	atomic_store(&d->state, "stopped");
	return NULL;
}

int dma_engine_start(const struct dma_config *cfg, const struct dma_ops *ops, void *ctx,
		     struct dma_engine **out)
{
	struct dma_engine *e;

	if (!cfg->devices || !cfg->depth || cfg->depth > DMA_MAX_DEPTH)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->ops = ops;
	e->ctx = ctx;
	e->devs = calloc(cfg->devices, sizeof(*e->devs));
	if (!e->devs) {
		free(e);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cfg->devices; i++) {
		struct dma_device *d = &e->devs[i];
		d->e = e;
		d->id = i;
		d->rng = (cfg->seed + 1) * 0x9E3779B97F4A7C15ull + i * 0xD1B54A32D192ED03ull;
		if (!d->rng)
			d->rng = 1;
		atomic_store(&d->state, "starting");
		d->xfer = calloc(cfg->depth, sizeof(*d->xfer));
		d->busy = calloc(cfg->depth, sizeof(*d->busy));
		if (!d->xfer || !d->busy)
			goto fail;
	}
	for (unsigned i = 0; i < cfg->devices; i++) {
		if (pthread_create(&e->devs[i].thread, NULL, device_main, &e->devs[i]))
			goto fail;
		e->devs[i].started = true;
	}
	*out = e;
	return 0;
fail:
	dma_engine_stop(e);
	dma_engine_destroy(e);
	return -ENOMEM;
}

void dma_engine_stop(struct dma_engine *e)
{
	atomic_store(&e->stop, true);
	for (unsigned i = 0; i < e->cfg.devices; i++)
		if (e->devs[i].started) {
			pthread_join(e->devs[i].thread, NULL);
			e->devs[i].started = false;
		}
}

void dma_engine_destroy(struct dma_engine *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->cfg.devices; i++) {
		free(e->devs[i].xfer);
		free(e->devs[i].busy);
	}
	free(e->devs);
	free(e);
}

_Static_assert(sizeof(struct dma_stats) % sizeof(uint64_t) == 0, "dma_stats is all uint64_t");

void dma_engine_stats(struct dma_engine *e, struct dma_stats *out)
{
	uint64_t *o = (uint64_t *)out;
	size_t nf = sizeof(*out) / sizeof(uint64_t);

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < e->cfg.devices; i++) {
		const uint64_t *s = (const uint64_t *)&e->devs[i].st;
		for (size_t f = 0; f < nf; f++)
			o[f] += __atomic_load_n(&s[f], __ATOMIC_RELAXED);
	}
	/* Maxima, not sums. */
	out->hold_max_ns = out->recall_to_unpin_max_ns = 0;
	for (unsigned i = 0; i < e->cfg.devices; i++) {
		stat_max(&out->hold_max_ns,
			 __atomic_load_n(&e->devs[i].st.hold_max_ns, __ATOMIC_RELAXED));
		stat_max(&out->recall_to_unpin_max_ns,
			 __atomic_load_n(&e->devs[i].st.recall_to_unpin_max_ns, __ATOMIC_RELAXED));
	}
}

uint64_t dma_engine_progress(struct dma_engine *e)
{
	return atomic_load(&e->progress);
}

const char *dma_engine_device_state(struct dma_engine *e, unsigned dev)
{
	return dev < e->cfg.devices ? atomic_load(&e->devs[dev].state) : "none";
}
