/* SPDX-License-Identifier: MIT */
#include "inode.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "fault.h"
#include "file_io.h"
#include "layout_break.h"
#include "xattr.h"

int inode_cache_init(struct daxfs *fs)
{
	fs->icache = calloc(fs->inode_count, sizeof(*fs->icache));
	return fs->icache ? 0 : -ENOMEM;
}

void inode_cache_destroy(struct daxfs *fs)
{
	if (!fs->icache)
		return;
	for (uint64_t i = 0; i < fs->inode_count; i++) {
		struct inode_mem *im = fs->icache[i];
		if (!im)
			continue;
		dir_index_free(im);
		pthread_rwlock_destroy(&im->lock);
		pthread_mutex_destroy(&im->dir_build_lock);
		free(im);
	}
	free(fs->icache);
	fs->icache = NULL;
}

struct inode_mem *inode_get(struct daxfs *fs, uint64_t ino)
{
	if (ino == 0 || ino >= fs->inode_count)
		return NULL;
	struct inode_mem *im = atomic_load_explicit(&fs->icache[ino], memory_order_acquire);
	if (im)
		return dinode(fs, ino)->mode ? im : NULL;
	if (!dinode(fs, ino)->mode)
		return NULL;
	im = fault_nomem() ? NULL : calloc(1, sizeof(*im));
	if (!im)
		return NULL;
	im->ino = ino;
	im->di = dinode(fs, ino);
	pthread_rwlock_init(&im->lock, NULL);
	pthread_mutex_init(&im->dir_build_lock, NULL);
	struct inode_mem *expected = NULL;
	if (!atomic_compare_exchange_strong(&fs->icache[ino], &expected, im)) {
		pthread_rwlock_destroy(&im->lock);
		pthread_mutex_destroy(&im->dir_build_lock);
		free(im);
		im = expected;
	}
	return im;
}

int inode_numbers_init(struct daxfs *fs)
{
	uint64_t n = 0;

	fs->ifree = malloc(fs->inode_count * sizeof(*fs->ifree));
	if (!fs->ifree)
		return -ENOMEM;
	/* Pushed in descending order so that creates use low numbers first. */
	for (uint64_t ino = fs->inode_count; ino-- > DAXFS_ROOT_INO + 1;)
		if (!dinode(fs, ino)->mode)
			fs->ifree[n++] = (uint32_t)ino;
	fs->nifree = n;
	pthread_mutex_init(&fs->ifree_lock, NULL);
	return 0;
}

int inode_number_take(struct daxfs *fs, uint64_t *ino)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&fs->ifree_lock);
	if (fs->nifree) {
		*ino = fs->ifree[--fs->nifree];
		rc = 0;
	}
	pthread_mutex_unlock(&fs->ifree_lock);
	return rc;
}

void inode_number_give(struct daxfs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->ifree_lock);
	fs->ifree[fs->nifree++] = (uint32_t)ino;
	pthread_mutex_unlock(&fs->ifree_lock);
}

uint64_t inode_numbers_free(struct daxfs *fs)
{
	pthread_mutex_lock(&fs->ifree_lock);
	uint64_t n = fs->nifree;
	pthread_mutex_unlock(&fs->ifree_lock);
	return n;
}

static struct timespec ts_of(const struct daxfs_ts *t)
{
	return (struct timespec){ .tv_sec = t->sec, .tv_nsec = t->nsec };
}

void inode_attr(struct daxfs *fs, uint64_t ino, struct daxfs_attr *a)
{
	struct inode_mem *im = inode_get(fs, ino);

	if (!im) {
		memset(a, 0, sizeof(*a));
		a->ino = ino;
		return;
	}
	pthread_rwlock_rdlock(&im->lock);
	inode_attr_locked(fs, ino, a);
	pthread_rwlock_unlock(&im->lock);
}

void inode_attr_locked(struct daxfs *fs, uint64_t ino, struct daxfs_attr *a)
{
	const struct daxfs_dinode *di = dinode(fs, ino);

	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->generation = di->generation;
	a->mode = di->mode;
	a->nlink = di->nlink;
	a->uid = di->uid;
	a->gid = di->gid;
	a->rdev = (dev_t)di->rdev;
	a->size = __atomic_load_n(&di->size, __ATOMIC_RELAXED);
	a->blocks = di->blocks * (DAXFS_BLOCK_SIZE / 512);
	a->atime = ts_of(&di->atime);
	a->mtime = ts_of(&di->mtime);
	a->ctime = ts_of(&di->ctime);
	a->btime = ts_of(&di->btime);
}

unsigned char inode_dtype(uint32_t mode)
{
	return (unsigned char)((mode & S_IFMT) >> 12);
}

