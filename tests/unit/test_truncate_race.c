/* SPDX-License-Identifier: MIT */
/*
 * The proof of the removal protocol through the core library: reader
 * threads take and drop references through file maps (daxfs_read_map)
 * while mutator threads truncate, punch, zero, extend and write, so that
 * freed blocks are reallocated to other files at once.  While a reader
 * holds its references it checks that
 *
 *   - every byte it was given is either zeros or this file's tag for the
 *     right block index (never another file's block);
 *   - every referenced pfn is TRACKED or UNTRACKED with references > 0 and
 *     still owned by this file's block (never FREE or reallocated);
 *   - the bytes do not change while it holds them, across a short sleep
 *     that makes removals wait for it (or defer to its last put).
 *
 * Each mutator is the only one changing its files, so it keeps an exact
 * model of them (size, and per block: hole, zero block or the generation it
 * wrote) and checks the size after every operation.  Afterwards: no illegal
 * transition, every file's contents match the model, every block handed to
 * its last put was freed by it, and deleting the files gives every block
 * back, before and after a remount.  Both layout-wait policies are run; in
 * sync mode one mutator is "interrupted" now and then (its cancel flag set,
 * as a FUSE interrupt does), which mixes waiting and deferring.  Also, with
 * the pool full, a write that fails with ENOSPC must not change the size.
 * A watchdog turns a hang (the usual symptom of a broken protocol: a
 * reader spinning on a block that never becomes TRACKED again) into a
 * failure.
 *
 * Every change the mutators make is block-aligned and writes only into
 * holes, so no block is ever modified in place while it is mapped: a
 * referenced block's bytes are immutable until its last reference goes,
 * which makes "unchanged while held" an exact check.  (Unaligned truncates
 * and overwrites zero or rewrite a mapped block in place by design; a
 * reader racing with those sees a legitimate data race that says nothing
 * about the protocol.)
 *
 * RACE_SECONDS (default 5) is the total racing time, split between the two
 * policies.  Under TSan, DAXFS_TSAN_RCU_MODEL=0 shows the raw reports that
 * the RCU model below explains away.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../fs/block_map.h"
#include "../../fs/pfn_table.h"
#include "../../fs/super.h"
#include "check.h"

#define BS ((uint64_t)DAXFS_BLOCK_SIZE)
#define WORDS_PER_BLOCK (BS / 8)
#define NFILES 6
#define NMUTATORS 3 /* mutator m owns the files f with f % NMUTATORS == m */
#define NREADERS 3
#define MAXBLK 40 /* file blocks per file: one index block maps them all */
#define MAX_WRITE_BLOCKS 4
/* Free blocks left beside the ballast: fewer than the files could use
 * together, so the allocator hands freed blocks out again at once. */
#define SPARE_BLOCKS 160
#define TAG_MAGIC 0xdaf5000000000000ULL
#define PREALLOCATED UINT64_MAX

static char dir[] = "/dev/shm/daxfs-race-XXXXXX";
static char pool[256];
static const struct daxfs_cred root_cred = { 0 };

struct tfile {
	char name[16];
	uint64_t ino;
	uint32_t generation;
	/* Owned by the file's mutator: per block, 0 for a hole, PREALLOCATED
	 * for a zero block, else the generation written into it. */
	uint64_t model[MAXBLK];
	uint64_t size_blocks;
};

static struct daxfs *fs;
static struct pfn_table *pfns; /* never replaced while mounted */
static struct tfile files[NFILES];
static atomic_bool stop;

static _Atomic uint64_t n_errors, n_foreign;
static _Atomic uint64_t n_reads, n_bytes, n_refs, n_zero_chunks, n_long_holds;
static _Atomic uint64_t n_writes, n_truncates, n_punches, n_zeroes, n_extends, n_preallocs,
	n_enospc, n_interrupted;

#define RACE_FAIL(...)                                                  \
	do {                                                            \
		if (atomic_fetch_add(&n_errors, 1) < 20)                \
			fprintf(stderr, "race: " __VA_ARGS__);          \
	} while (0)

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t tag_word(unsigned f, uint64_t index, uint64_t gen, uint64_t k)
{
	switch (k % 3) {
	case 0:
		return TAG_MAGIC | f;
	case 1:
		return index;
	default:
		return gen;
	}
}

static void fill_block(char *p, unsigned f, uint64_t index, uint64_t gen)
{
	uint64_t *w = (uint64_t *)p;

	for (uint64_t k = 0; k < WORDS_PER_BLOCK; k++)
		w[k] = tag_word(f, index, gen, k);
}

