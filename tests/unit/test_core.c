/* SPDX-License-Identifier: MIT */
/* In-process tests of the core library: operations, their error cases,
 * persistence across remounts, crash recovery (orphans, the undo log) and
 * the range conventions of the removal protocol. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "../../fs/block_map.h"
#include "../../fs/daxfs_ioctl.h"
#include "../../fs/fault.h"
#include "../../fs/super.h"
#include "check.h"
#include "test_pool.h"

static char dir[] = "/dev/shm/daxfs-core-XXXXXX";
static const struct daxfs_cred root_cred = { 0 };

static uint64_t free_inodes(struct daxfs *fs)
{
	struct daxfs_statfs st;

	daxfs_statfs(fs, &st);
	return st.free_inodes;
}

static uint64_t create_file(struct daxfs *fs, uint64_t parent, const char *name)
{
	struct daxfs_attr a;
	int rc = daxfs_mknod(fs, &root_cred, parent, name, S_IFREG | 0644, 0, &a);

	CHECK_EQ(rc, 0);
	return rc ? 0 : a.ino;
}

static void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed * 31 + i * 7 + (i >> 12));
}

static void test_files(struct daxfs *fs)
{
	static char buf[3 * 4096 + 100], back[sizeof(buf)];
	struct daxfs_attr a;

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "f");
	fill(buf, sizeof(buf), 1);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), sizeof(buf));
	CHECK(memcmp(buf, back, sizeof(buf)) == 0);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, sizeof(buf));
	CHECK_EQ(a.blocks, 4 * 8 + 8); /* 4 data blocks and one index block */

	/* A write far past EOF leaves a hole that reads as zeros. */
	CHECK_EQ(daxfs_write(fs, ino, "x", 1, 10 << 20, false), 1);
	CHECK_EQ(daxfs_read(fs, ino, back, 4096, 5 << 20), 4096);
	char zeros[4096] = { 0 };
	CHECK(memcmp(back, zeros, 4096) == 0);

	/* Append goes to EOF whatever the offset says. */
	CHECK_EQ(daxfs_write(fs, ino, "yz", 2, 0, true), 2);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, (10 << 20) + 3);

	/* Shrink into a block, then grow: the old tail must read as zeros. */
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 100 };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	sa.size = 8192;
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	CHECK_EQ(daxfs_read(fs, ino, back, 8192, 0), 8192);
	CHECK(memcmp(back, buf, 100) == 0);
	CHECK(memcmp(back + 100, zeros, 4096 - 100) == 0);
	CHECK(memcmp(back + 4096, zeros, 4096) == 0);

	sa.size = (256ULL << 30) + 1;
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), -EFBIG);
	CHECK_EQ(daxfs_write(fs, ino, "a", 1, 256ULL << 30, false), -EFBIG);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "f"), 0);
	daxfs_forget(fs, ino, 1);
}

/* DAXFS_SET_KILL_SUIDGID: set-user-ID always goes, set-group-ID only with
 * group execute, a directory keeps both; daxfs_kill_suidgid is the same for a
 * write and leaves ctime alone when there is nothing to clear. */
static void test_kill_suidgid(struct daxfs *fs)
{
	static const struct {
		mode_t mode, after;
	} cases[] = { { 06755, 0755 }, { 04644, 0644 }, { 02644, 02644 }, { 02710, 0710 } };
	struct daxfs_setattr sa = { .valid = DAXFS_SET_MODE };
	struct daxfs_attr a, b;

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "sid");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sa.valid = DAXFS_SET_MODE;
		sa.mode = cases[i].mode;
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		CHECK_EQ(daxfs_kill_suidgid(fs, ino, NULL), 0);
		CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
		CHECK_EQ(a.mode & 07777, cases[i].after);
		sa.mode = cases[i].mode;
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		sa.valid = DAXFS_SET_UID | DAXFS_SET_KILL_SUIDGID;
		sa.uid = 7;
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		CHECK_EQ(a.mode & 07777, cases[i].after);
		CHECK_EQ(a.uid, 7);
	}
	sa = (struct daxfs_setattr){ .valid = DAXFS_SET_MODE, .mode = 0644 };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	usleep(2000);
	CHECK_EQ(daxfs_kill_suidgid(fs, ino, NULL), 0);
	CHECK_EQ(daxfs_getattr(fs, ino, &b), 0);
	CHECK(a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec);

	/* Linux >= 6.2: without group execute, set-group-ID goes from a
	 * writer without CAP_FSETID outside the file's group (gid 0 here), and
	 * stays for a member, by its filesystem gid or a supplementary one. */
	static const gid_t member_groups[] = { 5, 0 };
	const struct daxfs_cred outsider = { .uid = 7, .gid = 7, .lacks_fsetid = true };
	const struct daxfs_cred member = { .uid = 7, .gid = 7, .lacks_fsetid = true,
					   .groups = member_groups, .ngroups = 2 };
	const struct daxfs_cred capable = { .uid = 7, .gid = 7 };
	const struct {
		const struct daxfs_cred *cr;
		mode_t after;
	} who[] = { { &outsider, 0644 }, { &member, 02644 }, { &capable, 02644 } };
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		sa = (struct daxfs_setattr){ .valid = DAXFS_SET_MODE, .mode = 02644 };
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		CHECK_EQ(daxfs_kill_suidgid(fs, ino, who[i].cr), 0);
		CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
		CHECK_EQ(a.mode & 07777, who[i].after);
		/* a chown is judged on the group before it */
		sa = (struct daxfs_setattr){ .valid = DAXFS_SET_MODE, .mode = 02644 };
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		sa = (struct daxfs_setattr){ .valid = DAXFS_SET_GID | DAXFS_SET_KILL_SUIDGID,
					     .gid = 7, .kill_cred = who[i].cr };
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		CHECK_EQ(a.mode & 07777, who[i].after);
		sa = (struct daxfs_setattr){ .valid = DAXFS_SET_GID, .gid = 0 };
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	}
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "sid"), 0);
	daxfs_forget(fs, ino, 1);

	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "sgdir", 02755, &a), 0);
	sa = (struct daxfs_setattr){ .valid = DAXFS_SET_GID | DAXFS_SET_KILL_SUIDGID, .gid = 9 };
	CHECK_EQ(daxfs_setattr(fs, a.ino, &sa, &b), 0);
	CHECK_EQ(b.mode & 07777, 02755);
	CHECK_EQ(daxfs_rmdir(fs, DAXFS_ROOT_INO, "sgdir"), 0);
	daxfs_forget(fs, a.ino, 1);
}

