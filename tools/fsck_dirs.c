/* SPDX-License-Identifier: MIT */
/*
 * Directory entries: the live rule, names, duplicates, type bytes; damaged
 * inode types taken back from the entries naming them; and the choice of
 * the one entry each directory keeps.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fsck.h"

/* A name as it can be printed on one line. */
static const char *shown(const struct daxfs_dirent *de, char *buf, size_t len)
{
	size_t n = de->name_len <= DAXFS_NAME_MAX ? de->name_len : DAXFS_NAME_MAX;

	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)de->name[i];
		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[n] = 0;
	return buf;
}

/* Removing an entry is one atomic store of its ino, as dir_remove does. */
static bool remove_entry(struct fsck *fx, uint64_t dir, struct daxfs_dirent *de, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));

static bool remove_entry(struct fsck *fx, uint64_t dir, struct daxfs_dirent *de, const char *fmt,
			 ...)
{
	char name[DAXFS_NAME_MAX + 1], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!fix(fx, FIX_YES, "remove the entry", "directory %llu, entry '%s': %s",
		 (unsigned long long)dir, shown(de, name, sizeof(name)), why))
		return false;
	fx_store8(fx, &de->ino, 0);
	return true;
}

static bool is_dot(const char *name, size_t len)
{
	return (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
}

/* '/' and NUL become '.', as e2fsck does, unless that leaves a dot name. */
static bool salvage_name(struct fsck *fx, uint64_t dir, struct daxfs_dirent *de)
{
	char fixed[DAXFS_NAME_MAX], name[DAXFS_NAME_MAX + 1];
	bool bad = false;

	memcpy(fixed, de->name, de->name_len);
	for (unsigned i = 0; i < de->name_len; i++)
		if (fixed[i] == '/' || fixed[i] == 0) {
			fixed[i] = '.';
			bad = true;
		}
	if (is_dot(fixed, de->name_len))
		return !remove_entry(fx, dir, de, "a name that is '.' or '..'");
	if (bad && fix(fx, FIX_YES, "replace them with '.'",
		       "directory %llu, entry '%s': name contains '/' or NUL",
		       (unsigned long long)dir, shown(de, name, sizeof(name))))
		fx_memcpy(fx, de->name, fixed, de->name_len);
	return true;
}

/* The rules that make a slot live (format §9), checked in the order that
 * makes the others safe to evaluate. */
static bool entry_sane(struct fsck *fx, uint64_t dir, struct daxfs_dirent *de)
{
	uint64_t t = de->ino;

	if (de->name_len == 0 || de->name_len > DAXFS_NAME_MAX) {
		if (fix(fx, FIX_YES, "remove the entry",
			"directory %llu: entry for inode %llu has name length %u",
			(unsigned long long)dir, (unsigned long long)t, de->name_len))
			fx_store8(fx, &de->ino, 0);
		return false;
	}
	if (t >= fx->sb.inode_count)
		return !remove_entry(fx, dir, de, "inode %llu out of range", (unsigned long long)t);
	if (fx->ino[t].kind == K_FREE)
		return !remove_entry(fx, dir, de, "names free inode %llu", (unsigned long long)t);
	if (t == DAXFS_ROOT_INO)
		return !remove_entry(fx, dir, de, "names the root directory");
	if (t == dir)
		return !remove_entry(fx, dir, de, "names its own directory");
	for (int i = 0; i < 5; i++)
		if (de->pad[i]) {
			warn(fx, "directory %llu: entry for inode %llu has non-zero padding",
			     (unsigned long long)dir, (unsigned long long)t);
			break;
		}
	return salvage_name(fx, dir, de);
}

struct dent {
	uint64_t hash, slot;
	struct daxfs_dirent *de;
};

struct scan {
	uint64_t dir, nblocks;
	struct dent *v;
	size_t n, cap;
	bool oom;
};

static uint64_t name_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
	return h;
}

static void push_dent(struct scan *s, uint64_t slot, struct daxfs_dirent *de)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct dent *n = realloc(s->v, cap * sizeof(*n));
		if (!n) {
			s->oom = true;
			return;
		}
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = (struct dent){name_hash(de->name, de->name_len), slot, de};
}

