/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes: the record stream of an inode (docs/format.md §18)
 * edited in DRAM and written back copy-on-write.  A change allocates and
 * persists new blocks first (xattr_prepare), switches the inode's xattr word
 * inside the caller's transaction (xattr_apply), and frees the old blocks
 * after the commit (xattr_finish), so a crash leaves the old set or the new
 * one, and at worst leaked bits the next mount reclaims.
 */
#ifndef DAXFS_XATTR_H
#define DAXFS_XATTR_H

#include "super.h"

/* A whole stream in DRAM, header included. */
struct xattr_set {
	char *buf;
	size_t len, cap;
};

/* Copies the inode's stream out of the pool (an empty set when it has
 * none); -EUCLEAN if it is malformed.  Caller holds the inode lock. */
int xattr_load(struct daxfs *fs, const struct daxfs_dinode *di, struct xattr_set *s);
void xattr_set_free(struct xattr_set *s);
/* The value of name, or NULL. */
const void *xattr_get(const struct xattr_set *s, const char *name, size_t *size);
/* Adds or replaces name; -ENOSPC past DAXFS_XATTR_MAX_BYTES. */
int xattr_put(struct xattr_set *s, const char *name, const void *value, size_t size);
/* -ENODATA if absent. */
int xattr_del(struct xattr_set *s, const char *name);

struct xattr_update {
	uint64_t old_word, new_word;
	uint64_t old_blocks, new_blocks;
};

/* Writes s into new blocks (none for an empty set) and persists them. */
int xattr_prepare(struct daxfs *fs, const struct daxfs_dinode *di, const struct xattr_set *s,
		  struct xattr_update *u);
/* Inside a transaction that has logged di. */
void xattr_apply(struct daxfs_dinode *di, const struct xattr_update *u);
/* After the commit: frees the old blocks.  Or, the transaction aborted:
 * frees the new ones. */
void xattr_finish(struct daxfs *fs, const struct xattr_update *u);
void xattr_cancel(struct daxfs *fs, const struct xattr_update *u);
/* Frees the blocks of a map word nothing points to any more. */
void xattr_free_word(struct daxfs *fs, uint64_t word);
/* bmap_walk over an xattr map word. */
int xattr_walk(struct daxfs *fs, uint64_t word,
	       int (*fn)(void *ctx, uint64_t index, uint64_t blk, bool is_index), void *ctx);

/* Prepares the set a new inode gets from directory dir (its inherited ACLs)
 * and adjusts *mode; u is empty when there is nothing to inherit. */
int xattr_inherit(struct daxfs *fs, const struct daxfs_dinode *dir, bool is_dir, mode_t *mode,
		  mode_t umask, struct xattr_update *u);
/* For a chmod: prepares the set with its access ACL following mode;
 * *changed is false (and u unused) when the inode has no access ACL. */
int acl_chmod_prepare(struct daxfs *fs, const struct daxfs_dinode *di, mode_t mode,
		      struct xattr_update *u, bool *changed);

/* fs/acl.c: POSIX ACLs kept as system.posix_acl_* values (the kernel's
 * xattr format), and their coupling with the mode bits. */
#define ACL_XATTR_ACCESS  "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"
/* 0 or -EINVAL. */
int acl_check(const void *value, size_t size);
/* The permission bits an access ACL stands for; *minimal when it says no
 * more than the mode (then it need not be stored). */
mode_t acl_mode(const void *value, size_t size, bool *minimal);
/* Rewrites the owner, mask (or group) and other entries from mode. */
void acl_chmod(void *value, size_t size, mode_t mode);
/* The ACLs a new inode inherits from its directory's set dir: fills s with
 * them and adjusts *mode, or applies umask when dir has no default ACL. */
int acl_inherit(const struct xattr_set *dir, bool is_dir, mode_t *mode, mode_t umask,
		struct xattr_set *s);

#endif