/* chattr +i/+a are the core's to enforce (under FUSE the kernel never sees
 * them), and daxfs_touch_atime follows relatime. */
static void test_flags_and_atime(struct daxfs *fs)
{
	struct daxfs_attr a;
	unsigned flags = 1;
	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "fl");
	uint64_t keep = create_file(fs, DAXFS_ROOT_INO, "other");

	CHECK_EQ(daxfs_write(fs, ino, "abc", 3, 0, false), 3);
	CHECK_EQ(daxfs_get_flags(fs, ino, &flags), 0);
	CHECK_EQ(flags, 0);
	CHECK_EQ(daxfs_set_flags(fs, ino, FS_NODUMP_FL), -EOPNOTSUPP);
	CHECK_EQ(daxfs_set_flags(fs, ino, FS_IMMUTABLE_FL), 0);
	CHECK_EQ(daxfs_get_flags(fs, ino, &flags), 0);
	CHECK_EQ(flags, FS_IMMUTABLE_FL);
	CHECK_EQ(daxfs_open(fs, ino, O_WRONLY), -EPERM);
	CHECK_EQ(daxfs_write(fs, ino, "x", 1, 0, false), -EPERM);
	CHECK_EQ(daxfs_write(fs, ino, "x", 1, 0, true), -EPERM);
	CHECK_EQ(daxfs_fallocate(fs, ino, 0, 0, 4096), -EPERM);
	struct daxfs_setattr sa = { .valid = DAXFS_SET_MTIME | DAXFS_SET_MTIME_NOW };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), -EPERM);
	CHECK_EQ(daxfs_link(fs, ino, DAXFS_ROOT_INO, "fl2", &a), -EPERM);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "fl", DAXFS_ROOT_INO, "fl3", 0), -EPERM);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "other", DAXFS_ROOT_INO, "fl", 0), -EPERM);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "fl"), -EPERM);
	CHECK_EQ(daxfs_open(fs, ino, O_RDONLY), 0);
	daxfs_release(fs, ino);

	CHECK_EQ(daxfs_set_flags(fs, ino, FS_APPEND_FL), 0);
	CHECK_EQ(daxfs_open(fs, ino, O_WRONLY), -EPERM);
	CHECK_EQ(daxfs_open(fs, ino, O_WRONLY | O_APPEND | O_TRUNC), -EPERM);
	CHECK_EQ(daxfs_open(fs, ino, O_WRONLY | O_APPEND), 0);
	daxfs_release(fs, ino);
	CHECK_EQ(daxfs_write(fs, ino, "x", 1, 0, false), -EPERM);
	CHECK_EQ(daxfs_write(fs, ino, "de", 2, 0, true), 2);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, 5);
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0); /* "now" is allowed */
	sa = (struct daxfs_setattr){ .valid = DAXFS_SET_SIZE, .size = 0 };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), -EPERM);
	sa = (struct daxfs_setattr){ .valid = DAXFS_SET_MODE, .mode = 0600 };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), -EPERM);
	CHECK_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), -EPERM);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "fl"), -EPERM);

	/* a directory: append-only gains entries but loses none */
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "fd", 0755, &a), 0);
	uint64_t d = a.ino;
	CHECK_EQ(daxfs_set_flags(fs, d, FS_APPEND_FL), 0);
	uint64_t in = create_file(fs, d, "in");
	CHECK(in != 0);
	CHECK_EQ(daxfs_unlink(fs, d, "in"), -EPERM);
	CHECK_EQ(daxfs_rename(fs, d, "in", DAXFS_ROOT_INO, "out", 0), -EPERM);
	CHECK_EQ(daxfs_set_flags(fs, d, FS_IMMUTABLE_FL), 0);
	CHECK_EQ(daxfs_mknod(fs, &root_cred, d, "new", S_IFREG | 0644, 0, &a), -EPERM);
	CHECK_EQ(daxfs_mknod(fs, &root_cred, d, "in", S_IFREG | 0644, 0, &a), -EEXIST);
	CHECK_EQ(daxfs_set_flags(fs, d, 0), 0);
	CHECK_EQ(daxfs_unlink(fs, d, "in"), 0);
	daxfs_forget(fs, in, 1);
	CHECK_EQ(daxfs_rmdir(fs, DAXFS_ROOT_INO, "fd"), 0);
	daxfs_forget(fs, d, 1);

	/* relatime: an atime not later than mtime moves, a fresh one stays */
	CHECK_EQ(daxfs_set_flags(fs, ino, 0), 0);
	sa = (struct daxfs_setattr){ .valid = DAXFS_SET_ATIME | DAXFS_SET_MTIME,
				     .atime = { 1000, 0 }, .mtime = { 2000, 0 } };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	daxfs_touch_atime(fs, ino);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK(a.atime.tv_sec > 2000);
	struct timespec fresh = a.atime;
	daxfs_touch_atime(fs, ino);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK(a.atime.tv_sec == fresh.tv_sec && a.atime.tv_nsec == fresh.tv_nsec);
	/* an immutable inode's atime stays */
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	CHECK_EQ(daxfs_set_flags(fs, ino, FS_IMMUTABLE_FL), 0);
	daxfs_touch_atime(fs, ino);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.atime.tv_sec, 1000);
	CHECK_EQ(daxfs_set_flags(fs, ino, 0), 0);

	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "fl"), 0);
	daxfs_forget(fs, ino, 1);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "other"), 0);
	daxfs_forget(fs, keep, 1);
}

