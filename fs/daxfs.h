/* SPDX-License-Identifier: MIT */
/*
 * The daxfs core filesystem as an in-process library.  The FUSE adapter, the
 * tests, the stress tool and the crash harness all drive a pool through this
 * interface; nothing here knows about FUSE.
 *
 * Conventions: functions return 0 (or a non-negative count) on success and a
 * negative errno on failure.  Inode numbers are the pool's inode numbers and
 * DAXFS_ROOT_INO (1) is the root, the same as FUSE_ROOT_ID.  Every operation
 * is persisted in the pool before it returns.
 */
#ifndef DAXFS_H
#define DAXFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#define DAXFS_VERSION_STRING "0.1.0"

struct daxfs;

enum daxfs_layout_wait {
	DAXFS_LAYOUT_WAIT_SYNC = 0, /* removal returns once its blocks are free */
	DAXFS_LAYOUT_WAIT_DEFERRED, /* busy blocks are freed by their last put */
};

struct daxfs_mount_opts {
	bool read_only;
	enum daxfs_layout_wait layout_wait;
	unsigned break_timeout_sec; /* 0: default (30) */
	/* Called by the removal protocol to drop kernel-cached pages of a range
	 * (length 0: to end of file).  May be NULL. */
	void (*inval_range)(void *ctx, uint64_t ino, uint64_t off, uint64_t len);
	void *inval_ctx;
	/* Called when a removal needs back pins held by handle `owner` (the
	 * adapter wakes its poll()ers).  May be NULL. */
	void (*recall)(void *ctx, uint64_t owner);
	void *recall_ctx;
	/* A write into a block under a STABLE pin waits for the unpin instead
	 * of going copy-on-write. */
	bool stable_writes_wait;
	/* Never move access times (daxfs_touch_atime does nothing). */
	bool noatime;
	/* Move atime on every access, not by relatime rules (strictatime). */
	bool strictatime;
	/* Never move a directory's atime (nodiratime). */
	bool nodiratime;
	/* Most data blocks under pins at once, over all pins of the mount
	 * (each costs the daemon 8 bytes per pin holding it): a pin beyond
	 * gets -ENFILE.  0: a quarter of the data blocks, at most 262144. */
	uint64_t max_pinned_blocks;
	/* The mount is served to the kernel by this process, which is what
	 * the pool's lock tells whoever waits for it (pmem/pool_lock.h). */
	bool serves_kernel_mount;
	/* Per uid other than root: most pins (-EDQUOT beyond; 0: a quarter
	 * of DAXFS_PINS_PER_MOUNT) and most pinned blocks (0: a quarter of
	 * max_pinned_blocks). */
	uint64_t pins_per_uid, pinned_per_uid;
};
#define DAXFS_DEFAULT_MAX_PINNED 262144u /* the cap on that default */

struct daxfs_cred {
	uid_t uid;
	gid_t gid; /* the filesystem gid */
	/* For the set-group-ID rules of Linux >= 6.2: a caller without
	 * CAP_FSETID that is not in an inode's group (gid or one of groups)
	 * loses its S_ISGID on a write or an access ACL.  A cred that leaves
	 * lacks_fsetid false is privileged, as every in-process call is. */
	bool lacks_fsetid;
	const gid_t *groups;
	size_t ngroups;
};

/* The umask of the calling thread's creates (0 until set): applied to the
 * mode of a new inode when its directory has no default ACL.  With POSIX
 * ACLs on, the kernel leaves both to the filesystem and passes the umask
 * with each request. */
void daxfs_set_umask(mode_t umask);

struct daxfs_attr {
	uint64_t ino;
	uint32_t generation;
	mode_t mode;
	nlink_t nlink;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	uint64_t size;
	uint64_t blocks; /* in 512-byte units, as st_blocks */
	struct timespec atime, mtime, ctime, btime;
};

void daxfs_attr_to_stat(const struct daxfs_attr *a, struct stat *st);

