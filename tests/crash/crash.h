/* SPDX-License-Identifier: MIT */
/*
 * The crash-consistency harness (see tests/crash/README.md): workloads run
 * in process against the core library with the pmem tracer on, crash images
 * are built from the trace, and each one is recovered and compared with an
 * oracle of the workload.
 *
 *   model.c     the oracle: an in-memory tree the operations are applied to
 *   workloads.c the workloads, and how an operation is applied to a mounted fs
 *   verify.c    what is checked on a recovered image
 *   crash.c     tracing, crash-state enumeration, scheduling, reporting
 */
#ifndef DAXFS_CRASH_H
#define DAXFS_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daxfs;

/* ---- file data patterns ------------------------------------------------ */

/* Every byte a workload writes comes from a pattern tagged with the file it
 * was written to (the model inode's tag) and a version, so data of one file
 * showing up in another is recognisable.  Byte o of a file is byte o % 8 of
 * the little-endian word pat_word(tag, version, o - o % 8). */
#define PAT_MAGIC 0xD5Aull
static inline uint64_t pat_word(unsigned tag, unsigned version, uint64_t off)
{
	return (PAT_MAGIC << 52) | ((uint64_t)(tag & 0xfff) << 40) |
	       ((uint64_t)(version & 0xff) << 32) | ((off / 8) & 0xffffffffull);
}
void pat_fill(unsigned char *dst, unsigned tag, unsigned version, uint64_t off, uint64_t len);
/* The tag of an aligned pattern word, or -1 if w is not one. */
int pat_tag_of(uint64_t w);

/* ---- operations -------------------------------------------------------- */

enum op_kind {
	OP_CREATE, /* path, mode */
	OP_MKDIR, /* path, mode */
	OP_SYMLINK, /* path -> str */
	OP_LINK, /* path (existing) -> path2 (new name) */
	OP_UNLINK, /* path */
	OP_RMDIR, /* path */
	OP_RENAME, /* path -> path2, flags (0, RENAME_EXCHANGE, RENAME_NOREPLACE) */
	OP_CHMOD, /* path, mode */
	OP_CHOWN, /* path, uid, gid */
	OP_UTIMES, /* path, atime = (a, an), mtime = (b, bn) */
	OP_TRUNCATE, /* path, size = a */
	OP_PUNCH, /* path, off = a, len = b */
	OP_WRITE, /* path or handle h, off = a, len = b, version */
	OP_FALLOCATE, /* path, off = a, len = b, mode = flags (0, KEEP_SIZE, ZERO_RANGE) */
	OP_OPEN, /* path into handle h */
	OP_CLOSE, /* handle h */
	OP_UNMOUNT, /* clean unmount; must be the last operation */
	OP_SETXATTR, /* path, name = str, value = pattern (tag, version) of a bytes, flags */
	OP_REMOVEXATTR, /* path, name = str */
};

#define OP_PATH_MAX 128
#define NHANDLES 8

struct op {
	enum op_kind kind;
	char path[OP_PATH_MAX];
	char path2[OP_PATH_MAX];
	char str[OP_PATH_MAX]; /* symlink target */
	uint32_t mode, uid, gid;
	unsigned flags;
	int h; /* handle slot, -1: none */
	unsigned version; /* write pattern version */
	uint64_t a, b;
	uint32_t an, bn;
	/* Filled in when the model applies the op. */
	unsigned tag; /* pattern tag of the file written */
	bool fuzzy; /* not atomic by design: each byte may be old or new */
	int fuzzy_node; /* the model node whose content is fuzzy */
};

const char *op_describe(const struct op *op, char *buf, size_t len);

/* ---- the oracle -------------------------------------------------------- */

struct m_ent {
	char name[64];
	int child;
};

struct m_node {
	bool used;
	unsigned type; /* S_IFREG, S_IFDIR, S_IFLNK */
	uint32_t perm, uid, gid;
	int parent; /* directories */
	unsigned tag;
	uint64_t size;
	/* regular files: the content in 4 KiB pages, NULL = zeros (sparse, so
	 * that files of a gigabyte cost nothing) */
	unsigned char **page;
	uint64_t npages;
	char *target; /* symlinks */
	bool times_known; /* atime and mtime were set explicitly */
	int64_t asec, msec;
	uint32_t ansec, mnsec;
	int nent, entcap; /* directories */
	struct m_ent *ent;
	int nopen;
	/* extended attributes: each value is pattern (tag, version) from 0 */
	int nx;
	struct m_xattr {
		char name[32];
		unsigned version;
		uint32_t len;
	} x[4];
};

struct model {
	int n, cap;
	struct m_node *node;
	int handle[NHANDLES]; /* node of each open handle, -1 if none */
	unsigned next_tag;
};

#define M_PAGE 4096ULL
/* Byte o of a file's content (0 past its pages). */
static inline unsigned char m_byte(const struct m_node *nd, uint64_t o)
{
	uint64_t p = o / M_PAGE;
	return p < nd->npages && nd->page[p] ? nd->page[p][o % M_PAGE] : 0;
}

void model_init(struct model *m);
void model_free(struct model *m);
void model_copy(struct model *dst, const struct model *src);
/* Applies op; returns 0 or the negative errno daxfs is expected to return. */
int model_apply(struct model *m, struct op *op);
int model_lookup(const struct model *m, const char *path);
/* Links to a node from reachable directories (directories: 2 + subdirs). */
unsigned model_nlink(const struct model *m, int id);
int model_nreachable(const struct model *m);

/* ---- workloads --------------------------------------------------------- */

struct workload {
	char name[48];
	const char *what;
	uint64_t pool_mib;
	bool heavy; /* many states: spread over every process */
	int nsetup, nops;
	struct op *setup; /* untraced: builds the initial tree */
	struct op *ops; /* traced; the last one is OP_UNMOUNT */
};

struct workload_opts {
	unsigned seed;
	int mixed_seeds; /* how many mixed workloads */
	int mixed_ops; /* operations in each */
	bool large; /* include the 8 MiB truncate and the 2 MiB unlink */
};

int workloads_build(const struct workload_opts *o, struct workload **out);

/* Applies op to a mounted fs (*fs becomes NULL after OP_UNMOUNT).  handles
 * holds the inode of each open handle. */
int fs_apply(struct daxfs **fs, const struct op *op, uint64_t *handles);
int fs_resolve(struct daxfs *fs, const char *path, uint64_t *ino);

/* ---- verification of a recovered image ---------------------------------- */

struct candidates {
	const struct model *const *m; /* acceptable states, oldest first */
	int n;
	/* fuzzy[i] >= 0: between m[i] and m[i+1] the content of that node may
	 * be any byte-wise mix (an operation that is not atomic by design). */
	const int *fuzzy;
};

struct verify_opts {
	const char *fsck; /* NULL or empty: skip */
	bool fsck_repair; /* fsck -p each crash image before mounting it */
	bool exercise; /* use the recovered filesystem, remount, check again */
};

/* Mounts the image (recovery), checks it, unmounts it cleanly, runs fsck,
 * then exercises it.  Returns 0 when everything holds; otherwise writes what
 * differed to msg. */
int verify_image(const char *path, const struct candidates *c, const struct verify_opts *o,
		 char *msg, size_t msglen);

/* What a pool offset holds, for failure reports. */
const char *describe_offset(const void *image, uint64_t off, char *buf, size_t len);

/* Appends to a message buffer. */
void msg_add(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
