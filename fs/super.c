/* SPDX-License-Identifier: MIT */
/* Mount, unmount, statfs, and the per-thread RCU registration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block_map.h"
#include "inode.h"
#include "layout_break.h"
#include "recovery.h"
#include "super.h"

static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static __thread bool rcu_registered;

static void rcu_thread_exit(void *unused)
{
	(void)unused;
	rcu_unregister_thread();
}

static void make_rcu_key(void)
{
	pthread_key_create(&rcu_key, rcu_thread_exit);
}

void rcu_thread_enter(void)
{
	if (rcu_registered)
		return;
	pthread_once(&rcu_key_once, make_rcu_key);
	rcu_register_thread();
	pthread_setspecific(rcu_key, (void *)1);
	rcu_registered = true;
}

static void free_deferred_block(void *ctx, uint64_t pfn)
{
	struct daxfs *fs = ctx;

	block_alloc_put(&fs->alloc, fs->alloc.data_start + pfn);
}

static void teardown(struct daxfs *fs)
{
	/* Index blocks still waiting in call_rcu go back to the allocator
	 * while it and the pfn table exist. */
	rcu_barrier();
	if (fs->pfns.table)
		pins_destroy(fs);
	inode_cache_destroy(fs);
	free(fs->ifree);
	if (fs->pfns.table) {
		free(fs->pfns.table);
		pfn_domain_destroy(&fs->pfns);
	}
	block_alloc_destroy(&fs->alloc);
	undo_log_destroy(&fs->log);
	deferred_destroy(fs);
	pool_close(&fs->pool);
	free(fs);
}

static int check_state_block(struct daxfs *fs, char *err, size_t errlen)
{
	const struct daxfs_state *st = pool_state(&fs->pool);

	if (st->magic != DAXFS_STATE_MAGIC ||
	    (st->state != DAXFS_POOL_CLEAN && st->state != DAXFS_POOL_MOUNTED) ||
	    st->orphan_head >= fs->inode_count) {
		snprintf(err, errlen, "%s: the state block is damaged (run fsck.daxfs)",
			 fs->pool.path);
		return -EUCLEAN;
	}
	const struct daxfs_dinode *root = dinode(fs, DAXFS_ROOT_INO);
	if (!S_ISDIR(root->mode) || root->nlink < 2) {
		snprintf(err, errlen, "%s: the root inode is damaged (run fsck.daxfs)",
			 fs->pool.path);
		return -EUCLEAN;
	}
	return 0;
}

static int recover_log(struct daxfs *fs, char *err, size_t errlen)
{
	int rc = undo_log_recover(&fs->pool);

	if (rc == -EROFS)
		snprintf(err, errlen,
			 "%s was not unmounted cleanly and needs recovery: mount it read-write "
			 "once",
			 fs->pool.path);
	else if (rc < 0)
		snprintf(err, errlen, "%s: the undo log is damaged (run fsck.daxfs)",
			 fs->pool.path);
	return rc < 0 ? rc : 0;
}

static int build_tables(struct daxfs *fs)
{
	const struct daxfs_super *sb = pool_super(&fs->pool);
	int rc;

	undo_log_init(&fs->log, &fs->pool);
	if ((rc = block_alloc_init(&fs->alloc, &fs->pool)))
		return rc;
	pfn_domain_init(&fs->pfns, free_deferred_block, fs);
	pins_init(&fs->pinreg, sb->data_blocks, &fs->opts);
	struct pfn_table *t = pfn_table_new(&fs->pfns, sb->data_blocks, sb->data_start);
	if (!t)
		return -ENOMEM;
	rcu_assign_pointer(fs->pfns.table, t);
	if ((rc = inode_cache_init(fs)))
		return rc;
	return 0;
}

static void mark_mounted(struct daxfs *fs, bool dirty, const struct recovery_report *rep)
{
	struct daxfs_state *st = pool_state(&fs->pool);

	if (dirty)
		st->recovered_blocks = rep->bitmap_fixed;
	st->mount_count++;
	st->last_mount_time = time(NULL);
	pool_persist(&fs->pool, st, 64);
	pool_store8(&fs->pool, &st->state, DAXFS_POOL_MOUNTED);
}

int daxfs_mount(const char *pool_path, const struct daxfs_mount_opts *opts,
		struct daxfs **out, char *err, size_t errlen)
{
	struct recovery_report rep = { 0 };
	int rc;

