/* SPDX-License-Identifier: MIT */
/* In-process tests of extended attributes and POSIX ACLs: the API's flags
 * and errors, limits, persistence, blocks accounting, ACL and mode coupling,
 * inheritance, and ENOSPC on a full pool leaving no block behind. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "../../fs/super.h"
#include "check.h"
#include "test_pool.h"

static char dir[] = "/dev/shm/daxfs-xattr-XXXXXX";
static const struct daxfs_cred root_cred = {0};
static const struct daxfs_cred user_cred = {.uid = 1000, .gid = 1000};

static uint64_t make(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode)
{
	struct daxfs_attr a;
	int rc = S_ISDIR(mode) ? daxfs_mkdir(fs, &root_cred, parent, name, mode & 07777, &a)
			       : daxfs_mknod(fs, &root_cred, parent, name, mode, 0, &a);

	CHECK_EQ(rc, 0);
	return rc ? 0 : a.ino;
}

static mode_t mode_of(struct daxfs *fs, uint64_t ino)
{
	struct daxfs_attr a;

	CHECK_EQ(daxfs_getattr(fs, ino, &a), 0);
	return a.mode & 07777;
}

/* An ACL in the kernel's xattr format. */
struct acl {
	uint32_t version;
	struct {
		uint16_t tag, perm;
		uint32_t id;
	} e[8];
};

static size_t acl_size(int n)
{
	return 4 + (size_t)n * 8;
}

static void test_api(struct daxfs *fs)
{
	static char big[64 * 1024 + 1], out[64 * 1024];
	uint64_t f = make(fs, DAXFS_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t l;
	struct daxfs_attr a;

	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.a", "1", 1, 0), 0);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.a", "2", 1, XATTR_CREATE), -EEXIST);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.b", "2", 1, XATTR_REPLACE), -ENODATA);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.a", "22", 2, XATTR_REPLACE), 0);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "user.a", out, sizeof(out)), 2);
	CHECK(!memcmp(out, "22", 2));
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "user.a", NULL, 0), 2);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "user.a", out, 1), -ERANGE);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "user.zz", out, sizeof(out)), -ENODATA);

	memset(big, 'v', sizeof(big));
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.big", big, 65536, 0), 0);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.big2", big, 65537, 0), -E2BIG);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "user.big", out, sizeof(out)), 65536);
	CHECK_EQ(daxfs_getattr(fs, f, &a), 0);
	CHECK_EQ(a.blocks, (17 + 1) * 8); /* 17 data blocks and the index block */
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.big3", big, 65536, 0), -ENOSPC);

	char name[300];
	memset(name, 'n', sizeof(name));
	memcpy(name, "user.", 5);
	name[255] = '\0';
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, name, "x", 1, 0), 0);
	name[255] = 'n';
	name[256] = '\0';
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, name, "x", 1, 0), -ERANGE);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "", "x", 1, 0), -ERANGE);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "user.", "x", 1, 0), -EINVAL);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "os2.x", "x", 1, 0), -EOPNOTSUPP);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "system.other", "x", 1, 0), -EOPNOTSUPP);

	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "trusted.t", "t", 1, 0), 0);
	CHECK_EQ(daxfs_setxattr(fs, &user_cred, f, "trusted.u", "u", 1, 0), -EPERM);
	CHECK_EQ(daxfs_getxattr(fs, &user_cred, f, "trusted.t", out, sizeof(out)), -ENODATA);
	ssize_t all = daxfs_listxattr(fs, &root_cred, f, NULL, 0);
	ssize_t mine = daxfs_listxattr(fs, &user_cred, f, NULL, 0);
	CHECK_EQ(all - mine, (ssize_t)sizeof("trusted.t"));
	CHECK_EQ(daxfs_listxattr(fs, &root_cred, f, out, (size_t)all - 1), -ERANGE);
	CHECK_EQ(daxfs_listxattr(fs, &root_cred, f, out, sizeof(out)), all);

	CHECK_EQ(daxfs_symlink(fs, &root_cred, DAXFS_ROOT_INO, "l", "f", &a), 0);
	l = a.ino;
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, l, "user.x", "x", 1, 0), -EPERM);
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, l, "security.x", "x", 1, 0), 0);

	CHECK_EQ(daxfs_removexattr(fs, &root_cred, f, "user.a"), 0);
	CHECK_EQ(daxfs_removexattr(fs, &root_cred, f, "user.a"), -ENODATA);
	CHECK_EQ(daxfs_removexattr(fs, &root_cred, f, "user.big"), 0);
	CHECK_EQ(daxfs_getattr(fs, f, &a), 0);
	CHECK_EQ(a.blocks, 8); /* one block left for the small ones */
}

