/* SPDX-License-Identifier: MIT */
/* utimensat(2): nanosecond times, UTIME_NOW/UTIME_OMIT, EINVAL, and the
 * rules for callers that do not own the file. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static int ut(const char *p, long as, long ans, long ms, long mns)
{
	struct timespec t[2] = { { as, ans }, { ms, mns } };

	return utimensat(AT_FDCWD, p, t, 0);
}

static void root(const struct ctx *c)
{
	(void)c;
	mkfile("f", 0644, "x");
	struct stat f0 = lst("f");
	EXPECT_OK(ut("f", 1000000000, 1, 1500000000, 999999999), "explicit times");
	struct stat f1 = lst("f");
	CHECK(f1.st_atim.tv_sec == 1000000000 && f1.st_atim.tv_nsec == 1, "atime stored to the nanosecond");
	CHECK(f1.st_mtim.tv_sec == 1500000000 && f1.st_mtim.tv_nsec == 999999999, "mtime stored to the nanosecond");
	t_later(f0.st_ctim, f1.st_ctim, "utimensat moves ctime");
	EXPECT_ERR(EINVAL, ut("f", 0, 1000000000, 0, 0), "tv_nsec of 1000000000");
	EXPECT_ERR(EINVAL, ut("f", 0, 0, 0, -1), "a negative tv_nsec");

	struct timespec before = now_ts();
	EXPECT_OK(ut("f", 0, UTIME_NOW, 0, UTIME_NOW), "UTIME_NOW for both");
	struct timespec after = now_ts();
	f1 = lst("f");
	CHECK(ts_between(f1.st_atim, before, after), "UTIME_NOW sets atime to the current time");
	CHECK(ts_between(f1.st_mtim, before, after), "UTIME_NOW sets mtime to the current time");
	note_fs_time(f1.st_mtim);
	EXPECT_OK(ut("f", 5, 5, 0, UTIME_OMIT), "explicit atime, UTIME_OMIT mtime");
	struct stat f2 = lst("f");
	CHECK(f2.st_atim.tv_sec == 5 && ts_eq(f2.st_mtim, f1.st_mtim), "UTIME_OMIT keeps mtime");
	EXPECT_OK(ut("f", 0, UTIME_OMIT, 0, UTIME_OMIT), "UTIME_OMIT for both");
	struct stat f3 = lst("f");
	CHECK(ts_eq(f3.st_atim, f2.st_atim) && ts_eq(f3.st_mtim, f2.st_mtim) && ts_eq(f3.st_ctim, f2.st_ctim),
	      "UTIME_OMIT for both changes nothing, not even ctime");
	int fd = open("f", O_RDONLY);
	must(fd, "open f");
	struct timespec t[2] = { { 7, 7 }, { 8, 8 } };
	EXPECT_OK(futimens(fd, t), "futimens");
	close(fd);
	CHECK(lst("f").st_mtim.tv_sec == 8 && lst("f").st_mtim.tv_nsec == 8, "futimens's mtime stored");
	fx_file("others", 0600, OTHER_UID, OTHER_GID);
	EXPECT_OK(ut("others", 1, 2, 3, 4), "root sets explicit times on another user's file");
	EXPECT_ERR(ENOENT, ut("missing", 0, UTIME_NOW, 0, UTIME_NOW), "a missing name");
	EXPECT_ERR(ENOTDIR, ut("f/x", 0, UTIME_NOW, 0, UTIME_NOW), "under a regular file");
	EXPECT_ERR(ENAMETOOLONG, ut(name256(), 0, UTIME_NOW, 0, UTIME_NOW), "a 256-byte name");

	fx_udir(USER_UID, USER_GID);
	fx_file("u/other_rw", 0666, OTHER_UID, OTHER_GID);
	fx_file("u/other_ro", 0644, OTHER_UID, OTHER_GID);
	fx_file("u/mine", 0444, USER_UID, USER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EPERM, ut("other_rw", 1, 0, 2, 0), "explicit times on another user's writable file");
	EXPECT_ERR(EPERM, ut("other_rw", 0, UTIME_OMIT, 2, 0), "an explicit mtime on another user's writable file");
	struct timespec before = now_ts();
	EXPECT_OK(ut("other_rw", 0, UTIME_NOW, 0, UTIME_NOW), "UTIME_NOW on another user's file with write permission");
	struct timespec after = now_ts();
	CHECK(ts_between(lst("other_rw").st_mtim, before, after), "mtime is now");
	EXPECT_OK(utimensat(AT_FDCWD, "other_rw", NULL, 0), "NULL times on another user's file with write permission");
	EXPECT_ERR(EACCES, ut("other_ro", 0, UTIME_NOW, 0, UTIME_NOW), "UTIME_NOW on another user's file without write permission");
	EXPECT_ERR(EACCES, utimensat(AT_FDCWD, "other_ro", NULL, 0), "NULL times on another user's file without write permission");
	EXPECT_ERR(EPERM, ut("other_ro", 1, 0, 2, 0), "explicit times on another user's read-only file");
	EXPECT_OK(ut("mine", 11, 12, 13, 14), "explicit times on the caller's own read-only file");
	struct stat s = lst("mine");
	CHECK(s.st_mtim.tv_sec == 13 && s.st_mtim.tv_nsec == 14, "the owner's explicit mtime stored");
	EXPECT_OK(ut("mine", 0, UTIME_NOW, 0, UTIME_NOW), "UTIME_NOW on the caller's own read-only file");
}

static void persist(const struct ctx *c)
{
	(void)c;
	struct stat s = lst("f");
	CHECK(s.st_atim.tv_sec == 7 && s.st_atim.tv_nsec == 7 && s.st_mtim.tv_sec == 8 && s.st_mtim.tv_nsec == 8,
	      "after remount: nanosecond times");
}

const struct group g_utimensat = { .name = "utimensat", .root = root, .user = user, .persist = persist };
