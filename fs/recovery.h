/* SPDX-License-Identifier: MIT */
/*
 * Mount-time scan.  Walks every inode's block map once: validates the
 * pointers (in range, owned once), builds the pfn table (TRACKED with the
 * owner for data blocks, ALLOCATED for index blocks), and rebuilds the
 * allocation bitmap from what is reachable.  After an unclean shutdown it
 * also drops blocks past EOF and zeroes the tail of each last block, undoing
 * a write that crashed between publishing a block and extending the size.
 * Blocks on the deferred-free queue at the crash are unreachable, so the
 * rebuilt bitmap frees them.
 */
#ifndef DAXFS_RECOVERY_H
#define DAXFS_RECOVERY_H

#include "super.h"

struct recovery_report {
	uint64_t inodes, blocks_in_use, bitmap_fixed, trimmed, orphans;
};

int recovery_scan(struct daxfs *fs, bool dirty, struct recovery_report *rep, char *err,
		  size_t errlen);
/* Evicts the inodes on the orphan list (unlinked, open when the pool was
 * last used). */
int recovery_orphans(struct daxfs *fs, struct recovery_report *rep, char *err, size_t errlen);

#endif