/* The removal protocol's range conventions: length 0, to EOF, partial last
 * block, past EOF (a FUSE DAX path once took 0 to mean "nothing"). */
static void test_ranges(struct daxfs *fs)
{
	static char buf[8 * 4096], back[sizeof(buf)];
	char zeros[4096] = { 0 };
	struct daxfs_attr a;
	uint64_t before = free_blocks(fs);

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "r");
	fill(buf, sizeof(buf), 2);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK_EQ(before - free_blocks(fs), 9);

	int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	CHECK_EQ(daxfs_fallocate(fs, ino, punch, 4096, 0), -EINVAL);
	CHECK_EQ(before - free_blocks(fs), 9);
	/* Inside one block: zeroed in place, nothing freed. */
	CHECK_EQ(daxfs_fallocate(fs, ino, punch, 10, 20), 0);
	CHECK_EQ(before - free_blocks(fs), 9);
	CHECK_EQ(daxfs_read(fs, ino, back, 4096, 0), 4096);
	CHECK(memcmp(back, buf, 10) == 0 && memcmp(back + 10, zeros, 20) == 0 &&
	      memcmp(back + 30, buf + 30, 4096 - 30) == 0);
	/* Block 1 exactly. */
	CHECK_EQ(daxfs_fallocate(fs, ino, punch, 4096, 4096), 0);
	CHECK_EQ(before - free_blocks(fs), 8);
	/* Unaligned both ends: blocks 3 and 4 freed, edges of 2 and 5 zeroed. */
	CHECK_EQ(daxfs_fallocate(fs, ino, punch, 2 * 4096 + 100, 3 * 4096), 0);
	CHECK_EQ(before - free_blocks(fs), 6);
	CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), sizeof(back));
	CHECK(memcmp(back + 2 * 4096, buf + 2 * 4096, 100) == 0);
	CHECK(memcmp(back + 2 * 4096 + 100, zeros, 4096 - 100) == 0);
	CHECK(memcmp(back + 5 * 4096 + 100, buf + 5 * 4096 + 100, 4096 - 100) == 0);
	/* Past EOF: nothing to do, size unchanged. */
	CHECK_EQ(daxfs_fallocate(fs, ino, punch, 1 << 20, 4096), 0);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, sizeof(buf));
	/* To EOF and beyond: every block from 6 on goes. */
	CHECK_EQ(daxfs_fallocate(fs, ino, punch, 6 * 4096, 1 << 30), 0);
	CHECK_EQ(before - free_blocks(fs), 4);
	/* Truncate to 0 frees the rest, index block included. */
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 0 };
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	CHECK_EQ(before - free_blocks(fs), 0);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "r"), 0);
	daxfs_forget(fs, ino, 1);
	CHECK_EQ(before, free_blocks(fs));
}

static int count_entry(void *ctx, const char *name, const struct daxfs_attr *a, uint64_t off)
{
	(void)name;
	(void)a;
	(void)off;
	(*(int *)ctx)++;
	return 0;
}

static int count_dir(struct daxfs *fs, uint64_t ino)
{
	int n = 0;

	CHECK_EQ(daxfs_readdir(fs, ino, 0, false, count_entry, &n), 0);
	return n;
}

static void test_names(struct daxfs *fs)
{
	struct daxfs_attr a, d, b;
	char longname[300];
	char target[64];

	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "d", 0755, &d), 0);
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "d", 0755, &a), -EEXIST);
	CHECK_EQ(daxfs_getattr(fs, DAXFS_ROOT_INO, &a), 0);
	CHECK_EQ(a.nlink, 3);
	memset(longname, 'n', sizeof(longname));
	longname[256] = 0;
	CHECK_EQ(daxfs_mknod(fs, &root_cred, d.ino, longname, S_IFREG | 0644, 0, &a), -ENAMETOOLONG);
	longname[255] = 0;
	CHECK_EQ(daxfs_mknod(fs, &root_cred, d.ino, longname, S_IFREG | 0644, 0, &a), 0);
	CHECK_EQ(daxfs_lookup(fs, d.ino, longname, &b), 0);
	CHECK_EQ(b.ino, a.ino);
	daxfs_forget(fs, a.ino, 2);

	uint64_t f = create_file(fs, d.ino, "file");
	CHECK_EQ(daxfs_mknod(fs, &root_cred, f, "x", S_IFREG | 0644, 0, &a), -ENOTDIR);
	CHECK_EQ(daxfs_rmdir(fs, DAXFS_ROOT_INO, "d"), -ENOTEMPTY);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "d"), -EISDIR);
	CHECK_EQ(daxfs_rmdir(fs, d.ino, "file"), -ENOTDIR);
	CHECK_EQ(daxfs_lookup(fs, d.ino, "missing", &a), -ENOENT);

	/* Hard links and nlink. */
	CHECK_EQ(daxfs_link(fs, f, DAXFS_ROOT_INO, "hard", &a), 0);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(daxfs_link(fs, d.ino, DAXFS_ROOT_INO, "dirlink", &a), -EPERM);
	CHECK_EQ(daxfs_unlink(fs, d.ino, "file"), 0);
	CHECK_EQ(daxfs_getattr(fs, f, &a), 0);
	CHECK_EQ(a.nlink, 1);

	/* Symlinks. */
	CHECK_EQ(daxfs_symlink(fs, &root_cred, DAXFS_ROOT_INO, "sl", "some/target", &a), 0);
	CHECK_EQ(daxfs_readlink(fs, a.ino, target, sizeof(target)), 11);
	CHECK(memcmp(target, "some/target", 11) == 0);
	daxfs_forget(fs, a.ino, 1);

	/* Renames: plain, over a file, NOREPLACE, EXCHANGE, into own subtree. */
	uint64_t g = create_file(fs, DAXFS_ROOT_INO, "g");
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "hard", d.ino, "moved", 0), 0);
	CHECK_EQ(daxfs_lookup(fs, DAXFS_ROOT_INO, "hard", &a), -ENOENT);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "g", d.ino, "moved", RENAME_NOREPLACE), -EEXIST);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "g", d.ino, "moved", RENAME_EXCHANGE), 0);
	CHECK_EQ(daxfs_lookup(fs, d.ino, "moved", &a), 0);
	CHECK_EQ(a.ino, g);
	CHECK_EQ(daxfs_lookup(fs, DAXFS_ROOT_INO, "g", &b), 0);
	CHECK_EQ(b.ino, f);
	daxfs_forget(fs, a.ino, 1);
	daxfs_forget(fs, b.ino, 1);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "g", d.ino, "moved", 0), 0);
	CHECK_EQ(daxfs_getattr(fs, g, &a), 0); /* replaced, but still looked up */
	CHECK_EQ(a.nlink, 0);
	daxfs_forget(fs, g, 1);
	CHECK_EQ(daxfs_getattr(fs, g, &a), -ENOENT); /* now evicted */
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, d.ino, "sub", 0755, &b), 0);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "d", b.ino, "loop", 0), -EINVAL);
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "e", 0755, &a), 0);
	CHECK_EQ(daxfs_rename(fs, d.ino, "sub", DAXFS_ROOT_INO, "e", 0), 0); /* over empty dir */
	CHECK_EQ(daxfs_lookup(fs, b.ino, "..", &a), 0);
	CHECK_EQ(a.ino, DAXFS_ROOT_INO);
	daxfs_forget(fs, a.ino, 1);
	CHECK_EQ(daxfs_getattr(fs, d.ino, &a), 0);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(count_dir(fs, d.ino), 4); /* . .. moved nnn... */
}

