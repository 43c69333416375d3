/* SPDX-License-Identifier: MIT */
/*
 * On an msync pool in a file of a filesystem that can zero a range without
 * writing it (ext4, xfs), preallocation zeroes its blocks that way.  Blocks
 * that held another file's data must read as zeros after the fallocate, and
 * again after a remount (the unwritten extents were made durable by the
 * fence).  The pool is on disk, in TMPDIR or /var/tmp: tmpfs cannot zero a
 * range, and the test fails if the filesystem it gets cannot either.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "test_pool.h"
#include "../../fs/super.h"

static unsigned zero_ranges;

/* Counts the pool's FALLOC_FL_ZERO_RANGE calls that succeed. */
int fallocate(int fd, int mode, off_t off, off_t len)
{
	static int (*real)(int, int, off_t, off_t);

	if (!real)
		real = (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT, "fallocate");
	int rc = real(fd, mode, off, len);
	if (rc == 0 && (mode & FALLOC_FL_ZERO_RANGE))
		__atomic_fetch_add(&zero_ranges, 1, __ATOMIC_RELAXED);
	return rc;
}

#define LEN (16u << 20)

/* Blocks of [0, LEN) of ino that are not all zeros. */
static unsigned nonzero_blocks(struct daxfs *fs, uint64_t ino)
{
	static char back[1 << 20];
	unsigned bad = 0;

	for (uint64_t off = 0; off < LEN; off += sizeof(back)) {
		if (daxfs_read(fs, ino, back, sizeof(back), off) != (ssize_t)sizeof(back))
			return LEN / DAXFS_BLOCK_SIZE;
		for (size_t b = 0; b < sizeof(back); b += DAXFS_BLOCK_SIZE)
			for (size_t i = 0; i < DAXFS_BLOCK_SIZE; i++)
				if (back[b + i]) {
					bad++;
					break;
				}
	}
	return bad;
}

static void remove_pool(void)
{
	unlink(pool);
}

int main(void)
{
	static const struct daxfs_cred root = { 0 };
	static char buf[1 << 20];
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	struct daxfs_attr d, z;

	snprintf(pool, sizeof(pool), "%s/daxfs-zero-XXXXXX", dir);
	int fd = mkstemp(pool);
	if (fd < 0) {
		perror("mkstemp");
		return 2;
	}
	close(fd);
	atexit(remove_pool);
	mkpool("64M", "");
	struct daxfs *fs = mount_pool();
	if (fs->pool.is_pmem) {
		fprintf(stderr, "the pool is treated as pmem (PMEM_IS_PMEM_FORCE set?): this test "
				"is about the msync path\n");
		return 1;
	}

	/* The whole pool full of a file's data, freed: every block the
	 * preallocation takes held data. */
	memset(buf, 0x6b, sizeof(buf));
	CHECK_EQ(daxfs_mknod(fs, &root, DAXFS_ROOT_INO, "d", S_IFREG | 0644, 0, &d), 0);
	uint64_t off = 0;
	for (ssize_t n; (n = daxfs_write(fs, d.ino, buf, sizeof(buf), off, false)) > 0;)
		off += (uint64_t)n;
	printf("filled the pool with %llu MiB, %llu blocks left\n", (unsigned long long)off >> 20,
	       (unsigned long long)free_blocks(fs));
	CHECK(off > 2 * LEN);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "d"), 0);
	daxfs_forget(fs, d.ino, 1);
	CHECK(free_blocks(fs) * DAXFS_BLOCK_SIZE >= off);
	CHECK_EQ(daxfs_mknod(fs, &root, DAXFS_ROOT_INO, "z", S_IFREG | 0644, 0, &z), 0);
	zero_ranges = 0;
	CHECK_EQ(daxfs_fallocate(fs, z.ino, 0, 0, LEN), 0);
	printf("fallocate of 16 MiB: %u FALLOC_FL_ZERO_RANGE calls\n", zero_ranges);
	CHECK(zero_ranges > 0);
	CHECK_EQ(nonzero_blocks(fs, z.ino), 0);

	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	fs = mount_pool();
	CHECK_EQ(nonzero_blocks(fs, z.ino), 0);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	return check_summary();
}
