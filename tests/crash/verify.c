/* SPDX-License-Identifier: MIT */
/*
 * What is checked on one crash image:
 *
 *  1. Before mounting: if the image says CLEAN, the bitmap on media must be
 *     exactly the reachable set, the orphan list empty and no log slot
 *     pending (format.md §5, §7).
 *  2. Mount (recovery).  It must succeed.
 *  3. Invariants of the recovered pool, read through the core's own
 *     structures: no in-use inode left unlinked or flagged orphan, the
 *     orphan list empty; every reachable block (data and index) reached once,
 *     its bitmap bit set, `blocks` equal to the count; nothing mapped past
 *     EOF and the tail of the last block zero; statfs free blocks = data
 *     blocks - reachable, free inodes = inodes - in use; every in-use inode
 *     reachable from the root; every directory's ".." its real parent.
 *  4. The tree, through the public API, against the oracle: names, types,
 *     permissions, owners, sizes, link counts, content, symlink targets,
 *     explicitly set times.  It must equal one of the candidate states (the
 *     operations before the crash point done, the one in flight done or not).
 *     Content is also scanned for data tagged as another file's.
 *  5. Clean unmount, then fsck.daxfs -n if FSCK_DAXFS names it.
 *  6. Exercise: mount again (now CLEAN: check 1 applies), create, write,
 *     read back, rename, truncate and unlink, unmount, mount, check 3 and
 *     the exercise's effects, unmount.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../fs/block_map.h"
#include "../../fs/inode.h"
#include "../../fs/super.h"
#include "../../fs/xattr.h"
#include "crash.h"

extern char **environ;

void msg_add(char *msg, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(msg, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg + used, len - used, fmt, ap);
	va_end(ap);
}

/* ---- describing pool offsets --------------------------------------------- */

struct owner_ctx {
	uint64_t blk, ino, index;
	bool found, is_index;
};

/* A raw walk of an image's block map (no validation beyond bounds). */
static void raw_walk(const char *img, const struct daxfs_super *sb, uint64_t ino, uint64_t node,
		     unsigned level, uint64_t base, struct owner_ctx *c)
{
	if (node < sb->data_start || node >= sb->total_blocks || c->found)
		return;
	const uint64_t *slots = (const uint64_t *)(img + node * DAXFS_BLOCK_SIZE);
	uint64_t span = 1ULL << (9 * level);
	for (unsigned i = 0; i < 512 && !c->found; i++) {
		uint64_t p = slots[i];
		if (!p)
			continue;
		if (p == c->blk) {
			c->found = true;
			c->ino = ino;
			c->index = base + i * span;
			c->is_index = level > 0;
			return;
		}
		if (level > 0)
			raw_walk(img, sb, ino, p, level - 1, base + i * span, c);
	}
}

static const char *inode_field(uint64_t o)
{
	static const struct {
		uint64_t off;
		const char *name;
	} f[] = { { 0, "mode" },	 { 4, "nlink" },	{ 8, "uid" },	      { 12, "gid" },
		  { 16, "size" },	 { 24, "map" },		{ 32, "blocks" },     { 40, "rdev" },
		  { 48, "generation" }, { 52, "flags" },	{ 56, "atime" },      { 72, "mtime" },
		  { 88, "ctime" },	 { 104, "btime" },	{ 120, "orphan_next" }, { 128, "parent" },
		  { 136, "xattr" },	 { 144, "reserved" } };
	const char *name = "?";
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (o >= f[i].off)
			name = f[i].name;
	return name;
}

const char *describe_offset(const void *image, uint64_t off, char *buf, size_t len)
{
	const char *img = image;
	const struct daxfs_super *sb = image;
	uint64_t blk = off / DAXFS_BLOCK_SIZE, in = off % DAXFS_BLOCK_SIZE;

	if (blk == 0 || blk == 1) {
		snprintf(buf, len, "%ssuperblock +%llu", blk ? "backup " : "", (unsigned long long)in);
	} else if (blk == DAXFS_STATE_BLOCK) {
		static const char *f[] = { "magic", "state", "orphan_head", "mount_count",
					   "last_mount_time", "last_unmount_time", "recovered_blocks" };
		snprintf(buf, len, "state block %s", in / 8 < 7 ? f[in / 8] : "reserved");
	} else if (blk >= sb->log_start && blk < sb->itable_start) {
		uint64_t rel = off - sb->log_start * DAXFS_BLOCK_SIZE;
		uint64_t slot_bytes = sb->log_slot_blocks * DAXFS_BLOCK_SIZE;
		uint64_t s = rel / slot_bytes, o = rel % slot_bytes;
		snprintf(buf, len, "log slot %llu %s", (unsigned long long)s,
			 o < 8 ? "magic" : o < 16 ? "nentries (commit word)" : o < 32 ? "header" : "entries");
	} else if (blk >= sb->itable_start && blk < sb->bitmap_start) {
		uint64_t rel = off - sb->itable_start * DAXFS_BLOCK_SIZE;
		snprintf(buf, len, "inode %llu %s", (unsigned long long)(rel / DAXFS_INODE_SIZE),
			 inode_field(rel % DAXFS_INODE_SIZE));
	} else if (blk >= sb->bitmap_start && blk < sb->data_start) {
		uint64_t bit = (off - sb->bitmap_start * DAXFS_BLOCK_SIZE) * 8;
		snprintf(buf, len, "bitmap (data blocks %llu..%llu)",
			 (unsigned long long)(sb->data_start + bit),
			 (unsigned long long)(sb->data_start + bit + 63));
	} else {
		struct owner_ctx c = { .blk = blk };
		for (uint64_t ino = 1; ino < sb->inode_count && !c.found; ino++) {
			const struct daxfs_dinode *di = (const void *)(img + sb->itable_start * DAXFS_BLOCK_SIZE +
								    ino * DAXFS_INODE_SIZE);
			if (!di->mode || !di->map)
				continue;
			uint64_t root = DAXFS_MAP_ROOT(di->map);
			unsigned h = DAXFS_MAP_HEIGHT(di->map);
			if (root == blk) {
				c.found = true;
				c.ino = ino;
				c.index = 0;
				c.is_index = h > 0;
			} else if (h > 0) {
				raw_walk(img, sb, ino, root, h - 1, 0, &c);
			}
		}
		if (!c.found)
			snprintf(buf, len, "data block %llu +%llu (not mapped)", (unsigned long long)blk,
				 (unsigned long long)in);
		else if (c.is_index)
			snprintf(buf, len, "index block %llu +%llu (slot %llu) of inode %llu",
				 (unsigned long long)blk, (unsigned long long)in,
				 (unsigned long long)(in / 8), (unsigned long long)c.ino);
		else
			snprintf(buf, len, "data block %llu +%llu (inode %llu file block %llu)",
				 (unsigned long long)blk, (unsigned long long)in,
				 (unsigned long long)c.ino, (unsigned long long)c.index);
	}
	return buf;
}

