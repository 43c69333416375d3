/* SPDX-License-Identifier: MIT */
/*
 * daxfs-stress internals: the shared state of the workers and the two
 * backends that carry their operations to a filesystem, through a real
 * mount (stress_mount.c) or into the core library in process
 * (stress_pool.c).
 */
#ifndef DAXFS_STRESS_H
#define DAXFS_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daxfs.h"
#include "daxfs_ioctl.h"
#include "dma_engine.h"

#define STRESS_MAX_FILES	  256
#define STRESS_MAX_DEVICES	  32
#define STRESS_MAX_THREADS	  64
#define STRESS_MAX_PIN_BLOCKS	  8
#define STRESS_MAX_REWRITE_BLOCKS 8
#define STRESS_MAX_PUNCH_BLOCKS	  8

struct stress_opts {
	const char *mount_dir; /* --mount */
	const char *pool;      /* --pool */
	unsigned seconds, devices, mutators, readers, files;
	unsigned max_file_blocks;
	unsigned hold_ms, tail_ms, tail_permille;
	unsigned depth, rate;
	enum daxfs_layout_wait layout_wait;
	unsigned break_timeout;	 /* seconds: the mount's, for the sync oracle */
	bool stable_writes_wait; /* --pool only */
	uint64_t spare_blocks;	 /* UINT64_MAX: automatic */
	uint64_t seed;
	bool progress;	  /* stderr is a terminal */
	bool mixed_pins;  /* --mixed-pins: that scenario instead (mixed_pins.h) */
	unsigned rounds;  /* --rounds: its transfers per device, 0: --seconds only */
};

/* A pin as the truncate-wait oracle sees it. */
struct pin_rec {
	struct pin_rec *next;
	uint32_t uid;
	uint64_t first, nblocks;
	enum dma_dir dir;
	uint64_t pin_id;
	uint64_t t_pinned, t_unpin; /* t_unpin: when the unpin was asked for, 0 before */
	bool stale; /* its blocks left the file without waiting for it (bounced, removed) */
	bool linked;
	int refs;
};

/* One file name in the work dir and the file behind it. */
struct slot {
	unsigned idx;
	char name[32];
	/* Mutators: one operation at a time on a file, so that the oracle
	 * can tell which pins a removal must have waited for. */
	pthread_mutex_t op_lock;
	/* In process only: a rewrite in place and a reader's copy of the same
	 * block race by design (a reader may see a torn rewrite); that race
	 * says nothing about the removal protocol and would drown ThreadSanitizer's
	 * reports, so they are kept apart here.  Truncates, punches and
	 * devices still race with readers freely. */
	pthread_rwlock_t content;
	/* Short: the fields below, never held across a filesystem call that
	 * may wait for a pin. */
	pthread_mutex_t lock;
	bool exists;
	uint32_t uid;	      /* the tag of the current file */
	uint64_t size_blocks; /* where devices may pin: shrunk before a removal, grown
				 after the new blocks were checked */
	uint16_t *wr, *st;    /* outstanding device WRITE and STABLE transfers by block */
	uint32_t *st_epoch;   /* STABLE transfers ever chosen, by block */
	struct pin_rec *pins;
	/* The backend's file, under op_lock: an open fd (mount) or inode. */
	int fd;
	uint64_t ino;
};

/* A device's open file; pins belong to it. */
struct dev_handle {
	struct dev_handle *next; /* on the device's retired list */
	struct slot *slot;
	uint32_t uid;
	unsigned inflight;
	bool retired; /* the name now leads to another file: close when idle */
	bool armed;   /* mount: poll it for recalls */
	void *client; /* mount: struct daxfs_client */
	int fd;
	uint64_t ino, handle; /* in process */
};

struct device_ctx {
	struct dev_handle **cur; /* by slot */
	struct dev_handle *retired;
	uint64_t last_poll_ns;
	uint64_t recall_epoch_seen;
};

/* A reader's open file. */
struct reader_file {
	int fd;
	uint64_t ino;
};

struct stress;

struct stress_backend {
	const char *name;
	/* Mounts (in process) or opens the mount; stats work from here on. */
	int (*setup)(struct stress *s);
	/* Makes (or removes, with everything prepare made) the work directory
	 * the files go in. */
	int (*workdir)(struct stress *s, bool create);
	/* After the starting counters were taken: whatever else the backend
	 * needs in the work directory. */
	int (*prepare)(struct stress *s);
	/* Unmounts (in process) or lets go of the mount; 0 or a negative errno. */
	int (*shutdown)(struct stress *s);
	int (*stats)(struct stress *s, struct daxfs_ioc_stats *st);
	/* Files, for mutators (op_lock held). */
	int (*create)(struct stress *s, struct slot *sl);
	int (*remove)(struct stress *s, struct slot *sl);
	int (*truncate)(struct stress *s, struct slot *sl, uint64_t size);
	int (*fallocate)(struct stress *s, struct slot *sl, int mode, uint64_t off, uint64_t len);
	ssize_t (*write)(struct stress *s, struct slot *sl, const void *buf, size_t len,
			 uint64_t off);
	ssize_t (*read)(struct stress *s, struct slot *sl, void *buf, size_t len, uint64_t off);
	/* Readers: opened under slot->lock, on the file the name leads to. */
	int (*reader_open)(struct stress *s, struct slot *sl, struct reader_file *rf);
	ssize_t (*reader_read)(struct stress *s, struct reader_file *rf, void *buf, size_t len,
			       uint64_t off);
	void (*reader_close)(struct stress *s, struct reader_file *rf);
	/* Devices: opened under slot->lock. */
	int (*handle_open)(struct stress *s, struct slot *sl, struct dev_handle *h);
	void (*handle_close)(struct stress *s, struct dev_handle *h);
	int (*pin)(struct stress *s, struct dev_handle *h, unsigned flags, struct dma_transfer *t);
	int (*unpin)(struct stress *s, struct dev_handle *h, uint64_t pin_id);
	void (*persist)(struct stress *s, struct dev_handle *h, void *addr, size_t len);
	int (*wait)(struct stress *s, unsigned dev, uint64_t timeout_ns, uint64_t *ids, int max);
	/* A file of n blocks that keeps the pool nearly full; n 0 removes it. */
	int (*ballast)(struct stress *s, uint64_t nblocks);
};

extern const struct stress_backend stress_mount_backend;
extern const struct stress_backend stress_pool_backend;

struct stress {
	struct stress_opts o;
	const struct stress_backend *be;
	void *bdata; /* the backend's */
	struct slot *slots;
	struct device_ctx *devs;
	struct dma_engine *engine;
	atomic_bool stop;
	_Atomic uint64_t progress; /* operations completed, for the watchdog */
	_Atomic uint64_t violations;
	_Atomic uint32_t next_uid;
	/* In process: recalls wake the devices. */
	pthread_mutex_t recall_lock;
	pthread_cond_t recall_cond;
	uint64_t recall_epoch;
};

/* Reports one violation (the first ones are printed). */
void stress_violation(struct stress *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failure of the tool itself or its environment, not of the filesystem. */
void stress_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
