/* SPDX-License-Identifier: MIT */
/* mkdir(2): link counts, "..", mode bits, setgid inheritance and the
 * errors. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	struct stat d0 = st("."), s;

	EXPECT_OK(mkdir("d", 0777), "mkdir of a new name");
	struct stat d1 = st(".");
	s = lst("d");
	CHECK(S_ISDIR(s.st_mode), "mkdir makes a directory");
	EXPECT_EQ(0755, s.st_mode & 07777, "mode 0777 under umask 022 is 0755");
	EXPECT_EQ(2, s.st_nlink, "a new directory has two links");
	CHECK(s.st_uid == 0 && s.st_gid == 0, "a new directory is owned by the caller");
	EXPECT_EQ(d0.st_nlink + 1, d1.st_nlink, "the parent gains a link");
	EXPECT_EQ(d1.st_ino, lst("d/..").st_ino, "stat of d/.. is the parent");
	t_later(d0.st_mtim, d1.st_mtim, "mkdir moves the parent's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "mkdir moves the parent's ctime");

	EXPECT_ERR(EEXIST, mkdir("d", 0755), "mkdir of an existing directory");
	mkfile("f", 0644, "");
	EXPECT_ERR(EEXIST, mkdir("f", 0755), "mkdir over a file");
	must(symlink("nowhere", "dangling"), "symlink dangling");
	EXPECT_ERR(EEXIST, mkdir("dangling", 0755), "mkdir over a dangling symlink");
	EXPECT_ERR(ENOENT, mkdir("nodir/x", 0755), "mkdir in a missing directory");
	EXPECT_ERR(ENOTDIR, mkdir("f/x", 0755), "mkdir under a regular file");
	EXPECT_ERR(ENAMETOOLONG, mkdir(name256(), 0755), "mkdir of a 256-byte name");
	EXPECT_OK(mkdir(name255(), 0755), "mkdir of a 255-byte name");
	EXPECT_ERR(EEXIST, mkdir(".", 0755), "mkdir of .");

	EXPECT_OK(mkdir("sgid", 02777), "mkdir with mode 02777 in a plain directory");
	EXPECT_EQ(0755, perm("sgid"), "the setgid bit of mkdir's mode is not applied (Linux)");
	EXPECT_OK(mkdir("sticky", 01777), "mkdir with mode 01777");
	EXPECT_EQ(01755, perm("sticky"), "the sticky bit of mkdir's mode is kept");

	fx_dir("sg", 02755, 0, FOREIGN_GID);
	EXPECT_OK(mkdir("sg/sub", 0755), "mkdir in a setgid directory");
	s = lst("sg/sub");
	EXPECT_EQ(FOREIGN_GID, s.st_gid, "a directory in a setgid directory gets its group");
	EXPECT_EQ(02755, s.st_mode & 07777, "and inherits the setgid bit");
	EXPECT_OK(mkdir("sg/sub/deeper", 0700), "mkdir one level further down");
	s = lst("sg/sub/deeper");
	CHECK(s.st_gid == FOREIGN_GID && (s.st_mode & 07777) == 02700, "group and setgid bit pass on again (mode 02700)");

	must(mkdir("gone", 0755), "mkdir gone");
	int dfd = open("gone", O_RDONLY | O_DIRECTORY);
	must(dfd, "open gone");
	must(rmdir("gone"), "rmdir gone");
	EXPECT_ERR(ENOENT, mkdirat(dfd, "x", 0755), "mkdir in a removed directory");
	close(dfd);

	fx_udir(USER_UID, USER_GID);
	fx_dir("u/rodir", 0555, 0, 0);
	fx_dir("u/closed", 0700, 0, 0);
	fx_dir("u/closed/in", 0777, 0, 0);
	fx_dir("u/sg_foreign", 02777, 0, FOREIGN_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_OK(mkdir("own", 0777), "mkdir as the unprivileged user");
	struct stat s = lst("own");
	CHECK(s.st_uid == USER_UID && s.st_gid == USER_GID, "the new directory is owned by the caller's uid and gid");
	EXPECT_ERR(EACCES, mkdir("rodir/x", 0755), "mkdir in a directory without write permission");
	EXPECT_ERR(EACCES, mkdir("closed/in/x", 0755), "mkdir below a directory without search permission");
	EXPECT_OK(mkdir("sg_foreign/sub", 0755), "mkdir in a setgid directory of a group the caller is not in");
	s = lst("sg_foreign/sub");
	EXPECT_EQ(FOREIGN_GID, s.st_gid, "the directory gets the parent's group");
	EXPECT_EQ(02755, s.st_mode & 07777, "and the setgid bit, although the caller is not in the group");
}

static void persist(const struct ctx *c)
{
	(void)c;
	struct stat s = lst("sg/sub/deeper");
	CHECK(s.st_gid == FOREIGN_GID && (s.st_mode & 07777) == 02700, "after remount: setgid inheritance");
	EXPECT_EQ(02755, perm("u/sg_foreign/sub"), "after remount: the user's setgid subdirectory");
}

const struct group g_mkdir = { .name = "mkdir", .root = root, .user = user, .persist = persist };
