/* SPDX-License-Identifier: MIT */
/*
 * Directories: entries live in the directory's data blocks (fixed slots, so
 * a slot number is a stable readdir cookie); a DRAM hash index (cds_lfht)
 * over the names, built on first use, makes lookup O(1).  All calls need the
 * directory's lock: shared for lookup and iteration, exclusive for changes.
 */
#ifndef DAXFS_DIR_H
#define DAXFS_DIR_H

#include "super.h"

struct dir_entry_ref {
	uint64_t ino;
	uint64_t slot;
	unsigned char type;
};

int dir_lookup(struct daxfs *fs, struct inode_mem *dir, const char *name,
	       struct dir_entry_ref *out);
/* Publishes name → ino inside tx.  -ENOSPC if the directory cannot grow. */
int dir_add(struct daxfs *fs, struct tx *tx, struct inode_mem *dir, const char *name,
	    uint64_t ino, unsigned char type);
/* Unpublishes name inside tx.  The slot stays unusable until
 * dir_release_slot after the transaction committed, so that a rollback can
 * never find it reused. */
int dir_remove(struct daxfs *fs, struct tx *tx, struct inode_mem *dir, const char *name,
	       struct dir_entry_ref *out);
void dir_release_slot(struct inode_mem *dir, uint64_t slot);
/* Points an existing entry at another inode (rename over, exchange). */
void dir_retarget(struct daxfs *fs, struct tx *tx, struct inode_mem *dir,
		  const struct dir_entry_ref *ent, const char *name, uint64_t ino,
		  unsigned char type);
uint64_t dir_count(struct daxfs *fs, struct inode_mem *dir);

/* Calls fn for every live slot >= from; fn returns non-zero to stop. */
int dir_iterate(struct daxfs *fs, struct inode_mem *dir, uint64_t from,
		int (*fn)(void *ctx, const char *name, uint64_t ino, unsigned type, uint64_t slot),
		void *ctx);

void dir_index_free(struct inode_mem *dir);

#endif
