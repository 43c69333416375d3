/* SPDX-License-Identifier: MIT */
/*
 * Namespace operations.  Each one is a single undo-log transaction, so it is
 * atomic with respect to a crash, and durable when it returns.
 *
 * Lock order: the rename lock, then directories (an ancestor before its
 * descendants, otherwise lower inode number first), then non-directory
 * inodes by inode number.  Eviction happens after every lock is dropped.
 */
#include <errno.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "block_map.h"
#include "dir.h"
#include "inode.h"
#include "super.h"
#include "xattr.h"

#define DAXFS_LINK_MAX 65000

static int check_name(const char *name)
{
	size_t len = strnlen(name, DAXFS_NAME_MAX + 1);

	if (len == 0)
		return -ENOENT; /* as the kernel's path walk says for "" */
	if (strchr(name, '/'))
		return -EINVAL;
	if (len > DAXFS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* A directory that can take new entries, or NULL with *rc set. */
static struct inode_mem *get_dir(struct daxfs *fs, uint64_t ino, int *rc)
{
	struct inode_mem *im = inode_get(fs, ino);

	if (!im) {
		*rc = -ENOENT;
		return NULL;
	}
	if (!S_ISDIR(im->di->mode)) {
		*rc = -ENOTDIR;
		return NULL;
	}
	return im;
}

static void touch(struct tx *tx, struct daxfs_dinode *di, bool mtime)
{
	struct daxfs_ts now;

	fs_now(&now);
	tx_add(tx, di, sizeof(*di));
	di->ctime = now;
	if (mtime)
		di->mtime = now;
}

static void take_lookup(struct inode_mem *im)
{
	pthread_rwlock_wrlock(&im->lock);
	im->nlookup++;
	pthread_rwlock_unlock(&im->lock);
}

int daxfs_lookup(struct daxfs *fs, uint64_t parent, const char *name, struct daxfs_attr *out)
{
	struct dir_entry_ref ent;
	int rc;

	rcu_thread_enter();
	/* "." of any inode is how the kernel turns an NFS file handle (inode
	 * number and generation) back into an inode; it checks the
	 * generation itself. */
	if (!strcmp(name, ".")) {
		struct inode_mem *self = inode_get(fs, parent);
		if (!self || self->dead)
			return -ESTALE;
		take_lookup(self);
		inode_attr(fs, parent, out);
		return 0;
	}
	struct inode_mem *dir = get_dir(fs, parent, &rc);
	if (!dir)
		return rc;
	if ((rc = strnlen(name, DAXFS_NAME_MAX + 1) > DAXFS_NAME_MAX ? -ENAMETOOLONG : 0))
		return rc;
	pthread_rwlock_rdlock(&dir->lock);
	if (!strcmp(name, "..")) {
		ent.ino = dir->di->parent ? dir->di->parent : DAXFS_ROOT_INO;
	} else if (dir->di->nlink == 0) {
		rc = -ENOENT;
	} else {
		rc = dir_lookup(fs, dir, name, &ent);
	}
	pthread_rwlock_unlock(&dir->lock);
	if (rc)
		return rc;
	struct inode_mem *im = inode_get(fs, ent.ino);
	if (!im)
		return -ENOENT;
	take_lookup(im);
	inode_attr(fs, ent.ino, out);
	return 0;
}

void daxfs_forget(struct daxfs *fs, uint64_t ino, uint64_t nlookup)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);

	if (im)
		inode_unref(fs, im, nlookup, 0);
}

/* Writes a symlink target into a block of its own before the transaction
 * that publishes it; the block stays ALLOCATED until that commits. */
static int write_target(struct daxfs *fs, const char *target, uint64_t *blk)
{
	size_t len = strlen(target);
	int rc = fs_block_alloc(fs, blk);

	if (rc)
		return rc;
	char *p = pool_block(&fs->pool, *blk);
	memcpy(p, target, len);
	memset(p + len, 0, DAXFS_BLOCK_SIZE - len);
	pool_persist(&fs->pool, p, DAXFS_BLOCK_SIZE);
	return 0;
}

