// SPDX-License-Identifier: MIT
/*
 * FUSE low-level adapter for daxfs.  Every callback converts its arguments,
 * makes one call into the core and replies; the filesystem itself lives in the
 * core.  FUSE inode numbers are the pool's inode numbers.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <fuse_lowlevel.h>
#include <linux/capability.h>
#include <linux/fs.h>

#include "daxfs.h"
#include "daxfs_ioctl.h"
#include "fuse_adapter.h"
#include "fuse_caller.h"
#include "fuse_killpriv.h"
#include "fuse_uring.h"
#include "pmem/format.h"

_Static_assert(DAXFS_ROOT_INO == FUSE_ROOT_ID, "the root inode numbers must agree");

/* The daemon is the only writer of the pool, so the kernel's view only goes
 * stale through its own requests; one second bounds the damage of a bug.
 * Names change only through the kernel's own requests (create, link,
 * unlink, rename), which update its dentries as they go, so entries
 * (positive and negative) are kept a minute: a stat or unlink of a name
 * looked up recently then needs no LOOKUP round trip.  Attributes, which
 * the daemon also changes on its own (blocks allocated by a pin, say),
 * keep the short timeout. */
#define DAXFS_FUSE_TIMEOUT 1.0
#define DAXFS_FUSE_ENTRY_TIMEOUT 60.0
#define DAXFS_FUSE_MAX_WRITE (1u << 20)

struct inval_req {
	struct inval_req *next;
	uint64_t seq; /* the last ask merged into it */
	uint64_t ino;
	uint64_t off;
	uint64_t len; /* 0: to end of file */
};

struct inval_queue {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct inval_req *head, *tail;
	struct fuse_session *se;
	pthread_t thread;
	bool started; /* the thread exists and must be joined */
	bool running; /* requests are accepted and sent */
	bool warned_nomem;
	/* Ranges asked for, and sent to the kernel, counted: a waiter for
	 * everything asked so far waits until sent reaches its count. */
	uint64_t asked, sent;
	pthread_cond_t sent_cond;
};

/* Poll handles of open files, by daxfs handle id: a recall wakes the
 * poll()ers of the handle whose pins it needs. */
struct poll_slot {
	uint64_t handle;
	struct fuse_pollhandle *ph;
};

struct poll_table {
	pthread_mutex_t lock;
	struct poll_slot *slots;
	size_t n, cap;
};

struct daxfs_fuse {
	struct daxfs *fs;
	struct inval_queue inval;
	struct poll_table polls;
};

/* Replaces (ph) or forgets (ph NULL) the poll handle of a daxfs handle. */
static void poll_set(struct poll_table *pt, uint64_t handle, struct fuse_pollhandle *ph)
{
	struct fuse_pollhandle *old = NULL;
	size_t i;

	pthread_mutex_lock(&pt->lock);
	for (i = 0; i < pt->n && pt->slots[i].handle != handle; i++)
		;
	if (i < pt->n) {
		old = pt->slots[i].ph;
		if (ph)
			pt->slots[i].ph = ph;
		else
			pt->slots[i] = pt->slots[--pt->n];
	} else if (ph) {
		if (pt->n == pt->cap) {
			size_t cap = pt->cap ? pt->cap * 2 : 16;
			struct poll_slot *n = realloc(pt->slots, cap * sizeof(*n));
			if (!n) {
				/* The poller misses this wake-up, not the recall: its
				 * next poll() still reports POLLPRI. */
				old = ph;
				goto out;
			}
			pt->slots = n;
			pt->cap = cap;
		}
		pt->slots[pt->n++] = (struct poll_slot){ handle, ph };
	}
out:
	pthread_mutex_unlock(&pt->lock);
	if (old)
		fuse_pollhandle_destroy(old);
}

/* The core needs pins of this handle back: wake its poll()ers.  A poll
 * handle serves one notification; the kernel sends a fresh one with its
 * next poll. */
static void on_recall(void *ctx, uint64_t handle)
{
	struct poll_table *pt = ctx;
	struct fuse_pollhandle *ph = NULL;

	pthread_mutex_lock(&pt->lock);
	for (size_t i = 0; i < pt->n; i++)
		if (pt->slots[i].handle == handle) {
			ph = pt->slots[i].ph;
			pt->slots[i] = pt->slots[--pt->n];
			break;
		}
	pthread_mutex_unlock(&pt->lock);
	if (ph) {
		fuse_lowlevel_notify_poll(ph);
		fuse_pollhandle_destroy(ph);
	}
}

static struct daxfs *req_fs(fuse_req_t req)
{
	struct daxfs_fuse *df = fuse_req_userdata(req);

	return df->fs;
}

static void req_cred(fuse_req_t req, struct daxfs_cred *cr)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	cr->uid = ctx->uid;
	cr->gid = ctx->gid;
	daxfs_set_umask(ctx->umask);
}

static void reply_status(fuse_req_t req, long rc)
{
	fuse_reply_err(req, rc < 0 ? (int)-rc : 0);
}

static void fill_entry(struct fuse_entry_param *e, const struct daxfs_attr *a)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = a->generation;
	daxfs_attr_to_stat(a, &e->attr);
	e->attr_timeout = DAXFS_FUSE_TIMEOUT;
	e->entry_timeout = DAXFS_FUSE_ENTRY_TIMEOUT;
}

/* For lookup and every creating call: the core has taken one lookup reference
 * for the kernel.  If the reply cannot be delivered (the request was
 * interrupted) the kernel will never forget it, so drop it here. */
