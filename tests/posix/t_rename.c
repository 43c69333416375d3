/* SPDX-License-Identifier: MIT */
/* rename(2)/renameat2(2) as POSIX rules: ".." and link counts of moved
 * directories (seen through stat, not readdir), times, EXDEV, the error
 * cases, the sticky bit and the write permission a moved directory needs.
 * (tests/integration/rename.sh covers the renameat2 flags and readdir.) */
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static ino_t ino(const char *p)
{
	return lst(p).st_ino;
}

static nlink_t nl(const char *p)
{
	return lst(p).st_nlink;
}

static void root(const struct ctx *c)
{
	char path[4096];

	must(mkdir("A", 0755), "mkdir A");
	must(mkdir("B", 0755), "mkdir B");
	must(mkdir("A/d", 0755), "mkdir A/d");
	must(mkdir("A/d/sub", 0755), "mkdir A/d/sub");
	mkfile("B/bmark", 0644, "");
	struct stat a0 = st("A"), b0 = st("B"), m0 = lst("A/d");
	EXPECT_OK(rename("A/d", "B/d"), "a directory to another parent");
	struct stat a1 = st("A"), b1 = st("B"), m1 = lst("B/d");
	EXPECT_EQ(2, a1.st_nlink, "the old parent loses a link");
	EXPECT_EQ(3, b1.st_nlink, "the new parent gains a link");
	EXPECT_EQ(3, m1.st_nlink, "the moved directory keeps its link count");
	EXPECT_EQ(b1.st_ino, ino("B/d/.."), "stat of the moved directory's .. is the new parent");
	EXPECT_EQ(m1.st_ino, ino("B/d/sub/.."), "stat of a child's .. is still the moved directory");
	EXPECT_OK(access("B/d/../bmark", F_OK), "a path through the moved directory's .. reaches the new parent");
	t_later(m0.st_ctim, m1.st_ctim, "rename moves the moved inode's ctime");
	t_later(a0.st_mtim, a1.st_mtim, "rename moves the old parent's mtime");
	t_later(a0.st_ctim, a1.st_ctim, "rename moves the old parent's ctime");
	t_later(b0.st_mtim, b1.st_mtim, "rename moves the new parent's mtime");
	t_later(b0.st_ctim, b1.st_ctim, "rename moves the new parent's ctime");
	CHECK(ts_eq(m0.st_mtim, m1.st_mtim), "rename leaves the moved directory's mtime alone");

	EXPECT_OK(rename("B/d", "B/e"), "a directory within its parent");
	EXPECT_EQ(3, nl("B"), "the parent's link count is unchanged");
	EXPECT_EQ(ino("B"), ino("B/e/.."), ".. is unchanged");

	must(mkdir("A/empty", 0755), "mkdir A/empty");
	EXPECT_OK(rename("B/e", "A/empty"), "a directory over an empty directory in another parent");
	EXPECT_EQ(3, nl("A"), "the target's parent: one subdirectory replaced by another");
	EXPECT_EQ(2, nl("B"), "the source's parent loses a link");
	EXPECT_EQ(ino("A"), ino("A/empty/.."), ".. of the moved directory");
	must(mkdir("A/full", 0755), "mkdir A/full");
	must(mkdir("A/full/x", 0755), "mkdir A/full/x");
	EXPECT_OK(rename("A/empty", "A/full/x"), "a directory over an empty directory one level down");
	EXPECT_EQ(3, nl("A"), "its old parent loses a link");
	EXPECT_EQ(3, nl("A/full"), "its new parent has the same number of subdirectories");
	EXPECT_EQ(ino("A/full"), ino("A/full/x/.."), ".. after moving down");

	must(mkdir("C", 0755), "mkdir C");
	mkfile("C/f", 0644, "");
	must(mkdir("N", 0755), "mkdir N");
	mkfile("N/g", 0644, "");
	EXPECT_ERR(ENOTEMPTY, rename("C", "N"), "a directory over a non-empty directory");
	EXPECT_ERR(EISDIR, rename("C/f", "N"), "a file over a directory");
	EXPECT_ERR(ENOTDIR, rename("C", "N/g"), "a directory over a file");
	EXPECT_ERR(EINVAL, rename("A", "A/full/x/into"), "a directory into its own subtree");
	EXPECT_ERR(EINVAL, rename("A", "A/into"), "a directory into itself");
	EXPECT_ERR(ENOENT, rename("missing", "x"), "a missing source");
	EXPECT_ERR(ENOENT, rename("C/f", "nodir/f"), "into a missing directory");
	EXPECT_ERR(ENOTDIR, rename("C/f/x", "y"), "a source under a regular file");
	EXPECT_ERR(ENOTDIR, rename("C/f", "N/g/y"), "a target under a regular file");
	EXPECT_ERR(ENAMETOOLONG, rename("C/f", name256()), "to a 256-byte name");
	EXPECT_ERR(EBUSY, rename("A/.", "Z"), "rename of A/.");
	snprintf(path, sizeof(path), "%s/rename-f", c->xdev);
	EXPECT_ERR(EXDEV, rename("C/f", path), "a file to another mount");
	snprintf(path, sizeof(path), "%s/rename-d", c->xdev);
	EXPECT_ERR(EXDEV, rename("C", path), "a directory to another mount");

	/* a file over a file: the replaced inode loses its link */
	mkfile("src", 0644, "new");
	mkfile("victim", 0644, "old");
	int fd = open("victim", O_RDONLY);
	must(fd, "open victim");
	struct stat v0;
	must(fstat(fd, &v0), "fstat victim");
	EXPECT_OK(rename("src", "victim"), "a file over a file");
	struct stat v1;
	must(fstat(fd, &v1), "fstat victim");
	EXPECT_EQ(0, v1.st_nlink, "the replaced file has no links");
	t_later(v0.st_ctim, v1.st_ctim, "the replaced file's ctime moves");
	close(fd);
	mkfile("h1", 0644, "");
	must(link("h1", "h2"), "link h1 h2");
	mkfile("src2", 0644, "");
	EXPECT_OK(rename("src2", "h2"), "a file over one of two links");
	EXPECT_EQ(1, nl("h1"), "the replaced inode keeps its other link");

	/* RENAME_EXCHANGE and link counts */
	must(mkdir("P", 0755), "mkdir P");
	must(mkdir("P/x", 0755), "mkdir P/x");
	must(mkdir("Q", 0755), "mkdir Q");
	mkfile("Q/f", 0644, "");
	EXPECT_OK(renameat2(AT_FDCWD, "P/x", AT_FDCWD, "Q/f", RENAME_EXCHANGE),
		  "RENAME_EXCHANGE of a directory and a file in another parent");
	EXPECT_EQ(2, nl("P"), "the directory's old parent loses a link");
	EXPECT_EQ(3, nl("Q"), "the directory's new parent gains a link");
	EXPECT_EQ(ino("Q"), ino("Q/f/.."), ".. of the exchanged directory");
	must(mkdir("P/y", 0755), "mkdir P/y");
	must(mkdir("P/y/z", 0755), "mkdir P/y/z");
	EXPECT_OK(renameat2(AT_FDCWD, "P/y", AT_FDCWD, "Q/f", RENAME_EXCHANGE),
		  "RENAME_EXCHANGE of two directories in different parents");
	EXPECT_EQ(3, nl("P"), "link counts of both parents unchanged (P)");
	EXPECT_EQ(3, nl("Q"), "link counts of both parents unchanged (Q)");
	EXPECT_EQ(ino("P"), ino("P/y/.."), ".. of the directory now in P");
	EXPECT_EQ(ino("Q"), ino("Q/f/.."), ".. of the directory now in Q");
	EXPECT_EQ(ino("Q/f"), ino("Q/f/z/.."), ".. of a child of an exchanged directory");

	/* fixtures */
	fx_udir(USER_UID, USER_GID);
	fx_dir("u/sticky", 01777, 0, 0);
	fx_file("u/sticky/by_other", 0666, OTHER_UID, OTHER_GID);
	fx_file("u/sticky/victim_other", 0666, OTHER_UID, OTHER_GID);
	fx_dir("u/rodir", 0755, 0, 0);
	fx_file("u/rodir/f", 0666, USER_UID, USER_GID);
	fx_dir("u/pubA", 0777, 0, 0);
	fx_dir("u/pubA/rootdir", 0755, 0, 0);
	fx_dir("u/pubB", 0777, 0, 0);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EPERM, rename("sticky/by_other", "sticky/x"), "another user's file out of its name in a sticky directory");
	EXPECT_ERR(EPERM, rename("sticky/by_other", "x"), "another user's file out of a sticky directory");
	EXPECT_OK(creat("mine", 0644), "creat mine");
	EXPECT_ERR(EPERM, rename("mine", "sticky/victim_other"), "over another user's file in a sticky directory");
	EXPECT_OK(rename("mine", "sticky/mine"), "the caller's own file into a sticky directory");
	EXPECT_OK(rename("sticky/mine", "mine"), "the caller's own file out of a sticky directory");
	EXPECT_ERR(EACCES, rename("rodir/f", "f"), "out of a directory without write permission");
	EXPECT_ERR(EACCES, rename("mine", "rodir/mine"), "into a directory without write permission");
	EXPECT_ERR(EACCES, rename("pubA/rootdir", "pubB/rootdir"),
		   "a directory the caller cannot write to another parent (its .. would change)");
	EXPECT_OK(rename("pubA/rootdir", "pubA/rootdir2"), "the same directory within its parent");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(3, nl("A"), "after remount: link count of A");
	EXPECT_EQ(2, nl("B"), "after remount: link count of B");
	EXPECT_EQ(3, nl("A/full"), "after remount: link count of A/full");
	EXPECT_EQ(ino("A/full"), ino("A/full/x/.."), "after remount: .. of a moved directory");
	EXPECT_EQ(ino("Q"), ino("Q/f/.."), "after remount: .. of an exchanged directory");
	EXPECT_EQ(ino("P"), ino("P/y/.."), "after remount: .. of the other exchanged directory");
}

const struct group g_rename = { .name = "rename", .root = root, .user = user, .persist = persist };
