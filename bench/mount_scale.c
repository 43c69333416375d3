/* SPDX-License-Identifier: MIT */
/*
 * How long a mount of a large, full pool takes (a measurement, never a test).
 * usage: mount_scale POOL NFILES
 * POOL is a pool made by mkfs.daxfs with at least NFILES + 1000 inodes.  If
 * its root is empty, NFILES one-block files are created first, 1000 to a
 * directory (d0, d1, ...), and the pool is unmounted cleanly; then it is
 * mounted and unmounted three times and each mount's time is printed: the
 * whole of daxfs_mount, the work the daemon does before it answers FUSE.
 * Time fsck.daxfs -n -f POOL on the same pool for the fsck figure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../fs/daxfs.h"
#include "../pmem/format.h"

#define PER_DIR 1000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct daxfs *mount_or_die(const char *pool)
{
	struct daxfs_mount_opts o = { 0 };
	struct daxfs *fs = NULL;
	char err[256] = "";
	int rc = daxfs_mount(pool, &o, &fs, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "mount_scale: %s: %s\n", pool, err[0] ? err : strerror(-rc));
		exit(1);
	}
	return fs;
}

static int populate(struct daxfs *fs, unsigned long n)
{
	static const struct daxfs_cred root = { 0 };
	static char block[4096];
	struct daxfs_attr d = { 0 }, f;
	char name[32];
	int rc;

	memset(block, 'x', sizeof(block));
	for (unsigned long i = 0; i < n; i++) {
		if (i % PER_DIR == 0) {
			snprintf(name, sizeof(name), "d%lu", i / PER_DIR);
			if ((rc = daxfs_mkdir(fs, &root, DAXFS_ROOT_INO, name, 0755, &d)))
				return rc;
			daxfs_forget(fs, d.ino, 1);
		}
		snprintf(name, sizeof(name), "f%lu", i);
		if ((rc = daxfs_mknod(fs, &root, d.ino, name, S_IFREG | 0644, 0, &f)))
			return rc;
		ssize_t w = daxfs_write(fs, f.ino, block, sizeof(block), 0, false);
		daxfs_forget(fs, f.ino, 1);
		if (w < 0)
			return (int)w;
		if (i % 100000 == 99999)
			fprintf(stderr, "mount_scale: %lu files\n", i + 1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct daxfs_attr a;

	if (argc != 3) {
		fprintf(stderr, "usage: mount_scale POOL NFILES\n");
		return 2;
	}
	unsigned long n = strtoul(argv[2], NULL, 10);
	struct daxfs *fs = mount_or_die(argv[1]);
	if (daxfs_lookup(fs, DAXFS_ROOT_INO, "d0", &a) == -ENOENT) {
		double t = now();
		int rc = populate(fs, n);
		if (rc) {
			fprintf(stderr, "mount_scale: populating: %s\n", strerror(-rc));
			return 1;
		}
		printf("created %lu files in %.1f s\n", n, now() - t);
	} else {
		daxfs_forget(fs, a.ino, 1);
	}
	daxfs_unmount(fs, NULL);
	for (int round = 0; round < 3; round++) {
		double t = now();
		fs = mount_or_die(argv[1]);
		double m = now() - t;
		daxfs_unmount(fs, NULL);
		printf("mount %d: %.3f s\n", round + 1, m);
	}
	return 0;
}