static void reply_entry(fuse_req_t req, int rc, const struct daxfs_attr *a)
{
	struct fuse_entry_param e;

	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	fill_entry(&e, a);
	if (fuse_reply_entry(req, &e) != 0)
		daxfs_forget(req_fs(req), a->ino, 1);
}

static void reply_attr(fuse_req_t req, int rc, const struct daxfs_attr *a)
{
	struct stat st;

	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	daxfs_attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, DAXFS_FUSE_TIMEOUT);
}

/* ---- Page-cache invalidation ------------------------------------------------
 *
 * The core asks for invalidations from inside request handlers.  Notifying the
 * kernel there can deadlock: the kernel locks the pages it drops, and a page
 * may be locked by a read that waits for a reply from this very daemon.  So
 * requests are queued and one thread sends them.
 */

static uint64_t range_end(uint64_t off, uint64_t len)
{
	if (len == 0 || len > UINT64_MAX - off)
		return UINT64_MAX;
	return off + len;
}

/* Widens r to also cover [off, off + len); dropping more pages than needed is
 * harmless, and it keeps a burst on one file to one notification. */
static void inval_merge(struct inval_req *r, uint64_t off, uint64_t len)
{
	uint64_t end = range_end(r->off, r->len);
	uint64_t nend = range_end(off, len);

	if (off < r->off)
		r->off = off;
	if (nend > end)
		end = nend;
	r->len = end == UINT64_MAX ? 0 : end - r->off;
}

static void inval_range(void *ctx, uint64_t ino, uint64_t off, uint64_t len)
{
	struct inval_queue *q = ctx;
	struct inval_req *r;

	pthread_mutex_lock(&q->lock);
	/* Not running: no session yet, or the kernel's cache is going away. */
	if (!q->running)
		goto out;
	q->asked++;
	if (q->tail && q->tail->ino == ino) {
		inval_merge(q->tail, off, len);
		q->tail->seq = q->asked;
		goto out;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		if (!q->warned_nomem)
			fuse_log(FUSE_LOG_ERR,
				 "daxfs: out of memory, dropping page-cache invalidations\n");
		q->warned_nomem = true;
		goto out;
	}
	*r = (struct inval_req){ .ino = ino, .off = off, .len = len, .seq = q->asked };
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	pthread_cond_signal(&q->wake);
out:
	pthread_mutex_unlock(&q->lock);
}

static void inval_send(struct fuse_session *se, const struct inval_req *r, bool *warned)
{
	off_t len = r->len > INT64_MAX ? 0 : (off_t)r->len;
	int rc;

	/* Nothing can be cached beyond the largest file offset. */
	if (r->off > INT64_MAX)
		return;
	rc = fuse_lowlevel_notify_inval_inode(se, r->ino, (off_t)r->off, len);
	switch (rc) {
	case 0:
	case -ENOENT: /* the kernel holds no inode, hence no pages */
	case -ENOTCONN: /* the connection is gone and its cache with it */
	case -ENODEV:
	case -EBADF:
		return;
	}
	if (!*warned)
		fuse_log(FUSE_LOG_WARNING,
			 "daxfs: cannot invalidate cached pages of inode %llu: %s (once)\n",
			 (unsigned long long)r->ino, strerror(-rc));
	*warned = true;
}

static void inval_drop_all(struct inval_queue *q)
{
	struct inval_req *r, *next;

	for (r = q->head; r; r = next) {
		next = r->next;
		free(r);
	}
	q->head = q->tail = NULL;
}

static void *inval_thread(void *arg)
{
	struct inval_queue *q = arg;
	struct inval_req *r;
	bool warned = false;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (q->running && !q->head)
			pthread_cond_wait(&q->wake, &q->lock);
		if (!q->running) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		r = q->head;
		q->head = r->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);

		inval_send(q->se, r, &warned);
		pthread_mutex_lock(&q->lock);
		q->sent = r->seq;
		pthread_cond_broadcast(&q->sent_cond);
		pthread_mutex_unlock(&q->lock);
		free(r);
	}
}

/* Waits until what was asked so far has reached the kernel, for at most
 * a second: a request handler must not wait for a notification that
 * waits for it (a page locked by a read this daemon has not answered). */
static void inval_wait_sent(struct inval_queue *q)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 1;
	pthread_mutex_lock(&q->lock);
	uint64_t want = q->asked;
	while (q->running && q->sent < want &&
	       pthread_cond_timedwait(&q->sent_cond, &q->lock, &deadline) == 0)
		;
	pthread_mutex_unlock(&q->lock);
}

