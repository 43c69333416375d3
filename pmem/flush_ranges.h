/* SPDX-License-Identifier: MIT */
/*
 * The ranges of a mapping flushed since the last fence, on a pool persisted
 * by msync: a small sorted set of disjoint page-aligned ranges, merged on
 * insert, so that a fence writes them back in as few msync calls as there
 * are separate runs of dirty pages.
 */
#ifndef DAXFS_FLUSH_RANGES_H
#define DAXFS_FLUSH_RANGES_H

#include <stdint.h>

/* Enough for the scattered metadata of one operation (inode, map slots,
 * bitmap word, log entry, data); past it the two nearest ranges are joined,
 * which costs a walk over clean pages, never a lost range. */
#define FLUSH_RANGES_MAX 16

struct flush_range {
	uintptr_t lo, hi; /* [lo, hi), both multiples of the granule */
};

struct flush_ranges {
	uintptr_t granule; /* a power of two: the page size */
	unsigned n;
	struct flush_range r[FLUSH_RANGES_MAX + 1]; /* one spare for the insert */
};

void flush_ranges_init(struct flush_ranges *s, uintptr_t granule);
/* Adds [addr, addr+len) widened to whole granules; len 0 adds nothing. */
void flush_ranges_add(struct flush_ranges *s, uintptr_t addr, uintptr_t len);
/* Adds every range of src to s. */
void flush_ranges_merge(struct flush_ranges *s, const struct flush_ranges *src);
void flush_ranges_clear(struct flush_ranges *s);

#endif
