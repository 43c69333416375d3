/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mount: the mount path (superblock checks, undo-log recovery, the
 * state block, the recovery scan of every inode and block map, the orphan
 * list) on a damaged pool, then, if it mounted, everything reachable read
 * and the tree changed (harness.c), an unmount, and a second mount that
 * must succeed.  A mount either refuses with a one-line reason or works;
 * nothing may crash, hang, leak or hand a block out twice (with debug
 * checks an illegal pfn transition aborts; a block mapped twice fails the
 * second mount).  FUZZ_F_OPT mounts read-only (no changes, no second
 * mount).
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
	if (mo.read_only)
		return 0;
	/* Damage the mount accepted, changed by the core and unmounted
	 * cleanly, must mount again: the recovery scan refuses a block owned
	 * twice (one handed out while still mapped), a pointer out of range
	 * or a directory with a hole, whichever the operations made. */
	if (daxfs_mount(path, &mo, &fs, err, sizeof(err)))
		fuzz_die("the pool mounted, was changed and unmounted, and then: %s", err);
	if (daxfs_unmount(fs, NULL))
		fuzz_die("unmount failed");
	return 0;
}
