/* SPDX-License-Identifier: MIT */
/*
 * Persistence of a pool that is not pmem (an emulated-DAX file): a flush
 * only records its range in the calling thread's set, and the fence writes
 * back what was recorded, merged, with msync.  Threads that reach a fence
 * while another thread's msync is running wait for it and then share one
 * msync of everything they recorded (group commit).
 */
#ifndef DAXFS_MSYNC_GROUP_H
#define DAXFS_MSYNC_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msync_group;

/* fd: the pool file (duplicated; -1 if there is none), for zeroing and
 * for fences of several runs of pages. */
struct msync_group *msync_group_new(int fd);
void msync_group_free(struct msync_group *g);
/* Records [addr, addr+len) as flushed by this thread; nothing is written. */
void msync_group_flush(struct msync_group *g, const void *addr, size_t len);
/* Returns once everything this thread flushed into g is written back. */
void msync_group_drain(struct msync_group *g);
/* Zeroes [off, off+len) of the pool file, both multiples of the page size,
 * through the filesystem holding it (FALLOC_FL_ZERO_RANGE: extents marked
 * unwritten, no data written); the range still has to be flushed and
 * fenced to be durable.  False when the filesystem cannot, and nothing
 * was done. */
bool msync_group_zero(struct msync_group *g, uint64_t off, uint64_t len);

#endif
