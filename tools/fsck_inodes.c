/* SPDX-License-Identifier: MIT */
/* The inode table, every block map, the blocks counts and the bitmap. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck.h"

unsigned kind_of_mode(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return K_REG;
	case S_IFDIR:
		return K_DIR;
	case S_IFLNK:
		return K_LNK;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return K_SPECIAL;
	}
	return K_SUSPECT;
}

const char *kind_name(unsigned kind)
{
	static const char *const names[] = {"free inode", "regular file", "directory",
					    "symlink",	  "special file", "damaged inode"};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

struct walk_count {
	uint64_t count, index_blocks, max_index;
	bool has_data, cleared;
};

static void describe(const struct map_visit *v, char *buf, size_t len)
{
	if (v->level == 0)
		snprintf(buf, len, "file block %llu", (unsigned long long)v->index);
	else
		snprintf(buf, len, "index block at level %u covering file blocks from %llu",
			 v->level, (unsigned long long)v->index);
}

static void remember_dup(struct fsck *fx, uint64_t blk)
{
	if (fx->ndups == fx->dups_cap) {
		size_t cap = fx->dups_cap ? fx->dups_cap * 2 : 16;
		uint64_t *n = realloc(fx->dups, cap * sizeof(*n));
		if (!n)
			return; /* only the note naming the first owner is lost */
		fx->dups = n;
		fx->dups_cap = cap;
	}
	fx->dups[fx->ndups++] = blk;
}

/* Marks each block the first time a map reaches it; a pointer out of the
 * data area or to a block already reached is cleared (the first owner keeps
 * the block, and nothing below a dropped index block is followed). */
static bool mark_visit(struct fsck *fx, const struct map_visit *v, void *ctx)
{
	struct walk_count *wc = ctx;
	char where[96];

	describe(v, where, sizeof(where));
	if (!v->in_range) {
		bool apply;
		if (v->is_root && v->blk == 0)
			apply = fix(fx, FIX_YES, "clear the map",
				    "inode %llu: map word %#llx has no root",
				    (unsigned long long)v->ino, (unsigned long long)*v->slot);
		else
			apply = fix(fx, FIX_YES, "clear the pointer",
				    "inode %llu: block pointer %llu (%s) out of range",
				    (unsigned long long)v->ino, (unsigned long long)v->blk, where);
		if (apply)
			fx_store8(fx, v->slot, 0);
		wc->cleared = true;
		return false;
	}
	uint64_t pfn = v->blk - fx->sb.data_start;
	if (bit_test(fx->reach, pfn)) {
		remember_dup(fx, v->blk);
		if (fix(fx, FIX_YES, "clear this pointer",
			"inode %llu: block %llu (%s) is owned twice", (unsigned long long)v->ino,
			(unsigned long long)v->blk, where))
			fx_store8(fx, v->slot, 0);
		wc->cleared = true;
		return false;
	}
	bit_set(fx->reach, pfn);
	wc->count++;
	if (v->level > 0) {
		wc->index_blocks++;
	} else if (!wc->has_data || v->index > wc->max_index) {
		wc->max_index = v->index;
		wc->has_data = true;
	}
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct owner_ctx {
	size_t left;
	uint8_t *named;
};

static bool owner_visit(struct fsck *fx, const struct map_visit *v, void *ctx)
{
	struct owner_ctx *c = ctx;

	if (!v->in_range)
		return false;
	uint64_t *hit = bsearch(&v->blk, fx->dups, fx->ndups, sizeof(uint64_t), cmp_u64);
	if (hit && !c->named[hit - fx->dups]) {
		c->named[hit - fx->dups] = 1;
		c->left--;
		say(fx, "block %llu is kept by inode %llu (%s %llu)", (unsigned long long)v->blk,
		    (unsigned long long)v->ino,
		    v->level ? "index block for file blocks from" : "file block",
		    (unsigned long long)v->index);
	}
	return c->left > 0;
}

/* The walk that found a block twice cannot know who had it first without a
 * table of owners; a second walk, only when there are doubles, tells. */
void name_first_owners(struct fsck *fx)
{
	size_t n = 0;

	if (!fx->ndups)
		return;
	qsort(fx->dups, fx->ndups, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < fx->ndups; i++)
		if (i == 0 || fx->dups[i] != fx->dups[i - 1])
			fx->dups[n++] = fx->dups[i];
	fx->ndups = n;
	struct owner_ctx c = {n, calloc(n, 1)};
	if (!c.named)
		return;
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count && c.left; ino++) {
		unsigned k = fx->ino[ino].kind;
		if (k != K_FREE && k != K_SUSPECT)
			walk_map(fx, ino, dinode_at(fx, ino), owner_visit, &c);
	}
	free(c.named);
}

