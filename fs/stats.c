/* SPDX-License-Identifier: MIT */
/* Observability: counters of the pfn table and per-file block maps, as the
 * DAXFS_IOC_STATS and DAXFS_IOC_MAP ioctls report them. */
#include <errno.h>
#include <string.h>

#include "block_map.h"
#include "daxfs_ioctl.h"
#include "inode.h"
#include "layout_break.h"
#include "super.h"

int daxfs_stats(struct daxfs *fs, struct daxfs_ioc_stats *out)
{
	struct daxfs_statfs sf;

	rcu_thread_enter();
	memset(out, 0, sizeof(*out));
	daxfs_statfs(fs, &sf);
	out->block_size = sf.block_size;
	out->total_blocks = sf.total_blocks;
	out->free_blocks = sf.free_blocks;
	out->total_inodes = sf.total_inodes;
	out->free_inodes = sf.free_inodes;

	rcu_read_lock();
	struct pfn_table *t = fs_pfns(fs);
	uint64_t *by_state[] = { &out->pfn_free, &out->pfn_allocated, &out->pfn_tracked,
				 &out->pfn_untracked };
	for (uint64_t i = 0; i < t->nentries; i++) {
		uint64_t w = atomic_load_explicit(&t->entries[i].word, memory_order_relaxed);
		(*by_state[pfn_word_state(w) & 3])++;
		out->refs += pfn_word_refs(w);
		out->pins += pfn_word_pins(w);
		out->pfn_busy += pfn_word_refs(w) != 0;
		out->pfn_pinned += pfn_word_pins(w) != 0;
		out->pfn_deferred += (w & PFN_DEFERRED) != 0;
		out->pfn_tracked_idle += pfn_word_state(w) == PFN_TRACKED && pfn_word_idle(w);
	}
	rcu_read_unlock();

	struct pfn_stats *st = &fs->pfns.stats;
	out->waits = atomic_load(&st->waits);
	out->wait_ns_total = atomic_load(&st->wait_ns_total);
	out->wait_ns_max = atomic_load(&st->wait_ns_max);
	for (int b = 0; b < DAXFS_WAIT_BUCKETS; b++)
		out->wait_hist[b] = atomic_load(&st->wait_hist[b]);
	out->deferred_total = atomic_load(&st->deferred);
	out->deferred_freed = atomic_load(&st->deferred_freed);
	deferred_retry(fs); /* drop entries freed by their last put since */
	out->deferred_queue = deferred_length(fs);
	out->illegal_transitions = atomic_load(&st->illegal_transitions);
	out->pins_active = pins_active(&fs->pinreg);
	out->recalls = atomic_load(&fs->pinreg.recalls);
	out->bounces = atomic_load(&fs->pinreg.bounces);
	pins_limits(&fs->pinreg, out);
	return 0;
}

static uint8_t view_of(uint64_t w)
{
	if (pfn_word_pins(w))
		return DAXFS_VIEW_PINNED;
	switch (pfn_word_state(w)) {
	case PFN_ALLOCATED:
		return DAXFS_VIEW_ALLOCATED;
	case PFN_TRACKED:
		return pfn_word_refs(w) ? DAXFS_VIEW_BUSY : DAXFS_VIEW_TRACKED_IDLE;
	case PFN_UNTRACKED:
		return (w & PFN_DEFERRED) ? DAXFS_VIEW_DEFERRED : DAXFS_VIEW_UNTRACKED;
	default:
		return DAXFS_VIEW_FREE;
	}
}

int daxfs_pfn_views(struct daxfs *fs, struct daxfs_ioc_pfns *p)
{
	rcu_thread_enter();
	rcu_read_lock();
	struct pfn_table *t = fs_pfns(fs);
	p->total = t->nentries;
	p->count = 0;
	for (uint64_t i = p->start; i < t->nentries && p->count < DAXFS_PFNS_MAX; i++)
		p->view[p->count++] =
			view_of(atomic_load_explicit(&t->entries[i].word, memory_order_relaxed));
	rcu_read_unlock();
	return 0;
}

struct map_ctx {
	struct daxfs *fs;
	struct pfn_table *t;
	struct daxfs_ioc_map *map;
	uint64_t last_index;
};

static int add_entry(void *p, uint64_t index, uint64_t blk, bool is_index)
{
	struct map_ctx *c = p;
	struct daxfs_ioc_map *m = c->map;

	if (is_index || index < m->start_block)
		return 0;
	if (m->count == DAXFS_IOC_MAP_MAX) {
		m->next_block = index;
		return 1;
	}
	uint64_t w = atomic_load(&c->t->entries[blk - c->fs->alloc.data_start].word);
	struct daxfs_ioc_map_entry *e = &m->entries[m->count++];
	e->file_block = index;
	e->pool_offset = blk * DAXFS_BLOCK_SIZE;
	e->state = pfn_word_state(w);
	e->refs = pfn_word_refs(w);
	e->pins = pfn_word_pins(w);
	e->flags = (w & PFN_DEFERRED) ? DAXFS_MAP_DEFERRED : 0;
	return 0;
}

int daxfs_block_map(struct daxfs *fs, uint64_t ino, struct daxfs_ioc_map *map)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);

	if (!im)
		return -ENOENT;
	if (!S_ISREG(im->di->mode))
		return -EINVAL;
	map->count = 0;
	map->next_block = UINT64_MAX;
	/* The walk reads index blocks: keep them from being freed under us. */
	pthread_rwlock_rdlock(&im->lock);
	rcu_read_lock();
	struct map_ctx c = { fs, fs_pfns(fs), map, 0 };
	int rc = bmap_walk(fs, im->di, add_entry, &c);
	rcu_read_unlock();
	pthread_rwlock_unlock(&im->lock);
	return rc < 0 ? rc : 0;
}
