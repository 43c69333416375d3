/* SPDX-License-Identifier: MIT */
/*
 * Which set-user-ID and set-group-ID bits a change clears, as Linux >= 6.2
 * decides it (setattr_should_drop_sgid, posix_acl_update_mode): a
 * set-group-ID bit without group execute is not a privilege to a member of
 * the file's group, so only a caller outside the group (without CAP_FSETID)
 * loses it.
 */
#ifndef DAXFS_SETID_H
#define DAXFS_SETID_H

#include "daxfs.h"

/* Linux's in_group_or_capable(): may cr keep a set-group-ID bit of a file
 * of group gid?  NULL is privileged. */
bool setid_keeps_sgid(const struct daxfs_cred *cr, gid_t gid);

/* The bits of mode a write, truncate or chown by a caller without
 * CAP_FSETID clears, for an inode of group gid; cr (may be NULL) decides
 * a set-group-ID bit without group execute.  Directories keep both. */
mode_t setid_bits_to_kill(mode_t mode, gid_t gid, const struct daxfs_cred *cr);

#endif
