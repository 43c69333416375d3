/* SPDX-License-Identifier: MIT */
/*
 * daxfs-crash: builds and checks the crash states of each workload.
 *
 * For one workload: mkfs a pool in /dev/shm, mount it, run the setup, copy
 * the pool image, start the pmem trace, run the traced operations (marking
 * where each starts and ends in the trace), stop the trace.  The crash model
 * (pmem/pool.h): at a crash everything flushed before the last fence is
 * durable, any subset of what was flushed since is, nothing else is.  So the
 * states are, for each epoch (the writes between two fences): the image
 * after the previous fence plus a subset of the epoch's writes applied in
 * trace order.  Every subset when the epoch has few writes, otherwise each
 * prefix, each single write left out and a random sample.  Each state is
 * written to a file and handed to verify_image (verify.c).
 *
 * Work is spread over processes: every (workload, shard) job is a child
 * that replays the workload and checks the states whose index is its shard
 * modulo the shard count.  A child that dies or hangs on a state is reported
 * as a failure of that state and restarted after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../fs/super.h"
#include "crash.h"

#ifndef DAXFS_PMEM_TRACE
#error "tests/crash needs a build with -Dpmem_trace=true"
#endif

/* ---- options ------------------------------------------------------------- */

struct options {
	const char *mkfs, *fsck, *dir;
	int all_limit; /* every subset of an epoch with at most this many writes */
	int family_max; /* prefixes / single omissions per epoch (0: all) */
	int max_subsets; /* random subsets per larger epoch */
	bool lines; /* cache-line granularity */
	int jobs;
	bool exercise;
	int max_reports;
	bool verbose;
	int recrash_every; /* 0: off */
	int max_fences; /* per operation, 0: all */
	int recrash_points; /* per recovery trace, 0: all */
	int timeout;
	struct workload_opts wo;
	bool fsck_repair;
	bool dump_trace;
	const char *keep_dir; /* --keep-failed */
	const char *only[64];
	int nonly;
	bool list;
};

static struct options opt = {
	.all_limit = 8,
	.family_max = 48,
	.max_subsets = 16,
	.jobs = 0,
	.exercise = true,
	.max_reports = 3,
	.recrash_every = 16,
	.max_fences = 256,
	.recrash_points = 16,
	.timeout = 120,
	.wo = { .seed = 1, .mixed_seeds = 3, .mixed_ops = 30, .large = true },
};

/* ---- results shared between the processes -------------------------------- */

struct job_result {
	uint64_t states, dups, failures;
	uint64_t rstates, rfailures; /* crashes during recovery */
	uint64_t nevents, nfences, nwrites, signature;
	uint64_t static_failures;
	uint64_t skipped_epochs;
	double seconds; /* CPU time of the job (a restarted job: of its last process) */
	/* for the parent when the child dies */
	int64_t cur_state, resume_from;
	int restarts;
	int64_t heartbeat;
	char cur_desc[1024];
	bool done;
};

struct shared {
	pthread_mutex_t out_lock;
	struct job_result job[];
};

static struct shared *sh;
static struct job_result *me;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Output shared by the processes: one write per message, under a robust
 * lock (a process killed while holding it does not block the others). */
static void out(const char *fmt, ...)
{
	char *buf = NULL;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (pthread_mutex_lock(&sh->out_lock) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->out_lock);
	fflush(stdout);
	for (int done = 0; done < n;) {
		ssize_t w = write(STDOUT_FILENO, buf + done, (size_t)(n - done));
		if (w <= 0)
			break;
		done += (int)w;
	}
	pthread_mutex_unlock(&sh->out_lock);
	free(buf);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- hashing -------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

struct hset {
	uint64_t *v;
	size_t cap, n;
};

/* Returns true if h was new. */
static bool hset_add(struct hset *s, uint64_t h)
{
	if (!h)
		h = 1;
	if ((s->n + 1) * 2 > s->cap) {
		struct hset t = { .cap = s->cap ? s->cap * 2 : 1024 };
		t.v = calloc(t.cap, 8);
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				hset_add(&t, s->v[i]);
		free(s->v);
		*s = t;
	}
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == h)
			return false;
		if (!s->v[i]) {
			s->v[i] = h;
			s->n++;
			return true;
		}
	}
}

static void hset_clear(struct hset *s)
{
	if (s->v)
		memset(s->v, 0, s->cap * 8);
	s->n = 0;
}

/* ---- random numbers ------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return mix64(*s);
}

/* ---- the pool files -------------------------------------------------------- */

static void run_mkfs(const char *pool, uint64_t mib)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "'%s' -f -s %lluM '%s' >/dev/null", opt.mkfs,
		 (unsigned long long)mib, pool);
	if (system(cmd) != 0)
		die("crash: mkfs failed: %s", cmd);
}

static unsigned char *read_file(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		die("crash: cannot open %s: %s", path, strerror(errno));
	unsigned char *b = malloc((size_t)st.st_size);
	if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
		die("crash: cannot read %s", path);
	close(fd);
	*size = (size_t)st.st_size;
	return b;
}

static void pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w <= 0)
			die("crash: cannot write the crash image: %s", strerror(errno));
		p = (const char *)p + w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
}

/* ---- one workload ----------------------------------------------------------- */

/* A unit of persistence: one flushed range, or one cache line of it. */
struct unit {
	uint64_t off, len;
	const unsigned char *bytes;
	size_t ev; /* event index in the trace */
};

struct epoch {
	size_t fence_before; /* event index of the fence that opens it, SIZE_MAX: trace start */
	size_t fence_after; /* event index of the fence that closes it, SIZE_MAX: trace end */
	struct unit *u;
	int n;
};

struct run {
	const struct workload *w;
	int shard, nshards;
	char pool[512], img[512];
	size_t size;
	unsigned char *base; /* image before the traced operations */
	struct pool_trace *tr;
	size_t *op_start, *op_end;
	struct model *models; /* models[i]: after i traced operations */
	int *fuzzy; /* fuzzy[i]: node op i leaves fuzzy, or -1 */
	struct epoch *ep;
	int nep;
	/* the crash state being checked */
	int64_t state_idx;
	uint64_t rng;
	struct hset seen;
	int reports;
	int imgfd;
	unsigned char *imgmap;
	unsigned char *cur; /* image after the epoch's opening fence */
};

