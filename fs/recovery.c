/* SPDX-License-Identifier: MIT */
#include "recovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_map.h"
#include "dir.h"
#include "inode.h"
#include "xattr.h"

struct scan_ctx {
	struct daxfs *fs;
	uint64_t ino;
	uint32_t gen;
	uint64_t *seen; /* bitmap of data blocks reached */
	uint64_t dup_blk;
	uint64_t count;
	uint64_t limit; /* directories: the file blocks below the size */
	uint64_t below; /* data blocks found below limit */
};

static int mark(void *p, uint64_t index, uint64_t blk, bool is_index)
{
	struct scan_ctx *c = p;
	uint64_t pfn = blk - c->fs->alloc.data_start;

	if (c->seen[pfn / 64] & (1ULL << (pfn % 64))) {
		c->dup_blk = blk;
		return -EUCLEAN;
	}
	c->seen[pfn / 64] |= 1ULL << (pfn % 64);
	c->count++;
	if (!is_index && index < c->limit)
		c->below++;
	struct pfn_entry *e = &fs_pfns(c->fs)->entries[pfn];
	uint64_t w = (uint64_t)(is_index ? PFN_ALLOCATED : PFN_TRACKED) << PFN_STATE_SHIFT;
	if (!is_index) {
		w |= (uint64_t)(c->gen & 0xffff) << PFN_GEN_SHIFT;
		atomic_store_explicit(&e->owner, pfn_owner(c->ino, index), memory_order_relaxed);
	}
	atomic_store_explicit(&e->word, w, memory_order_relaxed);
	return 0;
}

/* xattr blocks are never tracked: nothing maps them for reading. */
static int mark_xattr(void *p, uint64_t index, uint64_t blk, bool is_index)
{
	(void)is_index;
	return mark(p, index, blk, true);
}

static int in_range(void *ctx, uint64_t index, uint64_t blk, bool is_index)
{
	(void)ctx;
	(void)index;
	(void)blk;
	(void)is_index;
	return 0; /* bmap_walk range-checks each pointer before calling */
}

static bool valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		return true;
	}
	return false;
}

static bool all_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Undoes a write cut short by a crash: nothing may exist past EOF. */
static int trim_past_eof(struct daxfs *fs, struct daxfs_dinode *di, uint64_t *trimmed)
{
	struct block_list data = { 0 }, index = { 0 };
	uint64_t first = (di->size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;

	int rc = bmap_remove(fs, di, first, UINT64_MAX, &data, &index);
	*trimmed += data.n + index.n;
	if (data.n + index.n)
		pool_store8(&fs->pool, &di->blocks, di->blocks - (data.n + index.n));
	block_list_free(&data);
	block_list_free(&index);
	if (rc)
		return rc;
	if (di->size % DAXFS_BLOCK_SIZE) {
		uint64_t blk = bmap_lookup(fs, di, di->size / DAXFS_BLOCK_SIZE);
		uint64_t boff = di->size % DAXFS_BLOCK_SIZE;
		char *p = blk ? pool_block(&fs->pool, blk) : NULL;
		if (p && !all_zero(p + boff, DAXFS_BLOCK_SIZE - boff))
			pool_memset_persist(&fs->pool, p + boff, 0, DAXFS_BLOCK_SIZE - boff);
	}
	return 0;
}

int recovery_scan(struct daxfs *fs, bool dirty, struct recovery_report *rep, char *err,
		  size_t errlen)
{
	uint64_t nwords = (fs->alloc.nblocks + 63) / 64;
	struct scan_ctx c = { .fs = fs, .seen = calloc(nwords, 8) };
	int rc = 0;

	if (!c.seen)
		return -ENOMEM;
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fs->inode_count; ino++) {
		struct daxfs_dinode *di = dinode(fs, ino);
		if (!di->mode)
			continue;
		rep->inodes++;
		if (!valid_type(di->mode) || di->size > DAXFS_MAX_FILE_SIZE) {
			snprintf(err, errlen, "inode %llu is damaged (run fsck.daxfs)",
				 (unsigned long long)ino);
			rc = -EUCLEAN;
			break;
		}
		/* Trimming follows pointers: range-check them all first. */
		if (dirty && !fs->pool.read_only &&
		    ((rc = bmap_walk(fs, di, in_range, NULL)) ||
		     (rc = trim_past_eof(fs, di, &rep->trimmed)))) {
			snprintf(err, errlen,
				 "inode %llu has a block pointer out of range",
				 (unsigned long long)ino);
			break;
		}
		c.ino = ino;
		c.gen = di->generation;
		c.count = 0;
		c.below = 0;
		c.limit = S_ISDIR(di->mode) ? di->size / DAXFS_BLOCK_SIZE : 0;
		rc = bmap_walk(fs, di, mark, &c);
		if (!rc)
			rc = xattr_walk(fs, di->xattr, mark_xattr, &c);
		if (rc) {
			if (c.dup_blk)
				snprintf(err, errlen,
					 "block %llu is claimed twice (inode %llu); run fsck.daxfs",
					 (unsigned long long)c.dup_blk, (unsigned long long)ino);
			else
				snprintf(err, errlen,
					 "inode %llu has a block pointer out of range; run fsck.daxfs",
					 (unsigned long long)ino);
			break;
		}
		/* A directory grows a mapped block at a time: a hole below its
		 * size is damage, and would make every walk of its slots as
		 * long as the size says (up to 2^26 blocks) instead of the
		 * blocks it has.  An orphan's eviction may have been cut
		 * short: the orphan pass frees it. */
		if (c.below != c.limit &&
		    !(di->nlink == 0 && (di->flags & DAXFS_INODE_ORPHAN))) {
			snprintf(err, errlen,
				 "directory %llu has a hole below its size; run fsck.daxfs",
				 (unsigned long long)ino);
			rc = -EUCLEAN;
			break;
		}
		rep->blocks_in_use += c.count;
		if (di->blocks != c.count && !fs->pool.read_only)
			pool_store8(&fs->pool, &di->blocks, c.count);
	}
	if (!rc) {
		if (fs->pool.read_only) {
			/* Nothing may be written: the scan only confirms the bitmap
			 * covers every reachable block. */
			for (uint64_t w = 0; w < nwords; w++)
				if (c.seen[w] & ~fs->alloc.bitmap[w])
					rep->bitmap_fixed++;
			atomic_store(&fs->alloc.nfree, fs->alloc.nblocks - rep->blocks_in_use);
		} else {
			rep->bitmap_fixed = block_alloc_replace(&fs->alloc, c.seen);
		}
	}
	free(c.seen);
	return rc;
}

