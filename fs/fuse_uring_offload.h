/* SPDX-License-Identifier: MIT */
/*
 * The requests that may sleep, off the io_uring queue threads.
 *
 * A ring queue is served by one thread, and the kernel puts a request on
 * the queue of the CPU its caller runs on.  daxfs sleeps on purpose in some
 * requests (a removal waiting for busy or pinned blocks, a write waiting on
 * a STABLE pin), and the request that would end the sleep (an UNPIN, a
 * close) may sit behind it on the same queue: the queue thread would wait
 * for itself.  Such requests run on these worker threads instead, and their
 * replies go back to the queue thread to be committed.
 */
#ifndef DAXFS_FUSE_URING_OFFLOAD_H
#define DAXFS_FUSE_URING_OFFLOAD_H

#include <stdbool.h>
#include <linux/fuse.h>

/* Whether a request may sleep for long: see the list in the .c file. */
bool uring_offload_wanted(const struct fuse_in_header *in, const void *op_in,
			  bool stable_writes_wait);

/* run(job) is called on a worker thread for every job queued.  Workers are
 * started as needed, up to a limit that leaves room for the requests that
 * end the sleeps of the others. */
int uring_offload_start(void (*run)(void *job));
/* Never fails: beyond the limit the job waits for a free worker. */
void uring_offload_queue(void *job);
/* Waits for the jobs queued and joins every worker. */
void uring_offload_stop(void);

#endif