/* "." and ".." can never be created as entries, whatever the call; an empty
 * name does not exist and a name with a slash is not a name. */
static void test_dot_names(struct daxfs *fs)
{
	static const char *const dots[] = { ".", ".." };
	struct daxfs_attr a;
	int before = count_dir(fs, DAXFS_ROOT_INO);
	uint64_t ibefore = free_inodes(fs);
	uint64_t f = create_file(fs, DAXFS_ROOT_INO, "dotsrc");

	for (int i = 0; i < 2; i++) {
		const char *n = dots[i];
		CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, n, S_IFREG | 0644, 0, &a),
			 -EEXIST);
		CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, n, 0755, &a), -EEXIST);
		CHECK_EQ(daxfs_symlink(fs, &root_cred, DAXFS_ROOT_INO, n, "t", &a), -EEXIST);
		CHECK_EQ(daxfs_link(fs, f, DAXFS_ROOT_INO, n, &a), -EEXIST);
		/* As Linux: renaming onto "." or ".." is EBUSY. */
		CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "dotsrc", DAXFS_ROOT_INO, n, 0), -EBUSY);
	}
	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "", S_IFREG | 0644, 0, &a), -ENOENT);
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "", 0755, &a), -ENOENT);
	CHECK_EQ(daxfs_symlink(fs, &root_cred, DAXFS_ROOT_INO, "", "t", &a), -ENOENT);
	CHECK_EQ(daxfs_link(fs, f, DAXFS_ROOT_INO, "", &a), -ENOENT);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "dotsrc", DAXFS_ROOT_INO, "", 0), -ENOENT);
	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "a/b", S_IFREG | 0644, 0, &a),
		 -EINVAL);
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "a/b", 0755, &a), -EINVAL);
	CHECK_EQ(daxfs_symlink(fs, &root_cred, DAXFS_ROOT_INO, "a/b", "t", &a), -EINVAL);
	CHECK_EQ(daxfs_link(fs, f, DAXFS_ROOT_INO, "a/b", &a), -EINVAL);
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "dotsrc", DAXFS_ROOT_INO, "a/b", 0), -EINVAL);
	/* Nothing was created: the root lists what it listed, plus dotsrc. */
	CHECK_EQ(count_dir(fs, DAXFS_ROOT_INO), before + 1);
	CHECK_EQ(daxfs_getattr(fs, f, &a), 0);
	CHECK_EQ(a.nlink, 1);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "dotsrc"), 0);
	daxfs_forget(fs, f, 1);
	CHECK_EQ(free_inodes(fs), ibefore);
}

/* A create that runs out of memory at any allocation is all or nothing: a
 * failed one leaves no entry, no inode and no block behind and the
 * directory fully usable; a successful one is complete.  Each directory
 * is fresh, so the create also has to grow it by a block, and each round
 * is a fresh mount, so the new inode is not cached in memory yet. */
