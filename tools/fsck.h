/* SPDX-License-Identifier: MIT */
/*
 * fsck.daxfs: checks and repairs a daxfs pool offline.  The sources are split
 * by what they check:
 *
 *	fsck_main.c	the command line
 *	fsck.c		opening and mapping the pool, the passes, summary (fsck_run)
 *	fsck_report.c	findings, the repair policy, persisted stores, progress
 *	fsck_maps.c	block maps: bounded walks, lookups, lost+found's allocations
 *	fsck_super.c	superblock and backup, undo log, state block
 *	fsck_inodes.c	inode table, block maps, blocks counts, allocation bitmap
 *	fsck_dirs.c	directory entries, damaged types, one entry per directory
 *	fsck_tree.c	reachability, lost+found, link counts
 *	fsck_orphans.c	orphan list, unreachable unlinked inodes
 *	fsck_xattrs.c	extended attribute sets: their blocks and record streams
 *
 * Nothing read from the pool is trusted: every block number is range-checked
 * before it is dereferenced, and every loop over on-media links is bounded.
 *
 * Repairs are always applied to the mapping the checker works on, so that
 * later phases see the repaired pool.  With -n that mapping is a private
 * copy-on-write mapping of the pool file, so the file itself never changes;
 * with -p a first pass runs the same way to find out whether every finding is
 * safe to fix automatically, and only then a second pass repairs for real.
 */
#ifndef DAXFS_FSCK_H
#define DAXFS_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../pmem/format.h"
#include "../pmem/pool.h"

/* fsck(8) exit codes. */
#define FSCK_OK		 0
#define FSCK_CORRECTED	 1
#define FSCK_UNCORRECTED 4
#define FSCK_OPERATIONAL 8

enum fsck_mode {
	MODE_CHECK, /* -n: report only */
	MODE_PREEN, /* -p: fix what is safe without a human */
	MODE_YES,   /* -y: fix everything */
};

/* Which answer a repair needs: -p makes only the PREEN ones. */
enum fix_class {
	FIX_PREEN,
	FIX_YES,
};

/* What an inode is, as far as the checker has decided. */
enum ino_kind {
	K_FREE = 0,
	K_REG,
	K_DIR,
	K_LNK,
	K_SPECIAL, /* character and block devices, FIFOs, sockets */
	K_SUSPECT, /* in use with an invalid type: decided after the entries are read */
};

/* ino_info.flags */
#define I_REACHED 0x01u /* reachable from the root */
#define I_LISTED  0x02u /* met on the on-media orphan list */
#define I_ONPATH  0x04u /* scratch: on the parent chain being followed */
#define I_DONE	  0x08u /* scratch: parent chain already followed */
#define I_MEMBER  0x10u /* belongs on the rebuilt orphan list */

#define DT_NONE	    0
#define DT_CONFLICT 0xff

struct ino_info {
	uint8_t kind; /* enum ino_kind */
	uint8_t flags;
	uint8_t dtype; /* suspects: the DT_* the entries naming it agree on */
	uint8_t pad;
	uint32_t links;	    /* live entries naming a non-directory */
	uint32_t subdirs;   /* directories: child directories whose entry it holds */
	uint32_t nentries;  /* directories: live entries */
	uint32_t entry_dir; /* directories: the directory holding its one entry */
};

/* An entry naming a directory or a suspect inode: decided after every
 * directory has been read. */
struct xref {
	uint32_t target, dir;
	uint64_t de_off; /* pool offset of the dirent */
};

struct fsck {
	/* options */
	const char *path;
	enum fsck_mode mode;
	bool force; /* -f: accepted for fsck(8); every check is a full one */
	bool verbose, tty;
	bool quiet; /* print nothing on stdout (in-process callers: the fuzz tests) */

	/* the pool */
	int fd;
	bool device;
	char *map;
	size_t map_len;
	uint64_t file_size; /* bytes a valid superblock may claim */
	struct pool pool;   /* base, size, is_pmem: the pmem layer's persistence */
	bool writable;	    /* repairs may be stored to the mapping */
	bool persist;	    /* the mapping is the pool itself: persist every store */
	bool probe;	    /* -p's first pass: find out, change nothing */

	/* geometry, from the superblock that validated */
	struct daxfs_super sb;
	bool was_clean;

	/* findings */
	uint64_t found, fixed;
	bool needs_yes;
	char *out; /* the probe pass's output, printed only if it stops there */
	size_t out_len, out_cap;

	/* the model */
	struct ino_info *ino;
	uint64_t *reach;    /* data blocks reachable from some map */
	uint64_t *released; /* data blocks dropped by the repairs */
	struct xref *xrefs;
	size_t nxrefs, xrefs_cap;
	uint64_t lost_found; /* 0 until found or made */
	bool lf_taken;	     /* the root has a "lost+found" that is no directory */
	bool lf_failed;	     /* making lost+found failed: said once */
	uint64_t *dups;	     /* blocks found owned twice */
	size_t ndups, dups_cap;
	uint32_t *chain; /* scratch: a chain of parent directories */
	size_t chain_cap;

	/* counts for -v and the summary */
	uint64_t n_inodes, n_dirs, n_files, n_symlinks, n_special, n_orphans;
	uint64_t n_blocks, n_index_blocks, n_entries, n_reconnected, n_xattr_blocks;
};

