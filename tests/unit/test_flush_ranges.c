/* SPDX-License-Identifier: MIT */
/* The msync pool's range set against a model: a map of the pages added. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "../../pmem/flush_ranges.h"

#define G 4096u
#define PAGES 512u

/* Sorted, disjoint, not touching (touching ranges must have merged), and
 * aligned to the granule. */
static bool well_formed(const struct flush_ranges *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->r[i].lo % G || s->r[i].hi % G || s->r[i].lo >= s->r[i].hi)
			return false;
		if (i && s->r[i - 1].hi >= s->r[i].lo)
			return false;
	}
	return s->n <= FLUSH_RANGES_MAX;
}

static bool covered(const struct flush_ranges *s, uintptr_t page)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->r[i].lo <= page * G && page * G < s->r[i].hi)
			return true;
	return false;
}

/* Number of separate runs of added pages in the model. */
static unsigned runs(const bool *model)
{
	unsigned n = 0;

	for (unsigned p = 0; p < PAGES; p++)
		if (model[p] && (p == 0 || !model[p - 1]))
			n++;
	return n;
}

static void test_cases(void)
{
	struct flush_ranges s;

	flush_ranges_init(&s, G);
	flush_ranges_add(&s, 10, 0);
	CHECK_EQ(s.n, 0);
	/* A few bytes widen to their page; bytes across a boundary to two. */
	flush_ranges_add(&s, G + 8, 8);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.r[0].lo, G);
	CHECK_EQ(s.r[0].hi, 2 * G);
	flush_ranges_add(&s, 5 * G - 4, 8);
	CHECK_EQ(s.n, 2);
	CHECK_EQ(s.r[1].lo, 4 * G);
	CHECK_EQ(s.r[1].hi, 6 * G);
	/* Touching the first range from below: it grows, the second stays. */
	flush_ranges_add(&s, 0, 1);
	CHECK_EQ(s.n, 2);
	CHECK_EQ(s.r[0].lo, 0);
	CHECK_EQ(s.r[0].hi, 2 * G);
	flush_ranges_add(&s, 4 * G, 8 * G);
	CHECK_EQ(s.n, 2);
	CHECK_EQ(s.r[1].hi, 12 * G);
	/* Filling the gap exactly: both sides join. */
	flush_ranges_add(&s, 2 * G, 2 * G);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.r[0].lo, 0);
	CHECK_EQ(s.r[0].hi, 12 * G);
	/* Inside an existing range: no change. */
	flush_ranges_add(&s, 3 * G + 1, 100);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.r[0].hi, 12 * G);
	/* One range swallowing several. */
	flush_ranges_clear(&s);
	for (unsigned i = 0; i < 5; i++)
		flush_ranges_add(&s, (20 + 3 * i) * G, G);
	CHECK_EQ(s.n, 5);
	flush_ranges_add(&s, 19 * G, 20 * G);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.r[0].lo, 19 * G);
	CHECK_EQ(s.r[0].hi, 39 * G);
	/* Full: the next separate range joins the two nearest neighbours. */
	flush_ranges_clear(&s);
	for (unsigned i = 0; i < FLUSH_RANGES_MAX; i++)
		flush_ranges_add(&s, (uintptr_t)i * 10 * G, G);
	CHECK_EQ(s.n, FLUSH_RANGES_MAX);
	flush_ranges_add(&s, 32 * G, G); /* 2 pages after the range at 30 */
	CHECK_EQ(s.n, FLUSH_RANGES_MAX);
	CHECK(covered(&s, 30) && covered(&s, 31) && covered(&s, 32));
	CHECK(!covered(&s, 29) && !covered(&s, 33));
	CHECK(well_formed(&s));
	/* Merging two sets. */
	struct flush_ranges a, b;
	flush_ranges_init(&a, G);
	flush_ranges_init(&b, G);
	flush_ranges_add(&a, 0, G);
	flush_ranges_add(&b, G, G);
	flush_ranges_add(&b, 9 * G, G);
	flush_ranges_merge(&a, &b);
	CHECK_EQ(a.n, 2);
	CHECK_EQ(a.r[0].hi, 2 * G);
	CHECK_EQ(a.r[1].lo, 9 * G);
}

/* Random adds: every page added stays covered; while the set never filled
 * up it covers exactly the pages added, one range per run. */
static void test_model(unsigned seed)
{
	struct flush_ranges s;
	bool model[PAGES];
	bool ok = true, exact = true;

	srand(seed);
	for (int round = 0; round < 200; round++) {
		flush_ranges_init(&s, G);
		memset(model, 0, sizeof(model));
		bool overflowed = false;
		int adds = 1 + rand() % 40;
		for (int k = 0; k < adds; k++) {
			uintptr_t off = (uintptr_t)(rand() % (PAGES * G - 64 * G));
			uintptr_t len = (uintptr_t)(rand() % (rand() % 2 ? 64 : 4 * G) + 1);
			flush_ranges_add(&s, off, len);
			for (uintptr_t p = off / G; p <= (off + len - 1) / G; p++)
				model[p] = true;
			if (runs(model) > FLUSH_RANGES_MAX)
				overflowed = true;
			if (!well_formed(&s))
				ok = false;
			for (unsigned p = 0; p < PAGES; p++) {
				if (model[p] && !covered(&s, p))
					ok = false;
				if (!overflowed && !model[p] && covered(&s, p))
					exact = false;
			}
			if (!overflowed && s.n != runs(model))
				exact = false;
		}
	}
	CHECK(ok);
	CHECK(exact);
}

int main(void)
{
	test_cases();
	for (unsigned seed = 1; seed <= 20; seed++)
		test_model(seed);
	return check_summary();
}