static void test_create_nomem(void)
{
	struct daxfs *fs = mount_pool();
	uint64_t bbefore = free_blocks(fs), ibefore = free_inodes(fs);
	struct daxfs_attr d, a;
	int failed = 0;

	for (int k = 1; k <= 6; k++) {
		char dname[16];
		snprintf(dname, sizeof(dname), "nomem%d", k);
		CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, dname, 0755, &d), 0);
		CHECK_EQ(daxfs_unmount(fs, NULL), 0);
		fs = mount_pool();
		CHECK_EQ(count_dir(fs, d.ino), 2); /* builds the index */
		uint64_t b0 = free_blocks(fs), i0 = free_inodes(fs);
		daxfs_fault_nomem_at = k;
		int rc = daxfs_mknod(fs, &root_cred, d.ino, "x", S_IFREG | 0644, 0, &a);
		daxfs_fault_nomem_at = 0;
		if (rc) {
			failed++;
			CHECK_EQ(rc, -ENOMEM);
			CHECK_EQ(free_blocks(fs), b0);
			CHECK_EQ(free_inodes(fs), i0);
			CHECK_EQ(daxfs_lookup(fs, d.ino, "x", &a), -ENOENT);
			CHECK_EQ(count_dir(fs, d.ino), 2);
			CHECK_EQ(daxfs_getattr(fs, d.ino, &a), 0);
			CHECK_EQ(a.size, 0);
		} else {
			CHECK_EQ(daxfs_getattr(fs, a.ino, &a), 0);
			CHECK_EQ(a.nlink, 1);
			daxfs_forget(fs, a.ino, 1);
			CHECK_EQ(count_dir(fs, d.ino), 3);
		}
		/* The directory takes names as before. */
		for (int i = 0; i < 20; i++) {
			char n[16];
			snprintf(n, sizeof(n), "y%d", i);
			CHECK_EQ(daxfs_mknod(fs, &root_cred, d.ino, n, S_IFREG | 0644, 0, &a), 0);
			daxfs_forget(fs, a.ino, 1);
		}
		CHECK_EQ(count_dir(fs, d.ino), 22 + !rc);
		for (int i = 0; i < 20; i++) {
			char n[16];
			snprintf(n, sizeof(n), "y%d", i);
			CHECK_EQ(daxfs_unlink(fs, d.ino, n), 0);
		}
		if (!rc)
			CHECK_EQ(daxfs_unlink(fs, d.ino, "x"), 0);
		CHECK_EQ(daxfs_rmdir(fs, DAXFS_ROOT_INO, dname), 0);
	}
	CHECK(failed >= 3); /* the name, the slot list, the inode */
	CHECK_EQ(free_blocks(fs), bbefore);
	CHECK_EQ(free_inodes(fs), ibefore);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

static void test_orphans_and_recovery(void)
{
	struct daxfs *fs = mount_pool();
	static char buf[64 * 1024];
	uint64_t before = free_blocks(fs), ibefore = free_inodes(fs);

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "open-unlinked");
	CHECK_EQ(daxfs_open(fs, ino, O_RDWR), 0);
	fill(buf, sizeof(buf), 3);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "open-unlinked"), 0);
	/* Still readable and writable while open. */
	CHECK_EQ(daxfs_write(fs, ino, buf, 10, sizeof(buf), false), 10);
	CHECK_EQ(daxfs_read(fs, ino, buf, 10, 0), 10);
	CHECK(free_blocks(fs) < before);
	/* The daemon dies with the file open: the next mount reclaims it. */
	daxfs_abandon(fs);
	fs = mount_pool();
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(free_inodes(fs), ibefore);

	/* A transaction cut short is rolled back at the next mount. */
	struct daxfs_dinode *root = dinode(fs, DAXFS_ROOT_INO);
	uint32_t mode = root->mode;
	struct tx tx;
	tx_begin(&fs->log, &tx);
	tx_add(&tx, root, sizeof(*root));
	root->mode = 0;
	pool_persist(&fs->pool, root, sizeof(*root));
	daxfs_abandon(fs);
	fs = mount_pool();
	CHECK_EQ(dinode(fs, DAXFS_ROOT_INO)->mode, mode);

	/* A block published past EOF by a write cut short is dropped. */
	ino = create_file(fs, DAXFS_ROOT_INO, "torn");
	CHECK_EQ(daxfs_write(fs, ino, buf, 100, 0, false), 100);
	uint64_t used = before - free_blocks(fs);
	uint64_t blk;
	CHECK_EQ(block_alloc_get(&fs->alloc, &blk), 0);
	memset(pool_block(&fs->pool, blk), 0x5a, 4096);
	struct daxfs_dinode *di = dinode(fs, ino);
	memset((char *)pool_block(&fs->pool, bmap_lookup(fs, di, 0)) + 100, 0x5a, 50);
	CHECK_EQ(bmap_set(fs, di, 1, blk), 0);
	daxfs_abandon(fs);
	fs = mount_pool();
	CHECK(!block_alloc_test(&fs->alloc, blk));
	CHECK_EQ(before - free_blocks(fs), used + 1); /* the map kept its new index block */
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 8192 };
	struct daxfs_attr a;
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	CHECK_EQ(daxfs_read(fs, ino, buf, 8192, 0), 8192);
	int stale = 0;
	for (int i = 100; i < 8192; i++)
		stale |= buf[i];
	CHECK_EQ(stale, 0);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* A regular file's data blocks go with its last link and its last open,
 * not with its last lookup reference (the kernel's, which may stay long):
 * at unlink, at a rename over it, or at the release after them.  One index
 * block of a removed map may wait for an RCU grace period. */
static void test_free_at_unlink(void)
{
	struct daxfs *fs = mount_pool();
	static char buf[64 * 4096], back[4096];
	struct daxfs_attr a;

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "gone");
	uint64_t other = create_file(fs, DAXFS_ROOT_INO, "other");
	uint64_t base = free_blocks(fs);
	fill(buf, sizeof(buf), 5);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK(base - free_blocks(fs) >= 64);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "gone"), 0);
	CHECK(base - free_blocks(fs) <= 1);
	CHECK_EQ(daxfs_open(fs, ino, O_RDONLY), -ENOENT);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, 0);
	daxfs_forget(fs, ino, 1);

	/* Renamed over: the replaced file's blocks go at the rename. */
	ino = create_file(fs, DAXFS_ROOT_INO, "gone");
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK_EQ(daxfs_rename(fs, DAXFS_ROOT_INO, "other", DAXFS_ROOT_INO, "gone", 0), 0);
	CHECK(base - free_blocks(fs) <= 1);
	daxfs_forget(fs, ino, 1);

	/* Open: the data stays until the release. */
	ino = create_file(fs, DAXFS_ROOT_INO, "open");
	CHECK_EQ(daxfs_open(fs, ino, O_RDWR), 0);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "open"), 0);
	CHECK(base - free_blocks(fs) >= 64);
	CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), sizeof(buf) - sizeof(back)),
		 sizeof(back));
	CHECK(memcmp(back, buf + sizeof(buf) - sizeof(back), sizeof(back)) == 0);
	daxfs_release(fs, ino);
	CHECK(base - free_blocks(fs) <= 1);
	daxfs_forget(fs, ino, 1);
	daxfs_forget(fs, other, 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

static void test_enospc(void)
{
	struct daxfs *fs = mount_pool();
	static char buf[1 << 20];
	uint64_t ibefore = free_inodes(fs);

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "big");
	uint64_t before = free_blocks(fs); /* the root directory has its block now */
	ssize_t n, total = 0;
	while ((n = daxfs_write(fs, ino, buf, sizeof(buf), (uint64_t)total, false)) > 0)
		total += n;
	CHECK_EQ(n, -ENOSPC);
	CHECK_EQ(free_blocks(fs), 0);
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "nospace", 0755,
			     &(struct daxfs_attr){ 0 }),
		 0); /* the root has a free slot */
	CHECK_EQ(daxfs_rmdir(fs, DAXFS_ROOT_INO, "nospace"), 0);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "big"), 0);
	daxfs_forget(fs, ino, 1);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(free_inodes(fs), ibefore - 1); /* "nospace" was looked up by mkdir */
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* A preallocation that runs out of space gives back every block it added
 * past EOF and keeps what was there: statfs agrees before and after, in
 * both modes, and across a remount. */
