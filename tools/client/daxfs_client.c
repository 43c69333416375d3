/* SPDX-License-Identifier: MIT */
#include "daxfs_client.h"

#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmem/format.h"

/* A mapping of one pool, shared by every client of it in the process:
 * mapping a large pool once per open file would waste address space and
 * page tables for nothing. */
struct pool_map {
	struct pool_map *next;
	uint8_t uuid[16];
	bool writable;
	unsigned users;
	void *base;
	size_t len;
	bool is_pmem;
};

struct daxfs_client {
	int fd;
	unsigned flags;
	struct pool_map *map; /* NULL when not mapped */
	int map_err; /* why not: what mapping the pool gave */
	struct daxfs_ioc_poolinfo pool;
};

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_map *maps;

static int map_read_only(const char *path, size_t size, void **base)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED)
		return -err;
	*base = p;
	return 0;
}

/* The superblock names the pool: a path that now leads to another file
 * (the pool moved, or was re-created) must not be taken for this one. */
static bool same_pool(const void *base, const struct daxfs_ioc_poolinfo *pi)
{
	return memcmp((const uint8_t *)base + offsetof(struct daxfs_super, uuid), pi->uuid,
		      sizeof(pi->uuid)) == 0;
}

static int pool_map_new(const struct daxfs_ioc_poolinfo *pi, bool writable, struct pool_map **out)
{
	struct pool_map *m = calloc(1, sizeof(*m));
	int is_pmem = 0, rc = 0;

	if (!m)
		return -ENOMEM;
	if (writable) {
		m->base = pmem_map_file(pi->path, 0, 0, 0, &m->len, &is_pmem);
		if (!m->base)
			rc = -errno;
	} else {
		m->len = pi->size;
		rc = map_read_only(pi->path, m->len, &m->base);
	}
	if (!rc && m->len < pi->size)
		rc = -ESTALE;
	if (!rc && !same_pool(m->base, pi))
		rc = -ESTALE;
	if (rc) {
		if (m->base)
			munmap(m->base, m->len);
		free(m);
		return rc;
	}
	memcpy(m->uuid, pi->uuid, sizeof(m->uuid));
	m->writable = writable;
	m->is_pmem = is_pmem;
	m->users = 1;
	*out = m;
	return 0;
}

static int pool_map_get(const struct daxfs_ioc_poolinfo *pi, bool writable, struct pool_map **out)
{
	int rc = 0;

	pthread_mutex_lock(&maps_lock);
	struct pool_map *m = maps;
	while (m && (m->writable != writable || memcmp(m->uuid, pi->uuid, sizeof(m->uuid))))
		m = m->next;
	if (m) {
		m->users++;
	} else if (!(rc = pool_map_new(pi, writable, &m))) {
		m->next = maps;
		maps = m;
	}
	pthread_mutex_unlock(&maps_lock);
	*out = m;
	return rc;
}

static void pool_map_put(struct pool_map *m)
{
	pthread_mutex_lock(&maps_lock);
	if (--m->users == 0) {
		struct pool_map **pp = &maps;
		while (*pp != m)
			pp = &(*pp)->next;
		*pp = m->next;
		munmap(m->base, m->len);
		free(m);
	}
	pthread_mutex_unlock(&maps_lock);
}