static void sleep_ns(long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- readers ---- */

struct chunk {
	const char *p;
	uint64_t pos, len;
	int ref; /* index in ctx.refs, -1 for the shared zero page */
};

struct reader {
	pthread_t thread;
	unsigned id;
	struct daxfs_read_ctx ctx;
	struct chunk chunks[DAXFS_READ_MAX_IOV + 2];
	char snap[DAXFS_READ_MAX_IOV * DAXFS_BLOCK_SIZE];
};

/* Checks one block-sized-at-most piece of file f at pos.  Returns false
 * (and reports) unless it is all zeros or all f's tag for its block. */
static bool check_chunk(unsigned f, const struct chunk *c, const char *what)
{
	const uint64_t *w = (const uint64_t *)c->p;
	uint64_t index = c->pos / BS, k0 = (c->pos % BS) / 8, n = c->len / 8;
	bool zeros = true;

	for (uint64_t i = 0; i < n && zeros; i++)
		zeros = w[i] == 0;
	if (zeros) {
		atomic_fetch_add_explicit(&n_zero_chunks, 1, memory_order_relaxed);
		return true;
	}
	if (c->ref < 0) {
		RACE_FAIL("%s: the zero page is not zero\n", what);
		return false;
	}
	uint64_t gen = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = k0 + i, v = w[i];
		if (k % 3 == 0 && v != tag_word(f, index, 0, k)) {
			if ((v & ~0xffffULL) == TAG_MAGIC) {
				atomic_fetch_add(&n_foreign, 1);
				RACE_FAIL("%s: file %u block %llu holds a block of file %llu\n",
					  what, f, (unsigned long long)index,
					  (unsigned long long)(v & 0xffff));
			} else {
				RACE_FAIL("%s: file %u block %llu word %llu is %#llx\n", what, f,
					  (unsigned long long)index, (unsigned long long)k,
					  (unsigned long long)v);
			}
			return false;
		}
		if (k % 3 == 1 && v != index) {
			RACE_FAIL("%s: file %u block %llu holds its block %llu\n", what, f,
				  (unsigned long long)index, (unsigned long long)v);
			return false;
		}
		if (k % 3 == 2) {
			if (!gen)
				gen = v;
			if (v != gen || v == 0) {
				RACE_FAIL("%s: file %u block %llu mixes generations %llu, %llu\n",
					  what, f, (unsigned long long)index,
					  (unsigned long long)gen, (unsigned long long)v);
				return false;
			}
		}
	}
	return true;
}

/* Every referenced pfn must be held and still belong to this file block. */
static void check_refs(struct reader *r, unsigned f, int nchunks, const char *what)
{
	struct tfile *tf = &files[f];

	for (int i = 0; i < nchunks; i++) {
		const struct chunk *c = &r->chunks[i];
		if (c->ref < 0)
			continue;
		uint64_t pfn = r->ctx.refs[c->ref];
		uint64_t w = atomic_load(&pfns->entries[pfn].word);
		uint64_t owner = atomic_load_explicit(&pfns->entries[pfn].owner,
						      memory_order_relaxed);
		enum pfn_state s = pfn_word_state(w);
		if (s != PFN_TRACKED && s != PFN_UNTRACKED)
			RACE_FAIL("%s: file %u block %llu: pfn %llu is %s while referenced\n",
				  what, f, (unsigned long long)(c->pos / BS),
				  (unsigned long long)pfn, pfn_state_name(s));
		else if (pfn_word_refs(w) == 0)
			RACE_FAIL("%s: pfn %llu referenced with refs 0 (word %#llx)\n", what,
				  (unsigned long long)pfn, (unsigned long long)w);
		else if (owner != pfn_owner(tf->ino, c->pos / BS) ||
			 ((w >> PFN_GEN_SHIFT) & 0xffff) != (tf->generation & 0xffff))
			RACE_FAIL("%s: pfn %llu owned by %#llx, not file %u block %llu\n", what,
				  (unsigned long long)pfn, (unsigned long long)owner, f,
				  (unsigned long long)(c->pos / BS));
	}
}

/* Splits the iovecs into per-block pieces and ties each piece inside the
 * pool to its reference.  Returns the number of pieces, -1 on a mismatch. */
