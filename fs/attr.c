/* SPDX-License-Identifier: MIT */
/* Inode attributes: getattr and setattr.  Permission checks are the
 * kernel's (default_permissions); this only applies what it allows. */
#include <errno.h>
#include <linux/fs.h>
#include <string.h>
#include <time.h>

#include "file_io.h"
#include "inode.h"
#include "setid.h"
#include "super.h"
#include "xattr.h"

void fs_now(struct daxfs_ts *ts)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	ts->sec = t.tv_sec;
	ts->nsec = (uint32_t)t.tv_nsec;
	ts->pad = 0;
}

void daxfs_attr_to_stat(const struct daxfs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = DAXFS_BLOCK_SIZE;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

int daxfs_getattr(struct daxfs *fs, uint64_t ino, struct daxfs_attr *out)
{
	rcu_thread_enter();
	if (!inode_get(fs, ino))
		return -ENOENT;
	inode_attr(fs, ino, out);
	return 0;
}

static struct daxfs_ts ts_from(const struct timespec *t)
{
	return (struct daxfs_ts){ .sec = t->tv_sec, .nsec = (uint32_t)t->tv_nsec };
}

static int check_setattr(const struct daxfs_dinode *di, const struct daxfs_setattr *sa)
{
	if (sa->valid & DAXFS_SET_SIZE) {
		if (S_ISDIR(di->mode))
			return -EISDIR;
		if (!S_ISREG(di->mode))
			return -EINVAL;
		if (sa->size > DAXFS_MAX_FILE_SIZE)
			return -EFBIG;
	}
	const struct timespec *ts[] = { &sa->atime, &sa->mtime, &sa->ctime };
	for (int i = 0; i < 3; i++)
		if (ts[i]->tv_nsec < 0 || ts[i]->tv_nsec >= 1000000000L)
			return -EINVAL;
	return 0;
}

/* chattr flags: nothing changes an immutable inode; an append-only one keeps
 * its size, mode and owner, and takes only "now" as its times. */
static int check_flags(const struct daxfs_dinode *di, const struct daxfs_setattr *sa)
{
	bool explicit_time = ((sa->valid & DAXFS_SET_ATIME) && !(sa->valid & DAXFS_SET_ATIME_NOW)) ||
			     ((sa->valid & DAXFS_SET_MTIME) && !(sa->valid & DAXFS_SET_MTIME_NOW));

	if (inode_immutable(di) && sa->valid)
		return -EPERM;
	if (inode_append_only(di) &&
	    ((sa->valid & (DAXFS_SET_MODE | DAXFS_SET_UID | DAXFS_SET_GID | DAXFS_SET_SIZE)) ||
	     explicit_time))
		return -EPERM;
	return 0;
}

/* Everything but the size, as one transaction. */
static void apply_meta(struct daxfs *fs, struct daxfs_dinode *di, const struct daxfs_setattr *sa,
		       const struct xattr_update *xu)
{
	struct daxfs_ts now;
	struct tx tx;

	fs_now(&now);
	tx_begin(&fs->log, &tx);
	/* An orphan's orphan_next is changed by list splices of its neighbours
	 * under the orphan lock alone: hold it too, so that two open
	 * transactions never log the same bytes. */
	if (di->flags & DAXFS_INODE_ORPHAN)
		tx_hold(&tx, &fs->orphan_lock);
	tx_add(&tx, di, sizeof(*di));
	if (sa->valid & DAXFS_SET_MODE)
		di->mode = (di->mode & S_IFMT) | (sa->mode & 07777);
	/* Before the owner changes: a chown is judged on the old group. */
	if (sa->valid & DAXFS_SET_KILL_SUIDGID)
		di->mode &= ~setid_bits_to_kill(di->mode, di->gid, sa->kill_cred);
	if (xu)
		xattr_apply(di, xu);
	if (sa->valid & DAXFS_SET_UID)
		di->uid = sa->uid;
	if (sa->valid & DAXFS_SET_GID)
		di->gid = sa->gid;
	if (sa->valid & DAXFS_SET_ATIME_NOW)
		di->atime = now;
	else if (sa->valid & DAXFS_SET_ATIME)
		di->atime = ts_from(&sa->atime);
	if (sa->valid & DAXFS_SET_MTIME_NOW)
		di->mtime = now;
	else if (sa->valid & DAXFS_SET_MTIME)
		di->mtime = ts_from(&sa->mtime);
	if (sa->valid & DAXFS_SET_SIZE)
		di->mtime = now;
	di->ctime = (sa->valid & DAXFS_SET_CTIME) ? ts_from(&sa->ctime) : now;
	tx_commit(&tx);
}

#define RELATIME_MAX_AGE (24 * 3600) /* seconds, as Linux's relatime */

static bool ts_not_after(const struct daxfs_ts *a, const struct daxfs_ts *b)
{
	return a->sec < b->sec || (a->sec == b->sec && a->nsec <= b->nsec);
}

/* Is the access time due to move to now (relatime, or with strictatime
 * whenever it is not now already)?  Under im->lock. */
static bool atime_due(const struct daxfs *fs, const struct daxfs_dinode *di,
		      const struct daxfs_ts *now)
{
	if (fs->opts.nodiratime && S_ISDIR(di->mode))
		return false;
	if (fs->opts.strictatime)
		return di->atime.sec != now->sec || di->atime.nsec != now->nsec;
	return ts_not_after(&di->atime, &di->mtime) || ts_not_after(&di->atime, &di->ctime) ||
	       now->sec - di->atime.sec >= RELATIME_MAX_AGE;
}

void daxfs_touch_atime(struct daxfs *fs, uint64_t ino)
{
	struct daxfs_ts now;
	struct tx tx;

	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);
	if (!im || fs->opts.read_only || fs->opts.noatime)
		return;
	fs_now(&now);
	/* Shared first: after the first access following a change, every
	 * later one only looks. */
	if (pthread_rwlock_tryrdlock(&im->lock))
		return;
	bool due = !im->dead && !inode_immutable(im->di) && atime_due(fs, im->di, &now);
	pthread_rwlock_unlock(&im->lock);
	if (!due || pthread_rwlock_trywrlock(&im->lock))
		return;
	if (!im->dead && !inode_immutable(im->di) && atime_due(fs, im->di, &now)) {
		/* atime alone: an orphan's orphan_next is not logged here. */
		tx_begin(&fs->log, &tx);
		tx_add(&tx, &im->di->atime, sizeof(im->di->atime));
		im->di->atime = now;
		tx_commit(&tx);
	}
	pthread_rwlock_unlock(&im->lock);
}

