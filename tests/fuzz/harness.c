/* SPDX-License-Identifier: MIT */
/* Template pools, the input format and the tree walk: see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../pmem/format.h"
#include "../../pmem/pool.h"

#define POOL_SIZE_ARG "1536K" /* 384 blocks: 256 of them the undo log */
#define FIXED_TIME 1700000000

static char pool_path[PATH_MAX];
static unsigned char *tmpl[2];
static size_t pool_size;
static unsigned char *map; /* the pool file, shared with the mounts' mappings */
static uint64_t small_ino; /* "small" in the templates */

void fuzz_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static void remove_pool(void)
{
	if (pool_path[0])
		unlink(pool_path);
}

/* $MKFS_DAXFS, else mkfs.daxfs of the build tree this program is in
 * (tests/fuzz/ -> mkfs/). */
static const char *find_mkfs(char *buf, size_t len)
{
	const char *env = getenv("MKFS_DAXFS");
	char self[PATH_MAX];

	if (env && *env)
		return env;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		fuzz_die("cannot find mkfs.daxfs: set MKFS_DAXFS");
	self[n] = 0;
	snprintf(buf, len, "%s/../../mkfs/mkfs.daxfs", dirname(self));
	if (access(buf, X_OK))
		fuzz_die("cannot find mkfs.daxfs at %s: set MKFS_DAXFS", buf);
	return buf;
}

static unsigned char *read_pool(void)
{
	unsigned char *b = malloc(pool_size);
	int fd = open(pool_path, O_RDONLY);

	if (!b || fd < 0 || pread(fd, b, pool_size, 0) != (ssize_t)pool_size)
		fuzz_die("cannot read the template pool %s", pool_path);
	close(fd);
	return b;
}

static void write_pool(const unsigned char *b)
{
	int fd = open(pool_path, O_WRONLY);

	if (fd < 0 || pwrite(fd, b, pool_size, 0) != (ssize_t)pool_size)
		fuzz_die("cannot write the pool %s", pool_path);
	close(fd);
}

static struct daxfs *mount_pool(void)
{
	struct daxfs_mount_opts mo = { 0 };
	struct daxfs *fs;
	char err[512];

	if (daxfs_mount(pool_path, &mo, &fs, err, sizeof(err)))
		fuzz_die("template: mount failed: %s", err);
	return fs;
}

static uint64_t make(struct daxfs *fs, uint64_t dir, const char *name, mode_t mode,
		     const char *data, size_t len, uint64_t off)
{
	static const struct daxfs_cred cr = { 0 };
	struct daxfs_attr a;
	int rc = S_ISDIR(mode) ? daxfs_mkdir(fs, &cr, dir, name, mode, &a)
			       : daxfs_mknod(fs, &cr, dir, name, mode, S_ISCHR(mode) ? 0x0501 : 0, &a);

	if (rc)
		fuzz_die("template: cannot create %s: %s", name, strerror(-rc));
	if (len && daxfs_write(fs, a.ino, data, len, off, false) != (ssize_t)len)
		fuzz_die("template: cannot write %s", name);
	return a.ino;
}

/* The tree every input starts from (harness.h). */
static void build_tree(struct daxfs *fs)
{
	static const struct daxfs_cred cr = { 0 };
	char buf[3 * DAXFS_BLOCK_SIZE + 100], name[16];
	struct daxfs_attr a;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)('a' + i % 23);
	uint64_t d = make(fs, DAXFS_ROOT_INO, "d", S_IFDIR | 0755, NULL, 0, 0);
	for (int i = 0; i < 20; i++) { /* 15 entries to a block: two blocks */
		snprintf(name, sizeof(name), "f%02d", i);
		make(fs, d, name, S_IFREG | 0644, buf, (size_t)i, 0);
	}
	uint64_t sub = make(fs, d, "sub", S_IFDIR | 0700, NULL, 0, 0);
	make(fs, sub, "deep", S_IFREG | 0600, buf, 5000, 0);
	small_ino = make(fs, DAXFS_ROOT_INO, "small", S_IFREG | 0644, buf, 100, 0);
	make(fs, DAXFS_ROOT_INO, "multi", S_IFREG | 0644, buf, sizeof(buf), 0);
	uint64_t sp = make(fs, DAXFS_ROOT_INO, "sparse", S_IFREG | 0644, buf, 10, 0);
	if (daxfs_write(fs, sp, buf, 10, 600ULL * DAXFS_BLOCK_SIZE, false) != 10)
		fuzz_die("template: cannot write sparse");
	make(fs, DAXFS_ROOT_INO, "fifo", S_IFIFO | 0644, NULL, 0, 0);
	make(fs, DAXFS_ROOT_INO, "chr", S_IFCHR | 0644, NULL, 0, 0);
	if (daxfs_link(fs, small_ino, d, "hard", &a) ||
	    daxfs_symlink(fs, &cr, DAXFS_ROOT_INO, "sym", "d/sub/deep", &a))
		fuzz_die("template: cannot link");
	daxfs_forget(fs, a.ino, 1);
}

