/* SPDX-License-Identifier: MIT */
/* chown(2): what is stored, ctime, the set-id bits it clears, and who may
 * change what. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	mkfile("f", 0644, "x");
	struct stat f0 = lst("f");
	EXPECT_OK(chown("f", 1000, 2000), "chown 1000:2000");
	struct stat f1 = lst("f");
	CHECK(f1.st_uid == 1000 && f1.st_gid == 2000, "owner and group stored");
	t_later(f0.st_ctim, f1.st_ctim, "chown moves ctime");
	CHECK(ts_eq(f0.st_mtim, f1.st_mtim), "chown leaves mtime alone");
	EXPECT_OK(chown("f", -1, -1), "chown -1:-1");
	f1 = lst("f");
	CHECK(f1.st_uid == 1000 && f1.st_gid == 2000, "chown -1:-1 changes nothing");

	mkfile("sid", 0755, "x");
	must(chmod("sid", 06755), "chmod sid");
	EXPECT_OK(chown("sid", 1001, -1), "root chowns a setuid+setgid group-executable file");
	EXPECT_EQ(0755, perm("sid"), "chown clears setuid and setgid (even by root)");
	mkfile("sgnox", 0644, "x");
	must(chmod("sgnox", 02644), "chmod sgnox");
	EXPECT_OK(chown("sgnox", 1001, -1), "root chowns a setgid file without group execute");
	EXPECT_EQ(02644, perm("sgnox"), "a setgid bit without group execute stays");
	must(mkdir("d", 0755), "mkdir d");
	must(chmod("d", 02755), "chmod d");
	EXPECT_OK(chown("d", 1001, 1002), "chown of a setgid directory");
	EXPECT_EQ(02755, perm("d"), "a directory keeps its setgid bit");

	must(symlink("f", "s"), "symlink s");
	EXPECT_OK(lchown("s", 7, 8), "lchown of a symlink");
	CHECK(lst("s").st_uid == 7 && lst("f").st_uid == 1000, "lchown changes the symlink, not the target");
	EXPECT_OK(chown("s", 9, -1), "chown through a symlink");
	CHECK(lst("f").st_uid == 9 && lst("s").st_uid == 7, "chown through a symlink changes the target");

	EXPECT_ERR(ENOENT, chown("missing", 0, 0), "a missing name");
	EXPECT_ERR(ENOTDIR, chown("f/x", 0, 0), "under a regular file");
	EXPECT_ERR(ENAMETOOLONG, chown(name256(), 0, 0), "a 256-byte name");

	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootfile", 0666, 0, 0);
	fx_file("u/mine", 0644, USER_UID, FOREIGN_GID);
	fx_file("u/mine_sid", 06755, USER_UID, FOREIGN_GID);
	fx_dir("u/closed", 0700, 0, 0);
	fx_file("u/closed/f", 0644, USER_UID, USER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EPERM, chown("mine", 0, -1), "give the caller's file to root");
	EXPECT_ERR(EPERM, chown("mine", OTHER_UID, -1), "give the caller's file to another user");
	EXPECT_ERR(EPERM, chown("mine", -1, FOREIGN_GID + 1), "chgrp to a group the caller is not in");
	EXPECT_ERR(EPERM, chown("rootfile", -1, USER_GID), "chgrp of another user's file");
	EXPECT_ERR(EPERM, chown("rootfile", USER_UID, -1), "take another user's file");
	EXPECT_OK(chown("mine", USER_UID, -1), "chown to the owner it already has");
	EXPECT_OK(chown("mine", -1, USER_GID), "chgrp to the caller's own group");
	EXPECT_EQ(USER_GID, lst("mine").st_gid, "the group changed");
	EXPECT_OK(chown("mine_sid", -1, USER_GID), "chgrp of the caller's setuid+setgid file");
	EXPECT_EQ(0755, perm("mine_sid"), "chown by the owner clears setuid and setgid");
	EXPECT_ERR(EACCES, chown("closed/f", -1, USER_GID), "chown below a directory without search permission");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(0755, perm("sid"), "after remount: the cleared set-id bits");
	struct stat s = lst("u/mine_sid");
	CHECK(s.st_gid == USER_GID && (s.st_mode & 07777) == 0755, "after remount: the user's chgrp");
}

const struct group g_chown = { .name = "chown", .root = root, .user = user, .persist = persist };