static void check_times(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di)
{
	struct daxfs_ts *ts[] = {&di->atime, &di->mtime, &di->ctime, &di->btime};
	static const char *const names[] = {"atime", "mtime", "ctime", "btime"};

	for (int i = 0; i < 4; i++)
		if (ts[i]->nsec >= 1000000000u &&
		    fix(fx, FIX_YES, "set them to 0", "inode %llu: %s nanoseconds %u out of range",
			(unsigned long long)ino, names[i], ts[i]->nsec))
			fx_store4(fx, &ts[i]->nsec, 0);
}

static void check_fields(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, unsigned kind)
{
	check_times(fx, ino, di);
	if (di->flags & ~DAXFS_INODE_KNOWN_FLAGS &&
	    fix(fx, FIX_YES, "clear them", "inode %llu: unknown flags %#x", (unsigned long long)ino,
		di->flags & ~DAXFS_INODE_KNOWN_FLAGS))
		fx_store4(fx, &di->flags, di->flags & DAXFS_INODE_KNOWN_FLAGS);
	if (di->rdev && !S_ISCHR(di->mode) && !S_ISBLK(di->mode) &&
	    fix(fx, FIX_YES, "clear it", "inode %llu (%s): device number %#llx set",
		(unsigned long long)ino, kind_name(kind), (unsigned long long)di->rdev))
		fx_store8(fx, &di->rdev, 0);
	if (di->parent && kind != K_DIR &&
	    fix(fx, FIX_YES, "clear it", "inode %llu (%s): parent %llu set on a non-directory",
		(unsigned long long)ino, kind_name(kind), (unsigned long long)di->parent))
		fx_store8(fx, &di->parent, 0);
}

static void check_special(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di)
{
	if (di->size && fix(fx, FIX_YES, "set it to 0", "inode %llu (special file): size %llu",
			    (unsigned long long)ino, (unsigned long long)di->size))
		fx_store8(fx, &di->size, 0);
	if (di->map && fix(fx, FIX_YES, "drop the map",
			   "inode %llu (special file): has a block map", (unsigned long long)ino)) {
		release_map(fx, ino, di, false);
		fx_store8(fx, &di->map, 0);
		fx_store8(fx, &di->blocks, 0);
	}
}

/* The size that keeps every mapped byte: up to the last non-zero byte of
 * the last mapped block (a whole block if it is all zeros). */
static uint64_t size_from_map(struct fsck *fx, const struct daxfs_dinode *di,
			      const struct walk_count *wc)
{
	if (!wc->has_data)
		return 0;
	uint64_t at = wc->max_index * DAXFS_BLOCK_SIZE, blk = map_lookup(fx, di, wc->max_index);
	if (at >= DAXFS_MAX_FILE_SIZE)
		return DAXFS_MAX_FILE_SIZE;
	if (!blk)
		return at;
	const unsigned char *p = blk_addr(fx, blk);
	size_t n = DAXFS_BLOCK_SIZE;
	while (n > 0 && !p[n - 1])
		n--;
	return at + (n ? n : DAXFS_BLOCK_SIZE);
}

