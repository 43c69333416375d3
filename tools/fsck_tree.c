/* SPDX-License-Identifier: MIT */
/*
 * The shape of the tree: every directory reachable from the root through
 * the one entry it kept, no cycles; what is cut off goes to lost+found.
 * Then the link counts.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck.h"

static void path_push(struct fsck *fx, size_t n, uint64_t x)
{
	if (n == fx->chain_cap) {
		size_t cap = fx->chain_cap ? fx->chain_cap * 2 : 64;
		uint32_t *p = realloc(fx->chain, cap * sizeof(*p));
		if (!p)
			out_of_memory();
		fx->chain = p;
		fx->chain_cap = cap;
	}
	fx->chain[n] = (uint32_t)x;
	fx->ino[x].flags |= I_ONPATH;
}

/* Follows the chain of entries up from dir, marking every directory on it
 * reachable or not; a chain that meets itself is a cycle, cut off from the
 * root. */
static void follow_chain(struct fsck *fx, uint64_t dir)
{
	size_t n = 0;
	bool reached = false;

	for (uint64_t x = dir;;) {
		struct ino_info *f = &fx->ino[x];
		if (f->flags & I_DONE) {
			reached = f->flags & I_REACHED;
			break;
		}
		if (f->flags & I_ONPATH)
			break;
		path_push(fx, n++, x);
		if (!f->entry_dir)
			break;
		x = f->entry_dir;
	}
	for (size_t i = 0; i < n; i++) {
		struct ino_info *f = &fx->ino[fx->chain[i]];
		f->flags = (uint8_t)((f->flags & ~I_ONPATH) | I_DONE | (reached ? I_REACHED : 0));
	}
}

static void compute_reach(struct fsck *fx)
{
	for (uint64_t ino = 0; ino < fx->sb.inode_count; ino++)
		fx->ino[ino].flags &= (uint8_t) ~(I_REACHED | I_DONE | I_ONPATH);
	fx->ino[DAXFS_ROOT_INO].flags |= I_REACHED | I_DONE;
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++)
		if (fx->ino[ino].kind == K_DIR)
			follow_chain(fx, ino);
}

/* Adds name -> target to a directory checked already: a free slot, or a new
 * zeroed block, published as the daemon would (name first, ino last). */
static bool dir_add(struct fsck *fx, uint64_t dir, const char *name, uint64_t target, uint8_t dtype)
{
	struct daxfs_dinode *di = dinode_at(fx, dir);
	uint64_t nblocks = di->size / DAXFS_BLOCK_SIZE;
	struct daxfs_dirent *de = NULL;

	if (!fx->writable) {
		fx->ino[dir].nentries++;
		return true; /* nothing to find slots in: the model is enough */
	}
	for (uint64_t i = 0; i < nblocks && !de; i++) {
		uint64_t blk = map_lookup(fx, di, i);
		struct daxfs_dirent *slots = blk ? blk_addr(fx, blk) : NULL;
		for (unsigned k = 0; slots && k < DAXFS_DIRENTS_PER_BLOCK && !de; k++)
			if (!slots[k].ino)
				de = &slots[k];
	}
	if (!de) {
		/* A growth that a crash cut short (or damage) may have left a
		 * block mapped at the next index already: its slots were never
		 * part of the directory, so it becomes the new block, emptied.
		 * Mapping another over it would lose it, or, in a one-block
		 * map, write the pointer into the block itself. */
		uint64_t blk = map_lookup(fx, di, nblocks);
		if (blk) {
			fx_memset(fx, blk_addr(fx, blk), 0, DAXFS_BLOCK_SIZE);
		} else {
			blk = alloc_block(fx);
			if (!blk)
				return false;
			if (!map_insert(fx, di, nblocks, blk)) {
				/* Unmapped, so the bitmap phase frees it again. */
				bit_clear(fx->reach, blk - fx->sb.data_start);
				bit_set(fx->released, blk - fx->sb.data_start);
				return false;
			}
			fx_store8(fx, &di->blocks, di->blocks + 1);
		}
		fx_store8(fx, &di->size, di->size + DAXFS_BLOCK_SIZE);
		de = blk_addr(fx, blk);
	}
	struct {
		uint16_t name_len;
		uint8_t type, pad[5];
	} head = {(uint16_t)strlen(name), dtype, {0}};
	fx_memcpy(fx, &de->name_len, &head, sizeof(head));
	fx_memcpy(fx, de->name, name, head.name_len);
	fx_store8(fx, &de->ino, target);
	fx->ino[dir].nentries++;
	return true;
}