static int split(struct reader *r, uint64_t off, ssize_t n)
{
	const struct daxfs_read_ctx *ctx = &r->ctx;
	const char *base = fs->pool.base, *end = base + fs->pool.size;
	uint64_t pos = off, total = 0;
	int nchunks = 0, nextref = 0;

	for (int i = 0; i < ctx->niov; i++) {
		const char *p = ctx->iov[i].iov_base;
		uint64_t left = ctx->iov[i].iov_len;
		total += left;
		while (left) {
			uint64_t len = BS - pos % BS < left ? BS - pos % BS : left;
			struct chunk *c = &r->chunks[nchunks++];
			c->p = p;
			c->pos = pos;
			c->len = len;
			c->ref = -1;
			if (p >= base && p < end) {
				uint64_t blk = (uint64_t)(p - base) / BS;
				if ((uint64_t)(p - base) % BS != pos % BS) {
					RACE_FAIL("iovec at pool offset %#llx, file offset %#llx\n",
						  (unsigned long long)(p - base),
						  (unsigned long long)pos);
					return -1;
				}
				/* References are taken in file order, one per
				 * block that is not a hole. */
				if (nextref >= ctx->nrefs ||
				    ctx->refs[nextref] != blk - fs->alloc.data_start) {
					RACE_FAIL("block %llu in an iovec without its reference\n",
						  (unsigned long long)blk);
					return -1;
				}
				c->ref = nextref++;
			}
			p += len;
			pos += len;
			left -= len;
		}
	}
	if (total != (uint64_t)n || nextref != ctx->nrefs) {
		RACE_FAIL("read_map returned %zd bytes in %llu, %d references for %d blocks\n", n,
			  (unsigned long long)total, ctx->nrefs, nextref);
		return -1;
	}
	return nchunks;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t seed = 0x2545f4914f6cdd1dULL * (r->id + 7);
	uint64_t reads = 0, bytes = 0, refs = 0, long_holds = 0;

	rcu_thread_enter();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t x = xorshift(&seed);
		unsigned f = (unsigned)(x % NFILES);
		uint64_t off = (xorshift(&seed) % ((MAXBLK + 1) * WORDS_PER_BLOCK)) * 8;
		uint64_t len = (x >> 8) % 16 == 0 ? MAXBLK * BS
						  : ((x >> 16) % (6 * WORDS_PER_BLOCK) + 1) * 8;

		ssize_t n = daxfs_read_map(fs, files[f].ino, off, len, &r->ctx);
		if (n < 0) {
			RACE_FAIL("read_map of file %u at %llu: %s\n", f, (unsigned long long)off,
				  strerror((int)-n));
			continue;
		}
		if (n == 0)
			continue;
		reads++;
		bytes += (uint64_t)n;
		refs += (uint64_t)r->ctx.nrefs;
		int nchunks = split(r, off, n);
		if (nchunks > 0) {
			char *s = r->snap;
			for (int i = 0; i < nchunks; i++) {
				check_chunk(f, &r->chunks[i], "first look");
				memcpy(s, r->chunks[i].p, r->chunks[i].len);
				s += r->chunks[i].len;
			}
			check_refs(r, f, nchunks, "first look");

			/* Hold on for a while: removals of these blocks must
			 * wait (or defer) and reallocation must not touch
			 * them meanwhile. */
			uint64_t y = xorshift(&seed) % 64;
			if (y == 0) {
				sleep_ns(1000000 + (long)(xorshift(&seed) % 2000000));
				long_holds++;
			} else if (y < 32) {
				sleep_ns(10000 + (long)(xorshift(&seed) % 100000));
			} else if (y < 40) {
				sched_yield();
			}

			s = r->snap;
			for (int i = 0; i < nchunks; i++) {
				const struct chunk *c = &r->chunks[i];
				if (memcmp(s, c->p, c->len) != 0 &&
				    check_chunk(f, c, "second look"))
					RACE_FAIL("file %u block %llu changed while referenced\n",
						  f, (unsigned long long)(c->pos / BS));
				s += c->len;
			}
			check_refs(r, f, nchunks, "second look");
		}
		daxfs_read_done(&r->ctx);
	}
	atomic_fetch_add(&n_reads, reads);
	atomic_fetch_add(&n_bytes, bytes);
	atomic_fetch_add(&n_refs, refs);
	atomic_fetch_add(&n_long_holds, long_holds);
	return NULL;
}

/* ---- mutators ---- */

struct mutator {
	pthread_t thread;
	unsigned id;
	bool interrupts; /* sets its cancel flag around some operations */
	_Atomic bool cancel;
	uint64_t gen;
	char buf[MAX_WRITE_BLOCKS * DAXFS_BLOCK_SIZE];
};

