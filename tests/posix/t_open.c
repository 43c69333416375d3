/* SPDX-License-Identifier: MIT */
/* open(2): O_CREAT/O_EXCL/O_TRUNC/O_APPEND/O_DIRECTORY/O_NOFOLLOW/O_TMPFILE,
 * ownership of new files, and permission errors. */
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static void root(const struct ctx *c)
{
	(void)c;
	struct stat d0 = st("."), s;
	int fd = open("f", O_CREAT | O_EXCL | O_WRONLY, 0666);

	CHECK(fd >= 0, "O_CREAT|O_EXCL of a new name");
	must(fd, "create f");
	must((int)write(fd, "hello", 5), "write f");
	close(fd);
	s = lst("f");
	CHECK(S_ISREG(s.st_mode), "O_CREAT makes a regular file");
	EXPECT_EQ(0644, s.st_mode & 07777, "O_CREAT mode 0666 under umask 022 is 0644");
	EXPECT_EQ(0, s.st_uid, "new file is owned by the caller's uid");
	EXPECT_EQ(0, s.st_gid, "new file has the caller's gid");
	EXPECT_EQ(1, s.st_nlink, "new file has one link");
	struct stat d1 = st(".");
	t_later(d0.st_mtim, d1.st_mtim, "O_CREAT moves the directory's mtime");
	t_later(d0.st_ctim, d1.st_ctim, "O_CREAT moves the directory's ctime");
	EXPECT_EQ(s.st_mtim.tv_sec, s.st_ctim.tv_sec, "new file's mtime and ctime agree (s)");
	EXPECT_EQ(s.st_mtim.tv_nsec, s.st_ctim.tv_nsec, "new file's mtime and ctime agree (ns)");

	EXPECT_ERR(EEXIST, open("f", O_CREAT | O_EXCL | O_WRONLY, 0644), "O_CREAT|O_EXCL on an existing file");
	must(symlink("nowhere", "dangling"), "symlink dangling");
	EXPECT_ERR(EEXIST, open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644),
		   "O_CREAT|O_EXCL on a dangling symlink");
	EXPECT_ERR(ENOENT, open("dangling", O_RDONLY), "a dangling symlink without O_CREAT");
	EXPECT_OK(open("dangling", O_CREAT | O_WRONLY, 0600), "O_CREAT through a dangling symlink");
	CHECK(S_ISREG(lst("nowhere").st_mode), "O_CREAT through a dangling symlink creates its target");
	EXPECT_OK(open("f", O_CREAT | O_WRONLY, 0600), "O_CREAT of an existing file without O_EXCL");
	EXPECT_EQ(0644, perm("f"), "O_CREAT of an existing file leaves its mode alone");
	EXPECT_EQ(5, lst("f").st_size, "O_CREAT of an existing file leaves its data alone");

	EXPECT_ERR(ENOENT, open("missing", O_RDONLY), "a missing name");
	EXPECT_ERR(ENOENT, open("nodir/f", O_CREAT | O_WRONLY, 0644), "O_CREAT in a missing directory");
	EXPECT_ERR(ENOTDIR, open("f/x", O_RDONLY), "a regular file as a path component");
	EXPECT_ERR(ENOTDIR, open("f", O_RDONLY | O_DIRECTORY), "O_DIRECTORY on a regular file");
	must(mkdir("d", 0755), "mkdir d");
	EXPECT_ERR(EISDIR, open("d", O_WRONLY), "a directory for writing");
	EXPECT_ERR(EISDIR, open("d", O_RDWR), "a directory for reading and writing");
	EXPECT_ERR(EISDIR, open("d", O_CREAT | O_WRONLY, 0644), "O_CREAT on an existing directory");
	EXPECT_OK(open("d", O_RDONLY | O_DIRECTORY), "O_DIRECTORY on a directory");

	must(symlink("f", "lf"), "symlink lf");
	EXPECT_ERR(ELOOP, open("lf", O_RDONLY | O_NOFOLLOW), "O_NOFOLLOW on a symlink");
	EXPECT_OK(open("lf", O_RDONLY), "a symlink to a file is followed");
	must(symlink("loop2", "loop1"), "symlink loop1");
	must(symlink("loop1", "loop2"), "symlink loop2");
	EXPECT_ERR(ELOOP, open("loop1", O_RDONLY), "a symlink loop");
	EXPECT_ERR(ELOOP, open("loop1", O_CREAT | O_WRONLY, 0644), "O_CREAT through a symlink loop");
	EXPECT_ERR(ELOOP, open("loop1/x", O_RDONLY), "a symlink loop as a path component");

	EXPECT_OK(open(name255(), O_CREAT | O_WRONLY, 0644), "O_CREAT of a 255-byte name");
	EXPECT_ERR(ENAMETOOLONG, open(name256(), O_CREAT | O_WRONLY, 0644), "O_CREAT of a 256-byte name");
	EXPECT_ERR(ENAMETOOLONG, open(name256(), O_RDONLY), "a 256-byte name");

	/* O_TRUNC empties the file and moves mtime and ctime */
	struct stat f0 = lst("f");
	EXPECT_OK(open("f", O_WRONLY | O_TRUNC), "O_TRUNC of a file with data");
	struct stat f1 = lst("f");
	EXPECT_EQ(0, f1.st_size, "O_TRUNC empties the file");
	t_later(f0.st_mtim, f1.st_mtim, "O_TRUNC moves mtime");
	t_later(f0.st_ctim, f1.st_ctim, "O_TRUNC moves ctime");

	/* O_APPEND writes at the end whatever the offset */
	mkfile("ap", 0644, "abc");
	fd = open("ap", O_WRONLY | O_APPEND);
	must(fd, "open ap O_APPEND");
	lseek(fd, 0, SEEK_SET);
	EXPECT_EQ(3, write(fd, "xyz", 3), "O_APPEND write returns its length");
	EXPECT_EQ(6, lseek(fd, 0, SEEK_CUR), "O_APPEND write leaves the offset at the end");
	close(fd);
	char buf[16] = { 0 };
	fd = open("ap", O_RDONLY);
	must(fd, "open ap");
	EXPECT_EQ(6, read(fd, buf, sizeof(buf)), "file grew by the appended bytes");
	close(fd);
	CHECK(!memcmp(buf, "abcxyz", 6), "O_APPEND data went to the end, not to offset 0");

	/* a name in a directory that was removed */
	must(mkdir("gone", 0755), "mkdir gone");
	int dfd = open("gone", O_RDONLY | O_DIRECTORY);
	must(dfd, "open gone");
	must(rmdir("gone"), "rmdir gone");
	EXPECT_ERR(ENOENT, openat(dfd, "x", O_CREAT | O_WRONLY, 0644), "O_CREAT in a removed directory");
	close(dfd);

	/* O_TMPFILE: the kernel sends FUSE_TMPFILE, libfuse 3.14 has no tmpfile
	 * handler and answers ENOSYS, and the kernel reports EOPNOTSUPP
	 * (README, "Semantics and known limits"). */
	EXPECT_ERR(EOPNOTSUPP, open(".", O_TMPFILE | O_RDWR, 0600),
		   "O_TMPFILE (no tmpfile handler in libfuse 3.14)");
	EXPECT_ERR(EOPNOTSUPP, open(".", O_TMPFILE | O_WRONLY | O_EXCL, 0600),
		   "O_TMPFILE|O_EXCL (no tmpfile handler in libfuse 3.14)");
	EXPECT_ERR(ENOTDIR, open("f", O_TMPFILE | O_RDWR, 0600), "O_TMPFILE on a regular file");

	EXPECT_OK(open("f", O_RDONLY | O_NOATIME), "O_NOATIME by the owner");

	/* fixtures for the unprivileged caller */
	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootonly", 0600, 0, 0);
	fx_file("u/rootfile", 0644, 0, 0);
	fx_file("u/otherfile", 0666, OTHER_UID, OTHER_GID);
	fx_dir("u/closed", 0700, 0, 0);
	fx_file("u/closed/f", 0666, USER_UID, USER_GID);
	fx_dir("u/noexec", 0744, 0, 0);
	fx_file("u/noexec/f", 0666, USER_UID, USER_GID);
	fx_dir("u/rodir", 0555, 0, 0);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EACCES, open("rootonly", O_RDONLY), "read a root-owned 0600 file");
	EXPECT_OK(open("rootfile", O_RDONLY), "read a root-owned 0644 file");
	EXPECT_ERR(EACCES, open("rootfile", O_WRONLY), "write a root-owned 0644 file");
	EXPECT_ERR(EACCES, open("rootfile", O_WRONLY | O_TRUNC), "O_TRUNC of a file without write permission");
	EXPECT_ERR(EACCES, open("rootfile", O_WRONLY | O_APPEND), "O_APPEND of a file without write permission");
	EXPECT_ERR(EACCES, open("closed/f", O_RDONLY), "no search permission on a path component (0700)");
	EXPECT_ERR(EACCES, open("noexec/f", O_RDONLY), "read but no search permission on a path component (0744)");
	EXPECT_ERR(EACCES, open("rodir/new", O_CREAT | O_WRONLY, 0644), "O_CREAT in a directory without write permission");
	EXPECT_ERR(EEXIST, open("rootonly", O_CREAT | O_EXCL | O_WRONLY, 0644),
		   "O_CREAT|O_EXCL on another user's file");
	EXPECT_OK(open("otherfile", O_WRONLY), "write another user's 0666 file");
	EXPECT_ERR(EPERM, open("otherfile", O_RDONLY | O_NOATIME), "O_NOATIME on another user's file");

	EXPECT_OK(open("mine", O_CREAT | O_EXCL | O_WRONLY, 0666), "O_CREAT as the unprivileged user");
	struct stat s = lst("mine");
	EXPECT_EQ(USER_UID, s.st_uid, "new file is owned by the caller's uid");
	EXPECT_EQ(USER_GID, s.st_gid, "new file has the caller's gid");
	EXPECT_EQ(0644, s.st_mode & 07777, "new file's mode under umask 022");
	must(chmod("mine", 0), "chmod mine 0");
	EXPECT_ERR(EACCES, open("mine", O_RDONLY), "the owner without read permission");
	EXPECT_ERR(EACCES, open("mine", O_RDONLY | O_CREAT, 0644), "O_CREAT of an existing file the owner cannot read");
}

const struct group g_open = { .name = "open", .root = root, .user = user };
