/* SPDX-License-Identifier: MIT */
#include "block_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t capacity(unsigned height)
{
	return 1ULL << (DAXFS_PTR_SHIFT * height);
}

static uint64_t *node_of(struct daxfs *fs, uint64_t blk)
{
	return pool_block(&fs->pool, blk);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static unsigned slot_at(uint64_t index, unsigned level)
{
	return (unsigned)((index >> (DAXFS_PTR_SHIFT * level)) & (DAXFS_PTRS_PER_BLOCK - 1));
}

/* Looks index up; on a hole, *skip is how many indexes from index on are
 * certainly holes too. */
static uint64_t lookup_skip(struct daxfs *fs, const struct daxfs_dinode *di, uint64_t index,
			    uint64_t *skip)
{
	uint64_t m = load(&di->map);
	unsigned h = DAXFS_MAP_HEIGHT(m);
	uint64_t node = DAXFS_MAP_ROOT(m);

	*skip = 1;
	if (!m) {
		*skip = UINT64_MAX - index;
		return 0;
	}
	if (index >= capacity(h)) {
		*skip = UINT64_MAX - index;
		return 0;
	}
	if (h == 0)
		return node;
	for (unsigned level = h; level-- > 0;) {
		uint64_t p = load(&node_of(fs, node)[slot_at(index, level)]);
		if (!p) {
			uint64_t span = capacity(level);
			*skip = span - (index & (span - 1));
			return 0;
		}
		node = p;
	}
	return node;
}

uint64_t bmap_lookup(struct daxfs *fs, const struct daxfs_dinode *di, uint64_t index)
{
	uint64_t skip;

	return lookup_skip(fs, di, index, &skip);
}

uint64_t bmap_seek(struct daxfs *fs, const struct daxfs_dinode *di, uint64_t from, uint64_t limit,
		   bool data)
{
	uint64_t i = from, skip;

	while (i < limit) {
		bool has = lookup_skip(fs, di, i, &skip) != 0;
		if (has == data)
			return i;
		if (has || skip > limit - i)
			skip = has ? 1 : limit - i;
		i += skip;
	}
	return limit;
}

/* Stores a pointer readers may follow at once; flushed, and fenced by the
 * caller's next drain. */
static void publish8(struct daxfs *fs, uint64_t *slot, uint64_t v)
{
	__atomic_store_n(slot, v, __ATOMIC_RELEASE);
	pool_flush(&fs->pool, slot, sizeof(*slot));
}

static int new_index_block(struct daxfs *fs, struct daxfs_dinode *di, uint64_t *blk)
{
	int rc = fs_block_alloc(fs, blk);

	if (rc)
		return rc;
	/* One fence for the zeros and the count: both must be durable before
	 * the block is linked, neither before the other (the block is
	 * unreachable until then, so its contents do not matter). */
	pool_memset_nodrain(&fs->pool, node_of(fs, *blk), 0, DAXFS_BLOCK_SIZE);
	__atomic_store_n(&di->blocks, di->blocks + 1, __ATOMIC_RELEASE);
	pool_flush(&fs->pool, &di->blocks, sizeof(di->blocks));
	pool_drain(&fs->pool);
	return 0;
}

static int grow(struct daxfs *fs, struct daxfs_dinode *di, uint64_t index)
{
	for (;;) {
		uint64_t m = di->map, blk;
		unsigned h = DAXFS_MAP_HEIGHT(m);
		if (!m || index < capacity(h))
			return 0;
		int rc = new_index_block(fs, di, &blk);
		if (rc)
			return rc;
		/* The old root must be durable in the new one before the map word
		 * points at it: a fence in between. */
		pool_store8(&fs->pool, &node_of(fs, blk)[0], DAXFS_MAP_ROOT(m));
		publish8(fs, &di->map, DAXFS_MAP_WORD(blk, h + 1));
	}
}

/* Leaves at most this many index blocks at once: 256 MiB of a file. */
#define RESERVE_BATCH 128

/* Zeroes new index blocks for the slots, makes them durable with one fence
 * and links them; slots it gets no block for stay empty. */
static void link_leaves(struct daxfs *fs, struct daxfs_dinode *di, uint64_t **slots, unsigned n)
{
	uint64_t blk[RESERVE_BATCH];
	int got = fs_block_alloc_many(fs, blk, n);

	if (got <= 0)
		return;
	for (int i = 0; i < got; i++)
		pool_memset_nodrain(&fs->pool, node_of(fs, blk[i]), 0, DAXFS_BLOCK_SIZE);
	__atomic_store_n(&di->blocks, di->blocks + (uint64_t)got, __ATOMIC_RELEASE);
	pool_flush(&fs->pool, &di->blocks, sizeof(di->blocks));
	pool_drain(&fs->pool);
	for (int i = 0; i < got; i++)
		publish8(fs, slots[i], blk[i]);
}

/* The slot in the node above the leaf of index, NULL if a node on the way
 * is missing. */
static uint64_t *leaf_slot(struct daxfs *fs, const struct daxfs_dinode *di, uint64_t index)
{
	unsigned h = DAXFS_MAP_HEIGHT(di->map);
	uint64_t node = DAXFS_MAP_ROOT(di->map);

	for (unsigned level = h; level-- > 2;) {
		node = node_of(fs, node)[slot_at(index, level)];
		if (!node)
			return NULL;
	}
	return &node_of(fs, node)[slot_at(index, 1)];
}

void bmap_reserve(struct daxfs *fs, struct daxfs_dinode *di, uint64_t first, uint64_t last)
{
	uint64_t *slots[RESERVE_BATCH];
	unsigned n = 0;

	if (last <= first)
		return;
	if (!di->map) {
		uint64_t root;
		unsigned h = 1;
		while (last >= capacity(h))
			h++;
		if (new_index_block(fs, di, &root))
			return;
		publish8(fs, &di->map, DAXFS_MAP_WORD(root, h));
	}
	if (grow(fs, di, last) || DAXFS_MAP_HEIGHT(di->map) < 2)
		return;
	for (uint64_t i = first - first % capacity(1); i <= last; i += capacity(1)) {
		uint64_t *slot = leaf_slot(fs, di, i);
		if (!slot || *slot)
			continue;
		slots[n++] = slot;
		if (n == RESERVE_BATCH) {
			link_leaves(fs, di, slots, n);
			n = 0;
		}
	}
	if (n)
		link_leaves(fs, di, slots, n);
}

int bmap_set(struct daxfs *fs, struct daxfs_dinode *di, uint64_t index, uint64_t blk)
{
	int rc;

	if (!di->map) {
		if (index == 0) {
			publish8(fs, &di->map, DAXFS_MAP_WORD(blk, 0));
			return 0;
		}
		uint64_t root;
		unsigned h = 1;
		while (index >= capacity(h))
			h++;
		rc = new_index_block(fs, di, &root);
		if (rc)
			return rc;
		publish8(fs, &di->map, DAXFS_MAP_WORD(root, h));
	}
	rc = grow(fs, di, index);
	if (rc)
		return rc;
	unsigned h = DAXFS_MAP_HEIGHT(di->map);
	if (h == 0) {
		publish8(fs, &di->map, DAXFS_MAP_WORD(blk, 0));
		return 0;
	}
	uint64_t node = DAXFS_MAP_ROOT(di->map);
	for (unsigned level = h; level-- > 1;) {
		uint64_t *slot = &node_of(fs, node)[slot_at(index, level)];
		if (!*slot) {
			uint64_t child;
			rc = new_index_block(fs, di, &child);
			if (rc)
				return rc;
			publish8(fs, slot, child);
		}
		node = *slot;
	}
	publish8(fs, &node_of(fs, node)[slot_at(index, 0)], blk);
	return 0;
}

/* At each level a range of n blocks meets at most ceil(n / span) + 1
 * nodes (it need not start at a node's edge), and growing the map's height
 * adds at most one node per level, the one wrapping the old root, which the
 * range need not meet; the top level is the single root. */
uint64_t bmap_index_blocks_worst(uint64_t n)
{
	uint64_t total = 0;
	unsigned h = 0;

	if (n == 0)
		return 0;
	while (capacity(h) < DAXFS_MAX_FILE_SIZE / DAXFS_BLOCK_SIZE)
		h++;
	for (unsigned level = 1; level < h; level++) {
		uint64_t span = capacity(level);
		total += (n + span - 1) / span + 2;
	}
	return total + 1;
}

static int list_add(struct block_list *l, uint64_t blk)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint64_t *nb = realloc(l->blk, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		l->blk = nb;
		l->cap = cap;
	}
	l->blk[l->n++] = blk;
	return 0;
}

