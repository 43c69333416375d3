/* SPDX-License-Identifier: MIT */
/*
 * daxfs-stress in process: the pool is mounted with daxfs_mount and every
 * operation is a call into the core library, so ThreadSanitizer sees the
 * filesystem's threads and the workers' together.  Devices reach pinned
 * blocks at the pool mapping's base plus the extents' pool offsets, as the
 * client library does through its own mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "stress.h"
#include "super.h"

#define WORKDIR_NAME "daxfs-stress"
#define BALLAST_NAME "ballast"

struct pool_be {
	struct daxfs *fs;
	uint64_t work_ino;
	uint64_t ballast_ino;
};

static const struct daxfs_cred root_cred = { 0 };

static struct pool_be *pb(struct stress *s)
{
	return s->bdata;
}

static struct daxfs *pfs(struct stress *s)
{
	return pb(s)->fs;
}

/* A removal needs pins back: wake every device, each looks at its own
 * handles.  Called with the inode's lock held, so it only signals. */
static void on_recall(void *ctx, uint64_t owner)
{
	struct stress *s = ctx;

	(void)owner;
	pthread_mutex_lock(&s->recall_lock);
	s->recall_epoch++;
	pthread_cond_broadcast(&s->recall_cond);
	pthread_mutex_unlock(&s->recall_lock);
}

