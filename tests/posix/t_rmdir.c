/* SPDX-License-Identifier: MIT */
/* rmdir(2): link counts, times, ENOTEMPTY and the other errors, a removed
 * working directory, the sticky bit. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	must(mkdir("e", 0755), "mkdir e");
	struct stat d0 = st(".");
	EXPECT_OK(rmdir("e"), "rmdir of an empty directory");
	struct stat d1 = st(".");
	EXPECT_EQ(d0.st_nlink - 1, d1.st_nlink, "the parent loses a link");
	t_later(d0.st_mtim, d1.st_mtim, "rmdir moves the parent's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "rmdir moves the parent's ctime");

	must(mkdir("full", 0755), "mkdir full");
	mkfile("full/f", 0644, "");
	EXPECT_ERR(ENOTEMPTY, rmdir("full"), "a directory holding a file");
	must(mkdir("full2", 0755), "mkdir full2");
	must(mkdir("full2/sub", 0755), "mkdir full2/sub");
	EXPECT_ERR(ENOTEMPTY, rmdir("full2"), "a directory holding a directory");
	must(mkdir("full3", 0755), "mkdir full3");
	must(symlink("x", "full3/s"), "symlink full3/s");
	EXPECT_ERR(ENOTEMPTY, rmdir("full3"), "a directory holding a symlink");
	must(unlink("full3/s"), "unlink full3/s");
	EXPECT_OK(rmdir("full3"), "the same directory once emptied");
	EXPECT_ERR(ENOTDIR, rmdir("full/f"), "rmdir of a file");
	must(symlink("full2", "ldir"), "symlink ldir");
	EXPECT_ERR(ENOTDIR, rmdir("ldir"), "rmdir of a symlink to a directory");
	EXPECT_ERR(ENOENT, rmdir("missing"), "rmdir of a missing name");
	EXPECT_ERR(ENOTDIR, rmdir("full/f/x"), "rmdir under a regular file");
	EXPECT_ERR(EINVAL, rmdir("full2/sub/."), "rmdir of a path ending in .");
	EXPECT_ERR(ENOTEMPTY, rmdir("full2/sub/.."), "rmdir of a path ending in ..");
	EXPECT_ERR(ENAMETOOLONG, rmdir(name256()), "rmdir of a 256-byte name");

	must(mkdir("cw", 0755), "mkdir cw");
	int dfd = open("cw", O_RDONLY | O_DIRECTORY);
	must(dfd, "open cw");
	EXPECT_OK(rmdir("cw"), "rmdir of a directory that is open");
	struct stat s;
	must(fstat(dfd, &s), "fstat cw");
	EXPECT_EQ(0, s.st_nlink, "the removed directory has no links");
	EXPECT_ERR(ENOENT, openat(dfd, "x", O_CREAT | O_WRONLY, 0644), "creat in the removed directory");
	EXPECT_ERR(ENOENT, mkdirat(dfd, "y", 0755), "mkdir in the removed directory");
	close(dfd);

	fx_udir(USER_UID, USER_GID);
	fx_dir("u/sticky", 01777, 0, 0);
	fx_dir("u/sticky/other_dir", 0777, OTHER_UID, OTHER_GID);
	fx_dir("u/rodir", 0755, 0, 0);
	fx_dir("u/rodir/sub", 0777, USER_UID, USER_GID);
}

static void other(const struct ctx *c)
{
	(void)c;
	EXPECT_OK(mkdir("sticky/other_made", 0777), "the second user makes a directory in a sticky directory");
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EPERM, rmdir("sticky/other_dir"), "another user's empty directory in a sticky directory");
	EXPECT_ERR(EPERM, rmdir("sticky/other_made"), "the second user's empty directory in a sticky directory");
	EXPECT_OK(mkdir("sticky/mine", 0755), "mkdir in a sticky directory");
	EXPECT_OK(rmdir("sticky/mine"), "the caller's own directory in a sticky directory");
	EXPECT_ERR(EACCES, rmdir("rodir/sub"), "the caller's directory in a directory without write permission");
}

const struct group g_rmdir = { .name = "rmdir", .root = root, .other = other, .user = user };
