/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level adapter: fuse_lowlevel_ops that translate each request
 * into one call of the core (daxfs.h), plus the thread that forwards the
 * core's page-cache invalidations to the kernel.  The daemon (daxfs_main.c)
 * owns the session and the order of start-up and shut-down.
 */
#ifndef DAXFS_FUSE_ADAPTER_H
#define DAXFS_FUSE_ADAPTER_H

#include "daxfs.h"

struct fuse_lowlevel_ops;
struct fuse_session;

/* Adapter state; the userdata of the FUSE session. */
struct daxfs_fuse;

extern const struct fuse_lowlevel_ops daxfs_fuse_ops;

struct daxfs_fuse *daxfs_fuse_new(void);
/* The invalidation thread must have been joined. */
void daxfs_fuse_free(struct daxfs_fuse *df);

/* Points the core's hooks (page-cache invalidation, pin recalls) at df; call
 * before daxfs_mount. */
void daxfs_fuse_hook(struct daxfs_fuse *df, struct daxfs_mount_opts *opts);
/* The mounted core the requests go to; call before the session is created. */
void daxfs_fuse_attach(struct daxfs_fuse *df, struct daxfs *fs);

/*
 * Invalidation thread.  Start it after daemonizing (it must not be lost in
 * the fork) and before the session loop.  Shut down in two steps around
 * fuse_session_unmount: quiesce stops new notifications and drops queued ones,
 * the unmount then aborts the connection (which releases a notification stuck
 * in the kernel on a page lock), and join waits for the thread.
 */
int daxfs_fuse_inval_start(struct daxfs_fuse *df, struct fuse_session *se);
void daxfs_fuse_inval_quiesce(struct daxfs_fuse *df);
void daxfs_fuse_inval_join(struct daxfs_fuse *df);

#endif
