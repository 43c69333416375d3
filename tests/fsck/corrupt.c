/* SPDX-License-Identifier: MIT */
/*
 * corrupt: damages one kind of metadata structure of an unmounted daxfs pool,
 * for the fsck tests.
 *
 *	corrupt KIND POOL [PATH [PATH2]]
 *	corrupt ino POOL PATH		prints the inode number of PATH
 *
 * KIND is one of superblock, backup-superblock, state, inode-mode PATH,
 * inode-size PATH, block-pointer PATH, double-owner PATH PATH2 (PATH's first
 * block becomes PATH2's), bitmap-free PATH, bitmap-leak, dirent-name PATH,
 * dirent-ino PATH, nlink PATH, orphan-loop PATH PATH2, orphan-linked PATH
 * (link count 0 and on the orphan list, its entry left), undo-log (a garbage
 * slot), undo-log-wrap (a slot whose entry's offset + len wraps around),
 * undo-pending PATH (a sound slot of an interrupted operation) and lost-dir
 * PATH.  PATH names a file or directory inside the pool ("/sub/c.txt").  The pool
 * is assumed healthy before the damage: it is read without the defensive
 * checks fsck needs, but every block number is still range-checked so that
 * a bad argument fails cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../pmem/format.h"

static char *base;
static size_t base_len;
static const struct daxfs_super *sb;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("corrupt: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *block(uint64_t blk)
{
	if (blk >= sb->total_blocks)
		die("block %llu out of range", (unsigned long long)blk);
	return base + blk * DAXFS_BLOCK_SIZE;
}

static struct daxfs_dinode *dinode(uint64_t ino)
{
	if (ino == 0 || ino >= sb->inode_count)
		die("inode %llu out of range", (unsigned long long)ino);
	return (struct daxfs_dinode *)block(sb->itable_start) + ino;
}

static struct daxfs_state *state(void)
{
	return block(DAXFS_STATE_BLOCK);
}

static uint64_t *bitmap(void)
{
	return block(sb->bitmap_start);
}

/* Where the pointer to file block index is stored (the map word for a
 * height-0 map), or NULL for a hole. */
static uint64_t *pointer_of(struct daxfs_dinode *di, uint64_t index)
{
	uint64_t m = di->map, node = DAXFS_MAP_ROOT(m);
	unsigned h = DAXFS_MAP_HEIGHT(m);

	if (!m)
		return NULL;
	if (h == 0)
		return index == 0 ? &di->map : NULL;
	for (unsigned level = h; level > 0; level--) {
		uint64_t *slot =
		    (uint64_t *)block(node) +
		    ((index >> (DAXFS_PTR_SHIFT * (level - 1))) & (DAXFS_PTRS_PER_BLOCK - 1));
		if (level == 1)
			return slot;
		if (!*slot)
			return NULL;
		node = *slot;
	}
	return NULL;
}

static uint64_t data_block(struct daxfs_dinode *di, uint64_t index)
{
	uint64_t *p = pointer_of(di, index);

	if (!p || !*p)
		return 0;
	return p == &di->map ? DAXFS_MAP_ROOT(*p) : *p;
}

static struct daxfs_dirent *find_entry(uint64_t dir, const char *name, size_t len)
{
	struct daxfs_dinode *di = dinode(dir);

	for (uint64_t b = 0; b < di->size / DAXFS_BLOCK_SIZE; b++) {
		uint64_t blk = data_block(di, b);
		struct daxfs_dirent *de = blk ? block(blk) : NULL;
		for (unsigned k = 0; de && k < DAXFS_DIRENTS_PER_BLOCK; k++)
			if (de[k].ino && de[k].name_len == len && !memcmp(de[k].name, name, len))
				return &de[k];
	}
	return NULL;
}

/* Resolves PATH; *entry gets the dirent naming the last component. */
static uint64_t lookup(const char *path, struct daxfs_dirent **entry)
{
	uint64_t ino = DAXFS_ROOT_INO;

	*entry = NULL;
	while (*path) {
		while (*path == '/')
			path++;
		size_t len = strcspn(path, "/");
		if (!len)
			break;
		struct daxfs_dirent *de = find_entry(ino, path, len);
		if (!de)
			die("%.*s: no such entry", (int)len, path);
		*entry = de;
		ino = de->ino;
		path += len;
	}
	return ino;
}