/* setattr valid mask */
#define DAXFS_SET_MODE (1u << 0)
#define DAXFS_SET_UID (1u << 1)
#define DAXFS_SET_GID (1u << 2)
#define DAXFS_SET_SIZE (1u << 3)
#define DAXFS_SET_ATIME (1u << 4)
#define DAXFS_SET_MTIME (1u << 5)
#define DAXFS_SET_ATIME_NOW (1u << 6)
#define DAXFS_SET_MTIME_NOW (1u << 7)
#define DAXFS_SET_CTIME (1u << 8)
/* Clear set-user-ID, and set-group-ID if group-executable, of a non-directory:
 * what a write, truncate or chown by a caller without CAP_FSETID does.  With
 * kill_cred, also a set-group-ID bit without group execute when that caller
 * may not keep it (Linux's setattr_should_drop_sgid, judged on the group the
 * inode has before the change). */
#define DAXFS_SET_KILL_SUIDGID (1u << 9)

struct daxfs_setattr {
	unsigned valid;
	const struct daxfs_cred *kill_cred; /* may be NULL */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
};

struct daxfs_statfs {
	uint64_t block_size;
	uint64_t total_blocks; /* data blocks */
	uint64_t free_blocks;
	/* What one file can still get: free blocks less the index blocks its
	 * block map would need for them (bmap_index_blocks_worst). */
	uint64_t avail_blocks;
	uint64_t total_inodes;
	uint64_t free_inodes;
	uint64_t name_max;
};

/* Mount and unmount.  On failure *err gets a one-line reason.  daxfs_mount
 * starts no threads, so a daemon may fork (daemonize) after it; background
 * work (the deferred-free retry timer) starts with daxfs_start_background. */
int daxfs_start_background(struct daxfs *fs);
int daxfs_mount(const char *pool_path, const struct daxfs_mount_opts *opts,
		struct daxfs **out, char *err, size_t errlen);
/* What the final layout break waited for at unmount, and the pins it found
 * still held.  Through FUSE every handle is released before the unmount, so
 * pins_dropped can be non-zero only for an in-process user that unmounts
 * under its own pins: they are dropped (nothing could ever unpin them), and
 * counted so that the caller can tell. */
struct daxfs_unmount_report {
	uint64_t busy_blocks_waited;
	double wait_seconds;
	uint64_t pins_dropped;
};
/* Waits for every busy block (the final layout break), then marks the pool
 * clean.  report may be NULL.  Returns 0 or a negative errno; the fs is gone
 * either way. */
int daxfs_unmount(struct daxfs *fs, struct daxfs_unmount_report *report);
/* Simulates the daemon dying: unmaps without the clean-shutdown steps. */
void daxfs_abandon(struct daxfs *fs);

/* Names and inodes.  lookup and every call that creates an inode take one
 * lookup reference (as FUSE's nlookup); forget drops n of them. */
int daxfs_lookup(struct daxfs *fs, uint64_t parent, const char *name, struct daxfs_attr *out);
void daxfs_forget(struct daxfs *fs, uint64_t ino, uint64_t nlookup);
int daxfs_getattr(struct daxfs *fs, uint64_t ino, struct daxfs_attr *out);
int daxfs_setattr(struct daxfs *fs, uint64_t ino, const struct daxfs_setattr *sa,
		  struct daxfs_attr *out);
/* DAXFS_SET_KILL_SUIDGID alone (with cr as kill_cred, may be NULL), for a
 * write; no transaction when there is nothing to clear. */
int daxfs_kill_suidgid(struct daxfs *fs, uint64_t ino, const struct daxfs_cred *cr);
/* Marks an access (a read of a file's data, of a directory's entries or of
 * a symlink's target) with relatime rules: atime moves to now when it is
 * not later than mtime or ctime, or is a day old (with strictatime: on
 * every access; with nodiratime: never for a directory).  The FUSE adapter calls
 * it for the requests that read (the kernel leaves atime to the
 * filesystem); daxfs_read and the other in-process calls do not, so
 * library users see atime move only when they ask.  Best effort: it never
 * waits for the inode's lock (a reader must not queue behind a truncate
 * waiting for busy blocks) and does nothing on a read-only or noatime
 * mount. */
