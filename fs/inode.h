/* SPDX-License-Identifier: MIT */
/*
 * Inodes: the DRAM cache of struct inode_mem, inode number allocation, the
 * orphan list, and eviction.  An inode is evicted (its blocks go through the
 * removal protocol and its number is freed) when it has no links, no open
 * handles and no lookup references left; a regular file's data blocks go
 * already when it has no links and no open handles (it is then reaped, and
 * opens no more).
 */
#ifndef DAXFS_INODE_H
#define DAXFS_INODE_H

#include "super.h"

/* The chattr flags, read under im->lock: an immutable inode takes no change
 * at all, an append-only one only grows by appends, and neither loses or
 * gains a name; a directory with either flag loses no entry, and an
 * immutable one gains none either.  Each refusal is EPERM. */
static inline bool inode_immutable(const struct daxfs_dinode *di)
{
	return di->flags & DAXFS_INODE_IMMUTABLE;
}

static inline bool inode_append_only(const struct daxfs_dinode *di)
{
	return di->flags & DAXFS_INODE_APPEND;
}

static inline bool inode_names_fixed(const struct daxfs_dinode *di)
{
	return di->flags & (DAXFS_INODE_IMMUTABLE | DAXFS_INODE_APPEND);
}

/* NULL if ino is out of range or the inode is free. */
struct inode_mem *inode_get(struct daxfs *fs, uint64_t ino);
int inode_cache_init(struct daxfs *fs);
void inode_cache_destroy(struct daxfs *fs);

/* Free inode numbers: built at mount, taken by create. */
int inode_numbers_init(struct daxfs *fs);
int inode_number_take(struct daxfs *fs, uint64_t *ino);
void inode_number_give(struct daxfs *fs, uint64_t ino);
uint64_t inode_numbers_free(struct daxfs *fs);

/* A consistent snapshot of the attributes, under the inode's lock (taken
 * shared); _locked when the caller holds it already. */
void inode_attr(struct daxfs *fs, uint64_t ino, struct daxfs_attr *a);
void inode_attr_locked(struct daxfs *fs, uint64_t ino, struct daxfs_attr *a);
unsigned char inode_dtype(uint32_t mode);

/* Orphan list, inside a transaction; the transaction keeps the orphan lock
 * until it ends. */
void orphan_add(struct daxfs *fs, struct tx *tx, uint64_t ino);
void orphan_remove(struct daxfs *fs, struct tx *tx, uint64_t ino);

/* Drops references; evicts the inode if nothing holds it any more.  Called
 * without im->lock held. */
void inode_unref(struct daxfs *fs, struct inode_mem *im, uint64_t nlookup, uint64_t nopen);
/* Evicts if unlinked and unreferenced; called without im->lock. */
void inode_evict_if_unused(struct daxfs *fs, struct inode_mem *im);
/* Evicts an unlinked inode nobody can reach (recovery of orphans). */
int inode_evict(struct daxfs *fs, struct inode_mem *im);

#endif