static uint64_t need_path(const char *path, struct daxfs_dirent **entry)
{
	struct daxfs_dirent *de;

	if (!path)
		die("this kind needs a PATH inside the pool");
	uint64_t ino = lookup(path, &de);
	if (entry)
		*entry = de;
	return ino;
}

static void garble_super(uint64_t blk)
{
	struct daxfs_super *s = block(blk);

	/* The checksum no longer matches: a torn or decayed superblock. */
	s->uuid[0] ^= 0xff;
	s->total_blocks ^= 1ULL << 40;
	printf("block %llu: superblock uuid and size garbled\n", (unsigned long long)blk);
}

static void kind_inode_mode(uint64_t ino)
{
	struct daxfs_dinode *di = dinode(ino);

	printf("inode %llu: mode %#o -> %#o\n", (unsigned long long)ino, di->mode,
	       (di->mode & 07777) | 0170000);
	di->mode = (di->mode & 07777) | 0170000;
}

static void kind_block_pointer(uint64_t ino)
{
	struct daxfs_dinode *di = dinode(ino);
	uint64_t bad = sb->total_blocks + 1000;

	if (DAXFS_MAP_HEIGHT(di->map) == 0) {
		di->map = DAXFS_MAP_WORD(bad, 0);
		printf("inode %llu: map root -> %llu\n", (unsigned long long)ino,
		       (unsigned long long)bad);
		return;
	}
	/* The second data block's pointer, in the lowest index block. */
	uint64_t *slot = pointer_of(di, 1);
	if (!slot || !*slot)
		die("inode %llu has no file block 1", (unsigned long long)ino);
	printf("inode %llu: pointer to file block 1: %llu -> %llu\n", (unsigned long long)ino,
	       (unsigned long long)*slot, (unsigned long long)bad);
	*slot = bad;
}

static void kind_double_owner(uint64_t ino, uint64_t other)
{
	uint64_t stolen = data_block(dinode(other), 0);
	uint64_t *slot = pointer_of(dinode(ino), 0);

	if (!stolen || !slot)
		die("both inodes need a file block 0");
	printf("inode %llu: file block 0 -> block %llu of inode %llu\n", (unsigned long long)ino,
	       (unsigned long long)stolen, (unsigned long long)other);
	*slot = slot == &dinode(ino)->map ? DAXFS_MAP_WORD(stolen, 0) : stolen;
}

static void flip_bit(uint64_t blk, bool set)
{
	uint64_t pfn = blk - sb->data_start;

	if (blk < sb->data_start || pfn >= sb->data_blocks)
		die("block %llu is not a data block", (unsigned long long)blk);
	if (set)
		bitmap()[pfn / 64] |= 1ULL << (pfn % 64);
	else
		bitmap()[pfn / 64] &= ~(1ULL << (pfn % 64));
	printf("bitmap: block %llu marked %s\n", (unsigned long long)blk, set ? "used" : "free");
}

static void kind_bitmap_leak(void)
{
	for (uint64_t pfn = sb->data_blocks; pfn-- > 0;)
		if (!(bitmap()[pfn / 64] >> (pfn % 64) & 1)) {
			flip_bit(sb->data_start + pfn, true);
			return;
		}
	die("no free data block");
}

static void kind_dirent_ino(struct daxfs_dirent *de)
{
	for (uint64_t ino = sb->inode_count; ino-- > DAXFS_ROOT_INO + 1;)
		if (!dinode(ino)->mode) {
			printf("entry '%.*s': inode %llu -> free inode %llu\n", de->name_len,
			       de->name, (unsigned long long)de->ino, (unsigned long long)ino);
			de->ino = ino;
			return;
		}
	die("no free inode");
}

