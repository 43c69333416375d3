/* SPDX-License-Identifier: MIT */
/*
 * The orphan list: unlinked inodes waiting for the next mount to evict them.
 * Its members are exactly the unreachable, unlinked inodes that were on it
 * or flagged for it; any other unreachable unlinked inode is a leak and is
 * freed here.  The list is rebuilt whole when it is wrong in any way.
 */
#include <stdlib.h>

#include "fsck.h"

struct orphans {
	uint64_t *order; /* the members, in the order the list had them */
	size_t n, cap;
	bool rebuild;
};

static void add_member(struct fsck *fx, struct orphans *o, uint64_t ino)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		uint64_t *n = realloc(o->order, cap * sizeof(*n));
		if (!n)
			out_of_memory();
		o->order = n;
		o->cap = cap;
	}
	o->order[o->n++] = ino;
	fx->ino[ino].flags |= I_MEMBER;
}

static void list_wrong(struct fsck *fx, struct orphans *o, const char *why, uint64_t ino)
{
	if (fix(fx, FIX_PREEN, "rebuild the orphan list", "orphan list: inode %llu %s",
		(unsigned long long)ino, why))
		o->rebuild = true;
}

/* Marks what the on-media list holds, stopping where it leaves the inode
 * table or comes back to an inode it already passed. */
static void walk_list(struct fsck *fx, struct orphans *o)
{
	const struct daxfs_state *st = blk_addr(fx, DAXFS_STATE_BLOCK);
	uint64_t x = st->orphan_head;

	while (x) {
		if (x >= fx->sb.inode_count) {
			list_wrong(fx, o, "is out of range", x);
			return;
		}
		struct ino_info *f = &fx->ino[x];
		if (f->flags & I_LISTED) {
			list_wrong(fx, o, "is on the list twice (the list loops)", x);
			return;
		}
		f->flags |= I_LISTED;
		if (f->kind == K_FREE)
			list_wrong(fx, o, "is free", x);
		x = dinode_at(fx, x)->orphan_next;
	}
}

static bool is_unlinked(const struct fsck *fx, uint64_t ino)
{
	const struct ino_info *f = &fx->ino[ino];

	if (f->kind == K_DIR)
		return !(f->flags & I_REACHED) && !f->nentries && !dinode_at(fx, ino)->nlink;
	return !f->links && !dinode_at(fx, ino)->nlink;
}

static void judge_inode(struct fsck *fx, struct orphans *o, uint64_t ino)
{
	struct ino_info *f = &fx->ino[ino];
	struct daxfs_dinode *di = dinode_at(fx, ino);
	bool flagged = di->flags & DAXFS_INODE_ORPHAN, listed = f->flags & I_LISTED;

	if (!is_unlinked(fx, ino)) {
		if (listed)
			list_wrong(fx, o, "is on the list, but linked", ino);
		else if (flagged)
			list_wrong(fx, o, "is flagged as an orphan, but linked", ino);
		return;
	}
	if (!flagged && !listed) {
		if (fix(fx, FIX_PREEN, "free it",
			"inode %llu (%s): unlinked and unreachable, but not on the orphan list",
			(unsigned long long)ino, kind_name(f->kind))) {
			release_map(fx, ino, di, true);
			free_inode(fx, ino);
		}
		return;
	}
	if (!listed)
		list_wrong(fx, o, "is flagged as an orphan, but not on the list", ino);
	else if (!flagged)
		list_wrong(fx, o, "is on the list, but not flagged as an orphan", ino);
	if (listed)
		return; /* taken in list order below */
	add_member(fx, o, ino);
}

/* Members the list held come first, in its order, then the others. */
static void list_order(struct fsck *fx, struct orphans *o)
{
	const struct daxfs_state *st = blk_addr(fx, DAXFS_STATE_BLOCK);
	size_t flagged_only = o->n;
	uint64_t *tail = NULL;

	if (flagged_only) {
		tail = malloc(flagged_only * sizeof(*tail));
		if (!tail)
			out_of_memory();
		for (size_t i = 0; i < flagged_only; i++)
			tail[i] = o->order[i];
		o->n = 0;
	}
	for (uint64_t x = st->orphan_head, steps = 0;
	     x && x < fx->sb.inode_count && steps < fx->sb.inode_count; steps++) {
		struct ino_info *f = &fx->ino[x];
		if (f->kind != K_FREE && (f->flags & I_LISTED) && !(f->flags & I_MEMBER) &&
		    is_unlinked(fx, x))
			add_member(fx, o, x);
		x = dinode_at(fx, x)->orphan_next;
	}
	for (size_t i = 0; i < flagged_only; i++)
		add_member(fx, o, tail[i]);
	free(tail);
}

static void rebuild(struct fsck *fx, struct orphans *o)
{
	struct daxfs_state *st = blk_addr(fx, DAXFS_STATE_BLOCK);

	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++) {
		struct daxfs_dinode *di = dinode_at(fx, ino);
		if (fx->ino[ino].kind == K_FREE || (fx->ino[ino].flags & I_MEMBER))
			continue;
		if (di->flags & DAXFS_INODE_ORPHAN)
			fx_store4(fx, &di->flags, di->flags & ~DAXFS_INODE_ORPHAN);
		if (di->orphan_next)
			fx_store8(fx, &di->orphan_next, 0);
	}
	for (size_t i = 0; i < o->n; i++) {
		struct daxfs_dinode *di = dinode_at(fx, o->order[i]);
		fx_store8(fx, &di->orphan_next, i + 1 < o->n ? o->order[i + 1] : 0);
		fx_store4(fx, &di->flags, di->flags | DAXFS_INODE_ORPHAN);
	}
	fx_store8(fx, &st->orphan_head, o->n ? o->order[0] : 0);
}

void check_orphans(struct fsck *fx)
{
	struct orphans o = {0};

	walk_list(fx, &o);
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++)
		if (fx->ino[ino].kind != K_FREE)
			judge_inode(fx, &o, ino);
	list_order(fx, &o);
	if (o.rebuild)
		rebuild(fx, &o);
	fx->n_orphans = o.n;
	note(fx, "orphan list: %zu unlinked inodes wait for the next mount to evict them", o.n);
	free(o.order);
}
