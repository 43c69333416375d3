/* SPDX-License-Identifier: MIT */
/*
 * The workloads: an untraced setup that builds the initial tree, then the
 * traced operations, the last of which is always a clean unmount (so crashes
 * during unmount's evictions and its CLEAN store are covered too).  And how
 * one operation is applied to a mounted filesystem.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../fs/daxfs.h"
#include "crash.h"

/* ---- building op lists ------------------------------------------------- */

struct opv {
	struct op *v;
	int n, cap;
};

static struct op *push(struct opv *v, enum op_kind k, const char *path)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->v = realloc(v->v, v->cap * sizeof(*v->v));
		if (!v->v)
			abort();
	}
	struct op *op = &v->v[v->n++];
	memset(op, 0, sizeof(*op));
	op->kind = k;
	op->h = -1;
	op->fuzzy_node = -1;
	if (path)
		snprintf(op->path, sizeof(op->path), "%s", path);
	return op;
}

static void w_create(struct opv *v, const char *p)
{
	push(v, OP_CREATE, p)->mode = 0644;
}

static void w_mkdir(struct opv *v, const char *p)
{
	push(v, OP_MKDIR, p)->mode = 0755;
}

static void w_symlink(struct opv *v, const char *p, const char *target)
{
	snprintf(push(v, OP_SYMLINK, p)->str, OP_PATH_MAX, "%s", target);
}

static void w_link(struct opv *v, const char *p, const char *p2)
{
	snprintf(push(v, OP_LINK, p)->path2, OP_PATH_MAX, "%s", p2);
}

static void w_rename(struct opv *v, const char *p, const char *p2, unsigned flags)
{
	struct op *op = push(v, OP_RENAME, p);
	snprintf(op->path2, OP_PATH_MAX, "%s", p2);
	op->flags = flags;
}

static void w_write(struct opv *v, const char *p, uint64_t off, uint64_t len, unsigned ver)
{
	struct op *op = push(v, OP_WRITE, p);
	op->a = off;
	op->b = len;
	op->version = ver;
}

/* Writes in chunks of at most 1 MiB (one op each). */
static void w_fill(struct opv *v, const char *p, uint64_t size, unsigned ver)
{
	for (uint64_t off = 0; off < size; off += 1 << 20)
		w_write(v, p, off, size - off < (1 << 20) ? size - off : 1 << 20, ver);
}

static void w_setxattr(struct opv *v, const char *p, const char *name, uint64_t len,
		       unsigned ver)
{
	struct op *op = push(v, OP_SETXATTR, p);
	snprintf(op->str, sizeof(op->str), "%s", name);
	op->a = len;
	op->version = ver;
}

static void w_removexattr(struct opv *v, const char *p, const char *name)
{
	snprintf(push(v, OP_REMOVEXATTR, p)->str, sizeof(v->v[0].str), "%s", name);
}

static void w_truncate(struct opv *v, const char *p, uint64_t size)
{
	push(v, OP_TRUNCATE, p)->a = size;
}

static void w_falloc(struct opv *v, const char *p, unsigned mode, uint64_t off, uint64_t len)
{
	struct op *op = push(v, OP_FALLOCATE, p);
	op->flags = mode;
	op->a = off;
	op->b = len;
}

static void w_punch(struct opv *v, const char *p, uint64_t off, uint64_t len)
{
	struct op *op = push(v, OP_PUNCH, p);
	op->a = off;
	op->b = len;
}

/* ---- the fixed workloads ----------------------------------------------- */

struct wl_builder {
	struct workload *w;
	int n, cap;
};

static struct workload *add_wl(struct wl_builder *b, const char *name, const char *what,
			       uint64_t pool_mib, struct opv *setup, struct opv *ops)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 32;
		b->w = realloc(b->w, b->cap * sizeof(*b->w));
		if (!b->w)
			abort();
	}
	push(ops, OP_UNMOUNT, NULL);
	struct workload *w = &b->w[b->n++];
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->what = what;
	w->pool_mib = pool_mib;
	w->heavy = pool_mib > 4 || ops->n > 8;
	w->setup = setup->v;
	w->nsetup = setup->n;
	w->ops = ops->v;
	w->nops = ops->n;
	return w;
}

