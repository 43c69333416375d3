/* SPDX-License-Identifier: MIT */
/* unlink(2): link counts, times, open unlinked files, the sticky bit and
 * the permission errors. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	mkfile("a", 0644, "content");
	must(link("a", "b"), "link a b");
	struct stat a0 = lst("a"), d0 = st(".");
	EXPECT_OK(unlink("b"), "unlink one of two links");
	struct stat a1 = lst("a"), d1 = st(".");
	EXPECT_EQ(1, a1.st_nlink, "link count drops to 1");
	t_later(a0.st_ctim, a1.st_ctim, "unlink moves the remaining inode's ctime");
	t_later(d0.st_mtim, d1.st_mtim, "unlink moves the directory's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "unlink moves the directory's ctime");
	EXPECT_ERR(ENOENT, lstat("b", &a1), "the name is gone");

	int fd = open("a", O_RDWR);
	must(fd, "open a");
	EXPECT_OK(unlink("a"), "unlink the last link of an open file");
	struct stat fs;
	must(fstat(fd, &fs), "fstat");
	EXPECT_EQ(0, fs.st_nlink, "the open file has no links");
	char buf[16] = { 0 };
	EXPECT_EQ(7, pread(fd, buf, sizeof(buf), 0), "the open file is still readable");
	EXPECT_EQ(3, pwrite(fd, "new", 3, 0), "the open file is still writable");
	close(fd);

	must(mkdir("d", 0755), "mkdir d");
	EXPECT_ERR(EISDIR, unlink("d"), "unlink of a directory");
	EXPECT_ERR(EISDIR, unlink("d/."), "unlink of d/.");
	EXPECT_ERR(ENOENT, unlink("missing"), "unlink of a missing name");
	mkfile("f", 0644, "");
	EXPECT_ERR(ENOTDIR, unlink("f/x"), "unlink under a regular file");
	EXPECT_ERR(ENAMETOOLONG, unlink(name256()), "unlink of a 256-byte name");
	must(symlink("f", "s"), "symlink s");
	EXPECT_OK(unlink("s"), "unlink of a symlink");
	EXPECT_OK(access("f", F_OK), "unlink of a symlink leaves its target");

	/* root may remove anything from a sticky directory */
	fx_dir("sticky", 01777, 0, 0);
	fx_file("sticky/x", 0644, OTHER_UID, OTHER_GID);
	EXPECT_OK(unlink("sticky/x"), "root removes another user's file from a sticky directory");

	fx_udir(0, 0);
	fx_dir("u/sticky", 01777, 0, 0);
	fx_file("u/sticky/by_other", 0666, OTHER_UID, OTHER_GID);
	fx_file("u/sticky/by_root", 0666, 0, 0);
	fx_dir("u/sticky_mine", 01777, USER_UID, USER_GID);
	fx_file("u/sticky_mine/by_other", 0644, OTHER_UID, OTHER_GID);
	fx_dir("u/plain", 0777, 0, 0);
	fx_file("u/plain/by_other", 0644, OTHER_UID, OTHER_GID);
	fx_dir("u/rodir", 0755, 0, 0);
	fx_file("u/rodir/f", 0666, USER_UID, USER_GID);
	fx_dir("u/noexec", 0776, 0, 0);
	fx_file("u/noexec/f", 0666, USER_UID, USER_GID);
}

static void other(const struct ctx *c)
{
	(void)c;
	EXPECT_OK(creat("sticky/other_made", 0666), "the second user creates a file in a sticky directory");
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EPERM, unlink("sticky/by_other"), "another user's file in a sticky directory");
	EXPECT_ERR(EPERM, unlink("sticky/other_made"), "a file the second user made in a sticky directory");
	EXPECT_ERR(EPERM, unlink("sticky/by_root"), "root's 0666 file in a sticky directory");
	EXPECT_OK(creat("sticky/mine", 0644), "create in a sticky directory");
	EXPECT_OK(unlink("sticky/mine"), "remove the caller's own file from a sticky directory");
	EXPECT_OK(unlink("sticky_mine/by_other"), "the sticky directory's owner removes another user's file");
	EXPECT_OK(unlink("plain/by_other"), "another user's file in a plain 0777 directory");
	EXPECT_ERR(EACCES, unlink("rodir/f"), "the caller's own file in a directory without write permission");
	EXPECT_ERR(EACCES, unlink("noexec/f"), "a file in a writable directory without search permission");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(01777, perm("u/sticky"), "after remount: the sticky directory's mode");
	EXPECT_OK(access("u/sticky/by_other", F_OK), "after remount: the file the user could not remove");
	EXPECT_ERR(ENOENT, access("u/plain/by_other", F_OK), "after remount: the file the user removed");
}

const struct group g_unlink = { .name = "unlink", .root = root, .other = other, .user = user, .persist = persist };
