/* SPDX-License-Identifier: MIT */
#include "flush_ranges.h"

#include <string.h>

void flush_ranges_init(struct flush_ranges *s, uintptr_t granule)
{
	s->granule = granule;
	s->n = 0;
}

void flush_ranges_clear(struct flush_ranges *s)
{
	s->n = 0;
}

static void remove_at(struct flush_ranges *s, unsigned i)
{
	memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof(s->r[0]));
	s->n--;
}

/* Over capacity: join the two neighbours with the smallest gap, so the
 * pages swept in needlessly are as few as possible. */
static void join_nearest(struct flush_ranges *s)
{
	unsigned best = 0;

	for (unsigned i = 1; i + 1 < s->n; i++)
		if (s->r[i + 1].lo - s->r[i].hi < s->r[best + 1].lo - s->r[best].hi)
			best = i;
	s->r[best].hi = s->r[best + 1].hi;
	remove_at(s, best + 1);
}

void flush_ranges_add(struct flush_ranges *s, uintptr_t addr, uintptr_t len)
{
	uintptr_t lo = addr & ~(s->granule - 1);
	uintptr_t hi = (addr + len + s->granule - 1) & ~(s->granule - 1);
	unsigned i = 0;

	if (!len)
		return;
	/* The first range that ends at or after lo: touching ranges merge. */
	while (i < s->n && s->r[i].hi < lo)
		i++;
	if (i < s->n && s->r[i].lo <= hi) {
		if (lo < s->r[i].lo)
			s->r[i].lo = lo;
		if (hi > s->r[i].hi)
			s->r[i].hi = hi;
		while (i + 1 < s->n && s->r[i + 1].lo <= s->r[i].hi) {
			if (s->r[i + 1].hi > s->r[i].hi)
				s->r[i].hi = s->r[i + 1].hi;
			remove_at(s, i + 1);
		}
		return;
	}
	memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
	s->r[i] = (struct flush_range){lo, hi};
	s->n++;
	if (s->n > FLUSH_RANGES_MAX)
		join_nearest(s);
}

void flush_ranges_merge(struct flush_ranges *s, const struct flush_ranges *src)
{
	for (unsigned i = 0; i < src->n; i++)
		flush_ranges_add(s, src->r[i].lo, src->r[i].hi - src->r[i].lo);
}