static void kind_orphan_loop(uint64_t a, uint64_t b)
{
	state()->orphan_head = a;
	dinode(a)->orphan_next = b;
	dinode(b)->orphan_next = a;
	dinode(a)->flags |= DAXFS_INODE_ORPHAN;
	dinode(b)->flags |= DAXFS_INODE_ORPHAN;
	printf("orphan list: %llu -> %llu -> %llu -> ...\n", (unsigned long long)a,
	       (unsigned long long)b, (unsigned long long)a);
}

/* What a crash between an unlink's steps can never leave: an inode still
 * named by its directory, yet with link count 0 and on the orphan list, as
 * a daemon-freed file would be.  The pool is left as after a crash. */
static void kind_orphan_linked(uint64_t ino)
{
	struct daxfs_dinode *di = dinode(ino);

	di->nlink = 0;
	di->flags |= DAXFS_INODE_ORPHAN;
	di->orphan_next = state()->orphan_head;
	state()->orphan_head = ino;
	state()->state = DAXFS_POOL_MOUNTED;
	printf("inode %llu: link count 0 and on the orphan list, still named\n",
	       (unsigned long long)ino);
}

/* A slot that claims entries a mount must refuse to apply; with wrap, an
 * entry whose offset + len wraps around 2^64. */
static void kind_undo_log(bool wrap)
{
	unsigned slot = sb->log_slots > 7 ? 7 : sb->log_slots - 1;
	char *s = block(sb->log_start + slot * sb->log_slot_blocks);
	struct daxfs_log_header *h = (void *)s;
	struct daxfs_log_entry *e = (void *)(h + 1);

	memset(s, 0x5a, sb->log_slot_blocks * DAXFS_BLOCK_SIZE);
	h->magic = DAXFS_LOG_MAGIC;
	h->nentries = wrap ? 1 : 3;
	h->reserved = h->pad = 0;
	e->offset = wrap ? UINT64_MAX - 7 : 64;
	e->len = 16;
	e->pad = 0;
	printf("undo log slot %u: %llu garbage entries\n", slot, (unsigned long long)h->nentries);
}

/* A sound slot, as a crash in the middle of a setattr leaves it: the
 * inode's old contents logged, then the inode changed. */
static void kind_undo_pending(uint64_t ino)
{
	char *s = block(sb->log_start + 3 * sb->log_slot_blocks);
	struct daxfs_log_header *h = (void *)s;
	struct daxfs_log_entry *e = (void *)(h + 1);
	struct daxfs_dinode *di = dinode(ino);

	memset(s, 0, sb->log_slot_blocks * DAXFS_BLOCK_SIZE);
	e->offset = (uint64_t)((char *)di - base);
	e->len = sizeof(*di);
	memcpy(e + 1, di, sizeof(*di));
	h->magic = DAXFS_LOG_MAGIC;
	h->nentries = 1;
	di->nlink += 3;
	di->size = 1;
	di->mode = (di->mode & S_IFMT) | 0600;
	printf("undo log slot 3: inode %llu logged, then changed\n", (unsigned long long)ino);
}

/* A byte of the record stream, past the header: the checksum no longer
 * matches. */
static void kind_xattr(uint64_t ino)
{
	uint64_t w = dinode(ino)->xattr;

	if (!w)
		die("inode %llu has no extended attributes", (unsigned long long)ino);
	uint64_t first = DAXFS_MAP_ROOT(w);
	if (DAXFS_MAP_HEIGHT(w) == 1)
		first = ((uint64_t *)block(first))[0];
	unsigned char *p = block(first);
	p[sizeof(struct daxfs_xattr_header) + 12] ^= 0x5a;
	printf("inode %llu: xattr block %llu: one byte of a record flipped\n",
	       (unsigned long long)ino, (unsigned long long)first);
}