static void workload_paths(struct run *r, int jobid)
{
	snprintf(r->pool, sizeof(r->pool), "%s/daxfs-crash-%d-%d.pool", opt.dir, (int)getppid(), jobid);
	snprintf(r->img, sizeof(r->img), "%s/daxfs-crash-%d-%d.img", opt.dir, (int)getppid(), jobid);
}

static void fail_setup(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_setup(struct run *r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (r->shard != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	out("FAIL %s: %s\n", r->w->name, buf);
	me->static_failures++;
}

/* Appends trace t to acc. */
static void trace_append(struct pool_trace *acc, const struct pool_trace *t)
{
	acc->ev = realloc(acc->ev, (acc->nev + t->nev + 1) * sizeof(*acc->ev));
	acc->data = realloc(acc->data, acc->ndata + t->ndata + 1);
	if (!acc->ev || !acc->data)
		die("crash: out of memory");
	memcpy(acc->data + acc->ndata, t->data, t->ndata);
	for (size_t i = 0; i < t->nev; i++) {
		acc->ev[acc->nev + i] = t->ev[i];
		acc->ev[acc->nev + i].data += acc->ndata;
	}
	acc->nev += t->nev;
	acc->ndata += t->ndata;
}

static const char *opname(const struct run *r, int i, char *buf, size_t len);

/* The static checks of one operation's trace t: it must not return with
 * writes flushed but not fenced, nor with stores never flushed (the memory
 * must equal the image before the traced operations plus every flushed
 * write).  replay is that image; known marks bytes already reported. */
static void static_checks(struct run *r, int i, const struct pool_trace *t, unsigned char *replay,
			  uint8_t *known)
{
	char d[256], where[256];
	size_t unfenced = 0;

	for (size_t ev = 0; ev < t->nev; ev++) {
		const struct pool_trace_event *e = &t->ev[ev];
		if (e->kind == POOL_TRACE_FENCE) {
			unfenced = 0;
			continue;
		}
		memcpy(replay + e->off, t->data + e->data + (e->off - e->line_off), e->len);
		unfenced++;
	}
	if (unfenced)
		fail_setup(r,
			   "operation %d (%s) returns with %zu flushed writes not fenced (not "
			   "durable when it returns)",
			   i, opname(r, i, d, sizeof(d)), unfenced);
	size_t n, diff = 0, first = 0;
	unsigned char *mem = read_file(r->pool, &n);
	for (size_t o = 0; o < r->size && o < n; o++) {
		bool differs = mem[o] != replay[o];
		if (differs && !known[o]) {
			if (!diff)
				first = o;
			diff++;
		}
		known[o] = differs;
	}
	if (diff)
		fail_setup(r,
			   "operation %d (%s) returns with stores never flushed: %zu bytes differ "
			   "from what was flushed, the first at offset %zu (%s): memory 0x%02x, "
			   "flushed 0x%02x",
			   i, opname(r, i, d, sizeof(d)), diff, first,
			   describe_offset(mem, first, where, sizeof(where)), mem[first],
			   replay[first]);
	free(mem);
}

/* Runs the setup and the traced operations. */
static int record(struct run *r)
{
	const struct workload *w = r->w;
	struct daxfs_mount_opts mo = { 0 };
	struct daxfs *fs;
	char err[512], d[256];
	uint64_t handles[NHANDLES] = { 0 };
	struct model m;

	run_mkfs(r->pool, w->pool_mib);
	int rc = daxfs_mount(r->pool, &mo, &fs, err, sizeof(err));
	if (rc) {
		fail_setup(r, "mount of the fresh pool failed: %s", err);
		return -1;
	}
	model_init(&m);
	for (int i = 0; i < w->nsetup; i++) {
		struct op op = w->setup[i];
		int em = model_apply(&m, &op), ef = fs_apply(&fs, &op, handles);
		if (em || ef) {
			fail_setup(r, "setup operation %s returned %d (oracle %d)",
				   op_describe(&op, d, sizeof(d)), ef, em);
			return -1;
		}
	}
	r->base = read_file(r->pool, &r->size);
	r->models = calloc((size_t)w->nops + 1, sizeof(*r->models));
	r->fuzzy = calloc((size_t)w->nops + 1, sizeof(int));
	r->op_start = calloc((size_t)w->nops, sizeof(size_t));
	r->op_end = calloc((size_t)w->nops, sizeof(size_t));
	model_copy(&r->models[0], &m);

	/* One trace per operation, concatenated: between two operations the
	 * static checks can compare the memory with what was flushed. */
	unsigned char *replay = r->shard == 0 ? malloc(r->size) : NULL;
	uint8_t *known = r->shard == 0 ? calloc(r->size, 1) : NULL;
	if (replay)
		memcpy(replay, r->base, r->size);
	r->tr = calloc(1, sizeof(*r->tr));
	for (int i = 0; i < w->nops && fs; i++) {
		struct op op = w->ops[i];
		r->op_start[i] = r->tr->nev;
		pool_trace_begin(&fs->pool);
		int em = model_apply(&m, &op);
		int ef = fs_apply(&fs, &op, handles);
		struct pool_trace *t = pool_trace_end();
		trace_append(r->tr, t);
		r->op_end[i] = r->tr->nev;
		if (em != ef) {
			pool_trace_free(t);
			fail_setup(r, "operation %d (%s) returned %d, the oracle expects %d", i,
				   op_describe(&op, d, sizeof(d)), ef, em);
			return -1;
		}
		model_copy(&r->models[i + 1], &m);
		r->fuzzy[i] = op.fuzzy ? op.fuzzy_node : -1;
		if (replay && me->resume_from == 0)
			static_checks(r, i, t, replay, known);
		pool_trace_free(t);
	}
	free(replay);
	free(known);
	model_free(&m);
	if (fs) {
		fail_setup(r, "the last operation must be the unmount");
		daxfs_abandon(fs);
		return -1;
	}
	return 0;
}

static const char *opname(const struct run *r, int i, char *buf, size_t len)
{
	struct op op = r->w->ops[i];
	return op_describe(&op, buf, len);
}

static void dump_trace(struct run *r)
{
	const struct pool_trace *t = r->tr;
	char d[256], where[256];
	int op = 0, fence = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "trace of %s: %zu events\n", r->w->name, t->nev);
	for (size_t i = 0; i < t->nev; i++) {
		while (op < r->w->nops && r->op_start[op] == i)
			fprintf(f, "  -- op %d: %s\n", op, opname(r, op, d, sizeof(d))), op++;
		const struct pool_trace_event *e = &t->ev[i];
		if (e->kind == POOL_TRACE_FENCE)
			fprintf(f, "  %5zu fence %d\n", i, ++fence);
		else
			fprintf(f, "  %5zu write %8llu +%-5llu %s\n", i, (unsigned long long)e->off,
				(unsigned long long)e->len,
				describe_offset(r->base, e->off, where, sizeof(where)));
	}
	fclose(f);
	out("%s", buf);
	free(buf);
}

static void build_epochs(struct run *r)
{
	const struct pool_trace *t = r->tr;
	size_t nf = 0;

	for (size_t i = 0; i < t->nev; i++)
		nf += t->ev[i].kind == POOL_TRACE_FENCE;
	r->nep = (int)nf + 1;
	r->ep = calloc((size_t)r->nep, sizeof(*r->ep));
	int e = 0;
	r->ep[0].fence_before = SIZE_MAX;
	for (size_t i = 0; i < t->nev; i++) {
		const struct pool_trace_event *ev = &t->ev[i];
		struct epoch *p = &r->ep[e];
		if (ev->kind == POOL_TRACE_FENCE) {
			p->fence_after = i;
			r->ep[++e].fence_before = i;
			continue;
		}
		uint64_t lo = opt.lines ? ev->line_off : ev->off;
		uint64_t hi = opt.lines ? ev->line_off + ev->line_len : ev->off + ev->len;
		for (uint64_t o = lo; o < hi; o = opt.lines ? o + 64 : hi) {
			p->u = realloc(p->u, (size_t)(p->n + 1) * sizeof(*p->u));
			struct unit *u = &p->u[p->n++];
			u->off = o;
			u->len = opt.lines ? 64 : ev->len;
			u->bytes = t->data + ev->data + (o - ev->line_off);
			u->ev = i;
		}
	}
	r->ep[r->nep - 1].fence_after = SIZE_MAX;
	me->nevents = t->nev;
	me->nfences = nf;
	uint64_t sig = 0xcbf29ce484222325ULL, nw = 0;
	for (size_t i = 0; i < t->nev; i++) {
		uint64_t k[3] = { t->ev[i].kind, t->ev[i].off, t->ev[i].len };
		sig = fnv(sig, k, sizeof(k));
		nw += t->ev[i].kind == POOL_TRACE_WRITE;
	}
	me->nwrites = nw;
	me->signature = sig;
}

/* ---- subsets ------------------------------------------------------------------ */

struct subset_gen {
	int n;
	int phase; /* 0: all masks; 1: prefixes; 2: single omissions; 3: singles; 4: random; 5: done */
	uint64_t k, kmax;
	int step;
	int left;
};

/* Fills mask with the next subset; false when done.  Never yields the empty
 * or the full set (those are fence states, handled by the caller). */
static bool next_subset(struct subset_gen *g, uint8_t *mask, uint64_t *rng)
{
	int n = g->n;

	if (n < 2)
		return false;
	for (;;) {
		switch (g->phase) {
		case 0:
			if (n <= opt.all_limit) {
				if (g->k == 0) {
					g->k = 1;
					g->kmax = (1ULL << n) - 1;
				}
				if (g->k >= g->kmax) {
					g->phase = 5;
					continue;
				}
				for (int i = 0; i < n; i++)
					mask[i] = (g->k >> i) & 1;
				g->k++;
				return true;
			}
			g->phase = 1;
			g->k = 1;
			g->step = opt.family_max && n - 1 > opt.family_max
					  ? (n - 1 + opt.family_max - 1) / opt.family_max
					  : 1;
			continue;
		case 1: /* prefixes of length k */
		case 2: /* all but write k */
		case 3: /* write k alone */
			if (g->k >= (uint64_t)n) {
				g->phase++;
				g->k = g->phase == 1 ? 1 : 0;
				if (g->phase == 4)
					g->left = opt.max_subsets;
				continue;
			}
			for (int i = 0; i < n; i++)
				mask[i] = g->phase == 1   ? i < (int)g->k
					  : g->phase == 2 ? i != (int)g->k
							  : i == (int)g->k;
			g->k += (uint64_t)g->step;
			/* always include the last of each family */
			if (g->k >= (uint64_t)n && g->k - (uint64_t)g->step < (uint64_t)n - 1)
				g->k = (uint64_t)n - 1;
			return true;
		case 4:
			if (g->left-- <= 0) {
				g->phase = 5;
				continue;
			}
			{
				static const uint64_t dens[] = { 10, 50, 90 };
				uint64_t d = dens[rng_next(rng) % 3];
				int in = 0;
				for (int i = 0; i < n; i++)
					in += mask[i] = rng_next(rng) % 100 < d;
				if (in == 0 || in == n)
					continue; /* fence states */
			}
			return true;
		default:
			return false;
		}
	}
}

/* Of k points in order, keep at most cap: the first and last quarter of the
 * cap, and the rest evenly spaced in between.  cap 0 keeps everything. */
static bool keep_point(size_t j, size_t k, size_t cap)
{
	if (!cap || k <= cap)
		return true;
	size_t q = cap / 4, want = cap - 2 * q, m = k - 2 * q;
	if (j < q || j >= k - q)
		return true;
	j -= q;
	return (j * want) / m != ((j + 1) * want) / m;
}

/* Which epochs are checked: all, except that an operation with more than
 * --max-fences fences (the bitmap frees of a big truncate) gets a sample. */
static bool *select_epochs(struct run *r)
{
	bool *keep = calloc((size_t)r->nep, sizeof(bool));
	size_t *count = calloc((size_t)r->w->nops + 1, sizeof(size_t));
	size_t *seen = calloc((size_t)r->w->nops + 1, sizeof(size_t));
	int *owner = calloc((size_t)r->nep, sizeof(int));

	for (int e = 0; e < r->nep; e++) {
		size_t f = r->ep[e].fence_before;
		owner[e] = r->w->nops; /* none: always kept */
		for (int i = 0; f != SIZE_MAX && i < r->w->nops; i++)
			if (r->op_start[i] <= f && f < r->op_end[i])
				owner[e] = i;
		count[owner[e]]++;
	}
	for (int e = 0; e < r->nep; e++) {
		int o = owner[e];
		keep[e] = o == r->w->nops || keep_point(seen[o]++, count[o], (size_t)opt.max_fences);
		if (!keep[e] && r->shard == 0)
			me->skipped_epochs++;
	}
	free(count);
	free(seen);
	free(owner);
	return keep;
}

/* ---- checking one state -------------------------------------------------------- */

/* mask NULL: none of the epoch's writes. */
static void apply_units(unsigned char *img, const struct epoch *ep, const uint8_t *mask)
{
	for (int i = 0; mask && i < ep->n; i++)
		if (mask[i])
			memcpy(img + ep->u[i].off, ep->u[i].bytes, ep->u[i].len);
}

struct range {
	uint64_t lo, hi;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The hash of what the subset changes relative to cur (0 if nothing).
 * scratch equals cur on entry and on return. */
static uint64_t diff_hash(struct run *r, const struct epoch *ep, const uint8_t *mask,
			  unsigned char *scratch)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	struct range *rg = malloc(((size_t)ep->n + 1) * sizeof(*rg));
	int n = 0;
	bool any = false;

	apply_units(scratch, ep, mask);
	for (int i = 0; i < ep->n; i++)
		if (!mask || mask[i])
			rg[n++] = (struct range){ ep->u[i].off, ep->u[i].off + ep->u[i].len };
	qsort(rg, (size_t)n, sizeof(*rg), range_cmp);
	uint64_t done = 0;
	for (int i = 0; i < n; i++) {
		uint64_t lo = rg[i].lo > done ? rg[i].lo : done;
		for (uint64_t o = lo; o < rg[i].hi; o++)
			if (scratch[o] != r->cur[o]) {
				uint64_t k[2] = { o, scratch[o] };
				h = fnv(h, k, sizeof(k));
				any = true;
			}
		if (rg[i].hi > done)
			done = rg[i].hi;
	}
	for (int i = 0; i < n; i++)
		memcpy(scratch + rg[i].lo, r->cur + rg[i].lo, rg[i].hi - rg[i].lo);
	free(rg);
	return any ? h : 0;
}

/* The crash image file is mapped (shared with the mounts' own mappings of
 * it): only the blocks that differ from what is wanted are rewritten. */
static void image_set(struct run *r, const unsigned char *want)
{
	for (size_t o = 0; o < r->size; o += DAXFS_BLOCK_SIZE)
		if (memcmp(r->imgmap + o, want + o, DAXFS_BLOCK_SIZE))
			memcpy(r->imgmap + o, want + o, DAXFS_BLOCK_SIZE);
}

static void write_image(struct run *r, const struct epoch *ep, const uint8_t *mask)
{
	image_set(r, r->cur);
	for (int i = 0; ep && mask && i < ep->n; i++)
		if (mask[i])
			memcpy(r->imgmap + ep->u[i].off, ep->u[i].bytes, ep->u[i].len);
}

/* The acceptable states for a crash whose last fence is the event
 * fence_before (SIZE_MAX: none yet) and whose latest included write is the
 * event maxev (SIZE_MAX: none after the fence): models[lo..hi].  An
 * operation is done when all its events are before the fence; it may be in
 * flight when it had started by the latest included write. */
static void candidates_for(struct run *r, size_t fence_before, size_t maxev, int *lo, int *hi)
{
	size_t done_by = fence_before == SIZE_MAX ? 0 : fence_before + 1;
	size_t seen_by = maxev == SIZE_MAX ? done_by : maxev + 1;

	if (seen_by < done_by)
		seen_by = done_by;
	*lo = *hi = 0;
	for (int i = 0; i < r->w->nops; i++) {
		if (r->op_end[i] <= done_by)
			*lo = i + 1;
		if (r->op_start[i] < seen_by || r->op_end[i] <= seen_by)
			*hi = i + 1;
	}
	if (*hi < *lo)
		*hi = *lo;
}

static void describe_state(struct run *r, int e, const uint8_t *mask, int lo, int hi, char *buf,
			   size_t len)
{
	const struct epoch *ep = &r->ep[e];
	char d[256], where[256];
	int nin = 0;

	buf[0] = 0;
	for (int i = 0; mask && i < ep->n; i++)
		nin += mask[i];
	msg_add(buf, len, "crash point: after %d of the %d fences (trace event %lld of %zu)", e,
		r->nep - 1, ep->fence_before == SIZE_MAX ? -1LL : (long long)ep->fence_before,
		r->tr->nev);
	if (!mask || nin == 0) {
		msg_add(buf, len, ", none of the %d writes flushed after it", ep->n);
	} else {
		bool list_in = nin <= ep->n - nin;
		msg_add(buf, len, ", with %d of the %d writes flushed after it; %s:", nin, ep->n,
			list_in ? "included" : "left out");
		int shown = 0;
		for (int i = 0; i < ep->n; i++) {
			if ((mask[i] != 0) != list_in)
				continue;
			if (shown++ == 6) {
				msg_add(buf, len, " ...");
				break;
			}
			msg_add(buf, len, " #%d[%s, %llu bytes]", i,
				describe_offset(r->cur, ep->u[i].off, where, sizeof(where)),
				(unsigned long long)ep->u[i].len);
		}
	}
	msg_add(buf, len, "\n  operations done: %d of %d", lo, r->w->nops);
	if (hi > lo) {
		msg_add(buf, len, "; in flight:");
		for (int i = lo; i < hi; i++)
			msg_add(buf, len, " [%d] %s", i, opname(r, i, d, sizeof(d)));
	} else if (lo < r->w->nops) {
		msg_add(buf, len, "; next: [%d] %s", lo, opname(r, lo, d, sizeof(d)));
	}
	msg_add(buf, len, "\n");
}

static struct verify_opts vopts;

static int verify_state(struct run *r, int lo, int hi, char *msg, size_t len)
{
	const struct model *ms[256];
	int fz[256];
	struct candidates cd = { ms, 0, fz };

	for (int i = lo; i <= hi && cd.n < 256; i++) {
		ms[cd.n] = &r->models[i];
		fz[cd.n] = i < hi ? r->fuzzy[i] : -1;
		cd.n++;
	}
	return verify_image(r->img, &cd, &vopts, msg, len);
}

/* Saves the crash image (as it was before recovery) for a failure report. */
static void keep_image(struct run *r, const unsigned char *img, const struct epoch *ep,
		       const uint8_t *mask, char *path, size_t len)
{
	path[0] = 0;
	if (!opt.keep_dir)
		return;
	snprintf(path, len, "%s/%s-%lld%s.img", opt.keep_dir, r->w->name,
		 (long long)(r->state_idx - 1), ep ? "" : "-recrash");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		path[0] = 0;
		return;
	}
	pwrite_all(fd, img, r->size, 0);
	for (int i = 0; ep && mask && i < ep->n; i++)
		if (mask[i])
			pwrite_all(fd, ep->u[i].bytes, ep->u[i].len, ep->u[i].off);
	close(fd);
}

