/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes: set/get/list/remove, the XATTR_CREATE and
 * XATTR_REPLACE flags, ERANGE, and the namespace rules (trusted.* needs
 * CAP_SYS_ADMIN, user.* only on regular files and directories).
 *
 * This group runs only when it is named (daxfs-posix ... xattr, or
 * run.sh xattr): the meson test posix-xattr in tests/posix/meson.build is
 * left for registration until daxfs implements extended attributes.
 */
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "harness.h"

static bool listed(const char *path, const char *name)
{
	char buf[4096];
	ssize_t n = llistxattr(path, buf, sizeof(buf));

	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (!strcmp(buf + i, name))
			return true;
	return false;
}

static void root(const struct ctx *c)
{
	(void)c;
	char buf[256];

	mkfile("f", 0644, "x");
	struct stat f0 = lst("f");
	EXPECT_OK(setxattr("f", "user.a", "value-a", 7, 0), "setxattr user.a");
	t_later(f0.st_ctim, lst("f").st_ctim, "setxattr moves ctime");
	EXPECT_EQ(7, getxattr("f", "user.a", buf, sizeof(buf)), "getxattr returns the value's length");
	CHECK(!memcmp(buf, "value-a", 7), "getxattr returns the value");
	EXPECT_EQ(7, getxattr("f", "user.a", NULL, 0), "getxattr with size 0 returns the length");
	EXPECT_ERR(ERANGE, getxattr("f", "user.a", buf, 3), "getxattr into a 3-byte buffer");
	EXPECT_OK(setxattr("f", "user.empty", "", 0, 0), "setxattr of an empty value");
	EXPECT_EQ(0, getxattr("f", "user.empty", buf, sizeof(buf)), "an empty value reads back empty");
	CHECK(listed("f", "user.a") && listed("f", "user.empty"), "listxattr names both");
	ssize_t need = listxattr("f", NULL, 0);
	CHECK(need >= (ssize_t)(sizeof("user.a") + sizeof("user.empty")), "listxattr with size 0 returns the list's length");
	EXPECT_ERR(ERANGE, listxattr("f", buf, 2), "listxattr into a 2-byte buffer");

	EXPECT_ERR(EEXIST, setxattr("f", "user.a", "x", 1, XATTR_CREATE), "XATTR_CREATE of an existing name");
	EXPECT_ERR(ENODATA, setxattr("f", "user.nope", "x", 1, XATTR_REPLACE), "XATTR_REPLACE of a missing name");
	EXPECT_OK(setxattr("f", "user.a", "longer value", 12, XATTR_REPLACE), "XATTR_REPLACE of an existing name");
	EXPECT_EQ(12, getxattr("f", "user.a", buf, sizeof(buf)), "the replaced value's length");
	EXPECT_OK(setxattr("f", "user.b", "b", 1, XATTR_CREATE), "XATTR_CREATE of a new name");

	EXPECT_OK(removexattr("f", "user.b"), "removexattr");
	EXPECT_ERR(ENODATA, getxattr("f", "user.b", buf, sizeof(buf)), "getxattr of a removed name");
	EXPECT_ERR(ENODATA, removexattr("f", "user.b"), "removexattr of a missing name");
	CHECK(!listed("f", "user.b"), "listxattr no longer names it");

	EXPECT_OK(setxattr("f", "trusted.t", "t", 1, 0), "root sets trusted.t");
	EXPECT_EQ(1, getxattr("f", "trusted.t", buf, sizeof(buf)), "root reads trusted.t");
	EXPECT_ERR(EOPNOTSUPP, setxattr("f", "bogus.x", "x", 1, 0), "a name outside every namespace");
	must(symlink("f", "s"), "symlink s");
	EXPECT_ERR(EPERM, lsetxattr("s", "user.a", "x", 1, 0), "user.* on a symlink");
	EXPECT_OK(lsetxattr("s", "trusted.t", "x", 1, 0), "root sets trusted.* on a symlink");
	EXPECT_EQ(12, getxattr("s", "user.a", buf, sizeof(buf)), "getxattr through a symlink reads the target's");
	must(mkdir("d", 0755), "mkdir d");
	EXPECT_OK(setxattr("d", "user.d", "dir", 3, 0), "user.* on a directory");

	/* chattr +i/+a: Linux refuses every xattr change on such inodes, and
	 * under FUSE only the filesystem can (t_chattr.c) */
	mkfile("imm", 0644, "");
	int ffd = open("imm", O_RDONLY), fl = FS_IMMUTABLE_FL;
	if (ffd < 0 || ioctl(ffd, FS_IOC_SETFLAGS, &fl))
		bail("chattr +i imm: %s", strerror(errno));
	EXPECT_ERR(EPERM, setxattr("imm", "user.x", "x", 1, 0), "setxattr on an immutable file");
	EXPECT_ERR(EPERM, setxattr("imm", "trusted.x", "x", 1, 0), "trusted.* on an immutable file");
	fl = FS_APPEND_FL;
	if (ioctl(ffd, FS_IOC_SETFLAGS, &fl))
		bail("chattr +a imm: %s", strerror(errno));
	EXPECT_ERR(EPERM, setxattr("imm", "user.x", "x", 1, 0), "setxattr on an append-only file");
	fl = 0;
	if (ioctl(ffd, FS_IOC_SETFLAGS, &fl))
		bail("chattr -a imm: %s", strerror(errno));
	close(ffd);

	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootfile", 0644, 0, 0);
	if (setxattr("u/rootfile", "user.r", "r", 1, 0) || setxattr("u/rootfile", "trusted.t", "t", 1, 0))
		bail("setxattr fixture: %s", strerror(errno));
	fx_file("u/private", 0600, 0, 0);
	if (setxattr("u/private", "user.p", "p", 1, 0))
		bail("setxattr fixture: %s", strerror(errno));
	fx_file("u/mine", 0644, USER_UID, USER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	char buf[256];

	EXPECT_OK(setxattr("mine", "user.m", "m", 1, 0), "the owner sets user.m");
	EXPECT_EQ(1, getxattr("mine", "user.m", buf, sizeof(buf)), "and reads it back");
	EXPECT_ERR(EPERM, setxattr("mine", "trusted.t", "t", 1, 0), "trusted.* set without CAP_SYS_ADMIN");
	EXPECT_ERR(ENODATA, getxattr("rootfile", "trusted.t", buf, sizeof(buf)), "trusted.* read without CAP_SYS_ADMIN");
	EXPECT_EQ(1, getxattr("rootfile", "user.r", buf, sizeof(buf)), "user.* of a readable file");
	EXPECT_ERR(EACCES, setxattr("rootfile", "user.x", "x", 1, 0), "user.* set on a file without write permission");
	EXPECT_ERR(EACCES, getxattr("private", "user.p", buf, sizeof(buf)), "user.* read on a file without read permission");
	EXPECT_ERR(EACCES, removexattr("rootfile", "user.r"), "removexattr on a file without write permission");
}

static void persist(const struct ctx *c)
{
	(void)c;
	char buf[256];
	EXPECT_EQ(12, getxattr("f", "user.a", buf, sizeof(buf)), "after remount: user.a");
	CHECK(!memcmp(buf, "longer value", 12), "after remount: user.a's value");
	EXPECT_ERR(ENODATA, getxattr("f", "user.b", buf, sizeof(buf)), "after remount: the removed name");
	EXPECT_EQ(1, getxattr("u/mine", "user.m", buf, sizeof(buf)), "after remount: the user's attribute");
}

const struct group g_xattr = { .name = "xattr", .root = root, .user = user, .persist = persist };
