/* SPDX-License-Identifier: MIT */
/*
 * Microbenchmarks of the pfn lifecycle, in process (a measurement, never a
 * test):
 *   - pfn get/put, uncontended and with 2 threads on the same pfn;
 *   - reading a file through the block map with references (the real read
 *     path) and without them (the same walk and copy, no try-get/put);
 *   - write 64 KiB + truncate to 0 with nobody holding the blocks;
 *   - create and unlink of many empty files in one directory.
 * usage: pfn_bench [-p PHASES] [-n ITERS] POOL   (a pool made by mkfs.daxfs;
 * it is reformatted by nothing, only files named bench-* are created and
 * removed).  PHASES is a comma-separated subset of getput,read,trunc,create
 * (default: all); ITERS scales the trunc and create loops (default 20000).
 * Run it under valgrind --tool=callgrind with -p trunc or -p create to
 * count instructions instead of time on a busy machine.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../fs/block_map.h"
#include "../fs/super.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct getput_arg {
	struct pfn_table *t;
	uint64_t pfn, iters;
	double ns;
};

static void *getput(void *p)
{
	struct getput_arg *a = p;
	double t0 = now();

	for (uint64_t i = 0; i < a->iters; i++) {
		if (!pfn_tryget(a->t, a->pfn))
			abort();
		pfn_put(a->t, a->pfn);
	}
	a->ns = (now() - t0) * 1e9 / (double)a->iters;
	return NULL;
}

static void bench_getput(void)
{
	struct pfn_domain dom;
	pfn_domain_init(&dom, NULL, NULL);
	struct pfn_table *t = pfn_table_new(&dom, 16, 0);
	pfn_transition(t, 0, PFN_FREE, PFN_ALLOCATED, 0, 0);
	pfn_transition(t, 0, PFN_ALLOCATED, PFN_TRACKED, 0, 0);
	struct getput_arg a = { t, 0, 50 * 1000 * 1000, 0 }, b = a;
	getput(&a);
	printf("pfn get+put, 1 thread:            %6.1f ns\n", a.ns);
	pthread_t th[2];
	a.iters = b.iters = 10 * 1000 * 1000;
	pthread_create(&th[0], NULL, getput, &a);
	pthread_create(&th[1], NULL, getput, &b);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	printf("pfn get+put, 2 threads, same pfn: %6.1f ns per pair per thread\n", (a.ns + b.ns) / 2);
	free(t);
	pfn_domain_destroy(&dom);
}

/* The read path without references: the same lookups and copies. */
static void read_noref(struct daxfs *fs, uint64_t ino, char *buf, uint64_t start, uint64_t len)
{
	struct daxfs_dinode *di = dinode(fs, ino);

	rcu_read_lock();
	for (uint64_t off = 0; off < len; off += DAXFS_BLOCK_SIZE) {
		uint64_t blk = bmap_lookup(fs, di, (start + off) / DAXFS_BLOCK_SIZE);
		memcpy(buf + off, pool_block(&fs->pool, blk), DAXFS_BLOCK_SIZE);
	}
	rcu_read_unlock();
}

static void bench_read(struct daxfs *fs)
{
	const struct daxfs_cred cr = { 0 };
	const uint64_t size = 256ULL << 20;
	static char buf[1 << 20];
	struct daxfs_attr a;

	if (daxfs_mknod(fs, &cr, DAXFS_ROOT_INO, "bench-read", S_IFREG | 0644, 0, &a)) {
		fprintf(stderr, "pfn_bench: cannot create bench-read\n");
		exit(1);
	}
	memset(buf, 0x42, sizeof(buf));
	for (uint64_t off = 0; off < size; off += sizeof(buf))
		if (daxfs_write(fs, a.ino, buf, sizeof(buf), off, false) != sizeof(buf)) {
			fprintf(stderr, "pfn_bench: the pool needs 300 MiB free\n");
			exit(1);
		}
	double ratios[7];
	const int rounds = 7;
	for (int round = 0; round < rounds; round++) {
		double t0 = now();
		for (uint64_t off = 0; off < size; off += sizeof(buf))
			daxfs_read(fs, a.ino, buf, sizeof(buf), off);
		double with = now() - t0;
		t0 = now();
		for (uint64_t off = 0; off < size; off += sizeof(buf))
			read_noref(fs, a.ino, buf, off, sizeof(buf));
		double without = now() - t0;
		printf("read 256 MiB in 1 MiB calls: with references %6.0f MiB/s, without %6.0f MiB/s "
		       "(time ratio %.2f)\n",
		       256 / with, 256 / without, with / without);
		ratios[round] = with / without;
	}
	/* Memory bandwidth on a VM swings from round to round: the median. */
	for (int i = 1; i < rounds; i++)
		for (int j = i; j > 0 && ratios[j] < ratios[j - 1]; j--) {
			double x = ratios[j];
			ratios[j] = ratios[j - 1];
			ratios[j - 1] = x;
		}
	printf("read time with/without references, median of %d: %.2f (min %.2f, max %.2f)\n",
	       rounds, ratios[rounds / 2], ratios[0], ratios[rounds - 1]);
	daxfs_unlink(fs, DAXFS_ROOT_INO, "bench-read");
	daxfs_forget(fs, a.ino, 1);
}