void block_list_free(struct block_list *l)
{
	free(l->blk);
	memset(l, 0, sizeof(*l));
}

struct remove_ctx {
	struct daxfs *fs;
	uint64_t first, last;
	struct block_list *data, *index;
};

static bool node_empty(const uint64_t *node)
{
	for (unsigned i = 0; i < DAXFS_PTRS_PER_BLOCK; i++)
		if (node[i])
			return false;
	return true;
}

/* Removes [first, last] below node, whose slots at level cover base +
 * i * capacity(level); *empty says whether the node is left without any
 * pointer.  Only the slots that meet the range are visited, and the cleared
 * ones are flushed together; the caller drains. */
static int remove_below(struct remove_ctx *c, uint64_t node, unsigned level, uint64_t base,
			bool *empty)
{
	uint64_t *slots = node_of(c->fs, node), span = capacity(level);
	uint64_t node_last = base + span * DAXFS_PTRS_PER_BLOCK - 1;

	if (c->first > node_last || c->last < base) {
		*empty = node_empty(slots);
		return 0;
	}
	unsigned lo = c->first > base ? (unsigned)((c->first - base) / span) : 0;
	unsigned hi = c->last < node_last ? (unsigned)((c->last - base) / span)
					  : DAXFS_PTRS_PER_BLOCK - 1;
	unsigned flo = DAXFS_PTRS_PER_BLOCK, fhi = 0;
	int rc = 0;

	for (unsigned i = lo; i <= hi; i++) {
		/* Maps are mostly sparse at their right end: skip runs of
		 * eight empty slots at a time. */
		if (i % 8 == 0 && i + 7 <= hi &&
		    !(slots[i] | slots[i + 1] | slots[i + 2] | slots[i + 3] | slots[i + 4] |
		      slots[i + 5] | slots[i + 6] | slots[i + 7])) {
			i += 7;
			continue;
		}
		uint64_t p = slots[i];
		if (!p)
			continue;
		if (level > 0) {
			uint64_t clo = base + i * span;
			bool child_empty;
			rc = remove_below(c, p, level - 1, clo, &child_empty);
			if (rc)
				break;
			if (!child_empty)
				continue;
			if (list_add(c->index, p)) {
				rc = -ENOMEM;
				break;
			}
		} else if (list_add(c->data, p)) {
			rc = -ENOMEM;
			break;
		}
		__atomic_store_n(&slots[i], 0, __ATOMIC_RELEASE);
		if (i < flo)
			flo = i;
		fhi = i;
	}
	if (flo <= fhi)
		pool_flush(&c->fs->pool, &slots[flo], (size_t)(fhi - flo + 1) * 8);
	/* A range that covers the whole node has cleared every slot. */
	*empty = !rc && c->first <= base && c->last >= node_last ? true : node_empty(slots);
	return rc;
}