static void set_size(struct tfile *tf, uint64_t blocks)
{
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = blocks * BS };
	struct daxfs_attr a;
	int rc = daxfs_setattr(fs, tf->ino, &sa, &a);

	if (rc)
		RACE_FAIL("setattr %s size %llu: %s\n", tf->name, (unsigned long long)sa.size,
			  strerror(-rc));
}

/* After a partial failure, learn which holes were filled from the map (the
 * mutator is the only one changing this file, so the map holds still). */
static void resync(struct tfile *tf, uint64_t first, uint64_t end)
{
	const struct daxfs_dinode *di = dinode(fs, tf->ino);

	for (uint64_t i = first; i < end && i < MAXBLK; i++)
		if (!tf->model[i] && bmap_lookup(fs, di, i))
			tf->model[i] = PREALLOCATED;
}

static void mutate(struct mutator *m, unsigned f, uint64_t *seed)
{
	struct tfile *tf = &files[f];
	uint64_t x = xorshift(seed), op = x % 100;
	uint64_t a = (x >> 8) % MAXBLK, b = a + 1 + (x >> 16) % (MAXBLK / 2);
	int rc;

	if (b > MAXBLK)
		b = MAXBLK;
	if (op < 45) {
		/* Write tagged blocks into the holes starting at a. */
		uint64_t n = 0;
		while (n < MAX_WRITE_BLOCKS && a + n < MAXBLK && !tf->model[a + n])
			n++;
		if (!n)
			return;
		uint64_t gen = ++m->gen;
		for (uint64_t i = 0; i < n; i++)
			fill_block(m->buf + i * BS, f, a + i, gen);
		ssize_t w = daxfs_write(fs, tf->ino, m->buf, n * BS, a * BS, false);
		if (w == -ENOSPC) {
			/* Nothing written: nothing may change, the size
			 * included (check_size looks). */
			atomic_fetch_add(&n_enospc, 1);
			return;
		}
		if (w < 0 || w % BS || (uint64_t)w > n * BS) {
			RACE_FAIL("write %s at block %llu: %zd\n", tf->name,
				  (unsigned long long)a, w);
			return;
		}
		if ((uint64_t)w < n * BS)
			atomic_fetch_add(&n_enospc, 1);
		for (uint64_t i = 0; i < (uint64_t)w / BS; i++)
			tf->model[a + i] = gen;
		if (w && a + (uint64_t)w / BS > tf->size_blocks)
			tf->size_blocks = a + (uint64_t)w / BS;
		atomic_fetch_add_explicit(&n_writes, 1, memory_order_relaxed);
	} else if (op < 60) {
		/* Truncate down (to zero now and then: the index block goes). */
		uint64_t nb = op < 50 ? 0 : tf->size_blocks ? (x >> 24) % tf->size_blocks : 0;
		set_size(tf, nb);
		for (uint64_t i = nb; i < MAXBLK; i++)
			tf->model[i] = 0;
		tf->size_blocks = nb;
		atomic_fetch_add_explicit(&n_truncates, 1, memory_order_relaxed);
	} else if (op < 75) {
		/* Punch a hole, sometimes running past EOF. */
		rc = daxfs_fallocate(fs, tf->ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     a * BS, (b - a) * BS);
		if (rc)
			RACE_FAIL("punch %s: %s\n", tf->name, strerror(-rc));
		for (uint64_t i = a; i < b && i < tf->size_blocks; i++)
			tf->model[i] = 0;
		atomic_fetch_add_explicit(&n_punches, 1, memory_order_relaxed);
	} else if (op < 83) {
		/* Zero a range: blocks removed, size extended to its end. */
		rc = daxfs_fallocate(fs, tf->ino, FALLOC_FL_ZERO_RANGE, a * BS, (b - a) * BS);
		if (rc)
			RACE_FAIL("zero range %s: %s\n", tf->name, strerror(-rc));
		for (uint64_t i = a; i < b; i++)
			tf->model[i] = 0;
		if (b > tf->size_blocks)
			tf->size_blocks = b;
		atomic_fetch_add_explicit(&n_zeroes, 1, memory_order_relaxed);
	} else if (op < 91) {
		/* Extend with a hole. */
		if (tf->size_blocks >= MAXBLK)
			return;
		uint64_t nb = tf->size_blocks + 1 + (x >> 24) % (MAXBLK - tf->size_blocks);
		set_size(tf, nb);
		tf->size_blocks = nb;
		atomic_fetch_add_explicit(&n_extends, 1, memory_order_relaxed);
	} else {
		/* Extend with preallocated zero blocks. */
		rc = daxfs_fallocate(fs, tf->ino, 0, a * BS, (b - a) * BS);
		if (rc == -ENOSPC) {
			atomic_fetch_add(&n_enospc, 1);
			resync(tf, a, b);
			return;
		}
		if (rc)
			RACE_FAIL("preallocate %s: %s\n", tf->name, strerror(-rc));
		for (uint64_t i = a; i < b; i++)
			if (!tf->model[i])
				tf->model[i] = PREALLOCATED;
		if (b > tf->size_blocks)
			tf->size_blocks = b;
		atomic_fetch_add_explicit(&n_preallocs, 1, memory_order_relaxed);
	}
}

