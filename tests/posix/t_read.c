/* SPDX-License-Identifier: MIT */
/*
 * read(2), getdents(2) and readlink(2) mark the access time (POSIX: "shall
 * mark for update the last data access timestamp"), with Linux's relatime
 * rules, which daxfs follows: atime moves when it is not later than mtime
 * or ctime, or is a day old; otherwise it stays.  Under FUSE the kernel
 * leaves atime to the filesystem (its inodes are S_NOATIME).
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static int ut(const char *p, long as, long ans, long ms, long mns, int flags)
{
	struct timespec t[2] = { { as, ans }, { ms, mns } };

	return utimensat(AT_FDCWD, p, t, flags);
}

static void read_all(const char *p)
{
	char buf[4096];
	int fd = open(p, O_RDONLY);

	must(fd, "open for reading");
	must((int)read(fd, buf, sizeof(buf)), "read");
	close(fd);
}

static void list_all(const char *p)
{
	DIR *d = opendir(p);

	if (!d)
		bail("opendir %s: %s", p, strerror(errno));
	while (readdir(d))
		;
	closedir(d);
}

static void root(const struct ctx *c)
{
	(void)c;
	char buf[64];
	struct timespec before, after;

	/* a file: atime older than mtime moves on read */
	mkfile("f", 0644, "some data");
	must(ut("f", 1000, 0, 2000, 0, 0), "utimensat f");
	before = now_ts();
	read_all("f");
	after = now_ts();
	struct stat s = lst("f");
	CHECK(ts_between(s.st_atim, before, after), "read of a file whose atime is older than mtime moves atime to now");
	note_fs_time(s.st_atim);
	EXPECT_EQ(2000, s.st_mtim.tv_sec, "read leaves mtime alone");
	struct stat s1 = lst("f");
	read_all("f");
	struct stat s2 = lst("f");
	CHECK(ts_eq(s1.st_atim, s2.st_atim), "a second read leaves a fresh atime alone (relatime)");
	CHECK(ts_eq(s1.st_ctim, s2.st_ctim), "read leaves ctime alone");

	/* after a write, the next read moves atime again */
	int fd = open("f", O_WRONLY);
	must(fd, "open f");
	must((int)write(fd, "x", 1), "write f");
	close(fd);
	struct stat w = lst("f");
	read_all("f");
	s = lst("f");
	CHECK(ts_after(s.st_atim, w.st_mtim) || ts_eq(s.st_atim, w.st_mtim), "read after a write moves atime past the new mtime");

	/* an atime later than mtime and ctime, and recent, stays */
	struct timespec n = now_ts();
	must(ut("f", n.tv_sec + 3600, 5, 0, UTIME_OMIT, 0), "utimensat f");
	read_all("f");
	s = lst("f");
	CHECK(s.st_atim.tv_sec == n.tv_sec + 3600 && s.st_atim.tv_nsec == 5, "read leaves an atime later than mtime and ctime alone (relatime)");

	/* a day-old atime moves even when it is later than mtime and ctime:
	 * mtime and ctime cannot be put back before it, so only check that a
	 * file with atime = mtime = old moves */
	must(ut("f", 1000, 0, 1000, 0, 0), "utimensat f");
	read_all("f");
	s = lst("f");
	CHECK(s.st_atim.tv_sec > 1000, "read moves an atime equal to mtime");

	/* a directory: listing it moves atime */
	must(mkdir("d", 0755), "mkdir d");
	mkfile("d/x", 0644, "");
	must(ut("d", 1000, 0, 2000, 0, 0), "utimensat d");
	before = now_ts();
	list_all("d");
	after = now_ts();
	s = lst("d");
	CHECK(ts_between(s.st_atim, before, after), "readdir moves a directory's old atime to now");
	EXPECT_EQ(2000, s.st_mtim.tv_sec, "readdir leaves the directory's mtime alone");
	s1 = lst("d");
	list_all("d");
	CHECK(ts_eq(s1.st_atim, lst("d").st_atim), "a second listing leaves a fresh atime alone");

	/* a symlink: readlink moves its own atime */
	must(symlink("f", "s"), "symlink s");
	must(ut("s", 1000, 0, 2000, 0, AT_SYMLINK_NOFOLLOW), "utimensat s");
	before = now_ts();
	EXPECT_EQ(1, readlink("s", buf, sizeof(buf)), "readlink");
	after = now_ts();
	CHECK(ts_between(lst("s").st_atim, before, after), "readlink moves the symlink's old atime to now");

	/* fixtures: a file the unprivileged user may only read */
	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootfile", 0644, 0, 0);
	must(ut("u/rootfile", 1000, 0, 2000, 0, 0), "utimensat u/rootfile");
}

static void user(const struct ctx *c)
{
	(void)c;
	struct timespec before = now_ts();
	read_all("rootfile");
	struct timespec after = now_ts();
	CHECK(ts_between(lst("rootfile").st_atim, before, after), "a reader who does not own the file moves its atime");
}

static void persist(const struct ctx *c)
{
	(void)c;
	CHECK(lst("u/rootfile").st_atim.tv_sec > 1000, "after remount: the atime a read moved");
}

const struct group g_read = { .name = "read", .root = root, .user = user, .persist = persist };