static void check_size(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, unsigned kind,
		       const struct walk_count *wc)
{
	uint64_t size = di->size, want;

	if (kind == K_REG && size > DAXFS_MAX_FILE_SIZE) {
		want = size_from_map(fx, di, wc);
		if (fix(fx, FIX_YES, "set it to the mapped length",
			"inode %llu (regular file): size %llu exceeds 256 GiB; mapped: %llu",
			(unsigned long long)ino, (unsigned long long)size,
			(unsigned long long)want))
			fx_store8(fx, &di->size, want);
	}
	if (kind != K_DIR || (size <= DAXFS_MAX_FILE_SIZE && size % DAXFS_BLOCK_SIZE == 0))
		return;
	if (size > DAXFS_MAX_FILE_SIZE) {
		want = wc->has_data ? (wc->max_index + 1) * DAXFS_BLOCK_SIZE : 0;
		if (want > DAXFS_MAX_FILE_SIZE)
			want = DAXFS_MAX_FILE_SIZE;
	} else {
		/* Keep the partial block if it is there: it holds entries. */
		want = size / DAXFS_BLOCK_SIZE;
		want = (map_lookup(fx, di, want) ? want + 1 : want) * DAXFS_BLOCK_SIZE;
	}
	if (fix(fx, FIX_YES, "round it to whole blocks", "directory %llu: size %llu is %s",
		(unsigned long long)ino, (unsigned long long)size,
		size > DAXFS_MAX_FILE_SIZE ? "over 256 GiB" : "not a multiple of 4096"))
		fx_store8(fx, &di->size, want);
}

/* A directory grows a mapped block at a time, so every file block below
 * its size is mapped; the mount refuses a hole (it would make walks of the
 * slots as long as the size instead of the blocks).  The directory ends at
 * the first hole: entries in blocks past it are no longer read, and what
 * only they named is reconnected.  The loop stops at the first hole, so it
 * runs at most once per mapped block. */
static void check_dir_hole(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di)
{
	uint64_t nblocks = di->size / DAXFS_BLOCK_SIZE, i;

	for (i = 0; i < nblocks && map_lookup(fx, di, i); i++)
		;
	if (i < nblocks &&
	    fix(fx, FIX_YES, "end the directory there",
		"directory %llu: file block %llu, below its size %llu, is a hole",
		(unsigned long long)ino, (unsigned long long)i, (unsigned long long)di->size))
		fx_store8(fx, &di->size, i * DAXFS_BLOCK_SIZE);
}

/* Returns false when the symlink had to be cleared. */
static bool check_symlink(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di)
{
	uint64_t blk = map_lookup(fx, di, 0), size = di->size;

	if (!blk) {
		if (fix(fx, FIX_YES, "clear the inode", "symlink %llu has no target block",
			(unsigned long long)ino)) {
			release_map(fx, ino, di, true);
			free_inode(fx, ino);
		}
		return false;
	}
	const char *t = blk_addr(fx, blk);
	size_t n = strnlen(t, DAXFS_BLOCK_SIZE);
	if (size == 0 || size > DAXFS_SYMLINK_MAX || memchr(t, 0, size)) {
		if (n == 0 || n > DAXFS_SYMLINK_MAX) {
			if (fix(fx, FIX_YES, "clear the inode", "symlink %llu has no valid target",
				(unsigned long long)ino)) {
				release_map(fx, ino, di, true);
				free_inode(fx, ino);
			}
			return false;
		}
		if (fix(fx, FIX_YES, "set it to the target's length",
			"symlink %llu: size %llu does not match its %zu-byte target",
			(unsigned long long)ino, (unsigned long long)size, n))
			fx_store8(fx, &di->size, n);
		size = n;
	}
	for (size_t i = size; i < DAXFS_BLOCK_SIZE; i++) {
		if (!t[i])
			continue;
		if (fix(fx, FIX_YES, "zero them",
			"symlink %llu: bytes after the target are not zero",
			(unsigned long long)ino))
			fx_memset(fx, (char *)t + size, 0, DAXFS_BLOCK_SIZE - size);
		break;
	}
	return true;
}