/* The mutator is the only one changing its files: the size is exactly
 * what its model says after every operation. */
static void check_size(struct tfile *tf)
{
	struct daxfs_attr a = { 0 };
	int rc = daxfs_getattr(fs, tf->ino, &a);

	if (rc || a.size != tf->size_blocks * BS) {
		RACE_FAIL("%s: size %llu, expected %llu\n", tf->name,
			  (unsigned long long)a.size, (unsigned long long)(tf->size_blocks * BS));
		if (!rc && a.size % BS == 0 && a.size <= MAXBLK * BS)
			tf->size_blocks = a.size / BS; /* report once, not forever */
	}
}

static void *mutator_main(void *arg)
{
	struct mutator *m = arg;
	uint64_t seed = 0x853c49e6748fea9bULL * (m->id + 3);

	rcu_thread_enter();
	/* As a FUSE interrupt does: a removal that finds its cancel flag set
	 * stops waiting and defers its busy blocks to their last put. */
	if (m->interrupts)
		daxfs_set_cancel_flag(&m->cancel);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (unsigned f = m->id; f < NFILES; f += NMUTATORS) {
			bool cancel = m->interrupts && xorshift(&seed) % 4 == 0;
			atomic_store(&m->cancel, cancel);
			n_interrupted += cancel;
			mutate(m, f, &seed);
			check_size(&files[f]);
		}
	}
	daxfs_set_cancel_flag(NULL);
	return NULL;
}

/* ---- the phases ---- */

