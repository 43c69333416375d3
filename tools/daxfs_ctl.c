/* SPDX-License-Identifier: MIT */
/* daxfs-ctl: the admin tool of a mounted daxfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../fs/daxfs.h"
#include "../fs/daxfs_ioctl.h"
#include "pool_picture.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: daxfs-ctl COMMAND ARGS\n"
		   "\n"
		   "  stat MOUNTPOINT   counters of the pfn table and the removal protocol\n"
		   "  df MOUNTPOINT     blocks by pfn state\n"
		   "  map FILE          the file's blocks, pool offsets and pfn states\n"
		   "  picture MOUNTPOINT [-o FILE.png] [-w WIDTH]\n"
		   "                    the pool's blocks coloured by state: a PNG with -o\n"
		   "                    (WIDTH pixels wide, default 512), else a text map\n"
		   "  -h, --help        this help\n"
		   "  -V, --version     print the version\n");
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "daxfs-ctl: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void get_stats(const char *path, struct daxfs_ioc_stats *st)
{
	int fd = open_or_die(path, O_RDONLY);

	if (ioctl(fd, DAXFS_IOC_STATS, st) < 0) {
		fprintf(stderr, "daxfs-ctl: %s: %s\n", path,
			errno == ENOTTY || errno == ENOSYS ? "not on a daxfs mount"
							   : strerror(errno));
		exit(1);
	}
	close(fd);
}

static int cmd_stat(const char *path)
{
	static const char *const buckets[] = { "<1us",	 "<10us", "<100us", "<1ms",
					       "<10ms", "<100ms", "<1s",    ">=1s" };
	struct daxfs_ioc_stats st;

	get_stats(path, &st);
	printf("blocks:      %llu total, %llu free (%llu bytes each)\n",
	       (unsigned long long)st.total_blocks, (unsigned long long)st.free_blocks,
	       (unsigned long long)st.block_size);
	printf("inodes:      %llu total, %llu free\n", (unsigned long long)st.total_inodes,
	       (unsigned long long)st.free_inodes);
	printf("pfn states:  free %llu, allocated %llu, tracked %llu, untracked %llu\n",
	       (unsigned long long)st.pfn_free, (unsigned long long)st.pfn_allocated,
	       (unsigned long long)st.pfn_tracked, (unsigned long long)st.pfn_untracked);
	printf("in use:      %llu busy pfns holding %llu references, %llu pinned pfns holding "
	       "%llu pins\n",
	       (unsigned long long)st.pfn_busy, (unsigned long long)st.refs,
	       (unsigned long long)st.pfn_pinned, (unsigned long long)st.pins);
	printf("waits:       %llu, total %.3f ms, longest %.3f ms\n", (unsigned long long)st.waits,
	       (double)st.wait_ns_total / 1e6, (double)st.wait_ns_max / 1e6);
	printf("wait time:  ");
	for (int b = 0; b < DAXFS_WAIT_BUCKETS; b++)
		printf(" %s %llu", buckets[b], (unsigned long long)st.wait_hist[b]);
	printf("\n");
	printf("deferred:    %llu queued now, %llu deferred, %llu freed by their last user\n",
	       (unsigned long long)st.deferred_queue, (unsigned long long)st.deferred_total,
	       (unsigned long long)st.deferred_freed);
	printf("pins:        %llu active holding %llu blocks (max_pinned %llu), %llu recalls, "
	       "%llu copy-on-write bounces\n",
	       (unsigned long long)st.pins_active, (unsigned long long)st.pinned_blocks,
	       (unsigned long long)st.max_pinned, (unsigned long long)st.recalls,
	       (unsigned long long)st.bounces);
	printf("pin limits:  per uid but root %llu pins (pins_per_uid), %llu blocks "
	       "(pinned_per_uid)\n",
	       (unsigned long long)st.pins_per_uid, (unsigned long long)st.pinned_per_uid);
	printf("illegal pfn transitions: %llu\n", (unsigned long long)st.illegal_transitions);
	printf("transport:   %s\n", st.transport == DAXFS_TRANSPORT_IO_URING ? "io_uring"
				     : st.transport == DAXFS_TRANSPORT_DEV_FUSE ? "/dev/fuse"
										 : "unknown");
	return 0;
}

static void row(const char *name, uint64_t n, uint64_t total, uint64_t bs)
{
	printf("%-22s %12llu %10.1f MiB %6.1f%%\n", name, (unsigned long long)n,
	       (double)(n * bs) / (1 << 20), total ? 100.0 * (double)n / (double)total : 0.0);
}

static int cmd_df(const char *path)
{
	struct daxfs_ioc_stats st;

	get_stats(path, &st);
	uint64_t t = st.total_blocks, bs = st.block_size;
	printf("%-22s %12s %14s %7s\n", "pfn state", "blocks", "size", "share");
	row("free", st.pfn_free, t, bs);
	row("allocated (index)", st.pfn_allocated, t, bs);
	row("tracked idle", st.pfn_tracked_idle, t, bs);
	row("busy (referenced)", st.pfn_busy, t, bs);
	row("pinned", st.pfn_pinned, t, bs);
	row("untracked waiting", st.pfn_untracked - st.pfn_deferred, t, bs);
	row("deferred", st.pfn_deferred, t, bs);
	return 0;
}

static int cmd_map(const char *path)
{
	static const char *const states[] = { "free", "allocated", "tracked", "untracked" };
	static struct daxfs_ioc_map m;
	int fd = open_or_die(path, O_RDONLY);

	printf("%12s %16s %-10s %6s %6s\n", "file block", "pool offset", "state", "refs", "pins");
	m.start_block = 0;
	do {
		if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0) {
			fprintf(stderr, "daxfs-ctl: %s: %s\n", path,
				errno == ENOTTY || errno == ENOSYS ? "not a file on a daxfs mount"
								   : strerror(errno));
			return 1;
		}
		for (uint32_t i = 0; i < m.count; i++) {
			const struct daxfs_ioc_map_entry *e = &m.entries[i];
			printf("%12llu %16llu %-10s %6u %6u%s\n", (unsigned long long)e->file_block,
			       (unsigned long long)e->pool_offset, states[e->state & 3], e->refs,
			       e->pins, (e->flags & DAXFS_MAP_DEFERRED) ? " deferred" : "");
		}
		m.start_block = m.next_block;
	} while (m.next_block != UINT64_MAX);
	close(fd);
	return 0;
}

static int cmd_picture(int argc, char **argv)
{
	const char *out = NULL;
	unsigned long width = 512;

	for (int i = 3; i < argc; i++) {
		char *end = NULL;
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(argv[i], "-w") && i + 1 < argc) {
			width = strtoul(argv[++i], &end, 10);
			if (*end || width < 16 || width > 8192) {
				fprintf(stderr, "daxfs-ctl: width must be 16 to 8192 pixels\n");
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	return pool_picture(argv[2], out, (unsigned)width);
}

int main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("daxfs-ctl %s\n", DAXFS_VERSION_STRING);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "picture"))
		return cmd_picture(argc, argv);
	if (argc != 3) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "stat"))
		return cmd_stat(argv[2]);
	if (!strcmp(argv[1], "df"))
		return cmd_df(argv[2]);
	if (!strcmp(argv[1], "map"))
		return cmd_map(argv[2]);
	fprintf(stderr, "daxfs-ctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