/* Fixed uuid and times, so that an input means the same in every run. */
static void normalise(unsigned char *img)
{
	struct daxfs_super *sb = (void *)img;
	struct daxfs_state *st = (void *)(img + DAXFS_STATE_BLOCK * DAXFS_BLOCK_SIZE);
	struct daxfs_dinode *it = (void *)(img + sb->itable_start * DAXFS_BLOCK_SIZE);

	memset(sb->uuid, 0x5a, sizeof(sb->uuid));
	sb->mkfs_time = FIXED_TIME;
	sb->checksum = pool_super_checksum(sb);
	memcpy(img + DAXFS_SB_BACKUP_BLOCK * DAXFS_BLOCK_SIZE, sb, sizeof(*sb));
	st->last_mount_time = st->last_unmount_time = FIXED_TIME;
	for (uint64_t i = DAXFS_ROOT_INO; i < sb->inode_count; i++)
		if (it[i].mode)
			it[i].atime = it[i].mtime = it[i].ctime = it[i].btime =
				(struct daxfs_ts){ FIXED_TIME, 0, 0 };
}

/* An interrupted operation in log slot 5: "small" had 50 bytes, and the
 * mount count was 7. */
static void add_pending_slot(unsigned char *img)
{
	const struct daxfs_super *sb = (const void *)img;
	unsigned char *slot = img + (sb->log_start + 5 * sb->log_slot_blocks) * DAXFS_BLOCK_SIZE;
	struct daxfs_log_header *h = (void *)slot;
	struct daxfs_log_entry *e = (void *)(h + 1);
	uint64_t ioff = sb->itable_start * DAXFS_BLOCK_SIZE + small_ino * DAXFS_INODE_SIZE;
	struct daxfs_dinode old;

	memcpy(&old, img + ioff, sizeof(old));
	old.size = 50;
	*e = (struct daxfs_log_entry){ .offset = ioff, .len = sizeof(old) };
	memcpy(e + 1, &old, sizeof(old));
	e = (void *)((char *)(e + 1) + sizeof(old));
	uint64_t count = 7;
	*e = (struct daxfs_log_entry){
		.offset = DAXFS_STATE_BLOCK * DAXFS_BLOCK_SIZE + offsetof(struct daxfs_state, mount_count),
		.len = 8,
	};
	memcpy(e + 1, &count, 8);
	h->magic = DAXFS_LOG_MAGIC;
	h->nentries = 2;
}

static void build_templates(void)
{
	char buf[PATH_MAX], cmd[3 * PATH_MAX];
	const char *mkfs = find_mkfs(buf, sizeof(buf));
	struct stat st;

	snprintf(cmd, sizeof(cmd), "'%s' -f -s " POOL_SIZE_ARG " -L fuzz '%s' >/dev/null", mkfs,
		 pool_path);
	if (system(cmd) != 0)
		fuzz_die("template: %s failed", cmd);
	if (stat(pool_path, &st))
		fuzz_die("template: %s: %s", pool_path, strerror(errno));
	pool_size = (size_t)st.st_size;

	struct daxfs *fs = mount_pool();
	build_tree(fs);
	if (daxfs_unmount(fs, NULL))
		fuzz_die("template: unmount failed");
	tmpl[0] = read_pool();

	/* The crashed one: an open file unlinked, then the daemon dies. */
	fs = mount_pool();
	char data[5000];
	memset(data, 'o', sizeof(data));
	uint64_t o = make(fs, DAXFS_ROOT_INO, "orphan", S_IFREG | 0644, data, sizeof(data), 0);
	if (daxfs_open(fs, o, O_RDWR) || daxfs_unlink(fs, DAXFS_ROOT_INO, "orphan"))
		fuzz_die("template: cannot make the orphan");
	daxfs_abandon(fs);
	tmpl[1] = read_pool();
	add_pending_slot(tmpl[1]);
	normalise(tmpl[0]);
	normalise(tmpl[1]);
}