static void make_pool(void)
{
	const char *mkfs = getenv("MKFS_DAXFS");
	char cmd[1024];

	if (!mkfs || !*mkfs) {
		fprintf(stderr, "MKFS_DAXFS is not set: point it at the mkfs.daxfs binary\n");
		exit(2);
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	snprintf(cmd, sizeof(cmd), "'%s' -s 64M '%s' >/dev/null", mkfs, pool);
	if (system(cmd) != 0) {
		fprintf(stderr, "mkfs failed: %s\n", cmd);
		exit(2);
	}
}

static void remove_pool(void)
{
	unlink(pool);
	rmdir(dir);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* A broken core can crash the test; don't leave 64 MiB behind in
 * /dev/shm.  (The sanitizers keep their own handlers and reports.) */
static void crash_cleanup(int sig)
{
	remove_pool();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup_on_crash(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], crash_cleanup);
}
#else
static void cleanup_on_crash(void)
{
}
#endif

static struct daxfs *mount_pool(enum daxfs_layout_wait policy)
{
	struct daxfs_mount_opts o = { .layout_wait = policy };
	struct daxfs *f = NULL;
	char err[256];

	int rc = daxfs_mount(pool, &o, &f, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mount failed: %s\n", err);
		exit(2);
	}
	return f;
}

static struct daxfs_statfs statfs_of(struct daxfs *f)
{
	struct daxfs_statfs st;

	CHECK_EQ(daxfs_statfs(f, &st), 0);
	return st;
}

/* The table and the allocator agree, and nothing is left held. */
static void check_table(struct daxfs *f, const char *when)
{
	/* Index blocks removed from a map go back to the allocator after a
	 * grace period, from call_rcu: let them arrive. */
	rcu_barrier();
	struct pfn_table *t = fs_pfns(f);
	struct daxfs_statfs st = statfs_of(f);
	uint64_t used = 0, busy = 0, untracked = 0;

	for (uint64_t pfn = 0; pfn < t->nentries; pfn++) {
		uint64_t w = atomic_load(&t->entries[pfn].word);
		used += pfn_word_state(w) != PFN_FREE;
		busy += !pfn_word_idle(w);
		untracked += pfn_word_state(w) == PFN_UNTRACKED;
	}
	if (busy || untracked || used != st.total_blocks - st.free_blocks)
		fprintf(stderr, "%s: %llu busy, %llu untracked, %llu used in the table vs %llu\n",
			when, (unsigned long long)busy, (unsigned long long)untracked,
			(unsigned long long)used,
			(unsigned long long)(st.total_blocks - st.free_blocks));
	CHECK_EQ(busy, 0);
	CHECK_EQ(untracked, 0);
	CHECK_EQ(used, st.total_blocks - st.free_blocks);
}

/* Which pfns were in use before the files existed, to name the leaked
 * ones precisely if the counts disagree afterwards. */
static uint8_t *used_before;

static void snapshot_used(struct daxfs *f)
{
	struct pfn_table *t = fs_pfns(f);

	free(used_before);
	used_before = calloc(t->nentries, 1);
	if (!used_before) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	for (uint64_t pfn = 0; pfn < t->nentries; pfn++)
		used_before[pfn] = pfn_word_state(atomic_load(&t->entries[pfn].word)) != PFN_FREE;
}

static void report_leaks(struct daxfs *f, const char *when)
{
	struct pfn_table *t = fs_pfns(f);
	unsigned shown = 0;

	for (uint64_t pfn = 0; pfn < t->nentries; pfn++) {
		uint64_t w = atomic_load(&t->entries[pfn].word);
		uint64_t o = atomic_load(&t->entries[pfn].owner);
		bool bit = block_alloc_test(&f->alloc, f->alloc.data_start + pfn);
		bool used = pfn_word_state(w) != PFN_FREE;
		if (used_before[pfn] == used && used == bit)
			continue;
		if (shown++ < 10)
			fprintf(stderr,
				"%s: pfn %llu (block %llu) was %s, now %s (word %#llx, last owner "
				"ino %llu block %llu), bitmap %s\n",
				when, (unsigned long long)pfn,
				(unsigned long long)(f->alloc.data_start + pfn),
				used_before[pfn] ? "used" : "free",
				pfn_state_name(pfn_word_state(w)),
				(unsigned long long)w, (unsigned long long)(o >> 32),
				(unsigned long long)(o & 0xffffffff), bit ? "set" : "clear");
	}
}

/* What each file holds at the end is what its mutator wrote. */
static void check_contents(void)
{
	static char buf[MAXBLK * DAXFS_BLOCK_SIZE], want[DAXFS_BLOCK_SIZE];

	for (unsigned f = 0; f < NFILES; f++) {
		struct tfile *tf = &files[f];
		struct daxfs_attr a;
		CHECK_EQ(daxfs_getattr(fs, tf->ino, &a), 0);
		CHECK_EQ(a.size, tf->size_blocks * BS);
		ssize_t n = daxfs_read(fs, tf->ino, buf, sizeof(buf), 0);
		CHECK_EQ(n, tf->size_blocks * BS);
		unsigned bad = 0;
		for (uint64_t i = 0; i < MAXBLK; i++) {
			bool mapped = bmap_lookup(fs, dinode(fs, tf->ino), i) != 0;
			if (mapped != (tf->model[i] != 0))
				bad++;
			if (i >= tf->size_blocks)
				continue;
			if (tf->model[i] == 0 || tf->model[i] == PREALLOCATED)
				memset(want, 0, BS);
			else
				fill_block(want, f, i, tf->model[i]);
			if (memcmp(buf + i * BS, want, BS))
				bad++;
		}
		if (bad)
			fprintf(stderr, "file %u: %u blocks differ from the model\n", f, bad);
		CHECK_EQ(bad, 0);
	}
}

/*
 * A write that fails with ENOSPC before writing anything must not change
 * the file (POSIX; no Linux filesystem extends i_size there).  Run with the
 * pool nearly full (the ballast is in place): fill the rest, then write
 * past the end of an empty file.
 */
static void check_failed_write(uint64_t filler, uint64_t victim)
{
	static char buf[DAXFS_BLOCK_SIZE];
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 0 };
	struct daxfs_attr a;
	ssize_t w = 0;

	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t i = 0; i < 4 * SPARE_BLOCKS; i++)
		if ((w = daxfs_write(fs, filler, buf, BS, i * BS, false)) != (ssize_t)BS)
			break;
	CHECK_EQ(w, -ENOSPC);
	/* One block may be left if the last write needed an index block. */
	CHECK(statfs_of(fs).free_blocks <= 1);

	CHECK_EQ(daxfs_write(fs, victim, buf, BS, 10 * BS, false), -ENOSPC);
	CHECK_EQ(daxfs_getattr(fs, victim, &a), 0);
	if (a.size)
		fprintf(stderr, "a write that failed with ENOSPC at offset %llu set the size of an "
				"empty file to %llu\n",
			(unsigned long long)(10 * BS), (unsigned long long)a.size);
	CHECK_EQ(a.size, 0);
	CHECK_EQ(a.blocks, 0);

	CHECK_EQ(daxfs_setattr(fs, filler, &sa, &a), 0);
	CHECK_EQ(daxfs_setattr(fs, victim, &sa, &a), 0);
}

