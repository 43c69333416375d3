/* SPDX-License-Identifier: MIT */
/*
 * File data.  Reads take no lock: each block is found through the block map
 * and referenced under RCU (try-get, then re-check that the map still points
 * there), and the reference is held until the caller has consumed the data,
 * so a concurrent truncate can never free or reuse a block mid-read.  Writes
 * hold the inode lock and persist into the pool before they return.
 */
#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block_map.h"
#include "inode.h"
#include "layout_break.h"
#include "stable_pages.h"

static const char zero_block[DAXFS_BLOCK_SIZE] __attribute__((aligned(4096)));

static struct inode_mem *regular(struct daxfs *fs, uint64_t ino, int *rc)
{
	struct inode_mem *im = inode_get(fs, ino);

	*rc = !im ? -ENOENT : S_ISDIR(im->di->mode) ? -EISDIR : !S_ISREG(im->di->mode) ? -EINVAL : 0;
	return *rc ? NULL : im;
}

int daxfs_open(struct daxfs *fs, uint64_t ino, int flags)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);

	if (!im)
		return -ENOENT;
	if (fs->opts.read_only && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return -EROFS;
	pthread_rwlock_wrlock(&im->lock);
	/* A reaped file has lost its data with its last link and last open:
	 * an open reaching it now (by a handle, or racing the unlink) comes
	 * after the unlink. */
	int rc = im->dead || im->reaped ? -ENOENT : 0;
	/* The kernel's may_open checks these for local filesystems only. */
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	if (!rc && writes && inode_immutable(im->di))
		rc = -EPERM;
	if (!rc && writes && inode_append_only(im->di) &&
	    (!(flags & O_APPEND) || (flags & O_TRUNC)))
		rc = -EPERM;
	if (!rc)
		im->nopen++;
	pthread_rwlock_unlock(&im->lock);
	return rc;
}

void daxfs_release(struct daxfs *fs, uint64_t ino)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);

	if (im)
		inode_unref(fs, im, 0, 1);
}

/* Takes a reference on file block index; returns its block, 0 for a hole. */
static uint64_t get_block(struct daxfs *fs, struct pfn_table *t, struct daxfs_dinode *di,
			  uint64_t index)
{
	for (unsigned tries = 0;; tries++) {
		uint64_t blk = bmap_lookup(fs, di, index);
		if (!blk)
			return 0;
		uint64_t pfn = blk - fs->alloc.data_start;
		if (!pfn_tryget(t, pfn)) {
			/* Untracked under us: the map has changed, or is about to
			 * (a removal clears the pointer after untracking).  If it
			 * still holds the same pointer, back off rather than spin
			 * on the block in transition. */
			if (bmap_lookup(fs, di, index) == blk) {
				if (tries < 64)
					caa_cpu_relax();
				else
					sched_yield();
			}
			continue;
		}
		if (bmap_lookup(fs, di, index) == blk)
			return blk;
		/* Freed and reused while we looked: not ours any more. */
		pfn_put(t, pfn);
	}
}

static void add_iov(struct daxfs_read_ctx *ctx, const char *base, size_t len)
{
	struct iovec *last = ctx->niov ? &ctx->iov[ctx->niov - 1] : NULL;

	if (last && (const char *)last->iov_base + last->iov_len == base && base != zero_block) {
		last->iov_len += len;
		return;
	}
	ctx->iov[ctx->niov].iov_base = (void *)base;
	ctx->iov[ctx->niov].iov_len = len;
	ctx->niov++;
}

ssize_t daxfs_read_map(struct daxfs *fs, uint64_t ino, uint64_t off, size_t size,
		       struct daxfs_read_ctx *ctx)
{
	int rc;

