/* SPDX-License-Identifier: MIT */
/*
 * FUSE over io_uring (Linux 6.14+, protocol 7.42), on top of libfuse 3.14's
 * request processing, which has no io_uring support of its own.
 *
 * INIT still travels through /dev/fuse.  If the kernel offers the transport
 * (root wrote Y to /sys/module/fuse/parameters/enable_uring) and the daemon
 * wants it, the INIT reply asks for it; then one queue per possible CPU
 * registers its ring entries, and once every queue has one the kernel sends
 * requests through the rings instead of /dev/fuse.  FORGET, INTERRUPT and
 * the daemon's notifications still use /dev/fuse, so the classic loop keeps
 * reading it.
 *
 * A request read from a ring is laid out as /dev/fuse would deliver it and
 * handed to fuse_session_process_buf; its reply comes back through the
 * session's writev hook (fuse_killpriv.c installs it), which sends it to the
 * ring entry the request came in, not to /dev/fuse.
 */
#ifndef DAXFS_FUSE_URING_H
#define DAXFS_FUSE_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct fuse_session;

enum daxfs_transport_mode {
	DAXFS_TRANSPORT_AUTO,  /* io_uring if the kernel offers it, else /dev/fuse */
	DAXFS_TRANSPORT_URING, /* io_uring or no mount */
	DAXFS_TRANSPORT_DEV,   /* /dev/fuse only */
};

/* "auto", "uring" or "dev"; -1 for anything else. */
int daxfs_transport_parse(const char *name, enum daxfs_transport_mode *mode);

/* In the foreground, before the mount: with DAXFS_TRANSPORT_URING, whether
 * this kernel and process can run the transport at all; 0, or -1 with the
 * reason in err. */
int daxfs_fuse_uring_check(enum daxfs_transport_mode mode, char *err, size_t errlen);

/* Before the session reads its first request.  stable_writes_wait: writes
 * may sleep on STABLE pins, so they leave the ring threads too. */
void daxfs_fuse_uring_configure(enum daxfs_transport_mode mode, bool stable_writes_wait);

/*
 * After fuse_daemonize (the threads must not be lost in the fork) and before
 * the session loop: starts one thread per possible CPU, which registers its
 * ring once INIT has been answered.  Stop after fuse_session_unmount: joins
 * every thread (the workers too) and closes the rings.
 */
int daxfs_fuse_uring_start(struct fuse_session *se);
void daxfs_fuse_uring_stop(void);

/* Whether requests come through the rings (every queue registered). */
bool daxfs_fuse_uring_active(void);
/* Whether the session was stopped because transport=uring could not be had. */
bool daxfs_fuse_uring_refused(void);

/* The session's custom I/O hooks call these: the read hook with every
 * request read from /dev/fuse, the writev hook with every reply and
 * notification, which this sends where it belongs. */
void daxfs_fuse_uring_note_request(const void *buf, ssize_t n);
ssize_t daxfs_fuse_uring_writev(int fd, struct iovec *iov, int count);

#endif