#define WL(name, what, mib, SETUP, OPS)                              \
	do {                                                         \
		struct opv s_ = { 0 }, o_ = { 0 };                   \
		struct opv *s = &s_, *o = &o_;                       \
		(void)s;                                             \
		SETUP;                                               \
		OPS;                                                 \
		add_wl(&b, name, what, mib, s, o);                   \
	} while (0)

/* ---- the mixed workload ------------------------------------------------ */

static unsigned rnd(unsigned *state)
{
	/* xorshift32 */
	unsigned x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x ? x : 0x9e3779b9;
}

/* Every path of a node of the given types, reachable from the root. */
static void collect(const struct model *m, int id, const char *path, unsigned types,
		    char (*out)[OP_PATH_MAX], int *n, int max)
{
	const struct m_node *nd = &m->node[id];

	if (*n < max && ((types & 1 && nd->type == S_IFREG) || (types & 2 && nd->type == S_IFDIR) ||
			 (types & 4 && nd->type == S_IFLNK)))
		snprintf(out[(*n)++], OP_PATH_MAX, "%s", *path ? path : "/");
	if (nd->type != S_IFDIR)
		return;
	for (int i = 0; i < nd->nent; i++) {
		char p[OP_PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", path, nd->ent[i].name);
		collect(m, nd->ent[i].child, p, types, out, n, max);
	}
}

#define MAXP 256
static const char *pick(const struct model *m, unsigned types, unsigned *rs, bool no_root)
{
	static char paths[MAXP][OP_PATH_MAX];
	int n = 0;

	collect(m, 0, "", types, paths, &n, MAXP);
	int first = no_root && (types & 2) ? 1 : 0; /* the root comes first */
	if (n <= first)
		return NULL;
	return paths[first + rnd(rs) % (unsigned)(n - first)];
}

static void gen_mixed(struct opv *s, struct opv *o, unsigned seed, int nops)
{
	struct model m;
	unsigned rs = seed * 2654435761u + 12345;
	int name_seq = 0;

	w_mkdir(s, "/d0");
	w_mkdir(s, "/d1");
	w_mkdir(s, "/d0/s");
	w_create(s, "/d0/f0");
	w_write(s, "/d0/f0", 0, 10000, 1);
	w_create(s, "/d1/f1");
	w_write(s, "/d1/f1", 0, 5000, 1);
	w_symlink(s, "/d0/l0", "/d1/f1");
	model_init(&m);
	for (int i = 0; i < s->n; i++)
		model_apply(&m, &s->v[i]);

	for (int tries = 0; o->n < nops && tries < nops * 50; tries++) {
		struct opv one = { 0 };
		char nm[OP_PATH_MAX];
		const char *p, *q;
		unsigned r = rnd(&rs) % 100;
		int h = (int)(rnd(&rs) % 3);

		if (r < 12) { /* create */
			if (!(p = pick(&m, 2, &rs, false)))
				continue;
			snprintf(nm, sizeof(nm), "%s/n%d", strcmp(p, "/") ? p : "", name_seq++);
			w_create(&one, nm);
		} else if (r < 18) { /* mkdir */
			if (!(p = pick(&m, 2, &rs, false)))
				continue;
			snprintf(nm, sizeof(nm), "%s/n%d", strcmp(p, "/") ? p : "", name_seq++);
			w_mkdir(&one, nm);
		} else if (r < 22) { /* symlink */
			if (!(p = pick(&m, 2, &rs, false)))
				continue;
			snprintf(nm, sizeof(nm), "%s/n%d", strcmp(p, "/") ? p : "", name_seq++);
			char target[OP_PATH_MAX];
			snprintf(target, sizeof(target), "target-%u-%.*s", rnd(&rs) % 1000,
				 (int)(rnd(&rs) % 60), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
			w_symlink(&one, nm, target);
		} else if (r < 27) { /* link */
			if (!(p = pick(&m, 5, &rs, false)))
				continue;
			char src[OP_PATH_MAX];
			snprintf(src, sizeof(src), "%s", p);
			if (!(q = pick(&m, 2, &rs, false)))
				continue;
			snprintf(nm, sizeof(nm), "%s/n%d", strcmp(q, "/") ? q : "", name_seq++);
			w_link(&one, src, nm);
		} else if (r < 35) { /* unlink */
			if (!(p = pick(&m, 5, &rs, false)))
				continue;
			push(&one, OP_UNLINK, p);
		} else if (r < 38) { /* rmdir */
			if (!(p = pick(&m, 2, &rs, true)))
				continue;
			push(&one, OP_RMDIR, p);
		} else if (r < 48) { /* rename */
			if (!(p = pick(&m, 7, &rs, true)))
				continue;
			char src[OP_PATH_MAX];
			snprintf(src, sizeof(src), "%s", p);
			unsigned how = rnd(&rs) % 4;
			if (how == 0) { /* over an existing name */
				if (!(q = pick(&m, 7, &rs, true)))
					continue;
				snprintf(nm, sizeof(nm), "%s", q);
			} else {
				if (!(q = pick(&m, 2, &rs, false)))
					continue;
				snprintf(nm, sizeof(nm), "%s/n%d", strcmp(q, "/") ? q : "", name_seq++);
			}
			w_rename(&one, src, nm, how == 1 ? RENAME_NOREPLACE : 0);
		} else if (r < 52) { /* exchange */
			if (!(p = pick(&m, 7, &rs, true)))
				continue;
			char src[OP_PATH_MAX];
			snprintf(src, sizeof(src), "%s", p);
			if (!(q = pick(&m, 7, &rs, true)))
				continue;
			w_rename(&one, src, q, RENAME_EXCHANGE);
		} else if (r < 56) { /* chmod */
			if (!(p = pick(&m, 3, &rs, false)))
				continue;
			push(&one, OP_CHMOD, p)->mode = 0600 | (rnd(&rs) % 0100);
		} else if (r < 59) { /* chown */
			if (!(p = pick(&m, 7, &rs, false)))
				continue;
			struct op *op = push(&one, OP_CHOWN, p);
			op->uid = rnd(&rs) % 5000;
			op->gid = rnd(&rs) % 5000;
		} else if (r < 62) { /* utimes */
			if (!(p = pick(&m, 1, &rs, false)))
				continue;
			struct op *op = push(&one, OP_UTIMES, p);
			op->a = 1000000 + rnd(&rs) % 1000000;
			op->an = rnd(&rs) % 1000000000u;
			op->b = 1000000 + rnd(&rs) % 1000000;
			op->bn = rnd(&rs) % 1000000000u;
		} else if (r < 70) { /* truncate */
			if (!(p = pick(&m, 1, &rs, false)))
				continue;
			uint64_t sizes[] = { 0, 100, 4096, 6000, 20000, 70000 };
			w_truncate(&one, p, sizes[rnd(&rs) % 6]);
		} else if (r < 74) { /* punch */
			if (!(p = pick(&m, 1, &rs, false)))
				continue;
			uint64_t off = rnd(&rs) % 20000;
			w_punch(&one, p, off, 1 + rnd(&rs) % 16000);
		} else if (r < 77) { /* fallocate */
			if (!(p = pick(&m, 1, &rs, false)))
				continue;
			static const unsigned modes[] = { 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE };
			w_falloc(&one, p, modes[rnd(&rs) % 3], rnd(&rs) % 30000, 1 + rnd(&rs) % 20000);
		} else if (r < 90) { /* write: append, overwrite or sparse */
			bool by_handle = m.handle[h] >= 0 && rnd(&rs) % 2;
			if (!by_handle && !(p = pick(&m, 1, &rs, false)))
				continue;
			struct op *op = push(&one, OP_WRITE, by_handle ? NULL : p);
			int id = by_handle ? m.handle[h] : model_lookup(&m, p);
			uint64_t size = m.node[id].size;
			unsigned how = rnd(&rs) % 4;
			op->h = by_handle ? h : -1;
			op->a = how == 0 ? size : how == 1 ? rnd(&rs) % (size + 1)
						 : how == 2 ? size + rnd(&rs) % 10000
							    : (uint64_t)(rnd(&rs) % 3) << 20;
			op->b = 1 + rnd(&rs) % 12000;
			op->version = 2 + rnd(&rs) % 200;
		} else if (r < 95) { /* open */
			if (m.handle[h] >= 0 || !(p = pick(&m, 1, &rs, false)))
				continue;
			push(&one, OP_OPEN, p)->h = h;
		} else { /* close */
			if (m.handle[h] < 0)
				continue;
			push(&one, OP_CLOSE, NULL)->h = h;
		}
		/* Keep only operations that succeed. */
		struct model t;
		model_copy(&t, &m);
		int rc = model_apply(&t, &one.v[0]);
		model_free(&t);
		if (rc == 0) {
			model_apply(&m, &one.v[0]);
			*push(o, OP_UNMOUNT, NULL) = one.v[0];
		}
		free(one.v);
	}
	model_free(&m);
}

int workloads_build(const struct workload_opts *opt, struct workload **out)
{
	struct wl_builder b = { 0 };

	WL("create", "create a file", 4, { w_mkdir(s, "/d"); w_create(s, "/d/old"); },
	   { w_create(o, "/d/f"); });
	WL("create_grow_dir", "create the 16th entry: the directory grows a block and an index block",
	   4,
	   {
		   w_mkdir(s, "/d");
		   for (int i = 0; i < 15; i++) {
			   char p[32];
			   snprintf(p, sizeof(p), "/d/f%02d", i);
			   w_create(s, p);
		   }
	   },
	   { w_create(o, "/d/f15"); });
	WL("create_grow_dir2",
	   "create the 31st entry: a third directory block under the existing index block", 4,
	   {
		   w_mkdir(s, "/d");
		   for (int i = 0; i < 30; i++) {
			   char p[32];
			   snprintf(p, sizeof(p), "/d/f%02d", i);
			   w_create(s, p);
		   }
	   },
	   { w_create(o, "/d/f30"); });
	WL("mkdir", "mkdir", 4, { w_mkdir(s, "/d"); }, { w_mkdir(o, "/d/sub"); });
	WL("symlink", "symlink", 4, { w_mkdir(s, "/d"); },
	   { w_symlink(o, "/d/l", "../some/where/else"); });
	WL("link", "hard link across directories", 4,
	   {
		   w_mkdir(s, "/d");
		   w_mkdir(s, "/e");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 5000, 1);
	   },
	   { w_link(o, "/d/f", "/e/g"); });
	WL("unlink_closed", "unlink a closed file with data (evicted at once)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 3 * 4096 + 100, 1);
		   w_create(s, "/d/keep");
		   w_write(s, "/d/keep", 0, 5000, 1);
	   },
	   { push(o, OP_UNLINK, "/d/f"); });
	WL("unlink_open", "unlink an open file, write to it, close it (evicted at release)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 3 * 4096 + 100, 1);
	   },
	   {
		   push(o, OP_OPEN, "/d/f")->h = 0;
		   push(o, OP_UNLINK, "/d/f");
		   struct op *op = push(o, OP_WRITE, NULL);
		   op->h = 0;
		   op->a = 20000;
		   op->b = 5000;
		   op->version = 2;
		   push(o, OP_CLOSE, NULL)->h = 0;
	   });
	WL("unlink_open_unmount", "unlink a file that stays open until unmount evicts it", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 3 * 4096 + 100, 1);
	   },
	   {
		   push(o, OP_OPEN, "/d/f")->h = 0;
		   push(o, OP_UNLINK, "/d/f");
	   });
	WL("unlink_symlink", "unlink a symlink (its target block is freed by the eviction)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_symlink(s, "/d/l", "/a/target/somewhere");
	   },
	   { push(o, OP_UNLINK, "/d/l"); });
	WL("unlink_hardlink", "unlink one of two links", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 5000, 1);
		   w_link(s, "/d/f", "/d/g");
	   },
	   { push(o, OP_UNLINK, "/d/f"); });
	WL("rmdir", "rmdir", 4, { w_mkdir(s, "/d"); w_mkdir(s, "/d/sub"); },
	   { push(o, OP_RMDIR, "/d/sub"); });
	WL("chmod", "setattr: mode", 4, { w_mkdir(s, "/d"); w_create(s, "/d/f"); },
	   { push(o, OP_CHMOD, "/d/f")->mode = 0600; });
	WL("chown", "setattr: uid and gid", 4, { w_mkdir(s, "/d"); w_create(s, "/d/f"); },
	   {
		   struct op *op = push(o, OP_CHOWN, "/d/f");
		   op->uid = 1000;
		   op->gid = 1001;
	   });
	WL("utimes", "setattr: atime and mtime", 4, { w_mkdir(s, "/d"); w_create(s, "/d/f"); },
	   {
		   struct op *op = push(o, OP_UTIMES, "/d/f");
		   op->a = 1000000;
		   op->an = 5;
		   op->b = 2000000;
		   op->bn = 7;
	   });
	WL("truncate_down", "truncate into a block, dropping 4 blocks and the index block", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 5 * 4096 + 100, 1);
	   },
	   { w_truncate(o, "/d/f", 3000); });
	WL("truncate_up", "truncate up", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 6000, 1);
	   },
	   { w_truncate(o, "/d/f", 3 * 4096 + 17); });
	WL("punch", "punch a hole: two partial blocks and two whole ones", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 6 * 4096, 1);
	   },
	   {
		   struct op *op = push(o, OP_PUNCH, "/d/f");
		   op->a = 3000;
		   op->b = 12000;
	   });
	WL("punch_index", "punch out the only block under an index block of a sparse file", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 4096, 1);
		   w_write(s, "/d/f", 600 * 4096, 4096, 1);
		   w_write(s, "/d/f", 1100 * 4096 + 5, 300, 1);
	   },
	   { w_punch(o, "/d/f", 512 * 4096, 512 * 4096); });
	WL("truncate_sparse", "truncate a sparse 3-level file to one block", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 4096, 1);
		   w_write(s, "/d/f", 700 * 4096, 4096, 1);
		   w_write(s, "/d/f", (300000ULL << 12) + 17, 100, 1);
	   },
	   { w_truncate(o, "/d/f", 3000); });
	WL("fallocate", "fallocate extending a file (blocks, then the size)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 5000, 1);
	   },
	   { w_falloc(o, "/d/f", 0, 6000, 3 * 4096); });
	WL("zero_range", "fallocate ZERO_RANGE across EOF (not atomic: bytes old or zero)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 4 * 4096, 1);
	   },
	   { w_falloc(o, "/d/f", FALLOC_FL_ZERO_RANGE, 5000, 5 * 4096); });
	WL("write_extend", "append across the last partial block; the map grows a level", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 3000, 1);
	   },
	   { w_write(o, "/d/f", 3000, 9000, 2); });
	WL("write_big", "append 75 blocks in one write: two batches of published blocks", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 4096 + 10, 1);
	   },
	   { w_write(o, "/d/f", 4096 + 10, 75 * 4096, 2); });
	WL("write_sparse", "write far past EOF: the map grows two levels at once", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 100, 1);
	   },
	   { w_write(o, "/d/f", 3 << 20, 5000, 2); });
	WL("write_leaves", "a write across two missing leaves: linked in one batch, the map grows",
	   4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 100, 1);
	   },
	   { w_write(o, "/d/f", 1023 * 4096 - 10, 4096 + 20, 2); });
	WL("write_hole", "fill a hole below EOF with a block that held a deleted file's data", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 4096 + 100, 1); /* two blocks: the index block exists */
		   w_truncate(s, "/d/f", 5 * 4096);
		   /* freed last, so the allocator hands its first block out next */
		   w_create(s, "/d/old");
		   w_write(s, "/d/old", 0, 3 * 4096, 1);
		   push(s, OP_UNLINK, "/d/old");
	   },
	   { w_write(o, "/d/f", 3 * 4096 + 100, 3000, 2); });
	WL("overwrite", "overwrite inside a file (not atomic by design: bytes old or new)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 3 * 4096, 1);
	   },
	   { w_write(o, "/d/f", 1000, 6000, 2); });
	WL("rename_same_dir", "rename within a directory", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/a");
		   w_write(s, "/d/a", 0, 100, 1);
	   },
	   { w_rename(o, "/d/a", "/d/b", 0); });
	WL("rename_cross_dir", "rename a file across directories", 4,
	   {
		   w_mkdir(s, "/d");
		   w_mkdir(s, "/e");
		   w_create(s, "/d/a");
		   w_write(s, "/d/a", 0, 100, 1);
	   },
	   { w_rename(o, "/d/a", "/e/a", 0); });
	WL("rename_dir_cross", "rename a directory across directories (its .. and both link counts)",
	   4,
	   {
		   w_mkdir(s, "/d");
		   w_mkdir(s, "/e");
		   w_mkdir(s, "/d/sub");
		   w_create(s, "/d/sub/x");
	   },
	   { w_rename(o, "/d/sub", "/e/sub2", 0); });
	WL("rename_over", "rename over an existing file with data (the target is evicted)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/a");
		   w_write(s, "/d/a", 0, 100, 1);
		   w_create(s, "/d/b");
		   w_write(s, "/d/b", 0, 2 * 4096 + 10, 1);
	   },
	   { w_rename(o, "/d/a", "/d/b", 0); });
	WL("rename_over_open", "rename over a file that is open, then close it (evicted at release)",
	   4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/a");
		   w_write(s, "/d/a", 0, 100, 1);
		   w_create(s, "/d/b");
		   w_write(s, "/d/b", 0, 2 * 4096 + 10, 1);
	   },
	   {
		   push(o, OP_OPEN, "/d/b")->h = 1;
		   w_rename(o, "/d/a", "/d/b", 0);
		   push(o, OP_CLOSE, NULL)->h = 1;
	   });
	WL("rename_over_dir", "rename a directory over an empty directory elsewhere", 4,
	   {
		   w_mkdir(s, "/d");
		   w_mkdir(s, "/e");
		   w_mkdir(s, "/d/s1");
		   w_create(s, "/d/s1/x");
		   w_mkdir(s, "/e/s2");
	   },
	   { w_rename(o, "/d/s1", "/e/s2", 0); });
	WL("rename_exchange", "exchange a file and a directory in different directories", 4,
	   {
		   w_mkdir(s, "/d");
		   w_mkdir(s, "/e");
		   w_create(s, "/d/a");
		   w_write(s, "/d/a", 0, 100, 1);
		   w_mkdir(s, "/e/sub");
		   w_create(s, "/e/sub/x");
	   },
	   { w_rename(o, "/d/a", "/e/sub", RENAME_EXCHANGE); });
	WL("setxattr", "setxattr: a first small value (the set gets its first block)", 4,
	   { w_mkdir(s, "/d"); w_create(s, "/d/f"); },
	   { w_setxattr(o, "/d/f", "user.a", 100, 1); });
	WL("setxattr_replace_big",
	   "setxattr replacing a 3-block value with a 5-block one (an index block each)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_setxattr(s, "/d/f", "user.a", 10, 1);
		   w_setxattr(s, "/d/f", "user.big", 10000, 1);
	   },
	   { w_setxattr(o, "/d/f", "user.big", 20000, 2); });
	WL("removexattr", "removexattr of one of two, then of the last (the set goes away)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_mkdir(s, "/d/sub");
		   w_setxattr(s, "/d/sub", "user.a", 5000, 1);
		   w_setxattr(s, "/d/sub", "trusted.b", 10, 1);
	   },
	   {
		   w_removexattr(o, "/d/sub", "user.a");
		   w_removexattr(o, "/d/sub", "trusted.b");
	   });
	WL("unlink_xattr", "unlink a file whose xattr set has an index block (evicted at once)", 4,
	   {
		   w_mkdir(s, "/d");
		   w_create(s, "/d/f");
		   w_write(s, "/d/f", 0, 5000, 1);
		   w_setxattr(s, "/d/f", "user.big", 9000, 1);
	   },
	   { push(o, OP_UNLINK, "/d/f"); });
	if (opt->large)
		WL("truncate_large", "truncate an 8 MiB file to 12345 bytes", 16,
		   {
			   w_mkdir(s, "/d");
			   w_create(s, "/d/big");
			   w_fill(s, "/d/big", 8 << 20, 1);
			   w_create(s, "/d/small");
			   w_write(s, "/d/small", 0, 100, 1);
		   },
		   { w_truncate(o, "/d/big", 12345); });
	if (opt->large)
		WL("unlink_large", "unlink a 2 MiB file with a sparse tail (a 2-level map)", 8,
		   {
			   w_mkdir(s, "/d");
			   w_create(s, "/d/big");
			   w_fill(s, "/d/big", 2 << 20, 1);
			   w_write(s, "/d/big", (3000ULL << 12), 5000, 1);
		   },
		   { push(o, OP_UNLINK, "/d/big"); });
	for (int i = 0; i < opt->mixed_seeds; i++) {
		char name[48];
		unsigned seed = opt->seed + (unsigned)i;
		snprintf(name, sizeof(name), "mixed_%u", seed);
		struct opv s = { 0 }, o = { 0 };
		gen_mixed(&s, &o, seed, opt->mixed_ops);
		add_wl(&b, name, "a seeded random sequence of operations", 8, &s, &o);
	}
	*out = b.w;
	return b.n;
}

