/* SPDX-License-Identifier: MIT */
/*
 * Pins: long-term references held by DMA-style users through an open file
 * handle, as pin_user_pages(FOLL_LONGTERM) holds pages.  Each pin holds one
 * pin count on every pfn of its range (the pfn word's pin field), so the
 * removal protocol waits for it exactly as for short-term references.  The
 * registry remembers who holds what, so that a removal can recall pins on
 * its range and a closing handle drops its own.
 */
#ifndef DAXFS_PIN_H
#define DAXFS_PIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pin;
struct pin_user;
struct daxfs_mount_opts;

struct pin_registry {
	pthread_mutex_t lock;
	struct pin **pins;
	size_t n, cap;
	uint64_t next_id;
	_Atomic uint64_t next_handle;
	/* Per data block counts of STABLE and of WRITE pins, allocated on
	 * first use. */
	_Atomic(uint8_t *) stable, writers;
	uint64_t nblocks;
	/* Blocks held by registered pins (and by pins being built), and the
	 * mount's limit on them; under lock. */
	uint64_t pinned_blocks, max_pinned;
	/* Pins registered or being built, and what each uid other than root
	 * holds of them and of pinned_blocks; under lock. */
	uint64_t charged_pins;
	struct pin_user *users;
	size_t nusers, users_cap;
	uint64_t pins_per_uid, pinned_per_uid;
	_Atomic uint64_t recalls, bounces;
};

struct daxfs;
struct inode_mem;

/* The limits come from the mount options, 0 meaning the default. */
void pins_init(struct pin_registry *reg, uint64_t nblocks, const struct daxfs_mount_opts *o);
void pins_destroy(struct daxfs *fs);
size_t pins_active(struct pin_registry *reg);
struct daxfs_ioc_stats;
/* The limits and what is held against them, for DAXFS_IOC_STATS. */
void pins_limits(struct pin_registry *reg, struct daxfs_ioc_stats *out);

/* Step 1 of the removal protocol: marks the pins on file blocks
 * [first, last] of ino recalled and tells their holders.  Returns how many
 * pins were newly recalled. */
unsigned pins_recall_range(struct daxfs *fs, uint64_t ino, uint64_t first, uint64_t last);

/* Is the pfn under a STABLE pin?  A racy read is fine: pins are added under
 * the inode lock the writer holds, and a stale "yes" only costs a copy. */
static inline bool pins_block_stable(struct pin_registry *reg, uint64_t pfn)
{
	uint8_t *s = atomic_load_explicit(&reg->stable, memory_order_acquire);

	return s && __atomic_load_n(&s[pfn], __ATOMIC_ACQUIRE);
}

/* Recalls the STABLE pins on file block index of ino (pfn), then sleeps
 * until the pfn has none.  Returns 0 once it has none, -ETIMEDOUT after
 * break_timeout, -EINTR when the request was interrupted. */
int pins_wait_unstable(struct daxfs *fs, uint64_t ino, uint64_t index, uint64_t pfn);

#endif