static void run(enum daxfs_layout_wait policy, double seconds)
{
	const char *pname = policy == DAXFS_LAYOUT_WAIT_SYNC ? "sync" : "deferred";
	static struct reader readers[NREADERS];
	static struct mutator mutators[NMUTATORS];
	struct daxfs_attr a;
	double t0 = now_s();

	fs = mount_pool(policy);
	pfns = fs_pfns(fs);
	struct daxfs_statfs base = statfs_of(fs);
	check_table(fs, "after mount");

	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "ballast", S_IFREG | 0644, 0, &a), 0);
	uint64_t ballast = a.ino;
	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "filler", S_IFREG | 0644, 0, &a), 0);
	uint64_t filler = a.ino;
	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "victim", S_IFREG | 0644, 0, &a), 0);
	uint64_t victim = a.ino;
	for (unsigned f = 0; f < NFILES; f++) {
		struct tfile *tf = &files[f];
		memset(tf, 0, sizeof(*tf));
		snprintf(tf->name, sizeof(tf->name), "f%u", f);
		CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, tf->name, S_IFREG | 0644, 0,
				     &a),
			 0);
		tf->ino = a.ino;
		tf->generation = a.generation;
	}
	/* The block baseline is taken with the (empty) files created: the
	 * root directory may have grown a block for their entries, and
	 * directories keep their blocks. */
	base.free_blocks = statfs_of(fs).free_blocks;
	snapshot_used(fs);

	/* The ballast leaves SPARE_BLOCKS free (its own index blocks are
	 * about one in 512). */
	uint64_t nballast = (base.free_blocks - SPARE_BLOCKS) * 511 / 512;
	CHECK_EQ(daxfs_fallocate(fs, ballast, 0, 0, nballast * BS), 0);
	if (policy == DAXFS_LAYOUT_WAIT_SYNC)
		check_failed_write(filler, victim);
	uint64_t spare = statfs_of(fs).free_blocks;

	atomic_store(&stop, false);
	n_errors = n_foreign = n_reads = n_bytes = n_refs = n_zero_chunks = n_long_holds = 0;
	n_writes = n_truncates = n_punches = n_zeroes = n_extends = n_preallocs = n_enospc = 0;
	n_interrupted = 0;
	for (unsigned i = 0; i < NMUTATORS; i++) {
		mutators[i].id = i;
		/* In sync mode one mutator is interrupted now and then, which
		 * mixes waiting and deferring in the same run. */
		mutators[i].interrupts = policy == DAXFS_LAYOUT_WAIT_SYNC && i == 0;
		if (pthread_create(&mutators[i].thread, NULL, mutator_main, &mutators[i])) {
			perror("pthread_create");
			exit(2);
		}
	}
	for (unsigned i = 0; i < NREADERS; i++) {
		readers[i].id = i;
		if (pthread_create(&readers[i].thread, NULL, reader_main, &readers[i])) {
			perror("pthread_create");
			exit(2);
		}
	}
	sleep_ns((long)(seconds * 1e9));
	atomic_store(&stop, true);
	for (unsigned i = 0; i < NMUTATORS; i++)
		pthread_join(mutators[i].thread, NULL);
	for (unsigned i = 0; i < NREADERS; i++)
		pthread_join(readers[i].thread, NULL);

	struct pfn_stats *ps = &fs->pfns.stats;
	printf("%s: %.1f s, %llu spare blocks: %llu reads (%llu MiB, %llu refs, %llu long holds); "
	       "%llu writes, %llu truncates, %llu punches, %llu zero ranges, %llu extends, "
	       "%llu preallocations, %llu ENOSPC, %llu interrupted; %llu waits (max %.3f ms), "
	       "%llu deferred, %llu freed by the last put\n",
	       pname, seconds, (unsigned long long)spare, (unsigned long long)n_reads,
	       (unsigned long long)(n_bytes >> 20), (unsigned long long)n_refs,
	       (unsigned long long)n_long_holds, (unsigned long long)n_writes,
	       (unsigned long long)n_truncates, (unsigned long long)n_punches,
	       (unsigned long long)n_zeroes, (unsigned long long)n_extends,
	       (unsigned long long)n_preallocs, (unsigned long long)n_enospc,
	       (unsigned long long)n_interrupted,
	       (unsigned long long)ps->waits, (double)ps->wait_ns_max / 1e6,
	       (unsigned long long)ps->deferred, (unsigned long long)ps->deferred_freed);
	CHECK_EQ(atomic_load(&n_errors), 0);
	CHECK_EQ(atomic_load(&n_foreign), 0);
	CHECK_EQ(atomic_load(&ps->illegal_transitions), 0);
	/* The race must have happened: reads that held blocks, and removals
	 * that found blocks busy. */
	CHECK(n_reads > 0 && n_refs > 0);
	CHECK(n_writes > 0 && n_truncates > 0 && n_punches > 0);
	if (policy == DAXFS_LAYOUT_WAIT_SYNC)
		CHECK(atomic_load(&ps->waits) > 0);
	else
		CHECK(atomic_load(&ps->deferred) > 0);
	/* Every block handed to its last put was freed by it. */
	CHECK_EQ(atomic_load(&ps->deferred_freed), atomic_load(&ps->deferred));

	check_table(fs, "after the race");
	check_contents();

	for (unsigned f = 0; f < NFILES; f++) {
		CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, files[f].name), 0);
		daxfs_forget(fs, files[f].ino, 1);
	}
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "ballast"), 0);
	daxfs_forget(fs, ballast, 1);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "filler"), 0);
	daxfs_forget(fs, filler, 1);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "victim"), 0);
	daxfs_forget(fs, victim, 1);
	struct daxfs_statfs st = statfs_of(fs);
	CHECK_EQ(st.free_blocks, base.free_blocks);
	CHECK_EQ(st.free_inodes, base.free_inodes);
	if (st.free_blocks != base.free_blocks)
		report_leaks(fs, "after deleting");
	check_table(fs, "after deleting");

	struct daxfs_unmount_report rep;
	CHECK_EQ(daxfs_unmount(fs, &rep), 0);
	CHECK_EQ(rep.busy_blocks_waited, 0);
	fs = mount_pool(policy);
	st = statfs_of(fs);
	CHECK_EQ(st.free_blocks, base.free_blocks);
	CHECK_EQ(st.free_inodes, base.free_inodes);
	if (st.free_blocks != base.free_blocks)
		report_leaks(fs, "after remount");
	CHECK_EQ(daxfs_lookup(fs, DAXFS_ROOT_INO, "f0", &a), -ENOENT);
	check_table(fs, "after remount");
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	fs = NULL;
	printf("%s: done in %.1f s\n", pname, now_s() - t0);
}

