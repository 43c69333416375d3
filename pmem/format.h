/* SPDX-License-Identifier: MIT */
/*
 * On-media format of a daxfs pool, version 1.  docs/format.md is the prose
 * description of these structures; the two must change together.
 *
 * Every multi-byte field is little-endian (the only hosts with persistent
 * memory we target are x86-64 and arm64 in little-endian mode).  Fields that
 * are changed in place after mkfs are 8-byte aligned so that a single atomic
 * store publishes them.
 */
#ifndef DAXFS_PMEM_FORMAT_H
#define DAXFS_PMEM_FORMAT_H

#include <stdint.h>

#define DAXFS_MAGIC 0x3153465841440a0dULL /* "\r\nDAXFS1" */
#define DAXFS_STATE_MAGIC 0x5441545346584144ULL /* "DAXFSTAT" */
#define DAXFS_LOG_MAGIC 0x474f4c5346584144ULL /* "DAXFSLOG" */
#define DAXFS_VERSION 1
#define DAXFS_BLOCK_SIZE 4096u
#define DAXFS_BLOCK_SHIFT 12

/* Fixed block numbers. */
#define DAXFS_SB_BLOCK 0
#define DAXFS_SB_BACKUP_BLOCK 1
#define DAXFS_STATE_BLOCK 2
#define DAXFS_FIRST_META_BLOCK 3

#define DAXFS_ROOT_INO 1
#define DAXFS_INODE_SIZE 256u
#define DAXFS_INODES_PER_BLOCK (DAXFS_BLOCK_SIZE / DAXFS_INODE_SIZE)
#define DAXFS_NAME_MAX 255
#define DAXFS_SYMLINK_MAX 4095
#define DAXFS_LABEL_MAX 64

/* Block map: a radix tree of 512 8-byte pointers per index block. */
#define DAXFS_PTRS_PER_BLOCK (DAXFS_BLOCK_SIZE / 8)
#define DAXFS_PTR_SHIFT 9
#define DAXFS_MAP_MAX_HEIGHT 3
#define DAXFS_MAX_FILE_SIZE (256ULL << 30)

/* Undo log. */
#define DAXFS_LOG_SLOTS 64
#define DAXFS_LOG_SLOT_BLOCKS 4

/* Feature flags; unknown incompat bits refuse.  XATTR: inodes may hold an
 * xattr map.  Read-only compatible: a build that does not know it can read
 * every file, but a read-write mount would rebuild the bitmap without the
 * xattr blocks and hand them out again. */
#define DAXFS_FEATURE_RO_COMPAT_XATTR 0x1u
#define DAXFS_FEATURE_COMPAT_SUPP 0u
#define DAXFS_FEATURE_INCOMPAT_SUPP 0u
#define DAXFS_FEATURE_RO_COMPAT_SUPP DAXFS_FEATURE_RO_COMPAT_XATTR

struct daxfs_super {
	uint64_t magic;
	uint32_t version;
	uint32_t block_size;
	uint32_t feature_compat;
	uint32_t feature_incompat;
	uint32_t feature_ro_compat;
	uint32_t log_slots;
	uint8_t uuid[16];
	char label[DAXFS_LABEL_MAX];
	uint64_t total_blocks; /* whole pool, metadata included */
	uint64_t inode_count; /* inode numbers 1..inode_count-1; 0 is unused */
	uint64_t log_start; /* first block of the undo log */
	uint64_t log_slot_blocks;
	uint64_t itable_start;
	uint64_t itable_blocks;
	uint64_t bitmap_start;
	uint64_t bitmap_blocks;
	uint64_t data_start; /* first data block; bit 0 of the bitmap */
	uint64_t data_blocks;
	int64_t mkfs_time;
	uint8_t reserved[3888];
	uint32_t pad;
	uint32_t checksum; /* crc32c of the preceding bytes */
};

/* Mutable pool-wide state, changed in place with 8-byte stores. */
enum daxfs_pool_state {
	DAXFS_POOL_CLEAN = 1, /* unmounted cleanly: the bitmap is exact */
	DAXFS_POOL_MOUNTED = 2, /* mounted, or the daemon died */
};

struct daxfs_state {
	uint64_t magic;
	uint64_t state; /* enum daxfs_pool_state */
	uint64_t orphan_head; /* first inode of the orphan list, 0 = none */
	uint64_t mount_count;
	int64_t last_mount_time;
	int64_t last_unmount_time;
	uint64_t recovered_blocks; /* blocks the last unclean-shutdown recovery freed */
	uint8_t reserved[DAXFS_BLOCK_SIZE - 7 * 8];
};

