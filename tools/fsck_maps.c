/* SPDX-License-Identifier: MIT */
/*
 * Block maps, read with a range check before every dereference, and the few
 * writes lost+found needs: allocating a block and mapping it.
 */
#include <string.h>

#include "fsck.h"

static uint64_t span_of(unsigned level)
{
	return 1ULL << (DAXFS_PTR_SHIFT * level);
}

/* node is an index block in range, level levels above the data blocks. */
static void walk_index(struct fsck *fx, uint64_t ino, uint64_t node, unsigned level, uint64_t base,
		       map_visit_fn fn, void *ctx)
{
	uint64_t *slots = blk_addr(fx, node);
	uint64_t span = span_of(level - 1);

	for (unsigned i = 0; i < DAXFS_PTRS_PER_BLOCK; i++) {
		uint64_t p = __atomic_load_n(&slots[i], __ATOMIC_RELAXED);
		if (!p)
			continue;
		struct map_visit v = {
		    .ino = ino,
		    .blk = p,
		    .index = base + i * span,
		    .level = level - 1,
		    .in_range = is_data_block(fx, p),
		    .slot = &slots[i],
		};
		if (fn(fx, &v, ctx) && v.level > 0 && v.in_range)
			walk_index(fx, ino, p, level - 1, v.index, fn, ctx);
	}
}

void walk_map(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, map_visit_fn fn, void *ctx)
{
	uint64_t m = di->map;

	if (!m)
		return;
	struct map_visit v = {
	    .ino = ino,
	    .blk = DAXFS_MAP_ROOT(m),
	    .level = DAXFS_MAP_HEIGHT(m),
	    .in_range = is_data_block(fx, DAXFS_MAP_ROOT(m)),
	    .slot = &di->map,
	    .is_root = true,
	};
	if (fn(fx, &v, ctx) && v.level > 0 && v.in_range)
		walk_index(fx, ino, v.blk, v.level, 0, fn, ctx);
}

uint64_t map_lookup(struct fsck *fx, const struct daxfs_dinode *di, uint64_t index)
{
	uint64_t m = di->map, node = DAXFS_MAP_ROOT(m);
	unsigned h = DAXFS_MAP_HEIGHT(m);

	if (!m || !is_data_block(fx, node) || index >= span_of(h))
		return 0;
	for (unsigned level = h; level > 0; level--) {
		const uint64_t *slots = blk_addr(fx, node);
		node =
		    slots[(index >> (DAXFS_PTR_SHIFT * (level - 1))) & (DAXFS_PTRS_PER_BLOCK - 1)];
		if (!node || !is_data_block(fx, node))
			return 0;
	}
	return node;
}

static uint64_t *bitmap_words(struct fsck *fx)
{
	return blk_addr(fx, fx->sb.bitmap_start);
}

/* Follows the format's publication order: the block is zeroed and its bit
 * set, both persisted, before anything points to it. */
uint64_t alloc_block(struct fsck *fx)
{
	uint64_t n = fx->sb.data_blocks, *bm = bitmap_words(fx);

	for (uint64_t w = 0; w < (n + 63) / 64; w++) {
		uint64_t busy = fx->reach[w] | fx->released[w] | bm[w];
		if (busy == ~0ULL)
			continue;
		uint64_t pfn = w * 64 + (uint64_t)__builtin_ctzll(~busy);
		if (pfn >= n)
			break;
		uint64_t blk = fx->sb.data_start + pfn;
		fx_memset(fx, blk_addr(fx, blk), 0, DAXFS_BLOCK_SIZE);
		fx_store8(fx, &bm[w], bm[w] | 1ULL << (pfn % 64));
		bit_set(fx->reach, pfn);
		return blk;
	}
	return 0;
}

static bool new_index_block(struct fsck *fx, struct daxfs_dinode *di, uint64_t *blk)
{
	*blk = alloc_block(fx);
	if (!*blk)
		return false;
	fx_store8(fx, &di->blocks, di->blocks + 1);
	return true;
}

/* bmap_set of fs/block_map.c, over a map the inode phase has validated. */
bool map_insert(struct fsck *fx, struct daxfs_dinode *di, uint64_t index, uint64_t blk)
{
	uint64_t m = di->map, node;

	/* index must be a hole: in a one-block map, block 0 is the root. */
	if (m && DAXFS_MAP_HEIGHT(m) == 0 && index == 0)
		return false;
	if (!m && index == 0) {
		fx_store8(fx, &di->map, DAXFS_MAP_WORD(blk, 0));
		return true;
	}
	if (!m) {
		unsigned h = 1;
		while (index >= span_of(h))
			h++;
		if (!new_index_block(fx, di, &node))
			return false;
		fx_store8(fx, &di->map, DAXFS_MAP_WORD(node, h));
	}
	while (index >= span_of(DAXFS_MAP_HEIGHT(di->map))) {
		m = di->map;
		if (!new_index_block(fx, di, &node))
			return false;
		fx_store8(fx, blk_addr(fx, node), DAXFS_MAP_ROOT(m));
		fx_store8(fx, &di->map, DAXFS_MAP_WORD(node, DAXFS_MAP_HEIGHT(m) + 1));
	}
	node = DAXFS_MAP_ROOT(di->map);
	for (unsigned level = DAXFS_MAP_HEIGHT(di->map); level > 1; level--) {
		uint64_t *slot =
		    (uint64_t *)blk_addr(fx, node) +
		    ((index >> (DAXFS_PTR_SHIFT * (level - 1))) & (DAXFS_PTRS_PER_BLOCK - 1));
		if (!*slot) {
			uint64_t child;
			if (!new_index_block(fx, di, &child))
				return false;
			fx_store8(fx, slot, child);
		}
		node = *slot;
	}
	fx_store8(fx, (uint64_t *)blk_addr(fx, node) + (index & (DAXFS_PTRS_PER_BLOCK - 1)), blk);
	return true;
}

struct release_ctx {
	bool walked;
};

/* A walked map marked its blocks reachable and lost every doubly-owned
 * pointer on the way, so all it still points to is its own.  A map never
 * walked (an inode cleared before it was trusted) may point anywhere: it
 * gives up only the blocks nothing reached. */
static bool release_visit(struct fsck *fx, const struct map_visit *v, void *ctx)
{
	const struct release_ctx *c = ctx;

	if (!v->in_range)
		return false;
	uint64_t pfn = v->blk - fx->sb.data_start;
	if (c->walked) {
		bit_clear(fx->reach, pfn);
		bit_set(fx->released, pfn);
	} else if (!bit_test(fx->reach, pfn)) {
		bit_set(fx->released, pfn);
	}
	return true;
}

void release_map(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, bool walked)
{
	struct release_ctx c = {walked};

	walk_map(fx, ino, di, release_visit, &c);
}

void free_inode(struct fsck *fx, uint64_t ino)
{
	struct daxfs_dinode *di = dinode_at(fx, ino);
	struct daxfs_dinode blank = {.generation = di->generation};
	unsigned kind = fx->ino[ino].kind;

	/* The inode phase marked the set of an inode whose type it trusted. */
	release_xattrs(fx, di, kind != K_FREE && kind != K_SUSPECT);
	/* mode goes to 0 with the rest: the inode is free from then on. */
	fx_memcpy(fx, di, &blank, sizeof(blank));
	memset(&fx->ino[ino], 0, sizeof(fx->ino[ino]));
}