void fuzz_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	/* Persistence by cache flushes, not msync: the pool is in /dev/shm. */
	setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	const char *dir = getenv("FUZZ_POOL_DIR");
	snprintf(pool_path, sizeof(pool_path), "%s/daxfs-fuzz-%d.pool",
		 dir && *dir ? dir : "/dev/shm", (int)getpid());
	atexit(remove_pool);
	build_templates();
	write_pool(tmpl[0]);
	int fd = open(pool_path, O_RDWR);
	if (fd < 0)
		fuzz_die("cannot open %s: %s", pool_path, strerror(errno));
	map = mmap(NULL, pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		fuzz_die("cannot map %s: %s", pool_path, strerror(errno));
	close(fd);
}

static void fix_checksum(unsigned char *block)
{
	struct daxfs_super *sb = (void *)block;

	sb->checksum = pool_super_checksum(sb);
}

const char *fuzz_image(const uint8_t *data, size_t size)
{
	unsigned flags = size ? data[0] : 0;
	const unsigned char *t = tmpl[flags & FUZZ_F_TEMPLATE];
	uint64_t nblocks = pool_size / DAXFS_BLOCK_SIZE;

	for (size_t o = 0; o < pool_size; o += DAXFS_BLOCK_SIZE)
		if (memcmp(map + o, t + o, DAXFS_BLOCK_SIZE))
			memcpy(map + o, t + o, DAXFS_BLOCK_SIZE);
	for (size_t i = 1; i + 5 <= size;) {
		uint64_t blk = (data[i] | (uint64_t)data[i + 1] << 8) % nblocks;
		uint64_t off = blk * DAXFS_BLOCK_SIZE + (data[i + 2] | (uint64_t)data[i + 3] << 8) % DAXFS_BLOCK_SIZE;
		unsigned n = data[i + 4];
		i += 5;
		if (i >= size)
			break;
		if (n & 0x80) {
			size_t len = ((n & 0x7fu) + 1) * 8;
			if (len > pool_size - off)
				len = pool_size - off;
			memset(map + off, data[i], len);
			i++;
		} else {
			size_t len = n + 1;
			if (len > size - i)
				len = size - i;
			if (len > pool_size - off)
				memcpy(map + off, data + i, pool_size - off);
			else
				memcpy(map + off, data + i, len);
			i += len;
		}
	}
	if (flags & FUZZ_F_SB_CSUM)
		fix_checksum(map);
	if (flags & FUZZ_F_BACKUP_CSUM)
		fix_checksum(map + DAXFS_SB_BACKUP_BLOCK * DAXFS_BLOCK_SIZE);
	const char *dump = getenv("FUZZ_DUMP");
	if (dump && *dump) {
		/* The damaged pool, for fsck.daxfs -n -v or a mount by hand. */
		int fd = open(dump, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, map, pool_size) != (ssize_t)pool_size)
			fuzz_die("cannot write %s", dump);
		close(fd);
	}
	return pool_path;
}

const unsigned char *fuzz_pool_bytes(size_t *size)
{
	*size = pool_size;
	return map;
}

/* ---- the walk ----------------------------------------------------------- */

#define MAX_DEPTH 6
#define MAX_ENTRIES 512 /* entries looked up per walk */
#define MAX_FILES 8

struct ent {
	char name[DAXFS_NAME_MAX + 1];
	uint64_t ino;
};

struct listing {
	struct ent e[32];
	int n;
	uint64_t next; /* cookie to resume from */
};

static int collect(void *ctx, const char *name, const struct daxfs_attr *a, uint64_t next)
{
	struct listing *l = ctx;

	if (l->n == (int)(sizeof(l->e) / sizeof(l->e[0])))
		return 1;
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%s", name);
	l->e[l->n].ino = a->ino;
	l->n++;
	l->next = next;
	return 0;
}