void orphan_add(struct daxfs *fs, struct tx *tx, uint64_t ino)
{
	struct daxfs_state *st = pool_state(&fs->pool);
	struct daxfs_dinode *di = dinode(fs, ino);

	tx_hold(tx, &fs->orphan_lock);
	tx_add(tx, &st->orphan_head, 8);
	tx_add(tx, di, sizeof(*di));
	di->orphan_next = st->orphan_head;
	di->flags |= DAXFS_INODE_ORPHAN;
	st->orphan_head = ino;
}

void orphan_remove(struct daxfs *fs, struct tx *tx, uint64_t ino)
{
	struct daxfs_state *st = pool_state(&fs->pool);
	struct daxfs_dinode *di = dinode(fs, ino);
	uint64_t *link = &st->orphan_head;

	if (!(di->flags & DAXFS_INODE_ORPHAN))
		return;
	tx_hold(tx, &fs->orphan_lock);
	/* The list is short: it holds only unlinked files still open. */
	for (uint64_t n = 0; *link && *link != ino && n < fs->inode_count; n++)
		link = &dinode(fs, *link)->orphan_next;
	if (*link == ino) {
		tx_add(tx, link, 8);
		tx_add(tx, di, sizeof(*di));
		*link = di->orphan_next;
		di->orphan_next = 0;
		di->flags &= ~DAXFS_INODE_ORPHAN;
	}
}

/* Caller holds im->lock exclusive; it is dropped and retaken while the
 * removal protocol waits for busy blocks. */
static int evict_locked(struct daxfs *fs, struct inode_mem *im)
{
	struct daxfs_dinode *di = im->di;
	struct tx tx;

	/* A read-only mount stores nothing (its mapping is read-only): an
	 * unlinked inode it meets, which only a damaged pool names, is left
	 * to the next read-write mount or fsck. */
	if (fs->opts.read_only)
		return 0;
	im->dead = true;
	int rc = layout_remove(fs, im, 0, UINT64_MAX, LAYOUT_FINAL);
	if (rc)
		return rc;
	/* No reader follows the xattr map without the inode lock, so its
	 * blocks need no removal protocol: freed once the inode is gone. */
	uint64_t xattr = di->xattr;
	tx_begin(&fs->log, &tx);
	orphan_remove(fs, &tx, im->ino);
	tx_add(&tx, di, sizeof(*di));
	uint32_t gen = di->generation;
	memset(di, 0, sizeof(*di));
	di->generation = gen;
	tx_commit(&tx);
	xattr_free_word(fs, xattr);
	dir_index_free(im);
	inode_number_give(fs, im->ino);
	return 0;
}

int inode_evict(struct daxfs *fs, struct inode_mem *im)
{
	pthread_rwlock_wrlock(&im->lock);
	int rc = im->dead ? 0 : evict_locked(fs, im);
	pthread_rwlock_unlock(&im->lock);
	return rc;
}

/* A regular file whose last link is gone and that no handle has open can
 * never be read again (daxfs_open refuses it once reaped): its data blocks
 * go now, through the removal protocol, rather than at the kernel's FORGET,
 * which may come seconds later or not before the unmount.  The inode stays
 * on the orphan list until that FORGET (or the next mount's recovery).
 * Caller holds im->lock exclusive; it is dropped while the removal waits,
 * and an open reference held meanwhile keeps a FORGET from evicting the
 * inode under it. */
static void reap_locked(struct daxfs *fs, struct inode_mem *im)
{
	if (fs->opts.read_only || im->reaped || !S_ISREG(im->di->mode))
		return;
	im->reaped = true;
	im->nopen++;
	if (im->di->size)
		file_truncate(fs, im, 0);
	else if (im->di->blocks)
		layout_remove(fs, im, 0, UINT64_MAX, 0);
	im->nopen--;
}

/* The removals that nothing holds any more: the inode when the kernel has
 * forgotten it too, else its data.  Caller holds im->lock exclusive. */
static void release_unlinked_locked(struct daxfs *fs, struct inode_mem *im)
{
	if (im->dead || im->di->nlink != 0 || im->nopen != 0)
		return;
	if (im->nlookup != 0)
		reap_locked(fs, im);
	if (!im->dead && im->nlookup == 0 && im->nopen == 0)
		evict_locked(fs, im);
}

void inode_evict_if_unused(struct daxfs *fs, struct inode_mem *im)
{
	pthread_rwlock_wrlock(&im->lock);
	release_unlinked_locked(fs, im);
	pthread_rwlock_unlock(&im->lock);
}

void inode_unref(struct daxfs *fs, struct inode_mem *im, uint64_t nlookup, uint64_t nopen)
{
	pthread_rwlock_wrlock(&im->lock);
	im->nlookup -= nlookup < im->nlookup ? nlookup : im->nlookup;
	im->nopen -= nopen < im->nopen ? nopen : im->nopen;
	release_unlinked_locked(fs, im);
	pthread_rwlock_unlock(&im->lock);
}