static void test_fallocate_enospc(void)
{
	struct daxfs *fs = mount_pool();
	struct daxfs_attr a;
	char buf[100], back[100];

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "falloc");
	fill(buf, sizeof(buf), 5);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	/* A block preallocated past EOF before the failing calls. */
	CHECK_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 5 * 4096, 4096), 0);
	/* ... and one far out, so that the map already has the height a
	 * large request needs. */
	CHECK_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 600 * 4096, 4096), 0);
	uint64_t before = free_blocks(fs);
	static const int modes[] = { 0, FALLOC_FL_KEEP_SIZE };
	for (int m = 0; m < 2; m++) {
		CHECK_EQ(daxfs_fallocate(fs, ino, modes[m], 0, 100 << 20), -ENOSPC);
		CHECK_EQ(free_blocks(fs), before);
		CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
		CHECK_EQ(a.size, sizeof(buf));
		CHECK(bmap_lookup(fs, dinode(fs, ino), 0) != 0);
		CHECK(bmap_lookup(fs, dinode(fs, ino), 5) != 0);
		CHECK_EQ(bmap_lookup(fs, dinode(fs, ino), 6), 0);
		CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), sizeof(back));
		CHECK(memcmp(buf, back, sizeof(buf)) == 0);
	}
	/* One that fits by its data blocks but not with the index blocks it
	 * needs fails only at its last block: what it added goes back. */
	uint64_t f = free_blocks(fs);
	CHECK_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 1024 * 4096, f * 4096), -ENOSPC);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_fallocate(fs, ino, 0, 1024 * 4096, f * 4096), -ENOSPC);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, sizeof(buf));
	CHECK(bmap_lookup(fs, dinode(fs, ino), 600) != 0);
	CHECK_EQ(bmap_lookup(fs, dinode(fs, ino), 1024), 0);
	/* A fit still succeeds. */
	CHECK_EQ(daxfs_fallocate(fs, ino, 0, 0, 8 * 4096), 0);
	CHECK_EQ(free_blocks(fs), before - 6);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	fs = mount_pool();
	CHECK_EQ(free_blocks(fs), before - 6);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "falloc"), 0);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* A truncate that cannot zero the rest of its new last block (the block is
 * under a STABLE pin, so zeroing needs a copy, and the pool is full) fails
 * without changing the file; bytes past EOF never come back as old data. */
static void test_truncate_enospc(void)
{
	struct daxfs *fs = mount_pool();
	static char buf[3 * 4096], back[sizeof(buf)], chunk[1 << 20];
	char zeros[4096] = { 0 };
	struct daxfs_attr a;
	uint64_t before = free_blocks(fs);

	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "pinned");
	fill(buf, sizeof(buf), 6);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), sizeof(buf));
	CHECK_EQ(daxfs_open(fs, ino, O_RDWR), 0);
	uint64_t h = daxfs_handle_new(fs);
	static struct daxfs_ioc_pin pin;
	pin.offset = 4096;
	pin.length = 4096;
	pin.flags = DAXFS_PIN_READ | DAXFS_PIN_STABLE;
	CHECK_EQ(daxfs_pin(fs, ino, h, &pin), 0);
	uint64_t big = create_file(fs, DAXFS_ROOT_INO, "filler");
	ssize_t n;
	uint64_t total = 0;
	while ((n = daxfs_write(fs, big, chunk, sizeof(chunk), total, false)) > 0)
		total += (uint64_t)n;
	CHECK_EQ(free_blocks(fs), 0);

	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 4096 + 100 };
	int rc = daxfs_setattr(fs, ino, &sa, &a);
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	CHECK_EQ(a.size, sizeof(buf));
	if (a.size != sizeof(buf)) {
		/* Shrunk after all: growing again must show zeros. */
		sa.size = sizeof(buf);
		CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
		CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), sizeof(back));
		CHECK(memcmp(back + 4096 + 100, zeros, 4096 - 100) == 0);
		CHECK(memcmp(back + 8192, zeros, 4096) == 0);
	} else {
		CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), sizeof(back));
		CHECK(memcmp(back, buf, sizeof(buf)) == 0);
	}

	/* With space for the copy, the same truncate goes through, and the
	 * pinned block keeps its content. */
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "filler"), 0);
	daxfs_forget(fs, big, 1);
	sa.size = 4096 + 100;
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	CHECK(memcmp((char *)pool_block(&fs->pool, pin.extents[0].pool_offset / 4096) + 100,
		     buf + 4096 + 100, 4096 - 100) == 0);
	sa.size = sizeof(buf);
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	CHECK_EQ(daxfs_read(fs, ino, back, sizeof(back), 0), sizeof(back));
	CHECK(memcmp(back, buf, 4096 + 100) == 0);
	CHECK(memcmp(back + 4096 + 100, zeros, 4096 - 100) == 0);
	CHECK(memcmp(back + 8192, zeros, 4096) == 0);

	CHECK_EQ(daxfs_unpin(fs, h, pin.pin_id), 0);
	daxfs_handle_release(fs, h);
	daxfs_release(fs, ino);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "pinned"), 0);
	daxfs_forget(fs, ino, 1);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* A block is tracked before its pointer is in the map, so that a lock-free
 * reader that finds the pointer can reference it at once (it used to spin
 * while the publisher persisted the map).  A watcher follows each new
 * pointer as soon as it appears and looks at the block's state. */