struct walk {
	struct daxfs *fs;
	bool *seen;
	uint64_t nseen;
	int budget;
	struct {
		uint64_t dir;
		char name[DAXFS_NAME_MAX + 1];
	} files[MAX_FILES], dirs[MAX_FILES];
	int nfiles, ndirs;
};

static void read_file(struct walk *w, uint64_t ino, uint64_t size)
{
	static char buf[3 * DAXFS_BLOCK_SIZE];
	struct daxfs *fs = w->fs;

	if (daxfs_open(fs, ino, O_RDONLY))
		return;
	daxfs_read(fs, ino, buf, sizeof(buf), 0);
	if (size > 100)
		daxfs_read(fs, ino, buf, 200, size - 100);
	off_t data = daxfs_lseek(fs, ino, 1, SEEK_DATA);
	if (data >= 0)
		daxfs_read(fs, ino, buf, sizeof(buf), (uint64_t)data);
	daxfs_lseek(fs, ino, 0, SEEK_HOLE);
	struct daxfs_read_ctx *rc = malloc(sizeof(*rc));
	if (rc) {
		if (daxfs_read_map(fs, ino, 0, 64 * DAXFS_BLOCK_SIZE, rc) >= 0)
			daxfs_read_done(rc);
		free(rc);
	}
	daxfs_release(fs, ino);
}

static void walk_dir(struct walk *w, uint64_t dir, int depth)
{
	struct daxfs *fs = w->fs;
	struct listing *l = malloc(sizeof(*l));
	struct daxfs_attr a;

	if (!l)
		return;
	if (dir < w->nseen)
		w->seen[dir] = true;
	/* readdirplus takes a lookup reference on each entry but . and .. */
	l->n = 0;
	l->next = 0;
	if (daxfs_readdir(fs, dir, 0, true, collect, l) == 0)
		for (int i = 0; i < l->n; i++)
			if (strcmp(l->e[i].name, ".") && strcmp(l->e[i].name, ".."))
				daxfs_forget(fs, l->e[i].ino, 1);
	uint64_t off = 0;
	for (int calls = 0; calls < 16 && w->budget > 0; calls++) {
		l->n = 0;
		l->next = off;
		if (daxfs_readdir(fs, dir, off, false, collect, l) || l->n == 0)
			break;
		off = l->next;
		for (int i = 0; i < l->n && w->budget > 0; i++) {
			const char *name = l->e[i].name;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			w->budget--;
			if (daxfs_lookup(fs, dir, name, &a))
				continue;
			uint64_t ino = a.ino;
			daxfs_getattr(fs, ino, &a);
			if (S_ISREG(a.mode)) {
				read_file(w, ino, a.size);
				if (w->nfiles < MAX_FILES && strlen(name) <= DAXFS_NAME_MAX) {
					w->files[w->nfiles].dir = dir;
					strcpy(w->files[w->nfiles++].name, name);
				}
			} else if (S_ISLNK(a.mode)) {
				char target[DAXFS_SYMLINK_MAX + 1];
				daxfs_readlink(fs, ino, target, sizeof(target));
			} else if (S_ISDIR(a.mode)) {
				if (w->ndirs < MAX_FILES) {
					w->dirs[w->ndirs].dir = dir;
					strcpy(w->dirs[w->ndirs++].name, name);
				}
				if (depth < MAX_DEPTH && ino < w->nseen && !w->seen[ino])
					walk_dir(w, ino, depth + 1);
			}
			daxfs_forget(fs, ino, 1);
		}
	}
	free(l);
}

