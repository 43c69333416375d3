/* SPDX-License-Identifier: MIT */
/* A minimal test harness: CHECK records a failure and carries on, and
 * check_summary prints the closing "N passed, N failed" line. */
#ifndef DAXFS_CHECK_H
#define DAXFS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (cond) {                                                              \
			check_passed++;                                                  \
		} else {                                                                 \
			check_failed++;                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
		}                                                                        \
	} while (0)

#define CHECK_EQ(a, b)                                                                      \
	do {                                                                                \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);             \
		if (check_a_ == check_b_) {                                                 \
			check_passed++;                                                     \
		} else {                                                                    \
			check_failed++;                                                     \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n",   \
				__FILE__, __LINE__, #a, #b, check_a_, check_b_);            \
		}                                                                           \
	} while (0)

static inline int check_summary(void)
{
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
