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

#include <stddef.h>

struct msync_group;

struct msync_group *msync_group_new(void);
void msync_group_free(struct msync_group *g);
/* Records [addr, addr+len) as flushed by this thread; nothing is written. */
void msync_group_flush(struct msync_group *g, const void *addr, size_t len);
/* Returns once everything this thread flushed into g is written back. */
void msync_group_drain(struct msync_group *g);

#endif
