/* SPDX-License-Identifier: MIT */
/* mkfs.daxfs: formats a pool (a device DAX node, a file on a DAX mount, or a
 * regular file used as emulated DAX). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libpmem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../fs/daxfs.h"
#include "../pmem/crc32c.h"
#include "../pmem/format.h"
#include "../pmem/pool.h"
#include "../pmem/pool_lock.h"

#define MIN_DATA_BLOCKS 64
#define BYTES_PER_INODE (16 * 1024ULL)

struct options {
	bool force;
	uint64_t size; /* 0: keep the file's size */
	const char *label;
	uint64_t inodes; /* 0: one per 16 KiB */
	const char *path;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mkfs.daxfs [-f] [-s SIZE] [-L LABEL] [-N INODES] POOL\n"
		   "\n"
		   "Formats POOL as a daxfs pool: a device DAX node, a file on a DAX\n"
		   "filesystem, or a regular file (emulated DAX, created or grown to SIZE and\n"
		   "fully allocated).\n"
		   "\n"
		   "  -f, --force         overwrite an existing daxfs or other filesystem\n"
		   "  -s, --size SIZE     pool size for a regular file (K, M, G, T suffixes)\n"
		   "  -L, --label LABEL   volume label, at most 63 bytes\n"
		   "  -N, --inodes N      number of inodes (default: one per 16 KiB)\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Signatures of filesystems and volumes we refuse to overwrite without -f. */
static const char *known_signature(const unsigned char *b, size_t n)
{
	static const struct {
		size_t off;
		const char *magic;
		size_t len;
		const char *name;
	} sigs[] = {
		{ 0, "\r\nDAXFS1", 8, "daxfs" }, /* DAXFS_MAGIC in little-endian order */
		{ 1080, "\x53\xef", 2, "ext2/3/4" },
		{ 0, "XFSB", 4, "XFS" },
		{ 65600, "_BHRfS_M", 8, "btrfs" },
		{ 4086, "SWAPSPACE2", 10, "swap" },
		{ 0, "LUKS\xba\xbe", 6, "LUKS" },
		{ 3, "NTFS    ", 8, "NTFS" },
		{ 82, "FAT32   ", 8, "FAT32" },
		{ 54, "FAT1", 4, "FAT" },
		{ 32769, "CD001", 5, "ISO 9660" },
		{ 0, "hsqs", 4, "squashfs" },
		{ 1024, "\x10\x20\xf5\xf2", 4, "f2fs" },
	};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigs[i].off + sigs[i].len <= n &&
		    !memcmp(b + sigs[i].off, sigs[i].magic, sigs[i].len))
			return sigs[i].name;
	return NULL;
}

struct geometry {
	uint64_t total, inodes, log_blocks, itable_blocks, bitmap_blocks, data_blocks;
};

static int plan(uint64_t bytes, uint64_t want_inodes, struct geometry *g)
{
	g->total = bytes / DAXFS_BLOCK_SIZE;
	g->inodes = want_inodes ? want_inodes + 1 : bytes / BYTES_PER_INODE;
	if (g->inodes < 16)
		g->inodes = 16;
	if (g->inodes > UINT32_MAX)
		return -EINVAL;
	g->log_blocks = (uint64_t)DAXFS_LOG_SLOTS * DAXFS_LOG_SLOT_BLOCKS;
	g->itable_blocks = (g->inodes + DAXFS_INODES_PER_BLOCK - 1) / DAXFS_INODES_PER_BLOCK;
	uint64_t meta = DAXFS_FIRST_META_BLOCK + g->log_blocks + g->itable_blocks;
	if (g->total <= meta + 1)
		return -ENOSPC;
	/* The bitmap covers only the data blocks, which it also shrinks; the
	 * fixed point may leave it one block larger than the data needs. */
	g->bitmap_blocks = 1;
	for (;;) {
		g->data_blocks = g->total - meta - g->bitmap_blocks;
		uint64_t need = (g->data_blocks + DAXFS_BLOCK_SIZE * 8 - 1) / (DAXFS_BLOCK_SIZE * 8);
		if (need <= g->bitmap_blocks)
			break;
		g->bitmap_blocks = need;
	}
	if (g->total < meta + g->bitmap_blocks + MIN_DATA_BLOCKS)
		return -ENOSPC;
	g->data_blocks = g->total - meta - g->bitmap_blocks;
	return 0;
}

