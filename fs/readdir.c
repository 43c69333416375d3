/* SPDX-License-Identifier: MIT */
/* readdir and readdirplus over stable slot cookies (see daxfs.h). */
#include <dirent.h>
#include <errno.h>

#include "dir.h"
#include "inode.h"
#include "super.h"

#define COOKIE_DOT 1
#define COOKIE_DOTDOT 2
#define COOKIE_FIRST_SLOT 3

struct readdir_ctx {
	struct daxfs *fs;
	bool plus;
	daxfs_filldir_t fill;
	void *ctx;
};

/* A plain readdir needs the number and the type, which the entry records:
 * no inode lock per entry. */
static int emit(void *p, const char *name, uint64_t ino, unsigned type, uint64_t slot)
{
	struct readdir_ctx *rd = p;
	struct inode_mem *im = inode_get(rd->fs, ino);
	struct daxfs_attr attr = { .ino = ino, .mode = DTTOIF(type) };

	if (!im)
		return 0;
	if (rd->plus)
		inode_attr(rd->fs, ino, &attr);
	if (rd->fill(rd->ctx, name, &attr, slot + COOKIE_FIRST_SLOT))
		return 1;
	if (rd->plus) {
		pthread_rwlock_wrlock(&im->lock);
		im->nlookup++;
		pthread_rwlock_unlock(&im->lock);
	}
	return 0;
}

int daxfs_readdir(struct daxfs *fs, uint64_t ino, uint64_t off, bool plus, daxfs_filldir_t fill,
		  void *ctx)
{
	struct readdir_ctx rd = { fs, plus, fill, ctx };
	struct daxfs_attr attr;
	int rc = 0;

	rcu_thread_enter();
	struct inode_mem *dir = inode_get(fs, ino);
	if (!dir)
		return -ENOENT;
	if (!S_ISDIR(dir->di->mode))
		return -ENOTDIR;
	/* The parent's attributes first: its lock may not be taken after a
	 * child's. */
	struct daxfs_attr parent_attr;
	if (off < COOKIE_DOTDOT) {
		pthread_rwlock_rdlock(&dir->lock);
		uint64_t parent = dir->di->parent ? dir->di->parent : DAXFS_ROOT_INO;
		pthread_rwlock_unlock(&dir->lock);
		inode_attr(fs, parent, &parent_attr);
	}
	pthread_rwlock_rdlock(&dir->lock);
	if (off < COOKIE_DOT) {
		inode_attr_locked(fs, ino, &attr);
		if (fill(ctx, ".", &attr, COOKIE_DOT))
			goto out;
	}
	if (off < COOKIE_DOTDOT && fill(ctx, "..", &parent_attr, COOKIE_DOTDOT))
		goto out;
	if (dir->di->nlink)
		rc = dir_iterate(fs, dir, off < COOKIE_DOTDOT ? 0 : off - COOKIE_DOTDOT, emit, &rd);
out:
	pthread_rwlock_unlock(&dir->lock);
	return rc;
}
