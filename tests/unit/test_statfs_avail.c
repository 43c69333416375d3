/* SPDX-License-Identifier: MIT */
/* statfs's available blocks are what one request can get: a fallocate of
 * exactly avail_blocks succeeds at offsets that need the most index blocks
 * of the file's map (also in a file whose map already exists), and what is
 * set aside for index blocks stays small. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../fs/block_map.h"
#include "../../pmem/format.h"
#include "check.h"
#include "test_pool.h"

#define BS 4096ULL

static char dir[] = "/dev/shm/daxfs-avail-XXXXXX";
static const struct daxfs_cred root_cred = { 0 };

static uint64_t avail_blocks(struct daxfs *fs)
{
	struct daxfs_statfs st;

	daxfs_statfs(fs, &st);
	return st.avail_blocks;
}

/* Fills the pool through one file with a fallocate of exactly what statfs
 * says is available, starting at block first (after a block at prior, when
 * prior is not UINT64_MAX, so that the map exists and must grow). */
static void fill_at(struct daxfs *fs, uint64_t prior, uint64_t first, int mode)
{
	struct daxfs_attr a;

	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "fill", S_IFREG | 0644, 0, &a), 0);
	if (prior != UINT64_MAX)
		CHECK_EQ(daxfs_write(fs, a.ino, "x", 1, prior * BS, false), 1);
	uint64_t avail = avail_blocks(fs);
	int rc = daxfs_fallocate(fs, a.ino, mode, first * BS, avail * BS);
	if (rc)
		fprintf(
		    stderr,
		    "fallocate of %llu available blocks at block %llu (after one at %lld): %d\n",
		    (unsigned long long)avail, (unsigned long long)first, (long long)prior, rc);
	CHECK_EQ(rc, 0);
	CHECK(avail_blocks(fs) <= 8);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "fill"), 0);
	daxfs_forget(fs, a.ino, 1);
}

static void test_worst_case_bound(void)
{
	CHECK_EQ(bmap_index_blocks_worst(0), 0);
	/* Per level below the root: the nodes the range meets, one more for
	 * a range off a node's edge, one that wraps an old root of lower
	 * height; and the root. */
	CHECK_EQ(bmap_index_blocks_worst(1), 3 + 3 + 1);
	CHECK_EQ(bmap_index_blocks_worst(512 * 512), 512 + 2 + 1 + 2 + 1);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	test_worst_case_bound();
	mkpool("64M", "");
	struct daxfs *fs = mount_pool();
	struct daxfs_statfs st;
	daxfs_statfs(fs, &st);
	CHECK_EQ(st.free_blocks, free_blocks(fs));
	CHECK(st.avail_blocks < st.free_blocks);
	CHECK(st.avail_blocks >= st.free_blocks - st.free_blocks / 200 - 8);
	fill_at(fs, UINT64_MAX, 0, 0);
	daxfs_statfs(fs, &st); /* the root directory has its block now */
	uint64_t before = st.free_blocks;
	fill_at(fs, UINT64_MAX, 511, 0);
	fill_at(fs, UINT64_MAX, 512 * 512 - 1, FALLOC_FL_KEEP_SIZE);
	fill_at(fs, 0, 512 * 512 - 1, 0); /* a map of height 0 grows to 3 */
	fill_at(fs, 3, 512 * 512 * 3 - 1, FALLOC_FL_KEEP_SIZE);
	daxfs_statfs(fs, &st);
	CHECK_EQ(st.free_blocks, before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_summary();
}