static int ioctl_rc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int daxfs_client_open(const char *path, unsigned flags, struct daxfs_client **out)
{
	struct daxfs_client *c;
	int rc;

	if (flags & ~(DAXFS_CLIENT_RDONLY | DAXFS_CLIENT_NOMAP))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->flags = flags;
	c->fd = open(path, ((flags & DAXFS_CLIENT_RDONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (c->fd < 0) {
		rc = -errno;
		free(c);
		return rc;
	}
	rc = ioctl_rc(c->fd, DAXFS_IOC_POOLINFO, &c->pool);
	if (rc == -ENOSYS)
		rc = -ENOTTY; /* FUSE filesystems without ioctls */
	if (rc) {
		close(c->fd);
		free(c);
		return rc;
	}
	/* A process that may not map the pool can still pin: only the
	 * pointers are missing, and daxfs_client_map says why. */
	if (flags & DAXFS_CLIENT_NOMAP)
		c->map_err = -ENOTSUP;
	else
		c->map_err = pool_map_get(&c->pool, !(flags & DAXFS_CLIENT_RDONLY), &c->map);
	*out = c;
	return 0;
}

int daxfs_client_map(const struct daxfs_client *c, void **base)
{
	if (!c->map)
		return c->map_err;
	*base = c->map->base;
	return 0;
}

void daxfs_client_close(struct daxfs_client *c)
{
	if (!c)
		return;
	/* The file goes first: its pins are dropped while the blocks are
	 * still mapped, never the other way round. */
	close(c->fd);
	if (c->map)
		pool_map_put(c->map);
	free(c);
}

static void fill_pin(const struct daxfs_client *c, const struct daxfs_ioc_pin *req,
		     struct daxfs_client_pin *pin)
{
	pin->id = req->pin_id;
	pin->offset = req->offset;
	pin->length = req->length;
	pin->flags = req->flags;
	pin->nextents = req->nextents;
	for (uint32_t i = 0; i < req->nextents; i++) {
		const struct daxfs_extent *e = &req->extents[i];
		pin->extents[i] = (struct daxfs_client_extent){
		    .file_offset = e->file_offset,
		    .pool_offset = e->pool_offset,
		    .length = e->length,
		    .addr = c->map ? (uint8_t *)c->map->base + e->pool_offset : NULL,
		};
	}
}

/* The daemon is trusted, but an extent outside the mapping would turn a
 * protocol mismatch into a wild pointer: refuse it. */
static bool extents_inside(const struct daxfs_client *c, const struct daxfs_ioc_pin *req)
{
	if (req->nextents > DAXFS_PIN_MAX_EXTENTS)
		return false;
	for (uint32_t i = 0; i < req->nextents; i++) {
		const struct daxfs_extent *e = &req->extents[i];
		if (e->pool_offset > c->pool.size || e->length > c->pool.size - e->pool_offset)
			return false;
	}
	return true;
}

int daxfs_client_pin(struct daxfs_client *c, uint64_t offset, uint64_t length, unsigned flags,
		     struct daxfs_client_pin *pin)
{
	struct daxfs_ioc_pin req;
	int rc;

	if ((flags & DAXFS_PIN_WRITE) && (c->flags & DAXFS_CLIENT_RDONLY))
		return -EBADF;
	memset(&req, 0, sizeof(req));
	req.offset = offset;
	req.length = length;
	req.flags = flags;
	if ((rc = ioctl_rc(c->fd, DAXFS_IOC_PIN, &req)))
		return rc;
	if (!extents_inside(c, &req)) {
		daxfs_client_unpin(c, req.pin_id);
		return -ERANGE;
	}
	fill_pin(c, &req, pin);
	return 0;
}

int daxfs_client_unpin(struct daxfs_client *c, uint64_t pin_id)
{
	struct daxfs_ioc_unpin req = {.pin_id = pin_id};

	return ioctl_rc(c->fd, DAXFS_IOC_UNPIN, &req);
}

int daxfs_client_fd(const struct daxfs_client *c)
{
	return c->fd;
}

int daxfs_client_recalls(struct daxfs_client *c, uint64_t *ids, unsigned max)
{
	struct daxfs_ioc_recalls r;
	int rc = ioctl_rc(c->fd, DAXFS_IOC_RECALLS, &r);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < r.count && i < max; i++)
		ids[i] = r.pin_ids[i];
	return (int)r.count;
}

int daxfs_client_wait_recall(struct daxfs_client *c, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLPRI};
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n > 0 && (p.revents & POLLPRI) ? 1 : 0;
}

void daxfs_client_persist(const struct daxfs_client *c, const void *addr, size_t len)
{
	if (!c->map || !len)
		return;
	if (c->map->is_pmem)
		pmem_persist(addr, len);
	else
		pmem_msync(addr, len);
}

void daxfs_client_memcpy_persist(const struct daxfs_client *c, void *dst, const void *src,
				 size_t len)
{
	if (c->map && c->map->is_pmem) {
		pmem_memcpy_persist(dst, src, len);
		return;
	}
	memcpy(dst, src, len);
	daxfs_client_persist(c, dst, len);
}

int daxfs_client_layout(struct daxfs_client *c, struct daxfs_ioc_layout *l)
{
	return ioctl_rc(c->fd, DAXFS_IOC_LAYOUT, l);
}

int daxfs_client_stats(struct daxfs_client *c, struct daxfs_ioc_stats *st)
{
	return ioctl_rc(c->fd, DAXFS_IOC_STATS, st);
}

void daxfs_client_info(const struct daxfs_client *c, struct daxfs_client_info *info)
{
	memset(info, 0, sizeof(*info));
	info->pool_path = c->pool.path;
	info->pool_size = c->pool.size;
	info->block_size = c->pool.block_size;
	info->pool_base = c->map ? c->map->base : NULL;
	info->mapped = c->map != NULL;
	info->is_pmem = c->map ? c->map->is_pmem : c->pool.is_pmem;
	memcpy(info->uuid, c->pool.uuid, sizeof(info->uuid));
}