static bool scan_visit(struct fsck *fx, const struct map_visit *v, void *ctx)
{
	struct scan *s = ctx;

	if (!v->in_range)
		return false;
	if (v->level > 0)
		return true;
	/* Blocks past the size are not part of the directory (yet). */
	if (v->index >= s->nblocks)
		return true;
	struct daxfs_dirent *de = blk_addr(fx, v->blk);
	for (unsigned k = 0; k < DAXFS_DIRENTS_PER_BLOCK; k++)
		if (de[k].ino && entry_sane(fx, s->dir, &de[k]))
			push_dent(s, v->index * DAXFS_DIRENTS_PER_BLOCK + k, &de[k]);
	const char *tail = (const char *)(de + DAXFS_DIRENTS_PER_BLOCK);
	for (size_t i = 0; i < DAXFS_BLOCK_SIZE % sizeof(*de); i++)
		if (tail[i]) {
			warn(fx, "directory %llu: block %llu has a non-zero tail",
			     (unsigned long long)s->dir, (unsigned long long)v->blk);
			break;
		}
	return true;
}

static int cmp_dent_name(const struct dent *x, const struct dent *y)
{
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->de->name_len != y->de->name_len)
		return x->de->name_len < y->de->name_len ? -1 : 1;
	return memcmp(x->de->name, y->de->name, x->de->name_len);
}

/* Equal names sort by slot: the first slot keeps the name. */
static int cmp_dent(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	int c = cmp_dent_name(x, y);

	if (c)
		return c;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static void push_xref(struct fsck *fx, uint64_t target, uint64_t dir, struct daxfs_dirent *de)
{
	if (fx->nxrefs == fx->xrefs_cap) {
		size_t cap = fx->xrefs_cap ? fx->xrefs_cap * 2 : 256;
		struct xref *n = realloc(fx->xrefs, cap * sizeof(*n));
		if (!n)
			out_of_memory();
		fx->xrefs = n;
		fx->xrefs_cap = cap;
	}
	fx->xrefs[fx->nxrefs++] = (struct xref){(uint32_t)target, (uint32_t)dir, pool_off(fx, de)};
}

/* A live, unique entry: counted as a link, or kept for the tree phase. */
static void record_entry(struct fsck *fx, uint64_t dir, struct daxfs_dirent *de)
{
	uint64_t t = de->ino;
	struct ino_info *ti = &fx->ino[t];
	char name[DAXFS_NAME_MAX + 1];

	fx->ino[dir].nentries++;
	fx->n_entries++;
	if (ti->kind == K_SUSPECT) {
		/* The entries are what tells the type of a damaged inode. */
		if (ti->dtype == DT_NONE)
			ti->dtype = de->type ? de->type : DT_CONFLICT;
		else if (ti->dtype != de->type)
			ti->dtype = DT_CONFLICT;
		push_xref(fx, t, dir, de);
		return;
	}
	uint8_t want = (uint8_t)dtype_of(dinode_at(fx, t)->mode);
	if (de->type != want && fix(fx, FIX_YES, "correct it",
				    "directory %llu, entry '%s': type %u, but inode %llu is a %s",
				    (unsigned long long)dir, shown(de, name, sizeof(name)),
				    de->type, (unsigned long long)t, kind_name(ti->kind)))
		fx_memcpy(fx, &de->type, &want, 1);
	if (ti->kind == K_DIR)
		push_xref(fx, t, dir, de);
	else
		ti->links++;
	if (dir == DAXFS_ROOT_INO && de->name_len == strlen(LOST_FOUND) &&
	    !memcmp(de->name, LOST_FOUND, de->name_len)) {
		if (ti->kind == K_DIR)
			fx->lost_found = t;
		else
			fx->lf_taken = true;
	}
}

/* Every slot of every block below the size; names must be unique, the
 * first slot keeps a name. */
static void scan_dir(struct fsck *fx, uint64_t dir)
{
	struct daxfs_dinode *di = dinode_at(fx, dir);
	struct scan s = {.dir = dir, .nblocks = di->size / DAXFS_BLOCK_SIZE};
	char name[DAXFS_NAME_MAX + 1];

	walk_map(fx, dir, di, scan_visit, &s);
	if (s.oom)
		out_of_memory();
	if (s.n > 1)
		qsort(s.v, s.n, sizeof(*s.v), cmp_dent);
	for (size_t i = 0; i < s.n; i++) {
		if (i > 0 && !cmp_dent_name(&s.v[i - 1], &s.v[i]) &&
		    fix(fx, FIX_YES, "remove the entry",
			"directory %llu, entry '%s' (slot %llu): duplicate name",
			(unsigned long long)dir, shown(s.v[i].de, name, sizeof(name)),
			(unsigned long long)s.v[i].slot)) {
			fx_store8(fx, &s.v[i].de->ino, 0);
			continue;
		}
		record_entry(fx, dir, s.v[i].de);
	}
	free(s.v);
}

/* A damaged type comes back from the entries naming the inode, when they
 * agree; a directory found that way is read in turn, which may settle
 * more. */
static void resolve_suspects(struct fsck *fx)
{
	bool more = true;

	while (more) {
		more = false;
		for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++) {
			struct ino_info *f = &fx->ino[ino];
			if (f->kind != K_SUSPECT || f->dtype == DT_NONE ||
			    f->dtype == DT_CONFLICT ||
			    kind_of_mode((uint32_t)f->dtype << 12) == K_SUSPECT)
				continue;
			struct daxfs_dinode *di = dinode_at(fx, ino);
			uint32_t perm = di->mode & 07777;
			/* A mode zeroed whole lost its permissions too. */
			if (!di->mode)
				perm = f->dtype == DT_DIR ? 0755 : 0644;
			uint32_t mode = (uint32_t)f->dtype << 12 | perm;
			if (!fix(fx, FIX_YES, "give it the type its entries name",
				 "inode %llu: invalid mode %#o; its entries name a %s",
				 (unsigned long long)ino, di->mode, kind_name(kind_of_mode(mode))))
				continue;
			fx_store4(fx, &di->mode, mode);
			f->kind = (uint8_t)kind_of_mode(mode);
			check_inode_body(fx, ino);
			if (f->kind == K_DIR) {
				scan_dir(fx, ino);
				more = true;
			}
		}
	}
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++) {
		struct ino_info *f = &fx->ino[ino];
		if (f->kind != K_SUSPECT)
			continue;
		struct daxfs_dinode *di = dinode_at(fx, ino);
		if (fix(fx, FIX_YES, "clear the inode", "inode %llu: invalid mode %#o, and %s",
			(unsigned long long)ino, di->mode,
			f->dtype == DT_NONE ? "no entry names it"
					    : "its entries do not tell its type")) {
			release_map(fx, ino, di, false);
			free_inode(fx, ino);
		}
	}
}

