/* SPDX-License-Identifier: MIT */
/*
 * FUSE_HANDLE_KILLPRIV_V2, which libfuse 3.14 can neither request nor pass on.
 *
 * Without it the kernel may not cache "no set-id bits, no security.capability"
 * (S_NOSEC) for a FUSE inode, so before every write it asks the daemon for
 * security.capability: two round trips per small write.  With it the kernel
 * sets SB_NOSEC, and the daemon clears the set-id bits itself when a write,
 * truncate or chown asks for it (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID),
 * which the kernel does exactly when the caller lacks CAP_FSETID (always, for
 * a chown).  security.capability itself stays the kernel's: it still removes
 * it, and a set of any security.* attribute clears S_NOSEC again.
 */
#ifndef DAXFS_FUSE_KILLPRIV_H
#define DAXFS_FUSE_KILLPRIV_H

#include <stdbool.h>
#include <sys/types.h>

struct fuse_session;

/* After fuse_session_mount: puts the read and write of the session's
 * /dev/fuse descriptors through the hooks that add the capability to the INIT
 * reply and note the kill flag of each request. */
int daxfs_fuse_killpriv_install(struct fuse_session *se);

/* For a request that did not come through the read hook (an io_uring
 * ring's): notes its kill flag for the thread that handles it. */
void daxfs_fuse_killpriv_note_request(const void *buf, ssize_t n);

/* Whether the request this worker thread is handling asked for the set-id
 * bits to be cleared. */
bool daxfs_fuse_request_kills_suidgid(void);

#endif