static void count_kind(struct fsck *fx, unsigned kind)
{
	fx->n_inodes++;
	if (kind == K_DIR)
		fx->n_dirs++;
	else if (kind == K_REG)
		fx->n_files++;
	else if (kind == K_LNK)
		fx->n_symlinks++;
	else
		fx->n_special++;
}

void check_inode_body(struct fsck *fx, uint64_t ino)
{
	struct daxfs_dinode *di = dinode_at(fx, ino);
	unsigned kind = fx->ino[ino].kind;
	struct walk_count wc = {0};

	check_fields(fx, ino, di, kind);
	if (kind == K_SPECIAL)
		check_special(fx, ino, di);
	if (ino == DAXFS_ROOT_INO && di->parent != DAXFS_ROOT_INO &&
	    fix(fx, FIX_YES, "set it to 1", "root directory: '..' names inode %llu",
		(unsigned long long)di->parent))
		fx_store8(fx, &di->parent, DAXFS_ROOT_INO);
	bool xattrs_dropped;
	wc.count = check_xattrs(fx, ino, di, &xattrs_dropped);
	wc.cleared = xattrs_dropped;
	walk_map(fx, ino, di, mark_visit, &wc);
	check_size(fx, ino, di, kind, &wc);
	/* An unlinked orphan's map may already be emptied by an eviction that
	 * a crash cut short (docs/format.md): the orphan pass owns it. */
	bool evicting = di->nlink == 0 && (di->flags & DAXFS_INODE_ORPHAN);
	if (kind == K_DIR && !evicting)
		check_dir_hole(fx, ino, di);
	if (kind == K_LNK && !evicting && !check_symlink(fx, ino, di))
		return;
	if (di->blocks != wc.count) {
		/* After dropped pointers the count is part of that repair.  A
		 * crash can leave it stale (a block published, the count not
		 * yet stored): every read-write mount recomputes it. */
		if (wc.cleared)
			fx_store8(fx, &di->blocks, wc.count);
		else if (!fx->was_clean)
			note(fx,
			     "inode %llu: blocks is %llu, its map holds %llu: left for the mount",
			     (unsigned long long)ino, (unsigned long long)di->blocks,
			     (unsigned long long)wc.count);
		else if (fix(fx, FIX_PREEN, "correct it",
			     "inode %llu (%s): blocks is %llu, its map holds %llu",
			     (unsigned long long)ino, kind_name(kind),
			     (unsigned long long)di->blocks, (unsigned long long)wc.count))
			fx_store8(fx, &di->blocks, wc.count);
	}
	fx->n_blocks += wc.count;
	fx->n_index_blocks += wc.index_blocks;
	count_kind(fx, kind);
}

/* The root must be a directory: a damaged type becomes one, anything else
 * is replaced by an empty directory (the tree below it goes to lost+found). */
static void fix_root(struct fsck *fx, struct daxfs_dinode *di, unsigned kind)
{
	if (kind == K_SUSPECT) {
		if (fix(fx, FIX_YES, "make it a directory", "root inode: invalid mode %#o",
			di->mode))
			fx_store4(fx, &di->mode, S_IFDIR | (di->mode ? di->mode & 07777 : 0755));
		return;
	}
	if (!fix(fx, FIX_YES, "make it a new empty directory", "root inode is %s%s",
		 kind == K_FREE ? "" : "a ", kind == K_FREE ? "free" : kind_name(kind)))
		return;
	struct daxfs_dinode root = {0};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	release_map(fx, DAXFS_ROOT_INO, di, false);
	release_xattrs(fx, di, false);
	root.mode = S_IFDIR | 0755;
	root.nlink = 2;
	root.generation = di->generation + 1;
	root.parent = DAXFS_ROOT_INO;
	root.atime.sec = now.tv_sec;
	root.atime.nsec = (uint32_t)now.tv_nsec;
	root.mtime = root.ctime = root.btime = root.atime;
	fx_memcpy(fx, di, &root, sizeof(root));
}

