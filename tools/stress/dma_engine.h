/* SPDX-License-Identifier: MIT */
/*
 * DMA emulation: K device threads run asynchronous transfers into and out
 * of pinned file blocks, reaching them by address (the client library's
 * mapping of the pool, or the core's pool pointer in process), as a device
 * reaches pages pinned with pin_user_pages(FOLL_LONGTERM).
 *
 * A transfer pins a range, moves one block at a time over its hold time,
 * and unpins only when it is complete; a configurable fraction of
 * transfers is stuck for much longer (a retransmit).  A recall does not
 * cut a transfer short: it is counted, and the removal that asked has to
 * wait for the transfer or defer the blocks.
 *
 *   WRITE pin (device writes): every block gets the tag of its file and
 *   index (dma_tag) with the pin's generation.  Before unpinning, the
 *   device reads back what it wrote: a block it wrote that no longer
 *   carries its file's tags was taken from under the pin.
 *   READ|STABLE pin (device reads): the device checksums every block at
 *   pin time and must find the same content at every step and at unpin
 *   time (the oracle for stable pages).
 *   Every pin, at pin time: no word may carry another file's tag.
 *
 * The submitter (the stress tool) chooses the ranges and owns the files;
 * the engine calls back into it through struct dma_ops.
 */
#ifndef DAXFS_DMA_ENGINE_H
#define DAXFS_DMA_ENGINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daxfs_ioctl.h"

#define DMA_BLOCK      4096u
#define DMA_WORDS      (DMA_BLOCK / 8)
#define DMA_MAX_BLOCKS 32 /* per transfer */
#define DMA_MAX_DEPTH  64 /* outstanding transfers per device */

/* ---- Tags ------------------------------------------------------------------
 * Every 8-byte word of a data block written by the stress tool, by a device
 * or by a mutator:
 *   63..52 magic 0xDA5 | 51..32 file uid | 31..16 block index | 15..8 generation
 *   | 7..0 check (a hash of the other 56 bits)
 * The check tells a word torn between two writes of the same block (which
 * a racing reader may see) from a word of another file.
 */
#define DMA_UID_MASK   0xFFFFFu
#define DMA_INDEX_MASK 0xFFFFu

enum dma_word_kind {
	DMA_WORD_ZERO,
	DMA_WORD_OWN,	  /* this file's tag for this block index */
	DMA_WORD_TORN,	  /* this file and index, generation bytes from two writes */
	DMA_WORD_FOREIGN, /* another file's or another block's tag */
	DMA_WORD_GARBAGE, /* not a tag at all */
};

uint64_t dma_tag(uint32_t uid, uint32_t index, uint8_t gen);
enum dma_word_kind dma_word_classify(uint64_t w, uint32_t uid, uint32_t index);
/* Fills a buffer of n blocks, the first being file block index. */
void dma_fill_tags(uint64_t *buf, unsigned nblocks, uint32_t uid, uint32_t index, uint8_t gen);

struct dma_scan {
	unsigned zero, own, torn, foreign, garbage;
	uint64_t first_bad; /* the first foreign or garbage word */
	unsigned first_bad_word;
};
/* Classifies the words of one block read back from file block index. */
void dma_scan_block(const uint64_t *words, uint32_t uid, uint32_t index, struct dma_scan *sc);

/* ---- Transfers ------------------------------------------------------------- */

enum dma_dir {
	DMA_DEV_WRITE,	     /* WRITE pin: the device writes the blocks */
	DMA_DEV_READ,	     /* READ pin: the device reads them */
	DMA_DEV_READ_STABLE, /* READ|STABLE pin: and they must not change */
};

const char *dma_dir_name(enum dma_dir dir);

struct dma_segment {
	uint8_t *addr;
	uint64_t file_offset, length;
};

struct dma_transfer {
	/* Chosen by ops->next. */
	enum dma_dir dir;
	void *target;		 /* the submitter's open file */
	uint32_t file_uid;	 /* the tag of the file behind target */
	uint64_t offset, length; /* block aligned, at most DMA_MAX_BLOCKS blocks */
	void *cookie;		 /* the submitter's */
	/* Filled by ops->pin. */
	uint64_t pin_id;
	unsigned nseg;
	struct dma_segment seg[DAXFS_PIN_MAX_EXTENTS];
	/* The engine's. */
	unsigned dev;
	uint8_t gen;
	bool tail, recalled;
	uint64_t t_pinned, t_due, t_recalled; /* CLOCK_MONOTONIC ns */
	unsigned nblocks, steps_done;
	uint8_t *blk[DMA_MAX_BLOCKS];
	uint64_t sum[DMA_MAX_BLOCKS];
};

struct dma_ops {
	/* Chooses the next transfer of device dev: fills dir, target,
	 * file_uid, offset, length (and cookie).  false: nothing to do now. */
	bool (*next)(void *ctx, unsigned dev, struct dma_transfer *t, uint64_t *rng);
	/* Pins t's range: fills pin_id, nseg and seg.  0 or a negative errno. */
	int (*pin)(void *ctx, struct dma_transfer *t);
	/* Unpins a completed transfer. */
	int (*unpin)(void *ctx, struct dma_transfer *t);
	/* Called once for every transfer next() chose: after a failed pin
	 * (rc < 0) or after the unpin (rc 0). */
	void (*finish)(void *ctx, struct dma_transfer *t, int rc);
	/* Makes the device's stores to [addr, addr+len) durable. */
	void (*persist)(void *ctx, struct dma_transfer *t, void *addr, size_t len);
	/* Sleeps up to timeout_ns, or until pins of device dev are recalled:
	 * returns how many recalled pin ids it stored (at most max). */
	int (*wait)(void *ctx, unsigned dev, uint64_t timeout_ns, uint64_t *ids, int max);
	/* A violation of the filesystem's promises, one line. */
	void (*violation)(void *ctx, const char *msg);
};

struct dma_config {
	unsigned devices;
	unsigned depth;	  /* outstanding transfers per device */
	unsigned rate;	  /* transfers started per second per device; 0: as fast as depth allows */
	unsigned hold_ms; /* usual hold: uniform in [hold/2, 3*hold/2] */
	unsigned tail_ms, tail_permille; /* stuck transfers: ~tail_ms, this often */
	uint64_t seed;
};

struct dma_stats {
	uint64_t pins, pins_write, pins_read, pins_stable;
	uint64_t pin_enxio, pin_enoent, pin_enospc, pin_limit, pin_e2big, pin_other;
	uint64_t transfers, tail_transfers, blocks_written, blocks_read;
	uint64_t recalled, recall_to_unpin_max_ns, hold_max_ns;
	uint64_t stable_checks, torn_words, violations;
};

struct dma_engine;

int dma_engine_start(const struct dma_config *cfg, const struct dma_ops *ops, void *ctx,
		     struct dma_engine **out);
/* Starts no new transfer, lets every outstanding one complete, and joins
 * the device threads. */
void dma_engine_stop(struct dma_engine *e);
void dma_engine_destroy(struct dma_engine *e);
void dma_engine_stats(struct dma_engine *e, struct dma_stats *out);
/* Transfers completed or refused so far: moves while devices make progress. */
uint64_t dma_engine_progress(struct dma_engine *e);
/* What device dev is doing, for a watchdog's report. */
const char *dma_engine_device_state(struct dma_engine *e, unsigned dev);

uint64_t dma_now_ns(void);
uint64_t dma_rand(uint64_t *state);

#endif
