/* SPDX-License-Identifier: MIT */
/* The pool the in-process tests format (with the mkfs.daxfs that
 * MKFS_DAXFS names), mount and measure. */
#ifndef DAXFS_TEST_POOL_H
#define DAXFS_TEST_POOL_H

#include <stdio.h>
#include <stdlib.h>

#include "../../fs/daxfs.h"

static char pool[256];

static void mkpool(const char *size, const char *extra)
{
	const char *mkfs = getenv("MKFS_DAXFS");
	char cmd[1024];

	if (!mkfs) {
		fprintf(stderr, "MKFS_DAXFS is not set\n");
		exit(2);
	}
	snprintf(cmd, sizeof(cmd), "%s -f -s %s %s %s >/dev/null", mkfs, size, extra, pool);
	if (system(cmd) != 0) {
		fprintf(stderr, "mkfs failed: %s\n", cmd);
		exit(2);
	}
}

static struct daxfs *mount_pool(void)
{
	struct daxfs_mount_opts o = { 0 };
	struct daxfs *fs = NULL;
	char err[256];

	int rc = daxfs_mount(pool, &o, &fs, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "mount failed: %s\n", err);
		exit(2);
	}
	return fs;
}

static uint64_t free_blocks(struct daxfs *fs)
{
	struct daxfs_statfs st;

	daxfs_statfs(fs, &st);
	return st.free_blocks;
}

#endif