	rcu_thread_enter();
	struct daxfs *fs = calloc(1, sizeof(*fs));
	if (!fs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (opts)
		fs->opts = *opts;
	deferred_init(fs);
	pthread_mutex_init(&fs->orphan_lock, NULL);
	pthread_mutex_init(&fs->rename_lock, NULL);
	pthread_mutex_init(&fs->bg_lock, NULL);
	pthread_cond_init(&fs->bg_cond, NULL);
	unsigned flags = POOL_LOCK | (fs->opts.read_only ? POOL_READ_ONLY : 0) |
			 (fs->opts.serves_kernel_mount ? POOL_SERVING : 0);
	if ((rc = pool_open(&fs->pool, pool_path, flags, err, errlen))) {
		free(fs);
		return rc;
	}
	fs->inode_count = pool_super(&fs->pool)->inode_count;
	fs->itable = pool_block(&fs->pool, pool_super(&fs->pool)->itable_start);
	if ((rc = recover_log(fs, err, errlen)) || (rc = check_state_block(fs, err, errlen)))
		goto fail;
	if ((rc = build_tables(fs))) {
		snprintf(err, errlen, "out of memory building the in-memory tables");
		goto fail;
	}
	bool dirty = pool_state(&fs->pool)->state != DAXFS_POOL_CLEAN;
	if (dirty && fs->opts.read_only && pool_state(&fs->pool)->orphan_head) {
		snprintf(err, errlen,
			 "%s was not unmounted cleanly and has orphans to reclaim: mount it "
			 "read-write once",
			 fs->pool.path);
		rc = -EROFS;
		goto fail;
	}
	if ((rc = recovery_scan(fs, dirty, &rep, err, errlen)))
		goto fail;
	if ((rc = inode_numbers_init(fs))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!fs->opts.read_only && (rc = recovery_orphans(fs, &rep, err, errlen)))
		goto fail;
	if (rep.bitmap_fixed && !dirty)
		fprintf(stderr, "daxfs: %s: the allocation bitmap disagreed in %llu blocks; rebuilt\n",
			fs->pool.path, (unsigned long long)rep.bitmap_fixed);
	if (!fs->opts.read_only)
		mark_mounted(fs, dirty, &rep);
	*out = fs;
	return 0;
fail:
	teardown(fs);
	return rc;
}

static void *background(void *arg)
{
	struct daxfs *fs = arg;
	struct timespec ts;

	pthread_mutex_lock(&fs->bg_lock);
	while (!fs->bg_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&fs->bg_cond, &fs->bg_lock, &ts);
		pthread_mutex_unlock(&fs->bg_lock);
		/* Backstop for deferred blocks whose last put went unseen. */
		deferred_retry(fs);
		pthread_mutex_lock(&fs->bg_lock);
	}
	pthread_mutex_unlock(&fs->bg_lock);
	return NULL;
}

int daxfs_start_background(struct daxfs *fs)
{
	if (fs->bg_running)
		return 0;
	int rc = pthread_create(&fs->bg_thread, NULL, background, fs);
	if (rc)
		return -rc;
	fs->bg_running = true;
	return 0;
}

static void stop_background(struct daxfs *fs)
{
	if (!fs->bg_running)
		return;
	pthread_mutex_lock(&fs->bg_lock);
	fs->bg_stop = true;
	pthread_cond_signal(&fs->bg_cond);
	pthread_mutex_unlock(&fs->bg_lock);
	pthread_join(fs->bg_thread, NULL);
	fs->bg_running = false;
}

/* At unmount nothing can reach an unlinked inode any more, whatever lookup
 * counts the kernel did not get round to forgetting. */
static void evict_unlinked(struct daxfs *fs)
{
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fs->inode_count; ino++) {
		struct inode_mem *im = atomic_load(&fs->icache[ino]);
		if (im && !im->dead && im->di->mode && im->di->nlink == 0)
			inode_evict(fs, im);
	}
}

int daxfs_unmount(struct daxfs *fs, struct daxfs_unmount_report *report)
{
	struct daxfs_unmount_report rep = { 0 };

	rcu_thread_enter();
	stop_background(fs);
	/* Every handle is gone with the session: pins left over belong to
	 * nobody any more, and the final wait must not wait for them. */
	rep.pins_dropped = pins_active(&fs->pinreg);
	pins_destroy(fs);
	pins_init(&fs->pinreg, fs->alloc.nblocks, &fs->opts);
	if (!fs->opts.read_only) {
		evict_unlinked(fs);
		rep.busy_blocks_waited = deferred_drain(fs, &rep.wait_seconds);
		struct daxfs_state *st = pool_state(&fs->pool);
		st->last_unmount_time = time(NULL);
		pool_persist(&fs->pool, &st->last_unmount_time, 8);
		pool_store8(&fs->pool, &st->state, DAXFS_POOL_CLEAN);
	}
	rcu_barrier();
	if (report)
		*report = rep;
	teardown(fs);
	return 0;
}

void daxfs_abandon(struct daxfs *fs)
{
	rcu_thread_enter();
	stop_background(fs);
	rcu_barrier();
	teardown(fs);
}

/* The largest n whose data and worst-case index blocks fit in free. */
static uint64_t avail_data_blocks(uint64_t free)
{
	uint64_t lo = 0, hi = free;

	while (lo < hi) {
		uint64_t mid = hi - (hi - lo) / 2;
		if (mid + bmap_index_blocks_worst(mid) <= free)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

int daxfs_statfs(struct daxfs *fs, struct daxfs_statfs *out)
{
	rcu_thread_enter();
	out->block_size = DAXFS_BLOCK_SIZE;
	out->total_blocks = fs->alloc.nblocks;
	/* Index blocks in their grace period count as free: an allocation
	 * that needs them waits for them (fs_block_alloc). */
	out->free_blocks = atomic_load(&fs->alloc.nfree) + atomic_load(&fs->index_pending);
	out->avail_blocks = avail_data_blocks(out->free_blocks);
	out->total_inodes = fs->inode_count - 1;
	out->free_inodes = inode_numbers_free(fs);
	out->name_max = DAXFS_NAME_MAX;
	return 0;
}