void daxfs_touch_atime(struct daxfs *fs, uint64_t ino);
/* The FS_IOC_GETFLAGS/FS_IOC_SETFLAGS word of linux/fs.h, of which daxfs
 * keeps FS_IMMUTABLE_FL and FS_APPEND_FL (regular files and directories;
 * any other flag is -EOPNOTSUPP).  Who may change them (CAP_LINUX_IMMUTABLE)
 * is the caller's check, as the kernel makes it before FUSE asks. */
int daxfs_get_flags(struct daxfs *fs, uint64_t ino, unsigned *flags);
int daxfs_set_flags(struct daxfs *fs, uint64_t ino, unsigned flags);
int daxfs_mknod(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		const char *name, mode_t mode, dev_t rdev, struct daxfs_attr *out);
int daxfs_mkdir(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		const char *name, mode_t mode, struct daxfs_attr *out);
int daxfs_symlink(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t parent,
		  const char *name, const char *target, struct daxfs_attr *out);
int daxfs_link(struct daxfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
	       struct daxfs_attr *out);
int daxfs_unlink(struct daxfs *fs, uint64_t parent, const char *name);
int daxfs_rmdir(struct daxfs *fs, uint64_t parent, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE */
int daxfs_rename(struct daxfs *fs, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags);
ssize_t daxfs_readlink(struct daxfs *fs, uint64_t ino, char *buf, size_t size);

/* Open files.  open/release count users of the inode so that an unlinked
 * file lives until its last release.  A regular file's data blocks are
 * freed as soon as it has no link and no open user, whatever lookup
 * references remain; from then on open fails with -ENOENT. */
int daxfs_open(struct daxfs *fs, uint64_t ino, int flags);
void daxfs_release(struct daxfs *fs, uint64_t ino);

/* Zero-copy read: fills iov with pointers into the pool (and into a shared
 * zero page for holes) for up to size bytes at off, holding a reference on
 * every block the iovecs point into.  The caller must call daxfs_read_done
 * once it has consumed the data.  Returns the number of bytes (0 at EOF). */
#define DAXFS_READ_MAX_IOV 260
struct daxfs_read_ctx {
	struct daxfs *fs;
	int niov;
	struct iovec iov[DAXFS_READ_MAX_IOV];
	int nrefs;
	uint64_t refs[DAXFS_READ_MAX_IOV]; /* pfns held */
};
ssize_t daxfs_read_map(struct daxfs *fs, uint64_t ino, uint64_t off, size_t size,
		       struct daxfs_read_ctx *ctx);
void daxfs_read_done(struct daxfs_read_ctx *ctx);
/* Copying read, for callers that want a buffer. */
ssize_t daxfs_read(struct daxfs *fs, uint64_t ino, void *buf, size_t size, uint64_t off);

/* Write size bytes at off (at end of file when append is true); persisted
 * before return.  Returns bytes written. */
ssize_t daxfs_write(struct daxfs *fs, uint64_t ino, const void *buf, size_t size, uint64_t off,
		    bool append);
ssize_t daxfs_writev(struct daxfs *fs, uint64_t ino, const struct iovec *iov, int iovcnt,
		     uint64_t off, bool append);
/* SEEK_DATA / SEEK_HOLE (EOF counts as a hole); -ENXIO at or past EOF. */
off_t daxfs_lseek(struct daxfs *fs, uint64_t ino, off_t off, int whence);
/* Copies len bytes between regular files of this filesystem, reading with
 * references (no intermediate buffer) and writing as daxfs_writev; returns
 * bytes copied (short at the source's EOF).  Within one file the ranges
 * (the source's shortened to its EOF) must not overlap: -EINVAL. */
ssize_t daxfs_copy_file_range(struct daxfs *fs, uint64_t ino_in, uint64_t off_in,
			      uint64_t ino_out, uint64_t off_out, size_t len);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE, FALLOC_FL_ZERO_RANGE */
int daxfs_fallocate(struct daxfs *fs, uint64_t ino, int mode, uint64_t off, uint64_t len);

/* Extended attributes: user.*, trusted.* (uid 0 only), security.* and the
 * POSIX ACLs system.posix_acl_access / _default (the kernel's xattr format;
 * an access ACL also sets the permission bits, and clears S_ISGID when cr
 * may not keep it, as posix_acl_update_mode).  flags: XATTR_CREATE,
 * XATTR_REPLACE.  get and list with size 0 return the size needed, and
 * -ERANGE when size is too small.  Values up to 64 KiB, names up to 255
 * bytes, and at most 128 KiB of names and values per inode (-ENOSPC). */
ssize_t daxfs_getxattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino,
		       const char *name, void *buf, size_t size);