static void init_dinode(struct daxfs_dinode *di, const struct daxfs_cred *cr,
			const struct daxfs_dinode *pdi, uint64_t parent, mode_t mode, dev_t rdev)
{
	uint32_t gen = di->generation + 1;
	struct daxfs_ts now;

	fs_now(&now);
	memset(di, 0, sizeof(*di));
	di->generation = gen;
	di->mode = mode;
	di->uid = cr->uid;
	di->gid = cr->gid;
	/* BSD group semantics under a setgid directory, as ext4 does. */
	if (pdi->mode & S_ISGID) {
		di->gid = pdi->gid;
		if (S_ISDIR(mode))
			di->mode |= S_ISGID;
	}
	di->nlink = S_ISDIR(mode) ? 2 : 1;
	di->rdev = rdev;
	di->parent = S_ISDIR(mode) ? parent : 0;
	di->atime = di->mtime = di->ctime = di->btime = now;
}

static _Thread_local mode_t thread_umask;

void daxfs_set_umask(mode_t umask)
{
	thread_umask = umask & 0777;
}

static int create(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		  const char *name, mode_t mode, dev_t rdev, const char *target,
		  struct daxfs_attr *out)
{
	struct dir_entry_ref ent;
	uint64_t ino, sym_blk = 0;
	struct tx tx;
	int rc;

	rcu_thread_enter();
	/* "." and ".." pass check_name: test them first, or they would be
	 * created as ordinary entries. */
	if (is_dot(name))
		return -EEXIST;
	if ((rc = check_name(name)))
		return rc;
	struct inode_mem *dir = get_dir(fs, parent, &rc);
	if (!dir)
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&dir->lock);
	if (dir->di->nlink == 0) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (S_ISDIR(mode) && dir->di->nlink >= DAXFS_LINK_MAX) {
		rc = -EMLINK;
		goto out_unlock;
	}
	rc = dir_lookup(fs, dir, name, &ent);
	if (rc != -ENOENT) {
		rc = rc ? rc : -EEXIST;
		goto out_unlock;
	}
	if (inode_immutable(dir->di)) {
		rc = -EPERM;
		goto out_unlock;
	}
	if ((rc = inode_number_take(fs, &ino)))
		goto out_unlock;
	if (target && (rc = write_target(fs, target, &sym_blk)))
		goto out_ino;
	/* Written before the transaction, so that the inode never exists
	 * without the ACLs its mode was computed with. */
	struct xattr_update xu = {0};
	if (!target && (rc = xattr_inherit(fs, dir->di, S_ISDIR(mode), &mode, thread_umask, &xu)))
		goto out_ino;
	struct daxfs_dinode *di = dinode(fs, ino);
	tx_begin(&fs->log, &tx);
	tx_add(&tx, di, sizeof(*di));
	init_dinode(di, cr, dir->di, parent, mode, rdev);
	if (target) {
		/* An empty map takes block 0 without an index block: no failure. */
		bmap_set(fs, di, 0, sym_blk);
		di->size = strlen(target);
		di->blocks = 1;
	}
	xattr_apply(di, &xu);
	touch(&tx, dir->di, true);
	if (S_ISDIR(mode))
		dir->di->nlink++;
	/* The in-memory inode is needed after the commit: get it before, so
	 * that nothing can fail once the entry is durable (the mode is set,
	 * so inode_get takes it for live). */
	struct inode_mem *im = inode_get(fs, ino);
	if (!im) {
		rc = -ENOMEM;
		goto out_abort;
	}
	/* Last, because it is the one step that changes DRAM state too. */
	if ((rc = dir_add(fs, &tx, dir, name, ino, inode_dtype(mode))))
		goto out_abort;
	tx_commit(&tx);
	if (target)
		pfn_transition(fs_pfns(fs), sym_blk - fs->alloc.data_start, PFN_ALLOCATED,
			       PFN_TRACKED, pfn_owner(ino, 0), di->generation);

	pthread_rwlock_wrlock(&im->lock);
	im->dead = false;
	im->reaped = false;
	im->nlookup = 1;
	im->nopen = 0;
	pthread_rwlock_unlock(&im->lock);
	pthread_rwlock_unlock(&dir->lock);
	inode_attr(fs, ino, out);
	return 0;

out_abort:
	tx_abort(&tx);
	xattr_cancel(fs, &xu);
	if (target)
		fs_block_free_allocated(fs, sym_blk);
out_ino:
	inode_number_give(fs, ino);
out_unlock:
	pthread_rwlock_unlock(&dir->lock);
	return rc;
}

int daxfs_mknod(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		const char *name, mode_t mode, dev_t rdev, struct daxfs_attr *out)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	default:
		return -EINVAL;
	}
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return create(fs, cr, parent, name, mode, rdev, NULL, out);
}

int daxfs_mkdir(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		const char *name, mode_t mode, struct daxfs_attr *out)
{
	return create(fs, cr, parent, name, S_IFDIR | (mode & 07777), 0, NULL, out);
}

