/* SPDX-License-Identifier: MIT */
/*
 * On a pool that is not pmem, persistence is msync: this counts the msync
 * calls a large write and a preallocation make (a few per batch of blocks,
 * not a few per block) and checks that the ranges they wrote back cover
 * every block the operation made reachable, its map and its inode.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "test_pool.h"
#include "../../fs/block_map.h"
#include "../../fs/super.h"

#define MAX_SYNCS 100000

static struct {
	uintptr_t lo, hi;
} synced[MAX_SYNCS];
static unsigned nsynced, calls;

/* Every msync of the process, libpmem's included, comes through here. */
int msync(void *addr, size_t len, int flags)
{
	static int (*real)(void *, size_t, int);

	if (!real)
		real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
	unsigned i = __atomic_fetch_add(&nsynced, 1, __ATOMIC_RELAXED);
	if (i < MAX_SYNCS) {
		synced[i].lo = (uintptr_t)addr;
		synced[i].hi = (uintptr_t)addr + len;
	}
	return real(addr, len, flags);
}

/* A fence of several runs of pages is one fdatasync of the pool file: it
 * writes back every dirty page of the file, so it counts as one call that
 * covers everything. */
int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
	unsigned i = __atomic_fetch_add(&nsynced, 1, __ATOMIC_RELAXED);
	if (i < MAX_SYNCS) {
		synced[i].lo = 0;
		synced[i].hi = UINTPTR_MAX;
	}
	return real(fd);
}

static void reset(void)
{
	nsynced = calls = 0;
}

static int was_synced(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;

	for (unsigned i = 0; i < nsynced && i < MAX_SYNCS; i++)
		if (synced[i].lo <= a && a + len <= synced[i].hi)
			return 1;
	return 0;
}

/* Every block of [first, last] and the index blocks above them (the whole
 * map is short enough to check through its data blocks' pointers). */
static unsigned unsynced_blocks(struct daxfs *fs, uint64_t ino, uint64_t first, uint64_t last)
{
	struct daxfs_dinode *di = dinode(fs, ino);
	unsigned missing = 0;

	for (uint64_t i = first; i <= last; i++) {
		uint64_t blk = bmap_lookup(fs, di, i);
		if (!blk || !was_synced(pool_block(&fs->pool, blk), DAXFS_BLOCK_SIZE))
			missing++;
	}
	if (!was_synced(&di->size, 8) || !was_synced(&di->map, 8) || !was_synced(&di->blocks, 8))
		missing++;
	return missing;
}

int main(void)
{
	static const struct daxfs_cred root = { 0 };
	static char buf[1 << 20];
	char path[] = "/dev/shm/daxfs-msync-XXXXXX";
	struct daxfs_attr a;
	int fd = mkstemp(path);

	if (fd < 0) {
		perror("mkstemp");
		return 2;
	}
	close(fd);
	snprintf(pool, sizeof(pool), "%s", path);
	mkpool("64M", "");
	struct daxfs *fs = mount_pool();
	if (fs->pool.is_pmem) {
		fprintf(stderr, "the pool is treated as pmem (PMEM_IS_PMEM_FORCE set?): this test "
				"is about the msync path\n");
		return 1;
	}
	CHECK_EQ(daxfs_mknod(fs, &root, DAXFS_ROOT_INO, "f", S_IFREG | 0644, 0, &a), 0);
	memset(buf, 0x6b, sizeof(buf));

	/* 256 new blocks: a batch or a few, each an allocation fence, a data
	 * fence and a publication fence, plus the size and times. */
	reset();
	CHECK_EQ(daxfs_write(fs, a.ino, buf, sizeof(buf), 0, false), sizeof(buf));
	printf("1 MiB write: %u msync calls\n", calls);
	CHECK(calls <= 16);
	CHECK_EQ(unsynced_blocks(fs, a.ino, 0, sizeof(buf) / DAXFS_BLOCK_SIZE - 1), 0);

	/* Overwriting in place: one fence, of the data block and the inode. */
	reset();
	CHECK_EQ(daxfs_write(fs, a.ino, buf, sizeof(buf), 0, false), sizeof(buf));
	printf("1 MiB overwrite: %u msync calls\n", calls);
	CHECK(calls <= 2);
	CHECK_EQ(unsynced_blocks(fs, a.ino, 0, sizeof(buf) / DAXFS_BLOCK_SIZE - 1), 0);

	/* 4096 blocks preallocated in one batch, their 8 index blocks linked
	 * together: a few fences for the whole range (each as many msync
	 * calls as separate runs of pages it covers), where 1 MiB batches and
	 * index blocks one by one made over a hundred calls. */
	uint64_t off = sizeof(buf), len = 16 << 20;
	uint64_t free_before = free_blocks(fs);
	reset();
	CHECK_EQ(daxfs_fallocate(fs, a.ino, 0, off, len), 0);
	CHECK(free_before - free_blocks(fs) >= len / DAXFS_BLOCK_SIZE);
	printf("16 MiB fallocate: %u msync calls\n", calls);
	CHECK(calls <= 16);
	CHECK_EQ(unsynced_blocks(fs, a.ino, off / DAXFS_BLOCK_SIZE,
				 (off + len) / DAXFS_BLOCK_SIZE - 1),
		 0);
	char back[4096];
	CHECK_EQ(daxfs_read(fs, a.ino, back, sizeof(back), off + len - 4096), 4096);
	CHECK(back[0] == 0 && back[4095] == 0);

	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	unlink(path);
	return check_summary();
}