int daxfs_fuse_inval_start(struct daxfs_fuse *df, struct fuse_session *se)
{
	struct inval_queue *q = &df->inval;
	sigset_t stop, old;
	int rc;

	/* A stop signal must reach a thread that notices it (the session loop);
	 * one taken by this thread would leave the loop running.  The new thread
	 * inherits the blocked mask. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);

	pthread_mutex_lock(&q->lock);
	q->se = se;
	q->running = true;
	rc = pthread_create(&q->thread, NULL, inval_thread, q);
	if (rc)
		q->running = false;
	else
		q->started = true;
	pthread_mutex_unlock(&q->lock);

	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

void daxfs_fuse_inval_quiesce(struct daxfs_fuse *df)
{
	struct inval_queue *q = &df->inval;

	pthread_mutex_lock(&q->lock);
	q->running = false;
	inval_drop_all(q);
	pthread_cond_broadcast(&q->wake);
	pthread_cond_broadcast(&q->sent_cond);
	pthread_mutex_unlock(&q->lock);
}

void daxfs_fuse_inval_join(struct daxfs_fuse *df)
{
	struct inval_queue *q = &df->inval;

	daxfs_fuse_inval_quiesce(df);
	if (q->started)
		pthread_join(q->thread, NULL);
	q->started = false;
}

/* ---- Session ---------------------------------------------------------------- */

static void dx_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;

	/* libfuse has already lowered max_write to what the kernel and its own
	 * buffers take, so it may only be lowered further. */
	if (conn->max_write > DAXFS_FUSE_MAX_WRITE)
		conn->max_write = DAXFS_FUSE_MAX_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* daxfs-ctl stat asks through the mount point, a directory. */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	/*
	 * No writeback cache: the core persists each write before replying.
	 * Export support: inode numbers are stable and carry a generation, and
	 * the core answers lookups of "." (any inode) and ".." by number, so
	 * NFS file handles survive the kernel forgetting an inode.
	 * No atomic O_TRUNC: the kernel then truncates through setattr, so the
	 * core's open need not.  Not the first KILLPRIV either, which would leave
	 * the daemon to guess the caller's CAP_FSETID: fuse_killpriv.c negotiates
	 * its second version, whose requests say when to clear set-id bits.
	 */
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ATOMIC_O_TRUNC |
			FUSE_CAP_HANDLE_KILLPRIV);
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* The kernel then enforces the ACLs the core stores.  It would still
	 * apply the umask to a new inode's mode unless told not to, but under
	 * a default ACL the umask must not apply: the core applies one or the
	 * other (fs/acl.c), with the umask each request carries. */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	conn->time_gran = 1;
}

/* The kernel is done with the connection; the core is unmounted by the daemon
 * once the session is gone. */
static void dx_destroy(void *userdata)
{
	struct daxfs_fuse *df = userdata;

	daxfs_fuse_inval_quiesce(df);
}

/* ---- Extended attributes ------------------------------------------------------ */

/* An access ACL rewrites the mode, and the core needs the caller's groups
 * and CAP_FSETID to judge its set-group-ID bit (the kernel's word,
 * FUSE_SETXATTR_ACL_KILL_SGID, needs a setxattr extension libfuse 3.14
 * does not speak). */
static void dx_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	bool acl = !strcmp(name, "system.posix_acl_access");
	struct daxfs_cred cr;

	req_cred(req, &cr);
	if (acl)
		fuse_caller_cred(req, &cr);
	reply_status(req, daxfs_setxattr(req_fs(req), &cr, ino, name, value, size, flags));
	if (acl)
		fuse_caller_cred_done(&cr);
}

/* getxattr and listxattr: size 0 asks for the size only. */
static void reply_xattr(fuse_req_t req, ssize_t n, size_t size, const char *buf)
{
	if (n < 0)
		reply_status(req, n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void dx_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct daxfs_cred cr;
	char *buf = NULL;

	req_cred(req, &cr);
	if (size && !(buf = malloc(size))) {
		reply_status(req, -ENOMEM);
		return;
	}
	reply_xattr(req, daxfs_getxattr(req_fs(req), &cr, ino, name, buf, size), size, buf);
	free(buf);
}

static void dx_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct daxfs_cred cr;
	char *buf = NULL;

	req_cred(req, &cr);
	if (size && !(buf = malloc(size))) {
		reply_status(req, -ENOMEM);
		return;
	}
	reply_xattr(req, daxfs_listxattr(req_fs(req), &cr, ino, buf, size), size, buf);
	free(buf);
}

static void dx_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct daxfs_cred cr;

	req_cred(req, &cr);
	reply_status(req, daxfs_removexattr(req_fs(req), &cr, ino, name));
}

/* ---- Names and inodes --------------------------------------------------------- */

static void dx_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct daxfs_attr a;
	int rc;

	rc = daxfs_lookup(req_fs(req), parent, name, &a);
	if (rc != -ENOENT) {
		reply_entry(req, rc, &a);
		return;
	}
	/* A negative entry: the kernel caches the absence like any dentry. */
	memset(&e, 0, sizeof(e));
	e.entry_timeout = DAXFS_FUSE_ENTRY_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void dx_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	daxfs_forget(req_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void dx_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct daxfs *fs = req_fs(req);
	size_t i;

	for (i = 0; i < count; i++)
		daxfs_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void dx_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daxfs_attr a;
	int rc;

	(void)fi;
	rc = daxfs_getattr(req_fs(req), ino, &a);
	reply_attr(req, rc, &a);
}

/* Only a set-group-ID bit without group execute (on a non-directory)
 * depends on who the caller is: its groups and CAP_FSETID, read from /proc,
 * are looked up for such a file only. */
static bool sgid_needs_caller(mode_t mode)
{
	return !S_ISDIR(mode) && (mode & (S_ISGID | S_IXGRP)) == S_ISGID;
}

static const struct {
	int fuse;
	unsigned daxfs;
} setattr_bits[] = {
	{ FUSE_SET_ATTR_MODE, DAXFS_SET_MODE },
	{ FUSE_SET_ATTR_UID, DAXFS_SET_UID },
	{ FUSE_SET_ATTR_GID, DAXFS_SET_GID },
	{ FUSE_SET_ATTR_SIZE, DAXFS_SET_SIZE },
	{ FUSE_SET_ATTR_ATIME, DAXFS_SET_ATIME },
	{ FUSE_SET_ATTR_MTIME, DAXFS_SET_MTIME },
	{ FUSE_SET_ATTR_ATIME_NOW, DAXFS_SET_ATIME_NOW },
	{ FUSE_SET_ATTR_MTIME_NOW, DAXFS_SET_MTIME_NOW },
	{ FUSE_SET_ATTR_CTIME, DAXFS_SET_CTIME },
};

