/* SPDX-License-Identifier: MIT */
/*
 * Detaching the daemon from the terminal that started it.
 *
 * The fork comes first, before the pool is opened: anything started before
 * a fork is missing or stuck in the child (liburcu's call_rcu worker, which
 * the mount's orphan pass starts, would never run again), and the pool's
 * lock must be taken by the process that holds it, so that the pid the
 * kernel shows for it (/proc/locks) is the daemon's.  The parent stays until
 * the child has mounted, and exits with the child's status: a mount that
 * fails still reports its reason on the terminal and fails the command.
 */
#ifndef DAXFS_DETACH_H
#define DAXFS_DETACH_H

#include <stdbool.h>

struct detach {
	bool active; /* forked: the parent waits on notify_fd */
	int notify_fd;
};

/* Forks; returns 0 in the child, -errno if it cannot fork.  The parent
 * never returns: it exits once the child calls detach_complete (0) or
 * exits (with the child's status). */
int detach_fork(struct detach *d);

/* In the child, once mounted: a new session, / as working directory,
 * /dev/null as stdio, and the parent told to exit 0.  Nothing when not
 * forked. */
int detach_complete(struct detach *d);

#endif