static void report(struct run *r, const char *kind, const char *state, const char *msg)
{
	if (r->reports++ < opt.max_reports)
		out("FAIL %s %s\n  %s%s\n", r->w->name, kind, state, msg);
	else if (opt.verbose)
		out("FAIL %s %s (further reports suppressed; --max-reports)\n", r->w->name, kind);
}

/* Crashes during the recovery of a state: trace the mount, then check the
 * images with the recovery's writes up to each of its fences (and every
 * subset of the writes after a fence when there are at most 4). */
static void recrash(struct run *r, const struct epoch *ep, const uint8_t *mask, int lo, int hi,
		    const char *state)
{
	struct daxfs_mount_opts mo = { 0 };
	struct daxfs *fs = NULL;
	char err[512];

	write_image(r, ep, mask);
	pool_trace_begin(NULL);
	int rc = daxfs_mount(r->img, &mo, &fs, err, sizeof(err));
	struct pool_trace *t = pool_trace_end();
	if (rc) {
		pool_trace_free(t);
		return; /* the ordinary check reports it */
	}
	daxfs_abandon(fs);
	if (!t)
		return;
	unsigned char *img = malloc(r->size);
	memcpy(img, r->cur, r->size);
	if (ep)
		apply_units(img, ep, mask);
	size_t start = 0, npoints = 1, point = 0;
	bool prev_changed = true;
	char msg[16384], st[4096];
	for (size_t i = 0; i < t->nev; i++)
		npoints += t->ev[i].kind == POOL_TRACE_FENCE;
	for (size_t i = 0; i <= t->nev; i++) {
		if (i < t->nev && t->ev[i].kind != POOL_TRACE_FENCE)
			continue;
		/* the writes in [start, i) follow the fence before start */
		size_t nw = i - start;
		uint64_t nmask = nw <= 4 ? (1ULL << nw) - 1 : 1;
		bool keep = keep_point(point++, npoints, (size_t)opt.recrash_points);
		for (uint64_t k = prev_changed ? 0 : 1;
		     keep && (k < nmask || (k == 0 && nmask == 0)); k++) {
			image_set(r, img);
			for (size_t j = start; j < i; j++) {
				const struct pool_trace_event *ev = &t->ev[j];
				if (k >> (j - start) & 1)
					memcpy(r->imgmap + ev->off,
					       t->data + ev->data + (ev->off - ev->line_off), ev->len);
			}
			me->rstates++;
			me->heartbeat = (int64_t)now_s();
			snprintf(me->cur_desc, sizeof(me->cur_desc),
				 "%s  then a crash during its recovery, after %zu of its %zu trace "
				 "events, writes mask 0x%llx of the %zu after\n",
				 state, start, t->nev, (unsigned long long)k, nw);
			if (verify_state(r, lo, hi, msg, sizeof(msg))) {
				char kept[600];
				me->rfailures++;
				snprintf(st, sizeof(st), "%s", me->cur_desc);
				keep_image(r, img, NULL, NULL, kept, sizeof(kept));
				if (*kept) {
					int fd = open(kept, O_WRONLY);
					for (size_t j = start; fd >= 0 && j < i; j++) {
						const struct pool_trace_event *ev = &t->ev[j];
						if (k >> (j - start) & 1)
							pwrite_all(fd, t->data + ev->data + (ev->off - ev->line_off),
								   ev->len, ev->off);
					}
					if (fd >= 0)
						close(fd);
					msg_add(st, sizeof(st), "  crash image saved as %s\n", kept);
				}
				report(r, "(crash during recovery)", st, msg);
			}
		}
		if (keep)
			prev_changed = false;
		for (size_t j = start; j < i; j++) {
			const struct pool_trace_event *ev = &t->ev[j];
			const unsigned char *b = t->data + ev->data + (ev->off - ev->line_off);
			if (memcmp(img + ev->off, b, ev->len))
				prev_changed = true;
			memcpy(img + ev->off, b, ev->len);
		}
		start = i + 1;
	}
	free(img);
	pool_trace_free(t);
}