static void fill_super(struct daxfs_super *sb, const struct geometry *g, const char *label)
{
	memset(sb, 0, sizeof(*sb));
	sb->magic = DAXFS_MAGIC;
	sb->version = DAXFS_VERSION;
	sb->block_size = DAXFS_BLOCK_SIZE;
	sb->log_slots = DAXFS_LOG_SLOTS;
	/* Every new pool can hold extended attributes: setting the bit later
	 * would mean rewriting the checksummed superblock, which cannot be
	 * made crash-atomic. */
	sb->feature_ro_compat = DAXFS_FEATURE_RO_COMPAT_XATTR;
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != sizeof(sb->uuid))
		for (size_t i = 0; i < sizeof(sb->uuid); i++)
			sb->uuid[i] = (uint8_t)(rand() ^ time(NULL) >> (i % 8));
	sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0f) | 0x40);
	sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3f) | 0x80);
	if (label)
		strncpy(sb->label, label, DAXFS_LABEL_MAX - 1);
	sb->total_blocks = g->total;
	sb->inode_count = g->inodes;
	sb->log_start = DAXFS_FIRST_META_BLOCK;
	sb->log_slot_blocks = DAXFS_LOG_SLOT_BLOCKS;
	sb->itable_start = sb->log_start + g->log_blocks;
	sb->itable_blocks = g->itable_blocks;
	sb->bitmap_start = sb->itable_start + sb->itable_blocks;
	sb->bitmap_blocks = g->bitmap_blocks;
	sb->data_start = sb->bitmap_start + sb->bitmap_blocks;
	sb->data_blocks = g->data_blocks;
	sb->mkfs_time = time(NULL);
	sb->checksum = pool_super_checksum(sb);
}

static void zero_with_progress(char *base, uint64_t len, bool is_pmem)
{
	const uint64_t chunk = 64ULL << 20;
	bool tty = isatty(STDERR_FILENO);

	for (uint64_t off = 0; off < len; off += chunk) {
		uint64_t n = len - off < chunk ? len - off : chunk;
		if (is_pmem)
			pmem_memset_persist(base + off, 0, n);
		else
			memset(base + off, 0, n);
		if (tty && len > 4 * chunk)
			fprintf(stderr, "\rmkfs.daxfs: writing metadata %3llu%%",
				(unsigned long long)((off + n) * 100 / len));
	}
	if (!is_pmem)
		pmem_msync(base, len);
	if (tty && len > 4 * chunk)
		fprintf(stderr, "\n");
}

static void write_pool(char *base, bool is_pmem, const struct daxfs_super *sb)
{
	uint64_t meta_end = sb->data_start * DAXFS_BLOCK_SIZE;

	/* Everything but the superblock first: a crash during mkfs leaves no
	 * valid signature. */
	if (is_pmem) {
		pmem_memset_persist(base, 0, DAXFS_BLOCK_SIZE);
	} else {
		memset(base, 0, DAXFS_BLOCK_SIZE);
		pmem_msync(base, DAXFS_BLOCK_SIZE);
	}
	zero_with_progress(base + DAXFS_BLOCK_SIZE, meta_end - DAXFS_BLOCK_SIZE, is_pmem);

	struct daxfs_state *st = (void *)(base + DAXFS_STATE_BLOCK * DAXFS_BLOCK_SIZE);
	st->magic = DAXFS_STATE_MAGIC;
	st->state = DAXFS_POOL_CLEAN;

	struct daxfs_dinode *root =
		(struct daxfs_dinode *)(base + sb->itable_start * DAXFS_BLOCK_SIZE) + DAXFS_ROOT_INO;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct daxfs_ts ts = { now.tv_sec, (uint32_t)now.tv_nsec, 0 };
	root->mode = S_IFDIR | 0755;
	root->nlink = 2;
	root->uid = getuid();
	root->gid = getgid();
	root->generation = 1;
	root->parent = DAXFS_ROOT_INO;
	root->atime = root->mtime = root->ctime = root->btime = ts;

	memcpy(base + DAXFS_SB_BACKUP_BLOCK * DAXFS_BLOCK_SIZE, sb, sizeof(*sb));
	if (is_pmem) {
		pmem_persist(base + DAXFS_BLOCK_SIZE, meta_end - DAXFS_BLOCK_SIZE);
		pmem_memcpy_persist(base, sb, sizeof(*sb));
	} else {
		pmem_msync(base + DAXFS_BLOCK_SIZE, meta_end - DAXFS_BLOCK_SIZE);
		memcpy(base, sb, sizeof(*sb));
		pmem_msync(base, sizeof(*sb));
	}
}