	rcu_thread_enter();
	ctx->fs = fs;
	ctx->niov = 0;
	ctx->nrefs = 0;
	struct inode_mem *im = regular(fs, ino, &rc);
	if (!im)
		return rc;
	uint64_t fsize = __atomic_load_n(&im->di->size, __ATOMIC_ACQUIRE);
	if (off >= fsize || size == 0)
		return 0;
	/* One iovec per block at most, plus a partial first block. */
	uint64_t max = (uint64_t)(DAXFS_READ_MAX_IOV - 2) * DAXFS_BLOCK_SIZE;
	uint64_t n = fsize - off < size ? fsize - off : size;
	if (n > max)
		n = max;

	rcu_read_lock();
	struct pfn_table *t = fs_pfns(fs);
	for (uint64_t pos = off, end = off + n; pos < end;) {
		uint64_t index = pos / DAXFS_BLOCK_SIZE, boff = pos % DAXFS_BLOCK_SIZE;
		uint64_t len = DAXFS_BLOCK_SIZE - boff < end - pos ? DAXFS_BLOCK_SIZE - boff
								  : end - pos;
		uint64_t blk = get_block(fs, t, im->di, index);
		if (blk) {
			ctx->refs[ctx->nrefs++] = blk - fs->alloc.data_start;
			add_iov(ctx, (char *)pool_block(&fs->pool, blk) + boff, len);
		} else {
			add_iov(ctx, zero_block + boff, len);
		}
		pos += len;
	}
	rcu_read_unlock();
	return (ssize_t)n;
}

void daxfs_read_done(struct daxfs_read_ctx *ctx)
{
	struct pfn_table *t = fs_pfns(ctx->fs);

	for (int i = 0; i < ctx->nrefs; i++)
		pfn_put(t, ctx->refs[i]);
	ctx->nrefs = 0;
	ctx->niov = 0;
}

