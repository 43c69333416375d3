/* SPDX-License-Identifier: MIT */
/* creat(2) and mknod(2): file types, ownership, setgid directories and the
 * setgid bit of new files, and the errors. */
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	struct stat d0 = st("."), s;

	EXPECT_OK(creat("c1", 0640), "creat of a new name");
	struct stat d1 = st(".");
	t_later(d0.st_mtim, d1.st_mtim, "creat moves the directory's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "creat moves the directory's ctime");
	s = lst("c1");
	CHECK(S_ISREG(s.st_mode) && s.st_size == 0 && s.st_nlink == 1, "creat makes an empty regular file with one link");
	EXPECT_EQ(0640, s.st_mode & 07777, "creat applies the mode (0640)");
	mkfile("c1", 0600, "data");
	EXPECT_OK(creat("c1", 0600), "creat of an existing file");
	s = lst("c1");
	EXPECT_EQ(0, s.st_size, "creat of an existing file truncates it");
	EXPECT_EQ(0640, s.st_mode & 07777, "creat of an existing file keeps its mode");

	/* The pool keeps a birth time, but libfuse 3.14 has no statx handler
	 * (README, "Semantics and known limits"). */
	struct statx sx;
	EXPECT_OK(statx(AT_FDCWD, "c1", 0, STATX_BASIC_STATS | STATX_BTIME, &sx), "statx asking for the birth time");
	EXPECT_EQ(0, sx.stx_mask & STATX_BTIME, "statx reports no birth time (no statx handler in libfuse 3.14)");
	EXPECT_EQ(STATX_BASIC_STATS, sx.stx_mask & STATX_BASIC_STATS, "statx reports the basic fields");

	EXPECT_OK(mknod("fifo", S_IFIFO | 0644, 0), "mknod S_IFIFO");
	CHECK(S_ISFIFO(lst("fifo").st_mode), "mknod S_IFIFO makes a fifo");
	EXPECT_OK(mknod("sock", S_IFSOCK | 0644, 0), "mknod S_IFSOCK");
	CHECK(S_ISSOCK(lst("sock").st_mode), "mknod S_IFSOCK makes a socket node");
	EXPECT_OK(mknod("chr", S_IFCHR | 0600, makedev(1, 3)), "mknod S_IFCHR as root");
	s = lst("chr");
	CHECK(S_ISCHR(s.st_mode) && major(s.st_rdev) == 1 && minor(s.st_rdev) == 3, "character device keeps rdev 1:3");
	EXPECT_OK(mknod("blk", S_IFBLK | 0600, makedev(259, 70000)), "mknod S_IFBLK as root");
	s = lst("blk");
	CHECK(S_ISBLK(s.st_mode) && major(s.st_rdev) == 259 && minor(s.st_rdev) == 70000,
	      "block device keeps a large rdev (259:70000)");
	EXPECT_OK(mknod("reg", S_IFREG | 0644, 0), "mknod S_IFREG");
	CHECK(S_ISREG(lst("reg").st_mode), "mknod S_IFREG makes a regular file");
	EXPECT_OK(mknod("reg0", 0644, 0), "mknod with no file type");
	CHECK(S_ISREG(lst("reg0").st_mode), "mknod with no file type makes a regular file");
	EXPECT_ERR(EPERM, mknod("dnode", S_IFDIR | 0755, 0), "mknod S_IFDIR");
	EXPECT_ERR(EEXIST, mknod("c1", S_IFIFO | 0644, 0), "mknod of an existing name");
	EXPECT_ERR(ENOENT, mknod("nodir/x", S_IFIFO | 0644, 0), "mknod in a missing directory");
	EXPECT_ERR(ENOTDIR, mknod("c1/x", S_IFIFO | 0644, 0), "mknod under a regular file");
	EXPECT_ERR(ENAMETOOLONG, mknod(name256(), S_IFIFO | 0644, 0), "mknod of a 256-byte name");
	EXPECT_ERR(ENAMETOOLONG, creat(name256(), 0644), "creat of a 256-byte name");

	/* setgid directory: new entries take the directory's group */
	fx_dir("sg", 02775, 0, FOREIGN_GID);
	EXPECT_OK(creat("sg/f", 02755), "creat in a setgid directory");
	s = lst("sg/f");
	EXPECT_EQ(FOREIGN_GID, s.st_gid, "file in a setgid directory gets the directory's group");
	CHECK(s.st_mode & S_ISGID, "root (CAP_FSETID) keeps a requested setgid bit on a file in a setgid directory");
	EXPECT_OK(creat("sg/plain", 0644), "creat of a plain file in a setgid directory");
	EXPECT_EQ(0, lst("sg/plain").st_mode & S_ISGID, "a file in a setgid directory does not inherit the setgid bit");
	EXPECT_OK(mknod("sg/fifo", S_IFIFO | 0644, 0), "mknod in a setgid directory");
	EXPECT_EQ(FOREIGN_GID, lst("sg/fifo").st_gid, "fifo in a setgid directory gets the directory's group");

	fx_udir(USER_UID, USER_GID);
	fx_dir("u/sg_foreign", 02777, 0, FOREIGN_GID);
	fx_dir("u/sg_member", 02777, 0, USER_GID);
	fx_dir("u/rodir", 0555, 0, 0);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_OK(creat("mine", 0644), "creat as the unprivileged user");
	struct stat s = lst("mine");
	CHECK(s.st_uid == USER_UID && s.st_gid == USER_GID, "new file is owned by the caller's uid and gid");
	EXPECT_OK(creat("sg_foreign/f", 02755), "creat with mode 02755 in a setgid directory of another group");
	s = lst("sg_foreign/f");
	EXPECT_EQ(FOREIGN_GID, s.st_gid, "the file gets the directory's group although the caller is not in it");
	EXPECT_EQ(0755, s.st_mode & 07777, "the setgid bit of a non-member's new group-executable file is dropped");
	EXPECT_OK(creat("sg_member/f", 02755), "creat with mode 02755 in a setgid directory of the caller's group");
	s = lst("sg_member/f");
	EXPECT_EQ(USER_GID, s.st_gid, "the file gets the directory's group");
	EXPECT_EQ(02755, s.st_mode & 07777, "a group member keeps the setgid bit");
	EXPECT_OK(mknod("fifo", S_IFIFO | 0600, 0), "mknod S_IFIFO as the unprivileged user");
	EXPECT_ERR(EPERM, mknod("chr", S_IFCHR | 0600, makedev(1, 3)), "mknod S_IFCHR without CAP_MKNOD");
	EXPECT_ERR(EPERM, mknod("blk", S_IFBLK | 0600, makedev(7, 0)), "mknod S_IFBLK without CAP_MKNOD");
	EXPECT_ERR(EACCES, creat("rodir/x", 0644), "creat in a directory without write permission");
	EXPECT_ERR(EACCES, mknod("rodir/fifo", S_IFIFO | 0644, 0), "mknod in a directory without write permission");
}

static void persist(const struct ctx *c)
{
	(void)c;
	struct stat s = lst("u/sg_foreign/f");
	CHECK(s.st_gid == FOREIGN_GID && (s.st_mode & 07777) == 0755, "after remount: group and mode of a non-member's file in a setgid directory");
	s = lst("blk");
	CHECK(major(s.st_rdev) == 259 && minor(s.st_rdev) == 70000, "after remount: device number");
}

const struct group g_create = { .name = "create", .root = root, .user = user, .persist = persist };
