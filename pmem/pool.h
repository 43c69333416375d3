/* SPDX-License-Identifier: MIT */
/*
 * A mapped daxfs pool: the persistent memory (or emulated-DAX file) and the
 * primitives that make stores to it durable.  Every store that must survive a
 * crash goes through pool_flush/pool_drain (or pool_persist), so that the
 * crash-state tracer can see it.
 */
#ifndef DAXFS_POOL_H
#define DAXFS_POOL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "msync_group.h"

struct pool {
	char *base;
	uint64_t size; /* mapped bytes: the superblock's total_blocks * 4096 */
	bool is_pmem; /* cache flushes persist; otherwise msync */
	struct msync_group *msync; /* a writable pool that is not pmem: its fences */
	bool read_only;
	int lock_fd; /* holds the exclusive flock, -1 if none */
	char path[PATH_MAX];
};

/* Open flags. */
#define POOL_READ_ONLY 0x1u
#define POOL_LOCK 0x2u /* take the exclusive lock a mount holds */
#define POOL_SERVING 0x4u /* with POOL_LOCK: held by a daemon (pool_lock.h) */

/* Validates the superblock and the backing file (size, holes), then maps the
 * pool.  On failure returns a negative errno and a one-line reason. */
int pool_open(struct pool *p, const char *path, unsigned flags, char *err, size_t errlen);
void pool_close(struct pool *p);

/* Checks a superblock image; returns NULL when valid, else the reason. */
const char *pool_check_super(const struct daxfs_super *sb, uint64_t file_size);
uint32_t pool_super_checksum(const struct daxfs_super *sb);

void pool_flush(const struct pool *p, const void *addr, size_t len);
void pool_drain(const struct pool *p);
void pool_persist(const struct pool *p, const void *addr, size_t len);
void pool_memcpy_persist(const struct pool *p, void *dst, const void *src, size_t len);
void pool_memset_persist(const struct pool *p, void *dst, int c, size_t len);
/* As memcpy/memset then pool_flush, the fence left to the caller: on pmem
 * libpmem's non-temporal stores, which skip the cache and so the per-line
 * flush (twice the rate of memcpy+flush for 4 KiB blocks). */
void pool_memcpy_nodrain(const struct pool *p, void *dst, const void *src, size_t len);
void pool_memset_nodrain(const struct pool *p, void *dst, int c, size_t len);
/* As pool_memset_nodrain(p, dst, 0, len); on a pool file persisted by
 * msync, whole pages are zeroed by the filesystem holding the file, which
 * writes no data (a preallocation of 256 MiB is not 256 MiB of disk
 * writes). */
void pool_zero_nodrain(const struct pool *p, void *dst, size_t len);

static inline void *pool_block(const struct pool *p, uint64_t blk)
{
	return p->base + (blk << DAXFS_BLOCK_SHIFT);
}

static inline uint64_t pool_offset(const struct pool *p, const void *addr)
{
	return (uint64_t)((const char *)addr - p->base);
}

static inline const struct daxfs_super *pool_super(const struct pool *p)
{
	return (const struct daxfs_super *)p->base;
}

static inline struct daxfs_state *pool_state(const struct pool *p)
{
	return pool_block(p, DAXFS_STATE_BLOCK);
}

#ifdef DAXFS_PMEM_TRACE
/*
 * Crash-state tracing (meson option pmem_trace, off by default; the hot path
 * of a normal build is untouched).  While a trace is open, every flushed
 * range of the traced pool (pool_flush, and so pool_persist, pool_store8 and
 * the *_persist copies, which are routed through pool_flush in this build)
 * is recorded with the bytes it held at flush time, and every fence
 * (pool_drain) is recorded, in program order.  The crash model this serves:
 * at a crash, everything flushed before the last fence is durable, any subset
 * of what was flushed since that fence may be durable, and stores that were
 * never flushed are not (by design rule, everything that matters is flushed).
 * One trace at a time per process; recording is serialised by a mutex.
 */
enum pool_trace_kind {
	POOL_TRACE_WRITE = 1, /* a flushed range */
	POOL_TRACE_FENCE = 2, /* pool_drain */
};

struct pool_trace_event {
	uint32_t kind;
	uint32_t pad;
	uint64_t off; /* WRITE: pool offset of the flushed range */
	uint64_t len; /* WRITE: its length */
	/* WRITE: the range widened to whole 64-byte cache lines (what the CPU
	 * actually writes back), and where its bytes, as they were at flush
	 * time, lie in pool_trace.data.  The exact range is at
	 * data + (off - line_off). */
	uint64_t line_off;
	uint64_t line_len;
	uint64_t data;
};

struct pool_trace {
	struct pool_trace_event *ev;
	size_t nev;
	unsigned char *data;
	size_t ndata;
};

/* Starts a trace of pool p, discarding any trace in progress.  With p NULL
 * the trace follows the first pool that flushes or fences (to trace a
 * mount, whose pool is opened inside daxfs_mount). */
void pool_trace_begin(const struct pool *p);
/* Stops recording and returns the trace (NULL if none was open); the caller
 * frees it with pool_trace_free.  The pool may be closed already. */
struct pool_trace *pool_trace_end(void);
void pool_trace_free(struct pool_trace *t);
#endif

/* Persists one aligned 8-byte word that readers may load concurrently. */
static inline void pool_store8(const struct pool *p, uint64_t *addr, uint64_t v)
{
	__atomic_store_n(addr, v, __ATOMIC_RELEASE);
	pool_persist(p, addr, sizeof(*addr));
}

#endif