/* Checks the state: the image after the epoch's opening fence plus the
 * writes of mask (NULL: none).  final: cur already holds everything. */
static void check_state(struct run *r, int e, const uint8_t *mask, unsigned char *scratch,
			bool final)
{
	const struct epoch *ep = &r->ep[e];
	int64_t idx = r->state_idx++;
	char msg[16384], state[4096];

	if (mask && !hset_add(&r->seen, diff_hash(r, ep, mask, scratch))) {
		if (idx % r->nshards == r->shard)
			me->dups++;
		return;
	}
	if (idx % r->nshards != r->shard || idx < me->resume_from)
		return;
	size_t maxev = final ? r->tr->nev - 1 : SIZE_MAX;
	for (int i = 0; mask && i < ep->n; i++)
		if (mask[i] && (maxev == SIZE_MAX || ep->u[i].ev > maxev))
			maxev = ep->u[i].ev;
	int lo, hi;
	candidates_for(r, ep->fence_before, maxev, &lo, &hi);
	describe_state(r, e, mask, lo, hi, state, sizeof(state));
	if (final)
		msg_add(state, sizeof(state), "  (the final state: every write flushed)\n");
	me->cur_state = idx;
	snprintf(me->cur_desc, sizeof(me->cur_desc), "%s", state);
	me->heartbeat = (int64_t)now_s();
	write_image(r, final ? NULL : ep, mask);
	me->states++;
	if (verify_state(r, lo, hi, msg, sizeof(msg))) {
		char kept[600];
		me->failures++;
		keep_image(r, r->cur, final ? NULL : ep, mask, kept, sizeof(kept));
		if (*kept)
			msg_add(state, sizeof(state), "  crash image saved as %s\n", kept);
		report(r, "", state, msg);
	}
	if (opt.recrash_every && idx % opt.recrash_every == 0)
		recrash(r, final ? NULL : ep, mask, lo, hi, state);
}