/* ---- applying an operation to a mounted fs ------------------------------- */

static const struct daxfs_cred root_cred = { 0 };

int fs_resolve(struct daxfs *fs, const char *path, uint64_t *ino)
{
	uint64_t cur = 1;
	const char *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char name[256];
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len >= sizeof(name))
			return -ENAMETOOLONG;
		memcpy(name, p, len);
		name[len] = 0;
		struct daxfs_attr a;
		int rc = daxfs_lookup(fs, cur, name, &a);
		if (rc)
			return rc;
		daxfs_forget(fs, a.ino, 1);
		cur = a.ino;
		p += len;
	}
	*ino = cur;
	return 0;
}

static int resolve_parent(struct daxfs *fs, const char *path, uint64_t *parent, const char **name)
{
	char buf[OP_PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return -EINVAL;
	*name = slash + 1;
	memcpy(buf, path, (size_t)(slash - path));
	buf[slash - path] = 0;
	return fs_resolve(fs, buf, parent);
}

int fs_apply(struct daxfs **fsp, const struct op *op, uint64_t *handles)
{
	struct daxfs *fs = *fsp;
	struct daxfs_attr a;
	struct daxfs_setattr sa = { 0 };
	uint64_t ino, p1, p2;
	const char *n1, *n2;
	int rc;

	switch (op->kind) {
	case OP_CREATE:
	case OP_MKDIR:
	case OP_SYMLINK:
		if ((rc = resolve_parent(fs, op->path, &p1, &n1)))
			return rc;
		rc = op->kind == OP_CREATE  ? daxfs_mknod(fs, &root_cred, p1, n1, S_IFREG | op->mode, 0, &a)
		     : op->kind == OP_MKDIR ? daxfs_mkdir(fs, &root_cred, p1, n1, op->mode, &a)
					    : daxfs_symlink(fs, &root_cred, p1, n1, op->str, &a);
		if (!rc)
			daxfs_forget(fs, a.ino, 1);
		return rc;
	case OP_LINK:
		if ((rc = fs_resolve(fs, op->path, &ino)) ||
		    (rc = resolve_parent(fs, op->path2, &p2, &n2)))
			return rc;
		rc = daxfs_link(fs, ino, p2, n2, &a);
		if (!rc)
			daxfs_forget(fs, ino, 1);
		return rc;
	case OP_UNLINK:
	case OP_RMDIR:
		if ((rc = resolve_parent(fs, op->path, &p1, &n1)))
			return rc;
		return op->kind == OP_UNLINK ? daxfs_unlink(fs, p1, n1) : daxfs_rmdir(fs, p1, n1);
	case OP_RENAME:
		if ((rc = resolve_parent(fs, op->path, &p1, &n1)) ||
		    (rc = resolve_parent(fs, op->path2, &p2, &n2)))
			return rc;
		return daxfs_rename(fs, p1, n1, p2, n2, op->flags);
	case OP_CHMOD:
	case OP_CHOWN:
	case OP_UTIMES:
	case OP_TRUNCATE:
	case OP_PUNCH:
	case OP_WRITE:
	case OP_FALLOCATE:
		if (op->h >= 0)
			ino = handles[op->h];
		else if ((rc = fs_resolve(fs, op->path, &ino)))
			return rc;
		if (op->kind == OP_PUNCH)
			return daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, op->a,
					       op->b);
		if (op->kind == OP_FALLOCATE)
			return daxfs_fallocate(fs, ino, (int)op->flags, op->a, op->b);
		if (op->kind == OP_WRITE) {
			unsigned char *buf = malloc(op->b ? op->b : 1);
			if (!buf)
				return -ENOMEM;
			pat_fill(buf, op->tag, op->version, op->a, op->b);
			ssize_t n = daxfs_write(fs, ino, buf, op->b, op->a, false);
			free(buf);
			return n < 0 ? (int)n : (uint64_t)n == op->b ? 0 : -EIO;
		}
		if (op->kind == OP_CHMOD) {
			sa.valid = DAXFS_SET_MODE;
			sa.mode = op->mode;
		} else if (op->kind == OP_CHOWN) {
			sa.valid = DAXFS_SET_UID | DAXFS_SET_GID;
			sa.uid = op->uid;
			sa.gid = op->gid;
		} else if (op->kind == OP_UTIMES) {
			sa.valid = DAXFS_SET_ATIME | DAXFS_SET_MTIME;
			sa.atime.tv_sec = (time_t)op->a;
			sa.atime.tv_nsec = op->an;
			sa.mtime.tv_sec = (time_t)op->b;
			sa.mtime.tv_nsec = op->bn;
		} else {
			sa.valid = DAXFS_SET_SIZE;
			sa.size = op->a;
		}
		return daxfs_setattr(fs, ino, &sa, &a);
	case OP_OPEN:
		if ((rc = fs_resolve(fs, op->path, &ino)))
			return rc;
		if ((rc = daxfs_open(fs, ino, O_RDWR)))
			return rc;
		handles[op->h] = ino;
		return 0;
	case OP_CLOSE:
		daxfs_release(fs, handles[op->h]);
		handles[op->h] = 0;
		return 0;
	case OP_UNMOUNT:
		rc = daxfs_unmount(fs, NULL);
		*fsp = NULL;
		return rc;
	case OP_SETXATTR:
	case OP_REMOVEXATTR:
		if ((rc = fs_resolve(fs, op->path, &ino)))
			return rc;
		if (op->kind == OP_REMOVEXATTR)
			return daxfs_removexattr(fs, &root_cred, ino, op->str);
		unsigned char *val = malloc(op->a ? op->a : 1);
		if (!val)
			return -ENOMEM;
		pat_fill(val, op->tag, op->version, 0, op->a);
		rc = daxfs_setxattr(fs, &root_cred, ino, op->str, val, op->a, (int)op->flags);
		free(val);
		return rc;
	}
	return -EINVAL;
}
