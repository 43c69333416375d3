/* SPDX-License-Identifier: MIT */
/*
 * FS_IOC_GETFLAGS/FS_IOC_SETFLAGS (chattr +i, +a): the flags daxfs keeps,
 * and their rules, which the filesystem enforces itself (the kernel checks
 * only who may set them): an immutable file takes no write, truncate,
 * attribute change, new name or removal; an append-only one takes only
 * O_APPEND writes and no truncate, removal, rename or link; a directory
 * with either flag loses no entry, and an immutable one gains none.
 */
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "harness.h"

static int getflags(const char *p, int *flags)
{
	int fd = open(p, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int rc = ioctl(fd, FS_IOC_GETFLAGS, flags);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int setflags(const char *p, int flags)
{
	int fd = open(p, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int flags_of(const char *p)
{
	int f = -1;

	if (getflags(p, &f))
		bail("FS_IOC_GETFLAGS %s: %s", p, strerror(errno));
	return f;
}

static int ut(const char *p, long as, long ans, long ms, long mns)
{
	struct timespec t[2] = { { as, ans }, { ms, mns } };

	return utimensat(AT_FDCWD, p, t, 0);
}

static void root(const struct ctx *c)
{
	(void)c;
	char buf[64];

	mkfile("f", 0644, "data");
	EXPECT_EQ(0, flags_of("f"), "a new file has no flags");
	struct stat s0 = lst("f");
	EXPECT_OK(setflags("f", FS_IMMUTABLE_FL), "chattr +i as root");
	EXPECT_EQ(FS_IMMUTABLE_FL, flags_of("f"), "FS_IOC_GETFLAGS shows FS_IMMUTABLE_FL");
	t_later(s0.st_ctim, lst("f").st_ctim, "chattr moves ctime");
	EXPECT_ERR(EPERM, open("f", O_WRONLY), "immutable: open for writing");
	EXPECT_ERR(EPERM, open("f", O_WRONLY | O_APPEND), "immutable: open for appending");
	EXPECT_ERR(EPERM, open("f", O_WRONLY | O_TRUNC), "immutable: O_TRUNC");
	EXPECT_OK(open("f", O_RDONLY), "immutable: open for reading");
	EXPECT_ERR(EPERM, truncate("f", 0), "immutable: truncate");
	EXPECT_ERR(EPERM, unlink("f"), "immutable: unlink");
	EXPECT_ERR(EPERM, rename("f", "g"), "immutable: rename");
	mkfile("other", 0644, "");
	EXPECT_ERR(EPERM, rename("other", "f"), "immutable: rename over it");
	EXPECT_ERR(EPERM, link("f", "f2"), "immutable: link");
	EXPECT_ERR(EPERM, chmod("f", 0600), "immutable: chmod");
	EXPECT_ERR(EPERM, chown("f", 1, 1), "immutable: chown");
	EXPECT_ERR(EPERM, ut("f", 1, 0, 2, 0), "immutable: explicit times");
	EXPECT_ERR(EPERM, ut("f", 0, UTIME_NOW, 0, UTIME_NOW), "immutable: UTIME_NOW");
	EXPECT_EQ(4, lst("f").st_size, "immutable: the data is untouched");
	EXPECT_OK(setflags("f", 0), "chattr -i");
	EXPECT_EQ(0, flags_of("f"), "no flags after chattr -i");
	EXPECT_OK(truncate("f", 1), "truncate after chattr -i");
	EXPECT_ERR(EOPNOTSUPP, setflags("f", FS_NODUMP_FL), "a flag daxfs does not keep (FS_NODUMP_FL)");

	mkfile("a", 0644, "abc");
	EXPECT_OK(setflags("a", FS_APPEND_FL), "chattr +a");
	EXPECT_EQ(FS_APPEND_FL, flags_of("a"), "FS_IOC_GETFLAGS shows FS_APPEND_FL");
	EXPECT_ERR(EPERM, open("a", O_WRONLY), "append-only: open for writing without O_APPEND");
	EXPECT_ERR(EPERM, open("a", O_RDWR), "append-only: open for reading and writing without O_APPEND");
	EXPECT_ERR(EPERM, open("a", O_WRONLY | O_APPEND | O_TRUNC), "append-only: O_TRUNC");
	int fd = open("a", O_WRONLY | O_APPEND);
	CHECK(fd >= 0, "append-only: open with O_APPEND");
	if (fd >= 0) {
		EXPECT_EQ(3, write(fd, "def", 3), "append-only: an O_APPEND write");
		close(fd);
	}
	fd = open("a", O_RDONLY);
	must(fd, "open a");
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(6, read(fd, buf, sizeof(buf)), "append-only: the file grew");
	close(fd);
	CHECK(!memcmp(buf, "abcdef", 6), "append-only: the data went to the end");
	EXPECT_ERR(EPERM, truncate("a", 0), "append-only: truncate");
	EXPECT_ERR(EPERM, unlink("a"), "append-only: unlink");
	EXPECT_ERR(EPERM, rename("a", "b"), "append-only: rename");
	EXPECT_ERR(EPERM, link("a", "a2"), "append-only: link");
	EXPECT_ERR(EPERM, chmod("a", 0600), "append-only: chmod");
	EXPECT_ERR(EPERM, ut("a", 1, 0, 2, 0), "append-only: explicit times");
	EXPECT_OK(ut("a", 0, UTIME_NOW, 0, UTIME_NOW), "append-only: UTIME_NOW");

	must(mkdir("di", 0755), "mkdir di");
	mkfile("di/x", 0644, "");
	EXPECT_OK(setflags("di", FS_IMMUTABLE_FL), "chattr +i of a directory");
	EXPECT_ERR(EPERM, creat("di/new", 0644), "immutable directory: creat");
	EXPECT_ERR(EPERM, mkdir("di/sub", 0755), "immutable directory: mkdir");
	EXPECT_ERR(EPERM, symlink("x", "di/s"), "immutable directory: symlink");
	EXPECT_ERR(EPERM, unlink("di/x"), "immutable directory: unlink");
	EXPECT_ERR(EPERM, rename("di/x", "di/y"), "immutable directory: rename within");
	EXPECT_ERR(EPERM, rename("other", "di/other"), "immutable directory: rename into");
	EXPECT_ERR(EPERM, link("other", "di/l"), "immutable directory: link into");
	EXPECT_OK(open("di/x", O_WRONLY), "immutable directory: its files stay writable");
	EXPECT_ERR(EEXIST, mkdir("di/x", 0755), "immutable directory: mkdir of an existing name");

	must(mkdir("da", 0755), "mkdir da");
	mkfile("da/x", 0644, "");
	EXPECT_OK(setflags("da", FS_APPEND_FL), "chattr +a of a directory");
	EXPECT_OK(creat("da/new", 0644), "append-only directory: creat");
	EXPECT_OK(mkdir("da/sub", 0755), "append-only directory: mkdir");
	EXPECT_OK(rename("other", "da/other"), "append-only directory: rename into");
	EXPECT_ERR(EPERM, unlink("da/x"), "append-only directory: unlink");
	EXPECT_ERR(EPERM, rmdir("da/sub"), "append-only directory: rmdir");
	EXPECT_ERR(EPERM, rename("da/x", "x"), "append-only directory: rename out");
	mkfile("y", 0644, "");
	EXPECT_ERR(EPERM, rename("y", "da/new"), "append-only directory: rename over an entry");

	fx_udir(USER_UID, USER_GID);
	fx_file("u/imm", 0666, USER_UID, USER_GID);
	fx_file("u/mine", 0644, USER_UID, USER_GID);
	if (setflags("u/imm", FS_IMMUTABLE_FL))
		bail("chattr +i u/imm: %s", strerror(errno));
}

static void user(const struct ctx *c)
{
	(void)c;
	int f = -1;

	EXPECT_OK(getflags("imm", &f), "FS_IOC_GETFLAGS as the unprivileged owner");
	EXPECT_EQ(FS_IMMUTABLE_FL, f, "the owner sees FS_IMMUTABLE_FL");
	EXPECT_ERR(EPERM, setflags("imm", 0), "chattr -i without CAP_LINUX_IMMUTABLE");
	EXPECT_ERR(EPERM, setflags("mine", FS_IMMUTABLE_FL), "chattr +i without CAP_LINUX_IMMUTABLE");
	EXPECT_ERR(EPERM, setflags("mine", FS_APPEND_FL), "chattr +a without CAP_LINUX_IMMUTABLE");
	EXPECT_ERR(EPERM, open("imm", O_WRONLY), "an immutable 0666 file is not writable by its owner");
	EXPECT_ERR(EPERM, unlink("imm"), "nor removable by its owner");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(FS_IMMUTABLE_FL, flags_of("u/imm"), "after remount: FS_IMMUTABLE_FL");
	EXPECT_EQ(FS_APPEND_FL, flags_of("a"), "after remount: FS_APPEND_FL");
	EXPECT_ERR(EPERM, unlink("u/imm"), "after remount: an immutable file is still not removable");
	/* leave nothing that a later cleanup (rm -rf) could not remove */
	EXPECT_OK(setflags("u/imm", 0), "chattr -i after remount");
	EXPECT_OK(setflags("a", 0), "chattr -a after remount");
	EXPECT_OK(setflags("di", 0), "chattr -i of the directory");
	EXPECT_OK(setflags("da", 0), "chattr -a of the directory");
}

const struct group g_chattr = { .name = "chattr", .root = root, .user = user, .persist = persist };