ssize_t daxfs_read(struct daxfs *fs, uint64_t ino, void *buf, size_t size, uint64_t off)
{
	struct daxfs_read_ctx ctx;
	size_t done = 0;

	while (done < size) {
		ssize_t n = daxfs_read_map(fs, ino, off + done, size - done, &ctx);
		if (n <= 0) {
			if (n < 0 && done == 0)
				return n;
			break;
		}
		char *p = (char *)buf + done;
		for (int i = 0; i < ctx.niov; i++) {
			memcpy(p, ctx.iov[i].iov_base, ctx.iov[i].iov_len);
			p += ctx.iov[i].iov_len;
		}
		daxfs_read_done(&ctx);
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Fills a new block for a write: its bytes outside [boff, boff+len) are
 * zeroed so that nothing stale is ever exposed past EOF or in the rest of
 * the block.  Flushed, not yet fenced nor published. */
static void fill_block(struct daxfs *fs, uint64_t blk, uint64_t boff, const char *src,
		       uint64_t len)
{
	const struct pool *pool = &fs->pool;
	char *p = pool_block(pool, blk);

	if (boff)
		pool_memset_nodrain(pool, p, 0, boff);
	if (boff + len < DAXFS_BLOCK_SIZE)
		pool_memset_nodrain(pool, p + boff + len, 0, DAXFS_BLOCK_SIZE - boff - len);
	if (src)
		pool_memcpy_nodrain(pool, p + boff, src, len);
	else
		pool_memset_nodrain(pool, p + boff, 0, len);
}

/* New blocks of one write, published together: one fence makes all their
 * data durable, then the pointers go in and one more fence makes the map
 * durable.  A write of many blocks costs a few fences, not a few per block
 * (on an emulated pool each fence is an msync). */
#define WRITE_BATCH 256
/* Preallocation zeroes without copying, so it batches 64 MiB: on an msync
 * pool each batch is a few fences whatever its size. */
#define PREALLOC_BATCH 16384
struct new_block {
	uint64_t index, blk, pos; /* pos: file offset of the write's bytes in it */
};
struct write_batch {
	int n, cap;
	struct new_block *nb; /* cap of them */
	/* Blocks allocated ahead (ALLOCATED), taken by the write's holes: one
	 * allocator call and one bitmap fence for many blocks.  end: where the
	 * write ends, to size the next allocation. */
	uint64_t end;
	int nspare, next_spare;
	uint64_t *spare; /* cap of them */
};

static int take_block(struct daxfs *fs, struct write_batch *b, uint64_t pos, uint64_t *blk)
{
	if (b->next_spare == b->nspare) {
		uint64_t left = (b->end - 1) / DAXFS_BLOCK_SIZE - pos / DAXFS_BLOCK_SIZE + 1;
		int got = fs_block_alloc_many(fs, b->spare,
					      left < (uint64_t)b->cap ? (unsigned)left
								      : (unsigned)b->cap);
		if (got < 0)
			return got;
		b->nspare = got;
		b->next_spare = 0;
	}
	*blk = b->spare[b->next_spare++];
	return 0;
}

/* Gives back what the write did not use (its range had blocks already). */
static void drop_spares(struct daxfs *fs, struct write_batch *b)
{
	while (b->next_spare < b->nspare)
		fs_block_free_allocated(fs, b->spare[b->next_spare++]);
}

/* Out of space for an index block while the batch still holds blocks it
 * has not published: one goes back, a spare first, else the batch's last,
 * so that the map can take it and the write ends short only by the blocks
 * the map took.  Returns whether anything went back; *upto moves down to
 * the first block given back. */
static bool give_back_one(struct daxfs *fs, struct write_batch *b, int i, uint64_t *upto)
{
	if (b->next_spare < b->nspare) {
		fs_block_free_allocated(fs, b->spare[--b->nspare]);
		return true;
	}
	if (b->n - 1 <= i)
		return false;
	b->n--;
	fs_block_free_allocated(fs, b->nb[b->n].blk);
	*upto = b->nb[b->n].pos;
	return true;
}

/* Returns the file offset up to which the write is complete: all of it, or
 * up to the first block that could not be published (no index block). */
static uint64_t publish(struct daxfs *fs, struct inode_mem *im, struct write_batch *b,
			uint64_t end, int *rc)
{
	uint64_t published = 0, upto = end;
	bool cut = false;

	pool_drain(&fs->pool);
	if (b->n > 1)
		bmap_reserve(fs, im->di, b->nb[0].index, b->nb[b->n - 1].index);
	for (int i = 0; i < b->n; i++) {
		if (*rc) {
			if (upto == end)
				upto = b->nb[i].pos;
			fs_block_free_allocated(fs, b->nb[i].blk);
			continue;
		}
		/* Tracked before the pointer is stored: a lock-free reader that
		 * finds it can take its reference at once instead of spinning
		 * until the transition. */
		pfn_transition(fs_pfns(fs), b->nb[i].blk - fs->alloc.data_start, PFN_ALLOCATED,
			       PFN_TRACKED, pfn_owner(im->ino, b->nb[i].index), im->di->generation);
		*rc = bmap_set(fs, im->di, b->nb[i].index, b->nb[i].blk);
		for (int had = b->n; *rc == -ENOSPC && give_back_one(fs, b, i, &upto);) {
			if (b->n < had)
				cut = true;
			*rc = bmap_set(fs, im->di, b->nb[i].index, b->nb[i].blk);
		}
		if (*rc) {
			upto = b->nb[i].pos;
			/* Never reachable, but a reader that followed a stale
			 * pointer to this pfn may hold it for a moment. */
			layout_retire(fs, b->nb[i].blk);
			continue;
		}
		published++;
	}
	if (published)
		pool_store8(&fs->pool, &im->di->blocks, im->di->blocks + published);
	if (cut && !*rc)
		*rc = -ENOSPC;
	b->n = 0;
	return upto;
}

/* Single-block form, for preallocation and WRITE pins of holes. */
int file_alloc_zeroed(struct daxfs *fs, struct inode_mem *im, uint64_t index, uint64_t *out)
{
	struct new_block nb[1];
	struct write_batch b = { .n = 1, .cap = 1, .nb = nb };
	int rc = fs_block_alloc(fs, &b.nb[0].blk);

	if (rc)
		return rc;
	fill_block(fs, b.nb[0].blk, 0, NULL, DAXFS_BLOCK_SIZE);
	b.nb[0].index = index;
	publish(fs, im, &b, 0, &rc);
	if (!rc && out)
		*out = b.nb[0].blk;
	return rc;
}

/* Writes one span inside a block: in place (flushed, fenced by the caller)
 * or into a new block queued on b.  Locking: im->lock held exclusive. */
static int write_span(struct daxfs *fs, struct inode_mem *im, struct write_batch *b, uint64_t pos,
		      const char *src, uint64_t len)
{
	uint64_t index = pos / DAXFS_BLOCK_SIZE, boff = pos % DAXFS_BLOCK_SIZE;
	struct pfn_table *t = fs_pfns(fs);
	bool waited = false;
	uint64_t blk;
	int rc;

	/* A block this batch took for a hole is not in the map until publish,
	 * so the map still shows a hole there.  A write whose source is cut
	 * at other places than block boundaries (a copy_file_range from
	 * blocks that are not adjacent in the pool, a writev) reaches the
	 * same block again with its next span, which must go into that block,
	 * not a second one.  Spans come in file order: only the last queued
	 * block can be the same. */
	if (b->n && b->nb[b->n - 1].index == index) {
		char *p = pool_block(&fs->pool, b->nb[b->n - 1].blk);
		pool_memcpy_nodrain(&fs->pool, p + boff, src, len);
		return 0;
	}
	do {
		rcu_read_lock();
		blk = get_block(fs, t, im->di, index);
		rcu_read_unlock();
		if (!blk) {
			rc = take_block(fs, b, pos, &blk);
			if (rc)
				return rc;
			fill_block(fs, blk, boff, src, len);
			b->nb[b->n++] = (struct new_block){ index, blk, pos };
			return 0;
		}
	} while ((rc = stable_before_change(fs, im, index, &blk, &waited)) == -EAGAIN);
	if (rc) {
		pfn_put(t, blk - fs->alloc.data_start);
		return rc;
	}
	pool_memcpy_nodrain(&fs->pool, (char *)pool_block(&fs->pool, blk) + boff, src, len);
	pfn_put(t, blk - fs->alloc.data_start);
	return 0;
}

/* Flushed, fenced by the caller: no rule orders the times against the data
 * or the size, so they share the operation's last fence. */
static void stamp_data(struct daxfs *fs, struct daxfs_dinode *di)
{
	struct daxfs_ts now;

	fs_now(&now);
	di->mtime = now;
	di->ctime = now;
	pool_flush(&fs->pool, &di->mtime, 2 * sizeof(now));
}

/* A new size, flushed: the caller fences it, after the data and the
 * pointers it covers are durable (docs/format.md §13, rule 5). */
static void set_size_nodrain(struct daxfs *fs, struct daxfs_dinode *di, uint64_t size)
{
	__atomic_store_n(&di->size, size, __ATOMIC_RELEASE);
	pool_flush(&fs->pool, &di->size, sizeof(di->size));
}

ssize_t daxfs_writev(struct daxfs *fs, uint64_t ino, const struct iovec *iov, int iovcnt,
		     uint64_t off, bool append)
{
	struct new_block nb[WRITE_BATCH];
	uint64_t spare[WRITE_BATCH];
	struct write_batch batch = { .cap = WRITE_BATCH, .nb = nb, .spare = spare };
	uint64_t total = 0, done = 0;
	int rc;

	rcu_thread_enter();
	struct inode_mem *im = regular(fs, ino, &rc);
	if (!im)
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	pthread_rwlock_wrlock(&im->lock);
	if (inode_immutable(im->di) || (inode_append_only(im->di) && !append)) {
		rc = -EPERM;
		goto out;
	}
	if (append)
		off = im->di->size;
	if (off >= DAXFS_MAX_FILE_SIZE && total) {
		rc = -EFBIG;
		goto out;
	}
	if (total > DAXFS_MAX_FILE_SIZE - off)
		total = DAXFS_MAX_FILE_SIZE - off;
	batch.end = off + total;
	for (int i = 0; i < iovcnt && done < total; i++) {
		const char *src = iov[i].iov_base;
		uint64_t left = iov[i].iov_len < total - done ? iov[i].iov_len : total - done;
		while (left) {
			uint64_t pos = off + done, boff = pos % DAXFS_BLOCK_SIZE;
			uint64_t len = DAXFS_BLOCK_SIZE - boff < left ? DAXFS_BLOCK_SIZE - boff : left;
			if (batch.n == batch.cap) {
				uint64_t upto = publish(fs, im, &batch, pos, &rc);
				if (rc) {
					done = upto - off;
					goto out_size;
				}
			}
			rc = write_span(fs, im, &batch, pos, src, len);
			if (rc)
				goto out_publish;
			src += len;
			left -= len;
			done += len;
		}
	}
out_publish:
	if (batch.n) {
		int prc = 0;
		uint64_t upto = publish(fs, im, &batch, off + done, &prc);
		if (prc) {
			rc = prc;
			done = upto - off;
		}
	}
out_size:
	drop_spares(fs, &batch);
	/* Nothing written, nothing to extend: a failed write changes no size.
	 * An overwrite in place is one fence for its data and times; an
	 * extension fences the data before the size covers it. */
	if (done && off + done > im->di->size) {
		pool_drain(&fs->pool); /* in-place spans */
		set_size_nodrain(fs, im->di, off + done);
	}
	if (done)
		stamp_data(fs, im->di);
	pool_drain(&fs->pool);
out:
	pthread_rwlock_unlock(&im->lock);
	return done ? (ssize_t)done : rc;
}

ssize_t daxfs_write(struct daxfs *fs, uint64_t ino, const void *buf, size_t size, uint64_t off,
		    bool append)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = size };

	return daxfs_writev(fs, ino, &iov, 1, off, append);
}