int daxfs_setattr(struct daxfs *fs, uint64_t ino, const struct daxfs_setattr *sa,
		  struct daxfs_attr *out)
{
	int rc;

	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);
	if (!im)
		return -ENOENT;
	if ((rc = check_setattr(im->di, sa)))
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&im->lock);
	if (im->dead) {
		rc = -ENOENT;
	} else if ((rc = check_flags(im->di, sa))) {
		;
	} else {
		struct xattr_update xu;
		bool acl = false;
		/* POSIX: a chmod rewrites the access ACL's owner, mask and other
		 * entries, in the same transaction as the mode. */
		if (sa->valid & DAXFS_SET_MODE)
			rc = acl_chmod_prepare(fs, im->di, sa->mode, &xu, &acl);
		if (!rc && (sa->valid & DAXFS_SET_SIZE))
			rc = file_truncate(fs, im, sa->size);
		if (!rc) {
			apply_meta(fs, im->di, sa, acl ? &xu : NULL);
			if (acl)
				xattr_finish(fs, &xu);
			inode_attr_locked(fs, ino, out);
		} else if (acl) {
			xattr_cancel(fs, &xu);
		}
	}
	pthread_rwlock_unlock(&im->lock);
	return rc;
}

int daxfs_kill_suidgid(struct daxfs *fs, uint64_t ino, const struct daxfs_cred *cr)
{
	const struct daxfs_setattr sa = { .valid = DAXFS_SET_KILL_SUIDGID, .kill_cred = cr };
	struct daxfs_attr a;

	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);
	if (!im)
		return -ENOENT;
	/* A look under the shared lock first: almost every file has no set-id
	 * bit.  One set between the look and the write was set after the write
	 * began, and is kept as if set after it ended. */
	pthread_rwlock_rdlock(&im->lock);
	bool kill = setid_bits_to_kill(im->di->mode, im->di->gid, cr);
	pthread_rwlock_unlock(&im->lock);
	return kill ? daxfs_setattr(fs, ino, &sa, &a) : 0;
}

int daxfs_get_flags(struct daxfs *fs, uint64_t ino, unsigned *flags)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);
	if (!im)
		return -ENOENT;
	pthread_rwlock_rdlock(&im->lock);
	*flags = (inode_immutable(im->di) ? FS_IMMUTABLE_FL : 0) |
		 (inode_append_only(im->di) ? FS_APPEND_FL : 0);
	pthread_rwlock_unlock(&im->lock);
	return 0;
}

int daxfs_set_flags(struct daxfs *fs, uint64_t ino, unsigned flags)
{
	struct daxfs_ts now;
	struct tx tx;
	int rc = 0;

	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);
	if (!im)
		return -ENOENT;
	if (!S_ISREG(im->di->mode) && !S_ISDIR(im->di->mode))
		return -ENOTTY;
	if (flags & ~(FS_IMMUTABLE_FL | FS_APPEND_FL))
		return -EOPNOTSUPP;
	if (fs->opts.read_only)
		return -EROFS;
	uint32_t want = (flags & FS_IMMUTABLE_FL ? DAXFS_INODE_IMMUTABLE : 0) |
			(flags & FS_APPEND_FL ? DAXFS_INODE_APPEND : 0);
	fs_now(&now);
	pthread_rwlock_wrlock(&im->lock);
	if (im->dead) {
		rc = -ENOENT;
	} else {
		struct daxfs_dinode *di = im->di;
		tx_begin(&fs->log, &tx);
		/* as apply_meta: an orphan's neighbours splice under this lock */
		if (di->flags & DAXFS_INODE_ORPHAN)
			tx_hold(&tx, &fs->orphan_lock);
		tx_add(&tx, di, sizeof(*di));
		di->flags = (di->flags & ~(DAXFS_INODE_IMMUTABLE | DAXFS_INODE_APPEND)) | want;
		di->ctime = now;
		tx_commit(&tx);
	}
	pthread_rwlock_unlock(&im->lock);
	return rc;
}