/* Eviction zeroes an inode but for its generation.  A free inode that is
 * not zero is harmless (creation rewrites all of it): a warning. */
static void check_free_inode(struct fsck *fx, uint64_t ino, const struct daxfs_dinode *di)
{
	struct daxfs_dinode blank = {.generation = di->generation};

	if (memcmp(di, &blank, sizeof(blank)))
		warn(fx, "inode %llu is free but not zeroed", (unsigned long long)ino);
}

static void check_inode(struct fsck *fx, uint64_t ino)
{
	struct daxfs_dinode *di = dinode_at(fx, ino);
	/* Eviction zeroes nlink with the mode: a zero mode with links left is
	 * a damaged in-use inode, and its entries may tell what it was. */
	unsigned kind = di->mode ? kind_of_mode(di->mode) : di->nlink ? K_SUSPECT : K_FREE;

	if (ino == DAXFS_ROOT_INO && kind != K_DIR) {
		fix_root(fx, di, kind);
		kind = K_DIR;
	}
	if (kind == K_FREE) {
		check_free_inode(fx, ino, di);
		return;
	}
	fx->ino[ino].kind = (uint8_t)kind;
	/* A damaged type waits for the entries naming it. */
	if (kind != K_SUSPECT)
		check_inode_body(fx, ino);
}

int check_inodes(struct fsck *fx)
{
	uint64_t n = fx->sb.inode_count, words = (fx->sb.data_blocks + 63) / 64;
	struct daxfs_dinode blank = {0};

	fx->ino = calloc(n, sizeof(*fx->ino));
	fx->reach = calloc(words, sizeof(uint64_t));
	fx->released = calloc(words, sizeof(uint64_t));
	if (!fx->ino || !fx->reach || !fx->released) {
		fprintf(stderr, "fsck.daxfs: out of memory for %llu inodes\n",
			(unsigned long long)n);
		return -1;
	}
	if (memcmp(dinode_at(fx, 0), &blank, sizeof(blank)))
		warn(fx, "inode 0 is not zero");
	for (uint64_t ino = DAXFS_ROOT_INO; ino < n; ino++) {
		if (ino % 4096 == 0)
			progress(fx, "checking inodes and block maps", ino, n);
		check_inode(fx, ino);
	}
	progress_end(fx);
	note(fx,
	     "inodes: %llu in use: %llu directories, %llu regular files, %llu symlinks, "
	     "%llu special; %llu blocks mapped, %llu of them index blocks",
	     (unsigned long long)fx->n_inodes, (unsigned long long)fx->n_dirs,
	     (unsigned long long)fx->n_files, (unsigned long long)fx->n_symlinks,
	     (unsigned long long)fx->n_special, (unsigned long long)fx->n_blocks,
	     (unsigned long long)fx->n_index_blocks);
	return 0;
}

/* Collects runs of blocks for one line each; past a limit, one line says
 * how many more there were. */
struct runs {
	const char *what; /* after "is" or "are" */
	const char *action;
	enum fix_class cls;
	bool report;
	uint64_t start, len, nruns, extra_runs, extra_blocks;
};

#define MAX_RUN_LINES 50

static bool flush_run(struct fsck *fx, struct runs *r)
{
	char range[48];
	bool apply = true;

	if (!r->len || !r->report)
		return true;
	if (r->nruns++ < MAX_RUN_LINES) {
		if (r->len == 1)
			snprintf(range, sizeof(range), "block %llu is",
				 (unsigned long long)r->start);
		else
			snprintf(range, sizeof(range), "blocks %llu-%llu are",
				 (unsigned long long)r->start,
				 (unsigned long long)(r->start + r->len - 1));
		apply = fix(fx, r->cls, r->action, "bitmap: %s %s", range, r->what);
	} else {
		r->extra_runs++;
		r->extra_blocks += r->len;
	}
	r->len = 0;
	return apply;
}