static void cannot_reconnect(struct fsck *fx, const char *why)
{
	if (fx->lf_failed)
		return;
	fx->lf_failed = true;
	unfixable(fx, "cannot reconnect to /lost+found: %s", why);
}

static uint64_t make_lost_found(struct fsck *fx)
{
	uint64_t ino = DAXFS_ROOT_INO + 1;
	struct timespec now;

	while (ino < fx->sb.inode_count && fx->ino[ino].kind != K_FREE)
		ino++;
	if (ino >= fx->sb.inode_count) {
		cannot_reconnect(fx, "no free inode to make it");
		return 0;
	}
	struct daxfs_dinode *di = dinode_at(fx, ino);
	struct daxfs_dinode lf = {.mode = S_IFDIR | 0700, .nlink = 2, .parent = DAXFS_ROOT_INO};
	clock_gettime(CLOCK_REALTIME, &now);
	lf.generation = di->generation + 1;
	lf.atime.sec = now.tv_sec;
	lf.atime.nsec = (uint32_t)now.tv_nsec;
	lf.mtime = lf.ctime = lf.btime = lf.atime;
	fx_memcpy(fx, di, &lf, sizeof(lf));
	if (!dir_add(fx, DAXFS_ROOT_INO, LOST_FOUND, ino, DT_DIR)) {
		free_inode(fx, ino);
		cannot_reconnect(fx, "no space left for a directory block");
		return 0;
	}
	struct ino_info *f = &fx->ino[ino];
	f->kind = K_DIR;
	f->flags = I_REACHED | I_DONE;
	f->entry_dir = DAXFS_ROOT_INO;
	fx->ino[DAXFS_ROOT_INO].subdirs++;
	struct daxfs_dinode *root = dinode_at(fx, DAXFS_ROOT_INO);
	fx_store4(fx, &root->nlink, root->nlink + 1);
	fx->n_inodes++;
	fx->n_dirs++;
	if (fx->persist)
		say(fx, "created /%s (inode %llu)", LOST_FOUND, (unsigned long long)ino);
	return ino;
}

/* An existing lost+found must be a directory the root reaches through its
 * own entry: anything else could end up holding itself. */
static uint64_t lost_found(struct fsck *fx)
{
	uint64_t lf = fx->lost_found;

	if (fx->lf_failed)
		return 0;
	if (lf && fx->ino[lf].kind == K_DIR && (fx->ino[lf].flags & I_REACHED) &&
	    fx->ino[lf].entry_dir == DAXFS_ROOT_INO)
		return lf;
	if (lf || fx->lf_taken) {
		cannot_reconnect(fx,
				 "the root's " LOST_FOUND " is not a directory reached from it");
		return 0;
	}
	fx->lost_found = make_lost_found(fx);
	return fx->lost_found;
}

static struct xref *find_xref(struct fsck *fx, uint64_t target, uint64_t dir)
{
	struct xref key = {.target = (uint32_t)target};
	size_t lo = 0, hi = fx->nxrefs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (fx->xrefs[mid].target < key.target)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < fx->nxrefs && fx->xrefs[lo].target == target; lo++)
		if (fx->xrefs[lo].dir == dir)
			return &fx->xrefs[lo];
	return NULL;
}

/* top's own entry, if any, sits in a cycle: it moves to lost+found. */
static void reconnect_dir(struct fsck *fx, uint64_t top)
{
	struct ino_info *f = &fx->ino[top];
	struct daxfs_dinode *di = dinode_at(fx, top);
	char name[32];

	if (!fix(fx, FIX_YES, "reconnect it to /lost+found",
		 "directory %llu is not reachable from the root%s", (unsigned long long)top,
		 f->entry_dir ? " (its entries form a cycle)" : ""))
		return;
	uint64_t lf = lost_found(fx);
	if (!lf)
		return;
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)top);
	if (!dir_add(fx, lf, name, top, DT_DIR)) {
		cannot_reconnect(fx, "no space left for a directory block");
		return;
	}
	struct xref *old = f->entry_dir ? find_xref(fx, top, f->entry_dir) : NULL;
	if (old) {
		struct daxfs_dinode *h = dinode_at(fx, old->dir);
		fx_store8(fx, &dirent_at(fx, old->de_off)->ino, 0);
		fx->ino[old->dir].nentries--;
		fx->ino[old->dir].subdirs--;
		if (h->nlink > 2)
			fx_store4(fx, &h->nlink, h->nlink - 1);
		old->target = 0;
	}
	fx_store8(fx, &di->parent, lf);
	f->entry_dir = (uint32_t)lf;
	f->flags |= I_REACHED;
	fx->ino[lf].subdirs++;
	struct daxfs_dinode *ldi = dinode_at(fx, lf);
	fx_store4(fx, &ldi->nlink, ldi->nlink + 1);
	fx->n_reconnected++;
}