ssize_t daxfs_listxattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino, char *buf,
			size_t size);
int daxfs_setxattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino, const char *name,
		   const void *value, size_t size, int flags);
int daxfs_removexattr(struct daxfs *fs, const struct daxfs_cred *cr, uint64_t ino,
		      const char *name);

/* Directories.  Offsets are stable cookies: 0 starts, "." is followed by 1,
 * ".." by 2, and each entry's cookie stays valid while the directory
 * changes.  The callback returns non-zero to stop (buffer full); the entry
 * it refused is returned again by the next call with the same cookie. */
typedef int (*daxfs_filldir_t)(void *ctx, const char *name, const struct daxfs_attr *attr,
			       uint64_t next_off);
/* plus: fills a full attr and takes a lookup reference on every entry
 * accepted (except "." and ".."), as readdirplus needs.  Otherwise attr has
 * the inode number and the type bits of the mode only (and "." a full one). */
int daxfs_readdir(struct daxfs *fs, uint64_t ino, uint64_t off, bool plus, daxfs_filldir_t fill,
		  void *ctx);
int daxfs_statfs(struct daxfs *fs, struct daxfs_statfs *out);

/* Cancellation (a FUSE interrupt: the caller hit Ctrl-C).  While the flag
 * the calling thread registered is set, a removal stops waiting for busy
 * blocks and hands them to the deferred queue, as after break_timeout; a
 * busy block is still never freed.  daxfs_cancel_wakeup wakes the waiters
 * so that they look at their flags. */
void daxfs_set_cancel_flag(const _Atomic bool *flag);
void daxfs_cancel_wakeup(struct daxfs *fs);

/* Pins: long-term references of DMA-style users, owned by an open handle.
 * daxfs_handle_new gives a handle id for an open file; releasing it drops
 * every pin it holds.  The payloads are those of fs/daxfs_ioctl.h. */
struct daxfs_ioc_pin;
struct daxfs_ioc_layout;
struct daxfs_ioc_poolinfo;
struct daxfs_ioc_recalls;
uint64_t daxfs_handle_new(struct daxfs *fs);
void daxfs_handle_release(struct daxfs *fs, uint64_t handle);
int daxfs_pin(struct daxfs *fs, uint64_t ino, uint64_t handle, struct daxfs_ioc_pin *p);
/* daxfs_pin for a caller of that uid, charged to its limits (daxfs_pin is
 * the in-process caller's, as root's). */
int daxfs_pin_as(struct daxfs *fs, uint64_t ino, uint64_t handle, uint32_t uid,
		 struct daxfs_ioc_pin *p);
int daxfs_unpin(struct daxfs *fs, uint64_t handle, uint64_t pin_id);
int daxfs_layout(struct daxfs *fs, uint64_t ino, struct daxfs_ioc_layout *l);
int daxfs_poolinfo(struct daxfs *fs, struct daxfs_ioc_poolinfo *pi);
/* Returns how many of the handle's pins are recalled (0: poll sees none). */
int daxfs_recalls(struct daxfs *fs, uint64_t handle, struct daxfs_ioc_recalls *r);

/* Observability: the ioctl payloads of fs/daxfs_ioctl.h, filled in
 * process.  The map call returns -EINVAL for anything but a regular file. */
struct daxfs_ioc_stats;
struct daxfs_ioc_map;
int daxfs_stats(struct daxfs *fs, struct daxfs_ioc_stats *out);
int daxfs_block_map(struct daxfs *fs, uint64_t ino, struct daxfs_ioc_map *map);
struct daxfs_ioc_pfns;
int daxfs_pfn_views(struct daxfs *fs, struct daxfs_ioc_pfns *p);

#endif
