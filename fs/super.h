/* SPDX-License-Identifier: MIT */
/* The mounted filesystem: everything the core's files share. */
#ifndef DAXFS_SUPER_H
#define DAXFS_SUPER_H

#include <pthread.h>
#include <stdatomic.h>
#include <urcu.h>

#include "../pmem/block_alloc.h"
#include "../pmem/pool.h"
#include "../pmem/undo_log.h"
#include "daxfs.h"
#include "pfn_table.h"
#include "pin.h"

struct dir_index;

/* DRAM side of an inode.  Created on first use and kept until unmount.
 * lock: exclusive for any change of the inode, its block map or (for a
 * directory) its entries; shared for directory lookups and readdir.  The
 * data read path takes no lock at all. */
struct inode_mem {
	uint64_t ino;
	struct daxfs_dinode *di;
	pthread_rwlock_t lock;
	uint64_t nlookup; /* under lock */
	uint64_t nopen; /* under lock */
	pthread_mutex_t dir_build_lock;
	struct dir_index *_Atomic dir; /* built on first use */
	bool dead; /* evicted: the number may already name another inode */
	/* Unlinked and closed: its data blocks are freed and it opens no
	 * more; only the kernel's lookup reference keeps it.  Under lock. */
	bool reaped;
};

struct daxfs {
	struct pool pool;
	struct daxfs_mount_opts opts;
	struct undo_log log;
	struct block_alloc alloc;
	struct pfn_domain pfns;
	struct pin_registry pinreg;
	struct daxfs_dinode *itable;
	uint64_t inode_count;
	struct inode_mem *_Atomic *icache;

	pthread_mutex_t ifree_lock; /* free inode numbers, a stack */
	uint32_t *ifree;
	uint64_t nifree;

	pthread_mutex_t orphan_lock; /* the on-media orphan list */
	pthread_mutex_t rename_lock; /* keeps the tree shape still for rename */

	/* Index blocks waiting in call_rcu for their grace period. */
	_Atomic uint64_t index_pending;

	pthread_mutex_t deferred_lock; /* pfns handed to their last put */
	uint64_t *deferred;
	size_t ndeferred, deferred_cap;

	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	pthread_t bg_thread;
	bool bg_running, bg_stop;
};

static inline struct daxfs_dinode *dinode(const struct daxfs *fs, uint64_t ino)
{
	return &fs->itable[ino];
}

/* Makes the calling thread an RCU reader; every public entry point calls
 * it, because FUSE creates its worker threads behind our back. */
void rcu_thread_enter(void);

void fs_now(struct daxfs_ts *ts);
/* Allocates a block: FREE → ALLOCATED. */
int fs_block_alloc(struct daxfs *fs, uint64_t *blk);
/* Allocates between 1 and n blocks at once; returns how many, or a
 * negative errno.  Their bitmap bits are flushed, not fenced: the caller
 * fences before it publishes the blocks (with their data or zeros). */
int fs_block_alloc_many(struct daxfs *fs, uint64_t *out, unsigned n);
/* Gives a block that never became TRACKED, or has become FREE in the table,
 * back to the allocator. */
void fs_block_free_allocated(struct daxfs *fs, uint64_t blk);

/* Inside rcu_read_lock, or with the table known not to change. */
static inline struct pfn_table *fs_pfns(struct daxfs *fs)
{
	return rcu_dereference(fs->pfns.table);
}

#endif