static void free_run(struct run *r)
{
	for (int i = 0; i <= r->w->nops && r->models; i++)
		model_free(&r->models[i]);
	free(r->models);
	free(r->fuzzy);
	free(r->op_start);
	free(r->op_end);
	for (int e = 0; e < r->nep; e++)
		free(r->ep[e].u);
	free(r->ep);
	pool_trace_free(r->tr);
	free(r->base);
	free(r->cur);
	free(r->seen.v);
}

static void run_job(const struct workload *w, int jobid, int shard, int nshards)
{
	struct run r = { .w = w, .shard = shard, .nshards = nshards };

	workload_paths(&r, jobid);
	me->cur_state = -1;
	snprintf(me->cur_desc, sizeof(me->cur_desc),
		 "while running the workload itself (before any crash state)\n");
	if (record(&r) == 0) {
		build_epochs(&r);
		if (opt.dump_trace && shard == 0 && me->resume_from == 0)
			dump_trace(&r);
		r.imgfd = open(r.img, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (r.imgfd < 0 || posix_fallocate(r.imgfd, 0, (off_t)r.size))
			die("crash: cannot create %s", r.img);
		pwrite_all(r.imgfd, r.base, r.size, 0);
		r.imgmap = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.imgfd, 0);
		if (r.imgmap == MAP_FAILED)
			die("crash: cannot map %s: %s", r.img, strerror(errno));
		r.cur = malloc(r.size);
		unsigned char *scratch = malloc(r.size);
		memcpy(r.cur, r.base, r.size);
		memcpy(scratch, r.base, r.size);
		uint8_t *mask = NULL;
		bool *keep = select_epochs(&r);
		bool prev_changed = true; /* since the last fence state checked */
		for (int e = 0; e < r.nep; e++) {
			struct epoch *ep = &r.ep[e];
			hset_clear(&r.seen);
			hset_add(&r.seen, 0); /* the fence state itself */
			if (prev_changed && keep[e]) {
				check_state(&r, e, NULL, scratch, false);
				prev_changed = false;
			}
			mask = realloc(mask, (size_t)ep->n + 1);
			struct subset_gen g = { .n = ep->n };
			r.rng = mix64(((uint64_t)e << 20) ^ fnv(0, w->name, strlen(w->name)));
			while (keep[e] && next_subset(&g, mask, &r.rng))
				check_state(&r, e, mask, scratch, false);
			/* advance cur past the epoch */
			for (int i = 0; i < ep->n; i++) {
				if (memcmp(r.cur + ep->u[i].off, ep->u[i].bytes, ep->u[i].len))
					prev_changed = true;
				memcpy(r.cur + ep->u[i].off, ep->u[i].bytes, ep->u[i].len);
				memcpy(scratch + ep->u[i].off, ep->u[i].bytes, ep->u[i].len);
			}
			/* the final state: everything flushed, even without a last fence */
			if (e == r.nep - 1 && ep->n && prev_changed) {
				hset_clear(&r.seen);
				check_state(&r, e, NULL, scratch, true);
			}
		}
		free(keep);
		free(mask);
		free(scratch);
		munmap(r.imgmap, r.size);
		close(r.imgfd);
	}
	unlink(r.pool);
	unlink(r.img);
	free_run(&r);
	struct rusage ru, rc;
	getrusage(RUSAGE_SELF, &ru);
	getrusage(RUSAGE_CHILDREN, &rc);
	me->seconds = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + rc.ru_utime.tv_sec +
			       rc.ru_stime.tv_sec) +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec + rc.ru_utime.tv_usec +
			       rc.ru_stime.tv_usec) / 1e6;
	me->done = true;
}