int daxfs_symlink(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		  const char *name, const char *target, struct daxfs_attr *out)
{
	size_t len = strnlen(target, DAXFS_SYMLINK_MAX + 1);

	if (len == 0)
		return -ENOENT;
	if (len > DAXFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create(fs, cr, parent, name, S_IFLNK | 0777, 0, target, out);
}

ssize_t daxfs_readlink(struct daxfs *fs, uint64_t ino, char *buf, size_t size)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);

	if (!im)
		return -ENOENT;
	if (!S_ISLNK(im->di->mode))
		return -EINVAL;
	pthread_rwlock_rdlock(&im->lock);
	uint64_t len = im->di->size, blk = bmap_lookup(fs, im->di, 0);
	ssize_t rc = -EUCLEAN;
	if (blk && len <= DAXFS_SYMLINK_MAX) {
		rc = (ssize_t)(len < size ? len : size);
		memcpy(buf, pool_block(&fs->pool, blk), (size_t)rc);
	}
	pthread_rwlock_unlock(&im->lock);
	return rc;
}

int daxfs_link(struct daxfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
	       struct daxfs_attr *out)
{
	struct dir_entry_ref ent;
	struct tx tx;
	int rc;

	rcu_thread_enter();
	if (is_dot(newname))
		return -EEXIST;
	if ((rc = check_name(newname)))
		return rc;
	struct inode_mem *dir = get_dir(fs, newparent, &rc);
	struct inode_mem *im = inode_get(fs, ino);
	if (!dir)
		return rc;
	if (!im)
		return -ENOENT;
	if (S_ISDIR(im->di->mode))
		return -EPERM;
	if (fs->opts.read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&dir->lock);
	pthread_rwlock_wrlock(&im->lock);
	if (dir->di->nlink == 0 || im->di->nlink == 0 || im->dead)
		rc = -ENOENT;
	else if (im->di->nlink >= DAXFS_LINK_MAX)
		rc = -EMLINK;
	else if ((rc = dir_lookup(fs, dir, newname, &ent)) != -ENOENT)
		rc = rc ? rc : -EEXIST;
	else if (inode_names_fixed(im->di) || inode_immutable(dir->di))
		rc = -EPERM;
	else
		rc = 0;
	if (!rc) {
		tx_begin(&fs->log, &tx);
		touch(&tx, im->di, false);
		im->di->nlink++;
		touch(&tx, dir->di, true);
		rc = dir_add(fs, &tx, dir, newname, ino, inode_dtype(im->di->mode));
		if (rc) {
			tx_abort(&tx);
		} else {
			tx_commit(&tx);
			im->nlookup++;
		}
	}
	pthread_rwlock_unlock(&im->lock);
	pthread_rwlock_unlock(&dir->lock);
	if (!rc)
		inode_attr(fs, ino, out);
	return rc;
}

/* Drops one link of child inside tx; the last link puts it on the orphan
 * list, where it stays until evicted.  child->lock is held exclusive. */
static void drop_link(struct daxfs *fs, struct tx *tx, struct inode_mem *child)
{
	touch(tx, child->di, false);
	if (S_ISDIR(child->di->mode))
		child->di->nlink = 0;
	else if (child->di->nlink)
		child->di->nlink--;
	if (child->di->nlink == 0)
		orphan_add(fs, tx, child->ino);
}

static int remove_entry(struct daxfs *fs, uint64_t parent, const char *name, bool want_dir)
{
	struct dir_entry_ref ent;
	struct tx tx;
	int rc;

	rcu_thread_enter();
	if (!strcmp(name, "."))
		return want_dir ? -EINVAL : -EISDIR;
	if (!strcmp(name, ".."))
		return want_dir ? -ENOTEMPTY : -EISDIR;
	if ((rc = check_name(name)))
		return rc;
	struct inode_mem *dir = get_dir(fs, parent, &rc);
	if (!dir)
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&dir->lock);
	if ((rc = dir_lookup(fs, dir, name, &ent)))
		goto out_dir;
	struct inode_mem *child = inode_get(fs, ent.ino);
	if (!child) {
		rc = -ENOENT;
		goto out_dir;
	}
	pthread_rwlock_wrlock(&child->lock);
	bool is_dir = S_ISDIR(child->di->mode);
	if (inode_names_fixed(dir->di) || inode_names_fixed(child->di))
		rc = -EPERM;
	else if (want_dir && !is_dir)
		rc = -ENOTDIR;
	else if (!want_dir && is_dir)
		rc = -EISDIR;
	else if (is_dir && dir_count(fs, child) != 0)
		rc = -ENOTEMPTY;
	if (!rc) {
		tx_begin(&fs->log, &tx);
		touch(&tx, dir->di, true);
		if (is_dir)
			dir->di->nlink--;
		drop_link(fs, &tx, child);
		dir_remove(fs, &tx, dir, name, &ent);
		tx_commit(&tx);
		dir_release_slot(dir, ent.slot);
	}
	pthread_rwlock_unlock(&child->lock);
	pthread_rwlock_unlock(&dir->lock);
	if (!rc)
		inode_evict_if_unused(fs, child);
	return rc;
