/* SPDX-License-Identifier: MIT */
/* link(2)/linkat(2): link counts, ctime, symlinks, EXDEV, EMLINK and the
 * permission rules. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define LINK_MAX_DAXFS 65000

static void root(const struct ctx *c)
{
	char path[4096];

	mkfile("a", 0644, "content");
	struct stat a0 = lst("a"), d0 = st(".");
	EXPECT_OK(link("a", "b"), "link a file");
	struct stat a1 = lst("a"), b = lst("b"), d1 = st(".");
	EXPECT_EQ(2, a1.st_nlink, "link count is 2");
	EXPECT_EQ(a1.st_ino, b.st_ino, "both names are the same inode");
	t_later(a0.st_ctim, a1.st_ctim, "link moves the inode's ctime");
	CHECK(ts_eq(a0.st_mtim, a1.st_mtim), "link leaves the inode's mtime alone");
	t_later(d0.st_mtim, d1.st_mtim, "link moves the directory's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "link moves the directory's ctime");

	EXPECT_ERR(EEXIST, link("a", "b"), "link onto an existing name");
	EXPECT_ERR(ENOENT, link("missing", "x"), "link of a missing file");
	EXPECT_ERR(ENOENT, link("a", "nodir/x"), "link into a missing directory");
	EXPECT_ERR(ENOTDIR, link("a", "b/x"), "link under a regular file");
	EXPECT_ERR(ENAMETOOLONG, link("a", name256()), "link to a 256-byte name");
	must(mkdir("d", 0755), "mkdir d");
	EXPECT_ERR(EPERM, link("d", "dl"), "link of a directory");
	snprintf(path, sizeof(path), "%s/link-a", c->xdev);
	EXPECT_ERR(EXDEV, link("a", path), "link to another mount");

	must(symlink("a", "s"), "symlink s");
	EXPECT_OK(linkat(AT_FDCWD, "s", AT_FDCWD, "s2", 0), "linkat of a symlink without AT_SYMLINK_FOLLOW");
	CHECK(S_ISLNK(lst("s2").st_mode) && lst("s2").st_ino == lst("s").st_ino, "the new name is the symlink itself");
	EXPECT_EQ(2, lst("s").st_nlink, "the symlink has two links");
	EXPECT_OK(linkat(AT_FDCWD, "s", AT_FDCWD, "t", AT_SYMLINK_FOLLOW), "linkat with AT_SYMLINK_FOLLOW");
	EXPECT_EQ(a1.st_ino, lst("t").st_ino, "AT_SYMLINK_FOLLOW links the target");
	EXPECT_EQ(3, lst("a").st_nlink, "the target has three links");

	must(mkdir("gone", 0755), "mkdir gone");
	int dfd = open("gone", O_RDONLY | O_DIRECTORY);
	must(dfd, "open gone");
	must(rmdir("gone"), "rmdir gone");
	EXPECT_ERR(ENOENT, linkat(AT_FDCWD, "a", dfd, "x", 0), "link into a removed directory");
	close(dfd);

	/* an open file whose last link is gone cannot get a name back */
	mkfile("tmp", 0644, "x");
	int fd = open("tmp", O_RDONLY);
	must(fd, "open tmp");
	must(unlink("tmp"), "unlink tmp");
	EXPECT_ERR(ENOENT, linkat(fd, "", AT_FDCWD, "back", AT_EMPTY_PATH), "linkat of an unlinked open file");
	close(fd);

	/* EMLINK: daxfs allows 65000 links */
	must(mkdir("many", 0755), "mkdir many");
	mkfile("many/t", 0644, "");
	int made = 1;
	for (; made < LINK_MAX_DAXFS; made++) {
		snprintf(path, sizeof(path), "many/l%d", made);
		if (link("many/t", path))
			break;
	}
	EXPECT_EQ(LINK_MAX_DAXFS, made, "65000 links of one file");
	EXPECT_ERR(EMLINK, link("many/t", "many/one-more"), "link number 65001");
	EXPECT_EQ(LINK_MAX_DAXFS, lst("many/t").st_nlink, "link count is 65000");

	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootfile", 0600, 0, 0);
	fx_file("u/mine", 0644, USER_UID, USER_GID);
	fx_dir("u/rodir", 0555, 0, 0);
	fx_dir("u/closed", 0700, 0, 0);
	fx_file("u/closed/f", 0644, USER_UID, USER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_OK(link("mine", "mine2"), "link of the caller's own file");
	EXPECT_EQ(USER_UID, lst("mine2").st_uid, "a new link keeps the owner");
	EXPECT_ERR(EACCES, link("mine", "rodir/x"), "link into a directory without write permission");
	EXPECT_ERR(EACCES, link("closed/f", "y"), "link from a directory without search permission");
	int prot = read_sysctl("/proc/sys/fs/protected_hardlinks");
	if (prot == 1)
		EXPECT_ERR(EPERM, link("rootfile", "stolen"),
			   "link of another user's unreadable file (fs.protected_hardlinks=1)");
	else
		EXPECT_OK(link("rootfile", "stolen"), "link of another user's file (fs.protected_hardlinks=0)");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(LINK_MAX_DAXFS, lst("many/t").st_nlink, "after remount: 65000 links");
	EXPECT_EQ(3, lst("a").st_nlink, "after remount: link count 3");
}

const struct group g_link = { .name = "link", .root = root, .user = user, .persist = persist };
