/* SPDX-License-Identifier: MIT */
/*
 * FUSE_HANDLE_KILLPRIV_V2 through libfuse's custom I/O hooks: see
 * fuse_killpriv.h for why.
 *
 * The hooks see the raw protocol.  The read hook notes the INIT request's
 * unique id and whether the kernel offers the capability, and for every later
 * request whether it carries a kill flag; the write hook adds the capability
 * to the INIT reply.  The note is a thread-local: a libfuse worker reads one
 * request and handles it in the same thread before it reads the next, and
 * daxfs requests no splice reads, which would bypass the read hook.
 */
#include "fuse_killpriv.h"
#include "fuse_uring.h"

#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* One session per process.  The unique id of the INIT request whose reply is
 * to take the capability, 0 when there is none (the kernel did not offer it,
 * or the reply has gone). */
static _Atomic uint64_t init_unique;
static _Thread_local bool request_kills;

static bool has_body(ssize_t n, size_t body)
{
	return n >= 0 && (size_t)n >= sizeof(struct fuse_in_header) + body;
}

static void note_request(const void *buf, ssize_t n)
{
	const struct fuse_in_header *in = buf;
	const char *body = (const char *)buf + sizeof(*in);

	request_kills = false;
	if (!has_body(n, 0))
		return;
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *init = (const void *)body;
		if (has_body(n, offsetof(struct fuse_init_in, flags) + sizeof(init->flags)) &&
		    (init->flags & FUSE_HANDLE_KILLPRIV_V2))
			atomic_store(&init_unique, in->unique);
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = (const void *)body;
		if (has_body(n, sizeof(*w)))
			request_kills = w->write_flags & FUSE_WRITE_KILL_SUIDGID;
		break;
	}
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *sa = (const void *)body;
		if (has_body(n, sizeof(*sa)))
			request_kills = sa->valid & FATTR_KILL_SUIDGID;
		break;
	}
	default:
		break;
	}
}

void daxfs_fuse_killpriv_note_request(const void *buf, ssize_t n)
{
	note_request(buf, n);
}

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(fd, buf, len);
	int err = errno;

	note_request(buf, n);
	daxfs_fuse_uring_note_request(buf, n);
	errno = err;
	return n;
}

/* A reply is [fuse_out_header][argument]: libfuse sends INIT's fuse_init_out
 * as the second iovec. */
static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	if (count >= 2 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
		const struct fuse_out_header *out = iov[0].iov_base;
		uint64_t unique = atomic_load(&init_unique);
		if (unique && out->unique == unique && out->error == 0) {
			struct fuse_init_out *init = iov[1].iov_base;
			init->flags |= FUSE_HANDLE_KILLPRIV_V2;
			atomic_store(&init_unique, 0);
		}
	}
	return daxfs_fuse_uring_writev(fd, iov, count);
}

int daxfs_fuse_killpriv_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = hook_read,
		.writev = hook_writev,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

bool daxfs_fuse_request_kills_suidgid(void)
{
	return request_kills;
}