out_dir:
	pthread_rwlock_unlock(&dir->lock);
	return rc;
}

int daxfs_unlink(struct daxfs *fs, uint64_t parent, const char *name)
{
	return remove_entry(fs, parent, name, false);
}

int daxfs_rmdir(struct daxfs *fs, uint64_t parent, const char *name)
{
	return remove_entry(fs, parent, name, true);
}

/* Is a an ancestor of (or equal to) b?  The rename lock keeps the tree
 * still. */
static bool is_ancestor(struct daxfs *fs, uint64_t a, uint64_t b)
{
	for (uint64_t n = 0; n < fs->inode_count; n++) {
		if (b == a)
			return true;
		if (b == DAXFS_ROOT_INO || b == 0 || b >= fs->inode_count)
			return false;
		b = dinode(fs, b)->parent;
	}
	return false;
}

static void lock_pair(struct inode_mem *a, struct inode_mem *b)
{
	if (!b || a == b) {
		pthread_rwlock_wrlock(&a->lock);
		return;
	}
	pthread_rwlock_wrlock(&a->lock);
	pthread_rwlock_wrlock(&b->lock);
}

static void unlock_pair(struct inode_mem *a, struct inode_mem *b)
{
	if (b && b != a)
		pthread_rwlock_unlock(&b->lock);
	pthread_rwlock_unlock(&a->lock);
}

struct rename_op {
	struct inode_mem *odir, *ndir, *src, *dst;
	struct dir_entry_ref sent, dent;
	bool dst_exists;
	const char *oname, *nname;
	unsigned flags;
};

static int rename_check(struct daxfs *fs, struct rename_op *r)
{
	bool sdir = S_ISDIR(r->src->di->mode);

	if (r->odir->di->nlink == 0 || r->ndir->di->nlink == 0)
		return -ENOENT;
	/* An entry leaves odir (and, replaced, ndir), one arrives in ndir. */
	if (inode_names_fixed(r->odir->di) || inode_immutable(r->ndir->di) ||
	    inode_names_fixed(r->src->di) ||
	    (r->dst_exists && (inode_names_fixed(r->ndir->di) || inode_names_fixed(r->dst->di))))
		return -EPERM;
	if (sdir && is_ancestor(fs, r->src->ino, r->ndir->ino))
		return -EINVAL;
	if (!r->dst_exists)
		return (r->flags & RENAME_EXCHANGE) ? -ENOENT : 0;
	if (r->flags & RENAME_NOREPLACE)
		return -EEXIST;
	bool ddir = S_ISDIR(r->dst->di->mode);
	if (r->flags & RENAME_EXCHANGE)
		return ddir && is_ancestor(fs, r->dst->ino, r->odir->ino) ? -EINVAL : 0;
	if (sdir && !ddir)
		return -ENOTDIR;
	if (!sdir && ddir)
		return -EISDIR;
	if (ddir && dir_count(fs, r->dst) != 0)
		return -ENOTEMPTY;
	if (sdir && r->ndir != r->odir && r->ndir->di->nlink >= DAXFS_LINK_MAX)
		return -EMLINK;
	return 0;
}

/* A directory changing parents: its ".." and both parents' link counts. */
static void reparent(struct tx *tx, struct inode_mem *d, struct inode_mem *from,
		     struct inode_mem *to)
{
	if (!S_ISDIR(d->di->mode) || from == to)
		return;
	tx_add(tx, d->di, sizeof(*d->di));
	d->di->parent = to->ino;
	tx_add(tx, from->di, sizeof(*from->di));
	tx_add(tx, to->di, sizeof(*to->di));
	from->di->nlink--;
	to->di->nlink++;
}

