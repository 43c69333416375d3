/* SPDX-License-Identifier: MIT */
/* chmod(2): what is stored, ctime, symlinks, and who may set which bits. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	mkfile("f", 0644, "x");
	struct stat f0 = lst("f");
	EXPECT_OK(chmod("f", 0600), "chmod 0600");
	struct stat f1 = lst("f");
	EXPECT_EQ(0600, f1.st_mode & 07777, "the mode is 0600");
	t_later(f0.st_ctim, f1.st_ctim, "chmod moves ctime");
	CHECK(ts_eq(f0.st_mtim, f1.st_mtim), "chmod leaves mtime alone");
	EXPECT_OK(chmod("f", 07777), "chmod 07777");
	EXPECT_EQ(07777, perm("f"), "all twelve bits are stored");
	EXPECT_OK(chmod("f", 0), "chmod 0");
	EXPECT_EQ(0, perm("f"), "mode 0 is stored");
	int fd = open("f", O_RDONLY);
	must(fd, "open f");
	EXPECT_OK(fchmod(fd, 0640), "fchmod");
	close(fd);
	EXPECT_EQ(0640, perm("f"), "fchmod's mode is stored");

	must(symlink("f", "s"), "symlink s");
	EXPECT_OK(chmod("s", 0604), "chmod through a symlink");
	EXPECT_EQ(0604, perm("f"), "chmod through a symlink changes the target");
	EXPECT_EQ(0777, perm("s"), "and not the symlink");
	EXPECT_ERR(EOPNOTSUPP, fchmodat(AT_FDCWD, "s", 0600, AT_SYMLINK_NOFOLLOW),
		   "fchmodat AT_SYMLINK_NOFOLLOW on a symlink");

	must(mkdir("d", 0755), "mkdir d");
	EXPECT_OK(chmod("d", 03777), "chmod 03777 of a directory");
	EXPECT_EQ(03777, perm("d"), "sticky and setgid bits of a directory are stored");
	fx_file("others", 0644, OTHER_UID, OTHER_GID);
	EXPECT_OK(chmod("others", 06755), "root changes another user's file");
	EXPECT_EQ(06755, perm("others"), "root keeps setuid and setgid of a group it is not in");

	EXPECT_ERR(ENOENT, chmod("missing", 0644), "a missing name");
	EXPECT_ERR(ENOTDIR, chmod("f/x", 0644), "under a regular file");
	EXPECT_ERR(ENAMETOOLONG, chmod(name256(), 0644), "a 256-byte name");

	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootfile", 0644, 0, 0);
	fx_file("u/mine", 0644, USER_UID, USER_GID);
	fx_file("u/mine_foreign", 0644, USER_UID, FOREIGN_GID);
	fx_dir("u/closed", 0700, 0, 0);
	fx_file("u/closed/f", 0644, USER_UID, USER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EPERM, chmod("rootfile", 0666), "chmod of another user's file");
	EXPECT_OK(chmod("mine", 02755), "chmod 02755 of the caller's file in the caller's group");
	EXPECT_EQ(02755, perm("mine"), "a group member keeps the setgid bit");
	EXPECT_OK(chmod("mine", 04755), "chmod 04755 of the caller's file");
	EXPECT_EQ(04755, perm("mine"), "the owner may set the setuid bit");
	EXPECT_OK(chmod("mine_foreign", 02755), "chmod 02755 of the caller's file of another group");
	EXPECT_EQ(0755, perm("mine_foreign"), "the setgid bit is silently dropped for a non-member");
	EXPECT_ERR(EACCES, chmod("closed/f", 0600), "chmod below a directory without search permission");
	EXPECT_OK(mkdir("own", 0755), "mkdir own");
	EXPECT_OK(chmod("own", 01777), "the owner sets the sticky bit of a directory");
	EXPECT_EQ(01777, perm("own"), "sticky bit stored");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(0755, perm("u/mine_foreign"), "after remount: the dropped setgid bit");
	EXPECT_EQ(03777, perm("d"), "after remount: a directory's sticky and setgid bits");
}

const struct group g_chmod = { .name = "chmod", .root = root, .user = user, .persist = persist };