static void change_tree(struct walk *w)
{
	static const struct daxfs_cred cr = { 0 };
	static char buf[9000];
	struct daxfs *fs = w->fs;
	struct daxfs_attr a, nd;
	struct daxfs_setattr sa = { 0 };

	memset(buf, 'z', sizeof(buf));
	for (int i = 0; i < w->nfiles; i++) {
		uint64_t dir = w->files[i].dir;
		const char *name = w->files[i].name;
		if (daxfs_lookup(fs, dir, name, &a))
			continue;
		switch (i % 4) {
		case 0: /* truncate down, then write across the old end */
			sa.valid = DAXFS_SET_SIZE;
			sa.size = a.size / 2;
			daxfs_setattr(fs, a.ino, &sa, &a);
			daxfs_write(fs, a.ino, buf, 5000, 3000, false);
			break;
		case 1: /* punch the first block, extend */
			daxfs_fallocate(fs, a.ino, 0x03 /* PUNCH_HOLE | KEEP_SIZE */, 0,
					DAXFS_BLOCK_SIZE);
			daxfs_fallocate(fs, a.ino, 0, a.size, 2 * DAXFS_BLOCK_SIZE);
			break;
		case 2: /* unlinked while open, written, released */
			if (daxfs_open(fs, a.ino, O_RDWR) == 0) {
				daxfs_unlink(fs, dir, name);
				daxfs_write(fs, a.ino, buf, sizeof(buf), 0, true);
				daxfs_release(fs, a.ino);
			}
			break;
		case 3: /* moved into a new directory, linked back */
			if (daxfs_mkdir(fs, &cr, DAXFS_ROOT_INO, "fz", 0755, &nd) == 0)
				daxfs_forget(fs, nd.ino, 1);
			if (daxfs_lookup(fs, DAXFS_ROOT_INO, "fz", &nd) == 0) {
				if (daxfs_rename(fs, dir, name, nd.ino, "moved", 0) == 0 &&
				    daxfs_link(fs, a.ino, dir, name, &a) == 0)
					daxfs_forget(fs, a.ino, 1);
				daxfs_forget(fs, nd.ino, 1);
			}
			break;
		}
		daxfs_forget(fs, a.ino, 1);
	}
	for (int i = 0; i < w->ndirs; i++) {
		/* Into the next directory found (perhaps its own descendant, or
		 * a loop of damaged parent fields), exchanged with it, into the
		 * root, or removed. */
		int j = (i + 1) % w->ndirs;
		if (daxfs_lookup(fs, w->dirs[j].dir, w->dirs[j].name, &nd))
			nd.ino = DAXFS_ROOT_INO;
		else
			daxfs_forget(fs, nd.ino, 1);
		switch (i % 4) {
		case 0:
			daxfs_rename(fs, w->dirs[i].dir, w->dirs[i].name, nd.ino, "into", 0);
			break;
		case 1:
			daxfs_rename(fs, w->dirs[i].dir, w->dirs[i].name, w->dirs[j].dir,
				     w->dirs[j].name, RENAME_EXCHANGE);
			break;
		case 2:
			daxfs_rename(fs, w->dirs[i].dir, w->dirs[i].name, DAXFS_ROOT_INO,
				     w->dirs[i].name, RENAME_NOREPLACE);
			break;
		case 3:
			daxfs_rmdir(fs, w->dirs[i].dir, w->dirs[i].name);
			break;
		}
	}
	if (daxfs_mknod(fs, &cr, DAXFS_ROOT_INO, "new", S_IFREG | 0600, 0, &a) == 0) {
		daxfs_write(fs, a.ino, buf, sizeof(buf), 0, false);
		daxfs_write(fs, a.ino, buf, 10, 700ULL * DAXFS_BLOCK_SIZE, false);
		daxfs_read(fs, a.ino, buf, sizeof(buf), 0);
		daxfs_forget(fs, a.ino, 1);
	}
}

void fuzz_walk(struct daxfs *fs, bool read_only)
{
	struct daxfs_statfs sf;
	struct walk *w = calloc(1, sizeof(*w));

	if (!w)
		return;
	w->fs = fs;
	daxfs_statfs(fs, &sf);
	w->nseen = sf.total_inodes + 1 < (1u << 20) ? sf.total_inodes + 1 : 1u << 20;
	w->seen = calloc(w->nseen, 1);
	w->budget = MAX_ENTRIES;
	if (w->seen) {
		walk_dir(w, DAXFS_ROOT_INO, 0);
		/* Every inode by number, as an NFS file handle reaches it
		 * ("." of the inode): unreachable and unlinked ones too. */
		for (uint64_t ino = DAXFS_ROOT_INO; ino < w->nseen && ino < 256; ino++) {
			struct daxfs_attr a;
			if (daxfs_lookup(fs, ino, ".", &a))
				continue;
			if (S_ISREG(a.mode))
				read_file(w, ino, a.size);
			daxfs_forget(fs, ino, 1);
		}
		if (!read_only)
			change_tree(w);
	}
	daxfs_statfs(fs, &sf);
	free(w->seen);
	free(w);
}