struct daxfs_ts {
	int64_t sec;
	uint32_t nsec;
	uint32_t pad;
};

/* map word: (root block << 2) | height.  Height 0 with a root means the root
 * is file block 0 itself (files of at most one block need no index block). */
#define DAXFS_MAP_ROOT(m) ((m) >> 2)
#define DAXFS_MAP_HEIGHT(m) ((unsigned)((m) & 3))
#define DAXFS_MAP_WORD(root, height) (((uint64_t)(root) << 2) | (height))

struct daxfs_dinode {
	uint32_t mode; /* 0: the inode is free */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint64_t map;
	uint64_t blocks; /* data and index blocks owned, in 4 KiB units */
	uint64_t rdev;
	uint32_t generation;
	uint32_t flags;
	struct daxfs_ts atime, mtime, ctime, btime;
	uint64_t orphan_next; /* next inode on the orphan list, 0 = end */
	uint64_t parent; /* directories: the inode ".." names */
	uint64_t xattr; /* map word of the extended attributes, 0 = none */
	uint8_t reserved[DAXFS_INODE_SIZE - 144];
};

/* flags */
#define DAXFS_INODE_ORPHAN 0x1u /* on the orphan list */
#define DAXFS_INODE_IMMUTABLE 0x2u /* chattr +i: no change at all */
#define DAXFS_INODE_APPEND 0x4u /* chattr +a: data only appended */
#define DAXFS_INODE_KNOWN_FLAGS (DAXFS_INODE_ORPHAN | DAXFS_INODE_IMMUTABLE | DAXFS_INODE_APPEND)

/* Extended attributes: one record stream per inode, in the blocks of a
 * second block map (same map word format, height 0 or 1) rooted in the
 * xattr field.  Never changed in place: a change writes a new stream into
 * new blocks and switches the word inside a transaction. */
#define DAXFS_XATTR_MAGIC 0x54415844u /* "DXAT" */
#define DAXFS_XATTR_MAX_BYTES (128u * 1024) /* the whole stream, header included */
#define DAXFS_XATTR_VALUE_MAX (64u * 1024)
#define DAXFS_XATTR_NAME_MAX 255

struct daxfs_xattr_header {
	uint32_t magic;
	uint32_t count; /* records */
	uint32_t len; /* bytes of the stream, this header included */
	uint32_t crc; /* crc32c of bytes [16, len) */
};

/* Records follow the header back to back, each 8-byte aligned. */
struct daxfs_xattr_entry {
	uint16_t name_len; /* 1..255: the full name, namespace prefix included */
	uint16_t pad;
	uint32_t value_len; /* 0..65536 */
	/* followed by name_len name bytes (no NUL), then the value */
};

/* Directory entries fill directory data blocks, 15 to a block. */
struct daxfs_dirent {
	uint64_t ino; /* 0: slot free.  Published last, with one atomic store. */
	uint16_t name_len;
	uint8_t type; /* DT_* of the target */
	uint8_t pad[5];
	char name[256];
};
#define DAXFS_DIRENTS_PER_BLOCK (DAXFS_BLOCK_SIZE / sizeof(struct daxfs_dirent))

/* Undo log slot.  Entries follow the header; each records the old contents
 * of a range about to be changed.  nentries is the commit word: recovery
 * rolls back every slot that carries DAXFS_LOG_MAGIC and whose nentries is
 * not 0.  Transactions open at the same time never log overlapping ranges
 * (the structures they change are under locks held until commit), so slots
 * can be rolled back in any order. */
struct daxfs_log_header {
	uint64_t magic;
	uint64_t nentries;
	uint64_t reserved;
	uint64_t pad;
};

struct daxfs_log_entry {
	uint64_t offset; /* pool offset of the logged range */
	uint32_t len;
	uint32_t pad;
	/* followed by len bytes of old contents, padded to 8 */
};

_Static_assert(sizeof(struct daxfs_super) == DAXFS_BLOCK_SIZE, "superblock size");
_Static_assert(sizeof(struct daxfs_state) == DAXFS_BLOCK_SIZE, "state block size");
_Static_assert(sizeof(struct daxfs_dinode) == DAXFS_INODE_SIZE, "inode size");
_Static_assert(sizeof(struct daxfs_dirent) == 272, "dirent size");
_Static_assert(sizeof(struct daxfs_log_header) == 32, "log header size");
_Static_assert(sizeof(struct daxfs_xattr_header) == 16, "xattr header size");
_Static_assert(sizeof(struct daxfs_xattr_entry) == 8, "xattr entry size");

#endif