struct linked_ctx {
	const uint64_t *listed; /* bitmap: unlinked inodes on the orphan list */
	uint64_t dir, ino;
	char name[DAXFS_NAME_MAX + 1];
};

static int find_listed(void *p, const char *name, uint64_t ino, unsigned type, uint64_t slot)
{
	struct linked_ctx *c = p;

	(void)type;
	(void)slot;
	if (!(c->listed[ino / 64] & (1ULL << (ino % 64))))
		return 0;
	c->ino = ino;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return 1;
}

/* Marks the unlinked inodes on the orphan list; a damaged list is left to
 * recovery_orphans to report. */
static void mark_listed(struct daxfs *fs, uint64_t *listed)
{
	uint64_t ino = pool_state(&fs->pool)->orphan_head;

	for (uint64_t n = 0; ino && ino < fs->inode_count && n < fs->inode_count; n++) {
		const struct daxfs_dinode *di = dinode(fs, ino);
		if (!di->mode || !(di->flags & DAXFS_INODE_ORPHAN))
			break;
		if (di->nlink == 0)
			listed[ino / 64] |= 1ULL << (ino % 64);
		ino = di->orphan_next;
	}
}

/*
 * The orphan list says "no name left, free me", but it is only as good as
 * the pool: an inode with link count 0 that a directory still names is
 * damage, and evicting it would free a reachable file.  Every directory is
 * looked through for the listed inodes before anything is freed; a hit
 * refuses the mount and leaves the repair to fsck.  Runs only when the
 * list is not empty (after a crash with unlinked files open).
 */
static int check_orphans_unreachable(struct daxfs *fs, char *err, size_t errlen)
{
	struct linked_ctx c = { 0 };
	int rc = 0;

	if (!pool_state(&fs->pool)->orphan_head)
		return 0;
	uint64_t *listed = calloc((fs->inode_count + 63) / 64, sizeof(*listed));
	if (!listed) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mark_listed(fs, listed);
	c.listed = listed;
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fs->inode_count && !c.ino; ino++) {
		const struct daxfs_dinode *di = dinode(fs, ino);
		if (!S_ISDIR(di->mode) || di->nlink == 0)
			continue;
		struct inode_mem *dir = inode_get(fs, ino);
		if (!dir)
			continue;
		c.dir = ino;
		if ((rc = dir_iterate(fs, dir, 0, find_listed, &c)) < 0) {
			snprintf(err, errlen, "cannot read directory %llu: %s",
				 (unsigned long long)ino, strerror(-rc));
			goto out;
		}
	}
	if (c.ino) {
		snprintf(err, errlen,
			 "inode %llu is on the orphan list with link count 0, but directory "
			 "%llu still names it \"%s\": the pool is damaged; nothing was freed "
			 "(run fsck.daxfs)",
			 (unsigned long long)c.ino, (unsigned long long)c.dir, c.name);
		rc = -EUCLEAN;
	}
out:
	free(listed);
	return rc;
}

int recovery_orphans(struct daxfs *fs, struct recovery_report *rep, char *err, size_t errlen)
{
	struct daxfs_state *st = pool_state(&fs->pool);
	int rc = check_orphans_unreachable(fs, err, errlen);

	if (rc)
		return rc;

	for (uint64_t n = 0; st->orphan_head; n++) {
		uint64_t ino = st->orphan_head;
		struct inode_mem *im = inode_get(fs, ino);
		if (n >= fs->inode_count || !im || !(im->di->flags & DAXFS_INODE_ORPHAN)) {
			snprintf(err, errlen, "orphan list is damaged at inode %llu (run fsck.daxfs)",
				 (unsigned long long)ino);
			return -EUCLEAN;
		}
		if (im->di->nlink) {
			/* Linked again before the crash: it is no orphan. */
			struct tx tx;
			tx_begin(&fs->log, &tx);
			orphan_remove(fs, &tx, ino);
			tx_commit(&tx);
			continue;
		}
		rc = inode_evict(fs, im);
		if (rc) {
			snprintf(err, errlen, "cannot reclaim orphan inode %llu: %s",
				 (unsigned long long)ino, strerror(-rc));
			return rc;
		}
		rep->orphans++;
	}
	return 0;
}