struct publish_watch {
	struct daxfs *fs;
	uint64_t ino, n;
	uint64_t seen, untracked;
};

static void *watch_publish(void *p)
{
	struct publish_watch *w = p;
	struct daxfs_dinode *di = dinode(w->fs, w->ino);
	struct pfn_table *t = fs_pfns(w->fs);

	rcu_register_thread();
	/* Until every pointer has been seen: on a loaded machine the watcher
	 * may start only after the writer is done, and then sees them all
	 * tracked, which proves nothing but must not fail. */
	for (uint64_t i = 0; i < w->n;) {
		rcu_read_lock();
		uint64_t blk = bmap_lookup(w->fs, di, i);
		if (blk) {
			uint64_t word = atomic_load(&t->entries[blk - w->fs->alloc.data_start].word);
			w->seen++;
			w->untracked += pfn_word_state(word) != PFN_TRACKED;
			i++;
		}
		rcu_read_unlock();
	}
	rcu_unregister_thread();
	return NULL;
}

static void test_publish_tracked(void)
{
	struct daxfs *fs = mount_pool();
	struct publish_watch w = { .fs = fs, .n = 1000 };
	char b[4096];
	pthread_t th;

	w.ino = create_file(fs, DAXFS_ROOT_INO, "published");
	memset(b, 7, sizeof(b));
	pthread_create(&th, NULL, watch_publish, &w);
	for (uint64_t i = 0; i < w.n; i++)
		CHECK_EQ(daxfs_write(fs, w.ino, b, sizeof(b), i * sizeof(b), false), sizeof(b));
	pthread_join(th, NULL);
	CHECK_EQ(w.seen, w.n);
	CHECK_EQ(w.untracked, 0);
	printf("publish: %lu pointers seen, %lu untracked\n", (unsigned long)w.seen,
	       (unsigned long)w.untracked);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "published"), 0);
	daxfs_forget(fs, w.ino, 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct canceller {
	struct daxfs *fs;
	_Atomic bool *flag;
};

static void *cancel_soon(void *p)
{
	struct canceller *c = p;

	usleep(100 * 1000);
	atomic_store(c->flag, true);
	daxfs_cancel_wakeup(c->fs);
	return NULL;
}

/* A reader holds a reference while the file is truncated: the truncate must
 * not free the block, and must return by the rule of the mode in force. */
static void truncate_under_reader(enum daxfs_layout_wait mode, unsigned timeout, bool interrupt)
{
	struct daxfs_mount_opts o = { .layout_wait = mode, .break_timeout_sec = timeout };
	static struct daxfs_read_ctx ctx;
	struct daxfs *fs = NULL;
	struct daxfs_attr a;
	char err[256], buf[4096];

	CHECK_EQ(daxfs_mount(pool, &o, &fs, err, sizeof(err)), 0);
	if (!fs)
		return;
	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "held");
	uint64_t before = free_blocks(fs);
	fill(buf, sizeof(buf), 4);
	CHECK_EQ(daxfs_write(fs, ino, buf, sizeof(buf), 0, false), 4096);
	CHECK_EQ(daxfs_read_map(fs, ino, 0, 4096, &ctx), 4096);
	uint64_t pfn = ctx.refs[0];

	_Atomic bool flag = false;
	struct canceller c = { fs, &flag };
	pthread_t th;
	if (interrupt) {
		daxfs_set_cancel_flag(&flag);
		pthread_create(&th, NULL, cancel_soon, &c);
	}
	struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 0 };
	double t0 = now_s();
	CHECK_EQ(daxfs_setattr(fs, ino, &sa, &a), 0);
	double waited = now_s() - t0;
	if (interrupt) {
		pthread_join(th, NULL);
		daxfs_set_cancel_flag(NULL);
	}
	/* Whatever the mode, the referenced block is not free yet, and the
	 * reader still sees its data. */
	uint64_t w = atomic_load(&fs_pfns(fs)->entries[pfn].word);
	CHECK_EQ(pfn_word_state(w), PFN_UNTRACKED);
	CHECK(w & PFN_DEFERRED);
	CHECK(memcmp(ctx.iov[0].iov_base, buf, 4096) == 0);
	CHECK_EQ(free_blocks(fs), before - 1);
	if (mode == DAXFS_LAYOUT_WAIT_DEFERRED)
		CHECK(waited < 0.5);
	else if (interrupt)
		CHECK(waited >= 0.09 && waited < 0.9);
	else
		CHECK(waited >= timeout - 0.1 && waited < timeout + 2.0);
	/* The last put frees it. */
	daxfs_read_done(&ctx);
	CHECK_EQ(pfn_word_state(atomic_load(&fs_pfns(fs)->entries[pfn].word)), PFN_FREE);
	CHECK_EQ(free_blocks(fs), before);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "held"), 0);
	daxfs_forget(fs, ino, 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* NFS export readiness: an inode is found again by number through ".",
 * with its generation; a reused number has a new generation. */
static void test_export_lookup(void)
{
	struct daxfs *fs = mount_pool();
	struct daxfs_attr a, b, c;

	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "nfs", S_IFREG | 0600, 0, &a), 0);
	CHECK_EQ(daxfs_lookup(fs, a.ino, ".", &b), 0);
	CHECK_EQ(b.ino, a.ino);
	CHECK_EQ(b.generation, a.generation);
	CHECK_EQ(daxfs_mkdir(fs, &root_cred, DAXFS_ROOT_INO, "nfsdir", 0700, &c), 0);
	CHECK_EQ(daxfs_lookup(fs, c.ino, "..", &b), 0);
	CHECK_EQ(b.ino, DAXFS_ROOT_INO);
	daxfs_forget(fs, DAXFS_ROOT_INO, 1);
	CHECK_EQ(daxfs_unlink(fs, DAXFS_ROOT_INO, "nfs"), 0);
	daxfs_forget(fs, a.ino, 2);
	CHECK_EQ(daxfs_lookup(fs, a.ino, ".", &b), -ESTALE);
	/* The freed number comes back first, with a new generation. */
	CHECK_EQ(daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, "nfs2", S_IFREG | 0600, 0, &b), 0);
	CHECK_EQ(b.ino, a.ino);
	CHECK(b.generation != a.generation);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	fs = mount_pool();
	CHECK_EQ(daxfs_lookup(fs, b.ino, ".", &a), 0);
	CHECK_EQ(a.generation, b.generation); /* stable across remounts */
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
}