/* A request that may wait for busy blocks (truncate, punch hole) or for a
 * STABLE pin (write): a FUSE interrupt makes the core stop waiting and defer
 * those blocks, or copy the pinned block, instead. */
struct interruptible {
	fuse_req_t req;
	struct daxfs *fs;
	_Atomic bool cancelled;
};

static void on_interrupt(fuse_req_t req, void *data)
{
	struct interruptible *in = data;

	(void)req;
	atomic_store(&in->cancelled, true);
	daxfs_cancel_wakeup(in->fs);
}

static void interruptible_begin(struct interruptible *in, fuse_req_t req)
{
	in->req = req;
	in->fs = req_fs(req);
	atomic_init(&in->cancelled, false);
	daxfs_set_cancel_flag(&in->cancelled);
	fuse_req_interrupt_func(req, on_interrupt, in);
}

/* Before the reply: after it the request and its interrupt are gone. */
static void interruptible_end(struct interruptible *in)
{
	fuse_req_interrupt_func(in->req, NULL, NULL);
	daxfs_set_cancel_flag(NULL);
}

static void dx_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct interruptible in;
	struct daxfs_setattr sa = {
		.mode = attr->st_mode,
		.uid = attr->st_uid,
		.gid = attr->st_gid,
		.size = (uint64_t)attr->st_size,
		.atime = attr->st_atim,
		.mtime = attr->st_mtim,
		.ctime = attr->st_ctim,
	};
	struct daxfs_cred kill_cred;
	struct daxfs_attr a;
	size_t i;
	int rc;

	(void)fi;
	for (i = 0; i < sizeof(setattr_bits) / sizeof(setattr_bits[0]); i++)
		if (to_set & setattr_bits[i].fuse)
			sa.valid |= setattr_bits[i].daxfs;
	/* The caller decides a set-group-ID bit without group execute: for a
	 * chown the kernel asks for the kill whatever the caller's CAP_FSETID. */
	if (daxfs_fuse_request_kills_suidgid()) {
		sa.valid |= DAXFS_SET_KILL_SUIDGID;
		if (daxfs_getattr(req_fs(req), ino, &a) == 0 && sgid_needs_caller(a.mode)) {
			fuse_caller_cred(req, &kill_cred);
			sa.kill_cred = &kill_cred;
		}
	}
	interruptible_begin(&in, req);
	rc = daxfs_setattr(req_fs(req), ino, &sa, &a);
	interruptible_end(&in);
	if (sa.kill_cred)
		fuse_caller_cred_done(&kill_cred);
	reply_attr(req, rc, &a);
}

static void dx_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[DAXFS_SYMLINK_MAX + 1];
	ssize_t n;

	n = daxfs_readlink(req_fs(req), ino, buf, sizeof(buf) - 1);
	if (n >= 0)
		daxfs_touch_atime(req_fs(req), ino);
	if (n < 0) {
		reply_status(req, n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static void dx_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct daxfs_cred cr;
	struct daxfs_attr a;
	int rc;

	req_cred(req, &cr);
	rc = daxfs_mknod(req_fs(req), &cr, parent, name, mode, rdev, &a);
	reply_entry(req, rc, &a);
}

static void dx_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct daxfs_cred cr;
	struct daxfs_attr a;
	int rc;

	req_cred(req, &cr);
	rc = daxfs_mkdir(req_fs(req), &cr, parent, name, mode, &a);
	reply_entry(req, rc, &a);
}

static void dx_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct daxfs_cred cr;
	struct daxfs_attr a;
	int rc;

	req_cred(req, &cr);
	rc = daxfs_symlink(req_fs(req), &cr, parent, name, target, &a);
	reply_entry(req, rc, &a);
}

static void dx_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct daxfs_attr a;
	int rc;

	rc = daxfs_link(req_fs(req), ino, newparent, newname, &a);
	reply_entry(req, rc, &a);
}

static void dx_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, daxfs_unlink(req_fs(req), parent, name));
}

static void dx_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, daxfs_rmdir(req_fs(req), parent, name));
}

static void dx_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	reply_status(req, daxfs_rename(req_fs(req), parent, name, newparent, newname, flags));
}

/* ---- Files -------------------------------------------------------------------- */

/* Not direct_io: a shared writable mmap needs the kernel page cache.  Not
 * keep_cache: a fresh open should not trust pages cached before it. */
/* The open mode travels in the handle's low bits: requests other than open
 * (ioctl, for one) do not carry the file's flags. */
static uint64_t handle_for(struct daxfs *fs, int open_flags)
{
	return daxfs_handle_new(fs) << 2 | (uint64_t)(open_flags & O_ACCMODE);
}

static bool handle_read_only(uint64_t fh)
{
	return (fh & 3) == O_RDONLY;
}

static bool handle_write_only(uint64_t fh)
{
	return (fh & 3) == O_WRONLY;
}

/* noflush: every write is persistent when it is acknowledged and locks are
 * the kernel's own, so a close has nothing to ask the daemon: without it
 * each close() costs a FLUSH round trip (a quarter of a create's). */
static void set_open_flags(struct fuse_file_info *fi)
{
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fi->noflush = 1;
}

static void dx_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daxfs *fs = req_fs(req);
	int rc;

	rc = daxfs_open(fs, ino, fi->flags);
	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	set_open_flags(fi);
	fi->fh = handle_for(fs, fi->flags);
	/* An interrupted open is never released by the kernel. */
	if (fuse_reply_open(req, fi) != 0)
		daxfs_release(fs, ino);
}