static int corrupt(const char *kind, const char *p1, const char *p2)
{
	struct daxfs_dirent *de;

	if (!strcmp(kind, "ino"))
		printf("%llu\n", (unsigned long long)need_path(p1, NULL));
	else if (!strcmp(kind, "superblock"))
		garble_super(DAXFS_SB_BLOCK);
	else if (!strcmp(kind, "backup-superblock"))
		garble_super(DAXFS_SB_BACKUP_BLOCK);
	else if (!strcmp(kind, "state")) {
		state()->magic = 0x0123456789abcdefULL;
		state()->state = 77;
		printf("state block: magic and state garbled\n");
	} else if (!strcmp(kind, "inode-mode"))
		kind_inode_mode(need_path(p1, NULL));
	else if (!strcmp(kind, "inode-size")) {
		dinode(need_path(p1, NULL))->size = 1ULL << 40;
		printf("inode %llu: size -> 1 TiB\n", (unsigned long long)need_path(p1, NULL));
	} else if (!strcmp(kind, "block-pointer"))
		kind_block_pointer(need_path(p1, NULL));
	else if (!strcmp(kind, "double-owner"))
		kind_double_owner(need_path(p1, NULL), need_path(p2, NULL));
	else if (!strcmp(kind, "bitmap-free"))
		flip_bit(data_block(dinode(need_path(p1, NULL)), 0), false);
	else if (!strcmp(kind, "bitmap-leak"))
		kind_bitmap_leak();
	else if (!strcmp(kind, "dirent-name")) {
		need_path(p1, &de);
		de->name[de->name_len / 2] = '/';
		printf("entry '%.*s': a '/' in the name\n", de->name_len, de->name);
	} else if (!strcmp(kind, "dirent-ino")) {
		need_path(p1, &de);
		kind_dirent_ino(de);
	} else if (!strcmp(kind, "nlink")) {
		struct daxfs_dinode *di = dinode(need_path(p1, NULL));
		printf("inode %llu: nlink %u -> %u\n", (unsigned long long)need_path(p1, NULL),
		       di->nlink, di->nlink + 5);
		di->nlink += 5;
	} else if (!strcmp(kind, "orphan-loop"))
		kind_orphan_loop(need_path(p1, NULL), need_path(p2, NULL));
	else if (!strcmp(kind, "orphan-linked"))
		kind_orphan_linked(need_path(p1, NULL));
	else if (!strcmp(kind, "undo-log") || !strcmp(kind, "undo-log-wrap"))
		kind_undo_log(!strcmp(kind, "undo-log-wrap"));
	else if (!strcmp(kind, "undo-pending"))
		kind_undo_pending(need_path(p1, NULL));
	else if (!strcmp(kind, "xattr"))
		kind_xattr(need_path(p1, NULL));
	else if (!strcmp(kind, "lost-dir")) {
		uint64_t ino = need_path(p1, &de);
		if (!S_ISDIR(dinode(ino)->mode))
			die("%s is not a directory", p1);
		de->ino = 0;
		printf("directory %llu: its entry '%.*s' removed\n", (unsigned long long)ino,
		       de->name_len, de->name);
	} else
		die("unknown kind '%s'", kind);
	return 0;
}

int main(int argc, char **argv)
{
	struct stat st;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: corrupt KIND POOL [PATH [PATH2]]\n");
		return 2;
	}
	int fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", argv[2], strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		die("%s is in use", argv[2]);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < 3 * DAXFS_BLOCK_SIZE)
		die("%s is not a pool file", argv[2]);
	base_len = (size_t)st.st_size;
	base = mmap(NULL, base_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		die("cannot map %s: %s", argv[2], strerror(errno));
	sb = (const struct daxfs_super *)base;
	if (sb->magic != DAXFS_MAGIC || sb->total_blocks * DAXFS_BLOCK_SIZE > base_len)
		die("%s is not a healthy daxfs pool", argv[2]);
	/* Damage to the primary superblock must not change what we read. */
	static struct daxfs_super copy;
	copy = *sb;
	sb = &copy;
	int rc = corrupt(argv[1], argc > 3 ? argv[3] : NULL, argc > 4 ? argv[4] : NULL);
	if (msync(base, base_len, MS_SYNC) < 0)
		die("msync: %s", strerror(errno));
	munmap(base, base_len);
	close(fd);
	return rc;
}