/* An in-process user that unmounts under its own pins learns how many were
 * dropped, and the unmount does not wait for them forever. */
static void test_unmount_with_pins(void)
{
	struct daxfs *fs = mount_pool();
	struct daxfs_unmount_report rep;
	struct daxfs_ioc_pin p = { .offset = 0, .length = 2 * DAXFS_BLOCK_SIZE,
				   .flags = DAXFS_PIN_WRITE };
	uint64_t ino = create_file(fs, DAXFS_ROOT_INO, "pinned");
	uint64_t h = daxfs_handle_new(fs);
	static char data[4 * DAXFS_BLOCK_SIZE];

	CHECK_EQ(daxfs_write(fs, ino, data, sizeof(data), 0, false), sizeof(data));
	CHECK_EQ(daxfs_pin(fs, ino, h, &p), 0);
	p.offset = 2 * DAXFS_BLOCK_SIZE;
	CHECK_EQ(daxfs_pin(fs, ino, h, &p), 0);
	CHECK_EQ(daxfs_unmount(fs, &rep), 0);
	CHECK_EQ(rep.pins_dropped, 2);
	CHECK_EQ(rep.busy_blocks_waited, 0);
}

static void test_layout_wait(void)
{
	truncate_under_reader(DAXFS_LAYOUT_WAIT_SYNC, 1, false);
	truncate_under_reader(DAXFS_LAYOUT_WAIT_SYNC, 30, true);
	truncate_under_reader(DAXFS_LAYOUT_WAIT_DEFERRED, 30, false);
}

static void test_bad_pools(void)
{
	struct daxfs *fs = mount_pool(), *fs2 = NULL;
	char err[256];
	struct daxfs_mount_opts o = { 0 };

	CHECK_EQ(daxfs_mount(pool, &o, &fs2, err, sizeof(err)), -EBUSY);
	CHECK(strstr(err, "in use") != NULL);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	char other[300];
	snprintf(other, sizeof(other), "%s/zeros", dir);
	FILE *f = fopen(other, "w");
	for (int i = 0; i < 1024; i++)
		fwrite((char[4096]){ 0 }, 1, 4096, f);
	fclose(f);
	CHECK(daxfs_mount(other, &o, &fs2, err, sizeof(err)) < 0);
	CHECK(strstr(err, "not a daxfs pool") != NULL);

	/* A flipped bit in the superblock is refused, and nothing is written. */
	struct stat st_before, st_after;
	int fd = open(pool, O_RDWR);
	char byte;
	pread(fd, &byte, 1, 100);
	byte ^= 1;
	pwrite(fd, &byte, 1, 100);
	fstat(fd, &st_before);
	CHECK(daxfs_mount(pool, &o, &fs2, err, sizeof(err)) < 0);
	CHECK(strstr(err, "checksum") != NULL);
	fstat(fd, &st_after);
	CHECK(st_before.st_mtim.tv_sec == st_after.st_mtim.tv_sec &&
	      st_before.st_mtim.tv_nsec == st_after.st_mtim.tv_nsec);
	byte ^= 1;
	pwrite(fd, &byte, 1, 100);

	/* A truncated pool file. */
	off_t size = lseek(fd, 0, SEEK_END);
	ftruncate(fd, size / 2);
	CHECK(daxfs_mount(pool, &o, &fs2, err, sizeof(err)) < 0);
	CHECK(strstr(err, "shorter") != NULL);
	ftruncate(fd, size);
	/* Grown back, but sparse now. */
	CHECK(daxfs_mount(pool, &o, &fs2, err, sizeof(err)) < 0);
	CHECK(strstr(err, "sparse") != NULL);
	close(fd);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	mkpool("16M", "");

	struct daxfs *fs = mount_pool();
	uint64_t before = free_blocks(fs);
	test_files(fs);
	test_ranges(fs);
	test_names(fs);
	test_flags_and_atime(fs);
	test_dot_names(fs);
	test_kill_suidgid(fs);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	/* Everything is still there after a remount. */
	fs = mount_pool();
	struct daxfs_attr a;
	CHECK_EQ(daxfs_lookup(fs, DAXFS_ROOT_INO, "d", &a), 0);
	CHECK_EQ(count_dir(fs, a.ino), 4);
	CHECK(free_blocks(fs) < before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	test_create_nomem();
	test_publish_tracked();
	test_orphans_and_recovery();
	test_free_at_unlink();
	test_layout_wait();
	test_unmount_with_pins();
	test_export_lookup();
	mkpool("8M", "");
	test_enospc();
	test_fallocate_enospc();
	test_truncate_enospc();
	test_bad_pools();

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
	return check_summary();
}