off_t daxfs_lseek(struct daxfs *fs, uint64_t ino, off_t off, int whence)
{
	int rc;

	rcu_thread_enter();
	struct inode_mem *im = regular(fs, ino, &rc);
	if (!im)
		return rc;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	pthread_rwlock_rdlock(&im->lock);
	uint64_t size = im->di->size, pos = (uint64_t)off;
	off_t ret = -ENXIO;
	if (pos < size) {
		uint64_t nblocks = (size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
		uint64_t idx = bmap_seek(fs, im->di, pos / DAXFS_BLOCK_SIZE, nblocks,
					 whence == SEEK_DATA);
		uint64_t at = idx * DAXFS_BLOCK_SIZE;
		if (idx == pos / DAXFS_BLOCK_SIZE)
			at = pos; /* already inside the kind of block sought */
		if (whence == SEEK_HOLE)
			ret = (off_t)(at < size ? at : size);
		else if (at < size)
			ret = (off_t)at;
	}
	pthread_rwlock_unlock(&im->lock);
	return ret;
}

/* A copy within one file whose ranges overlap would read bytes it has
 * already overwritten (the source is read from the pool, not a buffer):
 * like Linux, refuse it with -EINVAL, after shortening the copy to the
 * source's EOF.  The length is capped to that EOF too, so that a file
 * growing meanwhile cannot bring the ranges together. */
static int copy_within_file(struct daxfs *fs, uint64_t ino, uint64_t off_in, uint64_t off_out,
			    size_t *len)
{
	int rc;
	struct inode_mem *im = regular(fs, ino, &rc);

	if (!im)
		return rc;
	uint64_t size = __atomic_load_n(&im->di->size, __ATOMIC_ACQUIRE);
	uint64_t n = off_in >= size ? 0 : size - off_in < *len ? size - off_in : *len;
	if (off_out + n > off_in && off_out < off_in + n)
		return -EINVAL;
	*len = (size_t)n;
	return 0;
}

ssize_t daxfs_copy_file_range(struct daxfs *fs, uint64_t ino_in, uint64_t off_in,
			      uint64_t ino_out, uint64_t off_out, size_t len)
{
	static __thread struct daxfs_read_ctx ctx;
	size_t done = 0;

	rcu_thread_enter();
	if (ino_in == ino_out) {
		int rc = copy_within_file(fs, ino_in, off_in, off_out, &len);
		if (rc)
			return rc;
	}
	while (done < len) {
		ssize_t n = daxfs_read_map(fs, ino_in, off_in + done, len - done, &ctx);
		if (n <= 0) {
			if (n < 0 && done == 0)
				return n;
			break;
		}
		ssize_t w = daxfs_writev(fs, ino_out, ctx.iov, ctx.niov, off_out + done, false);
		daxfs_read_done(&ctx);
		if (w < 0) {
			if (done == 0)
				return w;
			break;
		}
		done += (size_t)w;
		if (w < n)
			break;
	}
	return (ssize_t)done;
}

/* Zeroes [off, off+len) inside one existing block, if there is one. */
static int zero_in_block(struct daxfs *fs, struct inode_mem *im, uint64_t off, uint64_t len)
{
	struct pfn_table *t = fs_pfns(fs);
	uint64_t index = off / DAXFS_BLOCK_SIZE, blk;
	bool waited = false;
	int rc;

	do {
		rcu_read_lock();
		blk = get_block(fs, t, im->di, index);
		rcu_read_unlock();
		if (!blk)
			return 0;
	} while ((rc = stable_before_change(fs, im, index, &blk, &waited)) == -EAGAIN);
	if (rc) {
		pfn_put(t, blk - fs->alloc.data_start);
		return rc;
	}
	pool_memset_persist(&fs->pool, (char *)pool_block(&fs->pool, blk) + off % DAXFS_BLOCK_SIZE,
			    0, len);
	pfn_put(t, blk - fs->alloc.data_start);
	return 0;
}

/* Bytes past EOF must read as zeros once the file grows again, so a shrink
 * zeroes the rest of its new last block.  What can fail there (the copy of
 * a block under a STABLE pin) is done first, before anything changes: a
 * truncate that fails leaves the file as it was. */
int file_truncate(struct daxfs *fs, struct inode_mem *im, uint64_t size)
{
	struct pfn_table *t = fs_pfns(fs);
	uint64_t boff = size % DAXFS_BLOCK_SIZE, blk = 0;
	bool waited = false;
	int rc;

	if (size > DAXFS_MAX_FILE_SIZE)
		return -EFBIG;
	if (size < im->di->size && boff) {
		/* May drop and retake the lock: the size is read after. */
		do {
			rcu_read_lock();
			blk = get_block(fs, t, im->di, size / DAXFS_BLOCK_SIZE);
			rcu_read_unlock();
		} while (blk && (rc = stable_before_change(fs, im, size / DAXFS_BLOCK_SIZE, &blk,
							   &waited)) == -EAGAIN);
		if (blk && rc) {
			pfn_put(t, blk - fs->alloc.data_start);
			return rc;
		}
	}
	uint64_t old = im->di->size;
	pool_store8(&fs->pool, &im->di->size, size);
	if (blk) {
		if (size < old)
			pool_memset_persist(&fs->pool, (char *)pool_block(&fs->pool, blk) + boff, 0,
					    DAXFS_BLOCK_SIZE - boff);
		pfn_put(t, blk - fs->alloc.data_start);
	}
	if (size >= old)
		return 0; /* bytes past the old EOF are zero already */
	return layout_remove(fs, im, (size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE, UINT64_MAX,
			     0);
}

/* Zeroes a byte range: partial blocks in place, whole blocks removed through
 * the removal protocol (so they read back as holes). */
static int punch(struct daxfs *fs, struct inode_mem *im, uint64_t off, uint64_t end)
{
	uint64_t first = (off + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
	uint64_t last_excl = end / DAXFS_BLOCK_SIZE;

	if (off >= end)
		return 0;
	if (first > last_excl) /* the whole range is inside one block */
		return zero_in_block(fs, im, off, end - off);
	int rc = 0;
	if (off % DAXFS_BLOCK_SIZE)
		rc = zero_in_block(fs, im, off, first * DAXFS_BLOCK_SIZE - off);
	if (!rc && end % DAXFS_BLOCK_SIZE)
		rc = zero_in_block(fs, im, last_excl * DAXFS_BLOCK_SIZE, end % DAXFS_BLOCK_SIZE);
	if (rc)
		return rc;
	if (first < last_excl)
		return layout_remove(fs, im, first, last_excl - 1, 0);
	return 0;
}

/* Runs of file blocks [first, last] that one preallocation added past EOF. */
struct prealloc_runs {
	uint64_t (*r)[2];
	size_t n, cap;
};

/* Records block i before it is allocated, so that every block the call
 * added is in a run: -ENOMEM if the list cannot grow. */
static int runs_add(struct prealloc_runs *runs, uint64_t i)
{
	if (runs->n && runs->r[runs->n - 1][1] + 1 == i) {
		runs->r[runs->n - 1][1] = i;
		return 0;
	}
	if (runs->n == runs->cap) {
		size_t cap = runs->cap ? runs->cap * 2 : 8;
		void *n = realloc(runs->r, cap * sizeof(*runs->r));
		if (!n)
			return -ENOMEM;
		runs->r = n;
		runs->cap = cap;
	}
	runs->r[runs->n][0] = runs->r[runs->n][1] = i;
	runs->n++;
	return 0;
}

/* Zeroes the blocks of a preallocation batch, a run of adjacent blocks at a
 * time: on an msync pool file the filesystem holding it zeroes a run
 * without writing it (pool_zero_nodrain). */
static void zero_new_blocks(struct daxfs *fs, const struct write_batch *b)
{
	for (int i = 0, j; i < b->n; i = j) {
		for (j = i + 1; j < b->n && b->nb[j].blk == b->nb[j - 1].blk + 1; j++)
			;
		pool_zero_nodrain(&fs->pool, pool_block(&fs->pool, b->nb[i].blk),
				  (size_t)(j - i) * DAXFS_BLOCK_SIZE);
	}
}

static int publish_zeroed(struct daxfs *fs, struct inode_mem *im, struct write_batch *b)
{
	int rc = 0;

	zero_new_blocks(fs, b);
	publish(fs, im, b, 0, &rc);
	return rc;
}

/* A batch of a write's size on the stack, or one as large as the
 * preallocation (at most PREALLOC_BATCH) on the heap; the stack one too
 * when there is no memory. */
struct prealloc_batch {
	struct write_batch b;
	struct new_block nb[WRITE_BATCH];
	uint64_t spare[WRITE_BATCH];
};

static void prealloc_batch_init(struct prealloc_batch *pb, uint64_t end, uint64_t need)
{
	int cap = need < PREALLOC_BATCH ? (int)need : PREALLOC_BATCH;

	pb->b = (struct write_batch){ .end = end, .cap = WRITE_BATCH, .nb = pb->nb,
				      .spare = pb->spare };
	if (cap <= WRITE_BATCH)
		return;
	pb->b.cap = cap;
	pb->b.nb = malloc((size_t)cap * sizeof(*pb->b.nb));
	pb->b.spare = malloc((size_t)cap * sizeof(*pb->b.spare));
	if (!pb->b.nb || !pb->b.spare) {
		free(pb->b.nb);
		free(pb->b.spare);
		pb->b.nb = pb->nb;
		pb->b.spare = pb->spare;
		pb->b.cap = WRITE_BATCH;
	}
}

static void prealloc_batch_free(struct prealloc_batch *pb)
{
	if (pb->b.nb != pb->nb) {
		free(pb->b.nb);
		free(pb->b.spare);
	}
}

/* A failed preallocation gives back the blocks it added past EOF (through
 * the removal protocol, which also frees the index blocks they emptied), so
 * that it consumes no space; blocks that were there before stay.  Blocks it
 * put into holes below EOF stay too: they read as the zeros they replace,
 * and a reader may already hold them. */
static int preallocate(struct daxfs *fs, struct inode_mem *im, uint64_t off, uint64_t end)
{
	uint64_t past_eof = (im->di->size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
	uint64_t first = off / DAXFS_BLOCK_SIZE, limit = (end + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
	struct prealloc_runs runs = { 0 };
	struct prealloc_batch pb;
	struct write_batch *b = &pb.b;
	int rc = 0;

	/* What plainly cannot fit fails before it allocates anything (and
	 * before it grows the map's height, which a removal keeps). */
	uint64_t need = limit - first;
	for (uint64_t i = bmap_seek(fs, im->di, first, limit, true); i < limit;
	     i = bmap_seek(fs, im->di, i + 1, limit, true))
		need--;
	if (need > atomic_load(&fs->alloc.nfree))
		return -ENOSPC;
	/* Zeroed blocks are published a batch at a time, as a write's are:
	 * a few fences per batch instead of a few per block. */
	prealloc_batch_init(&pb, end, need);
	for (uint64_t i = first; i < limit; i++) {
		uint64_t blk;
		if (bmap_lookup(fs, im->di, i))
			continue;
		if (i >= past_eof && (rc = runs_add(&runs, i)))
			break;
		if (b->n == b->cap && (rc = publish_zeroed(fs, im, b)))
			break;
		if ((rc = take_block(fs, b, i * DAXFS_BLOCK_SIZE, &blk)))
			break;
		b->nb[b->n++] = (struct new_block){ i, blk, i * DAXFS_BLOCK_SIZE };
	}
	if (b->n) {
		int prc = publish_zeroed(fs, im, b);
		if (!rc)
			rc = prc;
	}
	drop_spares(fs, b);
	prealloc_batch_free(&pb);
	/* A run's last block may be the one whose allocation failed: removing
	 * a hole is a no-op. */
	for (size_t k = runs.n; rc && k-- > 0;)
		layout_remove(fs, im, runs.r[k][0], runs.r[k][1], 0);
	free(runs.r);
	return rc;
}

int daxfs_fallocate(struct daxfs *fs, uint64_t ino, int mode, uint64_t off, uint64_t len)
{
	int rc;

	rcu_thread_enter();
	struct inode_mem *im = regular(fs, ino, &rc);
	if (!im)
		return rc;
	if (len == 0 || off > INT64_MAX || len > INT64_MAX)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE)))
		return -EOPNOTSUPP;
	if (off + len > DAXFS_MAX_FILE_SIZE)
		return -EFBIG;
	if (fs->opts.read_only)
		return -EROFS;
	uint64_t end = off + len;
	pthread_rwlock_wrlock(&im->lock);
	if (inode_immutable(im->di) ||
	    (inode_append_only(im->di) && (mode & ~FALLOC_FL_KEEP_SIZE))) {
		pthread_rwlock_unlock(&im->lock);
		return -EPERM;
	}
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t size = im->di->size;
		rc = punch(fs, im, off, end < size || (mode & FALLOC_FL_ZERO_RANGE) ? end : size);
	} else {
		rc = preallocate(fs, im, off, end);
	}
	if (!rc && !(mode & FALLOC_FL_KEEP_SIZE) && end > im->di->size)
		set_size_nodrain(fs, im->di, end);
	if (!rc)
		stamp_data(fs, im->di);
	pool_drain(&fs->pool);
	pthread_rwlock_unlock(&im->lock);
	return rc;
}
