// SPDX-License-Identifier: MIT
/*
 * ceiling: the fastest FUSE filesystem there can be, for benchmarks only.
 *
 *	ceiling MOUNTPOINT [-f] [-s] [-o OPTIONS]
 *
 * It stores no data: reads are answered with zeros from one static buffer
 * and writes are discarded (only the file size is kept).  Names, modes and
 * sizes live in a small in-memory table so that fio can lay out its files
 * and a metadata benchmark (create, stat, readdir, unlink) can run.  The root
 * holds one large regular file, "big" (1 TiB of zeros).
 *
 * The FUSE settings are daxfs's (fs/fuse_adapter.c, fs/daxfs_main.c): the
 * low-level API bound to FUSE_USE_VERSION 34, the multithreaded loop,
 * max_write 1 MiB, no writeback cache, readdirplus, default_permissions,
 * entry timeouts of 60 s and attribute timeouts of 1 s, negative entries
 * cached, no direct_io, no keep_cache and noflush (no FLUSH on close) on
 * open.  Whatever a FUSE filesystem with those settings does costs at least what this one costs, so its figures
 * are a ceiling: nothing under bench/ should ever beat them.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#define CEIL_TIMEOUT 1.0
#define CEIL_ENTRY_TIMEOUT 60.0
#define CEIL_MAX_WRITE (1u << 20)
#define CEIL_LOOP_MAX_THREADS 10u
#define CEIL_MAX_INODES (1u << 22) /* never reused: plenty for a benchmark run */
#define CEIL_HASH_BUCKETS (1u << 16)
#define CEIL_BIG_SIZE (1ull << 40)
#define CEIL_BIG_INO 2u

/* Replies are sent from here; 2 MiB covers any read the kernel asks for. */
static const char zeros[2u << 20] __attribute__((aligned(4096)));

struct cnode {
	_Atomic uint64_t size;
	uint64_t parent; /* 0: free slot or unlinked */
	uint32_t mode;
	uint32_t nchildren; /* directories */
	struct timespec mtime;
	const char *name; /* in its dentry; NULL once unlinked */
};

struct dentry {
	struct dentry *next;
	uint64_t parent, ino;
	char name[];
};

static struct cnode *nodes; /* indexed by inode number, CEIL_MAX_INODES long */
static uint64_t next_ino = CEIL_BIG_INO + 1;
static struct dentry *buckets[CEIL_HASH_BUCKETS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned hash_name(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return (unsigned)(h ^ (h >> 32)) & (CEIL_HASH_BUCKETS - 1);
}

/* Locking: table_lock held. */
static struct dentry **find_slot(uint64_t parent, const char *name)
{
	struct dentry **pp = &buckets[hash_name(parent, name)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->parent == parent && strcmp((*pp)->name, name) == 0)
			return pp;
	return pp;
}

static bool valid_ino(fuse_ino_t ino)
{
	return ino >= FUSE_ROOT_ID && ino < CEIL_MAX_INODES && nodes[ino].mode;
}

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	const struct cnode *n = &nodes[ino];

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : n->parent ? 1 : 0;
	st->st_size = (off_t)atomic_load_explicit(&n->size, memory_order_relaxed);
	st->st_blksize = 4096;
	st->st_blocks = 0;
	st->st_mtim = n->mtime;
	st->st_ctim = n->mtime;
	st->st_atim = n->mtime;
}

static void fill_entry(struct fuse_entry_param *e, fuse_ino_t ino)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = CEIL_TIMEOUT;
	e->entry_timeout = CEIL_ENTRY_TIMEOUT;
	fill_stat(ino, &e->attr);
}

static void ceil_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->max_write > CEIL_MAX_WRITE)
		conn->max_write = CEIL_MAX_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_EXPORT_SUPPORT |
			FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV);
	conn->time_gran = 1;
}