/* fsck.c: the whole check of fx->path in fx->mode (the caller sets path,
 * mode and the output options; the rest starts zeroed).  Opens and locks the
 * pool, runs the passes, prints the summary, frees what the passes built
 * and returns an fsck(8) exit code.  It exits only when out of memory. */
int fsck_run(struct fsck *fx);

/* fsck_report.c */
void say(struct fsck *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note(struct fsck *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn(struct fsck *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports one finding and the repair it calls for ("clear the pointer");
 * returns whether the repair is to be applied to the mapping. */
bool fix(struct fsck *fx, enum fix_class cls, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reports a finding nothing can repair. */
void unfixable(struct fsck *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints why and exits 8: the model of the pool cannot be completed. */
void out_of_memory(void) __attribute__((noreturn));
void progress(struct fsck *fx, const char *phase, uint64_t done, uint64_t total);
void progress_end(struct fsck *fx);
void fx_store8(struct fsck *fx, void *addr, uint64_t v);
void fx_store4(struct fsck *fx, void *addr, uint32_t v);
void fx_memcpy(struct fsck *fx, void *dst, const void *src, size_t len);
void fx_memset(struct fsck *fx, void *dst, int c, size_t len);

static inline bool bit_test(const uint64_t *bits, uint64_t i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

static inline void bit_set(uint64_t *bits, uint64_t i)
{
	bits[i / 64] |= 1ULL << (i % 64);
}

static inline void bit_clear(uint64_t *bits, uint64_t i)
{
	bits[i / 64] &= ~(1ULL << (i % 64));
}

static inline void *blk_addr(const struct fsck *fx, uint64_t blk)
{
	return fx->map + (blk << DAXFS_BLOCK_SHIFT);
}

static inline struct daxfs_dinode *dinode_at(const struct fsck *fx, uint64_t ino)
{
	return (struct daxfs_dinode *)blk_addr(fx, fx->sb.itable_start) + ino;
}

static inline bool is_data_block(const struct fsck *fx, uint64_t blk)
{
	return blk >= fx->sb.data_start && blk - fx->sb.data_start < fx->sb.data_blocks;
}

static inline uint64_t pool_off(const struct fsck *fx, const void *p)
{
	return (uint64_t)((const char *)p - fx->map);
}

static inline struct daxfs_dirent *dirent_at(const struct fsck *fx, uint64_t off)
{
	return (struct daxfs_dirent *)(fx->map + off);
}

/* The DT_* value of a mode, as dirents store it. */
static inline unsigned dtype_of(uint32_t mode)
{
	return (mode & 0170000) >> 12;
}

#define LOST_FOUND "lost+found"

/* fsck_maps.c: block maps.  The walker range-checks every pointer before
 * it follows it; visit returns false to stop it descending below an index
 * block (or from a bad pointer). */
struct map_visit {
	uint64_t ino;
	uint64_t blk;	/* the pointer */
	uint64_t index; /* first file block the pointer covers */
	unsigned level; /* 0: data block; n: index block n levels above the data */
	bool in_range;
	uint64_t *slot; /* where the pointer is stored (the map word for a root) */
	bool is_root;
};
typedef bool (*map_visit_fn)(struct fsck *fx, const struct map_visit *v, void *ctx);
void walk_map(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, map_visit_fn fn, void *ctx);
/* Data block of file block index, 0 for a hole or a pointer out of range. */
uint64_t map_lookup(struct fsck *fx, const struct daxfs_dinode *di, uint64_t index);
/* Maps blk at file block index of di (a hole), allocating index blocks;
 * false when the data area is full, or index is block 0 of a one-block
 * map. */
bool map_insert(struct fsck *fx, struct daxfs_dinode *di, uint64_t index, uint64_t blk);
/* A zeroed data block marked in use in the bitmap, or 0 when none is free. */
uint64_t alloc_block(struct fsck *fx);
/* Gives up the blocks of ino's map: they become free at the bitmap phase.
 * walked: the inode phase has walked this map (and marked its blocks). */
void release_map(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, bool walked);
/* Frees the inode: zero but for the generation. */
void free_inode(struct fsck *fx, uint64_t ino);
const char *kind_name(unsigned kind);
unsigned kind_of_mode(uint32_t mode);

/* The phases, in order. */
int check_superblocks(struct fsck *fx);
void check_undo_log(struct fsck *fx);
void check_state_block(struct fsck *fx);
int check_inodes(struct fsck *fx);
void check_directories(struct fsck *fx);
void check_tree(struct fsck *fx);
void check_link_counts(struct fsck *fx);
void check_orphans(struct fsck *fx);
void check_bitmap(struct fsck *fx);

/* fsck_inodes.c: the checks of one in-use inode of a valid type, its map
 * walk included; the directory phase runs them late for a suspect inode
 * whose entries gave its type back. */
void check_inode_body(struct fsck *fx, uint64_t ino);
/* Names the inodes that kept the blocks found owned twice. */
void name_first_owners(struct fsck *fx);

/* fsck_xattrs.c: checks an inode's xattr set and marks its blocks reached;
 * returns how many it holds.  A damaged set is dropped (*dropped). */
uint64_t check_xattrs(struct fsck *fx, uint64_t ino, struct daxfs_dinode *di, bool *dropped);
/* Gives up the blocks of the set, as release_map does for the map. */
void release_xattrs(struct fsck *fx, struct daxfs_dinode *di, bool walked);

#endif