/* ---- invariants of a mounted, recovered pool ----------------------------- */

struct walk_ctx {
	struct daxfs *fs;
	uint64_t *seen;
	uint64_t count, size_blocks, ino;
	uint64_t past_eof;
	uint64_t bit_clear, dup;
	uint64_t first_bad;
};

static int inv_mark(void *p, uint64_t index, uint64_t blk, bool is_index)
{
	struct walk_ctx *c = p;
	uint64_t pfn = blk - c->fs->alloc.data_start;

	if (c->seen[pfn / 64] & (1ULL << (pfn % 64))) {
		c->dup++;
		c->first_bad = blk;
	}
	c->seen[pfn / 64] |= 1ULL << (pfn % 64);
	c->count++;
	if (!block_alloc_test(&c->fs->alloc, blk)) {
		c->bit_clear++;
		c->first_bad = blk;
	}
	if (!is_index && index >= c->size_blocks)
		c->past_eof++;
	return 0;
}

/* xattr blocks are never past EOF: the set is not file data. */
static int inv_mark_xattr(void *p, uint64_t index, uint64_t blk, bool is_index)
{
	(void)is_index;
	return inv_mark(p, index, blk, true);
}

struct dirents {
	int n, cap;
	struct dent {
		char name[256];
		uint64_t ino;
	} *e;
};

static int collect_cb(void *ctx, const char *name, const struct daxfs_attr *attr, uint64_t next)
{
	struct dirents *d = ctx;

	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->e = realloc(d->e, d->cap * sizeof(*d->e));
		if (!d->e)
			abort();
	}
	snprintf(d->e[d->n].name, sizeof(d->e[0].name), "%s", name);
	d->e[d->n].ino = attr->ino;
	d->n++;
	return 0;
}

static int list_dir(struct daxfs *fs, uint64_t ino, struct dirents *d)
{
	d->n = 0;
	return daxfs_readdir(fs, ino, 0, false, collect_cb, d);
}

static void reach(struct daxfs *fs, uint64_t ino, uint8_t *seen, uint64_t *n, char *msg, size_t len,
		  int depth)
{
	struct dirents d = { 0 };

	if (seen[ino])
		return;
	seen[ino] = 1;
	(*n)++;
	if (!S_ISDIR(dinode(fs, ino)->mode) || depth > 64)
		return;
	int rc = list_dir(fs, ino, &d);
	if (rc)
		msg_add(msg, len, "  readdir of inode %llu failed: %s\n", (unsigned long long)ino,
			strerror(-rc));
	for (int i = 0; i < d.n; i++) {
		uint64_t c = d.e[i].ino;
		if (c == 0 || c >= fs->inode_count || !dinode(fs, c)->mode) {
			msg_add(msg, len, "  entry %s of inode %llu names a free inode %llu\n",
				d.e[i].name, (unsigned long long)ino, (unsigned long long)c);
			continue;
		}
		if (S_ISDIR(dinode(fs, c)->mode) && dinode(fs, c)->parent != ino)
			msg_add(msg, len, "  directory inode %llu (%s) has parent %llu, but is in %llu\n",
				(unsigned long long)c, d.e[i].name,
				(unsigned long long)dinode(fs, c)->parent, (unsigned long long)ino);
		if (S_ISDIR(dinode(fs, c)->mode) && seen[c])
			msg_add(msg, len, "  directory inode %llu is named twice\n",
				(unsigned long long)c);
		reach(fs, c, seen, n, msg, len, depth + 1);
	}
	free(d.e);
}

/* past_eof_ok: blocks mapped past EOF are legal (fallocate KEEP_SIZE) unless
 * the mount followed an unclean shutdown, whose recovery trims them. */
