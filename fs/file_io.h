/* SPDX-License-Identifier: MIT */
#ifndef DAXFS_FILE_IO_H
#define DAXFS_FILE_IO_H

#include "super.h"

/* Sets the size of a regular file; shrinking runs the removal protocol.
 * Locking: im->lock held exclusive (dropped while waiting, see
 * layout_remove). */
int file_truncate(struct daxfs *fs, struct inode_mem *im, uint64_t size);

/* Allocates a zeroed block for file block index (a WRITE pin of a hole).
 * Locking: im->lock exclusive. */
int file_alloc_zeroed(struct daxfs *fs, struct inode_mem *im, uint64_t index, uint64_t *blk);

#endif