int bmap_remove(struct daxfs *fs, struct daxfs_dinode *di, uint64_t first, uint64_t last,
		struct block_list *data, struct block_list *index)
{
	struct remove_ctx c = { fs, first, last, data, index };
	uint64_t m = di->map;
	unsigned h = DAXFS_MAP_HEIGHT(m);
	bool empty;
	int rc = 0;

	if (!m || first > last)
		return 0;
	if (h == 0) {
		if (first == 0) {
			if (list_add(data, DAXFS_MAP_ROOT(m)))
				return -ENOMEM;
			pool_store8(&fs->pool, &di->map, 0);
		}
		return 0;
	}
	rc = remove_below(&c, DAXFS_MAP_ROOT(m), h - 1, 0, &empty);
	pool_drain(&fs->pool);
	if (!rc && empty) {
		rc = list_add(index, DAXFS_MAP_ROOT(m));
		if (!rc)
			pool_store8(&fs->pool, &di->map, 0);
	}
	return rc;
}

struct walk_ctx {
	struct daxfs *fs;
	int (*fn)(void *, uint64_t, uint64_t, bool);
	void *ctx;
};

static int walk_below(struct walk_ctx *w, uint64_t node, unsigned level, uint64_t base)
{
	const uint64_t *slots = node_of(w->fs, node);

	for (unsigned i = 0; i < DAXFS_PTRS_PER_BLOCK; i++) {
		uint64_t p = slots[i];
		if (!p)
			continue;
		if (!block_is_data(&w->fs->alloc, p))
			return -EUCLEAN;
		uint64_t idx = base + i * capacity(level);
		int rc = w->fn(w->ctx, idx, p, level > 0);
		if (rc)
			return rc;
		if (level > 0) {
			rc = walk_below(w, p, level - 1, idx);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int bmap_walk(struct daxfs *fs, const struct daxfs_dinode *di,
	      int (*fn)(void *ctx, uint64_t index, uint64_t blk, bool is_index), void *ctx)
{
	struct walk_ctx w = { fs, fn, ctx };
	uint64_t m = di->map;
	unsigned h = DAXFS_MAP_HEIGHT(m);

	if (!m)
		return 0;
	if (!block_is_data(&fs->alloc, DAXFS_MAP_ROOT(m)))
		return -EUCLEAN;
	int rc = fn(ctx, 0, DAXFS_MAP_ROOT(m), h > 0);
	if (rc || h == 0)
		return rc;
	return walk_below(&w, DAXFS_MAP_ROOT(m), h - 1, 0);
}
