/* SPDX-License-Identifier: MIT */
/* truncate(2)/ftruncate(2) and the set-id bits a write, truncate, fallocate
 * or copy_file_range clears: sizes, zero fill, times, EFBIG at 256 GiB, the
 * errors. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The mode as the kernel has it cached: statx asking for the mode alone
 * does not refresh attributes that a write left valid, so it shows whether
 * the kernel was told of a change the daemon made on its own. */
static mode_t cached_perm(int fd)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MODE, &sx))
		bail("statx: %s", strerror(errno));
	return sx.stx_mode & 07777;
}

/* Each change by a caller without CAP_FSETID outside the file's group
 * (Linux >= 6.2, setattr_should_drop_sgid) on a file of its own. */
static const struct {
	const char *file, *what;
	int mode; /* fallocate mode; -1: a write */
} sgid_changes[] = {
	{ "sg_write", "a write", -1 },
	{ "sg_falloc", "a fallocate", 0 },
	{ "sg_punch", "a punch hole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE },
	{ "sg_zero", "a zero range", FALLOC_FL_ZERO_RANGE },
};
#define N_SGID_CHANGES (sizeof(sgid_changes) / sizeof(sgid_changes[0]))

static long sgid_change(int fd, int mode)
{
	if (mode < 0)
		return pwrite(fd, "y", 1, 0) == 1 ? 0 : -1;
	return fallocate(fd, mode, 0, 4096);
}

static void root(const struct ctx *c)
{
	(void)c;
	char buf[8192];

	mkfile("f", 0644, "0123456789");
	struct stat f0 = lst("f");
	EXPECT_OK(truncate("f", 4), "shrink to 4 bytes");
	struct stat f1 = lst("f");
	EXPECT_EQ(4, f1.st_size, "size is 4");
	t_later(f0.st_mtim, f1.st_mtim, "truncate moves mtime");
	t_later(f0.st_ctim, f1.st_ctim, "truncate moves ctime");
	EXPECT_OK(truncate("f", 8192), "grow to 8192 bytes");
	EXPECT_EQ(8192, lst("f").st_size, "size is 8192");
	int fd = open("f", O_RDONLY);
	must(fd, "open f");
	EXPECT_EQ(8192, pread(fd, buf, sizeof(buf), 0), "read the grown file");
	close(fd);
	bool zero = true;
	for (int i = 4; i < 8192; i++)
		zero = zero && buf[i] == 0;
	CHECK(!memcmp(buf, "0123", 4) && zero, "old bytes kept, new bytes read as zeros");

	fd = open("f", O_RDONLY);
	must(fd, "open f");
	EXPECT_ERR(EINVAL, ftruncate(fd, 0), "ftruncate of a descriptor open for reading");
	close(fd);
	fd = open("f", O_WRONLY);
	must(fd, "open f");
	f0 = lst("f");
	EXPECT_OK(ftruncate(fd, 100), "ftruncate");
	f1 = lst("f");
	EXPECT_EQ(100, f1.st_size, "ftruncate's size");
	t_later(f0.st_ctim, f1.st_ctim, "ftruncate moves ctime");
	EXPECT_ERR(EFBIG, ftruncate(fd, MAX_FILE + 1), "ftruncate past 256 GiB");
	close(fd);

	EXPECT_OK(truncate("f", MAX_FILE), "truncate to exactly 256 GiB");
	EXPECT_EQ(MAX_FILE, lst("f").st_size, "size is 256 GiB");
	CHECK(lst("f").st_blocks < 64, "a sparse 256 GiB file takes (almost) no blocks");
	EXPECT_ERR(EFBIG, truncate("f", MAX_FILE + 1), "truncate past 256 GiB");
	EXPECT_ERR(EFBIG, truncate("f", MAX_FILE * 2), "truncate to 512 GiB");
	fd = open("f", O_WRONLY);
	must(fd, "open f");
	EXPECT_ERR(EFBIG, pwrite(fd, "x", 1, MAX_FILE), "pwrite at offset 256 GiB");
	EXPECT_EQ(1, pwrite(fd, "x", 1, MAX_FILE - 1), "pwrite of the last byte below 256 GiB");
	close(fd);
	EXPECT_EQ(MAX_FILE, lst("f").st_size, "size still 256 GiB");

	EXPECT_ERR(EINVAL, truncate("f", -1), "a negative length");
	must(mkdir("d", 0755), "mkdir d");
	EXPECT_ERR(EISDIR, truncate("d", 0), "truncate of a directory");
	must(mkfifo("fifo", 0644), "mkfifo");
	EXPECT_ERR(EINVAL, truncate("fifo", 0), "truncate of a fifo");
	EXPECT_ERR(ENOENT, truncate("missing", 0), "a missing name");
	EXPECT_ERR(ENOTDIR, truncate("f/x", 0), "under a regular file");
	EXPECT_ERR(ENAMETOOLONG, truncate(name256(), 0), "a 256-byte name");
	mkfile("t", 0644, "abcdef");
	must(symlink("t", "s"), "symlink s");
	EXPECT_OK(truncate("s", 2), "truncate through a symlink");
	EXPECT_EQ(2, lst("t").st_size, "truncate through a symlink changes the target");

	/* root (CAP_FSETID) keeps set-id bits on write and truncate */
	mkfile("rsid", 0755, "x");
	must(chmod("rsid", 06755), "chmod rsid");
	fd = open("rsid", O_WRONLY);
	must(fd, "open rsid");
	EXPECT_EQ(1, write(fd, "y", 1), "root writes a setuid+setgid file");
	close(fd);
	EXPECT_EQ(06755, perm("rsid"), "a write by root keeps setuid and setgid");
	EXPECT_OK(truncate("rsid", 0), "root truncates it");
	EXPECT_EQ(06755, perm("rsid"), "a truncate by root keeps setuid and setgid");
	fd = open("rsid", O_RDWR);
	must(fd, "open rsid");
	EXPECT_OK(fallocate(fd, 0, 0, 8192), "root fallocates a setuid+setgid file");
	EXPECT_EQ(06755, perm("rsid"), "a fallocate by root keeps setuid and setgid");
	int src = open("t", O_RDONLY);
	must(src, "open t");
	loff_t in = 0, out = 0;
	EXPECT_EQ(2, copy_file_range(src, &in, fd, &out, 2, 0), "root copy_file_range into it");
	close(src);
	close(fd);
	EXPECT_EQ(06755, perm("rsid"), "a copy_file_range by root keeps setuid and setgid");

	fx_udir(USER_UID, USER_GID);
	fx_file("u/rootfile", 0644, 0, 0);
	fx_file("u/other_rw", 0666, OTHER_UID, OTHER_GID);
	fx_file("u/other_sid", 06777, OTHER_UID, OTHER_GID);
	fx_file("u/other_sgnox", 02666, OTHER_UID, OTHER_GID);
	fx_file("u/mine", 0644, USER_UID, USER_GID);
	char path[64];
	for (size_t i = 0; i < N_SGID_CHANGES; i++) {
		snprintf(path, sizeof(path), "u/%s", sgid_changes[i].file);
		fx_file(path, 02666, OTHER_UID, OTHER_GID);
		snprintf(path, sizeof(path), "u/%s_member", sgid_changes[i].file);
		fx_file(path, 02666, OTHER_UID, USER_GID);
	}
	fx_file("u/sid_cached", 04666, OTHER_UID, OTHER_GID);
}

static void user(const struct ctx *c)
{
	(void)c;
	EXPECT_ERR(EACCES, truncate("rootfile", 0), "truncate of a file without write permission");
	EXPECT_OK(truncate("other_rw", 3), "truncate of another user's writable file");
	EXPECT_EQ(3, lst("other_rw").st_size, "its size changed");

	int fd = open("other_sid", O_WRONLY);
	must(fd, "open other_sid");
	EXPECT_EQ(1, write(fd, "y", 1), "write another user's setuid+setgid 06777 file");
	close(fd);
	EXPECT_EQ(0777, perm("other_sid"), "the write cleared setuid and setgid");
	fd = open("other_sgnox", O_WRONLY);
	must(fd, "open other_sgnox");
	EXPECT_EQ(1, write(fd, "y", 1), "write another user's setgid file without group execute");
	close(fd);
	EXPECT_EQ(0666, perm("other_sgnox"), "a writer outside the file's group clears a setgid bit without group execute");

	char path[64];
	for (size_t i = 0; i < N_SGID_CHANGES; i++) {
		const char *f = sgid_changes[i].file, *what = sgid_changes[i].what;
		fd = open(f, O_RDWR);
		must(fd, f);
		EXPECT_EQ(02666, cached_perm(fd), "%s: setgid 02666, group of another user", f);
		EXPECT_OK(sgid_change(fd, sgid_changes[i].mode), "%s by a caller outside the group", what);
		EXPECT_EQ(0666, cached_perm(fd), "%s cleared setgid, and the kernel's cached mode shows it at once", what);
		close(fd);
		EXPECT_EQ(0666, perm(f), "%s cleared setgid (stat)", what);
		snprintf(path, sizeof(path), "%s_member", f);
		fd = open(path, O_RDWR);
		must(fd, path);
		EXPECT_OK(sgid_change(fd, sgid_changes[i].mode), "%s by a member of the file's group", what);
		close(fd);
		EXPECT_EQ(02666, perm(path), "%s by a group member keeps setgid without group execute", what);
	}
	fd = open("sid_cached", O_WRONLY);
	must(fd, "open sid_cached");
	EXPECT_EQ(04666, cached_perm(fd), "sid_cached: setuid 04666");
	EXPECT_EQ(1, write(fd, "y", 1), "write a setuid file");
	EXPECT_EQ(0666, cached_perm(fd), "the kernel's cached mode loses setuid at once");
	close(fd);

	must(chmod("mine", 06755), "chmod mine");
	EXPECT_OK(truncate("mine", 1), "the owner truncates a setuid+setgid file");
	EXPECT_EQ(0755, perm("mine"), "truncate cleared setuid and setgid");
	must(chmod("mine", 04755), "chmod mine");
	fd = open("mine", O_WRONLY);
	must(fd, "open mine");
	EXPECT_OK(ftruncate(fd, 0), "ftruncate of a setuid file");
	EXPECT_EQ(0755, perm("mine"), "ftruncate cleared setuid");
	must(fchmod(fd, 04755), "fchmod mine");
	EXPECT_EQ(2, pwrite(fd, "ab", 2, 0), "pwrite to a setuid file");
	EXPECT_EQ(0755, perm("mine"), "the write cleared setuid");
	close(fd);

	/* fallocate and copy_file_range tell the daemon nothing about the
	 * caller's CAP_FSETID, yet must clear the bits too */
	must(chmod("mine", 06755), "chmod mine");
	fd = open("mine", O_RDWR);
	must(fd, "open mine");
	EXPECT_OK(fallocate(fd, 0, 0, 8192), "fallocate of a setuid+setgid file");
	EXPECT_EQ(0755, perm("mine"), "fallocate cleared setuid and setgid");
	must(fchmod(fd, 04755), "fchmod mine");
	int src = open("other_rw", O_RDONLY);
	must(src, "open other_rw");
	loff_t in = 0, out = 0;
	EXPECT_EQ(3, copy_file_range(src, &in, fd, &out, 3, 0), "copy_file_range into a setuid file");
	close(src);
	close(fd);
	EXPECT_EQ(0755, perm("mine"), "copy_file_range cleared setuid");
}

static void persist(const struct ctx *c)
{
	(void)c;
	EXPECT_EQ(MAX_FILE, lst("f").st_size, "after remount: a 256 GiB file");
	EXPECT_EQ(0777, perm("u/other_sid"), "after remount: set-id bits cleared by a write");
	EXPECT_EQ(0666, perm("u/sg_punch"), "after remount: setgid cleared by a punch hole");
	EXPECT_EQ(02666, perm("u/sg_punch_member"), "after remount: a group member's punch kept setgid");
}

const struct group g_truncate = { .name = "truncate", .root = root, .user = user, .persist = persist };