/* ---- the parent -------------------------------------------------------------- */

struct jobdesc {
	int w, shard, nshards;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void remove_job_files(int j)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/daxfs-crash-%d-%d.pool", opt.dir, (int)getpid(), j);
	unlink(path);
	snprintf(path, sizeof(path), "%s/daxfs-crash-%d-%d.img", opt.dir, (int)getpid(), j);
	unlink(path);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: daxfs-crash [OPTIONS]\n"
		"Checks every crash state of each workload: recovery, invariants, the tree against\n"
		"an oracle, fsck (FSCK_DAXFS), and a little use afterwards.\n\n"
		"  -w, --workload NAME     only this workload (repeatable; a trailing * matches a prefix)\n"
		"  -l, --list              list the workloads and exit\n"
		"  -j, --jobs N            processes (default: 8 per online CPU, at most 64)\n"
		"      --exhaustive        every fence; every subset up to 12 writes, every prefix and\n"
		"                          omission, 256 random subsets per epoch; crashes at 64\n"
		"                          fence points of the recovery of every state; 10 mixed\n"
		"                          seeds of 60 operations\n"
		"      --all-subsets N     every subset of an epoch with at most N writes (default 8)\n"
		"      --family-max N      at most N prefixes and N single omissions per epoch (0: all;\n"
		"                          default 48)\n"
		"      --max-subsets N     random subsets per larger epoch (default 16)\n"
		"      --lines             cache-line granularity: a flush persists whole 64-byte lines,\n"
		"                          and each line of a multi-line flush separately\n"
		"      --max-fences N      check at most N fence points of one operation (first and last\n"
		"                          N/4, the rest evenly spaced; default 256, 0: all)\n"
		"      --recrash-every N   also crash during the recovery of every Nth state (default 16,\n"
		"                          0: never)\n"
		"      --recrash-points N  fence points of a recovery to crash at (default 16, 0: all)\n"
		"      --seed N            first seed of the mixed workloads (default 1)\n"
		"      --mixed N           number of mixed workloads (default 3)\n"
		"      --mixed-ops N       operations per mixed workload (default 30)\n"
		"      --no-large          leave out the 8 MiB truncate\n"
		"      --no-exercise       do not use the recovered filesystem afterwards\n"
		"      --max-reports N     detailed failure reports per workload (default 3)\n"
		"      --timeout SEC       a state taking longer counts as a hang (default 120)\n"
		"      --mkfs PATH         mkfs.daxfs (default: $MKFS_DAXFS)\n"
		"      --fsck PATH         fsck.daxfs, run with -n after recovery (default:\n"
		"                          $FSCK_DAXFS; skipped when empty)\n"
		"      --fsck-repair       repair each crash image with fsck.daxfs -p before mounting it\n"
		"                          (fsck as the recovery: the result must pass every check)\n"
		"      --dump-trace        print each workload's trace (operations, writes, fences)\n"
		"      --keep-failed DIR   save the crash image of each failing state in DIR\n"
		"      --dir DIR           where the pool files go (default /dev/shm)\n"
		"  -v, --verbose\n");
}