static int fail(const char *path, const char *fmt, const char *arg)
{
	fprintf(stderr, "mkfs.daxfs: %s: ", path);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },	 { "size", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'L' }, { "inodes", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },	 { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "fs:L:N:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->force = true;
			break;
		case 's':
			if (parse_size(optarg, &o->size) || o->size == 0) {
				fprintf(stderr, "mkfs.daxfs: bad size '%s'\n", optarg);
				return 1;
			}
			break;
		case 'L':
			if (strlen(optarg) >= DAXFS_LABEL_MAX) {
				fprintf(stderr, "mkfs.daxfs: label longer than 63 bytes\n");
				return 1;
			}
			o->label = optarg;
			break;
		case 'N':
			if (parse_size(optarg, &o->inodes) || o->inodes == 0 ||
			    o->inodes >= UINT32_MAX) {
				fprintf(stderr, "mkfs.daxfs: bad inode count '%s'\n", optarg);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("mkfs.daxfs %s (format version %d)\n", DAXFS_VERSION_STRING,
			       DAXFS_VERSION);
			exit(0);
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	o->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct geometry g;
	struct stat st;
	bool created = false;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc;
	int fd = open(o.path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (!o.size)
			return fail(o.path, "%s", "does not exist; give its size with -s SIZE");
		fd = open(o.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = fd >= 0;
	}
	if (fd < 0)
		return fail(o.path, "%s", strerror(errno));
	char why[PATH_MAX + 128];
	if (pool_lock_take(fd, o.path, LOCK_EX, "mkfs.daxfs", why, sizeof(why)) < 0) {
		fprintf(stderr, "mkfs.daxfs: %s\n", why);
		return 1;
	}
	if (fstat(fd, &st) < 0)
		return fail(o.path, "%s", strerror(errno));
	bool device = S_ISCHR(st.st_mode);
	if (!device && !S_ISREG(st.st_mode))
		return fail(o.path, "%s", "is neither a regular file nor a DAX device");
	if (device && o.size)
		return fail(o.path, "%s", "-s applies to pool files, not to DAX devices");

	unsigned char head[65664] = { 0 };
	if (!device && !created) {
		ssize_t n = pread(fd, head, sizeof(head), 0);
		const char *sig = n > 0 ? known_signature(head, (size_t)n) : NULL;
		if (sig && !o.force) {
			fprintf(stderr,
				"mkfs.daxfs: %s: contains a %s filesystem; use -f to overwrite it\n",
				o.path, sig);
			return 1;
		}
	}

	size_t maplen = 0;
	int is_pmem = 0;
	char *base = NULL;
	uint64_t bytes = device ? 0 : (o.size ? o.size : (uint64_t)st.st_size);
	if (device) {
		base = pmem_map_file(o.path, 0, 0, 0, &maplen, &is_pmem);
		if (!base)
			return fail(o.path, "cannot map: %s", strerror(errno));
		const char *sig = known_signature((unsigned char *)base,
						  maplen < sizeof(head) ? maplen : sizeof(head));
		if (sig && !o.force) {
			fprintf(stderr,
				"mkfs.daxfs: %s: contains a %s filesystem; use -f to overwrite it\n",
				o.path, sig);
			return 1;
		}
		bytes = maplen;
	}
	bytes -= bytes % DAXFS_BLOCK_SIZE;
	rc = plan(bytes, o.inodes, &g);
	if (rc) {
		if (created)
			unlink(o.path);
		return fail(o.path, "%s",
			    rc == -ENOSPC ? "too small for a daxfs pool with that many inodes (at "
					    "least 2 MiB)"
					  : "too many inodes (at most 4294967294)");
	}
	if (!device) {
		if ((uint64_t)st.st_size != bytes && ftruncate(fd, (off_t)bytes) < 0)
			return fail(o.path, "cannot resize: %s", strerror(errno));
		/* Fully allocated: the daemon must never take SIGBUS because
		 * the filesystem holding the pool ran out of space. */
		rc = posix_fallocate(fd, 0, (off_t)bytes);
		if (rc) {
			if (created)
				unlink(o.path);
			return fail(o.path, "cannot allocate the pool: %s", strerror(rc));
		}
		base = pmem_map_file(o.path, 0, 0, 0, &maplen, &is_pmem);
		if (!base)
			return fail(o.path, "cannot map: %s", strerror(errno));
	}

	struct daxfs_super sb;
	fill_super(&sb, &g, o.label);
	write_pool(base, is_pmem, &sb);
	pmem_unmap(base, maplen);
	close(fd);

	char uuid[37];
	const uint8_t *u = sb.uuid;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	printf("%s: daxfs format version %d\n"
	       "  size:   %llu bytes, %llu blocks of %u\n"
	       "  data:   %llu blocks\n"
	       "  inodes: %llu\n"
	       "  uuid:   %s\n"
	       "  label:  %s\n"
	       "  pmem:   %s\n",
	       o.path, DAXFS_VERSION, (unsigned long long)bytes, (unsigned long long)g.total,
	       DAXFS_BLOCK_SIZE, (unsigned long long)g.data_blocks,
	       (unsigned long long)(g.inodes - 1), uuid, sb.label[0] ? sb.label : "(none)",
	       is_pmem ? "yes (persistence by cache flushes)"
		       : "no (emulated DAX, persistence by msync)");
	return 0;
}