/* The highest directory of dir's chain that is cut off: the one without an
 * entry, or in a cycle the one whose entry closes it.  0 if the chain
 * reaches the root (through a directory reconnected meanwhile). */
static uint64_t chain_top(struct fsck *fx, uint64_t dir)
{
	uint64_t x = dir, top = 0;
	size_t n = 0;

	for (;;) {
		struct ino_info *f = &fx->ino[x];
		if (x == DAXFS_ROOT_INO || (f->flags & I_REACHED))
			break;
		if (f->flags & I_ONPATH) {
			top = fx->chain[n - 1];
			break;
		}
		path_push(fx, n++, x);
		if (!f->entry_dir) {
			top = x;
			break;
		}
		x = f->entry_dir;
	}
	for (size_t i = 0; i < n; i++)
		fx->ino[fx->chain[i]].flags &= (uint8_t)~I_ONPATH;
	return top;
}

static void reconnect_dirs(struct fsck *fx)
{
	for (uint64_t ino = DAXFS_ROOT_INO + 1; ino < fx->sb.inode_count; ino++) {
		struct ino_info *f = &fx->ino[ino];
		if (f->kind != K_DIR || (f->flags & I_REACHED))
			continue;
		/* An empty directory with no links is an orphan, or a leak. */
		if (!dinode_at(fx, ino)->nlink && !f->nentries)
			continue;
		uint64_t top = chain_top(fx, ino);
		if (top)
			reconnect_dir(fx, top);
	}
}

static void reconnect_files(struct fsck *fx)
{
	char name[32];

	for (uint64_t ino = DAXFS_ROOT_INO + 1; ino < fx->sb.inode_count; ino++) {
		struct ino_info *f = &fx->ino[ino];
		struct daxfs_dinode *di = dinode_at(fx, ino);
		if (f->kind == K_FREE || f->kind == K_DIR || f->links || !di->nlink)
			continue;
		if (!fix(fx, FIX_YES, "reconnect it to /lost+found",
			 "inode %llu (%s): link count %u, but no entry names it",
			 (unsigned long long)ino, kind_name(f->kind), di->nlink))
			continue;
		uint64_t lf = lost_found(fx);
		if (!lf)
			continue;
		snprintf(name, sizeof(name), "#%llu", (unsigned long long)ino);
		if (!dir_add(fx, lf, name, ino, (uint8_t)dtype_of(di->mode))) {
			cannot_reconnect(fx, "no space left for a directory block");
			continue;
		}
		f->links = 1;
		fx->n_reconnected++;
	}
}

void check_tree(struct fsck *fx)
{
	compute_reach(fx);
	reconnect_dirs(fx);
	compute_reach(fx);
	reconnect_files(fx);
	note(fx, "tree: %llu inodes reconnected to /%s", (unsigned long long)fx->n_reconnected,
	     LOST_FOUND);
}

/* A file's count is its entries; a directory's is 2 plus its children.
 * Unlinked inodes are the orphan phase's. */
void check_link_counts(struct fsck *fx)
{
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++) {
		struct ino_info *f = &fx->ino[ino];
		struct daxfs_dinode *di = dinode_at(fx, ino);
		uint64_t want;
		if (f->kind == K_FREE || f->kind == K_SUSPECT)
			continue;
		if (f->kind == K_DIR) {
			if (!(f->flags & I_REACHED))
				continue;
			want = 2 + (uint64_t)f->subdirs;
		} else {
			if (!f->links)
				continue;
			want = f->links;
		}
		if (want > UINT32_MAX)
			want = UINT32_MAX;
		if (di->nlink != want &&
		    fix(fx, FIX_PREEN, "correct it",
			"inode %llu (%s): link count %u, should be %llu", (unsigned long long)ino,
			kind_name(f->kind), di->nlink, (unsigned long long)want))
			fx_store4(fx, &di->nlink, (uint32_t)want);
	}
}
