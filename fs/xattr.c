/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes: the stream's storage and the xattr calls of the API.
 * Permission checks on user.* are the kernel's (default_permissions); the
 * namespace rules that do not depend on the mode are applied here, so that
 * in-process callers get the same answers as a FUSE client.
 */
#include "xattr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "../pmem/crc32c.h"
#include "block_map.h"
#include "inode.h"
#include "setid.h"

#define HDR sizeof(struct daxfs_xattr_header)
#define ENT sizeof(struct daxfs_xattr_entry)

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static size_t rec_len(const struct daxfs_xattr_entry *e)
{
	return align8(ENT + e->name_len + e->value_len);
}

void xattr_set_free(struct xattr_set *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static struct daxfs_xattr_header *hdr(const struct xattr_set *s)
{
	return (struct daxfs_xattr_header *)s->buf;
}

/* The blocks of a map word in stream order; 0 when a pointer is bad. */
static size_t word_blocks(struct daxfs *fs, uint64_t word, uint64_t *blk, size_t max)
{
	uint64_t root = DAXFS_MAP_ROOT(word);

	if (!block_is_data(&fs->alloc, root))
		return 0;
	if (DAXFS_MAP_HEIGHT(word) == 0) {
		blk[0] = root;
		return 1;
	}
	if (DAXFS_MAP_HEIGHT(word) != 1)
		return 0;
	const uint64_t *slots = pool_block(&fs->pool, root);
	size_t n = 0;
	while (n < max && n < DAXFS_PTRS_PER_BLOCK && slots[n]) {
		if (!block_is_data(&fs->alloc, slots[n]))
			return 0;
		blk[n] = slots[n];
		n++;
	}
	return n;
}

#define MAX_XBLOCKS (DAXFS_XATTR_MAX_BYTES / DAXFS_BLOCK_SIZE)

/* Whether buf holds a well-formed stream: fsck applies the same rules. */
static bool stream_valid(const char *buf, size_t len)
{
	const struct daxfs_xattr_header *h = (const void *)buf;

	if (len < HDR || h->magic != DAXFS_XATTR_MAGIC || h->len != len ||
	    len > DAXFS_XATTR_MAX_BYTES || h->crc != crc32c(0, buf + HDR, len - HDR))
		return false;
	size_t off = HDR;
	for (uint32_t i = 0; i < h->count; i++) {
		const struct daxfs_xattr_entry *e = (const void *)(buf + off);
		if (len - off < ENT || e->name_len == 0 || e->name_len > DAXFS_XATTR_NAME_MAX ||
		    e->value_len > DAXFS_XATTR_VALUE_MAX || rec_len(e) > len - off ||
		    memchr(buf + off + ENT, 0, e->name_len))
			return false;
		off += rec_len(e);
	}
	return off == len;
}

int xattr_load(struct daxfs *fs, const struct daxfs_dinode *di, struct xattr_set *s)
{
	uint64_t word = di->xattr, blk[MAX_XBLOCKS];

	memset(s, 0, sizeof(*s));
	if (!word)
		return 0;
	size_t n = word_blocks(fs, word, blk, MAX_XBLOCKS);
	if (!n)
		return -EUCLEAN;
	const struct daxfs_xattr_header *h = pool_block(&fs->pool, blk[0]);
	uint32_t len = h->len;
	if (len < HDR || len > n * DAXFS_BLOCK_SIZE || len > DAXFS_XATTR_MAX_BYTES)
		return -EUCLEAN;
	s->buf = malloc(len);
	if (!s->buf)
		return -ENOMEM;
	for (size_t i = 0, off = 0; off < len; i++, off += DAXFS_BLOCK_SIZE) {
		size_t chunk = len - off < DAXFS_BLOCK_SIZE ? len - off : DAXFS_BLOCK_SIZE;
		memcpy(s->buf + off, pool_block(&fs->pool, blk[i]), chunk);
	}
	s->len = s->cap = len;
	if (!stream_valid(s->buf, len)) {
		xattr_set_free(s);
		return -EUCLEAN;
	}
	return 0;
}

static struct daxfs_xattr_entry *find(const struct xattr_set *s, const char *name, size_t *at)
{
	size_t nlen = strlen(name), off = HDR;

	if (!s->len)
		return NULL;
	for (uint32_t i = 0; i < hdr(s)->count; i++) {
		struct daxfs_xattr_entry *e = (void *)(s->buf + off);
		if (e->name_len == nlen && !memcmp(s->buf + off + ENT, name, nlen)) {
			*at = off;
			return e;
		}
		off += rec_len(e);
	}
	return NULL;
}

const void *xattr_get(const struct xattr_set *s, const char *name, size_t *size)
{
	size_t at;
	const struct daxfs_xattr_entry *e = find(s, name, &at);

	if (!e)
		return NULL;
	*size = e->value_len;
	return s->buf + at + ENT + e->name_len;
}

int xattr_del(struct xattr_set *s, const char *name)
{
	size_t at;
	struct daxfs_xattr_entry *e = find(s, name, &at);

	if (!e)
		return -ENODATA;
	size_t rl = rec_len(e);
	memmove(s->buf + at, s->buf + at + rl, s->len - at - rl);
	s->len -= rl;
	hdr(s)->count--;
	hdr(s)->len = (uint32_t)s->len;
	return 0;
}

int xattr_put(struct xattr_set *s, const char *name, const void *value, size_t size)
{
	size_t nlen = strlen(name), at;
	struct daxfs_xattr_entry *old = find(s, name, &at);
	size_t need =
	    (s->len ? s->len : HDR) + align8(ENT + nlen + size) - (old ? rec_len(old) : 0);

	if (need > DAXFS_XATTR_MAX_BYTES)
		return -ENOSPC;
	if (need > s->cap) {
		char *b = realloc(s->buf, need);
		if (!b)
			return -ENOMEM;
		s->buf = b;
		s->cap = need;
	}
	if (!s->len) {
		memset(s->buf, 0, HDR);
		hdr(s)->magic = DAXFS_XATTR_MAGIC;
		s->len = HDR;
	}
	if (old)
		xattr_del(s, name);
	char *p = s->buf + s->len;
	size_t rl = align8(ENT + nlen + size);
	memset(p, 0, rl);
	struct daxfs_xattr_entry e = {.name_len = (uint16_t)nlen, .value_len = (uint32_t)size};
	memcpy(p, &e, ENT);
	memcpy(p + ENT, name, nlen);
	if (size)
		memcpy(p + ENT + nlen, value, size);
	s->len += rl;
	hdr(s)->count++;
	hdr(s)->len = (uint32_t)s->len;
	return 0;
}

static uint64_t count_blocks(struct daxfs *fs, uint64_t word)
{
	uint64_t blk[MAX_XBLOCKS];

	if (!word)
		return 0;
	size_t n = word_blocks(fs, word, blk, MAX_XBLOCKS);
	return n + (DAXFS_MAP_HEIGHT(word) == 1);
}

int xattr_prepare(struct daxfs *fs, const struct daxfs_dinode *di, const struct xattr_set *s,
		  struct xattr_update *u)
{
	uint64_t blk[MAX_XBLOCKS], idx = 0;
	size_t n = 0;
	int rc = 0;

	u->old_word = di->xattr;
	u->old_blocks = count_blocks(fs, u->old_word);
	u->new_word = u->new_blocks = 0;
	if (!s->len || hdr(s)->count == 0)
		return 0;
	hdr(s)->crc = crc32c(0, s->buf + HDR, s->len - HDR);
	for (size_t off = 0; off < s->len; off += DAXFS_BLOCK_SIZE, n++) {
		if ((rc = fs_block_alloc(fs, &blk[n])))
			goto fail;
		size_t chunk = s->len - off < DAXFS_BLOCK_SIZE ? s->len - off : DAXFS_BLOCK_SIZE;
		char *p = pool_block(&fs->pool, blk[n]);
		memcpy(p, s->buf + off, chunk);
		memset(p + chunk, 0, DAXFS_BLOCK_SIZE - chunk);
		pool_flush(&fs->pool, p, DAXFS_BLOCK_SIZE);
	}
	if (n > 1) {
		if ((rc = fs_block_alloc(fs, &idx)))
			goto fail;
		uint64_t *slots = pool_block(&fs->pool, idx);
		memset(slots, 0, DAXFS_BLOCK_SIZE);
		memcpy(slots, blk, n * sizeof(blk[0]));
		pool_flush(&fs->pool, slots, DAXFS_BLOCK_SIZE);
	}
	/* Contents before the pointer: the word is switched only after this. */
	pool_drain(&fs->pool);
	u->new_word = n > 1 ? DAXFS_MAP_WORD(idx, 1) : DAXFS_MAP_WORD(blk[0], 0);
	u->new_blocks = n + (n > 1);
	return 0;

fail:
	for (size_t i = 0; i < n; i++)
		fs_block_free_allocated(fs, blk[i]);
	return rc;
}

void xattr_apply(struct daxfs_dinode *di, const struct xattr_update *u)
{
	di->xattr = u->new_word;
	di->blocks = di->blocks - u->old_blocks + u->new_blocks;
}

void xattr_free_word(struct daxfs *fs, uint64_t word)
{
	uint64_t blk[MAX_XBLOCKS];

	if (!word)
		return;
	size_t n = word_blocks(fs, word, blk, MAX_XBLOCKS);
	for (size_t i = 0; i < n; i++)
		fs_block_free_allocated(fs, blk[i]);
	if (n && DAXFS_MAP_HEIGHT(word) == 1)
		fs_block_free_allocated(fs, DAXFS_MAP_ROOT(word));
}

void xattr_finish(struct daxfs *fs, const struct xattr_update *u)
{
	xattr_free_word(fs, u->old_word);
}

void xattr_cancel(struct daxfs *fs, const struct xattr_update *u)
{
	xattr_free_word(fs, u->new_word);
}

int xattr_walk(struct daxfs *fs, uint64_t word,
	       int (*fn)(void *ctx, uint64_t index, uint64_t blk, bool is_index), void *ctx)
{
	/* bmap_walk reads nothing of an inode but its map word. */
	struct daxfs_dinode tmp = {.map = word};

	if (!word)
		return 0;
	if (DAXFS_MAP_HEIGHT(word) > 1)
		return -EUCLEAN;
	return bmap_walk(fs, &tmp, fn, ctx);
}

/* ---- The API ------------------------------------------------------------- */

enum ns { NS_USER, NS_TRUSTED, NS_SECURITY, NS_ACL_ACCESS, NS_ACL_DEFAULT };

static int name_ns(const char *name, enum ns *ns)
{
	static const struct {
		const char *prefix;
		enum ns ns;
	} spaces[] = {{"user.", NS_USER}, {"trusted.", NS_TRUSTED}, {"security.", NS_SECURITY}};
	size_t len = strnlen(name, DAXFS_XATTR_NAME_MAX + 1);

	/* As the kernel's setxattr(2) answers a name it cannot take. */
	if (len == 0 || len > DAXFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (!strcmp(name, ACL_XATTR_ACCESS)) {
		*ns = NS_ACL_ACCESS;
		return 0;
	}
	if (!strcmp(name, ACL_XATTR_DEFAULT)) {
		*ns = NS_ACL_DEFAULT;
		return 0;
	}
	for (size_t i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++) {
		size_t pl = strlen(spaces[i].prefix);
		if (!strncmp(name, spaces[i].prefix, pl)) {
			*ns = spaces[i].ns;
			return len == pl ? -EINVAL : 0;
		}
	}
	return -EOPNOTSUPP;
}

/* The rules of the kernel's xattr_permission() that do not need the mode
 * bits, and of the ACL handlers. */
static int ns_allowed(const struct daxfs_cred *cr, const struct daxfs_dinode *di, enum ns ns,
		      bool write)
{
	switch (ns) {
	case NS_USER:
		if (!S_ISREG(di->mode) && !S_ISDIR(di->mode))
			return write ? -EPERM : -ENODATA;
		return 0;
	case NS_TRUSTED:
		if (cr->uid != 0)
			return write ? -EPERM : -ENODATA;
		return 0;
	case NS_ACL_ACCESS:
	case NS_ACL_DEFAULT:
		if (S_ISLNK(di->mode))
			return -EOPNOTSUPP;
		return 0;
	case NS_SECURITY:
		return 0;
	}
	return -EOPNOTSUPP;
}

static bool has_feature(struct daxfs *fs)
{
	return pool_super(&fs->pool)->feature_ro_compat & DAXFS_FEATURE_RO_COMPAT_XATTR;
}

/* Writes s as the inode's set in one transaction, with the permission bits
 * when set_mode (an access ACL stands for them). */
static int commit(struct daxfs *fs, const struct daxfs_cred *cr, struct daxfs_dinode *di,
		  const struct xattr_set *s, bool set_mode, mode_t mode)
{
	struct xattr_update u;
	struct daxfs_ts now;
	struct tx tx;
	int rc = xattr_prepare(fs, di, s, &u);

	if (rc)
		return rc;
	fs_now(&now);
	tx_begin(&fs->log, &tx);
	/* As setattr: an orphan's neighbours splice under the orphan lock. */
	if (di->flags & DAXFS_INODE_ORPHAN)
		tx_hold(&tx, &fs->orphan_lock);
	tx_add(&tx, di, sizeof(*di));
	xattr_apply(di, &u);
	if (set_mode) {
		di->mode = (di->mode & ~0777u) | (mode & 0777);
		/* posix_acl_update_mode: rewriting the mode is a chmod, and
		 * keeps S_ISGID only for a caller who could set it. */
		if (!setid_keeps_sgid(cr, di->gid))
			di->mode &= ~(mode_t)S_ISGID;
	}
	di->ctime = now;
	tx_commit(&tx);
	xattr_finish(fs, &u);
	return 0;
}

static struct inode_mem *get_live(struct daxfs *fs, uint64_t ino, bool write, int *rc)
{
	struct inode_mem *im = inode_get(fs, ino);

	*rc = 0;
	if (!im) {
		*rc = -ENOENT;
		return NULL;
	}
	if (write)
		pthread_rwlock_wrlock(&im->lock);
	else
		pthread_rwlock_rdlock(&im->lock);
	if (im->dead)
		*rc = -ENOENT;
	/* As the kernel's xattr_permission(): flagged inodes take no change. */
	else if (write && (inode_immutable(im->di) || inode_append_only(im->di)))
		*rc = -EPERM;
	if (*rc) {
		pthread_rwlock_unlock(&im->lock);
		return NULL;
	}
	return im;
}

ssize_t daxfs_getxattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino,
		       const char *name, void *buf, size_t size)
{
	struct xattr_set s;
	enum ns ns;
	int rc;

	rcu_thread_enter();
	if ((rc = name_ns(name, &ns)))
		return rc;
	struct inode_mem *im = get_live(fs, ino, false, &rc);
	if (!im)
		return rc;
	ssize_t ret = ns_allowed(cr, im->di, ns, false);
	if (!ret)
		ret = xattr_load(fs, im->di, &s);
	pthread_rwlock_unlock(&im->lock);
	if (ret)
		return ret;
	size_t vlen;
	const void *v = xattr_get(&s, name, &vlen);
	if (!v)
		ret = -ENODATA;
	else if (size == 0)
		ret = (ssize_t)vlen;
	else if (size < vlen)
		ret = -ERANGE;
	else
		ret = (ssize_t)(memcpy(buf, v, vlen), vlen);
	xattr_set_free(&s);
	return ret;
}

ssize_t daxfs_listxattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino, char *buf,
			size_t size)
{
	struct xattr_set s;
	int rc;

	rcu_thread_enter();
	struct inode_mem *im = get_live(fs, ino, false, &rc);
	if (!im)
		return rc;
	rc = xattr_load(fs, im->di, &s);
	pthread_rwlock_unlock(&im->lock);
	if (rc)
		return rc;
	size_t total = 0, off = HDR;
	for (uint32_t i = 0; s.len && i < hdr(&s)->count; i++) {
		const struct daxfs_xattr_entry *e = (const void *)(s.buf + off);
		const char *n = s.buf + off + ENT;
		off += rec_len(e);
		/* ext4 hides trusted.* from unprivileged callers too. */
		if (cr->uid != 0 && e->name_len > 8 && !memcmp(n, "trusted.", 8))
			continue;
		if (size && total + e->name_len + 1 > size) {
			xattr_set_free(&s);
			return -ERANGE;
		}
		if (size) {
			memcpy(buf + total, n, e->name_len);
			buf[total + e->name_len] = '\0';
		}
		total += e->name_len + 1;
	}
	xattr_set_free(&s);
	return (ssize_t)total;
}

