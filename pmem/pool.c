/* SPDX-License-Identifier: MIT */
#include "pool.h"
#include "pool_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

uint32_t pool_super_checksum(const struct daxfs_super *sb)
{
	return crc32c(0, sb, offsetof(struct daxfs_super, checksum));
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

const char *pool_check_super(const struct daxfs_super *sb, uint64_t file_size)
{
	if (sb->magic != DAXFS_MAGIC)
		return "not a daxfs pool (no daxfs signature)";
	if (sb->version != DAXFS_VERSION)
		return "unsupported daxfs format version (this build reads version 1)";
	if (sb->checksum != pool_super_checksum(sb))
		return "superblock checksum mismatch (fsck.daxfs can restore it from the backup)";
	if (sb->feature_incompat & ~DAXFS_FEATURE_INCOMPAT_SUPP)
		return "pool uses incompatible features this build does not know";
	if (sb->feature_ro_compat & ~DAXFS_FEATURE_RO_COMPAT_SUPP)
		return "pool uses features this build can only mount read-only";
	if (sb->block_size != DAXFS_BLOCK_SIZE)
		return "unsupported block size";
	if (sb->inode_count < 2 || sb->inode_count > UINT32_MAX || sb->data_blocks == 0 ||
	    sb->log_slots == 0 || sb->log_slots > DAXFS_LOG_SLOTS || sb->log_slot_blocks == 0 ||
	    sb->log_start != DAXFS_FIRST_META_BLOCK ||
	    sb->itable_start != sb->log_start + sb->log_slots * sb->log_slot_blocks ||
	    sb->itable_blocks != div_up(sb->inode_count, DAXFS_INODES_PER_BLOCK) ||
	    sb->bitmap_start != sb->itable_start + sb->itable_blocks ||
	    sb->bitmap_blocks < div_up(sb->data_blocks, DAXFS_BLOCK_SIZE * 8ULL) ||
	    sb->bitmap_blocks > div_up(sb->data_blocks, DAXFS_BLOCK_SIZE * 8ULL) + 1 ||
	    sb->data_start != sb->bitmap_start + sb->bitmap_blocks ||
	    sb->total_blocks != sb->data_start + sb->data_blocks ||
	    sb->total_blocks > (UINT64_MAX >> (DAXFS_BLOCK_SHIFT + 2)))
		return "superblock geometry is inconsistent";
	if (sb->total_blocks * DAXFS_BLOCK_SIZE > file_size)
		return "pool is shorter than its superblock says (truncated?)";
	return NULL;
}

/* A sparse pool would let the daemon take SIGBUS the day the filesystem
 * holding it fills up.  SEEK_HOLE cannot tell: ext4 reports fallocated
 * (unwritten) extents as holes, so count the allocated bytes instead. */
static int check_regular_file(const struct stat *st, uint64_t need, char *err, size_t errlen)
{
	uint64_t allocated = (uint64_t)st->st_blocks * 512;

	if (allocated < need)
		return fail(err, errlen, -EINVAL,
			    "pool file is sparse (%llu of %llu bytes allocated); a pool must be "
			    "fully allocated (re-create it with mkfs.daxfs)",
			    (unsigned long long)allocated, (unsigned long long)need);
	return 0;
}

static int take_lock(struct pool *p, int fd, unsigned flags, char *err, size_t errlen)
{
	bool ro = flags & POOL_READ_ONLY;
	int rc = pool_lock_take(fd, p->path, ro ? LOCK_SH : LOCK_EX, "daxfs", err, errlen);

	if (rc)
		return rc;
	if ((flags & POOL_SERVING) && (rc = pool_lock_mark_serving(fd, ro)))
		return fail(err, errlen, rc, "cannot lock %s: %s", p->path, strerror(-rc));
	p->lock_fd = fd;
	return 0;
}

/* Device DAX nodes cannot be read(); they are mapped before the superblock
 * can be looked at. */
static int map_device(struct pool *p, char *err, size_t errlen)
{
	size_t len;
	int is_pmem;

	p->base = pmem_map_file(p->path, 0, 0, 0, &len, &is_pmem);
	if (!p->base)
		return fail(err, errlen, -errno, "cannot map %s: %s", p->path, strerror(errno));
	const char *why = pool_check_super(pool_super(p), len);
	if (why) {
		pmem_unmap(p->base, len);
		p->base = NULL;
		return fail(err, errlen, -EINVAL, "%s: %s", p->path, why);
	}
	p->size = pool_super(p)->total_blocks * DAXFS_BLOCK_SIZE;
	p->is_pmem = is_pmem;
	if (len > p->size)
		pmem_unmap(p->base + p->size, len - p->size);
	return 0;
}

static int map_file(struct pool *p, int fd, char *err, size_t errlen)
{
	struct daxfs_super sb;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return fail(err, errlen, -errno, "cannot stat %s: %s", p->path, strerror(errno));
	n = pread(fd, &sb, sizeof(sb), 0);
	if (n != (ssize_t)sizeof(sb))
		return fail(err, errlen, -EINVAL, "%s: too small to be a daxfs pool", p->path);
	const char *why = pool_check_super(&sb, (uint64_t)st.st_size);
	if (why)
		return fail(err, errlen, -EINVAL, "%s: %s", p->path, why);
	p->size = sb.total_blocks * DAXFS_BLOCK_SIZE;
	int rc = check_regular_file(&st, p->size, err, errlen);
	if (rc)
		return rc;
	if (p->read_only) {
		p->base = mmap(NULL, p->size, PROT_READ, MAP_SHARED, fd, 0);
		if (p->base == MAP_FAILED) {
			p->base = NULL;
			return fail(err, errlen, -errno, "cannot map %s: %s", p->path,
				    strerror(errno));
		}
		p->is_pmem = false;
		return 0;
	}
	size_t len;
	int is_pmem;
	p->base = pmem_map_file(p->path, 0, 0, 0, &len, &is_pmem);
	if (!p->base)
		return fail(err, errlen, -errno, "cannot map %s: %s", p->path, strerror(errno));
	if (len < p->size) {
		pmem_unmap(p->base, len);
		p->base = NULL;
		return fail(err, errlen, -EINVAL, "%s shrank while it was being opened", p->path);
	}
	if (len > p->size)
		pmem_unmap(p->base + p->size, len - p->size);
	p->is_pmem = is_pmem;
	return 0;
}

int pool_open(struct pool *p, const char *path, unsigned flags, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	memset(p, 0, sizeof(*p));
	p->lock_fd = -1;
	p->read_only = flags & POOL_READ_ONLY;
	if (!realpath(path, p->path))
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	fd = open(p->path, (p->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, -errno, "cannot open %s: %s", p->path, strerror(errno));
	if (flags & POOL_LOCK) {
		rc = take_lock(p, fd, flags, err, errlen);
		if (rc)
			goto out_close;
	}
	if (fstat(fd, &st) < 0) {
		rc = fail(err, errlen, -errno, "cannot stat %s: %s", p->path, strerror(errno));
		goto out_close;
	}
	if (S_ISCHR(st.st_mode))
		rc = p->read_only ? fail(err, errlen, -EINVAL, "read-only device DAX is not supported")
				  : map_device(p, err, errlen);
	else if (S_ISREG(st.st_mode))
		rc = map_file(p, fd, err, errlen);
	else
		rc = fail(err, errlen, -EINVAL, "%s is neither a regular file nor a DAX device",
			  p->path);
	if (rc)
		goto out_close;
	if (!p->is_pmem && !p->read_only && !(p->msync = msync_group_new(fd))) {
		rc = fail(err, errlen, -ENOMEM, "%s: out of memory", p->path);
		goto out_unmap;
	}
	if (p->lock_fd < 0)
		close(fd);
	return 0;

out_unmap:
	munmap(p->base, p->size);
	p->base = NULL;

out_close:
	p->lock_fd = -1;
	close(fd);
	return rc;
}

void pool_close(struct pool *p)
{
	/* Flushes no thread fenced yet (a fence is per thread) are made
	 * durable here, as a pmem cache would write them back eventually. */
	if (p->base && p->msync)
		msync(p->base, p->size, MS_SYNC);
	msync_group_free(p->msync);
	p->msync = NULL;
	if (p->base)
		munmap(p->base, p->size);
	p->base = NULL;
	/* The flock goes first: close() drops the serving mark before the
	 * flock, and a tool looking in between would take this daemon at its
	 * last step for a holder that serves no mount (pool_lock.h). */
	if (p->lock_fd >= 0) {
		flock(p->lock_fd, LOCK_UN);
		close(p->lock_fd);
	}
	p->lock_fd = -1;
}

#ifdef DAXFS_PMEM_TRACE
#include <pthread.h>

#define TRACE_LINE 64ULL

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_trace *trace; /* the open trace, or NULL */
static const char *trace_base; /* the traced pool's mapping */
static uint64_t trace_size;
static size_t trace_evcap, trace_datacap;

static void trace_die(void)
{
	fprintf(stderr, "daxfs: out of memory recording the pmem trace\n");
	abort();
}

static struct pool_trace_event *trace_push(void)
{
	if (trace->nev == trace_evcap) {
		trace_evcap = trace_evcap ? trace_evcap * 2 : 4096;
		trace->ev = realloc(trace->ev, trace_evcap * sizeof(*trace->ev));
		if (!trace->ev)
			trace_die();
	}
	struct pool_trace_event *e = &trace->ev[trace->nev++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* A trace begun with no pool binds to the first pool that flushes or
 * drains (used to trace a mount, whose pool does not exist yet). */
static bool traced(const struct pool *p)
{
	if (trace && !trace_base) {
		trace_base = p->base;
		trace_size = p->size;
	}
	return trace && p->base == trace_base;
}

static void trace_write(const struct pool *p, const void *addr, size_t len)
{
	uint64_t off = pool_offset(p, addr);

	pthread_mutex_lock(&trace_lock);
	if (traced(p) && len && off < trace_size) {
		if (len > trace_size - off)
			len = trace_size - off;
		uint64_t lo = off & ~(TRACE_LINE - 1);
		uint64_t hi = (off + len + TRACE_LINE - 1) & ~(TRACE_LINE - 1);
		if (hi > trace_size)
			hi = trace_size;
		if (trace->ndata + (hi - lo) > trace_datacap) {
			while (trace->ndata + (hi - lo) > trace_datacap)
				trace_datacap = trace_datacap ? trace_datacap * 2 : 1 << 20;
			trace->data = realloc(trace->data, trace_datacap);
			if (!trace->data)
				trace_die();
		}
		struct pool_trace_event *e = trace_push();
		e->kind = POOL_TRACE_WRITE;
		e->off = off;
		e->len = len;
		e->line_off = lo;
		e->line_len = hi - lo;
		e->data = trace->ndata;
		memcpy(trace->data + trace->ndata, trace_base + lo, hi - lo);
		trace->ndata += hi - lo;
	}
	pthread_mutex_unlock(&trace_lock);
}

static void trace_fence(const struct pool *p)
{
	pthread_mutex_lock(&trace_lock);
	if (traced(p))
		trace_push()->kind = POOL_TRACE_FENCE;
	pthread_mutex_unlock(&trace_lock);
}

void pool_trace_free(struct pool_trace *t)
{
	if (!t)
		return;
	free(t->ev);
	free(t->data);
	free(t);
}

void pool_trace_begin(const struct pool *p)
{
	pthread_mutex_lock(&trace_lock);
	pool_trace_free(trace);
	trace = calloc(1, sizeof(*trace));
	if (!trace)
		trace_die();
	trace_base = p ? p->base : NULL;
	trace_size = p ? p->size : 0;
	trace_evcap = trace_datacap = 0;
	pthread_mutex_unlock(&trace_lock);
}

struct pool_trace *pool_trace_end(void)
{
	pthread_mutex_lock(&trace_lock);
	struct pool_trace *t = trace;
	trace = NULL;
	trace_base = NULL;
	pthread_mutex_unlock(&trace_lock);
	return t;
}

void pool_flush(const struct pool *p, const void *addr, size_t len)
{
	trace_write(p, addr, len);
	if (p->is_pmem)
		pmem_flush(addr, len);
	else if (p->msync)
		msync_group_flush(p->msync, addr, len);
}

void pool_drain(const struct pool *p)
{
	trace_fence(p);
	if (p->is_pmem)
		pmem_drain();
	else if (p->msync)
		msync_group_drain(p->msync);
}

/* The copy and the fill go through pool_flush so that the trace sees them. */
void pool_memcpy_nodrain(const struct pool *p, void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	pool_flush(p, dst, len);
}

void pool_memset_nodrain(const struct pool *p, void *dst, int c, size_t len)
{
	memset(dst, c, len);
	pool_flush(p, dst, len);
}

#else /* !DAXFS_PMEM_TRACE */

void pool_flush(const struct pool *p, const void *addr, size_t len)
{
	if (p->is_pmem)
		pmem_flush(addr, len);
	else if (p->msync)
		msync_group_flush(p->msync, addr, len);
}

void pool_drain(const struct pool *p)
{
	if (p->is_pmem)
		pmem_drain();
	else if (p->msync)
		msync_group_drain(p->msync);
}

void pool_memcpy_nodrain(const struct pool *p, void *dst, const void *src, size_t len)
{
	if (p->is_pmem) {
		pmem_memcpy_nodrain(dst, src, len);
		return;
	}
	memcpy(dst, src, len);
	if (p->msync)
		msync_group_flush(p->msync, dst, len);
}

void pool_memset_nodrain(const struct pool *p, void *dst, int c, size_t len)
{
	if (p->is_pmem) {
		pmem_memset_nodrain(dst, c, len);
		return;
	}
	memset(dst, c, len);
	if (p->msync)
		msync_group_flush(p->msync, dst, len);
}

#endif /* DAXFS_PMEM_TRACE */

void pool_persist(const struct pool *p, const void *addr, size_t len)
{
	pool_flush(p, addr, len);
	pool_drain(p);
}

/* As libpmem's *_persist, which are the *_nodrain copies and a drain. */
void pool_memcpy_persist(const struct pool *p, void *dst, const void *src, size_t len)
{
	pool_memcpy_nodrain(p, dst, src, len);
	pool_drain(p);
}

void pool_memset_persist(const struct pool *p, void *dst, int c, size_t len)
{
	pool_memset_nodrain(p, dst, c, len);
	pool_drain(p);
}

void pool_zero_nodrain(const struct pool *p, void *dst, size_t len)
{
	uint64_t off = pool_offset(p, dst);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (p->msync && !(off % page) && !(len % page) && msync_group_zero(p->msync, off, len)) {
		/* Flushed as a store would be: the fence makes the new extents
		 * durable (msync of a range syncs the file's range), and the
		 * tracer records the zeros it now reads. */
		pool_flush(p, dst, len);
		return;
	}
	pool_memset_nodrain(p, dst, 0, len);
}