static bool selected(const struct workload *w)
{
	if (!opt.nonly)
		return true;
	for (int i = 0; i < opt.nonly; i++) {
		size_t n = strlen(opt.only[i]);
		if (n && opt.only[i][n - 1] == '*' ? !strncmp(w->name, opt.only[i], n - 1)
						   : !strcmp(w->name, opt.only[i]))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	enum { O_EXH = 256, O_ALL, O_FAM, O_MAXS, O_LINES, O_RECRASH, O_SEED, O_MIXED, O_MIXOPS,
	       O_NOLARGE, O_NOEX, O_MAXR, O_MKFS, O_FSCK, O_DIR, O_TIMEOUT, O_FSCKREP, O_DUMP, O_MAXF, O_RPOINTS, O_KEEP };
	static const struct option lo[] = {
		{ "workload", required_argument, NULL, 'w' }, { "list", no_argument, NULL, 'l' },
		{ "jobs", required_argument, NULL, 'j' },     { "exhaustive", no_argument, NULL, O_EXH },
		{ "all-subsets", required_argument, NULL, O_ALL },
		{ "family-max", required_argument, NULL, O_FAM },
		{ "max-subsets", required_argument, NULL, O_MAXS },
		{ "lines", no_argument, NULL, O_LINES },
		{ "recrash-every", required_argument, NULL, O_RECRASH },
		{ "seed", required_argument, NULL, O_SEED },
		{ "mixed", required_argument, NULL, O_MIXED },
		{ "mixed-ops", required_argument, NULL, O_MIXOPS },
		{ "no-large", no_argument, NULL, O_NOLARGE },
		{ "no-exercise", no_argument, NULL, O_NOEX },
		{ "max-reports", required_argument, NULL, O_MAXR },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "mkfs", required_argument, NULL, O_MKFS },
		{ "fsck", required_argument, NULL, O_FSCK },
		{ "fsck-repair", no_argument, NULL, O_FSCKREP },
		{ "dump-trace", no_argument, NULL, O_DUMP },
		{ "keep-failed", required_argument, NULL, O_KEEP },
		{ "max-fences", required_argument, NULL, O_MAXF },
		{ "recrash-points", required_argument, NULL, O_RPOINTS },
		{ "dir", required_argument, NULL, O_DIR },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* libpmem decides whether a mapping is pmem from the environment:
	 * with PMEM_IS_PMEM_FORCE=1 persistence takes the flush/fence path
	 * the crash model is about.  Set it before libpmem looks. */
	if (!getenv("PMEM_IS_PMEM_FORCE")) {
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);
		execv("/proc/self/exe", argv);
		die("crash: cannot re-execute: %s", strerror(errno));
	}
	opt.mkfs = getenv("MKFS_DAXFS");
	opt.fsck = getenv("FSCK_DAXFS");
	opt.dir = "/dev/shm";
	while ((c = getopt_long(argc, argv, "w:lj:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (opt.nonly < 64)
				opt.only[opt.nonly++] = optarg;
			break;
		case 'l':
			opt.list = true;
			break;
		case 'j':
			opt.jobs = atoi(optarg);
			break;
		case O_EXH:
			opt.all_limit = 12;
			opt.family_max = 0;
			opt.max_subsets = 256;
			opt.recrash_every = 1;
			opt.max_fences = 0;
			opt.recrash_points = 64;
			opt.wo.mixed_seeds = 10;
			opt.wo.mixed_ops = 60;
			break;
		case O_ALL:
			opt.all_limit = atoi(optarg);
			if (opt.all_limit > 20)
				opt.all_limit = 20;
			break;
		case O_FAM:
			opt.family_max = atoi(optarg);
			break;
		case O_MAXS:
			opt.max_subsets = atoi(optarg);
			break;
		case O_LINES:
			opt.lines = true;
			break;
		case O_RECRASH:
			opt.recrash_every = atoi(optarg);
			break;
		case O_SEED:
			opt.wo.seed = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case O_MIXED:
			opt.wo.mixed_seeds = atoi(optarg);
			break;
		case O_MIXOPS:
			opt.wo.mixed_ops = atoi(optarg);
			break;
		case O_NOLARGE:
			opt.wo.large = false;
			break;
		case O_NOEX:
			opt.exercise = false;
			break;
		case O_MAXR:
			opt.max_reports = atoi(optarg);
			break;
		case O_TIMEOUT:
			opt.timeout = atoi(optarg);
			break;
		case O_MKFS:
			opt.mkfs = optarg;
			break;
		case O_FSCK:
			opt.fsck = optarg;
			break;
		case O_DIR:
			opt.dir = optarg;
			break;
		case O_MAXF:
			opt.max_fences = atoi(optarg);
			break;
		case O_RPOINTS:
			opt.recrash_points = atoi(optarg);
			break;
		case O_KEEP:
			opt.keep_dir = optarg;
			break;
		case O_DUMP:
			opt.dump_trace = true;
			break;
		case O_FSCKREP:
			opt.fsck_repair = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	struct workload *wl;
	int nwl = workloads_build(&opt.wo, &wl);
	if (opt.list) {
		for (int i = 0; i < nwl; i++) {
			char d[256];
			printf("%-22s %s (%d operations", wl[i].name, wl[i].what, wl[i].nops - 1);
			if (wl[i].nops <= 2)
				printf(": %s", op_describe(&wl[i].ops[0], d, sizeof(d)));
			printf(")\n");
		}
		return 0;
	}
	if (!opt.mkfs || !*opt.mkfs)
		die("crash: set MKFS_DAXFS or --mkfs to the mkfs.daxfs binary");
	/* Most of a check's time is spent asleep (liburcu's call_rcu thread
	 * batches callbacks for 10 ms, and every unmount waits for it), so
	 * run several processes per CPU. */
	if (opt.jobs <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		opt.jobs = n > 0 ? (int)(n * 8 > 64 ? 64 : n * 8) : 8;
	}
	vopts.fsck = opt.fsck;
	vopts.exercise = opt.exercise;
	vopts.fsck_repair = opt.fsck_repair;
	if (!opt.fsck || !*opt.fsck)
		printf("fsck step skipped: FSCK_DAXFS is not set (set it to the fsck.daxfs binary)\n");
	printf("crash model: %s; fence points: %s; subsets: all up to %d writes, else %s prefixes "
	       "and omissions and %d random; crashes during recovery: %s\n",
	       opt.lines ? "64-byte cache lines" : "flushed ranges",
	       opt.max_fences ? "sampled in long operations" : "all", opt.all_limit,
	       opt.family_max ? "bounded" : "all", opt.max_subsets,
	       opt.recrash_every ? (opt.recrash_every == 1 ? "every state" : "sampled states")
				 : "off");
	fflush(stdout);

	/* jobs: every selected workload, in as many shards as processes */
	struct jobdesc *jobs = calloc((size_t)nwl * (size_t)opt.jobs, sizeof(*jobs));
	int njobs = 0, nsel = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nwl; i++) {
			if (!selected(&wl[i]) || wl[i].heavy != (pass == 0))
				continue;
			nsel++;
			int n = wl[i].heavy ? opt.jobs : opt.jobs < 4 ? opt.jobs : 4;
			for (int s = 0; s < n; s++)
				jobs[njobs++] = (struct jobdesc){ i, s, n };
		}
	if (!nsel)
		die("crash: no workload selected (--list shows them)");
	size_t shsize = sizeof(*sh) + (size_t)njobs * sizeof(struct job_result);
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("crash: mmap: %s", strerror(errno));
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sh->out_lock, &ma);

	double t0 = now_s();
	pid_t *pid = calloc((size_t)njobs, sizeof(pid_t));
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int next = 0, running = 0;
	while (next < njobs || running) {
		while (running < opt.jobs && next < njobs) {
			int j = next++;
			sh->job[j].heartbeat = (int64_t)now_s();
			fflush(stdout);
			pid_t p = fork();
			if (p < 0)
				die("crash: fork: %s", strerror(errno));
			if (p == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				me = &sh->job[j];
				run_job(&wl[jobs[j].w], j, jobs[j].shard, jobs[j].nshards);
				_exit(0);
			}
			pid[j] = p;
			running++;
		}
		if (interrupted) {
			for (int j = 0; j < next; j++)
				if (pid[j] > 0)
					kill(pid[j], SIGKILL);
			while (wait(NULL) > 0)
				;
			for (int j = 0; j < njobs; j++)
				remove_job_files(j);
			fprintf(stderr, "crash: interrupted\n");
			return 130;
		}
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);
		if (p == 0) {
			usleep(20000);
			for (int j = 0; j < next; j++)
				if (pid[j] > 0 && !sh->job[j].done &&
				    (int64_t)now_s() - sh->job[j].heartbeat > opt.timeout) {
					kill(pid[j], SIGKILL);
					sh->job[j].heartbeat = INT64_MAX / 2; /* report once */
				}
			continue;
		}
		if (p < 0)
			break;
		running--;
		for (int j = 0; j < next; j++) {
			if (pid[j] != p)
				continue;
			pid[j] = 0;
			struct job_result *jr = &sh->job[j];
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && jr->done)
				break;
			/* died or hung on a state: report it, resume after it */
			const struct workload *w = &wl[jobs[j].w];
			remove_job_files(j);
			bool recording = jr->cur_state < 0;
			if (recording && jobs[j].shard != 0)
				break; /* shard 0 reports it */
			out("FAIL %s: the harness process %s %s\n  %s", w->name,
			    WIFSIGNALED(status) ? (WTERMSIG(status) == SIGKILL ? "hung (killed after --timeout)"
									      : "crashed")
						: "exited",
			    recording ? "" : "checking this state:", jr->cur_desc);
			if (WIFSIGNALED(status))
				out("  signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				out("  exit status %d\n", WEXITSTATUS(status));
			jr->failures++;
			if ((WIFEXITED(status) && WEXITSTATUS(status) == 2) || recording ||
			    ++jr->restarts > 50)
				break; /* a setup error, or no progress: do not retry */
			jr->resume_from = jr->cur_state + 1;
			jr->heartbeat = (int64_t)now_s();
			pid_t q = fork();
			if (q == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				me = jr;
				run_job(w, j, jobs[j].shard, jobs[j].nshards);
				_exit(0);
			}
			pid[j] = q;
			running++;
			break;
		}
	}

	/* per-workload summary */
	uint64_t tot_states = 0, tot_rstates = 0, tot_fail = 0;
	printf("\n%-22s %8s %8s %8s %7s %9s %8s %9s %7s\n", "workload", "events", "fences", "writes",
	       "states", "dup-skip", "recrash", "failures", "cpu-s");
	for (int i = 0; i < nwl; i++) {
		if (!selected(&wl[i]))
			continue;
		uint64_t st = 0, du = 0, fa = 0, rs = 0, rf = 0, sf = 0, sig = 0;
		uint64_t ne = 0, nf = 0, nw = 0, skipped = 0;
		double secs = 0;
		bool mismatch = false;
		for (int j = 0; j < njobs; j++) {
			if (jobs[j].w != i)
				continue;
			struct job_result *jr = &sh->job[j];
			st += jr->states;
			du += jr->dups;
			fa += jr->failures;
			rs += jr->rstates;
			rf += jr->rfailures;
			sf += jr->static_failures;
			secs += jr->seconds;
			if (jobs[j].shard == 0) {
				sig = jr->signature;
				ne = jr->nevents;
				nf = jr->nfences;
				nw = jr->nwrites;
				skipped = jr->skipped_epochs;
			} else if (jr->signature != sig && jr->nevents) {
				mismatch = true;
			}
		}
		uint64_t f = fa + rf + sf;
		printf("%-22s %8llu %8llu %8llu %7llu %9llu %8llu %9llu %7.1f%s\n", wl[i].name,
		       (unsigned long long)ne, (unsigned long long)nf, (unsigned long long)nw,
		       (unsigned long long)st, (unsigned long long)du, (unsigned long long)rs,
		       (unsigned long long)f, secs,
		       mismatch ? "  WARNING: the shards traced different events" : "");
		if (skipped)
			printf("%-22s (%llu of the fence points sampled out: --max-fences)\n", "",
			       (unsigned long long)skipped);
		tot_states += st;
		tot_rstates += rs;
		tot_fail += f;
	}
	printf("\ntotal: %llu crash states and %llu crashes during recovery checked over %d "
	       "workloads, %llu failures, %.1f s\n",
	       (unsigned long long)tot_states, (unsigned long long)tot_rstates, nsel,
	       (unsigned long long)tot_fail, now_s() - t0);
	return tot_fail ? 1 : 0;
}
