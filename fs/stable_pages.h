/* SPDX-License-Identifier: MIT */
/*
 * Stable pages: a device that reads pinned blocks (to checksum, encrypt or
 * transmit them) needs their content to stay put until it unpins.  Every
 * in-place change of a block (write, zeroing a partial block on truncate or
 * punch) asks here first; a block under a STABLE pin is bounced: the change
 * goes to a fresh copy that replaces it in the map, and the old block is
 * retired through the removal protocol, freed once the device unpins.  With
 * -o stable_writes=wait the change first recalls the STABLE pins on the
 * block and waits for the unpin instead, for at most break_timeout (or
 * until the request is interrupted); then it bounces after all.
 */
#ifndef DAXFS_STABLE_PAGES_H
#define DAXFS_STABLE_PAGES_H

#include "super.h"

/* Locking: im->lock exclusive (dropped while waiting).  *blk is file block
 * index, referenced by the caller.  Returns 0 with *blk the block to change
 * in place (referenced: the same one, or its copy), -EAGAIN after waiting
 * (the reference was dropped: look the block up again and call again with
 * the same *waited, false before the first call), or -ENOSPC (the caller
 * still holds its reference). */
int stable_before_change(struct daxfs *fs, struct inode_mem *im, uint64_t index, uint64_t *blk,
			 bool *waited);

#endif