static void dx_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct daxfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct daxfs_cred cr;
	struct daxfs_attr a;
	int rc;

	req_cred(req, &cr);
	rc = daxfs_mknod(fs, &cr, parent, name, S_IFREG | (mode & ~S_IFMT), 0, &a);
	if (rc < 0)
		goto err;
	rc = daxfs_open(fs, a.ino, fi->flags);
	if (rc < 0)
		goto err_forget;

	fill_entry(&e, &a);
	set_open_flags(fi);
	fi->fh = handle_for(fs, fi->flags);
	if (fuse_reply_create(req, &e, fi) != 0) {
		daxfs_release(fs, a.ino);
		daxfs_forget(fs, a.ino, 1);
	}
	return;

err_forget:
	daxfs_forget(fs, a.ino, 1);
err:
	reply_status(req, rc);
}

static void dx_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct daxfs_read_ctx ctx;
	ssize_t n;

	(void)fi;
	/* Before the reply: the kernel drops its cached atime when the read
	 * completes, and the next stat must see the new one. */
	if (size)
		daxfs_touch_atime(req_fs(req), ino);
	n = daxfs_read_map(req_fs(req), ino, (uint64_t)off, size, &ctx);
	if (n < 0) {
		reply_status(req, n);
		return;
	}
	/* The iovecs point into pool blocks.  Their references are held until the
	 * kernel has copied the reply, so a concurrent truncate cannot hand the
	 * blocks to another file while they are being sent. */
	fuse_reply_iov(req, ctx.iov, ctx.niov);
	daxfs_read_done(&ctx);
}

/* The kernel caches the mode it last saw; a set-id bit the daemon clears
 * on its own must not stay in that cache (a stat, a permission check or an
 * exec would still see it).  Attributes only (offset -1): no page is
 * locked, and the caller holds a reference on the inode, so this is safe
 * from inside the request, and done before the reply so that whatever the
 * caller does next sees the change. */
static void inval_attr(fuse_req_t req, fuse_ino_t ino)
{
	struct daxfs_fuse *df = fuse_req_userdata(req);

	if (df->inval.se)
		fuse_lowlevel_notify_inval_inode(df->inval.se, ino, -1, 0);
}

/* Clears the set-id bits that a change of ino by the caller of req costs
 * (write, truncate, fallocate, copy_file_range).  flagged: the kernel said
 * the caller lacks CAP_FSETID (a kill flag); otherwise /proc says.  Only a
 * file with a set-id bit to lose costs a look at /proc. */
static int kill_setid(fuse_req_t req, fuse_ino_t ino, bool flagged)
{
	struct daxfs *fs = req_fs(req);
	struct daxfs_cred cr = { .lacks_fsetid = true };
	struct daxfs_attr a, b;
	bool asked;
	int rc;

	if (daxfs_getattr(fs, ino, &a) < 0 || !(a.mode & (S_ISUID | S_ISGID)))
		return 0;
	asked = !flagged || sgid_needs_caller(a.mode);
	if (asked)
		fuse_caller_cred(req, &cr);
	if (flagged)
		cr.lacks_fsetid = true;
	rc = cr.lacks_fsetid ? daxfs_kill_suidgid(fs, ino, asked ? &cr : NULL) : 0;
	if (asked)
		fuse_caller_cred_done(&cr);
	if (rc == 0 && daxfs_getattr(fs, ino, &b) == 0 && b.mode != a.mode)
		inval_attr(req, ino);
	return rc;
}

/* fallocate and copy_file_range carry no kill flag, yet under KILLPRIV_V2
 * the kernel leaves the set-id bits of the file they change to the daemon. */
static int kill_suidgid_of_uncapable(fuse_req_t req, fuse_ino_t ino)
{
	return kill_setid(req, ino, false);
}

static void dx_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct interruptible in;
	ssize_t n;

	if (daxfs_fuse_request_kills_suidgid() && (n = kill_setid(req, ino, true)) < 0) {
		reply_status(req, n);
		return;
	}
	/* With stable_writes=wait a write may sleep on a STABLE pin. */
	interruptible_begin(&in, req);
	n = daxfs_write(req_fs(req), ino, buf, size, (uint64_t)off, (fi->flags & O_APPEND) != 0);
	interruptible_end(&in);
	if (n < 0) {
		reply_status(req, n);
		return;
	}
	fuse_reply_write(req, (size_t)n);
}

/* Writes are persistent when they are acknowledged: nothing to flush. */
static void dx_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* Closing the file, or the death of its process, drops its pins. */
static void dx_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daxfs_fuse *df = fuse_req_userdata(req);

	poll_set(&df->polls, fi->fh, NULL);
	daxfs_handle_release(df->fs, fi->fh);
	daxfs_release(df->fs, ino);
	fuse_reply_err(req, 0);
}

static void dx_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct daxfs_fuse *df = fuse_req_userdata(req);
	struct daxfs_ioc_recalls r;
	unsigned revents = POLLIN | POLLOUT;

	(void)ino;
	if (ph)
		poll_set(&df->polls, fi->fh, ph);
	if (daxfs_recalls(df->fs, fi->fh, &r) > 0)
		revents |= POLLPRI;
	fuse_reply_poll(req, revents);
}

/* Every write and every metadata change is persistent before it is
 * acknowledged, so an fsync has nothing left to do.  ENOSYS says so: the
 * kernel then stops sending FSYNC and FSYNCDIR, and fsync() returns 0 after
 * the kernel's own part (writing back pages dirtied through mmap, as WRITEs
 * that are themselves persistent when acknowledged), without a round trip. */
