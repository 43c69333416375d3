/* SPDX-License-Identifier: MIT */
/*
 * The oracle: an in-memory tree that every operation of a workload is also
 * applied to.  It mirrors what daxfs promises (POSIX semantics, the link
 * counts of docs/format.md §9) and nothing of how daxfs does it.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "crash.h"

void pat_fill(unsigned char *dst, unsigned tag, unsigned version, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint64_t w = pat_word(tag, version, o - o % 8);
		dst[i] = (unsigned char)(w >> (8 * (o % 8)));
	}
}

int pat_tag_of(uint64_t w)
{
	if (w >> 52 != PAT_MAGIC)
		return -1;
	return (int)((w >> 40) & 0xfff);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "crash: out of memory\n");
		abort();
	}
	return p;
}

static int new_node(struct model *m, unsigned type)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->node = xrealloc(m->node, m->cap * sizeof(*m->node));
	}
	int id = m->n++;
	struct m_node *nd = &m->node[id];
	memset(nd, 0, sizeof(*nd));
	nd->used = true;
	nd->type = type;
	nd->tag = m->next_tag++;
	return id;
}

void model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m->next_tag = 1;
	for (int i = 0; i < NHANDLES; i++)
		m->handle[i] = -1;
	int root = new_node(m, S_IFDIR);
	m->node[root].perm = 0755;
	m->node[root].parent = root;
}

static void free_pages(struct m_node *nd)
{
	for (uint64_t i = 0; i < nd->npages; i++)
		free(nd->page[i]);
	free(nd->page);
	nd->page = NULL;
	nd->npages = 0;
}

static void node_release(struct m_node *nd)
{
	free_pages(nd);
	free(nd->target);
	free(nd->ent);
	nd->target = NULL;
	nd->ent = NULL;
	nd->nent = nd->entcap = 0;
	nd->size = 0;
	nd->used = false;
}

void model_free(struct model *m)
{
	for (int i = 0; i < m->n; i++)
		node_release(&m->node[i]);
	free(m->node);
	memset(m, 0, sizeof(*m));
}

void model_copy(struct model *dst, const struct model *src)
{
	*dst = *src;
	dst->cap = src->n ? src->n : 1;
	dst->node = xrealloc(NULL, dst->cap * sizeof(*dst->node));
	for (int i = 0; i < src->n; i++) {
		const struct m_node *s = &src->node[i];
		struct m_node *d = &dst->node[i];
		*d = *s;
		d->page = NULL;
		d->target = NULL;
		d->ent = NULL;
		if (s->npages) {
			d->page = xrealloc(NULL, s->npages * sizeof(*d->page));
			for (uint64_t p = 0; p < s->npages; p++) {
				d->page[p] = NULL;
				if (s->page[p]) {
					d->page[p] = xrealloc(NULL, M_PAGE);
					memcpy(d->page[p], s->page[p], M_PAGE);
				}
			}
		}
		if (s->target)
			d->target = strdup(s->target);
		if (s->ent) {
			d->entcap = s->nent;
			d->ent = xrealloc(NULL, (s->nent ? s->nent : 1) * sizeof(*d->ent));
			memcpy(d->ent, s->ent, s->nent * sizeof(*d->ent));
		}
	}
}

/* ---- lookup ------------------------------------------------------------ */

static int find_ent(const struct m_node *dir, const char *name, size_t len)
{
	for (int i = 0; i < dir->nent; i++)
		if (strlen(dir->ent[i].name) == len && !memcmp(dir->ent[i].name, name, len))
			return i;
	return -1;
}

int model_lookup(const struct model *m, const char *path)
{
	int cur = 0;
	const char *p = path;

	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const struct m_node *d = &m->node[cur];
		if (d->type != S_IFDIR)
			return -1;
		int i = find_ent(d, p, len);
		if (i < 0)
			return -1;
		cur = d->ent[i].child;
		p += len;
	}
	return cur;
}

/* Parent directory of path and its last component; -1 if the parent is
 * missing or not a directory. */
