/* SPDX-License-Identifier: MIT */
/*
 * Undo log: makes a metadata operation that changes several structures
 * atomic with respect to a crash.  Before a range is changed its old
 * contents are logged and persisted; commit persists the changes and then
 * empties the slot with one 8-byte store.  Recovery rolls back every slot
 * that is not empty.  Each operation takes a slot of its own, so operations
 * on different inodes run in parallel.
 */
#ifndef DAXFS_UNDO_LOG_H
#define DAXFS_UNDO_LOG_H

#include <pthread.h>
#include <stdint.h>

#include "pool.h"

#define TX_MAX_RANGES 48

struct undo_log {
	struct pool *pool;
	unsigned nslots;
	uint64_t slot_bytes;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t free_mask; /* bit i: slot i is free */
};

struct tx {
	struct undo_log *log;
	unsigned slot;
	char *base; /* the slot in the pool */
	uint64_t used; /* bytes of entries written */
	uint64_t nentries;
	int nranges;
	pthread_mutex_t *held; /* released after commit or abort */
	struct {
		char *addr;
		uint32_t len;
	} ranges[TX_MAX_RANGES];
};

void undo_log_init(struct undo_log *log, struct pool *pool);
void undo_log_destroy(struct undo_log *log);
/* Rolls back interrupted transactions; returns how many were rolled back,
 * or a negative errno if a slot is corrupt. */
int undo_log_recover(struct pool *pool);

void tx_begin(struct undo_log *log, struct tx *tx);
/* Logs the current contents of [addr, addr+len) unless already logged in
 * this transaction.  Must precede any change to the range. */
void tx_add(struct tx *tx, void *addr, uint32_t len);
void tx_commit(struct tx *tx);
/* Takes m (once) and keeps it until the transaction ends: for structures
 * shared by all inodes, so that two open transactions never log the same
 * range. */
void tx_hold(struct tx *tx, pthread_mutex_t *m);
/* Restores every logged range (an operation that failed half way). */
void tx_abort(struct tx *tx);

#endif