static void ceil_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct dentry *d;

	pthread_mutex_lock(&table_lock);
	d = *find_slot(parent, name);
	if (d) {
		fill_entry(&e, d->ino);
	} else {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = CEIL_ENTRY_TIMEOUT; /* a negative entry, as daxfs */
	}
	pthread_mutex_unlock(&table_lock);
	fuse_reply_entry(req, &e);
}

static void ceil_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void ceil_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void ceil_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (!valid_ino(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, CEIL_TIMEOUT);
}

static void ceil_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			 struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (!valid_ino(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	pthread_mutex_lock(&table_lock);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(nodes[ino].mode)) {
			pthread_mutex_unlock(&table_lock);
			fuse_reply_err(req, EISDIR);
			return;
		}
		atomic_store(&nodes[ino].size, (uint64_t)attr->st_size);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		nodes[ino].mode = (nodes[ino].mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_MTIME)
		nodes[ino].mtime = attr->st_mtim;
	fill_stat(ino, &st);
	pthread_mutex_unlock(&table_lock);
	fuse_reply_attr(req, &st, CEIL_TIMEOUT);
}

/* Adds name under parent; returns the new inode number, or a negative errno. */
static long add_node(fuse_ino_t parent, const char *name, mode_t mode)
{
	struct dentry **slot, *d;
	size_t len = strlen(name);
	uint64_t ino;

	if (!valid_ino(parent) || !S_ISDIR(nodes[parent].mode))
		return -ENOENT;
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&table_lock);
	slot = find_slot(parent, name);
	if (*slot) {
		pthread_mutex_unlock(&table_lock);
		free(d);
		return -EEXIST;
	}
	if (next_ino >= CEIL_MAX_INODES) {
		pthread_mutex_unlock(&table_lock);
		free(d);
		return -ENOSPC;
	}
	ino = next_ino++;
	nodes[ino].parent = parent;
	nodes[ino].mode = mode;
	atomic_store(&nodes[ino].size, 0);
	clock_gettime(CLOCK_REALTIME, &nodes[ino].mtime);
	nodes[parent].nchildren++;
	d->next = NULL;
	d->parent = parent;
	d->ino = ino;
	memcpy(d->name, name, len + 1);
	nodes[ino].name = d->name;
	*slot = d;
	pthread_mutex_unlock(&table_lock);
	return (long)ino;
}

static void reply_new_entry(fuse_req_t req, long ino)
{
	struct fuse_entry_param e;

	if (ino < 0) {
		fuse_reply_err(req, (int)-ino);
		return;
	}
	fill_entry(&e, (fuse_ino_t)ino);
	fuse_reply_entry(req, &e);
}

static void ceil_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       dev_t rdev)
{
	(void)rdev;
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	reply_new_entry(req, add_node(parent, name, mode));
}

static void ceil_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_new_entry(req, add_node(parent, name, S_IFDIR | (mode & 07777)));
}

static void ceil_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	long ino = add_node(parent, name, S_IFREG | (mode & 07777));

	if (ino < 0) {
		fuse_reply_err(req, (int)-ino);
		return;
	}
	fill_entry(&e, (fuse_ino_t)ino);
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fi->noflush = 1;
	fuse_reply_create(req, &e, fi);
}

static int remove_node(fuse_ino_t parent, const char *name, bool dir)
{
	struct dentry **slot, *d;
	struct cnode *n;

	pthread_mutex_lock(&table_lock);
	slot = find_slot(parent, name);
	d = *slot;
	if (!d) {
		pthread_mutex_unlock(&table_lock);
		return ENOENT;
	}
	n = &nodes[d->ino];
	if (dir != !!S_ISDIR(n->mode)) {
		pthread_mutex_unlock(&table_lock);
		return dir ? ENOTDIR : EISDIR;
	}
	if (dir && n->nchildren) {
		pthread_mutex_unlock(&table_lock);
		return ENOTEMPTY;
	}
	*slot = d->next;
	nodes[parent].nchildren--;
	/* The slot stays readable (open files, getattr): only unlinked. */
	n->parent = 0;
	n->name = NULL;
	pthread_mutex_unlock(&table_lock);
	free(d);
	return 0;
}