static int rename_apply(struct daxfs *fs, struct rename_op *r)
{
	struct tx tx;
	int rc = 0;

	tx_begin(&fs->log, &tx);
	touch(&tx, r->odir->di, true);
	touch(&tx, r->ndir->di, true);
	touch(&tx, r->src->di, false);
	if (r->flags & RENAME_EXCHANGE) {
		touch(&tx, r->dst->di, false);
		dir_retarget(fs, &tx, r->odir, &r->sent, r->oname, r->dst->ino,
			     inode_dtype(r->dst->di->mode));
		dir_retarget(fs, &tx, r->ndir, &r->dent, r->nname, r->src->ino,
			     inode_dtype(r->src->di->mode));
		reparent(&tx, r->src, r->odir, r->ndir);
		reparent(&tx, r->dst, r->ndir, r->odir);
		tx_commit(&tx);
		return 0;
	}
	if (r->dst_exists) {
		if (S_ISDIR(r->dst->di->mode))
			r->ndir->di->nlink--;
		drop_link(fs, &tx, r->dst);
		dir_retarget(fs, &tx, r->ndir, &r->dent, r->nname, r->src->ino,
			     inode_dtype(r->src->di->mode));
	} else if ((rc = dir_add(fs, &tx, r->ndir, r->nname, r->src->ino,
				 inode_dtype(r->src->di->mode)))) {
		tx_abort(&tx);
		return rc;
	}
	reparent(&tx, r->src, r->odir, r->ndir);
	dir_remove(fs, &tx, r->odir, r->oname, &r->sent);
	tx_commit(&tx);
	dir_release_slot(r->odir, r->sent.slot);
	return 0;
}

int daxfs_rename(struct daxfs *fs, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags)
{
	struct rename_op r = { .oname = name, .nname = newname, .flags = flags };
	int rc;

	rcu_thread_enter();
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (is_dot(name) || is_dot(newname))
		return -EBUSY;
	if ((rc = check_name(name)) || (rc = check_name(newname)))
		return rc;
	if (!(r.odir = get_dir(fs, parent, &rc)) || !(r.ndir = get_dir(fs, newparent, &rc)))
		return rc;
	if (fs->opts.read_only)
		return -EROFS;

again:
	pthread_mutex_lock(&fs->rename_lock);
	if (r.odir == r.ndir || is_ancestor(fs, r.odir->ino, r.ndir->ino) ||
	    (!is_ancestor(fs, r.ndir->ino, r.odir->ino) && r.odir->ino < r.ndir->ino))
		lock_pair(r.odir, r.ndir);
	else
		lock_pair(r.ndir, r.odir);
	if ((rc = dir_lookup(fs, r.odir, name, &r.sent)))
		goto out_dirs;
	rc = dir_lookup(fs, r.ndir, newname, &r.dent);
	if (rc && rc != -ENOENT)
		goto out_dirs;
	r.dst_exists = rc == 0;
	r.src = inode_get(fs, r.sent.ino);
	r.dst = r.dst_exists ? inode_get(fs, r.dent.ino) : NULL;
	rc = -ENOENT;
	if (!r.src || (r.dst_exists && !r.dst))
		goto out_dirs;
	rc = 0;
	if (r.src == r.dst)
		goto out_dirs; /* two links to one inode: POSIX says do nothing */
	/* A source that is the target's parent, or a target that is the
	 * source's parent, is a loop the kernel would catch before us. */
	rc = r.src == r.ndir ? -EINVAL : r.dst == r.odir ? -ENOTEMPTY : 0;
	if (rc)
		goto out_dirs;
	/* The children are locked after their parents' locks, out of the
	 * ancestor order (a target directory may be an ancestor of the
	 * source's parent): trylock, and start over rather than deadlock. */
	if (pthread_rwlock_trywrlock(&r.src->lock))
		goto out_retry;
	if (r.dst && pthread_rwlock_trywrlock(&r.dst->lock)) {
		pthread_rwlock_unlock(&r.src->lock);
		goto out_retry;
	}
	rc = rename_check(fs, &r);
	if (!rc)
		rc = rename_apply(fs, &r);
	unlock_pair(r.src, r.dst);
	unlock_pair(r.odir, r.ndir);
	pthread_mutex_unlock(&fs->rename_lock);
	if (!rc && r.dst && !(flags & RENAME_EXCHANGE))
		inode_evict_if_unused(fs, r.dst);
	return rc;

out_dirs:
	unlock_pair(r.odir, r.ndir);
	pthread_mutex_unlock(&fs->rename_lock);
	return rc;
out_retry:
	unlock_pair(r.odir, r.ndir);
	pthread_mutex_unlock(&fs->rename_lock);
	sched_yield();
	goto again;
}
