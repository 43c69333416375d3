/* SPDX-License-Identifier: MIT */
/*
 * fsck.daxfs: checks a daxfs pool and repairs it (fsck_run; the command
 * line is fsck_main.c).  See fsck.h for how the work is split, and docs/format.md §16 for what
 * is checked.
 *
 * The pool is opened with the exclusive flock a read-write mount holds, so a
 * mounted pool is refused.  It is mapped here rather than through pool_open,
 * which refuses a damaged primary superblock before fsck could restore it:
 * a regular file is mapped whole (st_size), a device DAX node through
 * libpmem.  Stores go through the pmem layer's persistence (cache flushes on
 * real pmem, msync otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsck.h"
#include "../pmem/pool_lock.h"

/* -n opens read-only, but takes the exclusive lock all the same: a
 * read-write mount changing the pool under the check would make it lie. */
static int open_pool(struct fsck *fx)
{
	struct stat st;

	fx->fd = open(fx->path, (fx->mode == MODE_CHECK ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fx->fd < 0) {
		fprintf(stderr, "fsck.daxfs: cannot open %s: %s\n", fx->path, strerror(errno));
		return -1;
	}
	char why[PATH_MAX + 128];
	if (pool_lock_take(fx->fd, fx->path, LOCK_EX, "fsck.daxfs", why, sizeof(why)) < 0) {
		fprintf(stderr, "fsck.daxfs: %s\n", why);
		return -1;
	}
	if (fstat(fx->fd, &st) < 0) {
		fprintf(stderr, "fsck.daxfs: cannot stat %s: %s\n", fx->path, strerror(errno));
		return -1;
	}
	fx->device = S_ISCHR(st.st_mode);
	if (!fx->device && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "fsck.daxfs: %s is neither a regular file nor a DAX device\n",
			fx->path);
		return -1;
	}
	if (!fx->device && (uint64_t)st.st_size < DAXFS_FIRST_META_BLOCK * DAXFS_BLOCK_SIZE) {
		fprintf(stderr, "fsck.daxfs: %s is too small to be a daxfs pool\n", fx->path);
		return -1;
	}
	fx->file_size = (uint64_t)st.st_size;
	return 0;
}

/*
 * shared: the pool itself, every store persisted.  Otherwise a private
 * copy-on-write mapping of a file, which repairs may change freely: the
 * file never sees them.  A device DAX node cannot be mapped privately, so a
 * check of one makes no stores at all (later phases then see the damage
 * the earlier ones would have repaired, and may report it again).
 */
static int map_pool(struct fsck *fx, bool shared)
{
	int is_pmem = 0;

	fx->writable = shared;
	fx->persist = shared;
	if (shared || fx->device) {
		fx->map = pmem_map_file(fx->path, 0, 0, 0, &fx->map_len, &is_pmem);
		if (!fx->map) {
			fprintf(stderr, "fsck.daxfs: cannot map %s: %s\n", fx->path,
				strerror(errno));
			return -1;
		}
	} else {
		fx->map_len = (size_t)fx->file_size;
		fx->map = mmap(NULL, fx->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fx->fd, 0);
		if (fx->map == MAP_FAILED) {
			fx->map = NULL;
			fprintf(stderr, "fsck.daxfs: cannot map %s: %s\n", fx->path,
				strerror(errno));
			return -1;
		}
		fx->writable = true;
	}
	if (fx->device) {
		/* A device's size is what libpmem could map. */
		fx->file_size = fx->map_len;
		if (fx->map_len < DAXFS_FIRST_META_BLOCK * DAXFS_BLOCK_SIZE) {
			fprintf(stderr, "fsck.daxfs: %s is too small to be a daxfs pool\n",
				fx->path);
			goto out_unmap;
		}
	}
	fx->pool.base = fx->map;
	fx->pool.size = fx->map_len;
	fx->pool.is_pmem = is_pmem;
	fx->pool.lock_fd = -1;
	return 0;

out_unmap:
	munmap(fx->map, fx->map_len);
	fx->map = NULL;
	return -1;
}

static void unmap_pool(struct fsck *fx)
{
	if (fx->map)
		munmap(fx->map, fx->map_len);
	fx->map = NULL;
}