static int check_invariants_body(struct daxfs *fs, bool past_eof_ok, char *msg, size_t len)
{
	size_t before = strlen(msg);
	const struct daxfs_state *st = pool_state(&fs->pool);
	uint64_t nwords = (fs->alloc.nblocks + 63) / 64;
	struct walk_ctx c = { .fs = fs, .seen = calloc(nwords, 8) };
	uint64_t in_use = 0, reachable_blocks = 0;

	if (st->orphan_head)
		msg_add(msg, len, "  orphan list not empty after recovery (head %llu)\n",
			(unsigned long long)st->orphan_head);
	for (uint64_t ino = 1; ino < fs->inode_count; ino++) {
		struct daxfs_dinode *di = dinode(fs, ino);
		if (!di->mode)
			continue;
		in_use++;
		if (di->nlink == 0)
			msg_add(msg, len, "  inode %llu is in use with nlink 0 after recovery\n",
				(unsigned long long)ino);
		if (di->flags & DAXFS_INODE_ORPHAN || di->orphan_next)
			msg_add(msg, len, "  inode %llu still flagged orphan after recovery\n",
				(unsigned long long)ino);
		c.ino = ino;
		c.count = 0;
		c.past_eof = c.bit_clear = c.dup = 0;
		c.size_blocks = (di->size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
		int rc = bmap_walk(fs, di, inv_mark, &c);
		if (!rc)
			rc = xattr_walk(fs, di->xattr, inv_mark_xattr, &c);
		if (rc)
			msg_add(msg, len, "  inode %llu: block map walk failed (%s)\n",
				(unsigned long long)ino, strerror(-rc));
		if (c.dup)
			msg_add(msg, len, "  inode %llu: block %llu reached twice\n",
				(unsigned long long)ino, (unsigned long long)c.first_bad);
		if (c.bit_clear)
			msg_add(msg, len,
				"  inode %llu: %llu reachable blocks are free in the bitmap (e.g. %llu)\n",
				(unsigned long long)ino, (unsigned long long)c.bit_clear,
				(unsigned long long)c.first_bad);
		if (c.past_eof && !past_eof_ok)
			msg_add(msg, len, "  inode %llu: %llu blocks mapped past EOF (size %llu)\n",
				(unsigned long long)ino, (unsigned long long)c.past_eof,
				(unsigned long long)di->size);
		if (c.count != di->blocks)
			msg_add(msg, len, "  inode %llu: blocks %llu but %llu reachable\n",
				(unsigned long long)ino, (unsigned long long)di->blocks,
				(unsigned long long)c.count);
		reachable_blocks += c.count;
		if (S_ISDIR(di->mode) && di->size % DAXFS_BLOCK_SIZE)
			msg_add(msg, len, "  directory inode %llu has size %llu\n",
				(unsigned long long)ino, (unsigned long long)di->size);
		if (S_ISREG(di->mode) && di->size % DAXFS_BLOCK_SIZE) {
			uint64_t blk = bmap_lookup(fs, di, di->size / DAXFS_BLOCK_SIZE);
			if (blk) {
				const unsigned char *p = pool_block(&fs->pool, blk);
				for (uint64_t o = di->size % DAXFS_BLOCK_SIZE; o < DAXFS_BLOCK_SIZE; o++)
					if (p[o]) {
						msg_add(msg, len,
							"  inode %llu: non-zero byte past EOF at %llu\n",
							(unsigned long long)ino,
							(unsigned long long)(di->size - di->size % DAXFS_BLOCK_SIZE + o));
						break;
					}
			}
		}
	}
	/* The rebuilt bitmap is exactly the reachable set. */
	uint64_t set = 0, extra = 0;
	for (uint64_t w = 0; w < nwords; w++) {
		set += (uint64_t)__builtin_popcountll(fs->alloc.bitmap[w]);
		extra += (uint64_t)__builtin_popcountll(fs->alloc.bitmap[w] & ~c.seen[w]);
	}
	if (extra)
		msg_add(msg, len, "  %llu blocks are allocated in the bitmap but unreachable\n",
			(unsigned long long)extra);
	struct daxfs_statfs sf;
	daxfs_statfs(fs, &sf);
	if (sf.free_blocks != fs->alloc.nblocks - reachable_blocks)
		msg_add(msg, len, "  statfs: %llu free blocks, but %llu data blocks - %llu reachable\n",
			(unsigned long long)sf.free_blocks, (unsigned long long)fs->alloc.nblocks,
			(unsigned long long)reachable_blocks);
	if (sf.free_inodes != sf.total_inodes - in_use)
		msg_add(msg, len, "  statfs: %llu free inodes, but %llu inodes - %llu in use\n",
			(unsigned long long)sf.free_inodes, (unsigned long long)sf.total_inodes,
			(unsigned long long)in_use);
	(void)set;
	free(c.seen);

	uint8_t *seen = calloc(fs->inode_count, 1);
	uint64_t nreach = 0;
	reach(fs, DAXFS_ROOT_INO, seen, &nreach, msg, len, 0);
	if (nreach != in_use) {
		msg_add(msg, len, "  %llu inodes in use but %llu reachable from the root:",
			(unsigned long long)in_use, (unsigned long long)nreach);
		int shown = 0;
		for (uint64_t ino = 1; ino < fs->inode_count && shown < 8; ino++)
			if (dinode(fs, ino)->mode && !seen[ino]) {
				msg_add(msg, len, " %llu(mode 0%o nlink %u)", (unsigned long long)ino,
					dinode(fs, ino)->mode, dinode(fs, ino)->nlink);
				shown++;
			}
		msg_add(msg, len, "\n");
	}
	free(seen);
	return strlen(msg) > before;
}

static int check_invariants(struct daxfs *fs, bool past_eof_ok, char *msg, size_t len,
			    const char *when)
{
	char buf[4096] = "";

	if (!check_invariants_body(fs, past_eof_ok, buf, sizeof(buf)))
		return 0;
	msg_add(msg, len, " the pool's invariants do not hold %s:\n%s", when, buf);
	return 1;
}

/* ---- comparison with the oracle ------------------------------------------ */

struct cmp {
	struct daxfs *fs;
	const struct model *m; /* the candidate */
	const struct model *alt; /* fuzzy: the state before the op, else NULL */
	int fuzzy_node;
	int64_t *r2m;
	int64_t *m2r;
	char *msg;
	size_t len;
	int nerr;
};

#define CMP_ERR(c, ...)                                              \
	do {                                                         \
		(c)->nerr++;                                         \
		if ((c)->msg && (c)->nerr <= 12)                     \
			msg_add((c)->msg, (c)->len, __VA_ARGS__);    \
	} while (0)

static const char *type_name(unsigned t)
{
	return t == S_IFREG ? "file" : t == S_IFDIR ? "dir" : t == S_IFLNK ? "symlink" : "other";
}

static void describe_word(const unsigned char *p, uint64_t avail, char *buf, size_t len)
{
	uint64_t w = 0;

	memcpy(&w, p, avail < 8 ? avail : 8);
	int tag = pat_tag_of(w);
	if (tag >= 0)
		snprintf(buf, len, "%016llx (tag %d v%u)", (unsigned long long)w, tag,
			 (unsigned)((w >> 32) & 0xff));
	else
		snprintf(buf, len, "%016llx", (unsigned long long)w);
}

static uint64_t next_page(const struct m_node *nd, uint64_t from, uint64_t limit)
{
	for (uint64_t p = from; p < limit; p++)
		if (nd && p < nd->npages && nd->page[p])
			return p;
	return limit;
}

/* The content of a regular file against the oracle, one block at a time,
 * skipping what is a hole on both sides.  Data of another file (a pattern
 * with another tag) is reported as a leak whatever the oracle says. */
static void compare_content(struct cmp *c, const char *path, int id, uint64_t rino, uint64_t size)
{
	const struct m_node *nd = &c->m->node[id];
	const struct m_node *old = c->alt && id == c->fuzzy_node ? &c->alt->node[id] : NULL;
	const struct daxfs_dinode *di = dinode(c->fs, rino);
	unsigned char buf[DAXFS_BLOCK_SIZE];
	char e[64], g[64];
	bool leak = false;

	if (!old && size != nd->size) {
		CMP_ERR(c, "  %s: size %llu, expected %llu\n", path, (unsigned long long)size,
			(unsigned long long)nd->size);
		return;
	}
	if (old && size != nd->size && size != old->size) {
		CMP_ERR(c, "  %s: size %llu, expected %llu or %llu\n", path, (unsigned long long)size,
			(unsigned long long)old->size, (unsigned long long)nd->size);
		return;
	}
	/* Not atomic by design: each byte old or new; but if the size is the
	 * new one (and differs from the old) the operation completed. */
	bool exact_new = old && size == nd->size && nd->size != old->size;
	uint64_t nblk = (size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
	for (uint64_t i = 0; i < nblk; i++) {
		uint64_t nr = bmap_seek(c->fs, di, i, nblk, true);
		uint64_t nm = next_page(nd, i, nr);
		if (old)
			nm = next_page(old, i, nm);
		i = nr < nm ? nr : nm;
		if (i >= nblk)
			break;
		uint64_t base = i * DAXFS_BLOCK_SIZE;
		uint64_t len = size - base < DAXFS_BLOCK_SIZE ? size - base : DAXFS_BLOCK_SIZE;
		ssize_t n = daxfs_read(c->fs, rino, buf, len, base);
		if (n < 0 || (uint64_t)n != len) {
			CMP_ERR(c, "  %s: read of %llu bytes at %llu returned %zd\n", path,
				(unsigned long long)len, (unsigned long long)base, n);
			return;
		}
		for (uint64_t o = 0; o < len; o++) {
			unsigned char want = m_byte(nd, base + o);
			if (buf[o] == want ||
			    (old && !exact_new && buf[o] == m_byte(old, base + o)))
				continue;
			/* A whole pattern word of another file, at its own offset,
			 * is data of that file: a leak. */
			for (uint64_t q = 0; q + 8 <= len && !leak; q += 8) {
				uint64_t w;
				memcpy(&w, buf + q, 8);
				int tag = pat_tag_of(w);
				if (tag > 0 && (unsigned)tag != (nd->tag & 0xfff) &&
				    (w & 0xffffffffULL) == (((base + q) / 8) & 0xffffffffULL)) {
					CMP_ERR(c, "  %s: offset %llu holds data of another file (tag %d, "
						   "this file's is %u)\n",
						path, (unsigned long long)(base + q), tag, nd->tag);
					leak = true;
				}
			}
			uint64_t w = o - o % 8, ew = 0, ow = 0;
			for (unsigned k = 0; k < 8; k++) {
				ew |= (uint64_t)m_byte(nd, base + w + k) << (8 * k);
				if (old)
					ow |= (uint64_t)m_byte(old, base + w + k) << (8 * k);
			}
			describe_word((unsigned char *)&ew, 8, e, sizeof(e));
			describe_word(buf + w, len - w, g, sizeof(g));
			if (old) {
				char od[64];
				describe_word((unsigned char *)&ow, 8, od, sizeof(od));
				CMP_ERR(c, "  %s: content at offset %llu is neither old nor new: got %s, "
					   "old %s, new %s\n",
					path, (unsigned long long)(base + w), g, od, e);
			} else {
				CMP_ERR(c, "  %s: content differs at offset %llu: expected %s, got %s\n",
					path, (unsigned long long)(base + w), e, g);
			}
			return;
		}
	}
}

static void compare_xattrs(struct cmp *c, const char *path, const struct m_node *nd, uint64_t rino)
{
	static const struct daxfs_cred root = {0};
	char names[1024];
	ssize_t n = daxfs_listxattr(c->fs, &root, rino, names, sizeof(names));
	int count = 0;

	if (n < 0) {
		CMP_ERR(c, "  %s: listxattr failed: %s\n", path, strerror((int)-n));
		return;
	}
	for (ssize_t o = 0; o < n; o += (ssize_t)strlen(names + o) + 1)
		count++;
	if (count != nd->nx)
		CMP_ERR(c, "  %s: %d xattrs, expected %d\n", path, count, nd->nx);
	for (int i = 0; i < nd->nx; i++) {
		static unsigned char got[65536], want[65536];
		const struct m_xattr *x = &nd->x[i];
		ssize_t len = daxfs_getxattr(c->fs, &root, rino, x->name, got, sizeof(got));
		pat_fill(want, nd->tag, x->version, 0, x->len);
		if (len < 0)
			CMP_ERR(c, "  %s: xattr %s: %s\n", path, x->name, strerror((int)-len));
		else if ((uint32_t)len != x->len || memcmp(got, want, x->len))
			CMP_ERR(c, "  %s: xattr %s: %zd bytes, not version %u of %u bytes\n", path,
				x->name, len, x->version, x->len);
	}
}

static void compare_node(struct cmp *c, uint64_t rino, int id, const char *path, uint64_t rparent,
			 int depth)
{
	const struct m_node *nd = &c->m->node[id];
	struct daxfs_attr a;

	if (c->r2m[rino] >= 0 || c->m2r[id] >= 0) {
		if (c->r2m[rino] != id || c->m2r[id] != (int64_t)rino)
			CMP_ERR(c, "  %s: hard-link structure differs (inode %llu)\n", path,
				(unsigned long long)rino);
		return;
	}
	c->r2m[rino] = id;
	c->m2r[id] = (int64_t)rino;
	int rc = daxfs_getattr(c->fs, rino, &a);
	if (rc) {
		CMP_ERR(c, "  %s: getattr failed: %s\n", path, strerror(-rc));
		return;
	}
	if ((a.mode & S_IFMT) != nd->type) {
		CMP_ERR(c, "  %s: is a %s, expected a %s\n", path, type_name(a.mode & S_IFMT),
			type_name(nd->type));
		return;
	}
	if ((a.mode & 07777) != nd->perm)
		CMP_ERR(c, "  %s: mode 0%o, expected 0%o\n", path, a.mode & 07777, nd->perm);
	if (a.uid != nd->uid || a.gid != nd->gid)
		CMP_ERR(c, "  %s: owner %u:%u, expected %u:%u\n", path, a.uid, a.gid, nd->uid, nd->gid);
	unsigned nl = model_nlink(c->m, id);
	if (a.nlink != nl)
		CMP_ERR(c, "  %s: nlink %u, expected %u\n", path, (unsigned)a.nlink, nl);
	if (nd->times_known &&
	    (a.atime.tv_sec != nd->asec || a.atime.tv_nsec != nd->ansec ||
	     a.mtime.tv_sec != nd->msec || a.mtime.tv_nsec != nd->mnsec))
		CMP_ERR(c, "  %s: atime %lld.%09ld mtime %lld.%09ld, expected %lld.%09u and %lld.%09u\n",
			path, (long long)a.atime.tv_sec, a.atime.tv_nsec, (long long)a.mtime.tv_sec,
			a.mtime.tv_nsec, (long long)nd->asec, nd->ansec, (long long)nd->msec, nd->mnsec);
	compare_xattrs(c, path, nd, rino);
	if (nd->type == S_IFREG) {
		compare_content(c, path, id, rino, a.size);
	} else if (nd->type == S_IFLNK) {
		char t[DAXFS_SYMLINK_MAX + 1];
		ssize_t n = daxfs_readlink(c->fs, rino, t, sizeof(t) - 1);
		if (n < 0) {
			CMP_ERR(c, "  %s: readlink failed: %s\n", path, strerror((int)-n));
		} else {
			t[n] = 0;
			if (strcmp(t, nd->target) || a.size != strlen(nd->target))
				CMP_ERR(c, "  %s: symlink to \"%s\" (size %llu), expected \"%s\"\n", path, t,
					(unsigned long long)a.size, nd->target);
		}
	} else if (nd->type == S_IFDIR) {
		struct dirents d = { 0 };
		struct daxfs_attr pa;
		if (daxfs_lookup(c->fs, rino, "..", &pa) == 0) {
			daxfs_forget(c->fs, pa.ino, 1);
			if (pa.ino != rparent)
				CMP_ERR(c, "  %s: \"..\" is inode %llu, expected %llu\n", path,
					(unsigned long long)pa.ino, (unsigned long long)rparent);
		}
		rc = list_dir(c->fs, rino, &d);
		if (rc)
			CMP_ERR(c, "  %s: readdir failed: %s\n", path, strerror(-rc));
		for (int i = 0; i < d.n; i++) {
			bool found = false;
			for (int j = 0; j < nd->nent && !found; j++)
				found = !strcmp(nd->ent[j].name, d.e[i].name);
			if (!found)
				CMP_ERR(c, "  %s/%s: exists, expected absent\n", path, d.e[i].name);
		}
		for (int j = 0; j < nd->nent; j++) {
			char sub[600];
			int i;
			for (i = 0; i < d.n; i++)
				if (!strcmp(nd->ent[j].name, d.e[i].name))
					break;
			snprintf(sub, sizeof(sub), "%s/%s", path, nd->ent[j].name);
			if (i == d.n) {
				CMP_ERR(c, "  %s: missing\n", sub);
				continue;
			}
			if (d.e[i].ino == 0 || d.e[i].ino >= c->fs->inode_count) {
				CMP_ERR(c, "  %s: names bad inode %llu\n", sub,
					(unsigned long long)d.e[i].ino);
				continue;
			}
			/* lookup goes through the directory's rebuilt hash index */
			struct daxfs_attr la;
			int lrc = daxfs_lookup(c->fs, rino, nd->ent[j].name, &la);
			if (lrc == 0)
				daxfs_forget(c->fs, la.ino, 1);
			if (lrc || la.ino != d.e[i].ino)
				CMP_ERR(c, "  %s: lookup gives %s, readdir inode %llu\n", sub,
					lrc ? strerror(-lrc) : "another inode",
					(unsigned long long)d.e[i].ino);
			if (depth < 64)
				compare_node(c, d.e[i].ino, nd->ent[j].child, sub, rino, depth + 1);
		}
		free(d.e);
	}
}

static int compare_tree(struct daxfs *fs, const struct model *m, const struct model *alt,
			int fuzzy_node, char *msg, size_t len)
{
	struct cmp c = { .fs = fs, .m = m, .alt = alt, .fuzzy_node = fuzzy_node, .msg = msg, .len = len };

	c.r2m = malloc(fs->inode_count * sizeof(*c.r2m));
	c.m2r = malloc((m->n ? m->n : 1) * sizeof(*c.m2r));
	for (uint64_t i = 0; i < fs->inode_count; i++)
		c.r2m[i] = -1;
	for (int i = 0; i < m->n; i++)
		c.m2r[i] = -1;
	compare_node(&c, DAXFS_ROOT_INO, 0, "", DAXFS_ROOT_INO, 0);
	free(c.r2m);
	free(c.m2r);
	return c.nerr;
}

/* Which candidate does the recovered tree match?  Returns its index (or
 * n + i for the fuzzy state between i and i + 1), -1 if none. */
static int match_candidates(struct daxfs *fs, const struct candidates *cd, char *msg, size_t len)
{
	for (int i = 0; i < cd->n; i++)
		if (compare_tree(fs, cd->m[i], NULL, -1, NULL, 0) == 0)
			return i;
	for (int i = 0; i + 1 < cd->n; i++)
		if (cd->fuzzy && cd->fuzzy[i] >= 0 &&
		    compare_tree(fs, cd->m[i + 1], cd->m[i], cd->fuzzy[i], NULL, 0) == 0)
			return cd->n + i;
	if (cd->n == 1) {
		msg_add(msg, len, " the recovered tree differs from the oracle:\n");
		compare_tree(fs, cd->m[0], NULL, -1, msg, len);
	} else {
		msg_add(msg, len,
			" the recovered tree matches none of the %d acceptable states; against the "
			"state before the operations in flight:\n",
			cd->n);
		compare_tree(fs, cd->m[0], NULL, -1, msg, len);
		msg_add(msg, len, " against the state after them:\n");
		compare_tree(fs, cd->m[cd->n - 1], NULL, -1, msg, len);
	}
	return -1;
}

/* ---- the image before mounting ------------------------------------------- */

struct premount {
	bool clean;
	uint64_t *bitmap;
	uint64_t nwords;
};

static int read_premount(const char *path, struct premount *pm, char *msg, size_t len)
{
	struct daxfs_super sb;
	struct daxfs_state st;
	int fd = open(path, O_RDONLY);
	int bad = 0;

	memset(pm, 0, sizeof(*pm));
	if (fd < 0 || pread(fd, &sb, sizeof(sb), 0) != sizeof(sb) ||
	    pread(fd, &st, sizeof(st), DAXFS_STATE_BLOCK * DAXFS_BLOCK_SIZE) != sizeof(st)) {
		msg_add(msg, len, " cannot read the image %s\n", path);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	pm->clean = st.state == DAXFS_POOL_CLEAN;
	if (pm->clean) {
		if (st.orphan_head) {
			msg_add(msg, len, " the pool is CLEAN with orphan_head %llu\n",
				(unsigned long long)st.orphan_head);
			bad = 1;
		}
		for (unsigned s = 0; s < sb.log_slots; s++) {
			struct daxfs_log_header h;
			off_t o = (off_t)((sb.log_start + s * sb.log_slot_blocks) * DAXFS_BLOCK_SIZE);
			if (pread(fd, &h, sizeof(h), o) == sizeof(h) && h.magic == DAXFS_LOG_MAGIC &&
			    h.nentries) {
				msg_add(msg, len, " the pool is CLEAN with log slot %u pending (%llu entries)\n",
					s, (unsigned long long)h.nentries);
				bad = 1;
			}
		}
		pm->nwords = (sb.data_blocks + 63) / 64;
		pm->bitmap = calloc(pm->nwords, 8);
		if (pread(fd, pm->bitmap, pm->nwords * 8, (off_t)(sb.bitmap_start * DAXFS_BLOCK_SIZE)) !=
		    (ssize_t)(pm->nwords * 8)) {
			msg_add(msg, len, " cannot read the bitmap\n");
			bad = 1;
		}
	}
	close(fd);
	return bad;
}

/* After the mount rebuilt the bitmap from what is reachable: a CLEAN pool's
 * bitmap must have been exact. */
static int check_premount_bitmap(struct daxfs *fs, const struct premount *pm, char *msg, size_t len)
{
	uint64_t leaked = 0, lost = 0, first = 0;

	if (!pm->clean)
		return 0;
	for (uint64_t w = 0; w < pm->nwords; w++) {
		uint64_t was = pm->bitmap[w], now = fs->alloc.bitmap[w];
		if (was == now)
			continue;
		if (!leaked && !lost)
			first = fs->alloc.data_start + w * 64 + (uint64_t)__builtin_ctzll(was ^ now);
		leaked += (uint64_t)__builtin_popcountll(was & ~now);
		lost += (uint64_t)__builtin_popcountll(now & ~was);
	}
	if (!leaked && !lost)
		return 0;
	msg_add(msg, len,
		" the pool was CLEAN but its bitmap was not exact: %llu blocks allocated but "
		"unreachable, %llu reachable but free (first: block %llu)\n",
		(unsigned long long)leaked, (unsigned long long)lost, (unsigned long long)first);
	return 1;
}

/* ---- fsck ---------------------------------------------------------------- */

/* Runs fsck.daxfs with one flag; exit statuses up to ok_max pass. */
static int run_fsck(const char *fsck, const char *flag, int ok_max, const char *path,
		    const char *when, char *msg, size_t len)
{
	int pfd[2];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	char *argv[] = { (char *)fsck, (char *)flag, (char *)path, NULL };
	char out[2048];
	size_t n = 0;
	int status;

	if (pipe(pfd))
		return 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	int rc = posix_spawn(&pid, fsck, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		msg_add(msg, len, " cannot run %s: %s\n", fsck, strerror(rc));
		return 1;
	}
	for (;;) {
		ssize_t r = read(pfd[0], out + n, sizeof(out) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof(out) - 1) {
			char sink[4096];
			while (read(pfd[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	out[n] = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) <= ok_max)
		return 0;
	msg_add(msg, len, " fsck.daxfs %s %s %s %d:\n%s\n", flag, when,
		WIFEXITED(status) ? "exited with" : "died of signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out);
	return 1;
}

/* ---- exercising the recovered filesystem ---------------------------------- */

#define EX_TAG 4000
static const struct daxfs_cred ex_cred = { 0 };

static uint64_t first_file(struct daxfs *fs, uint64_t dir, char *name, int depth)
{
	struct dirents d = { 0 };
	uint64_t found = 0;

	if (list_dir(fs, dir, &d))
		return 0;
	for (int i = 0; i < d.n && !found; i++)
		if (S_ISREG(dinode(fs, d.e[i].ino)->mode)) {
			found = dir;
			snprintf(name, 256, "%s", d.e[i].name);
		}
	for (int i = 0; i < d.n && !found && depth < 16; i++)
		if (S_ISDIR(dinode(fs, d.e[i].ino)->mode))
			found = first_file(fs, d.e[i].ino, name, depth + 1);
	free(d.e);
	return found;
}

static struct daxfs *do_mount(const char *path, const char *when, char *msg, size_t len)
{
	struct daxfs_mount_opts o = { 0 };
	struct daxfs *fs = NULL;
	char err[512];

	int rc = daxfs_mount(path, &o, &fs, err, sizeof(err));
	if (rc) {
		msg_add(msg, len, " mount %s failed (%s): %s\n", when, strerror(-rc), err);
		return NULL;
	}
	return fs;
}

static int exercise(const char *path, char *msg, size_t len)
{
	struct premount pm;
	struct daxfs_attr a, fa;
	static unsigned char buf[3 * 4096 + 500], back[sizeof(buf)];
	int bad = 0, rc;

	bad |= read_premount(path, &pm, msg, len);
	if (!pm.clean) {
		msg_add(msg, len, " the pool is not CLEAN after a clean unmount\n");
		bad = 1;
	}
	struct daxfs *fs = do_mount(path, "for the exercise", msg, len);
	if (!fs) {
		free(pm.bitmap);
		return 1;
	}
	bad |= check_premount_bitmap(fs, &pm, msg, len);
	free(pm.bitmap);

	pat_fill(buf, EX_TAG, 1, 0, sizeof(buf));
	uint64_t dir = 0;
	if ((rc = daxfs_mkdir(fs, &ex_cred, DAXFS_ROOT_INO, "zz-ex", 0755, &a)) == 0) {
		dir = a.ino;
		daxfs_forget(fs, a.ino, 1);
		rc = daxfs_mknod(fs, &ex_cred, dir, "f", S_IFREG | 0644, 0, &fa);
	}
	if (rc == 0) {
		daxfs_forget(fs, fa.ino, 1);
		if (daxfs_write(fs, fa.ino, buf, sizeof(buf), 0, false) != (ssize_t)sizeof(buf) ||
		    daxfs_read(fs, fa.ino, back, sizeof(back), 0) != (ssize_t)sizeof(back) ||
		    memcmp(buf, back, sizeof(buf))) {
			msg_add(msg, len, " exercise: write and read back failed\n");
			bad = 1;
		}
	} else {
		msg_add(msg, len, " exercise: mkdir/create failed: %s\n", strerror(-rc));
		bad = 1;
	}
	/* Move an existing file in, shrink it, unlink it. */
	char name[256];
	uint64_t pdir = dir ? first_file(fs, DAXFS_ROOT_INO, name, 0) : 0;
	bool moved = false;
	if (pdir && pdir != dir) {
		struct daxfs_setattr sa = { .valid = DAXFS_SET_SIZE, .size = 1000 };
		uint64_t ino;
		if ((rc = daxfs_rename(fs, pdir, name, dir, "moved", 0)) ||
		    (rc = fs_resolve(fs, "/zz-ex/moved", &ino)) ||
		    (rc = daxfs_setattr(fs, ino, &sa, &a)) || (rc = daxfs_unlink(fs, dir, "moved"))) {
			msg_add(msg, len, " exercise: rename/truncate/unlink of %s failed: %s\n", name,
				strerror(-rc));
			bad = 1;
		}
		moved = true;
		/* and reuse the slot it left in its recovered directory */
		if ((rc = daxfs_mknod(fs, &ex_cred, pdir, "zz-new", S_IFREG | 0600, 0, &fa)) == 0)
			daxfs_forget(fs, fa.ino, 1);
		else {
			msg_add(msg, len, " exercise: create in a recovered directory failed: %s\n",
				strerror(-rc));
			bad = 1;
		}
	}
	bad |= check_invariants(fs, true, msg, len, "during the exercise");
	daxfs_unmount(fs, NULL);

	bad |= read_premount(path, &pm, msg, len);
	fs = do_mount(path, "after the exercise", msg, len);
	if (!fs) {
		free(pm.bitmap);
		return 1;
	}
	bad |= check_premount_bitmap(fs, &pm, msg, len);
	free(pm.bitmap);
	bad |= check_invariants(fs, true, msg, len, "after the exercise and a remount");
	uint64_t ino;
	if (fs_resolve(fs, "/zz-ex/f", &ino) || daxfs_read(fs, ino, back, sizeof(back), 0) !=
							   (ssize_t)sizeof(back) ||
	    memcmp(buf, back, sizeof(buf))) {
		msg_add(msg, len, " exercise: /zz-ex/f is wrong after a remount\n");
		bad = 1;
	}
	if (moved && fs_resolve(fs, "/zz-ex/moved", &ino) != -ENOENT) {
		msg_add(msg, len, " exercise: an unlinked file is back after a remount\n");
		bad = 1;
	}
	struct daxfs_attr na;
	if (moved) {
		if (daxfs_lookup(fs, pdir, "zz-new", &na) == 0) {
			daxfs_forget(fs, na.ino, 1);
		} else {
			msg_add(msg, len, " exercise: a file created in a recovered directory is gone "
					  "after a remount\n");
			bad = 1;
		}
	}
	daxfs_unmount(fs, NULL);
	return bad;
}

/* ---- one image ------------------------------------------------------------ */

int verify_image(const char *path, const struct candidates *cd, const struct verify_opts *o,
		 char *msg, size_t len)
{
	struct premount pm;
	int bad = 0;

	msg[0] = 0;
	/* fsck as the recovery: it must repair every crash state (exit 0 or 1),
	 * and what it leaves must then pass everything below. */
	if (o->fsck_repair && o->fsck && *o->fsck)
		bad |= run_fsck(o->fsck, "-p", 1, path, "on the crash image (before mounting)", msg,
				len);
	bad |= read_premount(path, &pm, msg, len);
	struct daxfs *fs = do_mount(path, "(recovery)", msg, len);
	if (!fs) {
		free(pm.bitmap);
		return 1;
	}
	bad |= check_premount_bitmap(fs, &pm, msg, len);
	free(pm.bitmap);
	bad |= check_invariants(fs, pm.clean, msg, len,
				pm.clean ? "after mounting (clean)" : "after recovery");
	if (match_candidates(fs, cd, msg, len) < 0)
		bad = 1;
	int rc = daxfs_unmount(fs, NULL);
	if (rc) {
		msg_add(msg, len, " unmount after recovery failed: %s\n", strerror(-rc));
		return 1;
	}
	if (o->fsck && *o->fsck)
		bad |= run_fsck(o->fsck, "-n", 0, path, "after recovery and a clean unmount", msg, len);
	if (o->exercise && !bad)
		bad |= exercise(path, msg, len);
	return bad;
}