static void ceil_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, remove_node(parent, name, false));
}

static void ceil_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, remove_node(parent, name, true));
}

static void ceil_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!valid_ino(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (S_ISDIR(nodes[ino].mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 0;
	fi->keep_cache = 0;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

static void ceil_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	uint64_t fsize;

	(void)fi;
	if (!valid_ino(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fsize = atomic_load_explicit(&nodes[ino].size, memory_order_relaxed);
	if ((uint64_t)off >= fsize)
		size = 0;
	else if (size > fsize - (uint64_t)off)
		size = (size_t)(fsize - (uint64_t)off);
	if (size > sizeof(zeros))
		size = sizeof(zeros);
	fuse_reply_buf(req, zeros, size);
}

static void ceil_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	uint64_t end = (uint64_t)off + size, cur;

	(void)buf;
	if (!valid_ino(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (fi->flags & O_APPEND)
		end = atomic_load(&nodes[ino].size) + size;
	cur = atomic_load_explicit(&nodes[ino].size, memory_order_relaxed);
	while (cur < end &&
	       !atomic_compare_exchange_weak(&nodes[ino].size, &cur, end))
		;
	fuse_reply_write(req, size);
}

static void ceil_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* As daxfs: nothing to sync, and ENOSYS makes the kernel stop asking. */
static void ceil_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void ceil_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!valid_ino(ino) || !S_ISDIR(nodes[ino].mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fuse_reply_open(req, fi);
}

/*
 * Offsets: 0 is ".", 1 is "..", and the entry of inode i is followed by
 * offset i + 1: a directory is read by scanning the inode table upward from
 * the offset, which stays correct while entries come and go.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t dir, size_t size, off_t off, bool plus)
{
	char *buf = malloc(size ? size : 1);
	size_t used = 0, len;
	uint64_t i, top;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&table_lock);
	top = next_ino;
	for (i = (uint64_t)off; i < top; i++) {
		struct fuse_entry_param e;
		const char *name;
		fuse_ino_t ino;

		if (i == 0) {
			name = ".";
			ino = dir;
		} else if (i == 1) {
			name = "..";
			ino = dir == FUSE_ROOT_ID ? dir : nodes[dir].parent;
		} else if (i != FUSE_ROOT_ID && nodes[i].parent == dir && nodes[i].name) {
			name = nodes[i].name;
			ino = i;
		} else {
			continue;
		}
		if (plus) {
			fill_entry(&e, ino);
			/* As daxfs: no lookup reference for "." and "..". */
			if (i < 2)
				e.ino = 0;
			len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						     (off_t)(i + 1));
		} else {
			fill_stat(ino, &e.attr);
			len = fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						(off_t)(i + 1));
		}
		if (len > size - used)
			break;
		used += len;
	}
	pthread_mutex_unlock(&table_lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void ceil_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void ceil_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			     struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void ceil_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	memset(&st, 0, sizeof(st));
	st.f_bsize = st.f_frsize = 4096;
	st.f_blocks = st.f_bfree = st.f_bavail = 1ull << 32; /* 16 TiB */
	st.f_files = CEIL_MAX_INODES;
	st.f_ffree = st.f_favail = CEIL_MAX_INODES - next_ino;
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops ceil_ops = {
	.init = ceil_init,
	.lookup = ceil_lookup,
	.forget = ceil_forget,
	.forget_multi = ceil_forget_multi,
	.getattr = ceil_getattr,
	.setattr = ceil_setattr,
	.mknod = ceil_mknod,
	.mkdir = ceil_mkdir,
	.unlink = ceil_unlink,
	.rmdir = ceil_rmdir,
	.open = ceil_open,
	.read = ceil_read,
	.write = ceil_write,
	.flush = ceil_ok,
	.release = ceil_ok,
	.fsync = ceil_fsync,
	.opendir = ceil_opendir,
	.readdir = ceil_readdir,
	.readdirplus = ceil_readdirplus,
	.releasedir = ceil_ok,
	.statfs = ceil_statfs,
	.create = ceil_create,
};

static int setup_table(void)
{
	static const char big[] = "big";
	struct dentry *d;

	nodes = mmap(NULL, (size_t)CEIL_MAX_INODES * sizeof(*nodes), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (nodes == MAP_FAILED)
		return -1;
	nodes[FUSE_ROOT_ID].mode = S_IFDIR | 0755;
	clock_gettime(CLOCK_REALTIME, &nodes[FUSE_ROOT_ID].mtime);
	d = malloc(sizeof(*d) + sizeof(big));
	if (!d)
		return -1;
	d->next = NULL;
	d->parent = FUSE_ROOT_ID;
	d->ino = CEIL_BIG_INO;
	memcpy(d->name, big, sizeof(big));
	buckets[hash_name(FUSE_ROOT_ID, big)] = d;
	nodes[CEIL_BIG_INO] = (struct cnode){
		.size = CEIL_BIG_SIZE,
		.parent = FUSE_ROOT_ID,
		.mode = S_IFREG | 0644,
		.mtime = nodes[FUSE_ROOT_ID].mtime,
		.name = d->name,
	};
	nodes[FUSE_ROOT_ID].nchildren = 1;
	return 0;
}

/* The same loop configuration as fs/daxfs_main.c's run_loop. */
static int run_loop(struct fuse_session *se, const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config cfg = {
		.clone_fd = opts->clone_fd,
		.max_idle_threads = opts->max_idle_threads,
	};

	if (opts->singlethread)
		return fuse_session_loop(se);
	if (cfg.max_idle_threads == UINT_MAX)
		cfg.max_idle_threads = CEIL_LOOP_MAX_THREADS;
	return fuse_session_loop_mt(se, &cfg);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_session *se;
	int ret = 1;
	int i;

	/* As daxfs: default_permissions and a subtype, ahead of the user's -o
	 * (fuse_opt_insert_arg needs an argument vector of its own). */
	for (i = 0; i < argc; i++)
		if (fuse_opt_add_arg(&args, argv[i])) {
			fprintf(stderr, "ceiling: out of memory\n");
			return 1;
		}
	if (fuse_opt_insert_arg(&args, 1, "-o") ||
	    fuse_opt_insert_arg(&args, 2, "default_permissions,subtype=ceiling,fsname=ceiling")) {
		fprintf(stderr, "ceiling: out of memory\n");
		return 1;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out_args;
	if (opts.show_help || opts.show_version || !opts.mountpoint) {
		printf("usage: %s MOUNTPOINT [-f] [-s] [-o OPTIONS]\n"
		       "A FUSE filesystem that stores no data (benchmark ceiling).\n",
		       argv[0]);
		if (opts.show_help) {
			fuse_cmdline_help();
			fuse_lowlevel_help();
		}
		ret = !(opts.show_help || opts.show_version);
		goto out_args;
	}
	if (setup_table() != 0) {
		fprintf(stderr, "ceiling: out of memory\n");
		goto out_args;
	}
	se = fuse_session_new(&args, &ceil_ops, sizeof(ceil_ops), NULL);
	if (!se) {
		fprintf(stderr, "ceiling: cannot start a FUSE session\n");
		goto out_args;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, "ceiling: cannot install signal handlers\n");
		goto out_session;
	}
	if (fuse_session_mount(se, opts.mountpoint) != 0) {
		fprintf(stderr, "ceiling: cannot mount on %s\n", opts.mountpoint);
		goto out_signals;
	}
	if (fuse_daemonize(opts.foreground) != 0) {
		fprintf(stderr, "ceiling: cannot detach from the terminal\n");
		goto out_unmount;
	}
	ret = run_loop(se, &opts) < 0;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
