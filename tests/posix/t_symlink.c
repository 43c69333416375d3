/* SPDX-License-Identifier: MIT */
/* symlink(2) and readlink(2): what is stored, target lengths, loops and
 * the 40-link limit, ownership, setgid directories, protected_symlinks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	char buf[8192];
	struct stat d0 = st(".");

	EXPECT_OK(symlink("target/path", "s"), "symlink of a new name");
	struct stat d1 = st("."), s = lst("s");
	CHECK(S_ISLNK(s.st_mode), "lstat sees a symlink");
	EXPECT_EQ(0777, s.st_mode & 07777, "a symlink's mode is 0777");
	EXPECT_EQ(11, s.st_size, "a symlink's size is its target's length");
	EXPECT_EQ(1, s.st_nlink, "a symlink has one link");
	EXPECT_EQ(11, readlink("s", buf, sizeof(buf)), "readlink returns the target's length");
	CHECK(!memcmp(buf, "target/path", 11), "readlink returns the target");
	EXPECT_EQ(4, readlink("s", buf, 4), "readlink into a short buffer truncates");
	t_later(d0.st_mtim, d1.st_mtim, "symlink moves the directory's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "symlink moves the directory's ctime");

	char *longt = malloc(4097);
	if (!longt)
		bail("malloc");
	memset(longt, 'x', 4096);
	longt[4096] = 0;
	EXPECT_ERR(ENAMETOOLONG, symlink(longt, "l4096"), "a 4096-byte target");
	longt[4095] = 0;
	EXPECT_OK(symlink(longt, "l4095"), "a 4095-byte target");
	EXPECT_EQ(4095, readlink("l4095", buf, sizeof(buf)), "readlink of a 4095-byte target");
	CHECK(!memcmp(buf, longt, 4095), "the 4095-byte target reads back");
	free(longt);

	EXPECT_ERR(ENOENT, symlink("", "empty"), "an empty target");
	EXPECT_ERR(EEXIST, symlink("x", "s"), "onto an existing name");
	EXPECT_ERR(ENAMETOOLONG, symlink("x", name256()), "a 256-byte name");
	EXPECT_ERR(ENOENT, symlink("x", "nodir/s"), "in a missing directory");
	mkfile("f", 0644, "");
	EXPECT_ERR(ENOTDIR, symlink("x", "f/s"), "under a regular file");
	EXPECT_ERR(EINVAL, readlink("f", buf, sizeof(buf)), "readlink of a regular file");

	must(symlink("self", "self"), "symlink self");
	EXPECT_ERR(ELOOP, stat("self", &s), "stat of a symlink to itself");
	/* Linux follows at most 40 symlinks in one lookup */
	char name[32], target[32];
	for (int i = 0; i <= 40; i++) {
		snprintf(name, sizeof(name), "chain%d", i);
		if (i == 0)
			snprintf(target, sizeof(target), "f");
		else
			snprintf(target, sizeof(target), "chain%d", i - 1);
		must(symlink(target, name), "symlink chain");
	}
	EXPECT_OK(stat("chain39", &s), "a chain of 40 symlinks resolves");
	EXPECT_EQ(lst("f").st_ino, s.st_ino, "the chain ends at the file");
	EXPECT_ERR(ELOOP, stat("chain40", &s), "a chain of 41 symlinks");

	fx_dir("sg", 02755, 0, FOREIGN_GID);
	EXPECT_OK(symlink("x", "sg/s"), "symlink in a setgid directory");
	EXPECT_EQ(FOREIGN_GID, lst("sg/s").st_gid, "a symlink in a setgid directory gets its group");

	fx_udir(USER_UID, USER_GID);
	fx_dir("u/rodir", 0555, 0, 0);
	fx_dir("u/sticky", 01777, 0, 0);
	fx_file("u/target", 0644, 0, 0);
	fx_symlink("../target", "u/sticky/by_other", OTHER_UID, OTHER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	struct stat s;

	EXPECT_OK(symlink("x", "mine"), "symlink as the unprivileged user");
	s = lst("mine");
	CHECK(s.st_uid == USER_UID && s.st_gid == USER_GID, "the symlink is owned by the caller's uid and gid");
	EXPECT_ERR(EACCES, symlink("x", "rodir/s"), "symlink in a directory without write permission");
	int prot = read_sysctl("/proc/sys/fs/protected_symlinks");
	if (prot == 1)
		EXPECT_ERR(EACCES, stat("sticky/by_other", &s),
			   "following another user's symlink in a sticky world-writable directory (fs.protected_symlinks=1)");
	else
		EXPECT_OK(stat("sticky/by_other", &s),
			  "following another user's symlink in a sticky directory (fs.protected_symlinks=0)");
	EXPECT_OK(lstat("sticky/by_other", &s), "lstat of that symlink");
}

static void persist(const struct ctx *c)
{
	(void)c;
	char buf[8192];
	EXPECT_EQ(4095, readlink("l4095", buf, sizeof(buf)), "after remount: the 4095-byte target");
}

const struct group g_symlink = { .name = "symlink", .root = root, .user = user, .persist = persist };