static bool add_to_run(struct fsck *fx, struct runs *r, uint64_t blk)
{
	bool apply = true;

	if (r->len && r->start + r->len == blk) {
		r->len++;
		return true;
	}
	apply = flush_run(fx, r);
	r->start = blk;
	r->len = 1;
	return apply;
}

static bool finish_runs(struct fsck *fx, struct runs *r)
{
	bool apply = flush_run(fx, r);

	if (r->extra_runs && r->report)
		apply &= fix(fx, r->cls, r->action, "bitmap: %llu more runs (%llu blocks) are %s",
			     (unsigned long long)r->extra_runs, (unsigned long long)r->extra_blocks,
			     r->what);
	return apply;
}

static uint64_t tail_mask(uint64_t nblocks, uint64_t w)
{
	uint64_t first = w * 64;

	if (first >= nblocks)
		return 0;
	return nblocks - first >= 64 ? ~0ULL : (1ULL << (nblocks - first)) - 1;
}

/* The bitmap must be exactly the reachable set.  A reachable block marked
 * free is corruption; a block marked used that nothing reaches is a leak,
 * expected after a crash (the next mount rebuilds the bitmap) and an error
 * on a clean pool; blocks the repairs dropped are freed silently. */
void check_bitmap(struct fsck *fx)
{
	uint64_t *bm = blk_addr(fx, fx->sb.bitmap_start), n = fx->sb.data_blocks;
	uint64_t words = fx->sb.bitmap_blocks * (DAXFS_BLOCK_SIZE / 8), leaked = 0;
	struct runs missing = {.what = "in use but marked free",
			       .action = "correct the bitmap",
			       .cls = FIX_PREEN,
			       .report = true};
	struct runs leaks = {.what = "marked in use, but unowned",
			     .action = "correct the bitmap",
			     .cls = FIX_PREEN,
			     .report = fx->was_clean};
	bool rewrite = false, apply = true, past = false;

	for (uint64_t w = 0; w < words; w++) {
		uint64_t mask = tail_mask(n, w), want = w * 64 < n ? fx->reach[w] : 0;
		uint64_t have = bm[w], diff = (want ^ have) & mask;
		past |= (have & ~mask) != 0;
		if (!diff)
			continue;
		for (uint64_t d = diff; d; d &= d - 1) {
			unsigned b = (unsigned)__builtin_ctzll(d);
			uint64_t pfn = w * 64 + b;
			if (want >> b & 1) {
				apply &= add_to_run(fx, &missing, fx->sb.data_start + pfn);
				rewrite = true;
			} else if (!bit_test(fx->released, pfn)) {
				apply &= add_to_run(fx, &leaks, fx->sb.data_start + pfn);
				leaked++;
				rewrite |= fx->was_clean;
			} else {
				rewrite = true;
			}
		}
	}
	apply &= finish_runs(fx, &missing);
	apply &= finish_runs(fx, &leaks);
	if (past) {
		apply &=
		    fix(fx, FIX_PREEN, "clear them", "bitmap: bits set past the last data block");
		rewrite = true;
	}
	if (rewrite && apply)
		for (uint64_t w = 0; w < words; w++) {
			uint64_t want = w * 64 < n ? fx->reach[w] & tail_mask(n, w) : 0;
			if (bm[w] != want)
				fx_store8(fx, &bm[w], want);
		}
	if (leaked && !fx->was_clean)
		note(fx,
		     "bitmap: %llu blocks leaked by the unclean shutdown; the next mount frees "
		     "them",
		     (unsigned long long)leaked);
}