/* Everything a pass learns, so that -p's second pass starts afresh. */
static void reset_model(struct fsck *fx)
{
	free(fx->ino);
	free(fx->reach);
	free(fx->released);
	free(fx->xrefs);
	free(fx->dups);
	free(fx->chain);
	fx->ino = NULL;
	fx->reach = fx->released = fx->dups = NULL;
	fx->xrefs = NULL;
	fx->chain = NULL;
	fx->nxrefs = fx->xrefs_cap = fx->ndups = fx->dups_cap = fx->chain_cap = 0;
	fx->lost_found = 0;
	fx->lf_taken = fx->lf_failed = false;
	fx->found = fx->fixed = 0;
	fx->needs_yes = false;
	fx->n_inodes = fx->n_dirs = fx->n_files = fx->n_symlinks = fx->n_special = 0;
	fx->n_orphans = fx->n_blocks = fx->n_index_blocks = fx->n_entries = 0;
	fx->n_reconnected = 0;
}

/* Later phases trust what earlier ones checked (format §16). */
static int run_phases(struct fsck *fx)
{
	if (check_superblocks(fx) < 0)
		return -1;
	check_undo_log(fx);
	check_state_block(fx);
	if (check_inodes(fx) < 0)
		return -1;
	check_directories(fx);
	name_first_owners(fx);
	check_tree(fx);
	check_link_counts(fx);
	check_orphans(fx);
	check_bitmap(fx);
	return 0;
}

static uint64_t blocks_in_use(const struct fsck *fx)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < (fx->sb.data_blocks + 63) / 64; w++)
		n += (uint64_t)__builtin_popcountll(fx->reach[w]);
	return n;
}

static void summary(const struct fsck *fx, const char *tail)
{
	if (fx->quiet)
		return;
	printf("%s: %llu inodes (%llu directories), %llu/%llu blocks in use, %llu errors found, "
	       "%llu fixed%s\n",
	       fx->path, (unsigned long long)fx->n_inodes, (unsigned long long)fx->n_dirs,
	       (unsigned long long)blocks_in_use(fx), (unsigned long long)fx->sb.data_blocks,
	       (unsigned long long)fx->found, (unsigned long long)fx->fixed, tail);
}

static int exit_code(const struct fsck *fx)
{
	if (!fx->found)
		return FSCK_OK;
	return fx->fixed == fx->found && !fx->needs_yes ? FSCK_CORRECTED : FSCK_UNCORRECTED;
}

static int run_pass(struct fsck *fx, bool shared)
{
	reset_model(fx);
	if (map_pool(fx, shared) < 0)
		return -1;
	int rc = run_phases(fx);
	unmap_pool(fx);
	return rc;
}

/* -p first runs on a private copy to learn whether every finding is one it
 * may fix; only then does it repair, and otherwise it changes nothing. */
static int preen(struct fsck *fx)
{
	fx->probe = true;
	if (run_pass(fx, false) < 0)
		return FSCK_OPERATIONAL;
	fx->probe = false;
	if (!fx->found) {
		summary(fx, "");
		return FSCK_OK;
	}
	if (fx->needs_yes) {
		if (fx->out && !fx->quiet)
			fputs(fx->out, stdout);
		if (!fx->quiet)
			printf("%s: UNEXPECTED INCONSISTENCY; run fsck.daxfs -y (nothing was changed)\n",
		       fx->path);
		fx->fixed = 0;
		summary(fx, "");
		return FSCK_UNCORRECTED;
	}
	if (run_pass(fx, true) < 0)
		return FSCK_OPERATIONAL;
	summary(fx, "");
	return exit_code(fx);
}

/* See fsck.h. */
int fsck_run(struct fsck *fx)
{
	int rc;

	fx->fd = -1;
	if (open_pool(fx) < 0) {
		rc = FSCK_OPERATIONAL;
		goto out;
	}
	if (fx->mode == MODE_PREEN) {
		rc = preen(fx);
		goto out;
	}
	if (run_pass(fx, fx->mode == MODE_YES) < 0) {
		rc = FSCK_OPERATIONAL;
		goto out;
	}
	summary(fx, "");
	rc = exit_code(fx);
out:
	reset_model(fx);
	free(fx->out);
	fx->out = NULL;
	fx->out_len = fx->out_cap = 0;
	if (fx->fd >= 0)
		close(fx->fd);
	fx->fd = -1;
	return rc;
}
