/* SPDX-License-Identifier: MIT */
/*
 * A test hook for the DRAM allocations of namespace operations that a
 * transaction must survive: while daxfs_fault_nomem_at is n > 0, the n-th
 * allocation checked from then on fails (once).  0, the default, is off and
 * costs one relaxed load.
 */
#ifndef DAXFS_FAULT_H
#define DAXFS_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>

extern _Atomic int daxfs_fault_nomem_at;

static inline bool fault_nomem(void)
{
	int n = atomic_load_explicit(&daxfs_fault_nomem_at, memory_order_relaxed);

	while (__builtin_expect(n > 0, 0))
		if (atomic_compare_exchange_weak(&daxfs_fault_nomem_at, &n, n - 1))
			return n == 1;
	return false;
}

#endif
