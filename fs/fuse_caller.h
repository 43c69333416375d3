/* SPDX-License-Identifier: MIT */
/*
 * The process behind a FUSE request, as the set-id rules need it.  A request
 * carries the caller's uid, filesystem gid and pid only; whether it holds
 * CAP_FSETID and which supplementary groups it is in come from
 * /proc/PID/status, read only for a file that has a set-id bit to lose.
 */
#ifndef DAXFS_FUSE_CALLER_H
#define DAXFS_FUSE_CALLER_H

#include "daxfs.h"

struct fuse_req;

/* Fills cr (uid, gid, lacks_fsetid, groups) for the caller of req.  A caller
 * that is gone, or whose status cannot be read, lacks CAP_FSETID and has no
 * supplementary groups: it keeps what its filesystem gid alone allows.
 * Release with fuse_caller_cred_done. */
void fuse_caller_cred(struct fuse_req *req, struct daxfs_cred *cr);
void fuse_caller_cred_done(struct daxfs_cred *cr);

#endif