/* A broken protocol tends to hang rather than crash (a reader spinning on
 * a mapped block that never becomes TRACKED again, a removal waiting for a
 * count that never drops): turn that into a failure. */
static atomic_bool watchdog_done;

static void *watchdog_main(void *arg)
{
	double limit = *(double *)arg, t0 = now_s();

	while (!atomic_load(&watchdog_done)) {
		if (now_s() - t0 > limit) {
			fprintf(stderr,
				"watchdog: not finished after %.0f s: a reader or a removal is "
				"stuck\n",
				limit);
			remove_pool();
			_exit(1);
		}
		sleep_ns(100000000);
	}
	return NULL;
}

int main(void)
{
	const char *env = getenv("RACE_SECONDS");
	double seconds = env ? atof(env) : 5.0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (seconds <= 0)
		seconds = 5.0;
	make_pool();
	atexit(remove_pool);
	cleanup_on_crash();
	pthread_t watchdog;
	double limit = 60 + 4 * seconds;
	if (pthread_create(&watchdog, NULL, watchdog_main, &limit)) {
		perror("pthread_create");
		exit(2);
	}
	run(DAXFS_LAYOUT_WAIT_SYNC, seconds / 2);
	run(DAXFS_LAYOUT_WAIT_DEFERRED, seconds / 2);
	atomic_store(&watchdog_done, true);
	pthread_join(watchdog, NULL);
	free(used_before);
	return check_summary();
}