static void dx_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void dx_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	struct interruptible in;
	int rc;

	(void)fi;
	if ((rc = kill_suidgid_of_uncapable(req, ino)) < 0) {
		reply_status(req, rc);
		return;
	}
	interruptible_begin(&in, req);
	rc = daxfs_fallocate(req_fs(req), ino, mode, (uint64_t)offset, (uint64_t)length);
	interruptible_end(&in);
	reply_status(req, rc);
}

/* ---- Directories -------------------------------------------------------------- */

/* Directory handles carry no state: readdir offsets are the core's stable
 * cookies, and the kernel's lookup reference keeps an open directory alive. */
static void dx_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_open(req, fi);
}

static void dx_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

struct dir_buf {
	fuse_req_t req;
	bool plus;
	char *buf;
	size_t size;
	size_t used;
	/* readdirplus: inodes whose lookup reference travels in buf */
	uint64_t *held;
	size_t nheld;
	size_t maxheld;
};

static bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static size_t dir_add_plus(struct dir_buf *db, const char *name, const struct daxfs_attr *attr,
			   uint64_t next_off)
{
	struct fuse_entry_param e;

	fill_entry(&e, attr);
	/* The core takes no reference for "." and ".."; node id 0 tells the
	 * kernel not to account one either. */
	if (is_dot_or_dotdot(name))
		e.ino = 0;
	return fuse_add_direntry_plus(db->req, db->buf + db->used, db->size - db->used, name, &e,
				      (off_t)next_off);
}

static size_t dir_add(struct dir_buf *db, const char *name, const struct daxfs_attr *attr,
		      uint64_t next_off)
{
	struct stat st;

	daxfs_attr_to_stat(attr, &st);
	return fuse_add_direntry(db->req, db->buf + db->used, db->size - db->used, name, &st,
				 (off_t)next_off);
}

/* Returns non-zero when the entry did not fit; the core then stops and, for
 * readdirplus, keeps no reference for the refused entry. */
static int dir_fill(void *ctx, const char *name, const struct daxfs_attr *attr, uint64_t next_off)
{
	struct dir_buf *db = ctx;
	bool counted = db->plus && !is_dot_or_dotdot(name);
	size_t len;

	if (counted && db->nheld == db->maxheld)
		return 1;
	if (db->plus)
		len = dir_add_plus(db, name, attr, next_off);
	else
		len = dir_add(db, name, attr, next_off);
	if (len > db->size - db->used)
		return 1;
	db->used += len;
	if (counted)
		db->held[db->nheld++] = attr->ino;
	return 0;
}

static int dir_buf_init(struct dir_buf *db, fuse_req_t req, size_t size, bool plus)
{
	size_t min_entry;

	*db = (struct dir_buf){ .req = req, .plus = plus, .size = size };
	db->buf = malloc(size ? size : 1);
	if (!db->buf)
		return -ENOMEM;
	if (!plus)
		return 0;
	/* Bounded by the smallest entry: a one-character name. */
	min_entry = fuse_add_direntry_plus(req, NULL, 0, "x", NULL, 0);
	db->maxheld = size / min_entry + 1;
	db->held = calloc(db->maxheld, sizeof(*db->held));
	if (!db->held) {
		free(db->buf);
		return -ENOMEM;
	}
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct daxfs *fs = req_fs(req);
	struct dir_buf db;
	size_t i;
	int rc;

	rc = dir_buf_init(&db, req, size, plus);
	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	/* Once per listing, from its start. */
	if (off == 0)
		daxfs_touch_atime(fs, ino);
	rc = daxfs_readdir(fs, ino, (uint64_t)off, plus, dir_fill, &db);
	/* Entries already in the buffer may carry lookup references, so a
	 * failure part-way is only reported when nothing was collected. */
	if (rc < 0 && db.used == 0) {
		reply_status(req, rc);
		goto out;
	}
	if (fuse_reply_buf(req, db.buf, db.used) != 0)
		for (i = 0; i < db.nheld; i++)
			daxfs_forget(fs, db.held[i], 1);
out:
	free(db.held);
	free(db.buf);
}

static void dx_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void dx_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

/* The direct-access commands, on the handle's pins.  Payloads are copied
 * in and out whole: the kernel hands exactly _IOC_SIZE bytes each way. */
