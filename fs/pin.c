/* SPDX-License-Identifier: MIT */
#include "pin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block_map.h"
#include "daxfs_ioctl.h"
#include "file_io.h"
#include "inode.h"
#include "layout_break.h"
#include "super.h"

struct pin {
	uint64_t id, handle, ino;
	uint64_t first, nblocks; /* file blocks */
	uint32_t uid; /* charged to */
	unsigned flags;
	bool recalled;
	uint64_t pfns[]; /* what was pinned, whatever the map says later */
};

/* What one uid other than root holds: pins, and blocks under them. */
struct pin_user {
	uint32_t uid;
	uint64_t pins, blocks;
};

void pins_init(struct pin_registry *reg, uint64_t nblocks, const struct daxfs_mount_opts *o)
{
	uint64_t max_pinned = o->max_pinned_blocks;

	memset(reg, 0, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	reg->nblocks = nblocks;
	if (!max_pinned) {
		max_pinned = nblocks / 4 < DAXFS_DEFAULT_MAX_PINNED ? nblocks / 4
								    : DAXFS_DEFAULT_MAX_PINNED;
		if (!max_pinned)
			max_pinned = 1;
	}
	reg->max_pinned = max_pinned;
	reg->pins_per_uid = o->pins_per_uid ? o->pins_per_uid : DAXFS_PINS_PER_MOUNT / 4;
	reg->pinned_per_uid = o->pinned_per_uid ? o->pinned_per_uid
				: max_pinned / 4  ? max_pinned / 4
						  : 1;
	atomic_store(&reg->next_handle, 1);
}

uint64_t daxfs_handle_new(struct daxfs *fs)
{
	return atomic_fetch_add(&fs->pinreg.next_handle, 1);
}

size_t pins_active(struct pin_registry *reg)
{
	pthread_mutex_lock(&reg->lock);
	size_t n = reg->n;
	pthread_mutex_unlock(&reg->lock);
	return n;
}

/* A per-pfn count array of the registry, allocated on first use. */
static uint8_t *pfn_counts(struct pin_registry *reg, _Atomic(uint8_t *) *slot)
{
	uint8_t *s = atomic_load(slot);

	if (!s) {
		uint8_t *n = calloc(reg->nblocks, 1);
		if (n && !atomic_compare_exchange_strong(slot, &s, n))
			free(n);
		s = atomic_load(slot);
	}
	return s;
}

/* Drops the pin counts of the first n pfns of p. */
static void release_pfns(struct daxfs *fs, struct pin *p, uint64_t n)
{
	struct pfn_table *t = fs_pfns(fs);
	uint8_t *s = atomic_load(&fs->pinreg.stable), *w = atomic_load(&fs->pinreg.writers);

	for (uint64_t i = 0; i < n; i++) {
		if ((p->flags & DAXFS_PIN_STABLE) && s)
			__atomic_fetch_sub(&s[p->pfns[i]], 1, __ATOMIC_RELEASE);
		if ((p->flags & DAXFS_PIN_WRITE) && w)
			__atomic_fetch_sub(&w[p->pfns[i]], 1, __ATOMIC_RELEASE);
		pfn_unpin(t, p->pfns[i]);
	}
	if (p->flags & DAXFS_PIN_STABLE)
		pfn_wake_all(&fs->pfns); /* writers waiting for stable pins to go */
}

static int check_request(struct daxfs *fs, struct inode_mem *im, const struct daxfs_ioc_pin *p)
{
	unsigned known = DAXFS_PIN_READ | DAXFS_PIN_WRITE | DAXFS_PIN_LONGTERM | DAXFS_PIN_STABLE;

	if (!S_ISREG(im->di->mode))
		return -EINVAL;
	if ((p->flags & ~known) || !(p->flags & (DAXFS_PIN_READ | DAXFS_PIN_WRITE)))
		return -EINVAL;
	/* A STABLE pin promises the content does not change, a WRITE pin is
	 * there to change it: one pin cannot be both. */
	if ((p->flags & DAXFS_PIN_WRITE) && (p->flags & DAXFS_PIN_STABLE))
		return -EINVAL;
	if (p->length == 0 || p->length > DAXFS_PIN_MAX_LENGTH ||
	    (p->offset | p->length) % DAXFS_BLOCK_SIZE)
		return -EINVAL;
	if (p->offset >= DAXFS_MAX_FILE_SIZE || p->length > DAXFS_MAX_FILE_SIZE - p->offset)
		return -EFBIG;
	if ((p->flags & DAXFS_PIN_WRITE) && fs->opts.read_only)
		return -EROFS;
	return 0;
}

static int check_limits(struct pin_registry *reg, uint64_t handle)
{
	size_t mine = 0;

	for (size_t i = 0; i < reg->n; i++)
		mine += reg->pins[i]->handle == handle;
	return mine >= DAXFS_PINS_PER_HANDLE ? -EMFILE : 0;
}

static void add_extent(struct daxfs_extent *ext, uint32_t *n, uint64_t foff, uint64_t poff,
		       uint64_t len)
{
	struct daxfs_extent *last = *n ? &ext[*n - 1] : NULL;

	if (last && last->file_offset + last->length == foff &&
	    last->pool_offset + last->length == poff) {
		last->length += len;
		return;
	}
	ext[*n] = (struct daxfs_extent){ foff, poff, len };
	(*n)++;
}

/* Locking: reg->lock.  The entry of uid, made if need be (NULL: no memory). */
static struct pin_user *user_of(struct pin_registry *reg, uint32_t uid)
{
	for (size_t i = 0; i < reg->nusers; i++)
		if (reg->users[i].uid == uid)
			return &reg->users[i];
	if (reg->nusers == reg->users_cap) {
		size_t cap = reg->users_cap ? reg->users_cap * 2 : 8;
		struct pin_user *n = realloc(reg->users, cap * sizeof(*n));
		if (!n)
			return NULL;
		reg->users = n;
		reg->users_cap = cap;
	}
	reg->users[reg->nusers] = (struct pin_user){ .uid = uid };
	return &reg->users[reg->nusers++];
}

/* Locking: reg->lock. */
static void forget_idle_user(struct pin_registry *reg, struct pin_user *u)
{
	if (u->pins == 0)
		*u = reg->users[--reg->nusers];
}

/* What a uid other than root may fill of a mount's limit: root keeps the
 * last eighth, so that no number of users can starve it. */
static uint64_t users_share(uint64_t limit)
{
	return limit - limit / 8;
}

/* Charges one pin of nblocks blocks to the mount and to uid, before
 * anything is allocated for it: ENFILE when the mount is full (for users
 * other than root, when they have filled all but root's reserve), EDQUOT
 * when uid has its share. */
static int charge(struct pin_registry *reg, uint32_t uid, uint64_t nblocks)
{
	uint64_t pins_cap = uid ? users_share(DAXFS_PINS_PER_MOUNT) : DAXFS_PINS_PER_MOUNT;
	uint64_t blocks_cap = uid ? users_share(reg->max_pinned) : reg->max_pinned;
	struct pin_user *u = NULL;
	int rc = 0;

	pthread_mutex_lock(&reg->lock);
	if (reg->charged_pins >= pins_cap || reg->pinned_blocks > blocks_cap ||
	    nblocks > blocks_cap - reg->pinned_blocks)
		rc = -ENFILE;
	else if (uid && !(u = user_of(reg, uid)))
		rc = -ENOMEM;
	else if (u && (u->pins >= reg->pins_per_uid || u->blocks > reg->pinned_per_uid ||
		       nblocks > reg->pinned_per_uid - u->blocks))
		rc = -EDQUOT;
	if (!rc) {
		reg->charged_pins++;
		reg->pinned_blocks += nblocks;
		if (u) {
			u->pins++;
			u->blocks += nblocks;
		}
	} else if (u) {
		forget_idle_user(reg, u);
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

/* Locking: reg->lock. */
static void uncharge_locked(struct pin_registry *reg, uint32_t uid, uint64_t nblocks)
{
	reg->charged_pins--;
	reg->pinned_blocks -= nblocks;
	for (size_t i = 0; uid && i < reg->nusers; i++) {
		struct pin_user *u = &reg->users[i];
		if (u->uid != uid)
			continue;
		u->pins--;
		u->blocks -= nblocks;
		forget_idle_user(reg, u);
		break;
	}
}

static void uncharge(struct pin_registry *reg, uint32_t uid, uint64_t nblocks)
{
	pthread_mutex_lock(&reg->lock);
	uncharge_locked(reg, uid, nblocks);
	pthread_mutex_unlock(&reg->lock);
}

void pins_limits(struct pin_registry *reg, struct daxfs_ioc_stats *out)
{
	pthread_mutex_lock(&reg->lock);
	out->pinned_blocks = reg->pinned_blocks;
	out->max_pinned = reg->max_pinned;
	out->pins_per_uid = reg->pins_per_uid;
	out->pinned_per_uid = reg->pinned_per_uid;
	pthread_mutex_unlock(&reg->lock);
}

/* Counts one more pin of the kind in *counts for pfn, unless the pfn
 * has a pin of the conflicting kind (EBUSY) or the count is full. */
static int count_kind(struct pin_registry *reg, _Atomic(uint8_t *) *counts,
		      _Atomic(uint8_t *) *conflicting, uint64_t pfn)
{
	uint8_t *c = pfn_counts(reg, counts), *x = atomic_load(conflicting);

	if (!c)
		return -ENOMEM;
	if (x && __atomic_load_n(&x[pfn], __ATOMIC_ACQUIRE))
		return -EBUSY;
	if (__atomic_load_n(&c[pfn], __ATOMIC_RELAXED) == UINT8_MAX)
		return -EMLINK;
	__atomic_fetch_add(&c[pfn], 1, __ATOMIC_RELEASE);
	return 0;
}

static void uncount_kind(_Atomic(uint8_t *) *counts, uint64_t pfn)
{
	__atomic_fetch_sub(&atomic_load(counts)[pfn], 1, __ATOMIC_RELEASE);
}

/* Locking: im->lock exclusive.  Pins block i of the range, allocating it
 * for a WRITE pin of a hole.
 *
 * WRITE and STABLE pins never share a block: whichever comes second is
 * refused with EBUSY.  A write into a STABLE-pinned block goes to a copy
 * (stable_pages.h), and a WRITE pin on the old block would go on storing
 * into a block the file no longer maps, its stores lost; recalling it at
 * the bounce would not save the stores made before the holder noticed.
 * Pins are added under the inode lock that every bounce holds, so the
 * check and the count cannot be overtaken by a bounce or by another pin. */
static int pin_block(struct daxfs *fs, struct inode_mem *im, struct pin *p, uint64_t i)
{
	struct pin_registry *reg = &fs->pinreg;
	uint64_t index = p->first + i, blk = bmap_lookup(fs, im->di, index);
	int rc;

	if (!blk) {
		if (!(p->flags & DAXFS_PIN_WRITE))
			return -ENXIO;
		if ((rc = file_alloc_zeroed(fs, im, index, &blk)))
			return rc;
	}
	uint64_t pfn = blk - fs->alloc.data_start;
	_Atomic(uint8_t *) *kind = (p->flags & DAXFS_PIN_STABLE)  ? &reg->stable
				   : (p->flags & DAXFS_PIN_WRITE) ? &reg->writers
								  : NULL;
	if (kind) {
		rc = count_kind(reg, kind, kind == &reg->stable ? &reg->writers : &reg->stable,
				pfn);
		if (rc)
			return rc;
	}
	if ((rc = pfn_pin(fs_pfns(fs), pfn))) {
		if (kind)
			uncount_kind(kind, pfn);
		return rc;
	}
	p->pfns[i] = pfn;
	return 0;
}

static int register_pin(struct pin_registry *reg, struct pin *p)
{
	int rc;

	pthread_mutex_lock(&reg->lock);
	if (!(rc = check_limits(reg, p->handle)) && reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 64;
		struct pin **n = realloc(reg->pins, cap * sizeof(*n));
		if (n) {
			reg->pins = n;
			reg->cap = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	if (!rc) {
		p->id = ++reg->next_id;
		reg->pins[reg->n++] = p;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int daxfs_pin(struct daxfs *fs, uint64_t ino, uint64_t handle, struct daxfs_ioc_pin *req)
{
	return daxfs_pin_as(fs, ino, handle, 0, req);
}

int daxfs_pin_as(struct daxfs *fs, uint64_t ino, uint64_t handle, uint32_t uid,
		 struct daxfs_ioc_pin *req)
{
	uint64_t nblocks = req->length / DAXFS_BLOCK_SIZE, i = 0;
	int rc;

	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);
	if (!im)
		return -ENOENT;
	if ((rc = check_request(fs, im, req)))
		return rc;
	if ((rc = charge(&fs->pinreg, uid, nblocks)))
		return rc;
	struct pin *p = calloc(1, sizeof(*p) + nblocks * sizeof(uint64_t));
	if (!p) {
		uncharge(&fs->pinreg, uid, nblocks);
		return -ENOMEM;
	}
	p->handle = handle;
	p->uid = uid;
	p->ino = ino;
	p->first = req->offset / DAXFS_BLOCK_SIZE;
	p->nblocks = nblocks;
	p->flags = req->flags;

	pthread_rwlock_wrlock(&im->lock);
	uint64_t eof = (im->di->size + DAXFS_BLOCK_SIZE - 1) / DAXFS_BLOCK_SIZE;
	rc = im->dead ? -ENOENT : p->first + nblocks > eof ? -ENXIO : 0;
	/* a device writing into the file is a write, not an append */
	if (!rc && (req->flags & DAXFS_PIN_WRITE) &&
	    (inode_immutable(im->di) || inode_append_only(im->di)))
		rc = -EPERM;
	req->nextents = 0;
	for (; !rc && i < nblocks; i++) {
		if ((rc = pin_block(fs, im, p, i)))
			break;
		uint64_t poff = (p->pfns[i] + fs->alloc.data_start) * DAXFS_BLOCK_SIZE;
		if (req->nextents == DAXFS_PIN_MAX_EXTENTS) {
			const struct daxfs_extent *l = &req->extents[DAXFS_PIN_MAX_EXTENTS - 1];
			if (l->pool_offset + l->length != poff) {
				i++; /* this block is pinned: release it with the rest */
				rc = -E2BIG; /* too fragmented: pin a smaller range */
				break;
			}
		}
		add_extent(req->extents, &req->nextents, (p->first + i) * DAXFS_BLOCK_SIZE, poff,
			   DAXFS_BLOCK_SIZE);
	}
	if (!rc)
		rc = register_pin(&fs->pinreg, p);
	pthread_rwlock_unlock(&im->lock);
	if (rc) {
		release_pfns(fs, p, i);
		free(p);
		uncharge(&fs->pinreg, uid, nblocks);
		return rc;
	}
	req->pin_id = p->id;
	return 0;
}

/* Removes and returns the pins matching (handle, id); id 0 matches all. */
static size_t take_pins(struct pin_registry *reg, uint64_t handle, uint64_t id, struct pin ***out)
{
	size_t n = 0;

	pthread_mutex_lock(&reg->lock);
	*out = malloc((reg->n ? reg->n : 1) * sizeof(**out));
	for (size_t i = 0; *out && i < reg->n;) {
		struct pin *p = reg->pins[i];
		if (p->handle == handle && (id == 0 || p->id == id)) {
			(*out)[n++] = p;
			uncharge_locked(reg, p->uid, p->nblocks);
			reg->pins[i] = reg->pins[--reg->n];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	return n;
}

/* A WRITE pin let a device store behind the kernel's page cache: drop what
 * the kernel caches of its range once the device is done. */
static void drop_pin(struct daxfs *fs, struct pin *p)
{
	release_pfns(fs, p, p->nblocks);
	if ((p->flags & DAXFS_PIN_WRITE) && fs->opts.inval_range)
		fs->opts.inval_range(fs->opts.inval_ctx, p->ino, p->first * DAXFS_BLOCK_SIZE,
				     p->nblocks * DAXFS_BLOCK_SIZE);
	free(p);
}

int daxfs_unpin(struct daxfs *fs, uint64_t handle, uint64_t pin_id)
{
	struct pin **taken;

	rcu_thread_enter();
	if (pin_id == 0)
		return -EINVAL;
	size_t n = take_pins(&fs->pinreg, handle, pin_id, &taken);
	if (!taken)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		drop_pin(fs, taken[i]);
	free(taken);
	return n ? 0 : -EINVAL;
}

void daxfs_handle_release(struct daxfs *fs, uint64_t handle)
{
	struct pin **taken;

	rcu_thread_enter();
	size_t n = take_pins(&fs->pinreg, handle, 0, &taken);
	for (size_t i = 0; taken && i < n; i++)
		drop_pin(fs, taken[i]);
	free(taken);
}

void pins_destroy(struct daxfs *fs)
{
	struct pin_registry *reg = &fs->pinreg;

	for (size_t i = 0; i < reg->n; i++) {
		release_pfns(fs, reg->pins[i], reg->pins[i]->nblocks);
		free(reg->pins[i]);
	}
	free(reg->pins);
	free(reg->users);
	free(atomic_load(&reg->stable));
	free(atomic_load(&reg->writers));
	pthread_mutex_destroy(&reg->lock);
	memset(reg, 0, sizeof(*reg));
}

unsigned pins_recall_range(struct daxfs *fs, uint64_t ino, uint64_t first, uint64_t last)
{
	struct pin_registry *reg = &fs->pinreg;
	uint64_t handles[64];
	unsigned recalled = 0, nh = 0;

	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->n; i++) {
		struct pin *p = reg->pins[i];
		if (p->ino != ino || p->recalled || p->first > last ||
		    p->first + p->nblocks - 1 < first)
			continue;
		p->recalled = true;
		recalled++;
		bool seen = false;
		for (unsigned h = 0; h < nh; h++)
			seen |= handles[h] == p->handle;
		if (!seen && nh < 64)
			handles[nh++] = p->handle;
	}
	pthread_mutex_unlock(&reg->lock);
	atomic_fetch_add(&reg->recalls, recalled);
	for (unsigned h = 0; h < nh && fs->opts.recall; h++)
		fs->opts.recall(fs->opts.recall_ctx, handles[h]);
	return recalled;
}

int daxfs_recalls(struct daxfs *fs, uint64_t handle, struct daxfs_ioc_recalls *r)
{
	struct pin_registry *reg = &fs->pinreg;

	r->count = 0;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->n && r->count < DAXFS_RECALLS_MAX; i++)
		if (reg->pins[i]->handle == handle && reg->pins[i]->recalled)
			r->pin_ids[r->count++] = reg->pins[i]->id;
	pthread_mutex_unlock(&reg->lock);
	return (int)r->count;
}

int pins_wait_unstable(struct daxfs *fs, uint64_t ino, uint64_t index, uint64_t pfn)
{
	struct pfn_waitq *wq = &fs->pfns.wq;
	const _Atomic bool *cancel = daxfs_cancel_flag();
	unsigned timeout = fs->opts.break_timeout_sec ? fs->opts.break_timeout_sec : 30;
	struct timespec deadline;
	int rc = 0;

	/* The holders must hear about it before anyone waits on them. */
	pins_recall_range(fs, ino, index, index);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	pthread_mutex_lock(&wq->lock);
	while (pins_block_stable(&fs->pinreg, pfn)) {
		if (cancel && atomic_load(cancel)) {
			rc = -EINTR;
			break;
		}
		if (pthread_cond_timedwait(&wq->cond, &wq->lock, &deadline) == ETIMEDOUT &&
		    pins_block_stable(&fs->pinreg, pfn)) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&wq->lock);
	return rc;
}

int daxfs_layout(struct daxfs *fs, uint64_t ino, struct daxfs_ioc_layout *l)
{
	rcu_thread_enter();
	struct inode_mem *im = inode_get(fs, ino);

	if (!im)
		return -ENOENT;
	if (!S_ISREG(im->di->mode))
		return -EINVAL;
	if (l->length == 0 || l->offset >= DAXFS_MAX_FILE_SIZE ||
	    l->length > DAXFS_MAX_FILE_SIZE - l->offset)
		return -EINVAL;
	l->nextents = 0;
	uint64_t end = l->offset + l->length;
	uint64_t pos = l->offset - l->offset % DAXFS_BLOCK_SIZE;
	pthread_rwlock_rdlock(&im->lock);
	uint64_t eof = im->di->size;
	if (end > eof)
		end = eof;
	while (pos < end) {
		uint64_t index = pos / DAXFS_BLOCK_SIZE;
		uint64_t next = bmap_seek(fs, im->di, index, (end + DAXFS_BLOCK_SIZE - 1) /
							    DAXFS_BLOCK_SIZE, true);
		pos = next * DAXFS_BLOCK_SIZE;
		if (pos >= end)
			break;
		uint64_t poff = bmap_lookup(fs, im->di, next) * DAXFS_BLOCK_SIZE;
		const struct daxfs_extent *last =
			l->nextents ? &l->extents[l->nextents - 1] : NULL;
		if (l->nextents == DAXFS_PIN_MAX_EXTENTS &&
		    !(last->file_offset + last->length == pos &&
		      last->pool_offset + last->length == poff))
			break;
		add_extent(l->extents, &l->nextents, pos, poff, DAXFS_BLOCK_SIZE);
		pos += DAXFS_BLOCK_SIZE;
	}
	pthread_rwlock_unlock(&im->lock);
	l->next_offset = pos < end ? pos : l->offset + l->length;
	return 0;
}

int daxfs_poolinfo(struct daxfs *fs, struct daxfs_ioc_poolinfo *pi)
{
	const struct daxfs_super *sb = pool_super(&fs->pool);

	memset(pi, 0, sizeof(*pi));
	if (strlen(fs->pool.path) >= sizeof(pi->path))
		return -ENAMETOOLONG;
	memcpy(pi->path, fs->pool.path, strlen(fs->pool.path));
	pi->size = fs->pool.size;
	pi->block_size = DAXFS_BLOCK_SIZE;
	pi->is_pmem = fs->pool.is_pmem;
	memcpy(pi->uuid, sb->uuid, sizeof(pi->uuid));
	return 0;
}