static int set_acl_access(struct xattr_set *s, const char *name, const void *value, size_t size,
			  mode_t *mode)
{
	bool minimal;

	*mode = acl_mode(value, size, &minimal);
	/* POSIX: an ACL that says no more than the mode bits is the mode. */
	if (minimal) {
		int rc = xattr_del(s, name);
		return rc == -ENODATA ? 0 : rc;
	}
	return xattr_put(s, name, value, size);
}

int daxfs_setxattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino, const char *name,
		   const void *value, size_t size, int flags)
{
	struct xattr_set s;
	mode_t mode = 0;
	enum ns ns;
	int rc;

	rcu_thread_enter();
	if ((rc = name_ns(name, &ns)))
		return rc;
	if (size > DAXFS_XATTR_VALUE_MAX)
		return -E2BIG;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if ((ns == NS_ACL_ACCESS || ns == NS_ACL_DEFAULT) && (rc = acl_check(value, size)))
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	if (!has_feature(fs))
		return -EOPNOTSUPP;
	struct inode_mem *im = get_live(fs, ino, true, &rc);
	if (!im)
		return rc;
	struct daxfs_dinode *di = im->di;
	if ((rc = ns_allowed(cr, di, ns, true)))
		goto out;
	if (ns == NS_ACL_DEFAULT && !S_ISDIR(di->mode)) {
		rc = -EACCES;
		goto out;
	}
	if ((rc = xattr_load(fs, di, &s)))
		goto out;
	size_t old_len;
	bool exists = xattr_get(&s, name, &old_len) != NULL;
	if ((flags & XATTR_CREATE) && exists)
		rc = -EEXIST;
	else if ((flags & XATTR_REPLACE) && !exists)
		rc = -ENODATA;
	else if (ns == NS_ACL_ACCESS)
		rc = set_acl_access(&s, name, value, size, &mode);
	else if (ns == NS_ACL_DEFAULT && size == sizeof(uint32_t))
		rc = exists ? xattr_del(&s, name) : 0; /* no entries: no default ACL */
	else
		rc = xattr_put(&s, name, value, size);
	if (!rc)
		rc = commit(fs, cr, di, &s, ns == NS_ACL_ACCESS, mode);
	xattr_set_free(&s);
out:
	pthread_rwlock_unlock(&im->lock);
	return rc;
}

