/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mount: the mount path (superblock checks, undo-log recovery, the
 * state block, the recovery scan of every inode and block map, the orphan
 * list) on a damaged pool, then, if it mounted, everything reachable read
 * and the tree changed (harness.c), and an unmount.  A mount either refuses
 * with a one-line reason or works; nothing may crash, leak or hand a block
 * out twice (with debug checks, an illegal pfn transition aborts).
 * FUZZ_F_OPT mounts read-only.
 */
#include <string.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daxfs_mount_opts mo = { 0 };
	struct daxfs *fs;
	char err[512] = "";

	fuzz_init();
	const char *path = fuzz_image(data, size);
	mo.read_only = size && (data[0] & FUZZ_F_OPT);
	int rc = daxfs_mount(path, &mo, &fs, err, sizeof(err));
	if (rc) {
		if (rc > 0 || !err[0] || strchr(err, '\n'))
			fuzz_die("mount refused (%d) without a one-line reason: '%s'", rc, err);
		return 0;
	}
	fuzz_walk(fs, mo.read_only);
	if (daxfs_unmount(fs, NULL))
		fuzz_die("unmount failed");
	return 0;
}
