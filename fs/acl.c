/* SPDX-License-Identifier: MIT */
/*
 * POSIX ACLs.  The kernel enforces them (FUSE_CAP_POSIX_ACL with
 * default_permissions) from the system.posix_acl_* values; what it leaves to
 * the filesystem is the coupling with the mode: an access ACL sets the
 * permission bits, a chmod rewrites the ACL, and a new inode inherits its
 * directory's default ACL instead of having the umask applied.  The rules
 * are those of the kernel's fs/posix_acl.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xattr.h"

/* The kernel's xattr format: a version word, then these entries. */
#define ACL_VERSION 2
enum {
	TAG_USER_OBJ = 0x01,
	TAG_USER = 0x02,
	TAG_GROUP_OBJ = 0x04,
	TAG_GROUP = 0x08,
	TAG_MASK = 0x10,
	TAG_OTHER = 0x20
};

struct acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static size_t count_of(size_t size)
{
	return (size - sizeof(uint32_t)) / sizeof(struct acl_entry);
}

/* Values sit unaligned in the record stream and in request buffers:
 * entries are copied out and back. */
static struct acl_entry get(const void *value, size_t i)
{
	struct acl_entry e;

	memcpy(&e, (const char *)value + sizeof(uint32_t) + i * sizeof(e), sizeof(e));
	return e;
}

static void put(void *value, size_t i, const struct acl_entry *e)
{
	memcpy((char *)value + sizeof(uint32_t) + i * sizeof(*e), e, sizeof(*e));
}

int acl_check(const void *value, size_t size)
{
	uint32_t version;

	if (!value || size < sizeof(uint32_t) ||
	    (size - sizeof(uint32_t)) % sizeof(struct acl_entry))
		return -EINVAL;
	memcpy(&version, value, sizeof(version));
	if (version != ACL_VERSION)
		return -EINVAL;
	size_t n = count_of(size);
	if (n == 0)
		return 0; /* an empty default ACL: "none" */
	unsigned seen = 0, prev_tag = 0;
	uint32_t prev_id = 0;
	for (size_t i = 0; i < n; i++) {
		struct acl_entry e = get(value, i);
		if (e.perm & ~7u || e.tag < prev_tag)
			return -EINVAL;
		switch (e.tag) {
		case TAG_USER_OBJ:
		case TAG_GROUP_OBJ:
		case TAG_MASK:
		case TAG_OTHER:
			if (seen & e.tag)
				return -EINVAL;
			break;
		case TAG_USER:
		case TAG_GROUP:
			/* Sorted by id, each id once, as posix_acl_valid wants. */
			if ((seen & e.tag) && e.id <= prev_id)
				return -EINVAL;
			prev_id = e.id;
			break;
		default:
			return -EINVAL;
		}
		seen |= e.tag;
		prev_tag = e.tag;
	}
	unsigned need = TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER;
	if ((seen & need) != need)
		return -EINVAL;
	if ((seen & (TAG_USER | TAG_GROUP)) && !(seen & TAG_MASK))
		return -EINVAL;
	return 0;
}

mode_t acl_mode(const void *value, size_t size, bool *minimal)
{
	size_t n = count_of(size);
	mode_t mode = 0, group = 0, mask = 0;
	bool has_mask = false;

	*minimal = true;
	for (size_t i = 0; i < n; i++) {
		struct acl_entry e = get(value, i);
		switch (e.tag) {
		case TAG_USER_OBJ:
			mode |= (mode_t)e.perm << 6;
			break;
		case TAG_GROUP_OBJ:
			group = e.perm;
			break;
		case TAG_MASK:
			mask = e.perm;
			has_mask = true;
			*minimal = false;
			break;
		case TAG_OTHER:
			mode |= e.perm;
			break;
		default:
			*minimal = false;
		}
	}
	return mode | (has_mask ? mask : group) << 3;
}

void acl_chmod(void *value, size_t size, mode_t mode)
{
	size_t n = count_of(size), group = SIZE_MAX, mask = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		struct acl_entry e = get(value, i);
		if (e.tag == TAG_USER_OBJ)
			e.perm = (mode >> 6) & 7;
		else if (e.tag == TAG_OTHER)
			e.perm = mode & 7;
		else if (e.tag == TAG_GROUP_OBJ)
			group = i;
		else if (e.tag == TAG_MASK)
			mask = i;
		put(value, i, &e);
	}
	size_t g = mask != SIZE_MAX ? mask : group;
	if (g != SIZE_MAX) {
		struct acl_entry e = get(value, g);
		e.perm = (mode >> 3) & 7;
		put(value, g, &e);
	}
}

/* posix_acl_create_masq: the entries are limited by the requested mode and
 * the mode by the entries.  Returns whether the ACL says more than the
 * mode. */
static bool create_masq(void *value, size_t size, mode_t *mode_p)
{
	size_t n = count_of(size), group = SIZE_MAX, mask = SIZE_MAX;
	mode_t mode = *mode_p;
	bool not_equiv = false;

	for (size_t i = 0; i < n; i++) {
		struct acl_entry e = get(value, i);
		switch (e.tag) {
		case TAG_USER_OBJ:
			e.perm &= (mode >> 6) & 7;
			mode &= ((mode_t)e.perm << 6) | ~0700u;
			break;
		case TAG_USER:
		case TAG_GROUP:
			not_equiv = true;
			break;
		case TAG_GROUP_OBJ:
			group = i;
			break;
		case TAG_OTHER:
			e.perm &= mode & 7;
			mode &= e.perm | ~07u;
			break;
		case TAG_MASK:
			mask = i;
			not_equiv = true;
			break;
		}
		put(value, i, &e);
	}
	size_t gi = mask != SIZE_MAX ? mask : group;
	if (gi != SIZE_MAX) {
		struct acl_entry g = get(value, gi);
		g.perm &= (mode >> 3) & 7;
		mode &= ((mode_t)g.perm << 3) | ~070u;
		put(value, gi, &g);
	}
	*mode_p = (*mode_p & ~0777u) | (mode & 0777);
	return not_equiv;
}

int acl_inherit(const struct xattr_set *dir, bool is_dir, mode_t *mode, mode_t umask,
		struct xattr_set *s)
{
	size_t size;
	const void *def = xattr_get(dir, ACL_XATTR_DEFAULT, &size);
	int rc = 0;

	if (!def || acl_check(def, size) || count_of(size) == 0) {
		*mode &= ~(umask & 0777);
		return 0;
	}
	if (is_dir && (rc = xattr_put(s, ACL_XATTR_DEFAULT, def, size)))
		return rc;
	void *access = malloc(size);
	if (!access)
		return -ENOMEM;
	memcpy(access, def, size);
	if (create_masq(access, size, mode))
		rc = xattr_put(s, ACL_XATTR_ACCESS, access, size);
	free(access);
	return rc;
}
