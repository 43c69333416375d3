/* SPDX-License-Identifier: MIT */
/*
 * A small TAP harness for the POSIX conformance checks (tests/posix).  Each
 * syscall group (t_*.c) registers functions for the phases run.sh drives:
 *
 *   root     as root: success semantics and error cases in the group's own
 *            directory, then the fixtures of the unprivileged phases in its
 *            u/ subdirectory (owned by whichever uid each case needs)
 *   other    as the second unprivileged uid (OTHER_UID): files it makes
 *            itself for the cross-user cases
 *   user     as the unprivileged uid (USER_UID, no supplementary groups)
 *   persist  as root after a remount: results that must have survived
 *
 * Every check prints "ok N - GROUP: CASE" or "not ok N - GROUP: CASE" and a
 * diagnostic; a fixture that cannot be made is a "Bail out!".
 */
#ifndef DAXFS_POSIX_HARNESS_H
#define DAXFS_POSIX_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define USER_UID 65534u /* the unprivileged caller (nobody) */
#define USER_GID 65534u
#define OTHER_UID 65533u /* a second unprivileged uid, for cross-user cases */
#define OTHER_GID 65533u
#define FOREIGN_GID 4242u /* a group neither of them is in */

#define MAX_FILE (256LL << 30) /* daxfs's largest file size */

struct ctx {
	const char *xdev; /* a world-writable directory on another mount */
};

struct group {
	const char *name;
	void (*root)(const struct ctx *);
	void (*other)(const struct ctx *);
	void (*user)(const struct ctx *);
	void (*persist)(const struct ctx *);
};

/* ---- reporting */
void t_check(bool cond, const char *diag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void t_err(int want, long rc, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void t_ok(long rc, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void t_eq(long long want, long long got, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The filesystem moved a timestamp forward (after > before, to the
 * nanosecond: no sleep separates the two). */
void t_later(struct timespec before, struct timespec after, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* CHECK(cond, "case", ...): the condition must hold. */
#define CHECK(cond, ...) t_check((cond), #cond, __VA_ARGS__)
/* EXPECT_ERR(ERRNO, call, "case", ...): the call must return -1 (or a
 * negative value) with errno ERRNO; the case gets " -> ERRNO" appended. */
#define EXPECT_ERR(want, call, ...)                 \
	do {                                        \
		errno = 0;                          \
		long rc_ = (long)(call);            \
		int e_ = errno;                     \
		if (rc_ >= 0)                       \
			close_if_fd(#call, rc_);    \
		t_err((want), rc_, e_, __VA_ARGS__); \
	} while (0)
/* EXPECT_OK(call, "case", ...): the call must not fail (a returned
 * descriptor is closed). */
#define EXPECT_OK(call, ...)                        \
	do {                                        \
		errno = 0;                          \
		long rc_ = (long)(call);            \
		int e_ = errno;                     \
		if (rc_ >= 0)                       \
			close_if_fd(#call, rc_);    \
		t_ok(rc_, e_, __VA_ARGS__);         \
	} while (0)
#define EXPECT_EQ(want, got, ...) t_eq((long long)(want), (long long)(got), __VA_ARGS__)

void close_if_fd(const char *call_text, long rc);

/* ---- fixtures: each bails out on failure */
struct stat lst(const char *path); /* lstat */
struct stat st(const char *path); /* stat */
void mkfile(const char *path, mode_t mode, const char *data);
/* mkfile/mkdir, then chown and chmod (in that order: chown may clear set-id
 * bits) */
void fx_file(const char *path, mode_t mode, uid_t uid, gid_t gid);
void fx_dir(const char *path, mode_t mode, uid_t uid, gid_t gid);
void fx_symlink(const char *target, const char *path, uid_t uid, gid_t gid);
void must(int rc, const char *what);
/* The group's u/ directory for the unprivileged phases, owned by uid:gid. */
void fx_udir(uid_t uid, gid_t gid);

/* ---- helpers */
bool ts_after(struct timespec a, struct timespec b); /* a > b */
bool ts_eq(struct timespec a, struct timespec b);
struct timespec now_ts(void);
/* Within [lo, hi]? */
bool ts_between(struct timespec t, struct timespec lo, struct timespec hi);
/* Remember a timestamp the filesystem set, to check later that daxfs keeps
 * nanoseconds (not every one can be a multiple of 1000). */
void note_fs_time(struct timespec t);
const char *name256(void); /* a 256-byte name */
const char *name255(void);
mode_t perm(const char *path); /* lstat mode & 07777 */
int read_sysctl(const char *path); /* -1 if unreadable */

extern const struct group g_open, g_create, g_link, g_unlink, g_rename, g_mkdir, g_rmdir,
	g_symlink, g_chmod, g_chown, g_truncate, g_utimensat, g_read, g_chattr, g_xattr;

#endif
