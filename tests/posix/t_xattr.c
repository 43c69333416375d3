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
#include <stdint.h>
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

/* An access ACL in the kernel's xattr format: owner, named user
 * OTHER_UID (with a mask) when named, group and other, all rwx. */
static size_t acl_rwx(uint32_t *buf, bool named)
{
	static const uint16_t tags[] = { 0x01, 0x02, 0x04, 0x10, 0x20 };
	size_t n = 1;

	buf[0] = 2; /* POSIX_ACL_XATTR_VERSION */
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		if (!named && (tags[i] == 0x02 || tags[i] == 0x10))
			continue;
		buf[n++] = tags[i] | 7u << 16;
		buf[n++] = tags[i] == 0x02 ? OTHER_UID : 0xffffffffu;
	}
	return n * sizeof(*buf);
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
	fx_file("u/sg_acl_foreign", 02777, USER_UID, FOREIGN_GID);
	fx_file("u/sg_acl_named", 02777, USER_UID, FOREIGN_GID);
	fx_file("u/sg_acl_member", 02777, USER_UID, USER_GID);
	fx_file("u/sg_acl_root", 02777, USER_UID, FOREIGN_GID);
	uint32_t acl[16];
	size_t n = acl_rwx(acl, false);
	EXPECT_OK(setxattr("u/sg_acl_root", "system.posix_acl_access", acl, n, 0), "root sets an access ACL on a setgid file of a group it is not in");
	EXPECT_EQ(02777, perm("u/sg_acl_root"), "root (CAP_FSETID) keeps the setgid bit");
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

	/* Linux >= 6.2 (posix_acl_update_mode): an access ACL rewrites the
	 * mode, which keeps S_ISGID only for a member of the file's group or
	 * a caller with CAP_FSETID */
	uint32_t acl[16];
	size_t n = acl_rwx(acl, false);
	EXPECT_OK(setxattr("sg_acl_foreign", "system.posix_acl_access", acl, n, 0), "the owner outside the file's group sets a minimal access ACL");
	EXPECT_EQ(0777, perm("sg_acl_foreign"), "which clears the setgid bit");
	n = acl_rwx(acl, true);
	EXPECT_OK(setxattr("sg_acl_named", "system.posix_acl_access", acl, n, 0), "the owner outside the file's group sets an ACL with a named user");
	EXPECT_EQ(0777, perm("sg_acl_named"), "which clears the setgid bit");
	EXPECT_OK(setxattr("sg_acl_member", "system.posix_acl_access", acl, n, 0), "the owner in the file's group sets an access ACL");
	EXPECT_EQ(02777, perm("sg_acl_member"), "a group member keeps the setgid bit");
}

static void persist(const struct ctx *c)
{
	(void)c;
	char buf[256];
	EXPECT_EQ(12, getxattr("f", "user.a", buf, sizeof(buf)), "after remount: user.a");
	CHECK(!memcmp(buf, "longer value", 12), "after remount: user.a's value");
	EXPECT_ERR(ENODATA, getxattr("f", "user.b", buf, sizeof(buf)), "after remount: the removed name");
	EXPECT_EQ(1, getxattr("u/mine", "user.m", buf, sizeof(buf)), "after remount: the user's attribute");
	EXPECT_EQ(0777, perm("u/sg_acl_named"), "after remount: the setgid bit an ACL cleared");
}

const struct group g_xattr = { .name = "xattr", .root = root, .user = user, .persist = persist };
