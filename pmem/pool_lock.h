/* SPDX-License-Identifier: MIT */
/*
 * The lock on a pool: one flock per open pool, exclusive for a read-write
 * mount, mkfs and fsck, shared for a read-only mount.  flock belongs to the
 * open file, so a daemon that forks keeps it, and /proc/locks shows the pid
 * of the process that took it.
 *
 * umount(2) of a FUSE mount returns as soon as the kernel has cut the
 * connection; the daemon then still has to notice, finish its unmount (mark
 * the pool clean) and close the pool.  So that "umount DIR && fsck.daxfs
 * POOL" and "umount DIR && mount DIR" work every time, a daemon marks its
 * hold as serving a mount (an open-file-description lock on the pool's
 * first byte, gone with the flock), and whoever finds the pool locked only
 * by serving daemons none of which has a mount of the pool any more waits
 * for them to finish, bounded, saying what it waits for.  So it does for a
 * holder that is exiting (a killed daemon whose threads are still closing
 * its files).  Anything else holding the pool (a mount still there, an
 * fsck) is "in use" at once.
 */
#ifndef DAXFS_POOL_LOCK_H
#define DAXFS_POOL_LOCK_H

#include <stdbool.h>
#include <stddef.h>

/* How long a daemon whose mount is gone may take to let the pool go. */
#define POOL_LOCK_WAIT_SEC 60

/* Takes the flock (LOCK_SH or LOCK_EX) on fd, the pool at path, waiting as
 * above; the wait is announced once on stderr, prefixed with prog.  Returns
 * 0, or -EBUSY (or another -errno) with a one-line reason in err. */
int pool_lock_take(int fd, const char *path, int op, const char *prog, char *err,
		   size_t errlen);

/* Marks the holder of fd's flock as a daemon serving a mount of the pool. */
int pool_lock_mark_serving(int fd, bool read_only);

#endif