int daxfs_removexattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino, const char *name)
{
	struct xattr_set s;
	enum ns ns;
	int rc;

	rcu_thread_enter();
	if ((rc = name_ns(name, &ns)))
		return rc;
	if (fs->opts.read_only)
		return -EROFS;
	struct inode_mem *im = get_live(fs, ino, true, &rc);
	if (!im)
		return rc;
	if ((rc = ns_allowed(cr, im->di, ns, true)))
		goto out;
	if ((rc = xattr_load(fs, im->di, &s)))
		goto out;
	if (!(rc = xattr_del(&s, name)))
		rc = commit(fs, cr, im->di, &s, false, 0);
	xattr_set_free(&s);
out:
	pthread_rwlock_unlock(&im->lock);
	return rc;
}

int xattr_inherit(struct daxfs *fs, const struct daxfs_dinode *dir, bool is_dir, mode_t *mode,
		  mode_t umask, struct xattr_update *u)
{
	struct xattr_set ds, s = {0};
	struct daxfs_dinode blank = {0};
	int rc = xattr_load(fs, dir, &ds);

	memset(u, 0, sizeof(*u));
	if (rc)
		return rc;
	rc = acl_inherit(&ds, is_dir, mode, umask, &s);
	if (!rc)
		rc = xattr_prepare(fs, &blank, &s, u);
	xattr_set_free(&ds);
	xattr_set_free(&s);
	return rc;
}

int acl_chmod_prepare(struct daxfs *fs, const struct daxfs_dinode *di, mode_t mode,
		      struct xattr_update *u, bool *changed)
{
	struct xattr_set s;
	size_t size;
	int rc;

	*changed = false;
	if (!di->xattr)
		return 0;
	if ((rc = xattr_load(fs, di, &s)))
		return rc;
	const void *v = xattr_get(&s, ACL_XATTR_ACCESS, &size);
	if (v) {
		void *copy = malloc(size);
		rc = copy ? 0 : -ENOMEM;
		if (copy) {
			memcpy(copy, v, size);
			acl_chmod(copy, size, mode);
			rc = xattr_put(&s, ACL_XATTR_ACCESS, copy, size);
			free(copy);
		}
		if (!rc && !(rc = xattr_prepare(fs, di, &s, u)))
			*changed = true;
	}
	xattr_set_free(&s);
	return rc;
}