static void test_acls(struct daxfs *fs)
{
	uint64_t f = make(fs, DAXFS_ROOT_INO, "acl", S_IFREG | 0600);
	uint64_t d = make(fs, DAXFS_ROOT_INO, "dd", S_IFDIR | 0755);
	struct acl acl = {
	    2, {{0x01, 6, 0}, {0x02, 4, 65534}, {0x04, 0, 0}, {0x10, 4, 0}, {0x20, 0, 0}}};
	char out[256];

	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "system.posix_acl_access", &acl, acl_size(5), 0),
		 0);
	CHECK_EQ(mode_of(fs, f), 0640); /* the mask is the group class */
	struct daxfs_setattr sa = {.valid = DAXFS_SET_MODE, .mode = 0604};
	struct daxfs_attr a;
	CHECK_EQ(daxfs_setattr(fs, f, &sa, &a), 0);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "system.posix_acl_access", out, sizeof(out)),
		 (ssize_t)acl_size(5));
	struct acl got;
	memcpy(&got, out, acl_size(5));
	CHECK_EQ(got.e[3].perm, 0); /* chmod went to the mask, not the group entry */
	CHECK_EQ(got.e[4].perm, 4);
	CHECK_EQ(got.e[0].perm, 6);

	/* A bad ACL: a named user without a mask. */
	struct acl bad = {2, {{0x01, 6, 0}, {0x02, 4, 7}, {0x04, 0, 0}, {0x20, 0, 0}}};
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "system.posix_acl_access", &bad, acl_size(4), 0),
		 -EINVAL);
	/* A minimal one is just the mode. */
	struct acl min = {2, {{0x01, 7, 0}, {0x04, 5, 0}, {0x20, 1, 0}}};
	CHECK_EQ(daxfs_setxattr(fs, &root_cred, f, "system.posix_acl_access", &min, acl_size(3), 0),
		 0);
	CHECK_EQ(mode_of(fs, f), 0751);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, f, "system.posix_acl_access", NULL, 0), -ENODATA);
	CHECK_EQ(
	    daxfs_setxattr(fs, &root_cred, f, "system.posix_acl_default", &acl, acl_size(5), 0),
	    -EACCES);

	/* Inheritance: umask ignored under a default ACL, applied without. */
	struct acl def = {
	    2, {{0x01, 7, 0}, {0x02, 7, 65534}, {0x04, 5, 0}, {0x10, 7, 0}, {0x20, 0, 0}}};
	CHECK_EQ(
	    daxfs_setxattr(fs, &root_cred, d, "system.posix_acl_default", &def, acl_size(5), 0), 0);
	daxfs_set_umask(022);
	uint64_t c = make(fs, d, "child", S_IFREG | 0666);
	CHECK_EQ(mode_of(fs, c), 0660);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, c, "system.posix_acl_access", NULL, 0),
		 (ssize_t)acl_size(5));
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, c, "system.posix_acl_default", NULL, 0), -ENODATA);
	uint64_t sub = make(fs, d, "sub", S_IFDIR | 0777);
	CHECK_EQ(mode_of(fs, sub), 0770);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, sub, "system.posix_acl_default", NULL, 0),
		 (ssize_t)acl_size(5));
	uint64_t plain = make(fs, DAXFS_ROOT_INO, "plain", S_IFREG | 0666);
	CHECK_EQ(mode_of(fs, plain), 0644);
	daxfs_set_umask(0);
}

/* Fills the pool with xattrs, then gives everything back. */
static void test_enospc(void)
{
	struct daxfs *fs = mount_pool();
	static char big[60000];
	uint64_t before = free_blocks(fs);
	char name[32];
	int i, rc = 0;

	memset(big, 'z', sizeof(big));
	for (i = 0; i < 100000 && !rc; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		struct daxfs_attr a;
		rc = daxfs_mknod(fs, &root_cred, DAXFS_ROOT_INO, name, S_IFREG | 0644, 0, &a);
		if (!rc)
			rc = daxfs_setxattr(fs, &root_cred, a.ino, "user.big", big, sizeof(big), 0);
		if (!rc)
			daxfs_forget(fs, a.ino, 1);
	}
	CHECK_EQ(rc, -ENOSPC);
	CHECK(free_blocks(fs) < 16);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	/* The mount rebuilds the bitmap from what is reachable: any leak of
	 * the failed setxattr would now be counted as used. */
	fs = mount_pool();
	uint64_t full = free_blocks(fs);
	for (int j = 0; j < i; j++) {
		snprintf(name, sizeof(name), "f%d", j);
		int urc = daxfs_unlink(fs, DAXFS_ROOT_INO, name);
		CHECK(urc == 0 || (j == i - 1 && urc == -ENOENT));
	}
	CHECK(free_blocks(fs) > full);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
	fs = mount_pool();
	/* The root directory keeps the blocks it grew. */
	struct daxfs_attr root;
	CHECK_EQ(daxfs_getattr(fs, DAXFS_ROOT_INO, &root), 0);
	CHECK_EQ(free_blocks(fs) + root.blocks / 8, before);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);
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
	test_api(fs);
	test_acls(fs);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	/* Persistence, and the blocks count the mount recomputes. */
	fs = mount_pool();
	struct daxfs_attr a;
	char out[16];
	CHECK_EQ(daxfs_lookup(fs, DAXFS_ROOT_INO, "f", &a), 0);
	CHECK_EQ(a.blocks, 8);
	CHECK_EQ(daxfs_getxattr(fs, &root_cred, a.ino, "trusted.t", out, sizeof(out)), 1);
	CHECK_EQ(daxfs_unmount(fs, NULL), 0);

	mkpool("8M", "");
	test_enospc();

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
	return check_summary();
}