static void pin_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, uint64_t handle,
		      const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct daxfs *fs = req_fs(req);
	size_t size = _IOC_SIZE(cmd);
	bool in = _IOC_DIR(cmd) & _IOC_WRITE, out = _IOC_DIR(cmd) & _IOC_READ;
	void *buf;
	int rc;

	if ((in && in_bufsz != size) || (out && out_bufsz != size)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = calloc(1, size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (in)
		memcpy(buf, in_buf, size);
	switch (cmd) {
	case DAXFS_IOC_PIN:
		rc = daxfs_pin_as(fs, ino, handle, fuse_req_ctx(req)->uid, buf);
		break;
	case DAXFS_IOC_UNPIN:
		rc = daxfs_unpin(fs, handle, ((struct daxfs_ioc_unpin *)buf)->pin_id);
		/* A device's stores must show in the page cache once UNPIN
		 * returns. */
		if (rc == 0)
			inval_wait_sent(&((struct daxfs_fuse *)fuse_req_userdata(req))->inval);
		break;
	case DAXFS_IOC_LAYOUT:
		rc = daxfs_layout(fs, ino, buf);
		break;
	case DAXFS_IOC_POOLINFO:
		rc = daxfs_poolinfo(fs, buf);
		break;
	default: /* DAXFS_IOC_RECALLS */
		rc = daxfs_recalls(fs, handle, buf);
		break;
	}
	if (rc < 0)
		reply_status(req, rc);
	else
		fuse_reply_ioctl(req, 0, out ? buf : NULL, out ? size : 0);
	free(buf);
}

/* The kernel does not drop its cached attributes after a flags ioctl, and
 * the change moved ctime: invalidate them. */
static void reply_set_flags(fuse_req_t req, fuse_ino_t ino, int rc)
{
	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	inval_attr(req, ino);
	fuse_reply_ioctl(req, 0, NULL, 0);
}

/* chattr's flags, as FS_IOC_GETFLAGS/SETFLAGS or (what the kernel asks
 * before any change, and xfs_io uses) FS_IOC_FSGETXATTR/FSSETXATTR.  The
 * kernel sends the flags as an int whatever the commands' nominal size
 * (long), on a file it opened itself for the purpose, and has already
 * checked ownership and CAP_LINUX_IMMUTABLE (vfs_fileattr_set). */
static void fsxattr_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, const void *in_buf,
			  size_t in_bufsz, size_t out_bufsz)
{
	struct fsxattr fa = { 0 };
	unsigned flags;
	int rc;

	if (cmd == FS_IOC_FSGETXATTR) {
		if (out_bufsz < sizeof(fa)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		rc = daxfs_get_flags(req_fs(req), ino, &flags);
		if (rc < 0) {
			reply_status(req, rc);
			return;
		}
		fa.fsx_xflags = (flags & FS_IMMUTABLE_FL ? FS_XFLAG_IMMUTABLE : 0) |
				(flags & FS_APPEND_FL ? FS_XFLAG_APPEND : 0);
		fuse_reply_ioctl(req, 0, &fa, sizeof(fa));
		return;
	}
	if (in_bufsz < sizeof(fa)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&fa, in_buf, sizeof(fa));
	if ((fa.fsx_xflags & ~(FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND)) || fa.fsx_extsize ||
	    fa.fsx_projid || fa.fsx_cowextsize) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	flags = (fa.fsx_xflags & FS_XFLAG_IMMUTABLE ? FS_IMMUTABLE_FL : 0) |
		(fa.fsx_xflags & FS_XFLAG_APPEND ? FS_APPEND_FL : 0);
	rc = daxfs_set_flags(req_fs(req), ino, flags);
	reply_set_flags(req, ino, rc);
}

static void flags_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, const void *in_buf,
			size_t in_bufsz, size_t out_bufsz)
{
	unsigned flags;
	int rc;

	if (cmd == FS_IOC_FSGETXATTR || cmd == FS_IOC_FSSETXATTR) {
		fsxattr_ioctl(req, ino, cmd, in_buf, in_bufsz, out_bufsz);
		return;
	}
	if (cmd == FS_IOC_GETFLAGS) {
		if (out_bufsz < sizeof(int)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		rc = daxfs_get_flags(req_fs(req), ino, &flags);
		if (rc < 0)
			reply_status(req, rc);
		else
			fuse_reply_ioctl(req, 0, &flags, sizeof(int));
		return;
	}
	if (in_bufsz < sizeof(int)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&flags, in_buf, sizeof(int));
	rc = daxfs_set_flags(req_fs(req), ino, flags);
	reply_set_flags(req, ino, rc);
}

/* Only the fixed-size commands of daxfs_ioctl.h; a payload of the wrong size
 * (a client built against another header) is refused, never guessed at. */
static void dx_ioctl(fuse_req_t req, fuse_ino_t ino, int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	int rc;

	(void)arg;
	(void)fi;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((unsigned)cmd == FS_IOC_GETFLAGS || (unsigned)cmd == FS_IOC_SETFLAGS ||
	    (unsigned)cmd == FS_IOC_FSGETXATTR || (unsigned)cmd == FS_IOC_FSSETXATTR) {
		flags_ioctl(req, ino, (unsigned)cmd, in_buf, in_bufsz, out_bufsz);
		return;
	}
	if (_IOC_SIZE((unsigned)cmd) != in_bufsz && in_bufsz != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	switch ((unsigned)cmd) {
	case DAXFS_IOC_PIN:
		/* A WRITE pin allocates and lets a device store into the file:
		 * only through a file opened for writing, as write(2) would. */
		if (in_bufsz == sizeof(struct daxfs_ioc_pin) &&
		    (((const struct daxfs_ioc_pin *)in_buf)->flags & DAXFS_PIN_WRITE) &&
		    handle_read_only(fi->fh)) {
			fuse_reply_err(req, EBADF);
			return;
		}
		/* READ and STABLE pins hand out the blocks for loads: only
		 * through a file opened for reading, as read(2) would. */
		if (in_bufsz == sizeof(struct daxfs_ioc_pin) &&
		    (((const struct daxfs_ioc_pin *)in_buf)->flags &
		     (DAXFS_PIN_READ | DAXFS_PIN_STABLE)) &&
		    handle_write_only(fi->fh)) {
			fuse_reply_err(req, EBADF);
			return;
		}
		/* fall through */
	case DAXFS_IOC_UNPIN:
	case DAXFS_IOC_LAYOUT:
	case DAXFS_IOC_POOLINFO:
	case DAXFS_IOC_RECALLS:
		pin_ioctl(req, ino, (unsigned)cmd, fi->fh, in_buf, in_bufsz, out_bufsz);
		return;
	case DAXFS_IOC_STATS: {
		struct daxfs_ioc_stats st;
		if (out_bufsz != sizeof(st)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		rc = daxfs_stats(req_fs(req), &st);
		st.transport = daxfs_fuse_uring_active() ? DAXFS_TRANSPORT_IO_URING
							 : DAXFS_TRANSPORT_DEV_FUSE;
		if (rc < 0)
			reply_status(req, rc);
		else
			fuse_reply_ioctl(req, 0, &st, sizeof(st));
		return;
	}
	case DAXFS_IOC_PFNS: {
		struct daxfs_ioc_pfns *p;
		if (in_bufsz != sizeof(*p) || out_bufsz != sizeof(*p)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		p = malloc(sizeof(*p));
		if (!p) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(p, in_buf, sizeof(*p));
		rc = daxfs_pfn_views(req_fs(req), p);
		if (rc < 0)
			reply_status(req, rc);
		else
			fuse_reply_ioctl(req, 0, p, sizeof(*p));
		free(p);
		return;
	}
	case DAXFS_IOC_MAP: {
		struct daxfs_ioc_map *m;
		if (in_bufsz != sizeof(*m) || out_bufsz != sizeof(*m)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		m = malloc(sizeof(*m));
		if (!m) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(m, in_buf, sizeof(*m));
		rc = daxfs_block_map(req_fs(req), ino, m);
		if (rc < 0)
			reply_status(req, rc);
		else
			fuse_reply_ioctl(req, 0, m, sizeof(*m));
		free(m);
		return;
	}
	}
	fuse_reply_err(req, ENOTTY);
}

static void dx_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	(void)fi;
	off_t rc = daxfs_lseek(req_fs(req), ino, off, whence);

	if (rc < 0)
		reply_status(req, (int)rc);
	else
		fuse_reply_lseek(req, rc);
}

static void dx_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	(void)fi_in;
	(void)fi_out;
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = kill_suidgid_of_uncapable(req, ino_out);
	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	if (len)
		daxfs_touch_atime(req_fs(req), ino_in);
	ssize_t n = daxfs_copy_file_range(req_fs(req), ino_in, (uint64_t)off_in, ino_out,
					  (uint64_t)off_out, len);
	if (n < 0)
		reply_status(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void dx_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct daxfs_statfs s;
	struct statvfs st;
	int rc;

	(void)ino;
	rc = daxfs_statfs(req_fs(req), &s);
	if (rc < 0) {
		reply_status(req, rc);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.f_bsize = s.block_size;
	st.f_frsize = s.block_size;
	st.f_blocks = s.total_blocks;
	/* What a request can really get, as XFS counts its reserves: the index
	 * blocks a file's map needs come out of the free blocks. */
	st.f_bfree = s.avail_blocks;
	st.f_bavail = s.avail_blocks;
	st.f_files = s.total_inodes;
	st.f_ffree = s.free_inodes;
	st.f_favail = s.free_inodes;
	st.f_namemax = s.name_max;
	fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops daxfs_fuse_ops = {
	.init = dx_init,
	.ioctl = dx_ioctl,
	.poll = dx_poll,
	.lseek = dx_lseek,
	.copy_file_range = dx_copy_file_range,
	.destroy = dx_destroy,
	.lookup = dx_lookup,
	.forget = dx_forget,
	.forget_multi = dx_forget_multi,
	.getattr = dx_getattr,
	.setattr = dx_setattr,
	.readlink = dx_readlink,
	.mknod = dx_mknod,
	.mkdir = dx_mkdir,
	.unlink = dx_unlink,
	.rmdir = dx_rmdir,
	.symlink = dx_symlink,
	.rename = dx_rename,
	.link = dx_link,
	.open = dx_open,
	.read = dx_read,
	.write = dx_write,
	.flush = dx_flush,
	.release = dx_release,
	.fsync = dx_fsync,
	.opendir = dx_opendir,
	.readdir = dx_readdir,
	.readdirplus = dx_readdirplus,
	.releasedir = dx_releasedir,
	.fsyncdir = dx_fsync,
	.statfs = dx_statfs,
	.setxattr = dx_setxattr,
	.getxattr = dx_getxattr,
	.listxattr = dx_listxattr,
	.removexattr = dx_removexattr,
	.create = dx_create,
	.fallocate = dx_fallocate,
};

/* ---- Lifetime ----------------------------------------------------------------- */

struct daxfs_fuse *daxfs_fuse_new(void)
{
	struct daxfs_fuse *df = calloc(1, sizeof(*df));

	if (!df)
		return NULL;
	if (pthread_mutex_init(&df->inval.lock, NULL))
		goto err_free;
	if (pthread_cond_init(&df->inval.wake, NULL))
		goto err_mutex;
	pthread_cond_init(&df->inval.sent_cond, NULL);
	pthread_mutex_init(&df->polls.lock, NULL);
	return df;

err_mutex:
	pthread_mutex_destroy(&df->inval.lock);
err_free:
	free(df);
	return NULL;
}

void daxfs_fuse_free(struct daxfs_fuse *df)
{
	if (!df)
		return;
	inval_drop_all(&df->inval);
	for (size_t i = 0; i < df->polls.n; i++)
		fuse_pollhandle_destroy(df->polls.slots[i].ph);
	free(df->polls.slots);
	pthread_mutex_destroy(&df->polls.lock);
	pthread_cond_destroy(&df->inval.wake);
	pthread_cond_destroy(&df->inval.sent_cond);
	pthread_mutex_destroy(&df->inval.lock);
	free(df);
}

void daxfs_fuse_hook(struct daxfs_fuse *df, struct daxfs_mount_opts *opts)
{
	opts->inval_range = inval_range;
	opts->inval_ctx = &df->inval;
	opts->recall = on_recall;
	opts->recall_ctx = &df->polls;
}

void daxfs_fuse_attach(struct daxfs_fuse *df, struct daxfs *fs)
{
	df->fs = fs;
}