static int pool_setup(struct stress *s)
{
	struct pool_be *p = calloc(1, sizeof(*p));
	char err[256];

	if (!p)
		return -ENOMEM;
	s->bdata = p;
	struct daxfs_mount_opts opts = {
	    .layout_wait = s->o.layout_wait,
	    .break_timeout_sec = s->o.break_timeout,
	    .recall = on_recall,
	    .recall_ctx = s,
	    .stable_writes_wait = s->o.stable_writes_wait,
	};
	int rc = daxfs_mount(s->o.pool, &opts, &p->fs, err, sizeof(err));
	if (rc) {
		stress_error("cannot mount %s: %s", s->o.pool, err);
		return rc;
	}
	if ((rc = daxfs_start_background(p->fs))) {
		stress_error("cannot start the background thread: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static int pool_workdir(struct stress *s, bool create)
{
	struct pool_be *p = pb(s);
	struct daxfs_attr a;
	int rc;

	if (!create) {
		rc = daxfs_rmdir(p->fs, DAXFS_ROOT_INO, WORKDIR_NAME);
		daxfs_forget(p->fs, p->work_ino, 1);
		return rc;
	}
	rc = daxfs_mkdir(p->fs, &root_cred, DAXFS_ROOT_INO, WORKDIR_NAME, 0755, &a);
	if (rc) {
		stress_error("mkdir /%s in %s: %s", WORKDIR_NAME, s->o.pool, strerror(-rc));
		return rc;
	}
	p->work_ino = a.ino;
	return 0;
}

static int pool_prepare(struct stress *s)
{
	(void)s;
	return 0;
}

static int pool_shutdown(struct stress *s)
{
	struct pool_be *p = pb(s);
	struct daxfs_unmount_report rep = {0};
	int rc = 0;

	if (!p)
		return 0;
	if (p->fs) {
		rc = daxfs_unmount(p->fs, &rep);
		if (rep.busy_blocks_waited)
			stress_violation(s,
					 "unmount waited for %llu busy blocks after every pin "
					 "and file was gone",
					 (unsigned long long)rep.busy_blocks_waited);
	}
	free(p);
	s->bdata = NULL;
	return rc;
}

static int pool_stats(struct stress *s, struct daxfs_ioc_stats *st)
{
	return daxfs_stats(pfs(s), st);
}

static int pool_create(struct stress *s, struct slot *sl)
{
	struct daxfs_attr a;
	int rc = daxfs_mknod(pfs(s), &root_cred, pb(s)->work_ino, sl->name, S_IFREG | 0644, 0, &a);

	if (!rc)
		sl->ino = a.ino; /* with the lookup reference mknod took, until remove */
	return rc;
}

static int pool_remove(struct stress *s, struct slot *sl)
{
	int rc = daxfs_unlink(pfs(s), pb(s)->work_ino, sl->name);

	daxfs_forget(pfs(s), sl->ino, 1);
	sl->ino = 0;
	return rc;
}

static int pool_truncate(struct stress *s, struct slot *sl, uint64_t size)
{
	struct daxfs_setattr sa = {.valid = DAXFS_SET_SIZE, .size = size};
	struct daxfs_attr a;

	return daxfs_setattr(pfs(s), sl->ino, &sa, &a);
}

static int pool_fallocate(struct stress *s, struct slot *sl, int mode, uint64_t off, uint64_t len)
{
	return daxfs_fallocate(pfs(s), sl->ino, mode, off, len);
}

static ssize_t pool_write(struct stress *s, struct slot *sl, const void *buf, size_t len,
			  uint64_t off)
{
	return daxfs_write(pfs(s), sl->ino, buf, len, off, false);
}

static ssize_t pool_read(struct stress *s, struct slot *sl, void *buf, size_t len, uint64_t off)
{
	return daxfs_read(pfs(s), sl->ino, buf, len, off);
}

static int pool_reader_open(struct stress *s, struct slot *sl, struct reader_file *rf)
{
	rf->ino = sl->ino;
	return daxfs_open(pfs(s), rf->ino, O_RDONLY);
}

static ssize_t pool_reader_read(struct stress *s, struct reader_file *rf, void *buf, size_t len,
				uint64_t off)
{
	return daxfs_read(pfs(s), rf->ino, buf, len, off);
}

static void pool_reader_close(struct stress *s, struct reader_file *rf)
{
	daxfs_release(pfs(s), rf->ino);
}

static int pool_handle_open(struct stress *s, struct slot *sl, struct dev_handle *h)
{
	int rc = daxfs_open(pfs(s), sl->ino, O_RDWR);

	if (rc)
		return rc;
	h->ino = sl->ino;
	h->handle = daxfs_handle_new(pfs(s));
	return 0;
}

/* As the FUSE adapter's release: the pins go before the open count. */
static void pool_handle_close(struct stress *s, struct dev_handle *h)
{
	daxfs_handle_release(pfs(s), h->handle);
	daxfs_release(pfs(s), h->ino);
}

static int pool_pin(struct stress *s, struct dev_handle *h, unsigned flags, struct dma_transfer *t)
{
	struct daxfs_ioc_pin *req = calloc(1, sizeof(*req));
	uint8_t *base = (uint8_t *)pfs(s)->pool.base;

	if (!req)
		return -ENOMEM;
	req->offset = t->offset;
	req->length = t->length;
	req->flags = flags;
	int rc = daxfs_pin(pfs(s), h->ino, h->handle, req);
	if (!rc) {
		t->pin_id = req->pin_id;
		t->nseg = req->nextents;
		for (unsigned i = 0; i < req->nextents; i++)
			t->seg[i] = (struct dma_segment){base + req->extents[i].pool_offset,
							 req->extents[i].file_offset,
							 req->extents[i].length};
	}
	free(req);
	return rc;
}

static int pool_unpin(struct stress *s, struct dev_handle *h, uint64_t pin_id)
{
	return daxfs_unpin(pfs(s), h->handle, pin_id);
}

static void pool_persist_range(struct stress *s, struct dev_handle *h, void *addr, size_t len)
{
	(void)h;
	pool_persist(&pfs(s)->pool, addr, len);
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

static int handle_recalls(struct stress *s, struct dev_handle *h, uint64_t *ids, int max)
{
	struct daxfs_ioc_recalls *r = malloc(sizeof(*r));
	int got = 0;

	if (!r)
		return 0;
	int n = daxfs_recalls(pfs(s), h->handle, r);
	for (int i = 0; i < n && got < max; i++)
		ids[got++] = r->pin_ids[i];
	free(r);
	return got;
}

static int pool_wait(struct stress *s, unsigned dev, uint64_t timeout_ns, uint64_t *ids, int max)
{
	struct device_ctx *dc = &s->devs[dev];
	struct timespec deadline;
	bool recalled;

	deadline_in(&deadline, timeout_ns);
	pthread_mutex_lock(&s->recall_lock);
	while (s->recall_epoch == dc->recall_epoch_seen &&
	       pthread_cond_timedwait(&s->recall_cond, &s->recall_lock, &deadline) == 0)
		;
	recalled = s->recall_epoch != dc->recall_epoch_seen;
	dc->recall_epoch_seen = s->recall_epoch;
	pthread_mutex_unlock(&s->recall_lock);
	if (!recalled)
		return 0;
	int got = 0;
	for (unsigned f = 0; f < s->o.files && got < max; f++)
		if (dc->cur[f] && dc->cur[f]->inflight)
			got += handle_recalls(s, dc->cur[f], ids + got, max - got);
	for (struct dev_handle *h = dc->retired; h && got < max; h = h->next)
		if (h->inflight)
			got += handle_recalls(s, h, ids + got, max - got);
	return got;
}

static int pool_ballast(struct stress *s, uint64_t nblocks)
{
	struct pool_be *p = pb(s);
	struct daxfs_attr a;
	int rc;

	if (!nblocks) {
		if (!p->ballast_ino)
			return 0;
		rc = daxfs_unlink(p->fs, p->work_ino, BALLAST_NAME);
		daxfs_forget(p->fs, p->ballast_ino, 1);
		p->ballast_ino = 0;
		return rc;
	}
	rc = daxfs_mknod(p->fs, &root_cred, p->work_ino, BALLAST_NAME, S_IFREG | 0600, 0, &a);
	if (rc)
		return rc;
	p->ballast_ino = a.ino;
	return daxfs_fallocate(p->fs, a.ino, 0, 0, nblocks * DMA_BLOCK);
}

const struct stress_backend stress_pool_backend = {
    .name = "pool",
    .setup = pool_setup,
    .workdir = pool_workdir,
    .prepare = pool_prepare,
    .shutdown = pool_shutdown,
    .stats = pool_stats,
    .create = pool_create,
    .remove = pool_remove,
    .truncate = pool_truncate,
    .fallocate = pool_fallocate,
    .write = pool_write,
    .read = pool_read,
    .reader_open = pool_reader_open,
    .reader_read = pool_reader_read,
    .reader_close = pool_reader_close,
    .handle_open = pool_handle_open,
    .handle_close = pool_handle_close,
    .pin = pool_pin,
    .unpin = pool_unpin,
    .persist = pool_persist_range,
    .wait = pool_wait,
    .ballast = pool_ballast,
};
