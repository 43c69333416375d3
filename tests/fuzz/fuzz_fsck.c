/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fsck: fsck.daxfs in process (fsck_run) on a damaged pool, with its
 * contract checked:
 *   - -n changes nothing and never reports a correction (exit 0, 4 or 8);
 *   - with FUZZ_F_OPT, -p first: exit 0, 1, 4 or 8;
 *   - -y; when it reports the pool clean or corrected (0 or 1), a second -n
 *     finds it clean, the pool mounts, the whole tree reads and changes
 *     (harness.c), and after the unmount -n still finds it clean.
 * An exit 4 after -y (an error it could not repair) is allowed: it happens
 * when lost+found cannot be made.
 */
#include <stdlib.h>
#include <string.h>

#include "../../tools/fsck.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run(const char *path, enum fsck_mode mode, bool quiet)
{
	struct fsck fx = { .path = path, .mode = mode, .quiet = quiet, .fd = -1 };

	return fsck_run(&fx);
}

static void must_be_clean(const char *path, const char *after)
{
	int rc = run(path, MODE_CHECK, true);

	if (rc != FSCK_OK) {
		run(path, MODE_CHECK, false);
		fuzz_die("fsck -n exits %d after %s", rc, after);
	}
}

static void check_repaired(const char *path, const char *how)
{
	struct daxfs_mount_opts mo = { 0 };
	struct daxfs *fs;
	char err[512], after[64];

	snprintf(after, sizeof(after), "fsck %s", how);
	must_be_clean(path, after);
	if (daxfs_mount(path, &mo, &fs, err, sizeof(err)))
		fuzz_die("the pool fsck %s repaired does not mount: %s", how, err);
	fuzz_walk(fs, false);
	if (daxfs_unmount(fs, NULL))
		fuzz_die("unmount failed");
	snprintf(after, sizeof(after), "fsck %s, a mount and changes to the tree", how);
	must_be_clean(path, after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char *before;
	size_t n;

	fuzz_init();
	const char *path = fuzz_image(data, size);
	const unsigned char *pool = fuzz_pool_bytes(&n);
	if (!before && !(before = malloc(n)))
		fuzz_die("out of memory");
	memcpy(before, pool, n);

	int rc = run(path, MODE_CHECK, true);
	if (rc != FSCK_OK && rc != FSCK_UNCORRECTED && rc != FSCK_OPERATIONAL)
		fuzz_die("fsck -n exits %d", rc);
	if (memcmp(before, pool, n))
		fuzz_die("fsck -n changed the pool");
	if (size && (data[0] & FUZZ_F_OPT)) {
		rc = run(path, MODE_PREEN, true);
		if (rc == FSCK_OK || rc == FSCK_CORRECTED)
			check_repaired(path, "-p");
		else if (rc != FSCK_UNCORRECTED && rc != FSCK_OPERATIONAL)
			fuzz_die("fsck -p exits %d", rc);
	}
	rc = run(path, MODE_YES, true);
	if (rc == FSCK_OK || rc == FSCK_CORRECTED)
		check_repaired(path, "-y");
	else if (rc != FSCK_UNCORRECTED && rc != FSCK_OPERATIONAL)
		fuzz_die("fsck -y exits %d", rc);
	return 0;
}
