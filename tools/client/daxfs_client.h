/* SPDX-License-Identifier: MIT */
/*
 * libdaxfs-client: direct access to the data of a file on a daxfs mount,
 * the user-space analogue of a DAX mapping.
 *
 *     struct daxfs_client *c;
 *     struct daxfs_client_pin pin;
 *     daxfs_client_open("/mnt/daxfs/f", 0, &c);
 *     daxfs_client_pin(c, 0, 1 << 20, DAXFS_PIN_WRITE, &pin);
 *     for (unsigned i = 0; i < pin.nextents; i++)
 *             ... load and store through pin.extents[i].addr ...
 *     daxfs_client_persist(c, addr, len);      (after stores)
 *     daxfs_client_unpin(c, pin.id);
 *     daxfs_client_close(c);
 *
 * A pin (DAXFS_IOC_PIN) holds the file's blocks in place: while it is held,
 * the filesystem never frees or reuses them, whatever happens to the file
 * (a truncate, a hole punched, an unlink).  The extents give the pool
 * offset of every pinned byte, and the library maps the pool so that each
 * extent comes with a pointer into it.  Loads and stores through those
 * pointers are real memory accesses to the file's data, without the
 * daemon.
 *
 * Recalls.  A truncate, punch or unlink that needs pinned blocks back
 * recalls the pins on its range: poll(daxfs_client_fd(c)) reports POLLPRI
 * and daxfs_client_recalls() lists them.  The holder should finish what it
 * is doing and unpin.  A removal waits for the unpin (mount option
 * layout_wait=sync, up to break_timeout seconds) or completes at once and
 * leaves the blocks to be freed at the unpin (layout_wait=deferred, or
 * after the timeout): after a recall the pinned blocks may no longer belong
 * to the file, so new stores into them are lost to the file, but they
 * never land in another file.
 *
 * Who may map the pool.  The daemon hands out layouts (pool offsets), not
 * access rights: the pointers come from this process mapping the pool file
 * (the path DAXFS_IOC_POOLINFO reports) itself, with its own permissions.
 * A process that can map the pool can read and write every file in it,
 * and every block the filesystem ever frees, bypassing file permissions,
 * so the pool is typically root-owned with mode 0600 (or 0660 to a group
 * trusted with all of its data).  A process without that trust can still
 * pin (keeping blocks in place for something else, e.g. a device driver
 * given the extents): daxfs_client_open() still succeeds, pins and layouts
 * work with pool offsets, every extent's addr is NULL, and
 * daxfs_client_map() fails with -EACCES.
 *
 * Pins belong to the open file: daxfs_client_close(), or the death of the
 * process, drops them all.  Persistence: stores through the mapping are in
 * the pool but not necessarily durable; daxfs_client_persist() (cache
 * flushes on real pmem, msync on an emulated-DAX pool file) makes them so.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure.  A client may be used by several threads at once; the pool
 * mapping is shared by every client of the same pool in the process.
 */
#ifndef DAXFS_CLIENT_H
#define DAXFS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daxfs_ioctl.h"

#ifdef __cplusplus
extern "C" {
#endif

struct daxfs_client;

/* Open flags. */
#define DAXFS_CLIENT_RDONLY \
	0x1u			/* open the file read-only, map the pool read-only; no WRITE pins */
#define DAXFS_CLIENT_NOMAP 0x2u /* pins and layouts only: do not even try to map the pool */

struct daxfs_client_extent {
	uint64_t file_offset;
	uint64_t pool_offset;
	uint64_t length;
	void *addr; /* the data in the mapped pool; NULL when it is not mapped */
};

struct daxfs_client_pin {
	uint64_t id;
	uint64_t offset, length;
	uint32_t flags; /* DAXFS_PIN_* as pinned */
	uint32_t nextents;
	struct daxfs_client_extent extents[DAXFS_PIN_MAX_EXTENTS];
};

struct daxfs_client_info {
	const char *pool_path; /* as DAXFS_IOC_POOLINFO reports it */
	uint64_t pool_size, block_size;
	void *pool_base; /* NULL when not mapped */
	bool mapped;
	bool is_pmem; /* persistence is cache flushes, not msync */
	uint8_t uuid[16];
};

/* Opens path (a regular file on a daxfs mount) and, unless
 * DAXFS_CLIENT_NOMAP, maps its pool.  -ENOTTY: not on daxfs; -EACCES (or
 * -EPERM): the file may not be opened by this process.  Failing to map the
 * pool does not fail the open: see daxfs_client_map. */
int daxfs_client_open(const char *path, unsigned flags, struct daxfs_client **out);
/* The base of the pool mapping: 0, or why there is none: -EACCES (or
 * -EPERM) when this process may not open the pool file, -ESTALE when the
 * pool file at the reported path is not the mounted pool, -ENOTSUP with
 * DAXFS_CLIENT_NOMAP.  Without a mapping, extents have no addr. */
int daxfs_client_map(const struct daxfs_client *c, void **base);
/* Closes the file, which drops every pin it holds, and unmaps the pool
 * when this was its last client. */
void daxfs_client_close(struct daxfs_client *c);

/* Pins [offset, offset+length) (block aligned, at most
 * DAXFS_PIN_MAX_LENGTH) with DAXFS_PIN_* flags.  READ needs every block to
 * exist (-ENXIO on a hole or past EOF); WRITE allocates holes; STABLE keeps
 * the content unchanged under the pin.  Other errors: -EINVAL (bad
 * arguments), -EFBIG, -EMFILE (DAXFS_PINS_PER_HANDLE on this file), -ENFILE
 * (DAXFS_PINS_PER_MOUNT pins, or max_pinned blocks, on the mount), -E2BIG (more than DAXFS_PIN_MAX_EXTENTS
 * extents: pin less), -EBADF (WRITE on a read-only client). */
int daxfs_client_pin(struct daxfs_client *c, uint64_t offset, uint64_t length, unsigned flags,
		     struct daxfs_client_pin *pin);
int daxfs_client_unpin(struct daxfs_client *c, uint64_t pin_id);

/* The file descriptor, for poll(): POLLPRI while pins are recalled. */
int daxfs_client_fd(const struct daxfs_client *c);
/* Ids of this file's recalled pins: returns how many there are (at most
 * DAXFS_RECALLS_MAX) and stores the first max of them in ids. */
int daxfs_client_recalls(struct daxfs_client *c, uint64_t *ids, unsigned max);
/* Waits up to timeout_ms (-1: forever) for a recall: 1 when pins are
 * recalled, 0 on timeout. */
int daxfs_client_wait_recall(struct daxfs_client *c, int timeout_ms);

/* Makes stores to [addr, addr+len) inside the mapped pool durable. */
void daxfs_client_persist(const struct daxfs_client *c, const void *addr, size_t len);
/* memcpy into the mapped pool, made durable. */
void daxfs_client_memcpy_persist(const struct daxfs_client *c, void *dst, const void *src,
				 size_t len);

/* The layout of a range without pinning it (holes are left out).  Only a
 * snapshot: the blocks may be freed and reused the moment it returns. */
int daxfs_client_layout(struct daxfs_client *c, struct daxfs_ioc_layout *l);
/* The mount's counters (DAXFS_IOC_STATS). */
int daxfs_client_stats(struct daxfs_client *c, struct daxfs_ioc_stats *st);
void daxfs_client_info(const struct daxfs_client *c, struct daxfs_client_info *info);

#ifdef __cplusplus
}
#endif

#endif
