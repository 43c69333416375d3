/* SPDX-License-Identifier: MIT */
/*
 * The fuzz targets' common part: template pools and the input format.
 *
 * An input is not a pool image (a pool is at least 1.5 MiB) but a list of
 * patches applied to one of two template pools that the harness builds once
 * per process with mkfs.daxfs and the core library: a small tree (nested
 * directories, a directory of two blocks, files of one block, of several and
 * a sparse one with a two-level map, a hard link, a symlink, a FIFO and a
 * device).  Template 1 is the same tree after a daemon died: the state block
 * says mounted, an unlinked file still open sits on the orphan list and an
 * undo-log slot holds an interrupted operation.
 *
 *	byte 0		flags: FUZZ_F_*
 *	then patches	u16 block (little-endian, modulo the pool's blocks),
 *			u16 offset in the block (modulo 4096), u8 n, data:
 *			n < 0x80: n + 1 bytes follow and are copied;
 *			n >= 0x80: one byte follows, stored ((n & 0x7f) + 1) * 8
 *			times.  A patch is clipped at the end of the pool and
 *			at the end of the input.
 *
 * The pool file lives in /dev/shm ($FUZZ_POOL_DIR; the crash harness's way:
 * a mount maps a file by path) and is rewritten for every input, only where
 * it differs.  With $FUZZ_DUMP set, each input's damaged pool is also copied
 * there before it is used (for fsck.daxfs -n -v or a mount by hand).
 */
#ifndef DAXFS_FUZZ_HARNESS_H
#define DAXFS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "daxfs.h"

#define FUZZ_F_TEMPLATE 0x01u	  /* template 1 (crashed) instead of 0 (clean) */
#define FUZZ_F_SB_CSUM 0x02u	  /* recompute the superblock's checksum after patching */
#define FUZZ_F_BACKUP_CSUM 0x04u  /* the same for the backup superblock */
#define FUZZ_F_OPT 0x08u	  /* per target: mount read-only / run fsck -p first */

/* Builds the templates (once); dies with a message if it cannot. */
void fuzz_init(void);
/* Writes the pool for input data into the pool file; returns its path. */
const char *fuzz_image(const uint8_t *data, size_t size);
/* The pool file's current bytes, and its size. */
const unsigned char *fuzz_pool_bytes(size_t *size);

/* Reads everything reachable: readdir (and readdirplus) of every directory,
 * lookup and getattr of every entry, every symlink, the data of every file
 * (bounded for sparse files); then, unless read_only, changes the tree:
 * truncates, unlinks, renames, creates and writes. */
void fuzz_walk(struct daxfs *fs, bool read_only);

void fuzz_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