static int iters_opt = 20000;

static void bench_truncate(struct daxfs *fs)
{
	const struct daxfs_cred cr = { 0 };
	static char buf[64 * 1024];
	struct daxfs_attr a;
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 0 };
	const int iters = iters_opt;

	daxfs_mknod(fs, &cr, DAXFS_ROOT_INO, "bench-trunc", S_IFREG | 0644, 0, &a);
	double total = 0, max = 0, t_all = now();
	for (int i = 0; i < iters; i++) {
		daxfs_write(fs, a.ino, buf, sizeof(buf), 0, false);
		double t0 = now();
		daxfs_setattr(fs, a.ino, &sa, &a);
		double d = now() - t0;
		total += d;
		if (d > max)
			max = d;
	}
	t_all = now() - t_all;
	printf("truncate 64 KiB to 0, no users: mean %.1f us, max %.1f us\n", total / iters * 1e6,
	       max * 1e6);
	printf("write 64 KiB + truncate to 0: %.0f loops/s\n", iters / t_all);
	daxfs_unlink(fs, DAXFS_ROOT_INO, "bench-trunc");
	daxfs_forget(fs, a.ino, 1);
}

/* create (mknod + forget, as a FUSE create + release would) of iters empty
 * files in one directory, then unlink of each. */
static void bench_create(struct daxfs *fs)
{
	const struct daxfs_cred cr = { 0 };
	const int iters = iters_opt;
	struct daxfs_attr a;
	char name[32];

	if (daxfs_mkdir(fs, &cr, DAXFS_ROOT_INO, "bench-dir", 0755, &a)) {
		fprintf(stderr, "pfn_bench: cannot create bench-dir\n");
		exit(1);
	}
	uint64_t dir = a.ino;
	double t0 = now();
	for (int i = 0; i < iters; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (daxfs_mknod(fs, &cr, dir, name, S_IFREG | 0644, 0, &a)) {
			fprintf(stderr, "pfn_bench: create %s failed\n", name);
			exit(1);
		}
		daxfs_forget(fs, a.ino, 1);
	}
	double tc = now() - t0;
	t0 = now();
	for (int i = 0; i < iters; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (daxfs_unlink(fs, dir, name)) {
			fprintf(stderr, "pfn_bench: unlink %s failed\n", name);
			exit(1);
		}
	}
	double tu = now() - t0;
	printf("create %d files: %.0f creates/s; unlink: %.0f unlinks/s\n", iters, iters / tc,
	       iters / tu);
	daxfs_rmdir(fs, DAXFS_ROOT_INO, "bench-dir");
	daxfs_forget(fs, dir, 1);
}

static bool want(const char *phases, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = phases; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct daxfs_mount_opts o = { 0 };
	const char *phases = "getput,read,trunc,create";
	struct daxfs *fs;
	char err[256];
	int c;

	while ((c = getopt(argc, argv, "p:n:")) != -1) {
		if (c == 'p')
			phases = optarg;
		else if (c == 'n' && atoi(optarg) > 0)
			iters_opt = atoi(optarg);
		else
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	if (want(phases, "getput"))
		bench_getput();
	if (!want(phases, "read") && !want(phases, "trunc") && !want(phases, "create"))
		return 0;
	if (daxfs_mount(argv[optind], &o, &fs, err, sizeof(err))) {
		fprintf(stderr, "pfn_bench: %s\n", err);
		return 1;
	}
	if (want(phases, "read"))
		bench_read(fs);
	if (want(phases, "trunc"))
		bench_truncate(fs);
	if (want(phases, "create"))
		bench_create(fs);
	daxfs_unmount(fs, NULL);
	return 0;
usage:
	fprintf(stderr, "usage: pfn_bench [-p getput,read,trunc,create] [-n ITERS] POOL\n");
	return 2;
}