static int lookup_parent(const struct model *m, const char *path, const char **name)
{
	char buf[OP_PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return -1;
	*name = slash + 1;
	size_t len = (size_t)(slash - path);
	memcpy(buf, path, len);
	buf[len] = 0;
	int d = model_lookup(m, buf);
	if (d < 0 || m->node[d].type != S_IFDIR)
		return -1;
	return d;
}

unsigned model_nlink(const struct model *m, int id)
{
	unsigned n = 0;
	bool dir = m->node[id].type == S_IFDIR;

	if (dir) {
		n = 2;
		for (int i = 0; i < m->node[id].nent; i++)
			if (m->node[m->node[id].ent[i].child].type == S_IFDIR)
				n++;
		return n;
	}
	for (int d = 0; d < m->n; d++) {
		const struct m_node *nd = &m->node[d];
		if (!nd->used || nd->type != S_IFDIR)
			continue;
		for (int i = 0; i < nd->nent; i++)
			if (nd->ent[i].child == id)
				n++;
	}
	return n;
}

static void count_reach(const struct model *m, int id, char *seen, int *n)
{
	if (seen[id])
		return;
	seen[id] = 1;
	(*n)++;
	if (m->node[id].type == S_IFDIR)
		for (int i = 0; i < m->node[id].nent; i++)
			count_reach(m, m->node[id].ent[i].child, seen, n);
}

int model_nreachable(const struct model *m)
{
	char *seen = calloc(m->n ? m->n : 1, 1);
	int n = 0;

	count_reach(m, 0, seen, &n);
	free(seen);
	return n;
}

/* ---- changes ----------------------------------------------------------- */

static void add_ent(struct m_node *dir, const char *name, int child)
{
	if (dir->nent == dir->entcap) {
		dir->entcap = dir->entcap ? dir->entcap * 2 : 8;
		dir->ent = xrealloc(dir->ent, dir->entcap * sizeof(*dir->ent));
	}
	snprintf(dir->ent[dir->nent].name, sizeof(dir->ent[0].name), "%s", name);
	dir->ent[dir->nent].child = child;
	dir->nent++;
	dir->times_known = false;
}

static void del_ent(struct m_node *dir, int i)
{
	dir->ent[i] = dir->ent[--dir->nent];
	dir->times_known = false;
}

/* A node that lost its last link goes away unless it is open. */
static void maybe_free(struct model *m, int id, bool dir_removed)
{
	struct m_node *nd = &m->node[id];

	if (nd->type == S_IFDIR) {
		if (dir_removed)
			node_release(nd);
		return;
	}
	if (model_nlink(m, id) == 0 && nd->nopen == 0)
		node_release(nd);
}

/* Zeroes [off, end) of the content (pages that are holes stay holes). */
static void zero_range(struct m_node *nd, uint64_t off, uint64_t end)
{
	for (uint64_t o = off; o < end;) {
		uint64_t p = o / M_PAGE, in = o % M_PAGE;
		uint64_t n = M_PAGE - in < end - o ? M_PAGE - in : end - o;
		if (p < nd->npages && nd->page[p])
			memset(nd->page[p] + in, 0, n);
		o += n;
	}
}

static void set_size(struct m_node *nd, uint64_t size)
{
	uint64_t np = (size + M_PAGE - 1) / M_PAGE;

	if (size < nd->size) {
		zero_range(nd, size, nd->size);
		for (uint64_t p = np; p < nd->npages; p++)
			free(nd->page[p]);
		nd->npages = np < nd->npages ? np : nd->npages;
	} else if (np > nd->npages) {
		nd->page = xrealloc(nd->page, np * sizeof(*nd->page));
		memset(nd->page + nd->npages, 0, (np - nd->npages) * sizeof(*nd->page));
		nd->npages = np;
	}
	nd->size = size;
}

static void write_pattern(struct m_node *nd, unsigned version, uint64_t off, uint64_t len)
{
	for (uint64_t o = off; o < off + len;) {
		uint64_t p = o / M_PAGE, in = o % M_PAGE;
		uint64_t n = M_PAGE - in < off + len - o ? M_PAGE - in : off + len - o;
		if (!nd->page[p])
			nd->page[p] = calloc(1, M_PAGE);
		if (!nd->page[p])
			abort();
		pat_fill(nd->page[p] + in, nd->tag, version, o, n);
		o += n;
	}
}

static bool is_ancestor(const struct model *m, int a, int b)
{
	for (int n = 0; n <= m->n; n++) {
		if (a == b)
			return true;
		if (b == 0)
			return false;
		b = m->node[b].parent;
	}
	return false;
}

static bool valid_name(const char *name)
{
	return *name && strlen(name) < sizeof(((struct m_ent *)0)->name) && !strchr(name, '/') &&
	       strcmp(name, ".") && strcmp(name, "..");
}

static int node_of(struct model *m, const struct op *op)
{
	if (op->h >= 0)
		return m->handle[op->h];
	return model_lookup(m, op->path);
}

static int do_create(struct model *m, struct op *op, unsigned type)
{
	const char *name;
	int d = lookup_parent(m, op->path, &name);

	if (d < 0)
		return -ENOENT;
	if (!valid_name(name))
		return -EINVAL;
	if (find_ent(&m->node[d], name, strlen(name)) >= 0)
		return -EEXIST;
	int id = new_node(m, type);
	struct m_node *nd = &m->node[id];
	nd->perm = type == S_IFLNK ? 0777 : op->mode & 07777;
	nd->uid = 0;
	nd->gid = 0;
	nd->parent = type == S_IFDIR ? d : 0;
	if (type == S_IFLNK) {
		nd->target = strdup(op->str);
		nd->size = strlen(op->str);
	}
	add_ent(&m->node[d], name, id);
	return 0;
}

static int do_remove(struct model *m, struct op *op, bool want_dir)
{
	const char *name;
	int d = lookup_parent(m, op->path, &name);

	if (d < 0)
		return -ENOENT;
	int i = find_ent(&m->node[d], name, strlen(name));
	if (i < 0)
		return -ENOENT;
	int id = m->node[d].ent[i].child;
	bool is_dir = m->node[id].type == S_IFDIR;
	if (want_dir && !is_dir)
		return -ENOTDIR;
	if (!want_dir && is_dir)
		return -EISDIR;
	if (is_dir && m->node[id].nent)
		return -ENOTEMPTY;
	del_ent(&m->node[d], i);
	maybe_free(m, id, is_dir);
	return 0;
}

static int do_rename(struct model *m, struct op *op)
{
	const char *oname, *nname;
	int od = lookup_parent(m, op->path, &oname);
	int nd = lookup_parent(m, op->path2, &nname);

	if (od < 0 || nd < 0)
		return -ENOENT;
	if (!valid_name(nname))
		return -EINVAL;
	int si = find_ent(&m->node[od], oname, strlen(oname));
	if (si < 0)
		return -ENOENT;
	int src = m->node[od].ent[si].child;
	int di = find_ent(&m->node[nd], nname, strlen(nname));
	int dst = di >= 0 ? m->node[nd].ent[di].child : -1;
	bool sdir = m->node[src].type == S_IFDIR;

	if (sdir && is_ancestor(m, src, nd))
		return -EINVAL;
	if (op->flags & RENAME_EXCHANGE) {
		if (dst < 0)
			return -ENOENT;
		if (src == dst)
			return 0;
		if (m->node[dst].type == S_IFDIR && is_ancestor(m, dst, od))
			return -EINVAL;
		m->node[od].ent[si].child = dst;
		m->node[nd].ent[di].child = src;
		m->node[od].times_known = m->node[nd].times_known = false;
		if (sdir)
			m->node[src].parent = nd;
		if (m->node[dst].type == S_IFDIR)
			m->node[dst].parent = od;
		return 0;
	}
	if (dst >= 0) {
		if (op->flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (src == dst)
			return 0;
		bool ddir = m->node[dst].type == S_IFDIR;
		if (sdir && !ddir)
			return -ENOTDIR;
		if (!sdir && ddir)
			return -EISDIR;
		if (ddir && m->node[dst].nent)
			return -ENOTEMPTY;
		m->node[nd].ent[di].child = src;
		m->node[nd].times_known = false;
		/* The source entry may have moved if od == nd: find it again. */
		si = find_ent(&m->node[od], oname, strlen(oname));
		del_ent(&m->node[od], si);
		if (sdir)
			m->node[src].parent = nd;
		maybe_free(m, dst, ddir);
		return 0;
	}
	del_ent(&m->node[od], si);
	add_ent(&m->node[nd], nname, src);
	if (sdir)
		m->node[src].parent = nd;
	return 0;
}

int model_apply(struct model *m, struct op *op)
{
	int id;
	struct m_node *nd;

	op->fuzzy = false;
	op->fuzzy_node = -1;
	switch (op->kind) {
	case OP_CREATE:
		return do_create(m, op, S_IFREG);
	case OP_MKDIR:
		return do_create(m, op, S_IFDIR);
	case OP_SYMLINK:
		return do_create(m, op, S_IFLNK);
	case OP_LINK: {
		int src = model_lookup(m, op->path);
		const char *name;
		int d = lookup_parent(m, op->path2, &name);
		if (src < 0 || d < 0)
			return -ENOENT;
		if (m->node[src].type == S_IFDIR)
			return -EPERM;
		if (!valid_name(name))
			return -EINVAL;
		if (find_ent(&m->node[d], name, strlen(name)) >= 0)
			return -EEXIST;
		add_ent(&m->node[d], name, src);
		return 0;
	}
	case OP_UNLINK:
		return do_remove(m, op, false);
	case OP_RMDIR:
		return do_remove(m, op, true);
	case OP_RENAME:
		return do_rename(m, op);
	case OP_CHMOD:
	case OP_CHOWN:
	case OP_UTIMES:
	case OP_TRUNCATE:
	case OP_PUNCH:
	case OP_WRITE:
	case OP_FALLOCATE:
		id = node_of(m, op);
		if (id < 0 || !m->node[id].used)
			return -ENOENT;
		nd = &m->node[id];
		op->tag = nd->tag;
		if (op->kind == OP_CHMOD) {
			nd->perm = op->mode & 07777;
		} else if (op->kind == OP_CHOWN) {
			nd->uid = op->uid;
			nd->gid = op->gid;
		} else if (op->kind == OP_UTIMES) {
			nd->times_known = true;
			nd->asec = (int64_t)op->a;
			nd->ansec = op->an;
			nd->msec = (int64_t)op->b;
			nd->mnsec = op->bn;
		} else {
			if (nd->type != S_IFREG)
				return nd->type == S_IFDIR ? -EISDIR : -EINVAL;
			nd->times_known = false;
			if (op->kind == OP_TRUNCATE) {
				set_size(nd, op->a);
			} else if (op->kind == OP_FALLOCATE) {
				uint64_t end = op->a + op->b;
				if (op->flags & FALLOC_FL_ZERO_RANGE) {
					uint64_t zend = end < nd->size ? end : nd->size;
					if (op->a < zend)
						zero_range(nd, op->a, zend);
					op->fuzzy = true;
					op->fuzzy_node = id;
				}
				if (!(op->flags & FALLOC_FL_KEEP_SIZE) && end > nd->size)
					set_size(nd, end);
			} else if (op->kind == OP_PUNCH) {
				uint64_t end = op->a + op->b < nd->size ? op->a + op->b : nd->size;
				if (op->a < end)
					zero_range(nd, op->a, end);
				op->fuzzy = true;
				op->fuzzy_node = id;
			} else {
				/* In-place overwrites are not atomic (format.md §13). */
				if (op->a < nd->size) {
					op->fuzzy = true;
					op->fuzzy_node = id;
				}
				if (op->a + op->b > nd->size)
					set_size(nd, op->a + op->b);
				write_pattern(nd, op->version, op->a, op->b);
			}
		}
		return 0;
	case OP_OPEN:
		id = model_lookup(m, op->path);
		if (id < 0)
			return -ENOENT;
		if (m->handle[op->h] >= 0)
			return -EBUSY;
		m->handle[op->h] = id;
		m->node[id].nopen++;
		return 0;
	case OP_CLOSE:
		id = m->handle[op->h];
		if (id < 0)
			return -EBADF;
		m->handle[op->h] = -1;
		m->node[id].nopen--;
		maybe_free(m, id, false);
		return 0;
	case OP_UNMOUNT:
		return 0;
	case OP_SETXATTR:
	case OP_REMOVEXATTR: {
		id = node_of(m, op);
		if (id < 0 || !m->node[id].used)
			return -ENOENT;
		nd = &m->node[id];
		op->tag = nd->tag;
		int i = 0;
		while (i < nd->nx && strcmp(nd->x[i].name, op->str))
			i++;
		if (op->kind == OP_REMOVEXATTR || (op->flags & XATTR_REPLACE)) {
			if (i == nd->nx)
				return -ENODATA;
		} else if (i < nd->nx && (op->flags & XATTR_CREATE)) {
			return -EEXIST;
		}
		if (op->kind == OP_REMOVEXATTR) {
			nd->x[i] = nd->x[--nd->nx];
			return 0;
		}
		if (i == nd->nx) {
			if (nd->nx == (int)(sizeof(nd->x) / sizeof(nd->x[0])))
				return -ENOSPC;
			nd->nx++;
		}
		if (strlen(op->str) >= sizeof(nd->x[i].name))
			return -ENAMETOOLONG;
		memcpy(nd->x[i].name, op->str, strlen(op->str) + 1);
		nd->x[i].version = op->version;
		nd->x[i].len = (uint32_t)op->a;
		return 0;
	}
	}
	return -EINVAL;
}

const char *op_describe(const struct op *op, char *buf, size_t len)
{
	static const char *names[] = { "create",  "mkdir", "symlink", "link",     "unlink",
				       "rmdir",   "rename", "chmod",   "chown",    "utimes",
				       "truncate", "punch", "write",   "fallocate", "open",
				       "close",   "unmount", "setxattr", "removexattr" };
	const char *who = op->h >= 0 && (op->kind == OP_WRITE || op->kind == OP_CLOSE) ? "" : op->path;
	char hbuf[16] = "";

	if (op->h >= 0)
		snprintf(hbuf, sizeof(hbuf), " h%d", op->h);
	switch (op->kind) {
	case OP_CREATE:
	case OP_MKDIR:
	case OP_CHMOD:
		snprintf(buf, len, "%s %s 0%o", names[op->kind], op->path, op->mode);
		break;
	case OP_SYMLINK:
		snprintf(buf, len, "symlink %s -> %s", op->path, op->str);
		break;
	case OP_LINK:
		snprintf(buf, len, "link %s %s", op->path, op->path2);
		break;
	case OP_RENAME:
		snprintf(buf, len, "rename%s %s %s",
			 op->flags & RENAME_EXCHANGE    ? "(exchange)"
			 : op->flags & RENAME_NOREPLACE ? "(noreplace)"
							: "",
			 op->path, op->path2);
		break;
	case OP_CHOWN:
		snprintf(buf, len, "chown %s %u:%u", op->path, op->uid, op->gid);
		break;
	case OP_UTIMES:
		snprintf(buf, len, "utimes %s a=%llu.%09u m=%llu.%09u", op->path,
			 (unsigned long long)op->a, op->an, (unsigned long long)op->b, op->bn);
		break;
	case OP_TRUNCATE:
		snprintf(buf, len, "truncate %s %llu", op->path, (unsigned long long)op->a);
		break;
	case OP_FALLOCATE:
		snprintf(buf, len, "fallocate(%s) %s off=%llu len=%llu",
			 op->flags & FALLOC_FL_ZERO_RANGE ? "zero-range"
			 : op->flags & FALLOC_FL_KEEP_SIZE ? "keep-size"
							    : "0",
			 op->path, (unsigned long long)op->a, (unsigned long long)op->b);
		break;
	case OP_PUNCH:
	case OP_WRITE:
		snprintf(buf, len, "%s %s%s off=%llu len=%llu", names[op->kind], who, hbuf,
			 (unsigned long long)op->a, (unsigned long long)op->b);
		break;
	case OP_OPEN:
	case OP_CLOSE:
		snprintf(buf, len, "%s %s%s", names[op->kind], who, hbuf);
		break;
	case OP_SETXATTR:
		snprintf(buf, len, "setxattr %s %s (%llu bytes)", op->path, op->str,
			 (unsigned long long)op->a);
		break;
	case OP_REMOVEXATTR:
		snprintf(buf, len, "removexattr %s %s", op->path, op->str);
		break;
	default:
		snprintf(buf, len, "%s %s", names[op->kind], op->path);
	}
	return buf;
}