static int cmp_xref(const void *a, const void *b)
{
	const struct xref *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->de_off < y->de_off ? -1 : x->de_off > y->de_off;
}

static void drop_xref(struct fsck *fx, struct xref *x, const char *why)
{
	if (remove_entry(fx, x->dir, dirent_at(fx, x->de_off), "%s", why)) {
		fx->ino[x->dir].nentries--;
		x->target = 0;
	}
}

/* A directory has one entry, in the directory its '..' names: that one is
 * kept (or else the first), any other is removed. */
static void settle_directory(struct fsck *fx, struct xref *x, size_t n)
{
	uint64_t t = x[0].target;
	struct daxfs_dinode *di = dinode_at(fx, t);
	size_t keep = 0;
	char why[96];

	for (size_t i = 0; i < n; i++)
		if (x[i].dir == di->parent) {
			keep = i;
			break;
		}
	snprintf(why, sizeof(why), "a second entry for directory %llu", (unsigned long long)t);
	for (size_t i = 0; i < n; i++)
		if (i != keep)
			drop_xref(fx, &x[i], why);
	uint64_t holder = x[keep].dir;
	fx->ino[t].entry_dir = (uint32_t)holder;
	fx->ino[holder].subdirs++;
	if (di->parent != holder &&
	    fix(fx, FIX_YES, "point it at the directory holding its entry",
		"directory %llu: '..' names inode %llu, but its entry is in directory %llu",
		(unsigned long long)t, (unsigned long long)di->parent, (unsigned long long)holder))
		fx_store8(fx, &di->parent, holder);
}

static void settle_xrefs(struct fsck *fx)
{
	if (fx->nxrefs > 1)
		qsort(fx->xrefs, fx->nxrefs, sizeof(*fx->xrefs), cmp_xref);
	for (size_t i = 0, j; i < fx->nxrefs; i = j) {
		for (j = i + 1; j < fx->nxrefs && fx->xrefs[j].target == fx->xrefs[i].target; j++)
			;
		struct ino_info *t = &fx->ino[fx->xrefs[i].target];
		if (t->kind == K_DIR) {
			settle_directory(fx, &fx->xrefs[i], j - i);
		} else if (t->kind == K_FREE) {
			for (size_t k = i; k < j; k++)
				drop_xref(fx, &fx->xrefs[k], "names an inode cleared as damaged");
		} else {
			t->links += (uint32_t)(j - i);
		}
	}
}

void check_directories(struct fsck *fx)
{
	for (uint64_t ino = DAXFS_ROOT_INO; ino < fx->sb.inode_count; ino++) {
		if (ino % 4096 == 0)
			progress(fx, "checking directories", ino, fx->sb.inode_count);
		if (fx->ino[ino].kind == K_DIR)
			scan_dir(fx, ino);
	}
	progress_end(fx);
	resolve_suspects(fx);
	settle_xrefs(fx);
	note(fx, "directories: %llu entries", (unsigned long long)fx->n_entries);
}
